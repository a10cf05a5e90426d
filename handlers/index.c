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
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>iobound</h1>\n"
    "<p>One HTTP server, two concurrency models: <em>evented</em> (one event loop on one\n"
    "thread; a wait is a timer) and <em>threaded</em> (one thread per connection; a wait\n"
    "blocks that thread). This one runs in <strong>";
static const char page_routes[] = "</strong> mode.</p>\n"
                                  "<h2>Endpoints</h2>\n"
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
