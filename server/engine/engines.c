/* THE table of concurrency models: each row is a name, a summary, the model's traits and its run
 * function. Config's allowed modes, --help, --list-modes, the index page, the CMake test
 * registration (it reads the .name lines below) and bench/demo all come from here. Read-only. */
#include "server/engine/engine.h"

#include <stdio.h>
#include <string.h>

#include "server/base/buf.h"
#include "server/base/json.h"

static const struct iob_engine engines[] = {
    {.model = {.name = "evented",
               .summary = "one libevent loop on one OS thread; a wait is a timer",
               .wait_costs_thread = false,
               .cpu_stalls_others = true,
               .threads_at_rest = 1,
               .threads_per_conn = 0,
               .breaks_first = "CPU work: one busy request stalls every client"},
     .run = iob_evented_run},
    {.model = {.name = "threaded",
               .summary = "one OS thread per connection; a wait blocks that thread",
               .wait_costs_thread = true,
               .cpu_stalls_others = false,
               .threads_at_rest = 1,
               .threads_per_conn = 1,
               .breaks_first = "memory and scheduling: a thread stack per connection"},
     .run = iob_threaded_run},
};

#define N_ENGINES (sizeof engines / sizeof engines[0])
_Static_assert(N_ENGINES <= IOB_ENGINES_MAX, "raise IOB_ENGINES_MAX");

const struct iob_engine *iob_engines(size_t *n)
{
    *n = N_ENGINES;
    return engines;
}

const struct iob_engine *iob_engine_find(const char *name)
{
    for (size_t i = 0; i < N_ENGINES; i++)
        if (strcmp(engines[i].model.name, name) == 0)
            return &engines[i];
    return NULL;
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

static void list_json(int fd)
{
    struct iob_buf b;
    iob_buf_init(&b, 64 * 1024);
    int rc = iob_buf_puts(&b, "[");
    for (size_t i = 0; rc == 0 && i < N_ENGINES; i++) {
        const struct iob_model *m = &engines[i].model;
        rc = iob_buf_puts(&b, i ? ",\n {\"name\":" : "{\"name\":");
        rc = rc ? rc : iob_json_string(&b, m->name, strlen(m->name));
        rc = rc ? rc : iob_buf_puts(&b, ",\"summary\":");
        rc = rc ? rc : iob_json_string(&b, m->summary, strlen(m->summary));
        rc = rc ? rc
                : iob_buf_printf(&b,
                                 ",\"wait_costs_thread\":%s,\"cpu_stalls_others\":%s,"
                                 "\"threads_at_rest\":%u,\"threads_per_conn\":%u,"
                                 "\"breaks_first\":",
                                 m->wait_costs_thread ? "true" : "false",
                                 m->cpu_stalls_others ? "true" : "false", m->threads_at_rest,
                                 m->threads_per_conn);
        rc = rc ? rc : iob_json_string(&b, m->breaks_first, strlen(m->breaks_first));
        rc = rc ? rc : iob_buf_puts(&b, "}");
    }
    if (rc == 0 && iob_buf_puts(&b, "]\n") == 0)
        dprintf(fd, "%s", b.data);
    iob_buf_fini(&b);
}

void iob_engine_list(int fd, bool json)
{
    if (json) {
        list_json(fd);
        return;
    }
    for (size_t i = 0; i < N_ENGINES; i++) {
        const struct iob_model *m = &engines[i].model;
        /* Self-describing fields, so a reader needs no header line. */
        dprintf(fd,
                "%-9s wait_costs_thread=%-3s cpu_stalls_others=%-3s threads_at_rest=%u "
                "threads_per_conn=%u  %s\n",
                m->name, yes_no(m->wait_costs_thread), yes_no(m->cpu_stalls_others),
                m->threads_at_rest, m->threads_per_conn, m->summary);
    }
}
