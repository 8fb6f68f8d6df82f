#!/bin/sh
# SPDX-License-Identifier: ISC
# Daily and monthly counts answer like the rows: every history query
# (failures --by each, --device, devices, device KEY, clients, daily, and merged
# over two --db) gives byte for byte the JSON that the same query gives from
# the rows alone (hidden --rows-only) and from daily counts and rows without
# the monthly ones (hidden --days-only), on the corpus (stored by replay
# --db, so the writer made the counts) and on a year of generated history
# (rows written straight into a database of the schema before daily, so the
# migrations made the counts), over windows of whole months, whole days,
# partial days at either edge, windows that cut through months, no whole
# day at all, and edges given in other time zones. A wrong count, daily or
# monthly, is noticed (the comparison can fail).
. "$(dirname "$0")/lib.sh"

export KEXWATCH_CONFDIR="$KW_SRCDIR/conf"
C="$KW_TESTDATA/corpus"
A="$WORK/corpus.db"
G="$WORK/gen.db"
plan 12

"$KEXWATCH" -c "$C/openssh-lab/inventory.conf" replay --db "$A" "$C"/openssh-lab/*.log > /dev/null 2> "$WORK/r1.err" &&
    "$KEXWATCH" -c "$C/huawei-assumed/huawei-inventory.conf" replay --db "$A" "$C/huawei-assumed/huawei.log" \
        > /dev/null 2> "$WORK/r2.err"
is "replay --db stores the corpus" "$?" 0

# a year of a fleet's history: the schema before daily, rows written
# directly, then the real store migrates (replay --db opens it read-write)
gen_year "$G" 150000 300 40 &&
    "$KEXWATCH" replay --db "$G" /dev/null > /dev/null 2> "$WORK/mig.err"
is "a generated year of 150,000 negotiations, migrated by the store" "$?" 0

q() { sqlite3 "$1" "$2" 2> /dev/null || python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }
# (successes are counted when their rows go: none yet)
check "the counts are there and add up to the failures (corpus by the writer, the year by the migrations)" \
    test "$(q "$A" 'SELECT sum(n) FROM daily')" = "$(q "$A" 'SELECT count(*) FROM negotiations WHERE failed = 1')" -a \
    "$(q "$G" 'SELECT sum(n) FROM daily')" = "$(q "$G" 'SELECT count(*) FROM negotiations WHERE failed = 1')" -a \
    "$(q "$G" 'SELECT sum(n) FROM monthly')" = "$(q "$G" 'SELECT count(*) FROM negotiations WHERE failed = 1')" -a \
    "$(q "$G" 'SELECT count(*) FROM daily WHERE failed = 1')" -gt 1000

# same QUERY... : the query's JSON with the counts and from the rows alone;
# a difference is kept in $WORK/diffs
: > "$WORK/diffs"
RUNS=0
same() {
    RUNS=$((RUNS + 1))
    "$KEXWATCH" "$@" --format json > "$WORK/a.json" 2> "$WORK/a.err"
    ra=$?
    "$KEXWATCH" "$@" --rows-only --format json > "$WORK/b.json" 2> "$WORK/b.err"
    rb=$?
    "$KEXWATCH" "$@" --days-only --format json > "$WORK/c.json" 2> "$WORK/c.err"
    rc=$?
    if [ "$ra" != 0 ] || [ "$rb" != 0 ] || [ "$rc" != 0 ] || ! cmp -s "$WORK/a.json" "$WORK/b.json" ||
        ! cmp -s "$WORK/c.json" "$WORK/b.json" || [ ! -s "$WORK/a.json" ]; then
        { echo "differs: $* (exit $ra/$rb/$rc)"; diff "$WORK/a.json" "$WORK/b.json" | head -5
            diff "$WORK/c.json" "$WORK/b.json" | head -5; cat "$WORK/a.err"; } >> "$WORK/diffs"
    fi
}
# the failures queries over a window (WIN: two options or more)
failures_all() { # DBOPTS WIN...
    for by in client device category algorithm mismatch; do
        case "$by,$1" in algorithm,*--db*--db*) continue ;; esac # one database only
        # shellcheck disable=SC2086
        same $1 failures --by "$by" $2
    done
}

# the corpus was logged on 2026-11-24 between 14:50 and 14:51 (lab) and on
# other days (Huawei); its windows cut through it
for win in "--from 2026-11-01T00:00:00Z --until 2026-12-01T00:00:00Z" \
    "--from 2026-11-24T14:50:15Z --until 2026-12-01T00:00:00Z" \
    "--from 2026-11-20T00:00:00Z --until 2026-11-24T14:50:18Z" \
    "--from 2026-11-24T14:50:12Z --until 2026-11-24T14:50:20Z" \
    "--from 2026-11-24T20:20:14+05:30 --until 2026-11-24T06:50:19-08:00" \
    "--from 2026-11-23T00:00:00+05:30 --until 2026-11-25T00:00:00-08:00" \
    "--since 36500d" "--since 14d"; do
    failures_all "--db $A" "$win"
    # shellcheck disable=SC2086
    same --db "$A" failures --device edge-modern-1 --by mismatch $win
done
for since in 14d 36500d; do
    same --db "$A" daily --since "$since"
    same --db "$A" devices --since "$since"
    same --db "$A" device edge-modern-1 --since "$since"
    same --db "$A" clients --since "$since"
done
check "the corpus: $RUNS queries with counts and from the rows give the same JSON" test ! -s "$WORK/diffs"
sed 's/^/# /' "$WORK/diffs"

# the generated year: edges at any hour, one of them in other zones
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
NOW=$(date +%s)
DAY0=$(date -u -d "@$((NOW - 100 * 86400))" +%Y-%m-%d)
DAY1=$(date -u -d "@$((NOW - 40 * 86400))" +%Y-%m-%d)
# months: the first day of the month 4 and 1 months ago, and the 15th of
# the month 7 months ago (windows of whole months, and ones that cut through)
MON4=$(date -u -d "$(date -u +%Y-%m-15) -4 months" +%Y-%m-01)
MON1=$(date -u -d "$(date -u +%Y-%m-15) -1 month" +%Y-%m-01)
MID7=$(date -u -d "$(date -u +%Y-%m-15) -7 months" +%Y-%m-15)
: > "$WORK/diffs"
RUNS=0
for win in "--since 30d" "--since 365d" "--since 3650d" \
    "--from $(utc $((NOW - 200 * 86400 + 2222))) --until $(utc $((NOW - 3 * 86400 - 18000)))" \
    "--from $(utc $((NOW - 30 * 86400 + 1))) --until $(utc $((NOW - 29 * 86400 - 1)))" \
    "--from ${DAY0}T00:00:00+05:30 --until ${DAY1}T00:00:00-08:00" \
    "--from ${DAY0} --until ${DAY1}" \
    "--from ${MON4} --until ${MON1}" "--from ${MON4}T00:00:00Z --until ${MON1}T00:00:01Z" \
    "--from ${MID7}T13:14:15Z --until ${MON1}" "--from ${MID7} --until $(utc $((NOW - 86400 * 20 - 777)))" \
    "--from ${MON4}T00:00:00+02:00"; do
    failures_all "--db $G" "$win"
    # shellcheck disable=SC2086
    same --db "$G" failures --device 10.0.0.42 --by client $win
done
for since in 30d 365d; do
    same --db "$G" daily --since "$since"
    same --db "$G" devices --since "$since"
    same --db "$G" device 10.0.0.42 --since "$since"
    same --db "$G" clients --since "$since"
done
check "the generated year: $RUNS queries with counts and from the rows give the same JSON" test ! -s "$WORK/diffs"
sed 's/^/# /' "$WORK/diffs"

# merged: the corpus and the year, each database's counts and rows
: > "$WORK/diffs"
RUNS=0
for win in "--since 365d" "--from ${DAY0}T07:13:00Z --until 2026-11-24T14:50:18+01:00" "--since 36500d" \
    "--from ${MID7}T13:14:15Z --until ${MON1}"; do
    failures_all "--db $A --db $G" "$win"
done
same --db "$A" --db "$G" failures --device edge-modern-1 --by category --since 36500d
same --db "$A" --db "$G" devices --since 365d
same --db "$A" --db "$G" clients --since 365d
check "merged over two --db: $RUNS queries with counts and from the rows give the same JSON" test ! -s "$WORK/diffs"
sed 's/^/# /' "$WORK/diffs"

# the year's answers come from the counts: a wrong count changes them, a
# monthly one the usual answer (a whole month inside the window), a daily
# one the answer without monthly counts
"$KEXWATCH" --db "$G" failures --by category --since 365d --format json > "$WORK/good-a.json"
"$KEXWATCH" --db "$G" failures --by category --since 365d --rows-only --format json > "$WORK/good-b.json"
cp "$G" "$WORK/bad.db"
q "$WORK/bad.db" "UPDATE daily SET n = n + 2 WHERE failed = 1 AND day = (SELECT max(day) - 100 FROM daily)" > /dev/null
q "$WORK/bad.db" "UPDATE monthly SET n = n + 1 WHERE (month, device_id, client_id, category, mismatch, client_list)
    IN (SELECT month, device_id, client_id, category, mismatch, client_list FROM monthly
        WHERE month = (SELECT max(month) FROM monthly WHERE month < (SELECT max(month) FROM monthly)) LIMIT 1)" > /dev/null
"$KEXWATCH" --db "$WORK/bad.db" failures --by category --since 365d --format json > "$WORK/bad-a.json"
"$KEXWATCH" --db "$WORK/bad.db" failures --by category --since 365d --rows-only --format json > "$WORK/bad-b.json"
"$KEXWATCH" --db "$WORK/bad.db" failures --by category --since 365d --days-only --format json > "$WORK/bad-c.json"
# shellcheck disable=SC2016 # $1 $2 $3 are the inner shell's
check "a monthly count changed by hand shows in the answer and not in the rows' (the comparison can fail)" \
    sh -c '! cmp -s "$1" "$2" && cmp -s "$2" "$3"' - "$WORK/bad-a.json" "$WORK/bad-b.json" "$WORK/good-b.json"
# shellcheck disable=SC2016 # $1 $2 $3 are the inner shell's
check "... a daily count changed by hand in the answer without monthly counts" \
    sh -c '! cmp -s "$1" "$2" && ! cmp -s "$1" "$3"' - "$WORK/bad-c.json" "$WORK/bad-b.json" "$WORK/bad-a.json"
check "... and the untouched year answers like its rows" cmp -s "$WORK/good-a.json" "$WORK/good-b.json"

# retention and keep_successes through the real daemon: a database whose
# history is older than keep_successes keeps its failures and counts, and
# loses only the success rows of the whole days before it
gen_year "$WORK/keep.db" 20000 50 10 &&
    "$KEXWATCH" replay --db "$WORK/keep.db" /dev/null > /dev/null 2> "$WORK/mig2.err"
cp "$WORK/keep.db" "$WORK/keep-before.db"
CUT=$(((NOW / 86400 - 2) * 86400))
OLD_OK=$(q "$WORK/keep.db" "SELECT count(*) FROM negotiations WHERE failed = 0 AND time < $CUT")
write_config "$(free_port)" && printf '[store]\ndatabase = %s\nkeep_successes = 2d\n' "$WORK/keep.db" \
    > "$WORK/store.conf" && sed -i "/^\[store\]/,/^database/d" "$WORK/kexwatch.conf" &&
    cat "$WORK/store.conf" >> "$WORK/kexwatch.conf"
start_daemon
deadline=$(($(date +%s) + 60))
while [ "$(q "$WORK/keep.db" "SELECT count(*) FROM negotiations WHERE failed = 0 AND time < $CUT")" != 0 ] &&
    [ "$(date +%s)" -lt "$deadline" ]; do
    sleep 1
done
stop_daemon
check "keep_successes = 2d: the daemon deleted the $OLD_OK success rows of the days before, in steps" \
    test "$(q "$WORK/keep.db" "SELECT count(*) FROM negotiations WHERE failed = 0 AND time < $CUT")" = 0 \
    -a "$OLD_OK" -gt 15000
check "... and kept every failure row, every count, and the successes since" \
    test "$(q "$WORK/keep.db" 'SELECT count(*) FROM negotiations WHERE failed = 1')" = \
    "$(q "$WORK/keep-before.db" 'SELECT count(*) FROM negotiations WHERE failed = 1')" -a \
    "$(q "$WORK/keep.db" 'SELECT (SELECT sum(n) FROM daily) + (SELECT count(*) FROM negotiations WHERE failed = 0)')" \
    = 20000 -a \
    "$(q "$WORK/keep.db" "SELECT count(*) FROM negotiations WHERE failed = 0 AND time >= $CUT")" = \
    "$(q "$WORK/keep-before.db" "SELECT count(*) FROM negotiations WHERE failed = 0 AND time >= $CUT")"
: > "$WORK/diffs"
for cmd in "failures --by client" "failures --by algorithm" "devices" "clients"; do
    # shellcheck disable=SC2086
    "$KEXWATCH" --db "$WORK/keep.db" $cmd --since 365d --format json > "$WORK/k1.json"
    # shellcheck disable=SC2086
    "$KEXWATCH" --db "$WORK/keep-before.db" $cmd --since 365d --rows-only --format json > "$WORK/k2.json"
    cmp -s "$WORK/k1.json" "$WORK/k2.json" || echo "differs: $cmd" >> "$WORK/diffs"
done
check "... and answers every failures question as the rows did before" test ! -s "$WORK/diffs"
sed 's/^/# /' "$WORK/diffs"
finish
