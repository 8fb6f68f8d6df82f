#!/bin/sh
# SPDX-License-Identifier: ISC
# The corpus through `kexwatch replay` (the daemon's own pipeline): every
# expected failure comes out with the right device, category and evidence,
# and no failure is raised for a session that succeeded.
. "$(dirname "$0")/lib.sh"

export KEXWATCH_CONFDIR="$KW_SRCDIR/conf"
C="$KW_TESTDATA/corpus"
"$KEXWATCH" -c "$C/openssh-lab/inventory.conf" replay --outcomes "$C"/openssh-lab/*.log > "$WORK/openssh.jsonl" 2> "$WORK/openssh.err"
rc1=$?
"$KEXWATCH" -c "$C/huawei-assumed/huawei-inventory.conf" replay --outcomes "$C/huawei-assumed/huawei.log" > "$WORK/huawei.jsonl" 2> "$WORK/huawei.err"
rc2=$?
"$KEXWATCH" replay --outcomes "$C/published/published.log" > "$WORK/published.jsonl" 2> "$WORK/published.err"
rc3=$?
# openssh-levels: one set of real clients against real sshd at INFO,
# VERBOSE, DEBUG1, DEBUG2 and a real Dropbear server (one file per device)
for f in "$C"/openssh-levels/*.log; do
    "$KEXWATCH" replay --outcomes "$f" 2>> "$WORK/levels.err"
done > "$WORK/levels.jsonl"
rc4=$?
for f in "$C"/openssh-levels/*.log; do
    "$KEXWATCH" replay "$f" 2>&1
done > "$WORK/levels-alerts.jsonl"
# without --outcomes, replay prints the alerts the daemon would raise
"$KEXWATCH" -c "$C/huawei-assumed/huawei-inventory.conf" replay "$C/huawei-assumed/huawei.log" > "$WORK/alerts.jsonl" 2>&1

python3 - "$C" "$WORK" "$rc1" "$rc2" "$rc3" "$rc4" <<'PY'
import collections, json, sys
corpus, work = sys.argv[1], sys.argv[2]
rcs = sys.argv[3:7]
n = 0
failed = 0
def check(ok, desc, detail=""):
    global n, failed
    n += 1
    if ok:
        print(f"ok {n} - {desc}")
    else:
        failed += 1
        print(f"not ok {n} - {desc}")
        for line in detail.splitlines():
            print(f"# {line}")

def load(name):
    out = []
    for i, line in enumerate(open(f"{work}/{name}.jsonl", encoding="utf-8")):
        try:
            out.append(json.loads(line))
        except ValueError as e:
            check(False, f"{name} output line {i + 1} is JSON", f"{e}: {line[:200]}")
    return out

def strip_ver(sw):
    # alerts carry the software part of the version string, as sshd logs it
    for pre in ("SSH-2.0-", "SSH-1.99-"):
        if sw and sw.startswith(pre):
            return sw[len(pre):]
    return sw

def tsv(path):
    rows = [l.rstrip("\n").split("\t") for l in open(path, encoding="utf-8") if l.strip()]
    return [dict(zip(rows[0], r)) for r in rows[1:]]

for name, rc in zip(("openssh", "huawei", "published", "levels"), rcs):
    check(rc == "0", f"replay of the {name} corpus exits 0", open(f"{work}/{name}.err").read())

# openssh-lab: sshd logged every failure itself
got = load("openssh")
fails = collections.Counter((o["device"]["key"], o["category"]) for o in got if o["outcome"] == "failure")
want = collections.Counter()
for r in tsv(f"{corpus}/openssh-lab/expected.tsv"):
    if r["outcome"].startswith("fail:"):
        want[(r["device"], r["outcome"][5:])] += 1
for dev in sorted({d for d, _ in want} | {d for d, _ in fails}):
    w = {k: v for k, v in want.items() if k[0] == dev}
    g = {k: v for k, v in fails.items() if k[0] == dev}
    check(w == g, f"openssh-lab {dev}: failures by category as expected ({sum(w.values())})",
          f"want {sorted(w.items())}\ngot  {sorted(g.items())}")
ev = {o["evidence"] for o in got if o["outcome"] == "failure"}
check(ev == {"explicit"}, "openssh-lab failures carry explicit evidence", f"got {ev}")
mm = collections.Counter((o["device"]["key"], o["category"], o["mismatch"]["id"]) for o in got if o["outcome"] == "failure")
wmm = collections.Counter((r["device"], r["outcome"][5:], r["mismatch"])
                          for r in tsv(f"{corpus}/openssh-lab/expected.tsv") if r["outcome"].startswith("fail:"))
check(mm == wmm, "openssh-lab: every failure carries the expected catalogue id",
      f"missing {sorted((wmm - mm).items())}\nextra   {sorted((mm - wmm).items())}")
for o in got:
    if o["outcome"] == "failure" and o["category"] in ("kex", "cipher", "mac", "hostkey"):
        if not o["client_offer"]:
            check(False, f"failure on {o['device']['key']} {o['category']} carries the client's offer", json.dumps(o))
            break
else:
    check(True, "every openssh-lab failure carries the client's offer")

# huawei-assumed: no failure message exists; failures are inferred from the
# client's offer and the inventory's server lists
got = load("huawei")
fails = collections.Counter((o["device"]["key"], strip_ver(o["client"]["software"]), o["category"])
                            for o in got if o["outcome"] == "failure")
want = collections.Counter((r["device"], strip_ver(r["client_software"]), r["category"])
                           for r in tsv(f"{corpus}/huawei-assumed/huawei.expected.tsv") if r["category"] != "-")
check(fails == want, f"huawei: failures by device, client software and category as expected ({sum(want.values())})",
      f"missing {sorted((want - fails).items())}\nextra   {sorted((fails - want).items())}")
ev = {o["evidence"] for o in got if o["outcome"] == "failure"}
check(ev == {"inferred"}, "huawei failures are inferred", f"got {ev}")
mm = collections.Counter((o["device"]["key"], strip_ver(o["client"]["software"]), o["mismatch"]["id"])
                         for o in got if o["outcome"] == "failure")
wmm = collections.Counter((r["device"], strip_ver(r["client_software"]), r["mismatch"])
                          for r in tsv(f"{corpus}/huawei-assumed/huawei.expected.tsv") if r["category"] != "-")
check(mm == wmm, "huawei: every failure carries the expected catalogue id",
      f"missing {sorted((wmm - mm).items())}\nextra   {sorted((mm - wmm).items())}")
rem = [o for o in got if o["outcome"] == "failure" and not (o["remediation"]["server"] or "").strip()]
check(not rem, "huawei: every failure carries a device-side remediation", json.dumps(rem[:1]))
succ = collections.Counter((o["device"]["key"], strip_ver(o["client"]["software"])) for o in got if o["outcome"] == "success")
wsucc = collections.Counter((r["device"], strip_ver(r["client_software"]))
                            for r in tsv(f"{corpus}/huawei-assumed/huawei.expected.tsv") if r["category"] == "-")
check(succ == wsucc, "huawei: the sessions that logged in are successes",
      f"missing {sorted((wsucc - succ).items())}\nextra   {sorted((succ - wsucc).items())}")
fp = [o["client"]["fingerprint"] for o in got]
check(all(f and len(f) == 32 for f in fp), "huawei: every session has a client fingerprint", str(fp))

# published: explicit failures, one per device; '-' rows raise nothing
got = load("published")
fails = collections.Counter((o["device"]["key"], o["category"], o["evidence"]) for o in got if o["outcome"] == "failure")
want = collections.Counter((r["device"], r["category"], r["evidence"])
                           for r in tsv(f"{corpus}/published/published.expected.tsv") if r["category"] != "-")
check(fails == want, f"published: failures by device, category and evidence as expected ({sum(want.values())})",
      f"missing {sorted((want - fails).items())}\nextra   {sorted((fails - want).items())}")
mm = collections.Counter((o["device"]["key"], o["mismatch"]["id"]) for o in got if o["outcome"] == "failure")
wmm = collections.Counter((r["device"], r["mismatch"])
                          for r in tsv(f"{corpus}/published/published.expected.tsv") if r["category"] != "-")
check(mm == wmm, "published: every failure carries the expected catalogue id",
      f"missing {sorted((wmm - mm).items())}\nextra   {sorted((mm - wmm).items())}")
# openssh-levels: every connection, in order, decided as the client saw it:
# successes at every LogLevel (sshd logs nothing but userauth lines for a
# working client at INFO/VERBOSE), failures with the catalogue id; at DEBUG1
# the "(no match)" line before "Unable to negotiate" does not lose the offer
got = load("levels")
seq = collections.defaultdict(list)
for o in got:
    if o["outcome"] == "failure":
        seq[o["device"]["key"]].append(("failure", o["category"], o["mismatch"]["id"]))
    else:
        seq[o["device"]["key"]].append(("success", None, None))
wseq = collections.defaultdict(list)
for r in tsv(f"{corpus}/openssh-levels/expected.tsv"):
    if r["outcome"] == "ok":
        wseq[r["device"]].append(("success", None, None))
    elif r["outcome"].startswith("fail:"):
        wseq[r["device"]].append(("failure", r["outcome"][5:], r["mismatch"]))
for dev in sorted(set(wseq) | set(seq)):
    check(seq[dev] == wseq[dev], f"openssh-levels {dev}: every connection decided in order as the client saw it "
          f"({len(wseq[dev])})", f"want {wseq[dev]}\ngot  {seq[dev]}")
bad = [o for o in got if o["outcome"] == "failure" and o["device"]["key"] != "lab-dropbear"
       and (not o["client_offer"] or "LogLevel" in json.dumps(o["remediation"]))]
check(not bad, "openssh-levels: every sshd failure carries the client's offer and no advice to raise LogLevel",
      json.dumps(bad[:1]))
sw = {o["client"]["software"] for o in got if o["device"]["key"] in ("lab-debug1", "lab-debug2")}
check(None not in sw, "openssh-levels: at DEBUG1/DEBUG2 every outcome names the client software", str(sw))

# openssh-levels alerts: one per client that failed differently (no
# fingerprint or software at INFO/VERBOSE: the offer tells them apart); a
# later success resolves them only when it names the same client by the best
# identity both know: by address at INFO/VERBOSE (the lab's working clients
# came from the same 127.0.0.1), never at DEBUG1/DEBUG2 where the software
# (dropbear, PuTTY) and fingerprints of the working clients differ
al = load("levels-alerts")
for dev in ("lab-info", "lab-verbose", "lab-debug1", "lab-debug2"):
    fir = [a for a in al if a["device"]["key"] == dev and a["status"] == "firing"]
    res = [a for a in al if a["device"]["key"] == dev and a["status"] == "resolved"]
    wfail = [r for r in tsv(f"{corpus}/openssh-levels/expected.tsv") if r["device"] == dev and r["outcome"].startswith("fail:")]
    check(len({a["alert_id"] for a in fir}) == len(wfail) == len(fir),
          f"openssh-levels {dev}: one alert per failing client ({len(wfail)})", json.dumps([a["client_offer"] for a in fir]))
    want_res = len(wfail) if dev in ("lab-info", "lab-verbose") else 0
    check(len(res) == want_res and {a["alert_id"] for a in res} <= {a["alert_id"] for a in fir},
          f"openssh-levels {dev}: {want_res} alert(s) resolved by a later success of the same client",
          f"resolved {[a['alert_id'] for a in res]}")

# alerts: one per distinct (device, client type, mismatch); the second half
# of the Huawei stream repeats the first within repeat_interval
al = [json.loads(l) for l in open(f"{work}/alerts.jsonl")]
wal = {(r["device"], strip_ver(r["client_software"]), r["mismatch"])
       for r in tsv(f"{corpus}/huawei-assumed/huawei.expected.tsv") if r["category"] != "-"}
gal = [(a["device"]["key"], strip_ver(a["client"]["software"]), a["mismatch"]["id"]) for a in al]
check(sorted(gal) == sorted(wal) and all(a["status"] == "firing" for a in al),
      f"replay prints one firing alert per distinct failure ({len(wal)})", f"got {sorted(gal)}")
print(f"1..{n}")
sys.exit(1 if failed else 0)
PY
