#!/bin/bash
# SPDX-License-Identifier: ISC
# What an alert program inherits (issue 11): nothing but stdin (the alert),
# stdout and stderr, whatever the daemon holds open at that moment (device
# TCP connections, the alert file, the database, the metrics listener), and
# a clean environment (PATH and HOME only), not the daemon's.
. "$(dirname "$0")/lib.sh"

plan 6
PORT=$(free_port)
MPORT=$(free_port)
while [ "$MPORT" = "$PORT" ]; do MPORT=$(free_port); done
cat > "$WORK/probe.py" <<'PY'
#!/usr/bin/env python3
import os, sys, json
sys.stdin.read()
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
# the listing's own descriptor is closed by now: keep the ones still open
fds = [f for f in fds if os.path.exists("/proc/self/fd/%d" % f)]
# the environment as exec'd (python adds LC_CTYPE to os.environ itself
# when it coerces the C locale)
env = [v.split(b"=", 1)[0].decode() for v in open("/proc/self/environ", "rb").read().split(b"\0") if v]
info = {"fds": {f: os.readlink("/proc/self/fd/%d" % f) for f in fds}, "env": sorted(env)}
with open(os.path.join(os.path.dirname(sys.argv[0]), "probe.json"), "a") as out:
    out.write(json.dumps(info) + "\n")
PY
chmod +x "$WORK/probe.py"
write_config "$PORT" "identify = hostname"
add_alerts "exec = $WORK/probe.py"
printf '\n[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT" >> "$WORK/kexwatch.conf"
# descriptors this shell hands down (make's log, a harness's pipes): the
# daemon inherits them and did not open them, so they are not its to mark
# (the program does not get them either: test 3)
python3 - > "$WORK/handed.txt" <<'PY'
import os
# what a child of this shell gets, as the daemon will (the listing's own
# descriptor is closed by now)
print(" ".join(f for f in os.listdir("/proc/self/fd") if int(f) > 2 and os.path.exists("/proc/self/fd/" + f)))
PY
HANDED=$(cat "$WORK/handed.txt")
KW_SECRET_TOKEN=hunter2 start_daemon
check "kexwatchd starts with an exec sink and metrics" [ -n "$DAEMON_PID" ]
# a device connection stays open while the failure it sent fires the alert
LINE=$(head -n 1 "$KW_TESTDATA/corpus/published/published.log")
python3 - "$PORT" "$MPORT" "$LINE" "$WORK/probe.json" "$DAEMON_PID" "$WORK/daemon-fds.txt" "$(echo $HANDED)" <<'PY' &
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
m = socket.create_connection(("127.0.0.1", int(sys.argv[2])))  # an idle metrics client
s.sendall(sys.argv[3].encode() + b"\n")
for _ in range(100):
    if os.path.exists(sys.argv[4]):
        break
    time.sleep(0.1)
# meanwhile every descriptor of the daemon must be close-on-exec (O_CLOEXEC
# is 02000000 in fdinfo's octal flags)
with open(sys.argv[6], "w") as out:
    for fd in sorted(os.listdir("/proc/%s/fd" % sys.argv[5]), key=int):
        if int(fd) <= 2 or fd in sys.argv[7].split():
            continue
        try:
            flags = [l for l in open("/proc/%s/fdinfo/%s" % (sys.argv[5], fd)) if l.startswith("flags:")][0]
            target = os.readlink("/proc/%s/fd/%s" % (sys.argv[5], fd))
        except OSError:
            continue
        cloexec = int(flags.split()[1], 8) & 0o2000000 != 0
        out.write("%s %s %s\n" % (fd, "cloexec" if cloexec else "INHERITED", target))
PY
HOLD=$!
for _ in $(seq 1 100); do [ -s "$WORK/probe.json" ] && break; sleep 0.1; done
wait "$HOLD"
check "the program ran" [ -s "$WORK/probe.json" ]
python3 - "$WORK/probe.json" <<'PY'
import json, sys
info = json.loads(open(sys.argv[1]).readline())
print("# fds: %s" % info["fds"])
print("# env: %s" % info["env"])
sys.exit(0 if sorted(int(k) for k in info["fds"]) == [0, 1, 2] else 1)
PY
check "it inherits only stdin, stdout and stderr" [ $? -eq 0 ]
check "and a clean environment (no KW_SECRET_TOKEN, only PATH and HOME)" python3 -c '
import json, sys
env = json.loads(open(sys.argv[1]).readline())["env"]
sys.exit(0 if set(env) <= {"PATH", "HOME"} and "PATH" in env else 1)' "$WORK/probe.json"
echo "# handed down by the shell: $HANDED"
sed 's/^/# /' "$WORK/daemon-fds.txt"
check "every descriptor of the daemon is close-on-exec (device connection, metrics, alert file, database)" \
    sh -c "[ -s '$WORK/daemon-fds.txt' ] && ! grep -q INHERITED '$WORK/daemon-fds.txt'"
check "SIGTERM: exit status 0" stop_daemon
finish
