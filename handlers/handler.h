/* THE SEAM between handlers and engines.
 *
 * A handler never knows the engine. plan() validates the request and either answers at once
 * (IOB_STEP_NONE, the response filled) or describes the waiting it needs as data: sleep N ms,
 * gather n waits, or burn N ms of CPU with its own work function. The engine carries the plan
 * out natively (evented: timers on the one loop thread; threaded: the connection's thread
 * sleeps, gather tasks get threads of their own), writes the timings into the plan, and then
 * finish() turns them into the response. After a step other than NONE, finish() runs exactly
 * once, even when the client has gone.
 *
 * plan() and finish() run on any thread, concurrently: no sleeping, locks, I/O, static mutable
 * state, and no branching on the mode (env->mode is only printed). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/base/buf.h"

enum iob_method {
    IOB_METHOD_GET = 1 << 0,
    IOB_METHOD_HEAD = 1 << 1,
    IOB_METHOD_POST = 1 << 2,
    IOB_METHOD_OTHER = 1 << 3, /* PUT, DELETE, CONNECT, ...: never allowed by a route */
};

/* One parsed request. Every pointer is into connection memory, valid until finish() returns;
 * none is NUL-terminated. */
struct iob_request {
    enum iob_method method;
    const char *method_name; /* NUL-terminated, static: "GET", "CONNECT", ... */
    const char *path;        /* raw path, without the query */
    size_t path_len;
    const char *query; /* raw query, without '?'; NULL when absent */
    size_t query_len;
    const char *content_type; /* NULL when absent */
    size_t content_type_len;
    const char *body;
    size_t body_len;
};

/* What every handler may know of the server: limits and the mode's name. Built once by main.c
 * before the first accept, read-only afterwards. */
struct iob_env {
    const char *mode; /* "evented" | "threaded": printed, never branched on */
    uint64_t max_sleep_ms;
    uint64_t max_cpu_ms;
    uint64_t max_gather_tasks;
    uint64_t max_body_bytes;
    uint64_t max_header_bytes;
    uint64_t header_timeout_ms;
    uint64_t idle_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t body_min_rate_bytes; /* per second; 0: no minimum */
    uint64_t max_connections;
};

/* The response a handler builds. The body buffer belongs to the connection. */
struct iob_response {
    int status;
    const char *content_type; /* static string; NULL for no Content-Type */
    /* 0: content_type is NUL-terminated. Otherwise its length, for a value that is a view into
     * the request (POST /echo), valid until the response is written. */
    size_t content_type_len;
    struct iob_buf *body;
};

/* What a request needs from the engine before it can be answered. */
enum iob_step {
    IOB_STEP_NONE,   /* the response is ready */
    IOB_STEP_SLEEP,  /* wait plan->ms without using CPU */
    IOB_STEP_GATHER, /* run the plan->n_tasks waits concurrently; done when the longest ends */
    IOB_STEP_CPU,    /* call plan->work on the engine's thread (it stalls an evented loop) */
    IOB_STEP_DRIP,   /* stream plan->bytes in plan->n_chunks pieces, one every plan->ms; the
                      * answer's head (status, type) goes out first, chunked */
};

struct iob_task {
    uint64_t ms;          /* the wait the handler asked for */
    uint64_t finished_ns; /* engine: monotonic time the wait ended */
};

#define IOB_PLAN_SCRATCH_BYTES 64

struct iob_plan;
/* Does a CPU step's work; runs on the engine's thread, may take plan->ms of CPU time. */
typedef void iob_work_fn(struct iob_plan *plan);

struct iob_plan {
    enum iob_step step;
    uint64_t ms;            /* SLEEP, CPU; DRIP: the pause before each piece */
    uint64_t bytes;         /* DRIP: body bytes in all */
    uint64_t n_chunks;      /* DRIP: pieces */
    uint64_t seed;          /* a random value per request, set before plan() (e.g. jitter) */
    struct iob_task *tasks; /* GATHER: allocated by iob_plan_tasks(), freed by iob_plan_fini() */
    size_t n_tasks;
    iob_work_fn *work;   /* CPU */
    uint64_t started_ns; /* monotonic; set when the step starts */
    uint64_t ended_ns;   /* monotonic; set by the engine when the step is done */
    unsigned char scratch[IOB_PLAN_SCRATCH_BYTES]; /* the handler's own state (e.g. a digest) */
};

/* Allocates n zeroed tasks for a GATHER step. Returns 0 or -ENOMEM. */
int iob_plan_tasks(struct iob_plan *plan, size_t n);
/* Frees the tasks and zeroes the plan for the next request. */
void iob_plan_fini(struct iob_plan *plan);

/* Fills res and returns IOB_STEP_NONE, or fills plan and returns its step. */
typedef enum iob_step iob_plan_fn(const struct iob_request *req, const struct iob_env *env,
                                  struct iob_plan *plan, struct iob_response *res);
/* Turns a carried-out plan into the response. NULL for routes that always answer at once. */
typedef void iob_finish_fn(const struct iob_request *req, const struct iob_env *env,
                           const struct iob_plan *plan, struct iob_response *res);

/* Sets a JSON error response {"error":"<msg>"} with the status, replacing any body written so
 * far. Returns IOB_STEP_NONE so that plan() can `return iob_handler_error(...)`. */
enum iob_step iob_handler_error(struct iob_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Ends a handler that appended its body with result rc: rc == 0 answers 200 with the content
 * type; otherwise the body is replaced by a JSON 500 naming the failure (e.g. -E2BIG: the body
 * outgrew the connection's cap). */
void iob_handler_reply(struct iob_response *res, int rc, const char *content_type);
/* Nanoseconds the step took (engine-written monotonic times), for the elapsed_ms fields. */
static inline uint64_t iob_plan_elapsed_ns(const struct iob_plan *plan)
{
    return plan->ended_ns - plan->started_ns;
}
