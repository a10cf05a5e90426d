/* Unit tests for server/base/json.c: string escaping and fixed-point milliseconds, compared byte
 * for byte, and the validity check behind /anything's json field. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "server/base/json.h"

static void test_json_string_escapes_quotes_backslashes_controls(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 1024);
    static const char in[] = "a\"b\\c\nd\re\tf\x01g\x1fh\x7f\xc3\xa9";
    assert_int_equal(iob_json_string(&b, in, sizeof in - 1), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh\x7f\xc3\xa9\"");
    iob_buf_fini(&b);
}

static void test_json_string_keeps_nul_bytes_as_escapes(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 64);
    assert_int_equal(iob_json_string(&b, "a\0b", 3), 0);
    assert_string_equal(b.data, "\"a\\u0000b\"");
    iob_buf_reset(&b);
    assert_int_equal(iob_json_string(&b, "", 0), 0);
    assert_string_equal(b.data, "\"\"");
    iob_buf_fini(&b);
}

static void test_json_string_reports_cap(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 4);
    assert_int_equal(iob_json_string(&b, "abcdef", 6), -E2BIG);
    iob_buf_fini(&b);
}

/* The fixed-buffer form: pure ASCII out, and an escape that does not fit is left out whole. */
static void test_json_escape_is_ascii_and_never_splits_an_escape(void **state)
{
    (void)state;
    static const char in[] = "a\"\x7f\xc3\xa9\x01";
    char out[64];
    size_t n = iob_json_escape(out, sizeof out, in, sizeof in - 1);
    assert_int_equal(n, strlen("a\\\"\\u007f\\u00c3\\u00a9\\u0001"));
    assert_memory_equal(out, "a\\\"\\u007f\\u00c3\\u00a9\\u0001", n);
    /* Room for "a", "\"" and 3 of the 6 bytes of "\u007f": stops after the quote. */
    assert_int_equal(iob_json_escape(out, 6, in, sizeof in - 1), 3);
    assert_memory_equal(out, "a\\\"", 3);
    assert_int_equal(iob_json_escape(out, 0, in, sizeof in - 1), 0);
}

static void test_json_ms_two_decimals_rounded(void **state)
{
    (void)state;
    static const struct {
        uint64_t ns;
        const char *text;
    } cases[] = {
        {0, "0.00"},
        {4999, "0.00"},
        {5000, "0.01"}, /* half up */
        {10000, "0.01"},
        {100420000, "100.42"},
        {100424999, "100.42"},
        {100425000, "100.43"},
        {999995000, "1000.00"}, /* the carry reaches the integer part */
        {30000000000ULL, "30000.00"},
        {UINT64_MAX, "18446744073709.55"},
    };
    struct iob_buf b;
    iob_buf_init(&b, 64);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iob_buf_reset(&b);
        assert_int_equal(iob_json_ms(&b, cases[i].ns), 0);
        assert_string_equal(b.data, cases[i].text);
    }
    iob_buf_fini(&b);
}

static void test_json_is_valid_case_table(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool is_valid;
    } cases[] = {
        {"{}", true},
        {" [ ] ", true},
        {"{\"a\":[1,-2.5e+3,true,false,null,\"\\u00e9\\n\"]}", true},
        {"0", true},
        {"\"\"", true},
        {"", false},
        {" ", false},
        {"01", false},
        {"1.", false},
        {"-", false},
        {"1e", false},
        {"[1,]", false},
        {"{\"a\"}", false},
        {"{\"a\":1,}", false},
        {"{1:2}", false},
        {"[1] [2]", false},
        {"\"a", false},
        {"\"\\x\"", false},
        {"\"\\u12g4\"", false},
        {"\"tab\there\"", false},
        {"nul", false},
        {"True", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = iob_json_is_valid(cases[i].text, strlen(cases[i].text));
        if (got != cases[i].is_valid)
            print_error("%s: want %d\n", cases[i].text, cases[i].is_valid);
        assert_int_equal(got, cases[i].is_valid);
    }
    /* nesting is bounded: 64 levels pass, 65 do not (no stack to exhaust) */
    char deep[131];
    for (size_t depth = 64; depth <= 65; depth++) {
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        assert_int_equal(iob_json_is_valid(deep, 2 * depth), depth == 64);
    }
    assert_false(iob_json_is_valid(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string_escapes_quotes_backslashes_controls),
        cmocka_unit_test(test_json_string_keeps_nul_bytes_as_escapes),
        cmocka_unit_test(test_json_string_reports_cap),
        cmocka_unit_test(test_json_escape_is_ascii_and_never_splits_an_escape),
        cmocka_unit_test(test_json_ms_two_decimals_rounded),
        cmocka_unit_test(test_json_is_valid_case_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
