#!/bin/bash
# SPDX-License-Identifier: ISC
# TLS certificates on SIGHUP and at kexwatchd -t: a key that does not match
# the certificate is refused by -t; SIGHUP with a renewed certificate serves
# it to new connections while an established connection keeps sending; a bad
# new key keeps the old certificate and says why. Then socket activation: a
# stream socket named "tls" (FileDescriptorName=, here systemd-socket-activate
# --fdname) is a TLS listener beside a plain one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"

command -v openssl > /dev/null || { plan 1; skip "openssl is not installed"; exit 0; }
plan 13
PORT=$(free_port)
TPORT=$(free_port)
while [ "$TPORT" = "$PORT" ]; do TPORT=$(free_port); done
P="$WORK/pki"
make_pki "$P" || bail "openssl could not make the test PKI"
mkdir -p "$WORK/tls"
cp "$P/server.pem" "$P/server.key" "$WORK/tls/"
write_config "$PORT" "tls = 127.0.0.1:$TPORT
tls_cert = $WORK/tls/server.pem
tls_key = $WORK/tls/r1.key
tls_ca = $P/ca.pem"
cp "$P/r1.key" "$WORK/tls/r1.key"
out=$("$KEXWATCHD" -t -c "$WORK/kexwatch.conf" 2>&1)
rc=$?
is "kexwatchd -t fails when tls_key does not match tls_cert" "$rc" 1
check "and says which files and what to do" \
    grep -q "tls_key $WORK/tls/r1.key does not belong to the certificate in tls_cert $WORK/tls/server.pem; install the key" <<< "$out"
sed -i "s|^tls_key = .*|tls_key = $WORK/tls/server.key|" "$WORK/kexwatch.conf"
out=$("$KEXWATCHD" -t -c "$WORK/kexwatch.conf" 2>&1)
is "kexwatchd -t passes with the matching key" "$?" 0

check "kexwatchd starts" start_daemon
peer_cn() { # the subject CN the server presents now
    python3 - "$TPORT" "$P" <<'PY'
import socket, ssl, sys
port, p = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(p + "/ca.pem")
ctx.load_cert_chain(p + "/r1.pem", p + "/r1.key")
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1")
print(dict(x[0] for x in t.getpeercert()["subject"])["commonName"])
t.close()
PY
}
is "the server presents its certificate" "$(peer_cn)" "kexwatch-test"

# an established connection: one line now, one after the reload
python3 - "$TPORT" "$P" "$WORK/go" <<'PY' &
import os, socket, ssl, sys, time
port, p, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(p + "/ca.pem")
ctx.load_cert_chain(p + "/r1.pem", p + "/r1.key")
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="127.0.0.1")
t.sendall(b"<13>Dec  7 10:00:00 kept app: before reload\n")
for _ in range(150):
    if os.path.exists(go): break
    time.sleep(0.1)
t.sendall(b"<13>Dec  7 10:00:01 kept app: after reload\n")
time.sleep(0.3)
t.close()
PY
KEPT=$!
wait_records 1
cp "$P/server2.pem" "$WORK/tls/server.pem"
cp "$P/server2.key" "$WORK/tls/server.key"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 50); do grep -q "TLS certificate .* re-read" "$WORK/stderr" && break; sleep 0.1; done
check "SIGHUP re-reads the certificate and says so" grep -q "SIGHUP: TLS certificate $WORK/tls/server.pem, key and CAs re-read" "$WORK/stderr"
is "new connections get the renewed certificate" "$(peer_cn)" "kexwatch-test-renewed"
touch "$WORK/go"
wait "$KEPT"
wait_records 2
check "the connection established before the reload kept sending" grep -q '"text":"after reload"' "$WORK/records.jsonl"

# a bad new key: the old certificate stays, and the log says why
cp "$P/r9.key" "$WORK/tls/server.key"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 50); do grep -q "keeps the certificate and key it had" "$WORK/stderr" && break; sleep 0.1; done
check "SIGHUP with a key that does not match keeps the old pair and says why" \
    grep -q "SIGHUP: \[listen\] tls_key $WORK/tls/server.key does not belong to the certificate in tls_cert $WORK/tls/server.pem; .*keeps the certificate and key it had" "$WORK/stderr"
is "and new connections still get the certificate in force" "$(peer_cn)" "kexwatch-test-renewed"
check "SIGTERM: exit status 0" stop_daemon

# socket activation: the activator names its two stream sockets tcp and tls
ACTIVATE=$(command -v systemd-socket-activate)
if [ -z "$ACTIVATE" ] || ! ldd "$KEXWATCHD" 2>/dev/null | grep -q libsystemd; then
    skip "systemd-socket-activate or libsystemd support missing"
    skip "systemd-socket-activate or libsystemd support missing"
    finish
fi
cp "$P/server.pem" "$P/server.key" "$WORK/tls/"
sed -i -e 's/^tcp = .*/tcp =/' -e 's/^udp = .*/udp =/' -e 's/^tls = .*/tls =/' "$WORK/kexwatch.conf"
: > "$WORK/records.jsonl"
"$ACTIVATE" -E KEXWATCH_CONFDIR -l "127.0.0.1:$PORT" -l "127.0.0.1:$TPORT" --fdname=tcp:tls \
    "$KEXWATCHD" -c "$WORK/kexwatch.conf" --dump-records "$WORK/records.jsonl" > "$WORK/stdout" 2> "$WORK/stderr" &
DAEMON_PID=$!
sleep 0.3
logger --tcp -n 127.0.0.1 -P "$PORT" --rfc3164 -t kw-act "plain over an activated socket"
echo "<13>Dec  7 10:00:02 act app: tls over an activated socket" |
    tls_send "$TPORT" "$P/ca.pem" "$P/r1.pem" "$P/r1.key" > /dev/null
for _ in $(seq 1 50); do grep -q "started" "$WORK/stderr" && break; sleep 0.1; done
wait_records 2
check "a socket named tls from systemd speaks TLS" grep -q '"transport":"tls".*"text":"tls over an activated socket"' "$WORK/records.jsonl"
check "the other one stays plain TCP" grep -q '"transport":"tcp".*plain over an activated socket' "$WORK/records.jsonl"
stop_daemon
finish
