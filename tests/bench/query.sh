#!/bin/sh
# SPDX-License-Identifier: ISC
# Benchmark: the history queries of SPEC ("Query command line") through the
# real kexwatch binary on a database of KW_BENCH_QUERY_N negotiations
# (default 10,000,000) across KW_BENCH_QUERY_DEVICES devices (5,000) and
# KW_BENCH_QUERY_CLIENTS client types (200), about 10 % failed, spread over
# a year, in the fleet shape of query_gen.c (each device polled by its own
# four client types; QUERY_GEN_SHAPE=uniform for the old shape). The
# database is made by query_gen.c through the real schema before the daily
# counts, then migrated by the real store to the newest schema (timed; a
# database of an earlier run at an older schema is upgraded instead: the
# upgrade a user sees), and copied with keep_successes = 7d applied (the
# size per success counted only); all kept in KW_BENCH_DIR (default
# build-bench-query/) for the next run; KW_BENCH_REBUILD=1 makes them again.
# The density it prints is fixed by N / DEVICES: 10 M over 5,000 devices is
# 5.5 negotiations per device and day, 100 M is 55 (the issue's 100 M
# shape); KW_BENCH_QUERY_DEVICES=500 gives the 100 M density on 10 M
# (tests/bench/README.md). Each query runs three times; the best wall-clock
# time is printed and judged against issue 15's target (under 100 ms up to
# 10 M, under 300 ms above: the target for 100 M);
# KW_BENCH_KEEP=0 skips the keep_successes copy, KW_BENCH_QUERIES=0 the queries.
# KEXWATCH names the binary (default build/kexwatch), KEXWATCH_BEFORE one of
# before the daily counts (run on the unmigrated copy). Asserts nothing;
# exits 1 only when a query fails.
set -eu
cd "$(dirname "$0")/../.."
TOP=$(pwd)
N=${KW_BENCH_QUERY_N:-10000000}
NDEV=${KW_BENCH_QUERY_DEVICES:-5000}
NCLI=${KW_BENCH_QUERY_CLIENTS:-200}
B=${KW_BENCH_DIR:-$TOP/build-bench-query}
K=${KEXWATCH:-$TOP/build/kexwatch}
[ -x "$K" ] || { echo "query.sh: no kexwatch at $K (build it, or set KEXWATCH)" >&2; exit 1; }
mkdir -p "$B"
DB="$B/query-$N-$NDEV-$NCLI.db"
CFLAGS_SQLITE=$(pkg-config --cflags sqlite3 2> /dev/null || true)
LIBS_SQLITE=$(pkg-config --libs sqlite3 2> /dev/null || echo -lsqlite3)
# shellcheck disable=SC2086
${CC:-cc} -O2 -std=c11 -D_DEFAULT_SOURCE $CFLAGS_SQLITE -o "$B/query_gen" tests/bench/query_gen.c $LIBS_SQLITE
# the migrations before daily's: query_gen writes rows into that schema and
# the real store then builds the daily counts (timed: the one-time cost of
# the upgrade on a database this size)
set --
for f in sql/[0-9][0-9][0-9]-*.sql; do
    case $f in *-daily.sql) break ;; esac
    set -- "$@" "$f"
done
LATEST=$(set -- sql/[0-9][0-9][0-9]-*.sql && echo $#)
version() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA user_version").fetchone()[0])' "$1"; }
migrate() { # FROM TO: copies FROM, opens the copy with the real store (timed), renames it TO
    from_v=$(version "$1")
    cp "$1" "$DB.tmp"
    start=$(python3 -c 'import time; print(time.time())')
    KEXWATCH_CONFDIR="$TOP/conf" "$K" replay --db "$DB.tmp" /dev/null
    python3 -c 'import sys, time; print(f"migration from schema {sys.argv[2]} to {sys.argv[3]} (kexwatch replay --db opens it;'\
' the one-time upgrade of a database this size): {time.time() - float(sys.argv[1]):.1f} s")' "$start" "$from_v" "$LATEST"
    rm -f "$2" "$2-wal" "$2-shm"
    mv "$DB.tmp" "$2"
}
if [ ! -f "$DB.v0" ] || [ "${KW_BENCH_REBUILD:-0}" = 1 ]; then
    start=$(date +%s)
    rm -f "$DB.v0" "$DB.v0-wal" "$DB.v0-shm"
    "$B/query_gen" "$DB.v0" "$N" "$NDEV" "$NCLI" "$@"
    echo "built $DB.v0 (schema before daily) in $(($(date +%s) - start)) s ($(du -h "$DB.v0" | cut -f1))"
    rm -f "$DB"
fi
# the database every row kept, at the newest schema: from the one of a
# previous run when there is one (the upgrade a user's database sees), else
# from the one before daily
if [ ! -f "$DB" ]; then
    migrate "$DB.v0" "$DB"
elif [ "$(version "$DB")" != "$LATEST" ]; then
    migrate "$DB" "$DB"
fi
python3 - "$DB" "$N" "$NDEV" "$NCLI" <<'PY'
import sqlite3, sys
db, n, ndev, ncli = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = sqlite3.connect(db)
fd = c.execute("SELECT count(*) FROM daily WHERE failed = 1").fetchone()[0]
fm = c.execute("SELECT count(*) FROM monthly").fetchone()[0]
fr = c.execute("SELECT count(*) FROM negotiations WHERE failed = 1").fetchone()[0]
pairs = min(ndev * 4, ndev * ncli)  # query_gen's fleet shape: four client types per device
print(f"density: {n / ndev / 365:.1f} negotiations per device and day, {n / pairs / 365:.2f} per (device, client"
      f" type) pair and day ({pairs:,} pairs); {fr:,} failure rows counted in {fd:,} daily and {fm:,} monthly rows")
PY
# the steady state with [store] keep_successes = 7d: success rows of the
# whole days before it deleted (what the daemon's retention steps do, in one
# statement here), then the size per success that lives on as a count only
KEEP="$B/query-$N-$NDEV-$NCLI-keep7d.db"
# KW_BENCH_KEEP=0 skips that copy (and its queries): minutes on large databases
if [ "${KW_BENCH_KEEP:-1}" = 0 ]; then
    :
elif [ ! -f "$KEEP" ] || [ -n "$(find "$DB" -newer "$KEEP")" ] || [ "${KW_BENCH_REBUILD:-0}" = 1 ]; then
    rm -f "$KEEP"
    python3 - "$DB" "$KEEP" <<'PY'
import os, sqlite3, sys, time
db, keep = sys.argv[1:]
cut = (int(time.time()) // 86400 - 7) * 86400
c = sqlite3.connect(db)
c.execute("VACUUM INTO ?", (keep,))
c.close()
k = sqlite3.connect(keep)
old = k.execute("SELECT count(*) FROM negotiations WHERE failed = 0 AND time < ?", (cut,)).fetchone()[0]
# what the daemon's retention steps do: count the success rows in daily
# (the statement of daemon/store.c st_count_ok), then delete them
k.execute("INSERT INTO daily (failed, day, device_id, client_id, category, mismatch, client_list, n, first, last)"
          " SELECT 0, (time - ((time % 86400) + 86400) % 86400) / 86400, device_id, ifnull(client_id, 0),"
          " ifnull(category, ''), ifnull(mismatch, ''), ifnull(client_list, 0), count(*), min(time), max(time)"
          " FROM negotiations WHERE failed = 0 AND time < ? GROUP BY 2, 3, 4, 5, 6, 7"
          " ON CONFLICT (failed, day, device_id, client_id, category, mismatch, client_list) DO UPDATE SET"
          " n = n + excluded.n, first = min(first, excluded.first), last = max(last, excluded.last)", (cut,))
k.execute("DELETE FROM negotiations WHERE failed = 0 AND time < ?", (cut,))
k.commit()
k.execute("VACUUM")
size_keep = os.path.getsize(keep)
k.execute("VACUUM INTO ?", (keep + ".nocounts",))
k.close()
n = sqlite3.connect(keep + ".nocounts")
rows = n.execute("SELECT count(*) FROM daily WHERE failed = 0 AND day < ?", (cut // 86400,)).fetchone()[0]
n.execute("DELETE FROM daily WHERE failed = 0 AND day < ?", (cut // 86400,))
n.commit()
n.execute("VACUUM")
size_none = os.path.getsize(keep + ".nocounts")
n.close()
os.remove(keep + ".nocounts")
full = os.path.getsize(db)
print(f"database: {full / 1e6:,.0f} MB with every row; {size_keep / 1e6:,.0f} MB with keep_successes = 7d "
      f"({old:,} success rows older than 7 days deleted, counted in {rows:,} daily rows)")
print(f"bytes per success older than keep_successes: {(size_keep - size_none) / max(old, 1):.2f} "
      f"(the daily success rows: {(size_keep - size_none) / 1e6:,.1f} MB)")
PY
fi
DEV=10.0.0.42 # query_gen's device 42

# KEXWATCH_BEFORE: a kexwatch without daily, run on the database before the
# migration, for the before/after table
run_queries() { # KEXWATCH DB LABEL
python3 - "$1" "$2" "$DEV" "$N" "$NDEV" "$NCLI" "$3" <<'PY'
import subprocess, sys, time
k, db, dev, n, ndev, ncli, label = sys.argv[1:]
queries = [
    ("failures (--by client, --since 30d)", ["failures"]),
    ("failures --by device", ["failures", "--by", "device"]),
    ("failures --by category", ["failures", "--by", "category"]),
    ("failures --by algorithm", ["failures", "--by", "algorithm"]),
    ("failures --by mismatch", ["failures", "--by", "mismatch"]),
    ("failures --since 90d (cuts months)", ["failures", "--since", "90d"]),
    ("devices --since 90d", ["devices", "--since", "90d"]),
    ("failures --since 365d --by client", ["failures", "--since", "365d", "--by", "client"]),
    ("failures --since 365d --by algorithm", ["failures", "--since", "365d", "--by", "algorithm"]),
    ("failures --since 365d --by device", ["failures", "--since", "365d", "--by", "device"]),
    ("failures --since 365d --by category", ["failures", "--since", "365d", "--by", "category"]),
    ("failures --since 365d --by mismatch", ["failures", "--since", "365d", "--by", "mismatch"]),
    ("failures --since 365d --device KEY", ["failures", "--since", "365d", "--device", dev, "--by", "mismatch"]),
    ("devices --since 365d", ["devices", "--since", "365d"]),
    ("device KEY --since 365d", ["device", dev, "--since", "365d"]),
    ("failures --device KEY --by mismatch", ["failures", "--device", dev, "--by", "mismatch"]),
    ("failures --by client --format json", ["failures", "--format", "json"]),
    ("devices", ["devices"]),
    ("device KEY", ["device", dev]),
    ("clients", ["clients"]),
    ("clients --since 365d --format json", ["clients", "--since", "365d", "--format", "json"]),
    ("daily (console chart, 30d)", ["daily"]),
    ("daily --since 365d", ["daily", "--since", "365d"]),
    # two databases merged (ATTACH): the same file twice, so twice the rows
    ("merged x2: failures --by client", ["failures", "--db", db, "--db", db]),
    ("merged x2: failures --by mismatch", ["failures", "--db", db, "--db", db, "--by", "mismatch"]),
    ("merged x2: devices", ["devices", "--db", db, "--db", db]),
    ("merged x2: clients", ["clients", "--db", db, "--db", db]),
    ("merged x2: failures --since 365d", ["failures", "--db", db, "--db", db, "--since", "365d"]),
    ("merged x2: failures --since 365d --by device", ["failures", "--db", db, "--db", db, "--since", "365d", "--by", "device"]),
    ("merged x2: devices --since 365d", ["devices", "--db", db, "--db", db, "--since", "365d"]),
    ("merged x2: clients --since 365d", ["clients", "--db", db, "--db", db, "--since", "365d"]),
]
# issue 15's targets: under 100 ms on 10 M negotiations, under 300 ms on 100 M
target = 100 if int(n) <= 10000000 else 300
print(f"{label}: {int(n):,} negotiations, {int(ndev):,} devices, {int(ncli):,} client types; best of 3"
      f" (target < {target} ms)")
print(f"{'query':40} {'best ms':>8} {'rows':>6}  verdict")
bad = 0
for name, args in queries:
    best, rows = None, 0
    for _ in range(3):
        t = time.perf_counter()
        r = subprocess.run([k, "--db", db] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dt = (time.perf_counter() - t) * 1000
        if r.returncode != 0:
            print(f"{name}: exit {r.returncode}: {r.stderr.decode().strip()}", file=sys.stderr)
            bad = 1
            break
        rows = max(0, r.stdout.count(b"\n") - 1)
        best = dt if best is None else min(best, dt)
    if best is not None:
        print(f"{name:40} {best:8.1f} {rows:6}  {'ok' if best < target else 'SLOW'}")
sys.exit(bad)
PY
}
if [ -n "${KEXWATCH_BEFORE:-}" ]; then
    run_queries "$KEXWATCH_BEFORE" "$DB.v0" "before (rows only, $KEXWATCH_BEFORE)"
fi
if [ "${KW_BENCH_QUERIES:-1}" != 0 ]; then # KW_BENCH_QUERIES=0: sizes only
    run_queries "$K" "$DB" "with daily and monthly counts, every row kept"
    [ "${KW_BENCH_KEEP:-1}" = 0 ] || run_queries "$K" "$KEEP" "with daily and monthly counts, keep_successes = 7d"
fi
