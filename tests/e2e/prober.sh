#!/bin/bash
# SPDX-License-Identifier: ISC
# [probe] in the daemon: a device (key = its address, identify = source)
# fails with server lists nobody logged; after_failure later kexwatchd asks
# its SSH server (a real sshd on 127.0.0.1) for its KEXINIT, keeps the lists
# (kexwatch device shows them, equal to sshd -T's), and the next failure's
# alert carries them. A device outside allow is never probed.
. "$(dirname "$0")/lib.sh"

plan 15
command -v sshd > /dev/null 2>&1 || PATH=$PATH:/usr/sbin
SSHD_PID=""
EXTRA_CLEANUP='[ -n "$SSHD_PID" ] && kill $SSHD_PID 2>/dev/null'
PS=$(free_port)
ssh-keygen -q -t ed25519 -f "$WORK/hk_ed" -N ''
mkdir -p /run/sshd 2> /dev/null
cat > "$WORK/sshd.conf" <<CONF
Port $PS
ListenAddress 127.0.0.1
HostKey $WORK/hk_ed
PidFile $WORK/sshd.pid
UsePAM no
LogLevel DEBUG1
KexAlgorithms curve25519-sha256,diffie-hellman-group16-sha512
Ciphers aes256-gcm@openssh.com,aes128-ctr
MACs hmac-sha2-256-etm@openssh.com
CONF
if ! "$(command -v sshd)" -f "$WORK/sshd.conf" -E "$WORK/sshd.log"; then
    skip "sshd did not start (needs root and openssh-server)"
    for _ in 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do skip "no sshd"; done
    exit 0
fi
for _ in $(seq 1 50); do [ -s "$WORK/sshd.pid" ] && break; sleep 0.1; done
SSHD_PID=$(cat "$WORK/sshd.pid")

PORT=$(free_port)
write_config "$PORT"
cat >> "$WORK/kexwatch.conf" <<CONF
repeat_interval = 1h

[probe]
enable = yes
allow = 10.0.0.0/8, 127.0.0.0/8
port = $PS
after_failure = 1s
timeout = 5s
CONF
check "kexwatchd starts with [probe] enable = yes" start_daemon

# failure OFFER PID: sshd's explicit failure, from 127.0.0.1 (the device key)
failure() {
    printf '<38>Dec  7 10:00:00 lab sshd[%s]: Unable to negotiate with 192.0.2.7 port %s: no matching key exchange method found. Their offer: %s [preauth]' \
        "$2" "$2" "$1" > /dev/udp/127.0.0.1/"$PORT"
}
failure diffie-hellman-group1-sha1 4001
for _ in $(seq 1 100); do grep -q "probe of device 127.0.0.1" "$WORK/stderr" && break; sleep 0.1; done
check "after_failure later the daemon probes the device and says what answered" \
    grep -q "probe of device 127.0.0.1 (127.0.0.1 port $PS): SSH-2.0-OpenSSH.*server lists stored" "$WORK/stderr"
check "the first alert had no server list (unknown when it fired)" \
    python3 -c 'import json,sys; a=json.loads(open(sys.argv[1]).readline()); sys.exit(a["server_offer"] is not None)' \
    "$WORK/alerts.jsonl"
check "sshd saw the probe's version string" grep -q "remote software version kexwatch_probe_" "$WORK/sshd.log"
check "and no authentication" sh -c "! grep -Eq 'userauth|Accepted|Failed' '$WORK/sshd.log'"

# a client failing differently: its alert now carries the probed kex list
failure diffie-hellman-group-exchange-sha1 4002
for _ in $(seq 1 50); do [ "$(wc -l < "$WORK/alerts.jsonl")" -ge 2 ] && break; sleep 0.1; done
WANT_KEX=$("$(command -v sshd)" -T -f "$WORK/sshd.conf" | awk '$1 == "kexalgorithms" {print $2}')
is "the next failure's alert carries the server's kex list (sshd -T)" \
    "$(python3 -c 'import json,sys; a=[json.loads(l) for l in open(sys.argv[1])][-1]; print(",".join(a["server_offer"] or []))' "$WORK/alerts.jsonl")" \
    "$WANT_KEX"
kill -USR1 "$DAEMON_PID"
sleep 0.3
is "the probe is counted: probes_started, probes_answered (SIGUSR1, the counter registry)" \
    "$(grep -E '^probes_(started|answered|failed) ' "$WORK/stderr" | tail -n 3 | tr '\n' ' ')" \
    "probes_started 1 probes_answered 1 probes_failed 0 "
stop_daemon
"$KEXWATCH" --db "$WORK/kexwatch.db" device 127.0.0.1 --format json > "$WORK/device.json"
is "kexwatch device shows the probed lists (kex, ciphers as sshd -T says)" \
    "$(python3 -c '
import json, sys
p = {r["slot"]: r["list"] for r in json.load(open(sys.argv[1]))["profile"]}
kex = ",".join(a for a in p.get("kex", "").split(",") if not a.startswith(("kex-strict-", "ext-info-")))
print(kex, p.get("cipher_c2s"), p.get("mac_s2c"))' "$WORK/device.json")" \
    "$WANT_KEX $("$(command -v sshd)" -T -f "$WORK/sshd.conf" | awk '$1 == "ciphers" {c=$2} $1 == "macs" {m=$2} END {print c, m}')"

check "the probed lists are stored with source probed" \
    python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["profile"]; sys.exit(not p or any(r["source"] != "probed" for r in p))' \
    "$WORK/device.json"
check "the device's last probe is stored: its port and sshd's banner" \
    python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["probe"]; sys.exit(not (b["port"] == int(sys.argv[2]) and b["banner"].startswith("SSH-2.0-OpenSSH") and b["error"] is None))' \
    "$WORK/device.json" "$PS"

# a device outside allow: never probed
: > "$WORK/sshd.log"
sed -i 's|^allow = .*|allow = 10.0.0.0/8|' "$WORK/kexwatch.conf"
rm -f "$WORK"/kexwatch.db*
start_daemon || bail "kexwatchd did not start again"
failure diffie-hellman-group1-sha1 4003
sleep 2.5
check "a device outside [probe] allow is not probed" sh -c "! grep -q 'probe of device' '$WORK/stderr' && ! grep -q kexwatch_probe '$WORK/sshd.log'"
is "and counted as not allowed" "$(counter probes_not_allowed)" 1
stop_daemon

# a port where nothing listens: the failure is counted by its cause
sed -i "s|^allow = .*|allow = 127.0.0.0/8|; s|^port = .*|port = $(free_port)|" "$WORK/kexwatch.conf"
rm -f "$WORK"/kexwatch.db*
start_daemon || bail "kexwatchd did not start a third time"
failure diffie-hellman-group1-sha1 4004
for _ in $(seq 1 50); do grep -q "probe of device 127.0.0.1 failed" "$WORK/stderr" && break; sleep 0.1; done
is "a refused probe is counted as probes_failed_refused" "$(counter probes_failed_refused) $(counter probes_failed) $(counter probes_in_flight)" "1 1 0"
stop_daemon

# a device named by its host name (identify = hostname), its port from the
# inventory: the name is resolved (evdns: /etc/hosts, DNS) and the
# device's probe_port used instead of [probe] port (closed)
CLOSED=$(grep '^port = ' "$WORK/kexwatch.conf" | cut -d' ' -f3)
write_config "$PORT" "identify = hostname"
cat >> "$WORK/kexwatch.conf" <<CONF
repeat_interval = 1h

[probe]
enable = yes
allow = 127.0.0.0/8
port = $CLOSED
after_failure = 1s
timeout = 5s

[group lab]
match = localhost
probe_port = $PS
CONF
: > "$WORK/sshd.log"
start_daemon || bail "kexwatchd did not start a fourth time"
printf '<38>Dec  7 10:00:00 localhost sshd[4005]: Unable to negotiate with 192.0.2.7 port 4005: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]' \
    > /dev/udp/127.0.0.1/"$PORT"
for _ in $(seq 1 50); do grep -q "probe of device localhost" "$WORK/stderr" && break; sleep 0.1; done
check "a device keyed by host name is resolved and probed on its group's probe_port" \
    grep -q "probe of device localhost (127.0.0.1 port $PS): SSH-2.0-OpenSSH.*server lists stored" "$WORK/stderr"
stop_daemon
"$KEXWATCH" --db "$WORK/kexwatch.db" device localhost --format json > "$WORK/device2.json"
check "its lists are stored under its name" \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d["probe"]["address"] == "127.0.0.1" and any(r["source"] == "probed" for r in d["profile"])))' \
    "$WORK/device2.json"
finish
