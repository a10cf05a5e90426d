/* The command line: one table of flags feeds getopt_long and the --help text, so the two cannot
 * drift. Only parses into struct iob_cli; main.c applies the flags to the configuration (after
 * the file and the environment) and acts on --help, --version and --health-check. Main thread. */
#include "server/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum flag_id {
    FLAG_CONFIG = 'c',
    FLAG_HELP = 'h',
    FLAG_MODE = 256, /* long-only flags: above every char getopt can return */
    FLAG_LISTEN,
    FLAG_SET,
    FLAG_DAEMON,
    FLAG_PID_FILE,
    FLAG_CHECK_CONFIG,
    FLAG_VERSION,
    FLAG_HEALTH_CHECK,
    FLAG_LIST_MODES,
};

static const struct flag {
    const char *name;
    int has_arg;     /* no_argument, required_argument, optional_argument */
    enum flag_id id; /* also the short flag when it is a char */
    const char *arg; /* as shown in --help */
    const char *help;
} flags[] = {
    {"config", required_argument, FLAG_CONFIG, "FILE", "read the INI config file FILE"},
    {"mode", required_argument, FLAG_MODE, "MODE", "the concurrency model (see Models below)"},
    {"listen", required_argument, FLAG_LISTEN, "HOST:PORT",
     "or [IPv6]:PORT, unix:PATH, or a comma-separated list; port 0 is ephemeral"},
    {"set", required_argument, FLAG_SET, "SECTION.KEY=VALUE",
     "set any config key; repeatable, last wins"},
    {"daemon", no_argument, FLAG_DAEMON, NULL, "run in the background (needs --pid-file)"},
    {"pid-file", required_argument, FLAG_PID_FILE, "FILE", "write the pid to FILE"},
    {"check-config", no_argument, FLAG_CHECK_CONFIG, NULL,
     "print the effective config (exit 0) or errors (2)"},
    {"health-check", optional_argument, FLAG_HEALTH_CHECK, "[HOST:PORT]",
     "GET /healthz of HOST:PORT (default: our listen address); exit 0 if up"},
    {"list-modes", optional_argument, FLAG_LIST_MODES, "[=json]",
     "print the models and their traits (or as JSON) and exit"},
    {"version", no_argument, FLAG_VERSION, NULL, "print the version and exit"},
    {"help", no_argument, FLAG_HELP, NULL, "print this help and exit"},
};

#define NFLAGS (sizeof flags / sizeof flags[0])

static bool is_short(enum flag_id id)
{
    return id < 256;
}

void iob_cli_usage(int fd)
{
    dprintf(fd,
            "Usage: iobound [OPTION]...\n"
            "An HTTP/1.1 server showing how concurrency models behave when the work waits.\n\n");
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag *f = &flags[i];
        char left[64];
        snprintf(left, sizeof left, "%c%c%c --%s%s%s", is_short(f->id) ? '-' : ' ',
                 is_short(f->id) ? (char)f->id : ' ', is_short(f->id) ? ',' : ' ', f->name,
                 f->arg ? " " : "", f->arg ? f->arg : "");
        dprintf(fd, "  %-32s %s\n", left, f->help);
    }
    dprintf(fd, "\nPrecedence, lowest first: built-in defaults < config file < environment\n"
                "(IOBOUND_<SECTION>_<KEY>, e.g. IOBOUND_LOG_LEVEL=debug) < flags.\n"
                "Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error.\n");
}

/* getopt's own messages go to stderr; ours go into err, so main.c decides where they appear
 * (and adds the pointer to --help). */
static int usage_error(char *err, size_t errlen, const char *what, const char *arg)
{
    snprintf(err, errlen, "%s %s", what, arg);
    return -EINVAL;
}

int iob_cli_parse(int argc, char **argv, struct iob_cli *cli, char *err, size_t errlen)
{
    struct option longopts[NFLAGS + 1];
    char shortopts[2 * NFLAGS + 2];
    size_t ns = 0;
    shortopts[ns++] = ':'; /* a missing argument returns ':' rather than '?' */
    for (size_t i = 0; i < NFLAGS; i++) {
        longopts[i] = (struct option){flags[i].name, flags[i].has_arg, NULL, (int)flags[i].id};
        if (is_short(flags[i].id)) {
            shortopts[ns++] = (char)flags[i].id;
            if (flags[i].has_arg == required_argument)
                shortopts[ns++] = ':';
        }
    }
    shortopts[ns] = '\0';
    longopts[NFLAGS] = (struct option){0};

    memset(cli, 0, sizeof *cli);
    err[0] = '\0';
    opterr = 0;
    optind = 0; /* 0, not 1: glibc then also resets its internal state between calls */
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        switch (c) {
        case FLAG_CONFIG:
            cli->config_path = optarg;
            break;
        case FLAG_MODE:
            cli->mode = optarg;
            break;
        case FLAG_LISTEN:
            cli->listen = optarg;
            break;
        case FLAG_SET:
            if (cli->n_sets == IOB_CLI_SETS_MAX) {
                char max[16];
                snprintf(max, sizeof max, "%d", IOB_CLI_SETS_MAX);
                return usage_error(err, errlen, "too many --set flags; allowed: at most", max);
            }
            cli->sets[cli->n_sets++] = optarg;
            break;
        case FLAG_DAEMON:
            cli->daemon = true;
            break;
        case FLAG_PID_FILE:
            cli->pid_file = optarg;
            break;
        case FLAG_CHECK_CONFIG:
            cli->check_config = true;
            break;
        case FLAG_VERSION:
            cli->version = true;
            break;
        case FLAG_HELP:
            cli->help = true;
            break;
        case FLAG_LIST_MODES:
            if (optarg && strcmp(optarg, "json") != 0)
                return usage_error(err, errlen, "--list-modes takes only =json, not", optarg);
            cli->list_modes = optarg ? optarg : "";
            break;
        case FLAG_HEALTH_CHECK:
            /* getopt only takes "--health-check=ADDR"; a container HEALTHCHECK line reads more
             * naturally as "--health-check ADDR", and a stray operand is an error anyway. */
            if (optarg == NULL && optind < argc && argv[optind][0] != '-')
                optarg = argv[optind++];
            cli->health_check = optarg ? optarg : ""; /* "": main.c asks our listen address */
            break;
        case ':':
            return usage_error(err, errlen, "missing argument for", argv[optind - 1]);
        default:
            if (optopt >= 256) /* a known long flag given a value, e.g. --daemon=yes */
                return usage_error(err, errlen, "no value allowed in", argv[optind - 1]);
            if (optopt != 0) {
                char flag[3] = {'-', (char)optopt, '\0'};
                return usage_error(err, errlen, "unknown flag", flag);
            }
            return usage_error(err, errlen, "unknown flag", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(err, errlen, "unexpected argument", argv[optind]);
    return 0;
}
