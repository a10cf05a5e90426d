/* Unit tests for server/base/strnum.c: the strict decimal parser behind every number a user
 * types. One case table; each row says what the text is and what must come back. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "server/base/strnum.h"

struct strnum_case {
    const char *text;
    uint64_t max;
    int rc;
    uint64_t value; /* when rc == 0 */
};

static const struct strnum_case cases[] = {
    {"", 30000, -EINVAL, 0},
    {"0", 30000, 0, 0},
    {"7", 30000, 0, 7},
    {"30000", 30000, 0, 30000},   /* the limit itself */
    {"30001", 30000, -ERANGE, 0}, /* limit + 1 */
    {"-1", 30000, -EINVAL, 0},
    {"+1", 30000, -EINVAL, 0},
    {"1e3", 30000, -EINVAL, 0},
    {"10abc", 30000, -EINVAL, 0},
    {" 1", 30000, -EINVAL, 0},
    {"1 ", 30000, -EINVAL, 0},
    {"0x10", 30000, -EINVAL, 0},
    {"1,,2", 30000, -EINVAL, 0},
    {"1.5", 30000, -EINVAL, 0},
    {"007", 30000, 0, 7},
    {"18446744073709551615", UINT64_MAX, 0, UINT64_MAX}, /* 2^64 - 1 fits */
    {"18446744073709551616", UINT64_MAX, -ERANGE, 0},    /* 2^64 overflows */
    {"99999999999999999999999", UINT64_MAX, -ERANGE, 0},
    {"99999999999999999999999x", UINT64_MAX, -EINVAL, 0}, /* not digits wins over overflow */
};

static void test_strnum_case_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct strnum_case *c = &cases[i];
        uint64_t value = 12345;
        int rc = iob_strnum_u64(c->text, strlen(c->text), c->max, &value);
        uint64_t want = c->rc == 0 ? c->value : 12345; /* a failure leaves *out alone */
        if (rc != c->rc || value != want) {
            print_error("\"%s\" max %" PRIu64 ": want rc %d value %" PRIu64
                        ", got rc %d value %" PRIu64 "\n",
                        c->text, c->max, c->rc, want, rc, value);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_strnum_reads_only_len_bytes(void **state)
{
    (void)state;
    uint64_t value = 0;
    assert_int_equal(iob_strnum_u64("12abc", 2, 100, &value), 0);
    assert_int_equal(value, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strnum_case_table),
        cmocka_unit_test(test_strnum_reads_only_len_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
