#!/usr/bin/env python3
"""Runs a real OpenSSH sshd (or Dropbear) on 127.0.0.1 and writes what it
logs as the syslog lines a device would send (RFC 3164, "sshd[PID]: ...").

sshd runs in inetd mode (-i -e), one process per connection, so each
line's PID is the real PID of the sshd that handled the connection and
nothing needs a syslog socket. sshd writes to stderr the text it would
send to syslog (the LogLevel decides what, "debugN: " prefixes included);
lines that start "debugN: " get the debug severity. Dropbear runs in its own inetd mode (-i -E) and prefixes
"[PID] date " on stderr, which becomes "dropbear[PID]: ".

Usage: sshd-capture.py PORTFILE OUTFILE HOST [sshd|dropbear] [ARG...]
  writes the port it listens on to PORTFILE, appends lines to OUTFILE with
  HOST as the header host name; ARGs go to sshd/dropbear. Runs until killed
  (SIGTERM) or for at most 600 s. With KW_SEND=ADDR:PORT in the
  environment, every line also goes there as one UDP datagram, as a device
  would send it (tests/e2e/identity.sh feeds the real daemon this way).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

portfile, outfile, host = sys.argv[1:4]
kind = sys.argv[4] if len(sys.argv) > 4 else "sshd"
extra = sys.argv[5:]
lock = threading.Lock()
out = open(outfile, "a", encoding="utf-8", errors="replace")
send_to = None
if os.environ.get("KW_SEND"):
    a, _, p = os.environ["KW_SEND"].rpartition(":")
    send_to = (a, int(p))
    usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def header(debug):
    # authpriv.info / authpriv.debug, as sshd's default SyslogFacility AUTH(PRIV) would send
    pri = 10 * 8 + (7 if debug else 6)
    return "<%d>%s %s" % (pri, time.strftime("%b %e %H:%M:%S", time.gmtime()), host)


def emit(tag, pid, msg, debug):
    with lock:
        line = "%s %s[%d]: %s" % (header(debug), tag, pid, msg)
        out.write(line + "\n")
        out.flush()
        if send_to:
            usock.sendto(line.encode("utf-8", "replace"), send_to)


def serve(conn):
    argv = ["/usr/sbin/sshd", "-i", "-e"] + extra
    p = subprocess.Popen(argv, stdin=conn.fileno(), stdout=conn.fileno(), stderr=subprocess.PIPE)
    conn.close()
    for raw in p.stderr:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            continue
        debug = bool(re.match(r"debug\d: ", line))
        emit("sshd", p.pid, line, debug)
    p.wait()


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
signal.alarm(600)
if kind == "dropbear":
    # Dropbear's inetd mode logs only to syslog: it listens itself instead
    # (foreground, log to stderr), every connection a child with its PID
    s.close()
    d = subprocess.Popen(["/usr/sbin/dropbear", "-F", "-E", "-p", "127.0.0.1:%d" % port] + extra,
                         stderr=subprocess.PIPE)
    signal.signal(signal.SIGTERM, lambda *a: (d.terminate(), sys.exit(0)))
    signal.signal(signal.SIGALRM, lambda *a: (d.terminate(), sys.exit(0)))
    first = True
    for raw in d.stderr:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        m = re.match(r"^\[(\d+)\] \w{3} +\d+ [\d:]+ (.*)$", line)
        if m:
            emit("dropbear", int(m.group(1)), m.group(2), False)
        if first and "Not backgrounding" in line:
            first = False
            with open(portfile + ".tmp", "w") as f:
                f.write(str(port))
            os.rename(portfile + ".tmp", portfile)
    sys.exit(0)
s.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(port))
os.rename(portfile + ".tmp", portfile)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s.settimeout(1.0)
threads = []
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    t = threading.Thread(target=serve, args=(c,), daemon=True)
    t.start()
    threads.append(t)
