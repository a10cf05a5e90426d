/* The evented loop as a part: one libevent loop serving its listening sockets on the calling
 * thread, over the non-blocking driver. The evented engine runs one; workers runs one per core,
 * each on its own SO_REUSEPORT sockets; executor hands its CPU steps to other threads. */
#pragma once
#include <stdbool.h>

#include "server/engine/engine.h"

/* Where a loop's CPU steps run when not on the loop thread (executor.c). */
struct iob_cpu_runner {
    int done_fd; /* readable while finished steps wait to be taken back */
    /* Runs plan->work(plan) on another thread; token comes back from take_done(). Returns
     * false when it cannot take the step (no memory): the loop then runs it itself. */
    bool (*submit)(void *ctx, struct iob_plan *plan, void *token);
    /* One finished step's token, or NULL when none waits. Loop thread. */
    void *(*take_done)(void *ctx);
    void *ctx;
};

struct iob_loop_opts {
    const int *listen_fds; /* the loop closes them when it stops accepting */
    size_t n_listen;
    bool
        takes_signals; /* reads the signalfd (one loop per process); every loop follows the drain */
    const struct iob_cpu_runner *cpu; /* NULL: CPU steps run on the loop thread (and stall it) */
};

/* Serves until the drain ends, the grace runs out or a second signal. Blocks. Returns 0 or a
 * negative errno. When cpu is set, the caller must have stopped its threads only after this
 * returns: the loop frees nothing a running step still uses (it waits for those first). */
int iob_loop_run(const struct iob_engine_args *args, const struct iob_loop_opts *opts);
