/* Integration: the lesson. Waits overlap in both models (100 concurrent sleeps take about one
 * sleep), on one OS thread in evented mode and a thread per connection in threaded mode; /gather
 * takes its longest wait, not the sum; and CPU work stalls the evented loop (four /cpu calls run
 * one after another) while the threaded model merely runs them. Timing bounds are wide and scale
 * with IOB_TIME_SCALE; this test runs RUN_SERIAL. */
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

static bool is_evented(const struct it_ctx *t)
{
    return strcmp(t->mode, "evented") == 0;
}

/* What the /metrics scrapes taken during a batch saw. */
struct scrapes {
    int n;
    double threads_min, threads_max;  /* iobound_threads */
    double threads_when_all_inflight; /* iobound_threads at a scrape with every request in flight */
    double peak_max;                  /* iobound_threads_peak */
};

static void note_scrape(struct it_ctx *t, const struct it_resp *r, int batch, struct scrapes *s)
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
    /* The scrape itself is in flight too. */
    if (inflight >= batch)
        s->threads_when_all_inflight = fmax(s->threads_when_all_inflight, threads);
}

/* Runs n concurrent GETs of path under curl_multi_poll() and returns the wall time from the first
 * send to the last answer. When scrapes is set, /metrics is read on a separate connection from
 * scrape_after_ms on, again and again, until a scrape sees every request in flight. */
static double run_batch(struct it_ctx *t, const struct it_proc *srv, const char *path, int n,
                        struct it_resp *resps, double scrape_after_ms, struct scrapes *scrapes)
{
    struct it_multi mu;
    struct it_http req = {.path = path, .timeout_ms = it_scaled_ms(t, 10000)};
    struct it_http metrics = {.path = "/metrics"};
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
            note_scrape(t, &scrape, n + 1, scrapes);
            if (scrapes->threads_when_all_inflight > 0)
                scrapes = NULL; /* seen what we came for */
        }
        if (scrapes && !scraping && !batch_done && tries < SCRAPES_MAX &&
            it_now_ms() - start >= scrape_after_ms) {
            it_easy_prepare(t, scrape_h, srv, &metrics, &scrape);
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
        note_scrape(t, &scrape, n + 1, scrapes);
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
    struct it_resp *resps = calloc(SLEEPERS, sizeof(*resps));
    struct scrapes seen = {0};
    char path[64], what[128];
    int ok = 0;
    snprintf(path, sizeof(path), "/sleep?ms=%d", SLEEP_MS);
    double total = run_batch(t, srv, path, SLEEPERS, resps, SLEEP_MS / 3.0, &seen);
    for (int i = 0; i < SLEEPERS; i++) {
        ok += resps[i].done && resps[i].rc == CURLE_OK && resps[i].status == 200 &&
              strstr(resps[i].body, "\"slept_ms\":300,");
        it_resp_fini(&resps[i]);
    }
    free(resps);
    it_expect_int(t, "concurrent sleeps answered 200 with slept_ms 300", SLEEPERS, ok);
    snprintf(what, sizeof(what), "%d concurrent %s: wall time (ms)", SLEEPERS, path);
    it_expect_range(t, what, SLEEP_MS, 3.0 * SLEEP_MS * t->time_scale, total);
    printf("%s: %d concurrent %s took %.0f ms; %d scrapes saw %.0f..%.0f threads (peak %.0f)\n",
           t->mode, SLEEPERS, path, total, seen.n, seen.threads_min, seen.threads_max,
           seen.peak_max);

    if (!it_check(t, seen.n > 0, "no /metrics scrape completed during the sleeps"))
        return;
    if (is_evented(t)) {
        it_expect_int(t, "evented: iobound_threads during the sleeps (lowest seen)", 1,
                      (long long)seen.threads_min);
        it_expect_int(t, "evented: iobound_threads during the sleeps (highest seen)", 1,
                      (long long)seen.threads_max);
        it_expect_int(t, "evented: iobound_threads_peak", 1, (long long)seen.peak_max);
    } else {
        it_check(t, seen.threads_when_all_inflight > 0,
                 "threaded: no scrape saw all %d sleeps in flight (%d scrapes, threads max %.0f)",
                 SLEEPERS, seen.n, seen.threads_max);
        it_expect_range(t, "threaded: iobound_threads with every sleep in flight", SLEEPERS,
                        INFINITY, seen.threads_when_all_inflight);
        it_expect_range(t, "threaded: iobound_threads_peak", SLEEPERS, INFINITY, seen.peak_max);
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

static void cpu_stalls_only_evented(struct it_ctx *t, struct it_proc *srv)
{
    struct it_resp resps[CPU_CALLS] = {{0}};
    char path[64], pattern[128];
    int ok = 0;
    snprintf(path, sizeof(path), "/cpu?ms=%d", CPU_MS);
    snprintf(pattern, sizeof(pattern),
             "{\"mode\":\"%s\",\"cpu_ms\":%d,\"elapsed_ms\":#,\"digest\":\"@\"}", t->mode, CPU_MS);
    double total = run_batch(t, srv, path, CPU_CALLS, resps, 0, NULL);
    for (int i = 0; i < CPU_CALLS; i++) {
        if (resps[i].done && resps[i].rc == CURLE_OK &&
            it_expect_int(t, "concurrent /cpu status", 200, resps[i].status) &&
            it_json_match(t, "concurrent /cpu body", resps[i].body, pattern, NULL, 0))
            ok++;
        it_resp_fini(&resps[i]);
    }
    it_expect_int(t, "concurrent /cpu answered with cpu_ms 200", CPU_CALLS, ok);
    if (is_evented(t)) {
        /* One loop thread: the four burns run back to back. */
        it_expect_range(t, "evented: 4 concurrent /cpu?ms=200 wall time (ms)",
                        0.7 * CPU_CALLS * CPU_MS, INFINITY, total);
    }
    printf("%s: %d concurrent %s took %.0f ms\n", t->mode, CPU_CALLS, path, total);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"sleeps_overlap", sleeps_overlap},
        {"gather_takes_longest_not_sum", gather_takes_longest_not_sum},
        {"cpu_stalls_only_evented", cpu_stalls_only_evented},
    };
    return it_main(argc, argv, NULL, cases, IT_LEN(cases), NULL, 0);
}
