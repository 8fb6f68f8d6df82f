#!/bin/bash
# SPDX-License-Identifier: ISC
# End-to-end: `[daemon] user =` drops root after binding. Started as root,
# kexwatchd binds, opens its database, alert file and record dump, becomes
# nobody (uid, gid and supplementary groups checked in /proc/PID/status) and
# still receives; a user that does not exist stops the start with exit 1 and
# says so. Run without root, the drop is a no-op only for the same user.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    plan 1
    skip "privilege drop needs root"
    exit 0
fi
NOBODY_UID=$(id -u nobody 2>/dev/null)
NOBODY_GID=$(getent passwd nobody | cut -d: -f4)
if [ -z "$NOBODY_UID" ] || [ -z "$NOBODY_GID" ]; then
    plan 1
    skip "no user nobody here"
    exit 0
fi
plan 16

# the drop happens after the files are open, but SQLite creates its journal
# beside the database as the dropped user: the directory must be its own
chown "nobody:$NOBODY_GID" "$WORK"

PORT=$(free_port)
[ -n "$PORT" ] || bail "no free port"
write_config "$PORT"
printf '\n[daemon]\nuser = nobody\n' >> "$WORK/kexwatch.conf"
check "kexwatchd starts as root with [daemon] user = nobody" start_daemon
check "it says it dropped privileges" grep -q "dropped privileges to user nobody" "$WORK/stderr"
uid_line=$(grep '^Uid:' "/proc/$DAEMON_PID/status" | tr -s '\t ' ' ')
gid_line=$(grep '^Gid:' "/proc/$DAEMON_PID/status" | tr -s '\t ' ' ')
groups_line=$(grep '^Groups:' "/proc/$DAEMON_PID/status" | tr -s '\t ' ' ' | sed 's/ $//')
is "real, effective, saved and fs uid are nobody's" "$uid_line" \
    "Uid: $NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID"
is "real, effective, saved and fs gid are nobody's" "$gid_line" \
    "Gid: $NOBODY_GID $NOBODY_GID $NOBODY_GID $NOBODY_GID"
is "the only supplementary group is nobody's" "$groups_line" "Groups: $NOBODY_GID"
is "no capability is left" "$(grep '^CapEff:' "/proc/$DAEMON_PID/status" | tr -d '\t ')" "CapEff:0000000000000000"

logger --udp -n 127.0.0.1 -P "$PORT" --rfc5424 -t kw-privdrop "hello after the drop"
logger --tcp -n 127.0.0.1 -P "$PORT" --octet-count -t kw-privdrop-tcp "hello over tcp after the drop"
wait_records 2
check "a UDP message is received after the drop" grep -q '"app":"kw-privdrop".*"text":"hello after the drop"' "$WORK/records.jsonl"
check "a TCP message is received after the drop" grep -q '"app":"kw-privdrop-tcp"' "$WORK/records.jsonl"
check "SIGTERM stops the dropped daemon with exit status 0" stop_daemon
check "no error was logged" sh -c "! grep -q ': error: ' '$WORK/stderr'"

# a user that does not exist: exit 1 with the reason, nothing started
sed -i "s/^user = nobody$/user = kw-no-such-user-$$/" "$WORK/kexwatch.conf"
timeout 10 "$KEXWATCHD" -c "$WORK/kexwatch.conf" > "$WORK/stdout" 2> "$WORK/stderr"
is "a nonexistent user: exit status 1" "$?" 1
check "it names the user and says it does not exist" grep -q "user = kw-no-such-user-$$: no such user" "$WORK/stderr"
check "it did not start" sh -c "! grep -q 'kexwatchd .* started:' '$WORK/stderr'"

# not root: the same user is a no-op, another one is refused
if command -v setpriv > /dev/null; then
    # the knowledge files and the program, where nobody can read them (the
    # checkout may sit in a directory only root can enter)
    cp -r "$KEXWATCH_CONFDIR" "$WORK/conf"
    cp "$KEXWATCHD" "$WORK/kexwatchd"
    KEXWATCHD="$WORK/kexwatchd"
    printf '\n[knowledge]\npatterns = %s\nalgorithms = %s\nkeywords = %s\ncatalogue = %s\n' \
        "$WORK/conf/patterns.d" "$WORK/conf/algorithms.tsv" "$WORK/conf/keywords.tsv" \
        "$WORK/conf/catalogue.conf" >> "$WORK/kexwatch.conf"
    chown -R "nobody:$NOBODY_GID" "$WORK"
    sed -i "s/^user = kw-no-such-user-$$$/user = nobody/" "$WORK/kexwatch.conf"
    # setpriv execs kexwatchd, so $! is the daemon itself
    setpriv --reuid=nobody --regid="$NOBODY_GID" --clear-groups "$KEXWATCHD" -c "$WORK/kexwatch.conf" > "$WORK/stdout" 2> "$WORK/stderr" &
    DAEMON_PID=$!
    for _ in $(seq 1 100); do
        grep -q "kexwatchd .* started:" "$WORK/stderr" && break
        kill -0 "$DAEMON_PID" 2> /dev/null || break
        sleep 0.1
    done
    check "started as nobody with user = nobody: runs (nothing to drop)" grep -q "kexwatchd .* started:" "$WORK/stderr"
    check "... and stops with exit status 0" stop_daemon
    sed -i "s/^user = nobody$/user = root/" "$WORK/kexwatch.conf"
    timeout 10 setpriv --reuid=nobody --regid="$NOBODY_GID" --clear-groups \
        "$KEXWATCHD" -c "$WORK/kexwatch.conf" > "$WORK/stdout" 2> "$WORK/stderr"
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q "user = root: that user has uid 0" "$WORK/stderr"; then
        ok "user = root is refused with exit status 1 (it drops nothing)"
    else
        not_ok "user = root is refused with exit status 1 (it drops nothing)"
        diag "exit $rc: $(head -c 300 "$WORK/stderr")"
    fi
else
    skip "setpriv missing"
    skip "setpriv missing"
    skip "setpriv missing"
fi
finish
