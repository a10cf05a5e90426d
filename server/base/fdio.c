/* Deadline-bounded waits and sends on a descriptor, shared by the threaded engine and the
 * health check. */
#include "server/base/fdio.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "server/base/clock.h"

int iob_fd_poll_ms(uint64_t deadline_ns)
{
    if (!deadline_ns)
        return -1;
    uint64_t now = iob_clock_now_ns();
    return deadline_ns <= now ? 0 : (int)((deadline_ns - now + IOB_NS_PER_MS - 1) / IOB_NS_PER_MS);
}

int iob_fd_wait(int fd, short events, uint64_t deadline_ns)
{
    for (;;) {
        int timeout = iob_fd_poll_ms(deadline_ns);
        if (timeout == 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, timeout);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

int iob_fd_send_all_via(int fd, const void *buf, size_t len, uint64_t deadline_ns,
                        iob_fd_wait_fn *wait_writable, void *ctx)
{
    const char *p = buf;
    while (len) {
        /* MSG_DONTWAIT: the socket may be blocking (SO_RCVTIMEO reads), the deadline still holds.
         */
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        int rc = wait_writable(ctx, fd, deadline_ns);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int poll_writable(void *ctx, int fd, uint64_t deadline_ns)
{
    (void)ctx;
    return iob_fd_wait(fd, POLLOUT, deadline_ns);
}

int iob_fd_send_all(int fd, const void *buf, size_t len, uint64_t deadline_ns)
{
    return iob_fd_send_all_via(fd, buf, len, deadline_ns, poll_writable, NULL);
}

int iob_fd_abort(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0 ? -errno : 0;
}
