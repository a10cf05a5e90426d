#!/usr/bin/python3
"""`make bench`: measure every iobound model (as `iobound --list-modes=json` lists them) and the
peers a user would otherwise pick (nginx with the echo module, one worker and two; httpbin under
gunicorn's sync workers; Go net/http; Python aiohttp; Python ThreadingHTTPServer) in one run on
one machine, and write bench/results/<date>/ (summary TSV, Markdown, gnuplot SVG; logs and
per-round data in raw/). Each server is started and stopped here by pid, pinned to CPU 0 while
wrk and this driver run on CPU 1, except in the scenarios about using both cores, where nothing
is pinned. No model is named here: which models a scenario measures and their targets come from
the models' traits (report.py). Standard library only; run with Debian's /usr/bin/python3."""

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
PEERS = ["nginx", "nginx2", "httpbin", "go", "aiohttp", "threading"]
CLASSIC = ["nginx", "go", "aiohttp", "threading"]  # the peers of the one-core scenarios
READY_PATH = {"httpbin": "/get"}  # what a peer answers once it serves; default /hello
PROBE_DELAY_MS = 10  # a probe connection's pause between requests: it samples, it does not load


@dataclass
class Scenario:
    key: str
    kind: str  # hello | sleep | gather | seq | cpu
    path: str
    conns: int
    duration_s: int
    wait_s: float = 0.0  # the ideal time per request, for efficiency; 0 = not defined
    servers: tuple = ()  # who is measured
    all_cpus: bool = False  # nothing pinned: server and wrk share every core
    probe: tuple = None  # (path, conns): a paced second wrk beside the main one, e.g. /hello
    skip: dict = field(default_factory=dict)  # server -> why it is not measured here
    paths: dict = field(default_factory=dict)  # server -> its own path for the same wait
    wrk_timeout_s: int = 10  # above the longest wait a request may have in a queue
    scrape: bool = False  # read each iobound's /metrics before and after (the queue waits)


def scenarios(quick, models):
    """The scenario table, for the iobound models (the engine table's rows). Sleep runs are long
    because wrk loses each connection's last request in flight, capping efficiency near
    1 - wait/duration (0.99 at 10 s). QUICK keeps what the targets need, one short round, the
    Python peers only in the /hello baseline."""
    d_hello, d_other = (2, 2) if quick else (5, 5)
    sleeps = [(1000, 8), (5000, 4)] if quick else [(100, 10), (1000, 10), (5000, 6), (10000, 6)]
    names = tuple(m["name"] for m in models)
    every = names + tuple(CLASSIC)
    # The models that serve a fixed number of requests at a time and queue the rest, and the
    # gunicorn beside them with as many sync workers. c=1000 waits of 100 ms in rounds of k
    # take c / k x 0.1 s each: wrk's timeout must outlast that.
    queued = tuple(m["name"] for m in models if report.max_waits(m))
    out = [Scenario("hello_c64", "hello", "/hello", 64, d_hello, servers=every),
           Scenario("hello_c256_2cores", "hello", "/hello", 256, d_hello,
                    servers=names + ("nginx2", "nginx"), all_cpus=True)]
    for c, d in sleeps:
        skip = {}
        if quick:
            skip = {"aiohttp": "QUICK mode", "threading": "QUICK mode"}
            if c >= 5000:
                skip["go"] = "QUICK mode"
        out.append(Scenario(f"sleep_c{c}", "sleep", "/sleep?ms=100", c, d, 0.1, every,
                            skip=skip))
    gather_servers = names if quick else every
    d_cpu = 3 if quick else 6
    out += [
        Scenario("pool_c1000", "pool", "/sleep?ms=100", 1000, 10 if quick else 15, 0.1,
                 queued + ("httpbin",), paths={"httpbin": "/delay/0.1"}, wrk_timeout_s=60,
                 scrape=True),
        Scenario("gather_c100", "gather", "/gather?ms=100,100,100", 100, d_other, 0.1,
                 gather_servers),
        Scenario("seq_c100", "seq", "/sleep?ms=300", 100, d_other, 0.3, gather_servers),
        Scenario("cpu_c16", "cpu", "/cpu?ms=5", 16, d_cpu, 0.0, names, probe=("/hello", 4)),
        Scenario("cpu_c16_2cores", "cpu", "/cpu?ms=5", 16, d_cpu, 0.0, names, all_cpus=True,
                 probe=("/hello", 4)),
    ]
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
        self.ready_path = READY_PATH.get(name, "/hello")
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
        if name in ("nginx", "nginx2"):
            port = free_port()
            prefix = os.path.join(raw, name)
            os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
            conf = read_text(os.path.join(BENCH, "peers", "nginx.conf"))
            conf = conf.replace("@PORT@", str(port)).replace("@PREFIX@", prefix)
            conf = conf.replace("@MODULES@", "/usr/lib/nginx/modules")
            workers = 2 if name == "nginx2" else 1
            conf = conf.replace("@MASTER@", "on" if workers > 1 else "off")
            conf = conf.replace("@WORKERS@", str(workers))
            path = os.path.join(prefix, "nginx.conf")
            with open(path, "w") as f:
                f.write(conf)
            return (["nginx", "-p", prefix, "-e", "/dev/null", "-c", path], env, port)
        if name == "httpbin":
            # gunicorn's sync workers: one request at a time each, as many as the queued
            # models' workers, so the comparison is the same k waits at a time.
            port = free_port()
            return (["gunicorn", "--worker-class", "sync", "--workers",
                     str(bins["sync_workers"]), "--bind", f"127.0.0.1:{port}", "--backlog",
                     "4096", "--log-level", "warning", "httpbin:app"], env, port)
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
                    with urllib.request.urlopen(self.url() + self.ready_path, timeout=2) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not serve {self.ready_path} within {timeout_s}s")

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


def proc_tree(pid):
    """pid and its descendants: a peer with a master (nginx2, gunicorn) serves in its children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in read_text(f"/proc/{p}/task/{tid}/children").split()]
        except OSError:
            pass  # it exited meanwhile
    return out


def proc_status(pid):
    """VmRSS and VmHWM in KiB and the thread count, from /proc/<pid>/status, summed over the
    process tree (shared pages count once per process)."""
    out = {"VmRSS": 0, "VmHWM": 0, "Threads": 0}
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    key, _, val = line.partition(":")
                    if key in out:
                        out[key] += int(val.split()[0])
        except OSError:
            if p == pid:
                raise
    return out


def proc_cpu_ticks(pid):
    """utime + stime of every thread of the process tree."""
    ticks = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks


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


def wrk(url, conns, duration_s, log, timeout_s, cpus, delay_ms=None):
    """wrk on cpus (None: where this driver runs); with delay_ms each connection pauses that
    long between its requests (wrk_summary.lua)."""
    cmd = ["wrk", "-t1", "-c", str(conns), "-d", f"{duration_s}s", "--timeout", f"{timeout_s}s",
           "-s", os.path.join(BENCH, "wrk_summary.lua"), url]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    env = dict(os.environ)
    if delay_ms:
        env["WRK_DELAY_MS"] = str(delay_ms)
    with open(log, "w") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)


QUEUE_WAIT = re.compile(r'^iobound_queue_wait_seconds_bucket\{le="([^"]+)"\} (\d+)$', re.M)


def queue_wait_buckets(url):
    """The cumulative buckets of iobound_queue_wait_seconds as [(le, count)], or [] when the
    model has no queue. The scrape itself waits in the queue behind the load, so its timeout is
    generous."""
    with urllib.request.urlopen(url + "/metrics", timeout=90) as r:
        text = r.read().decode()
    return [(float(le), int(n)) for le, n in QUEUE_WAIT.findall(text)]


def histogram_bucket(q, before, after):
    """The bucket (lower, upper bound in s) holding the q-quantile of the observations between
    two scrapes of one histogram; (nan, nan) without observations, upper inf past the last
    bound. The bucket, not an interpolation inside it: when the waits pile up in one wide
    bucket, as a queue's do, a linear guess within it would be an invention."""
    counts = [(le, n1 - n0) for (le, n1), (_, n0) in zip(after, before)]
    if not counts or counts[-1][1] == 0:
        return float("nan"), float("nan")
    rank = q * counts[-1][1]
    lower = 0.0
    for le, n in counts:
        if n >= rank:
            return lower, le
        lower = le
    return lower, float("inf")


def wrk_result(log):
    m = re.search(r"^BENCH (.*)$", read_text(log), re.M)
    if not m:
        raise RuntimeError(f"wrk printed no result; see {log}")
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def measure(name, sc, bins, raw, rnd, server_cpus):
    """One server, one scenario, one round: a fresh process, so peaks and RSS are its own."""
    tag = f"r{rnd}-{sc.key}-{name}"
    every_cpu = f"0-{os.cpu_count() - 1}"
    srv = Server(name, bins, raw, every_cpu if sc.all_cpus else server_cpus, tag)
    scrape = sc.scrape and name in bins["models"]
    wrk_cpus = every_cpu if sc.all_cpus else None
    try:
        time.sleep(0.2)
        rest = proc_status(srv.pid)
        waits0 = queue_wait_buckets(srv.url()) if scrape else []
        ticks0 = proc_cpu_ticks(srv.pid)
        sampler = Sampler(srv.pid, sc.duration_s)
        sampler.start()
        main_log = os.path.join(raw, "logs", f"{tag}.wrk")
        load = wrk(srv.url() + sc.paths.get(name, sc.path), sc.conns, sc.duration_s, main_log,
                   sc.wrk_timeout_s, wrk_cpus)
        probe = None
        if sc.probe:
            probe_log = os.path.join(raw, "logs", f"{tag}.probe.wrk")
            probe = wrk(srv.url() + sc.probe[0], sc.probe[1], sc.duration_s, probe_log,
                        sc.wrk_timeout_s, wrk_cpus, PROBE_DELAY_MS)
        for p in (load, probe):
            if p:
                p.wait(timeout=sc.duration_s + sc.wrk_timeout_s + 60)
        ticks1 = proc_cpu_ticks(srv.pid)
        sampler.halt.set()
        sampler.join()
        end = proc_status(srv.pid)
        waits1 = queue_wait_buckets(srv.url()) if scrape else []
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
        "cores_used": (ticks1 - ticks0) / CLK_TCK / (w["duration_us"] / 1e6),
        "efficiency": rps / (sc.conns / sc.wait_s) if sc.wait_s else float("nan"),
        "probe_rps": float("nan"), "probe_p99_ms": float("nan"),
        # The machine is shared: the 1-minute load average as this measurement ended.
        "load_1m": os.getloadavg()[0],
    }
    lower, upper = histogram_bucket(0.99, waits0, waits1)
    row["queue_p99_lo_ms"], row["queue_p99_hi_ms"] = lower * 1e3, upper * 1e3
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
        ("httpbin", "gunicorn " + first_line(["dpkg-query", "-W", "-f=${Version}", "gunicorn"]) +
         ", python3-httpbin " + first_line(["dpkg-query", "-W", "-f=${Version}",
                                            "python3-httpbin"])),
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
    # Absolute: nginx takes its config path relative to its -p prefix.
    out = os.path.abspath(args.out or os.path.join(BENCH, "results",
                                                   stamp + ("-quick" if args.quick else "")))
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
    scs = scenarios(args.quick, models)
    if args.only:
        keys = set(args.only.split(","))
        if keys - {s.key for s in scs}:
            raise SystemExit(f"bench: unknown scenarios {sorted(keys - {s.key for s in scs})}; "
                             f"allowed: {', '.join(s.key for s in scs)}")
        scs = [s for s in scs if s.key in keys]
    bins = {"iobound": iobound, "goserver": goserver, "models": names,
            "sync_workers": report.sync_workers(models)}
    ncpu = os.cpu_count()
    server_cpus, client_cpu = ("0", 1) if ncpu >= 2 else ("0", 0)
    os.sched_setaffinity(0, {client_cpu})  # this driver and wrk stay off the server's core
    facts = machine_facts(bins)
    facts.append(("pinning", f"server on CPU {server_cpus}, wrk and driver on CPU {client_cpu}; "
                  "nothing pinned in the *_2cores scenarios"))
    facts.append(("httpbin", f"{bins['sync_workers']} gunicorn sync workers"))
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
                      f" {row['cores_used']:.2f} cores  load {row['load_1m']:.1f}"
                      f"  errors {row['err_connect'] + row['err_read'] + row['err_write']}"
                      f"/{row['err_timeout']}/{row['err_status']}"
                      + (f"  probe p99 {row['probe_p99_ms']:.1f} ms" if sc.probe else "")
                      + (f"  queue p99 in ({row['queue_p99_lo_ms']:.0f}, "
                         f"{row['queue_p99_hi_ms']:.0f}] ms" if sc.scrape else "")
                      + f"  [{time.monotonic() - t_start:4.0f}s]",
                      flush=True)
    facts.append(("wall time", f"{time.monotonic() - t_start:.0f} s"))
    facts.append(("load average at the end", " ".join(read_text("/proc/loadavg").split()[:3])))
    report.write(out, raw, rows, scs, facts, skipped, models, chosen)
    print(f"bench: results in {out}", flush=True)


if __name__ == "__main__":
    main()
