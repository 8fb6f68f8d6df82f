#!/bin/bash
# SPDX-License-Identifier: ISC
# The client fingerprint covers host keys; the HASSH is kept beside it; an
# alert of an earlier version (its fingerprint a HASSH) is neither fired
# again nor left firing after the upgrade. Real OpenSSH sshd at LogLevel
# DEBUG2 (the client's whole KEXINIT is logged) feeding the real kexwatchd
# over UDP; real ssh clients from different loopback addresses:
#  - two clients failing alike (cipher-cbc-only) that differ only in their
#    host-key algorithms are two alerts with one HASSH (before: one alert);
#  - the default client's login does not resolve the alert of a client
#    that differs only in host keys (before: it did, and the next failure
#    fired it again);
#  - upgrade rule: an alert whose fingerprint is its HASSH (what schema 006
#    leaves of an earlier version's alert) keeps its alert_id when its
#    client fails again, even after a restart, and a success with that
#    HASSH resolves it.
. "$(dirname "$0")/lib.sh"

plan 14
if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ]; then
    for _ in $(seq 1 14); do skip "needs root and OpenSSH sshd"; done
    exit 0
fi
PORT=$(free_port)
write_config "$PORT"
check "kexwatchd starts" start_daemon

start_lab_sshd DEBUG2 lab-fp "Ciphers aes128-ctr,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com
HostKeyAlgorithms ssh-ed25519" || bail "the lab sshd did not start"

# alert_of ADDRESS: "alert_id fingerprint hassh" of the first alert raised for the client at ADDRESS
alert_of() {
    python3 -c 'import json, sys
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a["status"] == "firing" and a["client"]["address"] == sys.argv[2]:
        print(a["alert_id"], a["client"]["fingerprint"], a["client"]["hassh"]); break' "$WORK/alerts.jsonl" "$1"
}

ssh_from 127.0.0.3 nobody -o Ciphers=aes128-cbc
ssh_from 127.0.0.4 nobody -o Ciphers=aes128-cbc -o HostKeyAlgorithms=ssh-ed25519,ecdsa-sha2-nistp256
ssh_from 127.0.0.5 nobody -o HostKeyAlgorithms=ssh-rsa
wait_alerts firing 3
is "two clients differing only in host keys, failing alike, and a host-key failure: three alerts" \
    "$(alerts_with firing)" 3
read -r Y1 Y1FP Y1H <<< "$(alert_of 127.0.0.3)"
read -r Y2 Y2FP Y2H <<< "$(alert_of 127.0.0.4)"
read -r X XFP XH <<< "$(alert_of 127.0.0.5)"
check "the two have different fingerprints ($Y1FP, $Y2FP)" [ -n "$Y1FP" ] && [ "$Y1FP" != "$Y2FP" ]
check "and one HASSH, kept as its own field ($Y1H)" [ "${#Y1H}" -eq 32 ] && [ "$Y1H" = "$Y2H" ] && [ "$Y1H" != "$Y1FP" ]
is "the database keeps the HASSH with the alert" "$(db "SELECT hassh FROM alerts WHERE alert_id = '$Y1'")" "$Y1H"

# the default client differs from X only in its host keys (same HASSH)
ssh_from 127.0.0.6 root -i "$T/user"
sleep 2
is "the default client's login resolves nothing (the host-key client is another client)" "$(alerts_with resolved)" 0

# an alert of an earlier version: its fingerprint was the HASSH
check "kexwatchd stops cleanly" stop_daemon
# (an earlier version's alert_id hashed the HASSH; ids are opaque: new ones
# stand for them, and no alert object was kept before schema 005)
db "UPDATE alerts SET fingerprint = hassh, object = NULL, alert_id = 'e1' || substr(alert_id, 3)
    WHERE alert_id IN ('$Y1', '$X')"
Y1=e1${Y1#??}
X=e1${X#??}
check "kexwatchd starts on the database with two alerts of an earlier version" start_daemon
ssh_from 127.0.0.3 nobody -o Ciphers=aes128-cbc
sleep 2.5
is "its client failing again fires nothing new" "$(alerts_with firing)" 3
is "the alert keeps its alert_id and counts the failure" "$(db "SELECT count FROM alerts WHERE alert_id = '$Y1'")" 2
is "and takes the client's new fingerprint" "$(db "SELECT fingerprint FROM alerts WHERE alert_id = '$Y1'")" "$Y1FP"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2> /dev/null
DAEMON_PID=""
start_daemon
ssh_from 127.0.0.3 nobody -o Ciphers=aes128-cbc
sleep 2.5
is "after a restart too: nothing new, the same alert counts" \
    "$(alerts_with firing) $(db "SELECT count FROM alerts WHERE alert_id = '$Y1'")" "3 3"
# the earlier version's host-key alert resolves by its HASSH, the rule it was raised under
ssh_from 127.0.0.6 root -i "$T/user"
wait_alerts resolved 1
is "a success with its HASSH resolves the earlier version's alert (not orphaned)" \
    "$(grep '"status":"resolved"' "$WORK/alerts.jsonl" | grep -c "$X")" 1
check "kexwatchd stops cleanly" stop_daemon
finish
