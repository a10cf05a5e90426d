/* Unit tests for server/base/buf.c: the hard cap (exactly at it, one past it, nothing appended
 * on failure), growth across many appends, printf, consume and reuse after reset/fini. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "server/base/buf.h"

static void test_buf_starts_empty_without_memory(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 10);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    iob_buf_fini(&b); /* an untouched buffer frees cleanly */
    struct iob_buf zeroed = {0};
    iob_buf_fini(&zeroed);
}

static void test_buf_append_up_to_cap_then_e2big(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 8);
    assert_int_equal(iob_buf_append(&b, "abcde", 5), 0);
    assert_int_equal(iob_buf_append(&b, "fgh", 3), 0); /* exactly the cap */
    assert_int_equal(b.len, 8);
    assert_int_equal(iob_buf_append(&b, "i", 1), -E2BIG);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "abcdefgh", 9); /* contents and NUL untouched by the failure */
    assert_int_equal(iob_buf_append(&b, "", 0), 0);
    iob_buf_fini(&b);
}

static void test_buf_failed_append_adds_nothing(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 4);
    assert_int_equal(iob_buf_puts(&b, "ab"), 0);
    assert_int_equal(iob_buf_puts(&b, "cde"), -E2BIG);
    assert_string_equal(b.data, "ab");
    assert_int_equal(iob_buf_printf(&b, "%d", 123), -E2BIG);
    assert_string_equal(b.data, "ab");
    assert_int_equal(iob_buf_printf(&b, "%d", 12), 0);
    assert_string_equal(b.data, "ab12");
    iob_buf_fini(&b);
}

static void test_buf_grows_across_many_appends(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 100000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(iob_buf_printf(&b, "%d,", i % 10), 0);
    assert_int_equal(b.len, 20000);
    assert_memory_equal(b.data + 19980, "0,1,2,3,4,5,6,7,8,9,", 20);
    assert_true(b.alloc <= 100001);
    iob_buf_fini(&b);
}

static void test_buf_consume_moves_rest_to_front(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 64);
    assert_int_equal(iob_buf_puts(&b, "GET / HTTP/1.1\r\n"), 0);
    iob_buf_consume(&b, 4);
    assert_string_equal(b.data, "/ HTTP/1.1\r\n");
    iob_buf_consume(&b, b.len);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    iob_buf_fini(&b);
}

static void test_buf_reset_keeps_memory_fini_frees(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 64);
    assert_int_equal(iob_buf_puts(&b, "hello"), 0);
    char *data = b.data;
    iob_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(iob_buf_puts(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    iob_buf_fini(&b);
    assert_null(b.data);
    assert_int_equal(iob_buf_puts(&b, "reused"), 0); /* the cap survives fini */
    assert_string_equal(b.data, "reused");
    iob_buf_fini(&b);
}

static void test_buf_unlimited_cap_does_not_wrap(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, SIZE_MAX);
    assert_int_equal(iob_buf_puts(&b, "x"), 0);
    assert_int_equal(iob_buf_append(&b, "y", SIZE_MAX), -E2BIG);
    assert_string_equal(b.data, "x");
    iob_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_starts_empty_without_memory),
        cmocka_unit_test(test_buf_append_up_to_cap_then_e2big),
        cmocka_unit_test(test_buf_failed_append_adds_nothing),
        cmocka_unit_test(test_buf_grows_across_many_appends),
        cmocka_unit_test(test_buf_consume_moves_rest_to_front),
        cmocka_unit_test(test_buf_reset_keeps_memory_fini_frees),
        cmocka_unit_test(test_buf_unlimited_cap_does_not_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
