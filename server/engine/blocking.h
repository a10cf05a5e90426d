/* The blocking connection driver: one connection served on the calling thread, from its first
 * byte to close, shared by every model that gives a connection a thread of its own (threaded;
 * pool and fibers later). It reads under the HTTP layer's deadlines, answers pipelined requests
 * in order, carries out each step by the model's own blocking calls, lingers when unread bytes
 * may remain, and closes. Many threads run it at once; each connection is one thread's. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"

enum iob_wait {
    IOB_WAIT_READY,   /* the descriptor is readable */
    IOB_WAIT_TIMEOUT, /* the deadline passed */
    IOB_WAIT_DRAIN,   /* the drain began (only when asked to watch it) */
};

/* How a model's thread (or fiber) blocks. Each call may block only the caller. */
struct iob_blocking_ops {
    /* Waits until fd is readable, deadline_ns (monotonic; 0: none) passes or, with watch_drain,
     * the drain begins. */
    enum iob_wait (*wait_readable)(void *ctx, int fd, uint64_t deadline_ns, bool watch_drain);
    /* Sends all of buf by deadline_ns. Returns 0, -ETIMEDOUT or a negative errno. */
    int (*send_all)(void *ctx, int fd, const char *buf, size_t len, uint64_t deadline_ns);
    /* Returns at monotonic time at_ns, not before. */
    void (*sleep_until)(void *ctx, uint64_t at_ns);
    /* Runs every task of a GATHER plan concurrently: task i ends at iob_plan_due_ns(plan, i)
     * and sets its finished_ns. Returns when all have. */
    void (*gather)(void *ctx, struct iob_plan *plan);
};

/* Serves the admitted connection fd (from iob_accept_next(), peer its host) with ops and ctx
 * until it closes; then closes fd and uncounts it (iob_accept_closed()). Blocks. */
void iob_blocking_serve(const struct iob_blocking_ops *ops, void *ctx, const struct iob_env *env,
                        int fd, const char *peer);

/* The ops for a connection served on an OS thread of its own: poll() (also on the drain), send()
 * under the deadline, clock_nanosleep(), and a small thread per gather task (thread_ops.c). */
extern const struct iob_blocking_ops iob_thread_ops;
