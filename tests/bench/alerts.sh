#!/bin/bash
# SPDX-License-Identifier: ISC
# Alert-file benchmark: new alerts per second written to [alerts] file and
# synced to disk. KW_BENCH_ALERTS devices (hostname-keyed) each log one
# failed negotiation at KW_BENCH_RATE datagrams/s (all fit in the 8 MiB
# receive buffer), so every one raises a new alert; the figure is alerts /
# seconds from the first datagram until the file holds them all and, when
# the daemon counts it (file_sent), all are synced. Prints figures, asserts
# nothing; bounded in alerts and by a 600 s wait.
#
#   KW_BENCH_KEXWATCHD  the daemon (default: build/kexwatchd of this tree)
#   KW_BENCH_ALERTS     new alerts (default 5000)
#   KW_BENCH_RATE       datagrams per second sent (default 10000)
#   KW_BENCH_FSYNC_MS   make every fsync this much slower (an LD_PRELOAD
#                       shim, tests/e2e/slowfsync.c; default 0: the disk as is)
#   TMPDIR              where the alert file and database go (the disk measured)
set -u
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
KEXWATCHD=${KW_BENCH_KEXWATCHD:-$SRCDIR/build/kexwatchd}
ALERTS=${KW_BENCH_ALERTS:-5000}
RATE=${KW_BENCH_RATE:-10000}
FSYNC_MS=${KW_BENCH_FSYNC_MS:-0}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kwalerts.XXXXXX")
D_PID=""
cleanup() {
    [ -n "$D_PID" ] && kill "$D_PID" 2> /dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
export KEXWATCH_CONFDIR=$SRCDIR/conf

PRELOAD=""
if [ "$FSYNC_MS" -gt 0 ]; then
    "${CC:-cc}" -shared -fPIC -O2 -o "$WORK/slowfsync.so" "$SRCDIR/tests/e2e/slowfsync.c" -ldl || exit 1
    : > "$WORK/slow"
    export KW_SLOW_FSYNC_FLAG=$WORK/slow KW_SLOW_FSYNC_MS=$FSYNC_MS
    PRELOAD=$WORK/slowfsync.so
fi
PORT=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/kexwatch.conf" << EOF
[listen]
udp = 127.0.0.1:$PORT
udp_rcvbuf = 8m
identify = hostname
[store]
database = $WORK/kexwatch.db
[alerts]
file = $WORK/alerts.jsonl
stdout = no
EOF
LD_PRELOAD=$PRELOAD "$KEXWATCHD" -c "$WORK/kexwatch.conf" 2> "$WORK/stderr" &
D_PID=$!
for _ in $(seq 1 100); do grep -q started "$WORK/stderr" && break; sleep 0.1; done
if ! kill -0 "$D_PID" 2> /dev/null; then
    cat "$WORK/stderr" >&2
    echo "kexwatchd did not start" >&2
    D_PID=""
    exit 1
fi
counter() {
    kill -USR1 "$D_PID"
    sleep 0.1
    grep "^$1 " "$WORK/stderr" | tail -n 1 | cut -d' ' -f2
}

t0=$(date +%s.%N)
python3 - "$PORT" "$ALERTS" "$RATE" << 'PY'
import socket, sys, time
port, n, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.monotonic()
for i in range(n):
    s.sendto(("<38>Oct 26 12:24:48 bench%d sshd[%d]: Unable to negotiate with 10.2.%d.%d port %d: no matching"
              " key exchange method found. Their offer: diffie-hellman-group14-sha1,diffie-hellman-group1-sha1"
              " [preauth]" % (i, 200000 + i, (i >> 8) & 255, i & 255, 1024 + i % 60000)).encode(),
             ("127.0.0.1", port))
    if i % 100 == 99:
        ahead = (i + 1) / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
PY
end=$(($(date +%s) + 600))
while [ "$(date +%s)" -lt "$end" ]; do
    if [ "$(wc -l < "$WORK/alerts.jsonl")" -ge "$ALERTS" ]; then
        synced=$(counter file_sent)
        { [ -z "$synced" ] || [ "$synced" -ge "$ALERTS" ]; } && break
    fi
    sleep 0.05
done
t1=$(date +%s.%N)
lines=$(wc -l < "$WORK/alerts.jsonl")
echo "alerts: $lines of $ALERTS in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s =" \
    "$(awk -v a="$t0" -v b="$t1" -v n="$lines" 'BEGIN { printf "%.0f", n / (b - a) }') alerts/s to the file;" \
    "extra fsync delay ${FSYNC_MS} ms; kernel drops $(counter udp_kernel_drops);" \
    "file_sent $(counter file_sent)"
kill "$D_PID"
wait "$D_PID"
D_PID=""
