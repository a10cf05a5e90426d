/* THE SEAM between handlers and engines.
 *
 * A handler never knows the engine. plan() validates the request and either answers at once
 * (IOB_STEP_NONE, the response filled) or describes the waiting it needs as data: sleep N ms,
 * gather n waits, burn N ms of CPU with its own work function, or pace the answer's pieces. A
 * /fault plan also names the misbehaviour (plan->fault), which the HTTP layer writes and the
 * engines carry out without knowing it (iob_conn_want_reset()). The engine carries the plan
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
    IOB_METHOD_OTHER = 1 << 3, /* PUT, DELETE, ...: only a route that takes any method (CONNECT
                                * never gets this far) */
};
#define IOB_METHOD_ANY (IOB_METHOD_GET | IOB_METHOD_HEAD | IOB_METHOD_POST | IOB_METHOD_OTHER)

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
    bool is_draining;   /* the server is shutting down: this is the connection's last answer */
    const char *target; /* the request target as sent (origin- or absolute-form) */
    size_t target_len;
    /* Every header as received, one "name:value\n" line each (no blanks around the value; a
     * name has no ':' and a value no LF, so the lines split unambiguously). */
    const char *headers;
    size_t headers_len;
    const char *peer; /* NUL-terminated: the client's address, "127.0.0.1" */
};

/* A concurrency model as a handler may show it (the index page): its row of the engine table,
 * without the engine. Traits are what tests and the page assert, never the name. */
struct iob_model {
    const char *name;          /* "evented", "threaded", ... */
    const char *summary;       /* one line */
    bool wait_costs_thread;    /* a wait holds an OS thread until it ends */
    bool wait_costs_fiber;     /* a wait holds a fiber (a small stack of its own), not a thread */
    bool cpu_stalls_others;    /* CPU work delays the other clients of its thread (loop) */
    unsigned cpu_lanes;        /* CPU steps that run at once; 0: one per connection */
    unsigned threads_at_rest;  /* OS threads with no connection open */
    unsigned threads_per_conn; /* OS threads each open connection adds */
    unsigned max_waits;        /* waits that can be in progress at once; 0: no limit */
    const char *breaks_first;  /* what gives out first under load, in a few words */
};

/* What every handler may know of the server: limits and the models. Built once by main.c
 * before the first accept, read-only afterwards. */
struct iob_env {
    const char *mode;                      /* this model's name: printed, never branched on */
    const struct iob_model *model;         /* this model */
    const struct iob_model *const *models; /* every model, in table order (the index page) */
    size_t n_models;
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
    bool allow_faults; /* /fault may misbehave on purpose ([limits] allow_faults) */
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
    IOB_STEP_DRIP,   /* the answer goes out in plan->n_chunks paced pieces, one every plan->ms;
                      * what a piece is (plan->stream) is the HTTP layer's business */
};

/* What the pieces of a DRIP step are. The engine only paces them; the HTTP layer writes them. */
enum iob_stream {
    IOB_STREAM_FILL,     /* /drip: the head at once, chunked; plan->bytes of '*' over the pieces */
    IOB_STREAM_SSE,      /* /sse: the head at once, chunked; one text/event-stream event a piece
                          * (plan->retry_ms, when not 0, in the first) */
    IOB_STREAM_SLOWHEAD, /* /fault slowhead: the whole answer is made at once, then its head goes
                          * out a byte a piece (the HTTP layer sets n_chunks), the body with the
                          * last */
};

/* A misbehaviour asked for on purpose (/fault). The HTTP layer writes the broken answer and
 * tells the engine how the connection ends (a FIN, or an RST: iob_conn_want_reset()); engines
 * never see the kind. The handler sets the kind on a plan that is otherwise an ordinary step
 * (NONE, SLEEP for hang, DRIP for slowhead). */
enum iob_fault {
    IOB_FAULT_NONE,
    IOB_FAULT_RESET,    /* the answer cut after plan->after_bytes, then RST (SO_LINGER 0) */
    IOB_FAULT_CLOSE,    /* the answer cut after plan->after_bytes, then FIN */
    IOB_FAULT_HANG,     /* nothing at all until the SLEEP ends, then FIN */
    IOB_FAULT_SHORT,    /* Content-Length plan->bytes, a shorter body, FIN */
    IOB_FAULT_LONG,     /* Content-Length plan->bytes, a longer body, FIN */
    IOB_FAULT_SLOWHEAD, /* a true answer whose head crawls (IOB_STREAM_SLOWHEAD) */
    IOB_FAULT_GARBAGE,  /* the head cut after plan->after_bytes (0: none of it), the body's
                         * garbage instead of the rest, FIN */
    IOB_FAULT_COUNT
};
/* The kinds' names as /fault?kind= takes them and the metrics label them, by enum value (the
 * NONE slot is NULL). */
extern const char *const iob_fault_names[IOB_FAULT_COUNT];

struct iob_task {
    uint64_t ms;          /* the wait the handler asked for */
    uint64_t finished_ns; /* engine: monotonic time the wait ended */
};

#define IOB_PLAN_SCRATCH_BYTES 64
/* More than the head of any small answer takes (status line, Server, Date, Content-Type,
 * Content-Length, Connection): a slowhead crawl has at most this many pieces. */
#define IOB_HEAD_MAX_BYTES 256

struct iob_plan;
/* Does a CPU step's work; runs on the engine's thread, may take plan->ms of CPU time. */
typedef void iob_work_fn(struct iob_plan *plan);

struct iob_plan {
    enum iob_step step;
    uint64_t ms;            /* SLEEP, CPU; DRIP: the pause before each piece */
    uint64_t bytes;         /* DRIP fill: body bytes in all; a fault: the Content-Length told */
    uint64_t n_chunks;      /* DRIP: pieces */
    enum iob_stream stream; /* DRIP: what the pieces are */
    uint64_t retry_ms;      /* SSE: the retry: field of the first event; 0: none */
    enum iob_fault fault;   /* IOB_FAULT_NONE but for /fault */
    uint64_t after_bytes;   /* RESET, CLOSE, GARBAGE: true answer bytes sent before the end */
    uint64_t seed;          /* a random value per request, set before plan() (e.g. jitter) */
    struct iob_task *tasks; /* GATHER: allocated by iob_plan_tasks(), freed by iob_plan_fini() */
    size_t n_tasks;
    iob_work_fn *work;   /* CPU */
    uint64_t started_ns; /* monotonic; set when the step starts */
    uint64_t ended_ns;   /* monotonic; set by the engine when the step is done */
    unsigned char scratch[IOB_PLAN_SCRATCH_BYTES]; /* the handler's own state (e.g. a digest) */
};

/* THE schedule of a step, used by every engine and the test fake: how many timed waits the step
 * has (SLEEP 1, GATHER one per task, DRIP one per piece, others 0) and when wait i is due
 * (monotonic ns, from plan->started_ns). DRIP piece i goes out at started + (i + 1) * ms. */
size_t iob_plan_n_waits(const struct iob_plan *plan);
uint64_t iob_plan_due_ns(const struct iob_plan *plan, size_t i);

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

/* Sets a JSON error response {"error":"<msg>"}\n with the status, replacing any body written so
 * far. Returns IOB_STEP_NONE so that plan() can `return iob_handler_error(...)`. */
enum iob_step iob_handler_error(struct iob_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Ends a handler that appended its body with result rc: rc == 0 answers 200 with the content
 * type; otherwise the body is replaced by a JSON 500 naming the failure (e.g. -E2BIG: the body
 * outgrew the connection's cap). */
void iob_handler_reply(struct iob_response *res, int rc, const char *content_type);
/* iob_handler_reply() for a JSON body: appends the newline that ends every JSON body first. */
void iob_handler_reply_json(struct iob_response *res, int rc);
/* Nanoseconds the step took (engine-written monotonic times), for the elapsed_ms fields. */
static inline uint64_t iob_plan_elapsed_ns(const struct iob_plan *plan)
{
    return plan->ended_ns - plan->started_ns;
}
