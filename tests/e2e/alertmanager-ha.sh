#!/bin/bash
# SPDX-License-Identifier: ISC
# Alertmanager's client contract with the real Alertmanager 0.25 and the
# real kexwatchd ([alerts] webhook with several URLs), alerts raised by the
# published corpus over UDP:
#  - two clustered Alertmanagers and a real HTTP receiver that is down at
#    first: both Alertmanagers get every alert at once (the peer that is
#    down holds back nothing), and the receiver, once up, gets each alert
#    it missed exactly once;
#  - resend_interval 2s: Alertmanager keeps every alert active while it
#    fires (its endsAt stays a few seconds ahead), and after kill -9 of
#    kexwatchd every alert ends by itself (before: endsAt was 24 h ahead).
. "$(dirname "$0")/lib.sh"

plan 8
if [ ! -x /usr/bin/prometheus-alertmanager ]; then
    for _ in $(seq 1 8); do skip "needs prometheus-alertmanager"; done
    exit 0
fi
ports=""
while [ "$(echo $ports | wc -w)" -lt 6 ]; do
    p=$(free_port)
    case " $ports " in *" $p "*) ;; *) ports="$ports $p" ;; esac
done
read -r PORT AM1 AM2 C1 C2 RPORT <<< "$ports"
AM_CONFIG='global:
  resolve_timeout: 5s
route:
  receiver: blackhole
receivers:
  - name: blackhole'
am_both() { start_alertmanager am1 "$AM1" "$C1" "$C2" && start_alertmanager am2 "$AM2" "$C2" "$C1"; }
check "two clustered Alertmanagers start" am_both
write_config "$PORT" "identify = hostname"
sed -i "s|^stdout = no|stdout = no\nwebhook = http://127.0.0.1:$AM1/api/v2/alerts, http://127.0.0.1:$AM2/api/v2/alerts http://127.0.0.1:$RPORT/api/v2/alerts\nresend_interval = 2s|" \
    "$WORK/kexwatch.conf"
check "kexwatchd starts with three webhook URLs (the third one down)" start_daemon

PUB="$KW_TESTDATA/corpus/published/published.log"
want=$(awk -F'\t' 'NR > 1 && $2 != "-"' "$KW_TESTDATA/corpus/published/published.expected.tsv" | wc -l)
while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$PUB"
for _ in $(seq 1 100); do [ "$(wc -l < "$WORK/alerts.jsonl")" -ge "$want" ] && break; sleep 0.1; done
# alerts whose last notice is firing: those Alertmanager shows active
active=$(python3 -c 'import json, sys
last = {}
for l in open(sys.argv[1]):
    a = json.loads(l); last[a["alert_id"]] = a["status"]
print(sum(1 for v in last.values() if v == "firing"))' "$WORK/alerts.jsonl")
wait_am_count "$AM1" "$active"
wait_am_count "$AM2" "$active"
is "each clustered Alertmanager has every alert although the third peer is down" \
    "$(am_alerts "$AM1" | wc -l) $(am_alerts "$AM2" | wc -l)" "$active $active"
is "... the same ones" "$(am_alerts "$AM1" | cut -d' ' -f1)" "$(am_alerts "$AM2" | cut -d' ' -f1)"

# the third peer comes up: a real HTTP receiver counting what it gets
start_http_receiver "$RPORT" "$WORK/received.jsonl"
for _ in $(seq 1 150); do
    [ "$(received_alerts "$WORK/received.jsonl")" -ge "$want" ] && break
    sleep 0.2
done
sleep 1
python3 - "$WORK/received.jsonl" "$WORK/alerts.jsonl" > "$WORK/missed" <<'PY'
import collections, json, sys
got = collections.Counter()
for line in open(sys.argv[1]):
    for a in json.loads(line.split("\t", 1)[1]):
        got[a["labels"]["alert_id"]] += 1
fired = [json.loads(l)["alert_id"] for l in open(sys.argv[2])]
# state changes are delivered exactly once; re-sends (every 2 s) come only
# after the peer caught up, so count the first delivery of each alert
first = [l for l in open(sys.argv[1])]
ids = []
for line in first:
    ids += [a["labels"]["alert_id"] for a in json.loads(line.split("\t", 1)[1])]
head = ids[:len(fired)]
print("ok" if sorted(head) == sorted(fired) else "bad %s %s" % (head, fired))
PY
is "the peer that was down gets each alert it missed exactly once, before any re-send" "$(cat "$WORK/missed")" ok

sleep 8
is "with resend_interval 2s the alerts stay active past their first endsAt (resolve_timeout 5s)" \
    "$(am_alerts "$AM1" | grep -c ' active$')" "$active"
ends=$(python3 -c 'import datetime, json, sys, urllib.request
al = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v2/alerts" % sys.argv[1], timeout=5))
now = datetime.datetime.now(datetime.timezone.utc)
print(max(int((datetime.datetime.fromisoformat(a["endsAt"].replace("Z", "+00:00")) - now).total_seconds()) for a in al))' "$AM1")
check "endsAt is a few re-send intervals ahead, not hours (${ends}s)" [ "$ends" -le 8 ]
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2> /dev/null
DAEMON_PID=""
wait_am_count "$AM1" 0
wait_am_count "$AM2" 0
is "after kill -9 of kexwatchd every alert ends by itself in both" \
    "$(am_alerts "$AM1" | wc -l) $(am_alerts "$AM2" | wc -l)" "0 0"
finish
