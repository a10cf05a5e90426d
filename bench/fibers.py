#!/usr/bin/python3
"""The fibers lesson, measured in one run against threaded and evented (issue 13):

1. 1000 concurrent /sleep?ms=1000, each on its own connection, sent at once by an asyncio
   client: the wall time (about 1 s when the waits overlap), the server's OS threads and its
   RSS per waiting connection ((the highest VmRSS sampled before the first answer can be due -
   VmRSS at rest) / 1000), as a ratio to threaded. A thread's kernel stack (16 KiB on x86-64)
   is not in RSS and not counted here.
2. /sleep?ms=100 at c=5000 for a bounded wrk run: efficiency = req/s / (c / 0.1 s). wrk drops
   each connection's last request in flight, which caps it near 1 - 0.1 s / duration.

Each server is started afresh per scenario on 127.0.0.1 (port 0), pinned to CPU 0 by taskset,
the access log off; the client and wrk run on CPU 1. Stopped by its pid. Bounded: one round,
fixed counts and durations. Writes README.md and results.tsv to --out.

  /usr/bin/python3 bench/fibers.py --iobound build/iobound --out bench/results/DATE-fibers
"""
import argparse
import asyncio
import os
import re
import resource
import subprocess
import sys
import time

# threaded last: its 5000 threads leave the machine's run queue long for a while after.
MODES = ("evented", "fibers", "threaded")
LESSON_CONNS, LESSON_MS = 1000, 1000
WRK_CONNS, WRK_MS, WRK_S = 5000, 100, 10


def status(pid):
    """VmRSS (KiB) and Threads of a process, from /proc."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(val.split()[0])
    return out


class Server:
    def __init__(self, iobound, mode):
        cmd = ["taskset", "-c", "0", iobound, "--mode", mode, "--listen", "127.0.0.1:0",
               "--set", "log.access_log=off", "--set", "server.max_connections=20000",
               "--set", "server.backlog=8192"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stderr.readline()
        m = re.search(r"listening on [^\s]*:(\d+)", line)
        if not m:
            raise RuntimeError(f"{mode}: no 'listening on' line: {line!r}")
        self.port = int(m.group(1))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


async def one_sleep(port, ms):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /sleep?ms={ms} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    body = await reader.read()  # to EOF: Connection: close
    writer.close()
    return body.startswith(b"HTTP/1.1 200")


async def lesson(srv):
    """Sends the 1000 sleeps at once; samples the server while they wait. Answers (which dirty
    more of each stack, formatting) come no sooner than LESSON_MS after the first was sent."""
    rest = status(srv.proc.pid)
    peak = {"VmRSS": 0, "Threads": 0}
    t0 = time.monotonic()
    tasks = [asyncio.create_task(one_sleep(srv.port, LESSON_MS)) for _ in range(LESSON_CONNS)]
    while not all(t.done() for t in tasks):
        now = status(srv.proc.pid)
        if time.monotonic() - t0 < 0.95 * LESSON_MS / 1000:
            peak = {k: max(peak[k], now[k]) for k in peak}
        await asyncio.sleep(0.05)
    wall = time.monotonic() - t0
    ok = sum(1 for t in tasks if not t.exception() and t.result())
    return {"ok": ok, "wall_s": wall, "threads_peak": peak["Threads"],
            "rss_rest_kib": rest["VmRSS"],
            "rss_per_conn_kib": (peak["VmRSS"] - rest["VmRSS"]) / LESSON_CONNS}


def wrk_sleep(srv):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c", str(WRK_CONNS), "-d",
                          f"{WRK_S}s", "--timeout", "5s",
                          f"http://127.0.0.1:{srv.port}/sleep?ms={WRK_MS}"],
                         capture_output=True, text=True, timeout=WRK_S + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "efficiency": rps / (WRK_CONNS / (WRK_MS / 1000)),
            "errors": (errs.group(1) if errs else "none") +
                      (f"; non-2xx {non2xx.group(1)}" if non2xx else "")}


def run_mode(iobound, mode):
    row = {"mode": mode}
    srv = Server(iobound, mode)
    try:
        row.update(asyncio.run(lesson(srv)))
    finally:
        srv.stop()
    srv = Server(iobound, mode)
    try:
        row.update(wrk_sleep(srv))
    finally:
        srv.stop()
    return row


def report(rows, out, load):
    by = {r["mode"]: r for r in rows}
    f, t = by["fibers"], by["threaded"]
    lines = [
        "# fibers against threaded and evented (bench/fibers.py, one run)", "",
        f"Machine: {os.cpu_count()} CPUs, load before the run {load}; server on CPU 0, "
        "client on CPU 1.", "",
        f"| model | {LESSON_CONNS} x /sleep?ms={LESSON_MS}: ok | wall s | OS threads (peak) | "
        f"RSS/waiting conn KiB | /sleep?ms={WRK_MS} c={WRK_CONNS} req/s | efficiency | "
        "wrk errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['ok']} | {r['wall_s']:.2f} | {r['threads_peak']} | "
                     f"{r['rss_per_conn_kib']:.1f} | {r['rps']:.0f} | {r['efficiency']:.3f} | "
                     f"{r['errors']} |")
    ratio = f["rss_per_conn_kib"] / t["rss_per_conn_kib"]
    lines += ["", "Goals (issue 13):", "",
              f"- RSS per connection, fibers / threaded: {ratio:.2f} (goal <= 0.5): "
              f"{'met' if ratio <= 0.5 else 'NOT met'}",
              f"- /sleep?ms={WRK_MS} c={WRK_CONNS} efficiency, fibers: {f['efficiency']:.3f} "
              f"(goal >= 0.9): {'met' if f['efficiency'] >= 0.9 else 'NOT met'}",
              f"- {LESSON_CONNS} concurrent /sleep?ms={LESSON_MS} on fibers: {f['wall_s']:.2f} s "
              f"on {f['threads_peak']} OS thread(s)", ""]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "README.md"), "w") as fh:
        fh.write("\n".join(lines))
    keys = list(rows[0].keys())
    with open(os.path.join(out, "results.tsv"), "w") as fh:
        fh.write("\t".join(keys) + "\n")
        for r in rows:
            fh.write("\t".join(str(r[k]) for k in keys) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iobound", default="build/iobound")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2 * WRK_CONNS + 100:
        sys.exit(f"open files limit {hard} is below {2 * WRK_CONNS + 100}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by servers and wrk
    os.sched_setaffinity(0, {1})
    load = open("/proc/loadavg").read().split()[0]
    report([run_mode(args.iobound, m) for m in MODES], args.out, load)


if __name__ == "__main__":
    main()
