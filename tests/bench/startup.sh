#!/bin/sh
# SPDX-License-Identifier: ISC
# Benchmark: kexwatchd's start-up time against the size of its database
# (issue 15: start-up independent of the database size). Starts the real
# daemon (KEXWATCHD, default build/kexwatchd) on each DB given (a copy, in
# KW_BENCH_DIR, default build-bench-query/, so the file is not changed) and
# on a new empty one, three times each, and prints the best time from exec
# to its "started" line. The databases must be at the daemon's schema
# (tests/bench/query.sh leaves them so); the integrity check runs after the
# start, in the background, and is not counted. Asserts nothing.
#   sh tests/bench/startup.sh build-bench-query/query-10000000-5000-200.db
set -eu
cd "$(dirname "$0")/../.."
TOP=$(pwd)
D=${KEXWATCHD:-$TOP/build/kexwatchd}
B=${KW_BENCH_DIR:-$TOP/build-bench-query}
[ -x "$D" ] || { echo "startup.sh: no kexwatchd at $D" >&2; exit 1; }
mkdir -p "$B"
python3 - "$D" "$B" "$TOP/conf" "$@" <<'PY'
import os, shutil, socket, subprocess, sys, time
d, b, confdir, dbs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def start(db):
    conf = os.path.join(b, "startup.conf")
    p = port()
    with open(conf, "w") as f:
        f.write(f"[listen]\nudp = 127.0.0.1:{p}\n\n[store]\ndatabase = {db}\n\n[alerts]\nstdout = no\n")
    err = open(os.path.join(b, "startup.err"), "w+")
    t = time.perf_counter()
    proc = subprocess.Popen([d, "-c", conf], stdout=subprocess.DEVNULL, stderr=err,
                            env=dict(os.environ, KEXWATCH_CONFDIR=confdir))
    dt = None
    while time.perf_counter() - t < 60 and proc.poll() is None:
        err.seek(0)
        if "started" in err.read():
            dt = time.perf_counter() - t
            break
        time.sleep(0.002)
    proc.terminate(); proc.wait(30)
    return dt
print(f"{'database':58} {'size':>9} {'best start-up':>14}")
for db in ["(new, empty)"] + dbs:
    copy = os.path.join(b, "startup.db")
    for ext in ("", "-wal", "-shm"):
        if os.path.exists(copy + ext):
            os.remove(copy + ext)
    size = 0
    if db != "(new, empty)":
        shutil.copy(db, copy)
        size = os.path.getsize(copy)
    best = None
    for _ in range(3):
        dt = start(copy)
        best = dt if best is None or (dt is not None and dt < best) else best
    print(f"{os.path.basename(db):58} {size / 1e6:7.0f} MB {best * 1000 if best else float('nan'):11.1f} ms")
    for ext in ("", "-wal", "-shm"):
        if os.path.exists(copy + ext):
            os.remove(copy + ext)
PY
