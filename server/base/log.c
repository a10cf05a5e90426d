/* The error and access logs: where they go, their line formats, and reopening for logrotate.
 * Every line is formatted into a stack buffer and written with one write(2), so lines from
 * different threads never interleave. Knows nothing of HTTP beyond the access line's fields. */
#include "server/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/base/clock.h"

/* Longer lines are cut: a line stays one write(2) and a client cannot make us allocate. */
#define LINE_MAX_BYTES 4096
#define TRUNC_MARK     "...\n"

/* One log destination. fd is -1 when off; is_owned says whether we opened it (a path) or it is
 * stdout/stderr. The fd number never changes while threads run: open happens before they start
 * and reopen dup2()s the new file over the old number, so a writer never sees a closed fd. */
struct sink {
    _Atomic int fd;
    bool is_owned;
    char path[PATH_MAX];
};

static struct sink error_sink = {.fd = STDERR_FILENO};
static struct sink access_sink = {.fd = -1};
static _Atomic int log_level = IOB_LOG_INFO;

static const char *const level_names[] = {
    [IOB_LOG_ERROR] = "error",
    [IOB_LOG_WARN] = "warn",
    [IOB_LOG_INFO] = "info",
    [IOB_LOG_DEBUG] = "debug",
};

int iob_log_level_parse(const char *s, enum iob_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum iob_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *iob_log_level_name(enum iob_log_level level)
{
    if ((size_t)level >= sizeof level_names / sizeof level_names[0])
        return "?";
    return level_names[level];
}

/* Writes the whole line; a short write (a full pipe) is finished rather than dropped. Errors are
 * ignored: there is nowhere left to report a failing log. */
static void write_line(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Opens path for appending, or picks the standard stream for "-". Sets *fd to -1 for "off"
 * when allow_off. */
static int open_sink(const char *what, const char *path, int std_fd, bool allow_off, int *fd,
                     bool *is_owned, char *err, size_t errlen)
{
    *is_owned = false;
    if (strcmp(path, "-") == 0) {
        *fd = std_fd;
        return 0;
    }
    if (allow_off && strcmp(path, "off") == 0) {
        *fd = -1;
        return 0;
    }
    if (strlen(path) >= PATH_MAX) {
        snprintf(err, errlen, "%s %s: path longer than %d bytes", what, path, PATH_MAX - 1);
        return -ENAMETOOLONG;
    }
    *fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) {
        int rc = -errno;
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(-rc));
        return rc;
    }
    *is_owned = true;
    return 0;
}

/* Switches sink to fd, which it then owns. A file replacing a file keeps the old fd number
 * (dup2), so threads still logging stay valid; otherwise the number changes, which only happens
 * before threads start. On failure the caller still owns fd. */
static int install_sink(struct sink *s, int fd, bool is_owned, const char *what, const char *path,
                        char *err, size_t errlen)
{
    int old = atomic_load_explicit(&s->fd, memory_order_relaxed);
    if (s->is_owned && is_owned) {
        if (dup2(fd, old) < 0) {
            int rc = -errno;
            snprintf(err, errlen, "%s %s: %s", what, path, strerror(-rc));
            return rc;
        }
        close(fd);
    } else {
        atomic_store_explicit(&s->fd, fd, memory_order_relaxed);
        if (s->is_owned)
            close(old);
    }
    s->is_owned = is_owned;
    if (!is_owned)
        s->path[0] = '\0';
    else if (path != s->path) /* reopen passes the sink's own path */
        snprintf(s->path, sizeof s->path, "%s", path);
    return 0;
}

int iob_log_open(const char *error_path, const char *access_path, enum iob_log_level level,
                 char *err, size_t errlen)
{
    int efd = -1, afd = -1;
    bool e_owned = false, a_owned = false;
    int rc = open_sink("error log", error_path, STDERR_FILENO, false, &efd, &e_owned, err, errlen);
    if (rc < 0)
        goto fail;
    rc = open_sink("access log", access_path, STDOUT_FILENO, true, &afd, &a_owned, err, errlen);
    if (rc < 0)
        goto fail;
    rc = install_sink(&error_sink, efd, e_owned, "error log", error_path, err, errlen);
    if (rc < 0)
        goto fail;
    e_owned = false; /* the sink holds it now */
    rc = install_sink(&access_sink, afd, a_owned, "access log", access_path, err, errlen);
    if (rc < 0)
        goto fail;
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
    return 0;
fail:
    if (a_owned)
        close(afd);
    if (e_owned)
        close(efd);
    return rc;
}

/* Opens the sink's path anew and puts it under the old fd number. No-op for stdio and off. */
static int reopen_sink(struct sink *s)
{
    if (!s->is_owned)
        return 0;
    int fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = install_sink(s, fd, true, "", s->path, NULL, 0);
    if (rc < 0)
        close(fd);
    return rc;
}

int iob_log_reopen(void)
{
    int rc = reopen_sink(&error_sink);
    int rc_access = reopen_sink(&access_sink);
    return rc < 0 ? rc : rc_access;
}

static void close_sink(struct sink *s, int fallback_fd)
{
    int old = atomic_exchange_explicit(&s->fd, fallback_fd, memory_order_relaxed);
    if (s->is_owned)
        close(old);
    s->is_owned = false;
    s->path[0] = '\0';
}

void iob_log_close(void)
{
    close_sink(&error_sink, STDERR_FILENO);
    close_sink(&access_sink, -1);
}

bool iob_log_access_enabled(void)
{
    return atomic_load_explicit(&access_sink.fd, memory_order_relaxed) >= 0;
}

static bool level_enabled(enum iob_log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

/* Formats "2026-11-25T17:20:01.123Z " into out (at least 32 bytes); returns its length. */
static size_t format_iso_time(char *out, size_t outlen)
{
    uint64_t ns = iob_clock_wall_ns();
    time_t sec = (time_t)(ns / IOB_NS_PER_SEC);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    int m =
        snprintf(out + n, outlen - n, ".%03uZ ", (unsigned)(ns % IOB_NS_PER_SEC / IOB_NS_PER_MS));
    return n + (size_t)m;
}

__attribute__((format(printf, 2, 0))) static void vlog(enum iob_log_level level, const char *fmt,
                                                       va_list ap)
{
    char line[LINE_MAX_BYTES];
    size_t n = format_iso_time(line, sizeof line);
    n += (size_t)snprintf(line + n, sizeof line - n, "%s ", iob_log_level_name(level));
    size_t start = n;
    /* Leave room for the newline. */
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    if ((size_t)m >= sizeof line - n - 1) {
        n = sizeof line - sizeof TRUNC_MARK;
        memcpy(line + n, TRUNC_MARK, sizeof TRUNC_MARK - 1);
        n += sizeof TRUNC_MARK - 1;
    } else {
        n += (size_t)m;
        line[n++] = '\n';
    }
    /* Messages may carry client bytes: one event stays one line. */
    for (size_t i = start; i + 1 < n; i++) {
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            line[i] = ' ';
    }
    write_line(atomic_load_explicit(&error_sink.fd, memory_order_relaxed), line, n);
}

void iob_log(enum iob_log_level level, const char *fmt, ...)
{
    if (!level_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void iob_log_ratelimited(uint64_t *last_ns, enum iob_log_level level, const char *fmt, ...)
{
    if (!level_enabled(level))
        return;
    uint64_t now = iob_clock_now_ns();
    uint64_t prev = __atomic_load_n(last_ns, __ATOMIC_RELAXED);
    if (prev != 0 && now - prev < IOB_NS_PER_SEC)
        return;
    /* Several threads may hit the same site at once: only the one that moves the stamp logs. */
    if (!__atomic_compare_exchange_n(last_ns, &prev, now, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

/* Appends the request target, escaping '"', '\\' and non-printable bytes as \xHH (as nginx
 * does) so a target can neither end the quoted field nor the line. Stops before a byte's
 * escape would not fit in room; returns the bytes written. */
static size_t append_escaped(char *out, size_t room, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
            if (n + 4 > room)
                break;
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 0xf];
        } else {
            if (n + 1 > room)
                break;
            out[n++] = (char)c;
        }
    }
    return n;
}

void iob_log_access(const char *peer, const char *method, const char *target, size_t target_len,
                    int http_minor, int status, size_t body_bytes, uint64_t duration_ns)
{
    int fd = atomic_load_explicit(&access_sink.fd, memory_order_relaxed);
    if (fd < 0)
        return;
    char clf[IOB_CLF_TIME_LEN + 1];
    iob_clock_clf_time(clf);
    uint64_t us = duration_ns / 1000;
    /* The tail is formatted first so a long target is cut, never the status or duration. */
    char tail[96];
    int tail_len =
        snprintf(tail, sizeof tail, " HTTP/1.%d\" %d %zu %llu.%03llu\n", http_minor, status,
                 body_bytes, (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
    char line[LINE_MAX_BYTES];
    int head_len =
        snprintf(line, sizeof line - (size_t)tail_len, "%s - - [%s] \"%s ", peer, clf, method);
    size_t n = (size_t)head_len;
    if (n >= sizeof line - (size_t)tail_len)
        n = sizeof line - (size_t)tail_len - 1;
    n += append_escaped(line + n, sizeof line - (size_t)tail_len - n, target, target_len);
    memcpy(line + n, tail, (size_t)tail_len);
    write_line(fd, line, n + (size_t)tail_len);
}
