/* The non-blocking connection driver: events in, actions out (nbconn.h). Every decision an event
 * loop makes about one connection is here, so each loop engine is only glue to its I/O. */
#include "server/engine/nbconn.h"

#include <stdlib.h>
#include <string.h>

#include "server/base/buf.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/http/conn.h"
#include "server/http/exchange.h"

/* What a connection may read ahead while a request waits (pipelined requests): beyond it
 * reading stops and the kernel keeps the rest. */
#define READ_MAX_BYTES IOB_NB_READ_MAX
/* How long a closing connection waits for the client to close after our answer. */
#define LINGER_MS 1000

enum cpu_state { CPU_NONE, CPU_WANTED, CPU_RUNNING };

struct iob_nbconn {
    struct iob_conn *conn;
    const struct iob_env *env;
    size_t out_sent;         /* bytes of the output already sent */
    uint64_t write_until_ns; /* the write stalled: the client must read by then */
    struct iob_buf hold;     /* bytes read past a request that is not answered yet */
    size_t hold_off;         /* hold.data[0..hold_off) is already fed */
    struct iob_plan *plan;   /* the step in progress, or NULL */
    size_t waits_done;       /* SLEEP, DRIP: waits over; GATHER: tasks finished */
    enum cpu_state cpu;
    bool step_ended;    /* the step is over; finish() runs once the output is sent */
    bool eof;           /* the client sent all it will: close once that is answered */
    bool closing;       /* close once the output is sent */
    bool close_at_once; /* an idle connection: nothing unread, so no linger */
    bool lingering;     /* our side is shut: dropping the client's bytes until it closes */
    bool shutdown_owed; /* the engine has yet to shut down our writes */
    bool gone;          /* the client went away: finish the step, skip the writes */
    bool draining;      /* the server is stopping */
    uint64_t linger_until_ns;
};

struct iob_nbconn *iob_nb_new(const struct iob_env *env, const char *peer)
{
    struct iob_nbconn *nb = calloc(1, sizeof(*nb));
    if (!nb)
        return NULL;
    nb->env = env;
    nb->conn = iob_conn_new(env, peer);
    if (!nb->conn) {
        free(nb);
        return NULL;
    }
    iob_buf_init(&nb->hold, READ_MAX_BYTES);
    return nb;
}

void iob_nb_free(struct iob_nbconn *nb)
{
    if (!nb)
        return;
    iob_conn_free(nb->conn);
    iob_buf_fini(&nb->hold);
    free(nb);
}

static bool output_pending(struct iob_nbconn *nb)
{
    return iob_conn_output(nb->conn)->len > nb->out_sent;
}

static size_t held(const struct iob_nbconn *nb)
{
    return nb->hold.len - nb->hold_off;
}

/* Keeps bytes that cannot be parsed yet, after those kept before. */
static void hold(struct iob_nbconn *nb, const char *data, size_t len)
{
    iob_buf_consume(&nb->hold, nb->hold_off);
    nb->hold_off = 0;
    if (iob_buf_append(&nb->hold, data, len) < 0) {
        iob_log(IOB_LOG_DEBUG, "connection dropped: no room for %zu read-ahead bytes", len);
        nb->gone = nb->closing = true; /* cannot keep the client's bytes: give up on it */
    }
}

/* Starts the step of the request just completed. NONE answers at once; the others set plan. */
static void begin(struct iob_nbconn *nb)
{
    struct iob_plan *plan;
    enum iob_step step = iob_exchange_begin(nb->conn, &plan);
    if (step == IOB_STEP_NONE) {
        iob_exchange_finish(nb->conn);
        return;
    }
    nb->plan = plan;
    nb->waits_done = 0;
    nb->cpu = step == IOB_STEP_CPU ? CPU_WANTED : CPU_NONE;
    /* DRIP: the head is in the output now; each due piece follows it (run_due). */
}

/* Feeds bytes up to the end of one request. Returns how many were used. */
static size_t feed_one(struct iob_nbconn *nb, const char *data, size_t len)
{
    size_t used;
    enum iob_feed r = iob_conn_feed(nb->conn, data, len, &used);
    if (r == IOB_FEED_REQUEST)
        begin(nb);
    else if (r == IOB_FEED_CLOSE)
        nb->closing = true;
    return used;
}

static bool can_feed(struct iob_nbconn *nb)
{
    return !nb->plan && !nb->closing && !output_pending(nb);
}

/* Ends the waits that are due at now: gather tasks in any order, sleep and drip pieces in turn.
 * A drip piece waits for the piece before it to be sent, so the output never grows under a
 * write in flight. */
static void run_due(struct iob_nbconn *nb, uint64_t now)
{
    struct iob_plan *plan = nb->plan;
    size_t n = iob_plan_n_waits(plan);
    if (plan->step == IOB_STEP_GATHER) {
        for (size_t i = 0; i < n; i++) {
            if (!plan->tasks[i].finished_ns && iob_plan_due_ns(plan, i) <= now) {
                plan->tasks[i].finished_ns = now;
                nb->waits_done++;
            }
        }
    } else {
        while (nb->waits_done < n && iob_plan_due_ns(plan, nb->waits_done) <= now) {
            if (plan->step == IOB_STEP_DRIP) {
                if (output_pending(nb) && !nb->gone)
                    break;
                iob_exchange_drip(nb->conn, nb->waits_done);
            }
            nb->waits_done++;
        }
    }
    if (nb->waits_done == n && !nb->step_ended) {
        plan->ended_ns = now;
        nb->step_ended = true;
    }
}

/* The earliest wait of the step not yet over. */
static uint64_t next_due(const struct iob_nbconn *nb)
{
    const struct iob_plan *plan = nb->plan;
    if (plan->step != IOB_STEP_GATHER)
        return iob_plan_due_ns(plan, nb->waits_done);
    uint64_t due = UINT64_MAX;
    for (size_t i = 0; i < plan->n_tasks; i++) {
        uint64_t at = iob_plan_due_ns(plan, i);
        if (!plan->tasks[i].finished_ns && at < due)
            due = at;
    }
    return due;
}

/* Moves the connection on as far as it can without the engine: drops the output of a gone
 * client, sends drip pieces that are due, runs finish() once the step is over and its output
 * sent, and answers pipelined requests held earlier. */
static void advance(struct iob_nbconn *nb)
{
    struct iob_buf *out = iob_conn_output(nb->conn);
    for (;;) {
        if (nb->gone || nb->out_sent == out->len) {
            iob_buf_reset(out);
            nb->out_sent = 0;
        }
        /* An answer that closes; or none at all (a /fault hang) once its step is over. */
        if ((out->len || !nb->plan) && iob_conn_want_close(nb->conn))
            nb->closing = true;
        if (nb->plan && nb->cpu == CPU_NONE && !nb->step_ended)
            run_due(nb, iob_clock_now_ns());
        /* A gone client's output is dropped, also a drip piece run_due() just added for it. */
        if (nb->plan && nb->step_ended && (nb->gone || !output_pending(nb))) {
            iob_exchange_finish(nb->conn);
            nb->plan = NULL;
            nb->step_ended = false;
            nb->cpu = CPU_NONE;
            continue;
        }
        if (!can_feed(nb) || !held(nb))
            return;
        nb->hold_off += feed_one(nb, nb->hold.data + nb->hold_off, held(nb));
        if (!held(nb)) {
            iob_buf_reset(&nb->hold);
            nb->hold_off = 0;
        }
    }
}

void iob_nb_read(struct iob_nbconn *nb, const char *data, size_t len)
{
    if (nb->lingering)
        return; /* dropped: the answer is out and our side is shut */
    while (len && can_feed(nb) && !held(nb)) {
        size_t used = feed_one(nb, data, len);
        data += used;
        len -= used;
        advance(nb); /* a NONE answer or a CLOSE stops the feeding above */
    }
    if (len && !nb->closing)
        hold(nb, data, len);
    advance(nb);
}

void iob_nb_eof(struct iob_nbconn *nb)
{
    nb->eof = true; /* answer what was received first (iob_nb_next) */
    if (nb->lingering)
        nb->gone = true; /* the client has closed too */
}

void iob_nb_error(struct iob_nbconn *nb, int err)
{
    iob_log(IOB_LOG_DEBUG, "connection dropped: %s", strerror(err));
    nb->gone = nb->closing = true;
    advance(nb);
}

void iob_nb_sent(struct iob_nbconn *nb, size_t n)
{
    nb->out_sent += n;
    nb->write_until_ns = 0; /* progress: the stall deadline starts again at the next stall */
    advance(nb);
}

void iob_nb_write_blocked(struct iob_nbconn *nb)
{
    if (!nb->write_until_ns)
        nb->write_until_ns = iob_clock_now_ns() + nb->env->idle_timeout_ms * IOB_NS_PER_MS;
}

void iob_nb_timer(struct iob_nbconn *nb, uint64_t now)
{
    if (nb->lingering) {
        if (now >= nb->linger_until_ns)
            nb->gone = true;
        return;
    }
    if (output_pending(nb) && nb->write_until_ns && now >= nb->write_until_ns) {
        iob_log(IOB_LOG_DEBUG, "connection dropped: the client read nothing for %u ms",
                (unsigned)nb->env->idle_timeout_ms);
        nb->gone = nb->closing = true;
    } else if (nb->plan) {
        if (nb->cpu == CPU_NONE)
            run_due(nb, now);
    } else if (!output_pending(nb)) {
        uint64_t deadline = iob_conn_deadline_ns(nb->conn);
        if (deadline && now >= deadline) {
            iob_conn_timed_out(nb->conn);
            nb->closing = true;
            nb->close_at_once = iob_conn_output(nb->conn)->len == 0; /* idle: a quiet close */
        }
    }
    advance(nb);
}

void iob_nb_cpu_done(struct iob_nbconn *nb)
{
    nb->plan->ended_ns = iob_clock_now_ns();
    nb->step_ended = true;
    advance(nb);
}

void iob_nb_drain(struct iob_nbconn *nb)
{
    nb->draining = true;
    iob_conn_drain(nb->conn);
}

/* Decides whether the connection is done. Closing with unread bytes from the client (a body we
 * refused, pipelined requests) would reset the connection and could destroy the answer before
 * the client reads it; so after an answer that closes, our side is shut first and the client's
 * bytes are dropped until it closes, for at most LINGER_MS. An idle connection (drained, or
 * timed out between requests) has nothing unread and closes at once, as nginx does; so does an
 * answer that ends in an RST on purpose. Returns true when it is to be closed now. */
static bool settle(struct iob_nbconn *nb, bool pending)
{
    if (nb->plan)
        return false; /* the step runs to its end, and finish() once, whatever the client did */
    if (nb->eof && !held(nb))
        nb->closing = true; /* all it sent is answered; a partial request cannot complete */
    if (nb->draining && iob_conn_is_idle(nb->conn) && !held(nb) && !pending)
        nb->closing = nb->close_at_once = true;
    if (!nb->closing || pending)
        return false;
    if (nb->gone || nb->eof || nb->close_at_once || iob_conn_want_reset(nb->conn))
        return true;
    if (!nb->lingering) {
        nb->lingering = nb->shutdown_owed = true;
        nb->linger_until_ns = iob_clock_now_ns() + LINGER_MS * IOB_NS_PER_MS;
    }
    return false;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return !a ? b : !b ? a : a < b ? a : b;
}

void iob_nb_next(struct iob_nbconn *nb, struct iob_nb_next *next)
{
    *next = (struct iob_nb_next){0};
    bool pending = output_pending(nb) && !nb->gone;
    if (settle(nb, pending)) {
        next->close = true;
        next->reset = iob_conn_want_reset(nb->conn);
        return;
    }
    if (nb->shutdown_owed) {
        next->shutdown_wr = true;
        nb->shutdown_owed = false;
    }
    if (nb->cpu == CPU_WANTED) {
        next->cpu = nb->plan;
        nb->cpu = CPU_RUNNING;
    }
    if (pending) {
        struct iob_buf *out = iob_conn_output(nb->conn);
        next->write = out->data + nb->out_sent;
        next->write_len = out->len - nb->out_sent;
    }
    if (nb->lingering) {
        next->read_max = READ_MAX_BYTES;
        next->wake_ns = nb->linger_until_ns;
        return;
    }
    /* Reading goes on during a wait (no epoll_ctl per request), into the bounded hold; it stops
     * while an answer is unsent, so a client that does not read cannot make us buffer. */
    if (!nb->eof && !nb->gone && !nb->closing && !pending)
        next->read_max = READ_MAX_BYTES - held(nb);
    if (nb->plan && nb->cpu == CPU_NONE && !nb->step_ended)
        next->wake_ns = next_due(nb);
    else if (!nb->plan && !pending)
        next->wake_ns = iob_conn_deadline_ns(nb->conn);
    if (pending)
        next->wake_ns = earliest(next->wake_ns, nb->write_until_ns);
}
