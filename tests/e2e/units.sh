#!/bin/bash
# SPDX-License-Identifier: ISC
# The systemd units under packaging/systemd/: `systemd-analyze verify` on the
# service and socket (ExecStart pointed at the built kexwatchd, since verify
# requires it to exist), the sysusers.d and tmpfiles.d snippets applied to a
# throw-away root, and the `systemd-analyze security` exposure (offline).
. "$(dirname "$0")/lib.sh"

UNITS=$KW_SRCDIR/packaging/systemd
ANALYZE=$(command -v systemd-analyze)
if [ -z "$ANALYZE" ] || ! "$ANALYZE" --version > /dev/null 2>&1; then
    plan 1
    skip "systemd-analyze missing or cannot run here"
    exit 0
fi
plan 8

mkdir -p "$WORK/units"
sed "s|^ExecStart=/usr/sbin/kexwatchd |ExecStart=$KEXWATCHD |" "$UNITS/kexwatchd.service" \
    > "$WORK/units/kexwatchd.service"
cp "$UNITS/kexwatchd.socket" "$UNITS/kexwatchd-tls.socket" "$WORK/units/"

check "kexwatchd.service keeps ExecStart=/usr/sbin/kexwatchd" \
    grep -q '^ExecStart=/usr/sbin/kexwatchd -c /etc/kexwatch/kexwatch.conf$' "$UNITS/kexwatchd.service"
# --man=no: the man pages are not installed in the test environment
if "$ANALYZE" verify --man=no "$WORK/units/kexwatchd.service" "$WORK/units/kexwatchd.socket" \
    "$WORK/units/kexwatchd-tls.socket" \
    > "$WORK/verify.out" 2>&1 && ! [ -s "$WORK/verify.out" ]; then
    ok "systemd-analyze verify: service and sockets (incl. kexwatchd-tls.socket), no warning"
else
    not_ok "systemd-analyze verify: service and sockets (incl. kexwatchd-tls.socket), no warning"
    sed 's/^/# /' "$WORK/verify.out"
fi
check "the socket passes a datagram (514) and a stream (601) socket" \
    sh -c "grep -q '^ListenDatagram=514$' '$UNITS/kexwatchd.socket' && grep -q '^ListenStream=601$' '$UNITS/kexwatchd.socket'"

# offline security needs systemd >= 250; older ones want a running manager
if "$ANALYZE" security --offline=yes --no-pager "$WORK/units/kexwatchd.service" > "$WORK/security.out" 2>&1; then
    level=$(sed -n 's/.*Overall exposure level for kexwatchd.service: \([0-9.]*\).*/\1/p' "$WORK/security.out")
    diag "systemd-analyze security exposure: $level"
    grep '^✗' "$WORK/security.out" | sed 's/  */ /g; s/^/# /'
    # the hardening is meant to keep kexwatchd at "OK" (below 2.0) or better
    check "security exposure $level is below 2.0" awk -v l="$level" 'BEGIN { exit !(l != "" && l < 2.0) }'
else
    skip "systemd-analyze security --offline cannot run here"
fi

SYSUSERS=$(command -v systemd-sysusers)
TMPFILES=$(command -v systemd-tmpfiles)
ROOT=$WORK/root
mkdir -p "$ROOT/etc"
if [ -n "$SYSUSERS" ]; then
    check "systemd-sysusers creates the user in a throw-away root" \
        "$SYSUSERS" --root="$ROOT" "$UNITS/kexwatch.sysusers" 2> "$WORK/sysusers.err"
    check "kexwatch user and group exist there, no login shell" \
        sh -c "grep -q '^kexwatch:x:[0-9]*:[0-9]*:.*:/var/lib/kexwatch:/usr/sbin/nologin$' '$ROOT/etc/passwd' &&
               grep -q '^kexwatch:x:' '$ROOT/etc/group'"
else
    skip "systemd-sysusers missing"
    skip "systemd-sysusers missing"
fi
if [ -n "$TMPFILES" ] && [ -n "$SYSUSERS" ] && [ "$(id -u)" -eq 0 ]; then
    check "systemd-tmpfiles creates the state directory" \
        "$TMPFILES" --create --root="$ROOT" "$UNITS/kexwatch.tmpfiles" 2> "$WORK/tmpfiles.err"
    is "state directory mode 0750" "$(stat -c %a "$ROOT/var/lib/kexwatch" 2>/dev/null)" 750
else
    skip "systemd-tmpfiles or -sysusers missing, or not root (it chowns)"
    skip "systemd-tmpfiles or -sysusers missing, or not root (it chowns)"
fi
finish
