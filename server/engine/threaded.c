/* The threaded engine: the calling thread accepts and takes the signals; every connection gets an
 * OS thread that runs the blocking driver on OS-thread ops (thread_ops.c: recv() under
 * SO_RCVTIMEO, send(), clock_nanosleep(), a small thread per gather task). Only the spawner of
 * those threads. Shared between threads: the refcounted struct threaded (read-only but for its
 * count), the read-only env and the atomics of accept, stop and metrics. Nothing else. */
#include "server/engine/engine.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/engine/accept.h"
#include "server/engine/blocking.h"
#include "server/engine/stop.h"

/* Lives while run() or any connection thread holds it: threads left running after an expired
 * grace never touch run()'s stack, and the last one out frees it. */
struct threaded {
    const struct iob_env *env;
    pthread_attr_t conn_attr;
    atomic_uint refs;
};

struct th_conn {
    struct threaded *t;
    int fd;
    char peer[IOB_PEER_MAX];
    struct iob_thread_conn ops_state; /* on the drain's list while the thread serves it */
};

static void unref(struct threaded *t)
{
    if (atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    pthread_attr_destroy(&t->conn_attr);
    free(t);
}

static void *conn_main(void *arg)
{
    struct th_conn *tc = arg;
    iob_thread_conn_list(&tc->ops_state, tc->fd);
    iob_blocking_serve(&iob_thread_ops, &tc->ops_state, tc->t->env, tc->fd, tc->peer);
    iob_thread_conn_unlist(&tc->ops_state);
    unref(tc->t);
    free(tc);
    iob_metrics_thread_exited();
    return NULL;
}

static void spawn(void *arg, int fd, const char *peer)
{
    struct threaded *t = arg;
    struct th_conn *tc = malloc(sizeof(*tc));
    int rc = ENOMEM;
    if (tc) {
        *tc = (struct th_conn){.t = t, .fd = fd}; /* ops_state zeroed: its first turn */
        strcpy(tc->peer, peer);
        atomic_fetch_add(&t->refs, 1);
        pthread_t th;
        rc = pthread_create(&th, &t->conn_attr, conn_main, tc);
        if (rc == 0) {
            iob_metrics_thread_started();
            return;
        }
        atomic_fetch_sub(&t->refs, 1); /* run() still holds one: never the last */
        free(tc);
    }
    static uint64_t logged_ns;
    iob_log_ratelimited(&logged_ns, IOB_LOG_WARN, "no thread for %s: %s", peer, strerror(rc));
    iob_accept_reject(fd);
}

int iob_threaded_run(const struct iob_engine_args *args)
{
    struct iob_accept_set set;
    int rc = iob_accept_set_open(&set, args->listen_fds, args->n_listen);
    if (rc < 0)
        return rc;
    struct threaded *t = calloc(1, sizeof(*t));
    if (!t) {
        iob_accept_set_close(&set);
        return -ENOMEM;
    }
    t->env = args->env;
    atomic_init(&t->refs, 1);
    pthread_attr_init(&t->conn_attr);
    pthread_attr_setdetachstate(&t->conn_attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&t->conn_attr, args->thread_stack_bytes);
    for (;;) {
        struct pollfd p[2] = {{.fd = set.fd, .events = POLLIN},
                              {.fd = iob_stop_signal_fd(), .events = POLLIN}};
        if (poll(p, 2, -1) < 0)
            continue;
        if ((p[1].revents & POLLIN) && iob_stop_take() != IOB_STOP_NONE) {
            iob_accept_set_close(&set);
            iob_thread_conns_drain(); /* the connections that wait for a request close */
            rc = iob_stop_wait_drained();
            break;
        }
        if ((p[0].revents & POLLIN) &&
            iob_accept_some(&set, t->env->max_connections, spawn, t) == -EMFILE)
            poll(NULL, 0, IOB_ACCEPT_PAUSE_MS); /* no spin on a full table; others go on */
    }
    unref(t);
    return rc;
}
