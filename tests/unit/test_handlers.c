/* Unit tests for the handlers and the route table, without an engine: each request goes
 * through its route's plan(), fake_run.c's fixed timings and finish(), and the response is
 * compared byte for byte. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "fake_run.h"
#include "handlers/params.h"
#include "handlers/routes.h"
#include "serve.h"
#include "server/base/clock.h"
#include "server/base/metrics.h"

static void test_hello_answers_at_once(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/hello", NULL);
    assert_int_equal(o.step, IOB_STEP_NONE);
    expect(&o, 200, TEXT, "hello\n");
    done(&o);
}

static void test_healthz_answers_ok(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/healthz", "ignored=1");
    assert_int_equal(o.step, IOB_STEP_NONE);
    expect(&o, 200, TEXT, "ok\n");
    done(&o);
}

/* Readiness fails while the server drains, liveness does not: a balancer stops sending new
 * requests, the orchestrator does not restart the pod. */
static void test_readyz_is_503_only_while_draining(void **state)
{
    (void)state;
    struct outcome o;
    struct iob_request req = {
        .method = IOB_METHOD_GET, .method_name = "GET", .path = "/readyz", .path_len = 7};
    serve_with(&o, &default_env, &req, 1 << 20, SEED);
    expect(&o, 200, TEXT, "ready\n");
    done(&o);
    req.is_draining = true;
    serve_with(&o, &default_env, &req, 1 << 20, SEED);
    expect(&o, 503, JSON, "{\"error\":\"draining: shutting down, send new requests elsewhere\"}\n");
    done(&o);
    req.path = "/healthz";
    req.path_len = 8;
    serve_with(&o, &default_env, &req, 1 << 20, SEED);
    expect(&o, 200, TEXT, "ok\n");
    done(&o);
}

static void test_sleep_plans_wait_and_reports_it(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/sleep", "ms=100");
    assert_int_equal(o.step, IOB_STEP_SLEEP);
    assert_int_equal(o.plan.ms, 100);
    expect(&o, 200, JSON, "{\"mode\":\"evented\",\"slept_ms\":100,\"elapsed_ms\":100.42}\n");
    done(&o);
}

static void test_sleep_rejects_bad_ms_with_allowed_range(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/sleep", "ms=1e3");
    assert_int_equal(o.step, IOB_STEP_NONE);
    expect(&o, 400, JSON, "{\"error\":\"ms must be a decimal integer from 0 to 30000\"}\n");
    done(&o);

    struct iob_env env = default_env;
    env.max_sleep_ms = 50; /* the limit comes from env, not a constant */
    serve(&o, &env, "/sleep", "ms=51");
    expect(&o, 400, JSON, "{\"error\":\"ms must be a decimal integer from 0 to 50\"}\n");
    done(&o);
}

static void test_gather_reports_each_task_relative_to_start(void **state)
{
    (void)state;
    struct iob_env env = default_env;
    env.mode = "threaded"; /* printed as given, never interpreted */
    struct outcome o;
    serve(&o, &env, "/gather", "ms=300,100,200");
    assert_int_equal(o.step, IOB_STEP_GATHER);
    assert_int_equal(o.plan.n_tasks, 3);
    expect(&o, 200, JSON,
           "{\"mode\":\"threaded\",\"tasks\":[{\"ms\":300,\"finished_ms\":300.42},"
           "{\"ms\":100,\"finished_ms\":100.43},{\"ms\":200,\"finished_ms\":200.44}],"
           "\"elapsed_ms\":300.42}\n");
    done(&o);
}

static void test_gather_limits_come_from_env(void **state)
{
    (void)state;
    struct iob_env env = default_env;
    env.max_gather_tasks = 2;
    struct outcome o;
    serve(&o, &env, "/gather", "ms=1,2,3");
    assert_int_equal(o.step, IOB_STEP_NONE);
    expect(&o, 400, JSON, "{\"error\":\"ms: at most 2 tasks allowed\"}\n");
    done(&o);

    serve(&o, &default_env, "/gather", "ms=1,,2");
    expect(&o, 400, JSON,
           "{\"error\":\"ms: empty task in list; each task must be a decimal integer from 0 "
           "to 30000\"}\n");
    done(&o);
}

static void test_sleep_jitter_draws_the_wait_from_the_seed(void **state)
{
    (void)state;
    const struct iob_jitter jitter = {.ms = 40, .is_given = true};
    struct outcome o;
    uint64_t first_ms = 0;
    bool is_varied = false;
    for (uint64_t seed = 0; seed < 16; seed++) {
        serve_seeded(&o, &default_env, "/sleep", "ms=100&jitter=40", seed);
        assert_int_equal(o.step, IOB_STEP_SLEEP);
        uint64_t want_ms = iob_param_jittered_ms(&jitter, seed, 0, 100, 30000);
        assert_int_equal(o.plan.ms, want_ms); /* the engine waits the drawn time */
        assert_in_range(o.plan.ms, 60, 140);
        char body[128];
        snprintf(body, sizeof body,
                 "{\"mode\":\"evented\",\"slept_ms\":%" PRIu64
                 ",\"jitter_ms\":40,\"elapsed_ms\":%" PRIu64 ".42}\n",
                 want_ms, want_ms);
        expect(&o, 200, JSON, body);
        is_varied |= seed > 0 && o.plan.ms != first_ms;
        first_ms = seed == 0 ? o.plan.ms : first_ms;
        done(&o);
    }
    assert_true(is_varied);

    /* Named but zero: the wait is exact, and the answer still says jitter_ms. */
    serve(&o, &default_env, "/sleep", "ms=100&jitter=0");
    expect(&o, 200, JSON,
           "{\"mode\":\"evented\",\"slept_ms\":100,\"jitter_ms\":0,\"elapsed_ms\":100.42}\n");
    done(&o);
}

/* Serves path?query with 64 seeds; every wait lies in [lo, hi] and edge is among them. */
static void expect_waits_clamped(const struct iob_env *env, const char *path, const char *query,
                                 uint64_t lo, uint64_t hi, uint64_t edge)
{
    bool has_edge = false;
    for (uint64_t seed = 0; seed < 64; seed++) {
        struct outcome o;
        serve_seeded(&o, env, path, query, seed);
        assert_int_equal(o.res.status, 200);
        for (size_t i = 0; i < (o.plan.tasks ? o.plan.n_tasks : 1); i++) {
            uint64_t ms = o.plan.tasks ? o.plan.tasks[i].ms : o.plan.ms;
            if (ms < lo || ms > hi)
                print_error("%s?%s seed %" PRIu64 ": wait %" PRIu64 " outside [%" PRIu64
                            ", %" PRIu64 "]\n",
                            path, query, seed, ms, lo, hi);
            assert_in_range(ms, lo, hi);
            has_edge |= ms == edge;
        }
        done(&o);
    }
    assert_true(has_edge);
}

static void test_jitter_clamps_at_zero_and_at_max_sleep_ms(void **state)
{
    (void)state;
    struct iob_env env = default_env;
    env.max_sleep_ms = 50;
    /* Half of the draws of [-40, 60] fall below 0: they wait 0, never wrap to 2^64. */
    expect_waits_clamped(&env, "/sleep", "ms=10&jitter=50", 0, 50, 0);
    expect_waits_clamped(&env, "/sleep", "ms=40&jitter=50", 0, 50, 50);
    expect_waits_clamped(&env, "/gather", "ms=0,50&jitter=50", 0, 50, 0);
    expect_waits_clamped(&env, "/gather", "ms=0,50&jitter=50", 0, 50, 50);
}

static void test_jitter_follows_the_rules_of_ms(void **state)
{
    (void)state;
    static const struct {
        const char *path, *query, *err;
    } cases[] = {
        {"/sleep", "ms=1&jitter=30001", "jitter must be a decimal integer from 0 to 30000"},
        {"/sleep", "ms=1&jitter=-1", "jitter must be a decimal integer from 0 to 30000"},
        {"/sleep", "ms=1&jitter=", "jitter must be a decimal integer from 0 to 30000"},
        {"/sleep", "ms=1&jitter=1&jitter=2",
         "jitter must be given once: a decimal integer from 0 to 30000"},
        {"/sleep", "jitter=5", "ms is required: a decimal integer from 0 to 30000"},
        {"/gather", "ms=1,2&jitter=1e3", "jitter must be a decimal integer from 0 to 30000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        char body[160];
        serve(&o, &default_env, cases[i].path, cases[i].query);
        assert_int_equal(o.step, IOB_STEP_NONE);
        snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", cases[i].err);
        expect(&o, 400, JSON, body);
        done(&o);
    }
}

static void test_gather_jitter_draws_each_task(void **state)
{
    (void)state;
    const struct iob_jitter jitter = {.ms = 50, .is_given = true};
    uint64_t w0 = iob_param_jittered_ms(&jitter, SEED, 0, 300, 30000);
    uint64_t w1 = iob_param_jittered_ms(&jitter, SEED, 1, 300, 30000);
    assert_true(w0 != w1); /* the same ms, two draws: this seed tells them apart */
    struct outcome o;
    serve(&o, &default_env, "/gather", "ms=300,300&jitter=50");
    assert_int_equal(o.step, IOB_STEP_GATHER);
    assert_int_equal(o.plan.tasks[0].ms, w0);
    assert_int_equal(o.plan.tasks[1].ms, w1);
    char body[256];
    snprintf(body, sizeof body,
             "{\"mode\":\"evented\",\"tasks\":[{\"ms\":%" PRIu64 ",\"finished_ms\":%" PRIu64
             ".42},{\"ms\":%" PRIu64 ",\"finished_ms\":%" PRIu64
             ".43}],\"jitter_ms\":50,\"elapsed_ms\":%" PRIu64 ".%d}\n",
             w0, w0, w1, w1, w0 > w1 ? w0 : w1, w0 > w1 ? 42 : 43);
    expect(&o, 200, JSON, body);
    done(&o);
}

static void test_drip_plans_the_stream(void **state)
{
    (void)state;
    static const struct {
        const char *query;
        uint64_t bytes, chunks, ms;
    } cases[] = {
        {"bytes=100&chunks=7&ms=20", 100, 7, 20},
        {NULL, 10, 10, 100},                                    /* the defaults */
        {"bytes=0&chunks=1&ms=0", 0, 1, 0},                     /* the smallest */
        {"bytes=1048576&chunks=1000&ms=30", 1048576, 1000, 30}, /* every limit exactly */
        {"ms=3000", 10, 10, 3000},                              /* 10 * 3000 = max_sleep_ms */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        serve(&o, &default_env, "/drip", cases[i].query);
        assert_int_equal(o.step, IOB_STEP_DRIP);
        assert_int_equal(o.plan.bytes, cases[i].bytes);
        assert_int_equal(o.plan.n_chunks, cases[i].chunks);
        assert_int_equal(o.plan.ms, cases[i].ms);
        /* The head the HTTP layer sends first; the body is streamed, never buffered here. */
        expect(&o, 200, "application/octet-stream", "");
        assert_int_equal(o.body.len, 0);
        assert_int_equal(iob_plan_elapsed_ns(&o.plan),
                         cases[i].chunks * cases[i].ms * IOB_NS_PER_MS + IOB_FAKE_LATE_NS);
        done(&o);
    }
}

static void test_drip_rejects_each_rule_by_name(void **state)
{
    (void)state;
    static const struct {
        const char *query, *err;
    } cases[] = {
        {"bytes=1048577", "bytes must be a decimal integer from 0 to 1048576"},
        {"bytes=-1", "bytes must be a decimal integer from 0 to 1048576"},
        {"bytes=1&bytes=1", "bytes must be given once: a decimal integer from 0 to 1048576"},
        {"chunks=0", "chunks must be a decimal integer from 1 to 1000"},
        {"chunks=1001", "chunks must be a decimal integer from 1 to 1000"},
        {"chunks=", "chunks must be a decimal integer from 1 to 1000"},
        {"ms=30001", "ms must be a decimal integer from 0 to 30000"},
        {"ms=abc", "ms must be a decimal integer from 0 to 30000"},
        {"chunks=1000&ms=31", "chunks*ms must be at most 30000 (max_sleep_ms); got 1000*31"},
        {"ms=3001", "chunks*ms must be at most 30000 (max_sleep_ms); got 10*3001"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        char body[160];
        serve(&o, &default_env, "/drip", cases[i].query);
        assert_int_equal(o.step, IOB_STEP_NONE);
        snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", cases[i].err);
        expect(&o, 400, JSON, body);
        done(&o);
    }
    /* The limits come from env, and the defaults shrink to fit them. */
    struct iob_env env = default_env;
    env.max_body_bytes = 5;
    env.max_sleep_ms = 500;
    struct outcome o;
    serve(&o, &env, "/drip", "chunks=4");
    assert_int_equal(o.step, IOB_STEP_DRIP);
    assert_int_equal(o.plan.bytes, 5);
    assert_int_equal(o.plan.ms, 100);
    done(&o);
    serve(&o, &env, "/drip", "chunks=8");
    assert_int_equal(o.plan.ms, 62); /* 8 * 62 <= 500 */
    done(&o);
    serve(&o, &env, "/drip", "bytes=6");
    expect(&o, 400, JSON, "{\"error\":\"bytes must be a decimal integer from 0 to 5\"}\n");
    done(&o);
}

/* Asserts an answer without content: 204 and 304. */
static void expect_no_body(const struct outcome *o, int status)
{
    assert_int_equal(o->res.status, status);
    assert_null(o->res.content_type);
    assert_int_equal(o->body.len, 0);
}

static void test_status_answers_with_the_code(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int status;
    } cases[] = {
        {"/status/418", 418}, {"/status/200", 200},  {"/status/599", 599},
        {"/status/503", 503}, {"/status/0201", 201}, /* leading zeros, as for ms */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        char body[32];
        serve(&o, &default_env, cases[i].path, "ignored=1");
        assert_int_equal(o.step, IOB_STEP_NONE);
        snprintf(body, sizeof body, "{\"status\":%d}\n", cases[i].status);
        expect(&o, cases[i].status, JSON, body);
        done(&o);
    }
    struct outcome o;
    serve(&o, &default_env, "/status/204", NULL);
    assert_int_equal(o.step, IOB_STEP_NONE);
    expect_no_body(&o, 204);
    done(&o);
    serve(&o, &default_env, "/status/304", NULL);
    expect_no_body(&o, 304);
    done(&o);
}

static void test_status_waits_when_asked(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/status/503", "ms=100");
    assert_int_equal(o.step, IOB_STEP_SLEEP);
    assert_int_equal(o.plan.ms, 100);
    expect(&o, 503, JSON, "{\"status\":503}\n");
    done(&o);

    serve(&o, &default_env, "/status/204", "ms=0");
    assert_int_equal(o.step, IOB_STEP_SLEEP);
    expect_no_body(&o, 204);
    done(&o);

    serve(&o, &default_env, "/status/418", "ms=30001");
    assert_int_equal(o.step, IOB_STEP_NONE);
    expect(&o, 400, JSON, "{\"error\":\"ms must be a decimal integer from 0 to 30000\"}\n");
    done(&o);
}

static void test_status_rejects_codes_outside_200_to_599(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "/status/",        "/status/199",  "/status/600",  "/status/100",
        "/status/abc",     "/status/418/", "/status/-418", "/status/+418",
        "/status/4%31%38", "/status/418 ", "/status/1e2",  "/status/99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct outcome o;
        serve(&o, &default_env, paths[i], NULL);
        assert_int_equal(o.step, IOB_STEP_NONE);
        expect(&o, 400, JSON,
               "{\"error\":\"CODE in /status/CODE must be a decimal integer from 200 to 599\"}\n");
        done(&o);
    }
}

static void test_cpu_work_burns_thread_cpu_and_reports_digest(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/cpu", "ms=0");
    assert_int_equal(o.step, IOB_STEP_CPU);
    assert_non_null(o.plan.work);
    /* The digest's value depends on how far the loop got; its shape does not. */
    static const char head[] =
        "{\"mode\":\"evented\",\"cpu_ms\":0,\"elapsed_ms\":0.42,\"digest\":\"";
    const char *got = o.body.data;
    assert_int_equal(o.res.status, 200);
    assert_string_equal(o.res.content_type, JSON);
    assert_int_equal(strlen(got), sizeof head - 1 + 16 + 3);
    assert_memory_equal(got, head, sizeof head - 1);
    assert_int_equal(strspn(got + sizeof head - 1, "0123456789abcdef"), 16);
    assert_string_equal(got + sizeof head - 1 + 16, "\"}\n");
    done(&o);

    /* The work function itself: 20 ms of this thread's CPU clock, not the fake's timings. */
    struct iob_plan plan = {.step = IOB_STEP_CPU, .ms = 20};
    struct iob_response res = {0};
    struct iob_buf body;
    iob_buf_init(&body, 1024);
    res.body = &body;
    struct iob_request req = {.query = "ms=20", .query_len = 5};
    assert_int_equal(iob_route_find("/cpu", 4)->plan(&req, &default_env, &plan, &res),
                     IOB_STEP_CPU);
    uint64_t before_ns = iob_clock_thread_cpu_ns();
    plan.work(&plan);
    uint64_t used_ns = iob_clock_thread_cpu_ns() - before_ns;
    assert_true(used_ns >= 20 * IOB_NS_PER_MS);
    uint64_t digest;
    memcpy(&digest, plan.scratch, sizeof digest);
    assert_true(digest != 0xcbf29ce484222325ULL); /* the loop ran: not FNV's starting value */
    iob_plan_fini(&plan);
    iob_buf_fini(&body);
}

static void test_cpu_limit_is_max_cpu_ms(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/cpu", "ms=10001");
    expect(&o, 400, JSON, "{\"error\":\"ms must be a decimal integer from 0 to 10000\"}\n");
    done(&o);
}

static void echo(struct outcome *o, const char *body, const char *content_type, size_t cap)
{
    struct iob_request req = {
        .method = IOB_METHOD_POST,
        .method_name = "POST",
        .path = "/echo",
        .path_len = 5,
        .content_type = content_type,
        .content_type_len = content_type ? strlen(content_type) : 0,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    serve_with(o, &default_env, &req, cap, SEED);
    assert_int_equal(o->step, IOB_STEP_NONE);
}

static void test_echo_returns_body_with_its_content_type(void **state)
{
    (void)state;
    struct outcome o;
    const char *type = "text/csv; charset=utf-8";
    echo(&o, "a,b\n1,2\n", type, 1024);
    assert_int_equal(o.res.status, 200);
    assert_string_equal(o.body.data, "a,b\n1,2\n");
    assert_ptr_equal(o.res.content_type, type); /* a view into the request, with its length */
    assert_int_equal(o.res.content_type_len, strlen(type));
    done(&o);

    echo(&o, NULL, NULL, 1024);
    expect(&o, 200, "application/octet-stream", "");
    done(&o);
}

static void test_echo_over_the_body_cap_is_a_json_500(void **state)
{
    (void)state;
    struct outcome o;
    char big[101];
    memset(big, 'x', 100);
    big[100] = '\0';
    echo(&o, big, "text/plain", 64);
    expect(&o, 500, JSON, "{\"error\":\"response body over its limit of 64 bytes\"}\n");
    done(&o);
}

static void test_metrics_renders_prometheus_text(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/metrics", NULL);
    assert_int_equal(o.step, IOB_STEP_NONE);
    assert_int_equal(o.res.status, 200);
    assert_string_equal(o.res.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(o.body.data);
    assert_memory_equal(o.body.data, "# HELP", 6);
    done(&o);
}

/* s as the index page must show it: the HTML-special bytes as numeric references. */
static const char *html(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *s && n + 6 < outlen; s++) {
        if (strchr("<>&\"'", *s))
            n += (size_t)snprintf(out + n, outlen - n, "&#%d;", *s);
        else
            out[n++] = *s;
    }
    out[n] = '\0';
    return out;
}

static void test_index_lists_mode_routes_and_limits(void **state)
{
    (void)state;
    struct iob_env env = default_env;
    env.mode = "a<b";
    env.max_sleep_ms = 1234;
    struct outcome o;
    serve(&o, &env, "/", NULL);
    assert_int_equal(o.step, IOB_STEP_NONE);
    assert_int_equal(o.res.status, 200);
    assert_string_equal(o.res.content_type, "text/html; charset=utf-8");
    const char *page = o.body.data;
    assert_non_null(strstr(page, "<strong>a&#60;b</strong> mode"));
    assert_non_null(strstr(page, "<section id=\"try\" data-mode=\"a&#60;b\">"));
    /* The panel's sentence and the Models table come from the models' traits. */
    assert_non_null(strstr(page, "This server is <strong>evented</strong>: one loop &#60;one "
                                 "thread&#62;. A <code>/sleep</code> holds no thread"));
    assert_non_null(strstr(page, "CPU requests on it run one after another"));
    assert_non_null(strstr(page, "<tr class=\"this\"><td>evented</td><td>one loop &#60;one "
                                 "thread&#62;</td><td>no</td><td>yes</td><td>1</td><td>1</td>"
                                 "<td>0</td><td>CPU work</td></tr>"));
    assert_non_null(strstr(page, "<tr><td>threaded</td><td>a thread per connection</td><td>yes"
                                 "</td><td>no</td><td>one per connection</td><td>1</td><td>1</td>"
                                 "<td>memory</td></tr>"));
    for (size_t i = 0; i < iob_routes_count; i++) {
        char row[768], example[128], summary[256];
        const struct iob_route *r = &iob_routes[i];
        html(r->example, example, sizeof example);
        html(r->summary, summary, sizeof summary);
        if (r->methods & IOB_METHOD_GET)
            snprintf(row, sizeof row, "<a href=\"%s\">%s</a></td><td>%s</td>", example, example,
                     summary);
        else
            snprintf(row, sizeof row, "<code>%s</code></td><td>%s</td>", example, summary);
        if (!strstr(page, row))
            print_error("index page lacks the row: %s\n", row);
        assert_non_null(strstr(page, row));
    }
    assert_non_null(strstr(page, "<td><code>max_sleep_ms</code></td><td>1234</td>"));
    assert_non_null(strstr(page, "<td><code>max_connections</code></td><td>10000</td>"));
    assert_non_null(strstr(page, "<td><code>allow_faults</code></td><td>true</td>"));
    assert_null(strstr(page, "http://")); /* no external assets */
    assert_null(strstr(page, "https://"));
    done(&o);
}

static void test_routes_labels_follow_the_table(void **state)
{
    (void)state;
    static const char *const want[] = {
        "index",   "hello", "sleep",  "gather",   "cpu", "echo",  "healthz", "readyz",
        "metrics", "drip",  "status", "anything", "sse", "bytes", "fault",   "other"};
    const char *labels[IOB_METRICS_ROUTES_MAX];
    assert_int_equal(iob_route_labels(labels), sizeof want / sizeof want[0]);
    assert_int_equal(iob_route_other, iob_routes_count);
    for (size_t i = 0; i < iob_routes_count; i++) {
        assert_string_equal(iob_routes[i].label, want[i]);
        assert_string_equal(labels[i], iob_routes[i].label);
        bool is_any = iob_routes[i].methods == IOB_METHOD_ANY;
        bool is_get = iob_routes[i].methods & IOB_METHOD_GET;
        assert_string_equal(iob_routes[i].allow, is_any   ? "any but CONNECT"
                                                 : is_get ? "GET, HEAD"
                                                          : "POST");
        if (!is_any)
            assert_int_equal(iob_routes[i].methods,
                             is_get ? IOB_METHOD_GET | IOB_METHOD_HEAD : IOB_METHOD_POST);
    }
    assert_string_equal(labels[iob_route_other], "other");
}

static void test_routes_find_exact_paths_and_prefix_rows(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *label; /* NULL: no route */
    } cases[] = {
        {"/", "index"},
        {"/hello", "hello"},
        {"/sleep", "sleep"},
        {"/gather", "gather"},
        {"/cpu", "cpu"},
        {"/echo", "echo"},
        {"/healthz", "healthz"},
        {"/readyz", "readyz"},
        {"/metrics", "metrics"},
        {"/hello/", NULL},
        {"/hellox", NULL},
        {"/hell", NULL},
        {"", NULL},
        {"//hello", NULL},
        {"/HELLO", NULL},
        {"/drip", "drip"},
        {"/drip/", NULL},
        {"/dripx", NULL},
        /* A row ending in '/' is a prefix: its plan() reads the rest. */
        {"/status/418", "status"},
        {"/status/", "status"},
        {"/status/a/b", "status"},
        {"/status", NULL},
        {"/statu", NULL},
        {"/statusx/1", NULL},
        /* A row ending in "/..." takes its path and every path below it. */
        {"/anything", "anything"},
        {"/anything/", "anything"},
        {"/anything/a/b", "anything"},
        {"/anythingelse", NULL},
        {"/anything...", NULL},
        {"/anythin", NULL},
        {"/sse", "sse"},
        {"/bytes", "bytes"},
        {"/fault", "fault"},
        {"/fault/", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct iob_route *r = iob_route_find(cases[i].path, strlen(cases[i].path));
        if (!cases[i].label) {
            assert_null(r);
            continue;
        }
        assert_non_null(r);
        assert_string_equal(r->label, cases[i].label);
    }
    /* The path is a view: bytes past len are not part of it. */
    const struct iob_route *r = iob_route_find("/hello?x", 6);
    assert_non_null(r);
    assert_string_equal(r->label, "hello");
}

static void test_handler_error_replaces_partial_body(void **state)
{
    (void)state;
    struct iob_buf body;
    iob_buf_init(&body, 256);
    struct iob_response res = {.body = &body};
    assert_int_equal(iob_buf_puts(&body, "{\"mode\":"), 0);
    assert_int_equal(iob_handler_error(&res, 503, "say \"%s\"\n", "why"), IOB_STEP_NONE);
    assert_int_equal(res.status, 503);
    assert_string_equal(res.content_type, JSON);
    assert_string_equal(body.data, "{\"error\":\"say \\\"why\\\"\\n\"}\n");
    iob_buf_fini(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_answers_at_once),
        cmocka_unit_test(test_healthz_answers_ok),
        cmocka_unit_test(test_readyz_is_503_only_while_draining),
        cmocka_unit_test(test_sleep_plans_wait_and_reports_it),
        cmocka_unit_test(test_sleep_rejects_bad_ms_with_allowed_range),
        cmocka_unit_test(test_gather_reports_each_task_relative_to_start),
        cmocka_unit_test(test_gather_limits_come_from_env),
        cmocka_unit_test(test_sleep_jitter_draws_the_wait_from_the_seed),
        cmocka_unit_test(test_jitter_clamps_at_zero_and_at_max_sleep_ms),
        cmocka_unit_test(test_jitter_follows_the_rules_of_ms),
        cmocka_unit_test(test_gather_jitter_draws_each_task),
        cmocka_unit_test(test_drip_plans_the_stream),
        cmocka_unit_test(test_drip_rejects_each_rule_by_name),
        cmocka_unit_test(test_status_answers_with_the_code),
        cmocka_unit_test(test_status_waits_when_asked),
        cmocka_unit_test(test_status_rejects_codes_outside_200_to_599),
        cmocka_unit_test(test_cpu_work_burns_thread_cpu_and_reports_digest),
        cmocka_unit_test(test_cpu_limit_is_max_cpu_ms),
        cmocka_unit_test(test_echo_returns_body_with_its_content_type),
        cmocka_unit_test(test_echo_over_the_body_cap_is_a_json_500),
        cmocka_unit_test(test_metrics_renders_prometheus_text),
        cmocka_unit_test(test_index_lists_mode_routes_and_limits),
        cmocka_unit_test(test_routes_labels_follow_the_table),
        cmocka_unit_test(test_routes_find_exact_paths_and_prefix_rows),
        cmocka_unit_test(test_handler_error_replaces_partial_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
