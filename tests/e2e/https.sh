#!/bin/bash
# SPDX-License-Identifier: ISC
# [http] tls = yes: the console, API and /metrics over HTTPS with the TLS
# listener's certificate, checked with curl --cacert: /metrics, /healthz,
# an API answer, a console page, basic authentication inside TLS, plain HTTP
# on the HTTPS port refused, a stranger's CA and TLS 1.1 refused; SIGHUP
# serves a renewed certificate and keeps the old one when the new key is
# wrong; [http] tls_verify = require asks browsers for a client certificate;
# a connection past max_connections is closed before its handshake;
# kexwatchd -t names an [http] key that does not match.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"

command -v openssl > /dev/null || { plan 1; skip "openssl is not installed"; exit 0; }
command -v curl > /dev/null || { plan 1; skip "curl is not installed (scripts/deps.sh --test installs it)"; exit 0; }
plan 25
PORT=$(free_port)
TPORT=$(free_port)
HPORT=$(free_port)
P="$WORK/pki"
make_pki "$P" || bail "openssl could not make the test PKI"
mkdir -p "$WORK/tls"
cp "$P/server.pem" "$P/server.key" "$WORK/tls/"
printf 'alice:%s\n' "$(openssl passwd -6 'alice-pw')" > "$WORK/users"
conf() { # conf [HTTP LINES...]: [listen] tls with the server certificate, [http] tls = yes
    write_config "$PORT" "tls = 127.0.0.1:$TPORT
tls_cert = $WORK/tls/server.pem
tls_key = $WORK/tls/server.key
tls_ca = $P/ca.pem"
    printf '\n[http]\nlisten = 127.0.0.1:%s\nusers = %s\ntls = yes\nmax_connections = 3\n' "$HPORT" "$WORK/users" \
        >> "$WORK/kexwatch.conf"
    for l in "$@"; do printf '%s\n' "$l" >> "$WORK/kexwatch.conf"; done
}

# kexwatchd -t checks the HTTPS key pair too
conf "tls_key = $P/r1.key"
out=$("$KEXWATCHD" -t -c "$WORK/kexwatch.conf" 2>&1)
is "kexwatchd -t fails when [http] tls_key does not match the certificate" "$?" 1
check "and names the [http] key and the certificate" \
    grep -q "\[http\] tls_key $P/r1.key does not belong to the certificate in tls_cert $WORK/tls/server.pem" <<< "$out"
conf
out=$("$KEXWATCHD" -t -c "$WORK/kexwatch.conf" 2>&1)
is "kexwatchd -t passes when [http] shares the [listen] certificate" "$?" 0

check "kexwatchd starts with [http] tls = yes" start_daemon
check "it says it serves https://" grep -q "on https://127.0.0.1:$HPORT/" "$WORK/stderr"
# a line so that the API and the console have a device to show
python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[2].encode(), ("127.0.0.1", int(sys.argv[1])))' \
    "$PORT" '<38>Dec  7 10:00:00 edge-1 sshd[1]: Unable to negotiate with 192.0.2.7 port 5022: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]'
wait_records 1 > /dev/null

U="https://127.0.0.1:$HPORT"
curl_s() { curl -sS --max-time 10 --cacert "$P/ca.pem" "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$P/ca.pem" "$@"; }
is "/healthz over HTTPS with the password: 200" "$(code -u alice:alice-pw "$U/healthz")" 200
is "without the password: 401, inside TLS" "$(code "$U/healthz")" 401
is "a wrong password: 401" "$(code -u alice:nope "$U/healthz")" 401
curl_s -u alice:alice-pw "$U/metrics" > "$WORK/metrics" 2> "$WORK/metrics.err"
check "/metrics over HTTPS" grep -q '^kexwatch_messages_udp_total ' "$WORK/metrics"
has_device() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(x["key"] == "127.0.0.1" and x["failures"] == 1 for x in d) else 1)' \
        "$WORK/devices.json" 2> /dev/null
}
for _ in $(seq 1 25); do # the writer commits in batches: bounded, 5 s
    curl_s -u alice:alice-pw "$U/api/v1/devices" > "$WORK/devices.json" 2> "$WORK/devices.err"
    has_device && break
    sleep 0.2
done
check "/api/v1/devices over HTTPS is JSON with the device and its failure" has_device
curl_s -u alice:alice-pw "$U/" > "$WORK/page.html" 2> "$WORK/page.err"
check "the console overview page over HTTPS" grep -qi '<html' "$WORK/page.html"
curl -sS --max-time 10 -u alice:alice-pw "http://127.0.0.1:$HPORT/healthz" > "$WORK/plain.out" 2> "$WORK/plain.err"
rc=$?
check "plain HTTP on the HTTPS port gets no HTTP answer (curl exit $rc)" \
    sh -c "[ $rc -ne 0 ] && ! grep -q '^ok' '$WORK/plain.out'"
code_other=$(code --cacert "$P/other-ca.pem" "$U/healthz")
is "a client trusting another CA refuses the server" "$code_other" 000
curl -s -o /dev/null --max-time 10 -k --tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT:@SECLEVEL=0' "$U/healthz"
rc=$?
check "TLS 1.1 is refused (curl exit $rc)" test "$rc" -ne 0
is "TLS 1.2 is served" "$(code --tlsv1.2 --tls-max 1.2 -u alice:alice-pw "$U/healthz")" 200
is "a connection by the name in the certificate (localhost)" \
    "$(code --resolve "localhost:$HPORT:127.0.0.1" -u alice:alice-pw "https://localhost:$HPORT/healthz")" 200

# the connection cap: three idle connections hold every slot; the next
# HTTPS client is closed before its handshake, and served once they leave
python3 - "$HPORT" "$WORK/hold" <<'PY' &
import os, socket, sys, time
port, flag = int(sys.argv[1]), sys.argv[2]
held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
open(flag, "w").close()
time.sleep(3)
for s in held:
    s.close()
PY
HOLDER=$!
for _ in $(seq 1 50); do [ -e "$WORK/hold" ] && break; sleep 0.1; done
sleep 0.3
is "past [http] max_connections an HTTPS client is refused" "$(code -u alice:alice-pw "$U/healthz")" 000
wait "$HOLDER"
sleep 0.5
is "and served once the slots are free" "$(code -u alice:alice-pw "$U/healthz")" 200

# SIGHUP: a renewed certificate for new connections
issuer_cn() {
    openssl s_client -connect "127.0.0.1:$HPORT" -CAfile "$P/ca.pem" < /dev/null 2> /dev/null |
        openssl x509 -noout -subject 2> /dev/null | sed 's/.*CN *= *//'
}
cp "$P/server2.pem" "$WORK/tls/server.pem"
cp "$P/server2.key" "$WORK/tls/server.key"
kill -HUP "$DAEMON_PID"
sleep 0.5
is "after SIGHUP new HTTPS connections get the renewed certificate" "$(issuer_cn)" "kexwatch-test-renewed"
cp "$P/r1.key" "$WORK/tls/server.key"
kill -HUP "$DAEMON_PID"
sleep 0.5
check "a key that does not match on SIGHUP is refused and said" \
    grep -q "the HTTPS listener keeps the certificate and key it had" "$WORK/stderr"
is "and HTTPS is still served with the certificate it had" "$(code -u alice:alice-pw "$U/healthz")" 200

# client certificates: tls_verify = require, taken on SIGHUP
cp "$P/server2.key" "$WORK/tls/server.key"
conf "tls_verify = require"
kill -HUP "$DAEMON_PID"
sleep 0.5
is "tls_verify = require: a browser without a certificate is refused" "$(code -u alice:alice-pw "$U/healthz")" 000
is "one with a certificate from tls_ca is served" \
    "$(code --cert "$P/r1.pem" --key "$P/r1.key" -u alice:alice-pw "$U/healthz")" 200
is "one with a certificate from another CA is refused" \
    "$(code --cert "$P/r3.pem" --key "$P/r3.key" -u alice:alice-pw "$U/healthz")" 000
check "kexwatchd stops cleanly" stop_daemon
finish
