#!/bin/bash
# SPDX-License-Identifier: ISC
# Alerts from the real daemon: the SPEC object on stdout and in the JSON
# Lines file, deduplicated within repeat_interval, and resolved when the same
# client type later negotiates successfully with the device.
. "$(dirname "$0")/lib.sh"

plan 9
PORT=$(free_port)
write_config "$PORT" "identify = hostname"
sed -i 's/^stdout = no/stdout = yes\nrepeat_interval = 1h/' "$WORK/kexwatch.conf"
check "kexwatchd starts" start_daemon

send_udp() {
    while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$1"
}
PUB="$KW_TESTDATA/corpus/published/published.log"
want=$(awk -F'\t' 'NR > 1 && $2 != "-"' "$KW_TESTDATA/corpus/published/published.expected.tsv" | wc -l)
send_udp "$PUB"
for _ in $(seq 1 50); do [ "$(wc -l < "$WORK/alerts.jsonl")" -ge "$want" ] && break; sleep 0.1; done
is "one alert per published failure in the JSON Lines file" "$(wc -l < "$WORK/alerts.jsonl")" "$want"
is "and the same on stdout" "$(grep -c '"alert_id"' "$WORK/stdout")" "$want"
python3 - "$WORK/alerts.jsonl" "$KW_TESTDATA/corpus/published/published.expected.tsv" <<'PY'
import json, sys
fields = {"alert_id", "status", "time", "device", "client", "category", "direction", "client_offer",
          "server_offer", "evidence", "mismatch", "remediation", "first_seen", "last_seen", "count"}
want = {}
for line in list(open(sys.argv[2]))[1:]:
    f = line.rstrip("\n").split("\t")
    if f[1] != "-":
        want[f[0]] = f[3]
bad = 0
for line in open(sys.argv[1]):
    a = json.loads(line)
    missing = fields - set(a)
    if missing or a["status"] != "firing" or len(a["alert_id"]) != 32:
        print("# incomplete alert:", sorted(missing), line[:200]); bad = 1
    if want.get(a["device"]["key"]) != a["mismatch"]["id"]:
        print("# wrong id for", a["device"]["key"], a["mismatch"]["id"]); bad = 1
    for k in ("key", "name", "vendor"):
        if k not in a["device"]:
            print("# device lacks", k); bad = 1
    for k in ("address", "port", "software", "fingerprint"):
        if k not in a["client"]:
            print("# client lacks", k); bad = 1
sys.exit(bad)
PY
check "every alert has every SPEC field and the expected catalogue id" [ $? -eq 0 ]

# the same failures again (new connections: new sshd pids) within
# repeat_interval: counted, not re-sent
sed 's/\[\([0-9]*\)\]:/[\19]:/' "$PUB" > "$WORK/again.log"
send_udp "$WORK/again.log"
sleep 1
is "repeats within repeat_interval are held back" "$(wc -l < "$WORK/alerts.jsonl")" "$want"
is "and counted" "$(counter alerts_suppressed)" "$want"

# resolution: JSCH fails on HW-CORE-1 (it offers only SHA-1 kex); once the
# operator has enabled an algorithm, its next session logs a login
HW="$KW_TESTDATA/corpus/huawei-assumed/huawei.log"
awk '/VTY 2, 192.0.2.14/ { on = 1 } on { print } on && /SSH_USER_LOGIN_FAIL/ { exit }' "$HW" > "$WORK/jsch.log"
sed -n '/^\[device HW-CORE-1\]/,/^$/p' "$KW_TESTDATA/corpus/huawei-assumed/huawei-inventory.conf" >> "$WORK/kexwatch.conf"
kill -HUP "$DAEMON_PID"
sleep 0.5
before=$(wc -l < "$WORK/alerts.jsonl")
send_udp "$WORK/jsch.log"
for _ in $(seq 1 30); do [ "$(wc -l < "$WORK/alerts.jsonl")" -gt "$before" ] && break; sleep 0.1; done
check "JSCH on HW-CORE-1 fires kex-sha1-only" sh -c "tail -n 1 '$WORK/alerts.jsonl' | grep -q '\"status\":\"firing\".*kex-sha1-only'"
sed 's/SSH_USER_LOGIN_FAIL(s):CID=0x80932723; The SSH user failed to login. (ServiceType=stelnet, FailedReason=Key exchange failed, UserName=\*\*,/SSH_USER_LOGIN(s):CID=0x80930038; The SSH user succeeded in logging in. (ServiceType=stelnet, UserName=netops,/' \
    "$WORK/jsch.log" > "$WORK/jsch-ok.log"
before=$(wc -l < "$WORK/alerts.jsonl")
send_udp "$WORK/jsch-ok.log"
for _ in $(seq 1 30); do [ "$(wc -l < "$WORK/alerts.jsonl")" -gt "$before" ] && break; sleep 0.1; done
check "its next successful login resolves the alert" sh -c "tail -n 1 '$WORK/alerts.jsonl' | grep -q '\"status\":\"resolved\".*kex-sha1-only'"
check "SIGTERM: exit status 0" stop_daemon
finish
