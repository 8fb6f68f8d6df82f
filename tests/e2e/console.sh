#!/bin/sh
# SPDX-License-Identifier: ISC
# The console pages in a real browser (headless Chromium over the DevTools
# protocol: tests/e2e/cdp.py) against the real daemon, its database a
# generated year of history (tests/bench/query_gen.c, migrated by the daemon
# at start) plus the corpus sent over TCP:
# - the check for console errors is shown to catch them first: a page with a
#   deliberate JS error, a missing image and a too-wide box, served by a real
#   local HTTP server, must be reported by the same check;
# - each page loads without exceptions, console errors, refused or failed
#   resources, and at 390 px (a phone) the document is no wider than the
#   viewport (read from the DOM);
# - the overview's chart follows the window (24h: hours, 7d and 30d: days,
#   365d: months), one bar segment per (bucket, mismatch) the API's daily
#   answer has, with its count; links keep the window;
# - the Client types page: per client type its failures over time (one mark
#   per bucket of the API's answer), the devices it fails on with counts,
#   and its offered lists with a rating for every name;
# - the device page: server lists with a rating for every name, the client
#   types failing there with the fix of each, as the API says;
# - received text (a device, a client's software, algorithm names) made of
#   markup renders as text everywhere it is shown.
# Screenshots are kept under the build tree (tests/artifacts/console/).
. "$(dirname "$0")/lib.sh"

C="$KW_TESTDATA/corpus"
ART="$KW_BUILDDIR/tests/artifacts/console"
rm -rf "$ART"
mkdir -p "$ART"
plan 43
command -v chromium > /dev/null || bail "chromium is not installed (scripts/deps.sh --test)"
CDP="python3 $KW_SRCDIR/tests/e2e/cdp.py"

# 1. the check itself: a broken page must be reported
mkdir -p "$WORK/bad"
cat > "$WORK/bad/bad.html" <<'EOF'
<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>bad</title></head><body><p>deliberately broken</p>
<img src="missing.png" alt=""><script>notAFunction();</script><div style="width:1000px">too wide</div></body></html>
EOF
cat > "$WORK/bad/good.html" <<'EOF'
<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>good</title></head><body><p>fine</p></body></html>
EOF
SPORT=$(free_port)
(cd "$WORK/bad" && exec timeout 120 python3 -m http.server "$SPORT" --bind 127.0.0.1) > "$WORK/httpd.log" 2>&1 &
HTTPD=$!
EXTRA_CLEANUP="kill $HTTPD 2> /dev/null"
for _ in $(seq 1 50); do
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$SPORT" \
        2> /dev/null && break
    sleep 0.1
done
$CDP "$WORK/ctl" "bad=http://127.0.0.1:$SPORT/bad.html@390" "good=http://127.0.0.1:$SPORT/good.html@390" \
    2> "$WORK/ctl.err"
is "the browser check ran on the control pages" "$?" 0
sed 's/^/# bad page: /' "$WORK/ctl/bad.errors"
check "the check reports the deliberate error: the exception and the missing image" \
    sh -c "grep -q 'ReferenceError: notAFunction' '$WORK/ctl/bad.errors' && grep -q 'missing.png' '$WORK/ctl/bad.errors'"
check "... and a page without fault as clean" test -f "$WORK/ctl/good.errors" -a ! -s "$WORK/ctl/good.errors"
# too_wide NAME: the document is wider than its viewport
too_wide() { read -r sw cw < "$1.width" && [ "$sw" -gt "$cw" ]; }
check "the width check sees a 1000 px box on a 390 px phone ($(head -1 "$WORK/ctl/bad.width"))" too_wide "$WORK/ctl/bad"
check "... and not a page that fits ($(head -1 "$WORK/ctl/good.width"))" sh -c "! { read -r sw cw && [ \$sw -gt \$cw ]; } < '$WORK/ctl/good.width'"
kill "$HTTPD" 2> /dev/null

# 2. the daemon over a generated year and the corpus
gen_year "$WORK/kexwatch.db" 20000 40 12
is "a generated year of 20,000 negotiations" "$?" 0
PORT=$(free_port)
HPORT=$(free_port)
write_config "$PORT" "identify = hostname"
printf '\n[http]\nlisten = 127.0.0.1:%s\n' "$HPORT" >> "$WORK/kexwatch.conf"
cat "$C/huawei-assumed/huawei-inventory.conf" "$C/openssh-lab/inventory.conf" >> "$WORK/kexwatch.conf"
check "kexwatchd starts (and migrates the year)" start_daemon
EVIL='<script>alert(1)</script>'
ESW='<img src=x onerror=alert(2)>'
EALG='<b>x</b>'
{
    cat "$C/huawei-assumed/huawei.log" "$C"/openssh-lab/*.log "$C/published/published.log"
    # a device whose name is markup
    sed -n 4p "$C/published/published.log" | sed "s|web-7|$EVIL|"
    # a client whose software and one offered algorithm are markup, and a
    # server list with a markup name, on device evil-lab
    grep 'sshd\[20076\]' "$C/openssh-lab/core-legacy-2.log" | sed -e 's/core-legacy-2/evil-lab/' \
        -e "s|remote software version OpenSSH_9.2p1 Debian-2+deb12u10|remote software version $ESW|" \
        -e "s|KEX algorithms: sntrup761x25519-sha512,|KEX algorithms: $EALG,sntrup761x25519-sha512,|" \
        -e "s|KEX algorithms: diffie-hellman-group14-sha1,|KEX algorithms: diffie-hellman-group14-sha1,$EALG,|"
} > "$WORK/corpus.log"
send_tcp_file "$PORT" "$WORK/corpus.log"
wait_db_settled 30 20
n=${now%%|*}
check "the daemon stored the corpus ($now)" [ "${n:-0}" -ge 30 ]

B="http://127.0.0.1:$HPORT"
api() {
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' "$B$1"
}
# the API's answers for the pages' questions ($1: a suffix for the file names)
answers() {
    for w in 24h:hour 7d:day 30d:day 365d:month; do
        api "/api/v1/daily?since=${w%%:*}&bucket=${w#*:}" > "$WORK/daily-${w%%:*}$1.json"
    done
    api "/api/v1/daily?since=365d&bucket=month&by=client" > "$WORK/series$1.json"
    api "/api/v1/daily?since=365d&bucket=window&by=client-device" > "$WORK/pairs$1.json"
}
answers ""
EV=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$EVIL")
set --
for w in 24h 7d 30d 365d; do
    set -- "$@" "overview-$w=$B/?window=$w@1280"
done
set -- "$@" "clients=$B/clients?window=365d@1280" "device=$B/device?key=HW-CORE-1@1280" \
    "lab=$B/device?key=core-legacy-2&window=7d@1280" "evil=$B/device?key=$EV@1280" \
    "evil-lab=$B/device?key=evil-lab@1280" "devices=$B/devices?window=365d@1280"
for p in "overview=/" "clients=/clients?window=365d" "device=/device?key=core-legacy-2" "devices=/devices" \
    "evil-lab=/device?key=evil-lab"; do
    set -- "$@" "${p%%=*}-phone=$B${p#*=}@390"
done
PAGES="$*"
$CDP "$ART" "$@" 2> "$WORK/cdp.err"
is "Chromium loaded every page ($(echo "$PAGES" | wc -w) pages)" "$?" 0
sed 's/^/# /' "$WORK/cdp.err"
answers "-after"
api "/api/v1/alerts?status=firing" > "$WORK/firing.json"
api "/api/v1/alerts" > "$WORK/alerts.json"
api "/api/v1/failures?by=device" > "$WORK/bydev.json"
api "/api/v1/devices/HW-CORE-1" > "$WORK/hwcore.json"
api "/api/v1/devices/core-legacy-2?since=7d" > "$WORK/lab.json"
api "/api/v1/devices/evil-lab" > "$WORK/evil-lab.json"
api "/api/v1/clients?since=365d" > "$WORK/clients.json"
api "/api/v1/devices?since=365d" > "$WORK/devices.json"

bad=""
for p in $PAGES; do
    n=${p%%=*}
    [ -s "$ART/$n.html" ] && [ -s "$ART/$n.png" ] && [ -f "$ART/$n.errors" ] || bad="$bad $n"
done
is "every page rendered and was photographed (1280 px and 390 px)" "$bad" ""
errors=$(cat "$ART"/*.errors | wc -l)
is "no page had an exception, console error, refused or failed resource" "$errors" 0
[ "$errors" = 0 ] || grep -H . "$ART"/*.errors | head -10 | sed 's/^/# /'
wide=""
for f in "$ART"/*-phone.width; do
    too_wide "${f%.width}" && wide="$wide $(basename "$f" .width) ($(tr '\n' ' ' < "$f"))"
done
is "no page is wider than a 390 px phone (document scrollWidth read from the DOM)" "$wide" ""

python3 - "$WORK" "$ART" "$EVIL" "$ESW" "$EALG" <<'PY' > "$WORK/dom.tap"
import json, sys
from html.parser import HTMLParser
w, art, EVIL, ESW, EALG = sys.argv[1:6]

class Dom(HTMLParser):
    """Elements with their attributes, the text inside them and their parents."""
    def __init__(self):
        super().__init__()
        self.stack, self.els = [], []
    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": "", "up": list(self.stack)}
        self.els.append(e)
        if tag not in ("meta", "br", "line", "input", "link", "img"):
            self.stack.append(e)
    def handle_startendtag(self, tag, attrs):
        self.els.append({"tag": tag, "attrs": dict(attrs), "text": "", "up": list(self.stack)})
    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break
    def handle_data(self, d):
        for e in self.stack:
            e["text"] += d

def dom(name):
    d = Dom()
    d.feed(open(f"{art}/{name}.html").read())
    return d.els

def j(name):
    return json.load(open(f"{w}/{name}.json"))

def cls(e, c):
    return c in e["attrs"].get("class", "").split()

def inside(e, pred):
    return any(pred(u) for u in e["up"])

n = 0
def check(what, cond, detail=""):
    global n
    n += 1
    print(("ok" if cond else "not ok"), n, "-", what)
    if not cond:
        print("#", str(detail)[:600])

ov = dom("overview-30d")
firing = j("firing")
ids = [e["attrs"]["data-alert-id"] for e in ov if e["tag"] == "tr" and "data-alert-id" in e["attrs"]]
check("overview: the firing alerts' ids are the API's, in order", ids == [a["alert_id"] for a in firing],
      (ids[:3], [a["alert_id"] for a in firing][:3]))
counts = [e["text"] for e in ov if e["tag"] == "td" and e["attrs"].get("data-label") == "count"]
check("overview: each alert's count is the API's", counts == [str(a["count"]) for a in firing])
fixes = [e["text"] for e in ov if e["tag"] == "pre" and cls(e, "fix")]
check("overview: each alert's fix is there as copyable text",
      len(fixes) == len(firing) and all((a["fix_steps"] or a["fix"]) == f for a, f in zip(firing, fixes)))

# the chart of each window: one segment per (bucket, mismatch) of the API's answer
unit = {"24h": "hour", "7d": "day", "30d": "day", "365d": "month"}
for win, u in unit.items():
    page = dom(f"overview-{win}")
    bars = sorted((e["attrs"]["data-bucket"], e["attrs"]["data-key"], e["attrs"]["data-failures"])
                  for e in page if e["tag"] == "rect" and cls(e, "bar") and inside(e, lambda x: x["attrs"].get("id") == "daily"))
    wants = [sorted((r[u], r["mismatch"], str(r["failures"])) for r in j(f"daily-{win}{s}")) for s in ("", "-after")]
    title = "".join(e["text"] for e in page if e["attrs"].get("id") == "chart-title")
    if u == "month":
        import re
        check("overview 365d: 13 months at most, each YYYY-MM",
              bars and all(re.fullmatch(r"\d{4}-\d{2}", b[0]) for b in bars) and len({b[0] for b in bars}) <= 13)
    check(f"overview {win}: one bar segment per ({u}, mismatch) of /api/v1/daily?since={win}&bucket={u}, "
          f"{len(bars)} segments; the title says per {u}",
          bars in wants and len(bars) > 0 and f"per {u}" in title and win in title, (title, len(bars), len(wants[0]), bars[:3], wants[0][:3]))
    local = [e["attrs"]["href"] for e in page if e["tag"] == "a" and e["attrs"].get("href", "").startswith("/")
             and not inside(e, lambda x: cls(x, "win"))]
    check(f"overview {win}: every link keeps the window ({len(local)} links)",
          len(local) > 5 and all(f"window={win}" in h for h in local), [h for h in local if f"window={win}" not in h][:3])

tbl = [e for e in ov if e["tag"] == "a" and cls(e, "device") and inside(e, lambda x: x["attrs"].get("id") == "top-devices")]
check("overview: the top failing devices are the API's first ten",
      [e["text"] for e in tbl] == [r["key"] for r in j("bydev")][:10])

# Client types
cl = dom("clients")
clients = j("clients")
names = [e["text"] for e in cl if e["tag"] == "a" and cls(e, "client") and inside(e, lambda x: x["attrs"].get("id") == "clients")]
check("client types: every client type of the API, in order", names == [c["client"] for c in clients],
      (names[:3], [c["client"] for c in clients][:3]))
cards = {e["attrs"]["data-client"]: e for e in cl if e["tag"] == "section" and cls(e, "client-type")}
check("client types: one part per client type", sorted(cards) == sorted(names))
series = [j("series"), j("series-after")]
bad = []
marks = 0
for c in names:
    bars = sorted((e["attrs"]["data-bucket"], e["attrs"]["data-failures"]) for e in cl
                  if e["tag"] == "rect" and cls(e, "bar") and inside(e, lambda x, c=c: x["attrs"].get("data-client") == c))
    marks += len(bars)
    if not any(bars == sorted((r["month"], str(r["failures"])) for r in s if r["client"] == c) for s in series):
        bad.append(c)
check(f"client types: each one's chart has one mark per month of /api/v1/daily?by=client ({marks} marks)",
      not bad and marks > 50, bad[:3])
pairs = [j("pairs"), j("pairs-after")]
bad = []
for c in names:
    links = [e for e in cl if e["tag"] == "a" and cls(e, "device")
             and inside(e, lambda x, c=c: x["attrs"].get("data-client") == c)]
    nums = [e for e in cl if e["tag"] == "span" and "data-failures" in e["attrs"]
            and inside(e, lambda x, c=c: x["attrs"].get("data-client") == c)]
    got = [(a["text"], s["attrs"]["data-failures"]) for a, s in zip(links, nums)]
    if not any(got == [(r["device"], str(r["failures"])) for r in p if r["client"] == c] for p in pairs):
        bad.append((c, got[:2]))
check("client types: each one's devices with their failures, as /api/v1/daily?bucket=window&by=client-device",
      not bad, bad[:2])
offers = [e for e in cl if e["tag"] == "span" and cls(e, "alg")]
rated = [e for e in offers if any(cls(x, "rating") for x in cl if x["tag"] == "span" and x["up"] and x["up"][-1] is e)]
kinds = {x["text"] for x in cl if x["tag"] == "span" and cls(x, "rating")}
check(f"client types: every offered name has a rating ({len(offers)} names; {sorted(kinds)})",
      len(offers) > 20 and len(rated) == len(offers) and "ok" in kinds and ("weak" in kinds or "broken" in kinds))

# the device pages
for page, key in (("device", "hwcore"), ("lab", "lab"), ("evil-lab", "evil-lab")):
    dv = dom(page)
    api = j(key)
    slots = [e["text"] for e in dv if e["tag"] == "td" and cls(e, "slot")]
    algs = [e for e in dv if e["tag"] == "span" and cls(e, "alg") and inside(e, lambda x: x["attrs"].get("id") == "profile")]
    want = sum(len(p["list"].split(",")) for p in api["profile"] if p["list"])
    rated = [e for e in algs if any(cls(x, "rating") for x in dv if x["tag"] == "span" and x["up"] and x["up"][-1] is e)]
    check(f"device {page}: one server-list row per stored list, every name rated ({len(algs)} names)",
          slots == [p["slot"] for p in api["profile"]] and len(algs) == want and len(rated) == want, (slots, len(algs), want, len(rated)))
    rows = [e for e in dv if e["tag"] == "tr" and inside(e, lambda x: x["attrs"].get("id") == "device-clients")]
    got = [("".join(x["text"] for x in dv if x["tag"] == "a" and cls(x, "client") and inside(x, lambda y, r=r: y is r)),
            "".join(x["text"] for x in dv if x["tag"] == "pre" and cls(x, "fix") and inside(x, lambda y, r=r: y is r)))
           for r in rows if r["up"] and r["up"][-1]["tag"] == "tbody"]
    alerts = j("alerts")
    dkey = {"hwcore": "HW-CORE-1", "lab": "core-legacy-2", "evil-lab": "evil-lab"}[key]
    def fix(c):
        for a in alerts:
            if a["device"] == dkey and a["client"] == c:
                return a["fix_steps"] or a["fix"] or ""
        return ""
    check(f"device {page}: the client types failing there, each with its alert's fix",
          [g[0] for g in got] == [c["client"] for c in api["clients"]] and len(got) > 0
          and all(g[1] == fix(g[0]) for g in got), (got[:2], [c["client"] for c in api["clients"]][:2]))

# received markup is text
ev = dom("evil")
scripts = [e for e in ev if e["tag"] == "script"]
check("a device named <script>alert(1)</script> is text: no script element but the page's own",
      len(scripts) == 1 and "alert(1)" not in scripts[0]["text"] and
      any(EVIL in e["text"] for e in ev if e["tag"] == "h1"))
dl = dom("devices")
keys = [e["text"] for e in dl if e["tag"] == "a" and cls(e, "device")]
check("devices page: every device of the API (the markup one as text)",
      keys == [d["key"] for d in j("devices")] and EVIL in keys)
for page in ("clients", "evil-lab", "overview-30d", "evil-lab-phone"):
    d = dom(page)
    # unescaped, they would be an img element, a b element holding "x", a second script
    stray = [e["tag"] for e in d if e["tag"] == "img" or (e["tag"] == "b" and e["text"] == "x")]
    stray += ["script"] * (sum(e["tag"] == "script" for e in d) - 1)
    text = "".join(e["text"] for e in d if e["tag"] == "body")
    # (the collector drops a name like <b>x</b> from a client's offer; the
    # server list on the device page keeps it)
    want = [ESW] + ([EALG] if "evil-lab" in page else [])
    check(f"{page}: the client software {ESW}" + (f" and the algorithm {EALG}" if EALG in want else "") +
          " from the log are text, no element",
          not stray and all(x in text for x in want), (stray, [x in text for x in want]))
PY
while IFS= read -r l; do
    case "$l" in
        "ok "*) ok "${l#ok * - }" ;;
        "not ok "*) not_ok "${l#not ok * - }" ;;
        *) echo "$l" ;;
    esac
done < "$WORK/dom.tap"
check "SIGTERM: exit status 0" stop_daemon
finish
