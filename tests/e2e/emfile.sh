#!/bin/bash
# SPDX-License-Identifier: ISC
# End-to-end: the open-files limit. max_connections is capped to what
# RLIMIT_NOFILE allows (said at start); when accept() still fails with EMFILE
# the daemon sheds one waiting connection, pauses accepting instead of
# spinning, counts it, and accepts again once descriptors are free.
. "$(dirname "$0")/lib.sh"

plan 8
PORT=$(free_port)
[ -n "$PORT" ] || bail "no free port"
write_config "$PORT"
# start_limited N: the daemon under an open-files limit of N (soft and hard)
start_limited() {
    : > "$WORK/stderr"
    ( ulimit -n "$1" && exec "$KEXWATCHD" -c "$WORK/kexwatch.conf" --dump-records "$WORK/records.jsonl" ) \
        > "$WORK/stdout" 2> "$WORK/stderr" &
    DAEMON_PID=$!
    for _ in $(seq 1 100); do grep -q started "$WORK/stderr" && break; sleep 0.1; done
}
: > "$WORK/records.jsonl"
# the default max_connections (4096) under a limit of 100 descriptors
start_limited 100
check "kexwatchd starts under ulimit -n 100" grep -q started "$WORK/stderr"
check "max_connections is capped to the open-files limit, and it says so" \
    grep -q "max_connections = 4096 but the open-files limit is 100: at most 50 TCP connections" "$WORK/stderr"

# cpu_ticks: user + system time of the daemon, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }
# hold N connections open for S seconds (bounded), then close them
hold() {
    python3 - "$PORT" "$1" "$2" <<'PY'
import socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(n):
    try:
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        pass
time.sleep(secs)
for s in socks:
    s.close()
PY
}

t0=$(cpu_ticks)
hold 80 3
t1=$(cpu_ticks)
diag "80 connections over the cap: $((t1 - t0)) ticks of CPU in 3 s"
check "connections over the cap are refused, not spun on" test $((t1 - t0)) -lt 100
check "the refusals are counted" test "$(counter tcp_rejected)" -ge 20

# a limit so small that the daemon's own descriptors (about 18) and the
# capped connections (15) do not fit: accept() fails with EMFILE
stop_daemon
start_limited 30
t0=$(cpu_ticks)
hold 60 3
t1=$(cpu_ticks)
diag "60 connections past EMFILE: $((t1 - t0)) ticks of CPU in 3 s"
check "EMFILE pauses accepting instead of spinning (under 1 s of CPU in 3 s)" test $((t1 - t0)) -lt 100
check "accept failures are counted and logged with what to do" \
    sh -c "test $(counter tcp_accept_errors) -ge 1 && grep -q 'accept failed: .*raise the open-files limit' '$WORK/stderr'"

# the connections shed or queued behind the limit drain within a few
# pauses; a sender whose connection was among the shed ones sends again, as
# rsyslog's omfwd does (bounded: 10 tries over about 10 s)
got=0
for _ in $(seq 1 10); do
    logger --tcp -n 127.0.0.1 -P "$PORT" --rfc5424 -t kw-after "accepted again after EMFILE"
    for _ in 1 2 3 4 5; do
        kill -USR1 "$DAEMON_PID"
        sleep 0.2
        grep -q '"text":"accepted again after EMFILE"' "$WORK/records.jsonl" && got=1 && break
    done
    [ "$got" = 1 ] && break
done
check "connections are accepted again once descriptors are free" [ "$got" = 1 ]
[ "$got" = 1 ] || { diag "daemon log:"; tail -n 20 "$WORK/stderr" | sed 's/^/# /'; }
check "SIGTERM: exit status 0" stop_daemon
finish
