#!/bin/bash
# SPDX-License-Identifier: ISC
# The operator's loop on real programs: real OpenSSH sshd instances with
# explicit algorithm lists (LogLevel INFO, VERBOSE, DEBUG1, DEBUG2, each its
# own host keys, unprivileged, on 127.0.0.1 and free ports) log to files
# that are forwarded, line by line as sshd wrote them, to the real kexwatchd
# over UDP syslog. Real clients with restricted offers (OpenSSH ssh with
# several option sets, paramiko, dbclient, plink) connect to every server.
# For each alert kexwatchd raises: restore the server that produced it,
# apply remediation.steps to its sshd_config exactly as written (a HostKey
# line is added beside the existing ones, any other directive replaces its
# line; shell lines such as ssh-keygen run as they are; /etc/ssh/ is the
# server's own directory), check with "sshd -t", restart, and reconnect
# every client that failed that way (all must connect) and every client
# that connected before (none may break). "Connects" means the key exchange
# completes and the client reaches user authentication.
#
# Prints how many alerts were fixed by their own remediation, out of how many.
. "$(dirname "$0")/lib.sh"

for tool in /usr/sbin/sshd ssh ssh-keygen setpriv; do
    command -v "$tool" > /dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done

PORT=$(free_port)
write_config "$PORT" "identify = hostname"
export KW_PORT=$PORT KW_WORK=$WORK

# The servers: name, LogLevel, host key types, sshd_config algorithm lines.
# INFO, VERBOSE and DEBUG1 do not log the server's proposal: their lists are
# in the inventory, as an operator writes them (configured lists).
cat > "$WORK/servers.json" <<'JSON'
[
 {"name": "srv-info", "level": "INFO", "keys": ["ed25519"], "inventory": true,
  "config": {"KexAlgorithms": "curve25519-sha256,diffie-hellman-group16-sha512",
             "HostKeyAlgorithms": "ssh-ed25519",
             "Ciphers": "aes256-gcm@openssh.com,aes128-ctr",
             "MACs": "hmac-sha2-256-etm@openssh.com,hmac-sha2-256"}},
 {"name": "srv-verbose", "level": "VERBOSE", "keys": ["rsa"], "inventory": true,
  "config": {"KexAlgorithms": "ecdh-sha2-nistp256,ecdh-sha2-nistp384",
             "HostKeyAlgorithms": "rsa-sha2-512,rsa-sha2-256",
             "Ciphers": "aes256-ctr,aes128-ctr",
             "MACs": "hmac-sha2-512,hmac-sha2-256"}},
 {"name": "srv-debug1", "level": "DEBUG1", "keys": ["ecdsa"], "inventory": true,
  "config": {"KexAlgorithms": "diffie-hellman-group14-sha256,ecdh-sha2-nistp256",
             "HostKeyAlgorithms": "ecdsa-sha2-nistp256",
             "Ciphers": "chacha20-poly1305@openssh.com,aes256-ctr",
             "MACs": "hmac-sha2-512-etm@openssh.com"}},
 {"name": "srv-debug2", "level": "DEBUG2", "keys": ["ed25519", "rsa"], "inventory": false,
  "config": {"KexAlgorithms": "sntrup761x25519-sha512@openssh.com,curve25519-sha256",
             "HostKeyAlgorithms": "ssh-ed25519,rsa-sha2-512",
             "Ciphers": "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com",
             "MACs": "hmac-sha2-256-etm@openssh.com"}}
]
JSON

python3 - "$WORK/servers.json" >> "$WORK/kexwatch.conf" <<'PY'
import json, sys
keys = {"KexAlgorithms": "kex", "HostKeyAlgorithms": "hostkey", "Ciphers": "cipher", "MACs": "mac"}
for s in json.load(open(sys.argv[1])):
    if not s["inventory"]:
        continue
    print(f"\n[device {s['name']}]\nmatch = {s['name']}\nvendor = openssh")
    for k, v in s["config"].items():
        print(f"{keys[k]} = {v}")
PY

check "kexwatchd starts" start_daemon

PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
export KW_PARAMIKO_PYTHON=$PYTHON
python3 - "$WORK/servers.json" <<'PY'
import json, os, re, shutil, socket, subprocess, sys, time

WORK = os.environ["KW_WORK"]
DAEMON = ("127.0.0.1", int(os.environ["KW_PORT"]))
SERVERS = json.load(open(sys.argv[1]))
ROOT = os.getuid() == 0
NUM = 1  # "kexwatchd starts" was test 1
FAILED = 0


def tap(good, desc):
    global NUM, FAILED
    NUM += 1
    FAILED += 0 if good or "# TODO" in desc else 1
    print(("ok" if good else "not ok"), NUM, "-", desc, flush=True)


def diag(text):
    for line in str(text).splitlines():
        print("#", line, flush=True)


def as_server_user(argv):
    # sshd runs unprivileged: as nobody when the test runs as root
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + argv if ROOT else argv


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


KEYGEN = {"ed25519": ["-t", "ed25519"], "rsa": ["-t", "rsa", "-b", "3072"], "ecdsa": ["-t", "ecdsa", "-b", "256"]}


if ROOT:
    os.chmod(WORK, 0o755)  # nobody reaches its server's directory


class Server:
    def __init__(self, spec):
        self.spec = spec
        self.name = spec["name"]
        self.dir = os.path.join(WORK, self.name)
        self.snap = self.dir + ".orig"
        os.makedirs(self.dir)
        self.port = free_port()
        self.cfg = os.path.join(self.dir, "sshd_config")
        self.log = os.path.join(self.dir, "sshd.log")
        lines = [f"Port {self.port}", "ListenAddress 127.0.0.1", f"PidFile {self.dir}/sshd.pid",
                 f"LogLevel {spec['level']}", "UsePAM no", "StrictModes no", "PasswordAuthentication no",
                 "KbdInteractiveAuthentication no", f"AuthorizedKeysFile {self.dir}/none"]
        for t in spec["keys"]:
            path = os.path.join(self.dir, f"ssh_host_{t}_key")
            subprocess.run(["ssh-keygen", "-q", "-N", "", "-f", path] + KEYGEN[t], check=True)
            lines.append(f"HostKey {path}")
        for k, v in spec["config"].items():
            lines.append(f"{k} {v}")
        open(self.cfg, "w").write("\n".join(lines) + "\n")
        open(self.log, "w").close()
        if ROOT:
            subprocess.run(["chown", "-R", "nobody", self.dir], check=True)
        shutil.copytree(self.dir, self.snap, symlinks=True)
        self.offset = 0
        self.proc = None

    def start(self):
        self.offset = os.path.getsize(self.log)
        # -D: in the foreground, so this script owns the process; -E: log file
        self.proc = subprocess.Popen(as_server_user(["/usr/sbin/sshd", "-D", "-f", self.cfg, "-E", self.log]))
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.1)
        self.offset = os.path.getsize(self.log)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restore(self):
        self.stop()
        for f in os.listdir(self.dir):
            if f != "sshd.log":
                os.unlink(os.path.join(self.dir, f))
        for f in os.listdir(self.snap):
            if f != "sshd.log":
                shutil.copy2(os.path.join(self.snap, f), os.path.join(self.dir, f))
                if ROOT:
                    shutil.chown(os.path.join(self.dir, f), "nobody")

    def new_lines(self):
        # sshd writes a connection's lines as it goes: wait for them to settle
        last = -1
        still = 0
        for _ in range(50):
            size = os.path.getsize(self.log)
            still = still + 1 if size == last else 0
            if still >= 3 and size > self.offset:
                break
            last = size
            time.sleep(0.1)
        with open(self.log, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return [l.decode("utf-8", "replace").rstrip("\r") for l in data.split(b"\n") if l.strip()]


SEQ = [3000]


def forward(server, lines):
    # One connection's lines, as a syslog relay would send them: RFC 3164,
    # the server's name as host name, a pid per connection (sshd forks one).
    SEQ[0] += 1
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for line in lines:
        s.sendto(f"<38>{stamp} {server.name} sshd[{SEQ[0]}]: {line}".encode(), DAEMON)
    s.close()


SSH_BASE = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-l", "kwtest"]
PARAMIKO = r'''
import socket, sys, paramiko
disabled = {}
if sys.argv[2]:
    kind, names = sys.argv[2].split("=", 1)
    disabled[kind] = names.split(",")
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
t = paramiko.Transport(sock, disabled_algorithms=disabled)
try:
    t.start_client(timeout=10)
    print("KEX-OK")
except Exception as e:
    print("KEX-FAIL", type(e).__name__, e)
finally:
    t.close()
'''


def client_cmd(c, port):
    kind = c["kind"]
    if kind == "ssh":
        return SSH_BASE + c.get("opts", []) + ["-p", str(port), "127.0.0.1", "true"]
    if kind == "paramiko":
        return [os.environ["KW_PARAMIKO_PYTHON"], "-c", PARAMIKO, str(port), c.get("disable", "")]
    if kind == "dbclient":
        return ["dbclient", "-y", "-y"] + c.get("opts", []) + ["-p", str(port), "kwtest@127.0.0.1", "true"]
    if kind == "plink":
        return ["plink", "-batch", "-P", str(port), "kwtest@127.0.0.1", "true"]
    raise ValueError(kind)


def kex_ok(c, out):
    kind = c["kind"]
    if kind == "ssh":
        return "Permission denied" in out
    if kind == "paramiko":
        return "KEX-OK" in out
    if kind == "dbclient":
        return "No matching algo" not in out and ("password" in out or "auth" in out or "Disconnect" in out)
    if kind == "plink":
        return "host key" in out.lower() and "Couldn't agree" not in out
    return False


PARAMIKO_ALL = ",".join(["diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
                         "diffie-hellman-group-exchange-sha1", "diffie-hellman-group-exchange-sha256",
                         "diffie-hellman-group14-sha256", "diffie-hellman-group16-sha512",
                         "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521"])
CLIENTS = [
    {"id": "ssh-default", "kind": "ssh"},
    {"id": "ssh-sha1-kex", "kind": "ssh", "opts": ["-o", "KexAlgorithms=diffie-hellman-group14-sha1"]},
    {"id": "ssh-modern-kex", "kind": "ssh",
     "opts": ["-o", "KexAlgorithms=curve25519-sha256,sntrup761x25519-sha512@openssh.com"]},
    {"id": "ssh-rsa-hostkeys", "kind": "ssh", "opts": ["-o", "HostKeyAlgorithms=rsa-sha2-512,rsa-sha2-256"]},
    {"id": "ssh-ecdsa-hostkey", "kind": "ssh", "opts": ["-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256"]},
    {"id": "ssh-sshrsa-hostkey", "kind": "ssh", "opts": ["-o", "HostKeyAlgorithms=ssh-rsa"]},
    {"id": "ssh-cbc", "kind": "ssh", "opts": ["-o", "Ciphers=aes128-cbc,aes256-cbc"]},
    {"id": "ssh-sha1-mac", "kind": "ssh", "opts": ["-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha1"]},
    {"id": "ssh-etm-macs", "kind": "ssh",
     "opts": ["-o", "Ciphers=aes256-ctr", "-o", "MACs=hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com"]},
    {"id": "paramiko", "kind": "paramiko"},
    {"id": "paramiko-curve25519-only", "kind": "paramiko", "disable": "kex=" + PARAMIKO_ALL},
    {"id": "dbclient", "kind": "dbclient"},
    {"id": "dbclient-ctr-sha1", "kind": "dbclient", "opts": ["-c", "aes128-ctr", "-m", "hmac-sha1"]},
    {"id": "plink", "kind": "plink"},
]
have = {k: shutil.which(p) is not None for k, p in
        (("ssh", "ssh"), ("dbclient", "dbclient"), ("plink", "plink"))}
have["paramiko"] = subprocess.run([os.environ["KW_PARAMIKO_PYTHON"], "-c", "import paramiko"],
                                  capture_output=True).returncode == 0
for kind, ok in have.items():
    if not ok:
        diag(f"{kind} is not installed: its clients are left out (scripts/deps.sh installs it)")
CLIENTS = [c for c in CLIENTS if have[c["kind"]]]


def attempt(server, c, send=True):
    r = subprocess.run(client_cmd(c, server.port), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    lines = server.new_lines()
    if send:
        forward(server, lines)
    return kex_ok(c, out), out, lines


CATS = {"key exchange method": "kex", "host key type": "hostkey", "cipher": "cipher", "MAC": "mac",
        "compression method": "compression"}
MARKERS = {"ext-info-c", "kex-strict-c-v00@openssh.com", "kexguess2@matt.ucc.asn.au"}


def failure_of(lines):
    for l in lines:
        m = re.search(r"port (\d+): no matching (.+?) found\. Their offer: (\S+)", l)
        if m:
            offer = [n for n in m.group(3).split(",") if n not in MARKERS]
            return int(m.group(1)), CATS.get(m.group(2), m.group(2)), offer
    return None


servers = [Server(s) for s in SERVERS]
for s in servers:
    s.start()
try:
    # Round 1: every client against every server; the logs go to kexwatchd.
    result = {}
    for s in servers:
        for c in CLIENTS:
            good, out, lines = attempt(s, c)
            result[(s.name, c["id"])] = (good, failure_of(lines))
            if not good and not failure_of(lines):
                diag(f"{s.name} <- {c['id']} failed, but sshd logged no failure: {out.strip()[:300]}")
                diag("\n".join(lines[-8:]))
    failing = sorted(k for k, v in result.items() if not v[0])
    diag(f"{len(CLIENTS)} clients x {len(servers)} servers: {len(failing)} failed to negotiate")
    for k in failing:
        diag(f"  {k[0]} <- {k[1]}: {result[k][1]}")

    # The alerts kexwatchd raised (wait until no new one arrives for 2 s).
    path = os.path.join(WORK, "alerts.jsonl")
    last, stable = -1, 0
    for _ in range(100):
        n = sum(1 for _ in open(path)) if os.path.exists(path) else 0
        stable = stable + 1 if n == last else 0
        last = n
        if stable >= 20 and n:
            break
        time.sleep(0.1)
    # the file also carries later notifications of an alert (resolved, or
    # re-sent after repeat_interval): one per alert_id, as first raised
    alerts, seen = [], set()
    for l in (open(path) if os.path.exists(path) else []):
        a = json.loads(l)
        if a["status"] == "firing" and a["alert_id"] not in seen:
            seen.add(a["alert_id"])
            alerts.append(a)
    if not any(v[0] for v in result.values()):
        diag("no client connected anywhere; the last output was:")
        diag(out)
    tap(len(alerts) > 0, f"kexwatchd raised {len(alerts)} alerts for {len(failing)} failing connections")

    # Every failing connection belongs to an alert: its port, else the same
    # device, category and offer (two clients that fail alike share one).
    def alert_of(key):
        f = result[key][1]
        if not f:
            return None
        port, cat, offer = f
        for a in alerts:
            if a["device"]["key"] == key[0] and a["client"]["port"] == port:
                return a
        for a in alerts:
            if a["device"]["key"] == key[0] and a["category"] == cat and a["client_offer"] == offer:
                return a
        return None
    owner = {k: alert_of(k) for k in failing}
    # A client that gives up on the server's proposal before sending its
    # own (PuTTY may) leaves sshd nothing to log: no device can report it.
    unseen = [k for k in failing if not result[k][1]]
    for k in unseen:
        diag(f"{k[0]} <- {k[1]}: the client gave up before sending its offer; sshd logged no failure")
    orphans = [k for k, a in owner.items() if a is None and k not in unseen]
    tap(not orphans, "every failing connection is covered by an alert")
    for k in orphans:
        diag(f"  no alert for {k[0]} <- {k[1]} ({result[k][1]})")

    by_name = {s.name: s for s in servers}
    fixed = 0
    no_change = []
    limited = []
    for a in alerts:
        s = by_name.get(a["device"]["key"])
        rem = a["remediation"]
        mine = [k for k in failing if owner[k] is a]
        label = f"{a['device']['key']} {a['mismatch']['id']} ({a['category']}, " \
                f"{', '.join(k[1] for k in mine) or 'no client of this run'})"
        if s is None:
            tap(False, f"{label}: alert for an unknown device")
            continue
        steps = rem.get("steps") or []
        if not steps:
            no_change.append(label)
            tap(False, f"{label}: no steps to apply: {rem['server']}")
            continue
        s.restore()
        text = open(s.cfg).read().splitlines()
        bad = None
        for st in steps:
            st = st.replace("/etc/ssh/", s.dir + "/")
            word = st.split(None, 1)[0]
            if word in ("test", "ssh-keygen") or "ssh-keygen" in st:
                r = subprocess.run(as_server_user(["sh", "-c", st]), capture_output=True, text=True)
                if r.returncode:
                    bad = f"step failed: {st}: {r.stderr.strip()}"
                continue
            if word.lower() == "hostkey":
                text.append(st)
                continue
            at = [i for i, l in enumerate(text) if l.split(None, 1)[:1] and l.split(None, 1)[0].lower() == word.lower()]
            if at:
                text[at[0]] = st
            else:
                text.insert(0, st)
        open(s.cfg, "w").write("\n".join(text) + "\n")
        t = subprocess.run(as_server_user(["/usr/sbin/sshd", "-t", "-f", s.cfg]), capture_output=True, text=True)
        if t.returncode:
            bad = bad or f"sshd -t refuses it: {t.stderr.strip()}"
        if bad:
            tap(False, f"{label}: {bad}")
            diag("\n".join(steps))
            continue
        s.start()
        still = [k[1] for k in mine if not attempt(s, next(c for c in CLIENTS if c["id"] == k[1]), False)[0]]
        broke = [c["id"] for c in CLIENTS
                 if result[(s.name, c["id"])][0] and not attempt(s, c, False)[0]]
        good = bool(mine) and not still and not broke
        fixed += good
        desc = f"{label}: its steps make {len(mine) - len(still)}/{len(mine)} failing clients connect" \
               f" and break {len(broke)} of those that connected"
        if still and not broke and "were not logged" in rem["server"]:
            # the remedy itself says what it could not know (the client's
            # other lists at a LogLevel below DEBUG2): a known limit
            desc += " # TODO the next category's client offer was not logged"
            limited.append(label)
        tap(good, desc)
        if not good:
            diag("steps: " + " | ".join(steps))
            if still:
                diag("still failing: " + ", ".join(still))
            if broke:
                diag("broken: " + ", ".join(broke))
        s.restore()
        s.start()
    print(f"# remedy loop: {fixed} of {len(alerts)} alerts fixed by their own remediation", flush=True)
    if no_change:
        diag(f"{len(no_change)} alerts had no change to apply")
    if limited:
        diag(f"{len(limited)} alerts fixed their category, and the client then failed on one whose offer "
             "the log level did not show (the remedy says so)")
finally:
    for s in servers:
        s.stop()
print(f"1..{NUM}")
sys.exit(1 if FAILED else 0)
PY
loop_rc=$?
stop_daemon > /dev/null 2>&1 # (sets rc)
exit $loop_rc
