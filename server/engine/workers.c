/* The workers engine: one evented loop per core in one process, each on its own SO_REUSEPORT
 * socket and thread, so the kernel spreads new connections over them (nginx's worker
 * processes, as threads). The calling thread is the supervisor: it takes the signals, the loops
 * follow the drain (stop.h), and it waits for them all. Admission stays global (accept.c's one
 * count). A loop's connections are its own: CPU work still stalls the clients of its loop. */
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
        close(args->listen_fd);
        return -ENOMEM;
    }
    unsigned started = 0;
    /* A loop that cannot be had is logged, and the others serve. */
    for (; started < args->loops; started++) {
        int fd = started ? iob_listen_again(args->listen_fd, args->backlog) : args->listen_fd;
        w[started] = (struct worker){.args = args, .opts = {.listen_fd = fd}};
        int rc = fd < 0 ? -fd : pthread_create(&w[started].thread, NULL, loop_main, &w[started]);
        if (rc != 0) {
            iob_log(IOB_LOG_WARN, "workers: %u of %u loops: %s", started, args->loops,
                    strerror(rc));
            if (fd >= 0)
                close(fd);
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
