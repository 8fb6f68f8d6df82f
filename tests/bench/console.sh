#!/bin/sh
# SPDX-License-Identifier: ISC
# Benchmark: every console page and API endpoint, for each window (24h, 7d,
# 30d, 365d), served by the real kexwatchd ([http] listen on 127.0.0.1) over
# the history-query bench database of tests/bench/query.sh (10 M
# negotiations, 5,000 devices, 200 client types, a year; made by query.sh —
# run it first — and copied here so the daemon's writer touches only the
# copy). Each URL is fetched three times; the best wall-clock time of the
# whole answer is printed, with its size. KW_BENCH_CONSOLE_DB names another
# database; KW_BENCH_DIR is query.sh's directory (default build-bench-query/).
# KEXWATCHD names the daemon (default build/kexwatchd). Every request is
# bounded (120 s). Asserts nothing; exits 1 when a request fails.
set -eu
cd "$(dirname "$0")/../.."
TOP=$(pwd)
B=${KW_BENCH_DIR:-$TOP/build-bench-query}
SRC=${KW_BENCH_CONSOLE_DB:-$B/query-10000000-5000-200.db}
D=${KEXWATCHD:-$TOP/build/kexwatchd}
[ -x "$D" ] || { echo "console.sh: no kexwatchd at $D (build it, or set KEXWATCHD)" >&2; exit 1; }
[ -f "$SRC" ] || { echo "console.sh: no database at $SRC: run tests/bench/query.sh first" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/kwbench-console.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2> /dev/null; rm -rf "$W"' EXIT
cp "$SRC" "$W/kexwatch.db"
PORTS=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
set -- $PORTS
cat > "$W/kexwatch.conf" <<EOF
[listen]
tcp = 127.0.0.1:$1

[store]
database = $W/kexwatch.db
; as query.sh's database was made: nothing cut while the pages are timed
retention_days = 400
keep_successes = 0

[alerts]
stdout = no

[http]
listen = 127.0.0.1:$2
EOF
HPORT=$2
KEXWATCH_CONFDIR="$TOP/conf" "$D" -c "$W/kexwatch.conf" > "$W/out" 2> "$W/err" &
PID=$!
for _ in $(seq 1 600); do
    grep -q started "$W/err" && break
    kill -0 "$PID" 2> /dev/null || { cat "$W/err" >&2; exit 1; }
    sleep 0.1
done
KEY=$(python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT dv.key FROM daily d JOIN devices dv ON dv.id = d.device_id WHERE d.failed = 1"
                " GROUP BY d.device_id ORDER BY sum(d.n) DESC LIMIT 1").fetchone()[0])' "$W/kexwatch.db")
echo "database: $SRC ($(du -h "$SRC" | cut -f1)), $(python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT count(*) FROM negotiations").fetchone()[0], "negotiations,",
      c.execute("SELECT count(*) FROM devices").fetchone()[0], "devices,",
      c.execute("SELECT count(*) FROM clients").fetchone()[0], "client types")' "$W/kexwatch.db")"
echo "device page and devices/KEY for $KEY (the device with the most failures)"
python3 - "$HPORT" "$KEY" <<'PY'
import http.client, sys, time, urllib.parse
port, key = int(sys.argv[1]), urllib.parse.quote(sys.argv[2], safe="")
bucket = {"24h": "hour", "7d": "day", "30d": "day", "365d": "month"}
urls = [
    ("Overview", "/?window={w}"),
    ("Client types", "/clients?window={w}"),
    ("Devices", "/devices?window={w}"),
    ("Device", "/device?key={k}&window={w}"),
    ("/api/v1/failures", "/api/v1/failures?since={w}"),
    ("/api/v1/failures by device", "/api/v1/failures?since={w}&by=device"),
    ("/api/v1/devices", "/api/v1/devices?since={w}"),
    ("/api/v1/devices/KEY", "/api/v1/devices/{k}?since={w}"),
    ("/api/v1/clients", "/api/v1/clients?since={w}"),
    ("/api/v1/alerts", "/api/v1/alerts?since={w}"),
    ("/api/v1/daily (chart)", "/api/v1/daily?since={w}&bucket={b}"),
    ("/api/v1/daily by client", "/api/v1/daily?since={w}&bucket={b}&by=client"),
    ("/api/v1/daily client-device", "/api/v1/daily?since={w}&bucket=window&by=client-device"),
]
def get(path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t = time.perf_counter()
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    dt = time.perf_counter() - t
    c.close()
    if r.status != 200:
        print(f"{path}: HTTP {r.status}: {body[:200]!r}", file=sys.stderr)
        sys.exit(1)
    return dt, len(body)
wins = ["24h", "7d", "30d", "365d"]
print(f"{'page or endpoint':30}" + "".join(f"{w:>16}" for w in wins) + "   (best of 3, ms; size of the 365d answer)")
for name, pat in urls:
    cells, size = [], 0
    for w in wins:
        path = pat.format(w=w, k=key, b=bucket[w])
        best = min(get(path) for _ in range(3))
        cells.append(f"{best[0] * 1000:16.0f}")
        size = best[1]
    print(f"{name:30}" + "".join(cells) + f"   {size / 1024:.0f} KiB")
PY
kill "$PID"
wait "$PID" || true
PID=""
