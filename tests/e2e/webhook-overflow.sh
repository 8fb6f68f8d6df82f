#!/bin/bash
# SPDX-License-Identifier: ISC
# The webhook queue overflows while a request is in flight (regression of
# issue 11): the notification being sent must not be the one set aside, and
# its 2xx must remove exactly the outbox rows it carried. What was set aside
# stays in the outbox and is delivered after the next start: across the
# restart every alert reaches the receiver exactly once.
. "$(dirname "$0")/lib.sh"

plan 7
PORT=$(free_port)
RPORT=$(free_port)
while [ "$RPORT" = "$PORT" ]; do RPORT=$(free_port); done
write_config "$PORT" "identify = hostname"
add_alerts "repeat_interval = 1h" "resolve_after = 1h" "webhook = http://127.0.0.1:$RPORT/" "webhook_format = generic" "webhook_queue = 3"
# a receiver that holds its first request for 3 s (the queue overflows
# meanwhile), then answers 200 at once
start_http_receiver "$RPORT" "$WORK/received.txt" 3
sleep 0.3
check "kexwatchd starts with a 3-notification webhook queue" start_daemon
PUB="$KW_TESTDATA/corpus/published/published.log"
want=$(awk -F'\t' 'NR > 1 && $2 != "-"' "$KW_TESTDATA/corpus/published/published.expected.tsv" | wc -l)
while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$PUB"
for _ in $(seq 1 50); do [ "$(wc -l < "$WORK/alerts.jsonl")" -ge "$want" ] && break; sleep 0.1; done
is "the alerts were raised" "$(wc -l < "$WORK/alerts.jsonl")" "$want"
check "the overflow is reported" grep -q "set aside (it stays in the database's outbox and is sent after the next start" "$WORK/stderr"
# the held request is answered after 3 s, then the queue drains
sleep 4.5
# what the receiver has is exactly what left the outbox
python3 - "$WORK/alerts.jsonl" "$WORK/received.txt" "$WORK/kexwatch.db" <<'PY'
import sqlite3, sys
sent = sorted(l.rstrip("\n") for l in open(sys.argv[1]))
got = [l.rstrip("\n").split("\t", 1)[1] for l in open(sys.argv[2])]
rows = [r[0] for r in sqlite3.connect(sys.argv[3]).execute("SELECT payload FROM outbox WHERE sink = 'webhook'")]
print("# written %d, received %d (distinct %d), left in the outbox %d" % (len(sent), len(got), len(set(got)), len(rows)))
sys.exit(0 if sorted(got + rows) == sent else 1)
PY
check "every alert was either received once or is still in the outbox, not both" [ $? -eq 0 ]
check "SIGTERM: exit status 0" stop_daemon
start_daemon
for _ in $(seq 1 50); do [ "$(wc -l < "$WORK/received.txt")" -ge "$want" ] && break; sleep 0.1; done
sleep 0.5
same_alerts() {
    python3 - "$WORK/alerts.jsonl" "$WORK/received.txt" <<'PY'
import sys
sent = sorted(l.rstrip("\n") for l in open(sys.argv[1]))
got = sorted(l.rstrip("\n").split("\t", 1)[1] for l in open(sys.argv[2]))
print("# written %d, received %d (distinct %d)" % (len(sent), len(got), len(set(got))))
sys.exit(0 if sent == got else 1)
PY
}
check "after the restart every alert reached the receiver exactly once" same_alerts
is "and the outbox is empty" "$(sqlite3 "$WORK/kexwatch.db" "SELECT count(*) FROM outbox")" 0
stop_daemon
finish
