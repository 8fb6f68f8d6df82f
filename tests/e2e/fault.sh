#!/bin/bash
# SPDX-License-Identifier: ISC
# Faults around the event loop: under a steady UDP load of SSH negotiation
# failures from many devices, another program holding the database's write
# lock for 10 s, a slow fsync (an LD_PRELOAD shim built here) and a stalled
# webhook receiver must cost no more kernel UDP drops than the same load on
# a healthy disk and receiver: the writer thread waits, the loop keeps
# reading. Then kill -9 twenty times under load: the database stays intact
# and every alert in the alert file is in the database.
# Bounded: about 90 s in all.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 > /dev/null || bail "sqlite3 (the CLI) is needed: scripts/deps.sh --test"
CC=${CC:-cc}
command -v "$CC" > /dev/null || bail "a C compiler is needed to build the fsync shim"

plan 16
RATE=1000   # datagrams per second: sustained, well below what the daemon takes
PHASE=10    # seconds per phase

# The shim (tests/e2e/slowfsync.c): fsync and fdatasync sleep KW_SLOW_FSYNC_MS
# while the file named by KW_SLOW_FSYNC_FLAG exists, so one daemon runs with a
# healthy and a slow disk in turn.
build_shim slowfsync || bail "cannot build the fsync shim"

# send_load PREFIX FIRST COUNT SECONDS: RATE failures a second for SECONDS,
# from devices PREFIX<FIRST> .. PREFIX<FIRST+COUNT-1> in turn (hostname-keyed),
# each a negotiation of its own (its own sshd PID)
send_load() {
    python3 - "$PORT" "$RATE" "$4" "$1" "$2" "$3" <<'PY'
import socket, sys, time
port, rate, secs, prefix, first, count = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
offers = ["diffie-hellman-group14-sha1,diffie-hellman-group1-sha1", "aes128-cbc,3des-cbc"]
what = ["key exchange method", "cipher"]
t0 = time.monotonic()
base = int(time.time() * 1000) % 4000000  # PIDs differ from one phase to the next
n = 0
while True:
    el = time.monotonic() - t0
    if el >= secs:
        break
    due = int(el * rate) + 1
    while n < due:
        k = n % 2
        line = ("<38>Oct 26 12:24:47 %s%d sshd[%d]: Unable to negotiate with 10.9.%d.%d port %d: "
                "no matching %s found. Their offer: %s [preauth]") % (
            prefix, first + n % count, 1000 + (base + n) % 4000000, (n >> 8) & 255, n & 255, 1024 + n % 60000,
            what[k], offers[k])
        s.sendto(line.encode(), ("127.0.0.1", port))
        n += 1
    time.sleep(0.005)
print(n)
PY
}

# proc_drops: kernel drops of the daemon's UDP socket from /proc/net/udp
proc_drops() {
    awk -v p="$(printf ':%04X' "$PORT")" '$2 ~ p"$" { d += $NF } END { print d + 0 }' /proc/net/udp
}

drops() { echo "$(($(counter udp_kernel_drops) + 0)) $(proc_drops)"; }

# wait_drained: until nothing is queued for the database (bounded: 30 s)
wait_drained() {
    for _ in $(seq 1 100); do
        [ "$(counter store_pending)" = 0 ] && return 0
        sleep 0.2
    done
    return 1
}

PORT=$(free_port)
HPORT=$(free_port)
while [ "$HPORT" = "$PORT" ]; do HPORT=$(free_port); done
write_config "$PORT" "identify = hostname"
add_alerts "webhook = http://127.0.0.1:$HPORT/hook" "webhook_format = generic"
export KW_SLOW_FSYNC_FLAG=$WORK/slow-now KW_SLOW_FSYNC_MS=500
# (the shim is not built with the sanitizers: let ASan accept it first)
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

# A receiver that answers, and then one that accepts and never answers.
start_http_receiver "$HPORT" "$WORK/received.txt"
HTTP_OK=$RECV
LD_PRELOAD=$WORK/slowfsync.so check "kexwatchd starts with the fsync shim" start_daemon

# warm-up: every device raises its alerts once, so the phases below carry
# the same load of repeats (held back by repeat_interval, still stored)
send_load dev 0 500 3 > /dev/null
sleep 0.5
check "warm-up stored" wait_drained
nalerts=$(wc -l < "$WORK/alerts.jsonl")
check "warm-up raised alerts ($nalerts)" test "$nalerts" -ge 500

read -r base0 pbase0 <<< "$(drops)"
sent=$(send_load dev 0 500 "$PHASE")
read -r base1 pbase1 <<< "$(drops)"
BASE=$((base1 - base0))
PBASE=$((pbase1 - pbase0))
diag "healthy: $sent datagrams, kernel drops $BASE (counter), $PBASE (/proc/net/udp)"
check "healthy: stored" wait_drained

# (a) another writer holds the write lock for 10 s
c0=$(counter store_committed)
(
    printf '.timeout 5000\nBEGIN IMMEDIATE;\n'
    sleep "$PHASE"
    printf 'COMMIT;\n'
) | sqlite3 "$WORK/kexwatch.db" > /dev/null &
LOCKER=$!
sleep 0.3
read -r d0 p0 <<< "$(drops)"
sent=$(send_load dev 0 500 "$PHASE")
read -r d1 p1 <<< "$(drops)"
wait "$LOCKER"
diag "write lock held: $sent datagrams, kernel drops $((d1 - d0)) (counter), $((p1 - p0)) (/proc/net/udp)"
check "write lock held 10 s: no more kernel drops than healthy" test $((d1 - d0)) -le "$BASE" -a $((p1 - p0)) -le "$PBASE"
check "and everything is stored once the lock is gone" wait_drained
c1=$(counter store_committed)
check "all of it committed ($((c1 - c0)))" test $((c1 - c0)) -ge "$sent"

# (b) every fsync takes 500 ms, while 500 new devices raise new alerts (the
# alert file is synced in groups by its own thread)
: > "$KW_SLOW_FSYNC_FLAG"
read -r d0 p0 <<< "$(drops)"
sent=$(send_load slow 0 500 "$PHASE")
read -r d1 p1 <<< "$(drops)"
rm -f "$KW_SLOW_FSYNC_FLAG"
diag "slow fsync: $sent datagrams, kernel drops $((d1 - d0)) (counter), $((p1 - p0)) (/proc/net/udp)"
check "slow fsync: no more kernel drops than healthy" test $((d1 - d0)) -le "$BASE" -a $((p1 - p0)) -le "$PBASE"
check "and everything is stored" wait_drained
for _ in $(seq 1 50); do [ "$(counter file_pending)" = 0 ] && break; sleep 0.2; done
nslow=$(grep -c '"slow[0-9]*"' "$WORK/alerts.jsonl")
check "the new alerts reached the alert file ($nslow)" test "$nslow" -ge 500
nalerts=$(wc -l < "$WORK/alerts.jsonl")

# (c) the webhook receiver accepts and never answers, while new devices
# raise new alerts
kill "$HTTP_OK" 2> /dev/null
wait "$HTTP_OK" 2> /dev/null
python3 - "$HPORT" "$PHASE" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
s.settimeout(0.2)
held = []
end = time.monotonic() + float(sys.argv[2]) + 2
while time.monotonic() < end:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
PY
STALL=$!
EXTRA_CLEANUP="kill $STALL 2>/dev/null"
sleep 0.3
read -r d0 p0 <<< "$(drops)"
sent=$(send_load new 0 300 "$PHASE")
read -r d1 p1 <<< "$(drops)"
diag "stalled webhook: $sent datagrams, kernel drops $((d1 - d0)) (counter), $((p1 - p0)) (/proc/net/udp)"
check "stalled webhook: no more kernel drops than healthy" test $((d1 - d0)) -le "$BASE" -a $((p1 - p0)) -le "$PBASE"
check "new alerts were raised meanwhile" test "$(wc -l < "$WORK/alerts.jsonl")" -ge $((nalerts + 300))
wait "$STALL" 2> /dev/null
check "SIGTERM: exit status 0" stop_daemon

# kill -9 twenty times under load, new devices each time
rounds=0
for round in $(seq 1 20); do
    LD_PRELOAD=$WORK/slowfsync.so start_daemon || break
    send_load "k$round-" 0 50 1.2 > /dev/null &
    SENDER=$!
    sleep "0.$((RANDOM % 9 + 2))"
    kill -KILL "$DAEMON_PID"
    wait "$DAEMON_PID" 2> /dev/null
    DAEMON_PID=""
    wait "$SENDER"
    rounds=$round
done
is "the daemon started again after each kill -9" "$rounds" 20
is "kill -9 twenty times: the database is intact" "$(sqlite3 "$WORK/kexwatch.db" 'PRAGMA integrity_check')" ok
python3 -c 'import json, sys
for l in open(sys.argv[1]):
    print(json.loads(l)["alert_id"])' "$WORK/alerts.jsonl" | sort -u > "$WORK/file-ids"
sqlite3 "$WORK/kexwatch.db" 'SELECT alert_id FROM alerts' | sort -u > "$WORK/db-ids"
missing=$(comm -23 "$WORK/file-ids" "$WORK/db-ids" | wc -l)
diag "$(wc -l < "$WORK/file-ids") alert id(s) in the file, $(wc -l < "$WORK/db-ids") in the database"
is "every alert in the alert file is in the database" "$missing" 0
finish
