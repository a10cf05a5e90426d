/* GET /live: a page that polls /metrics about once a second and charts, over the last 60 s,
 * requests in flight, OS threads beside open connections, RSS, requests per second and p99 per
 * route, so a person can watch a model's traits while wrk or `make demo` runs. Everything the
 * page knows of the server comes from /metrics and the model's traits (threads at rest and per
 * connection draw the "traits say" line); the server keeps no state for it. Plain inline JS, no
 * external assets. */
#include "handlers/endpoints.h"

#include <stdbool.h>
#include <stdio.h>

static const char page_head[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<title>iobound live</title>\n"
    "<style>\n"
    "body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; }\n"
    "table { border-collapse: collapse; }\n"
    "th, td { text-align: left; padding: .3em .8em; border-bottom: 1px solid #ddd; }\n"
    "code { background: #f3f3f3; padding: 0 .2em; }\n"
    "#charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }\n"
    "#charts svg { width: 100%; height: 150px; border: 1px solid #ddd; }\n"
    "#charts text { font-size: 11px; }\n"
    "#charts .grid { stroke: #eee; }\n"
    "#charts .line { fill: none; stroke: #4477aa; stroke-width: 2; }\n"
    "#charts .traits { fill: none; stroke: #cc3311; stroke-width: 1.5; "
    "stroke-dasharray: 4 3; }\n"
    "#charts .conns { fill: none; stroke: #999; stroke-width: 1; }\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>iobound live: <span id=\"mode\">";
static const char page_traits[] = "\" data-threads-at-rest=\"";
static const char page_per_conn[] = "\" data-threads-per-conn=\"";
static const char page_body[] =
    ".</p>\n"
    "<p><a href=\"/\">index</a>. Polls <a href=\"/metrics\">/metrics</a> about once a second\n"
    "and keeps the last 60 s. Put load on the server meanwhile, e.g. 100 concurrent\n"
    "<code>/sleep?ms=2000</code> with curl (the command is on the index page, under \"try it\"),\n"
    "<code>wrk</code> or <code>make demo</code>; a browser tab sends at most 6 at a time.</p>\n"
    "<p id=\"status\">waiting for the first sample ...</p>\n"
    "<div id=\"charts\">\n"
    "<div><strong>requests in flight</strong><svg id=\"c-inflight\"></svg></div>\n"
    "<div><strong>OS threads</strong> (grey: open connections; dashed red: what the traits\n"
    "say, at rest + per connection &times; open)<svg id=\"c-threads\"></svg></div>\n"
    "<div><strong>RSS, MB</strong><svg id=\"c-rss\"></svg></div>\n"
    "<div><strong>requests per second</strong> (not counting /metrics)"
    "<svg id=\"c-rps\"></svg></div>\n"
    "</div>\n"
    "<h2>p99 per route, last 60 s</h2>\n"
    "<p>From the histogram's buckets (1 ms to 60 s), interpolated within a bucket as\n"
    "Prometheus' <code>histogram_quantile</code> does: a figure is only as exact as its\n"
    "bucket.</p>\n"
    "<table id=\"p99\"><tr><th>route</th><th>requests</th><th>p99</th></tr></table>\n"
    "<script>\n"
    "(function () {\n"
    "  'use strict';\n"
    "  var WINDOW_MS = 60000, POLL_MS = 1000;\n"
    "  var live = document.getElementById('live');\n"
    "  var atRest = Number(live.dataset.threadsAtRest);\n"
    "  var perConn = Number(live.dataset.threadsPerConn);\n"
    "  var status = document.getElementById('status');\n"
    "  var ns = document.getElementById('c-inflight').namespaceURI;\n"
    "  /* Every sample of the window: t (ms), inflight, threads, conns, rss (bytes), requests\n"
    "   * (cumulative, without /metrics), hist: route -> [[le, cumulative count], ...]. */\n"
    "  var samples = [];\n"
    "  window.iobLive = {samples: samples, errors: 0};\n"
    "  function parse(text, t) {\n"
    "    var s = {t: t, inflight: 0, threads: 0, conns: 0, rss: 0, requests: 0, hist: {}};\n"
    "    text.split('\\n').forEach(function (line) {\n"
    "      var m = /^([a-z_]+)(?:\\{([^}]*)\\})? (\\S+)$/.exec(line);\n"
    "      if (!m) return;\n"
    "      var labels = {}, v = Number(m[3]);\n"
    "      (m[2] || '').replace(/(\\w+)=\"([^\"]*)\"/g, function (all, k, val) {\n"
    "        labels[k] = val;\n"
    "      });\n"
    "      switch (m[1]) {\n"
    "      case 'iobound_inflight_requests': s.inflight = v; break;\n"
    "      case 'iobound_threads': s.threads = v; break;\n"
    "      case 'iobound_connections_open': s.conns = v; break;\n"
    "      case 'process_resident_memory_bytes': s.rss = v; break;\n"
    "      case 'iobound_requests_total':\n"
    "        if (labels.route !== 'metrics') s.requests += v;\n"
    "        break;\n"
    "      case 'iobound_request_duration_seconds_bucket':\n"
    "        (s.hist[labels.route] = s.hist[labels.route] || []).push(\n"
    "          [labels.le === '+Inf' ? Infinity : Number(labels.le), v]);\n"
    "        break;\n"
    "      }\n"
    "    });\n"
    "    return s;\n"
    "  }\n"
    "  /* The q-quantile of the requests between two samples of one route's buckets, in ms. */\n"
    "  function quantile(q, now, then) {\n"
    "    var total = now[now.length - 1][1] - (then ? then[then.length - 1][1] : 0);\n"
    "    if (total <= 0) return null;\n"
    "    var rank = q * total, prevLe = 0, prevCum = 0;\n"
    "    for (var i = 0; i < now.length; i++) {\n"
    "      var cum = now[i][1] - (then ? then[i][1] : 0), le = now[i][0];\n"
    "      if (cum >= rank) {\n"
    "        if (le === Infinity) return {ms: prevLe * 1000, over: true, n: total};\n"
    "        var f = cum > prevCum ? (rank - prevCum) / (cum - prevCum) : 1;\n"
    "        return {ms: (prevLe + (le - prevLe) * f) * 1000, over: false, n: total,\n"
    "                lo: prevLe * 1000, hi: le * 1000};\n"
    "      }\n"
    "      prevLe = le;\n"
    "      prevCum = cum;\n"
    "    }\n"
    "    return null;\n"
    "  }\n"
    "  function num(v) { return v >= 10 || v === Math.round(v) ? Math.round(v) : v.toFixed(1); }\n"
    "  function dur(ms) { return ms >= 1000 ? (ms / 1000) + ' s' : ms + ' ms'; }\n"
    "  function add(parent, name, attrs, text) {\n"
    "    var e = document.createElementNS(ns, name);\n"
    "    for (var k in attrs) e.setAttribute(k, attrs[k]);\n"
    "    if (text !== undefined) e.textContent = text;\n"
    "    return parent.appendChild(e);\n"
    "  }\n"
    "  /* One chart: lines [{cls, values}] against the samples' times, y from 0 to the max; the\n"
    "   * time axis spans the samples (10 s at least, the 60 s window at most). */\n"
    "  function chart(id, lines, unit) {\n"
    "    var svg = document.getElementById(id);\n"
    "    var w = svg.clientWidth || 400, h = svg.clientHeight || 150, left = 40, pad = 14;\n"
    "    var now = samples[samples.length - 1].t, max = 1;\n"
    "    var span = Math.min(WINDOW_MS, Math.max(10000, now - samples[0].t));\n"
    "    lines.forEach(function (l) { l.values.forEach(function (v) { max = Math.max(max, v); }); "
    "});\n"
    "    svg.textContent = '';\n"
    "    var y = function (v) { return h - pad - v / max * (h - 2 * pad); };\n"
    "    var x = function (t) { return left + (1 - (now - t) / span) * (w - left - 4); };\n"
    "    [0, max / 2, max].forEach(function (v) {\n"
    "      add(svg, 'line', {class: 'grid', x1: left, x2: w, y1: y(v), y2: y(v)});\n"
    "      add(svg, 'text', {x: left - 4, y: y(v) + 4, 'text-anchor': 'end'}, num(v));\n"
    "    });\n"
    "    add(svg, 'text', {x: left, y: h - 2}, '-' + Math.round(span / 1000) + ' s');\n"
    "    add(svg, 'text', {x: w - 4, y: h - 2, 'text-anchor': 'end'}, 'now');\n"
    "    lines.forEach(function (l) {\n"
    "      var pts = l.values.map(function (v, i) { return x(samples[i].t) + ',' + y(v); });\n"
    "      add(svg, 'polyline', {class: l.cls, points: pts.join(' ')});\n"
    "    });\n"
    "    var last = lines[0].values[lines[0].values.length - 1];\n"
    "    add(svg, 'text', {x: w - 4, y: 12, 'text-anchor': 'end'}, num(last) + unit);\n"
    "  }\n"
    "  function pick(f) { return samples.map(f); }\n"
    "  function draw() {\n"
    "    var s = samples[samples.length - 1], base = samples[0];\n"
    "    var rps = samples.map(function (c, i) {\n"
    "      var p = samples[i ? i - 1 : 0];\n"
    "      return c.t > p.t ? Math.max(0, c.requests - p.requests) * 1000 / (c.t - p.t) : 0;\n"
    "    });\n"
    "    chart('c-inflight', [{cls: 'line', values: pick(function (c) { return c.inflight; })}],\n"
    "          '');\n"
    "    chart('c-threads', [{cls: 'line', values: pick(function (c) { return c.threads; })},\n"
    "                        {cls: 'conns', values: pick(function (c) { return c.conns; })},\n"
    "                        {cls: 'traits', values: pick(function (c) {\n"
    "                          return atRest + perConn * c.conns; })}], '');\n"
    "    chart('c-rss', [{cls: 'line', values: pick(function (c) { return c.rss / 1048576; })}],\n"
    "          ' MB');\n"
    "    chart('c-rps', [{cls: 'line', values: rps}], ' req/s');\n"
    "    var table = document.getElementById('p99');\n"
    "    while (table.rows.length > 1) table.deleteRow(1);\n"
    "    Object.keys(s.hist).forEach(function (route) {\n"
    "      var q = quantile(0.99, s.hist[route], base === s ? null : base.hist[route]);\n"
    "      if (!q) return;\n"
    "      var row = table.insertRow();\n"
    "      row.dataset.route = route;\n"
    "      row.dataset.p99Ms = q.ms.toFixed(1);\n"
    "      row.insertCell().textContent = route;\n"
    "      row.insertCell().textContent = q.n;\n"
    "      row.insertCell().textContent = q.over ? '> ' + dur(q.ms) :\n"
    "          (q.ms >= 1000 ? (q.ms / 1000).toFixed(2) + ' s' : q.ms.toFixed(1) + ' ms') +\n"
    "          ' (bucket ' + dur(q.lo) + ' to ' + dur(q.hi) + ')';\n"
    "    });\n"
    "    status.textContent = s.inflight + ' in flight, ' + s.threads + ' OS threads, ' +\n"
    "        s.conns + ' open connections (the traits say ' + (atRest + perConn * s.conns) +\n"
    "        ' threads), RSS ' + (s.rss / 1048576).toFixed(1) + ' MB.';\n"
    "  }\n"
    "  async function poll() {\n"
    "    try {\n"
    "      var res = await fetch('/metrics', {cache: 'no-store'});\n"
    "      var s = parse(await res.text(), performance.now());\n"
    "      samples.push(s);\n"
    "      while (samples.length > 1 && s.t - samples[0].t > WINDOW_MS) samples.shift();\n"
    "      draw();\n"
    "    } catch (err) {\n"
    "      window.iobLive.errors++;\n"
    "      status.textContent = 'cannot read /metrics: ' + err;\n"
    "    }\n"
    "    setTimeout(poll, POLL_MS);\n"
    "  }\n"
    "  poll();\n"
    "})();\n"
    "</script>\n"
    "</section>\n"
    "</body>\n"
    "</html>\n";

enum iob_step iob_live_plan(const struct iob_request *req, const struct iob_env *env,
                            struct iob_plan *plan, struct iob_response *res)
{
    (void)req, (void)plan;
    char at_rest[16], per_conn[16];
    snprintf(at_rest, sizeof at_rest, "%u", env->model->threads_at_rest);
    snprintf(per_conn, sizeof per_conn, "%u", env->model->threads_per_conn);
    /* The page in order: markup as is, text (is_text) HTML-escaped. */
    const struct {
        const char *s;
        bool is_text;
    } parts[] = {
        {page_head, false},
        {env->mode, true},
        {"</span></h1>\n<section id=\"live\" data-mode=\"", false},
        {env->mode, true},
        {page_traits, false},
        {at_rest, false},
        {page_per_conn, false},
        {per_conn, false},
        {"\">\n<p>", false},
        {env->model->summary, true},
        {page_body, false},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof parts / sizeof parts[0]; i++)
        rc = parts[i].is_text ? iob_handler_put_html(res->body, parts[i].s)
                              : iob_buf_puts(res->body, parts[i].s);
    iob_handler_reply(res, rc, "text/html; charset=utf-8");
    return IOB_STEP_NONE;
}
