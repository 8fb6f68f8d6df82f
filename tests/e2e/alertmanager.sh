#!/bin/bash
# SPDX-License-Identifier: ISC
# One Alertmanager alert per kexwatch alert, with the real Alertmanager
# (Debian's prometheus-alertmanager) and a real OpenSSH sshd at LogLevel
# VERBOSE (no software, no fingerprint in its log: every client's software
# label is "unknown") feeding the real kexwatchd over UDP; real ssh clients
# from different loopback addresses:
#  - three clients failing the same way (cipher-cbc-only) with different
#    offers are three kexwatch alerts and three Alertmanager alerts, each
#    with its own `client` and `alert_id` labels (before: one, last writer
#    wins);
#  - a login from the first client's address resolves its alert in
#    kexwatch and in Alertmanager, and only its (before: all three ended);
#  - after kill -9 and a restart, a restored alert's resolution still ends
#    its own Alertmanager alert (same labels, kept with it in the database);
#  - with [http] external_url, each Alertmanager alert's generatorURL (as
#    amtool shows it) is exactly the console's page of that kexwatch alert,
#    and that page, fetched from the daemon, shows the alert: device,
#    client address, mismatch, fix.
. "$(dirname "$0")/lib.sh"

plan 13
if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ] || [ ! -x /usr/bin/prometheus-alertmanager ]; then
    for _ in $(seq 1 13); do skip "needs root, OpenSSH sshd and prometheus-alertmanager"; done
    exit 0
fi
PORT=$(free_port)
AMP=$(free_port)
while [ "$AMP" = "$PORT" ]; do AMP=$(free_port); done
check "Alertmanager starts" start_alertmanager am1 "$AMP"
HPORT=$(free_port)
while [ "$HPORT" = "$PORT" ] || [ "$HPORT" = "$AMP" ]; do HPORT=$(free_port); done
B="http://127.0.0.1:$HPORT"
write_config "$PORT"
sed -i "s|^stdout = no|stdout = no\nwebhook = http://127.0.0.1:$AMP/api/v2/alerts|" "$WORK/kexwatch.conf"
printf '\n[http]\nlisten = 127.0.0.1:%s\nexternal_url = %s/\n' "$HPORT" "$B" >> "$WORK/kexwatch.conf"
check "kexwatchd starts" start_daemon

start_lab_sshd VERBOSE lab-am "KexAlgorithms curve25519-sha256
Ciphers aes128-ctr,aes256-gcm@openssh.com
MACs hmac-sha2-256
HostKeyAlgorithms ssh-ed25519" || bail "the lab sshd did not start"

ssh_from 127.0.0.3 nobody -o Ciphers=aes128-cbc
ssh_from 127.0.0.4 nobody -o Ciphers=aes256-cbc,aes128-cbc
ssh_from 127.0.0.5 nobody -o Ciphers=aes192-cbc
wait_alerts firing 3
is "three clients failing alike: three kexwatch alerts" "$(alerts_with firing)" 3
wait_am_count "$AMP" 3
am_alerts "$AMP" > "$WORK/am.txt"
is "... and three Alertmanager alerts" "$(wc -l < "$WORK/am.txt")" 3
python3 - "$WORK/alerts.jsonl" "$WORK/am.txt" > "$WORK/cmp" <<'PY'
import json, sys
kw = sorted((a["alert_id"], a["client"]["identity"]) for a in map(json.loads, open(sys.argv[1])))
am = sorted(tuple(l.split()[:2]) for l in open(sys.argv[2]))
print("same" if kw == am else "differ: %s vs %s" % (kw, am))
PY
is "their alert_id and client labels are kexwatch's alert ids and client identities" "$(cat "$WORK/cmp")" same
A=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a["client"]["address"] == "127.0.0.3": print(a["alert_id"])' "$WORK/alerts.jsonl")

# generatorURL: the console's page of the alert, which shows that alert
amtool --alertmanager.url="http://127.0.0.1:$AMP" alert query -o json > "$WORK/amtool.json"
python3 - "$WORK/amtool.json" "$B" > "$WORK/gen" <<'PY'
import json, sys
al = json.load(open(sys.argv[1]))
bad = [(a["labels"].get("alert_id"), a.get("generatorURL")) for a in al
       if a.get("generatorURL") != sys.argv[2] + "/alerts/" + a["labels"].get("alert_id", "?")]
print(len(al), "ok" if not bad else bad)
PY
is "amtool: each alert's generatorURL is its kexwatch alert's console page" "$(cat "$WORK/gen")" "3 ok"
python3 - "$WORK/alerts.jsonl" "$B" "$A" > "$WORK/page" <<'PY'
import html, json, sys, urllib.request
a = [a for a in map(json.loads, open(sys.argv[1])) if a["alert_id"] == sys.argv[3]][-1]
page = urllib.request.urlopen("%s/alerts/%s" % (sys.argv[2], sys.argv[3]), timeout=10).read().decode()
rem = a["remediation"]
# sshd at VERBOSE does not log its own list: the fix is the steps when
# computed, else the server change, else the client's
fix = "\n".join(rem["steps"]) or rem["server"] or rem["client"]
want = {"device": a["device"]["key"], "client": "127.0.0.3", "mismatch": a["mismatch"]["id"],
        "fix": fix, "status": 'id="alert-status">firing<'}
esc = lambda v: html.escape(v, quote=True).replace("&#x27;", "&#39;")  # the console escapes quotes too
missing = [k for k, v in want.items() if not v or (esc(v) not in page and v not in page)]
print("shows it" if not missing and a["mismatch"]["id"] == "cipher-cbc-only" else "missing %s %s" % (missing, json.dumps(rem)))
PY
is "... and that page, from the daemon, shows its device, client, mismatch (cipher-cbc-only), fix and status" \
    "$(cat "$WORK/page")" "shows it"

# the first client's address logs in: only its alert ends, here and there
ssh_from 127.0.0.3 root -i "$T/user"
wait_alerts resolved 1
is "a login from the first client's address resolves its kexwatch alert only" "$(alerts_with resolved)" 1
wait_am_count "$AMP" 2
am_alerts "$AMP" > "$WORK/am2.txt"
is "Alertmanager keeps the other two active" "$(wc -l < "$WORK/am2.txt")" 2
is "and the resolved one is the first client's" "$(grep -c "^$A " "$WORK/am2.txt")" 0

# after kill -9 the alerts are restored; the second client's login ends its
# Alertmanager alert (the resolved notice carries the labels it fired with)
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2> /dev/null
DAEMON_PID=""
check "kexwatchd starts again after kill -9" start_daemon
ssh_from 127.0.0.4 root -i "$T/user"
wait_alerts resolved 2
wait_am_count "$AMP" 1
is "a restored alert resolved: Alertmanager ends it, one left active" "$(am_alerts "$AMP" | wc -l)" 1
check "kexwatchd stops cleanly" stop_daemon
finish
