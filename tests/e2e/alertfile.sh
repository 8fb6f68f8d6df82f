#!/bin/bash
# SPDX-License-Identifier: ISC
# The alert file's group commit (issue 11): with every fsync taking 1.5 s
# (the LD_PRELOAD shim tests/e2e/slowfsync.c), 40 new alerts arrive at once.
# The event loop does not wait for the disk: it keeps answering SIGUSR1 at
# once and reading; the alerts count as written (file_sent) only once their
# fsync returned, and they are synced in a few groups, not one fsync each
# (which would take 60 s).
. "$(dirname "$0")/lib.sh"

plan 8
build_shim slowfsync || bail "cannot build the fsync shim (a C compiler is needed)"
PORT=$(free_port)
write_config "$PORT" "identify = hostname"
export KW_SLOW_FSYNC_FLAG=$WORK/slow-now KW_SLOW_FSYNC_MS=1500
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
LD_PRELOAD=$WORK/slowfsync.so check "kexwatchd starts with the fsync shim" start_daemon

last() { grep "^$1 " "$WORK/stderr" | tail -n 1 | cut -d' ' -f2; }

: > "$KW_SLOW_FSYNC_FLAG"
python3 - "$PORT" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(40):
    s.sendto(("<38>Oct 26 12:24:47 sync%d sshd[%d]: Unable to negotiate with 10.9.0.%d port %d: no matching key "
              "exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]" % (i, 1000 + i, i, 2000 + i))
             .encode(), ("127.0.0.1", int(sys.argv[1])))
PY
# the alerts are raised once the pipeline decided and the state committed
for _ in $(seq 1 50); do [ "$(counter alerts_sent)" -ge 40 ] 2> /dev/null && break; sleep 0.1; done
is "40 alerts raised" "$(last alerts_sent)" 40
ms=$(usr1_ms)
check "the loop answers SIGUSR1 while the alert file is being synced (${ms} ms)" test "$ms" -lt 1000
sent=$(last file_sent)
pending=$(last file_pending)
diag "while the first fsync runs: file_sent $sent, file_pending $pending"
check "alerts whose fsync has not returned are not counted written (file_sent $sent < 40)" test "${sent:-40}" -lt 40
check "they are waiting for the disk (file_pending $pending > 0)" test "${pending:-0}" -gt 0
# one fsync per alert would take 60 s; groups take a few fsyncs of 1.5 s
for _ in $(seq 1 40); do
    [ "$(counter file_sent)" = 40 ] && break
    sleep 0.2
done
is "every alert counted written within a few fsyncs" "$(last file_sent)" 40
is "and in the file" "$(wc -l < "$WORK/alerts.jsonl")" 40
rm -f "$KW_SLOW_FSYNC_FLAG"
check "SIGTERM: exit status 0" stop_daemon
finish
