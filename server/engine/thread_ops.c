/* The blocking driver's ops on OS threads, for every model whose connections have threads of
 * their own (threaded, pool): poll() beside the drain eventfd, send() under a deadline,
 * clock_nanosleep() to an absolute time, and a small thread per gather task. ctx is unused. */
#include "server/engine/blocking.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "server/base/clock.h"
#include "server/base/fdio.h"
#include "server/base/metrics.h"
#include "server/engine/stop.h"

#define GATHER_STACK_BYTES (64 * 1024)

static enum iob_wait wait_readable(void *ctx, int fd, uint64_t deadline_ns, bool watch_drain)
{
    (void)ctx;
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                          {.fd = iob_stop_drain_fd(), .events = POLLIN}};
    int n;
    while ((n = poll(p, watch_drain ? 2 : 1, iob_fd_poll_ms(deadline_ns))) < 0 && errno == EINTR)
        ;
    if (n == 0)
        return IOB_WAIT_TIMEOUT;
    /* Bytes first: a request that came with the drain is still read and answered. */
    return p[0].revents ? IOB_WAIT_READY : IOB_WAIT_DRAIN;
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

const struct iob_blocking_ops iob_thread_ops = {wait_readable, send_all, sleep_until, gather};
