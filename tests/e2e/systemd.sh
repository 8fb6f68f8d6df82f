#!/bin/bash
# SPDX-License-Identifier: ISC
# systemd integration of the real kexwatchd: socket activation
# (systemd-socket-activate passes listening TCP and UDP sockets, checked with
# sd_is_socket) and the notify protocol (READY=1, STATUS=, STOPPING=1),
# received on a unix datagram socket standing in for PID 1.
. "$(dirname "$0")/lib.sh"

ACTIVATE=$(command -v systemd-socket-activate)
if [ -z "$ACTIVATE" ] || ! ldd "$KEXWATCHD" 2>/dev/null | grep -q libsystemd; then
    plan 1
    skip "systemd-socket-activate or libsystemd support missing"
    exit 0
fi
plan 9

# the notify socket: a small listener records every datagram
NOTIFY="$WORK/notify.sock"
start_notify_listener "$NOTIFY" "$WORK/notify.log"

# configuration listens on nothing: every socket comes from the activator
PORT=$(free_port)
cat > "$WORK/kexwatch.conf" <<CONF
[listen]
udp =
tcp =
[store]
database = $WORK/kexwatch.db
[knowledge]
patterns = $KEXWATCH_CONFDIR/patterns.d
algorithms = $KEXWATCH_CONFDIR/algorithms.tsv
keywords = $KEXWATCH_CONFDIR/keywords.tsv
catalogue = $KEXWATCH_CONFDIR/catalogue.conf
CONF

# TCP: the activator holds the listening socket and starts the daemon on
# the first connection
: > "$WORK/records.jsonl"
# the activator passes on only the environment it is told to (-E)
NOTIFY_SOCKET="$NOTIFY" "$ACTIVATE" -E NOTIFY_SOCKET -l "127.0.0.1:$PORT" \
    "$KEXWATCHD" -c "$WORK/kexwatch.conf" --dump-records "$WORK/records.jsonl" > "$WORK/stdout" 2> "$WORK/stderr" &
DAEMON_PID=$!
sleep 0.5
logger --tcp -n 127.0.0.1 -P "$PORT" --rfc5424 -t kw-sa "hello through socket activation"
# the activator execs kexwatchd on the first connection (bounded: 10 s)
for _ in $(seq 1 100); do grep -q started "$WORK/stderr" && break; sleep 0.1; done
wait_records 1
check "a message arrives on the TCP socket systemd passed" grep -q '"app":"kw-sa"' "$WORK/records.jsonl"
check "the daemon says it used the passed socket" grep -q "socket activation: using 1 socket" "$WORK/stderr"
for _ in $(seq 1 30); do grep -q "READY=1" "$WORK/notify.log" && break; sleep 0.1; done
check "READY=1 was sent" grep -q "READY=1" "$WORK/notify.log"
check "STATUS= carries the counters by their registry names" grep -q "STATUS=.*messages_tcp=[0-9]" "$WORK/notify.log"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
is "SIGTERM: exit status 0" "$?" 0
DAEMON_PID=""
check "STOPPING=1 was sent" grep -q "STOPPING=1" "$WORK/notify.log"

# UDP: a datagram socket, activated by the first datagram
PORT=$(free_port)
: > "$WORK/records.jsonl"
"$ACTIVATE" --datagram -l "127.0.0.1:$PORT" \
    "$KEXWATCHD" -c "$WORK/kexwatch.conf" --dump-records "$WORK/records.jsonl" > "$WORK/stdout" 2> "$WORK/stderr" &
DAEMON_PID=$!
sleep 0.5
logger --udp -n 127.0.0.1 -P "$PORT" --rfc5424 -t kw-sa-udp "first datagram starts the daemon"
for _ in $(seq 1 100); do grep -q started "$WORK/stderr" && break; sleep 0.1; done
logger --udp -n 127.0.0.1 -P "$PORT" --rfc5424 -t kw-sa-udp "second datagram"
wait_records 2
is "datagrams arrive on the UDP socket systemd passed" "$(grep -c '"app":"kw-sa-udp"' "$WORK/records.jsonl")" 2
check "the passed socket was recognised as a datagram socket" grep -q "listening for syslog on udp 127.0.0.1:$PORT" "$WORK/stderr"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
is "SIGTERM: exit status 0" "$?" 0
DAEMON_PID=""
finish
