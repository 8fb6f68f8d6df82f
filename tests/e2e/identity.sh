#!/bin/bash
# SPDX-License-Identifier: ISC
# Alert identity, repeats across a restart, and resolution by a later
# success, with real programs: a real OpenSSH sshd at LogLevel VERBOSE (no
# fingerprint, no client software in its log) logs through
# tests/e2e/sshd-capture.py straight to the real kexwatchd over UDP; real ssh
# clients connect from different loopback addresses.
#  - two clients that fail the same way (cipher-cbc-only) with different
#    offers get two alerts, each with its own offer;
#  - repeats within repeat_interval are held back, and their count and
#    last_seen are in the database within about a second, without a clean
#    stop (kill -9), and keep counting after the restart;
#  - a later login from the first client's address resolves its alert only
#    (at VERBOSE the address is the best identity the log gives).
. "$(dirname "$0")/lib.sh"

plan 13
if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ]; then
    for _ in $(seq 1 13); do skip "needs root and OpenSSH sshd"; done
    exit 0
fi
PORT=$(free_port)
write_config "$PORT"
check "kexwatchd starts" start_daemon

start_lab_sshd VERBOSE lab-id "KexAlgorithms curve25519-sha256
Ciphers aes128-ctr,aes256-gcm@openssh.com
MACs hmac-sha2-256
HostKeyAlgorithms ssh-ed25519" || bail "the lab sshd did not start"

ssh_from 127.0.0.3 nobody -o Ciphers=aes128-cbc
ssh_from 127.0.0.4 nobody -o Ciphers=aes256-cbc,aes128-cbc
wait_alerts firing 2
python3 - "$WORK/alerts.jsonl" > "$WORK/ids" <<'PY'
import json, sys
al = [json.loads(l) for l in open(sys.argv[1])]
for a in al:
    print(a["alert_id"], a["client"]["address"], ",".join(a["client_offer"] or []), a["mismatch"]["id"])
PY
is "two clients failing alike with different offers: two alerts" "$(cut -d' ' -f1 "$WORK/ids" | sort -u | wc -l)" 2
check "each alert carries its own client's offer" \
    grep -q "127.0.0.3 aes128-cbc cipher-cbc-only" "$WORK/ids"
check "... and the other's" grep -q "127.0.0.4 aes256-cbc,aes128-cbc cipher-cbc-only" "$WORK/ids"
A=$(awk '$2 == "127.0.0.3" {print $1}' "$WORK/ids")
B=$(awk '$2 == "127.0.0.4" {print $1}' "$WORK/ids")

# three repeats of the first client: held back, counted
for _ in 1 2 3; do ssh_from 127.0.0.3 nobody -o Ciphers=aes128-cbc; done
sleep 2.5 # the tick saves them with the next batch
is "repeats within repeat_interval are not sent again" "$(alerts_with firing)" 2
is "the repeats' count is in the database without a clean stop" "$(db "SELECT count FROM alerts WHERE alert_id = '$A'")" 4
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2> /dev/null
DAEMON_PID=""
check "kexwatchd starts again after kill -9" start_daemon
ssh_from 127.0.0.3 nobody -o Ciphers=aes128-cbc
sleep 2.5
is "after the restart the repeat is still held back" "$(alerts_with firing)" 2
is "and counted on top of the saved count" "$(db "SELECT count FROM alerts WHERE alert_id = '$A'")" 5

# the first client's address now logs in: its alert resolves, the other's not
ssh_from 127.0.0.3 root -i "$T/user"
wait_alerts resolved 1
is "a login from the first client's address resolves its alert" \
    "$(grep '"status":"resolved"' "$WORK/alerts.jsonl" | grep -c "$A")" 1
is "the other client's alert keeps firing" "$(grep '"status":"resolved"' "$WORK/alerts.jsonl" | grep -c "$B")" 0
check "kexwatchd stops cleanly" stop_daemon
is "the database says so" "$(db "SELECT status FROM alerts WHERE alert_id IN ('$A', '$B') ORDER BY alert_id = '$A'")" \
    "firing
resolved"
finish
