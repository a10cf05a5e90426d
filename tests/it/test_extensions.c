/* Integration: the SPEC's Extensions against the real binary, one server per run: jitter on
 * /sleep and /gather (inside [ms-J, ms+J], and varying), /drip (exactly N '*' bytes, chunked,
 * arriving in pieces over K*M ms, and a client that gives up early), /status/CODE (the code, its
 * reason phrase, no body or Content-Length on 204 and 304, the wait, the 400s) and their metrics
 * labels. Timing bounds are wide and scale with IOB_TIME_SCALE; this test runs RUN_SERIAL. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/it/client.h"

#define JITTER_RUNS 20

/* The body of one /drip transfer and when its pieces reached curl's write callback. */
struct drip_read {
    char *body;
    size_t len;
    int writes;
    double start_ms, first_ms, last_ms; /* monotonic; first/last: 0 until bytes arrive */
};

static size_t on_drip_bytes(char *data, size_t size, size_t nmemb, void *arg)
{
    struct drip_read *d = arg;
    size_t n = size * nmemb;
    char *grown = realloc(d->body, d->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + d->len, data, n);
    d->body = grown;
    d->len += n;
    d->body[d->len] = '\0';
    d->last_ms = it_now_ms();
    if (d->writes++ == 0)
        d->first_ms = d->last_ms;
    return n;
}

/* GETs path as a stream: the harness's request setup, but the body goes through
 * on_drip_bytes() with arrival times, and the checks are ours (a chunked answer has no
 * Content-Length). timeout_ms 0: the harness's default. */
static void drip_get(struct it_ctx *t, const struct it_proc *srv, const char *path, int timeout_ms,
                     struct it_resp *r, struct drip_read *d)
{
    const struct it_http req = {.path = path, .timeout_ms = timeout_ms};
    CURL *h = it_easy_new();
    *d = (struct drip_read){0};
    it_easy_prepare(t, h, srv, &req, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_drip_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, d);
    d->start_ms = it_now_ms();
    r->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    r->elapsed_ms = it_now_ms() - d->start_ms;
    curl_easy_cleanup(h);
    if (!r->head)
        r->head = calloc(1, 1);
}

static void drip_read_fini(struct drip_read *d)
{
    free(d->body);
    *d = (struct drip_read){0};
}

/* Runs path JITTER_RUNS times; each answer's pattern captures the waits (nums[0..n_waits)) and
 * then elapsed_ms. Checks every wait is in [lo, hi] and not all are equal. */
static void expect_jittered(struct it_ctx *t, const struct it_proc *srv, const char *path,
                            const char *pattern, size_t n_waits, double lo, double hi)
{
    double seen_min = INFINITY, seen_max = -INFINITY;
    for (int run = 0; run < JITTER_RUNS; run++) {
        struct it_resp r = {0};
        double nums[4] = {0};
        if (it_get(t, srv, path, &r) == 0 && it_expect_int(t, r.what, 200, r.status) &&
            it_json_match(t, r.what, r.body, pattern, nums, n_waits + 1)) {
            for (size_t i = 0; i < n_waits; i++) {
                it_expect_range(t, "drawn wait (ms)", lo, hi + 1, nums[i]);
                it_expect_range(t, "elapsed_ms covers the wait", nums[i], INFINITY, nums[n_waits]);
                seen_min = fmin(seen_min, nums[i]);
                seen_max = fmax(seen_max, nums[i]);
            }
        }
        it_resp_fini(&r);
    }
    it_check(t, seen_max > seen_min, "%s: %d runs drew the same wait %.0f every time", path,
             JITTER_RUNS, seen_min);
}

static void sleep_jitter_stays_within_bounds(struct it_ctx *t, struct it_proc *srv)
{
    char pattern[128];
    snprintf(pattern, sizeof(pattern),
             "{\"mode\":\"%s\",\"slept_ms\":#,\"jitter_ms\":40,\"elapsed_ms\":#}", t->mode);
    expect_jittered(t, srv, "/sleep?ms=50&jitter=40", pattern, 1, 10, 90);
}

/* A draw below zero waits nothing: never a huge unsigned wait, never a 400. */
static void sleep_jitter_clamps_at_zero(struct it_ctx *t, struct it_proc *srv)
{
    char pattern[128];
    snprintf(pattern, sizeof(pattern),
             "{\"mode\":\"%s\",\"slept_ms\":#,\"jitter_ms\":20,\"elapsed_ms\":#}", t->mode);
    expect_jittered(t, srv, "/sleep?ms=5&jitter=20", pattern, 1, 0, 25);
}

static void gather_jitter_stays_within_bounds(struct it_ctx *t, struct it_proc *srv)
{
    char pattern[192];
    snprintf(pattern, sizeof(pattern),
             "{\"mode\":\"%s\",\"tasks\":[{\"ms\":#,\"finished_ms\":#},{\"ms\":#,\"finished_ms\":"
             "#}],\"jitter_ms\":30,\"elapsed_ms\":#}",
             t->mode);
    struct it_resp r = {0};
    double nums[5] = {0};
    if (it_get(t, srv, "/gather?ms=40,40&jitter=30", &r) == 0 &&
        it_expect_int(t, r.what, 200, r.status) &&
        it_json_match(t, r.what, r.body, pattern, nums, 5)) {
        it_expect_range(t, "task 1 drawn ms", 10, 71, nums[0]);
        it_expect_range(t, "task 1 finished_ms >= its ms", nums[0], INFINITY, nums[1]);
        it_expect_range(t, "task 2 drawn ms", 10, 71, nums[2]);
        it_expect_range(t, "task 2 finished_ms >= its ms", nums[2], INFINITY, nums[3]);
        it_expect_range(t, "elapsed_ms >= the longest task", fmax(nums[0], nums[2]), INFINITY,
                        nums[4]);
    }
    it_resp_fini(&r);
}

static void jitter_follows_the_rules_of_ms(struct it_ctx *t, struct it_proc *srv)
{
    static const char *const paths[] = {"/sleep?ms=10&jitter=30001", "/sleep?ms=10&jitter=-1",
                                        "/gather?ms=10&jitter=1e3"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct it_resp r = {0};
        if (it_get(t, srv, paths[i], &r) == 0) {
            it_expect_int(t, r.what, 400, r.status);
            it_expect_str(t, r.what,
                          "{\"error\":\"jitter must be a decimal integer from 0 to 30000\"}\n",
                          r.body);
        }
        it_resp_fini(&r);
    }
}

static void drip_streams_its_bytes_in_pieces(struct it_ctx *t, struct it_proc *srv)
{
    /* 11 bytes in 5 pieces (3,2,2,2,2), one every 200 ms: the last is due at 1000 ms. */
    struct it_resp r = {0};
    struct drip_read d;
    char v[128] = "(none)";
    drip_get(t, srv, "/drip?bytes=11&chunks=5&ms=200", 0, &r, &d);
    if (it_check(t, r.rc == CURLE_OK, "%s: curl failed: %s", r.what, curl_easy_strerror(r.rc)) &&
        it_expect_int(t, r.what, 200, r.status)) {
        it_expect_mem(t, "drip body", "***********", 11, d.body, d.len);
        it_header_get(r.head, "Content-Type", v, sizeof(v));
        it_expect_str(t, "drip Content-Type", "application/octet-stream", v);
        it_check(t, it_header_has_token(r.head, "Transfer-Encoding", "chunked"),
                 "%s: expected Transfer-Encoding: chunked", r.what);
        it_expect_int(t, "drip Content-Length headers", 0,
                      it_header_count(r.head, "Content-Length"));
        it_expect_range(t, "drip total time (ms), K*M*0.9 or more", 900, INFINITY, r.elapsed_ms);
        /* Streamed, not buffered: the first piece is due at 200 ms, the last at 1000 ms. */
        it_expect_range(t, "drip first byte (ms after the request)", 150, 800,
                        d.first_ms - d.start_ms);
        it_expect_range(t, "drip last byte - first byte (ms)", 500, INFINITY,
                        d.last_ms - d.first_ms);
        it_expect_range(t, "drip separate arrivals", 3, INFINITY, d.writes);
    }
    drip_read_fini(&d);
    it_resp_fini(&r);
}

static void drip_of_zero_bytes_is_an_empty_stream(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    struct drip_read d;
    drip_get(t, srv, "/drip?bytes=0&chunks=3&ms=20", 0, &r, &d);
    if (it_check(t, r.rc == CURLE_OK, "%s: curl failed: %s", r.what, curl_easy_strerror(r.rc))) {
        it_expect_int(t, r.what, 200, r.status);
        it_expect_int(t, "drip body bytes", 0, (long long)d.len);
        it_expect_range(t, "drip total time (ms)", 54, INFINITY, r.elapsed_ms);
    }
    drip_read_fini(&d);
    it_resp_fini(&r);
}

static void drip_client_timeout_cuts_the_stream(struct it_ctx *t, struct it_proc *srv)
{
    /* 2 s of pieces against a client that waits 500 ms: it sees the first pieces, then gives up;
     * the server finishes that request on its own and keeps serving. */
    struct it_resp r = {0};
    struct drip_read d;
    drip_get(t, srv, "/drip?bytes=10&chunks=10&ms=200", 500, &r, &d);
    it_expect_str(t, "curl result", curl_easy_strerror(CURLE_OPERATION_TIMEDOUT),
                  curl_easy_strerror(r.rc));
    it_expect_int(t, "status before the timeout", 200, r.status);
    it_expect_range(t, "bytes before the timeout", 1, 10, (double)d.len);
    it_expect_range(t, "client gave up at (ms)", 450, it_scaled_ms(t, 1500), r.elapsed_ms);
    drip_read_fini(&d);
    it_resp_fini(&r);

    if (it_get(t, srv, "/hello", &r) == 0)
        it_expect_int(t, "GET /hello after the cut stream", 200, r.status);
    it_resp_fini(&r);
}

static void drip_rejects_each_rule_by_name(struct it_ctx *t, struct it_proc *srv)
{
    static const struct {
        const char *path, *msg;
    } rows[] = {
        {"/drip?bytes=1048577", "bytes must be a decimal integer from 0 to 1048576"},
        {"/drip?chunks=0", "chunks must be a decimal integer from 1 to 1000"},
        {"/drip?chunks=1001", "chunks must be a decimal integer from 1 to 1000"},
        {"/drip?ms=x", "ms must be a decimal integer from 0 to 30000"},
        {"/drip?chunks=1000&ms=31", "chunks*ms must be at most 30000 (max_sleep_ms); got 1000*31"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct it_resp r = {0};
        char body[160];
        snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", rows[i].msg);
        if (it_get(t, srv, rows[i].path, &r) == 0) {
            it_expect_int(t, r.what, 400, r.status);
            it_expect_str(t, r.what, body, r.body);
        }
        it_resp_fini(&r);
    }
}

/* RFC 9110 §8.6: a 204 carries no Content-Length; a 304 none either (the README's choice). */
static void expect_no_framing(struct it_ctx *t, const struct it_resp *r)
{
    it_expect_int(t, "Content-Type headers without a body", 0,
                  it_header_count(r->head, "Content-Type"));
    it_expect_int(t, "Content-Length headers without content", 0,
                  it_header_count(r->head, "Content-Length"));
    it_expect_int(t, "Transfer-Encoding headers without content", 0,
                  it_header_count(r->head, "Transfer-Encoding"));
}

static void status_answers_with_code_and_reason(struct it_ctx *t, struct it_proc *srv)
{
    static const struct {
        const char *path, *status_line, *body;
    } rows[] = {
        {"/status/418", "HTTP/1.1 418 I'm a teapot\r\n", "{\"status\":418}\n"},
        {"/status/200", "HTTP/1.1 200 OK\r\n", "{\"status\":200}\n"},
        {"/status/599", "HTTP/1.1 599 ", "{\"status\":599}\n"},
        {"/status/204", "HTTP/1.1 204 No Content\r\n", ""},
        {"/status/304", "HTTP/1.1 304 Not Modified\r\n", ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct it_resp r = {0};
        char ct[64];
        if (it_get(t, srv, rows[i].path, &r) != 0) {
            it_resp_fini(&r);
            continue;
        }
        size_t n = strlen(rows[i].status_line);
        it_check(t, r.head_len >= n && memcmp(r.head, rows[i].status_line, n) == 0,
                 "%s: status line: expected \"%.*s...\", actual \"%.*s\"", r.what,
                 (int)strcspn(rows[i].status_line, "\r"), rows[i].status_line,
                 (int)strcspn(r.head, "\r"), r.head);
        it_expect_str(t, r.what, rows[i].body, r.body);
        if (*rows[i].body)
            it_check(t, it_header_get(r.head, "Content-Type", ct, sizeof(ct)),
                     "%s: expected a Content-Type", r.what);
        else
            expect_no_framing(t, &r);
        it_resp_fini(&r);
    }
    static const struct {
        const char *path;
        long status;
    } heads[] = {{"/status/418", 418}, {"/status/204", 204}};
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        struct it_http head = {.method = "HEAD", .path = heads[i].path};
        struct it_resp r = {0};
        if (it_fetch(t, srv, &head, &r) == 0) {
            it_expect_int(t, r.what, heads[i].status, r.status);
            it_expect_int(t, "HEAD body bytes", 0, (long long)r.body_len);
            if (heads[i].status == 204)
                expect_no_framing(t, &r);
        }
        it_resp_fini(&r);
    }
}

static void status_waits_when_asked(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    if (it_get(t, srv, "/status/503?ms=100", &r) == 0) {
        it_expect_int(t, r.what, 503, r.status);
        it_expect_str(t, r.what, "{\"status\":503}\n", r.body);
        it_expect_range(t, "status wait (ms)", 100, it_scaled_ms(t, 2000), r.elapsed_ms);
    }
    it_resp_fini(&r);
}

static void status_rejects_codes_outside_200_to_599(struct it_ctx *t, struct it_proc *srv)
{
    static const struct {
        const char *path;
        long status;
    } rows[] = {
        {"/status/600", 400},          {"/status/199", 400},
        {"/status/abc", 400},          {"/status/", 400},
        {"/status/418?ms=30001", 400}, {"/status", 404}, /* the route is the prefix /status/ */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct it_resp r = {0};
        if (it_get(t, srv, rows[i].path, &r) == 0) {
            it_expect_int(t, r.what, rows[i].status, r.status);
            it_expect_contains(t, r.what, r.body, "\"error\":");
        }
        it_resp_fini(&r);
    }
}

static void metrics_count_drip_and_status(struct it_ctx *t, struct it_proc *srv)
{
    static const char *const series[] = {
        "iobound_requests_total{route=\"drip\",code=\"200\"}",
        "iobound_requests_total{route=\"drip\",code=\"400\"}",
        "iobound_requests_total{route=\"status\",code=\"418\"}",
        "iobound_requests_total{route=\"status\",code=\"204\"}",
        "iobound_requests_total{route=\"status\",code=\"400\"}",
    };
    struct it_resp r = {0};
    if (it_get(t, srv, "/metrics", &r) == 0) {
        for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
            double v = 0;
            it_check(t, it_metric_value(r.body, series[i], &v) && v >= 1,
                     "metrics: expected %s >= 1 after the cases above", series[i]);
        }
    }
    it_resp_fini(&r);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"sleep_jitter_stays_within_bounds", sleep_jitter_stays_within_bounds},
        {"sleep_jitter_clamps_at_zero", sleep_jitter_clamps_at_zero},
        {"gather_jitter_stays_within_bounds", gather_jitter_stays_within_bounds},
        {"jitter_follows_the_rules_of_ms", jitter_follows_the_rules_of_ms},
        {"drip_streams_its_bytes_in_pieces", drip_streams_its_bytes_in_pieces},
        {"drip_of_zero_bytes_is_an_empty_stream", drip_of_zero_bytes_is_an_empty_stream},
        {"drip_client_timeout_cuts_the_stream", drip_client_timeout_cuts_the_stream},
        {"drip_rejects_each_rule_by_name", drip_rejects_each_rule_by_name},
        {"status_answers_with_code_and_reason", status_answers_with_code_and_reason},
        {"status_waits_when_asked", status_waits_when_asked},
        {"status_rejects_codes_outside_200_to_599", status_rejects_codes_outside_200_to_599},
        {"metrics_count_drip_and_status", metrics_count_drip_and_status},
    };
    return it_main(argc, argv, NULL, cases, IT_LEN(cases), NULL, 0);
}
