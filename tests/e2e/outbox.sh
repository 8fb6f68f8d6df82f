#!/bin/bash
# SPDX-License-Identifier: ISC
# Durability of alerts: notifications accepted while the webhook receiver is
# down survive a kill -9 of the daemon and are delivered exactly once after
# the restart; the deduplication state survives too.
. "$(dirname "$0")/lib.sh"

plan 8
PORT=$(free_port)
RPORT=$(free_port)
while [ "$RPORT" = "$PORT" ]; do RPORT=$(free_port); done
write_config "$PORT" "identify = hostname"
sed -i "s|^stdout = no|stdout = no\nrepeat_interval = 1h\nwebhook = http://127.0.0.1:$RPORT/api/v2/alerts|" \
    "$WORK/kexwatch.conf"
check "kexwatchd starts with the webhook receiver down" start_daemon

send_udp() {
    while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$1"
}
PUB="$KW_TESTDATA/corpus/published/published.log"
want=$(awk -F'\t' 'NR > 1 && $2 != "-"' "$KW_TESTDATA/corpus/published/published.expected.tsv" | wc -l)
send_udp "$PUB"
for _ in $(seq 1 50); do [ "$(wc -l < "$WORK/alerts.jsonl")" -ge "$want" ] && break; sleep 0.1; done
is "the alerts were raised" "$(wc -l < "$WORK/alerts.jsonl")" "$want"
# (the writer thread commits the outbox rows within milliseconds)
for _ in $(seq 1 50); do
    [ "$(sqlite3 "$WORK/kexwatch.db" 'SELECT count(*) FROM outbox')" -ge "$want" ] && break
    sleep 0.1
done
is "and wait in the outbox" "$(sqlite3 "$WORK/kexwatch.db" 'SELECT count(*) FROM outbox')" "$want"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2> /dev/null
DAEMON_PID=""

# the receiver comes up, then the daemon restarts
start_http_receiver "$RPORT" "$WORK/received.jsonl"
sleep 0.3
check "kexwatchd restarts after kill -9" start_daemon
for _ in $(seq 1 100); do
    [ "$(received_alerts "$WORK/received.jsonl")" -ge "$want" ] && break
    sleep 0.1
done
sleep 0.5
is "every pending notification is delivered exactly once after the restart" "$(received_alerts "$WORK/received.jsonl")" "$want"
is "and the outbox is empty" "$(sqlite3 "$WORK/kexwatch.db" 'SELECT count(*) FROM outbox')" 0

# the same failures again (new connections): deduplicated across the restart
before=$(wc -l < "$WORK/alerts.jsonl")
sed 's/\[\([0-9]*\)\]:/[\17]:/' "$PUB" > "$WORK/again.log"
send_udp "$WORK/again.log"
sleep 1
is "repeats after the restart are still held back (state restored)" "$(wc -l < "$WORK/alerts.jsonl")" "$before"
check "SIGTERM: exit status 0" stop_daemon
finish
