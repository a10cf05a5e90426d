/* The evented loop (evented.h) and the evented engine, one such loop on the calling thread. A
 * wait is a timer; a CPU step runs on the loop thread and stalls everyone (the lesson) unless a
 * CPU runner takes it. Only glue: nbconn.c decides, this file moves bytes and arms events. The
 * only file that includes event2/. A loop's state is its own thread's. Plain read/write events,
 * not bufferevents: an answer is sent at once and EV_WRITE armed only when the socket is full,
 * so a keep-alive request costs one recv() and one send() (no FIONREAD, no epoll_ctl). The
 * connections' deadlines are in the loop's own heap (keys inline: no cache miss per level, no
 * clock read per change), and the loop's own timerfd is set for the earliest of them, only when
 * that comes sooner: no timer system call per loop turn (libevent's precise timer makes one). */
#include "server/engine/evented.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "server/base/clock.h"
#include "server/base/heap.h"
#include "server/base/list.h"
#include "server/base/log.h"
#include "server/engine/accept.h"
#include "server/engine/nbconn.h"
#include "server/engine/stop.h"

struct ev_conn {
    struct loop *lp;
    struct iob_link link; /* in lp->conns */
    int fd;
    struct iob_nbconn *nb;
    struct event *rd, *wr;
    struct iob_heap_node timer; /* the driver's wake time, in lp->timers while it has one */
    struct ev_conn *due_next;   /* in on_tick()'s list of those whose time has come */
    size_t read_max;            /* what the driver takes now; 0 while not reading */
    bool write_blocked;         /* the socket was full: wait for EV_WRITE before sending again */
    bool reading, writing;      /* rd, wr are armed */
    bool cpu_away;              /* a CPU runner has this connection's step */
};

struct loop {
    const struct iob_engine_args *args;
    const struct iob_loop_opts *opts;
    struct event_base *base;
    struct iob_accept_set listeners;
    struct event *accept_ev, *accept_resume, *grace;
    struct iob_heap timers;    /* every connection's wake time */
    int tick_fd;               /* a timerfd (CLOCK_MONOTONIC), set for the earliest of them */
    struct event *tick;        /* tick_fd readable */
    uint64_t tick_ns;          /* what tick_fd is set for; 0: not set */
    struct event *stop_evs[4]; /* signalfd (one loop), drain, now, CPU steps done */
    struct iob_link *conns;
    size_t n_open;
    bool draining;
    int rc;
    char rbuf[IOB_NB_READ_MAX]; /* the loop's one read buffer: connections keep none */
};

/* Rounded up to the microsecond, so a timer does not fire just before its time. */
static void add_timer_at(struct event *ev, uint64_t at_ns)
{
    uint64_t now = iob_clock_now_ns();
    uint64_t us = at_ns > now ? (at_ns - now + 999) / 1000 : 0;
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
    evtimer_add(ev, &tv);
}

/* Sets tick_fd for at_ns (0: disarmed). Setting it also clears a past expiry, so the
 * descriptor is readable only once per expiry without a read(). */
static void tick_set(struct loop *lp, uint64_t at_ns)
{
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(at_ns / IOB_NS_PER_SEC),
                                          .tv_nsec = (long)(at_ns % IOB_NS_PER_SEC)}};
    lp->tick_ns = at_ns;
    timerfd_settime(lp->tick_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Keeps tick_fd set no later than the earliest wake time. A time that moves later leaves it
 * where it is: in a keep-alive loop the connection served is the one idle longest, the top, so
 * following it would cost a system call a request; a tick that comes early finds nothing due
 * and sets the next. */
static void arm_tick(struct loop *lp)
{
    const struct iob_heap_node *top = iob_heap_top(&lp->timers);
    if (!top || (lp->tick_ns && lp->tick_ns <= top->at_ns))
        return;
    tick_set(lp, top->at_ns);
}

static void set_timer(struct ev_conn *ec, uint64_t at_ns)
{
    struct loop *lp = ec->lp;
    bool armed = ec->timer.index != IOB_HEAP_NONE;
    if (armed ? ec->timer.at_ns == at_ns : !at_ns)
        return;
    if (at_ns)
        iob_heap_set(&lp->timers, &ec->timer, at_ns); /* room reserved by conn_new() */
    else
        iob_heap_remove(&lp->timers, &ec->timer);
    arm_tick(lp);
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

static void free_events(struct event *const *evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (evs[i])
            event_free(evs[i]);
}

/* Ends a connection: closed (reset: with an RST), or refused with the 503 (not set up). */
static void conn_end(struct ev_conn *ec, bool refuse, bool reset)
{
    struct loop *lp = ec->lp;
    free_events((struct event *[]){ec->rd, ec->wr}, 2);
    iob_heap_remove(&lp->timers, &ec->timer);
    iob_nb_free(ec->nb);
    if (refuse)
        iob_accept_reject(ec->fd);
    else
        iob_accept_end(ec->fd, reset);
    iob_list_unlink(&lp->conns, &ec->link);
    free(ec);
    lp->n_open--;
    if (lp->draining && lp->n_open == 0)
        event_base_loopbreak(lp->base);
}

/* Does what the driver asks until it waits for the socket or the clock. Every callback ends
 * here; never touch ec after calling it. */
static void apply(struct ev_conn *ec)
{
    const struct iob_cpu_runner *cpu = ec->lp->opts->cpu;
    struct iob_nb_next n;
    for (;;) {
        iob_nb_next(ec->nb, &n);
        if (n.close) {
            conn_end(ec, false, n.reset);
            return;
        }
        if (n.shutdown_wr)
            shutdown(ec->fd, SHUT_WR);
        if (n.cpu && cpu && cpu->submit(cpu->ctx, n.cpu, ec)) {
            ec->cpu_away = true;
        } else if (n.cpu) {
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
    set_timer(ec, n.wake_ns);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct ev_conn *ec = arg;
    struct loop *lp = ec->lp;
    ssize_t n = recv(fd, lp->rbuf, ec->read_max, 0);
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

/* tick_fd expired: every connection whose wake time has come, in order, once (a time it sets
 * that has come already waits for the next turn, after the sockets); then tick_fd is set for
 * the next one, also when it came early because the earliest moved later. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct loop *lp = arg;
    uint64_t now = iob_clock_now_ns();
    struct ev_conn *due = NULL, **tail = &due;
    struct iob_heap_node *top;
    while ((top = iob_heap_top(&lp->timers)) && top->at_ns <= now) {
        struct ev_conn *ec = iob_container_of(top, struct ev_conn, timer);
        iob_heap_remove(&lp->timers, top);
        *tail = ec;
        tail = &ec->due_next;
    }
    *tail = NULL;
    /* tick_ns still holds the time that fired (<= now), so arm_tick() leaves the wake times
     * set below to the one tick_set() after them (unless one is earlier still: a past time). */
    for (struct ev_conn *ec = due, *next; ec; ec = next) {
        next = ec->due_next;
        iob_nb_timer(ec->nb, now);
        apply(ec); /* may free ec */
    }
    top = iob_heap_top(&lp->timers);
    tick_set(lp, top ? top->at_ns : 0); /* also clears this expiry */
}

static void conn_new(void *arg, int fd, const char *peer)
{
    struct loop *lp = arg;
    struct ev_conn *ec = calloc(1, sizeof(*ec));
    if (!ec) {
        iob_accept_reject(fd);
        return;
    }
    *ec = (struct ev_conn){.lp = lp, .fd = fd, .timer.index = IOB_HEAP_NONE};
    iob_list_push(&lp->conns, &ec->link);
    lp->n_open++;
    ec->nb = iob_nb_new(lp->args->env, peer);
    ec->rd = event_new(lp->base, fd, EV_READ | EV_PERSIST, on_readable, ec);
    ec->wr = event_new(lp->base, fd, EV_WRITE | EV_PERSIST, on_writable, ec);
    if (!ec->nb || !ec->rd || !ec->wr || iob_heap_reserve(&lp->timers, lp->n_open) < 0) {
        iob_log(IOB_LOG_WARN, "no memory for a connection from %s", peer);
        conn_end(ec, true, false);
        return;
    }
    apply(ec);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct loop *lp = arg;
    if (iob_accept_some(&lp->listeners, lp->args->env->max_connections, conn_new, lp) < 0) {
        /* Not a spin on a listen socket that stays readable: pause; the others go on. */
        event_del(lp->accept_ev);
        add_timer_at(lp->accept_resume, iob_clock_now_ns() + IOB_ACCEPT_PAUSE_MS * IOB_NS_PER_MS);
    }
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct loop *lp = arg;
    if (!lp->draining)
        event_add(lp->accept_ev, NULL);
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
    (void)fd, (void)what, (void)arg;
    iob_stop_take(); /* raises the drain or now descriptor: every loop follows it */
}

/* The drain began (the descriptor stays readable, so it is watched no more). */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct loop *lp = arg;
    lp->draining = true;
    event_del(lp->stop_evs[1]);
    event_del(lp->accept_ev);
    iob_accept_set_close(&lp->listeners);
    for (struct iob_link *l = lp->conns, *next; l; l = next) {
        next = l->next;
        struct ev_conn *ec = iob_container_of(l, struct ev_conn, link);
        iob_nb_drain(ec->nb);
        apply(ec); /* idle ones close now */
    }
    if (lp->n_open == 0)
        event_base_loopbreak(lp->base);
    else if (lp->opts->takes_signals) /* else the supervisor keeps the grace */
        add_timer_at(lp->grace, iob_stop_grace_deadline_ns());
}

static void on_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct loop *lp = arg;
    lp->rc = -EINTR;
    event_base_loopbreak(lp->base);
}

static void on_cpu_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct loop *lp = arg;
    uint64_t n;
    (void)!read(fd, &n, sizeof(n));
    struct ev_conn *ec;
    while ((ec = lp->opts->cpu->take_done(lp->opts->cpu->ctx))) {
        ec->cpu_away = false;
        iob_nb_cpu_done(ec->nb);
        apply(ec);
    }
}

/* Adds a persistent read event on fd (skipped for fd < 0). Returns 0 or -1. */
static int watch(struct loop *lp, size_t slot, int fd, event_callback_fn cb)
{
    if (fd < 0)
        return 0;
    lp->stop_evs[slot] = event_new(lp->base, fd, EV_READ | EV_PERSIST, cb, lp);
    return lp->stop_evs[slot] ? event_add(lp->stop_evs[slot], NULL) : -1;
}

int iob_loop_run(const struct iob_engine_args *args, const struct iob_loop_opts *opts)
{
    struct iob_accept_set listeners;
    int rc = iob_accept_set_open(&listeners, opts->listen_fds, opts->n_listen);
    if (rc < 0)
        return rc;
    struct loop *lp = calloc(1, sizeof(*lp));
    if (!lp) {
        iob_accept_set_close(&listeners);
        return -ENOMEM;
    }
    *lp = (struct loop){.args = args, .opts = opts, .listeners = listeners, .tick_fd = -1};
    iob_heap_init(&lp->timers);
    rc = -ENOMEM;
    /* Waits are the product, and tick_fd times them to the microsecond: libevent's own timers
     * (the accept pause, the grace) may keep its coarse clock and epoll_wait's milliseconds. */
    lp->base = event_base_new();
    if (!lp->base)
        goto fail;
    lp->accept_ev = event_new(lp->base, lp->listeners.fd, EV_READ | EV_PERSIST, on_accept, lp);
    lp->accept_resume = evtimer_new(lp->base, on_accept_resume, lp);
    lp->grace = evtimer_new(lp->base, on_grace, lp);
    lp->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    lp->tick = lp->tick_fd < 0
                   ? NULL
                   : event_new(lp->base, lp->tick_fd, EV_READ | EV_PERSIST, on_tick, lp);
    if (!lp->accept_ev || !lp->accept_resume || !lp->grace || !lp->tick ||
        event_add(lp->accept_ev, NULL) < 0 || event_add(lp->tick, NULL) < 0 ||
        watch(lp, 0, opts->takes_signals ? iob_stop_signal_fd() : -1, on_signal) < 0 ||
        watch(lp, 1, iob_stop_drain_fd(), on_drain) < 0 ||
        watch(lp, 2, iob_stop_now_fd(), on_now) < 0 ||
        watch(lp, 3, opts->cpu ? opts->cpu->done_fd : -1, on_cpu_done) < 0)
        goto fail;
    rc = event_base_dispatch(lp->base) < 0 ? -EIO : lp->rc;
fail:
    /* A step a CPU runner still has uses its connection: those are left to the process's exit. */
    for (struct iob_link *l = lp->conns, *next; l; l = next) {
        next = l->next;
        struct ev_conn *ec = iob_container_of(l, struct ev_conn, link);
        if (!ec->cpu_away)
            conn_end(ec, false, false);
    }
    free_events((struct event *[]){lp->accept_ev, lp->accept_resume, lp->grace, lp->tick}, 4);
    iob_heap_fini(&lp->timers);
    if (lp->tick_fd >= 0)
        close(lp->tick_fd);
    free_events(lp->stop_evs, sizeof(lp->stop_evs) / sizeof(lp->stop_evs[0]));
    iob_accept_set_close(&lp->listeners);
    if (lp->base)
        event_base_free(lp->base);
    free(lp);
    return rc;
}

int iob_evented_run(const struct iob_engine_args *args)
{
    const struct iob_loop_opts opts = {
        .listen_fds = args->listen_fds, .n_listen = args->n_listen, .takes_signals = true};
    return iob_loop_run(args, &opts);
}
