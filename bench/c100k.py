#!/usr/bin/python3
"""`make bench`'s C100K scenario: concurrent connections of /sleep?ms=10000, rising to 100,000
(by default c = 1,000, 10,000 and 100,000), against each iobound model (as `iobound
--list-modes=json` lists them) and nginx, all on loopback, one server at a time, and
bench/results/<date>-<time>-c100k/ (TSV, Markdown, charts of efficiency, RSS and CPU per request
against c, logs). One wrk per listen address: each source/destination pair has only ~28k
ephemeral ports (net.ipv4.ip_local_port_range), so the server listens on 127.0.0.1 .. 127.0.0.4
and each wrk takes a quarter of the connections. The kernel's side is reported too:
/proc/net/sockstat and the socket slabs of /proc/slabinfo. Reuses bench/run.py's server, sampler
and wrk helpers. Skipped under QUICK. Standard library only; run with Debian's /usr/bin/python3."""

import argparse
import datetime
import json
import os
import re
import resource
import subprocess
import sys
import time

import run  # bench/run.py: Server, Sampler, proc_status, wrk_result, build, list_models

ADDRS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
WAIT_S = 10.0
PATH = "/sleep?ms=10000"
# Kernel objects a connection costs beside its buffers (sockstat's "mem"), from /proc/slabinfo.
SLABS = ("TCP", "sock_inode_cache", "dentry", "filp", "eventpoll_epi")
MIN_FREE_GIB = 6  # the server, 4 wrk and 200,000 kernel sockets, with room for the others
# Descriptors a server needs beside its connections (listening sockets, epoll, eventfds, logs).
FD_MARGIN = 200


def free_port(ip):
    with run.socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


class C100KServer(run.Server):
    """run.Server on every address of ADDRS: iobound gets a listen list, nginx one listen
    directive per address; limits raised for conns connections."""

    conns = 100000

    def command(self, name, bins, raw):
        if name in bins["models"]:
            listen = ", ".join(f"{ip}:0" for ip in ADDRS)
            limit = str(self.conns + 10000)
            return ([bins["iobound"], "--mode", name, "--listen", listen,
                     "--set", "log.access_log=off", "--set", f"server.max_connections={limit}",
                     "--set", "server.backlog=65535",
                     "--set", "limits.header_timeout_ms=60000",
                     "--set", "limits.idle_timeout_ms=60000"], dict(os.environ), None)
        cmd, env, _ = run.Server.command(name, bins, raw)
        path = cmd[-1]
        conf = run.read_text(path)
        self.ports = [free_port(ip) for ip in ADDRS]
        listens = "".join(f"        listen {ip}:{p} backlog=65535;\n"
                          for ip, p in zip(ADDRS, self.ports))
        conf = re.sub(r"^\s*listen .*\n", listens, conf, count=1, flags=re.M)
        conf = re.sub(r"worker_rlimit_nofile \d+", f"worker_rlimit_nofile {self.conns + FD_MARGIN}",
                      conf)
        # Twice: below 1/16 of them free, nginx closes idle keep-alive connections.
        conf = re.sub(r"worker_connections \d+", f"worker_connections {2 * self.conns}", conf)
        conf = re.sub(r"error_log [^;]*;", f"error_log {raw}/logs/nginx-error.log warn;", conf)
        with open(path, "w") as f:
            f.write(conf)
        return cmd, env, self.ports[0]

    def wait_ready(self, timeout_s=15.0):
        super().wait_ready(timeout_s)
        if not getattr(self, "ports", None):
            text = run.read_text(self.errlog)
            self.ports = [int(p) for p in re.findall(r"listening on [\d.]+:(\d+)", text)]
        if len(self.ports) != len(ADDRS):
            self.stop()
            raise RuntimeError(f"{self.name}: listening on {self.ports}, not {len(ADDRS)} "
                               "addresses")

    def urls(self):
        return [f"http://{ip}:{p}{PATH}" for ip, p in zip(ADDRS, self.ports)]


def sockstat():
    """TCP sockets in use and their buffer memory (KiB) from /proc/net/sockstat."""
    m = re.search(r"^TCP: inuse (\d+) orphan \d+ tw (\d+) alloc \d+ mem (\d+)",
                  run.read_text("/proc/net/sockstat"), re.M)
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    return {"tcp_inuse": int(m.group(1)), "tcp_tw": int(m.group(2)),
            "tcp_mem_kib": int(m.group(3)) * page_kib}


def slab_kib():
    """KiB held by the slabs of SLABS (objects in use x object size); 0 when unreadable."""
    total = 0
    try:
        for line in run.read_text("/proc/slabinfo").splitlines():
            f = line.split()
            if f and f[0] in SLABS:
                total += int(f[1]) * int(f[3])
    except OSError:
        return 0
    return total // 1024


def kernel_facts():
    def sysctl(name):
        try:
            return " ".join(run.read_text("/proc/sys/" + name.replace(".", "/")).split())
        except OSError:
            return "?"
    return [(k, sysctl(k)) for k in (
        "net.ipv4.ip_local_port_range", "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog",
        "kernel.threads-max", "kernel.pid_max", "vm.max_map_count", "fs.nr_open",
        "net.ipv4.tcp_max_tw_buckets")]


def start_wrks(srv, conns, duration_s, raw, tag):
    """One wrk per address, a share of conns each (the first ones take the remainder)."""
    procs = []
    for i, url in enumerate(srv.urls()):
        n = conns // len(ADDRS) + (1 if i < conns % len(ADDRS) else 0)
        log = os.path.join(raw, "logs", f"{tag}.wrk{i}")
        cmd = ["wrk", "-t1", "-c", str(n), "-d", f"{duration_s}s", "--timeout", "30s",
               "-s", os.path.join(run.BENCH, "wrk_summary.lua"), url]
        with open(log, "w") as f:
            procs.append((subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT), log))
    return procs


def wait_mid_run(procs, duration_s):
    """Sleeps to mid-run and samples the kernel there (every connection open by then)."""
    deadline = time.monotonic() + duration_s / 2
    while time.monotonic() < deadline and all(p.poll() is None for p, _ in procs):
        time.sleep(0.5)
    return sockstat(), slab_kib()


def collect(procs, duration_s):
    """Waits for every wrk and sums their results; latency: the worst wrk's."""
    total = {"requests": 0, "status": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0,
             "rps": 0.0, "p50_us": 0, "p99_us": 0, "max_us": 0}
    for p, log in procs:
        p.wait(timeout=duration_s + 120)
        w = run.wrk_result(log)
        for k in ("requests", "status", "connect", "read", "write", "timeout"):
            total[k] += w[k]
        total["rps"] += (w["requests"] - w["status"]) / (w["duration_us"] / 1e6)
        for k in ("p50_us", "p99_us", "max_us"):
            total[k] = max(total[k], w[k])
    return total


def measure(name, bins, raw, conns, duration_s, server_cpus):
    """One server under conns connections for duration_s, in a fresh process."""
    tag = f"c100k-{conns}-{name}"
    C100KServer.conns = conns
    kern0, slab0 = sockstat(), slab_kib()
    srv = C100KServer(name, bins, raw, server_cpus, tag)
    try:
        time.sleep(0.2)
        rest = run.proc_status(srv.pid)
        ticks0 = run.proc_cpu_ticks(srv.pid)
        sampler = run.Sampler(srv.pid, duration_s)
        sampler.start()
        procs = start_wrks(srv, conns, duration_s, raw, tag)
        kern, slab = wait_mid_run(procs, duration_s)
        w = collect(procs, duration_s)
        ticks1 = run.proc_cpu_ticks(srv.pid)
        sampler.halt.set()
        sampler.join()
        end = run.proc_status(srv.pid)
    finally:
        srv.stop()
    return row(name, conns, w, rest, end, sampler, kern, kern0, slab - slab0, ticks1 - ticks0)


def row(name, conns, w, rest, end, sampler, kern, kern0, slab_delta_kib, ticks):
    good = w["requests"] - w["status"]
    rss = sampler.steady_rss()
    open_conns = max(kern["tcp_inuse"] - kern0["tcp_inuse"], 0) // 2  # both ends on loopback
    return {
        "server": name, "conns": conns, "requests": w["requests"], "rps": w["rps"],
        "efficiency": w["rps"] / (conns / WAIT_S),
        "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000, "max_ms": w["max_us"] / 1000,
        "p99_s": w["p99_us"] / 1e6,
        "err_connect": w["connect"], "err_read": w["read"], "err_write": w["write"],
        "err_status": w["status"], "err_timeout": w["timeout"],
        "rss_rest_kib": rest["VmRSS"], "rss_load_kib": rss, "peak_rss_kib": end["VmHWM"],
        "rss_per_conn_kib": (rss - rest["VmRSS"]) / conns,
        "threads_max": max([s["Threads"] for _, s in sampler.samples] + [end["Threads"]]),
        "fds_open": sampler.fds, "tcp_conns_mid": open_conns,
        "kernel_tcp_buf_kib": kern["tcp_mem_kib"],
        "kernel_slab_kib_per_conn": slab_delta_kib / open_conns if open_conns else float("nan"),
        "cpu_us_per_req": ticks * 1e6 / run.CLK_TCK / good if good else float("nan"),
    }


COLUMNS = ["server", "conns", "requests", "rps", "efficiency", "p50_ms", "p99_ms", "max_ms",
           "err_connect", "err_read", "err_write", "err_status", "err_timeout", "rss_rest_kib",
           "rss_load_kib", "peak_rss_kib", "rss_per_conn_kib", "threads_max", "fds_open",
           "tcp_conns_mid", "kernel_tcp_buf_kib", "kernel_slab_kib_per_conn", "cpu_us_per_req"]
# Issue 14's goals, checked for every server (they are the evented model's).
GOALS = [("socket errors", lambda r: r["err_connect"] + r["err_read"] + r["err_write"] +
          r["err_timeout"] == 0, "0"),
         ("efficiency", lambda r: r["efficiency"] >= 0.95, ">= 0.95"),
         ("RSS/conn", lambda r: r["rss_per_conn_kib"] <= 2.5, "<= 2.5 KiB"),
         ("p99", lambda r: r["p99_s"] <= 10.1, "<= 10.1 s")]


def fmt(v):
    return f"{v:.3f}" if isinstance(v, float) else str(v)


CHARTS = [  # file, row field, title, y label, log y
    ("efficiency_vs_c", "efficiency", "Efficiency = req/s / (c / 10 s)", "efficiency", 0),
    ("rss_per_conn_vs_c", "rss_per_conn_kib", "Server RSS per waiting connection",
     "KiB per connection", 1),
    ("cpu_vs_c", "cpu_us_per_req", "CPU time (user + system) per request", "CPU us per request",
     1),
    ("p99_vs_c", "p99_s", "p99 latency of /sleep?ms=10000", "p99 (s)", 0),
]


def charts(out, rows):
    """One line per server over the levels of c; none with fewer than two levels. CPU per
    request only where the server served the load (report.chart_value)."""
    levels = sorted({r["conns"] for r in rows})
    servers = list(dict.fromkeys(r["server"] for r in rows))
    if len(levels) < 2:
        return []
    by = {(r["server"], r["conns"]): r for r in rows}
    for name, field, title, ylab, logy in CHARTS:
        run.report.line_chart(os.path.join(out, "raw", name + ".dat"),
                              os.path.join(out, name + ".svg"), levels, servers,
                              lambda c, s: run.report.chart_value(by.get((s, c), {}), field),
                              title, ylab, logy, "concurrent connections c (GET /sleep?ms=10000)")
    return [name + ".svg" for name, *_ in CHARTS]


def write(out, rows, facts, skipped):
    with open(os.path.join(out, "c100k.tsv"), "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            f.write("\t".join(fmt(r[c]) for c in COLUMNS) + "\n")
    levels = sorted({r["conns"] for r in rows})
    top = levels[-1] if levels else 0
    lines = [f"# C100K: /sleep?ms=10000 at c = {', '.join(map(str, levels)) or '?'}", ""]
    lines += [f"- {k}: {v}" for k, v in facts] + [""]
    lines += ["| c | server | req/s | efficiency | p99 s | socket errors (c/r/w/t) | non-2xx | "
              "RSS/conn KiB | peak RSS MiB | threads | kernel TCP buffers MiB | "
              "kernel slab KiB/conn | CPU us/req | goals met |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        met = [name for name, ok, _ in GOALS if ok(r)]
        lines.append(
            f"| {r['conns']} | {r['server']} | {r['rps']:.0f} | {r['efficiency']:.3f} | "
            f"{r['p99_s']:.2f} | {r['err_connect']}/{r['err_read']}/{r['err_write']}/"
            f"{r['err_timeout']} | {r['err_status']} | {r['rss_per_conn_kib']:.2f} | "
            f"{r['peak_rss_kib'] / 1024:.0f} | {r['threads_max']} | "
            f"{r['kernel_tcp_buf_kib'] / 1024:.1f} | {r['kernel_slab_kib_per_conn']:.2f} | "
            f"{r['cpu_us_per_req']:.1f} | " +
            (f"{len(met)}/{len(GOALS)} |" if r["conns"] == top else "- |"))
    lines += ["", f"Goals, judged at the largest c ({top}): " +
              "; ".join(f"{n} {want}" for n, _, want in GOALS) + "."]
    lines += [f"- not measured: {n} at c={c}: {why}" for n, c, why in skipped]
    made = charts(out, rows)
    if made:
        lines += ["", "## Charts", ""] + [f"![{m}]({m})" for m in made]
    with open(os.path.join(out, "c100k.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def raise_fd_limit(conns):
    """Servers and wrk inherit it: the server holds one descriptor per connection (and nginx
    no more). Past the hard limit only with CAP_SYS_RESOURCE; else as far as it goes."""
    want = conns + FD_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0], ""
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard, (f"RLIMIT_NOFILE's hard limit is {hard} and cannot be raised here (no "
                  "CAP_SYS_RESOURCE): the server can hold no more connections than that")


def free_gib():
    m = re.search(r"^MemAvailable:\s+(\d+) kB", run.read_text("/proc/meminfo"), re.M)
    return int(m.group(1)) / (1 << 20)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip (QUICK=1): minutes of load")
    ap.add_argument("--conns", default="1000,10000,100000",
                    help="comma-separated levels of c, each capped by the open files limit")
    ap.add_argument("--duration", type=int, default=62,
                    help="seconds of wrk: 6 rounds of 10 s and 2 s for 100k connects")
    ap.add_argument("--servers", help="comma-separated subset: the models and nginx")
    ap.add_argument("--iobound", help="use this iobound binary instead of building one")
    ap.add_argument("--out", help="results directory (default bench/results/<date>-<time>-c100k)")
    ap.add_argument("--build-dir", default=os.path.join(run.REPO, "build-bench"))
    return ap.parse_args()


def main():
    args = parse_args()
    if args.quick:
        print("c100k: skipped under QUICK", flush=True)
        return
    if free_gib() < MIN_FREE_GIB:
        print(f"c100k: skipped: {free_gib():.1f} GiB available, needs {MIN_FREE_GIB}", flush=True)
        return
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")  # as run.py's: no run overwrites
    out = os.path.abspath(args.out or os.path.join(run.BENCH, "results", stamp + "-c100k"))
    raw = os.path.join(out, "raw")
    os.makedirs(os.path.join(raw, "logs"), exist_ok=True)
    asked = sorted({int(c) for c in args.conns.split(",")})
    nofile, capped_by = raise_fd_limit(asked[-1])
    levels = sorted({min(c, nofile - FD_MARGIN) for c in asked})
    if levels[-1] < asked[-1]:
        print(f"c100k: at most {levels[-1]} connections, not {asked[-1]}: {capped_by}", flush=True)
    iobound = args.iobound or run.build(args, args.build_dir)[0]
    names = [m["name"] for m in run.list_models(iobound)]
    servers = names + ["nginx"]
    chosen = args.servers.split(",") if args.servers else servers
    if set(chosen) - set(servers):
        raise SystemExit(f"c100k: unknown servers {sorted(set(chosen) - set(servers))}; "
                         f"allowed: {', '.join(servers)}")
    bins = {"iobound": iobound, "models": names}
    os.sched_setaffinity(0, {1 % os.cpu_count()})  # this driver and wrk off the server's core
    facts = [("date", datetime.datetime.now().astimezone().isoformat(timespec="seconds")),
             ("load average at start", " ".join(run.read_text("/proc/loadavg").split()[:3])),
             ("wrk", f"{len(ADDRS)} processes, one per address of {', '.join(ADDRS)}, "
                     f"{args.duration} s, --timeout 30s"),
             ("pinning", "server on CPU 0, wrk and driver on CPU 1"),
             ("open files limit", str(nofile)),
             ("connections", ", ".join(map(str, levels)) +
              (f" (asked: {', '.join(map(str, asked))}; {capped_by})"
               if levels[-1] < asked[-1] else ""))] + kernel_facts()
    rows, skipped = [], []
    for conns in levels:
        for name in chosen:
            try:
                r = measure(name, bins, raw, conns, args.duration, "0")
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                print(f"c100k: {name} c={conns}: FAILED: {e}", flush=True)
                skipped.append((name, conns, str(e)[:200]))
                continue
            rows.append(r)
            print(f"c100k: c={conns:6} {name:9} {r['rps']:7.0f} req/s eff {r['efficiency']:.3f} "
                  f"p99 {r['p99_s']:6.2f} s errors c/r/w/t {r['err_connect']}/{r['err_read']}/"
                  f"{r['err_write']}/{r['err_timeout']} non-2xx {r['err_status']} "
                  f"rss/conn {r['rss_per_conn_kib']:.2f} KiB threads {r['threads_max']} "
                  f"cpu {r['cpu_us_per_req']:.1f} us/req", flush=True)
    write(out, rows, facts, skipped)
    with open(os.path.join(raw, "rows.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(f"c100k: results in {out}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
