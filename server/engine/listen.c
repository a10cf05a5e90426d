/* The listening socket, on a numeric address (iob_addr_parse(): no DNS at start-up). */
#include "server/engine/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/addr.h"

/* A non-blocking socket bound to ss, listening when backlog > 0. Returns it or -errno. */
static int bind_socket(const struct sockaddr_storage *ss, socklen_t sslen, int backlog,
                       bool reuseport)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, sslen) < 0 ||
        (backlog > 0 && listen(fd, backlog) < 0)) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static bool has_port(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port != 0
                                     : ((const struct sockaddr_in *)ss)->sin_port != 0;
}

int iob_listen_open(const char *addr, int backlog, bool reuseport, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (iob_addr_parse(addr, &ss, &sslen) < 0) {
        snprintf(err, errlen,
                 "listen address \"%s\": allowed: IPv4:PORT or [IPv6]:PORT, port 0..65535", addr);
        return -EINVAL;
    }
    /* SO_REUSEPORT would let us join another process's sockets on the port (same user): a bind
     * without it first refuses a taken port, as without the option. */
    int rc = 0;
    if (reuseport && has_port(&ss) && (rc = bind_socket(&ss, sslen, 0, false)) >= 0)
        close(rc);
    int fd = rc < 0 ? rc : bind_socket(&ss, sslen, backlog, reuseport);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(-fd));
    return fd;
}

int iob_listen_again(int fd, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
        return -errno;
    return bind_socket(&ss, sslen, backlog, true);
}

int iob_listen_name(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
        return -errno;
    iob_addr_format((struct sockaddr *)&ss, out, outlen);
    return 0;
}
