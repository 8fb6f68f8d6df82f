#!/bin/sh
# SPDX-License-Identifier: ISC
# Install the Debian packages kexwatch needs to build, test and benchmark.
# Installs only what is missing; safe to run again. Needs root (or sudo).
set -eu
BUILD="autoconf automake libtool pkg-config make gcc libevent-dev libpcre2-dev
libsqlite3-dev libinih-dev libjansson-dev libsystemd-dev libssl-dev libcrypt-dev"
TEST="libcmocka-dev bsdutils rsyslog rsyslog-openssl rsyslog-gnutls openssl sqlite3 openssh-server openssh-client
python3 python3-paramiko dropbear-bin putty-tools util-linux clang libclang-rt-14-dev procps iproute2
systemd debhelper dpkg-dev fakeroot prometheus-alertmanager chromium python3-websocket whois curl"
want="$BUILD"
[ "${1:-}" = "--test" ] && want="$BUILD $TEST"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
