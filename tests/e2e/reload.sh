#!/bin/bash
# SPDX-License-Identifier: ISC
# SIGHUP: a bad configuration is refused and the running one stays; a good
# one replaces the inventory (and patterns) without dropping the sockets.
. "$(dirname "$0")/lib.sh"

plan 12
PORT=$(free_port)
write_config "$PORT" "identify = hostname"
check "kexwatchd starts" start_daemon

send_udp() {
    while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$1"
}
HW="$KW_TESTDATA/corpus/huawei-assumed/huawei.log"
# without an inventory nothing is known of HW-CORE-1's server lists: no failure
grep 'HW-CORE-1' "$HW" > "$WORK/core.log"
send_udp "$WORK/core.log"
sleep 1
is "before the reload: no failure can be inferred for HW-CORE-1" \
    "$(grep -c 'device HW-CORE-1: SSH client' "$WORK/stderr")" 0

# a bad configuration: refused, the daemon keeps running
cp "$WORK/kexwatch.conf" "$WORK/good.conf"
sed -i 's/^identify = hostname/identify = hostname\nbogus_key = 1/' "$WORK/kexwatch.conf"
kill -HUP "$DAEMON_PID"
sleep 0.5
check "a bad configuration is refused with its errors" grep -q "unknown key 'bogus_key'" "$WORK/stderr"
check "and the running one stays" grep -q "the running configuration stays in force" "$WORK/stderr"

# a good one with the Huawei inventory: new failures are inferred at once
cp "$WORK/good.conf" "$WORK/kexwatch.conf"
sed -n '/^\[device/,$p' "$KW_TESTDATA/corpus/huawei-assumed/huawei-inventory.conf" >> "$WORK/kexwatch.conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 30); do grep -q "SIGHUP: reloaded" "$WORK/stderr" && break; sleep 0.1; done
check "a good configuration is reloaded" grep -q "SIGHUP: reloaded .* 3 device/group section" "$WORK/stderr"
send_udp "$WORK/core.log"
want=$(awk -F'\t' '$1 == "HW-CORE-1" && $3 != "-"' "$KW_TESTDATA/corpus/huawei-assumed/huawei.expected.tsv" | wc -l)
for _ in $(seq 1 30); do
    [ "$(grep -c 'device HW-CORE-1: SSH client' "$WORK/stderr")" -ge "$want" ] && break
    sleep 0.2
done
is "after the reload the inventory's server lists decide HW-CORE-1's failures" \
    "$(grep -c 'device HW-CORE-1: SSH client' "$WORK/stderr")" "$want"
check "the sockets were kept (same process, still receiving)" kill -0 "$DAEMON_PID"

# reload under traffic loses no message: 20,000 lines over TCP while the
# configuration is reloaded three times
before=$(wc -l < "$WORK/records.jsonl")
python3 - "$PORT" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for i in range(20):
    s.sendall(b"".join(b"<13>Nov 25 10:00:00 hupload app: line %d\n" % (i * 1000 + k) for k in range(1000)))
    time.sleep(0.05)
s.close()
PY
SENDER=$!
for _ in 1 2 3; do sleep 0.3; kill -HUP "$DAEMON_PID"; done
wait "$SENDER"
wait_records $((before + 20000))
is "no message lost across three reloads under traffic" "$(grep -c '"host":"hupload"' "$WORK/records.jsonl")" 20000

# listen addresses: a new one opens, a removed one closes, the rest stays
PORT2=$(free_port)
while [ "$PORT2" = "$PORT" ]; do PORT2=$(free_port); done
sed -i "s|^udp = 127.0.0.1:$PORT\$|udp = 127.0.0.1:$PORT2|" "$WORK/kexwatch.conf"
kill -HUP "$DAEMON_PID"
sleep 0.5
logger --udp -n 127.0.0.1 -P "$PORT2" --rfc3164 -t kw-newport "on the new port"
logger --tcp -n 127.0.0.1 -P "$PORT" --rfc3164 -t kw-keptport "on the kept tcp port"
wait_records $((before + 20002))
check "a new udp address is listened on after SIGHUP" grep -q '"app":"kw-newport"' "$WORK/records.jsonl"
check "an unchanged tcp address kept working" grep -q '"app":"kw-keptport"' "$WORK/records.jsonl"
check "the removed udp address was closed" grep -q "stopped listening on udp 127.0.0.1:$PORT" "$WORK/stderr"
check "SIGTERM: exit status 0" stop_daemon
finish
