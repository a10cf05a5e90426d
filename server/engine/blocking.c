/* The blocking connection driver (blocking.h). Its only state is on the serving thread's stack;
 * it learns of the drain from stop.h and blocks only through the model's ops. */
#include "server/engine/blocking.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/clock.h"
#include "server/base/fdio.h"
#include "server/base/log.h"
#include "server/engine/accept.h"
#include "server/engine/stop.h"
#include "server/http/conn.h"
#include "server/http/exchange.h"

#define READ_BUF_BYTES 16384
/* How long a closing connection waits for the client to close after our answer. */
#define LINGER_MS 1000

struct serving {
    const struct iob_blocking_ops *ops;
    void *ctx;
    const struct iob_env *env;
    int fd;
    const char *peer;
    struct iob_conn *conn;
};

/* Writes and clears the connection's output. Returns false when the client is gone. */
static bool flush(struct serving *s)
{
    struct iob_buf *out = iob_conn_output(s->conn);
    /* A client that reads nothing for idle_timeout_ms is dropped. */
    uint64_t deadline = iob_clock_now_ns() + s->env->idle_timeout_ms * IOB_NS_PER_MS;
    int rc = out->len ? s->ops->send_all(s->ctx, s->fd, out->data, out->len, deadline) : 0;
    iob_buf_reset(out);
    if (rc < 0)
        iob_log(IOB_LOG_DEBUG, "%s: write: %s", s->peer, strerror(-rc));
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
            iob_exchange_drip(s->conn, i);
            alive = alive ? flush(s) : (iob_buf_reset(iob_conn_output(s->conn)), false);
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
        enum iob_feed r = iob_conn_feed(s->conn, in + off, *have - off, &used);
        off += used;
        if (r == IOB_FEED_REQUEST) {
            struct iob_plan *plan;
            enum iob_step step = iob_exchange_begin(s->conn, &plan);
            bool alive = run_step(s, plan, step);
            /* A stop that came during the step: this answer already says it closes. */
            if (iob_stop_draining())
                iob_conn_drain(s->conn);
            iob_exchange_finish(s->conn);
            open = alive;
        }
        open = open && flush(s) && !iob_conn_want_close(s->conn);
        if (r == IOB_FEED_MORE)
            break;
    }
    memmove(in, in + off, *have - off);
    *have -= off;
    return open;
}

/* Serves requests until the connection is to close. Returns whether to linger: false when
 * nothing from the client can be unread (it closed, or it was idle: drained or timed out
 * between requests), so the close is at once. */
static bool serve(struct serving *s)
{
    char in[READ_BUF_BYTES];
    size_t have = 0;
    bool draining = false;
    for (;;) {
        if (!answer_all(s, in, &have))
            return true;
        if (draining && iob_conn_is_idle(s->conn) && !have)
            return false;
        enum iob_wait w =
            s->ops->wait_readable(s->ctx, s->fd, iob_conn_deadline_ns(s->conn), !draining);
        if (w == IOB_WAIT_TIMEOUT) {
            iob_conn_timed_out(s->conn);
            bool answered = iob_conn_output(s->conn)->len > 0; /* 408: a request was partial */
            flush(s);
            return answered;
        }
        if (w == IOB_WAIT_DRAIN) {
            draining = true;
            iob_conn_drain(s->conn);
            continue;
        }
        ssize_t got = recv(s->fd, in + have, sizeof(in) - have, 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (got <= 0) {
            answer_all(s, in, &have); /* all it sent is answered; a partial request cannot end */
            return false;
        }
        have += (size_t)got;
    }
}

/* Closing with unread bytes from the client (a body we refused, pipelined requests) would reset
 * the connection and could destroy our last answer before the client reads it: end our side,
 * then drop what comes until the client closes, for at most LINGER_MS. */
static void linger(struct serving *s)
{
    char sink[4096];
    uint64_t deadline = iob_clock_now_ns() + LINGER_MS * IOB_NS_PER_MS;
    shutdown(s->fd, SHUT_WR);
    while (s->ops->wait_readable(s->ctx, s->fd, deadline, false) == IOB_WAIT_READY) {
        ssize_t n = recv(s->fd, sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return;
    }
}

void iob_blocking_serve(const struct iob_blocking_ops *ops, void *ctx, const struct iob_env *env,
                        int fd, const char *peer)
{
    struct serving s = {.ops = ops, .ctx = ctx, .env = env, .fd = fd, .peer = peer};
    s.conn = iob_conn_new(env, peer);
    if (!s.conn)
        iob_log(IOB_LOG_WARN, "no memory for a connection from %s", peer);
    bool lingers = s.conn && serve(&s);
    if (s.conn && iob_conn_want_reset(s.conn))
        iob_fd_abort(fd); /* a /fault reset: the close sends an RST */
    else if (lingers)
        linger(&s);
    iob_conn_free(s.conn);
    close(fd);
    iob_accept_closed();
}
