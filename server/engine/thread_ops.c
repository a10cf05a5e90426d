/* The blocking driver's ops on OS threads, for every model whose connections have threads of
 * their own (threaded, pool): a blocking recv() under SO_RCVTIMEO (one system call per read, no
 * poll() first), send() under a deadline, clock_nanosleep() to an absolute time, and a small
 * thread per gather task. The drain reaches a thread blocked in recv() through the list of
 * connections (iob_thread_conns_drain()). */
#include "server/engine/blocking.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "server/base/clock.h"
#include "server/base/fdio.h"
#include "server/base/metrics.h"
#include "server/engine/stop.h"

#define GATHER_STACK_BYTES (64 * 1024)
/* How much later than its deadline a read may time out: SO_RCVTIMEO is set again only when the
 * one set would be later than that, or under half the time left (then recv() times out early
 * and waits again). So keep-alive requests, whose time left is always about idle_timeout_ms,
 * set it once per connection. */
#define RCVTIMEO_SLACK_NS (10 * IOB_NS_PER_MS)
#define RCVTIMEO_NONE     UINT64_MAX

/* struct iob_thread_conn's state: the drain wakes only a connection in WAITING, and holds it in
 * WAKING while it shuts its socket, so the connection's thread cannot close the socket then. */
enum { BUSY, WAITING, WAKING };

static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static struct iob_link *listed;

void iob_thread_conn_list(struct iob_thread_conn *c, int fd)
{
    c->fd = fd;
    pthread_mutex_lock(&list_mu);
    iob_list_push(&listed, &c->link);
    pthread_mutex_unlock(&list_mu);
}

void iob_thread_conn_unlist(struct iob_thread_conn *c)
{
    pthread_mutex_lock(&list_mu);
    iob_list_unlink(&listed, &c->link);
    pthread_mutex_unlock(&list_mu);
}

void iob_thread_conns_drain(void)
{
    pthread_mutex_lock(&list_mu);
    for (struct iob_link *l = listed; l; l = l->next) {
        struct iob_thread_conn *c = iob_container_of(l, struct iob_thread_conn, link);
        int expected = WAITING;
        if (atomic_compare_exchange_strong(&c->state, &expected, WAKING)) {
            shutdown(c->fd, SHUT_RD);
            atomic_store(&c->state, WAITING);
        }
    }
    pthread_mutex_unlock(&list_mu);
}

/* Enters WAITING; false when the drain began first (the caller then does not block). Sequentially
 * consistent with iob_thread_conns_drain(), which runs after the drain began: either this sees
 * the drain, or the drain sees WAITING and shuts the socket. */
static bool begin_wait(struct iob_thread_conn *c)
{
    atomic_store(&c->state, WAITING);
    if (!iob_stop_draining())
        return true;
    atomic_store(&c->state, BUSY);
    return false;
}

/* Leaves WAITING, after the drain is done with the socket if it is just shutting it. */
static void end_wait(struct iob_thread_conn *c)
{
    int expected = WAITING;
    while (!atomic_compare_exchange_weak(&c->state, &expected, BUSY)) {
        expected = WAITING;
        sched_yield();
    }
}

/* Makes recv() on fd block for at most left_ns (0: no deadline). Returns 0 or -errno. */
static int set_timeout(struct iob_thread_conn *c, int fd, uint64_t left_ns)
{
    uint64_t want = left_ns ? left_ns : RCVTIMEO_NONE, set = c->rcvtimeo_ns;
    if (set && (want == RCVTIMEO_NONE
                    ? set == RCVTIMEO_NONE
                    : set != RCVTIMEO_NONE && set <= want + RCVTIMEO_SLACK_NS && set >= want / 2))
        return 0;
    int off = 0;
    if (!set && ioctl(fd, FIONBIO, &off) < 0) /* accepted non-blocking: SO_RCVTIMEO needs this */
        return -errno;
    uint64_t us = want == RCVTIMEO_NONE ? 0 : (want + 999) / 1000;
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
    if (us == 0 && want != RCVTIMEO_NONE)
        tv.tv_usec = 1; /* {0, 0} would mean no timeout */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        return -errno;
    c->rcvtimeo_ns = want;
    return 0;
}

static ssize_t thread_recv(void *ctx, int fd, void *buf, size_t len, uint64_t deadline_ns,
                           bool watch_drain)
{
    struct iob_thread_conn *c = ctx;
    for (;;) {
        uint64_t now = iob_clock_now_ns();
        bool late = deadline_ns && now >= deadline_ns;
        int rc = late ? 0 : set_timeout(c, fd, deadline_ns ? deadline_ns - now : 0);
        if (rc < 0)
            return rc;
        bool drain = watch_drain && !begin_wait(c);
        /* Past the deadline or in the drain: one look, bytes there still win. */
        int flags = late || drain ? MSG_DONTWAIT : 0;
        ssize_t n = recv(fd, buf, len, flags);
        int err = n < 0 ? errno : 0;
        if (watch_drain && !drain)
            end_wait(c);
        if (n >= 0)
            return n;
        if (flags && (err == EAGAIN || err == EWOULDBLOCK))
            return drain ? -ECANCELED : -ETIMEDOUT;
        if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR)
            return -err; /* else SO_RCVTIMEO ran out (early, or by the slack): look again */
    }
}

static int send_all(void *ctx, int fd, const char *buf, size_t len, uint64_t deadline_ns)
{
    (void)ctx;
    return iob_fd_send_all(fd, buf, len, deadline_ns);
}

static void sleep_until(void *ctx, uint64_t at_ns)
{
    (void)ctx;
    struct timespec ts = {.tv_sec = (time_t)(at_ns / IOB_NS_PER_SEC),
                          .tv_nsec = (long)(at_ns % IOB_NS_PER_SEC)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

struct gather_task {
    pthread_t thread;
    bool started;
    struct iob_plan *plan;
    size_t i;
};

static void *task_main(void *arg)
{
    struct gather_task *task = arg;
    sleep_until(NULL, iob_plan_due_ns(task->plan, task->i));
    task->plan->tasks[task->i].finished_ns = iob_clock_now_ns(); /* its own slot only */
    return NULL;
}

/* One thread per wait, all joined: the request takes the longest wait, not the sum. A task that
 * got no thread (EAGAIN, memory) waits here after the others started; its finished_ms then
 * shows any lateness honestly. */
static void gather(void *ctx, struct iob_plan *plan)
{
    (void)ctx;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, GATHER_STACK_BYTES);
    struct gather_task *tasks = calloc(plan->n_tasks, sizeof(*tasks));
    for (size_t i = 0; tasks && i < plan->n_tasks; i++) {
        tasks[i] = (struct gather_task){.plan = plan, .i = i};
        tasks[i].started = pthread_create(&tasks[i].thread, &attr, task_main, &tasks[i]) == 0;
        if (tasks[i].started)
            iob_metrics_thread_started();
    }
    for (size_t i = 0; i < plan->n_tasks; i++) {
        struct gather_task here = {.plan = plan, .i = i};
        if (!tasks || !tasks[i].started)
            task_main(&here);
    }
    for (size_t i = 0; tasks && i < plan->n_tasks; i++) {
        if (tasks[i].started) {
            pthread_join(tasks[i].thread, NULL);
            iob_metrics_thread_exited();
        }
    }
    free(tasks);
    pthread_attr_destroy(&attr);
}

const struct iob_blocking_ops iob_thread_ops = {
    .send_all = send_all, .sleep_until = sleep_until, .gather = gather, .recv = thread_recv};
