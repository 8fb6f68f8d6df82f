#!/bin/sh
# SPDX-License-Identifier: ISC
# The command-line contract of both programs: --help, --version, -t, exit
# codes, and replay of stored lines through the daemon's pipeline.
. "$(dirname "$0")/lib.sh"

plan 15
check "kexwatchd --version" sh -c "'$KEXWATCHD' --version | grep -q '^kexwatchd [0-9]'"
check "kexwatchd --help names -c and -t" sh -c "'$KEXWATCHD' --help | grep -q -- '-t, --test'"
check "kexwatch --version" sh -c "'$KEXWATCH' --version | grep -q '^kexwatch [0-9]'"
check "kexwatch --help lists replay" sh -c "'$KEXWATCH' --help | grep -q replay"
"$KEXWATCH" frobnicate > /dev/null 2>&1
is "kexwatch with an unknown command exits 2" "$?" 2

# the sample configuration as the quick start lays it out (conf/ beside var/)
cp -r "$KW_SRCDIR/conf" "$WORK/conf"
mkdir -p "$WORK/var"
check "kexwatchd -t accepts the sample configuration" "$KEXWATCHD" -t -c "$WORK/conf/kexwatch.conf"
cat > "$WORK/bad.conf" <<'CONF'
[listen]
udp = 127.0.0.1:99999
bogus = 1
[alerts]
stdout = perhaps
CONF
"$KEXWATCHD" -t -c "$WORK/bad.conf" > "$WORK/t.out" 2>&1
is "kexwatchd -t on a bad configuration exits 1" "$?" 1
is "every error is listed with file:line" "$(grep -c "^$WORK/bad.conf:[0-9]*: " "$WORK/t.out")" 3

# a daemon that cannot bind says which address and exits 1
PORT=$(free_port)
write_config "$PORT"
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(3)' "$PORT" &
sleep 0.5
"$KEXWATCHD" -c "$WORK/kexwatch.conf" > /dev/null 2> "$WORK/bind.err"
is "kexwatchd exits 1 when a port is taken" "$?" 1
check "and names the address" grep -q "cannot listen on tcp 127.0.0.1:$PORT" "$WORK/bind.err"
wait

# replay: stored lines through the daemon's pipeline, device = header host name
"$KEXWATCH" replay --records "$KW_TESTDATA/corpus/openssh-lab/edge-modern-1.log" > "$WORK/replay.jsonl"
is "replay --records yields one record per stored line" "$(wc -l < "$WORK/replay.jsonl")" \
    "$(grep -c . "$KW_TESTDATA/corpus/openssh-lab/edge-modern-1.log")"
is "replayed records are keyed by host name" "$(grep -c '"device":"edge-modern-1"' "$WORK/replay.jsonl")" \
    "$(grep -c . "$KW_TESTDATA/corpus/openssh-lab/edge-modern-1.log")"
# explain: the RFC 4253 negotiation of given lists, with the catalogue id and fix
"$KEXWATCH" explain --client 'kex=diffie-hellman-group14-sha1' \
    --server 'kex=dh_group_exchange_sha256 dh_group16_sha512 curve25519_sha256' --vendor huawei > "$WORK/explain.out"
is "explain exits 1 when the negotiation fails" "$?" 1
check "explain names the catalogue id" grep -q '^mismatch: kex-sha1-only' "$WORK/explain.out"
check "explain renders the full Huawei list as the fix" grep -q \
    '^fix on the server: ssh server key-exchange dh_group_exchange_sha256 dh_group16_sha512 curve25519_sha256 dh_group14_sha1$' \
    "$WORK/explain.out"
finish
