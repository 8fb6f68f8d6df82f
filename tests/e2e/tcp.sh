#!/bin/bash
# SPDX-License-Identifier: ISC
# End-to-end: syslog over TCP (RFC 6587) into the real kexwatchd: logger with
# LF framing and with octet counting, mixed framing on one connection,
# truncation, max_connections, idle timeout, and a clean stop.
. "$(dirname "$0")/lib.sh"

plan 16
PORT=$(free_port)
[ -n "$PORT" ] || bail "no free port"
write_config "$PORT" "max_message = 2048
max_connections = 4
tcp_idle_timeout = 1s"
check "kexwatchd starts" start_daemon

logger --tcp -n 127.0.0.1 -P "$PORT" --rfc5424 -t kw-lf "hello over tcp, LF framed"
logger --tcp -n 127.0.0.1 -P "$PORT" --rfc5424 --octet-count -t kw-oc "hello over tcp, octet counted"
wait_records 2
check "logger --tcp (LF framing) arrives" grep -q '"app":"kw-lf".*"text":"hello over tcp, LF framed"' "$WORK/records.jsonl"
check "logger --tcp --octet-count arrives" grep -q '"app":"kw-oc".*"text":"hello over tcp, octet counted"' "$WORK/records.jsonl"

# many messages on one connection: logger -f sends a file line by line
logger --tcp -n 127.0.0.1 -P "$PORT" --rfc3164 -t kw-file -f "$KW_TESTDATA/corpus/openssh-lab/agg-ctr-3.log"
n=$(grep -c . "$KW_TESTDATA/corpus/openssh-lab/agg-ctr-3.log")
wait_records $((2 + n))
is "a whole file over one connection" "$(grep -c '"app":"kw-file"' "$WORK/records.jsonl")" "$n"

# one raw connection mixing octet-counted and LF frames, CRLF, NUL, and a last
# line without LF that must still arrive when the peer closes
python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
m1 = b"<13>Nov 25 10:00:00 mixhost app: counted one"
s.sendall(str(len(m1)).encode() + b" " + m1)
s.sendall(b"<13>Nov 25 10:00:00 mixhost app: lf two\r\n")
m3 = b"<13>Nov 25 10:00:00 mixhost app: counted\nthree"
s.sendall(str(len(m3)).encode() + b" " + m3)
s.sendall(b"<13>Nov 25 10:00:00 mixhost app: nul\x00four\n")
s.sendall(b"<13>Nov 25 10:00:00 mixhost app: last five")
s.close()
PY
wait_records $((2 + n + 5))
is "mixed framing on one connection: five messages" "$(grep -c '"host":"mixhost"' "$WORK/records.jsonl")" 5
check "octet counting keeps an embedded LF inside the message" grep -q '"text":"counted\\nthree"' "$WORK/records.jsonl"
check "a last line without LF arrives at close" grep -q '"text":"last five"' "$WORK/records.jsonl"

# an oversize LF frame is truncated to max_message and the stream stays in sync
python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"<13>Nov 25 10:00:00 bigtcp app: " + b"y" * 5000 + b"\n")
s.sendall(b"<13>Nov 25 10:00:00 aftertcp app: still in sync\n")
s.close()
PY
wait_records $((2 + n + 7))
check "an oversize frame is truncated to max_message" grep -q '"host":"bigtcp".*"length":2048' "$WORK/records.jsonl"
check "the frame after it is intact" grep -q '"host":"aftertcp".*"text":"still in sync"' "$WORK/records.jsonl"
check "the truncation is reported, naming the sender and the setting" \
    grep -q "warning: tcp 127.0.0.1:[0-9]*: 1 message(s) longer than max_message (2048 bytes) were truncated" "$WORK/stderr"

# an invalid octet count is counted, reported, and the frame still read as a line
python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"0 <13>Nov 25 10:00:00 zerocount app: after a zero count\n")
s.close()
PY
wait_records $((2 + n + 8))
check "a frame with octet count 0 is read as an LF-framed line, nothing lost" grep -q '"text":"0 <13>Nov 25 10:00:00 zerocount app: after a zero count"' "$WORK/records.jsonl"
check "and the bad count is reported" grep -q "invalid RFC 6587 octet count" "$WORK/stderr"

# max_connections = 4: hold 6 connections open, two are refused
python3 - "$PORT" <<'PY'
import socket, sys, time
socks = []
for i in range(6):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    socks.append(s)
    time.sleep(0.05)
time.sleep(0.3)
for s in socks:
    s.close()
PY
rej=$(counter tcp_rejected)
check "connections beyond max_connections are refused and counted ($rej)" [ "$rej" -ge 2 ]

# an idle connection is closed after tcp_idle_timeout
python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
start = time.time()
data = s.recv(1)   # returns b"" when the daemon closes
sys.exit(0 if data == b"" and time.time() - start < 4 else 1)
PY
check "an idle connection is closed after tcp_idle_timeout" [ $? -eq 0 ]

# stop with a connection open and a partial message buffered
exec 3<>/dev/tcp/127.0.0.1/"$PORT"
printf '<13>Nov 25 10:00:00 partial app: cut at stop' >&3
sleep 0.3
check "SIGTERM with an open connection: exit status 0" stop_daemon
exec 3>&-
check "the partial message buffered at stop was delivered" grep -q '"host":"partial"' "$WORK/records.jsonl"
finish
