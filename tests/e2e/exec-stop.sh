#!/bin/bash
# SPDX-License-Identifier: ISC
# An alert program still running at a clean stop is not run again at the next
# start (it may already have paged someone): its outbox row leaves at stop.
# Programs that never started keep theirs and run after the restart.
. "$(dirname "$0")/lib.sh"

plan 5
PORT=$(free_port)
cat > "$WORK/slow.sh" <<'SH'
#!/bin/sh
# one line per run, then busy past the daemon's stop
echo run >> "$(dirname "$0")/runs.txt"
sleep 20
SH
chmod +x "$WORK/slow.sh"
write_config "$PORT" "identify = hostname"
add_alerts "exec = $WORK/slow.sh" "exec_timeout = 60s"
check "kexwatchd starts with an exec sink" start_daemon
head -n 1 "$KW_TESTDATA/corpus/published/published.log" | tr -d '\n' > /dev/udp/127.0.0.1/"$PORT"
for _ in $(seq 1 100); do [ -s "$WORK/runs.txt" ] && break; sleep 0.1; done
is "the program started once for the alert" "$(wc -l < "$WORK/runs.txt" 2>/dev/null || echo 0)" 1
check "SIGTERM with the program running: exit status 0" stop_daemon
check "the stop says the program is still running and will not run again" \
    grep -q "still running at stop: they finish on their own and are not run again" "$WORK/stderr"
start_daemon
sleep 1.5
counter exec_sent > /dev/null
is "after a restart the program is not run a second time" "$(wc -l < "$WORK/runs.txt")" 1
stop_daemon
pkill -f "$WORK/slow.sh" 2>/dev/null
finish
