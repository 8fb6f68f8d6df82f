#!/bin/bash
# SPDX-License-Identifier: ISC
# Ingest benchmark: kexwatchd against rsyslog 8 doing the same job (receive
# syslog over UDP and TCP, keep the SSH lines), each daemon pinned to one
# core and the load generator (kwgen.c) to the other. Prints figures and a
# table at the end; it asserts nothing and always exits 0 once it has run.
# How to read the figures: tests/bench/README.md.
#
# Everything goes to 127.0.0.1 on free ports; every load is bounded in
# messages and seconds; the whole run takes about three to five minutes.
#
# Environment (all optional):
#   KW_BENCH_BUILDDIR   where kexwatchd is built (default: SRCDIR/build-bench,
#                       a VPATH build with -O2 -g)
#   KW_BENCH_KEXWATCHD  use this kexwatchd binary instead of building one
#   KW_BENCH_RATES      UDP target rates (msg/s) sent with sendmmsg
#                       (default "50000 100000 200000 300000 400000 500000")
#   KW_BENCH_RATES_GSO  UDP target rates sent with GSO
#                       (default "50000 100000 200000 400000 800000 1600000")
#   KW_BENCH_COUNT      messages for each TCP run (2000000)
#   KW_BENCH_FLOOD_SECONDS  length of each UDP flood (3)
#   KW_BENCH_SCENARIOS  which to run (default "udp-rate udp-rate-gso udp-flood
#                       udp-mmsg tcp-1 tcp-50 tcp-idle"; also tls-1 tls-50:
#                       RFC 5425 over 1 and 50 connections, see tls.sh)
#   KW_BENCH_IDLE       idle TCP connections to hold (1000)
#   KW_BENCH_RCVBUF     UDP receive buffer given to both daemons (8m; "" = OS default)
#   KW_BENCH_DAEMONS    daemons to run (default "kexwatchd rsyslog"; rsyslog-ossl
#                       is rsyslog with the ossl instead of the gtls TLS driver,
#                       the same as rsyslog for the other scenarios)
#   KW_BENCH_OUT        also copy the raw results (TSV) to this file
#   KW_BENCH_NODEPS=1   do not run scripts/deps.sh --test
set -u
# shellcheck disable=SC2317 # helpers are called through variables and wait_for

SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
BUILDDIR=${KW_BENCH_BUILDDIR:-$SRCDIR/build-bench}
RATES=${KW_BENCH_RATES:-50000 100000 200000 300000 400000 500000}
RATES_GSO=${KW_BENCH_RATES_GSO:-50000 100000 200000 400000 800000 1600000}
GSO_LEN=248 # kwgen.c
COUNT=${KW_BENCH_COUNT:-2000000}
FLOOD_SECONDS=${KW_BENCH_FLOOD_SECONDS:-3}
SCENARIOS=${KW_BENCH_SCENARIOS:-udp-rate udp-rate-gso udp-flood udp-mmsg tcp-1 tcp-50 tcp-idle}
IDLE_CONNS=${KW_BENCH_IDLE:-1000}
RCVBUF=${KW_BENCH_RCVBUF-8m}
DAEMONS=${KW_BENCH_DAEMONS:-kexwatchd rsyslog}
UDP_STEP_SECONDS=3    # each fixed-rate step lasts at most this long ...
UDP_STEP_MAX=300000   # ... and sends at most this many messages
BISECT_ROUNDS=3       # extra rates tried between the best lossless and first lossy step

say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
# calc EXPR [VAR=VALUE...]: floating-point arithmetic through awk
calc() {
    local e=$1
    shift
    local args=()
    for a in "$@"; do args+=(-v "$a"); done
    awk -v OFMT=%.6f "${args[@]}" "BEGIN { print ($e) }"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kwbench.XXXXXX")
D_PID=""
GEN_PID=""
cleanup() {
    [ -n "$GEN_PID" ] && kill -KILL "$GEN_PID" 2>/dev/null
    [ -n "$D_PID" ] && kill -KILL "$D_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ preparation

if [ "${KW_BENCH_NODEPS:-}" != 1 ]; then
    sh "$SRCDIR/scripts/deps.sh" --test ||
        say "bench: scripts/deps.sh --test failed; going on with what is installed"
fi
for tool in gcc taskset ss python3 awk; do
    command -v "$tool" > /dev/null || { say "bench: $tool is missing"; exit 1; }
done
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
case " $DAEMONS " in *" rsyslog "* | *" rsyslog-ossl "*)
    [ -x "$RSYSLOGD" ] || { say "bench: rsyslogd is missing; running kexwatchd alone"; DAEMONS=kexwatchd; } ;;
esac

# build_kexwatchd SRC BUILD: a VPATH build of SRC's kexwatchd in BUILD with -O2
build_kexwatchd() {
    [ -x "$1/configure" ] || (cd "$1" && ./autogen.sh > /dev/null 2>&1) || return 1
    if [ ! -f "$2/Makefile" ]; then
        mkdir -p "$2" &&
            (cd "$2" && "$1/configure" CFLAGS="-O2 -g" --disable-unit-tests > configure.out 2>&1) || return 1
    fi
    make -C "$2" -j"$(nproc)" kexwatchd > "$WORK/make.out" 2>&1
}
KW_NOTE=""
CONFDIR=$SRCDIR/conf
if [ -n "${KW_BENCH_KEXWATCHD:-}" ]; then
    KEXWATCHD=$KW_BENCH_KEXWATCHD
    KW_NOTE="binary given by KW_BENCH_KEXWATCHD"
else
    say "bench: building kexwatchd in $BUILDDIR"
    if build_kexwatchd "$SRCDIR" "$BUILDDIR"; then
        KEXWATCHD=$BUILDDIR/kexwatchd
    else
        # the working tree may be half-way through someone's edit: measure
        # the last commit instead, and say so
        tail -n 5 "$WORK/make.out" >&2
        say "bench: the working tree does not build; building the last commit instead"
        mkdir -p "$WORK/head"
        git -C "$SRCDIR" archive HEAD | tar -x -C "$WORK/head" &&
            build_kexwatchd "$WORK/head" "$WORK/head/build" ||
            { tail -n 20 "$WORK/make.out" >&2; say "bench: kexwatchd does not build"; exit 1; }
        KEXWATCHD=$WORK/head/build/kexwatchd
        CONFDIR=$WORK/head/conf
        KW_NOTE="the working tree did not build; measured the last commit, $(git -C "$SRCDIR" rev-parse --short HEAD)"
    fi
fi
KWGEN=$WORK/kwgen
case " $SCENARIOS " in
*" tls-"*)
    gcc -O2 -std=c11 -Wall -Wextra -DKWGEN_TLS -o "$KWGEN" "$SRCDIR/tests/bench/kwgen.c" -lssl -lcrypto ||
        { say "bench: kwgen does not build with OpenSSL (libssl-dev)"; exit 1; }
    # the PKI both daemons serve and verify: server.pem (IP:127.0.0.1) and
    # the client certificate r1.pem, both from ca.pem
    KW_SRCDIR=$SRCDIR . "$SRCDIR/tests/e2e/tls-lib.sh"
    PKI=$WORK/pki
    make_pki "$PKI" || { say "bench: openssl could not make the test PKI"; exit 1; }
    ;;
*) gcc -O2 -std=c11 -Wall -Wextra -o "$KWGEN" "$SRCDIR/tests/bench/kwgen.c" || exit 1 ;;
esac

# One core for the daemon under test, the other for the generator and this
# script (children inherit the script's affinity).
if [ "$(nproc)" -ge 2 ]; then
    GEN_CPU=0
    D_CPU=1
else
    GEN_CPU=0
    D_CPU=0
    say "bench: WARNING: one CPU only; daemon and generator share it"
fi
taskset -pc "$GEN_CPU" $$ > /dev/null
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------ helpers

# A port free for UDP and TCP on 127.0.0.1.
free_port() {
    python3 -c '
import socket
for _ in range(100):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        u.close()
        t.close()
    print(port)
    break
'
}

# cpu_seconds PID: user + system time of the whole process (all threads)
cpu_seconds() {
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v hz="$CLK_TCK" '{ printf "%.3f", ($12 + $13) / hz }'
}
# core_busy CPU: seconds that CPU has been busy (anything but idle and iowait,
# steal included) since boot
core_busy() {
    awk -v c="cpu$1" -v hz="$CLK_TCK" '$1 == c { printf "%.3f", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}
# proc_kb PID FIELD: a /proc/PID/status figure in kB (VmHWM, VmRSS)
proc_kb() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}
# udp_drops PORT: the kernel's drop count for sockets bound to 127.0.0.1:PORT
udp_drops() {
    awk -v a="$(printf '0100007F:%04X' "$1")" '$2 == a { d += $NF } END { print d + 0 }' /proc/net/udp
}
udp_rcvbuf_effective() {
    ss -Hlumn "sport = :$1" 2>/dev/null | grep -o 'rb[0-9]*' | head -n 1 | tr -d rb
}

wait_for() { # wait_for SECONDS COMMAND...: polls every 0.05 s
    local end
    end=$(calc "t + s" t="$(now)" s="$1")
    shift
    until "$@"; do
        [ "$(calc "n > e" n="$(now)" e="$end")" = 1 ] && return 1
        sleep 0.05
    done
}
listening() {
    [ -n "$(ss -Hltn "sport = :$1")" ] && [ -n "$(ss -Hlun "sport = :$1")" ]
}

# --- kexwatchd

kw_start() { # kw_start PORT DIR (TLS on PORT instead of TCP when TLS_RUN=1)
    local rcv="" stream="tcp = 127.0.0.1:$1"
    [ -n "$RCVBUF" ] && rcv="udp_rcvbuf = $RCVBUF"
    [ "${TLS_RUN:-0}" = 1 ] && stream="tls = 127.0.0.1:$1
tls_cert = $PKI/server.pem
tls_key = $PKI/server.key
tls_ca = $PKI/ca.pem
tls_verify = require"
    cat > "$2/kexwatch.conf" <<CONF
[daemon]
log_level = notice

[listen]
udp = 127.0.0.1:$1
$stream
max_connections = 4096
$rcv

[store]
database = $2/kexwatch.db

[alerts]
file = $2/alerts.jsonl
stdout = no
CONF
    # the knowledge files (patterns, algorithm table) come from the source tree
    KEXWATCH_CONFDIR=${KEXWATCH_CONFDIR:-$CONFDIR} \
        taskset -c "$D_CPU" "$KEXWATCHD" -c "$2/kexwatch.conf" > "$2/stdout" 2> "$2/stderr" &
    D_PID=$!
    wait_for 10 grep -q started "$2/stderr" && wait_for 5 listening "$1"
}

# kw_counters DIR: SIGUSR1, wait for the new dump, set KW_MSGS KW_DROPS KW_OPEN KW_SSH
kw_counters() {
    local before
    before=$(grep -c '^messages_udp ' "$1/stderr")
    kill -USR1 "$D_PID"
    wait_for 5 kw_dumped "$1" "$before"
    eval "$(awk '$1 ~ /^(messages_udp|messages_tcp|messages_tls|udp_kernel_drops|tcp_open|ssh_candidates)$/ && NF == 2 { v[$1] = $2 }
        END { printf "KW_MSGS=%d KW_DROPS=%d KW_OPEN=%d KW_SSH=%s\n", v["messages_udp"] + v["messages_tcp"] + v["messages_tls"],
              v["udp_kernel_drops"], v["tcp_open"], ("ssh_candidates" in v) ? v["ssh_candidates"] : "-" }' "$1/stderr")"
}
kw_dumped() { [ "$(grep -c '^messages_udp ' "$1/stderr")" -gt "$2" ]; }
kw_progress() { kw_counters "$1"; echo "$KW_MSGS"; }

# --- rsyslog: the same job, written the way an operator would

rs_start() { # rs_start PORT DIR [DRIVER] (imtcp over TLS with DRIVER gtls|ossl when TLS_RUN=1)
    local rcv="" tlsg="" tlsm=""
    [ -n "$RCVBUF" ] && rcv="rcvbufSize=\"$RCVBUF\""
    # the same certificates and checks as kexwatchd's: the client's chain
    # verified against ca.pem, no name check (x509/certvalid)
    [ "${TLS_RUN:-0}" = 1 ] && tlsg="DefaultNetstreamDriverCAFile=\"$PKI/ca.pem\"
       DefaultNetstreamDriverCertFile=\"$PKI/server.pem\" DefaultNetstreamDriverKeyFile=\"$PKI/server.key\"" &&
        tlsm="streamDriver.name=\"${3:-gtls}\" streamDriver.mode=\"1\" streamDriver.authMode=\"x509/certvalid\""
    mkdir -p "$2/spool"
    cat > "$2/rsyslog.conf" <<CONF
global(workDirectory="$2/spool" maxMessageSize="64k" net.enableDNS="off" $tlsg)
module(load="impstats" interval="1" log.syslog="off" log.file="$2/stats" format="legacy" resetCounters="off")
module(load="imudp")
module(load="imtcp" maxSessions="4096" $tlsm)
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="bench") {
    if \$rawmsg contains "SSH" then action(type="omfile" file="$2/ssh.log" template="raw")
}
input(type="imudp" address="127.0.0.1" port="$1" ruleset="bench" $rcv)
input(type="imtcp" address="127.0.0.1" port="$1" ruleset="bench")
CONF
    : > "$2/ssh.log"
    taskset -c "$D_CPU" "$RSYSLOGD" -n -f "$2/rsyslog.conf" -i "$2/rsyslogd.pid" > "$2/stdout" 2>&1 &
    D_PID=$!
    wait_for 10 listening "$1"
}
rs_progress() { wc -l < "$1/ssh.log"; }
# rs_counters DIR: after the next impstats round, sets RS_MSGS (submitted by
# the inputs minus what the main queue discarded)
rs_counters() {
    sleep 1.2
    eval "$(awk '
        / origin=imudp submitted=/ { split($0, a, "submitted="); split(a[2], b, " "); udp = b[1] }
        / origin=imtcp submitted=/ { split($0, a, "submitted="); split(a[2], b, " "); tcp = b[1] }
        / origin=core.queue / && /main Q/ {
            split($0, a, "discarded.full="); split(a[2], b, " "); df = b[1]
            split($0, a, "discarded.nf="); split(a[2], b, " "); dn = b[1] }
        END { printf "RS_MSGS=%d RS_DISCARDED=%d\n", udp + tcp - df - dn, df + dn }' "$1/stats" 2>/dev/null)"
}

stop_daemon() {
    [ -n "$D_PID" ] || return 0
    kill -TERM "$D_PID" 2>/dev/null
    wait_for 10 not_running "$D_PID" || kill -KILL "$D_PID" 2>/dev/null
    wait "$D_PID" 2>/dev/null
    D_PID=""
}
not_running() { ! kill -0 "$1" 2>/dev/null; }

# drain NAME DIR TARGET T_END: waits until the daemon's progress figure
# reaches TARGET or stays put for 0.5 s (bounded: 30 s). Sets LAG to the
# seconds from the generator's end to the first sight of the final figure.
drain() {
    local last=-1 seen t start
    start=$(now)
    seen=$start
    local stable=0
    while :; do
        local v
        v=$("${1}_progress" "$2")
        v=${v:-0}
        t=$(now)
        if [ "$v" != "$last" ]; then
            last=$v
            seen=$t
            stable=0
        else
            stable=$((stable + 1))
        fi
        [ "$v" -ge "$3" ] && break
        [ "$stable" -ge 10 ] && break
        [ "$(calc "t - s > 30" t="$t" s="$start")" = 1 ] && break
        sleep 0.05
    done
    LAG=$(calc "l > 0 ? l : 0" l="$(calc "a - b" a="$seen" b="$4")")
}

# ------------------------------------------------------------ one run

RESULTS=$WORK/results.tsv
declare -A RB # the receive buffer the kernel granted each daemon
printf 'scenario\tdaemon\toffered\tsent\tssh_sent\taccepted\tssh_kept\tlost\tkdrops\tgen_rate\tseconds\trate\tcpu_s\tus_per_msg\thwm_kb\trss_kb\tnote\n' > "$RESULTS"
RUN=0

# run SCENARIO DAEMON OFFERED KWGEN-ARGS... (the port is inserted after the mode)
# Appends one row to $RESULTS and sets LAST_LOST.
run() {
    local scen=$1 name=$2 offered=$3 mode=$4
    shift 4
    RUN=$((RUN + 1))
    local dir=$WORK/run$RUN port
    mkdir -p "$dir"
    port=$(free_port)
    local starter=kw_start prog=kw driver=""
    case $name in rsyslog) starter=rs_start prog=rs driver=gtls ;; rsyslog-ossl) starter=rs_start prog=rs driver=ossl ;; esac
    TLS_RUN=0
    [ "$mode" = tls ] && TLS_RUN=1
    if ! $starter "$port" "$dir" $driver; then
        say "bench: $name did not start"; cat "$dir/stderr" "$dir/stdout" 2>/dev/null >&2
        stop_daemon
        printf '%s\t%s\t%s\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\tdid not start\n' "$scen" "$name" "$offered" >> "$RESULTS"
        LAST_LOST=1
        LAST_GEN_SHORT=0
        LAST_OTHER=0
        return
    fi
    local rb cpu0 cpu1 t1 out busy0 busy1
    rb=$(udp_rcvbuf_effective "$port")
    cpu0=$(cpu_seconds "$D_PID")
    busy0=$(core_busy "$D_CPU")
    out=$(taskset -c "$GEN_CPU" "$KWGEN" "$mode" "$port" "$@")
    t1=$(now)
    local sent ssh gsecs grate
    sent=$(echo "$out" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')
    ssh=$(echo "$out" | sed -n 's/.* ssh=\([0-9]*\).*/\1/p')
    gsecs=$(echo "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
    grate=$(echo "$out" | sed -n 's/.*rate=\([0-9]*\).*/\1/p')
    local target=$sent
    [ "$prog" = rs ] && target=$ssh
    drain "$prog" "$dir" "$target" "$t1"
    cpu1=$(cpu_seconds "$D_PID")
    busy1=$(core_busy "$D_CPU")
    local accepted kept kdrops note=""
    local stream=0
    case $mode in tcp | tls) stream=1 ;; esac
    [ "$stream" = 0 ] && [ -n "$rb" ] && RB[$name]=$rb
    kdrops=$(udp_drops "$port")
    if [ "$prog" = kw ]; then
        kw_counters "$dir"
        accepted=$KW_MSGS
        kept=$KW_SSH
        [ "$stream" = 1 ] && kdrops=-
        [ "$stream" = 0 ] && [ "$KW_DROPS" != "$kdrops" ] && note="udp_kernel_drops counter says $KW_DROPS"
    else
        rs_counters "$dir"
        accepted=$RS_MSGS
        kept=$(rs_progress "$dir")
        [ "$stream" = 1 ] && kdrops=-
        [ "$RS_DISCARDED" -gt 0 ] && note="main queue discarded $RS_DISCARDED"
        local stray
        stray=$(grep -vc SSH "$dir/ssh.log")
        [ "$stray" -gt 0 ] && note="${note:+$note; }$stray non-SSH lines kept"
    fi
    local hwm lost secs rate cpu upm other
    hwm=$(proc_kb "$D_PID" VmHWM)
    # CPU time the daemon's core gave to anything else (other processes,
    # interrupts, the hypervisor) during the run: a noisy neighbour shows here
    other=$(calc "o > 0.02 ? o : 0" o="$(calc "(b1 - b0) - (c1 - c0)" b1="$busy1" b0="$busy0" c1="$cpu1" c0="$cpu0")")
    [ "$(calc "o > 0" o="$other")" = 1 ] && note="${note:+$note; }CPU $D_CPU also busy $(printf '%.2f' "$other")s with other work"
    LAST_OTHER=$other
    stop_daemon
    lost=$((sent - accepted))
    # (a kexwatchd without the pre-filter has no ssh_candidates counter)
    [ "$kept" != - ] && [ $((ssh - kept)) -gt "$lost" ] && lost=$((ssh - kept))
    secs=$(calc "g + l" g="$gsecs" l="$LAG")
    rate=$(calc "s > 0 ? int(a / s) : 0" a="$accepted" s="$secs")
    cpu=$(calc "b - a" a="$cpu0" b="$cpu1")
    upm=$(calc "n > 0 ? c * 1e6 / n : 0" c="$cpu" n="$accepted")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%s\t%.2f\t%.2f\t%s\t-\t%s\n' \
        "$scen" "$name" "$offered" "$sent" "$ssh" "$accepted" "$kept" "$lost" "$kdrops" "$grate" \
        "$secs" "$rate" "$cpu" "$upm" "$hwm" "$note" >> "$RESULTS"
    say "$(printf '  %-9s %-9s sent %9d in %6.3fs (%7d/s), accepted %9d, lost %8d, %7d msg/s, cpu %5.2fs, peak RSS %6d kB' \
        "$scen" "$name" "$sent" "$gsecs" "$grate" "$accepted" "$lost" "$rate" "$cpu" "$hwm")"
    LAST_LOST=$lost
    # a step the generator could not keep up with tells nothing about the daemon
    if [ "$offered" != max ] && [ "$(calc "g < 0.95 * o" g="$grate" o="$offered")" = 1 ]; then
        LAST_GEN_SHORT=1
    else
        LAST_GEN_SHORT=0
    fi
}

# idle NAME: opens IDLE_CONNS connections (one line each), waits until the
# daemon holds them all, then reads its memory.
idle() {
    local name=$1 scen="tcp-idle-$IDLE_CONNS"
    RUN=$((RUN + 1))
    local dir=$WORK/run$RUN port
    mkdir -p "$dir"
    port=$(free_port)
    local starter=kw_start prog=kw
    case $name in rsyslog | rsyslog-ossl) starter=rs_start prog=rs ;; esac
    TLS_RUN=0
    if ! $starter "$port" "$dir"; then
        say "bench: $name did not start"
        stop_daemon
        return
    fi
    local cpu0 rss0
    cpu0=$(cpu_seconds "$D_PID")
    rss0=$(proc_kb "$D_PID" VmRSS)
    taskset -c "$GEN_CPU" "$KWGEN" idle "$port" "$IDLE_CONNS" 60 > "$dir/gen.out" &
    GEN_PID=$!
    wait_for 40 grep -q '^open=' "$dir/gen.out"
    local open ssh held accepted note=""
    open=$(sed -n 's/^open=\([0-9]*\).*/\1/p' "$dir/gen.out")
    ssh=$(sed -n 's/.* ssh=\([0-9]*\).*/\1/p' "$dir/gen.out" | head -n 1)
    # held: the daemon has read the line sent on every connection
    if [ "$prog" = kw ]; then
        wait_for 20 kw_all_open "$dir" "$open"
        kw_counters "$dir"
        held=$KW_OPEN
        accepted=$KW_MSGS
    else
        wait_for 20 rs_all_read "$dir" "$ssh"
        held=$(ss -Htn state established "( sport = :$port )" | wc -l)
        accepted=$(rs_progress "$dir")
        note="accepted = SSH lines kept ($ssh expected)"
    fi
    sleep 1
    local rss hwm cpu1
    rss=$(proc_kb "$D_PID" VmRSS)
    hwm=$(proc_kb "$D_PID" VmHWM)
    cpu1=$(cpu_seconds "$D_PID")
    kill -TERM "$GEN_PID" 2>/dev/null
    wait "$GEN_PID" 2>/dev/null
    GEN_PID=""
    stop_daemon
    printf '%s\t%s\t%s\t%s\t%s\t%s\t-\t%s\t-\t-\t-\t-\t%.2f\t-\t%s\t%s\theld %s connections; RSS before %s kB%s\n' \
        "$scen" "$name" "$IDLE_CONNS" "$open" "$ssh" "$accepted" "$((open - held))" \
        "$(calc "b - a" a="$cpu0" b="$cpu1")" "$hwm" "$rss" "$held" "$rss0" "${note:+; $note}" >> "$RESULTS"
    say "  $scen $name: $open opened, $held held; RSS $rss kB (before $rss0 kB), peak $hwm kB"
}
kw_all_open() { kw_counters "$1"; [ "$KW_OPEN" -ge "$2" ] && [ "$KW_MSGS" -ge "$2" ]; }
rs_all_read() { [ "$(rs_progress "$1")" -ge "$2" ]; }

# ------------------------------------------------------------ the runs

say "bench: kexwatchd $KEXWATCHD, rsyslogd $RSYSLOGD; daemon on CPU $D_CPU, generator on CPU $GEN_CPU"
say "bench: work directory $WORK"
T_START=$(now)

declare -A BEST FIRST_LOSSY
# mark_last TEXT: appends TEXT to the note of the last row
mark_last() {
    sed -i "\$ { s/\t\$/\t$1/; t; s/\$/; $1/ }" "$RESULTS"
}
# udp_step SCENARIO DAEMON RATE: one fixed-rate run; the rate counts as
# lossless or lossy only when the generator really sent at it. A lossy run
# during which other work took the daemon's core is run once more. Returns
# 1 when the generator could not reach the rate.
udp_step() {
    local scen=$1 d=$2 r=$3 n gso="" try
    [ "$scen" = udp-rate-gso ] && gso=gso
    n=$(calc "int(r * s) < m ? int(r * s) : m" r="$r" s="$UDP_STEP_SECONDS" m="$UDP_STEP_MAX")
    for try in 1 2; do
        run "$scen" "$d" "$r" udp-rate "$r" "$n" "$(calc "n / r * 2 + 1" n="$n" r="$r")" $gso
        [ "$LAST_GEN_SHORT" = 0 ] && [ "$LAST_LOST" -gt 0 ] && [ "$try" = 1 ] &&
            [ "$(calc "o >= 0.1" o="$LAST_OTHER")" = 1 ] || break
        mark_last "not counted, run again"
    done
    if [ "$LAST_GEN_SHORT" = 1 ]; then
        mark_last "generator below 95% of the target rate"
        return 1
    elif [ "$LAST_LOST" -eq 0 ]; then
        [ "$r" -gt "${BEST[$scen/$d]:-0}" ] && BEST[$scen/$d]=$r
    elif [ -z "${FIRST_LOSSY[$scen/$d]:-}" ] || [ "$r" -lt "${FIRST_LOSSY[$scen/$d]}" ]; then
        FIRST_LOSSY[$scen/$d]=$r
    fi
}
# udp_steps SCENARIO RATES...: every rate for every daemon, then a few rates
# between each daemon's best lossless step and its first lossy one
udp_steps() {
    local scen=$1 rate d lo hi mid
    shift
    for rate in "$@"; do
        for d in $PLAIN_DAEMONS; do
            udp_step "$scen" "$d" "$rate"
        done
    done
    for d in $PLAIN_DAEMONS; do
        for _ in $(seq 1 "$BISECT_ROUNDS"); do
            lo=${BEST[$scen/$d]:-0}
            hi=${FIRST_LOSSY[$scen/$d]:-}
            { [ -n "$hi" ] && [ "$lo" -gt 0 ] && [ "$hi" -gt "$lo" ]; } || break
            mid=$(((lo + hi) / 2 / 1000 * 1000))
            { [ "$mid" -gt "$lo" ] && [ "$mid" -lt "$hi" ]; } || break
            udp_step "$scen" "$d" "$mid" || break
        done
    done
}
# rsyslog-ossl differs from rsyslog only in the TLS driver: the other scenarios run rsyslog once
PLAIN_DAEMONS=$(printf '%s\n' $DAEMONS | grep -vx rsyslog-ossl | tr '\n' ' ')
want() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }
if want udp-rate; then
    say "UDP at fixed rates, sendmmsg, lines of natural length (each step at most ${UDP_STEP_SECONDS}s or $UDP_STEP_MAX messages)"
    # shellcheck disable=SC2086
    udp_steps udp-rate $RATES
fi
if want udp-rate-gso; then
    say "UDP at fixed rates, GSO bursts of up to 64 datagrams of $GSO_LEN bytes (each step at most ${UDP_STEP_SECONDS}s or $UDP_STEP_MAX messages)"
    # shellcheck disable=SC2086
    udp_steps udp-rate-gso $RATES_GSO
fi
# floods are bounded by time: what counts is the rate the daemon sustains
if want udp-flood; then
    say "UDP as fast as possible with GSO, ${FLOOD_SECONDS}s"
    for d in $PLAIN_DAEMONS; do run "udp-flood" "$d" max udp-flood 100000000 "$FLOOD_SECONDS" gso; done
fi
if want udp-mmsg; then
    say "UDP as fast as plain sendmmsg goes, lines of natural length, ${FLOOD_SECONDS}s"
    for d in $PLAIN_DAEMONS; do run "udp-mmsg" "$d" max udp-flood 100000000 "$FLOOD_SECONDS"; done
fi
if want tcp-1; then
    say "TCP, 1 connection, LF framing, as fast as possible ($COUNT messages)"
    for d in $PLAIN_DAEMONS; do run "tcp-1" "$d" max tcp 1 "$COUNT" 60; done
fi
if want tcp-50; then
    say "TCP, 50 connections, LF framing, as fast as possible ($COUNT messages)"
    for d in $PLAIN_DAEMONS; do run "tcp-50" "$d" max tcp 50 "$COUNT" 60; done
fi
if want tls-1; then
    say "TLS (RFC 5425 octet counting, client certificate verified), 1 connection, as fast as possible ($COUNT messages)"
    for d in $DAEMONS; do run "tls-1" "$d" max tls 1 "$COUNT" 60 "$PKI/ca.pem" "$PKI/r1.pem" "$PKI/r1.key"; done
fi
if want tls-50; then
    say "TLS (RFC 5425 octet counting, client certificate verified), 50 connections, as fast as possible ($COUNT messages)"
    for d in $DAEMONS; do run "tls-50" "$d" max tls 50 "$COUNT" 60 "$PKI/ca.pem" "$PKI/r1.pem" "$PKI/r1.key"; done
fi
if want tcp-idle; then
    say "TCP, $IDLE_CONNS idle connections held"
    for d in $PLAIN_DAEMONS; do idle "$d"; done
fi
T_END=$(now)

# ------------------------------------------------------------ the report

[ -n "${KW_BENCH_OUT:-}" ] && cp "$RESULTS" "$KW_BENCH_OUT"
echo
echo "kexwatch ingest benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc --all) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), kernel $(uname -r)"
if [ -n "$KW_NOTE" ]; then
    echo "kexwatchd: $KEXWATCHD; NOTE: $KW_NOTE"
else
    echo "kexwatchd: $KEXWATCHD, working tree at $(git -C "$SRCDIR" rev-parse --short HEAD 2>/dev/null || echo '?')$(
        [ -n "$(git -C "$SRCDIR" status --porcelain -- daemon 2>/dev/null)" ] && echo ' with uncommitted changes in daemon/')"
fi
echo "rsyslog: $("$RSYSLOGD" -v 2>/dev/null | head -n 1 | sed 's/ *compiled with://')"
echo "UDP receive buffer asked for: ${RCVBUF:-OS default} (net.core.rmem_max $(cat /proc/sys/net/core/rmem_max));" \
    "the kernel granted (ss rb): kexwatchd ${RB[kexwatchd]:-?}, rsyslog ${RB[rsyslog]:-?} bytes"
echo "daemon pinned to CPU $D_CPU, generator to CPU $GEN_CPU; run took $(calc "int(b - a)" a="$T_START" b="$T_END") s"
echo
awk -F'\t' '
    function mb(k) { return k ~ /^[0-9]+$/ ? sprintf("%.1f", k / 1024) : "-" }
    NR == 1 { next }
    {
        off = $3 == "max" ? "max" : ($1 ~ /idle/ ? $3 " conns" : sprintf("%dk/s", $3 / 1000))
        if (!hdr++) {
            printf "%-13s %-12s %-10s %9s %9s %8s %9s %11s %9s %6s %7s %8s %7s  %s\n",
                "scenario", "daemon", "offered", "sent", "accepted", "lost", "kdrops", "SSH kept",
                "msg/s", "cpu s", "us/msg", "peak MB", "RSS MB", "note"
        }
        printf "%-13s %-12s %-10s %9s %9s %8s %9s %11s %9s %6s %7s %8s %7s  %s\n",
            $1, $2, off, $4, $6, $8, $9, ($7 == "-" ? "-" : $7 "/" $5), $12, $13, $14, mb($15), mb($16), $17
    }' "$RESULTS"
echo
echo "Summary (ratios are kexwatchd / rsyslog)"
awk -F'\t' '
    NR == 1 { next }
    $1 ~ /^udp-rate/ && $17 !~ /generator below|not counted/ {
        k = $1 SUBSEP $2; r = $3 + 0; rs[$1] = 1
        if ($8 == 0 && r > best[k]) best[k] = r
        if ($8 > 0 && (!(k in lossy) || r < lossy[k])) lossy[k] = r
    }
    $1 !~ /^udp-rate/ && $1 !~ /idle/ { rate[$1, $2] = $12; cpu[$1, $2] = $14; hwm[$1, $2] = $15; sc[$1] = 1 }
    $1 ~ /idle/ { idle[$2] = $16; idlehwm[$2] = $15; iname = $1 }
    function ratio(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2f", a / b) : "n/a" }
    # the best lossless rate, marked ">=" when no higher rate was lossy
    function lossless(s, d,   k) {
        k = s SUBSEP d
        if (!(k in best)) return "none"
        return ((k in lossy) ? "" : ">=") best[k]
    }
    END {
        n = split("udp-rate udp-rate-gso", order, " ")
        for (i = 1; i <= n; i++) {
            s = order[i]
            if (!(s in rs)) continue
            # a rate below which nothing was lost is only a lower bound
            r = ratio(best[s, "kexwatchd"], best[s, "rsyslog"])
            if (r != "n/a" && !((s, "rsyslog") in lossy))
                r = "n/a (rsyslog not pushed to loss)"
            else if (r != "n/a" && !((s, "kexwatchd") in lossy))
                r = ">=" r
            printf "  %-13s highest lossless rate: kexwatchd %s msg/s, rsyslog %s msg/s, ratio %s (target >= 1, aim 2)\n",
                s, lossless(s, "kexwatchd"), lossless(s, "rsyslog"), r
        }
        n = split("udp-flood udp-mmsg tcp-1 tcp-50 tls-1 tls-50", order, " ")
        for (i = 1; i <= n; i++) {
            s = order[i]
            if (!(s in sc)) continue
            m = split("rsyslog rsyslog-ossl", other, " ")
            for (j = 1; j <= m; j++) {
                o = other[j]
                if (!((s, o) in rate)) continue
                printf "  %-13s accepted msg/s ratio %s, CPU us/msg ratio %s, peak RSS ratio %s%s\n", s,
                    ratio(rate[s, "kexwatchd"], rate[s, o]), ratio(cpu[s, "kexwatchd"], cpu[s, o]),
                    ratio(hwm[s, "kexwatchd"], hwm[s, o]),
                    s ~ /^tls/ ? (o == "rsyslog" ? " (rsyslog gtls driver)" : " (rsyslog ossl driver)") : (o == "rsyslog" ? "" : " (" o ")")
            }
        }
        if ("kexwatchd" in idle)
            printf "  %-13s kexwatchd RSS %.1f MB (peak %.1f MB; target < 64 MB), rsyslog RSS %s MB\n", iname,
                idle["kexwatchd"] / 1024, idlehwm["kexwatchd"] / 1024,
                ("rsyslog" in idle) ? sprintf("%.1f", idle["rsyslog"] / 1024) : "n/a"
    }' "$RESULTS"
exit 0
