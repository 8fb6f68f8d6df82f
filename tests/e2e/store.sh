#!/bin/bash
# SPDX-License-Identifier: ISC
# The real daemon writing the real SQLite file: the corpus sent over TCP is
# stored, learned server lists survive a restart, and a kill -9 in the middle
# of a heavy write load loses nothing that was committed and corrupts nothing.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 > /dev/null || { plan 1; skip "sqlite3 is not installed"; exit 0; }
plan 10
PORT=$(free_port)
write_config "$PORT" "identify = hostname"
# the VERBOSE lab devices' server lists (DEBUG2 devices log their own)
sed -n '/^\[device/,$p' "$KW_TESTDATA/corpus/openssh-lab/inventory.conf" >> "$WORK/kexwatch.conf"
DB="$WORK/kexwatch.db"
check "kexwatchd starts and creates the database" start_daemon

# the lab streams as a relay would forward them: raw lines over one TCP connection
send_tcp() {
    python3 - "$PORT" "$@" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        for line in f:
            s.sendall(line if line.endswith(b"\n") else line + b"\n")
s.close()
PY
}
send_tcp "$KW_TESTDATA"/corpus/openssh-lab/*.log
want=$(grep -c 'fail:' "$KW_TESTDATA/corpus/openssh-lab/expected.tsv")
for _ in $(seq 1 50); do
    [ "$(counter store_committed)" -ge "$want" ] 2> /dev/null && break
    sleep 0.2
done
is "every lab failure is committed ($want)" "$(sqlite3 "$DB" "SELECT count(*) FROM negotiations WHERE failed = 1")" "$want"
check "SIGTERM: exit status 0" stop_daemon
python3 - "$DB" "$KW_TESTDATA/corpus/openssh-lab/expected.tsv" <<'PY'
import collections, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cat = {0: "kex", 1: "hostkey", 2: "cipher", 3: "mac", 4: "compression"}
got = collections.Counter()
for dev, c in db.execute("SELECT d.key, n.category FROM negotiations n JOIN devices d ON d.id = n.device_id "
                         "WHERE n.failed = 1"):
    got[(dev, cat.get(c, c) if isinstance(c, int) else c)] += 1
want = collections.Counter()
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    if f[2].startswith("fail:"):
        want[(f[0], f[2][5:])] += 1
if got != want:
    print("# want", sorted(want.items()))
    print("# got ", sorted(got.items()))
    sys.exit(1)
PY
check "stored failures by device and category match the corpus" [ $? -eq 0 ]
is "integrity_check after a clean stop" "$(sqlite3 "$DB" 'PRAGMA integrity_check')" "ok"

# learned server lists (the DEBUG2 devices' own proposals) come back at start
start_daemon
check "learned server lists are restored at start" grep -q "restored [1-9][0-9]* learned server list" "$WORK/stderr"

# kill -9 under a heavy write load: 40,000 explicit failures, one sshd pid each
python3 - "$PORT" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
end = time.time() + 20
buf = []
for i in range(40000):
    buf.append(("<38>Nov 25 10:00:00 crash-%d sshd[%d]: Unable to negotiate with 192.0.2.%d port %d: "
                "no matching key exchange method found. Their offer: diffie-hellman-group1-sha1,"
                "diffie-hellman-group14-sha1 [preauth]\n" % (i % 500, 10000 + i, i % 250, 1024 + i % 60000)).encode())
    if len(buf) == 500:
        try:
            s.sendall(b"".join(buf))
        except OSError:
            break
        buf = []
        if time.time() > end:
            break
PY
LOADER=$!
committed=0
for _ in $(seq 1 100); do
    committed=$(counter store_committed)
    [ "${committed:-0}" -ge 5000 ] && break
    sleep 0.1
done
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2> /dev/null
DAEMON_PID=""
wait "$LOADER" 2> /dev/null
diag "killed with $committed negotiations acknowledged as committed"
is "integrity_check after kill -9" "$(sqlite3 "$DB" 'PRAGMA integrity_check')" "ok"
stored=$(sqlite3 "$DB" "SELECT count(*) FROM negotiations n JOIN devices d ON d.id = n.device_id WHERE d.key LIKE 'crash-%'")
check "every negotiation committed before the kill is there ($stored >= $committed)" [ "$stored" -ge "$committed" ]
check "the daemon starts again on the same database" start_daemon
check "and stops cleanly" stop_daemon
finish
