/* The evented engine: one libevent loop on the calling thread serves every connection. A wait is
 * a timer; the CPU step runs on the loop thread and stalls everyone (that is the lesson). Only
 * glue: nbconn.c decides, this file moves bytes and arms events. The only file that includes
 * event2/. Single-threaded: nothing here is shared.
 *
 * I/O is done by hand on plain read/write events rather than bufferevents: an answer is sent
 * straight away and EV_WRITE is armed only when the socket is full, so a keep-alive request costs
 * one recv() and one send() (no FIONREAD, no epoll_ctl per answer). */
#include "server/engine/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "server/base/clock.h"
#include "server/base/fdio.h"
#include "server/base/log.h"
#include "server/engine/accept.h"
#include "server/engine/nbconn.h"
#include "server/engine/stop.h"

/* The one read buffer of the loop: connections keep no input memory between reads. */
#define READ_BUF_BYTES 65536
/* Connections taken per wake of the listening socket, so a burst cannot starve the others. */
#define ACCEPT_BATCH 64

struct loop;

struct ev_conn {
    struct loop *lp;
    struct ev_conn *prev, *next;
    int fd;
    struct iob_nbconn *nb;
    struct event *rd, *wr, *timer;
    size_t read_max;       /* what the driver takes now; 0 while not reading */
    uint64_t timer_ns;     /* when the timer is armed for; 0: not armed */
    bool write_blocked;    /* the socket was full: wait for EV_WRITE before sending again */
    bool reading, writing; /* rd, wr are armed */
};

struct loop {
    const struct iob_engine_args *args;
    struct event_base *base;
    struct event *accept_ev, *accept_resume, *signal_ev, *grace;
    struct ev_conn *conns;
    size_t n_open;
    bool draining;
    int rc;
    char rbuf[READ_BUF_BYTES];
};

/* Rounded up to the microsecond, so a timer does not fire just before its time. */
static struct timeval tv_from_ns(uint64_t ns)
{
    uint64_t us = (ns + 999) / 1000;
    return (struct timeval){.tv_sec = (time_t)(us / 1000000),
                            .tv_usec = (suseconds_t)(us % 1000000)};
}

static void add_timer_at(struct event *ev, uint64_t at_ns)
{
    uint64_t now = iob_clock_now_ns();
    struct timeval tv = tv_from_ns(at_ns > now ? at_ns - now : 0);
    evtimer_add(ev, &tv);
}

static void arm(struct event *ev, bool *armed_now, bool on)
{
    if (on == *armed_now)
        return;
    *armed_now = on;
    if (on)
        event_add(ev, NULL);
    else
        event_del(ev);
}

static void conn_free(struct ev_conn *ec)
{
    struct loop *lp = ec->lp;
    event_free(ec->timer);
    event_free(ec->rd);
    event_free(ec->wr);
    close(ec->fd);
    iob_nb_free(ec->nb);
    if (ec->prev)
        ec->prev->next = ec->next;
    else
        lp->conns = ec->next;
    if (ec->next)
        ec->next->prev = ec->prev;
    free(ec);
    lp->n_open--;
    iob_accept_closed();
    if (lp->draining && lp->n_open == 0)
        event_base_loopbreak(lp->base);
}

/* Does what the driver asks until it waits for the socket or the clock. Every callback ends
 * here; never touch ec after calling it. */
static void apply(struct ev_conn *ec)
{
    struct iob_nb_next n;
    for (;;) {
        iob_nb_next(ec->nb, &n);
        if (n.close) {
            if (n.reset)
                iob_fd_abort(ec->fd);
            conn_free(ec);
            return;
        }
        if (n.shutdown_wr)
            shutdown(ec->fd, SHUT_WR);
        if (n.cpu) {
            n.cpu->work(n.cpu); /* stalls the loop: every other connection waits (the lesson) */
            iob_nb_cpu_done(ec->nb);
            continue;
        }
        if (!n.write_len || ec->write_blocked)
            break;
        ssize_t w = send(ec->fd, n.write, n.write_len, MSG_NOSIGNAL);
        if (w > 0)
            iob_nb_sent(ec->nb, (size_t)w);
        else if (w < 0 && errno == EAGAIN) {
            iob_nb_write_blocked(ec->nb);
            ec->write_blocked = true;
        } else if (!(w < 0 && errno == EINTR))
            iob_nb_error(ec->nb, w < 0 ? errno : EPIPE);
    }
    if (!n.write_len)
        ec->write_blocked = false;
    arm(ec->wr, &ec->writing, ec->write_blocked);
    arm(ec->rd, &ec->reading, n.read_max > 0);
    ec->read_max = n.read_max;
    if (n.wake_ns != ec->timer_ns) {
        ec->timer_ns = n.wake_ns;
        if (n.wake_ns)
            add_timer_at(ec->timer, n.wake_ns);
        else
            evtimer_del(ec->timer);
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct ev_conn *ec = arg;
    struct loop *lp = ec->lp;
    size_t room = ec->read_max < sizeof(lp->rbuf) ? ec->read_max : sizeof(lp->rbuf);
    ssize_t n = recv(fd, lp->rbuf, room, 0);
    if (n > 0)
        iob_nb_read(ec->nb, lp->rbuf, (size_t)n);
    else if (n == 0)
        iob_nb_eof(ec->nb);
    else if (errno != EAGAIN && errno != EINTR)
        iob_nb_error(ec->nb, errno);
    apply(ec);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ev_conn *ec = arg;
    ec->write_blocked = false;
    apply(ec);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ev_conn *ec = arg;
    ec->timer_ns = 0; /* fired: apply() arms it again, also when it came a little early */
    iob_nb_timer(ec->nb, iob_clock_now_ns());
    apply(ec);
}

static void conn_new(struct loop *lp, int fd, const char *peer)
{
    struct ev_conn *ec = calloc(1, sizeof(*ec));
    if (!ec) {
        iob_accept_reject(fd);
        return;
    }
    ec->lp = lp;
    ec->fd = fd;
    ec->nb = iob_nb_new(lp->args->env, peer);
    ec->rd = event_new(lp->base, fd, EV_READ | EV_PERSIST, on_readable, ec);
    ec->wr = event_new(lp->base, fd, EV_WRITE | EV_PERSIST, on_writable, ec);
    ec->timer = evtimer_new(lp->base, on_timer, ec);
    if (!ec->nb || !ec->rd || !ec->wr || !ec->timer) {
        iob_log(IOB_LOG_WARN, "no memory for a connection from %s", peer);
        if (ec->rd)
            event_free(ec->rd);
        if (ec->wr)
            event_free(ec->wr);
        if (ec->timer)
            event_free(ec->timer);
        iob_nb_free(ec->nb);
        free(ec);
        iob_accept_reject(fd);
        return;
    }
    ec->next = lp->conns;
    if (lp->conns)
        lp->conns->prev = ec;
    lp->conns = ec;
    lp->n_open++;
    apply(ec);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    struct loop *lp = arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        char peer[IOB_PEER_MAX];
        int fd = iob_accept_next(lfd, lp->args->env->max_connections, peer);
        if (fd == -EMFILE) {
            /* No descriptor for a new client: stop accepting for a moment instead of spinning
             * on a listen socket that stays readable; the open connections go on. */
            event_del(lp->accept_ev);
            add_timer_at(lp->accept_resume,
                         iob_clock_now_ns() + IOB_ACCEPT_PAUSE_MS * IOB_NS_PER_MS);
            return;
        }
        if (fd < 0)
            return;
        conn_new(lp, fd, peer);
    }
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct loop *lp = arg;
    if (!lp->draining)
        event_add(lp->accept_ev, NULL);
}

static void start_drain(struct loop *lp)
{
    lp->draining = true;
    event_del(lp->accept_ev);
    close(lp->args->listen_fd);
    struct ev_conn *next;
    for (struct ev_conn *ec = lp->conns; ec; ec = next) {
        next = ec->next;
        iob_nb_drain(ec->nb);
        apply(ec); /* idle ones close now */
    }
    if (lp->n_open == 0)
        event_base_loopbreak(lp->base);
    else
        add_timer_at(lp->grace, iob_stop_grace_deadline_ns());
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct loop *lp = arg;
    iob_stop_grace_expired();
    event_base_loopbreak(lp->base);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct loop *lp = arg;
    switch (iob_stop_take()) {
    case IOB_STOP_NONE:
        return;
    case IOB_STOP_DRAIN:
        start_drain(lp);
        return;
    case IOB_STOP_NOW:
        lp->rc = -EINTR;
        event_base_loopbreak(lp->base);
        return;
    }
}

int iob_evented_run(const struct iob_engine_args *args)
{
    struct loop *lp = calloc(1, sizeof(*lp));
    int rc = -ENOMEM;
    if (!lp) {
        close(args->listen_fd);
        return rc;
    }
    lp->args = args;
    /* Waits are the product: a precise monotonic clock (not the 4 ms coarse one) and timerfd
     * make a 100 ms sleep end within a fraction of a millisecond of its time. */
    struct event_config *ecfg = event_config_new();
    if (ecfg) {
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
        lp->base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
    }
    if (!lp->base)
        goto fail;
    lp->accept_ev = event_new(lp->base, args->listen_fd, EV_READ | EV_PERSIST, on_accept, lp);
    lp->accept_resume = evtimer_new(lp->base, on_accept_resume, lp);
    lp->grace = evtimer_new(lp->base, on_grace, lp);
    lp->signal_ev = event_new(lp->base, iob_stop_signal_fd(), EV_READ | EV_PERSIST, on_signal, lp);
    if (!lp->accept_ev || !lp->accept_resume || !lp->grace || !lp->signal_ev ||
        event_add(lp->accept_ev, NULL) < 0 || event_add(lp->signal_ev, NULL) < 0)
        goto fail;
    rc = event_base_dispatch(lp->base) < 0 ? -EIO : lp->rc;
fail:
    while (lp->conns)
        conn_free(lp->conns);
    struct event *evs[] = {lp->accept_ev, lp->accept_resume, lp->grace, lp->signal_ev};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    if (!lp->draining)
        close(args->listen_fd);
    if (lp->base)
        event_base_free(lp->base);
    free(lp);
    return rc;
}
