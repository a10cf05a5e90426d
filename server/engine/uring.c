/* The uring engine: one io_uring on one thread, over the same non-blocking driver as evented
 * (nbconn.c decides; this file only turns its actions into ring operations and completions back
 * into its events). Completions, not readiness: the kernel accepts (multishot), receives into a
 * ring of provided buffers, sends, and fires the timers (IORING_OP_TIMEOUT); one io_uring_enter
 * submits a batch and reaps the next, so a keep-alive request costs less than one syscall. A CPU
 * step runs on the loop thread and stalls everyone, as in evented. The only file that includes
 * liburing.h. Its state is its own thread's. */
#include "server/engine/engine.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "server/base/addr.h"
#include "server/base/clock.h"
#include "server/base/list.h"
#include "server/base/log.h"
#include "server/engine/accept.h"
#include "server/engine/listen.h"
#include "server/engine/nbconn.h"
#include "server/engine/stop.h"

/* Submission slots; a full queue is submitted early (get_sqe), so this bounds only a batch. */
#define RING_ENTRIES 4096
/* Completions that may wait at once: a burst from every connection still fits without the
 * kernel's overflow list. */
#define CQ_ENTRIES 16384
/* Provided receive buffers, shared by every connection: one is taken only when bytes arrive and
 * given back once they are fed, so a few hundred serve thousands of idle connections. */
#define N_BUFS    1024 /* a power of two (a buffer ring) */
#define BUF_BYTES 4096
#define BUF_GROUP 0

/* user_data: a loop operation is one of these small numbers; a connection's is its address with
 * the operation in the low bits (calloc'd, so 8-aligned); 0 is a completion nobody waits for. */
enum {
    L_SIGNAL = 1,
    L_DRAIN,
    L_NOW,
    L_GRACE,
    L_RESUME,
    L_ACCEPT, /* + the listener's index */
    L_MAX = L_ACCEPT + IOB_ADDR_LIST_MAX
};
enum { C_RECV = 1, C_SEND = 2, C_TIMER = 4, C_MASK = 7 }; /* C_TIMER + slot: 4..7 */

/* Timeouts a connection may have armed at once. The kernel finds a timeout to update or cancel by
 * walking every timeout of the ring (io_timeout_extract), 5,000 of them at c=5000; so a timeout
 * is never updated or cancelled here, only armed and left to fire, and a few slots hold the far
 * deadline and a nearer wait side by side. */
#define TIMER_SLOTS 4

struct uconn {
    struct uloop *lp;
    struct iob_link link; /* in lp->conns */
    int fd;
    struct iob_nbconn *nb;
    unsigned inflight;              /* operations whose last completion has not come */
    uint64_t timer_at[TIMER_SLOTS]; /* an armed timeout's time; 0: free */
    struct __kernel_timespec timer_ts[TIMER_SLOTS]; /* read by the kernel at submission */
    bool receiving, sending;                        /* a recv, a send is in flight */
    bool dead;                                      /* closed: freed when inflight reaches 0 */
};

struct uloop {
    const struct iob_engine_args *args;
    struct io_uring ring;
    struct io_uring_buf_ring *br; /* N_BUFS entries, then the buffers themselves */
    char *bufs;
    struct iob_link *conns; /* open ones and dead ones still in flight */
    size_t n_open;
    bool accepting[IOB_ADDR_LIST_MAX]; /* a multishot accept is armed on listen_fds[i] */
    bool paused, draining, stop;
    int rc;
    struct __kernel_timespec resume_ts, grace_ts;
};

static struct io_uring_sqe *get_sqe(struct uloop *lp)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&lp->ring)))
        io_uring_submit(&lp->ring);
    return sqe;
}

/* A loop operation's submission entry, or one whose completion is nobody's (user_data 0). */
static struct io_uring_sqe *loop_sqe(struct uloop *lp, uint64_t user_data)
{
    struct io_uring_sqe *sqe = get_sqe(lp);
    io_uring_sqe_set_data64(sqe, user_data); /* the prep functions leave it */
    return sqe;
}

/* The clocks agree: IORING_TIMEOUT_ABS is CLOCK_MONOTONIC, as iob_clock_now_ns(). */
static struct __kernel_timespec *ts_at(struct __kernel_timespec *ts, uint64_t at_ns)
{
    *ts = (struct __kernel_timespec){.tv_sec = (long long)(at_ns / IOB_NS_PER_SEC),
                                     .tv_nsec = (long long)(at_ns % IOB_NS_PER_SEC)};
    return ts;
}

static void timeout_at(struct io_uring_sqe *sqe, struct __kernel_timespec *ts, uint64_t at_ns)
{
    io_uring_prep_timeout(sqe, ts_at(ts, at_ns), 0, IORING_TIMEOUT_ABS);
}

static void cancel(struct uloop *lp, uint64_t user_data)
{
    io_uring_prep_cancel64(loop_sqe(lp, 0), user_data, 0);
}

static uint64_t conn_op(const struct uconn *uc, unsigned op)
{
    return (uint64_t)(uintptr_t)uc | op;
}

static struct io_uring_sqe *conn_sqe(struct uconn *uc, unsigned op)
{
    uc->inflight++;
    return loop_sqe(uc->lp, conn_op(uc, op));
}

/* Lazy: a timeout armed for earlier stays; firing early is harmless (the driver acts only on
 * what is due, then asks for the later time). So a keep-alive request, which only moves its
 * deadline later, submits no timer operation at all; a nearer wait takes a free slot. */
static void set_timer(struct uconn *uc, uint64_t want_ns)
{
    unsigned slot = TIMER_SLOTS, latest = 0;
    for (unsigned i = 0; i < TIMER_SLOTS && want_ns; i++) {
        if (uc->timer_at[i] && uc->timer_at[i] <= want_ns)
            return;
        if (!uc->timer_at[i])
            slot = i;
        else if (uc->timer_at[i] > uc->timer_at[latest])
            latest = i;
    }
    if (!want_ns)
        return;
    if (slot < TIMER_SLOTS) {
        timeout_at(conn_sqe(uc, C_TIMER + slot), &uc->timer_ts[slot], want_ns);
    } else { /* every slot later than want (rare): the latest moves, at the cost of the walk */
        io_uring_prep_timeout_update(loop_sqe(uc->lp, 0), ts_at(&uc->timer_ts[latest], want_ns),
                                     conn_op(uc, C_TIMER + latest), IORING_TIMEOUT_ABS);
        slot = latest;
    }
    uc->timer_at[slot] = want_ns;
}

/* The driver goes once the connection is closed and no send reads its output. */
static void drop_driver(struct uconn *uc)
{
    if (uc->dead && !uc->sending) {
        iob_nb_free(uc->nb);
        uc->nb = NULL;
    }
}

static void conn_free(struct uconn *uc)
{
    struct uloop *lp = uc->lp;
    iob_list_unlink(&lp->conns, &uc->link);
    iob_nb_free(uc->nb);
    free(uc);
}

/* Ends a connection: closed (reset: with an RST), or refused with the 503. Its recv and send in
 * flight are cancelled, its timeouts left to fire; it is freed when the last has completed. */
static void conn_end(struct uconn *uc, bool refuse, bool reset)
{
    struct uloop *lp = uc->lp;
    if (uc->receiving)
        cancel(lp, conn_op(uc, C_RECV));
    if (uc->sending)
        cancel(lp, conn_op(uc, C_SEND));
    if (refuse)
        iob_accept_reject(uc->fd);
    else
        iob_accept_end(uc->fd, reset); /* the ring holds the socket until the cancels are done */
    uc->dead = true;
    drop_driver(uc);
    lp->n_open--;
    if (lp->draining && lp->n_open == 0)
        lp->stop = true;
    if (!uc->inflight)
        conn_free(uc);
}

/* Does what the driver asks until it waits for the kernel or the clock. Never touch uc after. */
static void apply(struct uconn *uc)
{
    struct iob_nb_next n;
    for (;;) {
        iob_nb_next(uc->nb, &n);
        if (n.close) {
            conn_end(uc, false, n.reset);
            return;
        }
        if (n.shutdown_wr)
            shutdown(uc->fd, SHUT_WR);
        if (n.cpu) {
            n.cpu->work(n.cpu); /* stalls the loop: every other connection waits (the lesson) */
            iob_nb_cpu_done(uc->nb);
            continue;
        }
        if (!n.write_len || uc->sending)
            break;
        /* The span stays unchanged until it is reported sent (nbconn.h). */
        io_uring_prep_send(conn_sqe(uc, C_SEND), uc->fd, n.write, n.write_len, MSG_NOSIGNAL);
        uc->sending = true;
        iob_nb_write_blocked(uc->nb); /* submitted: the client has idle_timeout_ms to take it */
    }
    if (n.read_max && !uc->receiving) {
        /* One recv at a time, of at most read_max, so the driver's bound on read-ahead holds and
         * the kernel keeps the rest. Not multishot: one multishot round drains the whole socket
         * (a 3 MB pipelined burst came in one go, far past read_max, before a cancel could stop
         * it), and it saved only about 4 % of the CPU per /hello request here. */
        unsigned len = n.read_max < BUF_BYTES ? (unsigned)n.read_max : BUF_BYTES;
        struct io_uring_sqe *sqe = conn_sqe(uc, C_RECV);
        io_uring_prep_recv(sqe, uc->fd, NULL, len, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = BUF_GROUP;
        /* Wait for bytes first: after an answer the next request has not come yet, so trying
         * the recv at once would only fail (EAGAIN) before the poll is armed anyway. */
        sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
        uc->receiving = true;
    }
    set_timer(uc, n.wake_ns);
}

static void recycle(struct uloop *lp, unsigned bid)
{
    io_uring_buf_ring_add(lp->br, lp->bufs + (size_t)bid * BUF_BYTES, BUF_BYTES,
                          (unsigned short)bid, io_uring_buf_ring_mask(N_BUFS), 0);
    io_uring_buf_ring_advance(lp->br, 1);
}

/* A recv or send that failed (res < 0) or sent nothing (0): the client is gone, unless the
 * operation is only to be submitted again (apply() does). */
static void io_failed(struct uconn *uc, int res)
{
    if (res != -EINTR && res != -EAGAIN && res != -ENOBUFS)
        iob_nb_error(uc->nb, res < 0 ? -res : EPIPE);
}

/* A connection's completion; a dead one's only counts down to its free. */
static void on_conn(struct uloop *lp, struct uconn *uc, unsigned op, const struct io_uring_cqe *c)
{
    bool live = !uc->dead;
    if (op == C_RECV) {
        uc->receiving = false;
        if (c->flags & IORING_CQE_F_BUFFER) {
            unsigned bid = c->flags >> IORING_CQE_BUFFER_SHIFT;
            if (c->res > 0 && live)
                iob_nb_read(uc->nb, lp->bufs + (size_t)bid * BUF_BYTES, (size_t)c->res);
            recycle(lp, bid);
        }
        if (c->res == 0 && live)
            iob_nb_eof(uc->nb);
        else if (c->res < 0 && live)
            io_failed(uc, c->res);
    } else if (op == C_SEND) {
        uc->sending = false;
        if (c->res > 0 && live)
            iob_nb_sent(uc->nb, (size_t)c->res);
        else if (live)
            io_failed(uc, c->res);
    } else {
        uc->timer_at[op - C_TIMER] = 0; /* fired: apply() arms it again, also when early */
        if (c->res == -ETIME && live)
            iob_nb_timer(uc->nb, iob_clock_now_ns());
    }
    uc->inflight--;
    if (live)
        apply(uc);
    else if (!uc->inflight)
        conn_free(uc);
    else
        drop_driver(uc);
}

static void conn_new(struct uloop *lp, int fd)
{
    char peer[IOB_PEER_MAX];
    if (iob_accept_take(fd, lp->args->env->max_connections, peer) < 0)
        return; /* over max_connections: it had the 503 */
    struct uconn *uc = calloc(1, sizeof(*uc));
    if (!uc) {
        iob_accept_reject(fd);
        return;
    }
    *uc = (struct uconn){.lp = lp, .fd = fd};
    iob_list_push(&lp->conns, &uc->link);
    lp->n_open++;
    uc->nb = iob_nb_new(lp->args->env, peer);
    if (!uc->nb) {
        iob_log(IOB_LOG_WARN, "no memory for a connection from %s", peer);
        conn_end(uc, true, false);
        return;
    }
    apply(uc);
}

/* The listening sockets, in one place: one multishot accept on each takes every connection. */
static void listen_arm(struct uloop *lp)
{
    for (size_t i = 0; i < lp->args->n_listen && !lp->paused && !lp->draining; i++)
        if (!lp->accepting[i]) {
            io_uring_prep_multishot_accept(loop_sqe(lp, L_ACCEPT + i), lp->args->listen_fds[i],
                                           NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            lp->accepting[i] = true;
        }
}

static void listen_cancel(struct uloop *lp)
{
    for (size_t i = 0; i < lp->args->n_listen; i++)
        if (lp->accepting[i])
            cancel(lp, L_ACCEPT + i);
}

static void listen_close(struct uloop *lp)
{
    listen_cancel(lp);
    /* after the cancel, the ring lets go of the sockets */
    iob_listen_close(lp->args->listen_fds, lp->args->n_listen);
}

/* A multishot accept keeps the RLIMIT_NOFILE of the moment it was armed (the kernel reads it
 * then); a limit lowered since must bite as accept4's would: the connection is dropped and
 * accepting pauses, to be armed again under the limit of now. */
static bool over_fd_limit(int fd)
{
    struct rlimit lim;
    return getrlimit(RLIMIT_NOFILE, &lim) == 0 && (rlim_t)fd >= lim.rlim_cur;
}

static void on_accept(struct uloop *lp, size_t i, const struct io_uring_cqe *c)
{
    int res = c->res;
    if (!(c->flags & IORING_CQE_F_MORE))
        lp->accepting[i] = false; /* ended (an error, or cancelled): armed again below */
    if (res >= 0 && (lp->draining || over_fd_limit(res))) {
        close(res); /* taken in the moment before a cancel, or over the limit */
        res = lp->draining ? -ECANCELED : -EMFILE;
        if (!lp->draining)
            listen_cancel(lp);
    }
    if (res >= 0)
        conn_new(lp, res);
    else if (res != -ECANCELED && iob_accept_failed(-res) == -EMFILE && !lp->paused) {
        /* Not a spin on a full descriptor table: pause; the others go on. */
        lp->paused = true;
        timeout_at(loop_sqe(lp, L_RESUME), &lp->resume_ts,
                   iob_clock_now_ns() + IOB_ACCEPT_PAUSE_MS * IOB_NS_PER_MS);
    }
    listen_arm(lp);
}

/* The drain began: stop accepting, tell every connection; idle ones close now. */
static void on_drain(struct uloop *lp)
{
    lp->draining = true;
    listen_close(lp);
    for (struct iob_link *l = lp->conns, *next; l; l = next) {
        next = l->next;
        struct uconn *uc = iob_container_of(l, struct uconn, link);
        if (!uc->dead) {
            iob_nb_drain(uc->nb);
            apply(uc);
        }
    }
    if (lp->n_open == 0)
        lp->stop = true;
    else
        timeout_at(loop_sqe(lp, L_GRACE), &lp->grace_ts, iob_stop_grace_deadline_ns());
}

static void on_loop(struct uloop *lp, unsigned op, const struct io_uring_cqe *c)
{
    switch (op) {
    case L_SIGNAL:
        iob_stop_take(); /* raises the drain or now descriptor, polled below */
        io_uring_prep_poll_add(loop_sqe(lp, L_SIGNAL), iob_stop_signal_fd(), POLLIN);
        break;
    case L_DRAIN:
        on_drain(lp);
        break;
    case L_NOW:
        lp->rc = -EINTR;
        lp->stop = true;
        break;
    case L_GRACE:
        iob_stop_grace_expired();
        lp->stop = true;
        break;
    case L_RESUME:
        lp->paused = false;
        listen_arm(lp);
        break;
    default:
        on_accept(lp, op - L_ACCEPT, c);
    }
}

/* Why io_uring cannot be had, for the start-up error: the errno, what causes it, the sysctl. */
static int setup_failed(const char *what, int rc)
{
    const char *why = rc == -EPERM
                          ? "the sysctl kernel.io_uring_disabled or a seccomp profile forbids it "
                            "(container runtimes' default profiles do)"
                      : rc == -ENOSYS ? "the kernel has no io_uring, or a seccomp profile hides it"
                      : rc == -EINVAL ? "the kernel is older than this engine needs (Linux 5.19)"
                      : rc == -ENOMEM ? "the locked-memory limit (ulimit -l) is too small"
                                      : "the kernel refused it";
    int disabled = -1;
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r"); /* Linux 6.6 and later */
    if (f) {
        disabled = fscanf(f, "%d", &disabled) == 1 ? disabled : -1;
        fclose(f);
    }
    iob_log(IOB_LOG_ERROR,
            "uring: %s: %s: %s (kernel.io_uring_disabled = %d here; -1: none); run with --mode "
            "evented instead",
            what, strerror(-rc), why, disabled);
    return rc;
}

/* A ring made and dropped before the start-up line: a kernel or a seccomp profile that refuses
 * io_uring is reported instead of "listening on". */
int iob_uring_check(void)
{
    struct io_uring ring;
    struct io_uring_params p = {0};
    int rc = io_uring_queue_init_params(2, &ring, &p);
    if (rc < 0)
        return setup_failed("io_uring_queue_init", rc);
    io_uring_queue_exit(&ring);
    return 0;
}

/* The ring, and the provided buffers its receives take. */
static int ring_open(struct uloop *lp)
{
    /* Task work deferred to io_uring_enter (6.1): completions run in our batch, not as
     * interrupts of the thread; without it (older kernels: EINVAL) the ring works as well. */
    unsigned base = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
    struct io_uring_params p = {.flags =
                                    base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                .cq_entries = CQ_ENTRIES};
    int rc = io_uring_queue_init_params(RING_ENTRIES, &lp->ring, &p);
    if (rc == -EINVAL) {
        p = (struct io_uring_params){.flags = base, .cq_entries = CQ_ENTRIES};
        rc = io_uring_queue_init_params(RING_ENTRIES, &lp->ring, &p);
    }
    if (rc < 0)
        return setup_failed("io_uring_queue_init", rc);
    (void)io_uring_register_ring_fd(&lp->ring); /* a descriptor lookup less per enter, if 5.18+ */
    size_t ring_bytes = N_BUFS * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, ring_bytes + (size_t)N_BUFS * BUF_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    lp->br = mem;
    lp->bufs = (char *)mem + ring_bytes;
    struct io_uring_buf_reg reg = {
        .ring_addr = (uintptr_t)mem, .ring_entries = N_BUFS, .bgid = BUF_GROUP};
    rc = io_uring_register_buf_ring(&lp->ring, &reg, 0);
    if (rc < 0)
        return setup_failed("io_uring_register_buf_ring", rc);
    io_uring_buf_ring_init(lp->br);
    for (unsigned i = 0; i < N_BUFS; i++)
        recycle(lp, i);
    return 0;
}

/* Submits what the last batch queued, waits for a completion, then handles every one that came. */
static int serve(struct uloop *lp)
{
    listen_arm(lp);
    io_uring_prep_poll_add(loop_sqe(lp, L_SIGNAL), iob_stop_signal_fd(), POLLIN);
    io_uring_prep_poll_add(loop_sqe(lp, L_DRAIN), iob_stop_drain_fd(), POLLIN);
    io_uring_prep_poll_add(loop_sqe(lp, L_NOW), iob_stop_now_fd(), POLLIN);
    while (!lp->stop) {
        int rc = io_uring_submit_and_wait(&lp->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
            return rc;
        unsigned head, seen = 0;
        struct io_uring_cqe *c;
        io_uring_for_each_cqe(&lp->ring, head, c)
        {
            seen++;
            if (c->user_data >= L_MAX) {
                struct uconn *uc = (struct uconn *)(uintptr_t)(c->user_data & ~(uint64_t)C_MASK);
                on_conn(lp, uc, (unsigned)(c->user_data & C_MASK), c);
            } else if (c->user_data) {
                on_loop(lp, (unsigned)c->user_data, c);
            }
        }
        io_uring_cq_advance(&lp->ring, seen);
    }
    return lp->rc;
}

int iob_uring_run(const struct iob_engine_args *args)
{
    struct uloop *lp = calloc(1, sizeof(*lp));
    if (!lp) {
        iob_listen_close(args->listen_fds, args->n_listen);
        return -ENOMEM;
    }
    *lp = (struct uloop){.args = args, .ring.ring_fd = -1};
    int rc = ring_open(lp);
    if (rc == 0)
        rc = serve(lp);
    /* The ring goes first: once it is gone no operation reads a connection's memory. */
    if (lp->ring.ring_fd >= 0)
        io_uring_queue_exit(&lp->ring);
    while (lp->conns) {
        struct uconn *uc = iob_container_of(lp->conns, struct uconn, link);
        if (!uc->dead)
            iob_accept_end(uc->fd, false);
        conn_free(uc);
    }
    if (!lp->draining)
        iob_listen_close(args->listen_fds, args->n_listen);
    if (lp->br)
        munmap(lp->br, N_BUFS * sizeof(struct io_uring_buf) + (size_t)N_BUFS * BUF_BYTES);
    free(lp);
    return rc;
}
