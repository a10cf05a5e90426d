#!/usr/bin/python3
"""Syscalls and CPU time per request, the io_uring question: does a completion ring cut the
syscalls below one per request, and the CPU with them? For each server (default: the evented and
uring models and nginx), per round, in turn: /hello at c=64 under `perf stat -e
raw_syscalls:sys_enter -p PID` (syscalls per request), the same without perf (CPU us per request
from /proc/PID/stat utime+stime over the run), and /sleep?ms=100 at c=5000 (CPU us per request).
Servers are started by bench/run.py's Server (pinned to CPU 0, stopped by pid); wrk and this
driver run on CPU 1. The load average is recorded with every figure: the machine may be shared,
so compare ratios within one run. Writes bench/results/<date>-syscalls/README.md and raw/.
Usage: bench/syscalls.py [--iobound build/iobound] [--servers evented,uring,nginx] [--rounds 3]
       [--seconds 10]"""

import argparse
import datetime
import json
import os
import resource
import signal
import subprocess
import time

import run  # bench/run.py: Server, wrk, wrk_result, proc_cpu_ticks

CASES = [  # key, path, connections, counted with perf
    ("hello_c64_perf", "/hello", 64, True),
    ("hello_c64", "/hello", 64, False),
    ("sleep100_c5000", "/sleep?ms=100", 5000, False),
]


def perf_stat(pid, out):
    return subprocess.Popen(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", str(pid),
                             "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_count(proc, out):
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)
    for line in run.read_text(out).splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("raw_syscalls:sys_enter"):
            return int(fields[0])
    raise RuntimeError(f"perf counted nothing; see {out}")


def one_case(srv, key, path, conns, counted, seconds, raw, tag):
    load1 = os.getloadavg()[0]
    ticks0 = run.proc_cpu_ticks(srv.pid)
    perf = perf_stat(srv.pid, os.path.join(raw, f"{tag}.perf")) if counted else None
    if perf:
        time.sleep(0.3)  # perf attached before the first request
    log = os.path.join(raw, f"{tag}.wrk")
    run.wrk(srv.url() + path, conns, seconds, log, 30, None).wait()
    syscalls = perf_count(perf, os.path.join(raw, f"{tag}.perf")) if perf else None
    cpu_us = (run.proc_cpu_ticks(srv.pid) - ticks0) * 1e6 / run.CLK_TCK
    res = run.wrk_result(log)
    n = max(res["requests"], 1)
    errors = sum(res[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {"key": key, "requests": res["requests"], "errors": errors,
            "rps": res["requests"] * 1e6 / max(res["duration_us"], 1),
            "cpu_us_per_req": None if counted else cpu_us / n,
            "syscalls_per_req": syscalls / n if syscalls is not None else None, "load1": load1}


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def report(out, rows, servers, facts):
    lines = ["# Syscalls and CPU per request (bench/syscalls.py)", ""]
    lines += [f"- {k}: {v}" for k, v in facts] + [""]
    lines += ["| round | server | case | req/s | errors | syscalls/req | CPU us/req | load 1 min |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['round']} | {r['server']} | {r['key']} | {r['rps']:.0f} | "
                     f"{r['errors']} | {fmt(r['syscalls_per_req'], '.3f')} | "
                     f"{fmt(r['cpu_us_per_req'], '.2f')} | {r['load1']:.2f} |")
    lines += ["", "Ratios to evented, per round (the same minute of the same machine):", "",
              "| round | server | syscalls/req | CPU /hello c=64 | CPU /sleep c=5000 |",
              "| --- | --- | --- | --- | --- |"]
    by = {(r["round"], r["server"], r["key"]): r for r in rows}
    for rnd in sorted({r["round"] for r in rows}):
        for s in servers:
            cells = []
            for key, field in (("hello_c64_perf", "syscalls_per_req"),
                               ("hello_c64", "cpu_us_per_req"),
                               ("sleep100_c5000", "cpu_us_per_req")):
                a, b = by.get((rnd, s, key)), by.get((rnd, "evented", key))
                cells.append(f"{a[field] / b[field]:.2f}x" if a and b and b[field] else "-")
            lines.append(f"| {rnd} | {s} | " + " | ".join(cells) + " |")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iobound", default=os.path.join(run.REPO, "build", "iobound"))
    ap.add_argument("--servers", default="evented,uring,nginx")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--out")
    args = ap.parse_args()
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    out = args.out or os.path.join(run.BENCH, "results", stamp + "-syscalls")
    raw = os.path.join(out, "raw")
    os.makedirs(os.path.join(raw, "logs"), exist_ok=True)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by servers and wrk
    os.sched_setaffinity(0, {1 if os.cpu_count() >= 2 else 0})
    servers = args.servers.split(",")
    models = [m["name"] for m in run.list_models(args.iobound)]
    bins = {"iobound": args.iobound, "models": models}
    facts = [("date", stamp), ("kernel", os.uname().release),
             ("liburing", run.first_line(["dpkg-query", "-W", "-f=${Version}", "liburing2"])),
             ("pinning", "server on CPU 0; wrk (1 thread) and driver on CPU 1"),
             ("run", f"{args.seconds} s per case, {args.rounds} rounds, servers in turn"),
             ("figures", "syscalls/req from the run under perf, CPU us/req from the runs "
              "without it; load 1 min is the load average as each case began")]
    rows = []
    for rnd in range(1, args.rounds + 1):
        for name in servers:
            srv = run.Server(name, bins, raw, "0", f"r{rnd}-{name}")
            try:
                for key, path, conns, counted in CASES:
                    row = one_case(srv, key, path, conns, counted, args.seconds, raw,
                                   f"r{rnd}-{name}-{key}")
                    row.update(round=rnd, server=name)
                    rows.append(row)
                    print(f"syscalls: round {rnd} {name:8} {key:15} {row['rps']:8.0f} req/s "
                          f"syscalls/req {fmt(row['syscalls_per_req'], '6.3f')} "
                          f"cpu {fmt(row['cpu_us_per_req'], '6.2f')} us/req "
                          f"errors {row['errors']} load {row['load1']:.2f}", flush=True)
            finally:
                srv.stop()
    with open(os.path.join(raw, "rows.json"), "w") as f:
        json.dump(rows, f, indent=1)
    report(out, rows, servers, facts)
    print(f"syscalls: results in {out}", flush=True)


if __name__ == "__main__":
    main()
