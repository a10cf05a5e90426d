/* The error log (levels, one line per event) and the access log (Common Log Format plus the
 * duration, or JSON lines). Every line is one write(2), so threads never interleave. Any thread may
 * log; open/reopen/close run on the main (or loop) thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum iob_log_level {
    IOB_LOG_ERROR,
    IOB_LOG_WARN,
    IOB_LOG_INFO,
    IOB_LOG_DEBUG,
};

/* Opens both logs. A path of "-" means stderr for the error log and stdout for the access log;
 * "off" disables the access log. Returns 0 or a negative errno (the failing file is named in
 * err). May be called again to switch paths. */
int iob_log_open(const char *error_path, const char *access_path, enum iob_log_level level,
                 char *err, size_t errlen);
/* Reopens the files by their paths (logrotate moved them). Returns 0 or a negative errno;
 * on failure the old descriptors stay in use. */
int iob_log_reopen(void);
/* Closes the files; logging afterwards goes to stderr. */
void iob_log_close(void);
/* Parses "error|warn|info|debug". Returns 0 or -EINVAL. */
int iob_log_level_parse(const char *s, enum iob_log_level *out);
const char *iob_log_level_name(enum iob_log_level level);

/* Logs one line at the level, prefixed with the time and the level, when level is enabled. */
void iob_log(enum iob_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs at most once per second per call site: pass the site's own state (zero-initialised). */
void iob_log_ratelimited(uint64_t *last_ns, enum iob_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* How access lines are written: Common Log Format plus the duration (the default), or one JSON
 * object a line that log shippers (Loki, Vector, Elasticsearch) read without a parsing rule. */
enum iob_log_format {
    IOB_LOG_FORMAT_CLF,
    IOB_LOG_FORMAT_JSON,
};
#define IOB_LOG_FORMAT_COUNT 2
const char *iob_log_format_name(enum iob_log_format format);
/* Chooses the access-line format; before the first request (main thread). */
void iob_log_set_format(enum iob_log_format format);

/* One answered request, as the access log sees it. No string needs a NUL but peer, method,
 * route and mode; user_agent is NULL when the request had none. */
struct iob_access {
    const char *peer; /* "203.0.113.7:5555", "[::1]:5555", or any other text (no port) */
    const char *method;
    const char *target; /* the raw request target, path and query */
    size_t target_len;
    int http_minor;
    int status;
    size_t body_bytes;
    uint64_t duration_ns;
    const char *route; /* the metrics label: "sleep", ..., "other" */
    const char *mode;  /* "evented" | "threaded" */
    const char *user_agent;
    size_t user_agent_len;
};

bool iob_log_access_enabled(void);
/* Writes one access line in the chosen format, cut to fit one write(2) (the tail with status,
 * bytes and duration is never cut):
 *   clf:  peer - - [time] "METHOD target HTTP/1.x" status bytes duration_ms
 *   json: {"ts":"<RFC 3339>","remote":"<host>","remote_port":N|null,"method":..,"path":..,
 *          "query":..|null,"status":N,"bytes":N,"duration_ms":N.NNN,"route":..,"mode":..,
 *          "user_agent":..|null}
 * Any thread. */
void iob_log_access(const struct iob_access *a);
