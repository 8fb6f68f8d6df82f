#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Loads pages in headless Chromium and reports what a person would see.

    cdp.py OUTDIR NAME=URL@WIDTH ...

One Chromium (Debian's chromium package) driven over the DevTools protocol
through --remote-debugging-pipe (file descriptors 3 and 4, NUL-separated
JSON: no port, no websocket library). For each page, at WIDTH CSS pixels
(mobile emulation below 600), after its load event and half a second:

    OUTDIR/NAME.html    the DOM (document.documentElement.outerHTML)
    OUTDIR/NAME.png     a full-page screenshot (at most 8000 px high)
    OUTDIR/NAME.errors  one line per problem the page had: uncaught
                        exceptions, console.error/assert calls, the
                        browser's own error log entries (Content-Security-
                        Policy refusals, failed resources), requests that
                        failed or were answered 4xx/5xx; empty when none
    OUTDIR/NAME.width   "SCROLLWIDTH CLIENTWIDTH" of the document: wider
                        than the viewport means a horizontal scroll bar

Exits 1 when Chromium cannot be driven (each step is bounded: 30 s).
"""
import base64
import fcntl
import json
import os
import select
import subprocess
import sys
import time


class Browser:
    def __init__(self, profile, log):
        r1, w1 = os.pipe()  # our commands: Chromium reads fd 3
        r2, w2 = os.pipe()  # its answers: Chromium writes fd 4
        # out of the way of 3 and 4 before they are placed there
        hi = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in (r1, w2)]

        def place():
            os.dup2(hi[0], 3)
            os.dup2(hi[1], 4)

        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--hide-scrollbars", "--user-data-dir=" + profile,
             "--remote-debugging-pipe", "about:blank"],
            preexec_fn=place, pass_fds=(3, 4), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        for fd in (r1, w2, *hi):
            os.close(fd)
        self.rfd, self.wfd = r2, w1
        self.buf = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def recv(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                return None
            chunk = os.read(self.rfd, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=30):
        i = self.send(method, params, session)
        deadline = time.time() + timeout
        while True:
            m = self.recv(deadline)
            if m is None:
                raise TimeoutError(method)
            if m.get("id") == i:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, session, timeout=30):
        deadline = time.time() + timeout
        while True:
            for m in self.events:
                if m.get("method") == method and m.get("sessionId") == session:
                    return m
            m = self.recv(deadline)
            if m is None:
                raise TimeoutError(method)
            self.events.append(m)

    def drain(self, seconds):
        deadline = time.time() + seconds
        while (m := self.recv(deadline)) is not None:
            self.events.append(m)

    def close(self):
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def problems(events, session):
    """What went wrong on the page, one line each."""
    out = []
    for m in events:
        if m.get("sessionId") != session:
            continue
        p = m.get("params", {})
        meth = m.get("method")
        if meth == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            out.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
        elif meth == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console." + p["type"] + ": " +
                       " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif meth == "Log.entryAdded" and p["entry"].get("level") == "error":
            e = p["entry"]
            out.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".rstrip())
        elif meth == "Network.loadingFailed" and not p.get("canceled"):
            out.append(f"request failed: {p.get('errorText')} {p.get('blockedReason', '')}".rstrip())
        elif meth == "Network.responseReceived" and p["response"].get("status", 0) >= 400:
            out.append(f"HTTP {p['response']['status']}: {p['response'].get('url')}")
    return [" ".join(line.split()) for line in out]


def visit(b, outdir, name, url, width):
    target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        b.call(domain + ".enable", session=s)
    b.call("Emulation.setDeviceMetricsOverride",
           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}, session=s)
    b.events = []
    b.call("Page.navigate", {"url": url}, session=s)
    b.wait_event("Page.loadEventFired", s)
    b.drain(0.5)

    def js(expr):
        r = b.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=s)
        return r["result"].get("value")

    with open(os.path.join(outdir, name + ".html"), "w") as f:
        f.write(js("document.documentElement.outerHTML") or "")
    with open(os.path.join(outdir, name + ".width"), "w") as f:
        f.write(js("document.documentElement.scrollWidth + ' ' + document.documentElement.clientWidth") + "\n")
        # when too wide: the outermost elements reaching past the viewport
        f.write(js("""(function () {
            var w = document.documentElement.clientWidth, out = [];
            document.querySelectorAll('body *').forEach(function (e) {
                var p = e.parentElement;
                if (e.getBoundingClientRect().right > w + 0.5 && p && p.getBoundingClientRect().right <= w + 0.5)
                    out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                             (e.className && e.className.baseVal === undefined ? '.' + e.className : '') +
                             ' ' + Math.round(e.getBoundingClientRect().right));
            });
            return out.slice(0, 8).join('; ');
        })()""") + "\n")
    height = min(int(js("document.documentElement.scrollHeight") or 900), 8000)
    shot = b.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                             "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                                      "scale": 1}}, session=s)
    with open(os.path.join(outdir, name + ".png"), "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    b.drain(0.1)
    with open(os.path.join(outdir, name + ".errors"), "w") as f:
        for line in problems(b.events, s):
            f.write(line + "\n")
    b.call("Target.closeTarget", {"targetId": target})


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "chromium.log"), "ab") as log:
        b = Browser(os.path.join(outdir, "chrome-profile"), log)
        try:
            for job in sys.argv[2:]:
                name, rest = job.split("=", 1)
                url, _, width = rest.rpartition("@")
                visit(b, outdir, name, url, int(width))
        except Exception as e:  # noqa: BLE001 - reported, exit 1
            print(f"cdp.py: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        finally:
            b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
