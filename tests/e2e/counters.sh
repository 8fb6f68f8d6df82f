#!/bin/bash
# SPDX-License-Identifier: ISC
# One counter registry (issue 11): the SIGUSR1 dump, sd_notify STATUS= and
# /metrics of the real daemon name the same counters the same way. Every
# SIGUSR1 line NAME is kexwatch_NAME_total (a counter) or kexwatch_NAME (a
# gauge) on /metrics, exactly one of the two, and /metrics has nothing else;
# every STATUS= NAME=VALUE is a SIGUSR1 name. All sinks are configured and
# the webhook queue overflows, so the sink counters are there too.
. "$(dirname "$0")/lib.sh"

plan 8
PORT=$(free_port)
MPORT=$(free_port)
while [ "$MPORT" = "$PORT" ]; do MPORT=$(free_port); done
SPORT=$(free_port)
# nothing listens on HPORT: every webhook attempt fails, the queue overflows
HPORT=$(free_port)
write_config "$PORT" "identify = hostname"
printf '#!/bin/sh\ncat > /dev/null\n' > "$WORK/hook.sh"
chmod +x "$WORK/hook.sh"
add_alerts "syslog = udp://127.0.0.1:$SPORT" "exec = $WORK/hook.sh" "webhook = http://127.0.0.1:$HPORT/" "webhook_queue = 1"
printf '\n[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT" >> "$WORK/kexwatch.conf"

# a stand-in for PID 1's notify socket, when the daemon is built with libsystemd
NOTIFY="$WORK/notify.sock"
: > "$WORK/notify.log"
if ldd "$KEXWATCHD" 2>/dev/null | grep -q libsystemd; then
    start_notify_listener "$NOTIFY" "$WORK/notify.log"
    export NOTIFY_SOCKET=$NOTIFY
fi
check "kexwatchd starts with every sink and a metrics endpoint" start_daemon
unset NOTIFY_SOCKET
PUB="$KW_TESTDATA/corpus/published/published.log"
want=$(awk -F'\t' 'NR > 1 && $2 != "-"' "$KW_TESTDATA/corpus/published/published.expected.tsv" | wc -l)
while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$PUB"
for _ in $(seq 1 50); do [ "$(wc -l < "$WORK/alerts.jsonl")" -ge "$want" ] && break; sleep 0.1; done
is "the alerts were raised" "$(wc -l < "$WORK/alerts.jsonl")" "$want"

: > "$WORK/stderr.before"
cp "$WORK/stderr" "$WORK/stderr.before"
kill -USR1 "$DAEMON_PID"
for _ in $(seq 1 30); do
    [ "$(wc -l < "$WORK/stderr")" -gt "$(wc -l < "$WORK/stderr.before")" ] && break
    sleep 0.1
done
sleep 0.3
python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:$MPORT/metrics" > "$WORK/metrics.txt"
# the dump just asked for: the lines after what stderr held before
tail -n +"$(($(wc -l < "$WORK/stderr.before") + 1))" "$WORK/stderr" | grep -E '^[a-z][a-z0-9_]* [0-9][0-9.e+-]*$' \
    > "$WORK/usr1.txt"
diag "$(wc -l < "$WORK/usr1.txt") counters on SIGUSR1"

python3 - "$WORK/usr1.txt" "$WORK/metrics.txt" <<'PY'
import sys
usr1 = [l.split()[0] for l in open(sys.argv[1])]
types, helps, samples = {}, {}, set()
for line in open(sys.argv[2]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ", 3)
        types[name] = typ
    elif line.startswith("# HELP "):
        _, _, name, text = line.split(" ", 3)
        helps[name] = text
    elif line:
        samples.add(line.split(" ")[0])
bad = 0
if len(set(usr1)) != len(usr1):
    print("# named twice on SIGUSR1:", sorted({n for n in usr1 if usr1.count(n) > 1})); bad = 1
shown = set()
for n in usr1:
    c, g = "kexwatch_%s_total" % n, "kexwatch_%s" % n
    found = [m for m, t in ((c, "counter"), (g, "gauge")) if m in samples and types.get(m) == t]
    if len(found) != 1:
        print("# SIGUSR1 %s: on /metrics as %s" % (n, found or "nothing")); bad = 1
        continue
    shown.add(found[0])
    if not helps.get(found[0], "").strip():
        print("# no help text for", found[0]); bad = 1
for m in sorted(samples - shown):
    print("# /metrics %s is not on SIGUSR1" % m); bad = 1
sys.exit(bad)
PY
check "every SIGUSR1 counter is on /metrics under its name (kexwatch_NAME[_total]), and nothing else is" [ $? -eq 0 ]

value() { grep "^$1 " "$WORK/usr1.txt" | cut -d' ' -f2; }
dropped=$(value webhook_dropped)
check "the webhook queue overflowed and that is counted (webhook_dropped $dropped)" test "${dropped:-0}" -gt 0
check "and shown on /metrics with the same value" grep -q "^kexwatch_webhook_dropped_total $dropped\$" "$WORK/metrics.txt"
is "the per-device session evictions have one name: sessions_evicted" "$(value sessions_evicted)" \
    "$(grep '^kexwatch_sessions_evicted_total ' "$WORK/metrics.txt" | cut -d' ' -f2)"

if ldd "$KEXWATCHD" 2>/dev/null | grep -q libsystemd; then
    status=$(grep -o 'STATUS=[^|]*' "$WORK/notify.log" | tail -n 1)
    diag "$status"
    python3 - "$WORK/usr1.txt" "${status#STATUS=}" <<'PY'
import sys
names = {l.split()[0] for l in open(sys.argv[1])}
pairs = sys.argv[2].split()
bad = [p for p in pairs if "=" not in p or p.split("=", 1)[0] not in names]
if not pairs or bad:
    print("# not SIGUSR1 counters:", bad or "nothing in STATUS=")
sys.exit(1 if not pairs or bad else 0)
PY
    check "every STATUS= NAME=VALUE is a SIGUSR1 counter" [ $? -eq 0 ]
else
    skip "kexwatchd built without libsystemd: no STATUS="
fi
check "SIGTERM: exit status 0" stop_daemon
finish
