/* The process-wide metrics registry: fixed arrays of atomics (no locks, no allocation) and its
 * Prometheus text rendering, including the standard process collector. Any thread.
 * Route labels come from the caller's table so this file knows nothing of HTTP routes. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "server/base/buf.h"

#define IOB_METRICS_ROUTES_MAX 16

/* Sets the mode label and the route label table (index = route id; the strings must outlive the
 * process). Call once before any other thread starts. */
void iob_metrics_init(const char *mode, const char *const *route_labels, size_t n_routes);

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

int64_t iob_metrics_connections_open(void);
int64_t iob_metrics_inflight(void);
/* OS threads of this process now, read from /proc/self/status; -1 when unreadable. */
long iob_metrics_os_threads(void);

/* Appends the whole exposition (text format 0.0.4). Returns as iob_buf_append(). */
int iob_metrics_render(struct iob_buf *out);
