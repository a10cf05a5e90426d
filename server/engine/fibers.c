/* The fibers engine: one OS thread, one epoll loop, and a fiber per connection (and per gather
 * task) running the same blocking driver as threaded and pool. The driver's blocking calls park
 * the fiber (its fd in epoll, a timer in the heap, the drain) and yield; the loop resumes it
 * when that comes. Code written as if it blocks, at the cost of a small stack per wait, not an
 * OS thread: Go's goroutines, gevent, Java's virtual threads. CPU work runs on the one thread
 * and stalls everyone, as in evented. Plain epoll, not libevent: the loop only wakes fibers, so
 * it needs no callbacks or buffers (event2/ stays in evented.c), and epoll_pwait2() takes ns
 * timeouts. Everything here runs on the one thread; only the kernel is shared. */
#include "server/engine/engine.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "server/base/clock.h"
#include "server/base/fdio.h"
#include "server/base/heap.h"
#include "server/base/list.h"
#include "server/base/log.h"
#include "server/engine/accept.h"
#include "server/engine/blocking.h"
#include "server/engine/fiber.h"
#include "server/engine/stop.h"

#define EPOLL_BATCH 256

/* A fiber and what it waits for: the ctx of its blocking ops. A connection's lives on its own
 * fiber's stack, a gather task's in its gather's array, so neither outlives its fiber. */
struct task {
    struct fibers *fs;
    struct iob_fiber *fiber;
    int fd;             /* its connection; -1 for a gather task */
    uint32_t armed;     /* the events fd is in epoll for (level-triggered); 0: not in epoll */
    bool is_blocked;    /* parked in block(): the next wake() resumes it */
    bool wants_fd;      /* parked on fd's epoll event */
    bool is_joining;    /* a gather waiting for the last of its tasks */
    enum iob_wait woke; /* why it was woken */
    struct iob_heap_node timer;
    struct iob_link drain_link; /* in fs->drain_watch while watching the drain */
    struct task *run_next;
    size_t pending;        /* gather: its tasks still running */
    struct iob_plan *plan; /* a gather task: its plan, its index, its gather */
    size_t i;
    struct task *parent;
};

struct fibers {
    const struct iob_engine_args *args;
    struct iob_accept_set listeners;
    int epfd;
    struct iob_heap timers;
    struct iob_link *drain_watch;
    struct task *run_head, **run_tail;
    size_t n_tasks; /* timers reserved for: each task has at most one */
    size_t n_conns;
    bool is_draining;
    uint64_t accept_resume_ns; /* accepting paused after EMFILE until then; 0: not paused */
};

/* epoll tags of the loop's own descriptors. */
static char listen_tag, signal_tag;

static void enqueue(struct task *t)
{
    struct fibers *fs = t->fs;
    t->run_next = NULL;
    *fs->run_tail = t;
    fs->run_tail = &t->run_next;
}

/* Makes a parked t runnable; a t that is not parked (already woken) is left alone. */
static void wake(struct task *t, enum iob_wait why)
{
    if (!t->is_blocked)
        return;
    t->is_blocked = false;
    t->woke = why;
    enqueue(t);
}

/* fd stays in epoll between waits, so a keep-alive request costs no epoll_ctl(): the socket is
 * quiet while its fiber works. If it speaks meanwhile (pipelined bytes, a close) and the fiber
 * waits for something else, it leaves epoll until the fiber waits for it again, so a readable
 * socket cannot spin the loop. */
static void fd_ready(struct task *t)
{
    if (t->wants_fd) {
        wake(t, IOB_WAIT_READY);
        return;
    }
    epoll_ctl(t->fs->epfd, EPOLL_CTL_DEL, t->fd, NULL);
    t->armed = 0;
}

static void drain_watch(struct task *t, bool on)
{
    struct fibers *fs = t->fs;
    if (on)
        iob_list_push(&fs->drain_watch, &t->drain_link);
    else
        iob_list_unlink(&fs->drain_watch, &t->drain_link);
}

/* Parks the calling fiber t until fd has events (0: no fd), deadline_ns passes (0: none), with
 * watch_drain the drain begins, or someone wakes it; returns why. */
static enum iob_wait block(struct task *t, int fd, uint32_t events, uint64_t deadline_ns,
                           bool watch_drain)
{
    struct fibers *fs = t->fs;
    if (events && t->armed != events) {
        struct epoll_event ev = {.events = events, .data.ptr = t};
        if (epoll_ctl(fs->epfd, t->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0) {
            iob_log(IOB_LOG_WARN, "epoll_ctl: %s", strerror(errno));
            return IOB_WAIT_TIMEOUT; /* cannot wait for it: the driver gives the connection up */
        }
        t->armed = events;
    }
    t->wants_fd = events != 0;
    if (deadline_ns) {
        t->timer.at_ns = deadline_ns;
        iob_heap_push(&fs->timers, &t->timer);
    }
    if (watch_drain)
        drain_watch(t, true);
    t->is_blocked = true;
    iob_fiber_yield();
    t->wants_fd = false;
    iob_heap_remove(&fs->timers, &t->timer);
    if (watch_drain)
        drain_watch(t, false);
    return t->woke;
}

static enum iob_wait wait_readable(void *ctx, int fd, uint64_t deadline_ns, bool watch_drain)
{
    struct task *t = ctx;
    if (watch_drain && t->fs->is_draining) {
        /* The drain began while this fiber did something else. Bytes first, as in thread_ops. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        return poll(&p, 1, 0) > 0 ? IOB_WAIT_READY : IOB_WAIT_DRAIN;
    }
    return block(t, fd, EPOLLIN | EPOLLRDHUP, deadline_ns, watch_drain);
}

static int wait_writable(void *ctx, int fd, uint64_t deadline_ns)
{
    return block(ctx, fd, EPOLLOUT, deadline_ns, false) == IOB_WAIT_READY ? 0 : -ETIMEDOUT;
}

static int send_all(void *ctx, int fd, const char *buf, size_t len, uint64_t deadline_ns)
{
    return iob_fd_send_all_via(fd, buf, len, deadline_ns, wait_writable, ctx);
}

static void sleep_until(void *ctx, uint64_t at_ns)
{
    while (iob_clock_now_ns() < at_ns)
        block(ctx, -1, 0, at_ns, false);
}

/* A new fiber for fn(arg), with room in the heap for its timer (a task has at most one), so
 * block() never fails for want of it. NULL when out of memory. */
static struct iob_fiber *task_fiber(struct fibers *fs, iob_fiber_fn *fn, void *arg)
{
    struct iob_fiber *f = NULL;
    if (iob_heap_reserve(&fs->timers, fs->n_tasks + 1) == 0 && (f = iob_fiber_new(fn, arg)))
        fs->n_tasks++;
    return f;
}

static void gather_task_main(void *arg)
{
    struct task *t = arg;
    sleep_until(t, iob_plan_due_ns(t->plan, t->i));
    t->plan->tasks[t->i].finished_ns = iob_clock_now_ns();
    t->fs->n_tasks--;
    if (--t->parent->pending == 0 && t->parent->is_joining)
        wake(t->parent, IOB_WAIT_READY);
}

/* A fiber per wait, all joined: the request takes the longest wait, not the sum. A task that
 * got no fiber (memory) waits here after the others started, as in thread_ops.c. */
static void gather(void *ctx, struct iob_plan *plan)
{
    struct task *t = ctx;
    struct task *kids = calloc(plan->n_tasks, sizeof(*kids));
    for (size_t i = 0; kids && i < plan->n_tasks; i++) {
        struct task *k = &kids[i];
        *k = (struct task){
            .fs = t->fs, .fd = -1, .timer.index = IOB_HEAP_NONE, .plan = plan, .i = i, .parent = t};
        k->fiber = task_fiber(t->fs, gather_task_main, k);
        if (k->fiber) {
            t->pending++;
            enqueue(k);
        }
    }
    for (size_t i = 0; i < plan->n_tasks; i++) {
        if (!kids || !kids[i].fiber) {
            sleep_until(t, iob_plan_due_ns(plan, i));
            plan->tasks[i].finished_ns = iob_clock_now_ns();
        }
    }
    t->is_joining = true;
    while (t->pending)
        block(t, -1, 0, 0, false);
    t->is_joining = false;
    free(kids);
}

/* No recv op: the driver reads with a non-blocking recv() once wait_readable has yielded. */
static const struct iob_blocking_ops fiber_ops = {.wait_readable = wait_readable,
                                                  .send_all = send_all,
                                                  .sleep_until = sleep_until,
                                                  .gather = gather};

/* What a connection's fiber starts from; read before its first yield. */
struct conn_start {
    struct fibers *fs;
    struct iob_fiber *fiber;
    int fd;
    const char *peer;
};

static void conn_main(void *arg)
{
    const struct conn_start *start = arg;
    struct task t = {
        .fs = start->fs, .fiber = start->fiber, .fd = start->fd, .timer.index = IOB_HEAP_NONE};
    iob_blocking_serve(&fiber_ops, &t, t.fs->args->env, t.fd, start->peer);
    t.fs->n_conns--;
    t.fs->n_tasks--;
}

/* A fiber for the admitted connection fd, run at once until it first waits. */
static void conn_new(void *ctx, int fd, const char *peer)
{
    struct fibers *fs = ctx;
    struct conn_start start = {.fs = fs, .fd = fd, .peer = peer};
    start.fiber = task_fiber(fs, conn_main, &start);
    if (!start.fiber) {
        static uint64_t logged_ns;
        iob_log_ratelimited(&logged_ns, IOB_LOG_WARN, "no fiber for %s: out of memory", peer);
        iob_accept_reject(fd);
        return;
    }
    fs->n_conns++;
    iob_fiber_resume(start.fiber);
}

/* The one place that knows the listening sockets (as one set): watched or paused. 0 or -1. */
static int listen_watch(struct fibers *fs, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
    return epoll_ctl(fs->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fs->listeners.fd, &ev);
}

static void accept_some(struct fibers *fs)
{
    if (iob_accept_some(&fs->listeners, fs->args->env->max_connections, conn_new, fs) < 0) {
        /* Not a spin on a listen socket that stays readable: pause; the others go on. */
        listen_watch(fs, false);
        fs->accept_resume_ns = iob_clock_now_ns() + IOB_ACCEPT_PAUSE_MS * IOB_NS_PER_MS;
    }
}

/* Stops accepting; the connections idle between requests hear of it and close. */
static void drain(struct fibers *fs)
{
    fs->is_draining = true;
    fs->accept_resume_ns = 0;
    iob_accept_set_close(&fs->listeners);
    for (struct iob_link *l = fs->drain_watch; l; l = l->next)
        wake(iob_container_of(l, struct task, drain_link), IOB_WAIT_DRAIN);
}

/* Resumes every runnable fiber, and those they make runnable, until none is left. */
static void run_queue(struct fibers *fs)
{
    while (fs->run_head) {
        struct task *t = fs->run_head;
        if (!(fs->run_head = t->run_next))
            fs->run_tail = &fs->run_head;
        iob_fiber_resume(t->fiber); /* t may be gone after this: it lived on that fiber */
    }
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return !a || (b && b < a) ? b : a;
}

/* Waits for the next events or the next due time, whichever comes first. Returns the count. */
static int wait_events(struct fibers *fs, struct epoll_event *evs)
{
    struct iob_heap_node *top = iob_heap_top(&fs->timers);
    uint64_t due = earliest(top ? top->at_ns : 0, fs->accept_resume_ns);
    if (fs->is_draining)
        due = earliest(due, iob_stop_grace_deadline_ns());
    uint64_t now = iob_clock_now_ns();
    uint64_t in_ns = due > now ? due - now : 0;
    struct timespec ts = {.tv_sec = (time_t)(in_ns / IOB_NS_PER_SEC),
                          .tv_nsec = (long)(in_ns % IOB_NS_PER_SEC)};
    int n = epoll_pwait2(fs->epfd, evs, EPOLL_BATCH, due ? &ts : NULL, NULL);
    if (n < 0 && errno == ENOSYS) /* before Linux 5.11: ms, rounded up so nothing wakes early */
        n = epoll_wait(fs->epfd, evs, EPOLL_BATCH, iob_fd_poll_ms(due));
    return n < 0 ? 0 : n;
}

/* One turn of the loop: what came is only noted (fibers are woken, not run, so none can end
 * while the batch still names it), then the due timers, then the loop's own descriptors, and
 * last every fiber that became runnable. Returns the signal event taken, if any. */
static enum iob_stop_event turn(struct fibers *fs)
{
    struct epoll_event evs[EPOLL_BATCH];
    int n = wait_events(fs, evs);
    bool has_accept = false, has_signal = false;
    for (int i = 0; i < n; i++) {
        void *tag = evs[i].data.ptr;
        if (tag == &listen_tag)
            has_accept = true;
        else if (tag == &signal_tag)
            has_signal = true;
        else
            fd_ready(tag);
    }
    uint64_t now = iob_clock_now_ns();
    struct iob_heap_node *top;
    while ((top = iob_heap_top(&fs->timers)) && top->at_ns <= now) {
        iob_heap_remove(&fs->timers, top);
        wake(iob_container_of(top, struct task, timer), IOB_WAIT_TIMEOUT);
    }
    if (fs->accept_resume_ns && now >= fs->accept_resume_ns && listen_watch(fs, true) == 0)
        fs->accept_resume_ns = 0;
    enum iob_stop_event stop = has_signal ? iob_stop_take() : IOB_STOP_NONE;
    if (stop == IOB_STOP_DRAIN)
        drain(fs);
    else if (has_accept && !fs->is_draining)
        accept_some(fs);
    run_queue(fs);
    return stop;
}

/* Serves until the drain has closed every connection (0), the grace runs out (0, the fibers
 * still parked are left for the process's exit) or a second signal (-EINTR). */
static int serve(struct fibers *fs)
{
    for (;;) {
        if (turn(fs) == IOB_STOP_NOW)
            return -EINTR;
        if (fs->is_draining && fs->n_conns == 0)
            return 0;
        if (fs->is_draining && iob_clock_now_ns() >= iob_stop_grace_deadline_ns()) {
            iob_stop_grace_expired();
            return 0;
        }
    }
}

int iob_fibers_run(const struct iob_engine_args *args)
{
    struct fibers fs = {.args = args, .run_tail = &fs.run_head};
    int rc = iob_accept_set_open(&fs.listeners, args->listen_fds, args->n_listen);
    if (rc < 0)
        return rc;
    iob_heap_init(&fs.timers);
    rc = iob_fiber_init(args->fiber_stack_kb);
    if (rc < 0) {
        iob_accept_set_close(&fs.listeners);
        return rc;
    }
    fs.epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event sig = {.events = EPOLLIN, .data.ptr = &signal_tag};
    if (fs.epfd < 0 || epoll_ctl(fs.epfd, EPOLL_CTL_ADD, iob_stop_signal_fd(), &sig) < 0 ||
        listen_watch(&fs, true) < 0)
        rc = -errno;
    else
        rc = serve(&fs);
    iob_accept_set_close(&fs.listeners); /* again after the drain: nothing */
    if (fs.epfd >= 0)
        close(fs.epfd);
    iob_heap_fini(&fs.timers);
    iob_fiber_fini();
    return rc;
}
