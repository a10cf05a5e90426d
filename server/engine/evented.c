/* The evented engine: one libevent loop on the calling thread serves every connection. A wait is
 * a timer; the CPU step runs on the loop thread and stalls everyone (that is the lesson). The only
 * file that includes event2/. Single-threaded: nothing here is shared.
 *
 * I/O is done by hand on plain read/write events rather than bufferevents: an answer is sent
 * straight away and EV_WRITE is armed only when the socket is full, so a keep-alive request costs
 * one recv() and one send() (no FIONREAD, no epoll_ctl per answer). */
#include "server/engine/engine.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "server/base/addr.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/engine/reject.h"
#include "server/http/conn.h"
#include "server/http/exchange.h"

/* How long accepting pauses after the descriptor table is full (EMFILE/ENFILE). */
#define ACCEPT_PAUSE_MS 100
/* The one read buffer of the loop: connections keep no input memory between reads. */
#define READ_BUF_BYTES 65536
/* How long a closing connection waits for the client to close after our answer. */
#define LINGER_MS 1000
/* What a connection may read ahead while its request waits (pipelined requests). */
#define HOLD_MAX_BYTES READ_BUF_BYTES

struct engine;

/* One gather task's timer; the task's index is its place in ec->tasks. */
struct task_timer {
    struct ev_conn *ec;
    struct event *ev;
};

struct ev_conn {
    struct engine *eng;
    struct ev_conn *prev, *next;
    int fd;
    struct iob_conn *conn;
    struct event *rd;        /* EV_READ, while the connection may read */
    struct event *wr;        /* EV_WRITE, while an answer waits for room in the socket */
    struct event *timer;     /* the SLEEP/DRIP wait while busy, else the deadline */
    size_t out_sent;         /* bytes of the output already sent */
    uint64_t write_until_ns; /* a client that reads nothing for idle_timeout_ms is dropped */
    char *pending;           /* bytes read past a request that started a wait */
    size_t pending_len;
    struct iob_plan *plan;    /* the step in progress, or NULL */
    uint64_t wait_until_ns;   /* SLEEP, DRIP: when the (next) wait ends */
    size_t drip_sent;         /* DRIP: pieces written so far */
    struct task_timer *tasks; /* GATHER: one timer per task */
    size_t tasks_left;
    bool reading;
    bool eof;       /* the client sent all it will: close once what it sent is answered */
    bool lingering; /* our side is shut: dropping the client's bytes until it closes */
    bool closing;   /* close once the output is written */
    bool gone;      /* the client went away: finish the step, skip the writes */
};

struct engine {
    const struct iob_config *cfg;
    const struct iob_env *env;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *accept_resume;
    struct event *grace;
    struct event *signals[4];
    struct ev_conn *conns;
    size_t n_open;
    bool draining;
    int rc;
    uint64_t emfile_logged_ns;
    char rbuf[READ_BUF_BYTES];
};

static void after_io(struct ev_conn *ec);
static void feed(struct ev_conn *ec, const char *data, size_t len);

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

static void set_reading(struct ev_conn *ec, bool on)
{
    if (on == ec->reading)
        return;
    ec->reading = on;
    if (on)
        event_add(ec->rd, NULL);
    else
        event_del(ec->rd);
}

static void free_tasks(struct ev_conn *ec)
{
    for (size_t i = 0; ec->tasks && i < ec->plan->n_tasks; i++)
        if (ec->tasks[i].ev)
            event_free(ec->tasks[i].ev);
    free(ec->tasks);
    ec->tasks = NULL;
}

static void conn_free(struct ev_conn *ec)
{
    struct engine *eng = ec->eng;
    if (ec->plan)
        free_tasks(ec);
    if (ec->timer)
        event_free(ec->timer);
    if (ec->rd)
        event_free(ec->rd);
    if (ec->wr)
        event_free(ec->wr);
    close(ec->fd);
    free(ec->pending);
    iob_conn_free(ec->conn);
    if (ec->prev)
        ec->prev->next = ec->next;
    else
        eng->conns = ec->next;
    if (ec->next)
        ec->next->prev = ec->prev;
    free(ec);
    eng->n_open--;
    iob_metrics_conn_closed();
    if (eng->draining && eng->n_open == 0)
        event_base_loopbreak(eng->base);
}

static bool output_pending(struct ev_conn *ec)
{
    return iob_conn_output(ec->conn)->len > ec->out_sent;
}

/* Sends what the connection has to say. What the socket cannot take now waits for EV_WRITE;
 * meanwhile nothing more is read, so a client that does not read cannot make us buffer. */
static void send_output(struct ev_conn *ec)
{
    struct iob_buf *out = iob_conn_output(ec->conn);
    if (iob_conn_want_close(ec->conn))
        ec->closing = true;
    while (!ec->gone && ec->out_sent < out->len) {
        ssize_t n = send(ec->fd, out->data + ec->out_sent, out->len - ec->out_sent, MSG_NOSIGNAL);
        if (n > 0) {
            ec->out_sent += (size_t)n;
            ec->write_until_ns = 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            if (!ec->write_until_ns)
                ec->write_until_ns =
                    iob_clock_now_ns() + ec->eng->env->idle_timeout_ms * IOB_NS_PER_MS;
            event_add(ec->wr, NULL);
            set_reading(ec, false);
            return;
        } else {
            iob_log(IOB_LOG_DEBUG, "connection dropped: send: %s", strerror(errno));
            ec->gone = ec->closing = true;
        }
    }
    iob_buf_reset(out);
    ec->out_sent = 0;
    ec->write_until_ns = 0;
    event_del(ec->wr);
}

static void finish_step(struct ev_conn *ec)
{
    iob_exchange_finish(ec->conn);
    ec->plan = NULL;
    send_output(ec);
}

static void on_task(evutil_socket_t fd, short what, void *arg);

/* Starts the step of the request just completed. NONE and CPU finish at once; the waits arm
 * timers and return with ec->plan set. */
static void begin(struct ev_conn *ec)
{
    struct iob_plan *plan;
    enum iob_step step = iob_exchange_begin(ec->conn, &plan);
    switch (step) {
    case IOB_STEP_NONE:
        iob_exchange_finish(ec->conn);
        return;
    case IOB_STEP_CPU:
        plan->work(plan); /* stalls the loop: every other connection waits (the lesson) */
        plan->ended_ns = iob_clock_now_ns();
        iob_exchange_finish(ec->conn);
        return;
    case IOB_STEP_SLEEP:
    case IOB_STEP_DRIP:
        /* DRIP: the head is in the output now; each timer adds a piece (on_timer). */
        ec->plan = plan;
        ec->drip_sent = 0;
        ec->wait_until_ns = plan->started_ns + plan->ms * IOB_NS_PER_MS;
        add_timer_at(ec->timer, ec->wait_until_ns);
        break;
    case IOB_STEP_GATHER:
        ec->plan = plan;
        ec->tasks = calloc(plan->n_tasks, sizeof(*ec->tasks));
        for (size_t i = 0; ec->tasks && i < plan->n_tasks; i++) {
            ec->tasks[i].ec = ec;
            ec->tasks[i].ev = evtimer_new(ec->eng->base, on_task, &ec->tasks[i]);
            if (!ec->tasks[i].ev)
                break;
            add_timer_at(ec->tasks[i].ev, plan->started_ns + plan->tasks[i].ms * IOB_NS_PER_MS);
            ec->tasks_left++;
        }
        if (ec->tasks_left < plan->n_tasks) {
            /* Out of memory for timers: wait for the longest task on the connection's own
             * timer instead; every task then reports that end time. */
            iob_log(IOB_LOG_WARN, "gather: no memory for %zu timers; waiting on one",
                    plan->n_tasks);
            free_tasks(ec);
            ec->tasks_left = 0;
            uint64_t longest_ms = 0;
            for (size_t i = 0; i < plan->n_tasks; i++)
                if (plan->tasks[i].ms > longest_ms)
                    longest_ms = plan->tasks[i].ms;
            ec->wait_until_ns = plan->started_ns + longest_ms * IOB_NS_PER_MS;
            add_timer_at(ec->timer, ec->wait_until_ns);
        }
        break;
    }
    /* Reading goes on during the wait (no epoll_ctl per request), but bytes are only held,
     * not parsed: pipelined requests wait their turn (on_readable, hold()). */
}

/* Keeps bytes that cannot be parsed yet (a wait or an unsent answer is in their way), after
 * those kept before. Returns false when out of memory. */
static bool hold(struct ev_conn *ec, const char *data, size_t len)
{
    char *p = realloc(ec->pending, ec->pending_len + len);
    if (!p)
        return false;
    memcpy(p + ec->pending_len, data, len);
    ec->pending = p;
    ec->pending_len += len;
    return true;
}

/* Feeds bytes to the connection, answering each complete request in order. Bytes past a request
 * that starts a wait are kept in ec->pending until the wait is over. */
static void feed(struct ev_conn *ec, const char *data, size_t len)
{
    while (len && !ec->closing) {
        size_t used;
        enum iob_feed r = iob_conn_feed(ec->conn, data, len, &used);
        data += used;
        len -= used;
        if (r == IOB_FEED_REQUEST)
            begin(ec);
        send_output(ec);
        if (r == IOB_FEED_CLOSE)
            ec->closing = true;
        if (ec->plan || output_pending(ec)) {
            if (len && !ec->closing && !hold(ec, data, len))
                ec->closing = true; /* cannot keep the client's bytes: give up on it */
            return;
        }
    }
}

/* Goes on with the bytes kept during a wait or a full socket. */
static void feed_pending(struct ev_conn *ec)
{
    char *data = ec->pending;
    size_t len = ec->pending_len;
    ec->pending = NULL;
    ec->pending_len = 0;
    if (data)
        feed(ec, data, len);
    free(data);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct ev_conn *ec = arg;
    if (ec->lingering) {
        ssize_t n = recv(fd, ec->eng->rbuf, sizeof(ec->eng->rbuf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            ec->eof = true; /* the client has closed too */
        after_io(ec);
        return;
    }
    /* During a wait at most HOLD_MAX_BYTES are held; then reading stops and the kernel keeps
     * the rest, so a client cannot make us buffer without bound. */
    if (ec->plan && ec->pending_len >= HOLD_MAX_BYTES) {
        set_reading(ec, false);
        return;
    }
    size_t room = ec->plan ? HOLD_MAX_BYTES - ec->pending_len : sizeof(ec->eng->rbuf);
    ssize_t n = recv(fd, ec->eng->rbuf, room, 0);
    if (n > 0 && !ec->plan) {
        feed(ec, ec->eng->rbuf, (size_t)n);
    } else if (n > 0) {
        if (!hold(ec, ec->eng->rbuf, (size_t)n))
            ec->gone = ec->closing = true;
        if (ec->closing || ec->pending_len >= HOLD_MAX_BYTES)
            set_reading(ec, false);
    } else if (n == 0) {
        ec->eof = true; /* answer what was received first (after_io) */
        set_reading(ec, false);
    } else if (errno != EAGAIN && errno != EINTR) {
        iob_log(IOB_LOG_DEBUG, "connection dropped: recv: %s", strerror(errno));
        ec->gone = ec->closing = true;
        set_reading(ec, false);
    }
    after_io(ec);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ev_conn *ec = arg;
    send_output(ec);
    if (!output_pending(ec) && !ec->plan)
        feed_pending(ec);
    after_io(ec);
}

static void complete_wait(struct ev_conn *ec)
{
    struct iob_plan *plan = ec->plan;
    plan->ended_ns = iob_clock_now_ns();
    for (size_t i = 0; i < plan->n_tasks; i++)
        if (!plan->tasks[i].finished_ns)
            plan->tasks[i].finished_ns = plan->ended_ns;
    finish_step(ec);
    if (!output_pending(ec))
        feed_pending(ec); /* pipelined requests that arrived before the wait */
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ev_conn *ec = arg;
    uint64_t now = iob_clock_now_ns();
    if (ec->lingering) {
        ec->gone = true; /* LINGER_MS is up */
    } else if (ec->plan) {
        /* libevent's coarse clock may fire a little early: never end a wait before its time. */
        if (now < ec->wait_until_ns) {
            add_timer_at(ec->timer, ec->wait_until_ns);
            return;
        }
        if (ec->plan->step == IOB_STEP_DRIP) {
            iob_exchange_drip(ec->conn, ec->drip_sent++);
            send_output(ec);
            if (ec->drip_sent < ec->plan->n_chunks) {
                ec->wait_until_ns += ec->plan->ms * IOB_NS_PER_MS;
                add_timer_at(ec->timer, ec->wait_until_ns);
                return;
            }
        }
        complete_wait(ec);
    } else if (output_pending(ec)) {
        if (now < ec->write_until_ns) {
            add_timer_at(ec->timer, ec->write_until_ns);
            return;
        }
        iob_log(IOB_LOG_DEBUG, "connection dropped: the client read nothing for %u ms",
                (unsigned)ec->eng->env->idle_timeout_ms);
        ec->gone = ec->closing = true;
    } else {
        uint64_t deadline = iob_conn_deadline_ns(ec->conn);
        if (deadline && now < deadline) {
            add_timer_at(ec->timer, deadline);
            return;
        }
        iob_conn_timed_out(ec->conn);
        send_output(ec);
        ec->closing = true;
    }
    after_io(ec);
}

static void on_task(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct task_timer *t = arg;
    struct ev_conn *ec = t->ec;
    size_t i = (size_t)(t - ec->tasks);
    uint64_t now = iob_clock_now_ns();
    uint64_t due = ec->plan->started_ns + ec->plan->tasks[i].ms * IOB_NS_PER_MS;
    if (now < due) {
        add_timer_at(t->ev, due);
        return;
    }
    ec->plan->tasks[i].finished_ns = now;
    if (--ec->tasks_left > 0)
        return;
    free_tasks(ec);
    complete_wait(ec);
    after_io(ec);
}

/* Closing with unread bytes from the client (a body we refused, pipelined requests) would
 * reset the connection and could destroy the answer before the client reads it. So the server
 * first ends its side, then reads and drops what comes until the client closes, for at most
 * LINGER_MS (on_readable, on_timer). */
static void start_linger(struct ev_conn *ec)
{
    ec->lingering = true;
    shutdown(ec->fd, SHUT_WR);
    set_reading(ec, true);
    add_timer_at(ec->timer, iob_clock_now_ns() + LINGER_MS * IOB_NS_PER_MS);
}

/* Every callback ends here: close when done, else read again and keep the timer right. Never
 * touch ec after calling this. */
static void after_io(struct ev_conn *ec)
{
    if (ec->plan)
        return; /* the step's timers own the connection */
    bool pending = output_pending(ec);
    if (ec->eof && !ec->pending)
        ec->closing = true; /* all it sent is answered; a partial request cannot complete */
    if (ec->eng->draining && iob_conn_is_idle(ec->conn) && !ec->pending)
        ec->closing = true;
    if (ec->closing && (ec->gone || ec->eof)) {
        conn_free(ec);
        return;
    }
    if (ec->closing && !pending) {
        if (!ec->lingering)
            start_linger(ec);
        return;
    }
    set_reading(ec, !ec->closing && !ec->eof && !pending);
    uint64_t deadline = pending ? ec->write_until_ns : iob_conn_deadline_ns(ec->conn);
    if (deadline)
        add_timer_at(ec->timer, deadline);
    else
        evtimer_del(ec->timer);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l, (void)salen;
    struct engine *eng = arg;
    if (eng->n_open >= eng->cfg->server.max_connections) {
        iob_engine_reject(fd);
        return;
    }
    char peer[64];
    iob_addr_format(sa, peer, sizeof(peer));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    struct ev_conn *ec = calloc(1, sizeof(*ec));
    if (!ec) {
        iob_engine_reject(fd);
        return;
    }
    ec->eng = eng;
    ec->fd = fd;
    ec->next = eng->conns;
    if (eng->conns)
        eng->conns->prev = ec;
    eng->conns = ec;
    eng->n_open++;
    iob_metrics_conn_opened();
    ec->conn = iob_conn_new(eng->env, peer);
    ec->rd = event_new(eng->base, fd, EV_READ | EV_PERSIST, on_readable, ec);
    ec->wr = event_new(eng->base, fd, EV_WRITE | EV_PERSIST, on_writable, ec);
    ec->timer = evtimer_new(eng->base, on_timer, ec);
    if (!ec->conn || !ec->rd || !ec->wr || !ec->timer) {
        iob_log(IOB_LOG_WARN, "no memory for a connection from %s", peer);
        conn_free(ec);
        return;
    }
    after_io(ec);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct engine *eng = arg;
    if (eng->listener)
        evconnlistener_enable(eng->listener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct engine *eng = arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        /* No descriptor for a new client: stop accepting for a moment instead of spinning on a
         * listen socket that stays readable; the open connections go on being served. */
        evconnlistener_disable(l);
        struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
        evtimer_add(eng->accept_resume, &tv);
        iob_log_ratelimited(&eng->emfile_logged_ns, IOB_LOG_WARN,
                            "accept: %s; pausing accepts for %d ms (%zu connections open)",
                            strerror(err), ACCEPT_PAUSE_MS, eng->n_open);
        return;
    }
    iob_log(IOB_LOG_WARN, "accept: %s", strerror(err));
}

static void start_drain(struct engine *eng)
{
    eng->draining = true;
    evconnlistener_free(eng->listener); /* closes the listening socket */
    eng->listener = NULL;
    iob_log(IOB_LOG_INFO, "stopping: %zu connections open; grace %u ms", eng->n_open,
            eng->cfg->process.shutdown_grace_ms);
    struct ev_conn *next;
    for (struct ev_conn *ec = eng->conns; ec; ec = next) {
        next = ec->next;
        iob_conn_drain(ec->conn);
        after_io(ec); /* idle ones close now */
    }
    if (eng->n_open == 0) {
        event_base_loopbreak(eng->base);
        return;
    }
    struct timeval tv = tv_from_ns(eng->cfg->process.shutdown_grace_ms * IOB_NS_PER_MS);
    evtimer_add(eng->grace, &tv);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct engine *eng = arg;
    iob_log(IOB_LOG_WARN, "shutdown grace expired: closing %zu connections", eng->n_open);
    event_base_loopbreak(eng->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct engine *eng = arg;
    if (sig == SIGHUP || sig == SIGUSR1) {
        int rc = iob_log_reopen();
        if (rc < 0)
            iob_log(IOB_LOG_ERROR, "reopening logs: %s", strerror(-rc));
        return;
    }
    if (!eng->draining) {
        start_drain(eng);
        return;
    }
    iob_log(IOB_LOG_WARN, "second signal: stopping now, %zu connections dropped", eng->n_open);
    eng->rc = -EINTR;
    event_base_loopbreak(eng->base);
}

static int run(const struct iob_engine_args *args)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    struct engine *eng = calloc(1, sizeof(*eng));
    int rc = -ENOMEM;
    if (!eng) {
        close(args->listen_fd);
        return rc;
    }
    eng->cfg = args->cfg;
    eng->env = args->env;
    /* Waits are the product: a precise monotonic clock (not the 4 ms coarse one) and timerfd
     * make a 100 ms sleep end within a fraction of a millisecond of its time. */
    struct event_config *ecfg = event_config_new();
    if (!ecfg)
        goto fail;
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    eng->base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (!eng->base)
        goto fail;
    eng->listener =
        evconnlistener_new(eng->base, on_accept, eng, LEV_OPT_CLOSE_ON_FREE, 0, args->listen_fd);
    eng->accept_resume = evtimer_new(eng->base, on_accept_resume, eng);
    eng->grace = evtimer_new(eng->base, on_grace, eng);
    if (!eng->listener || !eng->accept_resume || !eng->grace)
        goto fail;
    evconnlistener_set_error_cb(eng->listener, on_accept_error);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        eng->signals[i] = evsignal_new(eng->base, sigs[i], on_signal, eng);
        if (!eng->signals[i] || evsignal_add(eng->signals[i], NULL) < 0)
            goto fail;
    }
    if (event_base_dispatch(eng->base) < 0) {
        rc = -EIO;
        goto fail;
    }
    rc = eng->rc;
fail:
    while (eng->conns)
        conn_free(eng->conns);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (eng->signals[i])
            event_free(eng->signals[i]);
    if (eng->grace)
        event_free(eng->grace);
    if (eng->accept_resume)
        event_free(eng->accept_resume);
    if (eng->listener)
        evconnlistener_free(eng->listener);
    else if (!eng->draining)
        close(args->listen_fd);
    if (eng->base)
        event_base_free(eng->base);
    free(eng);
    return rc;
}

const struct iob_engine iob_engine_evented = {.name = "evented", .run = run};
