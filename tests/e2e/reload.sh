#!/bin/bash
# SIGHUP: a bad configuration is refused and the running one stays; a good
# one replaces the inventory (and patterns) without dropping the sockets.
. "$(dirname "$0")/lib.sh"

plan 8
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
check "SIGTERM: exit status 0" stop_daemon
finish
