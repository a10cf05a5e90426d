/* The threaded engine: the calling thread accepts and takes the signals; every connection gets an
 * OS thread that blocks in poll(), recv(), send() and clock_nanosleep(); a gather task gets a
 * small thread of its own. The only file that calls pthread_create.
 * Shared between threads: the atomics below and the read-only config and env. Nothing else. */
#include "server/engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/base/addr.h"
#include "server/base/clock.h"
#include "server/base/fdio.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/engine/reject.h"
#include "server/http/conn.h"
#include "server/http/exchange.h"

#define ACCEPT_PAUSE_MS    100
#define ACCEPT_BATCH       64
#define LINGER_MS          1000
#define READ_BUF_BYTES     16384
#define GATHER_STACK_BYTES (64 * 1024)
#define DRAIN_POLL_MS      20

struct engine {
    const struct iob_config *cfg;
    const struct iob_env *env;
    pthread_attr_t conn_attr;
    pthread_attr_t task_attr;
    int stop_pipe[2];     /* written once at shutdown; every connection thread polls the read end */
    atomic_bool stopping; /* set before the pipe is written; read after each step */
    atomic_size_t n_open;
};

struct th_conn {
    struct engine *eng;
    int fd;
    char peer[64];
};

struct gather_task {
    pthread_t thread;
    bool started;
    struct iob_plan *plan;
    size_t i;
};

static void sleep_until(uint64_t at_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(at_ns / IOB_NS_PER_SEC),
                          .tv_nsec = (long)(at_ns % IOB_NS_PER_SEC)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void *gather_task_main(void *arg)
{
    struct gather_task *t = arg;
    sleep_until(t->plan->started_ns + t->plan->tasks[t->i].ms * IOB_NS_PER_MS);
    t->plan->tasks[t->i].finished_ns = iob_clock_now_ns(); /* this thread's own slot only */
    return NULL;
}

/* One thread per wait, all joined: the request takes the longest wait, not the sum. */
static void run_gather(struct engine *eng, struct iob_plan *plan)
{
    struct gather_task *tasks = calloc(plan->n_tasks, sizeof(*tasks));
    for (size_t i = 0; tasks && i < plan->n_tasks; i++) {
        tasks[i] = (struct gather_task){.plan = plan, .i = i};
        tasks[i].started =
            pthread_create(&tasks[i].thread, &eng->task_attr, gather_task_main, &tasks[i]) == 0;
        if (tasks[i].started)
            iob_metrics_thread_started();
    }
    /* A task that got no thread (EAGAIN, memory) waits here, after the others have started;
     * its finished_ms then shows any lateness honestly. */
    for (size_t i = 0; i < plan->n_tasks; i++) {
        struct gather_task inline_task = {.plan = plan, .i = i};
        if (!tasks || !tasks[i].started)
            gather_task_main(&inline_task);
    }
    for (size_t i = 0; tasks && i < plan->n_tasks; i++) {
        if (tasks[i].started) {
            pthread_join(tasks[i].thread, NULL);
            iob_metrics_thread_exited();
        }
    }
    free(tasks);
}

/* Writes and clears the connection's output. Returns false when the client is gone. */
static bool flush(struct th_conn *tc, struct iob_conn *conn)
{
    struct iob_buf *out = iob_conn_output(conn);
    /* A client that reads nothing for idle_timeout_ms is dropped. */
    uint64_t deadline = iob_clock_now_ns() + tc->eng->env->idle_timeout_ms * IOB_NS_PER_MS;
    int rc = out->len ? iob_fd_send_all(tc->fd, out->data, out->len, deadline) : 0;
    iob_buf_reset(out);
    if (rc < 0)
        iob_log(IOB_LOG_DEBUG, "%s: write: %s", tc->peer, strerror(-rc));
    return rc == 0;
}

/* Carries out a step on this connection's thread. Returns false when the client went away
 * during it (the step still runs to its end, so finish() sees a whole plan). */
static bool run_step(struct th_conn *tc, struct iob_conn *conn, struct iob_plan *plan,
                     enum iob_step step)
{
    bool alive = true;
    switch (step) {
    case IOB_STEP_NONE:
        return true;
    case IOB_STEP_SLEEP:
        sleep_until(plan->started_ns + plan->ms * IOB_NS_PER_MS);
        break;
    case IOB_STEP_GATHER:
        run_gather(tc->eng, plan);
        break;
    case IOB_STEP_CPU:
        plan->work(plan); /* on this connection's thread, beside the others */
        break;
    case IOB_STEP_DRIP:
        alive = flush(tc, conn); /* the head */
        for (size_t i = 0; i < plan->n_chunks; i++) {
            sleep_until(plan->started_ns + (i + 1) * plan->ms * IOB_NS_PER_MS);
            iob_exchange_drip(conn, i);
            alive = alive ? flush(tc, conn) : (iob_buf_reset(iob_conn_output(conn)), false);
        }
        break;
    }
    plan->ended_ns = iob_clock_now_ns();
    return alive;
}

/* Serves one connection until it closes. */
static void serve(struct th_conn *tc, struct iob_conn *conn)
{
    struct engine *eng = tc->eng;
    char in[READ_BUF_BYTES];
    size_t have = 0;
    bool eof = false, draining = false;
    for (;;) {
        /* Answer every complete request already read, one at a time. */
        size_t off = 0;
        while (off < have) {
            size_t used;
            enum iob_feed r = iob_conn_feed(conn, in + off, have - off, &used);
            off += used;
            if (r == IOB_FEED_REQUEST) {
                struct iob_plan *plan;
                enum iob_step step = iob_exchange_begin(conn, &plan);
                bool alive = run_step(tc, conn, plan, step);
                /* A stop that came during the step: this answer already says it closes. */
                if (atomic_load(&eng->stopping))
                    iob_conn_drain(conn);
                iob_exchange_finish(conn);
                if (!alive)
                    return;
            }
            if (!flush(tc, conn) || iob_conn_want_close(conn))
                return;
            if (r == IOB_FEED_MORE)
                break;
        }
        memmove(in, in + off, have - off);
        have -= off;
        if (eof || (draining && iob_conn_is_idle(conn)))
            return;

        struct pollfd p[2] = {{.fd = tc->fd, .events = POLLIN},
                              {.fd = eng->stop_pipe[0], .events = POLLIN}};
        int n = poll(p, draining ? 1 : 2, iob_fd_poll_ms(iob_conn_deadline_ns(conn)));
        if (n == 0) {
            iob_conn_timed_out(conn);
            flush(tc, conn);
            return;
        }
        if (n < 0)
            continue; /* EINTR */
        if (!draining && (p[1].revents & POLLIN)) {
            draining = true;
            iob_conn_drain(conn);
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = recv(tc->fd, in + have, sizeof(in) - have, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (got <= 0)
                eof = true;
            else
                have += (size_t)got;
        }
    }
}

/* Closing with unread bytes from the client (a body we refused, pipelined requests) would reset
 * the connection and could destroy our last answer before the client reads it: end our side,
 * then drop what comes until the client closes, for at most LINGER_MS. */
static void linger(int fd)
{
    char sink[4096];
    uint64_t deadline = iob_clock_now_ns() + LINGER_MS * IOB_NS_PER_MS;
    shutdown(fd, SHUT_WR);
    while (iob_fd_wait(fd, POLLIN, deadline) == 0) {
        ssize_t n = recv(fd, sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return;
    }
}

static void *conn_main(void *arg)
{
    struct th_conn *tc = arg;
    struct engine *eng = tc->eng;
    struct iob_conn *conn = iob_conn_new(eng->env, tc->peer);
    if (conn)
        serve(tc, conn);
    else
        iob_log(IOB_LOG_WARN, "no memory for a connection from %s", tc->peer);
    iob_conn_free(conn);
    linger(tc->fd);
    close(tc->fd);
    free(tc);
    iob_metrics_conn_closed();
    iob_metrics_thread_exited();
    atomic_fetch_sub(&eng->n_open, 1);
    return NULL;
}

/* Accepts one connection and starts its thread. Returns false when there was none to take. */
static bool accept_one(struct engine *eng, int lfd, uint64_t *emfile_logged_ns)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
            /* Not a spin on a listen socket that stays readable: pause, keep serving. */
            iob_log_ratelimited(emfile_logged_ns, IOB_LOG_WARN,
                                "accept: %s; pausing accepts for %d ms (%zu connections open)",
                                strerror(err), ACCEPT_PAUSE_MS, atomic_load(&eng->n_open));
            poll(NULL, 0, ACCEPT_PAUSE_MS);
        } else if (err != EAGAIN && err != EINTR && err != ECONNABORTED) {
            iob_log(IOB_LOG_WARN, "accept: %s", strerror(err));
        }
        return false;
    }
    if (atomic_load(&eng->n_open) >= eng->cfg->server.max_connections) {
        iob_engine_reject(fd); /* no thread is created for it */
        return true;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct th_conn *tc = malloc(sizeof(*tc));
    if (!tc) {
        iob_engine_reject(fd);
        return true;
    }
    *tc = (struct th_conn){.eng = eng, .fd = fd};
    iob_addr_format((struct sockaddr *)&ss, tc->peer, sizeof(tc->peer));
    atomic_fetch_add(&eng->n_open, 1);
    pthread_t th;
    int rc = pthread_create(&th, &eng->conn_attr, conn_main, tc);
    if (rc != 0) {
        atomic_fetch_sub(&eng->n_open, 1);
        iob_log_ratelimited(emfile_logged_ns, IOB_LOG_WARN, "no thread for %s: %s", tc->peer,
                            strerror(rc));
        free(tc);
        iob_engine_reject(fd);
        return true;
    }
    iob_metrics_conn_opened();
    iob_metrics_thread_started();
    return true;
}

/* Waits for the open connections to finish, up to the grace, or a second signal. */
static int drain(struct engine *eng, int sfd)
{
    uint64_t deadline = iob_clock_now_ns() + eng->cfg->process.shutdown_grace_ms * IOB_NS_PER_MS;
    iob_log(IOB_LOG_INFO, "stopping: %zu connections open; grace %u ms", atomic_load(&eng->n_open),
            eng->cfg->process.shutdown_grace_ms);
    atomic_store(&eng->stopping, true);
    (void)!write(eng->stop_pipe[1], "x", 1);
    while (atomic_load(&eng->n_open) > 0) {
        if (iob_clock_now_ns() >= deadline) {
            iob_log(IOB_LOG_WARN, "shutdown grace expired: closing %zu connections",
                    atomic_load(&eng->n_open));
            return 0;
        }
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        if (poll(&p, 1, DRAIN_POLL_MS) > 0) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si) &&
                (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
                iob_log(IOB_LOG_WARN, "second signal: stopping now, %zu connections dropped",
                        atomic_load(&eng->n_open));
                return -EINTR;
            }
            if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1)
                iob_log_reopen();
        }
    }
    return 0;
}

static int run(const struct iob_engine_args *args)
{
    struct engine eng = {.cfg = args->cfg, .env = args->env, .stop_pipe = {-1, -1}};
    uint64_t emfile_logged_ns = 0;
    int rc, sfd = -1;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    /* Blocked before any thread starts, so every thread inherits the mask and only the acceptor
     * takes the signals, through its signalfd. */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    pthread_attr_init(&eng.conn_attr);
    pthread_attr_init(&eng.task_attr);
    pthread_attr_setdetachstate(&eng.conn_attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&eng.conn_attr, (size_t)args->cfg->threaded.stack_size_kb * 1024);
    pthread_attr_setstacksize(&eng.task_attr, GATHER_STACK_BYTES);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0 || pipe2(eng.stop_pipe, O_CLOEXEC) < 0) {
        rc = -errno;
        goto fail;
    }
    for (;;) {
        struct pollfd p[2] = {{.fd = args->listen_fd, .events = POLLIN},
                              {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) != sizeof(si))
                continue;
            if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1) {
                rc = iob_log_reopen();
                if (rc < 0)
                    iob_log(IOB_LOG_ERROR, "reopening logs: %s", strerror(-rc));
                continue;
            }
            close(args->listen_fd);
            rc = drain(&eng, sfd);
            break;
        }
        /* A burst of connects is taken in one go (bounded, so signals are not starved). */
        for (int i = 0; i < ACCEPT_BATCH && (p[0].revents & POLLIN); i++)
            if (!accept_one(&eng, args->listen_fd, &emfile_logged_ns))
                break;
    }
    /* Connection threads still running (grace expired, second signal) end with the process. */
    close(sfd);
    return rc;
fail:
    if (sfd >= 0)
        close(sfd);
    close(args->listen_fd);
    return rc;
}

const struct iob_engine iob_engine_threaded = {.name = "threaded", .run = run};
