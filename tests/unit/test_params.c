/* Unit tests for handlers/params.c: query values -> numbers or a 400 message, case tables for
 * single values (required and optional) and gather lists, each row with the exact message
 * expected; and the seeded jitter draw: its range, its clamping and its spread. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "handlers/params.h"

#define BAD_MS     "ms must be a decimal integer from 0 to 30000"
#define LIST_RULES "a comma-separated list of 1 to 4 tasks, each a decimal integer from 0 to 30000"
#define EMPTY_TASK "ms: empty task in list; each task must be a decimal integer from 0 to 30000"

static struct iob_request request_with(const char *query)
{
    return (struct iob_request){
        .method = IOB_METHOD_GET,
        .method_name = "GET",
        .query = query,
        .query_len = query ? strlen(query) : 0,
    };
}

struct u64_case {
    const char *query; /* NULL: no '?' at all */
    uint64_t value;    /* when err is NULL */
    const char *err;   /* NULL: must succeed */
};

static const struct u64_case u64_cases[] = {
    {NULL, 0, "ms is required: a decimal integer from 0 to 30000"},
    {"", 0, "ms is required: a decimal integer from 0 to 30000"},
    {"other=1", 0, "ms is required: a decimal integer from 0 to 30000"},
    {"ms=0", 0, NULL},
    {"ms=30000", 30000, NULL},
    {"ms=30001", 0, BAD_MS},
    {"ms=", 0, BAD_MS},
    {"ms", 0, BAD_MS},
    {"ms=-1", 0, BAD_MS},
    {"ms=+1", 0, BAD_MS},
    {"ms=%2B1", 0, BAD_MS},
    {"ms=1e3", 0, BAD_MS},
    {"ms=10abc", 0, BAD_MS},
    {"ms=%201", 0, BAD_MS},
    {"ms= 1", 0, BAD_MS},
    {"ms=1,2", 0, BAD_MS},
    {"ms=18446744073709551616", 0, BAD_MS}, /* 2^64 */
    {"ms=99999999999999999999999999999999", 0, BAD_MS},
    {"ms=%31%30", 10, NULL}, /* decoded first */
    {"%6Ds=12", 12, NULL},   /* the name too */
    {"ms=%3", 0, BAD_MS},    /* a broken escape is just a '%' */
    {"ms=%zz", 0, BAD_MS},
    {"ms=000000000000000000000000000000042", 42, NULL}, /* leading zeros of any length */
    {"ms=1&ms=2", 0, "ms must be given once: a decimal integer from 0 to 30000"},
    {"ms=1&m%73=1", 0, "ms must be given once: a decimal integer from 0 to 30000"},
    {"a=b&ms=250&c", 250, NULL}, /* unknown parameters are ignored */
    {"&&ms=7&", 7, NULL},
    {"msx=1&ms=3", 3, NULL},
    {"xms=1", 0, "ms is required: a decimal integer from 0 to 30000"},
};

static void test_params_u64_case_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof u64_cases / sizeof u64_cases[0]; i++) {
        const struct u64_case *c = &u64_cases[i];
        struct iob_request req = request_with(c->query);
        uint64_t value = 99999;
        char err[160] = "";
        int rc = iob_param_u64(&req, "ms", 30000, &value, err, sizeof err);
        bool is_ok =
            c->err ? rc == -EINVAL && strcmp(err, c->err) == 0 : rc == 0 && value == c->value;
        if (!is_ok) {
            print_error("query \"%s\": want %s %" PRIu64 ", got rc %d value %" PRIu64
                        " err \"%s\"\n",
                        c->query ? c->query : "(none)", c->err ? c->err : "value", c->value, rc,
                        value, err);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

struct list_case {
    const char *query;
    size_t n;           /* when err is NULL */
    uint64_t values[5]; /* when err is NULL */
    const char *err;
};

static const struct list_case list_cases[] = {
    {"ms=1,2,3", 3, {1, 2, 3}, NULL},
    {"ms=0", 1, {0}, NULL},
    {"ms=30000,0,30000,5", 4, {30000, 0, 30000, 5}, NULL}, /* the task limit exactly */
    {"ms=1%2C2", 2, {1, 2}, NULL},                         /* an encoded comma splits too */
    {"x=1&ms=%31%30,0020", 2, {10, 20}, NULL},
    {"ms=1,2,3,4,5", 0, {0}, "ms: at most 4 tasks allowed"},
    {"ms=1,,2", 0, {0}, EMPTY_TASK},
    {"ms=,1", 0, {0}, EMPTY_TASK},
    {"ms=1,", 0, {0}, EMPTY_TASK},
    {"ms=", 0, {0}, "ms must list 1 to 4 tasks, each a decimal integer from 0 to 30000"},
    {"ms=1,30001", 0, {0}, "ms: task 2 must be a decimal integer from 0 to 30000"},
    {"ms=1,-1", 0, {0}, "ms: task 2 must be a decimal integer from 0 to 30000"},
    {"ms=1e3", 0, {0}, "ms: task 1 must be a decimal integer from 0 to 30000"},
    {"ms=1, 2", 0, {0}, "ms: task 2 must be a decimal integer from 0 to 30000"},
    {"ms=18446744073709551616", 0, {0}, "ms: task 1 must be a decimal integer from 0 to 30000"},
    {"other=1", 0, {0}, "ms is required: " LIST_RULES},
    {"ms=1&ms=2", 0, {0}, "ms must be given once: " LIST_RULES},
};

static void test_params_tasks_case_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof list_cases / sizeof list_cases[0]; i++) {
        const struct list_case *c = &list_cases[i];
        struct iob_request req = request_with(c->query);
        struct iob_plan plan = {0};
        char err[192] = "";
        int rc = iob_param_tasks(&req, "ms", 30000, 4, &plan, err, sizeof err);
        bool is_ok;
        if (c->err) {
            is_ok = rc == -EINVAL && strcmp(err, c->err) == 0 && plan.tasks == NULL;
        } else {
            is_ok = rc == 0 && plan.n_tasks == c->n;
            for (size_t t = 0; is_ok && t < c->n; t++)
                is_ok = plan.tasks[t].ms == c->values[t] && plan.tasks[t].finished_ns == 0;
        }
        if (!is_ok) {
            print_error("query \"%s\": want %s, got rc %d n %zu err \"%s\"\n", c->query,
                        c->err ? c->err : "tasks", rc, plan.n_tasks, err);
            failures++;
        }
        iob_plan_fini(&plan);
    }
    assert_int_equal(failures, 0);
}

struct opt_case {
    const char *query;
    int rc;         /* 1 given, 0 absent, -EINVAL */
    uint64_t value; /* when rc >= 0 */
    const char *err;
};

#define BAD_CHUNKS "chunks must be a decimal integer from 1 to 1000"

static const struct opt_case opt_cases[] = {
    {NULL, 0, 10, NULL}, /* absent: the fallback */
    {"", 0, 10, NULL},
    {"other=0", 0, 10, NULL},
    {"chunks=1", 1, 1, NULL},
    {"chunks=1000", 1, 1000, NULL},
    {"chunks=0007", 1, 7, NULL},
    {"chunks=0", -EINVAL, 0, BAD_CHUNKS}, /* below min */
    {"chunks=1001", -EINVAL, 0, BAD_CHUNKS},
    {"chunks=", -EINVAL, 0, BAD_CHUNKS}, /* named but empty is not absent */
    {"chunks", -EINVAL, 0, BAD_CHUNKS},
    {"chunks=-1", -EINVAL, 0, BAD_CHUNKS},
    {"chunks=1e2", -EINVAL, 0, BAD_CHUNKS},
    {"chunks=18446744073709551617", -EINVAL, 0, BAD_CHUNKS},
    {"chunks=2&chunks=2", -EINVAL, 0,
     "chunks must be given once: a decimal integer from 1 to 1000"},
};

static void test_params_u64_opt_case_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof opt_cases / sizeof opt_cases[0]; i++) {
        const struct opt_case *c = &opt_cases[i];
        struct iob_request req = request_with(c->query);
        uint64_t value = 99999;
        char err[160] = "";
        int rc = iob_param_u64_opt(&req, "chunks", 1, 1000, 10, &value, err, sizeof err);
        bool is_ok = rc == c->rc && (c->err ? strcmp(err, c->err) == 0 : value == c->value);
        if (!is_ok) {
            print_error("query \"%s\": want rc %d value %" PRIu64 " err \"%s\", got rc %d value "
                        "%" PRIu64 " err \"%s\"\n",
                        c->query ? c->query : "(none)", c->rc, c->value, c->err ? c->err : "", rc,
                        value, err);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_params_jitter_is_optional_ms(void **state)
{
    (void)state;
    struct iob_jitter j = {.ms = 7, .is_given = true};
    char err[160] = "";
    struct iob_request req = request_with("ms=5");
    assert_int_equal(iob_param_jitter(&req, 30000, &j, err, sizeof err), 0);
    assert_int_equal(j.ms, 0);
    assert_false(j.is_given);

    req = request_with("ms=5&jitter=30000");
    assert_int_equal(iob_param_jitter(&req, 30000, &j, err, sizeof err), 0);
    assert_int_equal(j.ms, 30000);
    assert_true(j.is_given);

    req = request_with("jitter=30001");
    assert_int_equal(iob_param_jitter(&req, 30000, &j, err, sizeof err), -EINVAL);
    assert_string_equal(err, "jitter must be a decimal integer from 0 to 30000");
}

/* Draws n waits of ms +- jitter (seeds 0..n-1, or draw index 0..n-1 when by_index) and checks
 * every one is in [lo, hi], both ends are hit, and (unclamped) the mean is near ms. */
static void expect_draws(uint64_t ms, uint64_t jitter, uint64_t max_ms, bool by_index, uint64_t lo,
                         uint64_t hi)
{
    const struct iob_jitter j = {.ms = jitter, .is_given = true};
    const size_t n = 4000;
    uint64_t min = UINT64_MAX, max = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t wait = by_index ? iob_param_jittered_ms(&j, 42, i, ms, max_ms)
                                 : iob_param_jittered_ms(&j, i, 0, ms, max_ms);
        assert_int_equal(wait, by_index ? iob_param_jittered_ms(&j, 42, i, ms, max_ms)
                                        : iob_param_jittered_ms(&j, i, 0, ms, max_ms));
        min = wait < min ? wait : min;
        max = wait > max ? wait : max;
        sum += wait;
    }
    if (min != lo || max != hi)
        print_error("%" PRIu64 " +- %" PRIu64 " (max %" PRIu64 "): want [%" PRIu64 ", %" PRIu64
                    "], drew [%" PRIu64 ", %" PRIu64 "]\n",
                    ms, jitter, max_ms, lo, hi, min, max);
    assert_int_equal(min, lo);
    assert_int_equal(max, hi);
    if (lo + jitter == ms && ms + jitter == hi) /* unclamped: uniform around ms */
        assert_in_range(sum / n, ms - jitter / 10, ms + jitter / 10);
}

static void test_params_jitter_draws_uniformly_within_ms_plus_minus_j(void **state)
{
    (void)state;
    expect_draws(100, 10, 30000, false, 90, 110);
    expect_draws(100, 10, 30000, true, 90, 110); /* the tasks of one request differ too */
    expect_draws(1000, 1000, 30000, false, 0, 2000);
    expect_draws(100, 0, 30000, false, 100, 100);
}

static void test_params_jitter_clamps_at_zero_and_at_max(void **state)
{
    (void)state;
    expect_draws(5, 20, 30000, false, 0, 25);           /* below 0: 0, never a wrap to 2^64 */
    expect_draws(15000, 30000, 30000, false, 0, 30000); /* both limits at once */
    expect_draws(95, 20, 100, false, 75, 100);          /* above max: max */
    expect_draws(100, 20, 100, true, 80, 100);
}

static void test_params_reads_only_query_len_bytes(void **state)
{
    (void)state;
    /* The view is not NUL-terminated: what follows the query must not be read. */
    struct iob_request req = {.query = "ms=12 HTTP/1.1", .query_len = 5};
    uint64_t value = 0;
    char err[160];
    assert_int_equal(iob_param_u64(&req, "ms", 30000, &value, err, sizeof err), 0);
    assert_int_equal(value, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_u64_case_table),
        cmocka_unit_test(test_params_tasks_case_table),
        cmocka_unit_test(test_params_u64_opt_case_table),
        cmocka_unit_test(test_params_jitter_is_optional_ms),
        cmocka_unit_test(test_params_jitter_draws_uniformly_within_ms_plus_minus_j),
        cmocka_unit_test(test_params_jitter_clamps_at_zero_and_at_max),
        cmocka_unit_test(test_params_reads_only_query_len_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
