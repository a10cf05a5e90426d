/* Unit tests for server/base/clock.c: the date formats byte for byte against an independent
 * strftime of the same second, the monotonic and thread-CPU clocks, and the per-thread cache. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>

#include <cmocka.h>

#include "server/base/clock.h"

/* The expected text, written without strftime so the check is independent of clock.c. */
static void format_want(bool is_http, const struct tm *tm, char *out, size_t len)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (is_http)
        snprintf(out, len, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm->tm_wday], tm->tm_mday,
                 months[tm->tm_mon], tm->tm_year + 1900, tm->tm_hour, tm->tm_min, tm->tm_sec);
    else
        snprintf(out, len, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm->tm_mday, months[tm->tm_mon],
                 tm->tm_year + 1900, tm->tm_hour, tm->tm_min, tm->tm_sec);
}

/* Compares one call with the expected text of the same wall second; retries when the second
 * changed during the call, so the comparison can be exact. */
static void expect_now(bool is_http)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        time_t before = time(NULL);
        char got[64] = "";
        if (is_http)
            iob_clock_http_date(got);
        else
            iob_clock_clf_time(got);
        if (time(NULL) != before)
            continue;
        struct tm tm;
        gmtime_r(&before, &tm);
        char want[64];
        format_want(is_http, &tm, want, sizeof want);
        assert_int_equal(strlen(got), is_http ? IOB_HTTP_DATE_LEN : IOB_CLF_TIME_LEN);
        assert_string_equal(got, want);
        return;
    }
    fail_msg("the wall clock changed second during three attempts");
}

static void test_clock_http_date_is_imf_fixdate(void **state)
{
    (void)state;
    expect_now(true);
    expect_now(true); /* again, from the cache */
}

static void test_clock_clf_time_is_common_log_format(void **state)
{
    (void)state;
    expect_now(false);
}

/* What another thread saw: its date text and the wall seconds around the call. */
struct thread_date {
    time_t before, after;
    char text[IOB_HTTP_DATE_LEN + 1];
};

static void *date_on_other_thread(void *arg)
{
    struct thread_date *d = arg;
    d->before = time(NULL);
    iob_clock_http_date(d->text);
    d->after = time(NULL);
    return NULL;
}

static void test_clock_date_cache_is_per_thread(void **state)
{
    (void)state;
    expect_now(true); /* fills this thread's cache first */
    struct thread_date d;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, date_on_other_thread, &d), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (d.before != d.after)
        skip(); /* the second changed mid-call: nothing exact to compare */
    struct tm tm;
    gmtime_r(&d.before, &tm);
    char want[64];
    format_want(true, &tm, want, sizeof want);
    assert_string_equal(d.text, want);
}

static void test_clock_monotonic_and_cpu_advance(void **state)
{
    (void)state;
    uint64_t mono_ns = iob_clock_now_ns();
    uint64_t cpu_ns = iob_clock_thread_cpu_ns();
    volatile uint64_t x = 0;
    while (iob_clock_thread_cpu_ns() - cpu_ns < 5 * IOB_NS_PER_MS)
        x++;
    assert_true(iob_clock_now_ns() - mono_ns >= 5 * IOB_NS_PER_MS); /* CPU time <= wall time */
    uint64_t wall_s = iob_clock_wall_ns() / IOB_NS_PER_SEC;
    uint64_t now_s = (uint64_t)time(NULL);
    assert_true(wall_s + 1 >= now_s && wall_s <= now_s + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_http_date_is_imf_fixdate),
        cmocka_unit_test(test_clock_clf_time_is_common_log_format),
        cmocka_unit_test(test_clock_date_cache_is_per_thread),
        cmocka_unit_test(test_clock_monotonic_and_cpu_advance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
