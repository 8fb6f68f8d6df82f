#!/bin/bash
# SPDX-License-Identifier: ISC
# SIGHUP and the alert sinks (regressions of issue 11, meant to run under
# AddressSanitizer too): an [alerts] file the daemon cannot open keeps the
# old file without freeing what the alerter still uses, and raising
# [alerts] exec_max grows the table of running programs instead of writing
# past it.
. "$(dirname "$0")/lib.sh"

plan 9
PORT=$(free_port)
PUB="$KW_TESTDATA/corpus/published/published.log"
send_failures() {
    while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$PUB"
}
want=$(awk -F'\t' 'NR > 1 && $2 != "-"' "$KW_TESTDATA/corpus/published/published.expected.tsv" | wc -l)
wait_lines() { # FILE N
    for _ in $(seq 1 100); do
        [ "$(wc -l < "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# 1. an unopenable alert file on SIGHUP
write_config "$PORT" "identify = hostname"
check "kexwatchd starts" start_daemon
sed -i "s|^file = .*|file = $WORK/no-such-dir/alerts.jsonl\nresolve_after = 1h|" "$WORK/kexwatch.conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 30); do grep -q "SIGHUP: reloaded" "$WORK/stderr" && break; sleep 0.1; done
check "the unopenable file is reported and the old one kept" \
    grep -q "cannot open the alert file.*alerts keep going to the old file" "$WORK/stderr"
# the alerter runs its once-a-second tick and then alerts with the new
# configuration: under ASan a freed configuration kills the daemon here
sleep 1.5
send_failures
wait_lines "$WORK/alerts.jsonl" "$want"
is "alerts still reach the old file after the failed reopen" "$(wc -l < "$WORK/alerts.jsonl")" "$want"
check "SIGTERM: exit status 0 (no use after free)" stop_daemon
check "no sanitizer report" sh -c "! grep -q 'Sanitizer' '$WORK/stderr'"

# 2. exec_max raised from 1 to 16 while slow programs run and wait
cat > "$WORK/slow.sh" <<'SH'
#!/bin/sh
cat > /dev/null
sleep 1
echo x >> "$(dirname "$0")/ran.txt"
SH
chmod +x "$WORK/slow.sh"
rm -f "$WORK/kexwatch.db"* "$WORK/alerts.jsonl"
write_config "$PORT" "identify = hostname"
sed -i "s|^stdout = no|stdout = no\nexec = $WORK/slow.sh\nexec_max = 1\nexec_timeout = 20s|" "$WORK/kexwatch.conf"
start_daemon
send_failures
wait_lines "$WORK/alerts.jsonl" "$want"
sed -i "s|^exec_max = 1|exec_max = 16|" "$WORK/kexwatch.conf"
t0=$(date +%s)
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 30); do grep -q "SIGHUP: reloaded" "$WORK/stderr" && break; sleep 0.1; done
# the waiting programs now start up to 16 at once (each takes 1 s; one
# after the other they would take 9 s)
wait_lines "$WORK/ran.txt" "$want"
t1=$(date +%s)
is "after raising exec_max every alert's program ran" "$(wc -l < "$WORK/ran.txt" 2>/dev/null || echo 0)" "$want"
check "the waiting programs ran side by side after the raise ($((t1 - t0)) s)" [ $((t1 - t0)) -le 5 ]
check "SIGTERM: exit status 0 (no heap overflow)" stop_daemon
check "no sanitizer report" sh -c "! grep -q 'Sanitizer' '$WORK/stderr'"
finish
