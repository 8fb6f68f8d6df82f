#!/bin/bash
# SPDX-License-Identifier: ISC
# The [metrics] endpoint of the real daemon: /metrics scraped and parsed as
# Prometheus text format, /healthz answers.
. "$(dirname "$0")/lib.sh"

plan 7
PORT=$(free_port)
MPORT=$(free_port)
while [ "$MPORT" = "$PORT" ]; do MPORT=$(free_port); done
write_config "$PORT" "identify = hostname"
printf '\n[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT" >> "$WORK/kexwatch.conf"
check "kexwatchd starts with a metrics endpoint" start_daemon
n=0
while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; n=$((n + 1)); done \
    < "$KW_TESTDATA/corpus/published/published.log"
sleep 1
python3 - "$MPORT" "$n" <<'PY'
import re, sys, urllib.request
port, sent = sys.argv[1], int(sys.argv[2])
text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*) (-?[0-9.eE+-]+|NaN|[+-]Inf)$")
values, types, bad = {}, {}, 0
for line in text.splitlines():
    if line.startswith("# HELP "):
        continue
    if line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ", 3)
        types[name] = typ
        continue
    m = sample.match(line)
    if not m:
        print("# not Prometheus text:", line); bad = 1; continue
    values[m.group(1)] = float(m.group(2))
for name in values:
    if name not in types:
        print("# no TYPE for", name); bad = 1
if values.get("kexwatch_messages_udp_total", 0) < sent:
    print("# messages_udp", values.get("kexwatch_messages_udp_total"), "<", sent); bad = 1
for need in ("kexwatch_negotiations_failed_total", "kexwatch_store_pending", "kexwatch_webhook_pending",
             "kexwatch_database_bytes", "kexwatch_udp_kernel_drops_total", "kexwatch_alerts_sent_total"):
    if need not in values:
        print("# missing", need); bad = 1
if values.get("kexwatch_negotiations_failed_total", 0) < 9:
    print("# failures not counted"); bad = 1
sys.exit(bad)
PY
check "/metrics parses as Prometheus text with every metric typed" [ $? -eq 0 ]
is "/healthz answers ok" "$(python3 -c 'import sys,urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=5).read().decode().strip())' "$MPORT")" ok
python3 -c 'import sys,urllib.request
try:
    urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%s/metrics" % sys.argv[1], data=b"x"), timeout=5)
    sys.exit(1)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code in (405, 501) else 1)' "$MPORT"
check "POST is refused" [ $? -eq 0 ]
# endless headers (bounded here: at most 4 MiB in 10 s): the daemon answers
# or closes once they pass 8 KiB, instead of buffering them all
python3 - "$MPORT" "$DAEMON_PID" <<'PY'
import socket, sys, time
def rss(pid):
    return int([l for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS:")][0].split()[1])
before = rss(sys.argv[2])
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
sent, closed, answer, end = 0, False, b"", time.time() + 10
chunk = b"X-Filler: " + b"a" * 1000 + b"\r\n"
while sent < 4 << 20 and time.time() < end:
    try:
        s.sendall(chunk)
        sent += len(chunk)
    except OSError:
        closed = True
        break
try:
    s.settimeout(5)
    answer = s.recv(4096)
    closed = True
except OSError:
    closed = closed or False
after = rss(sys.argv[2])
print("# sent %d bytes of headers; closed %s; answer %r; daemon RSS %d -> %d KiB" % (sent, closed, answer[:40], before, after))
# what was sent may sit in the kernel's socket buffers (several MiB on loopback
# with autotuning), so the daemon's own growth is what is bounded: buffering the
# 4 MiB would grow its RSS past 3 MiB
ok = closed and (not answer or answer.split(b" ")[1][:1] == b"4") and after - before < 3072
sys.exit(0 if ok else 1)
PY
check "endless headers: refused or closed past 8 KiB, daemon RSS bounded" [ $? -eq 0 ]
is "/healthz still answers" "$(python3 -c 'import sys,urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=5).read().decode().strip())' "$MPORT")" ok
check "SIGTERM: exit status 0" stop_daemon
finish
