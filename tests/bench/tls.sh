#!/bin/bash
# SPDX-License-Identifier: ISC
# TLS ingest benchmark (RFC 5425): kexwatchd's [listen] tls against
# rsyslog's imtcp with the gtls and with the ossl stream driver, on the same
# certificates (server certificate from a throw-away CA, client certificates
# required and verified against it, no name check), over 1 and 50
# connections; plain TCP over 1 and 50 connections beside them for the cost
# of TLS itself. This is ingest.sh with its TLS scenarios: each daemon pinned
# to one core and the generator (kwgen.c, built with OpenSSL: handshakes
# done before the clock starts, then octet-counted lines as fast as the
# daemon reads) to the other; completion is read once the generator is done
# (the figure polled every 50 ms until it reaches what was sent). Each case
# sends KW_BENCH_COUNT lines (default 6,000,000: several seconds for each
# daemon), at most 60 s. Prints a table and the ratios; asserts nothing.
# About three minutes.
# Run it under the CPU lock: flock /tmp/kw-cpu.lock bash tests/bench/tls.sh
# How to read it: tests/bench/README.md, "tls.sh".
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
export KW_BENCH_COUNT=${KW_BENCH_COUNT:-6000000}
export KW_BENCH_SCENARIOS=${KW_BENCH_SCENARIOS:-tcp-1 tcp-50 tls-1 tls-50}
export KW_BENCH_DAEMONS=${KW_BENCH_DAEMONS:-kexwatchd rsyslog rsyslog-ossl}
exec bash "$SRCDIR/tests/bench/ingest.sh" "$@"
