/* Raw-socket client (see raw.h): connect, send bytes exactly as given, read responses one at a
 * time out of a buffer so pipelined answers can be taken apart, and detect the server's close. */
#include "tests/it/raw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK 65536

/* Parses "127.0.0.1:P", "[::1]:P" or "unix:PATH" (as the start-up line names them). */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    if (strncmp(addr, "unix:", 5) == 0 && strlen(addr + 5) < sizeof(un->sun_path)) {
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, addr + 5);
        *len = sizeof(*un);
        return 0;
    }
    const char *colon = strrchr(addr, ':');
    char host[64];
    if (!colon || (size_t)(colon - addr) >= sizeof(host))
        return -EINVAL;
    bool v6 = addr[0] == '[';
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr) - (v6 ? 2 : 0), addr + v6);
    uint16_t port = htons((uint16_t)atoi(colon + 1));
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    *len = v6 ? sizeof(*s6) : sizeof(*s4);
    if (v6) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = port;
        return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -EINVAL;
    }
    s4->sin_family = AF_INET;
    s4->sin_port = port;
    return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -EINVAL;
}

int it_raw_open(struct it_raw *c, int port)
{
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    return it_raw_open_addr(c, addr);
}

int it_raw_open_addr(struct it_raw *c, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int one = 1;
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    if (parse_addr(addr, &ss, &sslen) < 0)
        return -EINVAL;
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    /* Each send() leaves at once, so "three requests in one write" means one segment. */
    if (ss.ss_family != AF_UNIX)
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A server that stops reading must fail the test, not hang it. */
    struct timeval send_timeout = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
    if (connect(c->fd, (struct sockaddr *)&ss, sslen) != 0) {
        int rc = -errno;
        close(c->fd);
        c->fd = -1;
        return rc;
    }
    return 0;
}

void it_raw_close(struct it_raw *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

void it_raw_abort(struct it_raw *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (c->fd >= 0)
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    it_raw_close(c);
}

int it_raw_send(struct it_raw *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int it_raw_send_str(struct it_raw *c, const char *s)
{
    return it_raw_send(c, s, strlen(s));
}

/* Receives more bytes into the buffer before deadline_ms. Returns how many (0 at EOF), or
 * -ETIMEDOUT, or a negative errno. */
static int fill(struct it_raw *c, double deadline_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    double left = deadline_ms - it_now_ms();
    if (left <= 0)
        return -ETIMEDOUT;
    int n = poll(&pfd, 1, (int)left + 1);
    if (n == 0)
        return -ETIMEDOUT;
    if (n < 0)
        return errno == EINTR ? fill(c, deadline_ms) : -errno;
    if (c->alloc - c->len < READ_CHUNK) {
        char *grown = realloc(c->buf, c->len + READ_CHUNK + 1);
        if (!grown)
            return -ENOMEM;
        c->buf = grown;
        c->alloc = c->len + READ_CHUNK;
    }
    ssize_t r = recv(c->fd, c->buf + c->len, c->alloc - c->len, 0);
    if (r < 0)
        return errno == EINTR ? fill(c, deadline_ms) : -errno;
    c->len += (size_t)r;
    return (int)r;
}

static char *take(struct it_raw *c, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, c->buf, n);
    out[n] = '\0';
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    return out;
}

int it_raw_read(struct it_ctx *t, struct it_raw *c, struct it_raw_resp *r, bool is_head,
                int timeout_ms)
{
    double deadline = it_now_ms() + timeout_ms;
    char *end = NULL, cl[64];
    int rc;
    it_raw_resp_fini(r);
    while (!(end = c->buf ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL)) {
        rc = fill(c, deadline);
        if (rc == 0)
            return -EPIPE;
        if (rc < 0)
            return rc;
    }
    r->head_len = (size_t)(end + 4 - c->buf);
    r->head = take(c, r->head_len);
    if (!r->head)
        return -ENOMEM;
    if (sscanf(r->head, "HTTP/1.%*1[01] %3d ", &r->status) != 1)
        return -EPROTO;
    bool has_body = !is_head && r->status >= 200 && r->status != 204 && r->status != 304;
    bool has_length = it_header_get(r->head, "Content-Length", cl, sizeof(cl));
    size_t want = has_body && has_length ? strtoull(cl, NULL, 10) : 0;
    while (has_body && (has_length ? c->len < want : true)) {
        rc = fill(c, deadline);
        if (rc == 0 && !has_length)
            break; /* the body ran to the close */
        if (rc == 0)
            return -EPIPE;
        if (rc < 0)
            return rc;
    }
    if (has_body && !has_length)
        want = c->len;
    r->body_len = want;
    r->body = take(c, want);
    if (!r->body)
        return -ENOMEM;
    if (r->status >= 200) {
        char what[128];
        snprintf(what, sizeof(what), "%.*s", (int)strcspn(r->head, "\r\n"), r->head);
        it_check_std_headers(t, what, r->head, r->body_len, is_head);
    }
    return 0;
}

bool it_raw_expect(struct it_ctx *t, struct it_raw *c, const char *what, struct it_raw_resp *r,
                   bool is_head, int timeout_ms)
{
    int rc = it_raw_read(t, c, r, is_head, timeout_ms);
    return it_check(t, rc == 0, "%s: expected a response within %d ms, got none: %s", what,
                    timeout_ms, strerror(-rc));
}

int it_raw_wait_closed(struct it_raw *c, int timeout_ms)
{
    if (c->len > 0)
        return -EPROTO;
    int rc = fill(c, it_now_ms() + timeout_ms);
    if (rc == 0 || rc == -ECONNRESET)
        return 0;
    return rc > 0 ? -EPROTO : rc;
}

bool it_raw_expect_closed(struct it_ctx *t, struct it_raw *c, const char *what, int timeout_ms)
{
    int rc = it_raw_wait_closed(c, timeout_ms);
    return it_check(t, rc == 0, "%s: expected the server to close the connection within %d ms: %s",
                    what, timeout_ms,
                    rc == -EPROTO      ? "more bytes arrived"
                    : rc == -ETIMEDOUT ? "still open"
                                       : strerror(-rc));
}

void it_raw_resp_fini(struct it_raw_resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}
