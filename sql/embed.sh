#!/bin/sh
# SPDX-License-Identifier: ISC
# Compiles the schema migrations into the program: reads SQLDIR/NNN-*.sql in
# order and writes a C file defining
#     const char *const store_migrations[];      the SQL of migration i+1
#     const char *const store_migration_names[]; its file name
#     const int store_migration_count;
# so an installed kexwatchd needs no sql/ directory.
# Usage: sh embed.sh SQLDIR OUTPUT.c
# Fails (and writes nothing) on a gap or duplicate in the numbering, an empty
# file, or control characters other than TAB in the SQL.
set -eu
LC_ALL=C
export LC_ALL

if [ $# -ne 2 ]; then
    echo "usage: $0 SQLDIR OUTPUT.c" >&2
    exit 2
fi
dir=$1
out=$2
tmp="$out.tmp$$"
trap 'rm -f "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

die() {
    echo "$0: $*" >&2
    exit 1
}

tab=$(printf '\t')
n=0
names=""
{
    echo "/* Generated from sql/NNN-*.sql by sql/embed.sh; do not edit. */"
    echo "extern const char *const store_migrations[];"
    echo "extern const char *const store_migration_names[];"
    echo "extern const int store_migration_count;"
    echo ""
    echo "const char *const store_migrations[] = {"
} > "$tmp"

for f in "$dir"/[0-9][0-9][0-9]-*.sql; do
    [ -f "$f" ] || die "no migrations (NNN-name.sql) in $dir"
    base=${f##*/}
    case $base in
    *[!A-Za-z0-9._-]*) die "$base: use only letters, digits, '.', '_' and '-' in migration names" ;;
    esac
    n=$((n + 1))
    want=$(printf '%03d' "$n")
    num=${base%%-*}
    [ "$num" = "$want" ] || die "$base: expected migration $want next (numbers start at 001, no gaps or repeats)"
    [ -s "$f" ] || die "$base: empty migration"
    if tr -d '\r\t\n' < "$f" | grep -q '[[:cntrl:]]'; then
        die "$base: control characters in SQL"
    fi
    # Each line becomes one string literal; they concatenate. '?' is escaped
    # too, because -std=c11 turns "??x" trigraphs into other characters.
    echo "    /* $base */" >> "$tmp"
    tr -d '\r' < "$f" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e "s/$tab/\\\\t/g" \
        -e 's/^/    "/' -e 's/$/\\n"/' >> "$tmp"
    echo "    ," >> "$tmp"
    names="$names \"$base\","
done

{
    echo "};"
    echo ""
    echo "const char *const store_migration_names[] = {$names};"
    echo ""
    echo "const int store_migration_count = $n;"
} >> "$tmp"

mv "$tmp" "$out"
trap - EXIT
