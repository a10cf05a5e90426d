/* Integration: issue 15's endpoints against the real binary, as a real client sees them. Each
 * /fault kind gives libcurl its own error, the same number curl(1) exits with (56 recv failure,
 * 18 partial file, 28 timeout, 8 weird server reply, 52 empty reply, 1 not HTTP); a raw socket
 * tells an RST from a FIN; faults are counted by kind and leave the server serving; the config
 * key switches them off. /sse paces its events, /bytes is the same for the same seed and
 * /anything shows what arrived. Timing bounds are lower bounds, or wide and scaled. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/it/client.h"
#include "tests/it/raw.h"

/* The status line of a 200: garbage after it reads as a header without a colon. */
#define STATUS_LINE_BYTES 17

static const char *const kinds[] = {"reset", "close",    "hang",   "short",
                                    "long",  "slowhead", "garbage"};

/* GETs path expecting the transfer to end with rc; timeout_ms 0: the harness's default. */
static void fetch_fault(struct it_ctx *t, const struct it_proc *srv, const char *path,
                        int timeout_ms, CURLcode rc, struct it_resp *r)
{
    struct it_http req = {.path = path, .timeout_ms = timeout_ms, .may_fail = true};
    it_fetch(t, srv, &req, r);
    char what[300];
    snprintf(what, sizeof what, "%s: curl's code (%s)", r->what, curl_easy_strerror(r->rc));
    it_expect_int(t, what, rc, r->rc);
}

static void reset_is_curl_56(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    fetch_fault(t, srv, "/fault?kind=reset", 0, CURLE_RECV_ERROR, &r);
    it_expect_int(t, "bytes before the RST (after=0)", 0, (long long)(r.head_len + r.body_len));
    /* In the body: the head arrives, then the reset, never the rest. */
    fetch_fault(t, srv, "/fault?kind=reset&n=1000&after=200", 0, CURLE_RECV_ERROR, &r);
    it_expect_range(t, "bytes before the RST (after=200)", 1, 201,
                    (double)(r.head_len + r.body_len));
    it_resp_fini(&r);
}

static void close_is_curl_52_or_18(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    fetch_fault(t, srv, "/fault?kind=close", 0, CURLE_GOT_NOTHING, &r);
    fetch_fault(t, srv, "/fault?kind=close&n=1000&after=200", 0, CURLE_PARTIAL_FILE, &r);
    it_expect_int(t, "bytes before the FIN", 200, (long long)(r.head_len + r.body_len));
    /* After the whole answer, a FIN is no fault to the client. */
    fetch_fault(t, srv, "/fault?kind=close&n=10&after=100000", 0, CURLE_OK, &r);
    it_expect_int(t, "close past the end: the whole body", 10, (long long)r.body_len);
    it_resp_fini(&r);
}

static void hang_is_curl_28_or_52(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    fetch_fault(t, srv, "/fault?kind=hang&ms=1500", 300, CURLE_OPERATION_TIMEDOUT, &r);
    it_expect_int(t, "bytes of a hang", 0, (long long)(r.head_len + r.body_len));
    /* A client that waits gets the close at ms, and nothing before it. */
    double start = it_now_ms();
    fetch_fault(t, srv, "/fault?kind=hang&ms=300", 0, CURLE_GOT_NOTHING, &r);
    it_expect_range(t, "hang ms=300 ends after (ms)", 290, it_scaled_ms(t, 3000),
                    it_now_ms() - start);
    it_resp_fini(&r);
}

static void short_and_long_lie_about_the_length(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    fetch_fault(t, srv, "/fault?kind=short&n=100", 0, CURLE_PARTIAL_FILE, &r);
    it_expect_int(t, "short: body bytes", 50, (long long)r.body_len);
    /* curl takes the promised bytes, drops the rest with the connection: no error. */
    fetch_fault(t, srv, "/fault?kind=long&n=100", 0, CURLE_OK, &r);
    it_expect_int(t, "long: body bytes kept", 100, (long long)r.body_len);
    it_resp_fini(&r);
}

static void slowhead_crawls_then_answers(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    fetch_fault(t, srv, "/fault?kind=slowhead&ms=5", 0, CURLE_OK, &r);
    it_expect_int(t, "slowhead: status", 200, r.status);
    /* one byte every 5 ms: the head (at least 100 bytes) takes at least 0.5 s */
    it_expect_range(t, "slowhead ms=5: elapsed (ms)", 5.0 * (double)r.head_len * 0.9,
                    it_scaled_ms(t, 5000), r.elapsed_ms);
    it_expect_contains(t, "slowhead: body", r.body, "\"fault\":\"slowhead\"");
    fetch_fault(t, srv, "/fault?kind=slowhead&ms=20", 400, CURLE_OPERATION_TIMEDOUT, &r);
    it_resp_fini(&r);
}

static void garbage_is_not_http(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    fetch_fault(t, srv, "/fault?kind=garbage", 0, CURLE_UNSUPPORTED_PROTOCOL, &r);
    char path[64];
    snprintf(path, sizeof path, "/fault?kind=garbage&after=%d", STATUS_LINE_BYTES);
    fetch_fault(t, srv, path, 0, CURLE_WEIRD_SERVER_REPLY, &r);
    it_resp_fini(&r);
}

/* Reads until the server ends the connection; returns 0 for a FIN, -ECONNRESET for an RST. */
static int read_to_end(struct it_raw *c, size_t *got, int timeout_ms)
{
    char buf[4096];
    *got = 0;
    double deadline = it_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - it_now_ms())) <= 0)
            return -ETIMEDOUT;
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0)
            return 0;
        if (n < 0)
            return -errno;
        *got += (size_t)n;
    }
}

static void reset_is_an_rst_and_close_a_fin(struct it_ctx *t, struct it_proc *srv)
{
    static const struct {
        const char *kind;
        int end; /* what recv() reports at the end */
        size_t bytes;
    } cases[] = {
        {"reset&after=0", -ECONNRESET, 0}, {"reset&after=30", -ECONNRESET, 30},
        {"close&after=0", 0, 0},           {"close&after=30", 0, 30},
        {"garbage&n=10", 0, 14},           {"hang&ms=0", 0, 0},
    };
    for (size_t i = 0; i < IT_LEN(cases); i++) {
        struct it_raw c = {0};
        char req[128];
        snprintf(req, sizeof req, "GET /fault?kind=%s HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].kind);
        if (!it_check(t, it_raw_open(&c, srv->port) == 0, "connect"))
            return;
        it_raw_send_str(&c, req);
        size_t got;
        int end = read_to_end(&c, &got, it_scaled_ms(t, 3000));
        char what[160];
        snprintf(what, sizeof what, "kind=%s: how the connection ends (0 FIN, %d RST)",
                 cases[i].kind, -ECONNRESET);
        it_expect_int(t, what, cases[i].end, end);
        snprintf(what, sizeof what, "kind=%s: bytes before the end", cases[i].kind);
        it_expect_int(t, what, (long long)cases[i].bytes, (long long)got);
        it_raw_close(&c);
    }
}

static double fault_count(struct it_ctx *t, const struct it_proc *srv, const char *kind)
{
    struct it_resp r = {0};
    char series[96];
    double v = -1;
    snprintf(series, sizeof series, "iobound_faults_total{kind=\"%s\"}", kind);
    if (it_get(t, srv, "/metrics", &r) == 0)
        it_check(t, it_metric_value(r.body, series, &v), "/metrics lacks %s", series);
    it_resp_fini(&r);
    return v;
}

static void faults_are_counted_by_kind_and_leave_the_server_serving(struct it_ctx *t,
                                                                    struct it_proc *srv)
{
    double before[IT_LEN(kinds)];
    for (size_t i = 0; i < IT_LEN(kinds); i++)
        before[i] = fault_count(t, srv, kinds[i]);
    struct it_resp r = {0};
    for (size_t i = 0; i < IT_LEN(kinds); i++) {
        char path[64];
        snprintf(path, sizeof path, "/fault?kind=%s&ms=0", kinds[i]);
        struct it_http req = {.path = path, .may_fail = true};
        it_fetch(t, srv, &req, &r);
    }
    for (size_t i = 0; i < IT_LEN(kinds); i++) {
        char what[64];
        snprintf(what, sizeof what, "iobound_faults_total{kind=\"%s\"} grew by", kinds[i]);
        it_expect_int(t, what, 1, (long long)(fault_count(t, srv, kinds[i]) - before[i]));
    }
    /* a bad kind is a 400, counted as a request but not as a fault */
    if (it_get(t, srv, "/fault?kind=teapot", &r) == 0) {
        it_expect_int(t, r.what, 400, r.status);
        it_expect_contains(t, r.what, r.body,
                           "kind must be one of reset, close, hang, short, long, slowhead, "
                           "garbage");
    }
    if (it_get(t, srv, "/hello", &r) == 0)
        it_expect_int(t, "GET /hello after the faults", 200, r.status);
    it_expect_running(t, srv, "every fault kind");
    it_resp_fini(&r);
}

static void fault_rejects_bad_parameters_by_name(struct it_ctx *t, struct it_proc *srv)
{
    static const struct {
        const char *path, *error;
    } cases[] = {
        {"/fault", "kind is required"},
        {"/fault?kind=hang&ms=30001", "ms must be a decimal integer from 0 to 30000 (kind=hang)"},
        {"/fault?kind=reset&after=1e3", "after must be a decimal integer"},
        {"/fault?kind=slowhead&ms=1000", "ms must be a decimal integer from 0 to 117"},
        {"/sse?events=10&ms=3001", "events*ms must be at most 30000 (max_sleep_ms)"},
        {"/bytes?n=1048577", "n must be a decimal integer from 0 to 1048576"},
    };
    for (size_t i = 0; i < IT_LEN(cases); i++) {
        struct it_resp r = {0};
        if (it_get(t, srv, cases[i].path, &r) == 0) {
            it_expect_int(t, r.what, 400, r.status);
            it_expect_contains(t, r.what, r.body, cases[i].error);
        }
        it_resp_fini(&r);
    }
}

/* One /sse transfer's body and when its bytes reached curl. */
struct stream_read {
    char body[4096];
    size_t len;
    double first_ms, last_ms;
};

static size_t on_stream_bytes(char *data, size_t size, size_t nmemb, void *arg)
{
    struct stream_read *s = arg;
    size_t n = size * nmemb;
    if (n > sizeof s->body - 1 - s->len)
        return 0;
    memcpy(s->body + s->len, data, n);
    s->len += n;
    s->body[s->len] = '\0';
    s->last_ms = it_now_ms();
    if (!s->first_ms)
        s->first_ms = s->last_ms;
    return n;
}

/* Performs req with the body through on_stream_bytes() and none of the harness's checks (a
 * stream has no Content-Length). Returns curl's code. */
static CURLcode stream_get(struct it_ctx *t, const struct it_proc *srv, const struct it_http *req,
                           struct it_resp *r, struct stream_read *s)
{
    CURL *h = it_easy_new();
    *s = (struct stream_read){0};
    it_easy_prepare(t, h, srv, req, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    char type[64] = "";
    it_header_get(r->head, "Content-Type", type, sizeof type);
    it_expect_str(t, "/sse: Content-Type", "text/event-stream", type);
    it_expect_int(t, "/sse: Content-Length headers", 0, it_header_count(r->head, "Content-Length"));
    return rc;
}

static void sse_paces_its_events(struct it_ctx *t, struct it_proc *srv)
{
    struct it_http req = {.path = "/sse?events=3&ms=200&retry=1500"};
    struct it_resp r = {0};
    struct stream_read s;
    double start = it_now_ms();
    it_expect_int(t, "GET /sse: curl's code", CURLE_OK, stream_get(t, srv, &req, &r, &s));
    char want[512];
    snprintf(want, sizeof want,
             "retry: 1500\nid: 1\ndata: {\"id\":1,\"of\":3,\"mode\":\"%s\"}\n\n"
             "id: 2\ndata: {\"id\":2,\"of\":3,\"mode\":\"%s\"}\n\n"
             "id: 3\ndata: {\"id\":3,\"of\":3,\"mode\":\"%s\"}\n\n",
             t->mode, t->mode, t->mode);
    it_expect_str(t, "GET /sse: events", want, s.body);
    /* one event every 200 ms: not all in one lump at the end */
    it_expect_range(t, "first event after (ms)", 190, it_scaled_ms(t, 2000), s.first_ms - start);
    it_expect_range(t, "last event after the first (ms)", 350, it_scaled_ms(t, 4000),
                    s.last_ms - s.first_ms);
    /* HEAD: the same head as GET, no events */
    struct it_http head = {.method = "HEAD", .path = "/sse?events=2&ms=100"};
    it_expect_int(t, "HEAD /sse: curl's code", CURLE_OK, stream_get(t, srv, &head, &r, &s));
    it_expect_int(t, "HEAD /sse: body bytes", 0, (long long)s.len);
    it_resp_fini(&r);
}

static void bytes_are_the_same_for_the_same_seed(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp a = {0}, b = {0}, c = {0};
    if (it_get(t, srv, "/bytes?n=1000&seed=42", &a) == 0 &&
        it_get(t, srv, "/bytes?n=1000&seed=42", &b) == 0 &&
        it_get(t, srv, "/bytes?n=1000&seed=43", &c) == 0) {
        it_expect_int(t, "GET /bytes?n=1000: body bytes", 1000, (long long)a.body_len);
        it_expect_mem(t, "the same seed, the same bytes", a.body, a.body_len, b.body, b.body_len);
        it_check(t, c.body_len == 1000 && memcmp(a.body, c.body, 1000) != 0,
                 "seeds 42 and 43 gave the same bytes");
    }
    it_resp_fini(&a);
    it_resp_fini(&b);
    it_resp_fini(&c);
}

static void anything_shows_what_arrived(struct it_ctx *t, struct it_proc *srv)
{
    struct it_http req = {.method = "PUT",
                          .path = "/anything/a/b?x=1&x=2",
                          .body = "{\"k\":[1,2]}",
                          .body_len = 11,
                          .content_type = "application/json"};
    struct it_resp r = {0};
    if (it_fetch(t, srv, &req, &r) == 0) {
        it_expect_int(t, r.what, 200, r.status);
        static const char *const parts[] = {
            "{\"args\":{\"x\":[\"1\",\"2\"]},\"data\":\"{\\\"k\\\":[1,2]}\",\"form\":{},",
            "\"Content-Type\":\"application/json\"",
            "\"json\":{\"k\":[1,2]},\"method\":\"PUT\",\"origin\":\"127.0.0.1\","
            "\"path\":\"/anything/a/b\",\"url\":\"http://127.0.0.1:",
        };
        for (size_t i = 0; i < IT_LEN(parts); i++)
            it_expect_contains(t, r.what, r.body, parts[i]);
    }
    static const struct {
        const char *method, *path;
        int status;
    } routes[] = {
        {"DELETE", "/anything", 200},    {"PATCH", "/anything/", 200},
        {"OPTIONS", "/anything", 200},   {"GET", "/anythingelse", 404},
        {"GET", "/anything?ms=50", 200},
    };
    for (size_t i = 0; i < IT_LEN(routes); i++) {
        struct it_http other = {.method = routes[i].method, .path = routes[i].path};
        if (it_fetch(t, srv, &other, &r) == 0)
            it_expect_int(t, r.what, routes[i].status, r.status);
    }
    it_resp_fini(&r);
}

static void faults_switched_off_are_403(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    static const char *const args[] = {"--set", "limits.allow_faults=false", NULL};
    struct it_proc srv;
    if (it_server_start(t, &srv, args) != 0)
        return;
    struct it_resp r = {0};
    if (it_get(t, &srv, "/fault?kind=reset", &r) == 0) {
        it_expect_int(t, r.what, 403, r.status);
        it_expect_contains(t, r.what, r.body, "[limits] allow_faults = false");
    }
    if (it_get(t, &srv, "/anything", &r) == 0)
        it_expect_int(t, "GET /anything with faults off", 200, r.status);
    it_resp_fini(&r);
    it_server_stop(t, &srv);
}

int main(int argc, char **argv)
{
    static const struct it_case shared[] = {
        {"reset_is_curl_56", reset_is_curl_56},
        {"close_is_curl_52_or_18", close_is_curl_52_or_18},
        {"hang_is_curl_28_or_52", hang_is_curl_28_or_52},
        {"short_and_long_lie_about_the_length", short_and_long_lie_about_the_length},
        {"slowhead_crawls_then_answers", slowhead_crawls_then_answers},
        {"garbage_is_not_http", garbage_is_not_http},
        {"reset_is_an_rst_and_close_a_fin", reset_is_an_rst_and_close_a_fin},
        {"faults_are_counted_by_kind_and_leave_the_server_serving",
         faults_are_counted_by_kind_and_leave_the_server_serving},
        {"fault_rejects_bad_parameters_by_name", fault_rejects_bad_parameters_by_name},
        {"sse_paces_its_events", sse_paces_its_events},
        {"bytes_are_the_same_for_the_same_seed", bytes_are_the_same_for_the_same_seed},
        {"anything_shows_what_arrived", anything_shows_what_arrived},
    };
    static const struct it_case own[] = {
        {"faults_switched_off_are_403", faults_switched_off_are_403},
    };
    return it_main(argc, argv, NULL, shared, IT_LEN(shared), own, IT_LEN(own));
}
