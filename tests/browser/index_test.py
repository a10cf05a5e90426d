"""Browser test of the index page's "try it" panel, in headless Chromium (cdp.py).

Starts iobound on 127.0.0.1:0 in the given mode, loads /, runs 10 x /sleep?ms=200 from the panel,
checks the DOM (10 bars, all 200, the total time, the sentence for this mode, the command that
gets past the browser's 6 connections names this server, no JavaScript error), saves a
screenshot, and stops the server with SIGTERM, which must exit 0.

Usage: index_test.py CHROMIUM IOBOUND MODE SCREENSHOT.png   (exit 0 pass, 1 fail)
"""

import time

from cdp import check, check_no_js_error, evaluate, main, open_page, screenshot, wait_for

REQUESTS, SLEEP_MS = 10, 200
# 10 x 200 ms take 0.2 s on a server that overlaps them; a browser opens 6 connections to one
# host, so it sends them in two waves (~0.4 s), as the panel says. 1 s leaves room for a noisy
# machine.
WALL_MS_MIN, WALL_MS_MAX = 2 * SLEEP_MS, 1000


def run(b, base, mode, binary, shot):
    session = open_page(b, base + "/")
    shown = evaluate(b, session, """[
        document.querySelector('#try p.model strong').textContent,
        Array.from(document.querySelectorAll('#models tr.this td')).map(function (td) {
            return td.textContent; }),
        document.getElementById('try-beyond').textContent]""")
    check(shown[0] == mode, f"the panel describes this server's model {mode!r} (got {shown[0]!r})")
    check(shown[1][:1] == [mode], f"the Models table marks the row of {mode!r} (got {shown[1]})")
    host = base.split("//", 1)[1]
    check(f"'{host}/sleep?ms=2000&n=[1-100]'" in shown[2],
          f"the command past the 6-connection limit names this server {host} (got {shown[2]!r})")

    evaluate(b, session, f"""(function () {{
        var f = document.getElementById('try-form');
        f.elements.endpoint.value = 'sleep';
        f.elements.endpoint.dispatchEvent(new Event('change'));
        f.elements.param.value = '{SLEEP_MS}';
        f.elements.n.value = '{REQUESTS}';
        f.querySelector('button').click();
    }})()""")
    done = "document.getElementById('try-result').dataset.wallMs !== undefined"
    if check(wait_for(b, session, done, 20), "the run finished within 20 s"):
        got = evaluate(b, session, """(function () {
            var r = document.getElementById('try-result');
            return {bars: document.querySelectorAll('#try-chart rect.req').length,
                    bad: document.querySelectorAll('#try-chart rect.bad').length,
                    ok: Number(r.dataset.ok), wall: Number(r.dataset.wallMs),
                    text: r.textContent};
        })()""")
        print(f"     result: {got['text']!r}")
        check(got["bars"] == REQUESTS, f"{REQUESTS} bars drawn (got {got['bars']})")
        check(got["ok"] == REQUESTS and got["bad"] == 0,
              f"all {REQUESTS} answered 200 (got {got['ok']}, {got['bad']} red bars)")
        check(WALL_MS_MIN <= got["wall"] <= WALL_MS_MAX,
              f"total {got['wall']} ms within [{WALL_MS_MIN}, {WALL_MS_MAX}] ms: two waves of "
              "at most 6, as the panel says")
    check_no_js_error(b)
    screenshot(b, session, shot)


if __name__ == "__main__":
    main("index", run, __doc__)
