/* Socket address formatting for the start-up line, logs and access-log peers. */
#include "server/base/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "server/base/strnum.h"

#define UNIX_PREFIX "unix:"

static int parse_unix(const char *path, struct sockaddr_storage *ss, socklen_t *sslen)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(un->sun_path))
        return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, len);
    *sslen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
}

int iob_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *sslen)
{
    if (strncmp(text, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0)
        return parse_unix(text + strlen(UNIX_PREFIX), ss, sslen);
    char host[INET6_ADDRSTRLEN];
    const char *colon = strrchr(text, ':');
    uint64_t port;
    if (!colon || iob_strnum_u64(colon + 1, strlen(colon + 1), 65535, &port) < 0)
        return -EINVAL;
    const char *h = text;
    size_t hlen = (size_t)(colon - text);
    bool is_v6 = hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']';
    if (is_v6) {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    memset(ss, 0, sizeof(*ss));
    if (is_v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof(*s6);
        return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -EINVAL;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *sslen = sizeof(*s4);
    if (strcmp(host, "localhost") == 0) {
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return 0;
    }
    return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -EINVAL;
}

int iob_addr_split(const char *list, char items[][IOB_ADDR_TEXT_MAX], size_t max)
{
    size_t n = 0;
    for (const char *p = list;; p++) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        while (p < end && isspace((unsigned char)*p))
            p++;
        size_t len = (size_t)(end - p);
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len == 0 || len >= IOB_ADDR_TEXT_MAX || n == max)
            return -EINVAL;
        memcpy(items[n], p, len);
        items[n++][len] = '\0';
        if (!*end)
            return (int)n;
        p = end;
    }
}

void iob_addr_host(const struct sockaddr *sa, char *out, size_t outlen)
{
    if (sa->sa_family == AF_UNIX) {
        snprintf(out, outlen, UNIX_PREFIX);
        return;
    }
    const void *addr =
        sa->sa_family == AF_INET6  ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
        : sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                                   : NULL;
    if (!addr || !inet_ntop(sa->sa_family, addr, out, (socklen_t)outlen))
        snprintf(out, outlen, "?");
}

void iob_addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];
    iob_addr_host(sa, host, sizeof host);
    if (sa->sa_family == AF_INET6)
        snprintf(out, outlen, "[%s]:%u", host, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    else if (sa->sa_family == AF_INET)
        snprintf(out, outlen, "%s:%u", host, ntohs(((const struct sockaddr_in *)sa)->sin_port));
    else if (sa->sa_family == AF_UNIX)
        snprintf(out, outlen, UNIX_PREFIX "%.*s", (int)sizeof(((struct sockaddr_un *)0)->sun_path),
                 ((const struct sockaddr_un *)sa)->sun_path);
    else
        snprintf(out, outlen, "?");
}
