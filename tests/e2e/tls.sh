#!/bin/bash
# SPDX-License-Identifier: ISC
# End-to-end: syslog over TLS (RFC 5425) into the real kexwatchd with a PKI
# made here by openssl: a device with a good certificate is read and keyed by
# its certificate name (identify = certificate) and its failure alerts; no
# certificate, another CA, an expired certificate, a name outside tls_peers
# and TLS 1.1 are refused and counted by cause with the sender's address; the
# framing (octet counting, LF, truncation) is the TCP framer's; a pinned
# fingerprint passes without the CA; max_connections counts TLS connections.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"

command -v openssl > /dev/null || { plan 1; skip "openssl is not installed"; exit 0; }
plan 25
PORT=$(free_port)
TPORT=$(free_port)
while [ "$TPORT" = "$PORT" ]; do TPORT=$(free_port); done
P="$WORK/pki"
check "a CA, a server and device certificates are made with openssl" make_pki "$P"
write_config "$PORT" "tls = 127.0.0.1:$TPORT
tls_cert = $P/server.pem
tls_key = $P/server.key
tls_ca = $P/ca.pem
tls_verify = require
tls_peers = *.noc.example.net
identify = certificate
max_message = 2048
max_connections = 6
tls_handshake_timeout = 2s"
check "kexwatchd starts with a TLS listener" start_daemon
check "it says it listens on tls, client certificates required" \
    grep -q "listening for syslog on tls 127.0.0.1:$TPORT (RFC 5425; client certificates: required)" "$WORK/stderr"

# a device with a good certificate: octet-counted frames
printf '%s\n' "<38>1 2026-12-07T10:00:00Z r1-hdr sshd 42 - - Unable to negotiate with 192.0.2.7 port 51234: no matching cipher found. Their offer: aes256-cbc,aes128-cbc,3des-cbc [preauth]" \
    "<13>Dec  7 10:00:01 r1-hdr app: second over tls" | tls_send "$TPORT" "$P/ca.pem" "$P/r1.pem" "$P/r1.key" > "$WORK/r1.out"
wait_records 2
is "both frames from the good device arrive" "$(grep -c '"transport":"tls"' "$WORK/records.jsonl")" 2
check "the device key is the certificate's name, not the address" \
    grep -q '"transport":"tls","source":"127.0.0.1","device":"r1.noc.example.net"' "$WORK/records.jsonl"
for _ in $(seq 1 50); do [ -s "$WORK/alerts.jsonl" ] && break; sleep 0.1; done
check "the failure line received over TLS raises an alert for r1.noc.example.net" \
    grep -q '"key":"r1.noc.example.net"' "$WORK/alerts.jsonl"
is "tls_handshakes counts it" "$(counter tls_handshakes)" 1

# refusals, one per cause
: | tls_send "$TPORT" "$P/ca.pem" - - > /dev/null
: | tls_send "$TPORT" "$P/ca.pem" "$P/r3.pem" "$P/r3.key" > /dev/null
: | tls_send "$TPORT" "$P/ca.pem" "$P/r2.pem" "$P/r2.key" > /dev/null
: | tls_send "$TPORT" "$P/ca.pem" "$P/r9.pem" "$P/r9.key" > /dev/null
echo "<13>Dec  7 10:00:02 nocert app: must not be read" | tls_send "$TPORT" "$P/ca.pem" - - > /dev/null
sleep 0.5
is "no certificate: refused and counted" "$(counter tls_peer_rejected_no_certificate)" 2
is "signed by another CA: refused and counted" "$(counter tls_peer_rejected_untrusted)" 1
is "expired: refused and counted" "$(counter tls_peer_rejected_expired)" 1
is "a name outside tls_peers: refused and counted" "$(counter tls_peer_rejected_name)" 1
is "tls_peer_rejected is their sum" "$(counter tls_peer_rejected)" 5
check "nothing of a refused sender is read" sh -c "! grep -q 'must not be read' '$WORK/records.jsonl'"
check "the refusal log names the sender, the cause and what to do (expired)" \
    grep -q "warning: tls 127.0.0.1:[0-9]*: sender refused (expired): certificate has expired (certificate /CN=r2.noc.example.net); renew" "$WORK/stderr"
check "the refusal log for a name outside tls_peers says so" \
    grep -q "sender refused (name): no name or fingerprint of the certificate is in tls_peers (certificate /CN=r9.elsewhere.example); add its name" "$WORK/stderr"
check "the refusal log for another CA points at tls_ca" \
    grep -q "sender refused (untrusted): unable to get local issuer certificate (certificate /CN=r3.noc.example.net); issue the sender's certificate from the CA in \[listen\] tls_ca" "$WORK/stderr"

# TLS 1.1: the client is made to offer only TLS 1.1 (seclevel 0 so that
# OpenSSL 3 on the client side sends it at all); the server's counter proves
# the server refused it
out=$(: | tls_send "$TPORT" "$P/ca.pem" "$P/r1.pem" "$P/r1.key" 1.1)
is "TLS 1.1 is refused by the server (tls_handshake_failed_protocol)" "$(counter tls_handshake_failed_protocol)" 1
check "and logged as a protocol failure naming the sender" \
    grep -q "warning: tls 127.0.0.1:[0-9]*: TLS handshake failed (protocol): .*unsupported protocol.*TLS 1.2 or newer" "$WORK/stderr"
diag "client: $out"

# plain syslog sent to the TLS port by mistake
printf '<13>Dec  7 10:00:03 plain app: not tls\n' | python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall(sys.stdin.buffer.read()); s.settimeout(2)
try: s.recv(100)
except Exception: pass' "$TPORT"
is "plain text on the TLS port is a protocol failure, never read" "$(counter tls_handshake_failed_protocol)" 2

# the framing is the TCP framer's: octet counting with an embedded LF, an
# LF-framed line, truncation to max_message, then still in sync
python3 - "$TPORT" "$P" <<'PY'
import socket, ssl, sys
port, p = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(p + "/ca.pem")
ctx.load_cert_chain(p + "/r1.pem", p + "/r1.key")
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
m = b"<13>Dec  7 10:00:04 fr app: counted\nwith lf"
t.sendall(str(len(m)).encode() + b" " + m)
t.sendall(b"<13>Dec  7 10:00:05 fr app: lf framed\n")
t.sendall(b"<13>Dec  7 10:00:06 fr app: " + b"z" * 5000 + b"\n")
t.sendall(b"<13>Dec  7 10:00:07 fr app: in sync")
t.close()
PY
wait_records 6
check "octet counting over TLS keeps an embedded LF" grep -q '"transport":"tls".*"text":"counted\\nwith lf"' "$WORK/records.jsonl"
check "an LF-framed line over TLS arrives" grep -q '"transport":"tls".*"text":"lf framed"' "$WORK/records.jsonl"
check "an oversize TLS frame is truncated to max_message" grep -q '"transport":"tls".*"length":2048' "$WORK/records.jsonl"
check "the last line (no LF, at close) arrives in sync" grep -q '"transport":"tls".*"text":"in sync"' "$WORK/records.jsonl"

# max_connections (6) counts TLS connections: hold 8 handshaken ones
python3 - "$TPORT" "$P" <<'PY'
import socket, ssl, sys, time
port, p = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(p + "/ca.pem")
ctx.load_cert_chain(p + "/r1.pem", p + "/r1.key")
held = []
for i in range(8):
    try:
        held.append(ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=3), server_hostname="127.0.0.1"))
    except Exception:
        pass
time.sleep(0.5)
PY
is "max_connections refuses TLS connections beyond it" "$(counter tcp_rejected)" 2
check "SIGTERM: exit status 0" stop_daemon
finish
