/* The blocking connection driver (blocking.h). A connection's state between turns is its
 * struct iob_bconn; the bytes of a turn are on the serving thread's stack (a turn ends idle only
 * with none buffered). It learns of the drain from stop.h and blocks only through the ops. */
#include "server/engine/blocking.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/engine/accept.h"
#include "server/engine/stop.h"
#include "server/http/conn.h"
#include "server/http/exchange.h"

#define READ_BUF_BYTES 16384
/* How long a closing connection waits for the client to close after our answer. */
#define LINGER_MS 1000

struct iob_bconn {
    const struct iob_env *env;
    int fd;
    char peer[IOB_PEER_MAX];
    struct iob_conn *conn;
    bool draining; /* seen the drain: answers close, an idle connection closes */
};

/* One turn: the connection and how this thread blocks. */
struct serving {
    const struct iob_blocking_ops *ops;
    void *ctx;
    struct iob_bconn *b;
};

/* How a turn ends. */
enum end {
    END_LINGER, /* closing after an answer: unread bytes may remain */
    END_CLOSE,  /* closing with nothing unread: the client closed, or it was idle */
    END_IDLE,   /* idle between requests with nothing buffered: the caller parks it */
};

/* Writes and clears the connection's output. Returns false when the client is gone. */
static bool flush(struct serving *s)
{
    struct iob_buf *out = iob_conn_output(s->b->conn);
    /* A client that reads nothing for idle_timeout_ms is dropped. */
    uint64_t deadline = iob_clock_now_ns() + s->b->env->idle_timeout_ms * IOB_NS_PER_MS;
    int rc = out->len ? s->ops->send_all(s->ctx, s->b->fd, out->data, out->len, deadline) : 0;
    iob_buf_reset(out);
    if (rc < 0)
        iob_log(IOB_LOG_DEBUG, "%s: write: %s", s->b->peer, strerror(-rc));
    return rc == 0;
}

/* Carries out a step on this thread. Returns false when the client went away during it (the
 * step still runs to its end, so finish() sees a whole plan). */
static bool run_step(struct serving *s, struct iob_plan *plan, enum iob_step step)
{
    bool alive = true;
    switch (step) {
    case IOB_STEP_NONE:
        return true;
    case IOB_STEP_SLEEP:
        s->ops->sleep_until(s->ctx, iob_plan_due_ns(plan, 0));
        break;
    case IOB_STEP_GATHER:
        s->ops->gather(s->ctx, plan);
        break;
    case IOB_STEP_CPU:
        plan->work(plan); /* on this connection's thread, beside the others */
        break;
    case IOB_STEP_DRIP:
        alive = flush(s); /* the head */
        for (size_t i = 0; i < plan->n_chunks; i++) {
            s->ops->sleep_until(s->ctx, iob_plan_due_ns(plan, i));
            iob_exchange_drip(s->b->conn, i);
            alive = alive ? flush(s) : (iob_buf_reset(iob_conn_output(s->b->conn)), false);
        }
        break;
    }
    plan->ended_ns = iob_clock_now_ns();
    return alive;
}

/* Answers every complete request in in[0..*have), one at a time, and keeps the rest. Returns
 * false when the connection is to close. */
static bool answer_all(struct serving *s, char *in, size_t *have)
{
    size_t off = 0;
    bool open = true;
    while (open && off < *have) {
        size_t used;
        enum iob_feed r = iob_conn_feed(s->b->conn, in + off, *have - off, &used);
        off += used;
        if (r == IOB_FEED_REQUEST) {
            struct iob_plan *plan;
            enum iob_step step = iob_exchange_begin(s->b->conn, &plan);
            bool alive = run_step(s, plan, step);
            /* A stop that came during the step: this answer already says it closes. */
            if (iob_stop_draining())
                iob_conn_drain(s->b->conn);
            iob_exchange_finish(s->b->conn);
            open = alive;
        }
        open = open && flush(s) && !iob_conn_want_close(s->b->conn);
        if (r == IOB_FEED_MORE)
            break;
    }
    memmove(in, in + off, *have - off);
    *have -= off;
    return open;
}

/* Reads through the ops' recv, or their wait and a recv() that does not block. Returns as the
 * recv op does. */
static ssize_t read_some(struct serving *s, void *buf, size_t len, uint64_t deadline_ns,
                         bool watch_drain)
{
    if (s->ops->recv)
        return s->ops->recv(s->ctx, s->b->fd, buf, len, deadline_ns, watch_drain);
    switch (s->ops->wait_readable(s->ctx, s->b->fd, deadline_ns, watch_drain)) {
    case IOB_WAIT_TIMEOUT:
        return -ETIMEDOUT;
    case IOB_WAIT_DRAIN:
        return -ECANCELED;
    case IOB_WAIT_READY:
        break;
    }
    ssize_t n = recv(s->b->fd, buf, len, MSG_DONTWAIT);
    return n < 0 ? -errno : n;
}

/* Serves requests until the connection is to close or, with park_idle, is idle again after it
 * read (a turn begins because the client sent something). Only the wait for a next request
 * watches the drain: a request under way is read to its end and answered with close. */
static enum end serve(struct serving *s, bool park_idle)
{
    char in[READ_BUF_BYTES];
    size_t have = 0;
    bool has_read = false;
    for (;;) {
        /* Before the bytes are answered: a request completed in the drain says so (/readyz). */
        if (!s->b->draining && iob_stop_draining()) {
            s->b->draining = true;
            iob_conn_drain(s->b->conn);
        }
        if (!answer_all(s, in, &have))
            return END_LINGER;
        bool idle = iob_conn_is_idle(s->b->conn) && !have;
        if (idle && s->b->draining)
            return END_CLOSE;
        if (idle && park_idle && has_read)
            return END_IDLE;
        ssize_t got =
            read_some(s, in + have, sizeof(in) - have, iob_conn_deadline_ns(s->b->conn), idle);
        if (got == -ETIMEDOUT) {
            iob_conn_timed_out(s->b->conn);
            bool answered = iob_conn_output(s->b->conn)->len > 0; /* 408: a request was partial */
            flush(s);
            return answered ? END_LINGER : END_CLOSE;
        }
        if (got == -ECANCELED || got == -EAGAIN || got == -EINTR)
            continue; /* the drain: seen at the top */
        if (got <= 0) {
            answer_all(s, in, &have); /* all it sent is answered; a partial request cannot end */
            return END_CLOSE;
        }
        have += (size_t)got;
        has_read = true;
    }
}

/* Closing with unread bytes from the client (a body we refused, pipelined requests) would reset
 * the connection and could destroy our last answer before the client reads it: end our side,
 * then drop what comes until the client closes, for at most LINGER_MS. */
static void linger(struct serving *s)
{
    char sink[4096];
    uint64_t deadline = iob_clock_now_ns() + LINGER_MS * IOB_NS_PER_MS;
    shutdown(s->b->fd, SHUT_WR);
    ssize_t n;
    while ((n = read_some(s, sink, sizeof(sink), deadline, false)) > 0 || n == -EAGAIN ||
           n == -EINTR)
        ;
}

struct iob_bconn *iob_blocking_open(const struct iob_env *env, int fd, const char *peer)
{
    struct iob_bconn *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    *b = (struct iob_bconn){.env = env, .fd = fd, .conn = iob_conn_new(env, peer)};
    if (!b->conn) {
        free(b);
        return NULL;
    }
    snprintf(b->peer, sizeof(b->peer), "%s", peer);
    return b;
}

void iob_blocking_close(struct iob_bconn *b)
{
    iob_accept_end(b->fd, iob_conn_want_reset(b->conn)); /* a /fault reset: an RST */
    iob_conn_free(b->conn);
    free(b);
}

uint64_t iob_blocking_deadline_ns(const struct iob_bconn *b)
{
    return iob_conn_deadline_ns(b->conn);
}

enum iob_turn iob_blocking_turn(struct iob_bconn *b, const struct iob_blocking_ops *ops, void *ctx,
                                bool park_idle)
{
    struct serving s = {ops, ctx, b};
    enum end end = serve(&s, park_idle);
    if (end == END_IDLE)
        return IOB_TURN_IDLE;
    if (end == END_LINGER && !iob_conn_want_reset(b->conn))
        linger(&s);
    iob_blocking_close(b);
    return IOB_TURN_CLOSED;
}

void iob_blocking_serve(const struct iob_blocking_ops *ops, void *ctx, const struct iob_env *env,
                        int fd, const char *peer)
{
    struct iob_bconn *b = iob_blocking_open(env, fd, peer);
    if (b) {
        iob_blocking_turn(b, ops, ctx, false);
        return;
    }
    iob_log(IOB_LOG_WARN, "no memory for a connection from %s", peer);
    iob_accept_reject(fd);
}
