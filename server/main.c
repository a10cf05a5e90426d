/* The process: command line -> configuration -> logs -> socket -> daemon -> engine -> exit code.
 * It takes the model from the engine table by name and is the only file that calls exit()
 * (daemon.c's waiting parent aside). Exit codes: 0 clean stop, 1 runtime failure, 2 usage or
 * configuration error. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "handlers/routes.h"
#include "server/base/addr.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/base/notify.h"
#include "server/cli.h"
#include "server/daemon.h"
#include "server/engine/engine.h"
#include "server/engine/listen.h"
#include "server/engine/stop.h"
#include "server/health.h"
#include "version.h"

extern char **environ;

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

#define HEALTH_CHECK_TIMEOUT_MS 2000

/* defaults < file < environment < flags */
static int build_config(const struct iob_cli *cli, struct iob_config *cfg, struct iob_diag *d)
{
    iob_config_defaults(cfg);
    if (cli->config_path)
        iob_config_load_file(cfg, cli->config_path, d);
    iob_config_overlay_env(cfg, environ, d);
    if (cli->mode)
        iob_config_set(cfg, "--mode", "server", "mode", cli->mode, d);
    if (cli->listen)
        iob_config_set(cfg, "--listen", "server", "listen", cli->listen, d);
    for (size_t i = 0; i < cli->n_sets; i++)
        iob_config_overlay_set(cfg, cli->sets[i], d);
    if (cli->daemon)
        iob_config_set(cfg, "--daemon", "process", "daemonize", "true", d);
    if (cli->pid_file)
        iob_config_set(cfg, "--pid-file", "process", "pid_file", cli->pid_file, d);
    if (d->errors == 0)
        iob_config_validate(cfg, d);
    return d->errors ? -EINVAL : 0;
}

/* The engine table's names, for config, and its models with the thread counts of this config,
 * for --list-modes and the index page. */
static const char *mode_names[IOB_ENGINES_MAX];
static struct iob_model models[IOB_ENGINES_MAX];
static const struct iob_model *model_list[IOB_ENGINES_MAX];
static size_t n_models;

static void register_modes(void)
{
    const struct iob_engine *engines = iob_engines(&n_models);
    for (size_t i = 0; i < n_models; i++)
        mode_names[i] = engines[i].model.name;
    iob_config_set_modes(mode_names, n_models);
}

/* A count where 0 means one per online CPU. */
static unsigned per_cpu(uint32_t n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return n ? n : cpus > 0 ? (unsigned)cpus : 1;
}

/* Everything an engine is given but the env and the socket; and the models for it. */
static struct iob_engine_args build_args(const struct iob_config *cfg)
{
    struct iob_engine_args args = {
        .backlog = (int)cfg->server.backlog,
        .thread_stack_bytes = (size_t)cfg->threaded.stack_size_kb * 1024,
        .pool_workers = cfg->pool.workers,
        .pool_queue = cfg->pool.queue,
        .loops = per_cpu(cfg->workers.loops),
        .cpu_threads = per_cpu(cfg->executor.threads),
        .fiber_stack_kb = cfg->fibers.stack_size_kb,
    };
    const struct iob_engine *engines = iob_engines(&n_models);
    for (size_t i = 0; i < n_models; i++) {
        models[i] = engines[i].model;
        if (engines[i].resolve)
            engines[i].resolve(&models[i], &args);
        model_list[i] = &models[i];
    }
    return args;
}

static void build_env(const struct iob_config *cfg, size_t engine, struct iob_env *env)
{
    *env = (struct iob_env){
        .mode = models[engine].name,
        .model = &models[engine],
        .models = model_list,
        .n_models = n_models,
        .max_sleep_ms = cfg->limits.max_sleep_ms,
        .max_cpu_ms = cfg->limits.max_cpu_ms,
        .max_gather_tasks = cfg->limits.max_gather_tasks,
        .max_body_bytes = cfg->limits.max_body_bytes,
        .max_header_bytes = cfg->limits.max_header_bytes,
        .header_timeout_ms = cfg->limits.header_timeout_ms,
        .idle_timeout_ms = cfg->limits.idle_timeout_ms,
        .body_timeout_ms = cfg->limits.body_timeout_ms,
        .body_min_rate_bytes = cfg->limits.body_min_rate_bytes,
        .max_connections = cfg->server.max_connections,
        .allow_faults = cfg->limits.allow_faults,
    };
}

/* A start-up failure goes to the error log and, when that is a file (a daemon's), to the
 * terminal too: until iob_daemon_ready() stderr is still the caller's. */
static void startup_error(const struct iob_config *cfg, const char *what, const char *err)
{
    iob_log(IOB_LOG_ERROR, "%s%s", what, err);
    if (strcmp(cfg->log.error_log, "-") != 0)
        fprintf(stderr, "iobound: %s%s\n", what, err);
}

/* The start-up line is contract: tests and scripts read the port from it. Every address gets
 * its own "listening on ADDR". */
static void announce(const struct iob_config *cfg, const char *mode, const struct iob_listeners *ls)
{
    char names[IOB_ADDR_LIST_MAX * (IOB_ADDR_TEXT_MAX + 16)];
    size_t pos = 0;
    for (size_t i = 0; i < ls->n; i++)
        pos += (size_t)snprintf(names + pos, sizeof(names) - pos, "%slistening on %s",
                                i ? ", " : "", ls->names[i]);
    fprintf(stderr, "iobound %s: %s mode %s (pid %d)\n", IOB_VERSION, mode, names, (int)getpid());
    if (strcmp(cfg->log.error_log, "-") != 0)
        iob_log(IOB_LOG_INFO, "%s mode %s", mode, names);
}

/* Detaches and writes the pid file, as the config asks. Returns 0 or EXIT_RUNTIME (reported). */
static int become_daemon(const struct iob_config *cfg, const char *pid_file)
{
    char err[1024];
    if (cfg->process.daemonize && iob_daemon_detach(err, sizeof(err)) < 0) {
        startup_error(cfg, "--daemon: ", err);
        return EXIT_RUNTIME;
    }
    if (pid_file && iob_daemon_pidfile_write(pid_file, err, sizeof(err)) < 0) {
        startup_error(cfg, "pid file: ", err);
        iob_daemon_ready(EXIT_RUNTIME);
        return EXIT_RUNTIME;
    }
    return 0;
}

static int serve(const struct iob_config *cfg)
{
    char err[1024];
    int rc =
        iob_log_open(cfg->log.error_log, cfg->log.access_log, cfg->log.level, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "iobound: %s\n", err);
        return EXIT_RUNTIME;
    }
    iob_log_set_format(cfg->log.format);
    size_t n;
    const struct iob_engine *engine = &iob_engines(&n)[cfg->server.mode];
    if (engine->check && engine->check() < 0)
        return EXIT_RUNTIME; /* it said why */
    struct iob_engine_args args = build_args(cfg);
    /* Static: its Unix socket files are removed after the engine closed the sockets. */
    static struct iob_listeners ls;
    rc = iob_listen_open_all(cfg->server.listen, args.backlog, engine->reuseport, &ls, err,
                             sizeof(err));
    if (rc < 0) {
        startup_error(cfg, "", err);
        return rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    const char *pid_file = cfg->process.pid_file[0] ? cfg->process.pid_file : NULL;
    if (become_daemon(cfg, pid_file) != 0) {
        iob_listen_close_all(&ls);
        return EXIT_RUNTIME;
    }

    /* Static: threads an expired grace leaves behind may read it until the process exits. */
    static struct iob_env env;
    build_env(cfg, (size_t)cfg->server.mode, &env);
    static const char *labels[IOB_METRICS_ROUTES_MAX];
    iob_metrics_init(env.mode, labels, iob_route_labels(labels));
    iob_metrics_init_faults(iob_fault_names, IOB_FAULT_COUNT);
    /* Before the engine starts any thread, so that every thread inherits the signal mask. */
    rc = iob_stop_init(cfg->process.shutdown_grace_ms);
    if (rc < 0) {
        startup_error(cfg, "signals: ", strerror(-rc));
        iob_daemon_ready(EXIT_RUNTIME);
        iob_listen_close_all(&ls);
        return EXIT_RUNTIME;
    }
    announce(cfg, env.mode, &ls);
    iob_daemon_ready(EXIT_OK);
    /* systemd Type=notify: listening now, so the unit counts as started. */
    rc = iob_notify("READY=1");
    if (rc < 0)
        iob_log(IOB_LOG_WARN, "systemd notify READY=1: %s", strerror(-rc));

    args.env = &env;
    args.listen_fds = ls.fds;
    args.n_listen = ls.n;
    rc = engine->run(&args);
    iob_listen_remove_files(&ls); /* after a drain, a grace run out or a second signal alike */
    if (rc < 0 && rc != -EINTR)
        iob_log(IOB_LOG_ERROR, "%s engine stopped: %s", env.mode, strerror(-rc));
    else
        iob_log(IOB_LOG_INFO, "stopped");
    if (pid_file)
        iob_daemon_pidfile_remove(pid_file);
    iob_log_close();
    return rc < 0 ? EXIT_RUNTIME : EXIT_OK;
}

int main(int argc, char **argv)
{
    struct iob_cli cli;
    static struct iob_config cfg;
    static struct iob_diag diag;
    char err[512];

    /* A client that goes away must never kill the server; writes see EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);
    if (iob_cli_parse(argc, argv, &cli, err, sizeof(err)) < 0) {
        fprintf(stderr, "iobound: %s\nTry 'iobound --help'.\n", err);
        return EXIT_USAGE;
    }
    register_modes();
    if (cli.help) {
        iob_config_defaults(&cfg);
        build_args(&cfg);
        iob_cli_usage(STDOUT_FILENO);
        printf("\nModels (--mode; the first is the default; threads at the default config):\n");
        fflush(stdout);
        iob_engine_list(STDOUT_FILENO, false, model_list, n_models);
        return EXIT_OK;
    }
    if (cli.version) {
        printf("iobound %s\n", IOB_VERSION);
        return EXIT_OK;
    }
    iob_diag_init(&diag);
    int rc = build_config(&cli, &cfg, &diag);
    if (diag.len)
        fputs(diag.text, stderr);
    if (rc < 0)
        return EXIT_USAGE;
    if (cli.list_modes) {
        /* After the config: the thread counts are this configuration's. */
        build_args(&cfg);
        iob_engine_list(STDOUT_FILENO, strcmp(cli.list_modes, "json") == 0, model_list, n_models);
        return EXIT_OK;
    }
    if (cli.check_config) {
        fflush(stdout);
        iob_config_dump(&cfg, STDOUT_FILENO);
        return EXIT_OK;
    }
    if (cli.health_check) {
        /* No address given: our own (the first of the list; health.c reads a wildcard as
         * loopback). */
        char own[IOB_ADDR_LIST_MAX][IOB_ADDR_TEXT_MAX];
        const char *addr = cli.health_check;
        if (!*addr)
            addr = iob_addr_split(cfg.server.listen, own, IOB_ADDR_LIST_MAX) > 0 ? own[0] : "";
        rc = iob_health_check(addr, HEALTH_CHECK_TIMEOUT_MS);
        if (rc < 0)
            fprintf(stderr, "iobound: health check of %s failed: %s\n", addr, strerror(-rc));
        return rc < 0 ? EXIT_RUNTIME : EXIT_OK;
    }
    return serve(&cfg);
}
