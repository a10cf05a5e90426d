/* Unit tests for the endpoints of issue 15 without an engine: /anything's JSON, /sse's and
 * /fault's plans (what the HTTP layer and the engines are asked to do) and /bytes's stream. The
 * broken bytes themselves are unit.conn's (requests.tsv) and the integration suite's. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "serve.h"

#define OCTETS "application/octet-stream"
#define KINDS  "one of reset, close, hang, short, long, slowhead, garbage"

/* A request to /anything with headers as the HTTP layer stores them ("name:value\n"). */
static void anything(struct outcome *o, enum iob_method method, const char *method_name,
                     const char *target, const char *headers, const char *type, const char *body)
{
    const char *q = strchr(target, '?');
    const char *authority = strstr(target, "://");
    const char *path = authority ? strchr(authority + 3, '/') : target;
    struct iob_request req = {
        .method = method,
        .method_name = method_name,
        .path = path,
        .path_len = q ? (size_t)(q - path) : strlen(path),
        .query = q ? q + 1 : NULL,
        .query_len = q ? strlen(q + 1) : 0,
        .content_type = type,
        .content_type_len = type ? strlen(type) : 0,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .target = target,
        .target_len = strlen(target),
        .headers = headers,
        .headers_len = strlen(headers),
        .peer = "10.0.0.7",
    };
    serve_with(o, &default_env, &req, 1 << 20, SEED);
}

static void test_anything_shows_the_request_in_httpbin_shape(void **state)
{
    (void)state;
    struct outcome o;
    anything(&o, IOB_METHOD_OTHER, "PUT", "/anything/a/b?x=1&y=%20z&x=2",
             "Host:h:8080\nX-Forwarded-For:1.2.3.4\nContent-Type:application/json\n"
             "x-forwarded-for:5.6.7.8\nEmpty:\n",
             "application/json", "{\"k\": [1, true]}");
    assert_int_equal(o.step, IOB_STEP_NONE);
    expect(&o, 200, JSON,
           "{\"args\":{\"x\":[\"1\",\"2\"],\"y\":\" z\"},\"data\":\"{\\\"k\\\": [1, true]}\","
           "\"form\":{},\"headers\":{\"Host\":\"h:8080\",\"X-Forwarded-For\":\"1.2.3.4, "
           "5.6.7.8\",\"Content-Type\":\"application/json\",\"Empty\":\"\"},"
           "\"json\":{\"k\": [1, true]},\"method\":\"PUT\",\"origin\":\"10.0.0.7\","
           "\"path\":\"/anything/a/b\",\"url\":\"http://h:8080/anything/a/b?x=1&y=%20z&x=2\"}\n");
    done(&o);
}

static void test_anything_parses_forms_and_refuses_bad_json(void **state)
{
    (void)state;
    struct outcome o;
    anything(&o, IOB_METHOD_POST, "POST", "http://a.example/anything", "Host:h\n",
             "application/x-www-form-urlencoded; charset=utf-8", "a=1&b=two+words&a=%41");
    expect(
        &o, 200, JSON,
        "{\"args\":{},\"data\":\"a=1&b=two+words&a=%41\",\"form\":{\"a\":[\"1\",\"A\"],"
        "\"b\":\"two words\"},\"headers\":{\"Host\":\"h\"},\"json\":null,\"method\":\"POST\","
        "\"origin\":\"10.0.0.7\",\"path\":\"/anything\",\"url\":\"http://a.example/anything\"}\n");
    done(&o);
    /* JSON under a JSON type only when it parses; the data field always has the text */
    static const char *const bad[] = {"{", "[1,]", "01", "\"a", "{\"a\" 1}", "1 2", "tru", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        anything(&o, IOB_METHOD_POST, "POST", "/anything", "", "application/json", bad[i]);
        assert_non_null(strstr(o.body.data, ",\"json\":null,"));
        done(&o);
    }
}

static void test_anything_waits_when_asked(void **state)
{
    (void)state;
    struct outcome o;
    anything(&o, IOB_METHOD_GET, "GET", "/anything?ms=250", "", NULL, NULL);
    assert_int_equal(o.step, IOB_STEP_SLEEP);
    assert_int_equal(o.plan.ms, 250);
    assert_non_null(strstr(o.body.data, "\"args\":{\"ms\":\"250\"}"));
    done(&o);
    anything(&o, IOB_METHOD_GET, "GET", "/anything?ms=30001", "", NULL, NULL);
    expect(&o, 400, JSON, "{\"error\":\"ms must be a decimal integer from 0 to 30000\"}\n");
    done(&o);
    anything(&o, IOB_METHOD_GET, "GET", "/anything?ms=1&jitter=x", "", NULL, NULL);
    expect(&o, 400, JSON, "{\"error\":\"jitter must be a decimal integer from 0 to 30000\"}\n");
    done(&o);
}

static void test_sse_plans_paced_events(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/sse", "events=3&ms=100&retry=2000");
    assert_int_equal(o.step, IOB_STEP_DRIP);
    assert_int_equal(o.plan.stream, IOB_STREAM_SSE);
    assert_int_equal(o.plan.n_chunks, 3);
    assert_int_equal(o.plan.ms, 100);
    assert_int_equal(o.plan.retry_ms, 2000);
    assert_int_equal(o.plan.fault, IOB_FAULT_NONE);
    assert_int_equal(o.res.status, 200);
    assert_string_equal(o.res.content_type, "text/event-stream");
    /* the schedule every engine follows: event i at (i + 1) * ms */
    assert_int_equal(iob_plan_n_waits(&o.plan), 3);
    assert_int_equal(iob_plan_due_ns(&o.plan, 2) - o.plan.started_ns, 300 * 1000000ULL);
    done(&o);
    serve(&o, &default_env, "/sse", NULL); /* a bare /sse: five events a second apart */
    assert_int_equal(o.plan.n_chunks, 5);
    assert_int_equal(o.plan.ms, 1000);
    assert_int_equal(o.plan.retry_ms, 0);
    done(&o);
}

static void test_bytes_are_the_same_for_the_same_seed(void **state)
{
    (void)state;
    /* splitmix64 from seed 7, little-endian words: fixed on every host */
    static const unsigned char want[] = {0xd7, 0x0d, 0x32, 0x59, 0xe4, 0xe1, 0xcb, 0x63,
                                         0x1c, 0x66, 0x3c, 0xf4, 0xd7, 0x3c, 0x4c, 0x04};
    struct outcome o;
    serve_seeded(&o, &default_env, "/bytes", "n=16&seed=7", 1);
    assert_int_equal(o.res.status, 200);
    assert_string_equal(o.res.content_type, OCTETS);
    assert_int_equal(o.body.len, sizeof want);
    assert_memory_equal(o.body.data, want, sizeof want);
    done(&o);
    serve_seeded(&o, &default_env, "/bytes", "n=5&seed=7", 2); /* a prefix of the same stream */
    assert_int_equal(o.body.len, 5);
    assert_memory_equal(o.body.data, want, 5);
    done(&o);
    /* without a seed, the request's own: two requests differ */
    struct outcome a, b;
    serve_seeded(&a, &default_env, "/bytes", "n=16", 1);
    serve_seeded(&b, &default_env, "/bytes", "n=16", 2);
    assert_int_equal(a.body.len, 16);
    assert_memory_not_equal(a.body.data, b.body.data, 16);
    done(&a);
    done(&b);
    struct iob_env env = default_env;
    env.max_body_bytes = 10;
    serve(&o, &env, "/bytes", "n=11");
    expect(&o, 400, JSON, "{\"error\":\"n must be a decimal integer from 0 to 10\"}\n");
    done(&o);
    serve(&o, &env, "/bytes", "seed=18446744073709551616");
    expect(&o, 400, JSON,
           "{\"error\":\"seed must be a decimal integer from 0 to 18446744073709551615\"}\n");
    done(&o);
}

/* What each kind asks of the HTTP layer and the engine. */
static void test_fault_plans_each_kind(void **state)
{
    (void)state;
    static const struct {
        const char *query;
        enum iob_step step;
        enum iob_fault fault;
        uint64_t bytes, after, ms;
        size_t body_len;
    } cases[] = {
        {"kind=reset", IOB_STEP_NONE, IOB_FAULT_RESET, 100, 0, 0, 100},
        {"kind=reset&after=20&n=7", IOB_STEP_NONE, IOB_FAULT_RESET, 7, 20, 0, 7},
        {"kind=close&after=150", IOB_STEP_NONE, IOB_FAULT_CLOSE, 100, 150, 0, 100},
        {"kind=hang&ms=500", IOB_STEP_SLEEP, IOB_FAULT_HANG, 0, 0, 500, 0},
        {"kind=hang", IOB_STEP_SLEEP, IOB_FAULT_HANG, 0, 0, 30000, 0},
        {"kind=short&n=10", IOB_STEP_NONE, IOB_FAULT_SHORT, 10, 0, 0, 5},
        {"kind=long&n=10", IOB_STEP_NONE, IOB_FAULT_LONG, 10, 0, 0, 20},
        {"kind=slowhead&ms=3", IOB_STEP_DRIP, IOB_FAULT_SLOWHEAD, 0, 0, 3, 54},
        {"kind=garbage&n=9&after=17", IOB_STEP_NONE, IOB_FAULT_GARBAGE, 9, 17, 0, 9 + 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        serve(&o, &default_env, "/fault", cases[i].query);
        if (o.res.status != 200)
            print_error("%s: %d %s\n", cases[i].query, o.res.status, o.body.data);
        assert_int_equal(o.res.status, 200);
        assert_int_equal(o.step, cases[i].step);
        assert_int_equal(o.plan.fault, cases[i].fault);
        assert_int_equal(o.plan.bytes, cases[i].bytes);
        assert_int_equal(o.plan.after_bytes, cases[i].after);
        assert_int_equal(o.plan.ms, cases[i].ms);
        assert_int_equal(o.body.len, cases[i].body_len);
        done(&o);
    }
}

static void test_fault_bodies(void **state)
{
    (void)state;
    struct outcome o;
    serve(&o, &default_env, "/fault", "kind=slowhead&ms=3");
    expect(&o, 200, JSON, "{\"mode\":\"evented\",\"fault\":\"slowhead\",\"ms_per_byte\":3}\n");
    assert_int_equal(o.plan.stream, IOB_STREAM_SLOWHEAD);
    done(&o);
    serve(&o, &default_env, "/fault", "kind=short&n=4");
    expect(&o, 200, OCTETS, "**");
    done(&o);
    /* garbage: the same bytes for the same seed, none of them ASCII, then an empty line */
    struct outcome a, b;
    serve_seeded(&a, &default_env, "/fault", "kind=garbage&n=32&seed=1", 1);
    serve_seeded(&b, &default_env, "/fault", "kind=garbage&n=32&seed=1", 2);
    assert_int_equal(a.body.len, 36);
    assert_memory_equal(a.body.data, b.body.data, 36);
    for (size_t i = 0; i < 32; i++)
        assert_true((unsigned char)a.body.data[i] >= 0x80);
    assert_memory_equal(a.body.data + 32, "\r\n\r\n", 4);
    done(&a);
    done(&b);
}

/* Every bad parameter of /sse and /fault is a 400 that says what is allowed; a fault that is
 * refused goes out as an ordinary answer. */
static void test_each_bad_parameter_is_a_400_naming_the_rule(void **state)
{
    (void)state;
    static const struct {
        const char *path, *query, *error;
    } cases[] = {
        {"/sse", "events=1001", "events must be a decimal integer from 0 to 1000"},
        {"/sse", "events=-1", "events must be a decimal integer from 0 to 1000"},
        {"/sse", "events=2&ms=15001",
         "events*ms must be at most 30000 (max_sleep_ms); got 2*15001"},
        {"/sse", "ms=1e3", "ms must be a decimal integer from 0 to 30000"},
        {"/sse", "retry=0", "retry must be a decimal integer from 1 to 30000"},
        {"/sse", "events=1&events=2",
         "events must be given once: a decimal integer from 0 to 1000"},
        {"/fault", NULL, "kind is required: " KINDS},
        {"/fault", "kind=", "kind must be " KINDS},
        {"/fault", "kind=RESET", "kind must be " KINDS},
        {"/fault", "kind=reset&kind=close", "kind must be given once: " KINDS},
        {"/fault", "kind=reset&after=-1",
         "after must be a decimal integer from 0 to 4294967295 (kind=reset)"},
        {"/fault", "kind=close&n=1048577",
         "n must be a decimal integer from 0 to 1048576 (kind=close)"},
        {"/fault", "kind=hang&ms=30001",
         "ms must be a decimal integer from 0 to 30000 (kind=hang)"},
        {"/fault", "kind=short&n=0", "n must be a decimal integer from 1 to 1048576 (kind=short)"},
        {"/fault", "kind=long&n=524289",
         "n must be a decimal integer from 1 to 524288 (kind=long)"},
        {"/fault", "kind=slowhead&ms=118",
         "ms must be a decimal integer from 0 to 117 (kind=slowhead)"},
        {"/fault", "kind=garbage&n=0",
         "n must be a decimal integer from 1 to 1048576 (kind=garbage)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        char want[256];
        snprintf(want, sizeof want, "{\"error\":\"%s\"}\n", cases[i].error);
        serve(&o, &default_env, cases[i].path, cases[i].query);
        expect(&o, 400, JSON, want);
        assert_int_equal(o.plan.fault, IOB_FAULT_NONE);
        done(&o);
    }
}

static void test_fault_switched_off_is_403(void **state)
{
    (void)state;
    struct iob_env env = default_env;
    env.allow_faults = false;
    struct outcome o;
    serve(&o, &env, "/fault", "kind=reset");
    expect(&o, 403, JSON,
           "{\"error\":\"faults are switched off on this server ([limits] allow_faults = "
           "false)\"}\n");
    assert_int_equal(o.plan.fault, IOB_FAULT_NONE);
    done(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anything_shows_the_request_in_httpbin_shape),
        cmocka_unit_test(test_anything_parses_forms_and_refuses_bad_json),
        cmocka_unit_test(test_anything_waits_when_asked),
        cmocka_unit_test(test_sse_plans_paced_events),
        cmocka_unit_test(test_bytes_are_the_same_for_the_same_seed),
        cmocka_unit_test(test_fault_plans_each_kind),
        cmocka_unit_test(test_fault_bodies),
        cmocka_unit_test(test_each_bad_parameter_is_a_400_naming_the_rule),
        cmocka_unit_test(test_fault_switched_off_is_403),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
