/* Integration: the lesson, asserted from the model's traits (harness.h), never its name. Waits
 * overlap (100 concurrent sleeps take about one sleep); a model whose wait costs a thread holds
 * one per sleep, the others stay at their threads at rest; /gather takes its longest wait, not
 * the sum; and a model whose CPU work stalls others runs four /cpu calls one after another and
 * keeps a /hello sent meanwhile waiting, while the others answer it at once. Timing bounds are
 * wide and scale with IOB_TIME_SCALE; this test runs RUN_SERIAL. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/it/client.h"

#define SLEEPERS    100
#define SLEEP_MS    300
#define CPU_CALLS   4
#define CPU_MS      200
#define SCRAPES_MAX 8
/* When the /hello probe is sent during the /cpu calls. */
#define PROBE_AFTER_MS 50

/* What the /metrics scrapes taken during a batch saw. */
struct scrapes {
    int n;
    double threads_min, threads_max;  /* iobound_threads */
    int all_inflight;                 /* requests in flight at once at the most (the scrape too) */
    double inflight_max;              /* iobound_inflight_requests, the most seen */
    double threads_when_all_inflight; /* iobound_threads at a scrape that saw all_inflight */
    double peak_max;                  /* iobound_threads_peak */
};

/* A request sent on its own connection during a batch, again after each answer while it returns
 * true (at most SCRAPES_MAX times). */
struct probe {
    const char *path;
    double after_ms; /* from the batch's start */
    bool (*seen)(struct it_ctx *t, const struct it_resp *r, void *arg);
    void *arg;
};

static void note_scrape(struct it_ctx *t, const struct it_resp *r, struct scrapes *s)
{
    double threads, inflight, peak;
    if (r->rc != CURLE_OK || r->status != 200)
        return;
    if (!it_check(t,
                  it_metric_value(r->body, "iobound_threads", &threads) &&
                      it_metric_value(r->body, "iobound_inflight_requests", &inflight) &&
                      it_metric_value(r->body, "iobound_threads_peak", &peak),
                  "metrics during the batch: iobound_threads, iobound_inflight_requests and "
                  "iobound_threads_peak must be present"))
        return;
    if (s->n++ == 0)
        s->threads_min = s->threads_max = threads;
    s->threads_min = fmin(s->threads_min, threads);
    s->threads_max = fmax(s->threads_max, threads);
    s->peak_max = fmax(s->peak_max, peak);
    s->inflight_max = fmax(s->inflight_max, inflight);
    /* The scrape itself is in flight too. */
    if (inflight >= s->all_inflight)
        s->threads_when_all_inflight = fmax(s->threads_when_all_inflight, threads);
}

/* /metrics during the sleeps: again until a scrape sees every request in flight. */
static bool seen_scrape(struct it_ctx *t, const struct it_resp *r, void *arg)
{
    struct scrapes *s = arg;
    note_scrape(t, r, s);
    return s->threads_when_all_inflight == 0;
}

/* /hello during the burns: once, its answer time. */
static bool seen_hello(struct it_ctx *t, const struct it_resp *r, void *arg)
{
    if (it_expect_int(t, "GET /hello during the /cpu calls", 200, r->status))
        *(double *)arg = r->elapsed_ms;
    return false;
}

/* Runs n concurrent GETs of path under curl_multi_poll() and returns the wall time from the first
 * send to the last answer, with probe (may be NULL) sent meanwhile on its own connection. */
static double run_batch(struct it_ctx *t, const struct it_proc *srv, const char *path, int n,
                        struct it_resp *resps, const struct probe *probe)
{
    struct it_multi mu;
    struct it_http req = {.path = path, .timeout_ms = it_scaled_ms(t, 10000)};
    struct it_http probe_req = {.path = probe ? probe->path : NULL,
                                .timeout_ms = it_scaled_ms(t, 10000)};
    struct it_resp scrape = {0};
    CURL **h = calloc((size_t)n, sizeof(*h));
    CURL *scrape_h = it_easy_new();
    bool scraping = false, batch_done = false;
    int tries = 0;
    it_multi_init(&mu);
    for (int i = 0; i < n; i++) {
        h[i] = it_easy_new();
        it_easy_prepare(t, h[i], srv, &req, &resps[i]);
        it_multi_add(&mu, h[i]);
    }
    double start = it_now_ms(), end = start;
    double deadline = start + it_scaled_ms(t, 15000);
    while (it_multi_step(t, &mu, 10) > 0 && it_now_ms() < deadline) {
        if (!batch_done) {
            int finished = 0;
            for (int i = 0; i < n; i++)
                finished += resps[i].done;
            if (finished == n) {
                batch_done = true;
                end = it_now_ms();
            }
        }
        if (scraping && scrape.done) {
            scraping = false;
            if (!probe->seen(t, &scrape, probe->arg))
                probe = NULL; /* seen what we came for */
            it_resp_fini(&scrape);
        }
        if (probe && !scraping && !batch_done && tries < SCRAPES_MAX &&
            it_now_ms() - start >= probe->after_ms) {
            it_easy_prepare(t, scrape_h, srv, &probe_req, &scrape);
            it_multi_add(&mu, scrape_h);
            scraping = true;
            tries++;
        }
    }
    if (!batch_done) {
        it_check(t, mu.running == 0, "%s: %d transfers still running at the deadline", path,
                 mu.running);
        end = it_now_ms();
    }
    if (scraping && scrape.done)
        probe->seen(t, &scrape, probe->arg);
    it_multi_fini(&mu);
    for (int i = 0; i < n; i++)
        curl_easy_cleanup(h[i]);
    curl_easy_cleanup(scrape_h);
    it_resp_fini(&scrape);
    free(h);
    return end - start;
}

static void sleeps_overlap(struct it_ctx *t, struct it_proc *srv)
{
    const struct it_traits *tr = &t->traits;
    /* A model with a limit on waits at once (a pool of W workers) takes them W at a time. */
    int at_once = SLEEPERS + 1; /* the scrape is in flight too */
    int rounds = tr->max_waits ? (SLEEPERS + tr->max_waits - 1) / tr->max_waits : 1;
    struct it_resp *resps = calloc(SLEEPERS, sizeof(*resps));
    struct scrapes seen = {.all_inflight = at_once};
    char path[64], what[128];
    int ok = 0;
    snprintf(path, sizeof(path), "/sleep?ms=%d", SLEEP_MS);
    const struct probe scrape = {"/metrics", SLEEP_MS / 3.0, seen_scrape, &seen};
    double total = run_batch(t, srv, path, SLEEPERS, resps, &scrape);
    for (int i = 0; i < SLEEPERS; i++) {
        ok += resps[i].done && resps[i].rc == CURLE_OK && resps[i].status == 200 &&
              strstr(resps[i].body, "\"slept_ms\":300,");
        it_resp_fini(&resps[i]);
    }
    free(resps);
    it_expect_int(t, "concurrent sleeps answered 200 with slept_ms 300", SLEEPERS, ok);
    snprintf(what, sizeof(what), "%d concurrent %s: wall time (ms)", SLEEPERS, path);
    it_expect_range(t, what, 0.9 * rounds * SLEEP_MS, 3.0 * rounds * SLEEP_MS * t->time_scale,
                    total);
    printf("%s: %d concurrent %s took %.0f ms; %d scrapes saw %.0f..%.0f threads (peak %.0f)\n",
           t->mode, SLEEPERS, path, total, seen.n, seen.threads_min, seen.threads_max,
           seen.peak_max);

    if (!it_check(t, seen.n > 0, "no /metrics scrape completed during the sleeps"))
        return;
    if (!tr->wait_costs_thread) {
        /* The waits are timers (or fibers): no thread is added for any of them. */
        int rest = tr->threads_at_rest + (tr->threads_at_rest > 1 ? t->runtime_threads : 0);
        it_expect_int(t, "a wait costs no thread: iobound_threads during the sleeps (lowest seen)",
                      rest, (long long)seen.threads_min);
        it_expect_int(t, "a wait costs no thread: iobound_threads during the sleeps (highest)",
                      rest, (long long)seen.threads_max);
        it_expect_int(t, "a wait costs no thread: iobound_threads_peak", rest,
                      (long long)seen.peak_max);
    } else if (tr->max_waits) {
        /* Every worker is held by a wait (the wall time above shows the rounds): no more run at
         * once, and no thread is added for the rest, which queue. */
        int rest = tr->threads_at_rest + t->runtime_threads;
        it_expect_range(t, "a wait costs a worker: requests in flight at once (most seen)", 1,
                        tr->max_waits + 1.0, seen.inflight_max);
        it_expect_range(t, "a wait costs a worker: iobound_threads during the sleeps (highest)", 0,
                        rest + 1.0, seen.threads_max);
    } else {
        /* Each request in flight holds a thread of its own. */
        it_check(t, seen.threads_when_all_inflight > 0,
                 "a wait costs a thread: no scrape saw %d requests in flight (%d scrapes, "
                 "threads max %.0f)",
                 at_once, seen.n, seen.threads_max);
        it_expect_range(t, "a wait costs a thread: iobound_threads with every sleep in flight",
                        at_once, INFINITY, seen.threads_when_all_inflight);
        it_expect_range(t, "a wait costs a thread: iobound_threads_peak", SLEEPERS, INFINITY,
                        seen.peak_max);
    }
}

static void gather_takes_longest_not_sum(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp r = {0};
    double nums[3] = {0};
    char pattern[160];
    /* Under sanitizers only the sum is ruled out. */
    double hi = t->time_scale == 1 ? 900 : 1800;
    if (it_get(t, srv, "/gather?ms=300,600", &r) == 0 &&
        it_expect_int(t, "GET /gather?ms=300,600", 200, r.status)) {
        it_expect_range(t, "gather?ms=300,600 wall time (ms)", 600, hi, r.elapsed_ms);
        printf("%s: /gather?ms=300,600 took %.0f ms\n", t->mode, r.elapsed_ms);
        snprintf(pattern, sizeof(pattern),
                 "{\"mode\":\"%s\",\"tasks\":[{\"ms\":300,\"finished_ms\":#},{\"ms\":600,"
                 "\"finished_ms\":#}],\"elapsed_ms\":#}",
                 t->mode);
        if (it_json_match(t, "gather body", r.body, pattern, nums, 3)) {
            it_expect_range(t, "task 300 finished_ms", 300, hi - 300, nums[0]);
            it_expect_range(t, "task 600 finished_ms", 600, hi, nums[1]);
            it_expect_range(t, "gather elapsed_ms", 600, hi, nums[2]);
        }
    }
    it_resp_fini(&r);
}

static void cpu_stalls_per_trait(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp resps[CPU_CALLS] = {{0}};
    char path[64], pattern[128];
    int ok = 0;
    snprintf(path, sizeof(path), "/cpu?ms=%d", CPU_MS);
    snprintf(pattern, sizeof(pattern),
             "{\"mode\":\"%s\",\"cpu_ms\":%d,\"elapsed_ms\":#,\"digest\":\"@\"}", t->mode, CPU_MS);
    double hello_ms = -1;
    const struct probe hello = {"/hello", PROBE_AFTER_MS, seen_hello, &hello_ms};
    double total = run_batch(t, srv, path, CPU_CALLS, resps, &hello);
    for (int i = 0; i < CPU_CALLS; i++) {
        if (resps[i].done && resps[i].rc == CURLE_OK &&
            it_expect_int(t, "concurrent /cpu status", 200, resps[i].status) &&
            it_json_match(t, "concurrent /cpu body", resps[i].body, pattern, NULL, 0))
            ok++;
        it_resp_fini(&resps[i]);
    }
    it_expect_int(t, "concurrent /cpu answered with cpu_ms 200", CPU_CALLS, ok);
    it_check(t, hello_ms >= 0, "the /hello probe was not answered during the /cpu calls");
    int lanes = t->traits.cpu_lanes;
    if (t->traits.cpu_stalls_others && lanes == 1) {
        /* One thread for every client: the burns run back to back and /hello waits behind. */
        it_expect_range(t, "CPU stalls others: 4 concurrent /cpu?ms=200 wall time (ms)",
                        0.7 * CPU_CALLS * CPU_MS, INFINITY, total);
        it_expect_range(t, "CPU stalls others: /hello sent during the burns (ms)", 0.5 * CPU_MS,
                        INFINITY, hello_ms);
    } else if (t->traits.cpu_stalls_others) {
        /* Several loops: at most `lanes` burns at once, and which loop /hello lands on is the
         * kernel's choice, so only the floor is certain. */
        int rounds = (CPU_CALLS + lanes - 1) / lanes;
        it_expect_range(t, "CPU stalls its loop: 4 concurrent /cpu?ms=200 wall time (ms)",
                        0.7 * rounds * CPU_MS, INFINITY, total);
    } else {
        it_expect_range(t, "CPU does not stall others: /hello sent during the burns (ms)", 0,
                        0.5 * CPU_MS * t->time_scale, hello_ms);
    }
    printf("%s: /hello sent during the burns took %.1f ms\n", t->mode, hello_ms);
    printf("%s: %d concurrent %s took %.0f ms\n", t->mode, CPU_CALLS, path, total);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"sleeps_overlap", sleeps_overlap},
        {"gather_takes_longest_not_sum", gather_takes_longest_not_sum},
        {"cpu_stalls_per_trait", cpu_stalls_per_trait},
    };
    return it_main(argc, argv, NULL, cases, IT_LEN(cases), NULL, 0);
}
