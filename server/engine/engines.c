/* THE table of concurrency models: each row is a name, a summary, the model's traits and its run
 * function. Config's allowed modes, --help, --list-modes, the index page, the CMake test
 * registration (it reads the .name lines below) and bench/demo all come from here. Read-only. */
#include "server/engine/engine.h"

#include <stdio.h>
#include <string.h>

#include "server/base/buf.h"
#include "server/base/json.h"

static void resolve_pool(struct iob_model *m, const struct iob_engine_args *args)
{
    m->threads_at_rest = 1 + args->pool_workers; /* the acceptor and the workers */
    m->cpu_lanes = args->pool_workers;
    m->max_waits = args->pool_workers;
}

static void resolve_workers(struct iob_model *m, const struct iob_engine_args *args)
{
    m->threads_at_rest = 1 + args->loops; /* the supervisor and a thread per loop */
    m->cpu_lanes = args->loops;
}

static void resolve_executor(struct iob_model *m, const struct iob_engine_args *args)
{
    m->threads_at_rest = 1 + args->cpu_threads;
    m->cpu_lanes = args->cpu_threads;
}

static const struct iob_engine engines[] = {
    {.model = {.name = "evented",
               .summary = "one libevent loop on one OS thread; a wait is a timer",
               .wait_costs_thread = false,
               .cpu_stalls_others = true,
               .cpu_lanes = 1,
               .threads_at_rest = 1,
               .threads_per_conn = 0,
               .breaks_first = "CPU work: one busy request stalls every client"},
     .run = iob_evented_run},
    {.model = {.name = "threaded",
               .summary = "one OS thread per connection; a wait blocks that thread",
               .wait_costs_thread = true,
               .cpu_stalls_others = false,
               .cpu_lanes = 0,
               .threads_at_rest = 1,
               .threads_per_conn = 1,
               .breaks_first = "memory and scheduling: a thread stack per connection"},
     .run = iob_threaded_run},
    {.model = {.name = "pool",
               .summary = "a fixed pool of worker threads, each serving one request at a time",
               .wait_costs_thread = true,
               .cpu_stalls_others = false,
               .threads_per_conn = 0,
               .breaks_first = "waits: W slow requests take every worker; the rest queue"},
     .resolve = resolve_pool,
     .run = iob_pool_run},
    {.model = {.name = "workers",
               .summary = "one evented loop per core, each on its own SO_REUSEPORT socket",
               .wait_costs_thread = false,
               .cpu_stalls_others = true,
               .threads_per_conn = 0,
               .breaks_first = "CPU work: it stalls the clients of its own loop"},
     .resolve = resolve_workers,
     .reuseport = true,
     .run = iob_workers_run},
    {.model = {.name = "executor",
               .summary = "one evented loop for the waits; CPU steps run on a few threads",
               .wait_costs_thread = false,
               .cpu_stalls_others = false,
               .threads_per_conn = 0,
               .breaks_first = "CPU work beyond the threads: it queues, the loop stays free"},
     .resolve = resolve_executor,
     .run = iob_executor_run},
    {.model = {.name = "uring",
               .summary =
                   "one io_uring on one OS thread; the kernel completes reads, writes, timers",
               .wait_costs_thread = false,
               .cpu_stalls_others = true,
               .cpu_lanes = 1,
               .threads_at_rest = 1,
               .threads_per_conn = 0,
               .breaks_first = "CPU work: one busy request stalls every client, as in evented"},
     .check = iob_uring_check,
     .run = iob_uring_run},
    {.model = {.name = "fibers",
               .summary = "a fiber per connection on one epoll loop; blocking code, waits yield",
               .wait_costs_thread = false,
               .wait_costs_fiber = true,
               .cpu_stalls_others = true,
               .cpu_lanes = 1,
               .threads_at_rest = 1,
               .threads_per_conn = 0,
               .breaks_first = "CPU work: one busy request stalls every fiber"},
     .run = iob_fibers_run},
};

#define N_ENGINES (sizeof engines / sizeof engines[0])
_Static_assert(N_ENGINES <= IOB_ENGINES_MAX, "raise IOB_ENGINES_MAX");

const struct iob_engine *iob_engines(size_t *n)
{
    *n = N_ENGINES;
    return engines;
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

static void list_json(int fd, const struct iob_model *const *models, size_t n)
{
    struct iob_buf b;
    iob_buf_init(&b, 64 * 1024);
    int rc = iob_buf_puts(&b, "[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct iob_model *m = models[i];
        rc = iob_buf_puts(&b, i ? ",\n {\"name\":" : "{\"name\":");
        rc = rc ? rc : iob_json_string(&b, m->name, strlen(m->name));
        rc = rc ? rc : iob_buf_puts(&b, ",\"summary\":");
        rc = rc ? rc : iob_json_string(&b, m->summary, strlen(m->summary));
        rc = rc ? rc
                : iob_buf_printf(&b,
                                 ",\"wait_costs_thread\":%s,\"wait_costs_fiber\":%s,"
                                 "\"cpu_stalls_others\":%s,"
                                 "\"cpu_lanes\":%u,\"threads_at_rest\":%u,"
                                 "\"threads_per_conn\":%u,\"max_waits\":%u,\"breaks_first\":",
                                 m->wait_costs_thread ? "true" : "false",
                                 m->wait_costs_fiber ? "true" : "false",
                                 m->cpu_stalls_others ? "true" : "false", m->cpu_lanes,
                                 m->threads_at_rest, m->threads_per_conn, m->max_waits);
        rc = rc ? rc : iob_json_string(&b, m->breaks_first, strlen(m->breaks_first));
        rc = rc ? rc : iob_buf_puts(&b, "}");
    }
    if (rc == 0 && iob_buf_puts(&b, "]\n") == 0)
        dprintf(fd, "%s", b.data);
    iob_buf_fini(&b);
}

void iob_engine_list(int fd, bool json, const struct iob_model *const *models, size_t n)
{
    if (json) {
        list_json(fd, models, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct iob_model *m = models[i];
        /* Self-describing fields, so a reader needs no header line. */
        dprintf(fd,
                "%-9s wait_costs_thread=%-3s wait_costs_fiber=%-3s cpu_stalls_others=%-3s "
                "cpu_lanes=%-2u threads_at_rest=%-2u threads_per_conn=%u max_waits=%-2u %s\n",
                m->name, yes_no(m->wait_costs_thread), yes_no(m->wait_costs_fiber),
                yes_no(m->cpu_stalls_others), m->cpu_lanes, m->threads_at_rest, m->threads_per_conn,
                m->max_waits, m->summary);
    }
}
