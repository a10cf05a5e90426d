/* Unit tests for the HTTP layer (conn.h, exchange.h) through conn_driver.c's fake engine, no
 * sockets: every row of tests/data/requests.tsv (the SPEC's HTTP behaviour and smuggling cases)
 * whole, split at every byte offset and byte by byte, then the timeout and drain policy. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "conn_driver.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/http/conn.h"

#define CORPUS IOB_SOURCE_DIR "/tests/data/requests.tsv"
#define NS(ms) ((uint64_t)(ms)*IOB_NS_PER_MS)

/* One row of the corpus, unescaped. */
struct row {
    int line;
    char *name;
    struct iob_buf request;
    char *statuses;
    bool want_close;
    struct iob_buf contains;
};

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes the corpus escapes (\r \n \t \\ \xHH \{N*c}) of s into out. Returns 0 or -EINVAL. */
static int unescape(const char *s, struct iob_buf *out)
{
    while (*s) {
        char ch = *s++;
        size_t copies = 1;
        if (ch == '\\') {
            char e = *s++;
            if (e == 'r' || e == 'n' || e == 't' || e == '\\') {
                ch = e == 'r' ? '\r' : e == 'n' ? '\n' : e == 't' ? '\t' : '\\';
            } else if (e == 'x' && hex_digit(s[0]) >= 0 && hex_digit(s[1]) >= 0) {
                ch = (char)(hex_digit(s[0]) * 16 + hex_digit(s[1]));
                s += 2;
            } else if (e == '{') {
                char *end;
                copies = strtoul(s, &end, 10);
                if (end == s || end[0] != '*' || !end[1] || end[2] != '}')
                    return -EINVAL;
                ch = end[1];
                s = end + 3;
            } else {
                return -EINVAL;
            }
        }
        for (size_t i = 0; i < copies; i++)
            if (iob_buf_append(out, &ch, 1) < 0)
                return -ENOMEM;
    }
    return 0;
}

/* Splits line at tabs into at most n fields; returns how many there were. */
static size_t split_fields(char *line, char **fields, size_t n)
{
    size_t count = 0;
    for (char *p = line; p && count < n; count++) {
        fields[count] = p;
        p = strchr(p, '\t');
        if (p)
            *p++ = '\0';
    }
    return count;
}

/* Reads the corpus; a malformed row fails the whole run with its line number. */
static struct row *read_corpus(size_t *n_rows)
{
    FILE *f = fopen(CORPUS, "r");
    if (!f)
        fail_msg("cannot open %s: %s", CORPUS, strerror(errno));
    struct row *rows = NULL;
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    for (int lineno = 1; (len = getline(&line, &cap, f)) >= 0; lineno++) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char *fields[5] = {0};
        size_t nf = split_fields(line, fields, 5);
        rows = realloc(rows, (n + 1) * sizeof(*rows));
        assert_non_null(rows);
        struct row *r = &rows[n++];
        *r = (struct row){.line = lineno};
        iob_buf_init(&r->request, SIZE_MAX);
        iob_buf_init(&r->contains, SIZE_MAX);
        if (nf < 4 || (strcmp(fields[3], "yes") != 0 && strcmp(fields[3], "no") != 0) ||
            unescape(fields[1], &r->request) != 0 ||
            (nf == 5 && unescape(fields[4], &r->contains) != 0))
            fail_msg("%s:%d: want name, request, statuses, yes|no [, contains] with valid "
                     "escapes",
                     CORPUS, lineno);
        r->name = strdup(fields[0]);
        r->statuses = strdup(fields[2]);
        r->want_close = strcmp(fields[3], "yes") == 0;
    }
    free(line);
    fclose(f);
    *n_rows = n;
    return rows;
}

static void free_corpus(struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].name);
        free(rows[i].statuses);
        iob_buf_fini(&rows[i].request);
        iob_buf_fini(&rows[i].contains);
    }
    free(rows);
}

static const char *text(const struct iob_buf *b)
{
    return b->data ? b->data : "";
}

/* Sends the row split as (first, step) and asserts the same output (Date removed) and close as
 * when it arrives whole. */
static void assert_same_split(const struct row *r, const struct iob_drive *whole, size_t first,
                              size_t step)
{
    struct iob_drive d;
    assert_int_equal(
        iob_drive_run(&d, &iob_drive_env, r->request.data, r->request.len, first, step), 0);
    iob_drive_strip_date(&d.out);
    if (d.closed != whole->closed || d.out.len != whole->out.len ||
        memcmp(text(&d.out), text(&whole->out), d.out.len) != 0)
        fail_msg("%s (line %d) sent as %zu bytes then reads of %zu: close %d, want %d; output:\n"
                 "%s\n--- whole, the output was:\n%s",
                 r->name, r->line, first, step, d.closed, whole->closed, text(&d.out),
                 text(&whole->out));
    iob_drive_fini(&d);
}

static void test_corpus_row(void **state)
{
    const struct row *r = *state;
    struct iob_drive d;
    assert_int_equal(iob_drive_run(&d, &iob_drive_env, r->request.data, r->request.len, 0, 0), 0);
    if (strcmp(text(&d.statuses), r->statuses) != 0 || d.closed != r->want_close ||
        (r->contains.len && !memmem(text(&d.out), d.out.len, r->contains.data, r->contains.len)))
        fail_msg("%s (line %d): answered %s, close %s; want %s, close %s, containing \"%s\"; "
                 "output:\n%s",
                 r->name, r->line, text(&d.statuses), d.closed ? "yes" : "no", r->statuses,
                 r->want_close ? "yes" : "no", text(&r->contains), text(&d.out));
    iob_drive_strip_date(&d.out);
    for (size_t k = 1; k < r->request.len; k++)
        assert_same_split(r, &d, k, 0);
    assert_same_split(r, &d, 1, 1);
    iob_drive_fini(&d);
}

/* Asserts lo <= v <= hi, naming all three. */
static void assert_between(uint64_t v, uint64_t lo, uint64_t hi, const char *what)
{
    if (v < lo || v > hi)
        fail_msg("%s: %llu not in [%llu, %llu]", what, (unsigned long long)v,
                 (unsigned long long)lo, (unsigned long long)hi);
}

static void pause_1ms(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static void read_str(struct iob_drive *d, const char *s)
{
    assert_int_equal(iob_drive_read(d, s, strlen(s)), 0);
}

/* The User-Agent reaches the access log and the Content-Type reaches /echo, however the bytes
 * are split and in whichever order the two come; a repeated header keeps its first value. */
static void test_conn_keeps_user_agent_and_content_type_at_every_split(void **state)
{
    (void)state;
    static const char req[] = "POST /echo HTTP/1.1\r\nHost: a\r\nUser-Agent: ua/1 (x)\r\n"
                              "Content-Type: text/x\r\nUser-Agent: second\r\n"
                              "Content-Type: text/y\r\nContent-Length: 2\r\n\r\nhi";
    char dir[] = "/tmp/iob_test_conn.XXXXXX", path[64], err[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/access.log", dir);
    assert_int_equal(iob_log_open("-", path, IOB_LOG_ERROR, err, sizeof err), 0);
    iob_log_set_format(IOB_LOG_FORMAT_JSON);
    for (size_t first = 1; first < sizeof req - 1; first++) {
        assert_int_equal(truncate(path, 0), 0);
        struct iob_drive d;
        assert_int_equal(iob_drive_run(&d, &iob_drive_env, req, sizeof req - 1, first, 1), 0);
        if (!strstr(text(&d.out), "\r\nContent-Type: text/x\r\n"))
            fail_msg("split at %zu: answer %s", first, text(&d.out));
        iob_drive_fini(&d);
        FILE *f = fopen(path, "re");
        char line[1024] = "";
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof line, f));
        fclose(f);
        if (!strstr(line, "\"route\":\"echo\"") || !strstr(line, "\"user_agent\":\"ua/1 (x)\"}"))
            fail_msg("split at %zu: access line %s", first, line);
    }
    iob_log_close();
    iob_log_set_format(IOB_LOG_FORMAT_CLF);
    unlink(path);
    rmdir(dir);
}

static void test_conn_header_deadline_runs_from_first_byte(void **state)
{
    (void)state;
    const struct iob_env *env = &iob_drive_env;
    struct iob_drive d;
    uint64_t before = iob_clock_now_ns();
    assert_int_equal(iob_drive_open(&d, env), 0);
    uint64_t after = iob_clock_now_ns();
    assert_true(iob_conn_is_idle(d.conn));
    assert_between(iob_conn_deadline_ns(d.conn), before + NS(env->header_timeout_ms),
                   after + NS(env->header_timeout_ms), "deadline of a new connection");

    pause_1ms();
    before = iob_clock_now_ns();
    read_str(&d, "GET /hel");
    after = iob_clock_now_ns();
    assert_false(iob_conn_is_idle(d.conn));
    uint64_t first = iob_conn_deadline_ns(d.conn);
    assert_between(first, before + NS(env->header_timeout_ms), after + NS(env->header_timeout_ms),
                   "deadline after the first byte");
    /* Slowloris: later bytes of the same head never move the deadline. */
    pause_1ms();
    read_str(&d, "lo HTTP/1.1\r\n");
    assert_int_equal(iob_conn_deadline_ns(d.conn), first);
    iob_drive_fini(&d);
}

static void test_conn_idle_deadline_after_an_answer_and_in_a_body(void **state)
{
    (void)state;
    const struct iob_env *env = &iob_drive_env;
    struct iob_drive d;
    assert_int_equal(iob_drive_open(&d, env), 0);
    uint64_t before = iob_clock_now_ns();
    read_str(&d, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    uint64_t after = iob_clock_now_ns();
    assert_string_equal(text(&d.statuses), "200");
    assert_true(iob_conn_is_idle(d.conn));
    assert_between(iob_conn_deadline_ns(d.conn), before + NS(env->idle_timeout_ms),
                   after + NS(env->idle_timeout_ms), "deadline between requests");

    /* A body is paced by the idle timeout from its last byte. */
    read_str(&d, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab");
    pause_1ms();
    before = iob_clock_now_ns();
    read_str(&d, "c");
    after = iob_clock_now_ns();
    assert_between(iob_conn_deadline_ns(d.conn), before + NS(env->idle_timeout_ms),
                   after + NS(env->idle_timeout_ms), "deadline inside a body");
    read_str(&d, "d");
    assert_string_equal(text(&d.statuses), "200,200");
    iob_drive_fini(&d);
}

static void test_conn_timeout_in_headers_answers_408(void **state)
{
    (void)state;
    struct iob_drive d;
    assert_int_equal(iob_drive_open(&d, &iob_drive_env), 0);
    read_str(&d, "GET /hello HTTP/1.1\r\nHo");
    iob_drive_timeout(&d);
    assert_string_equal(text(&d.statuses), "408");
    assert_true(d.closed);
    iob_drive_fini(&d);
}

static void test_conn_timeout_when_idle_is_quiet(void **state)
{
    (void)state;
    struct iob_drive d;
    assert_int_equal(iob_drive_open(&d, &iob_drive_env), 0);
    iob_drive_timeout(&d);
    assert_int_equal(d.out.len, 0);
    assert_true(d.closed);
    iob_drive_fini(&d);

    /* Between keep-alive requests, likewise: only the answer already given. */
    assert_int_equal(iob_drive_open(&d, &iob_drive_env), 0);
    read_str(&d, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    iob_drive_timeout(&d);
    assert_string_equal(text(&d.statuses), "200");
    assert_true(d.closed);
    iob_drive_fini(&d);
}

static void test_conn_timeout_in_a_body_answers_408(void **state)
{
    (void)state;
    struct iob_drive d;
    assert_int_equal(iob_drive_open(&d, &iob_drive_env), 0);
    read_str(&d, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab");
    iob_drive_timeout(&d);
    assert_string_equal(text(&d.statuses), "408");
    assert_non_null(strstr(text(&d.out), "(idle_timeout_ms)"));
    assert_true(d.closed);
    iob_drive_fini(&d);
}

/* Reads the sample of iobound_request_timeouts_total for limit from a fresh render. */
static double timeouts_of(const char *limit)
{
    struct iob_buf b;
    iob_buf_init(&b, 1 << 20);
    assert_int_equal(iob_metrics_render(&b), 0);
    char series[96];
    snprintf(series, sizeof series, "iobound_request_timeouts_total{limit=\"%s\"} ", limit);
    const char *at = strstr(text(&b), series);
    if (!at)
        fail_msg("no sample %s in:\n%s", series, text(&b));
    double v = strtod(at + strlen(series), NULL);
    iob_buf_fini(&b);
    return v;
}

/* A body's deadline is the earliest of three: the stall (idle_timeout_ms after its last byte),
 * the total (body_timeout_ms after the headers) and the rate (idle_timeout_ms behind
 * body_min_rate_bytes a second from the headers). Each case makes one of them the earliest and
 * checks the deadline, then that the 408 names that limit and counts it. */
struct body_case {
    const char *limit;
    uint64_t idle_timeout_ms, body_timeout_ms, body_min_rate_bytes;
    uint64_t pause_ms;      /* between the headers and the body bytes */
    size_t body_bytes;      /* sent then */
    bool is_from_last_byte; /* want_ms runs from the body bytes, else from the headers */
    uint64_t want_ms;
};

static void check_body_case(const struct body_case *k)
{
    struct iob_env env = iob_drive_env;
    env.max_body_bytes = 1 << 20;
    env.idle_timeout_ms = k->idle_timeout_ms;
    env.body_timeout_ms = k->body_timeout_ms;
    env.body_min_rate_bytes = k->body_min_rate_bytes;
    struct iob_drive d;
    assert_int_equal(iob_drive_open(&d, &env), 0);
    char *head;
    assert_true(asprintf(&head, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
                         k->body_bytes + 1) > 0);
    char *body = calloc(1, k->body_bytes + 1);
    memset(body, 'x', k->body_bytes);
    uint64_t before = iob_clock_now_ns();
    read_str(&d, head);
    uint64_t after = iob_clock_now_ns();
    struct timespec ts = {0, (long)NS(k->pause_ms)};
    nanosleep(&ts, NULL);
    if (k->is_from_last_byte)
        before = iob_clock_now_ns();
    assert_int_equal(iob_drive_read(&d, body, k->body_bytes), 0);
    if (k->is_from_last_byte)
        after = iob_clock_now_ns();
    char what[96];
    snprintf(what, sizeof what, "deadline of a body held to %s", k->limit);
    assert_between(iob_conn_deadline_ns(d.conn), before + NS(k->want_ms), after + NS(k->want_ms),
                   what);
    double counted = timeouts_of(k->limit);
    iob_drive_timeout(&d);
    assert_string_equal(text(&d.statuses), "408");
    char named[64];
    snprintf(named, sizeof named, "(%s)", k->limit);
    if (!strstr(text(&d.out), named))
        fail_msg("the 408 does not name %s:\n%s", named, text(&d.out));
    if (timeouts_of(k->limit) != counted + 1)
        fail_msg("iobound_request_timeouts_total{limit=\"%s\"}: %g, want %g", k->limit,
                 timeouts_of(k->limit), counted + 1);
    assert_true(d.closed);
    iob_drive_fini(&d);
    free(head);
    free(body);
}

static void test_conn_body_deadline_is_the_earliest_limit(void **state)
{
    (void)state;
    static const struct body_case cases[] = {
        /* 20 bytes 50 ms after the headers at 1000 B/s: behind schedule, 2000 + 20 ms from the
         * headers, before the stall at 2000 ms from those bytes. */
        {"body_min_rate_bytes", 2000, 60000, 1000, 50, 20, false, 2020},
        /* 3000 bytes at once bought 3 s beyond the 2000 ms grace, but the stall comes first. */
        {"idle_timeout_ms", 2000, 60000, 1000, 0, 3000, true, 2000},
        /* No minimum rate: a body late at once is only held to the stall and the total. */
        {"idle_timeout_ms", 2000, 60000, 0, 50, 1, true, 2000},
        /* A total shorter than both. */
        {"body_timeout_ms", 3000, 1000, 1000, 0, 60000, false, 1000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_body_case(&cases[i]);
}

/* Slow POST (R-U-Dead-Yet): a byte before every idle timeout never trips the stall, but each
 * byte buys only 1/body_min_rate_bytes s, so the deadline barely moves and then stays put. */
static void test_conn_slow_body_deadline_does_not_follow_the_bytes(void **state)
{
    (void)state;
    struct iob_env env = iob_drive_env;
    struct iob_drive d;
    assert_int_equal(iob_drive_open(&d, &env), 0);
    read_str(&d, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\n\r\n");
    uint64_t first = iob_conn_deadline_ns(d.conn);
    for (int i = 0; i < 10; i++) {
        pause_1ms();
        read_str(&d, "x");
    }
    uint64_t later = iob_conn_deadline_ns(d.conn);
    /* Ten bytes at 1024 B/s buy under 10 ms; ten idle resets would have moved it >= 10 ms. */
    assert_between(later, first, first + NS(10) - 1, "deadline after ten slow body bytes");
    iob_drive_fini(&d);
}

static void test_conn_drain_closes_after_the_next_answer(void **state)
{
    (void)state;
    struct iob_drive d;
    assert_int_equal(iob_drive_open(&d, &iob_drive_env), 0);
    read_str(&d, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_false(d.closed);
    iob_conn_drain(d.conn);
    read_str(&d, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    /* The driver checks that this answer says Connection: close. */
    assert_string_equal(text(&d.statuses), "200,200");
    assert_true(d.closed);
    iob_drive_fini(&d);
}

/* An answer accepted before a bad request still goes out, in order, before the error. */
static void test_conn_answer_before_a_bad_request_is_kept(void **state)
{
    (void)state;
    struct iob_drive d;
    assert_int_equal(iob_drive_open(&d, &iob_drive_env), 0);
    read_str(&d, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost : a\r\n\r\n");
    assert_string_equal(text(&d.statuses), "200,400");
    assert_non_null(strstr(text(&d.out), "\r\n\r\nhello\nHTTP/1.1 400 "));
    assert_true(d.closed);
    /* Nothing more is read or answered after the close. */
    read_str(&d, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_string_equal(text(&d.statuses), "200,400");
    iob_drive_fini(&d);
}

static void test_drive_strip_date_removes_only_date_lines(void **state)
{
    (void)state;
    struct iob_buf b;
    iob_buf_init(&b, 1024);
    assert_int_equal(iob_buf_puts(&b, "Date: x\r\nA: Date: y\r\nDate: z\r\n\r\nDate"), 0);
    iob_drive_strip_date(&b);
    assert_string_equal(b.data, "A: Date: y\r\n\r\nDate");
    iob_buf_fini(&b);
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_conn_header_deadline_runs_from_first_byte),
        cmocka_unit_test(test_conn_keeps_user_agent_and_content_type_at_every_split),
        cmocka_unit_test(test_conn_idle_deadline_after_an_answer_and_in_a_body),
        cmocka_unit_test(test_conn_timeout_in_headers_answers_408),
        cmocka_unit_test(test_conn_timeout_when_idle_is_quiet),
        cmocka_unit_test(test_conn_timeout_in_a_body_answers_408),
        cmocka_unit_test(test_conn_body_deadline_is_the_earliest_limit),
        cmocka_unit_test(test_conn_slow_body_deadline_does_not_follow_the_bytes),
        cmocka_unit_test(test_conn_drain_closes_after_the_next_answer),
        cmocka_unit_test(test_conn_answer_before_a_bad_request_is_kept),
        cmocka_unit_test(test_drive_strip_date_removes_only_date_lines),
    };
    size_t n_fixed = sizeof fixed / sizeof fixed[0];
    iob_drive_init();
    size_t n_rows;
    struct row *rows = read_corpus(&n_rows);
    /* One cmocka test per corpus row, named after it, so a failure names the case. */
    struct CMUnitTest *tests = calloc(n_fixed + n_rows, sizeof(*tests));
    assert_non_null(tests);
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < n_rows; i++)
        tests[n_fixed + i] = (struct CMUnitTest){
            .name = rows[i].name,
            .test_func = test_corpus_row,
            .initial_state = &rows[i],
        };
    int failed = _cmocka_run_group_tests("conn", tests, n_fixed + n_rows, NULL, NULL);
    free(tests);
    free_corpus(rows, n_rows);
    return failed;
}
