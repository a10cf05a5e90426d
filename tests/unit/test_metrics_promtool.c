/* Checks the /metrics exposition with Prometheus's own linter, `promtool check metrics`, after
 * filling every family. Exits 77 (ctest: skipped) when promtool is not installed; install it
 * with `.ci/install-deps prometheus`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "server/base/buf.h"
#include "server/base/clock.h"
#include "server/base/metrics.h"

#define SKIPPED 77

static const char *const route_labels[] = {"hello", "sleep", "other"};

static void test_metrics_promtool_accepts_render(void **state)
{
    (void)state;
    iob_metrics_request_begin();
    iob_metrics_request_end(1, 200, 100 * IOB_NS_PER_MS);
    iob_metrics_request_count(2, 404, 0);
    iob_metrics_conn_opened();
    iob_metrics_conn_rejected();
    iob_metrics_thread_started();

    struct iob_buf b;
    iob_buf_init(&b, 1 << 20);
    assert_int_equal(iob_metrics_render(&b), 0);
    char path[] = "/tmp/iob_metrics_promtool.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);

    char cmd[128], out[4096] = "";
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    if (status != 0)
        fail_msg("promtool check metrics (status %d):\n%s\non this input:\n%.*s", status, out,
                 (int)b.len, b.data);
    iob_buf_fini(&b);
}

int main(void)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        fprintf(stderr, "promtool not found: skipped (.ci/install-deps prometheus)\n");
        return SKIPPED;
    }
    iob_metrics_init("threaded", route_labels, sizeof route_labels / sizeof route_labels[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_promtool_accepts_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
