#!/bin/bash
# SPDX-License-Identifier: ISC
# [alerts] stdout: yes prints one short human line per alert when stdout is
# a terminal (a pty made by script(1)) and JSON Lines into a pipe or file;
# json is always JSON, text always the human line, no prints nothing. The
# human line names the device, the client, the mismatch and the fix, and
# escapes control bytes a client put in its software version.
. "$(dirname "$0")/lib.sh"

if ! command -v script > /dev/null 2>&1; then
    plan 1
    skip "script(1) missing (package bsdutils)"
    exit 0
fi
plan 11
PUB="$KW_TESTDATA/corpus/published/published.log"
EXP="$KW_TESTDATA/corpus/published/published.expected.tsv"
want=$(awk -F'\t' 'NR > 1 && $2 != "-"' "$EXP" | wc -l)

send_udp() {
    while IFS= read -r line; do printf '%s' "$line" > /dev/udp/127.0.0.1/"$PORT"; done < "$1"
}
wait_alerts() { # until the alert file has $1 lines (bounded: 10 s)
    for _ in $(seq 1 100); do
        [ "$(wc -l < "$WORK/alerts.jsonl")" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
# run MODE TTY|PIPE: the daemon with [alerts] stdout = MODE, the published
# failures sent to it, its stdout in $WORK/out (through a pty or a pipe)
run() {
    PORT=$(free_port)
    write_config "$PORT" "identify = hostname"
    sed -i "s/^stdout = no/stdout = $1/" "$WORK/kexwatch.conf"
    # a fresh database each time: a restored alert would be held back
    rm -f "$WORK/alerts.jsonl" "$WORK/pid" "$WORK"/kexwatch.db*
    : > "$WORK/stderr"
    cmd="echo \$\$ > '$WORK/pid'; exec '$KEXWATCHD' -c '$WORK/kexwatch.conf' 2> '$WORK/stderr'"
    if [ "$2" = TTY ]; then
        script -qfec "sh -c \"$cmd\"" /dev/null > "$WORK/out" 2>&1 < /dev/null &
    else
        sh -c "$cmd" | cat > "$WORK/out" &
    fi
    for _ in $(seq 1 100); do
        grep -q started "$WORK/stderr" 2> /dev/null && break
        sleep 0.1
    done
    send_udp "$PUB"
    [ -n "${3:-}" ] && send_udp "$3"
    wait_alerts "$((want + ${4:-0}))" || diag "only $(wc -l < "$WORK/alerts.jsonl") alerts"
    sleep 0.3
    kill -TERM "$(cat "$WORK/pid")"
    wait
    tr -d '\r' < "$WORK/out" > "$WORK/out.$1.$2"
}
json_lines() { grep -c '^{"alert_id":' "$1"; }
text_lines() { grep -Ec '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z ALERT (info|warning|critical) [^ ]+: .*\((kex|hostkey|cipher|mac|compression)( c2s| s2c)?\)(; fix.*)?$' "$1"; }

run yes TTY
is "stdout = yes on a terminal: one human line per alert" "$(text_lines "$WORK/out.yes.TTY")" "$want"
is "... and no JSON" "$(json_lines "$WORK/out.yes.TTY")" 0
python3 - "$WORK/out.yes.TTY" "$EXP" <<'PY'
import sys
lines = [l for l in open(sys.argv[1]) if " ALERT " in l]
bad = []
for row in list(open(sys.argv[2]))[1:]:
    f = row.rstrip("\n").split("\t")
    if f[1] == "-":
        continue
    dev, mismatch = f[0], f[3]
    if not any(f" {dev}: " in l and f": {mismatch} (" in l and "; fix" in l for l in lines):
        bad.append((dev, mismatch))
print(("ok" if not bad else "not ok") + " 3 - each line names the device, the mismatch and the fix")
for b in bad:
    print("# no line for", b)
PY
T_NUM=$((T_NUM + 1))
check "a client without a version string is 'unidentified client from ADDRESS'" \
    grep -q "ALERT .*: unidentified client from [0-9a-f.:]*: " "$WORK/out.yes.TTY"

run yes PIPE
is "stdout = yes into a pipe: JSON Lines" "$(json_lines "$WORK/out.yes.PIPE")" "$want"
is "... and no human lines" "$(text_lines "$WORK/out.yes.PIPE")" 0

run json TTY
is "stdout = json on a terminal: JSON Lines" "$(json_lines "$WORK/out.json.TTY")" "$want"

# text into a pipe, with a client whose version string carries an escape
# sequence, a BEL and a C1 control
python3 - > "$WORK/evil.log" <<'PY'
import sys
for m in [b"Connection from 192.0.2.9 port 5000 on 127.0.0.1 port 22",
          b"debug1: Remote protocol version 2.0, remote software version Evil\x1b]0;pwned\x07X\xc2\x9bZ",
          b"Unable to negotiate with 192.0.2.9 port 5000: no matching key exchange method found. "
          b"Their offer: diffie-hellman-group1-sha1 [preauth]"]:
    sys.stdout.buffer.write(b"<38>Nov 24 10:00:00 esc-host sshd[777]: " + m + b"\n")
PY
run text PIPE "$WORK/evil.log" 1
is "stdout = text into a pipe: human lines" "$(text_lines "$WORK/out.text.PIPE")" "$((want + 1))"
check "control bytes from the client are escaped as \\xNN" \
    grep -qF 'client Evil\x1b]0;pwned\x07X\x9bZ from 192.0.2.9: kex-sha1-only (kex)' "$WORK/out.text.PIPE"
check "no raw control byte reaches the output" sh -c "! LC_ALL=C grep -q '[[:cntrl:]]' '$WORK/out.text.PIPE'"

run no TTY
is "stdout = no: nothing on stdout" "$(grep -c ALERT "$WORK/out.no.TTY")$(json_lines "$WORK/out.no.TTY")" "00"
finish
