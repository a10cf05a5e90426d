/* `make demo`'s client: runs a fixed script of experiments against one iobound per model that
 * run.sh started, with real concurrent clients (libcurl multi), prints the measurements side by
 * side and each claim with HELD or DID NOT HOLD and why. What it expects of a model comes from the
 * traits run.sh read from `iobound --list-modes=json`, never from its name, so a new row in the
 * engine table is measured and judged without a change here. Writes every request's start and end
 * to timeline.tsv (the charts) and one row of figures per model to measures.tsv (lesson.py).
 * Single-threaded; loopback only; every request bounded by a timeout. */
#include <curl/curl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MODELS_MAX         16
#define SLEEPS             100 /* experiment 2: concurrent waits per model */
#define SLEEP_MS           300 /* each: 13 rounds (3.9 s) on a pool of 8, 0.3 s where they overlap */
#define BODY_BYTES         1024 /* enough for a /gather answer; the rest is dropped */
#define REQUEST_TIMEOUT_MS 20000
#define BATCH_DEADLINE_S   25 /* past every request's own timeout: curl reports each one */
#define SEQ_REQUESTS       10
#define CPU_REQUESTS       8
#define CPU_MS             250

/* What one model measured; the figures of the table are doubles (see table_rows). */
struct measures {
    double gather_s;    /* one /gather?ms=1000,2000 */
    double two_waits_s; /* /sleep?ms=1000 and /sleep?ms=2000 on two connections at once */
    double sleep_s;
    double threads;      /* OS threads while the 100 sleeps were in flight (the most seen) */
    double rss_rest_kb;  /* VmRSS before them */
    double rss_kb;       /* VmRSS while they were in flight (the most seen) */
    double hello_wait_s; /* the /hello sent 100 ms after them: its latency */
    double cpu_s;
    double cpu_cores; /* CPU time the server used during the 8 /cpu, over their wall time */
    double hello_s;   /* the /hello sent while the CPU work ran: its latency */
    double seq_s;
    long seq_connects; /* connections the 10 sequential requests needed */
    double par_s;
    unsigned requests;
    unsigned failed; /* requests that did not get a 200 */
};

/* One iobound that run.sh started, with its model's traits. */
struct server {
    char name[32];
    int port;
    long pid; /* for /proc/<pid>/status */
    bool wait_costs_thread;
    bool cpu_stalls_others;
    long threads_at_rest;
    long threads_per_conn;
    long cpu_lanes; /* CPU steps that run at once; 0: one per connection */
    long max_waits; /* waits that can be in progress at once; 0: no limit */
    struct measures m;
    int seq_left; /* experiment 4: sequential requests still to start */
};

/* One request and what came back. Times are seconds since its batch began. */
struct xfer {
    CURL *h;
    struct server *srv;
    const char *series; /* the TSV's series column: what kind of request this is */
    int row;            /* its bar's row in the chart */
    double start_s;
    double end_s;
    long status; /* HTTP status; 0 when the transfer failed */
    long connects;
    char body[BODY_BYTES + 1];
    size_t body_len;
};

/* Requests in flight together on one multi handle (which keeps their connections), possibly
 * to several servers at once. */
struct batch {
    int experiment;
    CURLM *m;
    double t0;
    size_t n;       /* requests started */
    size_t running; /* started and not finished */
    size_t cap;
    struct xfer *x;
};

static FILE *tsv; /* the timeline, open for the whole run */
static struct server servers[MODELS_MAX];
static size_t n_servers;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "demo: %s\n", what);
    exit(1);
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

/* A batch for up to per_server requests to each server. */
static struct batch *batch_new(int experiment, size_t per_server)
{
    struct batch *b = calloc(1, sizeof *b);
    if (!b || !(b->m = curl_multi_init()))
        die("out of memory");
    b->cap = per_server * n_servers;
    if (!(b->x = calloc(b->cap, sizeof *b->x)))
        die("out of memory");
    b->experiment = experiment;
    b->t0 = now_s();
    return b;
}

/* Starts GET path on srv now, as the bar at row of the given series. */
static struct xfer *batch_start(struct batch *b, struct server *srv, const char *path,
                                const char *series, int row)
{
    if (b->n == b->cap)
        die("a batch outgrew its room");
    struct xfer *x = &b->x[b->n++];
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv->port, path);
    x->srv = srv;
    x->series = series;
    x->row = row;
    if (!(x->h = curl_easy_init()))
        die("curl_easy_init failed");
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

/* Called when x is done; may start more requests on the batch. */
typedef void on_done_fn(struct batch *b, struct xfer *x);

/* Drives the batch until every started request finished or until_s (since t0) passed. */
static void batch_run(struct batch *b, double until_s, on_done_fn *on_done)
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
                fprintf(stderr, "demo: %s: %s\n", x->srv->name,
                        curl_easy_strerror(msg->data.result));
            curl_easy_getinfo(x->h, CURLINFO_NUM_CONNECTS, &x->connects);
            curl_multi_remove_handle(b->m, x->h);
            b->running--;
            if (on_done)
                on_done(b, x);
        }
        double left_ms = (until_s - (now_s() - b->t0)) * 1e3;
        if (b->running > 0 && left_ms > 0)
            curl_multi_poll(b->m, NULL, 0, left_ms < 100 ? (int)left_ms + 1 : 100, NULL);
    }
}

/* Time from the batch's start to the last answer of srv's requests in series (NULL: any). */
static double batch_wall_s(const struct batch *b, const struct server *srv, const char *series)
{
    double wall = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct xfer *x = &b->x[i];
        if (x->srv == srv && (!series || strcmp(x->series, series) == 0) && x->end_s > wall)
            wall = x->end_s;
    }
    return wall;
}

static void tsv_row(const struct batch *b, const struct server *srv, const char *series, int row,
                    double start_s, double end_s, long status)
{
    fprintf(tsv, "%s\t%d\t%s\t%d\t%.4f\t%.4f\t%ld\n", srv->name, b->experiment, series, row,
            start_s, end_s, status);
}

/* Writes the batch's requests to the TSV, counts them into each server's measures and frees it
 * (closing its connections, so no connection thread outlives its experiment). */
static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct xfer *x = &b->x[i];
        tsv_row(b, x->srv, x->series, x->row, x->start_s, x->end_s, x->status);
        x->srv->m.requests++;
        if (x->status != 200)
            x->srv->m.failed++;
        curl_multi_remove_handle(b->m, x->h); /* a no-op unless the deadline cut it short */
        curl_easy_cleanup(x->h);
    }
    curl_multi_cleanup(b->m);
    free(b->x);
    free(b);
}

/* Reads Threads and VmRSS of the server from /proc; -1 each when unreadable. */
static void read_proc_status(const struct server *s, double *threads, double *rss_kb)
{
    char path[64], line[256];
    long n = -1, kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", s->pid);
    FILE *f = fopen(path, "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            sscanf(line, "Threads: %ld", &n);
            sscanf(line, "VmRSS: %ld", &kb);
        }
        fclose(f);
    }
    *threads = (double)n;
    *rss_kb = (double)kb;
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

/* The waiting experiments use no CPU, so they run against every model at the same moment; only
 * the CPU experiment takes the models one at a time. */

/* 1. One /gather?ms=1000,2000 (its two waits run concurrently inside the request; the tasks'
 * server-side finished_ms become bars of their own), and beside it the same two waits as two
 * requests on two connections: in a model where a wait costs a thread, two waiting threads. */
static void run_gather(void)
{
    struct batch *b = batch_new(1, 3);
    for (size_t i = 0; i < n_servers; i++) {
        batch_start(b, &servers[i], "/gather?ms=1000,2000", "request", 1);
        batch_start(b, &servers[i], "/sleep?ms=1000", "two-waits", 4);
        batch_start(b, &servers[i], "/sleep?ms=2000", "two-waits", 5);
    }
    batch_run(b, BATCH_DEADLINE_S, NULL);
    for (size_t i = 0; i < n_servers; i++) {
        struct server *s = &servers[i];
        const struct xfer *x = &b->x[3 * i];
        s->m.gather_s = x->end_s - x->start_s;
        s->m.two_waits_s = batch_wall_s(b, s, "two-waits");
        int row = 2;
        for (const char *p = x->body; (p = strstr(p, "\"finished_ms\":")); row++) {
            p += strlen("\"finished_ms\":");
            tsv_row(b, s, "gather-task", row, x->start_s, x->start_s + strtod(p, NULL) / 1e3, 200);
        }
    }
    batch_free(b);
}

/* Samples threads and RSS of every server, keeping the most seen of each. */
static void sample_peaks(void)
{
    for (size_t i = 0; i < n_servers; i++) {
        double threads, rss_kb;
        read_proc_status(&servers[i], &threads, &rss_kb);
        servers[i].m.threads = fmax(servers[i].m.threads, threads);
        servers[i].m.rss_kb = fmax(servers[i].m.rss_kb, rss_kb);
    }
}

/* 2. 100 concurrent /sleep?ms=300 per model and a /hello 100 ms later: a pool of k workers
 * serves them in rounds of k and the /hello queues behind them. Threads and memory are the
 * most seen over the first wait (the connections open while it runs). */
static void run_sleeps(void)
{
    double threads_rest;
    for (size_t i = 0; i < n_servers; i++)
        read_proc_status(&servers[i], &threads_rest, &servers[i].m.rss_rest_kb);
    struct batch *b = batch_new(2, SLEEPS + 1);
    char path[64];
    snprintf(path, sizeof path, "/sleep?ms=%d", SLEEP_MS);
    for (size_t i = 0; i < n_servers; i++)
        for (int r = 0; r < SLEEPS; r++)
            batch_start(b, &servers[i], path, "request", r + 1);
    batch_run(b, 0.1, NULL);
    struct xfer *hello[MODELS_MAX];
    for (size_t i = 0; i < n_servers; i++)
        hello[i] = batch_start(b, &servers[i], "/hello", "hello", SLEEPS + 1);
    for (double t = 0.12; t < 0.9 * SLEEP_MS / 1e3; t += 0.02) {
        batch_run(b, t, NULL);
        sample_peaks();
    }
    batch_run(b, BATCH_DEADLINE_S, NULL);
    for (size_t i = 0; i < n_servers; i++) {
        servers[i].m.sleep_s = batch_wall_s(b, &servers[i], "request");
        servers[i].m.hello_wait_s = hello[i]->end_s - hello[i]->start_s;
    }
    batch_free(b);
}

/* 3. 8 concurrent /cpu?ms=250, and a /hello 100 ms later while they burn; one model at a time,
 * so that each has the machine's cores to itself. */
static void run_cpu(struct server *s)
{
    double cpu_before_s = read_proc_cpu_s(s);
    struct batch *b = batch_new(3, CPU_REQUESTS + 1);
    char path[64];
    snprintf(path, sizeof path, "/cpu?ms=%d", CPU_MS);
    for (int i = 0; i < CPU_REQUESTS; i++)
        batch_start(b, s, path, "request", i + 1);
    batch_run(b, 0.1, NULL);
    struct xfer *hello = batch_start(b, s, "/hello", "hello", CPU_REQUESTS + 1);
    batch_run(b, BATCH_DEADLINE_S, NULL);
    s->m.cpu_s = batch_wall_s(b, s, "request");
    s->m.cpu_cores = (read_proc_cpu_s(s) - cpu_before_s) / s->m.cpu_s;
    s->m.hello_s = hello->end_s - hello->start_s;
    batch_free(b);
}

/* Experiment 4's chain: each answer of the in-turn series starts that server's next request. */
static void on_seq_done(struct batch *b, struct xfer *x)
{
    struct server *s = x->srv;
    s->m.seq_connects += x->connects;
    if (s->seq_left-- > 0)
        batch_start(b, s, "/sleep?ms=200", "in-turn", SEQ_REQUESTS - s->seq_left);
}

/* 4. 10 waits of 200 ms one after another on one connection, then the same 10 at once. */
static void run_seq_vs_par(void)
{
    struct batch *b = batch_new(4, SEQ_REQUESTS);
    for (size_t i = 0; i < n_servers; i++) {
        servers[i].seq_left = SEQ_REQUESTS - 1;
        batch_start(b, &servers[i], "/sleep?ms=200", "in-turn", 1);
    }
    batch_run(b, BATCH_DEADLINE_S, on_seq_done);
    for (size_t i = 0; i < n_servers; i++)
        servers[i].m.seq_s = batch_wall_s(b, &servers[i], NULL);
    batch_free(b);

    b = batch_new(4, SEQ_REQUESTS);
    for (size_t i = 0; i < n_servers; i++)
        for (int r = 0; r < SEQ_REQUESTS; r++)
            batch_start(b, &servers[i], "/sleep?ms=200", "at-once", r + SEQ_REQUESTS + 1);
    batch_run(b, BATCH_DEADLINE_S, NULL);
    for (size_t i = 0; i < n_servers; i++)
        servers[i].m.par_s = batch_wall_s(b, &servers[i], NULL);
    batch_free(b);
}

/* The table: one row per figure, one column per model. */
static const struct {
    const char *label;
    const char *metric;
    size_t offset; /* of a double in struct measures */
    double scale;
    int decimals;
    const char *unit;
} table_rows[] = {
    {"1. one /gather?ms=1000,2000", "wall time", offsetof(struct measures, gather_s), 1, 3, "s"},
    {"   /sleep 1000 + 2000, two conns", "wall time", offsetof(struct measures, two_waits_s), 1, 3,
     "s"},
    {"2. 100 x /sleep?ms=300 at once", "wall time", offsetof(struct measures, sleep_s), 1, 3, "s"},
    {"   a /hello sent 100 ms in", "latency", offsetof(struct measures, hello_wait_s), 1e3, 1,
     "ms"},
    {"   during the first wait", "OS threads", offsetof(struct measures, threads), 1, 0, ""},
    {"", "RSS", offsetof(struct measures, rss_kb), 1 / 1024.0, 1, "MB"},
    {"   before it", "RSS", offsetof(struct measures, rss_rest_kb), 1 / 1024.0, 1, "MB"},
    {"3. 8 x /cpu?ms=250 at once", "wall time", offsetof(struct measures, cpu_s), 1, 3, "s"},
    {"   CPU time / wall time", "cores used", offsetof(struct measures, cpu_cores), 1, 2, ""},
    {"   a /hello sent 100 ms in", "latency", offsetof(struct measures, hello_s), 1e3, 1, "ms"},
    {"4. 10 x /sleep?ms=200 one by one", "wall time", offsetof(struct measures, seq_s), 1, 3, "s"},
    {"   the same 10 at once", "wall time", offsetof(struct measures, par_s), 1, 3, "s"},
};

/* The double at offset in m. */
static double measure_at(const struct measures *m, size_t offset)
{
    double v;
    memcpy(&v, (const char *)m + offset, sizeof v);
    return v;
}

static void print_table(void)
{
    printf("%-37s %-11s", "", "");
    for (size_t i = 0; i < n_servers; i++)
        printf(" %11s", servers[i].name);
    putchar('\n');
    for (size_t r = 0; r < sizeof table_rows / sizeof table_rows[0]; r++) {
        printf("%-37s %-11s", table_rows[r].label, table_rows[r].metric);
        for (size_t i = 0; i < n_servers; i++) {
            char v[32];
            snprintf(v, sizeof v, "%.*f%s%s", table_rows[r].decimals,
                     measure_at(&servers[i].m, table_rows[r].offset) * table_rows[r].scale,
                     table_rows[r].unit[0] ? " " : "", table_rows[r].unit);
            printf(" %11s", v);
        }
        putchar('\n');
    }
}

#define CLAIM_TEXT 512

/* One claim being checked: its figures and why it did not hold, empty while it holds. */
struct claim {
    char figures[CLAIM_TEXT];
    char why[CLAIM_TEXT];
};

/* Appends to a claim's figures (sep ", ") or reasons (sep "; "). */
static void note(char text[CLAIM_TEXT], const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(char text[CLAIM_TEXT], const char *sep, const char *fmt, ...)
{
    size_t used = strlen(text);
    if (used && used < CLAIM_TEXT)
        used += (size_t)snprintf(text + used, CLAIM_TEXT - used, "%s", sep);
    if (used < CLAIM_TEXT) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text + used, CLAIM_TEXT - used, fmt, ap);
        va_end(ap);
    }
}

/* Records v seconds for s and fails the claim unless lo <= v <= hi. */
static void want_range(struct claim *c, const struct server *s, double v, double lo, double hi)
{
    note(c->figures, ", ", "%s %.3f s", s->name, v);
    if (v < lo)
        note(c->why, "; ", "%s %.3f s is below %.2f s", s->name, v, lo);
    else if (v > hi)
        note(c->why, "; ", "%s %.3f s is above %.2f s", s->name, v, hi);
}

struct tally {
    unsigned held;
    unsigned total;
};

/* Prints the claim and its figures: HELD, or DID NOT HOLD and why; then clears it. A claim
 * about a group of models that is empty (no model has those traits) is not printed. */
static void print_claim(struct tally *t, struct claim *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void print_claim(struct tally *t, struct claim *c, const char *fmt, ...)
{
    if (c->figures[0]) {
        va_list ap;
        printf("%-13s ", c->why[0] ? "DID NOT HOLD" : "HELD");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf(": %s\n", c->figures);
        t->total++;
        if (c->why[0])
            printf("%-13s (%s)\n", "", c->why);
        else
            t->held++;
    }
    c->figures[0] = c->why[0] = '\0';
}

/* The range of wall times for n concurrent waits of wait_s: they overlap, or they go in rounds
 * of the model's max_waits. tol_s is what a noisy 2-core machine adds. */
static void waits_range(const struct server *s, int n, double wait_s, double tol_s, double *lo,
                        double *hi)
{
    double rounds = s->max_waits ? ceil((double)n / (double)s->max_waits) : 1;
    *lo = rounds * wait_s;
    *hi = rounds * wait_s + tol_s;
}

/* Claims 2 and 4 about n concurrent waits, for the models whose waits overlap (queued false) or
 * queue beyond max_waits (queued true). */
static void claim_waits(struct tally *t, struct claim *c, bool queued, int n, double wait_s,
                        double tol_s, size_t offset, const char *what)
{
    for (size_t i = 0; i < n_servers; i++) {
        const struct server *s = &servers[i];
        if ((s->max_waits != 0) != queued)
            continue;
        double lo, hi;
        waits_range(s, n, wait_s, tol_s, &lo, &hi);
        want_range(c, s, measure_at(&s->m, offset), lo, hi);
    }
    if (queued)
        print_claim(t, c,
                    "%s queue: they go in rounds of max_waits (ceil(%d / max_waits) x %.1f s)",
                    what, n, wait_s);
    else
        print_claim(t, c, "%s overlap: they take the longest wait (%.1f s), not the sum", what,
                    wait_s);
}

/* 2. The /hello sent 100 ms after the 100 waits. Where waits queue beyond max_waits (pool
 * exhaustion) it waits behind them: at least half the ceil(100 / max_waits) rounds; where they
 * overlap it is answered at once (< 100 ms). */
static void claim_hello_behind_waits(struct tally *t, struct claim *c, bool queued)
{
    for (size_t i = 0; i < n_servers; i++) {
        const struct server *s = &servers[i];
        if ((s->max_waits != 0) != queued)
            continue;
        double lo, hi;
        waits_range(s, SLEEPS, SLEEP_MS / 1e3, 0, &lo, &hi);
        note(c->figures, ", ", "%s %.1f ms", s->name, s->m.hello_wait_s * 1e3);
        if (queued && s->m.hello_wait_s < lo / 2)
            note(c->why, "; ", "%s answered in %.3f s, less than half the %.2f s of the rounds",
                 s->name, s->m.hello_wait_s, lo);
        if (!queued && s->m.hello_wait_s >= 0.1)
            note(c->why, "; ", "%s took 100 ms or more", s->name);
    }
    print_claim(t, c,
                queued ? "2. pool exhaustion (max_waits > 0): a /hello sent 100 ms in waits behind "
                         "the 100 (>= half of ceil(100 / max_waits) x 0.3 s)"
                       : "2. waits that overlap (no max_waits) leave a /hello sent meanwhile "
                         "answered at once (< 100 ms)");
}

/* 2. The OS threads halfway through the 100 waits are what the traits say: those at rest plus
 * threads_per_conn for each connection (a wait that costs a thread shows here). */
static void claim_threads(struct tally *t, struct claim *c)
{
    for (size_t i = 0; i < n_servers; i++) {
        const struct server *s = &servers[i];
        long want = s->threads_at_rest + s->threads_per_conn * SLEEPS;
        note(c->figures, ", ", "%s %.0f (traits: %ld)", s->name, s->m.threads, want);
        /* Slack above for a thread being started or torn down at the sampling instant. */
        if (s->m.threads < (double)want || s->m.threads > (double)want + 2)
            note(c->why, "; ", "%s ran %.0f threads, the traits say %ld", s->name, s->m.threads,
                 want);
    }
    print_claim(t, c,
                "2. OS threads during 100 waits = at rest + per connection x 100 (a wait that "
                "costs a thread shows here)");
}

/* 2. A thread per connection costs memory: each such model's RSS per connection is above that
 * of every model without one. Printed only when both kinds are in the table. */
static void claim_memory(struct tally *t, struct claim *c)
{
    double max_without = -1e9, min_with = 1e9;
    for (size_t i = 0; i < n_servers; i++) {
        const struct server *s = &servers[i];
        double kb = (s->m.rss_kb - s->m.rss_rest_kb) / SLEEPS;
        if (s->threads_per_conn > 0 && kb < min_with)
            min_with = kb;
        if (s->threads_per_conn == 0 && kb > max_without)
            max_without = kb;
    }
    if (min_with > 1e8 || max_without < -1e8)
        return;
    for (size_t i = 0; i < n_servers; i++)
        note(c->figures, ", ", "%s %+.1f KB", servers[i].name,
             (servers[i].m.rss_kb - servers[i].m.rss_rest_kb) / SLEEPS);
    if (min_with <= max_without)
        note(c->why, "; ", "%.1f KB with a thread per connection is not above %.1f KB without",
             min_with, max_without);
    print_claim(t, c, "2. a thread per connection costs memory (RSS per waiting connection)");
}

/* How many of the 8 burns run at once: the model's CPU lanes (0: one per connection), no more
 * than the machine's cores. */
static long cpu_parallel(const struct server *s)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long lanes = s->cpu_lanes ? s->cpu_lanes : CPU_REQUESTS;
    return lanes < cores ? lanes : cores;
}

/* Whether the /hello sent during the 8 burns must wait: CPU work stalls the others, or the model
 * serves each request on one of a fixed set of max_waits threads (a wait costs a thread, none
 * comes per connection) and the burns hold them all. */
static bool hello_waits(const struct server *s)
{
    bool is_fixed = s->wait_costs_thread && s->threads_per_conn == 0 && s->max_waits > 0;
    return s->cpu_stalls_others || (is_fixed && CPU_REQUESTS >= s->max_waits);
}

/* The groups of the CPU claim, by traits: one loop whose CPU stalls the others, several such
 * loops side by side (CPU stalls the clients of its own loop), CPU work beside the others. */
enum cpu_group { CPU_ONE_LOOP, CPU_LOOPS, CPU_BESIDE };

static enum cpu_group cpu_group(const struct server *s)
{
    if (!s->cpu_stalls_others)
        return CPU_BESIDE;
    return cpu_parallel(s) >= 2 ? CPU_LOOPS : CPU_ONE_LOOP;
}

/* 3. The CPU experiment, for the models of one group. The 8 burns take 2 s / cpu_parallel(): at
 * least 0.95 x that (no more ran at once than the lanes), at most 1.5 x (the lanes really ran
 * side by side; a miss names the cores it got and the load). */
static void claim_cpu(struct tally *t, struct claim *c, enum cpu_group group)
{
    double serial_s = CPU_REQUESTS * CPU_MS / 1e3;
    for (size_t i = 0; i < n_servers; i++) {
        const struct server *s = &servers[i];
        if (cpu_group(s) != group)
            continue;
        long par = cpu_parallel(s);
        double ideal_s = serial_s / (double)par;
        note(c->figures, ", ", "%s %.3f s on %.2f cores (cpu_lanes %ld, %ld at a time: %.2f s)",
             s->name, s->m.cpu_s, s->m.cpu_cores, s->cpu_lanes, par, ideal_s);
        if (s->m.cpu_s < 0.95 * ideal_s)
            note(c->why, "; ", "%s %.3f s is below %.2f s: more ran at once than its lanes",
                 s->name, s->m.cpu_s, 0.95 * ideal_s);
        if (s->m.cpu_s > 1.5 * ideal_s) {
            double load[1] = {0};
            getloadavg(load, 1);
            note(c->why, "; ",
                 "%s took %.3f s, above 1.5 x %.2f s: it kept only %.2f cores busy; the machine "
                 "had no more to spare, load average %.1f",
                 s->name, s->m.cpu_s, ideal_s, s->m.cpu_cores, load[0]);
        }
    }
    static const char *const text[] = {
        [CPU_ONE_LOOP] = "3. one loop (cpu_stalls_others, cpu_lanes 1): the 8 x 250 ms run one at "
                         "a time, 2 s",
        [CPU_LOOPS] = "3. loops in parallel (cpu_stalls_others, cpu_lanes >= 2): the 8 x 250 ms "
                      "run a loop each at a time, 2 s / min(lanes, cores), within 1.5 x",
        [CPU_BESIDE] = "3. CPU runs beside others (no cpu_stalls_others): the 8 x 250 ms spread "
                       "over the lanes and cores, 2 s / min(lanes, cores), within 1.5 x",
    };
    print_claim(t, c, "%s", text[group]);
}

/* 3. The /hello sent during the burns, for the models where it waits (waits true) or not. */
static void claim_hello(struct tally *t, struct claim *c, bool waits)
{
    for (size_t i = 0; i < n_servers; i++) {
        const struct server *s = &servers[i];
        if (hello_waits(s) != waits)
            continue;
        note(c->figures, ", ", "%s %.1f ms", s->name, s->m.hello_s * 1e3);
        if (waits && s->m.hello_s <= 0.1)
            note(c->why, "; ", "%s answered within 100 ms", s->name);
        if (!waits && s->m.hello_s >= 0.1)
            note(c->why, "; ", "%s took 100 ms or more", s->name);
    }
    print_claim(t, c,
                waits ? "3. a /hello sent meanwhile waits (> 100 ms): CPU stalls others, or the "
                        "burns hold every one of the model's max_waits threads"
                      : "3. a /hello sent meanwhile is answered at once (< 100 ms)");
}

/* The claims, each with a tolerance that an honest but noisy 2-core box meets. */
static struct tally print_claims(void)
{
    struct tally t = {0};
    struct claim c = {"", ""};

    for (size_t i = 0; i < n_servers; i++)
        want_range(&c, &servers[i], servers[i].m.gather_s, 2.0, 2.3);
    print_claim(&t, &c, "1. a gather takes its longest wait (2 s), not the sum (3 s)");
    for (size_t i = 0; i < n_servers; i++)
        want_range(&c, &servers[i], servers[i].m.two_waits_s, 2.0, 2.3);
    print_claim(&t, &c, "1. so do waits of 1 s and 2 s on two connections (2 s)");

    for (int queued = 0; queued <= 1; queued++)
        claim_waits(&t, &c, queued, SLEEPS, SLEEP_MS / 1e3, 0.5, offsetof(struct measures, sleep_s),
                    "2. 100 concurrent 0.3 s waits");
    for (int queued = 0; queued <= 1; queued++)
        claim_hello_behind_waits(&t, &c, queued);
    claim_threads(&t, &c);
    claim_memory(&t, &c);
    for (enum cpu_group g = CPU_ONE_LOOP; g <= CPU_BESIDE; g++)
        claim_cpu(&t, &c, g);
    claim_hello(&t, &c, true);
    claim_hello(&t, &c, false);

    for (size_t i = 0; i < n_servers; i++) {
        const struct server *s = &servers[i];
        want_range(&c, s, s->m.seq_s, 2.0, 2.4);
        if (s->m.seq_connects != 1)
            note(c.why, "; ", "%s opened %ld connections, not 1", s->name, s->m.seq_connects);
    }
    print_claim(&t, &c, "4. 10 waits of 200 ms in turn on one connection take the sum (2 s)");
    for (int queued = 0; queued <= 1; queued++)
        claim_waits(&t, &c, queued, SEQ_REQUESTS, 0.2, 0.2, offsetof(struct measures, par_s),
                    "4. the same 10 at once");

    unsigned requests = 0;
    for (size_t i = 0; i < n_servers; i++) {
        requests += servers[i].m.requests;
        if (servers[i].m.failed) {
            note(c.figures, ", ", "%s %u failed", servers[i].name, servers[i].m.failed);
            note(c.why, "; ", "%u %s requests failed", servers[i].m.failed, servers[i].name);
        }
    }
    if (!c.figures[0])
        note(c.figures, ", ", "%u requests", requests);
    print_claim(&t, &c, "every request got a 200");
    return t;
}

/* What breaks first: each model's figure under each stress of the experiments, over the best
 * model's figure in this run (a latency never better than 10 ms, memory than 1 KB, threads than
 * 1 count as the best, so noise near zero is no factor). The largest factor, if at least
 * BROKEN, is what breaks first; the same figures feed breaks.tsv and its charts. */
#define BROKEN   5.0
#define STRESSES 6

struct stress {
    const char *what; /* the chart's label */
    const char *unit;
    double scale;  /* figure x scale = shown value */
    int decimals;  /* of the shown value */
    double floor_; /* the least figure that counts as best */
};

static const struct stress stresses[STRESSES] = {
    {"100 waits of 0.3 s: wall time", "s", 1, 2, 0.3},
    {"a /hello behind the 100 waits", "ms", 1e3, 0, 0.01},
    {"8 x 250 ms CPU: wall time", "s", 1, 2, 0.1},
    {"a /hello behind the CPU work", "ms", 1e3, 0, 0.01},
    {"OS threads for 100 waiting connections", "threads", 1, 0, 1},
    {"memory per waiting connection", "KB", 1, 1, 1},
};

static double stress_figure(const struct server *s, int k)
{
    const double figures[STRESSES] = {s->m.sleep_s, s->m.hello_wait_s,
                                      s->m.cpu_s,   s->m.hello_s,
                                      s->m.threads, (s->m.rss_kb - s->m.rss_rest_kb) / SLEEPS};
    return fmax(figures[k], stresses[k].floor_);
}

static double stress_factor(const struct server *s, int k)
{
    double best = INFINITY;
    for (size_t i = 0; i < n_servers; i++)
        best = fmin(best, stress_figure(&servers[i], k));
    return stress_figure(s, k) / best;
}

/* Prints what breaks first for each model and writes breaks.tsv (mode, stress, value, factor,
 * first: 1 on the row that breaks first, row: the stress's bar). Returns 0 or -1. */
static int print_breaks(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "mode\tstress\tvalue\tfactor\tfirst\trow\n");
    printf("\nWhat breaks first: each figure over the best model's in this run (x1 = as good as "
           "the best); the largest, if >= %.0fx\n",
           BROKEN);
    for (size_t i = 0; i < n_servers; i++) {
        const struct server *s = &servers[i];
        int worst = 0;
        for (int k = 1; k < STRESSES; k++)
            if (stress_factor(s, k) > stress_factor(s, worst))
                worst = k;
        bool broke = stress_factor(s, worst) >= BROKEN;
        for (int k = 0; k < STRESSES; k++)
            fprintf(f, "%s\t%s\t%.*f %s\t%.3f\t%d\t%d\n", s->name, stresses[k].what,
                    stresses[k].decimals, stress_figure(s, k) * stresses[k].scale, stresses[k].unit,
                    stress_factor(s, k), broke && k == worst, k + 1);
        printf("%-9s %s: %s, %.*f %s (%.0fx the best)\n", s->name,
               broke ? "breaks first at" : "nothing broke here; its worst figure is",
               stresses[worst].what, stresses[worst].decimals,
               stress_figure(s, worst) * stresses[worst].scale, stresses[worst].unit,
               stress_factor(s, worst));
    }
    return fclose(f);
}

/* measures.tsv: one row per model, its traits and figures, for lesson.py's table. */
static int write_measures(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "mode\twait_costs_thread\tcpu_stalls_others\tcpu_parallel\thello_waits\t"
               "gather_s\ttwo_waits_s\tsleep_s\tthreads\tcpu_s\tcpu_cores\thello_ms\n");
    for (size_t i = 0; i < n_servers; i++) {
        const struct server *s = &servers[i];
        fprintf(f, "%s\t%d\t%d\t%ld\t%d\t%.4f\t%.4f\t%.4f\t%.0f\t%.4f\t%.3f\t%.2f\n", s->name,
                s->wait_costs_thread, s->cpu_stalls_others, cpu_parallel(s), hello_waits(s),
                s->m.gather_s, s->m.two_waits_s, s->m.sleep_s, s->m.threads, s->m.cpu_s,
                s->m.cpu_cores, s->m.hello_s * 1e3);
    }
    return fclose(f);
}

/* Parses "NAME:PORT:PID:" then the traits "WAIT_COSTS_THREAD:CPU_STALLS_OTHERS:THREADS_AT_REST:
 * THREADS_PER_CONN:CPU_LANES:MAX_WAITS" (the booleans 0 or 1). Returns 0, or -1 when arg is not
 * that. */
static int parse_server(const char *arg, struct server *s)
{
    int wait, cpu, used = 0;
    if (sscanf(arg, "%31[a-z_]:%d:%ld:%d:%d:%ld:%ld:%ld:%ld%n", s->name, &s->port, &s->pid, &wait,
               &cpu, &s->threads_at_rest, &s->threads_per_conn, &s->cpu_lanes, &s->max_waits,
               &used) != 9 ||
        arg[used] != '\0')
        return -1;
    s->wait_costs_thread = wait != 0;
    s->cpu_stalls_others = cpu != 0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc - 2 > MODELS_MAX) {
        fprintf(stderr,
                "usage: %s OUTDIR NAME:PORT:PID:WAIT_COSTS_THREAD:CPU_STALLS_OTHERS:"
                "THREADS_AT_REST:THREADS_PER_CONN:CPU_LANES:MAX_WAITS... (at most %d models)\n",
                argv[0], MODELS_MAX);
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (parse_server(argv[i], &servers[n_servers++]) != 0) {
            fprintf(stderr, "demo: bad model argument \"%s\"\n", argv[i]);
            return 2;
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/timeline.tsv", argv[1]);
    if (!(tsv = fopen(path, "w"))) {
        perror(path);
        return 1;
    }
    fprintf(tsv, "mode\texperiment\tseries\trow\tstart_s\tend_s\tstatus\n");
    curl_global_init(CURL_GLOBAL_DEFAULT);

    run_gather();
    run_sleeps();
    for (size_t i = 0; i < n_servers; i++)
        run_cpu(&servers[i]);
    run_seq_vs_par();

    double load[1] = {0};
    getloadavg(load, 1);
    printf("iobound demo: the same requests against every model, measured now on this machine "
           "(%ld CPUs, load average %.1f).\nThe waits run against all models at the same "
           "moment (they use no CPU); the CPU work one model at a time.\n\n",
           sysconf(_SC_NPROCESSORS_ONLN), load[0]);
    print_table();
    printf("\nClaims, each judged by the model's traits from --list-modes\n");
    struct tally t = print_claims();
    printf("\n%u of %u claims held.\n", t.held, t.total);
    snprintf(path, sizeof path, "%s/breaks.tsv", argv[1]);
    if (print_breaks(path) != 0) {
        perror(path);
        return 1;
    }

    curl_global_cleanup();
    fclose(tsv);
    snprintf(path, sizeof path, "%s/measures.tsv", argv[1]);
    if (write_measures(path) != 0) {
        perror(path);
        return 1;
    }
    /* A timing claim a loaded machine misses is reported, not an error; a failed request is. */
    unsigned failed = 0;
    for (size_t i = 0; i < n_servers; i++)
        failed += servers[i].m.failed;
    return failed == 0 ? 0 : 1;
}
