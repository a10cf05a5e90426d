/* The blocking connection driver: one connection served on the calling thread, shared by every
 * model that serves a connection on a thread or fiber (threaded, pool, fibers). It reads under the
 * HTTP layer's deadlines, answers pipelined requests in order, carries out each step by the
 * model's own blocking calls, lingers when unread bytes may remain, and closes. A model may
 * serve a connection in turns (pool): a turn can end when the connection is idle, and the next
 * turn may run on another thread. Many threads run it at once; a connection is one thread's at
 * a time. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "handlers/handler.h"
#include "server/base/list.h"

enum iob_wait {
    IOB_WAIT_READY,   /* the descriptor is readable */
    IOB_WAIT_TIMEOUT, /* the deadline passed */
    IOB_WAIT_DRAIN,   /* the drain began (only when asked to watch it) */
};

/* How a model's thread (or fiber) blocks. Each call may block only the caller. A model gives
 * recv, or wait_readable (then the driver reads with a non-blocking recv() after it): an OS
 * thread blocks in recv() itself, so a request costs one system call to read and not a poll()
 * first; a fiber yields to its loop until the socket is readable. */
struct iob_blocking_ops {
    /* Waits until fd is readable, deadline_ns (monotonic; 0: none) passes or, with watch_drain,
     * the drain begins; readable wins over the drain. NULL when recv is given. */
    enum iob_wait (*wait_readable)(void *ctx, int fd, uint64_t deadline_ns, bool watch_drain);
    /* Sends all of buf by deadline_ns. Returns 0, -ETIMEDOUT or a negative errno. */
    int (*send_all)(void *ctx, int fd, const char *buf, size_t len, uint64_t deadline_ns);
    /* Returns at monotonic time at_ns, not before. */
    void (*sleep_until)(void *ctx, uint64_t at_ns);
    /* Runs every task of a GATHER plan concurrently: task i ends at iob_plan_due_ns(plan, i)
     * and sets its finished_ns. Returns when all have. */
    void (*gather)(void *ctx, struct iob_plan *plan);
    /* Reads up to len bytes of fd into buf, waiting as wait_readable does (the drain is watched
     * only while the connection waits for its next request). Returns the count (> 0), 0 at the
     * end of the stream, -ETIMEDOUT, -ECANCELED when the drain began first, or a negative errno
     * (-EAGAIN, -EINTR: call again). NULL: wait_readable, then a non-blocking recv(). */
    ssize_t (*recv)(void *ctx, int fd, void *buf, size_t len, uint64_t deadline_ns,
                    bool watch_drain);
};

struct iob_bconn;

/* Takes the admitted connection fd (from iob_accept_next(), peer its host). Returns NULL when
 * out of memory (fd is then still the caller's). */
struct iob_bconn *iob_blocking_open(const struct iob_env *env, int fd, const char *peer);

enum iob_turn {
    IOB_TURN_CLOSED, /* the connection is closed, uncounted and freed */
    IOB_TURN_IDLE,   /* idle between requests, nothing buffered: watch fd, then turn again */
};

/* Serves b until it closes or, with park_idle, until it is idle (before the drain only). Blocks. */
enum iob_turn iob_blocking_turn(struct iob_bconn *b, const struct iob_blocking_ops *ops, void *ctx,
                                bool park_idle);
/* When an idle b must hear from its client (iob_conn_deadline_ns()). */
uint64_t iob_blocking_deadline_ns(const struct iob_bconn *b);
/* Closes an idle b at once (timed out between requests, or the drain), uncounts and frees it. */
void iob_blocking_close(struct iob_bconn *b);

/* Serves the admitted connection fd with ops and ctx until it closes (one whole turn); then
 * closes fd and uncounts it. No memory for it: the 503. Blocks. */
void iob_blocking_serve(const struct iob_blocking_ops *ops, void *ctx, const struct iob_env *env,
                        int fd, const char *peer);

/* The ops for a connection served on OS threads (thread_ops.c): a blocking recv() under
 * SO_RCVTIMEO, send() under the deadline, clock_nanosleep(), and a small thread per gather
 * task. Their ctx is the connection's struct iob_thread_conn. */
extern const struct iob_blocking_ops iob_thread_ops;

/* iob_thread_ops' state of one connection, zeroed before its first turn; its turns may run on
 * different threads, one at a time. A thread blocked in recv() sees no drain descriptor: a
 * listed connection that waits for its next request is woken by iob_thread_conns_drain(). */
struct iob_thread_conn {
    int fd;
    uint64_t rcvtimeo_ns; /* the socket's SO_RCVTIMEO; 0: none yet (still non-blocking) */
    atomic_int state;     /* waiting for a request, or being woken (thread_ops.c) */
    struct iob_link link; /* in the drain's list */
};
/* Puts c (for the connection fd) on the drain's list / takes it off, before c is freed. Any
 * thread; takes the list's lock. */
void iob_thread_conn_list(struct iob_thread_conn *c, int fd);
void iob_thread_conn_unlist(struct iob_thread_conn *c);
/* Once the drain began (iob_stop_take()): ends the wait of every listed connection that waits
 * for its next request (shutdown(SHUT_RD): its recv() sees the end of the stream and it
 * closes). One that is busy answers and closes as in any drain. Any thread. */
void iob_thread_conns_drain(void);
