/* `make demo`'s client: runs a fixed script of experiments against an evented and a threaded
 * iobound that run.sh started, with real concurrent clients (libcurl multi), prints the
 * measurements side by side and each claim with HELD or DID NOT HOLD and why, and writes every
 * request's start and end to a TSV for the timeline chart. Knows the SPEC, not the server's
 * code. Single-threaded; loopback only; every request bounded by a timeout. */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_XFERS          100   /* the largest batch: experiment 2 */
#define BODY_BYTES         1024  /* enough for a /gather answer; the rest is dropped */
#define REQUEST_TIMEOUT_MS 20000 /* the longest request takes 2 s, far more on a loaded box */
#define BATCH_DEADLINE_S   25    /* past every request's own timeout: curl reports each one */

/* One iobound that run.sh started. */
struct server {
    const char *mode; /* "evented" | "threaded" */
    int port;
    long pid; /* for /proc/<pid>/status */
};

/* One request and what came back. Times are seconds since its batch began. */
struct xfer {
    CURL *h;
    const char *series; /* the TSV's series column: what kind of request this is */
    int row;            /* its bar's row in the chart */
    double start_s;
    double end_s;
    long status; /* HTTP status; 0 when the transfer failed */
    long connects;
    char body[BODY_BYTES + 1];
    size_t body_len;
};

/* Requests in flight together on one multi handle (which keeps their connections). */
struct batch {
    const struct server *srv;
    int experiment;
    CURLM *m;
    double t0;
    size_t n;       /* requests started */
    size_t running; /* started and not finished */
    struct xfer x[MAX_XFERS];
};

/* What one mode measured. */
struct measures {
    double gather_s;
    double sleep_s;
    long threads;     /* OS threads while the 100 sleeps were in flight */
    long rss_rest_kb; /* VmRSS before them */
    long rss_kb;      /* VmRSS while they were in flight */
    double cpu_s;
    double cpu_cores; /* CPU time the server used during the 8 /cpu, over their wall time */
    double hello_s;   /* the /hello sent while the CPU work ran: its latency */
    double seq_s;
    long seq_connects; /* connections the 10 sequential requests needed */
    double par_s;
    unsigned requests;
    unsigned failed; /* requests that did not get a 200 */
};

/* The timeline TSV, open for the whole run. */
static FILE *tsv;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    size_t room = BODY_BYTES - x->body_len;
    size_t take = len < room ? len : room;
    memcpy(x->body + x->body_len, p, take);
    x->body_len += take;
    x->body[x->body_len] = '\0';
    return len;
}

static struct batch *batch_new(const struct server *srv, int experiment)
{
    struct batch *b = calloc(1, sizeof *b);
    if (!b || !(b->m = curl_multi_init())) {
        fprintf(stderr, "demo: out of memory\n");
        exit(1);
    }
    b->srv = srv;
    b->experiment = experiment;
    b->t0 = now_s();
    return b;
}

/* Starts GET path now, as the bar at row of the given series. */
static struct xfer *batch_start(struct batch *b, const char *path, const char *series, int row)
{
    struct xfer *x = &b->x[b->n++];
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", b->srv->port, path);
    x->series = series;
    x->row = row;
    x->h = curl_easy_init();
    if (!x->h) {
        fprintf(stderr, "demo: curl_easy_init failed\n");
        exit(1);
    }
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_PROXY, ""); /* loopback only, whatever http_proxy says */
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    x->start_s = now_s() - b->t0;
    curl_multi_add_handle(b->m, x->h);
    b->running++;
    return x;
}

/* Drives the batch until every started request finished or until_s (since t0) passed. */
static void batch_run(struct batch *b, double until_s)
{
    while (b->running > 0 && now_s() - b->t0 < until_s) {
        int still, left;
        curl_multi_perform(b->m, &still);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(b->m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct xfer *x;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            x->end_s = now_s() - b->t0;
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
            else
                fprintf(stderr, "demo: %s: %s\n", b->srv->mode,
                        curl_easy_strerror(msg->data.result));
            curl_easy_getinfo(x->h, CURLINFO_NUM_CONNECTS, &x->connects);
            curl_multi_remove_handle(b->m, x->h);
            b->running--;
        }
        double left_ms = (until_s - (now_s() - b->t0)) * 1e3;
        if (b->running > 0 && left_ms > 0)
            curl_multi_poll(b->m, NULL, 0, left_ms < 100 ? (int)left_ms + 1 : 100, NULL);
    }
}

/* Time from the batch's start to its last answer. */
static double batch_wall_s(const struct batch *b)
{
    double wall = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->x[i].end_s > wall)
            wall = b->x[i].end_s;
    return wall;
}

static void tsv_row(const struct batch *b, const char *series, int row, double start_s,
                    double end_s, long status)
{
    fprintf(tsv, "%s\t%d\t%s\t%d\t%.4f\t%.4f\t%ld\n", b->srv->mode, b->experiment, series, row,
            start_s, end_s, status);
}

/* Writes the batch's requests to the TSV, counts them into m and frees it (closing its
 * connections, so no threaded-mode connection thread outlives its experiment). */
static void batch_free(struct batch *b, struct measures *m)
{
    for (size_t i = 0; i < b->n; i++) {
        struct xfer *x = &b->x[i];
        tsv_row(b, x->series, x->row, x->start_s, x->end_s, x->status);
        m->requests++;
        if (x->status != 200)
            m->failed++;
        curl_multi_remove_handle(b->m, x->h); /* a no-op unless the deadline cut it short */
        curl_easy_cleanup(x->h);
    }
    curl_multi_cleanup(b->m);
    free(b);
}

/* Reads Threads and VmRSS of the server from /proc; -1 each when unreadable. */
static void read_proc_status(const struct server *s, long *threads, long *rss_kb)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", s->pid);
    *threads = *rss_kb = -1;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "Threads: %ld", threads);
        sscanf(line, "VmRSS: %ld", rss_kb);
    }
    fclose(f);
}

/* CPU time (user + system) the server used so far, in seconds; 0 when unreadable. */
static double read_proc_cpu_s(const struct server *s)
{
    char path[64], line[1024];
    unsigned long user_ticks, sys_ticks;
    snprintf(path, sizeof path, "/proc/%ld/stat", s->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    /* utime and stime are fields 14 and 15; the name in field 2 may hold blanks, so count the
     * fields after its closing parenthesis. */
    const char *p = got ? strrchr(line, ')') : NULL;
    if (!p || sscanf(p, ") %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &user_ticks,
                     &sys_ticks) != 2)
        return 0;
    return (double)(user_ticks + sys_ticks) / (double)sysconf(_SC_CLK_TCK);
}

/* 1. One /gather?ms=1000,2000: its two waits run concurrently inside the request. The tasks'
 * finished_ms (server-side, from the step's start) become bars of their own. */
static void run_gather(const struct server *s, struct measures *m)
{
    struct batch *b = batch_new(s, 1);
    struct xfer *x = batch_start(b, "/gather?ms=1000,2000", "request", 1);
    batch_run(b, BATCH_DEADLINE_S);
    m->gather_s = batch_wall_s(b);
    int row = 2;
    for (const char *p = x->body; (p = strstr(p, "\"finished_ms\":")); row++) {
        p += strlen("\"finished_ms\":");
        tsv_row(b, "gather-task", row, x->start_s, x->start_s + strtod(p, NULL) / 1e3, 200);
    }
    batch_free(b, m);
}

/* 2. 100 concurrent /sleep?ms=1000; threads and memory sampled halfway through the wait. */
static void run_sleeps(const struct server *s, struct measures *m)
{
    long threads_rest;
    read_proc_status(s, &threads_rest, &m->rss_rest_kb);
    struct batch *b = batch_new(s, 2);
    for (int i = 0; i < 100; i++)
        batch_start(b, "/sleep?ms=1000", "request", i + 1);
    batch_run(b, 0.5);
    read_proc_status(s, &m->threads, &m->rss_kb);
    batch_run(b, BATCH_DEADLINE_S);
    m->sleep_s = batch_wall_s(b);
    batch_free(b, m);
}

/* 3. 8 concurrent /cpu?ms=250, and a /hello 100 ms later while they burn. */
static void run_cpu(const struct server *s, struct measures *m)
{
    double cpu_before_s = read_proc_cpu_s(s);
    struct batch *b = batch_new(s, 3);
    for (int i = 0; i < 8; i++)
        batch_start(b, "/cpu?ms=250", "request", i + 1);
    batch_run(b, 0.1);
    struct xfer *hello = batch_start(b, "/hello", "hello", 9);
    batch_run(b, BATCH_DEADLINE_S);
    m->cpu_s = 0;
    for (int i = 0; i < 8; i++)
        if (b->x[i].end_s > m->cpu_s)
            m->cpu_s = b->x[i].end_s;
    m->cpu_cores = (read_proc_cpu_s(s) - cpu_before_s) / m->cpu_s;
    m->hello_s = hello->end_s - hello->start_s;
    batch_free(b, m);
}

/* 4. 10 waits of 200 ms one after another on one connection, then the same 10 at once. */
static void run_seq_vs_par(const struct server *s, struct measures *m)
{
    struct batch *b = batch_new(s, 4);
    m->seq_connects = 0;
    for (int i = 0; i < 10; i++) {
        struct xfer *x = batch_start(b, "/sleep?ms=200", "in-turn", i + 1);
        batch_run(b, (i + 1) * BATCH_DEADLINE_S);
        m->seq_connects += x->connects;
    }
    m->seq_s = batch_wall_s(b);
    batch_free(b, m);

    b = batch_new(s, 4);
    for (int i = 0; i < 10; i++)
        batch_start(b, "/sleep?ms=200", "at-once", i + 11);
    batch_run(b, BATCH_DEADLINE_S);
    m->par_s = batch_wall_s(b);
    batch_free(b, m);
}

/* One table row: a label, what is measured, then the evented and threaded values. */
static void print_row(const char *label, const char *metric, const char *evented,
                      const char *threaded)
{
    printf("%-40s %-11s %11s %11s\n", label, metric, evented, threaded);
}

static void print_seconds_row(const char *label, double evented, double threaded)
{
    char e[32], t[32];
    snprintf(e, sizeof e, "%.3f s", evented);
    snprintf(t, sizeof t, "%.3f s", threaded);
    print_row(label, "wall time", e, t);
}

static void print_table(const struct measures m[2])
{
    char e[32], t[32];
    print_row("", "", "evented", "threaded");
    print_seconds_row("1. one /gather?ms=1000,2000", m[0].gather_s, m[1].gather_s);
    print_seconds_row("2. 100 x /sleep?ms=1000 at once", m[0].sleep_s, m[1].sleep_s);
    snprintf(e, sizeof e, "%ld", m[0].threads);
    snprintf(t, sizeof t, "%ld", m[1].threads);
    print_row("   halfway through the wait", "OS threads", e, t);
    snprintf(e, sizeof e, "%.1f MB", m[0].rss_kb / 1024.0);
    snprintf(t, sizeof t, "%.1f MB", m[1].rss_kb / 1024.0);
    print_row("", "RSS", e, t);
    snprintf(e, sizeof e, "%.1f MB", m[0].rss_rest_kb / 1024.0);
    snprintf(t, sizeof t, "%.1f MB", m[1].rss_rest_kb / 1024.0);
    print_row("   before it", "RSS", e, t);
    print_seconds_row("3. 8 x /cpu?ms=250 at once", m[0].cpu_s, m[1].cpu_s);
    snprintf(e, sizeof e, "%.2f", m[0].cpu_cores);
    snprintf(t, sizeof t, "%.2f", m[1].cpu_cores);
    print_row("   CPU time / wall time", "cores used", e, t);
    snprintf(e, sizeof e, "%.1f ms", m[0].hello_s * 1e3);
    snprintf(t, sizeof t, "%.1f ms", m[1].hello_s * 1e3);
    print_row("   a /hello sent 100 ms in", "latency", e, t);
    print_seconds_row("4. 10 x /sleep?ms=200 one by one", m[0].seq_s, m[1].seq_s);
    print_seconds_row("   the same 10 at once", m[0].par_s, m[1].par_s);
}

/* One claim being checked: why it did not hold, empty while it holds. */
struct claim {
    char why[512];
};

/* Adds a reason the claim did not hold. */
static void fail(struct claim *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct claim *c, const char *fmt, ...)
{
    size_t used = strlen(c->why);
    if (used)
        used += (size_t)snprintf(c->why + used, sizeof c->why - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why + used, sizeof c->why - used, fmt, ap);
    va_end(ap);
}

/* Fails the claim unless lo <= v <= hi seconds, naming the mode. */
static void want_range(struct claim *c, const char *mode, double v, double lo, double hi)
{
    if (v < lo)
        fail(c, "%s %.3f s is below %.1f s", mode, v, lo);
    else if (v > hi)
        fail(c, "%s %.3f s is above %.1f s", mode, v, hi);
}

struct tally {
    unsigned held;
    unsigned total;
};

/* Prints the claim: HELD, or DID NOT HOLD and why; then clears it for the next one. */
static void print_claim(struct tally *t, struct claim *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void print_claim(struct tally *t, struct claim *c, const char *fmt, ...)
{
    va_list ap;
    printf("%-13s ", c->why[0] ? "DID NOT HOLD" : "HELD");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    t->total++;
    if (c->why[0])
        printf("%-13s (%s)\n", "", c->why);
    else
        t->held++;
    c->why[0] = '\0';
}

/* The claims, each with a tolerance that an honest but noisy 2-core box meets. */
static struct tally print_claims(const struct measures m[2])
{
    static const char *const modes[2] = {"evented", "threaded"};
    struct tally t = {0};
    struct claim c = {""};

    for (int i = 0; i < 2; i++)
        want_range(&c, modes[i], m[i].gather_s, 2.0, 2.3);
    print_claim(&t, &c,
                "1. a gather takes its longest wait (2 s), not the sum (3 s): %.3f s and %.3f s",
                m[0].gather_s, m[1].gather_s);

    for (int i = 0; i < 2; i++)
        want_range(&c, modes[i], m[i].sleep_s, 1.0, 1.5);
    print_claim(&t, &c, "2. 100 concurrent 1 s waits take about 1 s: %.3f s and %.3f s",
                m[0].sleep_s, m[1].sleep_s);

    if (m[0].threads != 1)
        fail(&c, "evented ran %ld threads, not 1", m[0].threads);
    if (m[1].threads < 100)
        fail(&c, "threaded ran %ld threads, fewer than the 100 connections", m[1].threads);
    print_claim(&t, &c, "2. evented waits on 1 thread (%ld), threaded on one per connection (%ld)",
                m[0].threads, m[1].threads);

    if (m[1].rss_kb <= m[0].rss_kb)
        fail(&c, "threaded RSS is not above evented RSS");
    print_claim(
        &t, &c,
        "2. threads cost memory: RSS %.1f MB vs %.1f MB (threaded: %+.0f KB per connection)",
        m[0].rss_kb / 1024.0, m[1].rss_kb / 1024.0,
        (double)(m[1].rss_kb - m[1].rss_rest_kb) / 100.0);

    if (m[0].cpu_s < 1.9)
        fail(&c, "evented %.3f s is below 1.9 s", m[0].cpu_s);
    print_claim(&t, &c,
                "3. evented runs CPU work one request at a time: %.3f s (8 x 250 ms, >= 1.9 s)",
                m[0].cpu_s);

    double load[1] = {0};
    getloadavg(load, 1);
    if (m[1].cpu_s >= 0.75 * m[0].cpu_s)
        fail(&c,
             "not below: it kept only %.2f cores busy; the machine had no more to spare, "
             "load average %.1f",
             m[1].cpu_cores, load[0]);
    print_claim(&t, &c, "3. threaded runs it on both cores: %.3f s (< 0.75 x evented = %.3f s)",
                m[1].cpu_s, 0.75 * m[0].cpu_s);

    if (m[0].hello_s <= 0.1)
        fail(&c, "evented answered within 100 ms");
    if (m[1].hello_s >= 0.1)
        fail(&c, "threaded took 100 ms or more");
    print_claim(
        &t, &c,
        "3. a /hello sent meanwhile waits: %.1f ms evented (> 100), %.1f ms threaded (< 100)",
        m[0].hello_s * 1e3, m[1].hello_s * 1e3);

    for (int i = 0; i < 2; i++) {
        want_range(&c, modes[i], m[i].seq_s, 2.0, 2.4);
        if (m[i].seq_connects != 1)
            fail(&c, "%s opened %ld connections, not 1", modes[i], m[i].seq_connects);
    }
    print_claim(&t, &c,
                "4. 10 waits of 200 ms in turn on one connection take the sum (2 s): %.3f s and "
                "%.3f s",
                m[0].seq_s, m[1].seq_s);

    for (int i = 0; i < 2; i++)
        want_range(&c, modes[i], m[i].par_s, 0.2, 0.4);
    print_claim(&t, &c, "4. the same 10 at once take the longest (0.2 s): %.3f s and %.3f s",
                m[0].par_s, m[1].par_s);

    for (int i = 0; i < 2; i++)
        if (m[i].failed)
            fail(&c, "%u %s requests failed", m[i].failed, modes[i]);
    print_claim(&t, &c, "every one of the %u requests got a 200", m[0].requests + m[1].requests);
    return t;
}

/* Parses "<mode>:PORT:PID". Returns 0, or -1 when arg is not that. */
static int parse_server(const char *arg, const char *mode, struct server *s)
{
    size_t n = strlen(mode);
    s->mode = mode;
    if (strncmp(arg, mode, n) != 0 || sscanf(arg + n, ":%d:%ld", &s->port, &s->pid) != 2)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct server srv[2];
    if (argc != 4 || parse_server(argv[2], "evented", &srv[0]) ||
        parse_server(argv[3], "threaded", &srv[1])) {
        fprintf(stderr, "usage: %s TIMELINE.tsv evented:PORT:PID threaded:PORT:PID\n", argv[0]);
        return 2;
    }
    tsv = fopen(argv[1], "w");
    if (!tsv) {
        perror(argv[1]);
        return 1;
    }
    fprintf(tsv, "mode\texperiment\tseries\trow\tstart_s\tend_s\tstatus\n");
    curl_global_init(CURL_GLOBAL_DEFAULT);

    static void (*const experiments[])(const struct server *, struct measures *) = {
        run_gather, run_sleeps, run_cpu, run_seq_vs_par};
    struct measures m[2] = {{0}};
    for (size_t e = 0; e < sizeof experiments / sizeof experiments[0]; e++)
        for (int i = 0; i < 2; i++)
            experiments[e](&srv[i], &m[i]);

    double load[1] = {0};
    getloadavg(load, 1);
    printf("iobound demo: the same requests against both modes, measured now on this machine "
           "(%ld CPUs, load average %.1f)\n\n",
           sysconf(_SC_NPROCESSORS_ONLN), load[0]);
    print_table(m);
    printf("\nClaims (numbers: evented, then threaded)\n");
    struct tally t = print_claims(m);
    printf("\n%u of %u claims held.\n", t.held, t.total);

    curl_global_cleanup();
    fclose(tsv);
    return m[0].failed + m[1].failed == 0 ? 0 : 1;
}
