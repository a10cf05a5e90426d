/* Unit tests for config/: the key table's setters (case tables per type), INI loading with line
 * numbers, the environment and --set overlays, cross-key checks, the --check-config dump, and
 * config/iobound.ini kept equal to the table's defaults. An optional argv[1] filters test names
 * (ctest runs the iobound.ini test on its own as unit.config.iobound_ini). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/schema.h"

#define DATA_DIR IOB_SOURCE_DIR "/tests/data"

/* The models as main.c registers them from the engine table (CMake reads their names from
 * server/engine/engines.c into IOB_MODE_NAMES); the config layer lists none. */
static const char *test_modes[IOB_MODE_COUNT];
/* The sections of the key table, as its errors list them. */
#define SECTIONS      "server, limits, threaded, pool, workers, executor, fibers, log, process"
#define MODE_EVENTED  0
#define MODE_THREADED 1

static void register_test_modes(void)
{
    static char names[] = IOB_MODE_NAMES; /* "evented:threaded:..." */
    size_t n = 0;
    for (char *save, *tok = strtok_r(names, ":", &save); tok && n < IOB_MODE_COUNT;
         tok = strtok_r(NULL, ":", &save))
        test_modes[n++] = tok;
    iob_config_set_modes(test_modes, n);
}

/* Sets one key with origin "t" and checks the outcome: want is the value as --check-config would
 * print it, or NULL when the text must be refused. */
struct set_case {
    const char *section;
    const char *key;
    const char *value;
    const char *want;
};

static const struct set_case cases[] = {
    /* numbers: [limits] max_sleep_ms is 0..3600000, [server] backlog 1..65535 */
    {"limits", "max_sleep_ms", "", NULL},
    {"limits", "max_sleep_ms", "0", "0"},
    {"limits", "max_sleep_ms", "3600000", "3600000"},
    {"limits", "max_sleep_ms", "3600001", NULL},
    {"limits", "max_sleep_ms", "-1", NULL},
    {"limits", "max_sleep_ms", "+1", NULL},
    {"limits", "max_sleep_ms", "1e3", NULL},
    {"limits", "max_sleep_ms", "10abc", NULL},
    {"limits", "max_sleep_ms", " 1", NULL},
    {"limits", "max_sleep_ms", "1 ", NULL},
    {"limits", "max_sleep_ms", "18446744073709551616", NULL},
    {"limits", "max_sleep_ms", "4294967296", NULL}, /* would wrap a uint32_t to 0 */
    {"server", "backlog", "0", NULL},               /* below the floor */
    {"server", "backlog", "1", "1"},
    {"server", "backlog", "65535", "65535"},
    {"server", "backlog", "65536", NULL},
    {"limits", "max_body_bytes", "0", "0"},
    {"limits", "max_body_bytes", "1073741824", "1073741824"},
    {"limits", "max_body_bytes", "1073741825", NULL},
    {"threaded", "stack_size_kb", "63", NULL},
    {"threaded", "stack_size_kb", "64", "64"},
    /* enums */
    {"server", "mode", "evented", "evented"},
    {"server", "mode", "threaded", "threaded"},
    {"server", "mode", "async", NULL},
    {"server", "mode", "Threaded", NULL},
    {"server", "mode", "", NULL},
    {"log", "level", "error", "error"},
    {"log", "level", "warn", "warn"},
    {"log", "level", "info", "info"},
    {"log", "level", "debug", "debug"},
    {"log", "level", "trace", NULL},
    {"log", "format", "clf", "clf"},
    {"log", "format", "json", "json"},
    {"log", "format", "JSON", NULL},
    {"log", "format", "", NULL},
    /* bools */
    {"process", "daemonize", "true", "true"},
    {"process", "daemonize", "false", "false"},
    {"process", "daemonize", "yes", "true"},
    {"process", "daemonize", "no", "false"},
    {"process", "daemonize", "on", "true"},
    {"process", "daemonize", "off", "false"},
    {"process", "daemonize", "1", "true"},
    {"process", "daemonize", "0", "false"},
    {"process", "daemonize", "2", NULL},
    {"process", "daemonize", "", NULL},
    {"process", "daemonize", "maybe", NULL},
    /* listen: the shape only */
    {"server", "listen", "127.0.0.1:8080", "127.0.0.1:8080"},
    {"server", "listen", "0.0.0.0:0", "0.0.0.0:0"},
    {"server", "listen", "localhost:65535", "localhost:65535"},
    {"server", "listen", "[::1]:0", "[::1]:0"},
    {"server", "listen", "[::]:80", "[::]:80"},
    {"server", "listen", "[::ffff:127.0.0.1]:80", "[::ffff:127.0.0.1]:80"},
    {"server", "listen", "", NULL},
    {"server", "listen", "127.0.0.1", NULL},
    {"server", "listen", "127.0.0.1:", NULL},
    {"server", "listen", "127.0.0.1:65536", NULL},
    {"server", "listen", "127.0.0.1:-1", NULL},
    {"server", "listen", "127.0.0.1:+80", NULL},
    {"server", "listen", "127.0.0.1:80x", NULL},
    {"server", "listen", ":80", NULL},
    {"server", "listen", "::1:80", NULL},
    {"server", "listen", "[::1]", NULL},
    {"server", "listen", "[::1]:", NULL},
    {"server", "listen", "[]:80", NULL},
    {"server", "listen", "[::1:80", NULL},
    {"server", "listen", "[::g]:80", NULL},
    {"server", "listen", "my host:80", NULL},
    /* listen: unix:PATH and lists (blanks around an entry are not part of it) */
    {"server", "listen", "unix:/run/iobound/iobound.sock", "unix:/run/iobound/iobound.sock"},
    {"server", "listen", "unix:rel.sock", "unix:rel.sock"},
    {"server", "listen", "unix:", NULL},
    {"server", "listen",
     "unix:/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaa",
     "unix:/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaa"},
    {"server", "listen",
     "unix:/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaa",
     NULL},
    {"server", "listen", "127.0.0.1:8080, [::1]:8080, unix:/run/x.sock",
     "127.0.0.1:8080, [::1]:8080, unix:/run/x.sock"},
    {"server", "listen", "127.0.0.1:1,127.0.0.2:1", "127.0.0.1:1,127.0.0.2:1"},
    {"server", "listen", "127.0.0.1:1,", NULL},
    {"server", "listen", ",127.0.0.1:1", NULL},
    {"server", "listen", "127.0.0.1:1, ,127.0.0.2:1", NULL},
    {"server", "listen", "127.0.0.1:1, bogus", NULL},
    {"server", "listen",
     "1.2.3.4:1,1.2.3.4:2,1.2.3.4:3,1.2.3.4:4,1.2.3.4:5,1.2.3.4:6,1.2.3.4:7,1.2.3.4:8,1.2.3.4:9,1."
     "2.3.4:10,1.2.3.4:11,1.2.3.4:12,1.2.3.4:13,1.2.3.4:14,1.2.3.4:15,1.2.3.4:16",
     "1.2.3.4:1,1.2.3.4:2,1.2.3.4:3,1.2.3.4:4,1.2.3.4:5,1.2.3.4:6,1.2.3.4:7,1.2.3.4:8,1.2.3.4:9,1."
     "2.3.4:10,1.2.3.4:11,1.2.3.4:12,1.2.3.4:13,1.2.3.4:14,1.2.3.4:15,1.2.3.4:16"},
    {"server", "listen",
     "1.2.3.4:1,1.2.3.4:2,1.2.3.4:3,1.2.3.4:4,1.2.3.4:5,1.2.3.4:6,1.2.3.4:7,1.2.3.4:8,1.2.3.4:9,1."
     "2.3.4:10,1.2.3.4:11,1.2.3.4:12,1.2.3.4:13,1.2.3.4:14,1.2.3.4:15,1.2.3.4:16,1.2.3.4:17",
     NULL},
    /* text */
    {"log", "access_log", "-", "-"},
    {"log", "access_log", "off", "off"},
    {"log", "access_log", "/var/log/iobound/access.log", "/var/log/iobound/access.log"},
    {"log", "access_log", "", NULL},
    {"log", "access_log", " /tmp/a", NULL},
    {"log", "access_log", "/tmp/a ", NULL},
    {"log", "access_log", "/tmp/a;b", NULL},
    {"log", "error_log", "/tmp/a\nb", NULL},
    {"process", "pid_file", "", ""},
    {"process", "pid_file", "/run/iobound.pid", "/run/iobound.pid"},
};

static const struct iob_key *find_key(const char *section, const char *name)
{
    size_t n;
    const struct iob_key *keys = iob_schema_keys(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    fail_msg("no key [%s] %s in the table", section, name);
    return NULL;
}

static void test_config_set_case_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct set_case *c = &cases[i];
        const struct iob_key *k = find_key(c->section, c->key);
        struct iob_config cfg, before;
        struct iob_diag d;
        char got[IOB_CONFIG_STR_MAX], was[IOB_CONFIG_STR_MAX];
        iob_config_defaults(&cfg);
        before = cfg;
        iob_diag_init(&d);
        int rc = iob_config_set(&cfg, "t", c->section, c->key, c->value, &d);
        iob_schema_format(&cfg, k, got, sizeof got);
        iob_schema_format(&before, k, was, sizeof was);
        const char *want = c->want ? c->want : was; /* a refused value changes nothing */
        int want_rc = c->want ? 0 : -EINVAL;
        if (rc != want_rc || strcmp(got, want) != 0 || d.errors != (c->want ? 0u : 1u)) {
            print_error("[%s] %s = \"%s\": want rc %d value \"%s\", got rc %d value \"%s\" (%s)\n",
                        c->section, c->key, c->value, want_rc, want, rc, got, d.text);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* Text up to 180 bytes is taken, so "key = value" always fits one inih line of 200 bytes. */
static void test_config_text_fits_one_ini_line(void **state)
{
    (void)state;
    char text[182];
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = '\0'; /* 181 bytes */
    struct iob_config c;
    struct iob_diag d;
    iob_config_defaults(&c);
    iob_diag_init(&d);
    assert_int_equal(iob_config_set(&c, "t", "log", "error_log", text, &d), -EINVAL);
    assert_string_equal(c.log.error_log, "-");
    text[180] = '\0';
    assert_int_equal(iob_config_set(&c, "t", "log", "error_log", text, &d), 0);
    assert_string_equal(c.log.error_log, text);
}

/* The SPEC's error line: origin, section, key, the text as given and what is allowed. */
static void expect_set_error(const char *origin, const char *section, const char *key,
                             const char *value, const char *want)
{
    struct iob_config cfg;
    struct iob_diag d;
    iob_config_defaults(&cfg);
    iob_diag_init(&d);
    assert_int_equal(iob_config_set(&cfg, origin, section, key, value, &d), -EINVAL);
    assert_string_equal(d.text, want);
    assert_int_equal(d.errors, 1);
}

#define LISTEN_ALLOWED                                                                             \
    "allowed: IPv4:PORT, localhost:PORT, [IPv6]:PORT (numeric, port 0..65535) or unix:PATH (PATH " \
    "1..107 bytes), or a comma-separated list of at most 16 of them\n"

static void test_config_error_lines_name_origin_key_and_allowed(void **state)
{
    (void)state;
    expect_set_error("iobound.ini:3", "server", "mode", "async",
                     "iobound.ini:3: [server] mode: got \"async\"; allowed: " IOB_MODES_ALLOWED
                     "\n");
    expect_set_error(
        "IOBOUND_LIMITS_MAX_SLEEP_MS", "limits", "max_sleep_ms", "-5",
        "IOBOUND_LIMITS_MAX_SLEEP_MS: [limits] max_sleep_ms: got \"-5\"; allowed: integer "
        "0..3600000\n");
    expect_set_error("iobound.ini:7", "server", "bogus", "1",
                     "iobound.ini:7: [server] bogus: unknown key; allowed: mode, listen, backlog, "
                     "max_connections\n");
    expect_set_error("--set", "srever", "mode", "evented",
                     "--set: [srever]: unknown section; allowed: " SECTIONS "\n");
    expect_set_error("t", "log", "level", "trace",
                     "t: [log] level: got \"trace\"; allowed: error, warn, info, debug\n");
    expect_set_error("t", "process", "daemonize", "maybe",
                     "t: [process] daemonize: got \"maybe\"; allowed: true, false, yes, no, on, "
                     "off, 1, 0\n");
    expect_set_error("t", "server", "listen", "localhost",
                     "t: [server] listen: got \"localhost\"; " LISTEN_ALLOWED);
    expect_set_error("t", "server", "listen", "example.com:80",
                     "t: [server] listen: got \"example.com:80\"; " LISTEN_ALLOWED);
    /* a list is as good as its worst entry: a bad one, an empty one, an empty path */
    expect_set_error("t", "server", "listen", "127.0.0.1:80, bogus",
                     "t: [server] listen: got \"127.0.0.1:80, bogus\"; " LISTEN_ALLOWED);
    expect_set_error("t", "server", "listen", "127.0.0.1:80,,[::1]:80",
                     "t: [server] listen: got \"127.0.0.1:80,,[::1]:80\"; " LISTEN_ALLOWED);
    expect_set_error("t", "server", "listen",
                     "unix:", "t: [server] listen: got \"unix:\"; " LISTEN_ALLOWED);
    expect_set_error("t", "server", "listen", "[::1]:80, ",
                     "t: [server] listen: got \"[::1]:80, \"; " LISTEN_ALLOWED);
    /* a control character in the value must not split the one-line message */
    expect_set_error("t", "log", "error_log", "a\nb",
                     "t: [log] error_log: got \"a?b\"; allowed: text of 1..180 bytes, without "
                     "';', control characters or surrounding blanks\n");
}

static void test_config_defaults_match_the_brief(void **state)
{
    (void)state;
    struct iob_config c;
    iob_config_defaults(&c);
    assert_int_equal(c.server.mode, MODE_EVENTED);
    assert_string_equal(c.server.listen, "127.0.0.1:8080");
    assert_int_equal(c.server.backlog, 1024);
    assert_int_equal(c.server.max_connections, 10000);
    assert_int_equal(c.limits.max_header_bytes, 8192);
    assert_int_equal(c.limits.max_body_bytes, 1048576);
    assert_int_equal(c.limits.max_sleep_ms, 30000);
    assert_int_equal(c.limits.max_cpu_ms, 10000);
    assert_int_equal(c.limits.max_gather_tasks, 64);
    assert_int_equal(c.limits.header_timeout_ms, 10000);
    assert_int_equal(c.limits.idle_timeout_ms, 5000);
    assert_int_equal(c.threaded.stack_size_kb, 256);
    assert_string_equal(c.log.access_log, "-");
    assert_string_equal(c.log.error_log, "-");
    assert_int_equal(c.log.level, IOB_LOG_INFO);
    assert_false(c.process.daemonize);
    assert_string_equal(c.process.pid_file, "");
    assert_int_equal(c.process.shutdown_grace_ms, 30000);

    /* Every default must pass its own key's checks (an assert does so too, but not in release
     * builds). */
    size_t n;
    const struct iob_key *keys = iob_schema_keys(&n);
    for (size_t i = 0; i < n; i++) {
        struct iob_diag d;
        iob_diag_init(&d);
        assert_int_equal(iob_config_set(&c, "t", keys[i].section, keys[i].name,
                                        iob_schema_default(&keys[i]), &d),
                         0);
    }
    struct iob_diag d;
    iob_diag_init(&d);
    assert_int_equal(iob_config_validate(&c, &d), 0);
    assert_int_equal(d.errors + d.warnings, 0);
    assert_string_equal(iob_mode_name(MODE_EVENTED), "evented");
    assert_string_equal(iob_mode_name(MODE_THREADED), "threaded");
    assert_null(iob_mode_name(IOB_MODE_COUNT));
}

static void test_config_empty_file_is_the_defaults(void **state)
{
    (void)state;
    struct iob_config c, defaults;
    struct iob_diag d;
    iob_config_defaults(&c);
    iob_config_defaults(&defaults);
    iob_diag_init(&d);
    assert_int_equal(iob_config_load_file(&c, DATA_DIR "/empty.ini", &d), 0);
    assert_int_equal(d.errors, 0);
    assert_memory_equal(&c, &defaults, sizeof c);
}

static void test_config_file_collects_every_error_with_its_line(void **state)
{
    (void)state;
    const char *p = DATA_DIR "/bad.ini";
    char want[4096];
    snprintf(want, sizeof want,
             "%s:3: [server] mode: got \"async\"; allowed: " IOB_MODES_ALLOWED "\n"
             "%s:4: [server] bogus: unknown key; allowed: mode, listen, backlog, max_connections\n"
             "%s:5: got \"this line has no equals sign\"; allowed: [section], key = value, ; "
             "comment\n"
             "%s:6: [server] backlog: got \"0\"; allowed: integer 1..65535\n"
             "%s:7: got \"[nowhere\"; allowed: [section], key = value, ; comment\n"
             "%s:9: [limits] max_sleep_ms: got \"1e3\"; allowed: integer 0..3600000\n"
             "%s:10: [extra]: unknown section; allowed: " SECTIONS "\n"
             "%s:15: [process] daemonize: got \"maybe\"; allowed: true, false, yes, no, on, off, "
             "1, 0\n"
             "%s:16: [process] max_connections: unknown key; allowed: daemonize, pid_file, "
             "shutdown_grace_ms\n",
             p, p, p, p, p, p, p, p, p);
    struct iob_config c;
    struct iob_diag d;
    iob_config_defaults(&c);
    iob_diag_init(&d);
    assert_int_equal(iob_config_load_file(&c, p, &d), -EINVAL);
    assert_string_equal(d.text, want);
    assert_int_equal(d.errors, 9);
    assert_int_equal(c.server.mode, MODE_THREADED); /* the good line 2 still applied */
    assert_int_equal(c.server.backlog, 1024);
}

/* Writes text to a new temporary file; the caller unlinks path. */
static void write_temp(char *path, size_t pathlen, const char *text)
{
    snprintf(path, pathlen, "/tmp/iob_test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Loads text from a temporary file over the defaults into fresh c and d; path gets the file's
 * name (gone on return) for the expected messages. Returns as iob_config_load_file(). */
static int load_text(const char *text, char *path, size_t pathlen, struct iob_config *c,
                     struct iob_diag *d)
{
    write_temp(path, pathlen, text);
    iob_config_defaults(c);
    iob_diag_init(d);
    int rc = iob_config_load_file(c, path, d);
    unlink(path);
    return rc;
}

static void test_config_file_long_line_and_missing_file(void **state)
{
    (void)state;
    char text[1024], path[64], want[1024];
    snprintf(text, sizeof text, "[log]\nerror_log = /tmp/%0250d\nlevel = debug\n", 0);
    struct iob_config c;
    struct iob_diag d;
    int rc = load_text(text, path, sizeof path, &c, &d);
    snprintf(want, sizeof want, "%s:2: line of 267 bytes; allowed: at most 197 bytes\n", path);
    assert_int_equal(rc, -EINVAL);
    assert_string_equal(d.text, want);
    assert_int_equal(c.log.level, IOB_LOG_DEBUG); /* line 3 counted and applied as line 3 */

    iob_diag_init(&d);
    assert_int_equal(iob_config_load_file(&c, DATA_DIR "/no-such.ini", &d), -ENOENT);
    assert_string_equal(d.text, DATA_DIR "/no-such.ini: cannot read: No such file or directory\n");
}

/* inih reports no header, so load.c finds its line: each case names the lines and sections of
 * the errors it wants, in order. */
static void test_config_unknown_section_named_at_each_header(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        unsigned line[2];
        const char *section[2];
    } files[] = {
        /* a BOM before the header; a '['-line after a key is a value continuation, no header */
        {"\xEF\xBB\xBF[sever]\n; c\nmode = evented\n  [continued]\n[server]\nmode = threaded\n"
         "[sever]\n\nbacklog = 5\n",
         {1, 7},
         {"sever", "sever"}},
        /* keys before any header have no header line: the first key's line */
        {"\nbacklog = 5\nmode = evented\n[server]\nmode = threaded\n", {2}, {""}},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[64], want[512];
        struct iob_config c;
        struct iob_diag d;
        int rc = load_text(files[i].text, path, sizeof path, &c, &d);
        size_t len = 0;
        for (size_t j = 0; j < 2 && files[i].section[j] != NULL; j++)
            len += (size_t)snprintf(want + len, sizeof want - len,
                                    "%s:%u: [%s]: unknown section; allowed: server, limits, "
                                    "threaded, pool, workers, executor, fibers, log, process\n",
                                    path, files[i].line[j], files[i].section[j]);
        assert_int_equal(rc, -EINVAL);
        assert_string_equal(d.text, want);
        assert_int_equal(c.server.mode, MODE_THREADED); /* the known section still applied */
        assert_int_equal(c.server.backlog, 1024);
    }
}

/* Lowest first: defaults < file < environment < --set, applied in main.c's order. */
static void test_config_precedence_defaults_file_env_set(void **state)
{
    (void)state;
    char *envp[] = {
        "PATH=/usr/bin",
        "IOBOUND_SERVER_BACKLOG=200",
        "IOBOUND_LIMITS_MAX_SLEEP_MS=6000",
        "IOBOUNDX=ignored",
        NULL,
    };
    struct iob_config c;
    struct iob_diag d;
    iob_config_defaults(&c);
    iob_diag_init(&d);
    assert_int_equal(iob_config_load_file(&c, DATA_DIR "/good.ini", &d), 0);
    assert_int_equal(c.server.backlog, 100);
    assert_int_equal(c.limits.max_sleep_ms, 5000);
    assert_int_equal(iob_config_overlay_env(&c, envp, &d), 0);
    assert_int_equal(iob_config_overlay_set(&c, "limits.max_sleep_ms=7000", &d), 0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(c.server.mode, MODE_THREADED); /* file */
    assert_int_equal(c.server.backlog, 200);        /* env over file */
    assert_int_equal(c.limits.max_sleep_ms, 7000);  /* --set over env over file */
    assert_int_equal(c.limits.max_cpu_ms, 10000);   /* default */
    assert_string_equal(c.server.listen, "127.0.0.1:8080");
}

static void test_config_env_names_every_key_and_refuses_unknown(void **state)
{
    (void)state;
    size_t n;
    const struct iob_key *keys = iob_schema_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char var[128];
        int len = snprintf(var, sizeof var, "IOBOUND_%s_%s=", keys[i].section, keys[i].name);
        for (int j = 0; j < len; j++)
            var[j] = (char)(var[j] >= 'a' && var[j] <= 'z' ? var[j] - 'a' + 'A' : var[j]);
        snprintf(var + len, sizeof var - (size_t)len, "%s", iob_schema_default(&keys[i]));
        char *envp[] = {var, NULL};
        struct iob_config c;
        struct iob_diag d;
        iob_config_defaults(&c);
        iob_diag_init(&d);
        if (iob_config_overlay_env(&c, envp, &d) != 0)
            fail_msg("%s: %s", var, d.text);
    }

    char *bad[] = {"IOBOUND_SERVER_MOOD=evented", "IOBOUND_NOPE_X=1", "IOBOUND_X=1",
                   "IOBOUND_THREADED_STACK_SIZE_KB=1", NULL};
    struct iob_config c;
    struct iob_diag d;
    iob_config_defaults(&c);
    iob_diag_init(&d);
    assert_int_equal(iob_config_overlay_env(&c, bad, &d), -EINVAL);
    assert_string_equal(
        d.text,
        "IOBOUND_SERVER_MOOD: [server] mood: unknown key; allowed: mode, listen, backlog, "
        "max_connections\n"
        "IOBOUND_NOPE_X: [nope]: unknown section; allowed: " SECTIONS "\n"
        "IOBOUND_X: [x]: unknown section; allowed: " SECTIONS "\n"
        "IOBOUND_THREADED_STACK_SIZE_KB: [threaded] stack_size_kb: got \"1\"; allowed: integer "
        "64..65536\n");
}

static void test_config_set_flag_shapes(void **state)
{
    (void)state;
    static const char *const bad[] = {"server.mode", "mode=threaded", ".mode=threaded",
                                      "server.=threaded", "server=x.y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct iob_config c;
        struct iob_diag d;
        char want[256];
        iob_config_defaults(&c);
        iob_diag_init(&d);
        snprintf(want, sizeof want,
                 "--set: got \"%s\"; allowed: SECTION.KEY=VALUE, e.g. log.level=debug\n", bad[i]);
        assert_int_equal(iob_config_overlay_set(&c, bad[i], &d), -EINVAL);
        assert_string_equal(d.text, want);
    }
    struct iob_config c;
    struct iob_diag d;
    iob_config_defaults(&c);
    iob_diag_init(&d);
    assert_int_equal(iob_config_overlay_set(&c, "process.pid_file=/run/a=b.pid", &d), 0);
    assert_string_equal(c.process.pid_file, "/run/a=b.pid"); /* only the first '=' splits */
    assert_int_equal(iob_config_overlay_set(&c, "process.pid_file=", &d), 0);
    assert_string_equal(c.process.pid_file, "");
    assert_int_equal(iob_config_overlay_set(&c, "server.mode=async", &d), -EINVAL);
    assert_string_equal(d.text,
                        "--set: [server] mode: got \"async\"; allowed: " IOB_MODES_ALLOWED "\n");
}

static void test_config_validate_daemon_and_grace(void **state)
{
    (void)state;
    struct iob_config c;
    struct iob_diag d;
    iob_config_defaults(&c);
    c.process.daemonize = true;
    iob_diag_init(&d);
    assert_int_equal(iob_config_validate(&c, &d), -EINVAL);
    assert_string_equal(d.text,
                        "[process] pid_file: got \"\"; allowed: an absolute path when [process] "
                        "daemonize = true\n"
                        "[log] access_log: got \"-\"; allowed: an absolute path or off when "
                        "[process] daemonize = true\n"
                        "[log] error_log: got \"-\"; allowed: an absolute path when [process] "
                        "daemonize = true\n");
    assert_int_equal(d.errors, 3);

    strcpy(c.process.pid_file, "run/iobound.pid"); /* relative: wrong after the chdir("/") */
    strcpy(c.log.access_log, "off");
    strcpy(c.log.error_log, "/var/log/iobound.log");
    iob_diag_init(&d);
    assert_int_equal(iob_config_validate(&c, &d), -EINVAL);
    assert_string_equal(d.text, "[process] pid_file: got \"run/iobound.pid\"; allowed: an "
                                "absolute path when [process] daemonize = true\n");

    strcpy(c.process.pid_file, "/run/iobound.pid");
    strcpy(c.log.access_log, "off");
    strcpy(c.log.error_log, "/var/log/iobound.log");
    iob_diag_init(&d);
    assert_int_equal(iob_config_validate(&c, &d), 0);
    assert_int_equal(d.errors + d.warnings, 0);

    c.process.shutdown_grace_ms = 1000;
    iob_diag_init(&d);
    assert_int_equal(iob_config_validate(&c, &d), 0); /* a warning, not an error */
    assert_int_equal(d.warnings, 1);
    assert_string_equal(d.text, "[process] shutdown_grace_ms: 1000 is below [limits] max_sleep_ms "
                                "30000; a sleeping request may be cut off at shutdown\n");
}

static void test_config_diag_truncates_but_counts(void **state)
{
    (void)state;
    struct iob_diag d;
    iob_diag_init(&d);
    for (int i = 0; i < 500; i++)
        iob_diag_error(&d, "error number %d with some words to fill the buffer", i);
    assert_int_equal(d.errors, 500);
    assert_true(d.len < sizeof d.text);
    assert_int_equal(strlen(d.text), d.len);
    assert_string_equal(d.text + d.len - 4, "...\n");
    assert_null(strstr(d.text, "...\n...\n"));
}

/* Reads everything written to fd from its start. */
static char *dump_text(const struct iob_config *c)
{
    int fd = memfd_create("dump", 0);
    assert_true(fd >= 0);
    iob_config_dump(c, fd);
    off_t len = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)len, 0), len);
    close(fd);
    return text;
}

static void test_config_dump_reloads_to_an_equal_config(void **state)
{
    (void)state;
    static const char *const sets[] = {
        "server.mode=threaded",
        "server.listen=[::1]:0, unix:/tmp/iob.sock,127.0.0.1:0",
        "server.backlog=7",
        "server.max_connections=8",
        "limits.max_header_bytes=300",
        "limits.max_body_bytes=0",
        "limits.max_sleep_ms=11",
        "limits.max_cpu_ms=12",
        "limits.max_gather_tasks=13",
        "limits.header_timeout_ms=14",
        "limits.idle_timeout_ms=15",
        "limits.body_timeout_ms=16",
        "limits.body_min_rate_bytes=0",
        "limits.allow_faults=off",
        "threaded.stack_size_kb=65536",
        "pool.workers=2",
        "pool.queue=7",
        "workers.loops=3",
        "executor.threads=5",
        "fibers.stack_size_kb=128",
        "log.access_log=off",
        "log.error_log=/var/log/iobound/error.log",
        "log.level=debug",
        "log.format=json",
        "process.daemonize=yes",
        "process.pid_file=/run/x.pid",
        "process.shutdown_grace_ms=0",
    };
    struct iob_config c, defaults, reloaded;
    struct iob_diag d;
    iob_config_defaults(&c);
    iob_diag_init(&d);
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        assert_int_equal(iob_config_overlay_set(&c, sets[i], &d), 0);
    iob_config_defaults(&defaults);
    size_t n;
    const struct iob_key *keys = iob_schema_keys(&n);
    assert_int_equal(n, sizeof sets / sizeof sets[0]); /* every key changed above */
    for (size_t i = 0; i < n; i++) {
        char a[IOB_CONFIG_STR_MAX], b[IOB_CONFIG_STR_MAX];
        iob_schema_format(&c, &keys[i], a, sizeof a);
        iob_schema_format(&defaults, &keys[i], b, sizeof b);
        if (strcmp(a, b) == 0)
            fail_msg("[%s] %s still at its default %s", keys[i].section, keys[i].name, a);
    }

    char *text = dump_text(&c);
    char path[64];
    write_temp(path, sizeof path, text);
    reloaded = defaults;
    int rc = iob_config_load_file(&reloaded, path, &d);
    unlink(path);
    if (rc != 0)
        fail_msg("reloading the dump: %s\n%s", d.text, text);
    free(text);
    assert_memory_equal(&reloaded, &c, sizeof c);
}

/* config/iobound.ini is the dump of the defaults, byte for byte: every key, each at its default,
 * with the table's help. Regenerate it with `iobound --check-config > config/iobound.ini`. */
static void test_iobound_ini_equals_the_defaults(void **state)
{
    (void)state;
    struct iob_config defaults, loaded;
    struct iob_diag d;
    iob_config_defaults(&defaults);
    char *want = dump_text(&defaults);

    FILE *f = fopen(IOB_SOURCE_DIR "/config/iobound.ini", "r");
    assert_non_null(f);
    char got[16384];
    size_t len = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[len] = '\0';
    if (strcmp(got, want) != 0)
        fail_msg("config/iobound.ini differs from the key table's defaults; want:\n%s", want);
    free(want);

    /* Loading it over a zeroed config gives the defaults, so no key relies on being absent. */
    memset(&loaded, 0, sizeof loaded);
    iob_diag_init(&d);
    assert_int_equal(iob_config_load_file(&loaded, IOB_SOURCE_DIR "/config/iobound.ini", &d), 0);
    assert_memory_equal(&loaded, &defaults, sizeof loaded);
}

int main(int argc, char **argv)
{
    register_test_modes();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_set_case_table),
        cmocka_unit_test(test_config_text_fits_one_ini_line),
        cmocka_unit_test(test_config_error_lines_name_origin_key_and_allowed),
        cmocka_unit_test(test_config_defaults_match_the_brief),
        cmocka_unit_test(test_config_empty_file_is_the_defaults),
        cmocka_unit_test(test_config_file_collects_every_error_with_its_line),
        cmocka_unit_test(test_config_file_long_line_and_missing_file),
        cmocka_unit_test(test_config_unknown_section_named_at_each_header),
        cmocka_unit_test(test_config_precedence_defaults_file_env_set),
        cmocka_unit_test(test_config_env_names_every_key_and_refuses_unknown),
        cmocka_unit_test(test_config_set_flag_shapes),
        cmocka_unit_test(test_config_validate_daemon_and_grace),
        cmocka_unit_test(test_config_diag_truncates_but_counts),
        cmocka_unit_test(test_config_dump_reloads_to_an_equal_config),
        cmocka_unit_test(test_iobound_ini_equals_the_defaults),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
