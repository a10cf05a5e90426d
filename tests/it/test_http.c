/* Integration: the SPEC's HTTP behaviour against the real binary, one server per run: keep-alive
 * rules for 1.1 and 1.0, Connection: close, pipelining order, chunked and 100-continue uploads,
 * discarded bodies, and strict parsing (every smuggling case is 400 and close; bad versions are
 * 505 or 400 and close; CONNECT is 405; Upgrade is ignored). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "tests/it/client.h"
#include "tests/it/raw.h"

#define RAW_TIMEOUT_MS 3000

static int raw_ms(const struct it_ctx *t)
{
    return it_scaled_ms(t, RAW_TIMEOUT_MS);
}

/* Sends request on a fresh connection and reads one response into r. */
static bool raw_exchange(struct it_ctx *t, const struct it_proc *srv, struct it_raw *c,
                         const char *what, const char *request, struct it_raw_resp *r)
{
    int rc = it_raw_open(c, srv->port);
    if (!it_check(t, rc == 0, "%s: connect: %s", what, strerror(-rc)))
        return false;
    it_raw_send_str(c, request);
    return it_raw_expect(t, c, what, r, false, raw_ms(t));
}

/* The response says Connection: close and the server then closes. */
static void expect_close(struct it_ctx *t, struct it_raw *c, const char *what,
                         const struct it_raw_resp *r)
{
    it_check(t, it_header_has_token(r->head, "Connection", "close"),
             "%s: expected a Connection: close header", what);
    it_raw_expect_closed(t, c, what, raw_ms(t));
}

static void keep_alive_reuses_connection(struct it_ctx *t, struct it_proc *srv)
{
    CURL *h = it_easy_new();
    struct it_http req = {.path = "/hello"};
    struct it_resp r = {0};
    it_easy_prepare(t, h, srv, &req, &r);
    if (it_easy_perform(t, h, &r) == 0) {
        it_expect_int(t, "first request: new connections", 1, r.connects);
        it_check(t, !it_header_has_token(r.head, "Connection", "close"),
                 "HTTP/1.1 response must not say Connection: close");
    }
    it_easy_prepare(t, h, srv, &req, &r);
    if (it_easy_perform(t, h, &r) == 0) {
        it_expect_int(t, "second request on the same handle: new connections", 0, r.connects);
        it_expect_str(t, "second request body", "hello\n", r.body);
    }
    it_resp_fini(&r);
    curl_easy_cleanup(h);
}

static void http10_closes_by_default(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *what = "HTTP/1.0 GET /hello without keep-alive";
    if (raw_exchange(t, srv, &c, what, "GET /hello HTTP/1.0\r\n\r\n", &r)) {
        it_expect_int(t, what, 200, r.status);
        it_expect_str(t, what, "hello\n", r.body);
        it_check(t, strncmp(r.head, "HTTP/1.", 7) == 0, "%s: status line", what);
        expect_close(t, &c, what, &r);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

static void http10_keep_alive_on_request(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *req = "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    const char *what = "HTTP/1.0 with Connection: keep-alive";
    if (raw_exchange(t, srv, &c, what, req, &r)) {
        it_expect_int(t, what, 200, r.status);
        it_check(t, !it_header_has_token(r.head, "Connection", "close"),
                 "%s: response must not say Connection: close", what);
        it_raw_send_str(&c, req);
        if (it_raw_expect(t, &c, "second HTTP/1.0 keep-alive request", &r, false, raw_ms(t)))
            it_expect_int(t, "second HTTP/1.0 keep-alive request", 200, r.status);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

static void connection_close_honoured(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *what = "HTTP/1.1 Connection: close";
    if (raw_exchange(t, srv, &c, what,
                     "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r)) {
        it_expect_int(t, what, 200, r.status);
        expect_close(t, &c, what, &r);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

/* Three requests in one write, the slow one first: answers come in order, one at a time. */
static void pipelined_in_order(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *what = "pipelined GET /sleep?ms=100";
    if (raw_exchange(t, srv, &c, what,
                     "GET /sleep?ms=100 HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
                     &r)) {
        it_expect_int(t, what, 200, r.status);
        it_expect_contains(t, "first pipelined answer is the sleep", r.body, "\"slept_ms\":100");
        if (it_raw_expect(t, &c, "second pipelined answer", &r, false, raw_ms(t)))
            it_expect_str(t, "second pipelined answer is /hello", "hello\n", r.body);
        if (it_raw_expect(t, &c, "third pipelined answer", &r, false, raw_ms(t)))
            it_expect_str(t, "third pipelined answer is /healthz", "ok\n", r.body);
        it_expect_int(t, "connection still open after the pipeline", -ETIMEDOUT,
                      it_raw_wait_closed(&c, 100));
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

/* The next request arrives while the first one's step runs: the socket turns readable while the
 * connection waits for its timer, not for bytes. It is answered after the first, in order. */
static void request_during_a_step_answered_after(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *what = "GET /sleep?ms=300, then /hello 100 ms into it";
    if (it_raw_open(&c, srv->port) < 0) {
        it_check(t, false, "%s: cannot connect", what);
        return;
    }
    it_raw_send_str(&c, "GET /sleep?ms=300 HTTP/1.1\r\nHost: a\r\n\r\n");
    poll(NULL, 0, 100);
    it_raw_send_str(&c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    if (it_raw_expect(t, &c, what, &r, false, raw_ms(t) + 300)) {
        it_expect_contains(t, "first answer is the sleep", r.body, "\"slept_ms\":300");
        if (it_raw_expect(t, &c, "the request sent during the sleep", &r, false, raw_ms(t)))
            it_expect_str(t, "second answer is /hello", "hello\n", r.body);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

static void chunked_upload_echoed(struct it_ctx *t, struct it_proc *srv)
{
    static const char body[] = "a chunked body sent in seven-byte pieces by curl's read callback";
    struct it_http req = {.path = "/echo",
                          .body = body,
                          .body_len = sizeof(body) - 1,
                          .content_type = "text/plain",
                          .chunked = true};
    struct it_resp r = {0};
    struct it_raw c;
    struct it_raw_resp rr = {0};
    if (it_fetch(t, srv, &req, &r) == 0 && it_expect_int(t, "chunked POST /echo", 200, r.status))
        it_expect_mem(t, "chunked POST /echo body", body, sizeof(body) - 1, r.body, r.body_len);
    it_resp_fini(&r);
    /* By hand: a chunk extension and a trailer are legal and change nothing. */
    if (raw_exchange(t, srv, &c, "raw chunked POST /echo",
                     "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"
                     "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
                     &rr)) {
        it_expect_int(t, "raw chunked POST /echo", 200, rr.status);
        it_expect_str(t, "raw chunked POST /echo body", "hello world", rr.body);
    }
    it_raw_resp_fini(&rr);
    it_raw_close(&c);
}

static void expect_100_continue(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *what = "POST /echo with Expect: 100-continue";
    if (raw_exchange(t, srv, &c, what,
                     "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
                     "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n",
                     &r) &&
        it_expect_int(t, "interim status before the body is sent", 100, r.status)) {
        it_raw_send_str(&c, "hello");
        if (it_raw_expect(t, &c, what, &r, false, raw_ms(t))) {
            it_expect_int(t, what, 200, r.status);
            it_expect_str(t, what, "hello", r.body);
        }
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

static void body_on_get_discarded(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *what = "GET /hello with a 5-byte body";
    if (raw_exchange(t, srv, &c, what,
                     "GET /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                     "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
                     &r)) {
        it_expect_int(t, what, 200, r.status);
        it_expect_str(t, what, "hello\n", r.body);
        if (it_raw_expect(t, &c, "request after the discarded body", &r, false, raw_ms(t)))
            it_expect_str(t, "request after the discarded body", "ok\n", r.body);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

struct bad_request {
    const char *name;
    const char *bytes;
};

/* Each request is answered with one of the statuses (the second may be 0), then closed, and the
 * server keeps serving others. */
static void expect_rejected(struct it_ctx *t, struct it_proc *srv, const struct bad_request *rows,
                            size_t n, int status, int alt_status)
{
    for (size_t i = 0; i < n; i++) {
        struct it_raw c;
        struct it_raw_resp r = {0};
        if (raw_exchange(t, srv, &c, rows[i].name, rows[i].bytes, &r)) {
            it_check(t, r.status == status || (alt_status && r.status == alt_status),
                     "%s: expected status %d%s, actual %d", rows[i].name, status,
                     alt_status == 400 ? " or 400" : "", r.status);
            expect_close(t, &c, rows[i].name, &r);
        }
        it_raw_resp_fini(&r);
        it_raw_close(&c);
    }
    struct it_resp ok = {0};
    if (it_get(t, srv, "/healthz", &ok) == 0)
        it_expect_int(t, "GET /healthz after the bad requests", 200, ok.status);
    it_resp_fini(&ok);
}

static void strict_parsing_400_and_close(struct it_ctx *t, struct it_proc *srv)
{
    static const struct bad_request rows[] = {
        {"obs-fold continuation line", "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n"},
        {"obs-fold with a tab", "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n"},
        {"empty header name", "GET /hello HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n"},
        {"space before the colon", "GET /hello HTTP/1.1\r\nHost : a\r\n\r\n"},
        {"bare LF line ends", "GET /hello HTTP/1.1\nHost: a\n\n"},
        {"Content-Length and Transfer-Encoding",
         "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        {"two Content-Length headers",
         "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
        {"Transfer-Encoding: chunked, gzip",
         "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"},
        {"missing Host on HTTP/1.1", "GET /hello HTTP/1.1\r\n\r\n"},
        {"two Host headers", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
        {"request line with trailing garbage", "GET /hello HTTP/1.1 extra\r\nHost: a\r\n\r\n"},
        {"control byte in the target", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n"},
        {"invalid method token", "G@T /hello HTTP/1.1\r\nHost: a\r\n\r\n"},
        {"bad Content-Length value",
         "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\n"},
    };
    expect_rejected(t, srv, rows, sizeof(rows) / sizeof(rows[0]), 400, 0);
}

static void bad_version_505_and_close(struct it_ctx *t, struct it_proc *srv)
{
    static const struct bad_request rows[] = {
        {"HTTP/0.9 request line", "GET /\r\n\r\n"},
        {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
        {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n"},
        {"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"},
    };
    expect_rejected(t, srv, rows, sizeof(rows) / sizeof(rows[0]), 505, 400);
}

static void connect_is_405(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *what = "CONNECT a:443";
    if (raw_exchange(t, srv, &c, what, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", &r))
        it_expect_int(t, what, 405, r.status);
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

static void upgrade_header_ignored(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *what = "GET /hello with Upgrade: websocket";
    if (raw_exchange(t, srv, &c, what,
                     "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                     "Upgrade: websocket\r\n\r\n",
                     &r)) {
        it_expect_int(t, what, 200, r.status);
        it_expect_str(t, what, "hello\n", r.body);
        /* Served as plain HTTP/1.1: the connection still takes requests. */
        it_raw_send_str(&c, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
        if (it_raw_expect(t, &c, "request after the ignored Upgrade", &r, false, raw_ms(t)))
            it_expect_str(t, "request after the ignored Upgrade", "ok\n", r.body);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

static void absolute_form_target(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    const char *what = "GET http://127.0.0.1/hello (absolute form)";
    if (raw_exchange(t, srv, &c, what,
                     "GET http://127.0.0.1/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &r)) {
        it_expect_int(t, what, 200, r.status);
        it_expect_str(t, what, "hello\n", r.body);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"keep_alive_reuses_connection", keep_alive_reuses_connection},
        {"http10_closes_by_default", http10_closes_by_default},
        {"http10_keep_alive_on_request", http10_keep_alive_on_request},
        {"connection_close_honoured", connection_close_honoured},
        {"pipelined_in_order", pipelined_in_order},
        {"request_during_a_step_answered_after", request_during_a_step_answered_after},
        {"chunked_upload_echoed", chunked_upload_echoed},
        {"expect_100_continue", expect_100_continue},
        {"body_on_get_discarded", body_on_get_discarded},
        {"strict_parsing_400_and_close", strict_parsing_400_and_close},
        {"bad_version_505_and_close", bad_version_505_and_close},
        {"connect_is_405", connect_is_405},
        {"upgrade_header_ignored", upgrade_header_ignored},
        {"absolute_form_target", absolute_form_target},
    };
    return it_main(argc, argv, NULL, cases, IT_LEN(cases), NULL, 0);
}
