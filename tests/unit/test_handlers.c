/* Unit tests for the handlers and the route table, without an engine: each request goes
 * through its route's plan(), fake_run.c's fixed timings and finish(), and the response is
 * compared byte for byte. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "fake_run.h"
#include "handlers/routes.h"
#include "server/base/clock.h"

#define JSON "application/json"
#define TEXT "text/plain; charset=utf-8"

static const struct iob_env default_env = {
    .mode = "evented",
    .max_sleep_ms = 30000,
    .max_cpu_ms = 10000,
    .max_gather_tasks = 64,
    .max_body_bytes = 1048576,
    .max_header_bytes = 8192,
    .header_timeout_ms = 10000,
    .idle_timeout_ms = 5000,
    .max_connections = 10000,
};

/* One request's outcome, as an engine would produce it. */
struct outcome {
    enum iob_step step; /* what plan() returned */
    struct iob_plan plan;
    struct iob_buf body;
    struct iob_response res;
};

/* Runs one request through the route table like the HTTP layer and an engine would:
 * find the route, plan(), fake_run, finish() once for a step other than NONE. */
static void serve_with(struct outcome *o, const struct iob_env *env, const struct iob_request *req,
                       size_t body_cap)
{
    *o = (struct outcome){0};
    iob_buf_init(&o->body, body_cap);
    o->res.body = &o->body;
    const struct iob_route *r = iob_route_find(req->path, req->path_len);
    assert_non_null(r);
    o->step = r->plan(req, env, &o->plan, &o->res);
    assert_int_equal(o->step, o->plan.step);
    if (o->step != IOB_STEP_NONE) {
        assert_non_null(r->finish);
        iob_fake_run(&o->plan);
        r->finish(req, env, &o->plan, &o->res);
    }
}

static void serve(struct outcome *o, const struct iob_env *env, const char *path, const char *query)
{
    struct iob_request req = {
        .method = IOB_METHOD_GET,
        .method_name = "GET",
        .path = path,
        .path_len = strlen(path),
        .query = query,
        .query_len = query ? strlen(query) : 0,
    };
    serve_with(o, env, &req, 1 << 20);
}

static void done(struct outcome *o)
{
    iob_plan_fini(&o->plan);
    iob_buf_fini(&o->body);
}

/* Asserts status, content type and the exact body, printing both bodies when they differ. */
static void expect(const struct outcome *o, int status, const char *content_type, const char *body)
{
    const char *got = o->body.data ? o->body.data : "";
    if (o->res.status != status || strcmp(got, body) != 0)
        print_error("want %d %s\n     got %d %s\n", status, body, o->res.status, got);
    assert_int_equal(o->res.status, status);
    assert_string_equal(got, body);
    assert_string_equal(o->res.content_type, content_type);
    assert_int_equal(o->res.content_type_len, 0);
}

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

static void test_sleep_plans_wait_and_reports_it(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/sleep", "ms=100");
    assert_int_equal(o.step, IOB_STEP_SLEEP);
    assert_int_equal(o.plan.ms, 100);
    expect(&o, 200, JSON, "{\"mode\":\"evented\",\"slept_ms\":100,\"elapsed_ms\":100.42}");
    done(&o);
}

static void test_sleep_rejects_bad_ms_with_allowed_range(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/sleep", "ms=1e3");
    assert_int_equal(o.step, IOB_STEP_NONE);
    expect(&o, 400, JSON, "{\"error\":\"ms must be a decimal integer from 0 to 30000\"}");
    done(&o);

    struct iob_env env = default_env;
    env.max_sleep_ms = 50; /* the limit comes from env, not a constant */
    serve(&o, &env, "/sleep", "ms=51");
    expect(&o, 400, JSON, "{\"error\":\"ms must be a decimal integer from 0 to 50\"}");
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
           "\"elapsed_ms\":300.42}");
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
    expect(&o, 400, JSON, "{\"error\":\"ms: at most 2 tasks allowed\"}");
    done(&o);

    serve(&o, &default_env, "/gather", "ms=1,,2");
    expect(&o, 400, JSON,
           "{\"error\":\"ms: empty task in list; each task must be a decimal integer from 0 "
           "to 30000\"}");
    done(&o);
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
    assert_int_equal(strlen(got), sizeof head - 1 + 16 + 2);
    assert_memory_equal(got, head, sizeof head - 1);
    assert_int_equal(strspn(got + sizeof head - 1, "0123456789abcdef"), 16);
    assert_string_equal(got + sizeof head - 1 + 16, "\"}");
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
    expect(&o, 400, JSON, "{\"error\":\"ms must be a decimal integer from 0 to 10000\"}");
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
    serve_with(o, &default_env, &req, cap);
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
    expect(&o, 500, JSON, "{\"error\":\"response body over its limit of 64 bytes\"}");
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
    for (size_t i = 0; i < iob_routes_count; i++) {
        char row[256];
        const struct iob_route *r = &iob_routes[i];
        if (r->methods & IOB_METHOD_GET)
            snprintf(row, sizeof row, "<a href=\"%s\">%s</a></td><td>%s</td>", r->example,
                     r->example, r->summary);
        else
            snprintf(row, sizeof row, "<code>%s</code></td><td>%s</td>", r->example, r->summary);
        if (!strstr(page, row))
            print_error("index page lacks the row: %s\n", row);
        assert_non_null(strstr(page, row));
    }
    assert_non_null(strstr(page, "<td><code>max_sleep_ms</code></td><td>1234</td>"));
    assert_non_null(strstr(page, "<td><code>max_connections</code></td><td>10000</td>"));
    assert_null(strstr(page, "http://")); /* no external assets */
    assert_null(strstr(page, "https://"));
    done(&o);
}

static void test_routes_labels_follow_the_table(void **state)
{
    (void)state;
    static const char *const want[] = {"index", "hello",   "sleep",   "gather", "cpu",
                                       "echo",  "healthz", "metrics", "other"};
    assert_int_equal(iob_routes_count + 1, sizeof want / sizeof want[0]);
    assert_int_equal(iob_route_other, iob_routes_count);
    for (size_t i = 0; i < iob_routes_count; i++) {
        assert_string_equal(iob_routes[i].label, want[i]);
        assert_string_equal(iob_route_labels[i], iob_routes[i].label);
        bool is_get = iob_routes[i].methods & IOB_METHOD_GET;
        assert_string_equal(iob_routes[i].allow, is_get ? "GET, HEAD" : "POST");
        assert_int_equal(iob_routes[i].methods,
                         is_get ? IOB_METHOD_GET | IOB_METHOD_HEAD : IOB_METHOD_POST);
    }
    assert_string_equal(iob_route_labels[iob_route_other], "other");
}

static void test_routes_find_exact_paths_only(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *label; /* NULL: no route */
    } cases[] = {
        {"/", "index"},    {"/hello", "hello"}, {"/sleep", "sleep"},     {"/gather", "gather"},
        {"/cpu", "cpu"},   {"/echo", "echo"},   {"/healthz", "healthz"}, {"/metrics", "metrics"},
        {"/hello/", NULL}, {"/hellox", NULL},   {"/hell", NULL},         {"", NULL},
        {"//hello", NULL}, {"/HELLO", NULL},
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
    assert_string_equal(body.data, "{\"error\":\"say \\\"why\\\"\\n\"}");
    iob_buf_fini(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_answers_at_once),
        cmocka_unit_test(test_healthz_answers_ok),
        cmocka_unit_test(test_sleep_plans_wait_and_reports_it),
        cmocka_unit_test(test_sleep_rejects_bad_ms_with_allowed_range),
        cmocka_unit_test(test_gather_reports_each_task_relative_to_start),
        cmocka_unit_test(test_gather_limits_come_from_env),
        cmocka_unit_test(test_cpu_work_burns_thread_cpu_and_reports_digest),
        cmocka_unit_test(test_cpu_limit_is_max_cpu_ms),
        cmocka_unit_test(test_echo_returns_body_with_its_content_type),
        cmocka_unit_test(test_echo_over_the_body_cap_is_a_json_500),
        cmocka_unit_test(test_metrics_renders_prometheus_text),
        cmocka_unit_test(test_index_lists_mode_routes_and_limits),
        cmocka_unit_test(test_routes_labels_follow_the_table),
        cmocka_unit_test(test_routes_find_exact_paths_only),
        cmocka_unit_test(test_handler_error_replaces_partial_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
