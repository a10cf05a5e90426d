/* The executor engine: one evented loop keeps every connection and every wait, and hands each
 * CPU step to a few threads (asyncio's run_in_executor, nginx's thread_pool, libuv's threadpool).
 * A thread that finishes a step queues it back and wakes the loop through an eventfd: no busy
 * polling. Shared between threads: the two queues under one mutex, and the plan of a step while
 * a thread runs it (the loop does not touch that plan until it is handed back). */
#include "server/engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/engine/evented.h"
#include "server/engine/listen.h"

struct job {
    struct iob_plan *plan;
    void *token;
    struct job *next;
};

struct executor {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct job *todo, **todo_tail; /* FIFO: steps run in the order they came */
    struct job *done;              /* handed back; any order */
    bool stopping;
    int done_fd;
};

static void push_done(struct executor *ex, struct job *j)
{
    pthread_mutex_lock(&ex->mu);
    j->next = ex->done;
    ex->done = j;
    pthread_mutex_unlock(&ex->mu);
    uint64_t one = 1;
    (void)!write(ex->done_fd, &one, sizeof(one));
}

static void *worker_main(void *arg)
{
    struct executor *ex = arg;
    for (;;) {
        pthread_mutex_lock(&ex->mu);
        while (!ex->todo && !ex->stopping)
            pthread_cond_wait(&ex->wake, &ex->mu);
        struct job *j = ex->todo;
        if (j && !(ex->todo = j->next))
            ex->todo_tail = &ex->todo;
        pthread_mutex_unlock(&ex->mu);
        if (!j)
            return NULL; /* stopping, and nothing left to run */
        j->plan->work(j->plan);
        push_done(ex, j);
    }
}

static bool submit(void *ctx, struct iob_plan *plan, void *token)
{
    struct executor *ex = ctx;
    struct job *j = malloc(sizeof(*j));
    if (!j)
        return false; /* the loop runs it itself */
    *j = (struct job){plan, token, NULL};
    pthread_mutex_lock(&ex->mu);
    *ex->todo_tail = j;
    ex->todo_tail = &j->next;
    pthread_cond_signal(&ex->wake);
    pthread_mutex_unlock(&ex->mu);
    return true;
}

static void *take_done(void *ctx)
{
    struct executor *ex = ctx;
    pthread_mutex_lock(&ex->mu);
    struct job *j = ex->done;
    if (j)
        ex->done = j->next;
    pthread_mutex_unlock(&ex->mu);
    void *token = j ? j->token : NULL;
    free(j);
    return token;
}

int iob_executor_run(const struct iob_engine_args *args)
{
    struct executor ex = {.todo_tail = &ex.todo, .done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    pthread_t *threads = calloc(args->cpu_threads, sizeof(*threads));
    if (ex.done_fd < 0 || !threads) {
        int rc = ex.done_fd < 0 ? -errno : -ENOMEM;
        free(threads);
        iob_listen_close(args->listen_fds, args->n_listen);
        return rc;
    }
    pthread_mutex_init(&ex.mu, NULL);
    pthread_cond_init(&ex.wake, NULL);
    unsigned started = 0;
    for (; started < args->cpu_threads; started++) {
        int rc = pthread_create(&threads[started], NULL, worker_main, &ex);
        if (rc != 0) {
            iob_log(IOB_LOG_WARN, "executor: %u of %u threads: %s", started, args->cpu_threads,
                    strerror(rc));
            break;
        }
        iob_metrics_thread_started();
    }
    const struct iob_cpu_runner runner = {ex.done_fd, submit, take_done, &ex};
    /* With no thread at all the loop runs the steps itself, as the evented engine does. */
    const struct iob_loop_opts opts = {args->listen_fds, args->n_listen, true,
                                       started ? &runner : NULL};
    int rc = iob_loop_run(args, &opts);
    /* Steps still queued or running end first (each within max_cpu_ms): nothing they use is
     * freed before. */
    pthread_mutex_lock(&ex.mu);
    ex.stopping = true;
    pthread_cond_broadcast(&ex.wake);
    pthread_mutex_unlock(&ex.mu);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        iob_metrics_thread_exited();
    }
    while (take_done(&ex))
        ;
    pthread_cond_destroy(&ex.wake);
    pthread_mutex_destroy(&ex.mu);
    close(ex.done_fd);
    free(threads);
    return rc;
}
