#!/bin/sh
# SPDX-License-Identifier: ISC
# End-to-end: a real rsyslog relay in front of kexwatchd, as NOCs deploy it.
# logger -> rsyslog (imudp) -> omfwd to kexwatchd three ways: TCP with octet
# counting (RFC 5424 template), TCP with LF framing and UDP (RFC 3164
# forward template). kexwatchd identifies devices by the relayed host name.
. "$(dirname "$0")/lib.sh"

RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
if [ ! -x "$RSYSLOGD" ]; then
    plan 1
    skip "rsyslogd is not installed (scripts/deps.sh --test installs it)"
    exit 0
fi
plan 7
PORT=$(free_port)
write_config "$PORT" "identify = hostname"
check "kexwatchd starts" start_daemon
RPORT=$(free_port)
while [ "$RPORT" = "$PORT" ]; do RPORT=$(free_port); done
mkdir -p "$WORK/rsyslog"
cat > "$WORK/rsyslog.conf" <<CONF
global(workDirectory="$WORK/rsyslog" maxMessageSize="64k")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="$RPORT")
action(type="omfwd" target="127.0.0.1" port="$PORT" protocol="tcp" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="$PORT" protocol="tcp" TCP_Framing="traditional"
       template="RSYSLOG_ForwardFormat")
action(type="omfwd" target="127.0.0.1" port="$PORT" protocol="udp" template="RSYSLOG_ForwardFormat")
CONF
"$RSYSLOGD" -n -f "$WORK/rsyslog.conf" -i "$WORK/rsyslog.pid" > "$WORK/rsyslog.out" 2>&1 &
RS_PID=$!
EXTRA_CLEANUP='kill $RS_PID 2>/dev/null'
# rsyslog is ready when its UDP port is bound (bounded: 10 s)
for _ in $(seq 1 100); do
    ss -lun 2>/dev/null | grep -q "127.0.0.1:$RPORT " && break
    sleep 0.1
done
sleep 0.5

HOST=$(hostname)
for i in 1 2 3 4 5; do
    logger --udp -n 127.0.0.1 -P "$RPORT" --rfc3164 -t sshd "relayed line $i: Unable to negotiate with 192.0.2.$i port 5$i: no matching cipher found."
done
wait_records 15
is "each message arrives once per forwarding action (3 x 5)" "$(grep -c '"text":" \?relayed line' "$WORK/records.jsonl")" 15
is "TCP octet-counted RFC 5424 forwards parsed as rfc5424" "$(grep -c '"format":"rfc5424".*relayed line' "$WORK/records.jsonl")" 5
is "LF-framed TCP and UDP forwards parsed as rfc3164" "$(grep -c '"format":"rfc3164".*relayed line' "$WORK/records.jsonl")" 10
is "every record is keyed by the relayed host name" \
    "$(grep '"text":" \?relayed line' "$WORK/records.jsonl" | grep -c "\"device\":\"$HOST\"")" 15
check "the tag survives the relay" grep -q '"app":"sshd".*relayed line 3' "$WORK/records.jsonl"
kill "$RS_PID" 2>/dev/null
check "SIGTERM: exit status 0" stop_daemon
finish
