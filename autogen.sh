#!/bin/sh
# SPDX-License-Identifier: ISC
# Generates ./configure. tap-driver.sh comes from the installed automake.
set -eu
cd "$(dirname "$0")"
mkdir -p build-aux m4
autoreconf -fi
libdir=$(automake --print-libdir)
cp -f "$libdir/tap-driver.sh" build-aux/tap-driver.sh
