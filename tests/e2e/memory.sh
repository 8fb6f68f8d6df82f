#!/bin/bash
# SPDX-License-Identifier: ISC
# The memory budget: [daemon] max_memory bounds sessions, the database queue
# and alert state together. Open connections from more devices than the
# budget holds make the daemon decide the oldest undecided sessions early:
# counted, reported (rate-limited) and exported, and the daemon's account
# stays under the budget while it keeps reading.
. "$(dirname "$0")/lib.sh"

plan 9
PORT=$(free_port)
write_config "$PORT" "identify = hostname"
sed -i "1i [daemon]\nmax_memory = 16m\n" "$WORK/kexwatch.conf"
MPORT=$(free_port)
printf '\n[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT" >> "$WORK/kexwatch.conf"
check "kexwatchd starts with max_memory = 16m" start_daemon
is "the budget is in force" "$(counter memory_limit_bytes)" $((16 << 20))

# 30,000 devices, each with a connection that stays open (undecided):
# about 30 MiB of sessions
python3 - "$PORT" 30000 << 'PY'
import socket, sys, time
port, devices = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(devices):
    s.sendto(("<38>Oct 26 12:24:47 dev%d sshd[%d]: Connection from 10.1.%d.%d port %d on 10.0.0.1 port 22"
              " rdomain \"\"" % (i, 1000 + i, (i >> 8) & 255, i & 255, 1024 + i % 60000)).encode(),
             ("127.0.0.1", port))
    if i % 100 == 99:
        time.sleep(0.005)
PY
for _ in $(seq 1 50); do
    [ "$(counter messages_udp)" -ge 30000 ] && break
    sleep 0.2
done
is "every message was read" "$(counter messages_udp)" 30000
evicted=$(counter sessions_memory_evicted)
check "the oldest undecided sessions were decided early ($evicted)" test "${evicted:-0}" -gt 0
used=$(counter memory_bytes)
check "the daemon's account stays under the budget ($((used >> 20)) MiB)" test "$used" -le $((16 << 20))
warnings=$(grep -c 'memory budget \[daemon\] max_memory = 16 MiB reached' "$WORK/stderr")
check "the operator is told, rate-limited ($warnings warning(s))" test "$warnings" -ge 1 -a "$warnings" -le 6
m=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
    "http://127.0.0.1:$MPORT/metrics")
check "the evictions are a metric" grep -q "^kexwatch_sessions_memory_evicted_total $evicted" <<< "$m"
check "and the budget and its use" grep -q '^kexwatch_memory_limit_bytes 16777216' <<< "$m"
check "SIGTERM: exit status 0" stop_daemon
finish
