#!/bin/bash
# SPDX-License-Identifier: ISC
# The syslog and exec alert sinks of the real daemon: RFC 5424 over UDP and
# over TCP with octet counting to real listeners, and a program run per alert
# with the JSON on its standard input, killed after exec_timeout.
. "$(dirname "$0")/lib.sh"

plan 9
PORT=$(free_port)
SPORT=$(free_port)
while [ "$SPORT" = "$PORT" ]; do SPORT=$(free_port); done
cat > "$WORK/hook.sh" <<'SH'
#!/bin/sh
cat >> "$(dirname "$0")/exec.jsonl"
SH
chmod +x "$WORK/hook.sh"
write_config "$PORT" "identify = hostname"
add_alerts "syslog = udp://127.0.0.1:$SPORT" "exec = $WORK/hook.sh"
python3 - "$SPORT" "$WORK/syslog.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(20)
with open(sys.argv[2], "ab") as out:  # exists once the port is bound
    try:
        while True:
            out.write(s.recv(65536) + b"\n"); out.flush()
    except socket.timeout:
        pass
PY
RECV=$!
EXTRA_CLEANUP='kill $RECV 2>/dev/null'
for _ in $(seq 1 100); do [ -e "$WORK/syslog.txt" ] && break; sleep 0.1; done
check "kexwatchd starts with syslog and exec sinks" start_daemon
PUB="$KW_TESTDATA/corpus/published/published.log"
want=$(awk -F'\t' 'NR > 1 && $2 != "-"' "$KW_TESTDATA/corpus/published/published.expected.tsv" | wc -l)
while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$PUB"
for _ in $(seq 1 50); do
    [ "$(wc -l < "$WORK/syslog.txt" 2>/dev/null || echo 0)" -ge "$want" ] &&
        [ "$(wc -l < "$WORK/exec.jsonl" 2>/dev/null || echo 0)" -ge "$want" ] && break
    sleep 0.2
done
is "one RFC 5424 syslog message per alert" "$(grep -c '^<13[0-9]>1 [0-9T:.-]*Z .* kexwatchd [0-9]* ALERT - {"alert_id"' "$WORK/syslog.txt")" "$want"
check "the syslog severity follows the alert's (warning = local0.warning, <132>)" grep -q '^<132>1 .*"severity":"warning"' "$WORK/syslog.txt"
is "the program ran once per alert with the JSON on stdin" "$(grep -c '^{"alert_id"' "$WORK/exec.jsonl")" "$want"
# finished programs are reaped once a second; their outbox rows then go
for _ in $(seq 1 40); do
    [ "$(sqlite3 "$WORK/kexwatch.db" 'SELECT count(*) FROM outbox')" = 0 ] && break
    sleep 0.1
done
is "every syslog and exec notification left the durable outbox" \
    "$(sqlite3 "$WORK/kexwatch.db" 'SELECT count(*) FROM outbox')" 0
check "SIGTERM: exit status 0" stop_daemon

# TCP syslog with octet counting, and a program that hangs
SPORT2=$(free_port)
python3 - "$SPORT2" "$WORK/tcp.txt" <<'PY' &
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen()
open(sys.argv[2] + ".ready", "w").close()
srv.settimeout(20)
c, _ = srv.accept()
c.settimeout(5)
data = b""
try:
    while True:
        b = c.recv(65536)
        if not b:
            break
        data += b
except socket.timeout:
    pass
open(sys.argv[2], "wb").write(data)
PY
RECV2=$!
for _ in $(seq 1 100); do [ -e "$WORK/tcp.txt.ready" ] && break; sleep 0.1; done
cat > "$WORK/hang.sh" <<'SH'
#!/bin/sh
sleep 30
SH
chmod +x "$WORK/hang.sh"
sed -i "s|^syslog = .*|syslog = tcp://127.0.0.1:$SPORT2|; s|^exec = .*|exec = $WORK/hang.sh\nexec_timeout = 1s|" "$WORK/kexwatch.conf"
: > "$WORK/alerts.jsonl"
rm -f "$WORK/kexwatch.db"*
start_daemon
head -n 1 "$PUB" | tr -d '\n' > /dev/udp/127.0.0.1/"$PORT"
# under load the alert may take a moment; then the program needs its 1 s
for _ in $(seq 1 100); do [ -s "$WORK/alerts.jsonl" ] && break; sleep 0.1; done
killed=0
for _ in $(seq 1 20); do
    killed=$(counter exec_failed)
    [ "${killed:-0}" -ge 1 ] && break
    sleep 0.3
done
check "a program running past exec_timeout is killed and counted" [ "${killed:-0}" -ge 1 ]
# the TCP syslog frame is written once connected (bounded: 5 s)
for _ in $(seq 1 50); do [ "$(counter syslog_sent)" -ge 1 ] && break; sleep 0.1; done
sleep 0.5
check "SIGTERM with a program running: exit status 0" stop_daemon
wait "$RECV2"
python3 - "$WORK/tcp.txt" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
n = 0
while data:
    sp = data.index(b" ")
    size = int(data[:sp])
    msg = data[sp + 1:sp + 1 + size]
    if not msg.startswith(b"<13") or b' ALERT - {"alert_id"' not in msg:
        sys.exit(1)
    data = data[sp + 1 + size:]
    n += 1
sys.exit(0 if n >= 1 else 1)
PY
check "TCP syslog frames are octet-counted RFC 5424 messages" [ $? -eq 0 ]
finish
