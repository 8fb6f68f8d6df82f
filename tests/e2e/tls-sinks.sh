#!/bin/bash
# SPDX-License-Identifier: ISC
# Alerts over TLS: an https:// webhook to a real Python HTTPS server named
# "localhost" (resolved by the daemon's evdns from /etc/hosts), verified
# against webhook_ca and its name, with kexwatchd's client certificate; the
# tcp+tls:// syslog sink to a TLS receiver verified against syslog_ca; and a
# receiver whose certificate another CA signed is refused with the reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"

command -v openssl > /dev/null || { plan 1; skip "openssl is not installed"; exit 0; }
plan 7
PORT=$(free_port)
HPORT=$(free_port)
SPORT=$(free_port)
P="$WORK/pki"
make_pki "$P" || bail "openssl could not make the test PKI"

# HTTPS receiver: records "PATH<TAB>CLIENT-CN<TAB>BODY"; TLS syslog receiver: raw bytes
python3 - "$HPORT" "$SPORT" "$P" "$WORK/https.txt" "$WORK/syslog.bin" <<'PY' &
import http.server, socket, ssl, sys, threading
hport, sport, p, out, sout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(p + "/server.pem", p + "/server.key")
    c.load_verify_locations(p + "/ca.pem")
    c.verify_mode = ssl.CERT_OPTIONAL
    return c
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        cert = self.connection.getpeercert() or {}
        cn = dict(x[0] for x in cert.get("subject", ())).get("commonName", "-")
        with open(out, "a") as f:
            f.write(self.path + "\t" + cn + "\t" + body.decode() + "\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", hport), H)
srv.socket = ctx().wrap_socket(srv.socket, server_side=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", sport)); ls.listen(5); ls.settimeout(1)
sc = ctx(); sc.verify_mode = ssl.CERT_NONE
import time
end = time.time() + 40
while time.time() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    try:
        t = sc.wrap_socket(c, server_side=True); t.settimeout(3)
        while True:
            d = t.recv(65536)
            if not d: break
            open(sout, "ab").write(d)
    except Exception:
        pass
PY
RECV=$!
EXTRA_CLEANUP='kill $RECV 2>/dev/null'
sleep 0.5
sinks() { # WEBHOOK_CA
    write_config "$PORT"
    sed -i "s|^\[alerts\]$|[alerts]\nwebhook = https://localhost:$HPORT/api/v2/alerts\nwebhook_ca = $1\nwebhook_cert = $P/r1.pem\nwebhook_key = $P/r1.key\nsyslog = tcp+tls://127.0.0.1:$SPORT\nsyslog_ca = $1|" "$WORK/kexwatch.conf"
}
sinks "$P/ca.pem"
check "kexwatchd starts with an https webhook and a tcp+tls syslog sink" start_daemon
printf '%s' "<38>Dec  7 10:00:00 tlssink sshd[1]: Unable to negotiate with 192.0.2.9 port 50000: no matching cipher found. Their offer: aes128-cbc,3des-cbc [preauth]" > /dev/udp/127.0.0.1/"$PORT"
for _ in $(seq 1 100); do [ -s "$WORK/https.txt" ] && [ -s "$WORK/syslog.bin" ] && break; sleep 0.1; done
check "the alert is POSTed over https to the name localhost (evdns, /etc/hosts)" \
    grep -q "^/api/v2/alerts	" "$WORK/https.txt"
check "with kexwatchd's client certificate (webhook_cert)" grep -q "	r1.noc.example.net	" "$WORK/https.txt"
check "the alert reaches the tcp+tls:// syslog receiver" grep -aq "kexwatchd [0-9]* ALERT" "$WORK/syslog.bin"
stop_daemon

# a receiver the configured CA did not sign: refused, and the log says why
sinks "$P/other-ca.pem"
rm -f "$WORK"/kexwatch.db* "$WORK/alerts.jsonl"
: > "$WORK/https.txt"
check "kexwatchd starts with the wrong webhook_ca" start_daemon
printf '%s' "<38>Dec  7 10:00:00 tlssink2 sshd[1]: Unable to negotiate with 192.0.2.10 port 50001: no matching cipher found. Their offer: aes128-cbc,3des-cbc [preauth]" > /dev/udp/127.0.0.1/"$PORT"
for _ in $(seq 1 100); do grep -q "webhook https://localhost:$HPORT/api/v2/alerts: delivery failed" "$WORK/stderr" && break; sleep 0.1; done
check "the webhook refuses the receiver and says why" \
    grep -q "webhook https://localhost:$HPORT/api/v2/alerts: delivery failed (TLS: certificate verify failed: [a-z -]*; check webhook_ca" "$WORK/stderr"
is "nothing was delivered to it" "$(grep -c . "$WORK/https.txt")" 0
stop_daemon
finish
