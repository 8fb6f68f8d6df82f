#!/bin/sh
# SPDX-License-Identifier: ISC
# The console pages in a real browser (headless Chromium) against the real
# daemon filled from the corpus: each page loads without console errors or
# blocked resources, shows the devices, alert ids and counts the API gives
# for the same question (read from the DOM), the chart has one bar segment
# per (day, mismatch) the daily answer has, a device named
# <script>alert(1)</script> is shown as text, and the pages fit a phone.
# Screenshots are kept under the build tree (tests/artifacts/console/).
. "$(dirname "$0")/lib.sh"

C="$KW_TESTDATA/corpus"
ART="$KW_BUILDDIR/tests/artifacts/console"
mkdir -p "$ART"
plan 15
command -v chromium > /dev/null || bail "chromium is not installed (scripts/deps.sh --test)"
PORT=$(free_port)
HPORT=$(free_port)
write_config "$PORT" "identify = hostname"
printf '\n[http]\nlisten = 127.0.0.1:%s\n' "$HPORT" >> "$WORK/kexwatch.conf"
cat "$C/huawei-assumed/huawei-inventory.conf" "$C/openssh-lab/inventory.conf" >> "$WORK/kexwatch.conf"
check "kexwatchd starts" start_daemon
EVIL='<script>alert(1)</script>'
{
    cat "$C/huawei-assumed/huawei.log" "$C"/openssh-lab/*.log "$C/published/published.log"
    # a device whose name is markup
    sed -n 4p "$C/published/published.log" | sed "s|web-7|$EVIL|"
} > "$WORK/corpus.log"
python3 - "$PORT" "$WORK/corpus.log" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(open(sys.argv[2], "rb").read())
s.close()
PY
last=""
for _ in $(seq 1 30); do
    now=$(sqlite3 "$WORK/kexwatch.db" "SELECT (SELECT count(*) FROM alerts), (SELECT sum(count) FROM alerts),
        (SELECT count(*) FROM negotiations)" 2> /dev/null)
    n=${now%%|*}
    [ "${n:-0}" -ge 30 ] && [ "$now" = "$last" ] && break
    last=$now
    sleep 0.5
done
check "the daemon stored the corpus ($now)" [ "${n:-0}" -ge 30 ]

# browse NAME URL [WIDTH]: the DOM to $WORK/NAME.html, the browser's log to
# $WORK/NAME.log, a screenshot to $ART/NAME.png (each run bounded: 60 s)
browse() {
    w=${3:-1280}
    timeout 60 chromium --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/chrome" \
        --enable-logging=stderr --v=0 --virtual-time-budget=3000 --dump-dom "$2" \
        > "$WORK/$1.html" 2> "$WORK/$1.log"
    timeout 60 chromium --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/chrome" \
        --hide-scrollbars --window-size="$w,1800" --screenshot="$ART/$1.png" "$2" > /dev/null 2>&1
}
B="http://127.0.0.1:$HPORT"
browse overview "$B/"
browse overview-phone "$B/?window=7d" 390
browse clients "$B/clients"
browse device "$B/device?key=HW-CORE-1"
browse evil "$B/device?key=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
browse devices "$B/devices?window=365d"

api() {
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$B$1"
}
api "/api/v1/alerts?status=firing" > "$WORK/firing.json"
api "/api/v1/daily?since=31d" > "$WORK/daily.json"
api "/api/v1/failures?by=device" > "$WORK/bydev.json"
api "/api/v1/devices/HW-CORE-1" > "$WORK/hwcore.json"
api "/api/v1/clients" > "$WORK/clients.json"
api "/api/v1/devices?since=365d" > "$WORK/devices.json"

errors=$(grep -hE 'CONSOLE|Refused to|Uncaught|ERR_' "$WORK"/overview.log "$WORK"/clients.log "$WORK"/device.log \
    "$WORK"/evil.log "$WORK"/devices.log | grep -ciE 'error|refused|uncaught|ERR_')
is "every page loads without console errors or refused resources" "$errors" 0
for p in overview clients device evil devices; do
    [ -s "$WORK/$p.html" ] && [ -s "$ART/$p.png" ] || not_ok "page $p rendered and photographed"
done
check "every page rendered and was photographed (1280 px; the overview at 390 px too)" \
    test -s "$ART/overview.png" -a -s "$ART/overview-phone.png" -a -s "$ART/device.png"

python3 - "$WORK" <<'PY' > "$WORK/dom.tap"
import json, sys
from html.parser import HTMLParser
w = sys.argv[1]

class Dom(HTMLParser):
    """Elements with their attributes and the text inside them."""
    def __init__(self):
        super().__init__()
        self.stack, self.els = [], []
    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.els.append(e)
        if tag not in ("meta", "br", "line", "rect", "input", "link"):
            self.stack.append(e)
    def handle_startendtag(self, tag, attrs):
        self.els.append({"tag": tag, "attrs": dict(attrs), "text": ""})
    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break
    def handle_data(self, d):
        for e in self.stack:
            e["text"] += d

def dom(name):
    d = Dom()
    d.feed(open(f"{w}/{name}.html").read())
    return d.els

def j(name):
    return json.load(open(f"{w}/{name}.json"))

n = 0
def check(what, cond, detail=""):
    global n
    n += 1
    print(("ok" if cond else "not ok"), n, "-", what)
    if not cond:
        print("#", detail)

ov = dom("overview")
firing = j("firing")
ids = [e["attrs"]["data-alert-id"] for e in ov if e["tag"] == "tr" and "data-alert-id" in e["attrs"]]
check("overview: the firing alerts' ids are the API's, in order", ids == [a["alert_id"] for a in firing],
      (ids[:3], [a["alert_id"] for a in firing][:3]))
counts = [e["text"] for e in ov if e["tag"] == "td" and e["attrs"].get("data-label") == "count"]
check("overview: each alert's count is the API's", counts == [str(a["count"]) for a in firing])
fixes = [e["text"] for e in ov if e["tag"] == "pre" and "fix" in e["attrs"].get("class", "")]
check("overview: each alert's fix is there as copyable text",
      len(fixes) == len(firing) and all((a["fix_steps"] or a["fix"]) == f for a, f in zip(firing, fixes)))
import datetime
first = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=29)).isoformat()
daily = [r for r in j("daily") if r["day"] >= first]  # the chart's 30 days
bars = [(e["attrs"]["data-day"], e["attrs"]["data-mismatch"], e["attrs"]["data-failures"])
        for e in ov if e["tag"] == "rect" and "bar" in e["attrs"].get("class", "")]
want = [(r["day"], r["mismatch"], str(r["failures"])) for r in daily]
check("overview chart: one bar segment per (day, mismatch) of the daily answer, with its count",
      sorted(bars) == sorted(want) and len(bars) > 0, (len(bars), len(want)))
tbl = False
devs = []
for e in ov:
    if e["tag"] == "table":
        tbl = e["attrs"].get("id") == "top-devices"
    if tbl and e["tag"] == "a" and e["attrs"].get("class") == "device":
        devs.append(e["text"])
check("overview: the top failing devices are the API's first ten", devs == [r["key"] for r in j("bydev")][:10],
      (devs, [r["key"] for r in j("bydev")][:10]))

dv = dom("device")
hw = j("hwcore")
slots = [e["text"] for e in dv if e["tag"] == "td" and e["attrs"].get("class") == "slot"]
check("device page: one server-list row per stored list", slots == [p["slot"] for p in hw["profile"]], slots)
check("device page: every client type failing there, as the API says",
      len(hw["clients"]) > 0 and all(any(e["tag"] == "a" and e["text"] == c["client"] for e in dv)
                                     for c in hw["clients"]))

cl = dom("clients")
names = [e["text"] for e in cl if e["tag"] == "td" and e["attrs"].get("class") == "client"]
check("client types page: every client type of the API, in order", names == [c["client"] for c in j("clients")])

ev = dom("evil")
scripts = [e for e in ev if e["tag"] == "script"]
check("a device named <script>alert(1)</script> is text: no script element but the page's own",
      len(scripts) == 1 and "alert(1)" not in scripts[0]["text"] and
      any("<script>alert(1)</script>" in e["text"] for e in ev if e["tag"] == "h1"))
dl = dom("devices")
keys = [e["text"] for e in dl if e["tag"] == "a" and e["attrs"].get("class") == "device"]
check("devices page: every device of the API (the markup one as text)",
      keys == [d["key"] for d in j("devices")] and "<script>alert(1)</script>" in keys)
PY
cat "$WORK/dom.tap" | while IFS= read -r l; do
    case "$l" in
        "ok "*) ok "${l#ok * - }" ;;
        "not ok "*) not_ok "${l#not ok * - }" ;;
        *) echo "$l" ;;
    esac
done
T_NUM=$((T_NUM + $(grep -c '^ok\|^not ok' "$WORK/dom.tap")))
T_FAILED=$((T_FAILED + $(grep -c '^not ok' "$WORK/dom.tap")))
check "SIGTERM: exit status 0" stop_daemon
finish
