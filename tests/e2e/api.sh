#!/bin/sh
# SPDX-License-Identifier: ISC
# The JSON API of the real daemon over the real SQLite file it filled from
# the corpus (Huawei, the OpenSSH lab and the published lines, sent over
# TCP): every endpoint answers byte for byte what `kexwatch ... --format
# json` prints for the same question on the same file, with the same
# window parameters; errors are JSON with their HTTP status.
. "$(dirname "$0")/lib.sh"

C="$KW_TESTDATA/corpus"
plan 32
PORT=$(free_port)
HPORT=$(free_port)
write_config "$PORT" "identify = hostname"
printf '\n[http]\nlisten = 127.0.0.1:%s\n' "$HPORT" >> "$WORK/kexwatch.conf"
cat "$C/huawei-assumed/huawei-inventory.conf" "$C/openssh-lab/inventory.conf" >> "$WORK/kexwatch.conf"
check "kexwatchd starts with [http] listen" start_daemon
cat "$C/huawei-assumed/huawei.log" "$C"/openssh-lab/*.log "$C/published/published.log" > "$WORK/corpus.log"
send_tcp_file "$PORT" "$WORK/corpus.log"
want=$(wc -l < "$C/published/published.log")
# the alerts are committed with their state, and nothing changes any more
# (bounded: 15 s)
wait_db_settled 30
n=${now%%|*}
check "the daemon stored the corpus's alerts ($now)" [ "${n:-0}" -ge 30 ]

api() { # api PATH: the body to $WORK/api.json, prints the status
    python3 - "$HPORT" "$1" "$WORK/api.json" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", sys.argv[2])
r = c.getresponse()
open(sys.argv[3], "wb").write(r.read())
print(r.status, r.getheader("Content-Type"))
PY
}
same() { # same PATH CLI-ARGS...: the API's body equals the CLI's JSON
    path=$1
    shift
    # a profile's age is in seconds (the corpus was learned just now): the
    # two answers are compared when taken within the same second
    for _ in 1 2 3; do
        t0=$(date +%s)
        st=$(api "$path")
        "$KEXWATCH" --db "$WORK/kexwatch.db" "$@" --format json > "$WORK/cli.json"
        [ "$(date +%s)" = "$t0" ] && break
    done
    if [ "$st" = "200 application/json; charset=utf-8" ] && cmp -s "$WORK/api.json" "$WORK/cli.json" &&
        [ "$(wc -c < "$WORK/cli.json")" -gt 10 ]; then
        ok "$path = kexwatch $* --format json ($(wc -c < "$WORK/cli.json") bytes)"
    else
        not_ok "$path = kexwatch $* --format json (status $st)"
        diff "$WORK/api.json" "$WORK/cli.json" | head -5 | sed 's/^/# /'
    fi
}
same /api/v1/failures failures
for by in client device category algorithm mismatch; do
    same "/api/v1/failures?since=365d&by=$by" failures --since 365d --by "$by"
done
same "/api/v1/failures?from=2026-11-01&until=2027-01-01T00:00:00Z&device=HW-CORE-1" \
    failures --from 2026-11-01 --until 2027-01-01T00:00:00Z --device HW-CORE-1
same /api/v1/devices devices
same /api/v1/devices/HW-CORE-1 device HW-CORE-1
same "/api/v1/devices/edge-modern-1?since=7d" device edge-modern-1 --since 7d
same /api/v1/clients clients
same "/api/v1/alerts?status=firing" alerts --status firing
same "/api/v1/alerts?status=resolved" alerts --status resolved
same /api/v1/alerts alerts
same /api/v1/daily daily
same "/api/v1/daily?since=24h&bucket=hour" daily --since 24h --bucket hour
same "/api/v1/daily?since=365d&bucket=week&by=client" daily --since 365d --bucket week --by client
same "/api/v1/daily?bucket=window&by=client-device" daily --bucket window --by client-device
same "/api/v1/daily?since=365d&bucket=month" daily --since 365d --bucket month
python3 - "$WORK" "$KEXWATCH" <<'PY'
import json, subprocess, sys, os
db = os.path.join(sys.argv[1], "kexwatch.db")
run = lambda *a: json.loads(subprocess.run([sys.argv[2], "--db", db, *a, "--format", "json"],
                                           capture_output=True, check=True).stdout)
alerts = run("alerts")
firing = [a for a in alerts if a["status"] == "firing"]
ok = firing and all(a["fix"] for a in firing) and any(a["fix_steps"] for a in firing)
sys.exit(0 if ok else 1)
PY
check "every firing alert carries its fix, and steps where the platform has them" [ $? -eq 0 ]

is "an unknown device: 404" "$(api /api/v1/devices/no-such-device)" "404 application/json; charset=utf-8"
check "... with the CLI's words as JSON" python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); sys.exit(not (e["status"] == 404 and "no device" in e["error"]))' "$WORK/api.json"
is "a bad since: 400" "$(api '/api/v1/failures?since=soon')" "400 application/json; charset=utf-8"
check "... saying what is wrong" grep -q "since 'soon' is not a duration" "$WORK/api.json"
is "an unknown parameter: 400" "$(api '/api/v1/clients?by=device')" "400 application/json; charset=utf-8"
is "a bad status: 400" "$(api '/api/v1/alerts?status=open')" "400 application/json; charset=utf-8"
is "a bad bucket: 400" "$(api '/api/v1/daily?bucket=year')" "400 application/json; charset=utf-8"
check "... naming the buckets there are" grep -q "bucket 'year' is not hour, day, week, month or window" "$WORK/api.json"
is "an unknown endpoint: 404" "$(api /api/v1/nothing)" "404 application/json; charset=utf-8"
check "SIGTERM: exit status 0" stop_daemon
finish
