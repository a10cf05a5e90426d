/* --health-check: one blocking GET /healthz under a single deadline, for container HEALTHCHECKs
 * and probes where the image has no curl. Numeric addresses only (no resolver: the check must not
 * hang on DNS). Main thread; knows nothing of the server's own HTTP layer. */
#include "server/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/addr.h"
#include "server/base/clock.h"
#include "server/base/fdio.h"
#include "server/base/strnum.h"

static const char request[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/* Parses addr like a listen address (iob_addr_parse()). A wildcard host (0.0.0.0, [::], as a
 * listen address often is) means the local machine, so it becomes the loopback address; port 0
 * names no server. A unix:PATH is taken as it is. Returns the address length, or -EINVAL. */
static int parse_addr(const char *addr, struct sockaddr_storage *sa)
{
    socklen_t len;
    if (iob_addr_parse(addr, sa, &len) < 0)
        return -EINVAL;
    if (sa->ss_family == AF_UNIX)
        return (int)len;
    if (sa->ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            in6->sin6_addr = in6addr_loopback;
        return in6->sin6_port ? (int)len : -EINVAL;
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
    if (in4->sin_addr.s_addr == htonl(INADDR_ANY))
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return in4->sin_port ? (int)len : -EINVAL;
}

static int connect_within(int fd, const struct sockaddr_storage *sa, int sa_len,
                          uint64_t deadline_ns)
{
    if (connect(fd, (const struct sockaddr *)sa, (socklen_t)sa_len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -errno;
    int rc = iob_fd_wait(fd, POLLOUT, deadline_ns);
    if (rc < 0)
        return rc;
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
        return -errno;
    return -so_error;
}

/* Reads until the status line is complete (or the peer closes) and checks for "HTTP/1.x 200". */
static int read_status(int fd, uint64_t deadline_ns)
{
    char line[64];
    size_t len = 0;
    while (len < sizeof line && !memchr(line, '\n', len)) {
        ssize_t n = recv(fd, line + len, sizeof line - len, 0);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int rc = iob_fd_wait(fd, POLLIN, deadline_ns);
        if (rc < 0)
            return rc;
    }
    /* "HTTP/1.0 200 " or "HTTP/1.1 200 "; byte 7 is the minor version. */
    static const char prefix[] = "HTTP/1.";
    static const char status[] = " 200 ";
    if (len < sizeof prefix - 1 + 1 + sizeof status - 1)
        return -EPROTO;
    bool is_ok = memcmp(line, prefix, sizeof prefix - 1) == 0 &&
                 (line[7] == '0' || line[7] == '1') &&
                 memcmp(line + 8, status, sizeof status - 1) == 0;
    return is_ok ? 0 : -EPROTO;
}

int iob_health_check(const char *addr, int timeout_ms)
{
    struct sockaddr_storage sa;
    int sa_len = parse_addr(addr, &sa);
    if (sa_len < 0)
        return sa_len;
    uint64_t deadline_ns =
        iob_clock_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * IOB_NS_PER_MS;

    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect_within(fd, &sa, sa_len, deadline_ns);
    if (rc == 0)
        rc = iob_fd_send_all(fd, request, sizeof request - 1, deadline_ns);
    if (rc == 0)
        rc = read_status(fd, deadline_ns);
    close(fd);
    return rc;
}
