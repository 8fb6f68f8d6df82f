#!/bin/sh
# SPDX-License-Identifier: ISC
# Puts an SPDX licence line at the top of every source file git tracks:
# C sources and headers ("/* SPDX-License-Identifier: ISC */" as line 1),
# shell scripts (after the #! line), Makefile.am and configure.ac ("#"/"dnl").
# Files that have one in their first two lines are left alone.
#   sh scripts/spdx.sh          add the missing lines
#   sh scripts/spdx.sh --check  list the files without one; exit 1 if any
set -eu
cd "$(dirname "$0")/.."
TAG="SPDX-License-Identifier: ISC"
check=""
[ "${1:-}" = "--check" ] && check=yes
git ls-files -- '*.c' '*.h' '*.sh' Makefile.am configure.ac | while IFS= read -r f; do
    [ -f "$f" ] || continue
    head -n 2 "$f" | grep -q 'SPDX-License-Identifier:' && continue
    if [ -n "$check" ]; then
        echo "$f"
        continue
    fi
    tmp="$f.spdx.$$"
    case "$f" in
    *.c | *.h) { echo "/* $TAG */"; cat "$f"; } > "$tmp" ;;
    configure.ac) { echo "dnl $TAG"; cat "$f"; } > "$tmp" ;;
    *)
        if head -n 1 "$f" | grep -q '^#!'; then
            { head -n 1 "$f"; echo "# $TAG"; tail -n +2 "$f"; } > "$tmp"
        else
            { echo "# $TAG"; cat "$f"; } > "$tmp"
        fi
        ;;
    esac
    chmod --reference="$f" "$tmp"
    mv "$tmp" "$f"
done > /tmp/spdx.missing.$$
if [ -n "$check" ] && [ -s /tmp/spdx.missing.$$ ]; then
    cat /tmp/spdx.missing.$$
    rm -f /tmp/spdx.missing.$$
    exit 1
fi
rm -f /tmp/spdx.missing.$$
