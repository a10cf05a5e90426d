/* Clocks: monotonic time for waits and durations, thread CPU time for /cpu, and the cached
 * HTTP and log date strings. Safe on any thread; the date caches are per thread. */
#pragma once
#include <stdint.h>

#define IOB_NS_PER_MS  1000000ULL
#define IOB_NS_PER_SEC 1000000000ULL

/* Bytes of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", without the NUL. */
#define IOB_HTTP_DATE_LEN 29
/* Bytes of a Common Log Format time, "10/Oct/2000:13:55:36 +0000", without the NUL. */
#define IOB_CLF_TIME_LEN 26

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t iob_clock_now_ns(void);
/* CPU time used by the calling thread, in nanoseconds. */
uint64_t iob_clock_thread_cpu_ns(void);
/* CLOCK_REALTIME in nanoseconds since the epoch. */
uint64_t iob_clock_wall_ns(void);
/* Writes the current date as an HTTP IMF-fixdate plus NUL; recomputed at most once a second
 * per thread. */
void iob_clock_http_date(char out[IOB_HTTP_DATE_LEN + 1]);
/* Writes the current UTC time in Common Log Format plus NUL; cached like iob_clock_http_date(). */
void iob_clock_clf_time(char out[IOB_CLF_TIME_LEN + 1]);
