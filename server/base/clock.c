/* The clocks. Durations and deadlines use CLOCK_MONOTONIC (never steps), /cpu uses the calling
 * thread's CPU clock, and the Date header and access log use wall time formatted at most once
 * a second per thread: the cache is thread-local, so threads never share it. */
#include "server/base/clock.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

static uint64_t read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * IOB_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t iob_clock_now_ns(void)
{
    return read_ns(CLOCK_MONOTONIC);
}

uint64_t iob_clock_thread_cpu_ns(void)
{
    return read_ns(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t iob_clock_wall_ns(void)
{
    return read_ns(CLOCK_REALTIME);
}

/* One formatted second: the text is reused while the wall clock stays in the same second. */
struct date_cache {
    time_t sec;
    char text[32];
};

/* Returns true, with tm set to the current UTC time, when c's text must be formatted again. */
static bool is_stale(struct date_cache *c, struct tm *tm)
{
    time_t now = (time_t)(iob_clock_wall_ns() / IOB_NS_PER_SEC);
    if (now == c->sec && c->text[0] != '\0')
        return false;
    c->sec = now;
    gmtime_r(&now, tm);
    return true;
}

/* strftime's %a and %b follow the C locale, which we never change: English names. */
void iob_clock_http_date(char out[IOB_HTTP_DATE_LEN + 1])
{
    static _Thread_local struct date_cache cache;
    struct tm tm;
    if (is_stale(&cache, &tm))
        strftime(cache.text, sizeof cache.text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    memcpy(out, cache.text, IOB_HTTP_DATE_LEN + 1);
}

void iob_clock_clf_time(char out[IOB_CLF_TIME_LEN + 1])
{
    static _Thread_local struct date_cache cache;
    struct tm tm;
    if (is_stale(&cache, &tm))
        strftime(cache.text, sizeof cache.text, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    memcpy(out, cache.text, IOB_CLF_TIME_LEN + 1);
}
