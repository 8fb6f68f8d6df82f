#!/bin/bash
# SPDX-License-Identifier: ISC
# kexwatch probe against real servers on loopback: OpenSSH sshd with two sets
# of explicit lists (the probe's lists equal `sshd -T`'s), over IPv4 and
# IPv6; Dropbear and a paramiko server (the probe's lists equal what an
# independent reader in Python decodes from the same server, and paramiko's
# configured lists); then a closed port, a port that never answers, one that
# speaks HTTP, one that sends an endless version line and an SSH-1 server.
. "$(dirname "$0")/lib.sh"

plan 20
command -v sshd > /dev/null 2>&1 || PATH=$PATH:/usr/sbin
KILL=""
EXTRA_CLEANUP='for p in $KILL; do kill $p 2>/dev/null; done'
probe() { "$KEXWATCH" probe "$@" > "$WORK/probe.out" 2> "$WORK/probe.err"; }
# jfield EXPR: evaluates a Python expression over the probe's JSON array (j)
jfield() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$WORK/probe.out"; }
wait_port() { # wait_port PORT: until something listens on 127.0.0.1:PORT (5 s)
    for _ in $(seq 1 50); do
        [ -n "$(ss -Hltn "sport = :$1")" ] && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- OpenSSH
ssh-keygen -q -t ed25519 -f "$WORK/hk_ed" -N '' && ssh-keygen -q -t rsa -b 2048 -f "$WORK/hk_rsa" -N ''
mkdir -p /run/sshd 2> /dev/null
# sshd_run NAME PORT LISTS...: an sshd on 127.0.0.1 and ::1 with those lists
sshd_run() {
    name=$1 port=$2
    shift 2
    {
        echo "Port $port"
        echo "ListenAddress 127.0.0.1"
        [ -n "$V6" ] && echo "ListenAddress ::1"
        echo "HostKey $WORK/hk_ed"
        echo "HostKey $WORK/hk_rsa"
        echo "PidFile $WORK/$name.pid"
        echo "UsePAM no"
        echo "LogLevel DEBUG1"
        for l in "$@"; do echo "$l"; done
    } > "$WORK/$name.conf"
    "$(command -v sshd)" -f "$WORK/$name.conf" -E "$WORK/$name.log" || return 1
    wait_port "$port" || return 1
    KILL="$KILL $(cat "$WORK/$name.pid")"
}
# the lists of `sshd -T` as JSON: {kex, hostkey, cipher, mac}
sshd_t() {
    "$(command -v sshd)" -T -f "$WORK/$1.conf" | python3 -c '
import json, sys
m = {"kexalgorithms": "kex", "hostkeyalgorithms": "hostkey", "ciphers": "cipher", "macs": "mac"}
out = {}
for line in sys.stdin:
    k, _, v = line.strip().partition(" ")
    if k in m:
        out[m[k]] = sorted(v.split(",")) if k == "hostkeyalgorithms" else v.split(",")
print(json.dumps(out, sort_keys=True))'
}
# the probe's lists (markers dropped) as the same JSON; both directions must agree
probe_lists() {
    python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))[int(sys.argv[2])]
markers = ("ext-info-", "kex-strict-", "kexguess2@")
assert h["cipher_c2s"] == h["cipher_s2c"] and h["mac_c2s"] == h["mac_s2c"], "directions differ"
# sshd offers its host key algorithms in the order of its HostKey files, not
# of HostKeyAlgorithms (which sshd -T prints): compared as sets
print(json.dumps({"kex": [a for a in h["kex"] if not a.startswith(markers)], "hostkey": sorted(h["hostkey"]),
                  "cipher": h["cipher_c2s"], "mac": h["mac_c2s"]}, sort_keys=True))' "$WORK/probe.out" "$1"
}
V6=""
python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_STREAM).bind(("::1", 0))' 2> /dev/null && V6=yes
P1=$(free_port)
P2=$(free_port)
if sshd_run sshd1 "$P1" "KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha1,diffie-hellman-group16-sha512" \
    "Ciphers aes128-ctr,aes256-cbc,chacha20-poly1305@openssh.com" "MACs hmac-sha2-256,hmac-sha1" \
    "HostKeyAlgorithms ssh-ed25519,rsa-sha2-256" &&
    sshd_run sshd2 "$P2" "KexAlgorithms sntrup761x25519-sha512@openssh.com,ecdh-sha2-nistp256" \
        "Ciphers aes256-gcm@openssh.com" "MACs hmac-sha2-512-etm@openssh.com" "HostKeyAlgorithms rsa-sha2-512,ssh-ed25519"; then
    targets="127.0.0.1:$P1 127.0.0.1:$P2"
    [ -n "$V6" ] && targets="$targets [::1]:$P1"
    # shellcheck disable=SC2086
    probe --format json $targets
    is "probe of two sshd (and one over IPv6) exits 0" "$?" 0
    is "sshd 1: the probe's lists equal sshd -T's" "$(probe_lists 0)" "$(sshd_t sshd1)"
    is "sshd 2: the probe's lists equal sshd -T's" "$(probe_lists 1)" "$(sshd_t sshd2)"
    if [ -n "$V6" ]; then
        is "over IPv6 ([::1]:PORT) the same lists" "$(probe_lists 2)" "$(sshd_t sshd1)"
    else
        skip "no IPv6 loopback"
    fi
    # sshd -V says "OpenSSH_9.2, OpenSSL ..."; the banner "SSH-2.0-OpenSSH_9.2p1 Debian-..."
    check "banner and software from the version string" python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))[0]
sys.exit(not (h["banner"].startswith("SSH-2.0-" + h["software"]) and h["software"].startswith(sys.argv[2])))' \
        "$WORK/probe.out" "$("$(command -v sshd)" -V 2>&1 | sed 's/[, ].*//')"
    is "ratings from the algorithm table" \
        "$(jfield 'j[0]["ratings"]["kex"]["diffie-hellman-group14-sha1"], j[0]["ratings"]["cipher"]["aes256-cbc"], j[0]["ratings"]["kex"]["curve25519-sha256"]')" \
        "weak weak ok"
    probe "127.0.0.1:$P1"
    check "table: one line per list, weak names marked" \
        grep -Eq '^  kex +curve25519-sha256 diffie-hellman-group14-sha1\[weak\] diffie-hellman-group16-sha512' "$WORK/probe.out"
    check "the probe named itself in its version string (sshd's log)" \
        grep -q "remote software version kexwatch_probe_" "$WORK/sshd1.log"
    check "and never authenticated nor finished a key exchange" \
        sh -c "! grep -Eq 'userauth|Accepted|Failed|SSH2_MSG_NEWKEYS received|KEX done' '$WORK/sshd1.log'"
else
    for _ in 1 2 3 4 5 6 7 8 9; do skip "sshd did not start (needs root and openssh-server)"; done
fi

# ---------------------------------------------------------------- Dropbear
# an independent reader: Python decodes the server's KEXINIT itself
py_lists() {
    python3 - "$1" <<'PY'
import json, socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"SSH-2.0-independent_reader\r\n")
buf = b""
while b"\n" not in buf:
    buf += s.recv(4096)
rest = buf.split(b"\n", 1)[1]
while len(rest) < 4 or len(rest) < 4 + struct.unpack(">I", rest[:4])[0]:
    rest += s.recv(4096)
p, o, lists = rest[5:], 17, []
for _ in range(8):
    n = struct.unpack(">I", p[o:o + 4])[0]
    lists.append(p[o + 4:o + 4 + n].decode().split(",") if n else [])
    o += 4 + n
names = ["kex", "hostkey", "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c", "compression_c2s", "compression_s2c"]
print(json.dumps(dict(zip(names, lists)), sort_keys=True))
PY
}
probe_all_lists() {
    python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))[0]
names = ["kex", "hostkey", "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c", "compression_c2s", "compression_s2c"]
print(json.dumps({k: h[k] for k in names}, sort_keys=True))' "$WORK/probe.out"
}
DB=$(command -v dropbear || echo /usr/sbin/dropbear)
PD=$(free_port)
if [ -x "$DB" ] && dropbearkey -t ed25519 -f "$WORK/db_ed" > /dev/null 2>&1; then
    "$DB" -F -E -p "127.0.0.1:$PD" -r "$WORK/db_ed" > "$WORK/dropbear.log" 2>&1 &
    KILL="$KILL $!"
    wait_port "$PD"
    probe --format json "127.0.0.1:$PD"
    is "probe of Dropbear exits 0" "$?" 0
    check "Dropbear's banner" grep -q '"software": "dropbear_' "$WORK/probe.out"
    is "Dropbear: the probe's lists equal an independent reader's" "$(probe_all_lists)" "$(py_lists "$PD")"
else
    for _ in 1 2 3; do skip "dropbear missing (package dropbear-bin)"; done
fi

# ---------------------------------------------------------------- paramiko
PP=$(free_port)
# the distribution's python3-paramiko, also when another python3 comes first in PATH
PYP=python3
python3 -c 'import paramiko' 2> /dev/null || PYP=/usr/bin/python3
if "$PYP" -c 'import paramiko' 2> /dev/null; then
    "$PYP" - "$PP" "$WORK/paramiko.lists" <<'PY' > "$WORK/paramiko.log" 2>&1 &
import json, socket, sys, threading, time
import paramiko
port, out = int(sys.argv[1]), sys.argv[2]
key = paramiko.RSAKey.generate(2048)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
want = {"kex": ["diffie-hellman-group14-sha256", "diffie-hellman-group14-sha1"],
        "cipher": ["aes256-ctr", "aes128-ctr"], "mac": ["hmac-sha2-512", "hmac-sha1"]}
json.dump(want, open(out, "w"))
end = time.time() + 40
srv.settimeout(1)
while time.time() < end:
    try:
        c, _ = srv.accept()
    except socket.timeout:
        continue
    t = paramiko.Transport(c)
    t.add_server_key(key)
    so = t.get_security_options()
    so.kex, so.ciphers, so.digests = want["kex"], want["cipher"], want["mac"]
    try:
        t.start_server(event=threading.Event(), server=paramiko.ServerInterface())
    except Exception:
        pass
PY
    KILL="$KILL $!"
    wait_port "$PP"
    probe --format json "127.0.0.1:$PP"
    is "probe of a paramiko server exits 0" "$?" 0
    is "paramiko: kex, cipher and mac lists as configured" \
        "$(jfield 'json.dumps({"kex": [a for a in j[0]["kex"] if not a.startswith("ext-info")], "cipher": j[0]["cipher_c2s"], "mac": j[0]["mac_s2c"]}, sort_keys=True)')" \
        "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$WORK/paramiko.lists")"
    is "paramiko: the probe's lists equal an independent reader's" "$(probe_all_lists)" "$(py_lists "$PP")"
else
    for _ in 1 2 3; do skip "paramiko missing (package python3-paramiko)"; done
fi

# ---------------------------------------------------------------- failures
# fake SERVER PORT MODE: silent (accept, say nothing), endless (an endless
# "SSH-2.0-AAAA..." line), ssh1 (SSH-1.5 only); for 30 s at most
fake() {
    python3 - "$1" "$2" <<'PY' &
import socket, sys, threading, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(8)
def serve(c):
    try:
        if mode == "endless":
            c.sendall(b"SSH-2.0-")
            for _ in range(200):
                c.sendall(b"A" * 1000)
                time.sleep(0.01)
        elif mode == "ssh1":
            c.sendall(b"SSH-1.5-OpenSSH_2.0\r\n")
        time.sleep(20)
    except OSError:
        pass
    c.close()
threading.Timer(30, lambda: __import__("os")._exit(0)).start()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
    KILL="$KILL $!"
    wait_port "$1"
}
PC=$(free_port)
probe "127.0.0.1:$PC"
is "a closed port: exit 1" "$?" 1
check "... connection refused, said with the address and port" \
    grep -q "127.0.0.1 port $PC: connection refused: nothing listens there" "$WORK/probe.out"

PS=$(free_port)
fake "$PS" silent
probe --timeout 1s --format json "127.0.0.1:$PS"
is "a port that never answers: exit 1 after the timeout, kind timeout" "$?:$(jfield 'j[0]["error"]["kind"]')" "1:timeout"

PH=$(free_port)
python3 -m http.server --bind 127.0.0.1 "$PH" > /dev/null 2>&1 &
KILL="$KILL $!"
wait_port "$PH"
PE=$(free_port)
fake "$PE" endless
PO=$(free_port)
fake "$PO" ssh1
probe --timeout 5s --format json "127.0.0.1:$PH" "127.0.0.1:$PE" "127.0.0.1:$PO"
is "HTTP, endless line, SSH-1: exit 1, one error each" "$?:$(jfield '" ".join(h["error"]["kind"] for h in j)')" \
    "1:not-ssh long-line ssh1"
check "the messages say what was seen" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
m = [h["error"]["message"] for h in j]
sys.exit(not ("speaks HTTP" in m[0] and "endless version line" in m[1] and "SSH-1 only" in m[2]))' "$WORK/probe.out"
finish
