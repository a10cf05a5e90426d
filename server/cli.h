/* The command line: getopt_long into plain data, --help and --version text. The flags are
 * applied to the configuration by main.c, after the file and the environment. Main thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define IOB_CLI_SETS_MAX 64

struct iob_cli {
    const char *config_path;            /* -c FILE, or NULL */
    const char *mode;                   /* --mode, or NULL */
    const char *listen;                 /* --listen, or NULL */
    const char *sets[IOB_CLI_SETS_MAX]; /* --set SECTION.KEY=VALUE, in order */
    size_t n_sets;
    bool daemon;              /* --daemon */
    const char *pid_file;     /* --pid-file, or NULL */
    bool check_config;        /* --check-config */
    bool version;             /* --version */
    bool help;                /* --help */
    const char *list_modes;   /* --list-modes[=json]: "" for text, "json"; NULL when absent */
    const char *health_check; /* --health-check [HOST:PORT]: GET /healthz, exit 0/1; "" when
                               * no address was given (main.c uses the listen address) */
};

/* Parses argv. Returns 0, or -EINVAL with a one-line message in err (an unknown flag, a missing
 * argument, a stray operand, too many --set). The strings point into argv. */
int iob_cli_parse(int argc, char **argv, struct iob_cli *cli, char *err, size_t errlen);
/* Writes the --help text to fd (main.c adds the table of models after it). */
void iob_cli_usage(int fd);
