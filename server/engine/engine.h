/* The engine interface: all main.c sees of a concurrency model, and THE table of models.
 *
 * Every engine runs the same exchange per connection, through the shared HTTP layer:
 *   bytes -> iob_conn_feed() -> iob_exchange_begin() -> carry out the plan
 *   -> iob_exchange_finish() -> write iob_conn_output() -> next pipelined request.
 * The shared parts below an engine are accept.h (admission, EMFILE pause, 503), stop.h (signals,
 * drain, grace), nbconn.h (a non-blocking connection driver with no I/O of its own, for event
 * loops) and blocking.h (one connection served on the calling thread, for threads). An engine
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
    int listen_fd;             /* bound, listening, non-blocking; the engine closes it */
    uint32_t shutdown_grace_ms;
    size_t thread_stack_bytes; /* engines that start a thread per connection */
};

struct iob_engine {
    struct iob_model model; /* name, summary, traits */
    /* Serves until SIGTERM/SIGINT and the drain (or a second signal). Runs on the calling
     * thread and blocks; when it returns, no thread of its own touches anything it made.
     * Returns 0 after a clean stop or a negative errno. */
    int (*run)(const struct iob_engine_args *args);
};

/* The most rows the table may have (engines.c checks it). */
#define IOB_ENGINES_MAX 16

/* The table, in order (the first is the default); *n gets its length. */
const struct iob_engine *iob_engines(size_t *n);
/* The row named name, or NULL. */
const struct iob_engine *iob_engine_find(const char *name);
/* Writes the table to fd for --list-modes: one line per model, its name first, then its traits;
 * or, with json, one JSON array of objects with the same fields. */
void iob_engine_list(int fd, bool json);

int iob_evented_run(const struct iob_engine_args *args);
int iob_threaded_run(const struct iob_engine_args *args);
