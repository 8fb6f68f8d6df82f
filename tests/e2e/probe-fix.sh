#!/bin/bash
# SPDX-License-Identifier: ISC
# The prober closes the operator's loop on real programs. A real OpenSSH
# sshd at LogLevel VERBOSE (its own lists are NOT in its log) on 127.0.0.1,
# with no inventory; its log is forwarded line by line, as sshd wrote it,
# to the real kexwatchd over UDP syslog (device key 127.0.0.1: identify =
# source). A real ssh client offering only diffie-hellman-group14-sha1
# fails, and another offering only aes128-cbc. The alerts fire without the
# server's lists; [probe] then asks sshd for its KEXINIT and each alert is
# sent again with the server's lists (equal to sshd -T's) and a complete
# fix (the cipher one re-classified: unclassified becomes cipher-cbc-only,
# its old id resolved as superseded). The fix is applied to the real
# sshd_config as written, sshd restarts, the same client connects (reaches
# user authentication), and the next probe marks the alert fixed (JSON,
# database, kexwatch device). kexwatch posture then reports the device's
# lists as sshd -T does.
. "$(dirname "$0")/lib.sh"

for tool in /usr/sbin/sshd ssh ssh-keygen; do
    command -v "$tool" > /dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done

PORT=$(free_port)
PS=$(free_port)
write_config "$PORT"
probe_lab "$PS" "StrictModes no
AuthorizedKeysFile $WORK/none
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,ecdh-sha2-nistp256,diffie-hellman-group16-sha512
Ciphers aes256-gcm@openssh.com,aes128-ctr
MACs hmac-sha2-256-etm@openssh.com,hmac-sha1" "interval = 2s"
: > "$WORK/sshd.log"
SSHD_PID=""
EXTRA_CLEANUP='[ -f "$WORK/sshd.pid" ] && kill $(cat "$WORK/sshd.pid") 2>/dev/null'
echo "1..21"
start_daemon || bail "kexwatchd did not start"
echo "ok 1 - kexwatchd starts with [probe] enable = yes and no inventory"

export KW_PORT=$PORT KW_PS=$PS KW_WORK=$WORK KW_KEXWATCH=$KEXWATCH
python3 - <<'PY'
import json, os, re, socket, subprocess, sys, time

WORK = os.environ["KW_WORK"]
DAEMON = ("127.0.0.1", int(os.environ["KW_PORT"]))
PS = os.environ["KW_PS"]
CFG = os.path.join(WORK, "sshd_config")
LOG = os.path.join(WORK, "sshd.log")
ALERTS = os.path.join(WORK, "alerts.jsonl")
NUM = 1
FAILED = 0
OFFSET = [0]


def tap(good, desc):
    global NUM, FAILED
    NUM += 1
    FAILED += 0 if good else 1
    print(("ok" if good else "not ok"), NUM, "-", desc, flush=True)


def diag(text):
    for line in str(text).splitlines():
        print("#", line, flush=True)


def sshd_start():
    subprocess.run(["/usr/sbin/sshd", "-f", CFG, "-E", LOG], check=True)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", int(PS)), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)


def sshd_stop():
    pid = int(open(os.path.join(WORK, "sshd.pid")).read())
    os.kill(pid, 15)
    for _ in range(50):
        try:
            os.kill(pid, 0)
            time.sleep(0.1)
        except OSError:
            return


def forward():
    # what sshd wrote since the last call, as a relay would send it
    time.sleep(0.5)
    with open(LOG, "rb") as f:
        f.seek(OFFSET[0])
        data = f.read()
    OFFSET[0] += len(data)
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for raw in data.split(b"\n"):
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if not line.strip():
            continue
        m = re.match(r"^(?:\S+ +\d+ [\d:.]+ )?(?:\S+ )?sshd\[(\d+)\]: (.*)$", line)
        pid, msg = (m.group(1), m.group(2)) if m else ("1", line)
        s.sendto(f"<38>{stamp} lab sshd[{pid}]: {msg}".encode(), DAEMON)
    s.close()


def client(opt="KexAlgorithms=diffie-hellman-group14-sha1"):
    r = subprocess.run(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
                        "-o", opt, "-p", PS, "-l", "kwtest", "127.0.0.1", "true"],
                       capture_output=True, text=True, timeout=20)
    return r.stderr


def alerts():
    try:
        return [json.loads(l) for l in open(ALERTS) if l.strip()]
    except (OSError, ValueError):
        return []


def wait_alerts(n, secs=15):
    for _ in range(secs * 10):
        a = alerts()
        if len(a) >= n:
            return a
        time.sleep(0.1)
    return alerts()


def sshd_T(key):
    out = subprocess.run(["/usr/sbin/sshd", "-T", "-f", CFG], capture_output=True, text=True).stdout
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return v.split(",")
    return None


sshd_start()
err = client()
err2 = client("Ciphers=aes128-cbc")
tap("no matching key exchange method" in err and "no matching cipher" in err2,
    "the real clients fail: no matching key exchange method, no matching cipher")
# the client decides the failure on its own and may exit before sshd's child
# has written its line: wait for both (bounded)
for _ in range(100):
    log = open(LOG).read()
    if log.count("Unable to negotiate") >= 2:
        break
    time.sleep(0.1)
ok = log.count("Unable to negotiate") == 2 and "sntrup761" not in log
if not ok:
    print("# sshd log:\n# " + "\n# ".join(log.splitlines()[-20:]))
tap(ok, "sshd (VERBOSE) logged the failures but not its own lists")
forward()
a = wait_alerts(2)
kex0 = ([x for x in a[:2] if x.get("category") == "kex"] or [{}])[0]
cbc0 = ([x for x in a[:2] if x.get("category") == "cipher"] or [{}])[0]
tap(kex0.get("server_offer", 1) is None and cbc0.get("server_offer", 1) is None,
    "both alerts fire without the server's lists")
diag("before the probe: %s, %s" % (kex0.get("mismatch", {}).get("id"), cbc0.get("mismatch", {}).get("id")))

a = wait_alerts(4)
kex1 = ([x for x in a[2:] if x["alert_id"] == kex0.get("alert_id")] or [{}])[0]
cbc1 = ([x for x in a[2:] if x["alert_id"] == cbc0.get("alert_id")] or [{}])[0]
want_kex = sshd_T("kexalgorithms")
want_ciphers = sshd_T("ciphers")
tap(kex1.get("status") == "firing" and kex1.get("server_offer") == want_kex and kex1.get("fixed", 1) is None,
    "after the probe the kex alert is sent again with the server's kex list (equal to sshd -T's), not fixed")
if kex1.get("server_offer") != want_kex:
    diag(json.dumps(a)[:3000])
steps = (kex1.get("remediation") or {}).get("steps") or []
tap(kex1.get("mismatch", {}).get("id") == "kex-sha1-only"
    and steps == ["KexAlgorithms " + ",".join(want_kex + ["diffie-hellman-group14-sha1"])],
    "its mismatch is kex-sha1-only and the fix is the complete new KexAlgorithms list")
diag("fix: " + " | ".join(steps))
csteps = (cbc1.get("remediation") or {}).get("steps") or []
tap(cbc1.get("mismatch", {}).get("id") == "cipher-cbc-only" and cbc1.get("server_offer") == want_ciphers
    and csteps == ["Ciphers " + ",".join(want_ciphers + ["aes128-cbc"])],
    "and the cipher alert: the server's ciphers (sshd -T) and the complete new Ciphers line")
diag("fix: " + " | ".join(csteps))

# the operator applies the fixes as written: a directive replaces its line
lines = open(CFG).read().splitlines()
for st in steps + csteps:
    kw = st.split(" ", 1)[0]
    lines = [l for l in lines if l.split(" ", 1)[0].lower() != kw.lower()] + [st]
open(CFG, "w").write("\n".join(lines) + "\n")
chk = subprocess.run(["/usr/sbin/sshd", "-t", "-f", CFG], capture_output=True, text=True)
tap(chk.returncode == 0, "sshd -t accepts the changed sshd_config")
n = len(alerts())
sshd_stop()
sshd_start()

fixed = {}
for _ in range(150):
    for x in alerts()[n:]:
        if x.get("fixed"):
            fixed[x["alert_id"]] = x
    if len(fixed) >= 2:
        break
    time.sleep(0.1)
fk, fc = fixed.get(kex0.get("alert_id")), fixed.get(cbc0.get("alert_id"))
tap(fk is not None and fk["status"] == "firing" and fk["fixed"]["by"] == "probe"
    and "diffie-hellman-group14-sha1" in fk["fixed"]["server_offer"],
    "the next probe marks the kex alert fixed (still firing; the probed list holds the client's kex)")
tap(fc is not None and fc["status"] == "firing" and "aes128-cbc" in fc["fixed"]["server_offer"],
    "and the cipher alert")
if len(fixed) < 2:
    diag(json.dumps(alerts()[n:])[:3000])

n = len(alerts())
err = client()
err2 = client("Ciphers=aes128-cbc")
tap("Permission denied" in err and "no matching" not in err and "Permission denied" in err2,
    "the same clients now connect (reach user authentication)")
if "Permission denied" not in err + err2:
    diag(err + err2)
forward()
res = []
for _ in range(100):
    res = [x for x in alerts()[n:] if x["status"] == "resolved"]
    if len(res) >= 2:
        break
    time.sleep(0.1)
tap(len(res) == 2 and all(x.get("fixed") for x in res), "their success resolves both alerts, which keep fixed")

# posture: the operator raises sshd to DEBUG2 (the clients' lists are then
# logged on success) and the clients connect again
lines = [l for l in open(CFG).read().splitlines() if not l.startswith("LogLevel ")] + ["LogLevel DEBUG2"]
open(CFG, "w").write("\n".join(lines) + "\n")
sshd_stop()
sshd_start()
OFFSET[0] = os.path.getsize(LOG)
client()
client("Ciphers=aes128-cbc")
forward()
time.sleep(1.5)


def posture(fmt):
    r = subprocess.run([os.environ["KW_KEXWATCH"], "--db", os.path.join(WORK, "kexwatch.db"), "posture",
                        "--format", fmt], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


rc, out, errs = posture("json")
pos = json.loads(out) if rc == 0 and out.strip() else []
dev = ([x for x in pos if x["device"]["key"] == "127.0.0.1"] or [{}])[0]
cats = dev.get("categories", {})
want = {"kex": sshd_T("kexalgorithms"), "hostkey": None, "cipher": sshd_T("ciphers"), "mac": sshd_T("macs")}
tap(rc == 0 and all(cats.get(k, {}).get("offered") == v for k, v in want.items() if v),
    "kexwatch posture shows the device's kex, cipher and MAC lists as sshd -T does")
if rc:
    diag(errs)


def weak(cat):
    return {w["name"]: w for w in cats.get(cat, {}).get("weak", [])}


wk, wc, wm = weak("kex"), weak("cipher"), weak("mac")
tap(wk.get("diffie-hellman-group14-sha1", {}).get("rating") == "weak" and wk["diffie-hellman-group14-sha1"]["needed_by"]
    and wc.get("aes128-cbc", {}).get("needed_by") and wm.get("hmac-sha1", {}).get("needed_by") == [],
    "the weak algorithms still offered, and which client types need them (group14-sha1, aes128-cbc; hmac-sha1: none)")
diag(json.dumps({k: cats.get(k, {}).get("weak") for k in ("kex", "cipher", "mac")}))
psteps = dev.get("steps", [])
want_macs = [m for m in sshd_T("macs") if m != "hmac-sha1"]
tap(psteps == ["MACs " + ",".join(want_macs)],
    "the fix removes only what no client needs: the complete new MACs line")
diag("posture fix: " + " | ".join(psteps))
rc2, csv, _ = posture("csv")
tap(rc2 == 0 and csv.splitlines()[0].startswith("device,category,algorithm,rating")
    and sum(1 for l in csv.splitlines()[1:] if l.startswith('"127.0.0.1"')) == 3,
    "posture --format csv: one row per weak algorithm offered")
rc3, table, _ = posture("table")
tap(rc3 == 0 and "hmac-sha1" in table and "MACs " in table, "posture --format table names them and the fix")

# applied as written, the clients that connect today still do
lines = open(CFG).read().splitlines()
for st in psteps:
    kw = st.split(" ", 1)[0]
    lines = [l for l in lines if l.split(" ", 1)[0].lower() != kw.lower()] + [st]
open(CFG, "w").write("\n".join(lines) + "\n")
ok_t = subprocess.run(["/usr/sbin/sshd", "-t", "-f", CFG]).returncode == 0
sshd_stop()
sshd_start()
e1, e2 = client(), client("Ciphers=aes128-cbc")
tap(ok_t and "hmac-sha1" not in sshd_T("macs") and "Permission denied" in e1 and "Permission denied" in e2,
    "with posture's fix applied (sshd -t passes, hmac-sha1 gone) both clients still connect")

sys.exit(1 if FAILED else 0)
PY
rc=$?
T_NUM=18
[ $rc -eq 0 ] || T_FAILED=1

# the database and kexwatch device say so too
sleep 0.5
"$KEXWATCH" --db "$WORK/kexwatch.db" device 127.0.0.1 --format json > "$WORK/device.json"
check "kexwatch device shows both alerts with fixed_at" \
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["alerts"]; sys.exit(not (len(a) == 2 and all(x["fixed_at"] for x in a)))' \
    "$WORK/device.json"
check "and the lists with source probed" \
    python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["profile"]; sys.exit(not any(r["source"] == "probed" and r["slot"] == "kex" for r in p))' \
    "$WORK/device.json"
check "kexwatchd stops cleanly" stop_daemon
[ -f "$WORK/sshd.pid" ] && [ -f "$WORK/sshd.pid" ] && kill "$(cat "$WORK/sshd.pid")" 2> /dev/null
finish
