/* The listening socket. Numeric addresses only (no DNS at start-up): "HOST:PORT" with an IPv4
 * address or "[IPv6]:PORT"; "localhost" is accepted as 127.0.0.1 for convenience. */
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
#include "server/base/strnum.h"

static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -EINVAL;
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    bool v6 = hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']';
    if (v6) {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    uint64_t port;
    if (iob_strnum_u64(colon + 1, strlen(colon + 1), 65535, &port) < 0)
        return -EINVAL;

    memset(ss, 0, sizeof(*ss));
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return -EINVAL;
        *sslen = sizeof(*s6);
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return -EINVAL;
    *sslen = sizeof(*s4);
    return 0;
}

int iob_listen_open(const char *addr, int backlog, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (parse_addr(addr, &ss, &sslen) < 0) {
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
