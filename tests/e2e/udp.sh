#!/bin/bash
# SPDX-License-Identifier: ISC
# End-to-end: syslog over UDP into the real kexwatchd, sent by util-linux
# logger and by raw datagrams carrying the corpus streams.
. "$(dirname "$0")/lib.sh"

plan 14
PORT=$(free_port)
[ -n "$PORT" ] || bail "no free port"
V6=""
python3 -c 'import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0))' 2>/dev/null && V6=yes
if [ -n "$V6" ]; then
    write_config "$PORT"
    sed -i "s|^udp = .*|udp = 127.0.0.1:$PORT, [::1]:$PORT|" "$WORK/kexwatch.conf"
else
    write_config "$PORT"
fi
check "kexwatchd starts on udp and tcp 127.0.0.1:$PORT" start_daemon

logger --udp -n 127.0.0.1 -P "$PORT" --rfc5424 -t kwtest-5424 "hello over udp 5424"
logger --udp -n 127.0.0.1 -P "$PORT" --rfc3164 -t kwtest-3164 "hello over udp 3164"
wait_records 2
check "logger --rfc5424 message parsed as rfc5424 with its tag" \
    grep -q '"format":"rfc5424".*"app":"kwtest-5424".*"text":"hello over udp 5424"' "$WORK/records.jsonl"
check "logger --rfc3164 message parsed as rfc3164 with its tag" \
    grep -q '"format":"rfc3164".*"app":"kwtest-3164".*"text":"hello over udp 3164"' "$WORK/records.jsonl"
check "device key is the source address (identify = source)" \
    grep -q '"device":"127.0.0.1"' "$WORK/records.jsonl"

# several LF-separated lines in one datagram are several messages
printf '<13>Nov 25 10:00:00 multi app: one\n<13>Nov 25 10:00:00 multi app: two\r\n<13>Nov 25 10:00:00 multi app: three' \
    > /dev/udp/127.0.0.1/"$PORT"
wait_records 5
is "a datagram with three lines yields three records" "$(grep -c '"host":"multi"' "$WORK/records.jsonl")" 3

# an empty datagram is counted and dropped
python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"", ("127.0.0.1", int(sys.argv[1])))' "$PORT"
sleep 0.3
is "an empty datagram is counted, not a record" "$(counter udp_empty)" 1

# the Huawei corpus stream, one line per datagram
n=0
while IFS= read -r line; do
    printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"
    n=$((n + 1))
done < "$KW_TESTDATA/corpus/huawei-assumed/huawei.log"
want=$((5 + n))
wait_records "$want"
is "every Huawei corpus line arrives" "$(wc -l < "$WORK/records.jsonl")" "$want"
is "Huawei debug records are recognised" \
    "$(grep -c '"format":"huawei-debug".*"host":"HW-' "$WORK/records.jsonl")" \
    "$(grep -c 'SSH/7/SSH_DEBUG' "$KW_TESTDATA/corpus/huawei-assumed/huawei.log")"

# binary junk and invalid UTF-8 do not hurt the daemon
head -c 3000 /dev/urandom > "$WORK/junk"
python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(open(sys.argv[2],"rb").read(), ("127.0.0.1", int(sys.argv[1])))' "$PORT" "$WORK/junk"
printf '<13>Nov 25 10:00:00 utf8bad app: \377\376 caf\303' > /dev/udp/127.0.0.1/"$PORT"
wait_records $((want + 2))
check "invalid UTF-8 is carried as U+FFFD, the rest intact" \
    grep -q '"host":"utf8bad".*"text":"\\ufffd\\ufffd caf\\ufffd"\|"host":"utf8bad".*"text":"�� caf�"' "$WORK/records.jsonl"

# a 60000-byte message arrives whole (max_message = 65536)
python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"<13>Nov 25 10:00:00 bighost app: " + b"x"*59970, ("127.0.0.1", int(sys.argv[1])))' "$PORT"
sleep 0.3
wait_records $((want + 3))
check "a 60000-byte datagram arrives whole" grep -q '"host":"bighost".*"length":60003' "$WORK/records.jsonl"

if [ -n "$V6" ]; then
    logger --udp -n ::1 -P "$PORT" --rfc5424 -t kwtest-v6 "hello over ipv6"
    wait_records $((want + 4))
    check "IPv6 listener [::1] receives" grep -q '"app":"kwtest-v6".*"device":"::1"\|"device":"::1".*"app":"kwtest-v6"' "$WORK/records.jsonl"
else
    skip "no IPv6 loopback here"
fi

is "no kernel drops at this rate" "$(counter udp_kernel_drops)" 0
check "SIGTERM stops the daemon with exit status 0" stop_daemon
check "no error was logged" sh -c "! grep -q ': error: ' '$WORK/stderr'"
finish
