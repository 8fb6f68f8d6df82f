#!/bin/sh
# SPDX-License-Identifier: ISC
# Install the Debian packages kexwatch needs to build, test and benchmark.
# Installs only what is missing; safe to run again. Needs root (or sudo).
set -eu
BUILD="autoconf automake libtool pkg-config make gcc libevent-dev libpcre2-dev
libsqlite3-dev libinih-dev libjansson-dev libsystemd-dev libssl-dev libcrypt-dev"
TEST="libcmocka-dev bsdutils rsyslog rsyslog-openssl rsyslog-gnutls openssl sqlite3 openssh-server openssh-client
python3 python3-paramiko dropbear-bin putty-tools util-linux clang libclang-rt-14-dev procps iproute2
systemd debhelper dpkg-dev fakeroot prometheus-alertmanager chromium python3-websocket whois curl
libivykis0 libnet1 libwrap0 libjson-c5 libglib2.0-0 libpcre3"
want="$BUILD"
[ "${1:-}" = "--test" ] && want="$BUILD $TEST"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if [ -n "$missing" ]; then
    echo "deps: installing:$missing" >&2
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi
[ "${1:-}" = "--test" ] || exit 0
# syslog-ng for tests/e2e/tls-syslog-ng.sh: Debian's syslog-ng-core conflicts
# with rsyslog (both provide system-log-daemon), so it is unpacked, not
# installed, into KW_SYSLOG_NG_ROOT (its libraries above are installed)
SNG_ROOT=${KW_SYSLOG_NG_ROOT:-/var/tmp/kexwatch-syslog-ng}
if ! command -v syslog-ng > /dev/null && [ ! -x "$SNG_ROOT/usr/sbin/syslog-ng" ]; then
    echo "deps: unpacking syslog-ng-core into $SNG_ROOT (not installed: it conflicts with rsyslog)" >&2
    dl=$(mktemp -d)
    chmod 777 "$dl" # apt-get download runs as _apt where it can
    if (cd "$dl" && apt-get download -qq syslog-ng-core >&2 2>/dev/null ||
        { $SUDO apt-get update -qq && apt-get download -qq syslog-ng-core >&2; }) &&
        mkdir -p "$SNG_ROOT" && dpkg-deb -x "$dl"/syslog-ng-core_*.deb "$SNG_ROOT"; then
        echo "deps: syslog-ng unpacked: $SNG_ROOT/usr/sbin/syslog-ng" >&2
    else
        echo "deps: could not download syslog-ng-core; tests/e2e/tls-syslog-ng.sh will skip" >&2
    fi
    rm -rf "$dl"
fi
exit 0
