/* Unit tests for server/base/metrics.c: the rendered exposition is parsed line by line; counters,
 * gauges and the histogram move as recorded; labels are exact; concurrent updates from many
 * threads add up exactly. The registry is process-wide, so tests compare before and after. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "server/base/buf.h"
#include "server/base/clock.h"
#include "server/base/metrics.h"
#include "version.h"

enum { ROUTE_HELLO, ROUTE_SLEEP, ROUTE_IDLE, ROUTE_OTHER, N_ROUTES };
static const char *const route_labels[N_ROUTES] = {"hello", "sleep", "idle", "other"};

/* Renders into a NUL-terminated string; the caller frees it. */
static char *render(void)
{
    struct iob_buf b;
    iob_buf_init(&b, 1 << 20);
    assert_int_equal(iob_metrics_render(&b), 0);
    assert_int_equal(iob_buf_append(&b, "", 1), 0);
    return b.data;
}

/* The value of the sample whose name and labels are exactly series, or NAN when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    }
    return NAN;
}

/* Like sample() but an absent series counts as 0, as an unrendered counter is. */
static double count_of(const char *text, const char *series)
{
    double v = sample(text, series);
    return isnan(v) ? 0 : v;
}

static double render_sample(const char *series)
{
    char *text = render();
    double v = sample(text, series);
    free(text);
    return v;
}

#define assert_delta(before, after, series, expected)                                              \
    do {                                                                                           \
        double d_ = count_of(after, series) - count_of(before, series);                            \
        if (fabs(d_ - (expected)) > 1e-6)                                                          \
            fail_msg("%s: expected change %.6f, got %.6f", series, (double)(expected), d_);        \
    } while (0)

/* Every line is a HELP or TYPE comment or a sample of a declared family, and each family's
 * HELP comes right before its TYPE. */
static void test_metrics_render_is_valid_text_format(void **state)
{
    (void)state;
    iob_metrics_request_count(ROUTE_SLEEP, 200, 5000000);
    char *text = render();
    regex_t help, type, smpl;
    assert_int_equal(regcomp(&help, "^# HELP ([a-z_]+) [^ ].*$", REG_EXTENDED), 0);
    assert_int_equal(regcomp(&type, "^# TYPE ([a-z_]+) (counter|gauge|histogram)$", REG_EXTENDED),
                     0);
    assert_int_equal(regcomp(&smpl,
                             "^([a-z_]+)(\\{[a-z_]+=\"[^\"\\\\]*\"(,[a-z_]+=\"[^\"\\\\]*\")*\\})? "
                             "[0-9]+(\\.[0-9]+)?$",
                             REG_EXTENDED),
                     0);
    char family[128] = "", kind[16] = "", last_help[128] = "";
    size_t n_samples = 0;
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        regmatch_t m[3];
        if (regexec(&help, line, 2, m, 0) == 0) {
            snprintf(last_help, sizeof last_help, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                     line + m[1].rm_so);
        } else if (regexec(&type, line, 3, m, 0) == 0) {
            snprintf(family, sizeof family, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                     line + m[1].rm_so);
            snprintf(kind, sizeof kind, "%.*s", (int)(m[2].rm_eo - m[2].rm_so), line + m[2].rm_so);
            if (strcmp(family, last_help) != 0)
                fail_msg("TYPE %s not preceded by its HELP", family);
        } else if (regexec(&smpl, line, 2, m, 0) == 0) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
            size_t fl = strlen(family);
            bool is_ok = strcmp(name, family) == 0;
            if (strcmp(kind, "histogram") == 0)
                is_ok = strncmp(name, family, fl) == 0 &&
                        (strcmp(name + fl, "_bucket") == 0 || strcmp(name + fl, "_sum") == 0 ||
                         strcmp(name + fl, "_count") == 0);
            if (!is_ok)
                fail_msg("sample \"%s\" outside its family %s (%s)", line, family, kind);
            n_samples++;
        } else {
            fail_msg("malformed line: \"%s\"", line);
        }
    }
    regfree(&help);
    regfree(&type);
    regfree(&smpl);
    assert_true(n_samples > 20);
    free(text);
}

static void test_metrics_info_labels_exact(void **state)
{
    (void)state;
    char *text = render();
    assert_string_equal(IOB_VERSION, "0.1.0");
    assert_true(sample(text, "iobound_info{mode=\"evented\",version=\"0.1.0\"}") == 1);
    /* Every family named in the SPEC is present. */
    static const char *const families[] = {
        "iobound_info",
        "iobound_requests_total",
        "iobound_request_duration_seconds",
        "iobound_connections_open",
        "iobound_connections_total",
        "iobound_connections_rejected_total",
        "iobound_inflight_requests",
        "iobound_threads",
        "iobound_threads_peak",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "# TYPE %s ", families[i]);
        if (!strstr(text, want))
            fail_msg("family %s missing", families[i]);
    }
    free(text);
}

static void test_metrics_request_end_counts_and_ends_inflight(void **state)
{
    (void)state;
    const char *series = "iobound_requests_total{route=\"sleep\",code=\"200\"}";
    char *before = render();
    int64_t inflight = iob_metrics_inflight();
    iob_metrics_request_begin();
    iob_metrics_request_begin();
    assert_int_equal(iob_metrics_inflight(), inflight + 2);
    assert_true(render_sample("iobound_inflight_requests") == (double)(inflight + 2));
    iob_metrics_request_end(ROUTE_SLEEP, 200, 100 * IOB_NS_PER_MS);
    iob_metrics_request_end(ROUTE_SLEEP, 200, 0);
    /* An answer that never began a request leaves the in-flight count alone. */
    iob_metrics_request_count(ROUTE_HELLO, 400, 0);
    assert_int_equal(iob_metrics_inflight(), inflight);
    char *after = render();
    assert_delta(before, after, series, 2);
    assert_delta(before, after, "iobound_requests_total{route=\"hello\",code=\"400\"}", 1);
    assert_delta(before, after, "iobound_inflight_requests", 0);
    /* Pairs never counted are not rendered at all. */
    assert_true(isnan(sample(after, "iobound_requests_total{route=\"hello\",code=\"599\"}")));
    assert_null(strstr(after, "route=\"idle\""));
    free(before);
    free(after);
}

static void test_metrics_histogram_buckets_cumulative(void **state)
{
    (void)state;
    static const char *const les[] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                      "0.1",   "0.25",   "0.5",   "1",    "2.5",   "5",
                                      "10",    "30",     "60",    "+Inf"};
    /* Observations, and how many of them each le above must gain. */
    static const uint64_t obs_ns[] = {500000, 1000000, 1000001, 3000000, 100000000, 61000000000};
    static const int gained[] = {2, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6};
    char *before = render();
    for (size_t i = 0; i < sizeof obs_ns / sizeof obs_ns[0]; i++)
        iob_metrics_request_count(ROUTE_OTHER, 200, obs_ns[i]);
    char *after = render();
    double prev = -1;
    for (size_t i = 0; i < sizeof les / sizeof les[0]; i++) {
        char series[128];
        snprintf(series, sizeof series,
                 "iobound_request_duration_seconds_bucket{route=\"other\",le=\"%s\"}", les[i]);
        assert_delta(before, after, series, gained[i]);
        double v = sample(after, series);
        if (!(v >= prev))
            fail_msg("%s = %f, below the previous bucket %f", series, v, prev);
        prev = v;
    }
    double count = sample(after, "iobound_request_duration_seconds_count{route=\"other\"}");
    assert_true(count == prev);
    assert_delta(before, after, "iobound_request_duration_seconds_count{route=\"other\"}", 6);
    assert_delta(before, after, "iobound_request_duration_seconds_sum{route=\"other\"}",
                 0.0005 + 0.001 + 0.001000001 + 0.003 + 0.1 + 61);
    assert_null(strstr(after, "iobound_request_duration_seconds_bucket{route=\"idle\""));
    free(before);
    free(after);
}

static void test_metrics_connections_move(void **state)
{
    (void)state;
    char *before = render();
    int64_t open = iob_metrics_connections_open();
    for (int i = 0; i < 3; i++)
        iob_metrics_conn_opened();
    iob_metrics_conn_closed();
    iob_metrics_conn_rejected();
    assert_int_equal(iob_metrics_connections_open(), open + 2);
    char *after = render();
    assert_delta(before, after, "iobound_connections_open", 2);
    assert_delta(before, after, "iobound_connections_total", 3);
    assert_delta(before, after, "iobound_connections_rejected_total", 1);
    iob_metrics_conn_closed();
    iob_metrics_conn_closed();
    free(before);
    free(after);
}

static pthread_barrier_t parked;

static void *park(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&parked);
    pthread_barrier_wait(&parked);
    return NULL;
}

static void test_metrics_threads_now_and_peak(void **state)
{
    (void)state;
    long now = iob_metrics_os_threads();
    assert_true(now >= 1);
    assert_true(render_sample("iobound_threads") == (double)now);

    /* Real threads raise both the OS count and (seen at render) the peak. */
    enum { PARKED = 3 };
    pthread_t t[PARKED];
    assert_int_equal(pthread_barrier_init(&parked, NULL, PARKED + 1), 0);
    for (int i = 0; i < PARKED; i++)
        assert_int_equal(pthread_create(&t[i], NULL, park, NULL), 0);
    pthread_barrier_wait(&parked);
    char *text = render();
    assert_true(sample(text, "iobound_threads") >= now + PARKED);
    assert_true(sample(text, "iobound_threads_peak") >= now + PARKED);
    free(text);
    pthread_barrier_wait(&parked);
    for (int i = 0; i < PARKED; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&parked);

    /* Tracked engine threads count even when they are gone by the time of the render. */
    double peak = render_sample("iobound_threads_peak");
    int extra = (int)peak + 5;
    for (int i = 0; i < extra; i++)
        iob_metrics_thread_started();
    for (int i = 0; i < extra; i++)
        iob_metrics_thread_exited();
    assert_true(render_sample("iobound_threads_peak") == (double)(extra + 1));
}

static void burn_cpu_ms(uint64_t ms)
{
    uint64_t end = iob_clock_thread_cpu_ns() + ms * IOB_NS_PER_MS;
    volatile uint64_t x = 0;
    while (iob_clock_thread_cpu_ns() < end)
        x = x * 31 + 7;
}

static void test_metrics_process_collector(void **state)
{
    (void)state;
    char *before = render();
    int fds[3];
    for (int i = 0; i < 3; i++)
        assert_true((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
    burn_cpu_ms(30);
    char *after = render();
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    assert_delta(before, after, "process_open_fds", 3);
    free(after);
    /* Counted the same way here, minus the directory's own descriptor. */
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    long fds_now = -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        fds_now += e->d_name[0] != '.';
    closedir(d);
    after = render();
    assert_true(sample(after, "process_open_fds") == (double)fds_now);
    assert_true(sample(after, "process_resident_memory_bytes") > 1024 * 1024);
    double cpu0 = sample(before, "process_cpu_seconds_total");
    double cpu1 = sample(after, "process_cpu_seconds_total");
    if (!(cpu1 - cpu0 >= 0.02))
        fail_msg("cpu seconds went from %f to %f after 30 ms of work", cpu0, cpu1);
    double start = sample(after, "process_start_time_seconds");
    double now_s = (double)iob_clock_wall_ns() / 1e9;
    if (!(start <= now_s + 2 && start > now_s - 600))
        fail_msg("start time %f, now %f", start, now_s);
    free(before);
    free(after);
}

#define WORKERS 4
#define ROUNDS  10000

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        iob_metrics_conn_opened();
        iob_metrics_request_begin();
        iob_metrics_request_end(ROUTE_HELLO, 200, 2 * IOB_NS_PER_MS);
        iob_metrics_request_count(ROUTE_HELLO, 503, 0);
        iob_metrics_conn_rejected();
        iob_metrics_thread_started();
        iob_metrics_thread_exited();
        iob_metrics_conn_closed();
    }
    return NULL;
}

static void test_metrics_concurrent_updates_are_exact(void **state)
{
    (void)state;
    char *before = render();
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    char *after = render();
    const double total = WORKERS * ROUNDS;
    assert_delta(before, after, "iobound_requests_total{route=\"hello\",code=\"200\"}", total);
    assert_delta(before, after, "iobound_requests_total{route=\"hello\",code=\"503\"}", total);
    assert_delta(before, after,
                 "iobound_request_duration_seconds_bucket{route=\"hello\",le=\"0.001\"}", total);
    assert_delta(before, after,
                 "iobound_request_duration_seconds_bucket{route=\"hello\",le=\"0.0025\"}",
                 2 * total);
    assert_delta(before, after, "iobound_request_duration_seconds_count{route=\"hello\"}",
                 2 * total);
    assert_delta(before, after, "iobound_request_duration_seconds_sum{route=\"hello\"}",
                 total * 0.002);
    assert_delta(before, after, "iobound_connections_total", total);
    assert_delta(before, after, "iobound_connections_rejected_total", total);
    assert_delta(before, after, "iobound_connections_open", 0);
    assert_delta(before, after, "iobound_inflight_requests", 0);
    free(before);
    free(after);
}

static void test_metrics_render_reports_full_buffer(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 256);
    assert_int_equal(iob_metrics_render(&b), -E2BIG);
    iob_buf_fini(&b);
}

int main(void)
{
    iob_metrics_init("evented", route_labels, N_ROUTES);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_render_is_valid_text_format),
        cmocka_unit_test(test_metrics_info_labels_exact),
        cmocka_unit_test(test_metrics_request_end_counts_and_ends_inflight),
        cmocka_unit_test(test_metrics_histogram_buckets_cumulative),
        cmocka_unit_test(test_metrics_connections_move),
        cmocka_unit_test(test_metrics_threads_now_and_peak),
        cmocka_unit_test(test_metrics_process_collector),
        cmocka_unit_test(test_metrics_concurrent_updates_are_exact),
        cmocka_unit_test(test_metrics_render_reports_full_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
