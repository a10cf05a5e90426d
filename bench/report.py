"""Turns bench/run.py's per-round rows into the published results: rounds.tsv and
summary.tsv (medians and spread), README.md (machine facts, the targets as ratios within
this run, one table per scenario) and gnuplot SVG charts against concurrency."""

import math
import os
import statistics
import subprocess

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))  # charts.gp's

FIELDS = ["round", "server", "scenario", "conns", "requests", "rps", "p50_ms", "p99_ms",
          "err_connect", "err_read", "err_write", "err_status", "err_timeout",
          "rss_rest_kib", "rss_load_kib", "peak_rss_kib", "rss_per_conn_kib", "threads_max",
          "fds_open", "cpu_us_per_req", "cores_used", "efficiency", "probe_rps", "probe_p99_ms",
          "queue_p99_lo_ms", "queue_p99_hi_ms", "load_1m"]
SPREAD = ["rps", "p99_ms", "efficiency"]  # reported as min and max over the rounds too
BAR_CHARTS = {  # scenario -> what its chart compares
    "hello_c256_2cores": "Loops on both cores vs nginx with 2 workers",
    "pool_c1000": "k waits at a time: the queued models and gunicorn sync workers",
    "cpu_c16_2cores": "CPU work on both cores",
}
CHARTS = [  # file, summary column, title, y label, log y
    ("efficiency_vs_c", "efficiency", "Efficiency = req/s / (c / 100 ms)", "efficiency", 0),
    ("rss_vs_c", "rss_load_kib", "Resident memory with c connections waiting", "RSS (KiB)", 1),
    ("p99_vs_c", "p99_ms", "p99 latency of /sleep?ms=100", "p99 (ms)", 1),
    ("threads_vs_c", "threads_max", "OS threads of the server process", "threads", 1),
    ("cpu_vs_c", "cpu_us_per_req", "CPU time (user + system) per request", "CPU us per request",
     1),
]
CPU_GOAL = 0.9  # issue 14: a loop's CPU per request at most 0.9 x nginx's, in the same run
# Below this efficiency a server answered almost nothing (a queue that refuses or times out): its
# CPU per good answer is a few answers' share of the idle loop, and is left off the CPU charts.
CPU_CHART_MIN_EFFICIENCY = 0.05


def chart_value(row, field):
    """row[field] for a chart; nan (a gap) where it would not mean what the chart says."""
    if field == "cpu_us_per_req" and not row.get("efficiency", 0) >= CPU_CHART_MIN_EFFICIENCY:
        return float("nan")
    return row.get(field, float("nan"))


def fmt(v, digits=1):
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.{digits}f}"
    return str(v)


def median(xs):
    xs = [x for x in xs if not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else float("nan")


def summarize(rows, servers_order):
    """One entry per (scenario, server): the median of every figure, min/max of SPREAD."""
    groups = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["server"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        s = {f: median([r[f] for r in rs]) for f in FIELDS[3:]}
        s.update(server=key[1], scenario=key[0], rounds=len(rs))
        for f in SPREAD:
            vals = [r[f] for r in rs if not math.isnan(r[f])]
            s[f + "_min"] = min(vals) if vals else float("nan")
            s[f + "_max"] = max(vals) if vals else float("nan")
        out[key] = s
    return out


def write_tsv(path, fields, rows):
    with open(path, "w") as f:
        f.write("\t".join(fields) + "\n")
        for r in rows:
            f.write("\t".join(fmt(r[k], 3) for k in fields) + "\n")


def queue_bucket(s):
    """The queue-wait p99's histogram bucket, as "(lower, upper]" in ms."""
    lo, hi = s["queue_p99_lo_ms"], s["queue_p99_hi_ms"]
    return "-" if math.isnan(hi) else f"({fmt(lo, 0)}, {fmt(hi, 0)}]"


def ratio(a, b):
    return a / b if b and not math.isnan(a) and not math.isnan(b) else float("nan")


def max_waits(model):
    """Waits the model can have in progress at once; 0: no limit. A binary older than this trait
    lists only a loop and a thread per connection, neither of which has a limit."""
    return model.get("max_waits", 0)


def sync_workers(models):
    """The httpbin peer's gunicorn sync workers: as many as the queued models serve at once (the
    most of them), so both serve the same k waits at a time; gunicorn's common 8 without one."""
    ks = [max_waits(m) for m in models if max_waits(m)]
    return max(ks) if ks else 8


def cpu_lanes(model):
    return model.get("cpu_lanes", 1 if model["cpu_stalls_others"] else 0)


def loops_in_parallel(model):
    """Several event loops: waits cost no thread, CPU stalls its loop, more than one lane."""
    return (not model["wait_costs_thread"] and model["cpu_stalls_others"]
            and cpu_lanes(model) >= 2)


def cpu_off_loop(model):
    """One loop for the waits and a fixed set of threads for the CPU work."""
    return (not model["wait_costs_thread"] and not model["cpu_stalls_others"]
            and not max_waits(model) and not model["threads_per_conn"])


def baselines(models):
    """The models others are compared with, chosen by traits: the single loop (CPU stalls
    others, one lane) and the thread per connection. None when the table has no such row."""
    def first(pred):
        return next((m["name"] for m in models if pred(m)), None)
    return {"single": first(lambda m: m["cpu_stalls_others"] and cpu_lanes(m) == 1),
            "threaded": first(lambda m: m["threads_per_conn"] >= 1)}


def goals(model, nginx_eff5, base, cores):
    """The targets of one model, from its traits. A model whose wait costs no thread must do
    what an event loop does (nginx's figures); one whose wait holds the connection's own thread
    what c threads on one core can; one that has at most k waits in progress serves k at a time,
    so its throughput is k / wait (beside httpbin under as many gunicorn sync workers). Several
    loops must beat nginx with two workers on /hello and the single loop on CPU work by their
    lanes; a loop with CPU threads must match the thread per connection on CPU work while a
    /hello probe stays fast. Rows: (target, scenario, field, op, goal); op "report" has no goal."""
    k = max_waits(model)
    if not model["wait_costs_thread"] and not k:
        rows = [("/hello c=64 req/s vs nginx", "hello_c64", "rps_vs_nginx", ">=", 1.0),
                ("/sleep c=1000 efficiency", "sleep_c1000", "efficiency", ">=", 0.97),
                (f"/sleep c=5000 efficiency, ratio to nginx's ({fmt(nginx_eff5, 3)})",
                 "sleep_c5000", "efficiency_vs_nginx", ">=", 1.0),
                ("/sleep c=1000 p99 ms", "sleep_c1000", "p99_ms", "<=", 110.0),
                ("/hello c=64 CPU us/req vs nginx's", "hello_c64", "cpu_vs_nginx", "<=",
                 CPU_GOAL),
                ("/sleep c=5000 CPU us/req vs nginx's", "sleep_c5000", "cpu_vs_nginx", "<=",
                 CPU_GOAL)]
    elif not k:
        rows = [("/hello c=64 req/s vs nginx", "hello_c64", "rps_vs_nginx", ">=", 0.5),
                ("/sleep c=1000 efficiency", "sleep_c1000", "efficiency", ">=", 0.95),
                ("/sleep c=5000 efficiency", "sleep_c5000", "efficiency", ">=", 0.5),
                ("/sleep c=1000 p99 ms", "sleep_c1000", "p99_ms", "<=", 120.0)]
    else:
        rows = [("/hello c=64 req/s vs nginx", "hello_c64", "rps_vs_nginx", ">=", 0.5),
                (f"/sleep?ms=100 c=1000 req/s over {k} / 0.1 s = {k / 0.1:.0f}", "pool_c1000",
                 "rps_vs_k", "within", 0.15),
                ("/sleep?ms=100 c=1000 socket errors (connect+read+write+timeout)",
                 "pool_c1000", "socket_errors", "<=", 0),
                (f"/sleep?ms=100 c=1000 queue-wait p99 ms: the upper bound of its bucket "
                 f"(the model predicts (1000 / {k} - 1) x 100 = {(1000 / k - 1) * 100:.0f})",
                 "pool_c1000", "queue_p99_hi_ms", "report", None),
                (f"/sleep?ms=100 c=1000 req/s vs httpbin /delay/0.1 ({k} gunicorn sync workers)",
                 "pool_c1000", "rps_vs_httpbin", "report", None)]
    if loops_in_parallel(model):
        lanes = min(cpu_lanes(model), cores)
        rows += [("/hello c=256 req/s vs nginx worker_processes 2, unpinned",
                  "hello_c256_2cores", "rps_vs_nginx2", ">=", 1.0),
                 (f"/cpu?ms=5 c=16 req/s vs {base['single']} (one loop), both unpinned",
                  "cpu_c16_2cores", "rps_vs_single", ">=", 0.9 * lanes)]
    if cpu_off_loop(model):
        rows += [(f"/cpu?ms=5 c=16 req/s vs {base['threaded']}, both unpinned",
                  "cpu_c16_2cores", "rps_vs_threaded", ">=", 0.9),
                 ("/hello probe p99 ms during /cpu?ms=5 c=16, unpinned", "cpu_c16_2cores",
                  "probe_p99_ms", "<=", 20.0)]
    # Memory follows the stack a connection brings (a thread's, or a fiber's where the table
    # has that trait), not what a wait costs.
    kib = 16.0 if model["threads_per_conn"] or model.get("wait_costs_fiber") else 4.0
    rows.append(("RSS per open connection, KiB", "big", "rss_per_conn_kib", "<=", kib))
    return rows


def targets(summ, sleep_cs, models, chosen, cores):
    """The targets of every iobound model measured (in chosen), each a ratio or figure taken
    within this one run; the baselines come from the whole table."""
    def get(sc, srv, f):
        s = summ.get((sc, srv)) if srv else None
        return s[f] if s else float("nan")

    def vs(other):
        return lambda sc, srv, m: ratio(get(sc, srv, "rps"), get(sc, other, "rps"))

    big = f"sleep_c{max(sleep_cs)}" if sleep_cs else ""
    eff5 = get("sleep_c5000", "nginx", "efficiency")
    base = baselines(models)
    derived = {
        "rps_vs_nginx": vs("nginx"),
        "rps_vs_nginx2": vs("nginx2"),
        "rps_vs_httpbin": vs("httpbin"),
        "rps_vs_single": vs(base["single"]),
        "rps_vs_threaded": vs(base["threaded"]),
        "rps_vs_k": lambda sc, srv, m: ratio(get(sc, srv, "rps"), max_waits(m) / 0.1),
        "socket_errors": lambda sc, srv, m: sum(get(sc, srv, f"err_{k}") for k in
                                                 ("connect", "read", "write", "timeout")),
        "efficiency_vs_nginx": lambda sc, srv, m: ratio(get(sc, srv, "efficiency"), eff5),
        "cpu_vs_nginx": lambda sc, srv, m: ratio(get(sc, srv, "cpu_us_per_req"),
                                                 get(sc, "nginx", "cpu_us_per_req")),
    }
    checks = {">=": lambda v, g: v >= g, "<=": lambda v, g: v <= g,
              "within": lambda v, g: abs(v - 1) <= g}
    out = []
    for model in [m for m in models if m["name"] in chosen]:
        srv = model["name"]
        for what, sc, field, op, goal in goals(model, eff5, base, cores):
            if sc == "big":
                sc, what = big, f"{what} ({big})"
            val = derived[field](sc, srv, model) if field in derived else get(sc, srv, field)
            if op == "within":
                shown = f"1 ± {goal:.3g}"
            else:
                shown = "reported" if op == "report" else f"{op} {goal:.3g}"
            if math.isnan(val):
                verdict = "not measured"
            elif op == "report":
                verdict = "-"
            else:
                verdict = "met" if checks[op](val, goal) else "MISSED"
            out.append((what, srv, val, shown, verdict))
    return out


def cpu_table(summ, servers, sleep_cs):
    """CPU us per request of every server in the pinned scenarios, and its ratio to nginx's in
    the same scenario of this run (the figure of issue 14's goal)."""
    keys = ["hello_c64"] + [f"sleep_c{c}" for c in sleep_cs]
    keys = [k for k in keys if any((k, s) in summ for s in servers)]
    head = ["server"] + [f"{k} us/req (x nginx)" for k in keys]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for srv in servers:
        if not any((k, srv) in summ for k in keys):
            continue
        cells = [srv]
        for k in keys:
            mine = summ.get((k, srv), {}).get("cpu_us_per_req", float("nan"))
            theirs = summ.get((k, "nginx"), {}).get("cpu_us_per_req", float("nan"))
            cells.append(f"{fmt(mine, 2)} ({fmt(ratio(mine, theirs), 2)})")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def scenario_table(sc, summ, servers):
    probe = sc.probe is not None
    head = ["server", "req/s (min-max)", "p50 ms", "p99 ms (min-max)",
            "errors conn/read/write/status/timeout", "peak RSS MiB", "RSS/conn KiB", "threads",
            "CPU us/req", "cores used", "efficiency", "load 1m"]
    if probe:
        head += [f"{sc.probe[0]} c={sc.probe[1]} req/s", f"{sc.probe[0]} p99 ms"]
    if sc.scrape:
        head += ["queue-wait p99 in bucket, ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for srv in servers:
        s = summ.get((sc.key, srv))
        if not s:
            continue
        errs = "/".join(fmt(s[k], 0) for k in ("err_connect", "err_read", "err_write",
                                                  "err_status", "err_timeout"))
        cells = [srv, f"{fmt(s['rps'], 0)} ({fmt(s['rps_min'], 0)}-{fmt(s['rps_max'], 0)})",
                 fmt(s["p50_ms"]), f"{fmt(s['p99_ms'])} ({fmt(s['p99_ms_min'])}-"
                 f"{fmt(s['p99_ms_max'])})", errs, fmt(s["peak_rss_kib"] / 1024),
                 fmt(s["rss_per_conn_kib"], 2), fmt(s["threads_max"], 0),
                 fmt(s["cpu_us_per_req"], 2), fmt(s["cores_used"], 2), fmt(s["efficiency"], 3),
                 fmt(s["load_1m"], 1)]
        if probe:
            cells += [fmt(s["probe_rps"], 0), fmt(s["probe_p99_ms"])]
        if sc.scrape:
            cells += [queue_bucket(s)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def bar_charts(out, raw, summ, scs):
    """One bar chart of req/s per scenario that is a comparison within the run rather than a
    curve over c: each server's median, one bar each."""
    made = []
    for sc in scs:
        if sc.key not in BAR_CHARTS:
            continue
        present = [s for s in sc.servers if (sc.key, s) in summ]
        if not present:
            continue
        dat = os.path.join(raw, sc.key + ".dat")
        with open(dat, "w") as f:
            f.write("server\treq/s\n")
            for srv in present:
                f.write(f"{srv}\t{fmt(summ[(sc.key, srv)]['rps'], 1)}\n")
        svg = os.path.join(out, sc.key + ".svg")
        where = "nothing pinned" if sc.all_cpus else "server on one core"
        title = f"{BAR_CHARTS[sc.key]}: GET {sc.path} at c={sc.conns} ({where})"
        subprocess.run(["gnuplot", "-e", f"datafile='{dat}'; outfile='{svg}'; "
                        f"chart_title='{title}'; ylab='req/s'; logy=0; bars=1",
                        os.path.join(BENCH_DIR, "charts.gp")], check=True)
        made.append(sc.key + ".svg")
    return made


def line_chart(dat, svg, cs, servers, value, title, ylab, logy, xlab=None):
    """A gnuplot line per server over cs (value(c, server): nan for none); a server with no
    value at all is left out. Writes the table to dat and the chart to svg."""
    table = {s: [value(c, s) for c in cs] for s in servers}
    shown = [s for s in servers if any(not math.isnan(v) for v in table[s])]
    with open(dat, "w") as f:
        f.write("c\t" + "\t".join(shown) + "\n")
        for i, c in enumerate(cs):
            f.write(f"{c}\t" + "\t".join(fmt(table[s][i], 3) for s in shown) + "\n")
    args = (f"datafile='{dat}'; outfile='{svg}'; chart_title='{title}'; ylab='{ylab}'; "
            f"logy={logy}; ncols={len(shown) + 1}; bars=0")
    if xlab:
        args += f"; xlab='{xlab}'"
    subprocess.run(["gnuplot", "-e", args, os.path.join(BENCH_DIR, "charts.gp")], check=True)


def charts(out, raw, summ, servers, sleep_cs):
    present = [s for s in servers if any((f"sleep_c{c}", s) in summ for c in sleep_cs)]
    if len(sleep_cs) < 2 or not present:
        return []
    for name, field, title, ylabel, logy in CHARTS:
        line_chart(os.path.join(raw, name + ".dat"), os.path.join(out, name + ".svg"), sleep_cs,
                   present, lambda c, s: chart_value(summ.get((f"sleep_c{c}", s), {}), field),
                   title, ylabel, logy)
    return [name + ".svg" for name, *_ in CHARTS]


def write(out, raw, rows, scs, facts, skipped, models, chosen):
    """models: the engine table (`iobound --list-modes=json`), whose traits set the targets and
    choose the baselines; chosen: the servers measured (targets only for those)."""
    servers = []
    for sc in scs:
        servers += [s for s in sc.servers if s not in servers]
    summ = summarize(rows, servers)
    sleep_cs = sorted({sc.conns for sc in scs if sc.kind == "sleep"})
    write_tsv(os.path.join(out, "rounds.tsv"), FIELDS, rows)
    sfields = ["scenario", "server", "rounds"] + FIELDS[3:] + [
        f + suffix for f in SPREAD for suffix in ("_min", "_max")]
    ordered = [summ[(sc.key, s)] for sc in scs for s in servers if (sc.key, s) in summ]
    write_tsv(os.path.join(out, "summary.tsv"), sfields, ordered)
    made = charts(out, raw, summ, servers, sleep_cs)
    made += bar_charts(out, raw, summ, scs)

    md = ["# iobound benchmark", "",
          "Made by `make bench` (bench/run.py). Compare only within this run: every figure "
          "below was measured on the same machine in the same run; medians over the rounds, "
          "spread as (min-max).", ""]
    md += ["| fact | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts] + [""]
    md += ["## Targets (ratios within this run)", "", "| target | server | measured | goal | |",
           "|---|---|---|---|---|"]
    md += [f"| {w} | {s} | {fmt(v, 3)} | {g} | {verdict} |"
           for w, s, v, g, verdict in targets(summ, sleep_cs, models, chosen, os.cpu_count())] + [""]

    md += ["## Ratios", "", "| server | /hello req/s vs nginx | /hello c=256 2 cores vs nginx2 | " +
           " | ".join(f"efficiency c={c}" for c in sleep_cs) + " | gather speedup vs sequential "
           "| /cpu 2 cores over 1 core |",
           "|---|---|---|" + "---|" * len(sleep_cs) + "---|---|"]
    for srv in [s for s in servers if any(key[1] == s for key in summ)]:
        def g(sc, f, who=srv):
            return summ.get((sc, who), {}).get(f, float("nan"))
        hello = ratio(g("hello_c64", "rps"), g("hello_c64", "rps", "nginx"))
        hello2 = ratio(g("hello_c256_2cores", "rps"), g("hello_c256_2cores", "rps", "nginx2"))
        effs = [fmt(g(f"sleep_c{c}", "efficiency"), 3) for c in sleep_cs]
        speed = ratio(g("gather_c100", "rps"), g("seq_c100", "rps"))
        cpu2 = ratio(g("cpu_c16_2cores", "rps"), g("cpu_c16", "rps"))
        md.append(f"| {srv} | {fmt(hello, 2)} | {fmt(hello2, 2)} | " + " | ".join(effs) +
                  f" | {fmt(speed, 2)} | {fmt(cpu2, 2)} |")
    md += ["", "Efficiency = good req/s / (c / wait): 1.0 means every connection always had a "
           "request waiting and nothing else cost time. Gather speedup = req/s of "
           "/gather?ms=100,100,100 over req/s of /sleep?ms=300 (the same three waits in a row); "
           "ideal 3.", ""]

    md += ["## CPU per request against nginx", "",
           f"Server on one core; the goal for a loop is at most {CPU_GOAL} x nginx's at /hello "
           "c=64 and /sleep c=5000 (in the targets above).", ""]
    md += cpu_table(summ, servers, sleep_cs) + [""]

    notes = {"hello": "keep-alive baseline", "sleep": "waits of 100 ms",
             "pool": "waits of 100 ms against a fixed set of workers, which queue the rest; "
                     "the queue-wait p99 from the server's own histogram between a /metrics "
                     "scrape before the load and one after it",
             "gather": "three concurrent 100 ms waits per request",
             "seq": "the same three waits in a row (300 ms)",
             "cpu": "5 ms of CPU per request, with a /hello probe beside it (4 connections, "
                    "each pausing 10 ms between requests, so it samples latency without "
                    "competing for the CPU): a model where CPU stalls others stalls the probe, "
                    "the others share the cores"}
    for sc in scs:
        where = ("nothing pinned: server and wrk on every core" if sc.all_cpus
                 else "server pinned to one core")
        if sc.paths:
            where += "; " + ", ".join(f"{k} `{v}`" for k, v in sc.paths.items())
        md += [f"## {sc.key}: `GET {sc.path}` at c={sc.conns}, {sc.duration_s} s "
               f"({notes[sc.kind]}; {where})", ""]
        md += scenario_table(sc, summ, servers) + [""]
    if skipped:
        md += ["## Skipped", "", "| server | scenario | why |", "|---|---|---|"]
        md += [f"| {a} | {b} | {c} |" for a, b, c in skipped] + [""]
    if made:
        md += ["## Charts", ""] + [f"![{m}]({m})" for m in made] + [""]
    md += ["Per-round figures: rounds.tsv; medians: summary.tsv. RSS/conn = (VmRSS during the "
           "run - VmRSS at rest) / c; CPU us/req = utime+stime over good responses; cores used "
           "= utime+stime over the run's wall time (on a shared machine the scheduler shares the "
           "cores per thread, so a server with few threads gets less of them than one with "
           "many); threads "
           "and RSS from /proc/<pid>/status. Logs in raw/ (not committed).", ""]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(md))
