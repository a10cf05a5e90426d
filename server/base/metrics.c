/* The metrics registry: fixed arrays of relaxed C11 atomics bumped from any thread without locks
 * or allocation, and the Prometheus text exposition (0.0.4) with the process collector read from
 * /proc. Route labels come from the caller's table; this file knows nothing of HTTP routes. */
#include "server/base/metrics.h"

#include <assert.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/base/clock.h"
#include "version.h"

#define CODE_MIN   100
#define CODE_COUNT 500 /* 100..599 */

/* Upper bounds of the duration histogram; a duration lands in the first bucket it fits, and
 * past the last one in the +Inf slot. le is the label exactly as rendered. */
static const struct {
    uint64_t le_ns;
    const char *le;
} buckets[] = {
    {1000000ULL, "0.001"},  {2500000ULL, "0.0025"}, {5000000ULL, "0.005"},  {10000000ULL, "0.01"},
    {25000000ULL, "0.025"}, {50000000ULL, "0.05"},  {100000000ULL, "0.1"},  {250000000ULL, "0.25"},
    {500000000ULL, "0.5"},  {1000000000ULL, "1"},   {2500000000ULL, "2.5"}, {5000000000ULL, "5"},
    {10000000000ULL, "10"}, {30000000000ULL, "30"}, {60000000000ULL, "60"},
};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

/* Each slot is bumped on its own (not cumulative) so an observation is two atomic adds; the
 * render sums them up. _count is that sum, so it always equals the +Inf bucket. */
struct hist {
    _Atomic uint64_t bucket[N_BUCKETS + 1];
    _Atomic uint64_t sum_ns;
};

static const char *const timeout_labels[IOB_METRICS_TIMEOUTS] = {
    [IOB_METRICS_TIMEOUT_HEADER] = "header_timeout_ms",
    [IOB_METRICS_TIMEOUT_BODY_IDLE] = "idle_timeout_ms",
    [IOB_METRICS_TIMEOUT_BODY_RATE] = "body_min_rate_bytes",
    [IOB_METRICS_TIMEOUT_BODY] = "body_timeout_ms",
};

struct route_stats {
    _Atomic uint64_t requests[CODE_COUNT];
    struct hist duration;
};

static struct {
    const char *mode;
    const char *const *route_labels;
    size_t n_routes;
    struct route_stats routes[IOB_METRICS_ROUTES_MAX];
    const char *const *fault_labels;
    size_t n_faults;
    _Atomic uint64_t faults[IOB_METRICS_FAULTS_MAX];
    _Atomic int64_t connections_open;
    _Atomic uint64_t connections_total;
    _Atomic uint64_t connections_rejected;
    _Atomic uint64_t timeouts[IOB_METRICS_TIMEOUTS];
    _Atomic int64_t inflight;
    _Atomic int64_t threads_extra; /* engine threads alive beyond the main thread */
    _Atomic int64_t threads_peak;  /* most threads seen, the main thread included */
    bool has_queue;                /* the engine queues requests for workers (pool) */
    _Atomic int64_t queue_depth;
    _Atomic int64_t busy_workers;
    struct hist queue_wait;
} reg = {.mode = "", .threads_peak = 1};

void iob_metrics_init(const char *mode, const char *const *route_labels, size_t n_routes)
{
    assert(n_routes <= IOB_METRICS_ROUTES_MAX);
    reg.mode = mode;
    reg.route_labels = route_labels;
    reg.n_routes = n_routes < IOB_METRICS_ROUTES_MAX ? n_routes : IOB_METRICS_ROUTES_MAX;
}

void iob_metrics_init_faults(const char *const *fault_labels, size_t n_kinds)
{
    assert(n_kinds <= IOB_METRICS_FAULTS_MAX);
    reg.fault_labels = fault_labels;
    reg.n_faults = n_kinds < IOB_METRICS_FAULTS_MAX ? n_kinds : IOB_METRICS_FAULTS_MAX;
}

static void add_u64(_Atomic uint64_t *a, uint64_t v)
{
    atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

static int64_t add_i64(_Atomic int64_t *a, int64_t v)
{
    return atomic_fetch_add_explicit(a, v, memory_order_relaxed) + v;
}

static void raise_peak(int64_t seen)
{
    int64_t peak = atomic_load_explicit(&reg.threads_peak, memory_order_relaxed);
    while (seen > peak &&
           !atomic_compare_exchange_weak_explicit(&reg.threads_peak, &peak, seen,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

static void observe(struct hist *h, uint64_t ns)
{
    size_t b = 0;
    while (b < N_BUCKETS && ns > buckets[b].le_ns)
        b++;
    add_u64(&h->bucket[b], 1);
    add_u64(&h->sum_ns, ns);
}

void iob_metrics_queue_enable(void)
{
    reg.has_queue = true;
}

void iob_metrics_queue_depth(int64_t depth)
{
    atomic_store_explicit(&reg.queue_depth, depth, memory_order_relaxed);
}

void iob_metrics_queue_waited(uint64_t wait_ns)
{
    observe(&reg.queue_wait, wait_ns);
}

void iob_metrics_busy_workers(int64_t delta)
{
    add_i64(&reg.busy_workers, delta);
}

void iob_metrics_request_begin(void)
{
    add_i64(&reg.inflight, 1);
}

void iob_metrics_request_count(size_t route, int status, uint64_t duration_ns)
{
    /* Out-of-range values are caller bugs; without asserts they are dropped, never written
     * out of bounds. */
    assert(route < reg.n_routes && status >= CODE_MIN && status < CODE_MIN + CODE_COUNT);
    if (route >= reg.n_routes || status < CODE_MIN || status >= CODE_MIN + CODE_COUNT)
        return;
    struct route_stats *r = &reg.routes[route];
    add_u64(&r->requests[status - CODE_MIN], 1);
    observe(&r->duration, duration_ns);
}

void iob_metrics_request_end(size_t route, int status, uint64_t duration_ns)
{
    add_i64(&reg.inflight, -1);
    iob_metrics_request_count(route, status, duration_ns);
}

void iob_metrics_request_timed_out(enum iob_metrics_timeout limit)
{
    assert((unsigned)limit < IOB_METRICS_TIMEOUTS);
    if ((unsigned)limit < IOB_METRICS_TIMEOUTS)
        add_u64(&reg.timeouts[limit], 1);
}

void iob_metrics_fault(size_t kind)
{
    assert(kind < reg.n_faults && reg.fault_labels[kind]);
    if (kind < reg.n_faults)
        add_u64(&reg.faults[kind], 1);
}

void iob_metrics_conn_opened(void)
{
    add_i64(&reg.connections_open, 1);
    add_u64(&reg.connections_total, 1);
}

void iob_metrics_conn_closed(void)
{
    add_i64(&reg.connections_open, -1);
}

void iob_metrics_conn_rejected(void)
{
    add_u64(&reg.connections_rejected, 1);
}

void iob_metrics_thread_started(void)
{
    raise_peak(add_i64(&reg.threads_extra, 1) + 1);
}

void iob_metrics_thread_exited(void)
{
    add_i64(&reg.threads_extra, -1);
}

int64_t iob_metrics_connections_open(void)
{
    return atomic_load_explicit(&reg.connections_open, memory_order_relaxed);
}

int64_t iob_metrics_inflight(void)
{
    return atomic_load_explicit(&reg.inflight, memory_order_relaxed);
}

/* Reads the first line of path that starts with key and parses the number after it. */
static long read_proc_field(const char *path, const char *key)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0) {
            if (sscanf(line + klen, "%ld", &v) != 1)
                v = -1;
            break;
        }
    }
    fclose(f);
    return v;
}

long iob_metrics_os_threads(void)
{
    return read_proc_field("/proc/self/status", "Threads:");
}

/* Rendering appends many small pieces; the first failure sticks and the rest are skipped. */
struct render {
    struct iob_buf *out;
    int rc;
};

__attribute__((format(printf, 2, 3))) static void put(struct render *r, const char *fmt, ...)
{
    if (r->rc < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->rc = iob_buf_vprintf(r->out, fmt, ap);
    va_end(ap);
}

static void put_family(struct render *r, const char *name, const char *type, const char *help)
{
    put(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t load_u64(const _Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static int64_t load_i64(_Atomic int64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void render_requests(struct render *r)
{
    put_family(r, "iobound_requests_total", "counter", "Requests answered, by route and status.");
    for (size_t i = 0; i < reg.n_routes; i++) {
        for (int c = 0; c < CODE_COUNT; c++) {
            uint64_t n = load_u64(&reg.routes[i].requests[c]);
            if (n > 0)
                put(r, "iobound_requests_total{route=\"%s\",code=\"%d\"} %" PRIu64 "\n",
                    reg.route_labels[i], c + CODE_MIN, n);
        }
    }
}

/* Every limit gets a series, zero included, so a rate() over it exists before the first 408. */
static void render_timeouts(struct render *r)
{
    static const char name[] = "iobound_request_timeouts_total";
    put_family(r, name, "counter", "Requests answered 408, by the limit they broke.");
    for (size_t i = 0; i < IOB_METRICS_TIMEOUTS; i++)
        put(r, "%s{limit=\"%s\"} %" PRIu64 "\n", name, timeout_labels[i],
            load_u64(&reg.timeouts[i]));
}

/* One histogram's series; label is "route=\"x\"," or "". One with no observation is written
 * only when even_empty. */
static void render_hist(struct render *r, const char *name, const char *label, const struct hist *h,
                        bool even_empty)
{
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= N_BUCKETS; b++)
        cumulative += load_u64(&h->bucket[b]);
    if (cumulative == 0 && !even_empty)
        return;
    cumulative = 0;
    for (size_t b = 0; b <= N_BUCKETS; b++) {
        cumulative += load_u64(&h->bucket[b]);
        put(r, "%s_bucket{%sle=\"%s\"} %" PRIu64 "\n", name, label,
            b < N_BUCKETS ? buckets[b].le : "+Inf", cumulative);
    }
    /* The label without its trailing comma, in braces, or nothing. */
    int n = (int)strlen(label);
    const char *open = n ? "{" : "", *close = n ? "}" : "";
    uint64_t sum_ns = load_u64(&h->sum_ns);
    put(r, "%s_sum%s%.*s%s %" PRIu64 ".%09" PRIu64 "\n", name, open, n ? n - 1 : 0, label, close,
        (uint64_t)(sum_ns / IOB_NS_PER_SEC), (uint64_t)(sum_ns % IOB_NS_PER_SEC));
    put(r, "%s_count%s%.*s%s %" PRIu64 "\n", name, open, n ? n - 1 : 0, label, close, cumulative);
}

/* Only routes that were used get series: sixteen empty buckets per idle route are noise. */
static void render_durations(struct render *r)
{
    static const char name[] = "iobound_request_duration_seconds";
    put_family(r, name, "histogram", "Time from request to the end of its answer, by route.");
    for (size_t i = 0; i < reg.n_routes; i++) {
        char label[96];
        snprintf(label, sizeof label, "route=\"%s\",", reg.route_labels[i]);
        render_hist(r, name, label, &reg.routes[i].duration, false);
    }
}

static void render_gauge(struct render *r, const char *name, const char *help, int64_t v)
{
    put_family(r, name, "gauge", help);
    put(r, "%s %" PRId64 "\n", name, v);
}

static void render_counter(struct render *r, const char *name, const char *help, uint64_t v)
{
    put_family(r, name, "counter", help);
    put(r, "%s %" PRIu64 "\n", name, v);
}

/* Every kind is listed from the start, at 0, so a rate() sees its first fault. */
static void render_faults(struct render *r)
{
    if (!reg.n_faults)
        return;
    put_family(r, "iobound_faults_total", "counter",
               "Faults served on purpose by /fault, by kind.");
    for (size_t k = 0; k < reg.n_faults; k++) {
        if (reg.fault_labels[k])
            put(r, "iobound_faults_total{kind=\"%s\"} %" PRIu64 "\n", reg.fault_labels[k],
                load_u64(&reg.faults[k]));
    }
}

/* Entries of /proc/self/fd, not counting the descriptor that reads the directory. */
static long count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1;
}

/* Seconds since the epoch at which the process started, as Prometheus's own client computes
 * it: the starttime field of /proc/self/stat (clock ticks after boot) plus btime from
 * /proc/stat. Returns -1 when either is unreadable. */
static double process_start_time_s(void)
{
    long btime = read_proc_field("/proc/stat", "btime ");
    if (btime < 0)
        return -1;
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return -1;
    char line[1024];
    bool is_read = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    /* The command name may hold spaces and parentheses; fields resume after the last ')'. */
    char *p = is_read ? strrchr(line, ')') : NULL;
    /* starttime is field 22; each field from 3 on is preceded by one space. */
    for (int field = 3; p && field <= 22; field++)
        p = strchr(p + 1, ' ');
    if (!p)
        return -1;
    unsigned long long ticks = strtoull(p + 1, NULL, 10);
    return (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static void render_process(struct render *r)
{
    long pages = -1;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        if (fscanf(f, "%*u %ld", &pages) != 1)
            pages = -1;
        fclose(f);
    }
    if (pages >= 0)
        render_gauge(r, "process_resident_memory_bytes", "Resident memory size in bytes.",
                     (int64_t)pages * sysconf(_SC_PAGESIZE));
    long fds = count_open_fds();
    if (fds >= 0)
        render_gauge(r, "process_open_fds", "Number of open file descriptors.", fds);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        long us = ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
        put_family(r, "process_cpu_seconds_total", "counter",
                   "Total user and system CPU time spent in seconds.");
        put(r, "process_cpu_seconds_total %ld.%06ld\n",
            (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + us / 1000000, us % 1000000);
    }
    double start_s = process_start_time_s();
    if (start_s >= 0) {
        put_family(r, "process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.");
        put(r, "process_start_time_seconds %.2f\n", start_s);
    }
}

/* The engines that queue requests for a fixed set of workers (pool). */
static void render_queue(struct render *r)
{
    render_gauge(r, "iobound_queue_depth", "Connections with a request waiting for a worker.",
                 load_i64(&reg.queue_depth));
    render_gauge(r, "iobound_busy_workers", "Workers serving a request now.",
                 load_i64(&reg.busy_workers));
    static const char name[] = "iobound_queue_wait_seconds";
    put_family(r, name, "histogram", "Time a request waited in the queue for a worker.");
    render_hist(r, name, "", &reg.queue_wait, true);
}

int iob_metrics_render(struct iob_buf *out)
{
    struct render r = {.out = out};
    put_family(&r, "iobound_info", "gauge", "Concurrency model and version of this server.");
    put(&r, "iobound_info{mode=\"%s\",version=\"%s\"} 1\n", reg.mode, IOB_VERSION);
    render_requests(&r);
    render_durations(&r);
    render_timeouts(&r);
    render_gauge(&r, "iobound_connections_open", "Client connections open now.",
                 load_i64(&reg.connections_open));
    render_counter(&r, "iobound_connections_total", "Client connections accepted.",
                   load_u64(&reg.connections_total));
    render_counter(&r, "iobound_connections_rejected_total",
                   "Connections refused with 503 over max_connections or thread limits.",
                   load_u64(&reg.connections_rejected));
    render_gauge(&r, "iobound_inflight_requests", "Requests begun and not yet answered.",
                 load_i64(&reg.inflight));
    render_faults(&r);
    long threads = iob_metrics_os_threads();
    if (threads > 0) {
        render_gauge(&r, "iobound_threads", "OS threads of the process now.", threads);
        raise_peak(threads);
    }
    render_gauge(&r, "iobound_threads_peak", "Most OS threads of the process seen at once.",
                 load_i64(&reg.threads_peak));
    if (reg.has_queue)
        render_queue(&r);
    render_process(&r);
    return r.rc;
}
