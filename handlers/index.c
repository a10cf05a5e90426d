/* GET /: the index page for browsers. Everything on it comes from the route table and the env
 * (its limits and the engine table's models), so it cannot drift from what the server does.
 * Self-contained: no external assets. */
#include "handlers/endpoints.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
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
    "#models tr.this { font-weight: bold; }\n"
    "#try-chart { display: block; margin-top: .5em; }\n"
    "#try-chart text { font-size: 10px; }\n"
    "#try-chart .req { fill: #4477aa; }\n"
    "#try-chart .bad { fill: #cc3311; }\n"
    "#try-chart .queued { fill: #ccc; }\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>iobound</h1>\n"
    "<p>One HTTP server, one set of handlers, several concurrency models (the table below):\n"
    "how each behaves when the work is waiting. This one runs in <strong>";
static const char page_try_open[] = "</strong> mode.</p>\n"
                                    "<section id=\"try\" data-mode=\"";
static const char page_models[] = "<h2>Models</h2>\n"
                                  "<table id=\"models\">\n"
                                  "<tr><th>--mode</th><th>what it is</th><th>a wait costs a "
                                  "thread</th><th>CPU work stalls others</th><th>CPU steps at "
                                  "once</th><th>OS threads at rest</th><th>per connection</th>"
                                  "<th>what breaks first</th></tr>\n";
/* The "try it" panel: the browser fires N concurrent fetch()es and draws when each was called,
 * sent and answered. What it says of this model comes from the model's traits (put_model_text),
 * so no code picks a sentence by name. The SVG namespace comes from the page's own <svg>: the
 * page names no external URL at all. */
static const char page_try_head[] = "\">\n"
                                    "<h2>Try it</h2>\n"
                                    "<p class=\"model\">This server is <strong>";
static const char page_try[] =
    "</p>\n"
    "<form id=\"try-form\">\n"
    "<label>endpoint <select name=\"endpoint\">\n"
    "<option>sleep</option><option>gather</option><option>cpu</option><option>hello</option>\n"
    "</select></label>\n"
    "<label>ms <input name=\"param\" value=\"200\" size=\"12\"></label>\n"
    "<label>concurrent requests <input name=\"n\" type=\"number\" value=\"6\" min=\"1\"\n"
    "max=\"100\"></label>\n"
    "<button>Run</button>\n"
    "</form>\n"
    "<p id=\"try-limit\">A browser opens at most 6 connections to one server (HTTP/1.1), so\n"
    "requests beyond 6 first wait in the browser (the grey part of a bar): this panel never has\n"
    "more than 6 in flight, whatever the model. To get past it, send them from outside the\n"
    "browser and watch them on <a href=\"/live\">/live</a>; this prints how many of 100\n"
    "concurrent <code>/sleep?ms=2000</code> were answered:</p>\n"
    "<pre><code id=\"try-beyond\">curl -s -Z --parallel-immediate --parallel-max 100 "
    "'HOST:PORT/sleep?ms=2000&amp;n=[1-100]' 2&gt;/dev/null | grep -c slept_ms</code></pre>\n"
    "<p><code>wrk -c 100</code> and <code>make demo</code> have no such limit either.</p>\n"
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
    "  var beyond = document.getElementById('try-beyond');\n"
    "  beyond.textContent = beyond.textContent.replace('HOST:PORT', location.host);\n"
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

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

/* What the model's traits mean for the two experiments of the panel. */
static int put_model_text(struct iob_buf *b, const struct iob_model *m)
{
    int rc = iob_handler_put_html(b, m->name);
    if (rc == 0)
        rc = iob_buf_puts(b, "</strong>: ");
    if (rc == 0)
        rc = iob_handler_put_html(b, m->summary);
    if (rc == 0)
        rc = iob_buf_puts(b, m->wait_costs_thread
                                 ? ". Each <code>/sleep</code> in flight holds an OS thread of "
                                   "its own while it waits"
                                 : ". A <code>/sleep</code> holds no thread: many overlap and end "
                                   "together on the same threads");
    if (rc == 0)
        rc = iob_buf_puts(b, m->cpu_stalls_others
                                 ? ". A <code>/cpu</code> holds the thread its clients share: "
                                   "CPU requests on it run one after another and everything else "
                                   "there, even <code>/hello</code>, waits behind them."
                                 : ". <code>/cpu</code> requests run beside the others, on every "
                                   "core, and <code>/hello</code> is answered meanwhile.");
    return rc;
}

/* One row of the Models table; this server's own is marked. */
static int put_model_row(struct iob_buf *b, const struct iob_model *m, bool is_this)
{
    char lanes[24] = "one per connection";
    if (m->cpu_lanes)
        snprintf(lanes, sizeof lanes, "%u", m->cpu_lanes);
    int rc = iob_buf_puts(b, is_this ? "<tr class=\"this\"><td>" : "<tr><td>");
    if (rc == 0)
        rc = iob_handler_put_html(b, m->name);
    if (rc == 0)
        rc = iob_buf_puts(b, "</td><td>");
    if (rc == 0)
        rc = iob_handler_put_html(b, m->summary);
    if (rc == 0)
        rc = iob_buf_printf(b, "</td><td>%s</td><td>%s</td><td>%s</td><td>%u</td><td>%u</td><td>",
                            yes_no(m->wait_costs_thread), yes_no(m->cpu_stalls_others), lanes,
                            m->threads_at_rest, m->threads_per_conn);
    if (rc == 0)
        rc = iob_handler_put_html(b, m->breaks_first);
    if (rc == 0)
        rc = iob_buf_puts(b, "</td></tr>\n");
    return rc;
}

/* One table row per route: a link when a browser can follow it (GET), text otherwise. */
static int put_route(struct iob_buf *b, const struct iob_route *r)
{
    bool is_link = r->methods & IOB_METHOD_GET;
    int rc = iob_buf_puts(b, "<tr><td>");
    if (rc == 0)
        rc = iob_handler_put_html(b, r->allow);
    if (rc == 0)
        rc = iob_buf_puts(b, is_link ? "</td><td><a href=\"" : "</td><td><code>");
    if (rc == 0 && is_link) {
        rc = iob_handler_put_html(b, r->example);
        if (rc == 0)
            rc = iob_buf_puts(b, "\">");
    }
    if (rc == 0)
        rc = iob_handler_put_html(b, r->example);
    if (rc == 0)
        rc = iob_buf_puts(b, is_link ? "</a></td><td>" : "</code></td><td>");
    if (rc == 0)
        rc = iob_handler_put_html(b, r->summary);
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
        rc = iob_handler_put_html(b, env->mode);
    if (rc == 0)
        rc = iob_buf_puts(b, page_try_open);
    if (rc == 0)
        rc = iob_handler_put_html(b, env->mode);
    if (rc == 0)
        rc = iob_buf_puts(b, page_try_head);
    if (rc == 0)
        rc = put_model_text(b, env->model);
    if (rc == 0)
        rc = iob_buf_puts(b, page_try);
    if (rc == 0)
        rc = iob_buf_puts(b, page_models);
    for (size_t i = 0; rc == 0 && i < env->n_models; i++)
        rc = put_model_row(b, env->models[i], env->models[i] == env->model);
    if (rc == 0)
        rc = iob_buf_puts(b, "</table>\n");
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
    if (rc == 0) /* whether /fault may misbehave: what a visitor must know before trying it */
        rc = iob_buf_printf(b, "<tr><td><code>allow_faults</code></td><td>%s</td></tr>\n",
                            env->allow_faults ? "true" : "false");
    if (rc == 0)
        rc = iob_buf_puts(b, page_tail);
    iob_handler_reply(res, rc, "text/html; charset=utf-8");
    return IOB_STEP_NONE;
}
