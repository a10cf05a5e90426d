/* Unit tests for server/base/log.c: line formats, level filtering, truncation, the access line,
 * open errors, rate limiting, and reopen after a logrotate-style rename (also under concurrent
 * writers). Every test logs into files of its own temporary directory. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "server/base/clock.h"
#include "server/base/log.h"

#define ISO_TIME_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
#define CLF_TIME_RE "\\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000\\]"

struct paths {
    char dir[64];
    char error[128];
    char access[128];
};

static int setup(void **state)
{
    struct paths *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    snprintf(p->dir, sizeof p->dir, "/tmp/iob_test_log.XXXXXX");
    if (!mkdtemp(p->dir)) {
        free(p);
        return -1;
    }
    snprintf(p->error, sizeof p->error, "%s/error.log", p->dir);
    snprintf(p->access, sizeof p->access, "%s/access.log", p->dir);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct paths *p = *state;
    iob_log_close();
    iob_log_set_format(IOB_LOG_FORMAT_CLF);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
    int rc = system(cmd);
    free(p);
    return rc == 0 ? 0 : -1;
}

/* Returns the whole file as a NUL-terminated string ("" when missing); the caller frees it. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    while (f) {
        if (len + 4096 + 1 > cap) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
        size_t n = fread(s + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    if (f)
        fclose(f);
    s[len] = '\0';
    return s;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void assert_matches(const char *text, const char *re)
{
    regex_t rx;
    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&rx, text, 0, NULL, 0);
    regfree(&rx);
    if (rc != 0)
        fail_msg("text \"%s\" does not match /%s/", text, re);
}

/* One access line for a request without a user agent, on route "other" in evented mode. */
static void access_line(const char *peer, const char *method, const char *target, size_t len,
                        int http_minor, int status, size_t bytes, uint64_t duration_ns)
{
    iob_log_access(&(struct iob_access){.peer = peer,
                                        .method = method,
                                        .target = target,
                                        .target_len = len,
                                        .http_minor = http_minor,
                                        .status = status,
                                        .body_bytes = bytes,
                                        .duration_ns = duration_ns,
                                        .route = "other",
                                        .mode = "evented"});
}

static void open_logs(const struct paths *p, const char *access, enum iob_log_level level)
{
    char err[256] = "";
    int rc = iob_log_open(p->error, access, level, err, sizeof err);
    if (rc != 0)
        fail_msg("iob_log_open: %d %s", rc, err);
}

static void test_log_level_parse_accepts_only_the_four_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        enum iob_log_level level;
    } cases[] = {
        {"error", 0, IOB_LOG_ERROR}, {"warn", 0, IOB_LOG_WARN}, {"info", 0, IOB_LOG_INFO},
        {"debug", 0, IOB_LOG_DEBUG}, {"", -EINVAL, 0},          {"WARN", -EINVAL, 0},
        {"warning", -EINVAL, 0},     {"info ", -EINVAL, 0},     {"3", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum iob_log_level level = IOB_LOG_DEBUG;
        int rc = iob_log_level_parse(cases[i].s, &level);
        if (rc != cases[i].rc)
            fail_msg("parse \"%s\": expected %d, got %d", cases[i].s, cases[i].rc, rc);
        if (rc == 0) {
            assert_int_equal(level, cases[i].level);
            assert_string_equal(iob_log_level_name(level), cases[i].s);
        }
    }
}

static void test_log_line_has_time_level_and_message(void **state)
{
    struct paths *p = *state;
    open_logs(p, "off", IOB_LOG_INFO);
    iob_log(IOB_LOG_WARN, "accept: %s (pausing %d ms)", "Too many open files", 100);
    char *s = slurp(p->error);
    assert_matches(s, ISO_TIME_RE "warn accept: Too many open files \\(pausing 100 ms\\)\n$");
    free(s);
}

static void test_log_level_filters_lower_levels(void **state)
{
    struct paths *p = *state;
    open_logs(p, "off", IOB_LOG_WARN);
    iob_log(IOB_LOG_DEBUG, "d");
    iob_log(IOB_LOG_INFO, "i");
    iob_log(IOB_LOG_WARN, "w");
    iob_log(IOB_LOG_ERROR, "e");
    char *s = slurp(p->error);
    assert_int_equal(count_lines(s), 2);
    assert_matches(s, ISO_TIME_RE "warn w\n[^\n]*Z error e\n$");
    free(s);
}

static void test_log_long_message_is_truncated_to_one_line(void **state)
{
    struct paths *p = *state;
    open_logs(p, "off", IOB_LOG_INFO);
    static char big[10000];
    memset(big, 'x', sizeof big - 1);
    iob_log(IOB_LOG_ERROR, "%s", big);
    char *s = slurp(p->error);
    size_t len = strlen(s);
    assert_int_equal(count_lines(s), 1);
    assert_true(len <= 4096 && len > 4000);
    assert_string_equal(s + len - 4, "...\n");
    free(s);
}

static void test_log_control_bytes_stay_on_one_line(void **state)
{
    struct paths *p = *state;
    open_logs(p, "off", IOB_LOG_INFO);
    iob_log(IOB_LOG_INFO, "peer sent %s", "a\nb\rc");
    char *s = slurp(p->error);
    assert_int_equal(count_lines(s), 1);
    assert_matches(s, "info peer sent a b c\n$");
    free(s);
}

static void test_log_access_line_is_clf_plus_duration(void **state)
{
    struct paths *p = *state;
    open_logs(p, p->access, IOB_LOG_INFO);
    assert_true(iob_log_access_enabled());
    const char *target = "/sleep?ms=100 trailing bytes not part of the target";
    access_line("127.0.0.1", "GET", target, 13, 1, 200, 52, 100412345);
    access_line("::1", "HEAD", "/", 1, 0, 404, 0, 999);
    char *s = slurp(p->access);
    assert_matches(s, "^127\\.0\\.0\\.1 - - " CLF_TIME_RE
                      " \"GET /sleep\\?ms=100 HTTP/1\\.1\" 200 52 100\\.412\n"
                      "::1 - - " CLF_TIME_RE " \"HEAD / HTTP/1\\.0\" 404 0 0\\.000\n$");
    free(s);
    s = slurp(p->error);
    assert_string_equal(s, "");
    free(s);
}

static void test_log_access_escapes_target(void **state)
{
    struct paths *p = *state;
    open_logs(p, p->access, IOB_LOG_INFO);
    const char target[] = "/a\"b\\c\n\xff";
    access_line("127.0.0.1", "GET", target, sizeof target - 1, 1, 400, 10, 1000000);
    char *s = slurp(p->access);
    assert_int_equal(count_lines(s), 1);
    assert_matches(s, "\"GET /a\\\\x22b\\\\x5Cc\\\\x0A\\\\xFF HTTP/1\\.1\" 400 10 1\\.000\n$");
    free(s);
}

static void test_log_access_long_target_keeps_status_and_duration(void **state)
{
    struct paths *p = *state;
    open_logs(p, p->access, IOB_LOG_INFO);
    static char target[9000];
    memset(target, 'a', sizeof target);
    access_line("127.0.0.1", "GET", target, sizeof target, 1, 414, 77, 2000000);
    char *s = slurp(p->access);
    assert_int_equal(count_lines(s), 1);
    assert_true(strlen(s) <= 4096);
    assert_matches(s, "aaaa HTTP/1\\.1\" 414 77 2\\.000\n$");
    free(s);
}

#define JSON_TS_RE                                                                                 \
    "^\\{\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\","

/* The text after the "ts" field of a JSON access line (the time varies; its shape is checked). */
static const char *after_ts(const char *line)
{
    assert_matches(line, JSON_TS_RE);
    return strchr(line, ',') + 1;
}

static void test_log_access_json_has_every_field(void **state)
{
    struct paths *p = *state;
    open_logs(p, p->access, IOB_LOG_INFO);
    iob_log_set_format(IOB_LOG_FORMAT_JSON);
    static const char ua[] = "curl/7.88.1 and bytes beyond the value";
    iob_log_access(&(struct iob_access){.peer = "203.0.113.7:5555",
                                        .method = "GET",
                                        .target = "/sleep?ms=100&jitter=5",
                                        .target_len = 22,
                                        .http_minor = 1,
                                        .status = 200,
                                        .body_bytes = 52,
                                        .duration_ns = 100412345,
                                        .route = "sleep",
                                        .mode = "threaded",
                                        .user_agent = ua,
                                        .user_agent_len = 11});
    char *s = slurp(p->access);
    assert_string_equal(after_ts(s),
                        "\"remote\":\"203.0.113.7\",\"remote_port\":5555,\"method\":\"GET\","
                        "\"path\":\"/sleep\",\"query\":\"ms=100&jitter=5\",\"status\":200,"
                        "\"bytes\":52,\"duration_ms\":100.412,\"route\":\"sleep\","
                        "\"mode\":\"threaded\",\"user_agent\":\"curl/7.88.1\"}\n");
    free(s);
}

static void test_log_access_json_splits_the_peer_and_writes_null_for_absent(void **state)
{
    struct paths *p = *state;
    open_logs(p, p->access, IOB_LOG_INFO);
    iob_log_set_format(IOB_LOG_FORMAT_JSON);
    static const struct {
        const char *peer, *remote;
    } cases[] = {
        {"[::1]:443", "\"remote\":\"::1\",\"remote_port\":443"},
        {"[2001:db8::1]:65535", "\"remote\":\"2001:db8::1\",\"remote_port\":65535"},
        {"unix:/run/iobound.sock", "\"remote\":\"unix:/run/iobound.sock\",\"remote_port\":null"},
        {"10.0.0.1:", "\"remote\":\"10.0.0.1:\",\"remote_port\":null"},
        {"10.0.0.1:123456", "\"remote\":\"10.0.0.1:123456\",\"remote_port\":null"},
        {"::1:80", "\"remote\":\"::1:80\",\"remote_port\":null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(truncate(p->access, 0), 0);
        access_line(cases[i].peer, "HEAD", "/", 1, 0, 404, 0, 999);
        char *s = slurp(p->access);
        char want[256];
        snprintf(want, sizeof want,
                 "%s,\"method\":\"HEAD\",\"path\":\"/\",\"query\":null,\"status\":404,"
                 "\"bytes\":0,\"duration_ms\":0.000,\"route\":\"other\",\"mode\":\"evented\","
                 "\"user_agent\":null}\n",
                 cases[i].remote);
        assert_string_equal(after_ts(s), want);
        free(s);
    }
}

/* Quotes, backslashes, control and non-ASCII bytes are escaped: the line stays one valid,
 * pure-ASCII JSON object whatever the client sent. */
static void test_log_access_json_escapes_client_bytes(void **state)
{
    struct paths *p = *state;
    open_logs(p, p->access, IOB_LOG_INFO);
    iob_log_set_format(IOB_LOG_FORMAT_JSON);
    static const char target[] = "/a\"b\\c\n\xff?q=\x01";
    static const char ua[] = "x\"\r\t\x7f";
    iob_log_access(&(struct iob_access){.peer = "127.0.0.1:1",
                                        .method = "GET",
                                        .target = target,
                                        .target_len = sizeof target - 1,
                                        .http_minor = 1,
                                        .status = 400,
                                        .route = "other",
                                        .mode = "evented",
                                        .user_agent = ua,
                                        .user_agent_len = sizeof ua - 1});
    char *s = slurp(p->access);
    assert_int_equal(count_lines(s), 1);
    assert_non_null(strstr(s, "\"path\":\"/a\\\"b\\\\c\\n\\u00ff\",\"query\":\"q=\\u0001\""));
    assert_non_null(strstr(s, "\"user_agent\":\"x\\\"\\r\\t\\u007f\"}\n"));
    free(s);
}

static void test_log_access_json_long_fields_are_cut_and_the_object_closed(void **state)
{
    struct paths *p = *state;
    open_logs(p, p->access, IOB_LOG_INFO);
    iob_log_set_format(IOB_LOG_FORMAT_JSON);
    static char target[9000], ua[9000];
    memset(target, '"', sizeof target); /* each byte escapes to two */
    target[4000] = '?';
    memset(ua, 'u', sizeof ua);
    iob_log_access(&(struct iob_access){.peer = "127.0.0.1:1",
                                        .method = "GET",
                                        .target = target,
                                        .target_len = sizeof target,
                                        .http_minor = 1,
                                        .status = 414,
                                        .body_bytes = 77,
                                        .duration_ns = 2000000,
                                        .route = "other",
                                        .mode = "evented",
                                        .user_agent = ua,
                                        .user_agent_len = sizeof ua});
    char *s = slurp(p->access);
    assert_int_equal(count_lines(s), 1);
    assert_true(strlen(s) <= 4096);
    assert_non_null(strstr(s, "\\\"\",\"query\":\"\\\""));
    assert_non_null(strstr(s, "\",\"status\":414,\"bytes\":77,\"duration_ms\":2.000,"));
    assert_matches(s, "\"user_agent\":\"u+\"\\}\n$");
    free(s);
}

static void test_log_format_names(void **state)
{
    (void)state;
    assert_string_equal(iob_log_format_name(IOB_LOG_FORMAT_CLF), "clf");
    assert_string_equal(iob_log_format_name(IOB_LOG_FORMAT_JSON), "json");
    assert_string_equal(iob_log_format_name((enum iob_log_format)IOB_LOG_FORMAT_COUNT), "?");
}

static void test_log_access_off_writes_nothing(void **state)
{
    struct paths *p = *state;
    open_logs(p, "off", IOB_LOG_DEBUG);
    assert_false(iob_log_access_enabled());
    access_line("127.0.0.1", "GET", "/", 1, 1, 200, 0, 0);
    assert_int_equal(access(p->access, F_OK), -1);
}

static void test_log_open_failure_names_file_and_keeps_old_logs(void **state)
{
    struct paths *p = *state;
    open_logs(p, "off", IOB_LOG_INFO);
    char bad[160], err[256] = "";
    snprintf(bad, sizeof bad, "%s/missing/dir/error.log", p->dir);
    int rc = iob_log_open(bad, "off", IOB_LOG_DEBUG, err, sizeof err);
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(err, bad));
    assert_non_null(strstr(err, "No such file or directory"));
    iob_log(IOB_LOG_DEBUG, "filtered: the level did not change");
    iob_log(IOB_LOG_INFO, "still here");
    char *s = slurp(p->error);
    assert_matches(s, ISO_TIME_RE "info still here\n$");
    free(s);
}

static void test_log_ratelimited_once_per_second_per_site(void **state)
{
    struct paths *p = *state;
    open_logs(p, "off", IOB_LOG_INFO);
    uint64_t site = 0, other_site = 0;
    for (int i = 0; i < 5; i++)
        iob_log_ratelimited(&site, IOB_LOG_WARN, "emfile %d", i);
    iob_log_ratelimited(&other_site, IOB_LOG_WARN, "other site");
    /* Pretend the last line was two seconds ago rather than sleeping. */
    site = iob_clock_now_ns() - 2 * IOB_NS_PER_SEC;
    iob_log_ratelimited(&site, IOB_LOG_WARN, "emfile again");
    char *s = slurp(p->error);
    assert_int_equal(count_lines(s), 3);
    assert_matches(s, "warn emfile 0\n[^\n]*warn other site\n[^\n]*warn emfile again\n$");
    free(s);
}

/* Open descriptors of this process, to prove reopen leaks none. */
static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    long n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_log_reopen_after_rename_writes_new_files(void **state)
{
    struct paths *p = *state;
    open_logs(p, p->access, IOB_LOG_INFO);
    iob_log(IOB_LOG_INFO, "before rotate");
    access_line("127.0.0.1", "GET", "/old", 4, 1, 200, 1, 0);
    char old_error[160], old_access[160];
    snprintf(old_error, sizeof old_error, "%s.1", p->error);
    snprintf(old_access, sizeof old_access, "%s.1", p->access);
    assert_int_equal(rename(p->error, old_error), 0);
    assert_int_equal(rename(p->access, old_access), 0);
    long fds_before = count_fds();
    assert_int_equal(iob_log_reopen(), 0);
    assert_int_equal(count_fds(), fds_before);
    iob_log(IOB_LOG_INFO, "after rotate");
    access_line("127.0.0.1", "GET", "/new", 4, 1, 200, 1, 0);

    char *s = slurp(old_error);
    assert_matches(s, ISO_TIME_RE "info before rotate\n$");
    free(s);
    s = slurp(p->error);
    assert_matches(s, ISO_TIME_RE "info after rotate\n$");
    free(s);
    s = slurp(old_access);
    assert_matches(s, "^[^\n]*GET /old [^\n]*\n$");
    free(s);
    s = slurp(p->access);
    assert_matches(s, "^[^\n]*GET /new [^\n]*\n$");
    free(s);
}

static void test_log_reopen_fails_when_directory_gone_and_keeps_old_fd(void **state)
{
    struct paths *p = *state;
    char sub[160], path[192];
    snprintf(sub, sizeof sub, "%s/sub", p->dir);
    snprintf(path, sizeof path, "%s/error.log", sub);
    assert_int_equal(mkdir(sub, 0755), 0);
    char err[256];
    assert_int_equal(iob_log_open(path, "off", IOB_LOG_INFO, err, sizeof err), 0);
    char moved[160];
    snprintf(moved, sizeof moved, "%s/moved", p->dir);
    assert_int_equal(rename(sub, moved), 0);
    assert_int_equal(iob_log_reopen(), -ENOENT);
    iob_log(IOB_LOG_INFO, "still to the old file");
    snprintf(path, sizeof path, "%s/error.log", moved);
    char *s = slurp(path);
    assert_matches(s, "info still to the old file\n$");
    free(s);
}

#define WRITERS          4
#define LINES_PER_WRITER 2000
#define ROTATIONS        20

static void *write_lines(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < LINES_PER_WRITER; i++)
        iob_log(IOB_LOG_INFO, "writer %d line %d", id, i);
    return NULL;
}

/* dup2 replaces the fd atomically: writers racing a reopen lose no line and tear none. */
static void test_log_reopen_while_threads_log_loses_no_line(void **state)
{
    struct paths *p = *state;
    open_logs(p, "off", IOB_LOG_INFO);
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, write_lines, (void *)(intptr_t)i), 0);
    char rotated[ROTATIONS][160];
    for (int r = 0; r < ROTATIONS; r++) {
        snprintf(rotated[r], sizeof rotated[r], "%s.%d", p->error, r);
        assert_int_equal(rename(p->error, rotated[r]), 0);
        assert_int_equal(iob_log_reopen(), 0);
        usleep(500);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);

    size_t total = 0;
    regex_t rx;
    assert_int_equal(
        regcomp(&rx, ISO_TIME_RE "info writer [0-9] line [0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
    for (int r = 0; r <= ROTATIONS; r++) {
        char *s = slurp(r < ROTATIONS ? rotated[r] : p->error);
        for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
            if (regexec(&rx, line, 0, NULL, 0) != 0)
                fail_msg("torn line: \"%s\"", line);
            total++;
        }
        free(s);
    }
    regfree(&rx);
    assert_int_equal(total, WRITERS * LINES_PER_WRITER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_level_parse_accepts_only_the_four_names),
        cmocka_unit_test_setup_teardown(test_log_line_has_time_level_and_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_level_filters_lower_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_long_message_is_truncated_to_one_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_control_bytes_stay_on_one_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_access_line_is_clf_plus_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_access_escapes_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_access_long_target_keeps_status_and_duration,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_access_json_has_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_log_access_json_splits_the_peer_and_writes_null_for_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_access_json_escapes_client_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_log_access_json_long_fields_are_cut_and_the_object_closed, setup, teardown),
        cmocka_unit_test(test_log_format_names),
        cmocka_unit_test_setup_teardown(test_log_access_off_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_open_failure_names_file_and_keeps_old_logs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_ratelimited_once_per_second_per_site, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_reopen_after_rename_writes_new_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_reopen_fails_when_directory_gone_and_keeps_old_fd,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_reopen_while_threads_log_loses_no_line, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
