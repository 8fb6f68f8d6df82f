#!/bin/bash
# SPDX-License-Identifier: ISC
# A real syslog-ng relay over TLS: syslog-ng's syslog() destination with
# transport("tls") and tls(ca-file() cert-file() key-file()
# peer-verify(required-trusted)) forwards what it receives on UDP to
# kexwatchd's TLS listener (RFC 5425: octet-counted RFC 5424). The lines
# arrive keyed by the relay's certificate name and raise an alert; a relay
# whose certificate another CA signed is refused and counted; a relay that
# does not trust kexwatchd's CA sends nothing.
#
# Debian's syslog-ng-core conflicts with rsyslog (both provide
# system-log-daemon), so scripts/deps.sh --test unpacks it, without
# installing it, under KW_SYSLOG_NG_ROOT (default /var/tmp/kexwatch-syslog-ng)
# and it runs from there; an installed syslog-ng is used when present.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"

ROOT=${KW_SYSLOG_NG_ROOT:-/var/tmp/kexwatch-syslog-ng}
SNG="" MODPATH="" LIBPATH=""
if [ -x "$ROOT/usr/sbin/syslog-ng" ]; then
    SNG=$ROOT/usr/sbin/syslog-ng
    MODPATH=$(dirname "$(find "$ROOT/usr/lib" -name libafsocket.so 2>/dev/null | head -n 1)")
    LIBPATH=$ROOT/usr/lib/syslog-ng:$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/usr/lib
elif command -v syslog-ng > /dev/null; then
    SNG=$(command -v syslog-ng)
fi
if [ -z "$SNG" ] || ! command -v openssl > /dev/null || ! command -v logger > /dev/null; then
    plan 1
    skip "syslog-ng is neither installed nor unpacked in $ROOT (sh scripts/deps.sh --test unpacks Debian's syslog-ng-core there), or openssl/logger is missing"
    exit 0
fi
sng() { LD_LIBRARY_PATH=$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$SNG" ${MODPATH:+--module-path="$MODPATH"} "$@"; }
if ! sng --version > "$WORK/sng-version" 2>&1; then
    plan 1
    skip "syslog-ng at $SNG does not run: $(head -n 1 "$WORK/sng-version")"
    exit 0
fi
VERSION=$(sed -n 's/^Config version: *//p' "$WORK/sng-version")
diag "syslog-ng $(sed -n 's/^Installer-Version: *//p' "$WORK/sng-version") from $SNG"
plan 10
tls_lab "tls_peers = *.noc.example.net
identify = certificate"
check "kexwatchd starts" start_daemon

# run_sng NAME CA CERT KEY: a syslog-ng relay taking UDP on its own port and
# forwarding with syslog() over TLS, verifying kexwatchd against CA
run_sng() {
    local name=$1 ca=$2 cert=$3 key=$4 rport
    rport=$(free_port)
    mkdir -p "$WORK/$name"
    cat > "$WORK/$name/syslog-ng.conf" <<CONF
@version: ${VERSION:-3.38}
options { keep-hostname(yes); stats-freq(0); };
source s_udp { network(ip("127.0.0.1") port($rport) transport("udp")); };
destination d_kexwatch {
    syslog("127.0.0.1" port($TPORT) transport("tls")
        tls(ca-file("$ca") cert-file("$cert") key-file("$key") peer-verify(required-trusted))
        time-reopen(1));
};
log { source(s_udp); destination(d_kexwatch); };
CONF
    # started directly (not through sng()), so that $! is syslog-ng itself
    LD_LIBRARY_PATH=$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$SNG" ${MODPATH:+--module-path="$MODPATH"} \
        -F -e --no-caps -f "$WORK/$name/syslog-ng.conf" -R "$WORK/$name/persist" -p "$WORK/$name/pid" \
        -c "$WORK/$name/ctl" > "$WORK/$name/out" 2>&1 &
    eval "${name}_PID=\$!"
    wait_udp "$rport"
    eval "${name}_PORT=$rport"
}
# every relay is stopped at exit, also when a check fails half-way
EXTRA_CLEANUP='kill ${relay_PID:-} ${stranger_PID:-} ${doubter_PID:-} 2>/dev/null
for f in "$WORK"/*/pid; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; done'
run_sng relay "$P/ca.pem" "$P/r5.pem" "$P/r5.key"
check "syslog-ng starts with a tls() destination" kill -0 "$relay_PID"
for i in 1 2 3; do
    logger --udp -n 127.0.0.1 -P "$relay_PORT" --rfc3164 -t sshd "Unable to negotiate with 192.0.2.$i port 5$i: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]"
done
wait_records 3
is "syslog-ng's lines arrive over TLS, keyed by its certificate name" \
    "$(grep '"transport":"tls"' "$WORK/records.jsonl" | grep -c '"device":"r5.noc.example.net"')" 3
check "syslog() over TLS (RFC 5425 octet counting) parses as rfc5424" \
    grep -q '"transport":"tls".*"format":"rfc5424"' "$WORK/records.jsonl"
for _ in $(seq 1 50); do [ -s "$WORK/alerts.jsonl" ] && break; sleep 0.1; done
check "an alert fires for the relay's certificate name" grep -q '"key":"r5.noc.example.net"' "$WORK/alerts.jsonl"

# a relay with a certificate from another CA: refused, counted, nothing read
run_sng stranger "$P/ca.pem" "$P/r3.pem" "$P/r3.key"
logger --udp -n 127.0.0.1 -P "$stranger_PORT" --rfc3164 -t sshd "from a stranger relay"
for _ in $(seq 1 50); do [ "$(counter tls_peer_rejected_untrusted)" -ge 1 ] 2>/dev/null && break; sleep 0.2; done
check "a syslog-ng relay with another CA's certificate is refused (untrusted)" \
    test "$(counter tls_peer_rejected_untrusted)" -ge 1
check "and nothing it sent is read" sh -c "! grep -q 'from a stranger relay' '$WORK/records.jsonl'"

# a relay that trusts another CA refuses kexwatchd's certificate itself
run_sng doubter "$P/other-ca.pem" "$P/r1.pem" "$P/r1.key"
logger --udp -n 127.0.0.1 -P "$doubter_PORT" --rfc3164 -t sshd "from a doubting relay"
sleep 2
check "a relay that does not trust kexwatchd's CA refuses its certificate" \
    grep -q "Certificate validation failed" "$WORK/doubter/out"
check "and sends nothing" sh -c "! grep -q 'from a doubting relay' '$WORK/records.jsonl'"
kill "$relay_PID" "$stranger_PID" "$doubter_PID" 2>/dev/null
check "SIGTERM: exit status 0" stop_daemon
finish
