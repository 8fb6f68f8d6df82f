#!/bin/bash
# SPDX-License-Identifier: ISC
# [listen] udp_rcvbuf: the default asks for 8 MiB; with CAP_NET_ADMIN the
# kernel grants it (SO_RCVBUFFORCE), without it the buffer is capped at
# net.core.rmem_max and the daemon says so once, naming the sysctl;
# udp_rcvbuf = 0 keeps the kernel default. What the kernel granted is read
# back independently with ss (skmem rb, twice the usable size).
. "$(dirname "$0")/lib.sh"

plan 9
PORT=$(free_port)
[ -n "$PORT" ] || bail "no free port"
RMEM_MAX=$(cat /proc/sys/net/core/rmem_max)
RMEM_DEFAULT=$(cat /proc/sys/net/core/rmem_default)

# rb PORT: the kernel's receive buffer of the UDP socket on PORT (bytes, doubled)
rb() { ss -Hlumn "sport = :$1" 2> /dev/null | grep -o 'rb[0-9]*' | head -n 1 | tr -d rb; }
# has_net_admin: CAP_NET_ADMIN (bit 12) in this shell's effective set
has_net_admin() {
    eff=$(awk '/^CapEff/ {print $2}' /proc/self/status)
    [ $(((0x$eff >> 12) & 1)) -eq 1 ]
}

# 1. defaults, with CAP_NET_ADMIN when the test runs as root
write_config "$PORT"
check "kexwatchd starts with the default udp_rcvbuf" start_daemon
if has_net_admin; then
    is "with CAP_NET_ADMIN the kernel grants 8 MiB (ss reads 2 x 8 MiB)" "$(rb "$PORT")" $((2 * 8388608))
    check "the start log says the buffer it got" \
        grep -q "listening for syslog on udp 127.0.0.1:$PORT (receive buffer 8192 KiB)" "$WORK/stderr"
    check "no warning when the kernel granted what was asked" sh -c "! grep -q 'less than the' '$WORK/stderr'"
else
    skip "not running with CAP_NET_ADMIN"
    skip "not running with CAP_NET_ADMIN"
    skip "not running with CAP_NET_ADMIN"
fi
stop_daemon

# 2. without CAP_NET_ADMIN, asking for more than rmem_max
ASK=$((RMEM_MAX * 2))
[ "$ASK" -gt 1073741824 ] && ASK=1073741824
write_config "$PORT" "udp_rcvbuf = $ASK"
# two UDP sockets when IPv6 is there: still one line
if python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' 2> /dev/null; then
    sed -i "s|^udp = .*|udp = 127.0.0.1:$PORT, [::1]:$PORT|" "$WORK/kexwatch.conf"
fi
# a wrapper that starts kexwatchd with CAP_NET_ADMIN out of reach
if has_net_admin; then
    printf '#!/bin/sh\nexec setpriv --inh-caps=-net_admin --bounding-set=-net_admin -- "%s" "$@"\n' \
        "$KEXWATCHD" > "$WORK/kexwatchd-noadmin"
else
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$KEXWATCHD" > "$WORK/kexwatchd-noadmin"
fi
chmod +x "$WORK/kexwatchd-noadmin"
KEXWATCHD_REAL=$KEXWATCHD
KEXWATCHD=$WORK/kexwatchd-noadmin
check "kexwatchd starts without CAP_NET_ADMIN asking for 2 x rmem_max" start_daemon
KEXWATCHD=$KEXWATCHD_REAL
is "the kernel caps the buffer at rmem_max ($RMEM_MAX)" "$(rb "$PORT")" $((2 * RMEM_MAX))
check "one start line says what the kernel granted and how to raise it" \
    grep -q "udp 127.0.0.1:$PORT: the kernel granted a receive buffer of $((RMEM_MAX / 1024)) KiB, less than the $((ASK / 1024)) KiB asked.*net.core.rmem_max (now $RMEM_MAX), raise it with 'sysctl -w net.core.rmem_max=$ASK'" \
    "$WORK/stderr"
grep "less than the" "$WORK/stderr" | sed 's/^/# /'
is "said once for all UDP sockets" "$(grep -c 'less than the' "$WORK/stderr")" 1
stop_daemon

# 3. udp_rcvbuf = 0 leaves the kernel default
write_config "$PORT" "udp_rcvbuf = 0"
start_daemon || bail "kexwatchd did not start with udp_rcvbuf = 0"
is "udp_rcvbuf = 0 keeps the kernel default (rmem_default $RMEM_DEFAULT)" "$(rb "$PORT")" "$RMEM_DEFAULT"
stop_daemon
finish
