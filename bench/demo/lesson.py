"""The CPython side of `make demo`: the blog's three claims about asyncio and threads, measured in
the Python people run (Debian's python3, standard library only), printed in one table beside
what iobound measured for every model (demo.c's measures.tsv: the figures, and the traits that
`iobound --list-modes=json` gave each model). Each row says whether the blog's claim held there, and whether that
is what the lesson predicts (CPython's GIL: threads give no CPU parallelism; processes and C
threads do). It sends no requests: it only sleeps and burns CPU.

Usage: lesson.py MEASURES.tsv   (exit 0; a row that comes out unexpected is flagged,
not an error: a loaded machine can miss a timing)
"""

import asyncio
import concurrent.futures
import csv
import os
import platform
import sys
import threading
import time

PIECE_S = 0.2  # CPU work per piece: two pieces in turn take 0.4 s
RUNS = 3  # rounds of the CPU work: in turn, then each variant
TICK_S = 0.01  # the event loop's heartbeat while CPU work runs
ANSWERED_MS = 100  # what "answered at once" means here, as in demo.c's /hello claim
NO_SPEEDUP = 0.9  # a ratio above this (to the same work in turn) is no parallelism
SPEEDUP = 0.75  # a ratio at or below this on 2 cores is real parallelism


def burn(n):
    """Pure-Python CPU work: holds the GIL the whole time, as real CPU-bound Python code does."""
    x = 0
    for i in range(n):
        x += i * i
    return x


def calibrate():
    """Iterations of burn() that take PIECE_S on this machine (best of three trials)."""
    n = 200_000
    best = min(timed(burn, n) for _ in range(3))
    return max(1, int(n * PIECE_S / best))


def timed(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def in_threads(fn, args_list):
    """Runs fn(*args) for each args on its own thread, all at once; returns the wall time."""
    ts = [threading.Thread(target=fn, args=a) for a in args_list]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


async def ticker(stop, gaps):
    """Wakes every TICK_S and records how late each wake-up came: what another client of the
    loop would wait."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while not stop.is_set():
        await asyncio.sleep(TICK_S)
        now = loop.time()
        gaps.append(now - last - TICK_S)
        last = now


async def cpu_on_loop(n, executor):
    """Two pieces of CPU work started from the loop: in the coroutine itself (executor None, as
    naive asyncio code does) or with run_in_executor. Returns (wall s, worst tick delay ms)."""
    loop = asyncio.get_running_loop()
    stop, gaps = asyncio.Event(), []
    tick = asyncio.create_task(ticker(stop, gaps))
    await asyncio.sleep(2 * TICK_S)  # the ticker runs before the work starts
    t0 = time.perf_counter()
    if executor is None:
        burn(n)
        burn(n)
    else:
        await asyncio.gather(loop.run_in_executor(executor, burn, n),
                             loop.run_in_executor(executor, burn, n))
    wall = time.perf_counter() - t0
    await asyncio.sleep(2 * TICK_S)
    stop.set()
    await tick
    return wall, max(gaps) * 1e3


def measure_cpython():
    """Every CPython figure of the table: seconds, milliseconds and, for the CPU work, each
    variant's runs. Each round times the work in turn (the base of the ratios) and then every
    variant once. On a machine that others use, interference only ever slows a run down, so a
    ratio is the fastest run of the variant over the fastest base; its slowest run is shown
    too."""
    m = {}
    t0 = time.perf_counter()

    async def two_waits():
        await asyncio.gather(asyncio.sleep(1), asyncio.sleep(2))
    asyncio.run(two_waits())
    m["gather_s"] = time.perf_counter() - t0
    m["threads_wait_s"] = in_threads(time.sleep, [(1,), (2,)])

    n = calibrate()
    t0 = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool, \
            concurrent.futures.ThreadPoolExecutor(max_workers=2) as threads:
        # Workers start on demand: two concurrent sleeps make both exist before the timing.
        list(pool.map(time.sleep, [0.1, 0.1]))
        m["pool_start_s"] = time.perf_counter() - t0
        # Each returns (wall s, the loop's worst tick delay in ms, or None without a loop).
        variants = {
            "threads": lambda: (in_threads(burn, [(n,), (n,)]), None),
            "procs": lambda: (timed(lambda: list(pool.map(burn, [n, n]))), None),
            "exec_procs": lambda: asyncio.run(cpu_on_loop(n, pool)),
            "on_loop": lambda: asyncio.run(cpu_on_loop(n, None)),
            "exec_threads": lambda: asyncio.run(cpu_on_loop(n, threads)),
        }
        bases, runs = [], {k: [] for k in variants}
        for _ in range(RUNS):
            bases.append(timed(lambda: (burn(n), burn(n))))
            for key, fn in variants.items():
                runs[key].append(fn())
    m["seq_s"] = min(bases)
    for key, rs in runs.items():
        walls = [r[0] for r in rs]
        m[key] = {"wall_s": min(walls), "worst_s": max(walls),
                  "tick_ms": None if rs[0][1] is None else max(r[1] for r in rs)}
    return m


class Table:
    """Sections (a claim) of rows (who, measured, held, expected, why). `why` explains a row
    whose claim did not hold; a row where held differs from expected is flagged."""

    def __init__(self):
        self.rows = []

    def add(self, claim, who, measured, held, expected, why=""):
        self.rows.append((claim, who, measured, held, expected, why))

    def print(self):
        w = [max(len(r[i]) for r in self.rows) for i in (1, 2)]
        last = None
        for claim, who, measured, held, expected, why in self.rows:
            if claim != last:
                print(claim)
                last = claim
            verdict = "HELD" if held else "DID NOT HOLD"
            if why and not held:
                verdict += f": {why}"
            if held != expected:
                verdict += ("  << UNEXPECTED: the lesson predicts "
                            f"{'HELD' if expected else 'DID NOT HOLD'} here")
            print(f"   {who:{w[0]}}  {measured:{w[1]}}  {verdict}")

    def unexpected(self):
        return sum(1 for r in self.rows if r[3] != r[4])


def read_models(measures_tsv):
    """Every model of the engine table, in table order: its traits and demo.c's figures."""
    with open(measures_tsv) as f:
        return [{k: v if k == "mode" else float(v) for k, v in row.items()}
                for row in csv.DictReader(f, delimiter="\t")]


def build_table(py, models, cores):
    t = Table()
    c1 = '1. "asyncio.gather of a 1 s and a 2 s wait takes 2 s, on one thread"'
    t.add(c1, "CPython asyncio.gather", f"{py['gather_s']:.3f} s",
          2.0 <= py["gather_s"] < 2.3, True)
    for m in models:
        t.add(c1, f"iobound {m['mode']} /gather?ms=1000,2000", f"{m['gather_s']:.3f} s",
              2.0 <= m["gather_s"] < 2.3, True)

    c2 = '2. "two threads waiting 1 s and 2 s also take 2 s"'
    t.add(c2, "CPython threading, 2 threads", f"{py['threads_wait_s']:.3f} s",
          2.0 <= py["threads_wait_s"] < 2.3, True)
    for m in models:
        how = "a thread each" if m["wait_costs_thread"] else "no thread"
        t.add(c2, f"iobound {m['mode']} 2 x /sleep ({how})", f"{m['two_waits_s']:.3f} s",
              2.0 <= m["two_waits_s"] < 2.3, True)

    c3 = '3. "threads run in parallel on separate cores: good for CPU-bound work"'
    load = f"the machine had no core to spare (load average {os.getloadavg()[0]:.1f})"
    no_core = load if cores >= 2 else "this machine has 1 core"

    def ratio_row(who, r, expected, why_not, extra):
        held = r <= SPEEDUP
        t.add(c3, who, f"{r:.2f}x in turn{extra}", held, expected, "" if held else why_not)
        return r

    def py_row(who, key, expected, why_not, extra=""):
        v = py[key]
        runs = f" (best of {RUNS}, worst {v['worst_s'] / py['seq_s']:.2f}x){extra}"
        return ratio_row(who, v["wall_s"] / py["seq_s"], expected, why_not, runs)

    gil = "the GIL runs one thread's Python at a time"
    threads_r = py_row("CPython threading, 2 threads", "threads", False, gil)
    py_row("CPython run_in_executor, threads", "exec_threads", False, gil)
    procs_r = py_row("CPython ProcessPoolExecutor", "procs", cores >= 2, no_core,
                     f", +{py['pool_start_s']:.2f} s start-up")
    py_row("CPython run_in_executor, processes", "exec_procs", cores >= 2, no_core)
    c_r = {}
    for m in models:
        # cpu_parallel: how many burns the model runs at once on this machine (its CPU lanes,
        # at most the cores): one loop thread cannot run two.
        single = m["cpu_parallel"] < 2
        why = "by design: one thread runs them in turn (its CPU lanes)" if single else no_core
        c_r[m["mode"]] = ratio_row(f"iobound {m['mode']} 8 x /cpu?ms=250", m["cpu_s"] / 2.0,
                                   not single, why, f", {m['cpu_cores']:.2f} cores")

    c4 = "4. (not in the blog) others are answered while CPU work runs (< 100 ms)"
    for who, key, expected, why in (
            ("CPython asyncio, CPU in a coroutine", "on_loop", False,
             "the work holds the loop's thread"),
            ("CPython run_in_executor, threads", "exec_threads", True,
             "the loop did not get the GIL back in time"),
            ("CPython run_in_executor, processes", "exec_procs", True, load)):
        tick = py[key]["tick_ms"]
        t.add(c4, who, f"a tick waited up to {tick:.0f} ms", tick < ANSWERED_MS, expected, why)
    for m in models:
        # hello_waits: demo.c's reading of the traits (CPU stalls others, or the burns hold
        # every one of a fixed set of threads).
        why = load
        if m["cpu_stalls_others"]:
            why = "CPU stalls others (its traits)"
        elif m["hello_waits"]:
            why = "the burns hold all its threads (max_waits)"
        t.add(c4, f"iobound {m['mode']} /hello during the /cpu", f"{m['hello_ms']:.1f} ms",
              m["hello_ms"] < ANSWERED_MS, not m["hello_waits"], why)
    return t, threads_r, procs_r, c_r


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    models = read_models(sys.argv[1])
    cores = os.cpu_count() or 1
    py = measure_cpython()
    print(f"The blog's claims, measured now: CPython {platform.python_version()} "
          f"({sys.executable}) and iobound, {cores} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}. CPU work: two pieces of {PIECE_S:.2f} s in CPython, "
          "8 x 250 ms in iobound; a ratio is the wall time over the same work in turn "
          f"(perfectly parallel on 2 cores: 0.50x; in CPython the best of {RUNS} runs over "
          "the best in turn).\n")
    t, threads_r, procs_r, c_r = build_table(py, models, cores)
    t.print()
    parallel = [f"{m['mode']} {c_r[m['mode']]:.2f}x" for m in models if m["cpu_parallel"] >= 2]
    print(f"\nThe GIL correction, in numbers: two CPU-bound CPython threads took {threads_r:.2f}x "
          f"the time of the same work in turn (no speed-up); CPython processes {procs_r:.2f}x; "
          f"C threads in iobound ({', '.join(parallel) or 'no model runs two at once here'}). Claims 1 and 2 "
          "are about waiting, which needs no core: they hold everywhere.")
    bad = t.unexpected()
    print(f"{len(t.rows) - bad} of {len(t.rows)} rows came out as the lesson predicts.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
