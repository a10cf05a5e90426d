/* The process-wide metrics registry: fixed arrays of atomics (no locks, no allocation) and its
 * Prometheus text rendering, including the standard process collector. Any thread.
 * Route labels come from the caller's table so this file knows nothing of HTTP routes. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "server/base/buf.h"

#define IOB_METRICS_ROUTES_MAX 24

/* Sets the mode label and the route label table (index = route id; the strings must outlive the
 * process). Call once before any other thread starts. */
void iob_metrics_init(const char *mode, const char *const *route_labels, size_t n_routes);

/* The maximum number of /fault kinds, and their label table (index = kind; a NULL entry is no
 * kind, e.g. the NONE slot). Same rules as iob_metrics_init(). */
#define IOB_METRICS_FAULTS_MAX 16
void iob_metrics_init_faults(const char *const *fault_labels, size_t n_kinds);
/* Counts one fault served on purpose, of kind (an index into the fault label table). */
void iob_metrics_fault(size_t kind);

void iob_metrics_request_begin(void);
/* Counts one answered request of route (an index into the label table) with its status and
 * duration, and ends the in-flight count begun by iob_metrics_request_begin(). */
void iob_metrics_request_end(size_t route, int status, uint64_t duration_ns);
/* Counts an answer that never began a request (a parse error, 408, 503). */
void iob_metrics_request_count(size_t route, int status, uint64_t duration_ns);
/* The limit a request broke when it was answered 408, named like its config key. */
enum iob_metrics_timeout {
    IOB_METRICS_TIMEOUT_HEADER,    /* header_timeout_ms */
    IOB_METRICS_TIMEOUT_BODY_IDLE, /* idle_timeout_ms, inside a body */
    IOB_METRICS_TIMEOUT_BODY_RATE, /* body_min_rate_bytes */
    IOB_METRICS_TIMEOUT_BODY,      /* body_timeout_ms */
    IOB_METRICS_TIMEOUTS
};
/* Counts one request answered 408 for limit (beside its iobound_requests_total count). */
void iob_metrics_request_timed_out(enum iob_metrics_timeout limit);
void iob_metrics_conn_opened(void);
void iob_metrics_conn_closed(void);
void iob_metrics_conn_rejected(void);
/* Threads the engines start beyond the main thread, for iobound_threads_peak. */
void iob_metrics_thread_started(void);
void iob_metrics_thread_exited(void);

/* For engines that queue requests for a fixed set of workers (pool): call enable once before
 * the first accept, then report the queue's depth, each wait in it and the busy workers. */
void iob_metrics_queue_enable(void);
void iob_metrics_queue_depth(int64_t depth);
void iob_metrics_queue_waited(uint64_t wait_ns);
void iob_metrics_busy_workers(int64_t delta);

int64_t iob_metrics_connections_open(void);
int64_t iob_metrics_inflight(void);
/* OS threads of this process now, read from /proc/self/status; -1 when unreadable. */
long iob_metrics_os_threads(void);

/* Appends the whole exposition (text format 0.0.4). Returns as iob_buf_append(). */
int iob_metrics_render(struct iob_buf *out);
