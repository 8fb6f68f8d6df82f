#!/bin/bash
# SPDX-License-Identifier: ISC
# An alert program that never reads its standard input (issue 11): the
# daemon writes each alert to the program's stdin without blocking (the
# pipe is non-blocking, the rest waits for an event), so while programs
# sleep on alerts of ~10 KB that do not fit their one-page pipes (the shim
# tests/e2e/smallpipe.c, as Linux gives a user past pipe-user-pages-soft)
# it keeps receiving a steady UDP load and answering SIGUSR1. Such a program
# costs a slot ([alerts] exec_max) until exec_timeout kills it: counted in
# exec_failed and logged with the reason.
. "$(dirname "$0")/lib.sh"

plan 8
build_shim smallpipe || bail "cannot build the pipe shim (a C compiler is needed)"
PORT=$(free_port)
printf '#!/bin/sh\n: > "$(dirname "$0")/ran.$$"\nsleep 20\n' > "$WORK/sleeper.sh"
chmod +x "$WORK/sleeper.sh"
write_config "$PORT" "identify = hostname
max_message = 1m"
add_alerts "exec = $WORK/sleeper.sh" "exec_timeout = 3s" "exec_max = 2"
LD_PRELOAD=$WORK/smallpipe.so check "kexwatchd starts with a program that never reads its input" start_daemon

# 8 s of 1,000 ordinary datagrams a second
python3 - "$PORT" 8 > "$WORK/sent" <<'PY' &
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0, n = time.monotonic(), 0
while time.monotonic() - t0 < secs:
    while n < int((time.monotonic() - t0) * 1000) + 1:
        s.sendto(b"<189>Oct 26 12:24:47 sw1 %%01IFNET/4/LINK_STATE(l)[1]:The line protocol on interface "
                 b"GigabitEthernet0/0/1 has entered the UP state.", ("127.0.0.1", port))
        n += 1
    time.sleep(0.005)
print(n)
PY
LOAD=$!
sleep 0.5
# three alerts of ~10 KB each (a client offering 128 long names), over TCP
python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for d in range(3):
    offer = ",".join("x%03d-" % i + "a" * 80 for i in range(128))
    s.sendall(("<38>Oct 26 12:24:47 big%d sshd[%d]: Unable to negotiate with 10.9.0.%d port 2222: no matching key "
               "exchange method found. Their offer: %s [preauth]\n" % (d, 700 + d, d + 1, offer)).encode())
s.close()
PY
sleep 1
ms=$(usr1_ms)
check "the loop answers SIGUSR1 while the programs sleep on their input (${ms} ms)" test "$ms" -lt 1000
check "two programs were started (exec_max = 2)" test "$(ls "$WORK" | grep -c '^ran\.')" -eq 2
big=$(python3 -c 'import sys; print(max(len(l) for l in open(sys.argv[1])))' "$WORK/alerts.jsonl")
check "the alerts are larger than the pipe ($big bytes)" test "$big" -gt 4096
wait "$LOAD"
sent=$(cat "$WORK/sent")
for _ in $(seq 1 30); do [ "$(counter messages_udp)" -ge "$sent" ] 2> /dev/null && break; sleep 0.1; done
is "the daemon kept receiving: every datagram read ($sent sent, kernel drops $(counter udp_kernel_drops))" \
    "$(counter messages_udp)" "$sent"
# the two sleepers were killed at 3 s; the third alert's program got a slot
for _ in $(seq 1 50); do [ "$(counter exec_failed)" -ge 3 ] 2> /dev/null && break; sleep 0.2; done
check "each program that did not read was killed at exec_timeout and counted ($(counter exec_failed) failed)" \
    test "$(counter exec_failed)" -ge 2
check "and the operator is told why" grep -q "ran longer than 3 s and was killed (it had not read the whole alert" \
    "$WORK/stderr"
check "SIGTERM: exit status 0" stop_daemon
finish
