/* The error log (levels, one line per event) and the access log (Common Log Format plus the
 * duration). Every line is one write(2), so threads never interleave. Any thread may log;
 * open/reopen/close run on the main (or loop) thread. */
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

bool iob_log_access_enabled(void);
/* One access line: peer - - [time] "METHOD target HTTP/1.x" status bytes duration_ms.
 * target is not NUL-terminated. */
void iob_log_access(const char *peer, const char *method, const char *target, size_t target_len,
                    int http_minor, int status, size_t body_bytes, uint64_t duration_ns);
