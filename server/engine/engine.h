/* The engine interface: all main.c sees of a concurrency model.
 *
 * Both engines run the same loop per connection, through the shared HTTP layer:
 *   read bytes -> iob_conn_feed() -> iob_exchange_begin() -> carry out the plan
 *   -> iob_exchange_finish() -> write iob_conn_output() -> next pipelined request.
 * They differ only in how a wait is carried out:
 *   evented  : one libevent loop on the calling thread; a wait is a timer, nothing blocks.
 *   threaded : the calling thread accepts (and takes signals); each connection gets a thread
 *              that blocks in poll()/clock_nanosleep(); gather tasks get small threads.
 * The engines own the clock (timers, poll timeouts); the HTTP layer owns the policy. */
#pragma once

#include "config/config.h"
#include "handlers/handler.h"

struct iob_engine_args {
    const struct iob_config *cfg;
    const struct iob_env *env;
    int listen_fd; /* bound and listening, non-blocking; the engine closes it when it stops */
};

struct iob_engine {
    const char *name;
    /* Serves until SIGTERM/SIGINT and the drain (or a second signal). Runs on the calling
     * thread and blocks. Returns 0 after a clean stop or a negative errno. */
    int (*run)(const struct iob_engine_args *args);
};

extern const struct iob_engine iob_engine_evented;
extern const struct iob_engine iob_engine_threaded;
