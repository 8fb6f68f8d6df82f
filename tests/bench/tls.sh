#!/bin/bash
# SPDX-License-Identifier: ISC
# TLS ingest benchmark: lines per second received over 1 and over 50 TLS
# connections (RFC 5425 octet counting, client certificates verified) by
# kexwatchd and by rsyslog's imtcp with the gtls driver on the same
# certificates, printed with the ratio. The senders are `openssl s_client`
# processes each streaming a prepared file. Bounded: KW_BENCH_LINES lines in
# all per run (default 400000), each run at most 120 s. Asserts nothing.
# Run it under the CPU lock: flock /tmp/kw-cpu.lock sh tests/bench/tls.sh
set -u
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
KW_BUILDDIR=${KW_BUILDDIR:-$SRCDIR/build}
KW_SRCDIR=$SRCDIR
export KW_BUILDDIR KW_SRCDIR
. "$SRCDIR/tests/e2e/lib.sh"
. "$SRCDIR/tests/e2e/tls-lib.sh"
LINES=${KW_BENCH_LINES:-400000}
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
P="$WORK/pki"
make_pki "$P" || { echo "openssl could not make the PKI"; exit 0; }

# send CONNS FILE PORT: CONNS s_client processes, each streaming FILE
send() {
    for _ in $(seq 1 "$1"); do
        timeout 120 openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$3" -CAfile "$P/ca.pem" \
            -cert "$P/r1.pem" -key "$P/r1.key" < "$2" > /dev/null 2>&1 &
    done
    wait
}
mkfile() { # LINES FILE
    python3 - "$1" "$2" <<'PY'
import sys
n, out = int(sys.argv[1]), sys.argv[2]
with open(out, "wb") as f:
    for i in range(n):
        m = b"<38>Dec  7 10:00:00 bench sshd[1]: Connection closed by 192.0.2.%d port %d [preauth]" % (i % 250, 1024 + i % 60000)
        f.write(b"%d %s" % (len(m), m))
PY
}
# wait_count FN TARGET: until FN prints >= TARGET (bounded 120 s); prints seconds
wait_count() {
    local t0 now
    t0=$(date +%s.%N)
    for _ in $(seq 1 1200); do
        [ "$($1)" -ge "$2" ] 2>/dev/null && break
        sleep 0.1
    done
    now=$(date +%s.%N)
    echo "$now - $t0" | bc
}

declare -A RATE
for conns in 1 50; do
    per=$((LINES / conns))
    mkfile "$per" "$WORK/lines.$conns"
    total=$((per * conns))
    # kexwatchd
    PORT=$(free_port)
    TPORT=$(free_port)
    write_config "$PORT" "tls = 127.0.0.1:$TPORT
tls_cert = $P/server.pem
tls_key = $P/server.key
tls_ca = $P/ca.pem"
    start_daemon > /dev/null || { echo "kexwatchd did not start"; exit 0; }
    kw_count() { counter messages_tls; }
    t0=$(date +%s.%N)
    send "$conns" "$WORK/lines.$conns" "$TPORT" &
    wait_count kw_count "$total" > /dev/null
    t1=$(date +%s.%N)
    got=$(kw_count)
    stop_daemon
    RATE[kw$conns]=$(echo "$got / ($t1 - $t0)" | bc)
    echo "kexwatchd: $conns TLS connection(s): $got of $total lines in $(echo "$t1 - $t0" | bc) s = ${RATE[kw$conns]} lines/s"
    # rsyslog imtcp + gtls, writing to a file
    if [ -x "$RSYSLOGD" ]; then
        RPORT=$(free_port)
        mkdir -p "$WORK/rs$conns"
        cat > "$WORK/rs$conns.conf" <<CONF
global(workDirectory="$WORK/rs$conns" DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="$P/ca.pem" DefaultNetstreamDriverCertFile="$P/server.pem"
       DefaultNetstreamDriverKeyFile="$P/server.key")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/certvalid"
       MaxSessions="1000")
input(type="imtcp" address="127.0.0.1" port="$RPORT")
action(type="omfile" file="$WORK/rs$conns/out.log" asyncWriting="on" ioBufferSize="256k")
CONF
        "$RSYSLOGD" -n -f "$WORK/rs$conns.conf" -i "$WORK/rs$conns.pid" > "$WORK/rs$conns.stdout" 2>&1 &
        RS=$!
        for _ in $(seq 1 100); do ss -ltn | grep -q "127.0.0.1:$RPORT " && break; sleep 0.1; done
        rs_count() { cat "$WORK/rs$conns/out.log" 2>/dev/null | wc -l; }
        t0=$(date +%s.%N)
        send "$conns" "$WORK/lines.$conns" "$RPORT" &
        wait_count rs_count "$total" > /dev/null
        t1=$(date +%s.%N)
        got=$(rs_count)
        kill "$RS" 2>/dev/null
        wait "$RS" 2>/dev/null
        RATE[rs$conns]=$(echo "$got / ($t1 - $t0)" | bc)
        echo "rsyslog imtcp gtls: $conns TLS connection(s): $got of $total lines in $(echo "$t1 - $t0" | bc) s = ${RATE[rs$conns]} lines/s"
        [ "${RATE[rs$conns]}" -gt 0 ] &&
            echo "ratio kexwatchd/rsyslog over $conns connection(s): $(echo "scale=2; ${RATE[kw$conns]} / ${RATE[rs$conns]}" | bc)"
    fi
done
exit 0
