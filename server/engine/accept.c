/* Accepting, admission and the canned 503: the one place every engine takes connections from. */
#include "server/engine/accept.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/addr.h"
#include "server/base/fdio.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/http/respond.h"

/* One count for the process, whatever the engine and however many loops accept. */
static atomic_size_t n_open;
static uint64_t emfile_logged_ns;

/* Sends the 503 and closes fd. Counted first, so a client that has read the 503 never scrapes a
 * count without it. Reads what the client sent so far: closing with unread bytes would reset
 * the connection and could destroy the 503 before the client reads it. */
static void send_overload(int fd)
{
    iob_metrics_conn_rejected();
    char buf[512];
    size_t n = iob_respond_overload(buf, sizeof(buf));
    while (recv(fd, buf + n, sizeof(buf) - n, MSG_DONTWAIT) > 0)
        ;
    (void)send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    close(fd);
}

int iob_accept_failed(int err)
{
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        /* Not a spin on a listen socket that stays readable: the caller pauses. */
        iob_log_ratelimited(&emfile_logged_ns, IOB_LOG_WARN,
                            "accept: %s; pausing accepts for %d ms (%zu connections open)",
                            strerror(err), IOB_ACCEPT_PAUSE_MS, iob_accept_open());
        return -EMFILE;
    }
    if (err != EAGAIN && err != EINTR && err != ECONNABORTED)
        iob_log(IOB_LOG_WARN, "accept: %s", strerror(err));
    return -EAGAIN;
}

/* Admits fd from sa, or sends it the 503 over max_connections and returns -EAGAIN. */
static int admit(int fd, const struct sockaddr *sa, size_t max_connections, char peer[IOB_PEER_MAX])
{
    /* Counted before the check, so loops accepting at once cannot both take the last slot. */
    if (atomic_fetch_add(&n_open, 1) >= max_connections) {
        atomic_fetch_sub(&n_open, 1);
        send_overload(fd); /* no thread, no connection state is made for it */
        return -EAGAIN;
    }
    int one = 1;
    if (sa->sa_family != AF_UNIX) /* no Nagle there to turn off */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    iob_addr_host(sa, peer, IOB_PEER_MAX);
    iob_metrics_conn_opened();
    return fd;
}

int iob_accept_next(int listen_fd, size_t max_connections, char peer[IOB_PEER_MAX])
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        int fd = accept4(listen_fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0)
            return iob_accept_failed(errno);
        if (admit(fd, (struct sockaddr *)&ss, max_connections, peer) >= 0)
            return fd;
    }
}

int iob_accept_take(int fd, size_t max_connections, char peer[IOB_PEER_MAX])
{
    struct sockaddr_storage ss = {.ss_family = AF_UNSPEC};
    socklen_t sslen = sizeof(ss);
    (void)getpeername(fd, (struct sockaddr *)&ss, &sslen); /* gone already: "?" as the peer */
    return admit(fd, (struct sockaddr *)&ss, max_connections, peer);
}

int iob_accept_set_open(struct iob_accept_set *set, const int *fds, size_t n)
{
    *set = (struct iob_accept_set){.fd = epoll_create1(EPOLL_CLOEXEC), .n = n};
    int rc = set->fd < 0 ? -errno : 0;
    for (size_t i = 0; i < n; i++) {
        set->listen_fds[i] = fds[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        if (rc == 0 && epoll_ctl(set->fd, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            rc = -errno;
    }
    if (rc < 0)
        iob_accept_set_close(set);
    return rc;
}

void iob_accept_set_close(struct iob_accept_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        close(set->listen_fds[i]);
    if (set->fd >= 0)
        close(set->fd);
    set->fd = -1;
    set->n = 0;
}

int iob_accept_some(struct iob_accept_set *set, size_t max_connections, iob_accept_fn *take,
                    void *ctx)
{
    struct epoll_event evs[IOB_ADDR_LIST_MAX];
    int ready = epoll_wait(set->fd, evs, IOB_ADDR_LIST_MAX, 0);
    for (int r = 0; r < ready; r++) {
        int lfd = set->listen_fds[evs[r].data.u64];
        for (int i = 0; i < IOB_ACCEPT_BATCH; i++) {
            char peer[IOB_PEER_MAX];
            int fd = iob_accept_next(lfd, max_connections, peer);
            if (fd == -EMFILE)
                return -EMFILE;
            if (fd < 0)
                break;
            take(ctx, fd, peer);
        }
    }
    return 0;
}

static void uncount(void)
{
    atomic_fetch_sub(&n_open, 1);
    iob_metrics_conn_closed();
}

void iob_accept_end(int fd, bool reset)
{
    if (reset)
        iob_fd_abort(fd); /* SO_LINGER 0: the close sends an RST */
    close(fd);
    uncount();
}

void iob_accept_reject(int fd)
{
    send_overload(fd);
    uncount();
}

size_t iob_accept_open(void)
{
    return atomic_load(&n_open);
}
