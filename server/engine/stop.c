/* Signals through a signalfd, so every engine takes them in its own loop (libevent, poll) and no
 * handler runs at an arbitrary point; the drain is an eventfd that every blocked connection
 * thread polls beside its socket. */
#include "server/engine/stop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "server/base/clock.h"
#include "server/base/fdio.h"
#include "server/base/log.h"
#include "server/base/notify.h"
#include "server/engine/accept.h"

/* How often a supervisor looks at the open count while it drains. */
#define DRAIN_POLL_MS 20

static int signal_fd = -1;
static int drain_fd = -1;
static int now_fd = -1;
static uint32_t grace_ms;
static _Atomic uint64_t grace_deadline_ns; /* 0 until the drain */

int iob_stop_init(uint32_t shutdown_grace_ms)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0)
        return -errno;
    drain_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    now_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (drain_fd < 0 || now_fd < 0)
        return -errno;
    grace_ms = shutdown_grace_ms;
    return 0;
}

int iob_stop_signal_fd(void)
{
    return signal_fd;
}

/* Makes fd readable for good: nobody reads an eventfd of ours, so every poller sees it. */
static void raise_fd(int fd)
{
    uint64_t one = 1;
    (void)!write(fd, &one, sizeof(one));
}

/* Tells systemd (Type=notify) what the server is doing; nothing without $NOTIFY_SOCKET. */
static void notify(const char *state)
{
    int rc = iob_notify(state);
    if (rc < 0)
        iob_log(IOB_LOG_WARN, "systemd notify %s: %s", state, strerror(-rc));
}

static void reopen_logs(void)
{
    notify("RELOADING=1");
    int rc = iob_log_reopen();
    if (rc < 0)
        iob_log(IOB_LOG_ERROR, "reopening logs: %s", strerror(-rc));
    notify("READY=1");
}

enum iob_stop_event iob_stop_take(void)
{
    struct signalfd_siginfo si;
    if (read(signal_fd, &si, sizeof(si)) != sizeof(si))
        return IOB_STOP_NONE; /* EAGAIN, EINTR: nothing was taken */
    if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1) {
        reopen_logs();
        return IOB_STOP_NONE;
    }
    if (iob_stop_draining()) {
        iob_log(IOB_LOG_WARN, "second signal: stopping now, %zu connections dropped",
                iob_accept_open());
        raise_fd(now_fd);
        return IOB_STOP_NOW;
    }
    iob_log(IOB_LOG_INFO, "stopping: %zu connections open; grace %u ms", iob_accept_open(),
            (unsigned)grace_ms);
    notify("STOPPING=1");
    atomic_store(&grace_deadline_ns, iob_clock_now_ns() + grace_ms * IOB_NS_PER_MS);
    raise_fd(drain_fd);
    return IOB_STOP_DRAIN;
}

bool iob_stop_draining(void)
{
    return atomic_load(&grace_deadline_ns) != 0;
}

int iob_stop_drain_fd(void)
{
    return drain_fd;
}

int iob_stop_now_fd(void)
{
    return now_fd;
}

uint64_t iob_stop_grace_deadline_ns(void)
{
    return atomic_load(&grace_deadline_ns);
}

void iob_stop_grace_expired(void)
{
    iob_log(IOB_LOG_WARN, "shutdown grace expired: closing %zu connections", iob_accept_open());
    raise_fd(now_fd); /* every loop and thread that follows it stops now */
}

int iob_stop_wait_drained(void)
{
    uint64_t deadline = iob_stop_grace_deadline_ns();
    while (iob_accept_open() > 0) {
        int wait_ms = iob_fd_poll_ms(deadline);
        if (wait_ms == 0) {
            iob_stop_grace_expired();
            return 0;
        }
        struct pollfd p = {.fd = signal_fd, .events = POLLIN};
        if (poll(&p, 1, wait_ms < DRAIN_POLL_MS ? wait_ms : DRAIN_POLL_MS) > 0 &&
            iob_stop_take() == IOB_STOP_NOW)
            return -EINTR;
    }
    return 0;
}
