/* Integration: robustness against clients and resources. A full descriptor table pauses accepting
 * without spinning; over max_connections costs no thread; clients that reset at any point leave
 * no connection, request or thread behind; clients closing mid-answer never stop it; thousands of
 * mixed requests leak nothing (LeakSanitizer turns a leak into a nonzero exit in the ASan build).
 * Signals and shutdown: test_signals.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/it/client.h"
#include "tests/it/raw.h"

#define GET_HELLO "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"

static int raw_ms(const struct it_ctx *t)
{
    return it_scaled_ms(t, 3000);
}

/* --- reading the server from outside ------------------------------------------------------ */

/* The gauges a fault must leave as they were, read through one keep-alive scrape connection so
 * the scrape itself is always exactly one connection and one request. */
struct gauges {
    double open, inflight, threads, peak, rejected;
};

static bool scrape(struct it_ctx *t, const struct it_proc *srv, CURL *h, struct gauges *g)
{
    struct it_http req = {.path = "/metrics"};
    struct it_resp r = {0};
    bool ok = false;
    it_easy_prepare(t, h, srv, &req, &r);
    if (it_easy_perform(t, h, &r) == 0 && it_expect_int(t, "GET /metrics", 200, r.status))
        ok = it_check(
            t,
            it_metric_value(r.body, "iobound_connections_open", &g->open) &&
                it_metric_value(r.body, "iobound_inflight_requests", &g->inflight) &&
                it_metric_value(r.body, "iobound_threads", &g->threads) &&
                it_metric_value(r.body, "iobound_threads_peak", &g->peak) &&
                it_metric_value(r.body, "iobound_connections_rejected_total", &g->rejected),
            "/metrics lacks a connection, request or thread series");
    it_resp_fini(&r);
    return ok;
}

/* Scrapes until the server is back to one open connection (the scrape), one request in flight
 * (the scrape) and idle_threads, or until within_ms passes; g holds the last reading. */
static bool settle(struct it_ctx *t, const struct it_proc *srv, CURL *h, double idle_threads,
                   int within_ms, struct gauges *g)
{
    double deadline = it_now_ms() + within_ms;
    for (;;) {
        if (!scrape(t, srv, h, g))
            return false;
        if ((g->open == 1 && g->inflight == 1 && g->threads == idle_threads) ||
            it_now_ms() >= deadline)
            return true;
        it_sleep_ms(50);
    }
}

/* The idle reading the faults are compared with: only the scrape open, and the thread count
 * steady over 100 ms (the thread of a connection closed just before may still be exiting). */
static bool idle_gauges(struct it_ctx *t, const struct it_proc *srv, CURL *h, struct gauges *g)
{
    double deadline = it_now_ms() + it_scaled_ms(t, 1500), last_threads = -1;
    for (;;) {
        if (!scrape(t, srv, h, g))
            return false;
        if ((g->open == 1 && g->threads == last_threads) || it_now_ms() >= deadline)
            return it_expect_int(t, "iobound_connections_open at idle (the scrape)", 1,
                                 (long long)g->open);
        last_threads = g->open == 1 ? g->threads : -1;
        it_sleep_ms(100);
    }
}

static void expect_settled(struct it_ctx *t, const struct it_proc *srv, CURL *h,
                           double idle_threads, const char *after)
{
    struct gauges g;
    char what[160];
    if (!settle(t, srv, h, idle_threads, it_scaled_ms(t, 1500), &g))
        return;
    snprintf(what, sizeof(what), "iobound_connections_open (the scrape) after %s", after);
    it_expect_int(t, what, 1, (long long)g.open);
    snprintf(what, sizeof(what), "iobound_inflight_requests (the scrape) after %s", after);
    it_expect_int(t, what, 1, (long long)g.inflight);
    snprintf(what, sizeof(what), "iobound_threads (as at idle) after %s", after);
    it_expect_int(t, what, (long long)idle_threads, (long long)g.threads);
}

/* CPU seconds (user + system) the process has used, from /proc/<pid>/stat; -1 when unreadable. */
static double cpu_seconds(pid_t pid)
{
    char path[64], text[1024];
    unsigned long long utime, stime;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The command name may hold spaces and parentheses: the fields start after the last ')'.
     * utime and stime are fields 14 and 15; the first field after ')' is field 3. */
    const char *p = strrchr(text, ')');
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int count_in_stderr(const struct it_proc *p, const char *needle)
{
    char *err = it_proc_stderr(p);
    int n = it_count_str(err, needle);
    free(err);
    return n;
}

/* GET /hello on an open raw connection; expects 200. */
static bool hello_on(struct it_ctx *t, struct it_raw *c, const char *what)
{
    struct it_raw_resp r = {0};
    bool ok = it_raw_send_str(c, GET_HELLO) == 0 && it_raw_expect(t, c, what, &r, false, raw_ms(t));
    if (ok)
        ok = it_expect_int(t, what, 200, r.status);
    it_raw_resp_fini(&r);
    return ok;
}

/* --- 1. a full descriptor table ----------------------------------------------------------- */

#define FD_LIMIT    64
#define FLOOD_CONNS 120
#define FLOOD_MS    2000
#define EMFILE_LOG  "accept: Too many open files; pausing accepts"

/* With RLIMIT_NOFILE at 64 (set on the running server with prlimit, as a launcher would before
 * exec) and 120 connections waiting, accept() fails with EMFILE: the server must pause rather
 * than spin, log it at most once a second, serve what it has, and recover when fds free up. */
static void emfile_pauses_without_spinning(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc srv;
    struct it_raw early, flood[FLOOD_CONNS];
    struct it_resp r = {0};
    struct rlimit lim = {.rlim_cur = FD_LIMIT, .rlim_max = FD_LIMIT};
    int opened = 0;
    (void)unused;
    if (it_server_start(t, &srv, NULL) != 0)
        return;
    if (!it_check(t, prlimit(srv.pid, RLIMIT_NOFILE, &lim, NULL) == 0,
                  "prlimit(RLIMIT_NOFILE=%d) on the server: %s", FD_LIMIT, strerror(errno)))
        goto out;
    if (it_raw_open(&early, srv.port) != 0 ||
        !hello_on(t, &early, "GET /hello on a connection accepted before the flood"))
        goto out;

    for (int i = 0; i < FLOOD_CONNS; i++)
        if (it_raw_open(&flood[opened], srv.port) == 0)
            opened++;
    it_expect_int(t, "connections opened (the kernel backlog takes those not accepted)",
                  FLOOD_CONNS, opened);
    /* Let the server reach the full table before measuring. */
    it_sleep_ms(200);
    int logs_before = count_in_stderr(&srv, EMFILE_LOG);
    double cpu_before = cpu_seconds(srv.pid), start = it_now_ms();
    it_sleep_ms(FLOOD_MS / 2);
    hello_on(t, &early, "GET /hello on an earlier connection while accept() fails with EMFILE");
    double left = FLOOD_MS - (it_now_ms() - start);
    if (left > 0)
        it_sleep_ms((int)left);
    double cpu_used = cpu_seconds(srv.pid) - cpu_before;
    int logs = count_in_stderr(&srv, EMFILE_LOG);
    it_check(t, logs >= 1, "the server never logged \"%s\": the fd limit did not bite", EMFILE_LOG);
    it_expect_range(t, "EMFILE log lines over 2 s (at most one a second)", 0, 4,
                    logs - logs_before);
    it_expect_range(t, "server CPU seconds over 2 s with a full descriptor table (no busy loop)", 0,
                    0.3, cpu_used);
    printf("     EMFILE: %.2f CPU s over %d ms, %d log lines in it\n", cpu_used, FLOOD_MS,
           logs - logs_before);

    for (int i = 0; i < opened; i++)
        it_raw_close(&flood[i]);
    it_raw_close(&early);
    /* The backlog drains (each is accepted, reads EOF, closes); then new clients are served. */
    if (it_get(t, &srv, "/hello", &r) == 0)
        it_expect_int(t, "GET /hello on a new connection after the flood closed", 200, r.status);
    it_resp_fini(&r);
out:
    it_server_stop(t, &srv);
}

/* --- 2. over max_connections -------------------------------------------------------------- */

/* With max_connections=5 held (4 raw + the scrape), a 6th gets 503 + Retry-After: 1 and the close,
 * is counted as rejected, and in threaded mode never gets a thread (no new thread, no new peak). */
static void over_max_connections_costs_no_thread(struct it_ctx *t, struct it_proc *unused)
{
    const char *args[] = {"--set", "server.max_connections=5", NULL};
    struct it_proc srv;
    struct it_raw held[4], extra;
    struct it_raw_resp r = {0};
    struct gauges before, after;
    char retry[32] = "(none)";
    int n_held = 0;
    (void)unused;
    if (it_server_start(t, &srv, args) != 0)
        return;
    CURL *h = it_easy_new();
    for (; n_held < 4; n_held++)
        if (it_raw_open(&held[n_held], srv.port) != 0 ||
            !hello_on(t, &held[n_held], "GET /hello on a held connection"))
            goto out;
    if (!scrape(t, &srv, h, &before))
        goto out;
    it_expect_int(t, "iobound_connections_open with 4 held + the scrape", 5,
                  (long long)before.open);
    if (it_raw_open(&extra, srv.port) == 0) {
        const char *what = "6th connection over max_connections=5";
        it_raw_send_str(&extra, GET_HELLO);
        if (it_raw_expect(t, &extra, what, &r, false, raw_ms(t))) {
            it_expect_int(t, what, 503, r.status);
            it_header_get(r.head, "Retry-After", retry, sizeof(retry));
            it_expect_str(t, "503 Retry-After", "1", retry);
            it_raw_expect_closed(t, &extra, "after 503", raw_ms(t));
        }
        it_raw_close(&extra);
    }
    if (scrape(t, &srv, h, &after)) {
        long connects = -1;
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
        it_expect_int(t, "the second scrape reused its connection (new connects)", 0, connects);
        it_expect_int(t, "iobound_connections_rejected_total grew by", 1,
                      (long long)(after.rejected - before.rejected));
        it_expect_int(t, "iobound_threads after the 503 (as before it)", (long long)before.threads,
                      (long long)after.threads);
        it_expect_int(t, "iobound_threads_peak after the 503 (as before it)",
                      (long long)before.peak, (long long)after.peak);
        it_expect_int(t, "iobound_connections_open after the 503", 5, (long long)after.open);
    }
out:
    for (int i = 0; i < n_held; i++)
        it_raw_close(&held[i]);
    it_raw_resp_fini(&r);
    curl_easy_cleanup(h);
    it_server_stop(t, &srv);
}

/* --- 3. clients that reset ---------------------------------------------------------------- */

/* Past what the kernel holds for a client that does not read (net.ipv4.tcp_wmem max 4 MiB
 * here, and a 4 KiB receive buffer), so the server is still writing when the reset comes. */
#define BIG_ECHO_BYTES (8 * 1024 * 1024)
#define BIG_ECHO_LIMIT "limits.max_body_bytes=8388608"

static char *echo_head(size_t content_length)
{
    char *out = NULL;
    if (asprintf(&out, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
                 content_length) < 0)
        out = NULL;
    return out;
}

/* Sends head, then body_len bytes of 'x', waits wait_ms and resets the connection. With
 * small_rcvbuf the client also shrinks its receive buffer so a large answer stays mid-write. */
static void reset_after(struct it_ctx *t, const struct it_proc *srv, const char *head,
                        size_t body_len, int wait_ms, bool small_rcvbuf)
{
    struct it_raw c;
    if (!it_check(t, it_raw_open(&c, srv->port) == 0, "connect for a fault"))
        return;
    if (small_rcvbuf) {
        int rcvbuf = 4096;
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    it_raw_send_str(&c, head);
    if (body_len) {
        char *body = malloc(body_len);
        memset(body, 'x', body_len);
        it_raw_send(&c, body, body_len);
        free(body);
    }
    it_sleep_ms(wait_ms);
    it_raw_abort(&c);
}

static void resets_leave_nothing_behind(struct it_ctx *t, struct it_proc *srv)
{
    struct gauges idle;
    CURL *h = it_easy_new();
    char *half_body = echo_head(10000), *big = echo_head(BIG_ECHO_BYTES);
    if (!idle_gauges(t, srv, h, &idle))
        goto out;
    static const struct {
        const char *after;
        const char *head;
        int wait_ms;
    } waits[] = {
        {"a reset after half a header", "GET /hello HTTP/1.1\r\nHo", 50},
        {"a reset during /sleep?ms=300", "GET /sleep?ms=300 HTTP/1.1\r\nHost: a\r\n\r\n", 100},
        {"a reset during /gather?ms=300,200,100",
         "GET /gather?ms=300,200,100 HTTP/1.1\r\nHost: a\r\n\r\n", 100},
    };
    for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
        reset_after(t, srv, waits[i].head, 0, waits[i].wait_ms, false);
        expect_settled(t, srv, h, idle.threads, waits[i].after);
    }
    reset_after(t, srv, half_body, 5000, 50, false);
    expect_settled(t, srv, h, idle.threads, "a reset mid-body (5000 of 10000 bytes)");
    reset_after(t, srv, big, BIG_ECHO_BYTES, 300, true);
    expect_settled(t, srv, h, idle.threads, "a reset mid-response of an 8 MiB /echo never read");

    /* All five at once, then the same checks. */
    reset_after(t, srv, waits[1].head, 0, 0, false);
    reset_after(t, srv, waits[2].head, 0, 0, false);
    reset_after(t, srv, waits[0].head, 0, 0, false);
    reset_after(t, srv, half_body, 5000, 0, false);
    reset_after(t, srv, big, BIG_ECHO_BYTES, 100, true);
    expect_settled(t, srv, h, idle.threads, "five faults at once");
    it_expect_running(t, srv, "client faults");
out:
    free(half_body);
    free(big);
    curl_easy_cleanup(h);
}

/* --- 4. clients closing mid-answer (SIGPIPE) ------------------------------------------------ */

#define PIPE_CLIENTS    200
#define PIPE_BATCH      20
#define PIPE_ECHO_BYTES (256 * 1024)
#define PIPE_READ_BYTES 16

/* 200 clients each send a 256 KiB /echo, read a few bytes of the answer and close (half with a
 * reset, half with a FIN): the server writes into closed sockets again and again. The harness
 * starts it with SIGPIPE at its default action. */
static void sigpipe_never_kills(struct it_ctx *t, struct it_proc *srv)
{
    struct it_raw c[PIPE_BATCH];
    struct gauges idle;
    char *head = echo_head(PIPE_ECHO_BYTES), *body = malloc(PIPE_ECHO_BYTES);
    CURL *h = it_easy_new();
    int read_some = 0;
    memset(body, 'x', PIPE_ECHO_BYTES);
    if (!idle_gauges(t, srv, h, &idle))
        goto out;
    for (int done = 0; done < PIPE_CLIENTS; done += PIPE_BATCH) {
        int n = 0;
        for (int i = 0; i < PIPE_BATCH; i++) {
            if (it_raw_open(&c[n], srv->port) != 0)
                continue;
            it_raw_send_str(&c[n], head);
            it_raw_send(&c[n], body, PIPE_ECHO_BYTES);
            n++;
        }
        for (int i = 0; i < n; i++) {
            char few[PIPE_READ_BYTES];
            read_some += recv(c[i].fd, few, sizeof(few), 0) > 0;
            if (i % 2) {
                it_raw_abort(&c[i]);
                continue;
            }
            /* Closing with nothing unread sends a FIN: the server's next write draws a reset
             * and the one after that EPIPE, which is SIGPIPE unless the server ignores it. */
            char drain[65536];
            while (recv(c[i].fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
                ;
            it_raw_close(&c[i]);
        }
    }
    it_expect_int(t, "clients that got the start of their answer before closing", PIPE_CLIENTS,
                  read_some);
    if (it_expect_running(t, srv, "writing to closed sockets"))
        expect_settled(t, srv, h, idle.threads, "200 clients closed mid-answer");
out:
    free(head);
    free(body);
    curl_easy_cleanup(h);
}

/* --- 5. many mixed requests, then exit (LeakSanitizer judges in the ASan build) ----------- */

#define MIX_ROUNDS 120
#define RAW_ROUNDS 40

static void curl_mix(struct it_ctx *t, const struct it_proc *srv)
{
    static const struct {
        struct it_http req;
        long status;
    } mix[] = {
        {{.path = "/hello"}, 200},
        {{.method = "HEAD", .path = "/hello"}, 200},
        {{.path = "/sleep?ms=2"}, 200},
        {{.path = "/gather?ms=1,3,2"}, 200},
        {{.path = "/cpu?ms=1"}, 200},
        {{.path = "/echo", .body = "abc", .body_len = 3, .content_type = "text/plain"}, 200},
        {{.path = "/echo", .body = "chunked body", .body_len = 12, .chunked = true}, 200},
        {{.path = "/status/418"}, 418},
        {{.path = "/metrics"}, 200},
        {{.path = "/nosuch"}, 404},
        {{.method = "DELETE", .path = "/echo"}, 405},
        {{.path = "/sleep?ms=abc"}, 400},
        {{.path = "/gather?ms=1,,2"}, 400},
        {{.path = "/hello", .http10 = true}, 200},
    };
    enum { N = sizeof(mix) / sizeof(mix[0]) };
    CURL *h[N];
    struct it_resp r[N];
    struct it_multi mu;
    int wrong = 0;
    memset(r, 0, sizeof(r));
    it_multi_init(&mu);
    for (int i = 0; i < N; i++)
        h[i] = it_easy_new();
    for (int round = 0; round < MIX_ROUNDS && wrong < 5; round++) {
        for (int i = 0; i < N; i++) {
            it_easy_prepare(t, h[i], srv, &mix[i].req, &r[i]);
            it_multi_add(&mu, h[i]);
        }
        if (it_multi_wait_all(t, &mu, it_now_ms() + it_scaled_ms(t, 5000)) != 0)
            break;
        for (int i = 0; i < N; i++)
            wrong += !it_expect_int(t, r[i].what, mix[i].status, r[i].status);
    }
    it_multi_fini(&mu);
    for (int i = 0; i < N; i++) {
        curl_easy_cleanup(h[i]);
        it_resp_fini(&r[i]);
    }
}

/* Sends bytes on a new connection and reads the statuses expected (0 ends the list). */
static void raw_exchange(struct it_ctx *t, const struct it_proc *srv, const char *what,
                         const char *bytes, const int *statuses)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    if (!it_check(t, it_raw_open(&c, srv->port) == 0, "%s: connect", what))
        return;
    it_raw_send_str(&c, bytes);
    for (; *statuses; statuses++)
        if (it_raw_expect(t, &c, what, &r, false, raw_ms(t)))
            it_expect_int(t, what, *statuses, r.status);
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

static void raw_mix(struct it_ctx *t, const struct it_proc *srv)
{
    static const int pipelined[] = {200, 404, 200, 405, 0}, bad[] = {400, 0}, too_big[] = {413, 0};
    char *big = echo_head(BIG_ECHO_BYTES);
    unsigned before = t->failures;
    for (int round = 0; round < RAW_ROUNDS && t->failures - before < 5; round++) {
        raw_exchange(t, srv, "four pipelined requests in one write",
                     GET_HELLO "GET /nosuch HTTP/1.1\r\nHost: a\r\n\r\n"
                               "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                               "POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                     pipelined);
        raw_exchange(t, srv, "a header without a colon",
                     "GET /hello HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", bad);
        raw_exchange(t, srv, "Content-Length over max_body_bytes",
                     "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9000000\r\n\r\n", too_big);
        reset_after(t, srv, "GET /hello HTTP/1.1\r\nHo", 0, 0, false);
        reset_after(t, srv, "GET /sleep?ms=20 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 5, false);
        reset_after(t, srv, "GET /gather?ms=20,10 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 5, false);
        reset_after(t, srv, "GET /drip?bytes=1000&chunks=10&ms=5 HTTP/1.1\r\nHost: a\r\n\r\n", 0,
                    12, false);
        if (round % 8 == 0)
            reset_after(t, srv, big, BIG_ECHO_BYTES, 20, true);
    }
    free(big);
}

static void mixed_load_then_clean_exit(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc srv;
    const char *args[] = {"--set", "log.access_log=off", "--set", BIG_ECHO_LIMIT, NULL};
    struct gauges idle, g;
    (void)unused;
    if (it_server_start(t, &srv, args) != 0)
        return;
    CURL *h = it_easy_new();
    if (idle_gauges(t, &srv, h, &idle)) {
        curl_mix(t, &srv);
        raw_mix(t, &srv);
        if (settle(t, &srv, h, idle.threads, it_scaled_ms(t, 1500), &g))
            it_expect_int(t, "iobound_connections_open (the scrape) after the mix", 1,
                          (long long)g.open);
    }
    curl_easy_cleanup(h);
    /* Exit 0 is the check: under ASan, LeakSanitizer turns a leak into a nonzero exit. */
    it_server_stop(t, &srv);
}

int main(int argc, char **argv)
{
    static const struct it_case shared[] = {
        {"resets_leave_nothing_behind", resets_leave_nothing_behind},
        {"sigpipe_never_kills", sigpipe_never_kills},
    };
    static const struct it_case own_server[] = {
        {"emfile_pauses_without_spinning", emfile_pauses_without_spinning},
        {"over_max_connections_costs_no_thread", over_max_connections_costs_no_thread},
        {"mixed_load_then_clean_exit", mixed_load_then_clean_exit},
    };
    const char *args[] = {"--set", "log.access_log=off", "--set", BIG_ECHO_LIMIT, NULL};
    return it_main(argc, argv, args, shared, IT_LEN(shared), own_server, IT_LEN(own_server));
}
