/* Integration: the [limits] and max_connections contract, with small limits set by --set:
 * 431/414/413 decided while bytes arrive (never after buffering or waiting for the end), the
 * close after a rejected request, 408 for headers that never complete and for bodies that are
 * too slow (the stall, the minimum rate, the total deadline), the idle keep-alive close,
 * inclusive ms bounds, and 503 + Retry-After over max_connections. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/it/client.h"
#include "tests/it/raw.h"

#define HEADER_BYTES      1024
#define BODY_BYTES        1000
#define HEADER_TIMEOUT_MS 500
#define IDLE_TIMEOUT_MS   500
#define BODY_TIMEOUT_MS   1500
#define BODY_MIN_RATE     200 /* bytes a second */

static int raw_ms(const struct it_ctx *t)
{
    return it_scaled_ms(t, 3000);
}

/* Opens a connection, sends head then body_len bytes of 'x', and reads one response. */
static bool send_and_read(struct it_ctx *t, const struct it_proc *srv, struct it_raw *c,
                          const char *what, const char *head, size_t body_len,
                          struct it_raw_resp *r)
{
    int rc = it_raw_open(c, srv->port);
    if (!it_check(t, rc == 0, "%s: connect: %s", what, strerror(-rc)))
        return false;
    it_raw_send_str(c, head);
    if (body_len) {
        char *body = malloc(body_len);
        memset(body, 'x', body_len);
        it_raw_send(c, body, body_len);
        free(body);
    }
    return it_raw_expect(t, c, what, r, false, raw_ms(t));
}

/* One row: the request's bytes, the status, and whether the server must then close. */
struct row {
    const char *what;
    char *head;
    size_t body_len;
    int status;
    bool closes;
};

static void run_rows(struct it_ctx *t, const struct it_proc *srv, struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct it_raw c;
        struct it_raw_resp r = {0};
        if (send_and_read(t, srv, &c, rows[i].what, rows[i].head, rows[i].body_len, &r)) {
            it_expect_int(t, rows[i].what, rows[i].status, r.status);
            if (rows[i].closes) {
                it_check(t, it_header_has_token(r.head, "Connection", "close"),
                         "%s: expected Connection: close", rows[i].what);
                it_raw_expect_closed(t, &c, rows[i].what, raw_ms(t));
            }
        }
        it_raw_resp_fini(&r);
        it_raw_close(&c);
        free(rows[i].head);
    }
}

/* before, then filler_len bytes of 'a', then after. */
static char *with_filler(const char *before, size_t filler_len, const char *after)
{
    size_t b = strlen(before), a = strlen(after);
    char *out = malloc(b + filler_len + a + 1);
    if (!out)
        return NULL;
    memcpy(out, before, b);
    memset(out + b, 'a', filler_len);
    memcpy(out + b + filler_len, after, a + 1);
    return out;
}

static void header_and_uri_limits(struct it_ctx *t, struct it_proc *srv)
{
    char many[2048] = "GET /hello HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 40; i++) /* 40 small headers of 30 bytes: over 1024 together */
        snprintf(many + strlen(many), sizeof(many) - strlen(many),
                 "X-H%02d: 0123456789abcdefgh\r\n", i);
    strcat(many, "\r\n");
    struct row rows[] = {
        {"one header over max_header_bytes",
         with_filler("GET /hello HTTP/1.1\r\nHost: a\r\nX-Big: ", 1100, "\r\n\r\n"), 0, 431, true},
        {"many headers over max_header_bytes together", strdup(many), 0, 431, true},
        /* No end of headers: the limit is seen as bytes arrive, before header_timeout_ms. */
        {"unfinished header block over max_header_bytes",
         with_filler("GET /hello HTTP/1.1\r\nHost: a\r\nX-Big: ", 2000, ""), 0, 431, true},
        {"URI over max_header_bytes",
         with_filler("GET /hello?x=", 1100, " HTTP/1.1\r\nHost: a\r\n\r\n"), 0, 414, false},
        {"unfinished URI over max_header_bytes", with_filler("GET /hello?x=", 2000, ""), 0, 414,
         false},
        {"request just under max_header_bytes",
         with_filler("GET /hello?x=", 900, " HTTP/1.1\r\nHost: a\r\n\r\n"), 0, 200, false},
    };
    run_rows(t, srv, rows, sizeof(rows) / sizeof(rows[0]));
}

static char *post_echo_head(size_t content_length, const char *extra)
{
    char *out = NULL;
    if (asprintf(&out, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n%s\r\n",
                 content_length, extra) < 0)
        out = NULL;
    return out;
}

static void body_limits(struct it_ctx *t, struct it_proc *srv)
{
    struct row rows[] = {
        /* The body is never sent: the announced length alone is refused. */
        {"Content-Length over max_body_bytes", post_echo_head(BODY_BYTES + 1, ""), 0, 413, false},
        {"Expect: 100-continue over max_body_bytes gets 413, not 100",
         post_echo_head(BODY_BYTES * 5, "Expect: 100-continue\r\n"), 0, 413, false},
        {"body of exactly max_body_bytes", post_echo_head(BODY_BYTES, ""), BODY_BYTES, 200, false},
    };
    run_rows(t, srv, rows, sizeof(rows) / sizeof(rows[0]));

    /* A chunked body announces nothing: it is refused once the chunks pass the limit. */
    const char *what = "chunked body over max_body_bytes (two 600-byte chunks)";
    struct it_raw c;
    struct it_raw_resp r = {0};
    char chunk[600];
    memset(chunk, 'x', sizeof(chunk));
    if (it_raw_open(&c, srv->port) == 0) {
        it_raw_send_str(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 2; i++) {
            it_raw_send_str(&c, "258\r\n");
            it_raw_send(&c, chunk, sizeof(chunk));
            it_raw_send_str(&c, "\r\n");
        }
        it_raw_send_str(&c, "0\r\n\r\n");
        if (it_raw_expect(t, &c, what, &r, false, raw_ms(t)))
            it_expect_int(t, what, 413, r.status);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

/* A client that sends headers a line at a time but never finishes them (slowloris) gets 408
 * after header_timeout_ms, then the close. */
static void slow_headers_get_408(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    if (it_raw_open(&c, srv->port) != 0)
        return;
    double start = it_now_ms(), limit = start + it_scaled_ms(t, 5000);
    it_raw_send_str(&c, "GET /hello HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; it_now_ms() < limit; i++) {
        struct pollfd pfd = {.fd = c.fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0)
            break;
        char line[32];
        snprintf(line, sizeof(line), "X-Drip-%d: x\r\n", i);
        if (it_raw_send_str(&c, line) != 0)
            break;
    }
    if (it_raw_expect(t, &c, "slowloris headers", &r, false, raw_ms(t))) {
        double took = it_now_ms() - start;
        it_expect_int(t, "slowloris headers", 408, r.status);
        it_expect_range(t, "408 after header_timeout_ms=500 (ms)", HEADER_TIMEOUT_MS * 0.9,
                        HEADER_TIMEOUT_MS + it_scaled_ms(t, 1500), took);
        it_raw_expect_closed(t, &c, "after 408", raw_ms(t));
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

/* A client that sends head, then piece every tick_ms (the first right away) n_pieces times, then
 * tail, and reads the one answer whenever it comes. */
struct paced {
    const char *what;
    char head[160];
    const char *piece;
    int n_pieces;
    const char *tail;
    int tick_ms;
    int want_status;
    const char *want_limit; /* named in a 408, or NULL */
    double lo_ms, hi_ms;    /* when the answer must come, from the end of the head */
};

/* A paced client's connection and progress. */
struct paced_run {
    const struct paced *p;
    struct it_raw c;
    int sent;
    double start_ms, next_ms;
    bool is_done;
};

#define PACED_MAX 4

static void paced_start(struct it_ctx *t, const struct it_proc *srv, struct paced_run *p)
{
    p->is_done = it_raw_open(&p->c, srv->port) != 0;
    if (!it_check(t, !p->is_done, "%s: connect", p->p->what))
        return;
    it_raw_send_str(&p->c, p->p->head);
    p->start_ms = p->next_ms = it_now_ms();
}

/* Reads the answer once bytes are there and checks its status, limit, time and the close. */
static void paced_answer(struct it_ctx *t, struct paced_run *run)
{
    const struct paced *p = run->p;
    struct it_raw_resp r = {0};
    run->is_done = true;
    if (!it_raw_expect(t, &run->c, p->what, &r, false, raw_ms(t)))
        return;
    double took = it_now_ms() - run->start_ms;
    it_expect_int(t, p->what, p->want_status, r.status);
    it_expect_range(t, p->what, p->lo_ms, p->hi_ms + it_scaled_ms(t, 1000), took);
    if (p->want_limit) {
        char named[64];
        snprintf(named, sizeof named, "(%s)", p->want_limit);
        it_expect_contains(t, p->what, r.body, named);
        it_raw_expect_closed(t, &run->c, p->what, raw_ms(t));
    }
    it_raw_resp_fini(&r);
}

/* Drives every client together until each has its answer or the time limit passes. */
static void run_paced(struct it_ctx *t, const struct it_proc *srv, const struct paced *ps, size_t n,
                      int limit_ms)
{
    struct paced_run runs[PACED_MAX] = {0};
    struct pollfd pfd[PACED_MAX];
    assert(n <= PACED_MAX);
    for (size_t i = 0; i < n; i++) {
        runs[i].p = &ps[i];
        paced_start(t, srv, &runs[i]);
    }
    double limit = it_now_ms() + it_scaled_ms(t, limit_ms);
    for (;;) {
        size_t open = 0;
        for (size_t i = 0; i < n; i++) {
            pfd[i] = (struct pollfd){.fd = runs[i].is_done ? -1 : runs[i].c.fd, .events = POLLIN};
            open += !runs[i].is_done;
        }
        if (open == 0 || it_now_ms() >= limit)
            break;
        poll(pfd, n, 5);
        double now = it_now_ms();
        for (size_t i = 0; i < n; i++) {
            struct paced_run *run = &runs[i];
            if (run->is_done)
                continue;
            if (pfd[i].revents) {
                paced_answer(t, run);
            } else if (now >= run->next_ms && run->sent <= run->p->n_pieces) {
                it_raw_send_str(&run->c,
                                run->sent < run->p->n_pieces ? run->p->piece : run->p->tail);
                run->sent++;
                run->next_ms += run->p->tick_ms;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        it_check(t, runs[i].is_done, "%s: no answer within %d ms", ps[i].what, limit_ms);
        it_raw_close(&runs[i].c);
    }
}

static double timeouts_of(struct it_ctx *t, struct it_proc *srv, const char *limit)
{
    struct it_resp m = {0};
    char series[96];
    double v = -1;
    snprintf(series, sizeof series, "iobound_request_timeouts_total{limit=\"%s\"}", limit);
    if (it_get(t, srv, "/metrics", &m) == 0)
        it_check(t, it_metric_value(m.body, series, &v), "%s missing from /metrics", series);
    it_resp_fini(&m);
    return v;
}

/* Slow bodies (R-U-Dead-Yet) with idle_timeout_ms=500, body_min_rate_bytes=200 and
 * body_timeout_ms=1500: a trickle that never stalls 500 ms is cut by the rate, chunked or not;
 * a body fast enough but too long is cut by the total; a brisk one is answered. */
static void slow_bodies_get_408(struct it_ctx *t, struct it_proc *srv)
{
    double rate0 = timeouts_of(t, srv, "body_min_rate_bytes");
    double total0 = timeouts_of(t, srv, "body_timeout_ms");
    /* 20 B/s: due when 500 ms + bytes/200 s is past, at about 556 ms. */
    struct paced ps[] = {
        {"2 body bytes every 100 ms", "", "xx", 400, "", 100, 408, "body_min_rate_bytes", 450, 800},
        {"1-byte chunks every 100 ms", "", "1\r\nx\r\n", 400, "0\r\n\r\n", 100, 408,
         "body_min_rate_bytes", 450, 800},
        /* 400 B/s keeps ahead of the rate, but 1000 bytes need 2.5 s. */
        {"40 body bytes every 100 ms", "", "0123456789012345678901234567890123456789", 25, "", 100,
         408, "body_timeout_ms", BODY_TIMEOUT_MS * 0.95, BODY_TIMEOUT_MS + 300},
        /* 2000 B/s: 1000 bytes in 500 ms. */
        {"100 body bytes every 50 ms", "",
         "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567"
         "890123456789",
         10, "", 50, 200, NULL, 400, 900},
    };
    static const char head[] = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n";
    for (size_t i = 0; i < IT_LEN(ps); i++)
        snprintf(ps[i].head, sizeof ps[i].head, "%s", head);
    snprintf(ps[1].head, sizeof ps[1].head, "%s",
             "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    run_paced(t, srv, ps, IT_LEN(ps), 4000);
    it_expect_int(t, "iobound_request_timeouts_total{limit=\"body_min_rate_bytes\"} rise", 2,
                  (long long)(timeouts_of(t, srv, "body_min_rate_bytes") - rate0));
    it_expect_int(t, "iobound_request_timeouts_total{limit=\"body_timeout_ms\"} rise", 1,
                  (long long)(timeouts_of(t, srv, "body_timeout_ms") - total0));
}

/* The defaults let a slow real upload through and stop a slow-POST client: 2 KiB/s for 6.5 s
 * (past idle_timeout_ms, 5 s) is answered 200; 16 B/s, a few bytes before every idle timeout, is
 * answered 408 once 5 s + bytes/1024 s have passed (about 5.1 s). Runs its own server. */
static void defaults_pass_an_upload_and_stop_a_trickle(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    struct it_proc srv;
    if (it_server_start(t, &srv, NULL) != 0)
        return;
    static char upload_piece[257];
    memset(upload_piece, 'u', 256);
    struct paced ps[] = {
        {"256 body bytes every 125 ms at the defaults", "", upload_piece, 52, "", 125, 200, NULL,
         6000, 7000},
        {"4 body bytes every 250 ms at the defaults", "", "abcd", 1000, "", 250, 408,
         "body_min_rate_bytes", 4800, 5400},
    };
    snprintf(ps[0].head, sizeof ps[0].head,
             "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 256 * 52);
    snprintf(ps[1].head, sizeof ps[1].head,
             "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n");
    run_paced(t, &srv, ps, IT_LEN(ps), 9000);
    it_server_stop(t, &srv);
}

static void idle_keep_alive_closed(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    if (it_raw_open(&c, srv->port) != 0)
        return;
    it_raw_send_str(&c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    if (it_raw_expect(t, &c, "GET /hello before idling", &r, false, raw_ms(t))) {
        double start = it_now_ms();
        if (it_raw_expect_closed(t, &c, "idle keep-alive connection",
                                 IDLE_TIMEOUT_MS + it_scaled_ms(t, 2000)))
            it_expect_range(t, "idle close after idle_timeout_ms=500 (ms)", IDLE_TIMEOUT_MS * 0.9,
                            INFINITY, it_now_ms() - start);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

static void ms_bounds_inclusive(struct it_ctx *t, struct it_proc *srv)
{
    static const struct {
        const char *path;
        long status;
        const char *limit; /* named in the 400 message */
    } rows[] = {
        {"/sleep?ms=100", 200, NULL},      {"/sleep?ms=101", 400, "100"},
        {"/gather?ms=100,100", 200, NULL}, {"/gather?ms=100,101", 400, "100"},
        {"/cpu?ms=50", 200, NULL},         {"/cpu?ms=51", 400, "50"},
        {"/gather?ms=1,1,1", 200, NULL},   {"/gather?ms=1,1,1,1", 400, "3"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct it_resp r = {0};
        if (it_get(t, srv, rows[i].path, &r) == 0) {
            it_expect_int(t, r.what, rows[i].status, r.status);
            if (rows[i].limit)
                it_expect_contains(t, "the 400 names the configured limit", r.body, rows[i].limit);
        }
        it_resp_fini(&r);
    }
}

/* Over max_connections a new connection gets 503 with Retry-After: 1 and is closed; when a slot
 * frees, connections are served again. Runs its own server. */
static void over_max_connections_503(struct it_ctx *t, struct it_proc *unused)
{
    const char *args[] = {"--set", "server.max_connections=2", NULL};
    struct it_proc srv;
    struct it_raw held[2], extra;
    struct it_raw_resp r = {0};
    struct it_resp m = {0};
    char retry[32] = "(none)";
    double rejected = 0;
    (void)unused;
    if (it_server_start(t, &srv, args) != 0)
        return;
    for (int i = 0; i < 2; i++) {
        if (it_raw_open(&held[i], srv.port) == 0) {
            it_raw_send_str(&held[i], "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
            it_raw_expect(t, &held[i], "held connection", &r, false, raw_ms(t));
        }
    }
    if (it_raw_open(&extra, srv.port) == 0) {
        it_raw_send_str(&extra, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        if (it_raw_expect(t, &extra, "third connection over max_connections=2", &r, false,
                          raw_ms(t))) {
            it_expect_int(t, "third connection over max_connections=2", 503, r.status);
            it_header_get(r.head, "Retry-After", retry, sizeof(retry));
            it_expect_str(t, "503 Retry-After", "1", retry);
            it_json_match(t, "503 body", r.body, "{\"error\":\"$\"}", NULL, 0);
            it_raw_expect_closed(t, &extra, "after 503", raw_ms(t));
        }
    }
    it_raw_close(&extra);
    it_raw_close(&held[0]);
    it_raw_close(&held[1]);
    it_sleep_ms(200);
    if (it_get(t, &srv, "/metrics", &m) == 0) {
        it_expect_int(t, "GET /metrics once the slots are free", 200, m.status);
        it_check(t,
                 it_metric_value(m.body, "iobound_connections_rejected_total", &rejected) &&
                     rejected >= 1,
                 "iobound_connections_rejected_total: expected >= 1, actual %.0f", rejected);
    }
    it_resp_fini(&m);
    it_raw_resp_fini(&r);
    it_server_stop(t, &srv);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"header_and_uri_limits", header_and_uri_limits},
        {"body_limits", body_limits},
        {"slow_headers_get_408", slow_headers_get_408},
        {"slow_bodies_get_408", slow_bodies_get_408},
        {"idle_keep_alive_closed", idle_keep_alive_closed},
        {"ms_bounds_inclusive", ms_bounds_inclusive},
    };
    static const struct it_case own_server[] = {
        {"over_max_connections_503", over_max_connections_503},
        {"defaults_pass_an_upload_and_stop_a_trickle", defaults_pass_an_upload_and_stop_a_trickle},
    };
    const char *args[] = {
        "--set", "limits.max_header_bytes=1024",   "--set", "limits.max_body_bytes=1000",
        "--set", "limits.header_timeout_ms=500",   "--set", "limits.idle_timeout_ms=500",
        "--set", "limits.max_sleep_ms=100",        "--set", "limits.max_cpu_ms=50",
        "--set", "limits.max_gather_tasks=3",      "--set", "limits.body_timeout_ms=1500",
        "--set", "limits.body_min_rate_bytes=200", NULL};
    return it_main(argc, argv, args, cases, IT_LEN(cases), own_server, IT_LEN(own_server));
}
