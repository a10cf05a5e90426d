/* Integration: every SPEC endpoint against the real binary, one server per run: bodies and JSON
 * shapes, HEAD, 404/405 with Allow, the standard headers (checked by the harness on every
 * response), /metrics series, and the 400 cases of the ms parameter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/it/client.h"
#include "tests/it/raw.h"

static void expect_content_type(struct it_ctx *t, const struct it_resp *r, const char *prefix)
{
    char ct[256] = "(none)";
    it_header_get(r->head, "Content-Type", ct, sizeof(ct));
    it_check(t, strncmp(ct, prefix, strlen(prefix)) == 0,
             "%s: Content-Type: expected \"%s...\", actual \"%s\"", r->what, prefix, ct);
}

static void index_names_the_mode(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    if (it_get(t, srv, "/", &r) == 0) {
        it_expect_int(t, "GET / status", 200, r.status);
        expect_content_type(t, &r, "text/html");
        it_expect_contains(t, "GET / body names the mode", r.body, t->mode);
        it_expect_contains(t, "GET / body lists /gather", r.body, "/gather");
    }
    it_resp_fini(&r);
}

static void plain_bodies(struct it_ctx *t, struct it_proc *srv)
{
    static const struct {
        const char *path, *body;
    } rows[] = {{"/hello", "hello\n"}, {"/healthz", "ok\n"}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct it_resp r = {0};
        if (it_get(t, srv, rows[i].path, &r) == 0) {
            it_expect_int(t, r.what, 200, r.status);
            it_expect_str(t, r.what, rows[i].body, r.body);
            expect_content_type(t, &r, "text/plain");
        }
        it_resp_fini(&r);
    }
}

static void sleep_json_shape(struct it_ctx *t, struct it_proc *srv)
{
    /* The same wait, once plainly and once percent-encoded ("%35%30" is "50"), with an unknown
     * parameter that must be ignored. */
    static const char *const paths[] = {"/sleep?ms=50", "/sleep?x=1&ms=%35%30&y"};
    for (size_t i = 0; i < 2; i++) {
        struct it_resp r = {0};
        char pattern[128];
        double nums[2] = {0};
        if (it_get(t, srv, paths[i], &r) == 0 && it_expect_int(t, r.what, 200, r.status)) {
            expect_content_type(t, &r, "application/json");
            snprintf(pattern, sizeof(pattern), "{\"mode\":\"%s\",\"slept_ms\":50,\"elapsed_ms\":#}",
                     t->mode);
            if (it_json_match(t, r.what, r.body, pattern, nums, 2))
                it_expect_range(t, "sleep elapsed_ms", 50, INFINITY, nums[0]);
            it_expect_range(t, "sleep client-side time (ms)", 50, INFINITY, r.elapsed_ms);
        }
        it_resp_fini(&r);
    }
}

static void gather_json_shape(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    char pattern[160];
    double nums[3] = {0};
    if (it_get(t, srv, "/gather?ms=10,20", &r) == 0 && it_expect_int(t, r.what, 200, r.status)) {
        expect_content_type(t, &r, "application/json");
        snprintf(pattern, sizeof(pattern),
                 "{\"mode\":\"%s\",\"tasks\":[{\"ms\":10,\"finished_ms\":#},{\"ms\":20,"
                 "\"finished_ms\":#}],\"elapsed_ms\":#}",
                 t->mode);
        if (it_json_match(t, r.what, r.body, pattern, nums, 3)) {
            it_expect_range(t, "gather task 10 finished_ms", 10, INFINITY, nums[0]);
            it_expect_range(t, "gather task 20 finished_ms", 20, INFINITY, nums[1]);
            it_expect_range(t, "gather elapsed_ms", 20, INFINITY, nums[2]);
        }
    }
    it_resp_fini(&r);
}

static void cpu_json_shape(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    char pattern[128];
    double nums[1] = {0};
    if (it_get(t, srv, "/cpu?ms=20", &r) == 0 && it_expect_int(t, r.what, 200, r.status)) {
        expect_content_type(t, &r, "application/json");
        snprintf(pattern, sizeof(pattern),
                 "{\"mode\":\"%s\",\"cpu_ms\":20,\"elapsed_ms\":#,\"digest\":\"@\"}", t->mode);
        if (it_json_match(t, r.what, r.body, pattern, nums, 1))
            it_expect_range(t, "cpu elapsed_ms (wall >= thread CPU)", 20, INFINITY, nums[0]);
    }
    it_resp_fini(&r);
}

static void echo_round_trip(struct it_ctx *t, struct it_proc *srv)
{
    char binary[256];
    for (size_t i = 0; i < sizeof(binary); i++)
        binary[i] = (char)i;
    const struct it_http reqs[] = {
        {.path = "/echo", .body = "some text", .body_len = 9, .content_type = "text/x-test"},
        {.path = "/echo",
         .body = binary,
         .body_len = sizeof(binary),
         .content_type = "application/octet-stream"},
        {.path = "/echo", .body = "", .body_len = 0, .content_type = "application/json"},
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        struct it_resp r = {0};
        char ct[256] = "(none)";
        if (it_fetch(t, srv, &reqs[i], &r) == 0 && it_expect_int(t, r.what, 200, r.status)) {
            it_expect_mem(t, "echo body", reqs[i].body, reqs[i].body_len, r.body, r.body_len);
            it_header_get(r.head, "Content-Type", ct, sizeof(ct));
            it_expect_str(t, "echo Content-Type", reqs[i].content_type, ct);
        }
        it_resp_fini(&r);
    }
}

static void metrics_exposition(struct it_ctx *t, struct it_proc *srv)
{
    static const struct {
        const char *name, *type;
    } series[] = {
        {"iobound_info", "gauge"},
        {"iobound_requests_total", "counter"},
        {"iobound_request_duration_seconds", "histogram"},
        {"iobound_connections_open", "gauge"},
        {"iobound_connections_total", "counter"},
        {"iobound_connections_rejected_total", "counter"},
        {"iobound_inflight_requests", "gauge"},
        {"iobound_threads", "gauge"},
        {"iobound_threads_peak", "gauge"},
        {"process_resident_memory_bytes", "gauge"},
        {"process_open_fds", "gauge"},
        {"process_cpu_seconds_total", "counter"},
        {"process_start_time_seconds", "gauge"},
    };
    struct it_resp r = {0}, hello = {0}, missing = {0};
    char line[256];
    double v;
    it_get(t, srv, "/hello", &hello);
    it_get(t, srv, "/no-such-route", &missing);
    if (it_get(t, srv, "/metrics", &r) != 0 || !it_expect_int(t, r.what, 200, r.status))
        goto done;
    expect_content_type(t, &r, "text/plain; version=0.0.4");
    snprintf(line, sizeof(line), "iobound_info{mode=\"%s\",version=\"0.1.0\"}", t->mode);
    it_check(t, it_metric_value(r.body, line, &v) && v == 1, "metrics: expected \"%s 1\"", line);
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
        snprintf(line, sizeof(line), "# TYPE %s %s\n", series[i].name, series[i].type);
        it_expect_contains(t, "metrics TYPE line", r.body, line);
    }
    it_check(t,
             it_metric_value(r.body, "iobound_requests_total{route=\"hello\",code=\"200\"}", &v) &&
                 v >= 1,
             "metrics: expected iobound_requests_total{route=\"hello\",code=\"200\"} >= 1");
    it_check(t,
             it_metric_value(r.body, "iobound_requests_total{route=\"other\",code=\"404\"}", &v) &&
                 v >= 1,
             "metrics: expected iobound_requests_total{route=\"other\",code=\"404\"} >= 1");
    /* Buckets from 1 ms to 60 s, then +Inf; _sum and _count. */
    it_check(
        t,
        it_metric_value(
            r.body, "iobound_request_duration_seconds_bucket{route=\"hello\",le=\"0.001\"}", &v),
        "metrics: expected a hello bucket le=\"0.001\"");
    it_check(
        t,
        it_metric_value(r.body,
                        "iobound_request_duration_seconds_bucket{route=\"hello\",le=\"60\"}", &v) ||
            it_metric_value(
                r.body, "iobound_request_duration_seconds_bucket{route=\"hello\",le=\"60.0\"}", &v),
        "metrics: expected a hello bucket le=\"60\"");
    it_check(t,
             it_metric_value(r.body,
                             "iobound_request_duration_seconds_bucket{route=\"hello\",le=\"+Inf\"}",
                             &v) &&
                 v >= 1,
             "metrics: expected the hello bucket le=\"+Inf\" >= 1");
    it_check(
        t,
        it_metric_value(r.body, "iobound_request_duration_seconds_count{route=\"hello\"}", &v) &&
            v >= 1,
        "metrics: expected iobound_request_duration_seconds_count{route=\"hello\"} >= 1");
    it_check(t,
             it_metric_value(r.body, "iobound_request_duration_seconds_sum{route=\"hello\"}", &v),
             "metrics: expected iobound_request_duration_seconds_sum{route=\"hello\"}");
    it_check(t, it_metric_value(r.body, "iobound_inflight_requests", &v) && v >= 1,
             "metrics: expected iobound_inflight_requests >= 1 (the scrape itself)");
    it_check(t, it_metric_value(r.body, "iobound_connections_open", &v) && v >= 1,
             "metrics: expected iobound_connections_open >= 1 (the scrape's own)");
    it_check(t, it_metric_value(r.body, "process_open_fds", &v) && v >= 3,
             "metrics: expected process_open_fds >= 3");
    it_check(t, it_metric_value(r.body, "process_resident_memory_bytes", &v) && v > 0,
             "metrics: expected process_resident_memory_bytes > 0");
done:
    it_resp_fini(&r);
    it_resp_fini(&hello);
    it_resp_fini(&missing);
}

/* HEAD gets GET's status and headers, Content-Length included, and no body: the GET pipelined
 * right behind it must parse as the very next bytes. */
static void head_matches_get(struct it_ctx *t, struct it_proc *srv)
{
    static const char *const paths[] = {"/", "/hello", "/healthz", "/sleep?ms=1", "/metrics"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct it_resp get = {0};
        struct it_raw c;
        struct it_raw_resp head = {0}, next = {0};
        char req[512], get_ct[256] = "", head_ct[256] = "", get_cl[32] = "", head_cl[32] = "";
        if (it_get(t, srv, paths[i], &get) != 0 || it_raw_open(&c, srv->port) != 0) {
            it_resp_fini(&get);
            continue;
        }
        snprintf(req, sizeof(req),
                 "HEAD %s HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
                 paths[i]);
        it_raw_send_str(&c, req);
        if (it_raw_expect(t, &c, req, &head, true, it_scaled_ms(t, 3000))) {
            it_expect_int(t, "HEAD status", get.status, head.status);
            it_header_get(get.head, "Content-Type", get_ct, sizeof(get_ct));
            it_header_get(head.head, "Content-Type", head_ct, sizeof(head_ct));
            it_expect_str(t, "HEAD Content-Type", get_ct, head_ct);
            it_header_get(get.head, "Content-Length", get_cl, sizeof(get_cl));
            it_header_get(head.head, "Content-Length", head_cl, sizeof(head_cl));
            /* /sleep's elapsed_ms and /metrics vary in length between runs. */
            if (i < 3)
                it_expect_str(t, "HEAD Content-Length equals GET's", get_cl, head_cl);
            if (it_raw_expect(t, &c, "GET /healthz after a HEAD", &next, false,
                              it_scaled_ms(t, 3000))) {
                it_expect_int(t, "GET /healthz after HEAD: status", 200, next.status);
                it_expect_str(t, "GET /healthz after HEAD: body", "ok\n", next.body);
            }
        }
        it_raw_resp_fini(&head);
        it_raw_resp_fini(&next);
        it_raw_close(&c);
        it_resp_fini(&get);
    }
}

static void expect_json_error(struct it_ctx *t, const struct it_resp *r, long status,
                              const char *mentions)
{
    it_expect_int(t, r->what, status, r->status);
    expect_content_type(t, r, "application/json");
    it_json_match(t, r->what, r->body, "{\"error\":\"$\"}", NULL, 0);
    if (mentions)
        it_expect_contains(t, r->what, r->body, mentions);
}

static void unknown_path_is_404(struct it_ctx *t, struct it_proc *srv)
{
    static const char *const paths[] = {"/nope", "/hello/", "/helloo", "/HELLO"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct it_resp r = {0};
        if (it_get(t, srv, paths[i], &r) == 0)
            expect_json_error(t, &r, 404, NULL);
        it_resp_fini(&r);
    }
}

static void wrong_method_is_405_with_allow(struct it_ctx *t, struct it_proc *srv)
{
    static const struct {
        const char *method, *path, *allow;
    } rows[] = {
        {"POST", "/hello", "GET, HEAD"},     {"DELETE", "/hello", "GET, HEAD"},
        {"PUT", "/sleep?ms=1", "GET, HEAD"}, {"GET", "/echo", "POST"},
        {"HEAD", "/echo", "POST"},           {"POST", "/metrics", "GET, HEAD"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct it_http req = {.method = rows[i].method, .path = rows[i].path};
        struct it_resp r = {0};
        char allow[128] = "(none)";
        if (it_fetch(t, srv, &req, &r) == 0) {
            if (req.method[0] == 'H')
                it_expect_int(t, r.what, 405, r.status);
            else
                expect_json_error(t, &r, 405, NULL);
            it_header_get(r.head, "Allow", allow, sizeof(allow));
            it_expect_str(t, "Allow header", rows[i].allow, allow);
        }
        it_resp_fini(&r);
    }
}

/* Each bad ms value must be a 400 whose message names the allowed range (its upper bound). */
static void bad_ms_is_400(struct it_ctx *t, struct it_proc *srv)
{
    char many[512] = "/gather?ms=1";
    for (int i = 1; i < 65; i++) /* 65 tasks, one over the default max_gather_tasks */
        strcat(many, ",1");
    const struct {
        const char *path, *mentions;
    } rows[] = {
        {"/sleep", "30000"},
        {"/sleep?ms=1&ms=2", "30000"},
        {"/sleep?ms=", "30000"},
        {"/sleep?ms=-1", "30000"},
        {"/sleep?ms=+1", "30000"},
        {"/sleep?ms=1e3", "30000"},
        {"/sleep?ms=10abc", "30000"},
        {"/sleep?ms=%201", "30000"},
        {"/sleep?ms=1.5", "30000"},
        {"/sleep?ms=30001", "30000"},
        {"/sleep?ms=18446744073709551616", "30000"},
        {"/sleep?ms=99999999999999999999999", "30000"},
        {"/gather", "30000"},
        {"/gather?ms=", "30000"},
        {"/gather?ms=1,,2", "30000"},
        {"/gather?ms=1,", "30000"},
        {"/gather?ms=1,30001", "30000"},
        {"/gather?ms=1,-2", "30000"},
        {many, "64"},
        {"/cpu", "10000"},
        {"/cpu?ms=10001", "10000"},
        {"/cpu?ms=abc", "10000"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct it_resp r = {0};
        if (it_get(t, srv, rows[i].path, &r) == 0)
            expect_json_error(t, &r, 400, rows[i].mentions);
        it_resp_fini(&r);
    }
}

static void edge_ms_values_accepted(struct it_ctx *t, struct it_proc *srv)
{
    static const char *const paths[] = {"/sleep?ms=0", "/cpu?ms=0", "/gather?ms=0", "/gather?ms=5"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct it_resp r = {0};
        if (it_get(t, srv, paths[i], &r) == 0)
            it_expect_int(t, r.what, 200, r.status);
        it_resp_fini(&r);
    }
}

static void startup_line_format(struct it_ctx *t, struct it_proc *srv)
{
    char *err = it_proc_stderr(srv), expected[160];
    snprintf(expected, sizeof(expected),
             "iobound 0.1.0: %s mode listening on 127.0.0.1:%d (pid %d)\n", t->mode, srv->port,
             (int)srv->pid);
    it_expect_contains(t, "start-up line on stderr", err, expected);
    free(err);
}

/* Common Log Format's %h is the client's host alone: GoAccess, AWStats and fail2ban read the
 * first field as an address, so "127.0.0.1:43288" would break them. */
static void access_log_host_has_no_port(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    if (it_get(t, srv, "/hello?clf=1", &r) == 0)
        it_expect_int(t, "GET /hello?clf=1", 200, r.status);
    it_resp_fini(&r);
    it_sleep_ms(50); /* the line is written after the answer */
    char *out = it_proc_stdout(srv);
    const char *line = out ? strstr(out, "\"GET /hello?clf=1 HTTP/1.1\"") : NULL;
    if (it_check(t, line != NULL, "no access log line for GET /hello?clf=1 on stdout")) {
        const char *start = line;
        while (start > out && start[-1] != '\n')
            start--;
        it_check(t, strncmp(start, "127.0.0.1 - - [", 15) == 0,
                 "access log line starts \"%.30s\"; expected \"127.0.0.1 - - [\"", start);
    }
    free(out);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"startup_line_format", startup_line_format},
        {"index_names_the_mode", index_names_the_mode},
        {"plain_bodies", plain_bodies},
        {"sleep_json_shape", sleep_json_shape},
        {"gather_json_shape", gather_json_shape},
        {"cpu_json_shape", cpu_json_shape},
        {"echo_round_trip", echo_round_trip},
        {"metrics_exposition", metrics_exposition},
        {"head_matches_get", head_matches_get},
        {"unknown_path_is_404", unknown_path_is_404},
        {"wrong_method_is_405_with_allow", wrong_method_is_405_with_allow},
        {"bad_ms_is_400", bad_ms_is_400},
        {"edge_ms_values_accepted", edge_ms_values_accepted},
        {"access_log_host_has_no_port", access_log_host_has_no_port},
    };
    return it_main(argc, argv, NULL, cases, IT_LEN(cases), NULL, 0);
}
