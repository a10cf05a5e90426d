#!/usr/bin/python3
"""`make bench`: measure every iobound model (as `iobound --list-modes=json` lists them) and the
peers a user would otherwise pick (nginx with the echo module, Go net/http, Python aiohttp,
Python ThreadingHTTPServer) in one run on one machine, and write bench/results/<date>/ (summary
TSV, Markdown, gnuplot SVG; logs and per-round data in raw/). Each server is started and stopped
here by pid, pinned to CPU 0; wrk and this driver run on CPU 1. No model is named here: the
targets come from the models' traits (report.py). Standard library only; run with Debian's
/usr/bin/python3."""

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import report  # bench/report.py: the tables and charts

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PY = "/usr/bin/python3"  # Debian's python: the one python3-aiohttp installs into
CLK_TCK = os.sysconf("SC_CLK_TCK")
PEERS = ["nginx", "go", "aiohttp", "threading"]


@dataclass
class Scenario:
    key: str
    kind: str  # hello | sleep | gather | seq | cpu
    path: str
    conns: int
    duration_s: int
    wait_s: float = 0.0  # the ideal time per request, for efficiency; 0 = not defined
    servers: tuple = ()  # who is measured; every server when empty
    all_cpus: bool = False  # the server may use every core (the CPU-parallelism contrast)
    probe: tuple = None  # (path, conns): a second wrk beside the main one, e.g. /hello
    skip: dict = field(default_factory=dict)  # server -> why it is not measured here


def scenarios(quick, models):
    """The scenario table, for the iobound models named in models. Sleep runs are long because
    wrk loses each connection's last request in flight, capping efficiency near
    1 - wait/duration (0.99 at 10 s). QUICK keeps what the targets need, one short round, the
    Python peers only in the /hello baseline."""
    d_hello, d_other = (2, 2) if quick else (5, 5)
    sleeps = [(1000, 8), (5000, 4)] if quick else [(100, 10), (1000, 10), (5000, 6), (10000, 6)]
    out = [Scenario("hello_c64", "hello", "/hello", 64, d_hello)]
    for c, d in sleeps:
        skip = {}
        if quick:
            skip = {"aiohttp": "QUICK mode", "threading": "QUICK mode"}
            if c >= 5000:
                skip["go"] = "QUICK mode"
        out.append(Scenario(f"sleep_c{c}", "sleep", "/sleep?ms=100", c, d, 0.1, skip=skip))
    gather_servers = tuple(models) if quick else ()
    out += [
        Scenario("gather_c100", "gather", "/gather?ms=100,100,100", 100, d_other, 0.1,
                 gather_servers),
        Scenario("seq_c100", "seq", "/sleep?ms=300", 100, d_other, 0.3, gather_servers),
        Scenario("cpu_c16", "cpu", "/cpu?ms=5", 16, 3 if quick else 6, 0.0, tuple(models),
                 probe=("/hello", 4)),
    ]
    if not quick:
        out.append(Scenario("cpu_c16_2cores", "cpu", "/cpu?ms=5", 16, 6, 0.0, tuple(models),
                            all_cpus=True, probe=("/hello", 4)))
    return out


def read_text(path):
    with open(path) as f:
        return f.read()


def sh(cmd, **kw):
    """Runs a build step quietly; on failure stops the bench with the step's output."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")


def first_line(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def build(args, build_dir):
    """iobound (unless --iobound) and the Go peer, into build_dir; returns their paths."""
    iobound = args.iobound
    if not iobound:
        sh(["cmake", "-S", REPO, "-B", os.path.join(build_dir, "iobound"),
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DIOB_TESTS=OFF"])
        sh(["cmake", "--build", os.path.join(build_dir, "iobound"), "-j2", "--target", "iobound"])
        iobound = os.path.join(build_dir, "iobound", "iobound")
    goserver = os.path.join(build_dir, "goserver")
    env = dict(os.environ, GOCACHE=os.path.join(build_dir, "gocache"), GO111MODULE="off",
               GOFLAGS="")
    sh(["go", "build", "-o", goserver, os.path.join(BENCH, "peers", "goserver.go")], env=env)
    return iobound, goserver


def list_models(iobound):
    """The engine table, as the binary prints it: one dict per model, with its traits."""
    r = subprocess.run([iobound, "--list-modes=json"], capture_output=True, text=True,
                       timeout=20)
    if r.returncode != 0:
        raise SystemExit(f"bench: {iobound} --list-modes=json failed:\n{r.stderr}")
    return json.loads(r.stdout)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process, started pinned by taskset (which execs, so Popen's pid is the
    server's) and stopped by that pid."""

    def __init__(self, name, bins, raw, cpus, tag):
        self.name = name
        self.errlog = os.path.join(raw, "logs", f"{tag}.stderr")
        cmd, env, port = self.command(name, bins, raw)
        self.port = port
        with open(self.errlog, "w") as err:
            self.proc = subprocess.Popen(["taskset", "-c", cpus] + cmd, env=env,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.pid = self.proc.pid
        self.wait_ready()

    @staticmethod
    def command(name, bins, raw):
        env = dict(os.environ)
        if name in bins["models"]:
            return ([bins["iobound"], "--mode", name, "--listen", "127.0.0.1:0",
                     "--set", "log.access_log=off", "--set", "server.max_connections=20000",
                     "--set", "server.backlog=4096"], env, None)
        if name == "nginx":
            port = free_port()
            prefix = os.path.join(raw, "nginx")
            os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
            conf = read_text(os.path.join(BENCH, "peers", "nginx.conf"))
            conf = conf.replace("@PORT@", str(port)).replace("@PREFIX@", prefix)
            conf = conf.replace("@MODULES@", "/usr/lib/nginx/modules")
            path = os.path.join(prefix, "nginx.conf")
            with open(path, "w") as f:
                f.write(conf)
            return (["nginx", "-p", prefix, "-e", "/dev/null", "-c", path], env, port)
        if name == "go":
            env["GOMAXPROCS"] = "1"
            return ([bins["goserver"], "127.0.0.1:0"], env, None)
        script = {"aiohttp": "aiohttp_server.py", "threading": "threading_server.py"}[name]
        return ([PY, os.path.join(BENCH, "peers", script)], env, None)

    def wait_ready(self, timeout_s=15.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: "
                                   f"{read_text(self.errlog)[-2000:]}")
            if self.port is None:
                m = re.search(r"listening on [^\s]*:(\d+)", read_text(self.errlog))
                if m:
                    self.port = int(m.group(1))
            if self.port is not None:
                try:
                    with urllib.request.urlopen(f"{self.url()}/hello", timeout=2) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not serve /hello within {timeout_s}s")

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()


def proc_status(pid):
    """VmRSS and VmHWM in KiB and the thread count, from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(val.split()[0])
    return out


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


class Sampler(threading.Thread):
    """Samples RSS and threads every 100 ms while the load runs, and the open descriptors
    once at mid-run (to show the connections really are open)."""

    def __init__(self, pid, duration_s):
        super().__init__(daemon=True)
        self.pid, self.duration_s = pid, duration_s
        self.samples, self.fds = [], 0
        self.halt = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self.halt.wait(0.1):
            t = time.monotonic() - t0
            try:
                self.samples.append((t, proc_status(self.pid)))
                if not self.fds and t >= self.duration_s / 2:
                    self.fds = len(os.listdir(f"/proc/{self.pid}/fd"))
            except OSError:
                return

    def steady_rss(self):
        """Median VmRSS over 40-90 % of the run: every connection open, past the ramp."""
        xs = sorted(s["VmRSS"] for t, s in self.samples
                    if 0.4 * self.duration_s <= t <= 0.9 * self.duration_s)
        return xs[len(xs) // 2] if xs else 0


def wrk(url, conns, duration_s, log):
    cmd = ["wrk", "-t1", "-c", str(conns), "-d", f"{duration_s}s", "--timeout", "10s",
           "-s", os.path.join(BENCH, "wrk_summary.lua"), url]
    with open(log, "w") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)


def wrk_result(log):
    m = re.search(r"^BENCH (.*)$", read_text(log), re.M)
    if not m:
        raise RuntimeError(f"wrk printed no result; see {log}")
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def measure(name, sc, bins, raw, rnd, server_cpus):
    """One server, one scenario, one round: a fresh process, so peaks and RSS are its own."""
    tag = f"r{rnd}-{sc.key}-{name}"
    srv = Server(name, bins, raw, "0-1" if sc.all_cpus else server_cpus, tag)
    try:
        time.sleep(0.2)
        rest = proc_status(srv.pid)
        ticks0 = proc_cpu_ticks(srv.pid)
        sampler = Sampler(srv.pid, sc.duration_s)
        sampler.start()
        main_log = os.path.join(raw, "logs", f"{tag}.wrk")
        load = wrk(srv.url() + sc.path, sc.conns, sc.duration_s, main_log)
        probe = None
        if sc.probe:
            probe_log = os.path.join(raw, "logs", f"{tag}.probe.wrk")
            probe = wrk(srv.url() + sc.probe[0], sc.probe[1], sc.duration_s, probe_log)
        for p in (load, probe):
            if p:
                p.wait(timeout=sc.duration_s + 60)
        ticks1 = proc_cpu_ticks(srv.pid)
        sampler.halt.set()
        sampler.join()
        end = proc_status(srv.pid)
    finally:
        srv.stop()
    w = wrk_result(main_log)
    good = w["requests"] - w["status"]
    rps = good / (w["duration_us"] / 1e6)
    rss_load = sampler.steady_rss()
    row = {
        "round": rnd, "server": name, "scenario": sc.key, "conns": sc.conns,
        "requests": w["requests"], "rps": rps,
        "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000,
        "err_connect": w["connect"], "err_read": w["read"], "err_write": w["write"],
        "err_status": w["status"], "err_timeout": w["timeout"],
        "rss_rest_kib": rest["VmRSS"], "rss_load_kib": rss_load,
        "peak_rss_kib": end["VmHWM"],
        "rss_per_conn_kib": (rss_load - rest["VmRSS"]) / sc.conns,
        "threads_max": max([s["Threads"] for _, s in sampler.samples] + [end["Threads"]]),
        "fds_open": sampler.fds,
        "cpu_us_per_req": (ticks1 - ticks0) * 1e6 / CLK_TCK / good if good else float("nan"),
        "efficiency": rps / (sc.conns / sc.wait_s) if sc.wait_s else float("nan"),
        "probe_rps": float("nan"), "probe_p99_ms": float("nan"),
    }
    if sc.probe:
        pw = wrk_result(probe_log)
        row["probe_rps"] = (pw["requests"] - pw["status"]) / (pw["duration_us"] / 1e6)
        row["probe_p99_ms"] = pw["p99_us"] / 1000
    return row


def machine_facts(bins):
    m = re.search(r"^model name\s*:\s*(.*)$", read_text("/proc/cpuinfo"), re.M)
    cpu_model = m.group(1) if m else "unknown"
    aio = first_line([PY, "-c", "import aiohttp; print(aiohttp.__version__)"])
    return [
        ("date", datetime.datetime.now().astimezone().isoformat(timespec="seconds")),
        ("cores", f"{os.cpu_count()} x {cpu_model}"),
        ("kernel", os.uname().release),
        ("os", "Debian " + read_text("/etc/debian_version").strip()),
        ("load average at start", " ".join(read_text("/proc/loadavg").split()[:3])),
        ("iobound", first_line([bins["iobound"], "--version"]) if bins["iobound"] else "-"),
        ("libevent", first_line(["pkg-config", "--modversion", "libevent"])),
        ("nginx", first_line(["nginx", "-v"]) + ", libnginx-mod-http-echo " +
         first_line(["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-http-echo"])),
        ("go", first_line(["go", "version"])),
        ("python", first_line([PY, "--version"]) + f", aiohttp {aio}"),
        ("wrk", first_line(["wrk", "-v"])),
        ("gnuplot", first_line(["gnuplot", "--version"])),
        ("open files limit", str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one short round, under 2 minutes")
    ap.add_argument("--rounds", type=int, help="rounds (default 3, QUICK 1)")
    ap.add_argument("--iobound", help="use this iobound binary instead of building one")
    ap.add_argument("--servers", help="comma-separated subset: iobound's models (see "
                    "iobound --list-modes) and " + ", ".join(PEERS))
    ap.add_argument("--only", help="comma-separated scenario keys, e.g. hello_c64,sleep_c1000")
    ap.add_argument("--out", help="results directory (default bench/results/<date>)")
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build-bench"))
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)

    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    out = args.out or os.path.join(BENCH, "results", stamp + ("-quick" if args.quick else ""))
    raw = os.path.join(out, "raw")
    if os.path.isdir(raw):
        shutil.rmtree(raw)
    os.makedirs(os.path.join(raw, "logs"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by servers and wrk

    print(f"bench: building into {args.build_dir}", flush=True)
    iobound, goserver = build(args, args.build_dir)
    models = list_models(iobound)
    names = [m["name"] for m in models]
    servers = names + PEERS
    chosen = set(args.servers.split(",")) if args.servers else set(servers)
    if chosen - set(servers):
        raise SystemExit(f"bench: unknown servers {sorted(chosen - set(servers))}; "
                         f"allowed: {', '.join(servers)}")
    scs = scenarios(args.quick, names)
    for sc in scs:
        sc.servers = sc.servers or tuple(servers)
    if args.only:
        keys = set(args.only.split(","))
        scs = [s for s in scs if s.key in keys]
    bins = {"iobound": iobound, "goserver": goserver, "models": names}
    ncpu = os.cpu_count()
    server_cpus, client_cpu = ("0", 1) if ncpu >= 2 else ("0", 0)
    os.sched_setaffinity(0, {client_cpu})  # this driver and wrk stay off the server's core
    facts = machine_facts(bins)
    facts.append(("pinning", f"server on CPU {server_cpus}, wrk and driver on CPU {client_cpu}"))
    facts.append(("rounds", str(rounds)))

    rows, skipped = [], []
    t_start = time.monotonic()
    for rnd in range(1, rounds + 1):
        for sc in scs:
            for name in [s for s in sc.servers if s in chosen]:
                if name in sc.skip:
                    if rnd == 1:
                        skipped.append((name, sc.key, sc.skip[name]))
                    continue
                try:
                    row = measure(name, sc, bins, raw, rnd, server_cpus)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    print(f"bench: round {rnd} {sc.key} {name}: FAILED: {e}", flush=True)
                    skipped.append((name, sc.key, f"round {rnd} failed: {str(e)[:120]}"))
                    continue
                rows.append(row)
                print(f"bench: round {rnd} {sc.key:15} {name:9} {row['rps']:9.0f} req/s "
                      f"p99 {row['p99_ms']:8.1f} ms  rss/conn {row['rss_per_conn_kib']:6.1f} KiB"
                      f"  threads {row['threads_max']:5}  cpu {row['cpu_us_per_req']:6.2f} us/req"
                      f"  [{time.monotonic() - t_start:4.0f}s]",
                      flush=True)
    facts.append(("wall time", f"{time.monotonic() - t_start:.0f} s"))
    report.write(out, raw, rows, scs, facts, skipped, BENCH,
                 [m for m in models if m["name"] in chosen])
    print(f"bench: results in {out}", flush=True)


if __name__ == "__main__":
    main()
