#!/bin/sh
# SPDX-License-Identifier: ISC
# Benchmark: lines per second through the stages after framing, on one core
# (issue targets: >= 2,000,000 ordinary lines/s through the pre-filter,
# >= 200,000 matched SSH lines/s through patterns + correlation + engine).
# Builds an optimised library in build-bench-pipeline/ and prints figures.
# KW_BENCH_SECONDS (default 3) per measurement.
set -eu
cd "$(dirname "$0")/../.."
TOP=$(pwd)
sh scripts/deps.sh
[ -x configure ] || ./autogen.sh > /dev/null
B="$TOP/build-bench-pipeline"
mkdir -p "$B"
if [ ! -f "$B/Makefile" ]; then
    (cd "$B" && "$TOP/configure" --quiet --disable-unit-tests CFLAGS="-O2 -g")
fi
make -C "$B" --no-print-directory -j"$(nproc)" libkexwatch.a > /dev/null
LIBS=$(pkg-config --libs libevent libpcre2-8 sqlite3 inih jansson libsystemd 2>/dev/null || pkg-config --libs libevent libpcre2-8 sqlite3 inih jansson)
gcc -std=c11 -O2 -g -I"$B" -I"$TOP/daemon" tests/bench/pipeline_bench.c "$B/libkexwatch.a" $LIBS -o "$B/pipeline_bench"
echo "machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'), $(date -u +%Y-%m-%d)"
taskset -c 1 "$B/pipeline_bench" "$TOP/conf" "$TOP/tests/data/corpus" "${KW_BENCH_SECONDS:-3}" 2>/dev/null ||
    "$B/pipeline_bench" "$TOP/conf" "$TOP/tests/data/corpus" "${KW_BENCH_SECONDS:-3}"
