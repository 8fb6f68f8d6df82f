#!/bin/bash
# SPDX-License-Identifier: ISC
# The webhook sink against a real HTTP server: alerts raised while the
# receiver is down are retried with back-off and each arrives exactly once
# when it comes up, as Alertmanager v2 /api/v2/alerts bodies.
. "$(dirname "$0")/lib.sh"

plan 7
PORT=$(free_port)
RPORT=$(free_port)
while [ "$RPORT" = "$PORT" ]; do RPORT=$(free_port); done
write_config "$PORT" "identify = hostname"
sed -i "s|^stdout = no|stdout = no\nwebhook = http://127.0.0.1:$RPORT/api/v2/alerts|" "$WORK/kexwatch.conf"
check "kexwatchd starts with a webhook whose receiver is down" start_daemon

send_udp() {
    while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$1"
}
PUB="$KW_TESTDATA/corpus/published/published.log"
want=$(awk -F'\t' 'NR > 1 && $2 != "-"' "$KW_TESTDATA/corpus/published/published.expected.tsv" | wc -l)
send_udp "$PUB"
sleep 1.5
failed=$(counter webhook_failed)
check "deliveries to a receiver that is down fail and are counted ($failed)" [ "${failed:-0}" -ge 1 ]
is "and the alerts wait" "$(counter webhook_pending)" "$want"

# the receiver comes up: a real HTTP server that records every POST body
start_http_receiver "$RPORT" "$WORK/received.jsonl"
for _ in $(seq 1 300); do
    [ "$(received_alerts "$WORK/received.jsonl")" -ge "$want" ] && break
    sleep 0.1
done
is "every alert arrives once the receiver is up" "$(received_alerts "$WORK/received.jsonl")" "$want"
python3 - "$WORK/received.jsonl" <<'PY'
import json, re, sys
ts = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
bad = 0
ids = []
for line in open(sys.argv[1]):
    path, body = line.rstrip("\n").split("\t", 1)
    arr = json.loads(body)
    if path != "/api/v2/alerts" or not isinstance(arr, list) or not arr:
        print("# bad request", path, body[:200]); bad = 1; continue
    for a in arr:
      labels, ann = a.get("labels", {}), a.get("annotations", {})
      for k in ("alertname", "device", "mismatch", "category", "severity", "client_software", "client", "alert_id"):
          if not isinstance(labels.get(k), str):
              print("# label", k, "missing or not a string:", labels); bad = 1
      for k in ("summary", "remediation"):
          if not isinstance(ann.get(k), str):
              print("# annotation", k, "missing:", ann); bad = 1
      if not all(isinstance(v, str) for v in list(labels.values()) + list(ann.values())):
          print("# non-string label or annotation"); bad = 1
      for k in ("startsAt", "endsAt"):
          if not ts.match(a.get(k, "")):
              print("# bad", k, a.get(k)); bad = 1
      ids.append(labels.get("alert_id"))
if len(set(ids)) != len(ids):
    print("# duplicates:", ids); bad = 1
sys.exit(bad)
PY
check "each body has the Alertmanager v2 shape (string labels and annotations, RFC 3339 times)" [ $? -eq 0 ]
is "nothing is left waiting" "$(counter webhook_pending)" 0
check "SIGTERM: exit status 0" stop_daemon
finish
