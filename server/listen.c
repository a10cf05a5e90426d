/* The listening socket, on a numeric address (iob_addr_parse(): no DNS at start-up). */
#include "server/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/addr.h"

int iob_listen_open(const char *addr, int backlog, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (iob_addr_parse(addr, &ss, &sslen) < 0) {
        snprintf(err, errlen,
                 "listen address \"%s\": allowed: IPv4:PORT or [IPv6]:PORT, port 0..65535", addr);
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, errlen, "socket for %s: %s", addr, strerror(-rc));
        return rc;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, backlog) < 0) {
        int rc = -errno;
        close(fd);
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(-rc));
        return rc;
    }
    return fd;
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
