#!/bin/bash
# SPDX-License-Identifier: ISC
# A TLS handshake that stalls never delays plain intake: 200 TCP clients
# connect to the TLS port and send nothing (and 20 send half a ClientHello);
# meanwhile UDP and TCP messages arrive at once, and a real TLS sender still
# gets through; after tls_handshake_timeout every stalled one is closed and
# counted as a timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"

command -v openssl > /dev/null || { plan 1; skip "openssl is not installed"; exit 0; }
plan 8
tls_lab "tls_handshake_timeout = 3s"
check "kexwatchd starts" start_daemon

# the stalled clients hold their connections for 6 s (bounded)
python3 - "$TPORT" "$WORK/stalled.ready" <<'PY' &
import socket, sys, time
socks = []
for i in range(220):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    if i >= 200:  # a TLS record header promising 512 bytes, then silence
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    socks.append(s)
open(sys.argv[2], "w").close()
time.sleep(6)
PY
STALL=$!
EXTRA_CLEANUP='kill $STALL 2>/dev/null'
for _ in $(seq 1 50); do [ -e "$WORK/stalled.ready" ] && break; sleep 0.1; done
check "220 stalled TLS connections are open" test -e "$WORK/stalled.ready"

# while they stall: UDP and TCP messages, each timed until it is in the dump
t0=$(date +%s%N)
logger --udp -n 127.0.0.1 -P "$PORT" --rfc3164 -t kw-udp "udp during stalled handshakes"
logger --tcp -n 127.0.0.1 -P "$PORT" --rfc3164 -t kw-tcp "tcp during stalled handshakes"
wait_records 2
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
diag "UDP + TCP delivered in $ms ms with 220 handshakes stalled"
check "UDP and TCP messages arrive within 1 s while handshakes stall" test "$ms" -lt 1000
echo "<13>Dec  7 10:00:00 goodtls app: real sender gets through" |
    tls_send "$TPORT" "$P/ca.pem" "$P/r1.pem" "$P/r1.key" > /dev/null
wait_records 3
check "a real TLS sender gets through beside them" grep -q '"text":"real sender gets through"' "$WORK/records.jsonl"

# after the 3 s deadline every stalled handshake is closed and counted
sleep 3.5
is "all 220 stalled handshakes closed as timeouts" "$(counter tls_handshake_failed_timeout)" 220
is "no connection is left open" "$(counter tcp_open)" 0
check "the timeout is logged with the sender and the setting" \
    grep -q "tls 127.0.0.1:[0-9]*: TLS handshake failed (timeout): no complete handshake after 3 s; .*tls_handshake_timeout" "$WORK/stderr"
kill "$STALL" 2>/dev/null
check "SIGTERM: exit status 0" stop_daemon
finish
