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
#include "server/base/json.h"

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
static _Atomic int access_format = IOB_LOG_FORMAT_CLF;

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

static const char *const format_names[IOB_LOG_FORMAT_COUNT] = {
    [IOB_LOG_FORMAT_CLF] = "clf",
    [IOB_LOG_FORMAT_JSON] = "json",
};

const char *iob_log_format_name(enum iob_log_format format)
{
    if ((size_t)format >= IOB_LOG_FORMAT_COUNT)
        return "?";
    return format_names[format];
}

void iob_log_set_format(enum iob_log_format format)
{
    atomic_store_explicit(&access_format, (int)format, memory_order_relaxed);
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

/* Formats "2026-11-25T17:20:01.123Z" (RFC 3339, UTC) into out (at least 32 bytes); returns its
 * length. */
static size_t format_iso_time(char *out, size_t outlen)
{
    uint64_t ns = iob_clock_wall_ns();
    time_t sec = (time_t)(ns / IOB_NS_PER_SEC);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    int m =
        snprintf(out + n, outlen - n, ".%03uZ", (unsigned)(ns % IOB_NS_PER_SEC / IOB_NS_PER_MS));
    return n + (size_t)m;
}

__attribute__((format(printf, 2, 0))) static void vlog(enum iob_log_level level, const char *fmt,
                                                       va_list ap)
{
    char line[LINE_MAX_BYTES];
    size_t n = format_iso_time(line, sizeof line);
    n += (size_t)snprintf(line + n, sizeof line - n, " %s ", iob_log_level_name(level));
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

/* Common Log Format plus the duration, into line[0..LINE_MAX_BYTES); returns the length. */
static size_t format_clf(const struct iob_access *a, char *line)
{
    char clf[IOB_CLF_TIME_LEN + 1];
    iob_clock_clf_time(clf);
    uint64_t us = a->duration_ns / 1000;
    /* The tail is formatted first so a long target is cut, never the status or duration. */
    char tail[96];
    int tail_len =
        snprintf(tail, sizeof tail, " HTTP/1.%d\" %d %zu %llu.%03llu\n", a->http_minor, a->status,
                 a->body_bytes, (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
    size_t room = LINE_MAX_BYTES - (size_t)tail_len;
    int head_len = snprintf(line, room, "%s - - [%s] \"%s ", a->peer, clf, a->method);
    size_t n = (size_t)head_len;
    if (n >= room)
        n = room - 1;
    n += append_escaped(line + n, room - n, a->target, a->target_len);
    memcpy(line + n, tail, (size_t)tail_len);
    return n + (size_t)tail_len;
}

/* A JSON line being built in a fixed buffer. Each field has a ceiling (below), so the whole
 * object always fits and is never cut in the middle. */
struct json_line {
    char *p;
    size_t n;
};

/* Ceilings of the escaped strings: the client-sent ones, and ours (peer, method, route, mode).
 * With the keys, the time and the numbers (under 300 bytes) they fit one line. */
#define JSON_PATH_MAX_BYTES  1536
#define JSON_QUERY_MAX_BYTES 1024
#define JSON_UA_MAX_BYTES    512
#define JSON_SHORT_MAX_BYTES 96
_Static_assert(JSON_PATH_MAX_BYTES + JSON_QUERY_MAX_BYTES + JSON_UA_MAX_BYTES +
                       4 * JSON_SHORT_MAX_BYTES + 300 <
                   LINE_MAX_BYTES,
               "a JSON access line always fits its buffer");

__attribute__((format(printf, 2, 3))) static void put(struct json_line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(l->p + l->n, LINE_MAX_BYTES - l->n, fmt, ap);
    va_end(ap);
    if (m > 0)
        l->n += (size_t)m < LINE_MAX_BYTES - l->n ? (size_t)m : LINE_MAX_BYTES - l->n - 1;
}

/* Appends ,"key":"<s escaped, at most max_bytes>" or ,"key":null for s == NULL. */
static void put_string(struct json_line *l, const char *key, const char *s, size_t len,
                       size_t max_bytes)
{
    if (!s) {
        put(l, ",\"%s\":null", key);
        return;
    }
    put(l, ",\"%s\":\"", key);
    l->n += iob_json_escape(l->p + l->n, max_bytes, s, len);
    put(l, "\"");
}

/* The host and the port of peer text "203.0.113.7:5555" or "[::1]:5555". Any other text (a Unix
 * socket's peer) is all host, and *port is NULL. */
static void split_peer(const char *peer, const char **host, size_t *host_len, const char **port)
{
    const char *colon = strrchr(peer, ':');
    size_t digits = colon ? strspn(colon + 1, "0123456789") : 0;
    *host = peer;
    *host_len = strlen(peer);
    *port = NULL;
    if (!colon || digits == 0 || digits > 5 || colon[1 + digits] != '\0')
        return;
    if (peer[0] == '[' && colon > peer + 1 && colon[-1] == ']') {
        *host = peer + 1;
        *host_len = (size_t)(colon - 1 - *host);
    } else if (!memchr(peer, ':', (size_t)(colon - peer))) {
        *host_len = (size_t)(colon - peer);
    } else {
        return;
    }
    *port = colon + 1;
}

/* One JSON object and a newline, into line[0..LINE_MAX_BYTES); returns the length. */
static size_t format_json(const struct iob_access *a, char *line)
{
    struct json_line l = {.p = line};
    char ts[32];
    format_iso_time(ts, sizeof ts);
    put(&l, "{\"ts\":\"%s\"", ts);
    const char *host, *port;
    size_t host_len;
    split_peer(a->peer, &host, &host_len, &port);
    put_string(&l, "remote", host, host_len, JSON_SHORT_MAX_BYTES);
    put(&l, ",\"remote_port\":%s", port ? port : "null");
    put_string(&l, "method", a->method, strlen(a->method), JSON_SHORT_MAX_BYTES);
    const char *q = memchr(a->target, '?', a->target_len);
    size_t path_len = q ? (size_t)(q - a->target) : a->target_len;
    put_string(&l, "path", a->target, path_len, JSON_PATH_MAX_BYTES);
    put_string(&l, "query", q ? q + 1 : NULL, q ? a->target_len - path_len - 1 : 0,
               JSON_QUERY_MAX_BYTES);
    uint64_t us = a->duration_ns / 1000;
    put(&l, ",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%llu.%03llu", a->status, a->body_bytes,
        (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
    put_string(&l, "route", a->route, strlen(a->route), JSON_SHORT_MAX_BYTES);
    put_string(&l, "mode", a->mode, strlen(a->mode), JSON_SHORT_MAX_BYTES);
    put_string(&l, "user_agent", a->user_agent, a->user_agent_len, JSON_UA_MAX_BYTES);
    put(&l, "}\n");
    return l.n;
}

void iob_log_access(const struct iob_access *a)
{
    int fd = atomic_load_explicit(&access_sink.fd, memory_order_relaxed);
    if (fd < 0)
        return;
    char line[LINE_MAX_BYTES];
    size_t n = atomic_load_explicit(&access_format, memory_order_relaxed) == IOB_LOG_FORMAT_JSON
                   ? format_json(a, line)
                   : format_clf(a, line);
    write_line(fd, line, n);
}
