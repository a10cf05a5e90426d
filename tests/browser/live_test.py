"""Browser test of /live, in headless Chromium (cdp.py), while a bounded load runs.

Starts iobound on 127.0.0.1:0 in the given mode, reads the load command the index page gives
for getting past the browser's 6 connections (curl, 100 concurrent /sleep?ms=2000), opens /live,
runs that command (bounded: 100 requests, a timeout from the model's max_waits) and checks what the page charted from
/metrics: the in-flight series rose above a threshold, the threads series is what the model's
traits say (`iobound --list-modes=json`: threads at rest plus threads per connection times the
open connections; never the model's name), req/s rose, the p99 of route sleep is in the 2 s
wait's bucket, no JavaScript error. Saves a screenshot; the server must exit 0 on SIGTERM.

Usage: live_test.py CHROMIUM IOBOUND MODE SCREENSHOT.png   (exit 0 pass, 1 fail)
"""

import json
import math
import subprocess
import time

from cdp import check, check_no_js_error, evaluate, main, navigate, open_page, screenshot, wait_for

LOAD_REQUESTS, LOAD_MS = 100, 2000  # what the index page's command sends
THREADS_SLACK = 3  # a thread started or ended between the gauges of one scrape


def model_traits(binary, mode):
    out = subprocess.run([binary, "--list-modes=json"], capture_output=True, text=True,
                         timeout=10, check=True).stdout
    return next(m for m in json.loads(out) if m["name"] == mode)


def wait_limit(t):
    """The waits the model has in progress at once (max_waits; 0 or absent: no limit)."""
    return min(t.get("max_waits", 0) or LOAD_REQUESTS, LOAD_REQUESTS)


def load_timeout_s(t):
    """The load goes in rounds of wait_limit() waits; 15 s more for a slow (sanitized) server."""
    return math.ceil(LOAD_REQUESTS / wait_limit(t)) * LOAD_MS / 1000 + 15


def run(b, base, mode, binary, shot):
    t = model_traits(binary, mode)
    session = open_page(b, base + "/")
    cmd = evaluate(b, session, "document.getElementById('try-beyond').textContent")
    navigate(b, session, base + "/live")
    if not check(wait_for(b, session, "window.iobLive && iobLive.samples.length >= 2", 10),
                 "/live took two samples of /metrics within 10 s"):
        return
    print(f"     load: {cmd}")
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True,
                       timeout=load_timeout_s(t))
    check(r.stdout.strip() == str(LOAD_REQUESTS),
          f"the index page's command got {LOAD_REQUESTS} answers (printed {r.stdout.strip()!r})")
    time.sleep(1.5)  # one more sample, after the load
    got = evaluate(b, session, """({
        samples: iobLive.samples.map(function (s) {
            return [s.t, s.inflight, s.threads, s.conns, s.rss, s.requests]; }),
        errors: iobLive.errors,
        p99: Array.from(document.querySelectorAll('#p99 tr[data-route]')).map(function (tr) {
            return [tr.dataset.route, Number(tr.dataset.p99Ms)]; }),
        status: document.getElementById('status').textContent})""")
    samples = got["samples"]
    print(f"     {len(samples)} samples [t, inflight, threads, conns, rss, requests]; "
          f"last: {got['status']!r}")
    check(got["errors"] == 0, f"every poll of /metrics answered (errors: {got['errors']})")

    inflight = [s[1] for s in samples]
    want = max(1, wait_limit(t) // 2)  # half, so that a poll landing in the ramp still counts
    check(max(inflight) >= want,
          f"the in-flight series rose to >= {want} (max {max(inflight)}; series {inflight})")

    peak = max(samples, key=lambda s: s[3])
    at_rest, per_conn = t["threads_at_rest"], t["threads_per_conn"]
    # curl opens its connections as answers come; a model that serves W waits at a time answers
    # slowly, so fewer are open at once: twice W is enough to see the pool saturated.
    conns_want = min(LOAD_REQUESTS // 2, 2 * wait_limit(t))
    check(peak[3] >= conns_want, f"open connections rose to >= {conns_want} (max {peak[3]})")
    for s in samples:
        said = at_rest + per_conn * s[3]
        if not check(abs(s[2] - said) <= THREADS_SLACK,
                     f"threads {s[2]} with {s[3]} connections open: the traits say {at_rest} + "
                     f"{per_conn} x {s[3]} = {said} (within {THREADS_SLACK})"):
            break
    else:
        print(f"     threads as the traits say in all {len(samples)} samples; at the peak "
              f"{peak[2]} threads for {peak[3]} connections")
    if per_conn == 0:
        check(max(s[2] for s in samples) == at_rest,
              f"threads stayed at {at_rest} (max {max(s[2] for s in samples)})")

    rps = [(b_[5] - a[5]) * 1000 / (b_[0] - a[0]) for a, b_ in zip(samples, samples[1:])
           if b_[0] > a[0]]
    # The load's rate is wait_limit() answers per wait of LOAD_MS; 0.4 of it leaves room for a
    # sample that straddles the ramp.
    rps_want = 0.4 * wait_limit(t) * 1000 / LOAD_MS
    check(rps and max(rps) >= rps_want, f"the req/s series rose with the load to >= "
          f"{rps_want:.1f} (max {max(rps) if rps else 0:.1f})")
    check(all(s[4] > 0 for s in samples), "the RSS series has a value in every sample")
    p99 = dict(got["p99"])
    check(1000 <= p99.get("sleep", 0) <= 2500,
          f"p99 of route sleep over the window is in the 2 s wait's bucket (1 s, 2.5 s] "
          f"(got {p99})")
    check_no_js_error(b)
    screenshot(b, session, shot)


if __name__ == "__main__":
    main("live", run, __doc__)
