#!/usr/bin/env python3
"""Soak: mixed traffic against each model for a long time, under each given build.

For every build (a path to an iobound binary) and every model, starts the server on
127.0.0.1:0 (a port of its own) and for SECONDS runs, together: wrk with mix.lua (every
endpoint, good and bad, malformed requests that close, every /fault kind), wrk with
pipelined.lua (three requests in flight per connection) and a resetter that opens connections
and resets them mid-header, mid-body, during /sleep, /gather, /drip, /sse, a /fault hang and a
/cpu step. It samples the server's RSS and open fds every 2 s, then stops it with SIGTERM.
Up to JOBS such runs go at once (default: as many as a build has models, so the models of a
build soak side by side and the builds one after the other); the load of each is bounded by
--conns and --pause-ms, so that several fit on two cores.

Targets, each a column of the summary: no crash (the server lives throughout and exits 0, no
sanitizer report); no leak (LeakSanitizer at exit, for sanitized builds); RSS after the soak
within 10 % of RSS after the first minute, for builds named "release" (each the highest sample
of a minute: the second minute, rss_ref, and the last, rss_last; rss_idle is the RSS once the
traffic has stopped); fds back to the idle count.

  run.py --seconds 600 [--modes "evented threaded"] [--jobs N] [--out DIR] NAME=BINARY...

The models come from `BINARY --list-modes=json` (a JSON array of objects with "name"); an
iobound without it needs --modes. Exit 0 when every target held, 1 otherwise, 2 on usage.
Loopback only; wrk and the resetter stop by themselves, the server is stopped by its pid.
"""
import argparse
import concurrent.futures
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import serverproc  # noqa: E402  (tests/serverproc.py)
SAMPLE_S = 2.0
RSS_TOLERANCE = 0.10
SETTLE_S = 15.0   # for the fds to return to idle after the traffic (above idle_timeout_ms)
SANITIZER_RE = re.compile(rb"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
                          rb"WARNING: ThreadSanitizer")


def list_modes(binary):
    """The models the binary names in --list-modes=json, or None when it has no such flag."""
    try:
        out = subprocess.run([binary, "--list-modes=json"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        return [m["name"] for m in json.loads(out.stdout)]
    except (ValueError, KeyError, TypeError):
        return None


def proc_status(pid):
    """(RSS bytes, open fds) of pid, or (None, None) once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        return rss, len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, StopIteration):
        return None, None


class Resetter(threading.Thread):
    """Clients that vanish: each opens a connection, sends part of a request (or a whole slow
    one), waits a little and closes with a reset (SO_LINGER 0). About 17 a second. The /cpu one
    resets while the step runs (on a CPU thread, in the models that have them)."""

    KINDS = [
        (b"GET /hello HTTP/1.1\r\nHo", 0.0),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000, 0.0),
        (b"GET /sleep?ms=50 HTTP/1.1\r\nHost: a\r\n\r\n", 0.01),
        (b"GET /gather?ms=30,40,50 HTTP/1.1\r\nHost: a\r\n\r\n", 0.01),
        (b"GET /drip?bytes=2000&chunks=20&ms=5 HTTP/1.1\r\nHost: a\r\n\r\n", 0.02),
        (b"GET /cpu?ms=20 HTTP/1.1\r\nHost: a\r\n\r\n", 0.005),
        (b"GET /sse?events=10&ms=5 HTTP/1.1\r\nHost: a\r\n\r\n", 0.015),
        (b"GET /fault?kind=hang&ms=50 HTTP/1.1\r\nHost: a\r\n\r\n", 0.01),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + b"y" * 900000,
         0.0),
    ]

    def __init__(self, port, seconds):
        super().__init__(daemon=True)
        self.port, self.seconds, self.sent = port, seconds, 0

    def run(self):
        end = time.monotonic() + self.seconds
        i = 0
        while time.monotonic() < end:
            data, wait_s = self.KINDS[i % len(self.KINDS)]
            i += 1
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                s.sendall(data)
                time.sleep(wait_s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                self.sent += 1
            except OSError:
                pass
            time.sleep(0.05)


def wrk(port, script, seconds, conns, pause_ms, out_path):
    return subprocess.Popen(
        ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--timeout", "5s", "-s",
         os.path.join(HERE, script), "http://127.0.0.1:%d/" % port, "--", str(pause_ms)],
        stdout=open(out_path, "w"), stderr=subprocess.STDOUT)


def soak_line(path):
    with open(path) as f:
        text = f.read()
    m = re.search(r"^SOAK (.*)$", text, re.M)
    if not m:
        return None, text
    return dict(kv.split("=", 1) for kv in m.group(1).split()), text


def run_one(name, binary, mode, args, outdir):
    logdir = os.path.join(outdir, "%s-%s" % (name, mode))
    os.makedirs(logdir, exist_ok=True)
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("IOBOUND_"))
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    proc, port, err = serverproc.start(binary, mode, os.path.join(logdir, "server.stderr"),
                                       ["--set", "log.access_log=off",
                                        "--set", "log.level=warn"], env)
    time.sleep(0.5)
    rss0, idle_fds = proc_status(proc.pid)
    samples = []  # (seconds since start, rss, fds)
    start = time.monotonic()
    mix = wrk(port, "mix.lua", args.seconds, args.conns, args.pause_ms,
              os.path.join(logdir, "wrk-mix.out"))
    pipe = wrk(port, "pipelined.lua", args.seconds, max(args.conns // 2, 1), args.pause_ms,
               os.path.join(logdir, "wrk-pipelined.out"))
    resetter = Resetter(port, args.seconds)
    resetter.start()
    alive = True
    while mix.poll() is None or pipe.poll() is None:
        time.sleep(SAMPLE_S)
        rss, fds = proc_status(proc.pid)
        if rss is None or proc.poll() is not None:
            alive = False
            break
        samples.append((time.monotonic() - start, rss, fds))
        if time.monotonic() - start > args.seconds + 60:
            break  # wrk overran its -d by a minute: stop waiting, it is killed below
    for p in (mix, pipe):
        if p.poll() is None:
            p.kill()
        p.wait()
    resetter.join(timeout=10)
    # Back to idle: wrk has closed its connections; half-open ones time out.
    settle_end = time.monotonic() + SETTLE_S
    end_fds = end_rss = None
    while alive and time.monotonic() < settle_end:
        end_rss, end_fds = proc_status(proc.pid)
        if end_fds is None:
            alive = False
            break
        if end_fds <= idle_fds:
            break
        time.sleep(0.5)
    # What the connections still open are (their state, queues, peer), for the failure report.
    leftover = "" if end_fds is None or end_fds <= idle_fds else "".join(
        line for line in subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout
        .splitlines(True) if "pid=%d," % proc.pid in line and "LISTEN" not in line)
    # RSS after the first minute and after the soak, each the highest sample of a minute (a
    # quarter of a run under four minutes): one sample swings by a request body or two (a
    # 900 KB upload is on the heap or not), a window's high-water mark does not, and a leak
    # still raises the last one.
    win_s = min(60.0, args.seconds / 4)
    ref = max((s[1] for s in samples if win_s <= s[0] < 2 * win_s), default=None)
    last = max((s[1] for s in samples if s[0] >= args.seconds - win_s), default=None)
    rc = serverproc.stop(proc, 60)
    err.seek(0)
    stderr = err.read()
    err.close()
    reports = [m.group(0) for m in SANITIZER_RE.finditer(stderr)]
    leaked = any(b"LeakSanitizer" in r for r in reports)
    crashed = any(b"LeakSanitizer" not in r for r in reports)
    mixed, mix_text = soak_line(os.path.join(logdir, "wrk-mix.out"))
    piped, pipe_text = soak_line(os.path.join(logdir, "wrk-pipelined.out"))
    requests = sum(int(x["requests"]) for x in (mixed, piped) if x)
    timeouts = sum(int(x["timeout"]) for x in (mixed, piped) if x)
    # The faults and malformed requests break connections on purpose: wrk counts read errors.
    broken = sum(int(x["read"]) + int(x["connect"]) for x in (mixed, piped) if x)
    growth = (last - ref) / ref if (last and ref) else None
    row = {
        "build": name, "mode": mode, "seconds": args.seconds, "requests": requests,
        "req_per_s": round(requests / args.seconds), "resets": resetter.sent,
        "wrk_timeouts": timeouts, "wrk_errors": broken,
        "statuses": mixed["statuses"] if mixed else "?",
        "rss_start_mib": mib(rss0), "win_s": round(win_s), "rss_ref_mib": mib(ref),
        "rss_last_mib": mib(last), "rss_idle_mib": mib(end_rss),
        "rss_peak_mib": mib(max((s[1] for s in samples), default=None)),
        "rss_growth_pct": "%.1f" % (100 * growth) if growth is not None else "?",
        "fds_idle": idle_fds, "fds_peak": max((s[2] for s in samples), default="?"),
        "fds_end": end_fds, "exit": rc,
    }
    checks = {
        # LeakSanitizer makes the exit code nonzero; that is a leak, not a crash.
        "no_crash": alive and (rc == 0 or leaked) and not crashed,
        "no_leak": not leaked,
        "rss_flat": growth is not None and growth <= RSS_TOLERANCE if name == "release" else None,
        "fds_back": end_fds is not None and end_fds <= idle_fds,
        "wrk_ran": mixed is not None and piped is not None,
    }
    row.update({k: {True: "yes", False: "NO", None: "-"}[v] for k, v in checks.items()})
    row["ok"] = all(v is not False for v in checks.values())
    if not row["ok"]:
        sys.stderr.write("--- %s %s: server stderr (tail):\n%s\n" % (
            name, mode, stderr[-3000:].decode(errors="replace")))
        if leftover:
            sys.stderr.write("--- connections left open (ss):\n%s\n" % leftover)
        if not checks["wrk_ran"]:
            sys.stderr.write("--- wrk output:\n%s\n%s\n" % (mix_text[-1500:], pipe_text[-1500:]))
    with open(os.path.join(logdir, "samples.tsv"), "w") as f:
        f.write("seconds\trss_bytes\tfds\n")
        f.writelines("%.1f\t%d\t%d\n" % s for s in samples)
    return row


def mib(b):
    return "%.1f" % (b / 1048576) if b else "?"


COLUMNS = ["build", "mode", "seconds", "requests", "req_per_s", "resets", "wrk_timeouts",
           "wrk_errors", "rss_start_mib", "win_s", "rss_ref_mib", "rss_last_mib", "rss_idle_mib",
           "rss_peak_mib", "rss_growth_pct", "fds_idle", "fds_peak", "fds_end", "exit",
           "no_crash", "no_leak", "rss_flat", "fds_back"]


def run_or_fail(name, binary, mode, args, outdir):
    """run_one(), or a failed row when the server does not even start."""
    try:
        return run_one(name, binary, mode, args, outdir)
    except RuntimeError as e:
        sys.stderr.write("--- %s %s: %s\n" % (name, mode, e))
        row = dict.fromkeys(COLUMNS, "?")
        row.update(build=name, mode=mode, requests=0, statuses="?", ok=False, no_crash="NO")
        return row


def report(r):
    return "   %s/%s: %d requests, RSS %s -> %s MiB (%s %%), fds %s -> %s, exit %s: %s" % (
        r["build"], r["mode"], r["requests"], r["rss_ref_mib"], r["rss_last_mib"],
        r["rss_growth_pct"], r["fds_idle"], r["fds_end"], r["exit"],
        "ok" if r["ok"] else "FAILED")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=600, help="per model per build")
    ap.add_argument("--modes", default="", help='e.g. "evented threaded" (default: '
                    "from --list-modes=json)")
    ap.add_argument("--jobs", type=int, default=0, help="runs at once (default: the most "
                    "models of any build)")
    ap.add_argument("--conns", type=int, default=4, help="wrk connections for the mix")
    ap.add_argument("--pause-ms", type=int, default=10, help="wrk pause before each request")
    ap.add_argument("--out", default="build/soak", help="directory for logs and samples")
    ap.add_argument("builds", nargs="+", metavar="NAME=BINARY")
    args = ap.parse_args()
    if args.seconds < 10:
        ap.error("--seconds must be at least 10")
    if args.jobs < 0:
        ap.error("--jobs must be 0 (the default) or more")
    runs = []  # (build name, binary, model), the builds in the order given
    for b in args.builds:
        name, _, binary = b.partition("=")
        if not binary or not os.access(binary, os.X_OK):
            ap.error("%s: want NAME=BINARY with an executable BINARY" % b)
        modes = args.modes.split() or list_modes(binary)
        if not modes:
            ap.error("%s has no --list-modes=json; name the models: --modes \"evented threaded\" "
                     "(make soak MODES=\"evented threaded\")" % binary)
        runs += [(name, binary, mode) for mode in modes]
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode != 0:
        ap.error("wrk is not installed (./.ci/install-deps wrk)")
    os.makedirs(args.out, exist_ok=True)
    jobs = args.jobs or max(sum(1 for r in runs if r[0] == name) for name, _, _ in runs)
    print("== %d runs of %d s (%s), %d at once" % (
        len(runs), args.seconds, " ".join("%s/%s" % (n, m) for n, _, m in runs), jobs),
        flush=True)
    # A pool takes the runs in order: with jobs = models per build, one build's models at once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_or_fail, name, binary, mode, args, args.out)
                   for name, binary, mode in runs]
        for f in concurrent.futures.as_completed(futures):
            print(report(f.result()), flush=True)
    rows = [f.result() for f in futures]
    cols = COLUMNS
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)))
    print("statuses (mix): " + "; ".join("%s/%s %s" % (r["build"], r["mode"], r["statuses"])
                                         for r in rows))
    with open(os.path.join(args.out, "summary.tsv"), "w") as f:
        f.write("\t".join(cols) + "\tstatuses\n")
        f.writelines("\t".join(str(r[c]) for c in cols) + "\t" + r["statuses"] + "\n"
                     for r in rows)
    failed = [r for r in rows if not r["ok"]]
    if failed:
        print("FAIL: %s" % ", ".join("%s/%s" % (r["build"], r["mode"]) for r in failed))
        return 1
    print("ok: every target held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
