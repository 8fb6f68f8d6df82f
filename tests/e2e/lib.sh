# SPDX-License-Identifier: ISC
# Shared helpers for the end-to-end tests: TAP output, a free port, starting
# and stopping the real kexwatchd, reading its counters and record dump.
# Sourced by tests/e2e/*.sh, which automake runs with KW_BUILDDIR/KW_SRCDIR set.

set -u
KW_BUILDDIR=${KW_BUILDDIR:-$(pwd)}
KW_SRCDIR=${KW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
KW_TESTDATA=${KW_TESTDATA:-$KW_SRCDIR/tests/data}
KEXWATCHD=$KW_BUILDDIR/kexwatchd
KEXWATCH=$KW_BUILDDIR/kexwatch
# knowledge files (patterns, algorithm table) come from the source tree
KEXWATCH_CONFDIR=${KEXWATCH_CONFDIR:-$KW_SRCDIR/conf}
export KEXWATCH_CONFDIR

T_NUM=0
T_FAILED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kwe2e.XXXXXX")
DAEMON_PID=""
AM_PIDS=""

cleanup() {
    # shellcheck disable=SC2086
    [ -n "$AM_PIDS" ] && kill $AM_PIDS 2>/dev/null && sleep 0.3
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -KILL "$DAEMON_PID" 2>/dev/null
    fi
    [ -n "${EXTRA_CLEANUP:-}" ] && eval "$EXTRA_CLEANUP"
    chmod -R u+w "$WORK" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

plan() { echo "1..$1"; }
ok() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $*"; }
not_ok() { T_NUM=$((T_NUM + 1)); T_FAILED=$((T_FAILED + 1)); echo "not ok $T_NUM - $*"; }
skip() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - # SKIP $*"; }
diag() { echo "# $*"; }
# check DESCRIPTION COMMAND...: one TAP line from a command's exit status
check() {
    desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
# is DESCRIPTION GOT WANT
is() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; diag "got '$2', want '$3'"; fi
}
bail() { echo "Bail out! $*"; exit 1; }

# A port free for both UDP and TCP on 127.0.0.1 (and ::1 when present).
free_port() {
    python3 - <<'PY'
import socket, random
for _ in range(200):
    p = random.randint(20000, 60000)
    socks = []
    try:
        for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            for typ in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(fam, typ)
                socks.append(s)
                s.bind((host, p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(p)
    break
PY
}

# write_config PORT [EXTRA_LISTEN_LINES]: a configuration in $WORK
write_config() {
    cat > "$WORK/kexwatch.conf" <<CONF
[listen]
udp = 127.0.0.1:$1
tcp = 127.0.0.1:$1
${2:-}

[store]
database = $WORK/kexwatch.db

[alerts]
file = $WORK/alerts.jsonl
stdout = no
CONF
}

# add_alerts LINE...: adds each LINE ("exec = PATH", "webhook = URL", ...)
# to the [alerts] section of the configuration write_config wrote
add_alerts() {
    KW_LINES=$(printf '%s\n' "$@") awk '{ print } /^stdout = no$/ && !done { print ENVIRON["KW_LINES"]; done = 1 }' \
        "$WORK/kexwatch.conf" > "$WORK/kexwatch.conf.new" && mv "$WORK/kexwatch.conf.new" "$WORK/kexwatch.conf"
}

# start_daemon: runs kexwatchd on $WORK/kexwatch.conf, records to $WORK/records.jsonl
start_daemon() {
    : > "$WORK/records.jsonl"
    "$KEXWATCHD" -c "$WORK/kexwatch.conf" --dump-records "$WORK/records.jsonl" "$@" \
        > "$WORK/stdout" 2> "$WORK/stderr" &
    DAEMON_PID=$!
    # ready when it says it started (bounded: 10 s)
    for _ in $(seq 1 100); do
        grep -q "started" "$WORK/stderr" 2>/dev/null && return 0
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/stderr" >&2
    return 1
}

# wait_records N: until the record dump has N lines (bounded: 10 s).
# The daemon flushes the dump on SIGUSR1 along with its counters.
wait_records() {
    for _ in $(seq 1 50); do
        kill -USR1 "$DAEMON_PID" 2>/dev/null
        sleep 0.2
        [ "$(wc -l < "$WORK/records.jsonl")" -ge "$1" ] && return 0
    done
    return 1
}

# (rsyslog keeps the blank after a 3164 tag in %msg%, so RFC 5424 forwards
# of 3164 input start with one; the texts below allow it)
# counter NAME: the last value of a counter dumped on SIGUSR1
counter() {
    kill -USR1 "$DAEMON_PID"
    sleep 0.3
    grep "^$1 " "$WORK/stderr" | tail -n 1 | cut -d' ' -f2
}

# usr1_ms: milliseconds until the daemon answers SIGUSR1 with its counters
# (bounded: 5 s): how long its event loop takes to get round to a signal
usr1_ms() {
    local before t0
    before=$(grep -c '^udp_datagrams ' "$WORK/stderr")
    t0=$(date +%s%N)
    kill -USR1 "$DAEMON_PID"
    for _ in $(seq 1 250); do
        [ "$(grep -c '^udp_datagrams ' "$WORK/stderr")" -gt "$before" ] && break
        sleep 0.02
    done
    echo $((($(date +%s%N) - t0) / 1000000))
}

# stop_daemon: SIGTERM, then the exit status (bounded: 10 s)
stop_daemon() {
    kill -TERM "$DAEMON_PID"
    for _ in $(seq 1 100); do
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    wait "$DAEMON_PID"
    rc=$?
    DAEMON_PID=""
    return $rc
}

# jq-free JSON field extraction for the record dump: field NAME FILE
# prints the field of every line (python3 is part of the test dependencies)
field() {
    python3 -c '
import json, sys
for line in open(sys.argv[2], encoding="utf-8"):
    v = json.loads(line).get(sys.argv[1])
    print("null" if v is None else v)
' "$1" "$2"
}

# start_http_receiver PORT FILE [DELAY]: a real HTTP server on 127.0.0.1:PORT
# that answers 200 to every POST and appends "PATH<TAB>BODY" lines to FILE
# (every body on one line); with DELAY it holds its first request DELAY
# seconds before answering. It stops by itself after 60 s. Sets RECV to its
# pid and cleans it up.
start_http_receiver() {
    python3 - "$1" "$2" "${3:-0}" <<'PY' &
import http.server, sys, threading, time
out = open(sys.argv[2], "a")
delay = [float(sys.argv[3])]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if delay[0]:
            time.sleep(delay[0])
            delay[0] = 0
        out.write(self.path + "\t" + body.decode().replace("\n", " ") + "\n")
        out.flush()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
threading.Timer(60, srv.shutdown).start()
srv.serve_forever()
PY
    RECV=$!
    EXTRA_CLEANUP='kill $RECV 2>/dev/null'
}

# received_alerts FILE: alerts in a start_http_receiver file (Alertmanager
# bodies are JSON arrays; alerts waiting together share one POST)
received_alerts() {
    python3 -c 'import json,sys; print(sum(len(json.loads(l.split("\t", 1)[1])) for l in open(sys.argv[1])))' \
        "$1" 2> /dev/null || echo 0
}

# start_notify_listener SOCKET LOG: a unix datagram socket standing in for
# PID 1's NOTIFY_SOCKET; every datagram becomes one line of LOG (newlines as
# "|"). It stops by itself after 40 s. Sets NOTIFY_PID and cleans it up.
start_notify_listener() {
    python3 - "$1" "$2" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
end = time.time() + 40
with open(sys.argv[2], "w") as out:
    while time.time() < end:
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        out.write(data.decode(errors="replace").replace("\n", "|") + "\n")
        out.flush()
PY
    NOTIFY_PID=$!
    EXTRA_CLEANUP='kill $NOTIFY_PID 2>/dev/null'
    for _ in $(seq 1 50); do [ -S "$1" ] && break; sleep 0.1; done
}

# build_shim NAME: builds the LD_PRELOAD shim tests/e2e/NAME.c as
# $WORK/NAME.so (slowfsync: fsync and fdatasync sleep KW_SLOW_FSYNC_MS while
# the file KW_SLOW_FSYNC_FLAG exists; smallpipe: every pipe holds one page).
# Needs a C compiler ($CC or cc). The shims are not built with the
# sanitizers: ASan is told to accept them.
build_shim() {
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
    "${CC:-cc}" -shared -fPIC -O2 -o "$WORK/$1.so" "$KW_SRCDIR/tests/e2e/$1.c" -ldl
}

finish() {
    [ "$T_FAILED" -eq 0 ]
    exit $?
}

# start_alertmanager NAME PORT [CLUSTER_PORT [PEER_PORT]]: the real
# Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1:PORT with its
# storage in $WORK/NAME, clustered on 127.0.0.1:CLUSTER_PORT with the peer
# 127.0.0.1:PEER_PORT when given (clustering off without CLUSTER_PORT).
# $AM_CONFIG, when set, is its configuration (default: one receiver that
# does nothing). Waits until it answers (bounded: 15 s); 1 when it does not.
# Its pid is in AM_PID_NAME and it is killed at exit.
start_alertmanager() {
    name=$1
    mkdir -p "$WORK/$name"
    if [ -n "${AM_CONFIG:-}" ]; then
        printf '%s\n' "$AM_CONFIG" > "$WORK/$name/alertmanager.yml"
    else
        printf 'route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n' > "$WORK/$name/alertmanager.yml"
    fi
    cl="--cluster.listen-address="
    [ -n "${3:-}" ] && cl="--cluster.listen-address=127.0.0.1:$3"
    peer=""
    [ -n "${4:-}" ] && peer="--cluster.peer=127.0.0.1:$4"
    # shellcheck disable=SC2086
    /usr/bin/prometheus-alertmanager --config.file="$WORK/$name/alertmanager.yml" \
        --storage.path="$WORK/$name" --web.listen-address="127.0.0.1:$2" "$cl" $peer \
        --cluster.settle-timeout=1s --cluster.gossip-interval=100ms --log.level=warn \
        > "$WORK/$name/log" 2>&1 &
    eval "AM_PID_$name=$!"
    AM_PIDS="$AM_PIDS $!"
    for _ in $(seq 1 150); do
        python3 -c 'import sys, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/-/ready" % sys.argv[1], timeout=1)' \
            "$2" 2> /dev/null && return 0
        sleep 0.1
    done
    cat "$WORK/$name/log" >&2
    return 1
}

# am_alerts PORT: the alerts active in the Alertmanager on PORT, one line
# each, "alert_id client status" sorted (its API, as amtool reads it)
am_alerts() {
    python3 - "$1" <<'PY' 2> /dev/null
import json, sys, urllib.request
al = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v2/alerts" % sys.argv[1], timeout=5))
for a in sorted(al, key=lambda a: a["labels"].get("alert_id", "")):
    l = a["labels"]
    print(l.get("alert_id", "-"), l.get("client", "-"), a["status"]["state"])
PY
}

# wait_am_count PORT N: until the Alertmanager on PORT has N active alerts
# (bounded: 20 s)
wait_am_count() {
    for _ in $(seq 1 100); do
        [ "$(am_alerts "$1" | wc -l)" -eq "$2" ] && return 0
        sleep 0.2
    done
    return 1
}

# send_tcp_file PORT FILE: FILE's bytes to the daemon's TCP listener on
# 127.0.0.1:PORT over one connection (LF-framed lines)
send_tcp_file() {
    python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(open(sys.argv[2], "rb").read())
s.close()
PY
}

# wait_db_settled MIN [SECONDS]: until the database has at least MIN alerts
# and its alerts, their counts and the negotiations stop changing (bounded:
# SECONDS, 15 by default); 1 when it never gets there. Leaves the last
# "alerts|sum of counts|negotiations" reading in $now.
wait_db_settled() {
    last=""
    for _ in $(seq 1 $((${2:-15} * 2))); do
        now=$(sqlite3 "$WORK/kexwatch.db" "SELECT (SELECT count(*) FROM alerts), (SELECT sum(count) FROM alerts),
            (SELECT count(*) FROM negotiations)" 2> /dev/null)
        [ "${now%%|*}" -ge "$1" ] 2> /dev/null && [ "$now" = "$last" ] && return 0
        last=$now
        sleep 0.5
    done
    return 1
}

# gen_year DB N DEVICES CLIENTS: a generated year of N negotiations
# (tests/bench/query_gen.c, compiled into $WORK once) written into DB at the
# schema before daily's migration, so the real store builds the counts when
# it opens DB; query_gen's complaints in $WORK/gen.err. 0 when it worked.
gen_year() {
    gy_db=$1 gy_n=$2 gy_devices=$3 gy_clients=$4
    set --
    for f in "$KW_SRCDIR"/sql/[0-9][0-9][0-9]-*.sql; do
        case $f in *-daily.sql) break ;; esac
        set -- "$@" "$f"
    done
    # shellcheck disable=SC2046 # pkg-config prints several words
    [ -x "$WORK/query_gen" ] || ${CC:-cc} -O1 -std=c11 -D_DEFAULT_SOURCE $(pkg-config --cflags sqlite3 2> /dev/null) \
        -o "$WORK/query_gen" "$KW_SRCDIR/tests/bench/query_gen.c" $(pkg-config --libs sqlite3 2> /dev/null || echo -lsqlite3) &&
        "$WORK/query_gen" "$gy_db" "$gy_n" "$gy_devices" "$gy_clients" "$@" 2> "$WORK/gen.err"
}

# ------------------------------------------------- real OpenSSH sshd labs
# start_lab_sshd LOGLEVEL NAME [CONFIG_LINES]: a real sshd (needs root) in
# $T = $WORK/ssh with an ed25519 host key, a user key whose public half is
# authorized (log in with `-i "$T/user"`), and LogLevel LOGLEVEL plus
# CONFIG_LINES in its sshd_config; tests/e2e/sshd-capture.py runs it and
# sends each line it logs to the daemon over UDP (127.0.0.1:$PORT) with
# the host name NAME. Its port is $SP once it listens (bounded: 5 s; 1 when
# it never does); it is killed at exit.
start_lab_sshd() {
    T=$WORK/ssh
    mkdir -p "$T" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$T/hk"
    ssh-keygen -q -t ed25519 -N '' -f "$T/user"
    cp "$T/user.pub" "$T/authorized_keys"
    printf 'HostKey %s\nAuthorizedKeysFile %s\nStrictModes no\nPermitRootLogin prohibit-password\nUsePAM no\n' \
        "$T/hk" "$T/authorized_keys" > "$T/sshd_config"
    printf 'PidFile none\nLogLevel %s\n%s\n' "$1" "${3:-}" >> "$T/sshd_config"
    KW_SEND=127.0.0.1:$PORT python3 "$KW_SRCDIR/tests/e2e/sshd-capture.py" "$T/port" "$WORK/sshd.log" "$2" sshd \
        -f "$T/sshd_config" &
    LAB_CAP=$!
    EXTRA_CLEANUP="${EXTRA_CLEANUP:-}${EXTRA_CLEANUP:+; }kill $LAB_CAP 2>/dev/null"
    for _ in $(seq 1 50); do [ -s "$T/port" ] && break; sleep 0.1; done
    SP=$(cat "$T/port" 2> /dev/null)
    [ -n "$SP" ]
}

# ssh_from ADDRESS USER OPTIONS...: one connection of a real ssh client
# from ADDRESS (a loopback address) to the lab sshd, its output dropped
ssh_from() {
    a=$1
    u=$2
    shift 2
    ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o ConnectTimeout=5 -b "$a" -p "$SP" "$@" "$u@127.0.0.1" true > /dev/null 2>&1
}

# alerts_with STATUS: how many alerts of the alert file have that status
alerts_with() { grep -c "\"status\":\"$1\"" "$WORK/alerts.jsonl"; }

# wait_alerts STATUS N: until the alert file has N alerts with STATUS
# (bounded: 5 s)
wait_alerts() {
    for _ in $(seq 1 50); do [ "$(alerts_with "$1")" -ge "$2" ] && return 0; sleep 0.1; done
    return 1
}

# db SQL: the daemon's database answers
db() { sqlite3 "$WORK/kexwatch.db" "$1"; }

# probe_lab PROBE_PORT [CONFIG_LINES] [PROBE_LINES]: the daemon's
# configuration gets repeat_interval = 1h and a [probe] block that asks
# 127.0.0.1:PROBE_PORT (after_failure 1s, timeout 5s, PROBE_LINES), and
# $WORK/sshd_config is a real sshd on 127.0.0.1:PROBE_PORT at LogLevel
# VERBOSE with the host key $WORK/hk_ed, its pid in $WORK/sshd.pid, no
# password or keyboard login, plus CONFIG_LINES. The test starts sshd.
probe_lab() {
    printf 'repeat_interval = 1h\n\n[probe]\nenable = yes\nallow = 127.0.0.0/8\nport = %s\n' "$1" \
        >> "$WORK/kexwatch.conf"
    printf 'after_failure = 1s\ntimeout = 5s\n%s\n' "${3:-}" >> "$WORK/kexwatch.conf"
    mkdir -p /run/sshd 2> /dev/null
    ssh-keygen -q -t ed25519 -N '' -f "$WORK/hk_ed"
    printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nLogLevel VERBOSE\nUsePAM no\n' \
        "$1" "$WORK/hk_ed" "$WORK/sshd.pid" > "$WORK/sshd_config"
    printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\n%s\n' "${2:-}" >> "$WORK/sshd_config"
}
