/* The engine interface: all main.c sees of a concurrency model, and THE table of models.
 *
 * Every engine runs the same exchange per connection, through the shared HTTP layer:
 *   bytes -> iob_conn_feed() -> iob_exchange_begin() -> carry out the plan
 *   -> iob_exchange_finish() -> write iob_conn_output() -> next pipelined request.
 * The shared parts below an engine are accept.h (admission, EMFILE pause, 503), stop.h (signals,
 * drain, grace), nbconn.h (a non-blocking connection driver with no I/O of its own, for event
 * loops) and blocking.h (one connection served on the calling thread or fiber). An engine
 * file is only the glue that decides where a wait runs: a timer, a blocked thread, ...
 * A new model is one file plus one row in engines.c; config, --help, --list-modes, the index
 * page and every test suite take the models from that table. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"

/* What an engine is given; main.c builds it from the configuration. Read-only. */
struct iob_engine_args {
    const struct iob_env *env; /* limits (max_connections, timeouts) and the models */
    /* Every listening socket of the listen list (1..IOB_ADDR_LIST_MAX, TCP or Unix), bound,
     * listening, non-blocking: the engine serves them all and closes them (accept.h's
     * iob_accept_set takes them as one descriptor). */
    const int *listen_fds;
    size_t n_listen;
    int backlog;               /* for the sockets an engine adds (iob_listen_again()) */
    size_t thread_stack_bytes; /* threaded: the stack of a connection thread */
    unsigned pool_workers;     /* pool: worker threads */
    unsigned pool_queue;       /* pool: connections with a request that may wait for a worker */
    unsigned loops;            /* workers: event loops, each on its own socket */
    unsigned cpu_threads;      /* executor: threads that run the CPU steps */
    size_t fiber_stack_kb;     /* fibers: the stack of a connection or gather fiber */
};

struct iob_engine {
    struct iob_model model; /* name, summary, traits (as at rest with no config) */
    /* Sets the traits that depend on the config (threads at rest, CPU lanes), or NULL. */
    void (*resolve)(struct iob_model *m, const struct iob_engine_args *args);
    bool reuseport; /* its TCP listening sockets get SO_REUSEPORT (one socket per loop) */
    /* Whether the model can run on this kernel, asked before anything is bound or announced:
     * 0, or a negative errno once it has logged why and what to run instead. NULL: always. */
    int (*check)(void);
    /* Serves until SIGTERM/SIGINT and the drain (or a second signal). Runs on the calling
     * thread and blocks; when it returns, no thread of its own touches anything it made.
     * Returns 0 after a clean stop or a negative errno. */
    int (*run)(const struct iob_engine_args *args);
};

/* The most rows the table may have (engines.c checks it). */
#define IOB_ENGINES_MAX 16

/* The table, in order (the first is the default); *n gets its length. */
const struct iob_engine *iob_engines(size_t *n);
/* Writes models[0..n) (the table's, with threads_at_rest for the config) to fd for --list-modes:
 * one line per model, its name first, then its traits; or, with json, one JSON array of objects
 * with the same fields. */
void iob_engine_list(int fd, bool json, const struct iob_model *const *models, size_t n);

int iob_evented_run(const struct iob_engine_args *args);
int iob_threaded_run(const struct iob_engine_args *args);
int iob_pool_run(const struct iob_engine_args *args);
int iob_workers_run(const struct iob_engine_args *args);
int iob_executor_run(const struct iob_engine_args *args);
int iob_uring_check(void);
int iob_uring_run(const struct iob_engine_args *args);
int iob_fibers_run(const struct iob_engine_args *args);
