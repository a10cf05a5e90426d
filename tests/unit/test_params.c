/* Unit tests for handlers/params.c: query values -> numbers or a 400 message, one case table
 * for single values and one for gather lists, each row with the exact message expected. */
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
        cmocka_unit_test(test_params_reads_only_query_len_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
