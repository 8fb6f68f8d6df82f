#!/bin/bash
# SPDX-License-Identifier: ISC
# A firing alert not repeated for [alerts] resolve_after is resolved.
. "$(dirname "$0")/lib.sh"

plan 4
PORT=$(free_port)
write_config "$PORT" "identify = hostname"
sed -i 's/^stdout = no/stdout = no\nresolve_after = 2s/' "$WORK/kexwatch.conf"
check "kexwatchd starts" start_daemon
head -n 1 "$KW_TESTDATA/corpus/published/published.log" | tr -d '\n' > /dev/udp/127.0.0.1/"$PORT"
for _ in $(seq 1 30); do [ -s "$WORK/alerts.jsonl" ] && break; sleep 0.1; done
check "the failure fires" grep -q '"status":"firing"' "$WORK/alerts.jsonl"
for _ in $(seq 1 60); do grep -q '"status":"resolved"' "$WORK/alerts.jsonl" && break; sleep 0.1; done
check "after 2 s without a repeat it is resolved" grep -q '"status":"resolved".*kex-sha1-only' "$WORK/alerts.jsonl"
check "SIGTERM: exit status 0" stop_daemon
finish
