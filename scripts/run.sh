#!/bin/sh
# SPDX-License-Identifier: ISC
# Quick start: install what is missing, build, and run kexwatchd in the
# foreground on conf/kexwatch.conf (syslog on 127.0.0.1:5514 UDP+TCP and
# [::1]:5514 UDP, database and alerts under ./var/, alerts also on stdout).
# Extra arguments go to kexwatchd (e.g. -d for debug logging).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
[ -x configure ] || ./autogen.sh
mkdir -p build var
cd build
[ -f Makefile ] || ../configure --quiet
make -j"$(nproc)" --no-print-directory kexwatchd kexwatch
cd ..
exec ./build/kexwatchd -c conf/kexwatch.conf "$@"
