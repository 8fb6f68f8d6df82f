# SPDX-License-Identifier: ISC
# Helpers for the TLS end-to-end tests (sourced after lib.sh): a throw-away
# PKI made with the openssl command line, and a Python TLS sender.

# make_pki DIR: ca.pem/ca.key (the devices' CA), other-ca.pem (a stranger),
# server.pem/server.key (SAN DNS:localhost, IP:127.0.0.1, signed by ca),
# and device certificates signed by ca unless said:
#   r1 = r1.noc.example.net, r2 = r2.noc.example.net (expired yesterday),
#   r3 = r3.noc.example.net signed by other-ca, r9 = r9.elsewhere.example,
#   r5 = r5.noc.example.net (for rsyslog)
make_pki() {
    d=$1
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
        # shellcheck disable=SC2086
        openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj "/CN=kexwatch test CA" 2>/dev/null
        # shellcheck disable=SC2086
        openssl req -x509 $ec -keyout other-ca.key -out other-ca.pem -days 30 -subj "/CN=some other CA" 2>/dev/null
        issue() { # NAME CN CA DAYS SAN
            # shellcheck disable=SC2086
            openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
            printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$5" > "$1.ext"
            openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days "$4" \
                -extfile "$1.ext" -out "$1.pem" 2>/dev/null
        }
        issue server kexwatch-test ca 30 "DNS:localhost,IP:127.0.0.1"
        issue server2 kexwatch-test-renewed ca 30 "DNS:localhost,IP:127.0.0.1"
        issue r1 r1.noc.example.net ca 30 "DNS:r1.noc.example.net"
        issue r2 r2.noc.example.net ca -1 "DNS:r2.noc.example.net"
        issue r3 r3.noc.example.net other-ca 30 "DNS:r3.noc.example.net"
        issue r9 r9.elsewhere.example ca 30 "DNS:r9.elsewhere.example"
        issue r5 r5.noc.example.net ca 30 "DNS:r5.noc.example.net"
    )
    [ -s "$d/r5.pem" ] && [ -s "$d/server.pem" ]
}

# tls_lab [LINES]: free ports PORT (UDP and TCP) and TPORT (TLS), the PKI in
# $P (make_pki), and kexwatch.conf with the TLS listener on TPORT serving
# server.pem and verifying senders against ca.pem, plus LINES in [listen]
tls_lab() {
    PORT=$(free_port)
    TPORT=$(free_port)
    while [ "$TPORT" = "$PORT" ]; do TPORT=$(free_port); done
    P="$WORK/pki"
    make_pki "$P" || bail "openssl could not make the test PKI"
    write_config "$PORT" "tls = 127.0.0.1:$TPORT
tls_cert = $P/server.pem
tls_key = $P/server.key
tls_ca = $P/ca.pem${1:+
$1}"
}

# wait_udp PORT: until a socket listens on UDP 127.0.0.1:PORT (bounded: 10 s)
wait_udp() {
    for _ in $(seq 1 100); do
        ss -lun 2>/dev/null | grep -q "127.0.0.1:$1 " && return 0
        sleep 0.1
    done
    return 1
}

# tls_send PORT CA CERT KEY [VERSION]: sends each stdin line as one RFC 5425
# octet-counted frame over TLS (CERT - for none; VERSION 1.1 forces TLS 1.1
# on the client). Prints "sent" or "refused: why"; exit 0 when the server
# read to the end (it answers close), 1 when refused.
tls_send() {
    [ -f "$WORK/tls_send.py" ] || cat > "$WORK/tls_send.py" <<'PY'
import socket, ssl, sys
port, ca, cert, key = sys.argv[1:5]
ver = sys.argv[5] if len(sys.argv) > 5 else ""
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
if ver == "1.1":
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
if cert != "-":
    ctx.load_cert_chain(cert, key)
data = b"".join(str(len(l.rstrip(b"\n"))).encode() + b" " + l.rstrip(b"\n") for l in sys.stdin.buffer)
try:
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    t.sendall(data)
    # a refused TLS 1.3 client learns it only now: the server's alert
    t.settimeout(0.5)
    try:
        if t.recv(1) == b"":
            pass
    except socket.timeout:
        pass
    t.close()
    print("sent")
except (ssl.SSLError, OSError) as e:
    print("refused:", e)
    sys.exit(1)
PY
    python3 -W ignore "$WORK/tls_send.py" "$@"
}
