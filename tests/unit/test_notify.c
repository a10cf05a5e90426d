/* Unit tests for server/base/notify.c: the sd_notify datagram reaches a socket bound at a path
 * or in the abstract namespace, nothing is sent without $NOTIFY_SOCKET, and bad names fail. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "server/base/notify.h"

/* Binds a non-blocking datagram socket at name (a path, or "@x" for the abstract namespace). */
static int bind_dgram(const char *name)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    assert_true(len < sizeof sun.sun_path);
    memcpy(sun.sun_path, name, len);
    if (name[0] == '@')
        sun.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    socklen_t sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sunlen), 0);
    return fd;
}

/* The one datagram waiting on fd, NUL-terminated into out; "" when none. */
static void recv_state(int fd, char *out, size_t outlen)
{
    ssize_t n = recv(fd, out, outlen - 1, 0);
    out[n > 0 ? n : 0] = '\0';
}

static void test_notify_sends_the_state_to_a_path_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/iob_test_notify.XXXXXX", path[64], got[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/notify", dir);
    int fd = bind_dgram(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(iob_notify("READY=1"), 1);
    recv_state(fd, got, sizeof got);
    assert_string_equal(got, "READY=1");
    assert_int_equal(iob_notify("RELOADING=1\nMONOTONIC_USEC=1"), 1);
    recv_state(fd, got, sizeof got);
    assert_string_equal(got, "RELOADING=1\nMONOTONIC_USEC=1");
    close(fd);
    unlink(path);
    rmdir(dir);
}

static void test_notify_reaches_an_abstract_socket(void **state)
{
    (void)state;
    char name[64], got[64];
    snprintf(name, sizeof name, "@iob_test_notify_%d", (int)getpid());
    int fd = bind_dgram(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(iob_notify("STOPPING=1"), 1);
    recv_state(fd, got, sizeof got);
    assert_string_equal(got, "STOPPING=1");
    close(fd);
}

static void test_notify_without_the_variable_does_nothing(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(iob_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(iob_notify("READY=1"), 0);
}

static void test_notify_rejects_bad_socket_names(void **state)
{
    (void)state;
    char long_name[200];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[0] = '/';
    long_name[sizeof long_name - 1] = '\0';
    const char *const bad[] = {"relative/notify", "notify", long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("NOTIFY_SOCKET", bad[i], 1);
        assert_int_equal(iob_notify("READY=1"), -EINVAL);
    }
    /* A socket nobody listens on is the socket's own error, for the caller to log. */
    setenv("NOTIFY_SOCKET", "/nonexistent/iob_test_notify", 1);
    assert_int_equal(iob_notify("READY=1"), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_sends_the_state_to_a_path_socket),
        cmocka_unit_test(test_notify_reaches_an_abstract_socket),
        cmocka_unit_test(test_notify_without_the_variable_does_nothing),
        cmocka_unit_test(test_notify_rejects_bad_socket_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
