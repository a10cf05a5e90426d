/* The listening sockets, on numeric addresses (iob_addr_parse(): no DNS at start-up). */
#include "server/engine/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A Unix socket's file: the owner and its group (a reverse proxy's user in it) may connect. */
#define UNIX_SOCKET_MODE 0660

#include "server/base/addr.h"

/* A non-blocking socket bound to ss, listening when backlog > 0. Returns it or -errno. */
static int bind_socket(const struct sockaddr_storage *ss, socklen_t sslen, int backlog,
                       bool reuseport)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    bool is_unix = ss->ss_family == AF_UNIX;
    if (!is_unix)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && !is_unix)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, sslen) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    /* The mode is set before listen(): no client can connect while the file has another. */
    const char *path = ((const struct sockaddr_un *)ss)->sun_path;
    if ((is_unix && chmod(path, UNIX_SOCKET_MODE) < 0) ||
        (backlog > 0 && listen(fd, backlog) < 0)) {
        int rc = -errno;
        if (is_unix)
            unlink(path); /* made by the bind above */
        close(fd);
        return rc;
    }
    return fd;
}

static bool has_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_UNIX)
        return false;
    return ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port != 0
                                     : ((const struct sockaddr_in *)ss)->sin_port != 0;
}

int iob_listen_open(const char *addr, int backlog, bool reuseport, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (iob_addr_parse(addr, &ss, &sslen) < 0) {
        snprintf(err, errlen,
                 "listen address \"%s\": allowed: IPv4:PORT, [IPv6]:PORT (port 0..65535) or "
                 "unix:PATH",
                 addr);
        return -EINVAL;
    }
    /* SO_REUSEPORT would let us join another process's sockets on the port (same user): a bind
     * without it first refuses a taken port, as without the option. */
    int rc = 0;
    if (reuseport && has_port(&ss) && (rc = bind_socket(&ss, sslen, 0, false)) >= 0)
        close(rc);
    int fd = rc < 0 ? rc : bind_socket(&ss, sslen, backlog, reuseport);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s: %s%s", addr, strerror(-fd),
                 ss.ss_family == AF_UNIX && fd == -EADDRINUSE
                     ? " (a server runs there, or a stale socket file: remove it)"
                     : "");
    return fd;
}

int iob_listen_again(int fd, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
        return -errno;
    if (ss.ss_family == AF_UNIX) {
        int again = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        return again < 0 ? -errno : again;
    }
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

/* The absolute path of the Unix socket file named by addr into out, "" for other addresses. */
static void socket_file(const char *addr, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    out[0] = '\0';
    if (iob_addr_parse(addr, &ss, &sslen) < 0 || ss.ss_family != AF_UNIX)
        return;
    const char *path = ((const struct sockaddr_un *)&ss)->sun_path;
    char cwd[PATH_MAX - IOB_ADDR_TEXT_MAX]; /* room for "/" and the path */
    if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        snprintf(out, outlen, "%s", path);
    else
        snprintf(out, outlen, "%s/%s", cwd, path);
}

int iob_listen_open_all(const char *list, int backlog, bool reuseport, struct iob_listeners *ls,
                        char *err, size_t errlen)
{
    char items[IOB_ADDR_LIST_MAX][IOB_ADDR_TEXT_MAX];
    int n = iob_addr_split(list, items, IOB_ADDR_LIST_MAX);
    ls->n = 0;
    if (n < 0) {
        snprintf(err, errlen, "listen \"%s\": allowed: a comma-separated list of 1..%d addresses",
                 list, IOB_ADDR_LIST_MAX);
        return -EINVAL;
    }
    for (int i = 0; i < n; i++) {
        int fd = iob_listen_open(items[i], backlog, reuseport, err, errlen);
        if (fd < 0) {
            iob_listen_close_all(ls);
            return fd;
        }
        ls->fds[ls->n] = fd;
        socket_file(items[i], ls->files[ls->n], sizeof(ls->files[ls->n]));
        iob_listen_name(fd, ls->names[ls->n], sizeof(ls->names[ls->n]));
        ls->n++;
    }
    return 0;
}

void iob_listen_remove_files(const struct iob_listeners *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        if (ls->files[i][0])
            unlink(ls->files[i]);
}

void iob_listen_close(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

void iob_listen_close_all(struct iob_listeners *ls)
{
    iob_listen_close(ls->fds, ls->n);
    iob_listen_remove_files(ls);
    ls->n = 0;
}
