#!/bin/sh
# SPDX-License-Identifier: ISC
# The console's page of an alert (/alerts/ID) and its link: the real daemon
# with [http] listen and external_url, filled from the corpus plus a device
# named <script>alert(1)</script>:
#  - every alert sent carries console_url = external_url + alerts/ID (the
#    URL given without its trailing '/'), and the text line on stdout says it;
#  - /api/v1/alerts/ID is the alert as sent, with its state now, and
#    byte for byte what `kexwatch alert ID` prints (exit 1 for an unknown id);
#  - every alert's page shows its device (linked), client, mismatch id and
#    summary, category, count and the fix steps as they were sent;
#  - the markup device's page shows the name as text (escaped in the HTML;
#    in headless Chromium, when installed, no script of it runs or exists;
#    screenshots of an alert's page at 1280 and 390 px under
#    tests/artifacts/console/);
#  - an unknown id is a 404 page and a 404 JSON error.
. "$(dirname "$0")/lib.sh"

C="$KW_TESTDATA/corpus"
plan 16
PORT=$(free_port)
HPORT=$(free_port)
while [ "$HPORT" = "$PORT" ]; do HPORT=$(free_port); done
B="http://127.0.0.1:$HPORT"
write_config "$PORT" "identify = hostname"
sed -i "s/^stdout = no/stdout = text/" "$WORK/kexwatch.conf"
printf '\n[http]\nlisten = 127.0.0.1:%s\nexternal_url = %s\n' "$HPORT" "$B" >> "$WORK/kexwatch.conf"
cat "$C/huawei-assumed/huawei-inventory.conf" "$C/openssh-lab/inventory.conf" >> "$WORK/kexwatch.conf"
check "kexwatchd starts" start_daemon
EVIL='<script>alert(1)</script>'
{
    cat "$C"/openssh-lab/*.log "$C/published/published.log"
    sed -n 4p "$C/published/published.log" | sed "s|web-7|$EVIL|"
} > "$WORK/corpus.log"
send_tcp_file "$PORT" "$WORK/corpus.log"
wait_db_settled 10
for _ in $(seq 1 50); do [ -s "$WORK/alerts.jsonl" ] && break; sleep 0.1; done
n=$(sqlite3 "$WORK/kexwatch.db" "SELECT count(*) FROM alerts")
check "the daemon raised the corpus's alerts ($n)" [ "$n" -ge 10 ]

# every alert names its page; the text line on stdout too
python3 - "$WORK/alerts.jsonl" "$B" > "$WORK/urls" <<'PY'
import json, sys
bad = 0
for line in open(sys.argv[1]):
    a = json.loads(line)
    want = sys.argv[2] + "/alerts/" + a["alert_id"]
    if a.get("console_url") != want:
        bad += 1
        print("# %s has %r" % (a["alert_id"], a.get("console_url")), file=sys.stderr)
print(bad)
PY
is "every alert sent has console_url = external_url + /alerts/ID" "$(cat "$WORK/urls")" 0
ID=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["alert_id"])' "$WORK/alerts.jsonl")
check "the text line on stdout links the alert's page" grep -q "; see $B/alerts/$ID\$" "$WORK/stdout"

get() { # URL: body to stdout, "HTTP NNN" to $WORK/code
    python3 - "$1" "$WORK/code" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
    code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
open(sys.argv[2], "w").write(str(code))
sys.stdout.write(body.decode())
PY
}

# the API's alert is the one sent, with its state in the database now
get "$B/api/v1/alerts/$ID" > "$WORK/one.json"
python3 - "$WORK/one.json" "$WORK/alerts.jsonl" "$ID" "$(sqlite3 "$WORK/kexwatch.db" \
    "SELECT status || ' ' || count FROM alerts WHERE alert_id = '$ID'")" > "$WORK/cmp" <<'PY'
import json, sys
one = json.load(open(sys.argv[1]))
sent = [a for a in map(json.loads, open(sys.argv[2])) if a["alert_id"] == sys.argv[3]][-1]
diff = [k for k in ("device", "client", "category", "mismatch", "remediation", "client_offer", "server_offer",
                    "first_seen", "console_url") if one.get(k) != sent.get(k)]
state = "%s %s" % (one["status"], one["count"])
print("same" if not diff and state == sys.argv[4] else "differ: %s, state %s vs %s" % (diff, state, sys.argv[4]))
PY
is "/api/v1/alerts/ID is the alert as sent, with the database's status and count" "$(cat "$WORK/cmp")" same
"$KEXWATCH" --db "$WORK/kexwatch.db" alert "$ID" > "$WORK/one.cli"
check "kexwatch alert ID prints the API's JSON byte for byte" cmp "$WORK/one.json" "$WORK/one.cli"
"$KEXWATCH" --db "$WORK/kexwatch.db" alert 0123456789abcdef0123456789abcdef > /dev/null 2> "$WORK/cli.err"
is "kexwatch alert with an unknown id: exit 1, saying so" "$? $(grep -c 'no alert 0123456789abcdef0123456789abcdef' \
    "$WORK/cli.err")" "1 1"

# every alert's page shows what its alert says
: > "$WORK/pages.txt"
for id in $(sqlite3 "$WORK/kexwatch.db" "SELECT alert_id FROM alerts"); do
    get "$B/alerts/$id" > "$WORK/page-$id.html"
    echo "$id $(cat "$WORK/code")" >> "$WORK/pages.txt"
done
python3 - "$WORK" "$WORK/alerts.jsonl" "$B" > "$WORK/pagecheck" <<'PY'
import html, json, sys, re
work, base = sys.argv[1], sys.argv[3]
last = {}
for a in map(json.loads, open(sys.argv[2])):
    last[a["alert_id"]] = a
bad = []
for line in open(work + "/pages.txt"):
    i, code = line.split()
    page = open("%s/page-%s.html" % (work, i)).read()
    a = last.get(i)
    if code != "200" or a is None:
        bad.append((i, code))
        continue
    def has(text):
        return text is None or html.escape(text, quote=True).replace("&#x27;", "&#39;") in page
    rem = a.get("remediation") or {}
    steps = "\n".join(rem.get("steps") or [])
    want = [a["device"]["key"], a["mismatch"]["id"], a["mismatch"].get("summary"), a["category"],
            a["client"].get("software"), steps or rem.get("server"), rem.get("verify"), a["alert_id"]]
    missing = [w for w in want if w and not has(w)]
    if missing:
        bad.append((i, missing))
    if not re.search(r'href="/device\?window=30d&amp;key=[^"]+"', page):
        bad.append((i, "no device link"))
    if 'href="/alerts/%s?window=7d"' % i not in page:
        bad.append((i, "the window links leave the page"))
    if 'href="/clients?window=30d"' not in page:
        bad.append((i, "no client link"))
    m = re.search(r'id="alert-count">(\d+)<', page)
    if not m:
        bad.append((i, "no count"))
print(len(last), "pages", "ok" if not bad else bad[:3])
PY
n=$(wc -l < "$WORK/pages.txt")
is "each of the $n alerts' pages shows device (linked), client, mismatch and its text, category, count, fix steps and verify" \
    "$(cat "$WORK/pagecheck")" "$n pages ok"

# the Overview's firing alerts link to their pages, in the Overview's window
get "$B/?window=7d" > "$WORK/overview.html"
firing=$(sqlite3 "$WORK/kexwatch.db" "SELECT alert_id FROM alerts WHERE status = 'firing'")
unlinked=0
for id in $firing; do
    grep -q "href=\"/alerts/$id?window=7d\"" "$WORK/overview.html" || { unlinked=$((unlinked + 1)); echo "# $id not linked"; }
done
is "the Overview links each of the $(echo $firing | wc -w) firing alerts to its page" \
    "$([ -n "$firing" ] && echo "$unlinked")" 0

# the markup device: escaped in the page, text in the browser
EID=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a["device"]["key"] == sys.argv[2]: print(a["alert_id"]); break' "$WORK/alerts.jsonl" "$EVIL")
check "the markup device raised an alert" [ -n "$EID" ]
get "$B/alerts/$EID" > "$WORK/evil.html"
check "its page has the name escaped (&lt;script&gt;alert(1)&lt;/script&gt;)" \
    grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' "$WORK/evil.html"
is "... and never as markup" "$(grep -cF "$EVIL" "$WORK/evil.html")" 0
if command -v chromium > /dev/null; then
    timeout 60 chromium --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/chrome" \
        --enable-logging=stderr --v=0 --virtual-time-budget=3000 --dump-dom "$B/alerts/$EID" \
        > "$WORK/evil.dom" 2> "$WORK/evil.log"
    # the DOM as the browser built it: the page's one script, the name as text
    python3 - "$WORK/evil.dom" "$EVIL" > "$WORK/dom" <<'PY'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.cell, self.text = 0, False, ""
    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        if dict(attrs).get("id") == "alert-device":
            self.cell = True
    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = False
    def handle_data(self, d):
        if self.cell:
            self.text += d
p = P()
p.feed(open(sys.argv[1]).read())
print(p.scripts, sys.argv[2] in p.text)
PY
    is "in Chromium: one script element (the page's) and the device name as text" "$(cat "$WORK/dom")" "1 True"
    # screenshots kept with the console's (tests/artifacts/console/)
    ART="$KW_BUILDDIR/tests/artifacts/console"
    mkdir -p "$ART"
    for w in 1280 390; do
        timeout 60 chromium --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/chrome" \
            --hide-scrollbars --window-size="$w,1400" --screenshot="$ART/alert-$w.png" "$B/alerts/$ID" \
            > /dev/null 2>&1
    done
else
    skip "chromium is not installed (scripts/deps.sh --test)"
fi

get "$B/alerts/0123456789abcdef0123456789abcdef" > "$WORK/none.html"
check "an unknown alert id: a 404 page saying so" \
    sh -c "[ \"\$(cat '$WORK/code')\" = 404 ] && grep -q 'no alert 0123456789abcdef0123456789abcdef' '$WORK/none.html'"
get "$B/api/v1/alerts/0123456789abcdef0123456789abcdef" > "$WORK/none.json"
check "... and a 404 JSON error from the API" \
    sh -c "[ \"\$(cat '$WORK/code')\" = 404 ] && grep -q '\"status\":404' '$WORK/none.json'"
check "kexwatchd stops cleanly" stop_daemon
finish
