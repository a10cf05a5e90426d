/* GET /: the index page for browsers. Everything on it comes from the route table and the
 * env, so it cannot drift from what the server does. Self-contained: no external assets. */
#include "handlers/endpoints.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "handlers/routes.h"

/* The page's fixed HTML; the rows in between are generated. */
static const char page_head[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<title>iobound</title>\n"
    "<style>\n"
    "body { font-family: sans-serif; max-width: 56em; margin: 2em auto; padding: 0 1em; }\n"
    "table { border-collapse: collapse; }\n"
    "th, td { text-align: left; padding: .3em .8em; border-bottom: 1px solid #ddd; }\n"
    "code { background: #f3f3f3; padding: 0 .2em; }\n"
    "#try form { display: flex; flex-wrap: wrap; gap: .8em; align-items: flex-end; }\n"
    "#try label { display: flex; flex-direction: column; font-size: .9em; }\n"
    "#try[data-mode=evented] .threaded, #try[data-mode=threaded] .evented { display: none; }\n"
    "#try-chart { display: block; margin-top: .5em; }\n"
    "#try-chart text { font-size: 10px; }\n"
    "#try-chart .req { fill: #4477aa; }\n"
    "#try-chart .bad { fill: #cc3311; }\n"
    "#try-chart .queued { fill: #ccc; }\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>iobound</h1>\n"
    "<p>One HTTP server, two concurrency models: <em>evented</em> (one event loop on one\n"
    "thread; a wait is a timer) and <em>threaded</em> (one thread per connection; a wait\n"
    "blocks that thread). This one runs in <strong>";
static const char page_try_open[] = "</strong> mode.</p>\n"
                                    "<section id=\"try\" data-mode=\"";
/* The "try it" panel: the browser fires N concurrent fetch()es and draws when each was called,
 * sent and answered. Which mode's sentence shows is CSS on data-mode, so no code picks it. The
 * SVG namespace comes from the page's own <svg>: the page names no external URL at all. */
static const char page_try[] =
    "\">\n"
    "<h2>Try it</h2>\n"
    "<p class=\"evented\">This server is <strong>evented</strong>: one thread serves every\n"
    "connection and a wait is only a timer, so many <code>/sleep</code>s overlap and end\n"
    "together. A <code>/cpu</code> holds that one thread: CPU requests run one after another and\n"
    "everything else, even <code>/hello</code>, waits behind them.</p>\n"
    "<p class=\"threaded\">This server is <strong>threaded</strong>: each connection has a thread\n"
    "of its own and a wait blocks only that thread, so <code>/sleep</code>s overlap (each one\n"
    "costs a thread) and <code>/cpu</code> requests run side by side on every core.</p>\n"
    "<form id=\"try-form\">\n"
    "<label>endpoint <select name=\"endpoint\">\n"
    "<option>sleep</option><option>gather</option><option>cpu</option><option>hello</option>\n"
    "</select></label>\n"
    "<label>ms <input name=\"param\" value=\"200\" size=\"12\"></label>\n"
    "<label>concurrent requests <input name=\"n\" type=\"number\" value=\"6\" min=\"1\"\n"
    "max=\"100\"></label>\n"
    "<button>Run</button>\n"
    "</form>\n"
    "<p>A browser opens at most 6 connections to one server, so requests beyond 6 first wait\n"
    "in the browser (the grey part of a bar). <code>make demo</code> and curl have no such\n"
    "limit.</p>\n"
    "<p id=\"try-result\"></p>\n"
    "<svg id=\"try-chart\" width=\"640\" height=\"0\" role=\"img\"></svg>\n"
    "<script>\n"
    "(function () {\n"
    "  'use strict';\n"
    "  var form = document.getElementById('try-form');\n"
    "  var result = document.getElementById('try-result');\n"
    "  var chart = document.getElementById('try-chart');\n"
    "  var f = form.elements;\n"
    "  var defaults = {sleep: '200', gather: '100,200,300', cpu: '100', hello: ''};\n"
    "  var runs = 0;\n"
    "  f.endpoint.onchange = function () {\n"
    "    f.param.value = defaults[f.endpoint.value];\n"
    "    f.param.disabled = f.endpoint.value === 'hello';\n"
    "  };\n"
    "  /* One request: when fetch() was called, when the browser sent it (Resource Timing), when\n"
    "   * the whole answer had arrived, and its status (0: no answer). */\n"
    "  async function one(url) {\n"
    "    var start = performance.now(), status = 0;\n"
    "    try {\n"
    "      var res = await fetch(url, {cache: 'no-store'});\n"
    "      await res.text();\n"
    "      status = res.status;\n"
    "    } catch (err) {}\n"
    "    var end = performance.now();\n"
    "    var t = performance.getEntriesByName(new URL(url, location.href).href)[0];\n"
    "    var sent = t && t.requestStart > 0 ? t.requestStart : start;\n"
    "    return {start: start, sent: sent, end: end, status: status};\n"
    "  }\n"
    "  function add(parent, name, attrs, text) {\n"
    "    var e = document.createElementNS(chart.namespaceURI, name);\n"
    "    for (var k in attrs) e.setAttribute(k, attrs[k]);\n"
    "    if (text !== undefined) e.textContent = text;\n"
    "    return parent.appendChild(e);\n"
    "  }\n"
    "  /* One bar per request on a time axis from the first call to the last answer. */\n"
    "  function draw(rows, t0, wall) {\n"
    "    var left = 30, width = 600, rowh = 12;\n"
    "    var x = function (t) { return left + (t - t0) / wall * width; };\n"
    "    chart.textContent = '';\n"
    "    chart.setAttribute('height', rows.length * rowh + 24);\n"
    "    rows.forEach(function (r, i) {\n"
    "      var y = i * rowh;\n"
    "      add(chart, 'text', {x: left - 4, y: y + 9, 'text-anchor': 'end'}, i + 1);\n"
    "      add(chart, 'rect', {class: 'queued', x: x(r.start), y: y + 1, height: rowh - 2,\n"
    "                          width: Math.max(0, x(r.sent) - x(r.start))});\n"
    "      var bar = add(chart, 'rect', {class: r.status === 200 ? 'req' : 'req bad',\n"
    "                                    x: x(r.sent), y: y + 1, height: rowh - 2,\n"
    "                                    width: Math.max(1, x(r.end) - x(r.sent))});\n"
    "      add(bar, 'title', {}, 'HTTP ' + (r.status || 'error') + ', ' +\n"
    "          Math.round(r.end - r.start) + ' ms');\n"
    "    });\n"
    "    var y = rows.length * rowh + 14;\n"
    "    add(chart, 'text', {x: left, y: y}, '0 ms');\n"
    "    add(chart, 'text', {x: left + width, y: y, 'text-anchor': 'end'},\n"
    "        Math.round(wall) + ' ms');\n"
    "  }\n"
    "  form.onsubmit = async function (ev) {\n"
    "    ev.preventDefault();\n"
    "    var name = f.endpoint.value;\n"
    "    var n = Math.min(100, Math.max(1, parseInt(f.n.value, 10) || 1));\n"
    "    var q = name === 'hello' ? '?' : '?ms=' + encodeURIComponent(f.param.value) + '&';\n"
    "    var path = '/' + name + q;\n"
    "    var button = form.querySelector('button');\n"
    "    button.disabled = true;\n"
    "    result.textContent = 'running ' + n + ' x ' + path.slice(0, -1) + ' ...';\n"
    "    runs++;\n"
    "    performance.clearResourceTimings();\n"
    "    var t0 = performance.now(), calls = [];\n"
    "    /* try=RUN-I makes each URL unique, so each has its own timing entry; the server\n"
    "     * ignores unknown parameters. */\n"
    "    for (var i = 0; i < n; i++) calls.push(one(path + 'try=' + runs + '-' + i));\n"
    "    var rows = await Promise.all(calls);\n"
    "    var wall = Math.max.apply(null, rows.map(function (r) { return r.end; })) - t0;\n"
    "    var ok = rows.filter(function (r) { return r.status === 200; }).length;\n"
    "    result.dataset.requests = n;\n"
    "    result.dataset.ok = ok;\n"
    "    result.dataset.wallMs = Math.round(wall);\n"
    "    result.textContent = n + ' x ' + path.slice(0, -1) + ': all answered after ' +\n"
    "        Math.round(wall) + ' ms in total; ' + ok + ' of ' + n + ' got 200 OK.';\n"
    "    draw(rows, t0, wall);\n"
    "    button.disabled = false;\n"
    "  };\n"
    "})();\n"
    "</script>\n"
    "</section>\n";
static const char page_routes[] = "<h2>Endpoints</h2>\n"
                                  "<table>\n"
                                  "<tr><th>methods</th><th>try</th><th>what it does</th></tr>\n";
static const char page_limits[] = "</table>\n"
                                  "<h2>Limits</h2>\n"
                                  "<table>\n";
static const char page_tail[] = "</table>\n"
                                "</body>\n"
                                "</html>\n";

/* The env fields shown under Limits, named like their config keys. */
static const struct {
    const char *name;
    size_t offset;
} limits[] = {
    {"max_sleep_ms", offsetof(struct iob_env, max_sleep_ms)},
    {"max_cpu_ms", offsetof(struct iob_env, max_cpu_ms)},
    {"max_gather_tasks", offsetof(struct iob_env, max_gather_tasks)},
    {"max_body_bytes", offsetof(struct iob_env, max_body_bytes)},
    {"max_header_bytes", offsetof(struct iob_env, max_header_bytes)},
    {"header_timeout_ms", offsetof(struct iob_env, header_timeout_ms)},
    {"idle_timeout_ms", offsetof(struct iob_env, idle_timeout_ms)},
    {"body_timeout_ms", offsetof(struct iob_env, body_timeout_ms)},
    {"body_min_rate_bytes", offsetof(struct iob_env, body_min_rate_bytes)},
    {"max_connections", offsetof(struct iob_env, max_connections)},
};

/* Appends s with the HTML-special bytes escaped. */
static int put_html(struct iob_buf *b, const char *s)
{
    int rc = 0;
    for (; rc == 0 && *s; s++) {
        size_t plain = strcspn(s, "<>&\"'");
        rc = iob_buf_append(b, s, plain);
        s += plain;
        if (rc != 0 || *s == '\0')
            break;
        rc = iob_buf_printf(b, "&#%d;", *s);
    }
    return rc;
}

/* One table row per route: a link when a browser can follow it (GET), text otherwise. */
static int put_route(struct iob_buf *b, const struct iob_route *r)
{
    bool is_link = r->methods & IOB_METHOD_GET;
    int rc = iob_buf_puts(b, "<tr><td>");
    if (rc == 0)
        rc = put_html(b, r->allow);
    if (rc == 0)
        rc = iob_buf_puts(b, is_link ? "</td><td><a href=\"" : "</td><td><code>");
    if (rc == 0 && is_link) {
        rc = put_html(b, r->example);
        if (rc == 0)
            rc = iob_buf_puts(b, "\">");
    }
    if (rc == 0)
        rc = put_html(b, r->example);
    if (rc == 0)
        rc = iob_buf_puts(b, is_link ? "</a></td><td>" : "</code></td><td>");
    if (rc == 0)
        rc = put_html(b, r->summary);
    if (rc == 0)
        rc = iob_buf_puts(b, "</td></tr>\n");
    return rc;
}

enum iob_step iob_index_plan(const struct iob_request *req, const struct iob_env *env,
                             struct iob_plan *plan, struct iob_response *res)
{
    (void)req, (void)plan;
    struct iob_buf *b = res->body;
    int rc = iob_buf_puts(b, page_head);
    if (rc == 0)
        rc = put_html(b, env->mode);
    if (rc == 0)
        rc = iob_buf_puts(b, page_try_open);
    if (rc == 0)
        rc = put_html(b, env->mode);
    if (rc == 0)
        rc = iob_buf_puts(b, page_try);
    if (rc == 0)
        rc = iob_buf_puts(b, page_routes);
    for (size_t i = 0; rc == 0 && i < iob_routes_count; i++)
        rc = put_route(b, &iob_routes[i]);
    if (rc == 0)
        rc = iob_buf_puts(b, page_limits);
    for (size_t i = 0; rc == 0 && i < sizeof limits / sizeof limits[0]; i++) {
        uint64_t value;
        memcpy(&value, (const char *)env + limits[i].offset, sizeof value);
        rc = iob_buf_printf(b, "<tr><td><code>%s</code></td><td>%" PRIu64 "</td></tr>\n",
                            limits[i].name, value);
    }
    if (rc == 0)
        rc = iob_buf_puts(b, page_tail);
    iob_handler_reply(res, rc, "text/html; charset=utf-8");
    return IOB_STEP_NONE;
}
