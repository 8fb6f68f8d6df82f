#!/bin/sh
# SPDX-License-Identifier: ISC
# The Debian package from packaging/debian/: a copy of the source tree gets
# packaging/debian as ./debian, `dpkg-buildpackage -us -uc -b` builds the .deb
# (compiling the project once, bounded), its contents and conffiles are
# checked, and it is unpacked into a throw-away root where the installed
# kexwatchd reports its version, accepts the installed configuration (-t) and
# the sysusers snippet creates the kexwatch user.
. "$(dirname "$0")/lib.sh"

# how long the package build may take (it compiles the project once)
KW_DEB_TIMEOUT=${KW_DEB_TIMEOUT:-900}

why=""
if [ ! -d "$KW_SRCDIR/packaging/debian" ]; then
    why="no packaging/debian in $KW_SRCDIR"
elif ! command -v dpkg-buildpackage > /dev/null 2>&1; then
    why="dpkg-buildpackage missing (package dpkg-dev)"
elif ! command -v dh > /dev/null 2>&1; then
    why="dh missing (package debhelper)"
elif ! (cd "$KW_SRCDIR/packaging" && dpkg-checkbuilddeps debian/control) > "$WORK/builddeps" 2>&1; then
    why="build dependencies missing: $(tr '\n' ' ' < "$WORK/builddeps")"
fi
if [ -n "$why" ]; then
    plan 1
    skip "$why"
    exit 0
fi
plan 16

# Copy the tree without build directories (build*, distcheck's _build/_inst),
# the git data and the quick start's state; the source may be read-only
# (make distcheck), so the copy is made writable.
SRC=$WORK/src
mkdir -p "$SRC"
(cd "$KW_SRCDIR" && tar -cf - --exclude='./build*' --exclude=./_build --exclude=./_inst \
    --exclude=./.git --exclude=./var --exclude=./debian .) | (cd "$SRC" && tar -xf -)
chmod -R u+w "$SRC"
cp -r "$SRC/packaging/debian" "$SRC/debian"

jobs=$(nproc 2> /dev/null || echo 1)
(
    cd "$SRC" &&
        DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=$jobs" \
            timeout "$KW_DEB_TIMEOUT" dpkg-buildpackage -us -uc -b
) > "$WORK/build.log" 2>&1
rc=$?
DEB=""
for f in "$WORK"/kexwatch_*.deb; do
    [ -f "$f" ] && DEB=$f
done
if [ "$rc" -ne 0 ] || [ -z "$DEB" ]; then
    not_ok "dpkg-buildpackage -us -uc -b builds the .deb (exit $rc)"
    tail -n 30 "$WORK/build.log" | sed 's/^/# /'
    bail "no package to check"
fi
ok "dpkg-buildpackage -us -uc -b builds $(basename "$DEB")"

# contents: the paths dpkg-deb -c lists ("./usr/sbin/kexwatchd")
dpkg-deb -c "$DEB" | awk '{print $NF}' | sed 's|^\./|/|' > "$WORK/contents"
has() { grep -qx "$1" "$WORK/contents"; }
missing=""
for f in /usr/sbin/kexwatchd /usr/bin/kexwatch /etc/kexwatch/kexwatch.conf \
    /etc/kexwatch/algorithms.tsv /etc/kexwatch/keywords.tsv /etc/kexwatch/catalogue.conf /etc/kexwatch/platforms.tsv \
    /etc/kexwatch/patterns.d/10-huawei.conf /usr/lib/sysusers.d/kexwatch.conf \
    /usr/lib/tmpfiles.d/kexwatch.conf; do
    has "$f" || missing="$missing $f"
done
is "daemon, tool, configuration, sysusers and tmpfiles snippets in the package" "$missing" ""
check "systemd units in the package" \
    sh -c "grep -Eqx '(/usr)?/lib/systemd/system/kexwatchd\.service' '$WORK/contents' &&
           grep -Eqx '(/usr)?/lib/systemd/system/kexwatchd\.socket' '$WORK/contents'"
missing=""
for m in man8/kexwatchd.8.gz man1/kexwatch.1.gz man5/kexwatch.conf.5.gz; do
    has "/usr/share/man/$m" || missing="$missing $m"
done
is "man pages in the package" "$missing" ""
outside=$(grep -Ev '^/(etc/kexwatch|usr|lib/systemd/system)(/|$)|^/(etc|lib|lib/systemd)?/?$' "$WORK/contents")
is "nothing installed outside /etc/kexwatch, /usr and the unit directory" "$outside" ""

# control data: conffiles and the maintainer scripts
mkdir -p "$WORK/control"
dpkg-deb -e "$DEB" "$WORK/control"
conf_missing=""
for f in kexwatch.conf algorithms.tsv keywords.tsv catalogue.conf platforms.tsv patterns.d/20-openssh.conf; do
    grep -qx "/etc/kexwatch/$f" "$WORK/control/conffiles" 2> /dev/null ||
        conf_missing="$conf_missing $f"
done
is "configuration files are conffiles" "$conf_missing" ""
check "postinst creates the user with systemd-sysusers" \
    grep -q 'systemd-sysusers.*kexwatch\.conf' "$WORK/control/postinst"
check "postinst starts the units only under a running systemd" \
    grep -q 'if \[ -d /run/systemd/system \]' "$WORK/control/postinst"

# unpack into a throw-away root
ROOT=$WORK/root
dpkg-deb -x "$DEB" "$ROOT"
check "installed kexwatchd and kexwatch are executable" \
    test -x "$ROOT/usr/sbin/kexwatchd" -a -x "$ROOT/usr/bin/kexwatch"
version=$(dpkg-deb -f "$DEB" Version | sed 's/-[^-]*$//')
is "installed kexwatchd --version" "$("$ROOT/usr/sbin/kexwatchd" --version 2>&1)" "kexwatchd $version"
installed=$ROOT/etc/kexwatch/kexwatch.conf
check "installed configuration keeps its state under /var/lib/kexwatch" \
    grep -q '^database = /var/lib/kexwatch/kexwatch.db' "$installed"
check "installed configuration does not print alerts on stdout" grep -q '^stdout = no' "$installed"

# kexwatchd -t on the installed configuration, its state moved to $WORK
# (the copy stays in etc/kexwatch so the knowledge paths resolve there)
mkdir -p "$WORK/state"
sed -e "s|/var/lib/kexwatch/|$WORK/state/|" "$installed" > "$ROOT/etc/kexwatch/test.conf"
unset KEXWATCH_CONFDIR
if "$ROOT/usr/sbin/kexwatchd" -t -c "$ROOT/etc/kexwatch/test.conf" > "$WORK/t.out" 2>&1; then
    ok "installed kexwatchd -t accepts the installed configuration"
else
    not_ok "installed kexwatchd -t accepts the installed configuration"
    sed 's/^/# /' "$WORK/t.out"
fi
check "the package's copyright file is machine-readable and says License: ISC" \
    sh -c "head -n 1 '$ROOT/usr/share/doc/kexwatch/copyright' | grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' &&
           grep -qx 'License: ISC' '$ROOT/usr/share/doc/kexwatch/copyright'"
check "installed kexwatch --help runs" sh -c "'$ROOT/usr/bin/kexwatch' --help > /dev/null 2>&1"

# the user the postinst creates, applied to the throw-away root
SYSUSERS=$(command -v systemd-sysusers)
if [ -n "$SYSUSERS" ] && "$SYSUSERS" --root="$ROOT" kexwatch.conf > "$WORK/sysusers.out" 2>&1; then
    check "systemd-sysusers creates user kexwatch in the unpacked root" \
        grep -q '^kexwatch:' "$ROOT/etc/passwd"
else
    skip "systemd-sysusers --root missing or not permitted here"
fi
finish
