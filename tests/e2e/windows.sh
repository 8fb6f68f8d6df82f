#!/bin/sh
# SPDX-License-Identifier: ISC
# Query windows and client types: --since takes 64-bit durations (100000d
# works; the largest INT64_MAX-second values in s, h and d work; one more is
# refused as too large, never "not a duration"), and `kexwatch clients`
# agrees with `kexwatch failures --by client` on every client type,
# including failures by an unidentified client (no software, no fingerprint).
. "$(dirname "$0")/lib.sh"

export KEXWATCH_CONFDIR="$KW_SRCDIR/conf"
C="$KW_TESTDATA/corpus"
DB="$WORK/w.db"
plan 16

# the OpenSSH lab corpus, and one failure whose client sent neither software
# nor a full offer (sshd logs only the kex list it refused)
"$KEXWATCH" -c "$C/openssh-lab/inventory.conf" replay --db "$DB" "$C"/openssh-lab/*.log > /dev/null 2> "$WORK/r1.err"
is "replay --db stores the OpenSSH lab" "$?" 0
printf '<38>1 2026-11-24T10:00:00Z lab-unid sshd 123 - - Unable to negotiate with 192.0.2.7 port 40000: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]\n' \
    > "$WORK/unid.log"
"$KEXWATCH" replay --db "$DB" --outcomes "$WORK/unid.log" > "$WORK/unid.json" 2> "$WORK/r2.err"
check "the extra failure has no client software and no fingerprint" \
    grep -q '"outcome":"failure".*"client":{"address":"192.0.2.7","port":40000,"software":null,"fingerprint":null,"hassh":null}' \
    "$WORK/unid.json"

# --since edges
since() { # since CMD... : exit status of a query with that --since
    "$KEXWATCH" --db "$DB" "$@" > "$WORK/since.out" 2> "$WORK/since.err"
}
since failures --since 100000d --format json
is "failures --since 100000d works (exit 0)" "$?" 0
check "failures --since 100000d lists the failure of 2026-11-24" grep -q '"failures"' "$WORK/since.out"
since failures --since 9223372036854775807s
is "--since 9223372036854775807s (INT64_MAX seconds) works" "$?" 0
since failures --since 9223372036854775808s
is "--since 9223372036854775808s is refused (exit 2)" "$?" 2
check "... as too large, naming the limit" grep -q "is too large: at most 106751991167300d" "$WORK/since.err"
since devices --since 106751991167300d
is "devices --since 106751991167300d (the largest in days) works" "$?" 0
since clients --since 106751991167301d
is "clients --since 106751991167301d is refused (exit 2)" "$?" 2
check "... as too large" grep -q "kexwatch clients: --since '106751991167301d' is too large" "$WORK/since.err"
since device lab-unid --since 2562047788015216h
is "device --since 2562047788015216h (one hour beyond) is refused (exit 2)" "$?" 2
since failures --since 12x
is "--since 12x is still not a duration (exit 2)" "$?" 2
check "... and says so" grep -q "is not a duration" "$WORK/since.err"

# clients and failures agree on client types, unidentified included
"$KEXWATCH" --db "$DB" failures --since 100000d --by client --format json > "$WORK/f.json"
"$KEXWATCH" --db "$DB" clients --since 100000d --format json > "$WORK/c.json"
"$KEXWATCH" --db "$DB" --db "$DB" failures --since 100000d --by client --format json > "$WORK/fm.json"
"$KEXWATCH" --db "$DB" --db "$DB" clients --since 100000d --format json > "$WORK/cm.json"
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
def fails(name, key):
    return {r[key]: r["failures"] for r in json.load(open(f"{w}/{name}")) if r["failures"]}
f, c = fails("f.json", "key"), fails("c.json", "client")
fm, cm = fails("fm.json", "key"), fails("cm.json", "client")
n = 13
def check(ok, desc, detail):
    global n
    n += 1
    print(("ok" if ok else "not ok") + f" {n} - {desc}")
    if not ok:
        print("# " + json.dumps(detail))
check("(unknown client)" in f and f == c,
      "clients lists the same client types with the same failures as failures --by client, "
      "the unidentified one included", {"failures": f, "clients": c})
check(fm == cm and fm.get("(unknown client)") == 2 * f.get("(unknown client)", 0),
      "... also over merged databases", {"failures": fm, "clients": cm})
PY
T_NUM=$((T_NUM + 2))
"$KEXWATCH" --db "$DB" clients --since 100000d > "$WORK/c.txt"
check "the clients table shows the unidentified client type and its device" \
    grep -q '^(unknown client) .* lab-unid' "$WORK/c.txt"
finish
