"""Turns bench/run.py's per-round rows into the published results: rounds.tsv and
summary.tsv (medians and spread), README.md (machine facts, the targets as ratios within
this run, one table per scenario) and gnuplot SVG charts against concurrency."""

import math
import os
import statistics
import subprocess

FIELDS = ["round", "server", "scenario", "conns", "requests", "rps", "p50_ms", "p99_ms",
          "err_connect", "err_read", "err_write", "err_status", "err_timeout",
          "rss_rest_kib", "rss_load_kib", "peak_rss_kib", "rss_per_conn_kib", "threads_max",
          "fds_open", "cpu_us_per_req", "efficiency", "probe_rps", "probe_p99_ms"]
SPREAD = ["rps", "p99_ms", "efficiency"]  # reported as min and max over the rounds too
CHARTS = [  # file, summary column, title, y label, log y
    ("efficiency_vs_c", "efficiency", "Efficiency = req/s / (c / 100 ms)", "efficiency", 0),
    ("rss_vs_c", "rss_load_kib", "Resident memory with c connections waiting", "RSS (KiB)", 1),
    ("p99_vs_c", "p99_ms", "p99 latency of /sleep?ms=100", "p99 (ms)", 1),
    ("threads_vs_c", "threads_max", "OS threads of the server process", "threads", 1),
]


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


def ratio(a, b):
    return a / b if b and not math.isnan(a) and not math.isnan(b) else float("nan")


def max_waits(model):
    """Waits the model can have in progress at once; 0: no limit. A binary older than this trait
    lists only a loop and a thread per connection, neither of which has a limit."""
    return model.get("max_waits", 0)


def goals(model, nginx_eff5):
    """The targets of one model, from its traits. A model whose wait costs no thread must do
    what an event loop does (nginx's figures); one whose wait holds the connection's own thread
    what c threads on one core can; one that has at most k waits in progress serves k at a time,
    so its efficiency and p99 are scaled to k/c. Rows: (target, scenario, field, op, goal)."""
    k = max_waits(model)
    if not model["wait_costs_thread"] and not k:
        rows = [("/hello c=64 req/s vs nginx", "hello_c64", "rps_vs_nginx", ">=", 1.0),
                ("/sleep c=1000 efficiency", "sleep_c1000", "efficiency", ">=", 0.97),
                (f"/sleep c=5000 efficiency, ratio to nginx's ({fmt(nginx_eff5, 3)})",
                 "sleep_c5000", "efficiency_vs_nginx", ">=", 1.0),
                ("/sleep c=1000 p99 ms", "sleep_c1000", "p99_ms", "<=", 110.0)]
    elif not k:
        rows = [("/hello c=64 req/s vs nginx", "hello_c64", "rps_vs_nginx", ">=", 0.5),
                ("/sleep c=1000 efficiency", "sleep_c1000", "efficiency", ">=", 0.95),
                ("/sleep c=5000 efficiency", "sleep_c5000", "efficiency", ">=", 0.5),
                ("/sleep c=1000 p99 ms", "sleep_c1000", "p99_ms", "<=", 120.0)]
    else:
        rows = [("/hello c=64 req/s vs nginx", "hello_c64", "rps_vs_nginx", ">=", 0.5)]
        for c in (1000, 5000):
            rows.append((f"/sleep c={c} efficiency, {k} waits at a time (ideal {k / c:.3f})",
                         f"sleep_c{c}", "efficiency", ">=", 0.95 * min(1.0, k / c)))
        rows.append((f"/sleep c=1000 p99 ms, waits queued in rounds of {k}", "sleep_c1000",
                     "p99_ms", "<=", 110.0 * math.ceil(1000 / k)))
    # Memory follows the stack a connection brings (a thread's or a fiber's), not what a wait
    # costs.
    kib = 16.0 if model["threads_per_conn"] or model.get("wait_costs_fiber") else 4.0
    rows.append(("RSS per open connection, KiB", "big", "rss_per_conn_kib", "<=", kib))
    return rows


def targets(summ, sleep_cs, models):
    """The targets of every iobound model, each a ratio or figure taken within this one run."""
    def get(sc, srv, f):
        s = summ.get((sc, srv))
        return s[f] if s else float("nan")

    big = f"sleep_c{max(sleep_cs)}" if sleep_cs else ""
    eff5 = get("sleep_c5000", "nginx", "efficiency")
    derived = {
        "rps_vs_nginx": lambda sc, srv: ratio(get(sc, srv, "rps"), get(sc, "nginx", "rps")),
        "efficiency_vs_nginx": lambda sc, srv: ratio(get(sc, srv, "efficiency"), eff5),
    }
    out = []
    for model in models:
        srv = model["name"]
        for what, sc, field, op, goal in goals(model, eff5):
            if sc == "big":
                sc, what = big, f"{what} ({big})"
            val = derived[field](sc, srv) if field in derived else get(sc, srv, field)
            if math.isnan(val):
                verdict = "not measured"
            else:
                verdict = "met" if (val >= goal if op == ">=" else val <= goal) else "MISSED"
            out.append((what, srv, val, f"{op} {goal:.3g}", verdict))
    return out


def scenario_table(sc, summ, servers):
    probe = sc.probe is not None
    head = ["server", "req/s (min-max)", "p50 ms", "p99 ms (min-max)",
            "errors conn/read/write/status/timeout", "peak RSS MiB", "RSS/conn KiB", "threads",
            "CPU us/req", "efficiency"]
    if probe:
        head += [f"{sc.probe[0]} c={sc.probe[1]} req/s", f"{sc.probe[0]} p99 ms"]
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
                 fmt(s["cpu_us_per_req"], 2), fmt(s["efficiency"], 3)]
        if probe:
            cells += [fmt(s["probe_rps"], 0), fmt(s["probe_p99_ms"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def charts(out, raw, summ, servers, sleep_cs, bench_dir):
    made = []
    present = [s for s in servers if any((f"sleep_c{c}", s) in summ for c in sleep_cs)]
    if len(sleep_cs) < 2 or not present:
        return made
    for name, field, title, ylabel, logy in CHARTS:
        dat = os.path.join(raw, name + ".dat")
        with open(dat, "w") as f:
            f.write("c\t" + "\t".join(present) + "\n")
            for c in sleep_cs:
                vals = [summ.get((f"sleep_c{c}", s), {}).get(field, float("nan"))
                        for s in present]
                f.write(f"{c}\t" + "\t".join(fmt(v, 3) for v in vals) + "\n")
        svg = os.path.join(out, name + ".svg")
        subprocess.run(["gnuplot", "-e", f"datafile='{dat}'; outfile='{svg}'; "
                        f"chart_title='{title}'; ylab='{ylabel}'; logy={logy}; "
                        f"ncols={len(present) + 1}", os.path.join(bench_dir, "charts.gp")],
                       check=True)
        made.append(name + ".svg")
    return made


def write(out, raw, rows, scs, facts, skipped, bench_dir, models):
    """models: the engine table (`iobound --list-modes=json`), whose traits set the targets."""
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
    made = charts(out, raw, summ, servers, sleep_cs, bench_dir)

    md = ["# iobound benchmark", "",
          "Made by `make bench` (bench/run.py). Compare only within this run: every figure "
          "below was measured on the same machine in the same run; medians over the rounds, "
          "spread as (min-max).", ""]
    md += ["| fact | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts] + [""]
    md += ["## Targets (ratios within this run)", "", "| target | server | measured | goal | |",
           "|---|---|---|---|---|"]
    md += [f"| {w} | {s} | {fmt(v, 3)} | {g} | {verdict} |"
           for w, s, v, g, verdict in targets(summ, sleep_cs, models)] + [""]

    md += ["## Ratios", "", "| server | /hello req/s vs nginx | " +
           " | ".join(f"efficiency c={c}" for c in sleep_cs) + " | gather speedup vs sequential |",
           "|---|---|" + "---|" * len(sleep_cs) + "---|"]
    for srv in servers:
        def g(sc, f):
            return summ.get((sc, srv), {}).get(f, float("nan"))
        hello = ratio(g("hello_c64", "rps"), summ.get(("hello_c64", "nginx"), {}).get(
            "rps", float("nan")))
        effs = [fmt(g(f"sleep_c{c}", "efficiency"), 3) for c in sleep_cs]
        speed = ratio(g("gather_c100", "rps"), g("seq_c100", "rps"))
        md.append(f"| {srv} | {fmt(hello, 2)} | " + " | ".join(effs) + f" | {fmt(speed, 2)} |")
    md += ["", "Efficiency = good req/s / (c / wait): 1.0 means every connection always had a "
           "request waiting and nothing else cost time. Gather speedup = req/s of "
           "/gather?ms=100,100,100 over req/s of /sleep?ms=300 (the same three waits in a row); "
           "ideal 3.", ""]

    notes = {"hello": "keep-alive baseline", "sleep": "waits of 100 ms",
             "gather": "three concurrent 100 ms waits per request",
             "seq": "the same three waits in a row (300 ms)",
             "cpu": "5 ms of CPU per request, with a /hello probe beside it: a model where CPU "
                    "stalls others stalls the probe, the others share the core"}
    for sc in scs:
        where = "server on every core" if sc.all_cpus else "server pinned to one core"
        md += [f"## {sc.key}: `GET {sc.path}` at c={sc.conns}, {sc.duration_s} s "
               f"({notes[sc.kind]}; {where})", ""]
        md += scenario_table(sc, summ, servers) + [""]
    if skipped:
        md += ["## Skipped", "", "| server | scenario | why |", "|---|---|---|"]
        md += [f"| {a} | {b} | {c} |" for a, b, c in skipped] + [""]
    if made:
        md += ["## Charts", ""] + [f"![{m}]({m})" for m in made] + [""]
    md += ["Per-round figures: rounds.tsv; medians: summary.tsv. RSS/conn = (VmRSS during the "
           "run - VmRSS at rest) / c; CPU us/req = utime+stime over good responses; threads "
           "and RSS from /proc/<pid>/status. Logs in raw/ (not committed).", ""]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(md))
