#!/bin/bash
# SPDX-License-Identifier: ISC
# A device key longer than 127 bytes (host names may have 255) is saved whole
# with its alert, so deduplication survives a restart.
. "$(dirname "$0")/lib.sh"

plan 5
PORT=$(free_port)
write_config "$PORT" "identify = hostname"
HOST=$(python3 -c 'print("h" * 60 + "." + "a" * 60 + "." + "b" * 60 + ".example.net")')
fail_line() {
    printf '<38>Oct 26 12:24:48 %s sshd[%d]: Unable to negotiate with 10.2.0.1 port 5000: no matching key exchange method found. Their offer: diffie-hellman-group14-sha1,diffie-hellman-group1-sha1 [preauth]' \
        "$HOST" "$1" > /dev/udp/127.0.0.1/"$PORT"
}
check "kexwatchd starts" start_daemon
fail_line 2001
for _ in $(seq 1 50); do [ -s "$WORK/alerts.jsonl" ] && break; sleep 0.1; done
check "SIGTERM: exit status 0" stop_daemon
is "the alert is saved with the whole ${#HOST}-byte device key" \
    "$(sqlite3 "$WORK/kexwatch.db" "SELECT length(d.key) FROM alerts a JOIN devices d ON d.id = a.device_id")" "${#HOST}"
start_daemon
fail_line 2002
sleep 1.5
stop_daemon
is "after a restart the repeat counts into the same alert" \
    "$(sqlite3 "$WORK/kexwatch.db" "SELECT count(*) || ' ' || max(count) FROM alerts")" "1 2"
is "and is not announced again within repeat_interval" "$(wc -l < "$WORK/alerts.jsonl")" 1
finish
