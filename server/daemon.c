/* --daemon: the double fork with a ready pipe back to the foreground process, and the pid file
 * (flock'd while it is checked and written, so two starts cannot both win). Main thread, before
 * the engine starts; knows nothing of HTTP or engines. */
#include "server/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/base/strnum.h"

/* Write end of the ready pipe in the daemon; -1 when not detached or already reported. */
static int ready_fd = -1;

/* Exit code the foreground parent uses when the daemon dies without reporting. */
#define DAEMON_DIED_CODE 1

/* The foreground process: waits for the daemon's one-byte report and exits with it. Reading
 * EOF means every write end is closed, i.e. the daemon died before iob_daemon_ready(). */
static void wait_for_ready(int fd, pid_t child)
{
    unsigned char code = DAEMON_DIED_CODE;
    ssize_t n;
    do {
        n = read(fd, &code, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        code = DAEMON_DIED_CODE;
    /* The intermediate child exits right after its fork; reap it so it is no zombie. */
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
        ;
    /* _exit: stdio was flushed before the fork, and atexit work belongs to the daemon. */
    _exit(code);
}

int iob_daemon_detach(char *err, size_t errlen)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        int rc = -errno;
        snprintf(err, errlen, "daemon: pipe: %s", strerror(-rc));
        return rc;
    }
    /* Anything still buffered would otherwise be written once per process. */
    fflush(NULL);

    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        snprintf(err, errlen, "daemon: fork: %s", strerror(-rc));
        close(pipefd[0]);
        close(pipefd[1]);
        return rc;
    }
    if (pid > 0) {
        close(pipefd[1]);
        wait_for_ready(pipefd[0], pid);
    }

    /* First child: a new session drops the controlling terminal; the second fork makes sure the
     * daemon, not being a session leader, can never acquire one again. */
    close(pipefd[0]);
    if (setsid() < 0)
        _exit(DAEMON_DIED_CODE);
    pid = fork();
    if (pid < 0)
        _exit(DAEMON_DIED_CODE);
    if (pid > 0)
        _exit(0);

    /* The daemon. stdin and stdout go to /dev/null now; stderr stays until iob_daemon_ready() so
     * start-up errors and the start-up line still reach whoever ran us. */
    if (chdir("/") < 0)
        _exit(DAEMON_DIED_CODE);
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0)
        _exit(DAEMON_DIED_CODE);
    close(null_fd);
    ready_fd = pipefd[1];
    return 0;
}

void iob_daemon_ready(int code)
{
    if (ready_fd < 0)
        return;
    unsigned char byte = (unsigned char)code;
    ssize_t n;
    do {
        n = write(ready_fd, &byte, 1);
    } while (n < 0 && errno == EINTR);
    close(ready_fd);
    ready_fd = -1;
    /* The parent is gone now: a terminal or a $(...) capture must not stay open through us. */
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, STDERR_FILENO);
        close(null_fd);
    }
}

/* Reads the pid a pid file names: decimal digits, optionally followed by one newline. Returns
 * the pid, or 0 when the file is empty or malformed. */
static pid_t read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    if (n <= 0 || (size_t)n == sizeof buf)
        return 0;
    size_t len = (size_t)n;
    if (buf[len - 1] == '\n')
        len--;
    uint64_t pid;
    if (iob_strnum_u64(buf, len, INT32_MAX, &pid) < 0 || pid == 0)
        return 0;
    return (pid_t)pid;
}

/* EPERM means the process exists but belongs to another user: it is alive all the same. */
static int is_alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* Replaces the file's contents with our pid. Returns 0 or a negative errno. */
static int write_pid(int fd)
{
    char text[24];
    int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0)
        return -errno;
    ssize_t n = pwrite(fd, text, (size_t)len, 0);
    if (n < 0)
        return -errno;
    return n == len ? 0 : -EIO;
}

int iob_daemon_pidfile_write(const char *path, char *err, size_t errlen)
{
    int rc;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "pid file %s: %s", path, strerror(-rc));
        return rc;
    }
    if (flock(fd, LOCK_EX) < 0) {
        rc = -errno;
        snprintf(err, errlen, "pid file %s: lock: %s", path, strerror(-rc));
        goto fail;
    }
    pid_t owner = read_pid(fd);
    if (owner > 0 && owner != getpid() && is_alive(owner)) {
        rc = -EEXIST;
        snprintf(err, errlen,
                 "pid file %s names running process %ld; stop it first, or remove the file if "
                 "that process is not iobound",
                 path, (long)owner);
        goto fail;
    }
    rc = write_pid(fd);
    if (rc < 0) {
        snprintf(err, errlen, "pid file %s: write: %s", path, strerror(-rc));
        goto fail;
    }
    close(fd); /* releases the lock */
    return 0;
fail:
    close(fd);
    return rc;
}

void iob_daemon_pidfile_remove(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    /* Another instance may have replaced a file it judged stale: only remove our own. */
    if (read_pid(fd) == getpid())
        unlink(path);
    close(fd);
}
