/* The workers engine: one evented loop per core in one process, each on its own SO_REUSEPORT
 * sockets and thread, so the kernel spreads new connections over them (nginx's worker
 * processes, as threads). A Unix socket cannot be had twice: every loop accepts from the same
 * one (a dup each), and whichever loop wakes first takes the connection. The calling thread is the
 * supervisor: it takes the signals, the loops follow the drain (stop.h), and it waits for them all.
 * Admission stays global (accept.c's one count). A loop's connections are its own: CPU work still
 * stalls the clients of its loop. */
#include "server/engine/engine.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/engine/evented.h"
#include "server/engine/listen.h"
#include "server/engine/stop.h"

struct worker {
    const struct iob_engine_args *args;
    struct iob_loop_opts opts;
    int fds[IOB_ADDR_LIST_MAX]; /* the loop's listening sockets, one per address */
    pthread_t thread;
};

static void *loop_main(void *arg)
{
    struct worker *w = arg;
    int rc = iob_loop_run(w->args, &w->opts);
    if (rc < 0 && rc != -EINTR)
        iob_log(IOB_LOG_ERROR, "workers: a loop stopped: %s", strerror(-rc));
    return NULL;
}

/* The listening sockets of loop i into w->fds: the given ones for the first loop, twins of them
 * for the others. Returns 0, or a negative errno with none left open. */
static int listen_for(struct worker *w, unsigned i)
{
    const struct iob_engine_args *args = w->args;
    for (size_t a = 0; a < args->n_listen; a++) {
        int fd = i ? iob_listen_again(args->listen_fds[a], args->backlog) : args->listen_fds[a];
        if (fd < 0) {
            iob_listen_close(w->fds, a);
            return fd;
        }
        w->fds[a] = fd;
    }
    w->opts = (struct iob_loop_opts){.listen_fds = w->fds, .n_listen = args->n_listen};
    return 0;
}

/* Takes signals until the drain begins. Returns 0, or -EINTR for a stop now. */
static int supervise(void)
{
    for (;;) {
        struct pollfd p = {.fd = iob_stop_signal_fd(), .events = POLLIN};
        if (poll(&p, 1, -1) <= 0)
            continue;
        enum iob_stop_event ev = iob_stop_take();
        if (ev != IOB_STOP_NONE)
            return ev == IOB_STOP_NOW ? -EINTR : 0;
    }
}

int iob_workers_run(const struct iob_engine_args *args)
{
    struct worker *w = calloc(args->loops, sizeof(*w));
    if (!w) {
        iob_listen_close(args->listen_fds, args->n_listen);
        return -ENOMEM;
    }
    unsigned started = 0;
    /* A loop that cannot be had is logged, and the others serve. */
    for (; started < args->loops; started++) {
        w[started].args = args;
        int rc = -listen_for(&w[started], started);
        if (rc == 0 && (rc = pthread_create(&w[started].thread, NULL, loop_main, &w[started])))
            iob_listen_close(w[started].fds, args->n_listen);
        if (rc != 0) {
            iob_log(IOB_LOG_WARN, "workers: %u of %u loops: %s", started, args->loops,
                    strerror(rc));
            break;
        }
        iob_metrics_thread_started();
    }
    int rc = started ? supervise() : -EAGAIN;
    if (rc == 0)
        rc = iob_stop_wait_drained(); /* the loops end with their connections, or the grace */
    for (unsigned i = 0; i < started; i++) {
        pthread_join(w[i].thread, NULL);
        iob_metrics_thread_exited();
    }
    free(w);
    return rc;
}
