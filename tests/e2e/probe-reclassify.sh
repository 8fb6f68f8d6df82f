#!/bin/bash
# SPDX-License-Identifier: ISC
# A failure whose catalogue id needs the server's lists: a real OpenSSH
# sshd at LogLevel VERBOSE that offers only diffie-hellman-group14-sha1 (a
# legacy server), no inventory, and a real ssh client offering only
# curve25519-sha256. Without the server's list the failure is
# "unclassified"; when [probe] reads sshd's KEXINIT the failure is judged
# again: kex-legacy-server, a new alert id (the catalogue id is part of
# it) that keeps the old alert's count and first_seen, with the server's
# list and the fix, while the unclassified alert is resolved naming it
# (superseded_by). A new failure of the same client is then a repeat of the
# new alert, not a third one.
. "$(dirname "$0")/lib.sh"

for tool in /usr/sbin/sshd ssh ssh-keygen; do
    command -v "$tool" > /dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done

plan 8
PORT=$(free_port)
PS=$(free_port)
write_config "$PORT"
probe_lab "$PS" "KexAlgorithms diffie-hellman-group14-sha1"
EXTRA_CLEANUP='[ -s "$WORK/sshd.pid" ] && kill "$(cat "$WORK/sshd.pid")" 2>/dev/null'
/usr/sbin/sshd -f "$WORK/sshd_config" -E "$WORK/sshd.log" || bail "sshd did not start"
for _ in $(seq 1 50); do [ -s "$WORK/sshd.pid" ] && break; sleep 0.1; done
check "kexwatchd starts" start_daemon

# the client fails; sshd's lines reach kexwatchd as a relay sends them
fail_once() {
    ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o ConnectTimeout=5 -o KexAlgorithms=curve25519-sha256 -p "$PS" -l kwtest 127.0.0.1 true 2> "$WORK/ssh.err"
    sleep 0.3
    grep -h "Unable to negotiate" "$WORK/sshd.log" | tail -n 1 | sed 's/^.*sshd\[[0-9]*\]: //' |
        while IFS= read -r line; do
            printf '<38>%s lab sshd[%s]: %s' "$(date '+%b %e %H:%M:%S')" "$1" "$line" > /dev/udp/127.0.0.1/"$PORT"
        done
}
fail_once 501
check "the real client fails: no matching key exchange method" grep -q "no matching key exchange method" "$WORK/ssh.err"
for _ in $(seq 1 100); do [ "$(wc -l < "$WORK/alerts.jsonl")" -ge 3 ] && break; sleep 0.1; done
python3 - "$WORK/alerts.jsonl" > "$WORK/verdict" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
first = a[0]
old = [x for x in a[1:] if x["alert_id"] == first["alert_id"] and x["status"] == "resolved"]
new = [x for x in a[1:] if x["alert_id"] != first["alert_id"]]
print(first["mismatch"]["id"], first["server_offer"])
print(len(old), old[0].get("superseded_by") if old else None)
print(len(new), new[0]["alert_id"] if new else None, new[0]["mismatch"]["id"] if new else None,
      new[0]["server_offer"] if new else None, new[0]["count"] if new else None,
      new[0]["first_seen"] == first["first_seen"] if new else None, new[0]["status"] if new else None)
print(" | ".join(new[0]["remediation"]["steps"]) if new else "")
PY
cat "$WORK/verdict" | sed 's/^/# /'
is "the first alert is unclassified, without the server's list" "$(sed -n 1p "$WORK/verdict")" "unclassified None"
NEW=$(sed -n 3p "$WORK/verdict" | cut -d' ' -f2)
is "after the probe the unclassified alert is resolved, superseded by the new one" "$(sed -n 2p "$WORK/verdict")" "1 $NEW"
is "the new alert: kex-legacy-server, the server's list, the old count and first_seen, firing" \
    "$(sed -n 3p "$WORK/verdict" | cut -d' ' -f3-)" "kex-legacy-server ['diffie-hellman-group14-sha1'] 1 True firing"
check "its fix enables the client's kex on the server (the complete KexAlgorithms line)" \
    grep -qx "KexAlgorithms diffie-hellman-group14-sha1,curve25519-sha256" <(sed -n 4p "$WORK/verdict")
# the same client again: a repeat of the new alert (its lists are known now)
fail_once 502
sleep 1
kill -USR1 "$DAEMON_PID"
sleep 0.3
is "a new failure of the client is a repeat of the new alert, not another one" \
    "$(python3 -c 'import json,sys; print(len({json.loads(l)["alert_id"] for l in open(sys.argv[1])}))' "$WORK/alerts.jsonl") $(counter alerts_suppressed)" \
    "2 1"
check "kexwatchd stops cleanly" stop_daemon
finish
