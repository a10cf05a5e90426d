"""Browser test of the index page's "try it" panel, in headless Chromium.

Starts iobound on 127.0.0.1:0 in the given mode, loads / in Chromium driven over the DevTools
protocol on a pipe (--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4, so the standard
library is enough: no websocket, no npm), runs 10 x /sleep?ms=200 from the panel, checks the DOM
(10 bars, all 200, the total time, the sentence for this mode, no JavaScript error), saves a
screenshot, and stops the server with SIGTERM, which must exit 0.

Usage: index_test.py CHROMIUM IOBOUND MODE SCREENSHOT.png   (exit 0 pass, 1 fail)
"""

import base64
import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REQUESTS, SLEEP_MS = 10, 200
# 10 x 200 ms take 0.2 s on a server that overlaps them; a browser opens 6 connections to one
# host, so it sends them in two waves (~0.4 s). 1 s leaves room for a noisy machine.
WALL_MS_MIN, WALL_MS_MAX = 200, 1000
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe", "--window-size=1000,1300",
]

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


class Server:
    """iobound on an ephemeral port; its stderr goes to a file so it never blocks on a pipe."""

    def __init__(self, binary, mode, tmp):
        self.log = os.path.join(tmp, "iobound.err")
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [binary, "--listen", "127.0.0.1:0", "--mode", mode,
                 "--set", "log.access_log=off"], stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 5
        while True:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+) ", self.stderr())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("iobound did not start:\n" + self.stderr())
            time.sleep(0.05)

    def stderr(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if not check(code == 0, f"iobound exits 0 on SIGTERM (exit {code})"):
            print(self.stderr(), file=sys.stderr)


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands in) and 4 (replies out)."""

    def __init__(self, chromium, profile):
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        # The child's ends move above 4, so that the dup2 onto 3 and 4 clobbers neither.
        child = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (cmd_r, out_w)]
        os.close(cmd_r)
        os.close(out_w)

        def give_fds():
            # dup2 makes 3 and 4 inheritable; every other fd of ours is close-on-exec (PEP 446).
            os.dup2(child[0], 3)
            os.dup2(child[1], 4)

        self.proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, "--user-data-dir=" + profile, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False,
            preexec_fn=give_fds)
        for fd in child:
            os.close(fd)
        self.w, self.r = cmd_w, out_r
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.r, 65536)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=10):
        """Sends a command and returns its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)


def evaluate(b, session, expr):
    res = b.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
    if "exceptionDetails" in res:
        raise RuntimeError(f"{expr}: {res['exceptionDetails']}")
    return res["result"].get("value")


def js_error(ev):
    """The message of an uncaught exception or a console.error() event, else None."""
    p = ev.get("params", {})
    if ev.get("method") == "Runtime.exceptionThrown":
        d = p["exceptionDetails"]
        return d.get("exception", {}).get("description") or d.get("text")
    if ev.get("method") == "Runtime.consoleAPICalled" and p.get("type") == "error":
        return " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))
    return None


def run(b, url, mode, screenshot):
    target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    b.send("Runtime.enable", session=session)
    b.send("Page.enable", session=session)
    b.send("Page.navigate", {"url": url}, session)
    b.wait_event("Page.loadEventFired")

    shown = evaluate(b, session, """[
        document.querySelector('#try p.model strong').textContent,
        Array.from(document.querySelectorAll('#models tr.this td')).map(function (td) {
            return td.textContent; })]""")
    check(shown[0] == mode, f"the panel describes this server's model {mode!r} (got {shown[0]!r})")
    check(shown[1][:1] == [mode], f"the Models table marks the row of {mode!r} (got {shown[1]})")

    evaluate(b, session, f"""(function () {{
        var f = document.getElementById('try-form');
        f.elements.endpoint.value = 'sleep';
        f.elements.endpoint.dispatchEvent(new Event('change'));
        f.elements.param.value = '{SLEEP_MS}';
        f.elements.n.value = '{REQUESTS}';
        f.querySelector('button').click();
    }})()""")
    deadline = time.monotonic() + 20
    done = "document.getElementById('try-result').dataset.wallMs !== undefined"
    while not evaluate(b, session, done) and time.monotonic() < deadline:
        time.sleep(0.1)
    if check(evaluate(b, session, done), "the run finished within 20 s"):
        got = evaluate(b, session, """(function () {
            var r = document.getElementById('try-result');
            return {bars: document.querySelectorAll('#try-chart rect.req').length,
                    bad: document.querySelectorAll('#try-chart rect.bad').length,
                    ok: Number(r.dataset.ok), wall: Number(r.dataset.wallMs),
                    text: r.textContent};
        })()""")
        print(f"     result: {got['text']!r}")
        check(got["bars"] == REQUESTS, f"{REQUESTS} bars drawn (got {got['bars']})")
        check(got["ok"] == REQUESTS and got["bad"] == 0,
              f"all {REQUESTS} answered 200 (got {got['ok']}, {got['bad']} red bars)")
        check(WALL_MS_MIN <= got["wall"] <= WALL_MS_MAX,
              f"total {got['wall']} ms within [{WALL_MS_MIN}, {WALL_MS_MAX}] ms")

    errors = [js_error(ev) for ev in b.events]
    errors = [e for e in errors if e]
    check(not errors, f"no JavaScript error {errors}")

    shot = b.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                  session)
    with open(screenshot, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print(f"     screenshot: {screenshot}")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    chromium, binary, mode, screenshot = sys.argv[1:]
    os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="iob-browser-")
    server = browser = None
    try:
        server = Server(binary, mode, tmp)
        browser = Browser(chromium, os.path.join(tmp, "profile"))
        run(browser, f"http://127.0.0.1:{server.port}/", mode, screenshot)
    except (OSError, EOFError, TimeoutError, RuntimeError) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        if browser:
            browser.close()
        if server:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'FAILED' if failures else 'PASSED'}: browser.index.{mode}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
