#!/bin/sh
# SPDX-License-Identifier: ISC
# The [http] listener of the real daemon: basic authentication against a
# users file of real crypt(3) hashes (mkpasswd's yescrypt, openssl's
# sha512-crypt), 401 with WWW-Authenticate, read-only (POST refused), the
# connection cap (one past it answered 503 at once, slots freed when
# clients leave), oversized headers refused, a client trickling bytes cut
# at its 30 s deadline while others are served, and [http] / [metrics]
# listen being one setting; SIGHUP re-reads the users file (a bad one keeps
# the users read before and says why).
. "$(dirname "$0")/lib.sh"

plan 22
PORT=$(free_port)
HPORT=$(free_port)
write_config "$PORT"
ALICE=$(mkpasswd -m yescrypt 'alice-pw')
BOB=$(openssl passwd -6 'bob pw:with colon')
printf '# console users\nalice:%s\n\nbob:%s\n' "$ALICE" "$BOB" > "$WORK/users"
printf '\n[http]\nlisten = 127.0.0.1:%s\nusers = %s\nmax_connections = 4\n' "$HPORT" "$WORK/users" \
    >> "$WORK/kexwatch.conf"
check "kexwatchd starts with [http] listen and a users file" start_daemon

# a client trickling a header byte every 2 s, started first: it must be cut
# at its deadline (30 s after accept), however patient (bounded: 45 s)
python3 - "$HPORT" > "$WORK/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
start, closed = time.time(), False
s.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
while time.time() - start < 45:
    try:
        s.sendall(b"a")
        s.settimeout(2)
        if s.recv(1) == b"":
            closed = True
            break
    except socket.timeout:
        continue
    except OSError:
        closed = True
        break
print("closed" if closed else "open", round(time.time() - start))
PY
SLOW=$!

get() { # get PATH [USER:PASSWORD] [METHOD]: prints the status, the WWW-Authenticate header, the body
    python3 - "$HPORT" "$@" <<'PY'
import base64, http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
h = {}
if len(sys.argv) > 3 and sys.argv[3]:
    h["Authorization"] = "Basic " + base64.b64encode(sys.argv[3].encode()).decode()
c.request(sys.argv[4] if len(sys.argv) > 4 else "GET", sys.argv[2], body=b"x" if len(sys.argv) > 4 else None, headers=h)
r = c.getresponse()
print(r.status, r.getheader("WWW-Authenticate"))
print(r.read().decode(errors="replace"))
PY
}
get /healthz > "$WORK/noauth"
check "no credentials: 401 with WWW-Authenticate Basic" grep -q '^401 Basic realm="kexwatch"' "$WORK/noauth"
get /healthz 'alice:wrong' > "$WORK/wrong"
check "a wrong password: 401" grep -q '^401 ' "$WORK/wrong"
get /healthz 'mallory:alice-pw' > "$WORK/unknown"
check "an unknown user: 401" grep -q '^401 ' "$WORK/unknown"
get /healthz 'alice:alice-pw' > "$WORK/alice"
check "alice (yescrypt hash) is let in" grep -q '^200 None' "$WORK/alice"
get /healthz 'bob:bob pw:with colon' > "$WORK/bob"
check "bob (sha512-crypt hash, a colon in the password) is let in" grep -q '^200 None' "$WORK/bob"
get /api/v1/devices 'alice:alice-pw' POST > "$WORK/post" 2>&1
check "POST is refused (read-only)" grep -Eq '^(405|501) ' "$WORK/post"
check "the refused logins are logged with the user's name" grep -q "unknown user 'mallory'" "$WORK/stderr"

# the cap: 4 connections; the slow client holds one, three idle ones more;
# the next is answered 503 at once and closed
python3 - "$HPORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
time.sleep(0.5)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
answer = s.recv(200)
print("# past the cap:", answer[:40])
rc = 0 if answer.startswith(b"HTTP/1.1 503") else 1
for i in idle:
    i.close()
sys.exit(rc)
PY
check "one connection past max_connections is answered 503" [ $? -eq 0 ]
sleep 0.5
get /metrics 'alice:alice-pw' > "$WORK/metrics"
check "the slots are free again once those clients left" grep -q '^200 ' "$WORK/metrics"
is "kexwatch_http_connections counts the slow client and this one" \
    "$(grep '^kexwatch_http_connections ' "$WORK/metrics" | cut -d' ' -f2)" 2
is "kexwatch_http_refused_total counts the refused one" \
    "$(grep '^kexwatch_http_refused_total ' "$WORK/metrics" | cut -d' ' -f2)" 1

# headers past 8 KiB: refused, not buffered
python3 - "$HPORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
try:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    answer = s.recv(200)
except OSError:
    answer = b""
print("# oversized headers:", answer[:40])
sys.exit(0 if answer == b"" or answer.split(b" ")[1][:1] == b"4" else 1)
PY
check "9 KiB of headers are refused" [ $? -eq 0 ]

wait "$SLOW"
cat "$WORK/slow.out" | sed 's/^/# slow client: /'
check "the trickling client was cut at its deadline (30 s), not kept" \
    awk '$1 == "closed" && $2 >= 28 && $2 <= 40 { f = 1 } END { exit !f }' "$WORK/slow.out"
get /metrics 'alice:alice-pw' > "$WORK/metrics2"
is "every slot is free at the end (this request's own only)" \
    "$(grep '^kexwatch_http_connections ' "$WORK/metrics2" | cut -d' ' -f2)" 1

# SIGHUP re-reads the users file: alice gone, carol added; a bad file then
# keeps the users read before and says which line is wrong
# wait_log TEXT: the daemon's log says TEXT (bounded: 10 s)
wait_log() {
    for _ in $(seq 1 100); do
        grep -q "$1" "$WORK/stderr" && return 0
        sleep 0.1
    done
    return 1
}
CAROL=$(mkpasswd -m yescrypt 'carol-pw')
printf 'bob:%s
carol:%s
' "$BOB" "$CAROL" > "$WORK/users"
kill -HUP "$DAEMON_PID"
check "SIGHUP: the users file is re-read and logged" wait_log "users re-read from $WORK/users: 2 user(s)"
get /healthz 'carol:carol-pw' > "$WORK/carol"
check "... carol, added, is let in" grep -q '^200 ' "$WORK/carol"
get /healthz 'alice:alice-pw' > "$WORK/alice2"
check "... alice, removed, is refused" grep -q '^401 ' "$WORK/alice2"
printf 'bob:%s
carol-without-a-hash
' "$BOB" > "$WORK/users"
kill -HUP "$DAEMON_PID"
check "SIGHUP with a bad users file: FILE:LINE said, the users read before stay" \
    wait_log "SIGHUP: $WORK/users:2: not NAME:HASH.*the users read before stay in force (2)"
get /healthz 'carol:carol-pw' > "$WORK/carol2"
check "... carol is still let in" grep -q '^200 ' "$WORK/carol2"
check "SIGTERM: exit status 0" stop_daemon

printf '\n[metrics]\nlisten = 127.0.0.1:%s\n' "$HPORT" >> "$WORK/kexwatch.conf"
"$KEXWATCHD" -t -c "$WORK/kexwatch.conf" > "$WORK/both.out" 2>&1
check "[http] listen and [metrics] listen together: kexwatchd -t names the line" \
    grep -q "kexwatch.conf:[0-9]*: \[metrics\] listen: the HTTP listener is already set" "$WORK/both.out"
finish
