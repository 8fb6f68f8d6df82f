#!/bin/sh
# SPDX-License-Identifier: ISC
# Benchmark: the store on a file database (issue targets: >= 100,000
# negotiations stored per second; history queries under 200 ms). Builds an
# optimised library in build-bench-store/ and prints figures; asserts nothing.
# KW_BENCH_FAILURES (default 2000000) negotiations for the failures-only runs,
# KW_BENCH_OTHERS (default 1000000) for the others (0 skips); with
# KW_BENCH_QUERY_N (and KW_BENCH_QUERY_PCT, default 10) the history queries run
# on a database of that many negotiations, that % failures (the issue's figure:
# KW_BENCH_QUERY_N=10000000). KW_BENCH_DIR (default build-bench-store/) holds
# the databases (put it on the disk to measure).
set -eu
cd "$(dirname "$0")/../.."
TOP=$(pwd)
sh scripts/deps.sh
[ -x configure ] || ./autogen.sh > /dev/null
B="$TOP/build-bench-store"
mkdir -p "$B"
if [ ! -f "$B/Makefile" ]; then
    (cd "$B" && "$TOP/configure" --quiet --disable-unit-tests CFLAGS="-O2 -g")
fi
make -C "$B" --no-print-directory -j"$(nproc)" libkexwatch.a > /dev/null
# The store and its compiled-in migrations, unless the library has them.
EXTRA=""
if ! ar t "$B/libkexwatch.a" | grep -q 'store\.o$'; then
    sh sql/embed.sh sql "$B/store-bench-migrations.c"
    EXTRA="daemon/store.c $B/store-bench-migrations.c"
fi
LIBS=$(pkg-config --libs libevent libpcre2-8 sqlite3 inih jansson libsystemd 2>/dev/null ||
    pkg-config --libs libevent libpcre2-8 sqlite3 inih jansson)
# shellcheck disable=SC2086
gcc -std=c11 -O2 -g -I"$B" -I"$TOP/daemon" tests/bench/store_bench.c $EXTRA "$B/libkexwatch.a" $LIBS \
    -o "$B/store_bench"
DIR=${KW_BENCH_DIR:-$B}
echo "machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'), $(date -u +%Y-%m-%d)," \
    "SQLite $(pkg-config --modversion sqlite3), databases on $(df -T "$DIR" | awk 'NR == 2 { print $2 }')"
# shellcheck disable=SC2086
"$B/store_bench" "$DIR" "${KW_BENCH_FAILURES:-2000000}" "${KW_BENCH_OTHERS:-1000000}" \
    ${KW_BENCH_QUERY_N:+"$KW_BENCH_QUERY_N" "${KW_BENCH_QUERY_PCT:-10}"} 2>/dev/null
rm -f "$DIR"/bench-failures.db "$DIR"/bench-failures.db-wal "$DIR"/bench-failures.db-shm
