#!/bin/bash
# SPDX-License-Identifier: ISC
# Memory benchmark: the resident size of kexwatchd holding state for many
# devices, to size [daemon] max_memory. Every device (hostname-keyed) logs
# a connection that stays open (an undecided session) and a failed
# negotiation (an alert, remembered for deduplication, and a stored
# negotiation). Prints VmRSS and the daemon's own account (memory_bytes:
# sessions + database queue + alert state) before and after; asserts
# nothing. Everything goes to 127.0.0.1 on a free port; bounded in devices.
# With KW_BENCH_ALERTFILE=1 the alerts also go to an alert file (synced in
# groups by its own thread since issue 11; before, its fsync per alert on
# the event loop limited the rate to a few hundred new alerts a second).
#
#   KW_BENCH_KEXWATCHD  the daemon (default: build/kexwatchd of this tree)
#   KW_BENCH_DEVICES    devices (default 100000)
#   KW_BENCH_MAXMEM     [daemon] max_memory for the run (default: the built-in)
set -u
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
KEXWATCHD=${KW_BENCH_KEXWATCHD:-$SRCDIR/build/kexwatchd}
DEVICES=${KW_BENCH_DEVICES:-100000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kwrss.XXXXXX")
D_PID=""
cleanup() {
    [ -n "$D_PID" ] && kill "$D_PID" 2> /dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
export KEXWATCH_CONFDIR=$SRCDIR/conf

PORT=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/kexwatch.conf" << EOF
[daemon]
${KW_BENCH_MAXMEM:+max_memory = $KW_BENCH_MAXMEM}
[listen]
udp = 127.0.0.1:$PORT
udp_rcvbuf = 8m
identify = hostname
[store]
database = $WORK/kexwatch.db
[alerts]
stdout = no
${KW_BENCH_ALERTFILE:+file = $WORK/alerts.jsonl}
EOF
"$KEXWATCHD" -c "$WORK/kexwatch.conf" 2> "$WORK/stderr" &
D_PID=$!
for _ in $(seq 1 100); do grep -q started "$WORK/stderr" && break; sleep 0.1; done
if ! kill -0 "$D_PID" 2> /dev/null; then
    cat "$WORK/stderr" >&2
    echo "kexwatchd did not start" >&2
    D_PID=""
    exit 1
fi

rss() { awk '/^VmRSS/ { print $2 }' "/proc/$D_PID/status"; }
counter() {
    kill -USR1 "$D_PID"
    sleep 0.5
    grep "^$1 " "$WORK/stderr" | tail -n 1 | cut -d' ' -f2
}
report() {
    local m
    m=$(counter memory_bytes) # none before the memory budget existed
    echo "$1: VmRSS $(($(rss) / 1024)) MiB; accounted $((${m:-0} / 1048576)) MiB;" \
        "sessions memory-evicted $(counter sessions_memory_evicted)$(counter session_memory_evicted)," \
        "devices evicted $(counter devices_evicted)"
}
report "start"
t0=$(date +%s.%N)
python3 - "$PORT" "$DEVICES" << 'PY'
import socket, sys, time
port, devices = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(devices):
    a, b = (i >> 8) & 255, i & 255
    s.sendto(("<38>Oct 26 12:24:47 dev%d sshd[%d]: Connection from 10.1.%d.%d port %d on 10.0.0.1 port 22"
              " rdomain \"\"" % (i, 100000 + i, a, b, 1024 + i % 60000)).encode(), ("127.0.0.1", port))
    s.sendto(("<38>Oct 26 12:24:48 dev%d sshd[%d]: Unable to negotiate with 10.2.%d.%d port %d: no matching"
              " key exchange method found. Their offer: diffie-hellman-group14-sha1,diffie-hellman-group1-sha1"
              " [preauth]" % (i, 200000 + i, a, b, 1024 + i % 60000)).encode(), ("127.0.0.1", port))
    if i % 200 == 199:
        time.sleep(0.02)  # about 20,000 datagrams a second: no kernel drops
PY
for _ in $(seq 1 120); do
    [ "$(counter store_pending)" = 0 ] && [ "$(counter store_committed)" -ge "$DEVICES" ] && break
    sleep 1
done
t1=$(date +%s.%N)
echo "devices: $DEVICES, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s;" \
    "kernel drops $(counter udp_kernel_drops); alerts $(counter alerts_sent);" \
    "limit $(($(counter memory_limit_bytes)$(counter memory_limit) + 0)) bytes"
report "after $DEVICES devices"
kill "$D_PID"
wait "$D_PID"
D_PID=""
