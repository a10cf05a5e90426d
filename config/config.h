/* The configuration as plain data: one nested struct per INI section, every key with a default
 * (config/schema.c is the one table of keys, types, bounds and help). Built once on the main
 * thread before any other starts, then read-only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/base/log.h"

#define IOB_CONFIG_STR_MAX 512

struct iob_config {
    struct {
        int mode; /* an index into the names given to iob_config_set_modes() */
        char listen[IOB_CONFIG_STR_MAX]; /* HOST:PORT, [IPv6]:PORT, unix:PATH, comma-separated */
        uint32_t backlog;
        uint32_t max_connections;
    } server;
    struct {
        uint32_t max_header_bytes;
        uint32_t max_body_bytes;
        uint32_t max_sleep_ms;
        uint32_t max_cpu_ms;
        uint32_t max_gather_tasks;
        uint32_t header_timeout_ms;
        uint32_t idle_timeout_ms;
        uint32_t body_timeout_ms;
        uint32_t body_min_rate_bytes; /* per second; 0: no minimum */
        bool allow_faults;
    } limits;
    struct {
        uint32_t stack_size_kb;
    } threaded;
    struct {
        uint32_t workers;
        uint32_t queue;
    } pool;
    struct {
        uint32_t loops; /* 0: one per online CPU */
    } workers;
    struct {
        uint32_t threads; /* 0: one per online CPU */
    } executor;
    struct {
        uint32_t stack_size_kb;
    } fibers;
    struct {
        char access_log[IOB_CONFIG_STR_MAX]; /* "-" stdout, a path, or "off" */
        char error_log[IOB_CONFIG_STR_MAX];  /* "-" stderr or a path */
        enum iob_log_level level;
        enum iob_log_format format;
    } log;
    struct {
        bool daemonize;
        char pid_file[IOB_CONFIG_STR_MAX]; /* "" when unset */
        uint32_t shutdown_grace_ms;
    } process;
};

/* Collected diagnostics: every error (and warning) is kept, one line each, so a bad file is
 * reported whole rather than stopping at the first problem. */
struct iob_diag {
    char text[8192]; /* lines, each ending in '\n'; truncated with "...\n" when full */
    size_t len;
    unsigned errors;
    unsigned warnings;
};

void iob_diag_init(struct iob_diag *d);
/* Appends one line to d->text and counts it as an error (or a warning). */
void iob_diag_error(struct iob_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void iob_diag_warn(struct iob_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fills every key with its default. */
void iob_config_defaults(struct iob_config *cfg);

/* Sets one key from text. origin names where the value came from, as it must appear at the start
 * of an error line: "iobound.ini:3", "IOBOUND_SERVER_MODE", "--set". Returns 0 or -EINVAL with a
 * line in d such as
 *   iobound.ini:3: [server] mode: got "async"; allowed: evented, threaded
 * Unknown sections and keys are errors too. */
int iob_config_set(struct iob_config *cfg, const char *origin, const char *section, const char *key,
                   const char *value, struct iob_diag *d);

/* Returns 0 when section names a section of the key table, or -EINVAL with a line in d such as
 *   iobound.ini:7: [sever]: unknown section; allowed: server, limits, threaded, log, process
 * so a file can name a bad section once, at its header, rather than at each of its keys. */
int iob_config_check_section(const char *origin, const char *section, struct iob_diag *d);

/* Loads an INI file over cfg (config/load.c). Returns 0, or -EINVAL when any line was bad (all
 * are reported in d), or a negative errno when the file cannot be read (named in d). */
int iob_config_load_file(struct iob_config *cfg, const char *path, struct iob_diag *d);

/* Applies every IOBOUND_<SECTION>_<KEY> variable of envp (config/overlay.c); an IOBOUND_ variable
 * that names no key is an error. Returns 0 or -EINVAL. */
int iob_config_overlay_env(struct iob_config *cfg, char *const *envp, struct iob_diag *d);
/* Applies one --set SECTION.KEY=VALUE. Returns 0 or -EINVAL. */
int iob_config_overlay_set(struct iob_config *cfg, const char *assignment, struct iob_diag *d);

/* Checks rules between keys (daemonize needs pid_file and file logs; shutdown_grace_ms below
 * max_sleep_ms warns). Returns 0 or -EINVAL. */
int iob_config_validate(const struct iob_config *cfg, struct iob_diag *d);

/* Writes the effective configuration as a valid INI file, every key, for --check-config. */
void iob_config_dump(const struct iob_config *cfg, int fd);

/* The models server.mode accepts, in order, the first the default: the engine table's names.
 * main.c (and a test) calls it once, before any other iob_config_ function; names must outlive
 * every use. */
void iob_config_set_modes(const char *const *names, size_t n);
/* The name of mode index mode, or NULL past the end. */
const char *iob_mode_name(int mode);
