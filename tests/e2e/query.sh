#!/bin/sh
# SPDX-License-Identifier: ISC
# The history queries (kexwatch failures, devices, device) over a database
# made by replaying the corpus: the counts agree with what the corpus's
# expected*.tsv files say (computed here from those files, never from the
# tool's own output), the three formats are well formed, the database is
# only read, errors have the documented exit codes, and the statements use
# the indexes sql/README names.
. "$(dirname "$0")/lib.sh"

export KEXWATCH_CONFDIR="$KW_SRCDIR/conf"
C="$KW_TESTDATA/corpus"
DB="$WORK/q.db"
# the corpus was logged on 2026-11-24; a fixed window keeps the test true
# whatever day it runs
WIN="--from 2026-11-01T00:00:00Z --until 2026-12-01T00:00:00Z"

plan 34

"$KEXWATCH" -c "$C/openssh-lab/inventory.conf" replay --db "$DB" "$C"/openssh-lab/*.log > /dev/null 2> "$WORK/r1.err"
is "replay --db stores the OpenSSH lab" "$?" 0
"$KEXWATCH" -c "$C/huawei-assumed/huawei-inventory.conf" replay --db "$DB" "$C/huawei-assumed/huawei.log" \
    > /dev/null 2> "$WORK/r2.err"
is "replay --db stores the Huawei corpus" "$?" 0

for by in client device category mismatch algorithm; do
    # shellcheck disable=SC2086 # WIN is two options
    "$KEXWATCH" --db "$DB" failures $WIN --by "$by" --format json > "$WORK/by-$by.json" 2> "$WORK/by-$by.err"
    echo $? > "$WORK/by-$by.rc"
done
for d in HW-CORE-1 HW-EDGE-2 HW-AGG-3; do
    # shellcheck disable=SC2086
    "$KEXWATCH" --db "$DB" failures $WIN --device "$d" --by client --format json > "$WORK/dev-$d.json"
done

# The expectations, from the corpus's own files: the lab's expected.tsv
# (device, client label, ok | fail:CATEGORY, mismatch) and Huawei's
# (device, client software, CATEGORY | -, mismatch).
python3 - "$C" "$WORK" > "$WORK/golden.tap" <<'PY'
import collections, json, sys
corpus, work = sys.argv[1], sys.argv[2]
fails = []  # (device, category, mismatch, software or None)
for line in list(open(f"{corpus}/openssh-lab/expected.tsv"))[1:]:
    dev, _client, outcome, mismatch = line.rstrip("\n").split("\t")
    if outcome.startswith("fail:"):
        fails.append((dev, outcome[5:], mismatch, None))
for line in list(open(f"{corpus}/huawei-assumed/huawei.expected.tsv"))[1:]:
    dev, software, category, mismatch = line.rstrip("\n").split("\t")
    if category != "-":
        fails.append((dev, category, mismatch, software))

n = 0
def check(ok, desc, detail=""):
    global n
    n += 1
    print(("ok" if ok else "not ok") + f" {n + 2} - {desc}")
    if not ok:
        for l in str(detail).splitlines():
            print("# " + l)

def load(name):
    try:
        with open(f"{work}/{name}") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return e

def counts(rows):
    return {r["key"]: r["failures"] for r in rows} if isinstance(rows, list) else rows

res = {by: load(f"by-{by}.json") for by in ("client", "device", "category", "mismatch", "algorithm")}
rcs = {by: open(f"{work}/by-{by}.rc").read().strip() for by in res}
shape_ok = all(isinstance(v, list) and rcs[k] == "0" and
               all(set(r) == {"key", "failures", "devices", "first_seen", "last_seen"} for r in v) and
               [r["failures"] for r in v] == sorted((r["failures"] for r in v), reverse=True) and
               all(r["first_seen"].endswith("Z") and r["first_seen"] <= r["last_seen"] for r in v)
               for k, v in res.items())
check(shape_ok, "--format json parses for every --by, SPEC keys, failures descending, RFC 3339 UTC times",
      {k: (rcs[k], v if not isinstance(v, list) else len(v)) for k, v in res.items()})
want = collections.Counter(f[0] for f in fails)
check(counts(res["device"]) == dict(want), "failures --by device match the corpus",
      f"got {counts(res['device'])}\nwant {dict(want)}")
want = collections.Counter(f[1] for f in fails)
check(counts(res["category"]) == dict(want), "failures --by category match the corpus",
      f"got {counts(res['category'])}\nwant {dict(want)}")
want = collections.Counter(f[2] for f in fails)
check(counts(res["mismatch"]) == dict(want), "failures --by mismatch match the corpus",
      f"got {counts(res['mismatch'])}\nwant {dict(want)}")
got_dev = {r["key"]: r["devices"] for r in res["category"]} if isinstance(res["category"], list) else None
want_dev = {c: len({f[0] for f in fails if f[1] == c}) for c in {f[1] for f in fails}}
check(got_dev == want_dev, "devices per category match the corpus", f"got {got_dev}\nwant {want_dev}")
total = sum(r["failures"] for r in res["client"]) if isinstance(res["client"], list) else None
check(total == len(fails), "failures --by client add up to every failure", f"got {total}, want {len(fails)}")
# per device and client software: the key is the software without "SSH-2.0-",
# then " (fingerprint)"
bad = []
for dev in ("HW-CORE-1", "HW-EDGE-2", "HW-AGG-3"):
    rows = load(f"dev-{dev}.json")
    got = collections.Counter()
    for r in rows if isinstance(rows, list) else []:
        got[r["key"].rsplit(" (", 1)[0]] += r["failures"]
    want = collections.Counter(f[3][len("SSH-2.0-"):] for f in fails if f[0] == dev)
    if got != want:
        bad.append(f"{dev}: got {dict(got)} want {dict(want)}")
check(not bad, "--device KEY --by client: each Huawei device's failing client software", "\n".join(bad))
alg = counts(res["algorithm"])
check(isinstance(alg, dict) and alg.get("diffie-hellman-group1-sha1") == sum(
          1 for f in fails if f[2] == "kex-sha1-only") and "ext-info-c" not in alg,
      "--by algorithm: every sha1-only kex failure offered group1-sha1; markers are not algorithms",
      alg)
PY
# the script's 8 TAP lines count as ours; a line it never printed is a failure
cat "$WORK/golden.tap"
T_NUM=$((T_NUM + 8))
T_FAILED=$((T_FAILED + 8 - $(grep -c '^ok ' "$WORK/golden.tap")))

# CSV: RFC 4180 with a header, one line per group
# shellcheck disable=SC2086
"$KEXWATCH" --db "$DB" failures $WIN --by mismatch --format csv > "$WORK/m.csv"
is "csv has the header" "$(head -n 1 "$WORK/m.csv" | tr -d '\r')" "key,failures,devices,first_seen,last_seen"
rows=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/by-mismatch.json")
is "csv has one row per mismatch" "$(($(wc -l < "$WORK/m.csv") - 1))" "$rows"
check "csv lines end in CRLF" python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(not (d.count(b"\r\n") == d.count(b"\n") > 0))' "$WORK/m.csv"

# --device filters: by device, one row, that device
# shellcheck disable=SC2086
out=$("$KEXWATCH" --db "$DB" failures $WIN --device edge-modern-1 --by device --format csv | tr -d '\r' | tail -n +2 | cut -d, -f1,2)
is "--device keeps that device's failures only" "$out" \
    "edge-modern-1,$(grep -c "^edge-modern-1	.*	fail:" "$C/openssh-lab/expected.tsv")"

# errors: a missing database is an error (1), never created; a bad --by is usage (2)
"$KEXWATCH" --db "$WORK/missing.db" failures > /dev/null 2> "$WORK/missing.err"
is "missing database: exit 1" "$?" 1
check "missing database: the message names the file" grep -q "missing.db" "$WORK/missing.err"
check "missing database: not created by a query" test ! -e "$WORK/missing.db"
"$KEXWATCH" --db "$DB" failures --by colour > /dev/null 2> "$WORK/by.err"
is "bad --by: exit 2" "$?" 2

# a newer schema is refused, not read
cp "$DB" "$WORK/new.db"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA user_version = 99"); c.commit()' "$WORK/new.db"
"$KEXWATCH" --db "$WORK/new.db" failures > /dev/null 2> "$WORK/new.err"
rc=$?
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
check "newer schema: exit 1, says it is newer" sh -c '[ "$1" -eq 1 ] && grep -q newer "$2"' - "$rc" "$WORK/new.err"

# -c takes [store] database from the configuration
printf '[store]\ndatabase = %s\n' "$DB" > "$WORK/q.conf"
# shellcheck disable=SC2086
"$KEXWATCH" -c "$WORK/q.conf" failures $WIN --by category --format json > "$WORK/c.json"
check "-c CONFIG reads its [store] database" cmp -s "$WORK/c.json" "$WORK/by-category.json"

# devices and device KEY
"$KEXWATCH" --db "$DB" devices --format json > "$WORK/devices.json"
is "devices lists every device of the corpus" \
    "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/devices.json" 2>&1)" \
    "$(cut -f1 "$C/openssh-lab/expected.tsv" "$C/huawei-assumed/huawei.expected.tsv" | grep -v '^device$' | sort -u | wc -l)"
"$KEXWATCH" --db "$DB" device edge-modern-1 --since 36500d --format json > "$WORK/device.json"
check "device KEY --format json: learned profile and failures with their mismatch" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(not (d["device"]["key"] == "edge-modern-1" and any(p["slot"] == "kex" for p in d["profile"])
              and d["failures"] and all(f["mismatch"] for f in d["failures"]) and d["clients"]))' "$WORK/device.json"

# the plan of the very statement the query runs (hidden --explain): the
# window's whole days read daily's primary key and its edges the covering
# failures_window; --device seeks monthly's and daily's primary keys month
# by month and day by day (no device index on the counts since schema 10)
# and reads failures_device
# shellcheck disable=SC2086
plan_w=$("$KEXWATCH" --db "$DB" failures $WIN --by category --explain)
# shellcheck disable=SC2086
plan_d=$("$KEXWATCH" --db "$DB" failures $WIN --by mismatch --device HW-CORE-1 --explain)
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
check "EXPLAIN QUERY PLAN: a window is a range search of daily and failures_window, a device seeks of daily's key and a range of failures_device, no scan" \
    sh -c 'echo "$1" | grep -q "SEARCH daily USING PRIMARY KEY (failed=? AND day>? AND day<?)" &&
           echo "$1" | grep -q "SEARCH negotiations USING COVERING INDEX failures_window (time>? AND time<?)" &&
           echo "$2" | grep -q "SEARCH daily USING PRIMARY KEY (failed=? AND day=? AND device_id=?)" &&
           echo "$2" | grep -q "SEARCH daily USING PRIMARY KEY (failed=? AND day>?)" &&
           echo "$2" | grep -q "SEARCH monthly USING PRIMARY KEY (month=? AND device_id=?)" &&
           ! echo "$1$2" | grep -q "SCAN \(daily\|monthly\|negotiations\)" &&
           echo "$2" | grep -q "SEARCH negotiations USING INDEX failures_device (device_id=? AND time>? AND time<?)"' \
    - "$plan_w" "$plan_d"

# clients: one row per client type, its failures as failures --by client
# counts them, the devices it failed on, the lists it offers
"$KEXWATCH" --db "$DB" clients --since 36500d --format json > "$WORK/clients.json" 2> "$WORK/clients.err"
is "clients --format json: exit 0" "$?" 0
check "clients: failures per client type equal failures --by client, lists and devices given" python3 -c '
import json, sys
cl = json.load(open(sys.argv[1])); by = json.load(open(sys.argv[2])); dev = json.load(open(sys.argv[3]))
keys = {"client", "failures", "devices", "fails_on", "first_seen", "last_seen",
        "kex", "hostkey", "cipher", "mac", "compression"}
got = {r["client"]: r["failures"] for r in cl if r["failures"]}
want = {r["key"]: r["failures"] for r in by}  # the unidentified client type too
devkeys = {d["key"] for d in dev}
ok = (all(set(r) == keys for r in cl) and got == want
      and all(r["kex"] and r["cipher"] for r in cl if r["failures"] and r["client"] != "(unknown client)")
      and all(0 < len(r["fails_on"].split()) <= min(3, r["devices"]) and set(r["fails_on"].split()) <= devkeys
              for r in cl if r["failures"]))
if not ok:
    print("got", got, "\nwant", want, file=sys.stderr)
sys.exit(not ok)' "$WORK/clients.json" "$WORK/by-client.json" "$WORK/devices.json"

# --local: the same instants, in the local zone with its offset
# shellcheck disable=SC2086
TZ=Asia/Kolkata "$KEXWATCH" --db "$DB" failures $WIN --by category --local --format json > "$WORK/local.json"
check "--local: RFC 3339 times with the local offset, same instants as UTC" python3 -c '
import json, sys, datetime
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
sys.exit(not (len(a) == len(b) > 0 and all(r["first_seen"].endswith("+05:30") for r in a)
              and all(p(x["first_seen"]) == p(y["first_seen"]) and p(x["last_seen"]) == p(y["last_seen"])
                      for x, y in zip(a, b))))' "$WORK/local.json" "$WORK/by-category.json"
TZ=Asia/Kolkata "$KEXWATCH" --db "$DB" clients --since 36500d --local --format csv > "$WORK/local.csv"
check "clients --local --format csv: local times" grep -q '+05:30' "$WORK/local.csv"

# several --db: two databases replayed from different corpus files merge
# (ATTACH, read-only); failures add up, devices are counted once by key
"$KEXWATCH" -c "$C/openssh-lab/inventory.conf" replay --db "$WORK/lab.db" "$C"/openssh-lab/*.log > /dev/null 2>&1
"$KEXWATCH" -c "$C/huawei-assumed/huawei-inventory.conf" replay --db "$WORK/hw.db" \
    "$C/huawei-assumed/huawei.log" > /dev/null 2>&1
mrc=0
for by in client device category mismatch; do
    for d in lab hw; do
        # shellcheck disable=SC2086
        "$KEXWATCH" --db "$WORK/$d.db" failures $WIN --by "$by" --format json > "$WORK/m-$d-$by.json" || mrc=1
    done
    # shellcheck disable=SC2086
    "$KEXWATCH" failures --db "$WORK/lab.db" --db "$WORK/hw.db" $WIN --by "$by" --format json \
        > "$WORK/m-both-$by.json" || mrc=1
    # shellcheck disable=SC2086
    "$KEXWATCH" failures --db "$WORK/lab.db" --db "$WORK/lab.db" $WIN --by "$by" --format json \
        > "$WORK/m-twice-$by.json" || mrc=1
done
for d in lab hw; do
    "$KEXWATCH" --db "$WORK/$d.db" clients --since 36500d --format json > "$WORK/mc-$d.json" || mrc=1
done
"$KEXWATCH" clients --db "$WORK/lab.db" --db "$WORK/hw.db" --since 36500d --format json > "$WORK/mc-both.json" ||
    mrc=1
"$KEXWATCH" devices --db "$WORK/lab.db" --db "$WORK/hw.db" --format json > "$WORK/md-both.json" || mrc=1
# the SPEC's form, --db before the command, merges the same way
# shellcheck disable=SC2086
"$KEXWATCH" --db "$WORK/lab.db" --db "$WORK/hw.db" failures $WIN --by mismatch --format json \
    > "$WORK/m-global-mismatch.json" || mrc=1
is "several --db: every merged query exits 0" "$mrc" 0
check "several --db before the command merge like after it" cmp -s "$WORK/m-global-mismatch.json" "$WORK/m-both-mismatch.json"
check "several --db: merged failures per key are the sum of each database's, devices added" python3 -c '
import json, sys, collections
w = sys.argv[1]; bad = []
for by in ("client", "device", "category", "mismatch"):
    ld = lambda d: json.load(open(f"{w}/m-{d}-{by}.json"))
    want, wdev = collections.Counter(), collections.Counter()
    for d in ("lab", "hw"):
        for r in ld(d):
            want[r["key"]] += r["failures"]; wdev[r["key"]] += r["devices"]
    got = {r["key"]: r["failures"] for r in ld("both")}
    gdev = {r["key"]: r["devices"] for r in ld("both")}
    if got != dict(want) or gdev != dict(wdev) or sum(got.values()) != sum(want.values()):
        bad.append(f"{by}: got {got} {gdev}, want {dict(want)} {dict(wdev)}")
sys.exit(bad and print("\n".join(bad), file=sys.stderr) or bool(bad))' "$WORK"
check "several --db: the same database twice doubles failures, counts each device once" python3 -c '
import json, sys
w = sys.argv[1]; ok = True
for by in ("device", "category", "mismatch"):
    one = {r["key"]: (r["failures"], r["devices"]) for r in json.load(open(f"{w}/m-lab-{by}.json"))}
    two = {r["key"]: (r["failures"], r["devices"]) for r in json.load(open(f"{w}/m-twice-{by}.json"))}
    ok = ok and one and two == {k: (2 * f, d) for k, (f, d) in one.items()}
sys.exit(not ok)' "$WORK"
check "several --db: clients and devices merge (failures add up, devices listed once)" python3 -c '
import json, sys
w = sys.argv[1]
lab, hw, both = (json.load(open(f"{w}/mc-{d}.json")) for d in ("lab", "hw", "both"))
devs = json.load(open(f"{w}/md-both.json")); alld = json.load(open(sys.argv[2]))
sys.exit(not (sum(r["failures"] for r in both) == sum(r["failures"] for r in lab + hw) > 0
              and len(both) == len({r["client"] for r in lab + hw})
              and sorted(d["key"] for d in devs) == sorted(d["key"] for d in alld)))' "$WORK" "$WORK/devices.json"

# queries answer while a writer holds the database: replay a long file into
# the same database in the background and query until it is done
python3 -c '
import sys
lines = open(sys.argv[1]).read()
sys.stdout.write(lines * 2000)' "$C/huawei-assumed/huawei.log" > "$WORK/long.log"
cp "$DB" "$WORK/busy.db"
"$KEXWATCH" -c "$C/huawei-assumed/huawei-inventory.conf" replay --db "$WORK/busy.db" "$WORK/long.log" \
    > /dev/null 2> "$WORK/busy-replay.err" &
writer=$!
qrc=0 during=0
while kill -0 "$writer" 2> /dev/null; do
    # shellcheck disable=SC2086
    "$KEXWATCH" --db "$WORK/busy.db" failures $WIN --by category --format json > /dev/null 2>> "$WORK/busy.err" ||
        qrc=1
    "$KEXWATCH" --db "$WORK/busy.db" clients --format csv > /dev/null 2>> "$WORK/busy.err" || qrc=1
    kill -0 "$writer" 2> /dev/null && during=$((during + 1))
done
wait "$writer"
wrc=$?
is "queries while replay --db writes: every one exits 0" "$qrc" 0
check "queries ran while the writer was running, and the writer succeeded" \
    sh -c '[ "$1" -gt 0 ] && [ "$2" -eq 0 ]' - "$during" "$wrc"

[ "$T_FAILED" -eq 0 ]
