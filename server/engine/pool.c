/* The pool engine: W worker threads and a bounded queue of connections that have a request
 * waiting (gunicorn's sync workers, Apache's MaxRequestWorkers, a servlet container's thread
 * pool). The calling thread accepts, takes the signals and watches the idle connections in one
 * epoll set: an idle keep-alive connection holds no worker (Apache's event MPM, Tomcat's NIO
 * poller); the first byte of its next request puts it on the queue. A worker serves it with the
 * blocking driver until it is idle again, so a wait holds the worker for its whole length: with
 * every worker waiting, /hello waits in the queue too. That exhaustion is the lesson.
 * Shared between threads: the refcounted struct pool (its queue and idle list under its mutex),
 * the read-only env and the atomics of accept, stop and metrics. */
#include "server/engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server/base/clock.h"
#include "server/base/list.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/engine/accept.h"
#include "server/engine/blocking.h"
#include "server/engine/stop.h"

#define EPOLL_BATCH 64
/* How often idle connections are checked against their deadlines. */
#define SWEEP_MS 100

struct slot {
    struct iob_bconn *b;
    int fd;
    /* Not on the drain's list: an idle connection waits in epfd, not in a worker's recv(). */
    struct iob_thread_conn ops_state;
    uint64_t queued_ns;        /* when it joined the queue */
    bool in_epoll;             /* added to epfd (re-armed with MOD from then on) */
    struct iob_link idle_link; /* in p->idle while parked in epfd */
    struct slot *next;         /* in the queue, or in sweep()'s list of those to close */
};

/* Lives while run() or any worker holds it (the threaded engine's rule: a worker still waiting
 * when the grace runs out never touches run()'s stack). */
struct pool {
    const struct iob_env *env;
    int epfd;
    struct iob_accept_set listeners; /* the acceptor's */
    unsigned queue_max;
    pthread_mutex_t mu;
    pthread_cond_t ready;
    struct slot *head, **tail; /* the queue: a request waits in each */
    unsigned queued;
    struct iob_link *idle; /* parked in epfd, waiting for a request */
    bool draining;         /* idle connections close instead of parking */
    bool stopping;
    atomic_uint refs;
};

static void unref(struct pool *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    close(p->epfd);
    pthread_cond_destroy(&p->ready);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void enqueue(struct pool *p, struct slot *s)
{
    s->queued_ns = iob_clock_now_ns();
    s->next = NULL;
    *p->tail = s;
    p->tail = &s->next;
    iob_metrics_queue_depth(++p->queued);
    pthread_cond_signal(&p->ready);
}

/* Waits in epfd for the next request (or a timeout, swept by the acceptor). Worker or acceptor
 * thread. The slot joins the idle list and epfd under the mutex, so whoever epoll hands it to
 * next (through that mutex) sees all this thread did with it. */
static void park(struct pool *p, struct slot *s)
{
    pthread_mutex_lock(&p->mu);
    if (p->draining) {
        pthread_mutex_unlock(&p->mu);
        iob_blocking_close(s->b);
        free(s);
        return;
    }
    iob_list_push(&p->idle, &s->idle_link);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = s};
    if (epoll_ctl(p->epfd, s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev) == 0) {
        s->in_epoll = true;
    } else {
        iob_list_unlink(&p->idle, &s->idle_link);
        enqueue(p, s); /* cannot watch it: a worker waits on it instead (blocking) */
    }
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->ready, &p->mu);
        struct slot *s = p->head;
        if (s && !(p->head = s->next))
            p->tail = &p->head;
        if (s)
            iob_metrics_queue_depth(--p->queued);
        pthread_mutex_unlock(&p->mu);
        if (!s)
            break;
        iob_metrics_queue_waited(iob_clock_now_ns() - s->queued_ns);
        iob_metrics_busy_workers(1);
        enum iob_turn t = iob_blocking_turn(s->b, &iob_thread_ops, &s->ops_state, true);
        iob_metrics_busy_workers(-1);
        if (t == IOB_TURN_IDLE)
            park(p, s);
        else
            free(s);
    }
    iob_metrics_thread_exited();
    unref(p);
    return NULL;
}

/* Sentinels for the two descriptors of the acceptor's own in epfd. */
static char listen_tag, signal_tag;

static int watch(struct pool *p, int op, int fd, void *tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    return epoll_ctl(p->epfd, op, fd, &ev);
}

/* New connections start parked: one that never sends holds no worker. Over the queue bound a
 * new connection gets the 503. */
static void take(void *arg, int fd, const char *peer)
{
    struct pool *p = arg;
    pthread_mutex_lock(&p->mu);
    bool full = p->queued >= p->queue_max;
    pthread_mutex_unlock(&p->mu);
    struct slot *s = full ? NULL : calloc(1, sizeof(*s));
    if (s)
        s->b = iob_blocking_open(p->env, fd, peer);
    if (!s || !s->b) {
        free(s);
        iob_accept_reject(fd);
        return;
    }
    s->fd = fd;
    park(p, s);
}

/* Closes the idle connections whose deadline passed (all of them when draining). */
static void sweep(struct pool *p, bool all)
{
    uint64_t now = iob_clock_now_ns();
    struct slot *done = NULL;
    pthread_mutex_lock(&p->mu);
    for (struct iob_link *l = p->idle, *next; l; l = next) {
        next = l->next;
        struct slot *s = iob_container_of(l, struct slot, idle_link);
        if (all || iob_blocking_deadline_ns(s->b) <= now) {
            iob_list_unlink(&p->idle, &s->idle_link);
            s->next = done;
            done = s;
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (struct slot *s = done, *next; s; s = next) {
        next = s->next;
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        iob_blocking_close(s->b);
        free(s);
    }
}

/* Accepts, queues what became readable and sweeps, until the drain begins. The whole batch is
 * taken first, so no request that arrived with the signal is lost. */
static int serve(struct pool *p)
{
    int lfd = p->listeners.fd;
    uint64_t resume_ns = 0, swept_ns = 0;
    enum iob_stop_event stop = IOB_STOP_NONE;
    while (stop == IOB_STOP_NONE) {
        struct epoll_event evs[EPOLL_BATCH];
        int n = epoll_wait(p->epfd, evs, EPOLL_BATCH, SWEEP_MS);
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &signal_tag) {
                stop = iob_stop_take();
            } else if (tag == &listen_tag) {
                if (iob_accept_some(&p->listeners, p->env->max_connections, take, p) < 0 &&
                    watch(p, EPOLL_CTL_DEL, lfd, NULL) == 0)
                    resume_ns = iob_clock_now_ns() + IOB_ACCEPT_PAUSE_MS * IOB_NS_PER_MS;
            } else {
                struct slot *s = tag;
                pthread_mutex_lock(&p->mu);
                iob_list_unlink(&p->idle, &s->idle_link);
                enqueue(p, s);
                pthread_mutex_unlock(&p->mu);
            }
        }
        uint64_t now = iob_clock_now_ns();
        if (resume_ns && now >= resume_ns && watch(p, EPOLL_CTL_ADD, lfd, &listen_tag) == 0)
            resume_ns = 0;
        if (now - swept_ns >= SWEEP_MS * IOB_NS_PER_MS) {
            sweep(p, false);
            swept_ns = now;
        }
    }
    return stop == IOB_STOP_NOW ? -EINTR : 0;
}

/* Takes the listening sockets (closed on failure too). Returns the pool or NULL. */
static struct pool *pool_new(const struct iob_engine_args *args)
{
    struct iob_accept_set listeners;
    if (iob_accept_set_open(&listeners, args->listen_fds, args->n_listen) < 0)
        return NULL;
    struct pool *p = calloc(1, sizeof(*p));
    if (p)
        p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!p || p->epfd < 0) {
        iob_accept_set_close(&listeners);
        free(p);
        return NULL;
    }
    p->listeners = listeners;
    p->env = args->env;
    p->queue_max = args->pool_queue;
    p->tail = &p->head;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->ready, NULL);
    atomic_init(&p->refs, 1);
    return p;
}

int iob_pool_run(const struct iob_engine_args *args)
{
    struct pool *p = pool_new(args);
    if (!p || watch(p, EPOLL_CTL_ADD, p->listeners.fd, &listen_tag) < 0 ||
        watch(p, EPOLL_CTL_ADD, iob_stop_signal_fd(), &signal_tag) < 0) {
        int rc = p ? -errno : -ENOMEM;
        if (p) {
            iob_accept_set_close(&p->listeners);
            unref(p);
        }
        return rc;
    }
    iob_metrics_queue_enable();
    pthread_t *threads = calloc(args->pool_workers, sizeof(*threads));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, args->thread_stack_bytes);
    unsigned started = 0;
    for (; threads && started < args->pool_workers; started++) {
        atomic_fetch_add(&p->refs, 1);
        int rc = pthread_create(&threads[started], &attr, worker_main, p);
        if (rc != 0) {
            atomic_fetch_sub(&p->refs, 1);
            iob_log(IOB_LOG_WARN, "pool: %u of %u workers: %s", started, args->pool_workers,
                    strerror(rc));
            break;
        }
        iob_metrics_thread_started();
    }
    pthread_attr_destroy(&attr);
    int rc = serve(p);
    iob_accept_set_close(&p->listeners);
    pthread_mutex_lock(&p->mu);
    p->draining = true;
    pthread_mutex_unlock(&p->mu);
    sweep(p, true); /* idle connections close at once */
    if (rc == 0)
        rc = iob_stop_wait_drained();
    pthread_mutex_lock(&p->mu);
    p->stopping = true; /* workers end once the queue is empty */
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->mu);
    /* Drained: every worker is about to end, so wait for it. Else (grace, stop now) a worker may
     * still be inside a wait: it is let go, and the last reference frees the pool. */
    bool drained = iob_accept_open() == 0;
    for (unsigned i = 0; i < started; i++)
        drained ? pthread_join(threads[i], NULL) : pthread_detach(threads[i]);
    free(threads);
    unref(p);
    return rc;
}
