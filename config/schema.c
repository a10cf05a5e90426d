/* The key table and the typed setters every source of configuration goes through (defaults,
 * file, environment, flags), plus the diagnostics they report into and the checks between keys.
 * Knows nothing of where a value came from beyond the origin text. Main thread. */
#include "config/schema.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "server/base/addr.h"
#include "server/base/log.h"
#include "server/base/strnum.h"

/* Enum keys are stored through an int; the level enum must be int-sized for that. */
_Static_assert(sizeof(enum iob_log_level) == sizeof(int), "enum iob_log_level is stored as an int");
_Static_assert(sizeof(enum iob_log_format) == sizeof(int),
               "enum iob_log_format is stored as an int");

/* The engine table's names; config never lists the models itself. */
static const char *const *mode_names;
static size_t n_mode_names;

void iob_config_set_modes(const char *const *names, size_t n)
{
    mode_names = names;
    n_mode_names = n;
}

const char *iob_mode_name(int mode)
{
    return mode >= 0 && (size_t)mode < n_mode_names ? mode_names[mode] : NULL;
}

static int mode_count(void)
{
    return (int)n_mode_names;
}

static int level_count(void)
{
    return IOB_LOG_DEBUG + 1;
}

/* The level names live in log.c, so the parser of a log line and of a config value agree. */
static const char *level_name(int value)
{
    return iob_log_level_name((enum iob_log_level)value);
}

static int format_count(void)
{
    return IOB_LOG_FORMAT_COUNT;
}

static const char *format_name(int value)
{
    return iob_log_format_name((enum iob_log_format)value);
}

/* Names the section and the field together, so a key's text and its struct member cannot drift. */
#define AT(sec, key) .section = #sec, .name = #key, .offset = offsetof(struct iob_config, sec.key)

/* Bounds: each floor is the least that still works, each ceiling the most that is still a sane
 * single-host setting; uint32_t holds them all. */
static const struct iob_key keys[] = {
    {AT(server, mode), IOB_KEY_ENUM, NULL, .enum_name = iob_mode_name, .enum_count = mode_count,
     .help = "the concurrency model; iobound --list-modes shows each"},
    {AT(server, listen), IOB_KEY_LISTEN, "127.0.0.1:8080",
     .help = "HOST:PORT, [IPv6]:PORT or unix:PATH, or a comma-separated list of them; port 0 "
             "binds an ephemeral port"},
    {AT(server, backlog), IOB_KEY_UINT, "1024", 1, 65535,
     .help = "connections waiting to be accepted"},
    {AT(server, max_connections), IOB_KEY_UINT, "10000", 1, 1000000,
     .help = "beyond it: 503 + Retry-After, then close"},

    {AT(limits, max_header_bytes), IOB_KEY_UINT, "8192", 256, 1048576,
     .help = "request line + headers; beyond: 431 (URI alone: 414)"},
    {AT(limits, max_body_bytes), IOB_KEY_UINT, "1048576", 0, 1073741824, .help = "beyond: 413"},
    {AT(limits, max_sleep_ms), IOB_KEY_UINT, "30000", 0, 3600000,
     .help = "also the longest single wait in /gather"},
    {AT(limits, max_cpu_ms), IOB_KEY_UINT, "10000", 0, 600000, .help = "longest /cpu burn"},
    {AT(limits, max_gather_tasks), IOB_KEY_UINT, "64", 1, 1024, .help = "waits in one /gather"},
    {AT(limits, header_timeout_ms), IOB_KEY_UINT, "10000", 1, 3600000,
     .help = "headers not complete in time: 408, close"},
    {AT(limits, idle_timeout_ms), IOB_KEY_UINT, "5000", 1, 3600000,
     .help = "keep-alive idle: close; body stalled this long: 408, close"},
    /* A 1 MiB body (the default max_body_bytes) at the minimum rate needs 17 minutes, so the
     * total deadline is what bounds it; 60 s is nginx's client_body_timeout and passes 1 MiB
     * at 18 KB/s. 1024 B/s is Apache mod_reqtimeout's MinRate order (500): a slow-POST attack
     * sends a few bytes a second, a real upload thousands. */
    {AT(limits, body_timeout_ms), IOB_KEY_UINT, "60000", 1, 3600000,
     .help = "whole body within this of the headers' end: 408, close"},
    {AT(limits, body_min_rate_bytes), IOB_KEY_UINT, "1024", 0, 1073741824,
     .help = "bytes/s; a body idle_timeout_ms behind it: 408, close; 0 off"},
    {AT(limits, allow_faults), IOB_KEY_BOOL, "true",
     .help = "/fault may misbehave on purpose (RST, hang, lies); false: 403"},

    /* PTHREAD_STACK_MIN is 16 KiB, but libc calls in a handler need more; 64 KiB is safe. */
    {AT(threaded, stack_size_kb), IOB_KEY_UINT, "256", 64, 65536,
     .help = "per connection and gather thread"},

    {AT(pool, workers), IOB_KEY_UINT, "8", 1, 4096,
     .help = "threads, each serving one request at a time"},
    {AT(pool, queue), IOB_KEY_UINT, "1024", 1, 1000000,
     .help = "connections with a request waiting for a worker; beyond: 503 to new ones"},

    {AT(workers, loops), IOB_KEY_UINT, "0", 0, 1024,
     .help = "event loops, one SO_REUSEPORT socket each; 0: one per online CPU"},

    {AT(executor, threads), IOB_KEY_UINT, "0", 0, 1024,
     .help = "threads that run the CPU steps; 0: one per online CPU"},

    /* The deepest request path over every integration suite used 24.6 KiB of a fiber's stack
     * (27.8 KiB under ASan: sanitizer builds keep the default), 16 of them the blocking
     * driver's read buffer; only the pages touched are resident, so 64 costs no more memory. */
    {AT(fibers, stack_size_kb), IOB_KEY_UINT, "64", 32, 65536,
     .help = "per connection and gather fiber; an overflow aborts, naming this key"},

    {AT(log, access_log), IOB_KEY_STRING, "-", 1,
     .help = "- (stdout) | path | off; Common Log Format + duration"},
    {AT(log, error_log), IOB_KEY_STRING, "-", 1, .help = "- (stderr) | path"},
    {AT(log, level), IOB_KEY_ENUM, "info", .enum_name = level_name, .enum_count = level_count,
     .help = "least severe level logged"},
    {AT(log, format), IOB_KEY_ENUM, "clf", .enum_name = format_name, .enum_count = format_count,
     .help = "access lines: Common Log Format + duration, or one JSON object a line"},

    {AT(process, daemonize), IOB_KEY_BOOL, "false",
     .help = "detach; needs pid_file and both logs in files"},
    {AT(process, pid_file), IOB_KEY_STRING, "", 0, .help = "required when daemonize = true"},
    {AT(process, shutdown_grace_ms), IOB_KEY_UINT, "30000", 0, 3600000,
     .help = "drain at SIGTERM; >= max_sleep_ms, or a warning"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* Config text (paths, the address) stays short enough that "key = value" fits one inih line. */
#define TEXT_MAX_BYTES 180
_Static_assert(TEXT_MAX_BYTES < IOB_CONFIG_STR_MAX, "config strings are char[IOB_CONFIG_STR_MAX]");

const struct iob_key *iob_schema_keys(size_t *n)
{
    *n = NKEYS;
    return keys;
}

static const struct {
    const char *name;
    bool value;
} bool_names[] = {
    {"true", true}, {"false", false}, {"yes", true}, {"no", false},
    {"on", true},   {"off", false},   {"1", true},   {"0", false},
};

/* Appends to out[0..outlen) at *pos, keeping it NUL-terminated and never overrunning. */
static void append(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
{
    if (*pos >= outlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *pos, outlen - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n < outlen - *pos ? (size_t)n : outlen - *pos - 1;
}

void iob_schema_allowed(const struct iob_key *k, char *out, size_t outlen)
{
    size_t pos = 0;
    out[0] = '\0';
    switch (k->type) {
    case IOB_KEY_UINT:
        append(out, outlen, &pos, "integer %u..%u", k->min, k->max);
        break;
    case IOB_KEY_ENUM:
        for (int i = 0; i < k->enum_count(); i++)
            append(out, outlen, &pos, "%s%s", i ? ", " : "", k->enum_name(i));
        break;
    case IOB_KEY_BOOL:
        for (size_t i = 0; i < sizeof bool_names / sizeof bool_names[0]; i++)
            append(out, outlen, &pos, "%s%s", i ? ", " : "", bool_names[i].name);
        break;
    case IOB_KEY_STRING:
        append(out, outlen, &pos,
               "text of %u..%d bytes, without ';', control characters or surrounding blanks",
               k->min, TEXT_MAX_BYTES);
        break;
    case IOB_KEY_LISTEN:
        append(out, outlen, &pos,
               "IPv4:PORT, localhost:PORT, [IPv6]:PORT (numeric, port 0..65535) or unix:PATH "
               "(PATH 1..107 bytes), or a comma-separated list of at most %d of them",
               IOB_ADDR_LIST_MAX);
        break;
    }
}

void iob_schema_format(const struct iob_config *cfg, const struct iob_key *k, char *out,
                       size_t outlen)
{
    const char *field = (const char *)cfg + k->offset;
    uint32_t u;
    int e;
    bool b;
    switch (k->type) {
    case IOB_KEY_UINT:
        memcpy(&u, field, sizeof u);
        snprintf(out, outlen, "%u", u);
        break;
    case IOB_KEY_ENUM:
        memcpy(&e, field, sizeof e);
        snprintf(out, outlen, "%s", k->enum_name(e));
        break;
    case IOB_KEY_BOOL:
        memcpy(&b, field, sizeof b);
        snprintf(out, outlen, "%s", b ? "true" : "false");
        break;
    case IOB_KEY_STRING:
    case IOB_KEY_LISTEN:
        snprintf(out, outlen, "%s", field);
        break;
    }
}

/* Strings must survive a round trip through an INI file (--check-config output re-loads to the
 * same configuration): inih strips surrounding blanks, cuts at " ;" and reads lines of at most
 * 200 bytes, so "key = value" must fit in that (TEXT_MAX_BYTES). */
static bool is_ini_text(const char *s, size_t min)
{
    size_t len = strlen(s);
    if (len < min || len > TEXT_MAX_BYTES)
        return false;
    if (len > 0 && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1])))
        return false;
    for (const char *p = s; *p; p++)
        if (iscntrl((unsigned char)*p) || *p == ';')
            return false;
    return true;
}

/* The same parsers listen.c binds with, so a bad address fails at load time with file:line. */
static bool is_listen(const char *s)
{
    char items[IOB_ADDR_LIST_MAX][IOB_ADDR_TEXT_MAX];
    int n = is_ini_text(s, 1) ? iob_addr_split(s, items, IOB_ADDR_LIST_MAX) : -EINVAL;
    for (int i = 0; i < n; i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (iob_addr_parse(items[i], &ss, &len) < 0)
            return false;
    }
    return n > 0;
}

/* Parses value for k into cfg. Returns 0 or -EINVAL, leaving cfg unchanged on error. */
static int store(struct iob_config *cfg, const struct iob_key *k, const char *value)
{
    char *field = (char *)cfg + k->offset;
    switch (k->type) {
    case IOB_KEY_UINT: {
        uint64_t v;
        if (iob_strnum_u64(value, strlen(value), k->max, &v) != 0 || v < k->min)
            return -EINVAL;
        uint32_t u = (uint32_t)v;
        memcpy(field, &u, sizeof u);
        return 0;
    }
    case IOB_KEY_ENUM:
        for (int i = 0; i < k->enum_count(); i++) {
            if (strcmp(value, k->enum_name(i)) == 0) {
                memcpy(field, &i, sizeof i);
                return 0;
            }
        }
        return -EINVAL;
    case IOB_KEY_BOOL:
        for (size_t i = 0; i < sizeof bool_names / sizeof bool_names[0]; i++) {
            if (strcmp(value, bool_names[i].name) == 0) {
                memcpy(field, &bool_names[i].value, sizeof(bool));
                return 0;
            }
        }
        return -EINVAL;
    case IOB_KEY_STRING:
    case IOB_KEY_LISTEN:
        if (k->type == IOB_KEY_LISTEN ? !is_listen(value) : !is_ini_text(value, k->min))
            return -EINVAL;
        /* Zero the tail so two configs with the same values compare equal byte for byte. */
        memset(field, 0, IOB_CONFIG_STR_MAX);
        memcpy(field, value, strlen(value));
        return 0;
    }
    return -EINVAL;
}

const char *iob_schema_default(const struct iob_key *k)
{
    return k->def ? k->def : k->enum_name(0);
}

void iob_config_defaults(struct iob_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NKEYS; i++) {
        int rc = store(cfg, &keys[i], iob_schema_default(&keys[i]));
        assert(rc == 0 && "a default in the key table is outside its own bounds");
        (void)rc;
    }
}

void iob_schema_quote(const char *value, size_t len, char *out, size_t outlen)
{
    size_t i = 0;
    for (; i < len && i + 4 < outlen; i++)
        out[i] = iscntrl((unsigned char)value[i]) ? '?' : value[i];
    if (i < len)
        memcpy(out + i - 3, "...", 3);
    out[i] = '\0';
}

int iob_config_check_section(const char *origin, const char *section, struct iob_diag *d)
{
    char list[256];
    size_t pos = 0;
    list[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) == 0)
            return 0;
        if (i == 0 || strcmp(keys[i].section, keys[i - 1].section) != 0)
            append(list, sizeof list, &pos, "%s%s", pos ? ", " : "", keys[i].section);
    }
    iob_diag_error(d, "%s: [%s]: unknown section; allowed: %s", origin, section, list);
    return -EINVAL;
}

int iob_config_set(struct iob_config *cfg, const char *origin, const char *section, const char *key,
                   const char *value, struct iob_diag *d)
{
    if (iob_config_check_section(origin, section, d) < 0)
        return -EINVAL;
    char list[256];
    size_t pos = 0;
    list[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        if (strcmp(keys[i].name, key) != 0) {
            append(list, sizeof list, &pos, "%s%s", pos ? ", " : "", keys[i].name);
            continue;
        }
        if (store(cfg, &keys[i], value) == 0)
            return 0;
        char got[128], allowed[256];
        iob_schema_quote(value, strlen(value), got, sizeof got);
        iob_schema_allowed(&keys[i], allowed, sizeof allowed);
        iob_diag_error(d, "%s: [%s] %s: got \"%s\"; allowed: %s", origin, section, key, got,
                       allowed);
        return -EINVAL;
    }
    iob_diag_error(d, "%s: [%s] %s: unknown key; allowed: %s", origin, section, key, list);
    return -EINVAL;
}

/* A daemon has no terminal ("-" would log into /dev/null) and runs in "/" (a relative path
 * would name another file after the detach). */
static void need_daemon_path(struct iob_diag *d, const char *key, const char *value, bool off_ok)
{
    if (value[0] == '/' || (off_ok && strcmp(value, "off") == 0))
        return;
    iob_diag_error(d, "%s: got \"%s\"; allowed: an absolute path%s when [process] daemonize = true",
                   key, value, off_ok ? " or off" : "");
}

int iob_config_validate(const struct iob_config *cfg, struct iob_diag *d)
{
    unsigned errors = d->errors;
    if (cfg->process.daemonize) {
        need_daemon_path(d, "[process] pid_file", cfg->process.pid_file, false);
        need_daemon_path(d, "[log] access_log", cfg->log.access_log, true);
        need_daemon_path(d, "[log] error_log", cfg->log.error_log, false);
    }
    if (cfg->process.shutdown_grace_ms < cfg->limits.max_sleep_ms)
        iob_diag_warn(d,
                      "[process] shutdown_grace_ms: %u is below [limits] max_sleep_ms %u; a "
                      "sleeping request may be cut off at shutdown",
                      cfg->process.shutdown_grace_ms, cfg->limits.max_sleep_ms);
    return d->errors == errors ? 0 : -EINVAL;
}

void iob_diag_init(struct iob_diag *d)
{
    d->text[0] = '\0';
    d->len = 0;
    d->errors = 0;
    d->warnings = 0;
}

/* Room for the truncation mark is always kept, so a full buffer still says it is incomplete. */
static void diag_add(struct iob_diag *d, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void diag_add(struct iob_diag *d, const char *fmt, va_list ap)
{
    static const char more[] = "...\n";
    char line[1024];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (d->len + len + 1 + sizeof more <= sizeof d->text) {
        memcpy(d->text + d->len, line, len);
        d->len += len;
        d->text[d->len++] = '\n';
    } else if (d->len < strlen(more) || strcmp(d->text + d->len - strlen(more), more) != 0) {
        memcpy(d->text + d->len, more, sizeof more);
        d->len += strlen(more);
    }
    d->text[d->len] = '\0';
}

void iob_diag_error(struct iob_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(d, fmt, ap);
    va_end(ap);
    d->errors++;
}

void iob_diag_warn(struct iob_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(d, fmt, ap);
    va_end(ap);
    d->warnings++;
}
