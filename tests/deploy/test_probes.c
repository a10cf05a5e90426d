/* Integration: what supervisors see of the real binary. systemd's Type=notify: READY=1 arrives
 * on $NOTIFY_SOCKET once the server accepts connections, RELOADING=1 and READY=1 around the log
 * reopen of SIGHUP, STOPPING=1 at the drain; an unreachable socket is a warning,
 * not a failure. Kubernetes' readiness: /readyz answers 200, then 503 to a request that arrives
 * while the server drains after SIGTERM, while /healthz (liveness) stays 200. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/it/harness.h"
#include "tests/it/raw.h"

/* Binds a datagram socket at dir/notify and points NOTIFY_SOCKET at it; returns the fd. */
static int bind_notify_socket(struct it_ctx *t, char *dir, char *path, size_t pathlen)
{
    if (!it_check(t, mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno)))
        return -1;
    snprintf(path, pathlen, "%s/notify", dir);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (!it_check(t, fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
                  "bind a datagram socket at %s: %s", path, strerror(errno)))
        return -1;
    setenv("NOTIFY_SOCKET", path, 1);
    return fd;
}

/* Reads the next datagram on fd within 5 s (scaled) and checks it is want. */
static bool expect_datagram(struct it_ctx *t, int fd, const char *after, const char *want)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char got[256] = "";
    if (!it_check(t, poll(&p, 1, it_scaled_ms(t, 5000)) == 1,
                  "no datagram on NOTIFY_SOCKET within 5 s of %s", after))
        return false;
    ssize_t n = recv(fd, got, sizeof got - 1, 0);
    got[n > 0 ? n : 0] = '\0';
    char what[128];
    snprintf(what, sizeof what, "the notify datagram after %s", after);
    return it_expect_str(t, what, want, got);
}

static void notify_ready_reloading_stopping(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    char dir[] = "/tmp/iob-notify.XXXXXX", path[64];
    int fd = bind_notify_socket(t, dir, path, sizeof path);
    struct it_proc srv;
    if (fd < 0 || it_server_start(t, &srv, NULL) != 0)
        goto out;
    if (expect_datagram(t, fd, "the start-up line", "READY=1")) {
        /* READY=1 promises a server that accepts: connect now, with no retry. */
        struct it_raw c;
        it_expect_int(t, "connect right after READY=1", 0, it_raw_open(&c, srv.port));
        it_raw_close(&c);
    }
    kill(srv.pid, SIGHUP);
    if (expect_datagram(t, fd, "SIGHUP", "RELOADING=1"))
        expect_datagram(t, fd, "the log reopen", "READY=1");
    it_server_stop(t, &srv);
    expect_datagram(t, fd, "SIGTERM", "STOPPING=1");
out:
    unsetenv("NOTIFY_SOCKET");
    if (fd >= 0)
        close(fd);
    unlink(path);
    rmdir(dir);
}

static void notify_socket_gone_is_a_warning(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    setenv("NOTIFY_SOCKET", "/nonexistent/iob-notify", 1);
    struct it_proc srv;
    if (it_server_start(t, &srv, NULL) == 0) {
        it_sleep_ms(100);
        it_expect_running(t, &srv, "READY=1 to a missing NOTIFY_SOCKET");
        char *err = it_proc_stderr(&srv);
        it_expect_contains(t, "stderr", err, "systemd notify READY=1: No such file or directory");
        free(err);
        it_server_stop(t, &srv);
    }
    unsetenv("NOTIFY_SOCKET");
}

/* GET path on c (a fresh request) and the status it answers. */
static int status_of(struct it_ctx *t, int port, const char *path, char *body, size_t bodylen)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    int status = -1;
    char req[128];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", path);
    if (it_raw_open(&c, port) == 0 && it_raw_send_str(&c, req) == 0 &&
        it_raw_expect(t, &c, path, &r, false, it_scaled_ms(t, 2000))) {
        status = r.status;
        snprintf(body, bodylen, "%s", r.body);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
    return status;
}

static void readyz_fails_while_draining(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    struct it_proc srv;
    if (it_server_start(t, &srv, NULL) != 0)
        return;
    char body[256];
    it_expect_int(t, "GET /readyz before SIGTERM", 200,
                  status_of(t, srv.port, "/readyz", body, sizeof body));
    it_expect_str(t, "GET /readyz body", "ready\n", body);
    /* Two requests begun but not complete when SIGTERM comes: the drain waits for them, and
     * each is answered as a request that arrived during the drain. */
    static const char *const paths[] = {"/readyz", "/healthz"};
    struct it_raw c[2];
    for (int i = 0; i < 2; i++) {
        char head[128];
        snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: a\r\n", paths[i]);
        it_expect_int(t, "connect", 0, it_raw_open(&c[i], srv.port));
        it_raw_send_str(&c[i], head);
    }
    it_sleep_ms(it_scaled_ms(t, 100));
    kill(srv.pid, SIGTERM);
    it_sleep_ms(it_scaled_ms(t, 200));
    static const int want[] = {503, 200};
    for (int i = 0; i < 2; i++) {
        struct it_raw_resp r = {0};
        it_raw_send_str(&c[i], "\r\n");
        if (it_raw_expect(t, &c[i], paths[i], &r, false, it_scaled_ms(t, 2000))) {
            char what[64];
            snprintf(what, sizeof what, "GET %s while draining", paths[i]);
            it_expect_int(t, what, want[i], r.status);
            it_expect_contains(t, what, r.head, "Connection: close");
        }
        it_raw_resp_fini(&r);
        it_raw_close(&c[i]);
    }
    int code = it_proc_wait(&srv, it_scaled_ms(t, 5000));
    it_expect_int(t, "exit code after the drain", 0, code);
    it_proc_fini(&srv);
}

int main(int argc, char **argv)
{
    static const struct it_case own[] = {
        {"notify_ready_reloading_stopping", notify_ready_reloading_stopping},
        {"notify_socket_gone_is_a_warning", notify_socket_gone_is_a_warning},
        {"readyz_fails_while_draining", readyz_fails_while_draining},
    };
    return it_main(argc, argv, NULL, NULL, 0, own, IT_LEN(own));
}
