#!/bin/bash
# SPDX-License-Identifier: ISC
# Real senders over TLS: rsyslog's omfwd with the gtls (GnuTLS) and ossl
# (OpenSSL) stream drivers, each with its own device certificate, verifying
# kexwatchd's certificate by name (x509/name, permitted peer localhost), as a
# relay or a device would; then a relay without a certificate is refused and
# counted. kexwatchd keys the relayed lines by the certificate's name and the
# failure lines raise alerts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"

RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
MODDIR=$(dirname "$(find /usr/lib -name lmnsd_ptcp.so 2>/dev/null | head -n 1)")
if [ ! -x "$RSYSLOGD" ] || ! command -v openssl > /dev/null || [ ! -e "$MODDIR/lmnsd_gtls.so" ] ||
    [ ! -e "$MODDIR/lmnsd_ossl.so" ]; then
    plan 1
    skip "rsyslogd with rsyslog-gnutls and rsyslog-openssl, and openssl, are needed (scripts/deps.sh --test)"
    exit 0
fi
plan 10
tls_lab "tls_peers = *.noc.example.net
identify = certificate"
# a second device certificate for the ossl relay
(cd "$P" && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout r6.key -out r6.csr \
    -subj "/CN=r6.noc.example.net" 2>/dev/null &&
    printf 'subjectAltName=DNS:r6.noc.example.net\nextendedKeyUsage=clientAuth\n' > r6.ext &&
    openssl x509 -req -in r6.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile r6.ext -out r6.pem 2>/dev/null)
check "kexwatchd starts" start_daemon

# run_rsyslog NAME DRIVER CERT KEY: an rsyslog relay taking UDP on its own
# port and forwarding over TLS with the given stream driver
run_rsyslog() {
    name=$1 driver=$2 cert=$3 key=$4
    rport=$(free_port)
    mkdir -p "$WORK/$name"
    certs=""
    [ -n "$cert" ] && certs="StreamDriver.CertFile=\"$cert\" StreamDriver.KeyFile=\"$key\""
    cat > "$WORK/$name.conf" <<CONF
global(workDirectory="$WORK/$name" maxMessageSize="64k")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="$rport")
action(type="omfwd" target="127.0.0.1" port="$TPORT" protocol="tcp" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format"
       StreamDriver="$driver" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
       StreamDriverPermittedPeers="localhost" StreamDriver.CAFile="$P/ca.pem" $certs
       action.resumeRetryCount="2" action.resumeInterval="1")
CONF
    "$RSYSLOGD" -n -f "$WORK/$name.conf" -i "$WORK/$name.pid" > "$WORK/$name.out" 2>&1 &
    eval "${name}_PID=\$!"
    wait_udp "$rport"
    eval "${name}_PORT=$rport"
}
run_rsyslog gtls gtls "$P/r5.pem" "$P/r5.key"
run_rsyslog ossl ossl "$P/r6.pem" "$P/r6.key"
EXTRA_CLEANUP='kill $gtls_PID $ossl_PID ${bare_PID:-} 2>/dev/null'
sleep 0.5
for i in 1 2 3; do
    logger --udp -n 127.0.0.1 -P "$gtls_PORT" --rfc3164 -t sshd "Unable to negotiate with 192.0.2.$i port 5$i: no matching cipher found. Their offer: aes256-cbc,aes128-cbc [preauth]"
    logger --udp -n 127.0.0.1 -P "$ossl_PORT" --rfc3164 -t sshd "Unable to negotiate with 198.51.100.$i port 6$i: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]"
done
wait_records 6
is "rsyslog gtls (GnuTLS) lines arrive over TLS, keyed by its certificate" \
    "$(grep '"transport":"tls"' "$WORK/records.jsonl" | grep -c '"device":"r5.noc.example.net"')" 3
is "rsyslog ossl (OpenSSL) lines arrive over TLS, keyed by its certificate" \
    "$(grep '"transport":"tls"' "$WORK/records.jsonl" | grep -c '"device":"r6.noc.example.net"')" 3
check "octet-counted RFC 5424 from rsyslog parses as rfc5424" grep -q '"transport":"tls".*"format":"rfc5424"' "$WORK/records.jsonl"
for _ in $(seq 1 50); do [ "$(grep -c . "$WORK/alerts.jsonl" 2>/dev/null)" -ge 2 ] && break; sleep 0.1; done
check "an alert fires for the gtls relay's device certificate name" grep -q '"key":"r5.noc.example.net"' "$WORK/alerts.jsonl"
check "an alert fires for the ossl relay's device certificate name" grep -q '"key":"r6.noc.example.net"' "$WORK/alerts.jsonl"
is "both relays' handshakes passed" "$(counter tls_handshakes)" 2

# a relay without a client certificate is refused and counted
run_rsyslog bare ossl "" ""
logger --udp -n 127.0.0.1 -P "$bare_PORT" --rfc3164 -t sshd "from a relay without a certificate"
for _ in $(seq 1 50); do [ "$(counter tls_peer_rejected_no_certificate)" -ge 1 ] && break; sleep 0.2; done
check "rsyslog without a client certificate is refused (no_certificate)" test "$(counter tls_peer_rejected_no_certificate)" -ge 1
check "and nothing it sent is read" sh -c "! grep -q 'from a relay without a certificate' '$WORK/records.jsonl'"
kill "$gtls_PID" "$ossl_PID" "$bare_PID" 2>/dev/null
check "SIGTERM: exit status 0" stop_daemon
finish
