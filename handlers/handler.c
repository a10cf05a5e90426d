/* The helpers every handler shares (handler.h, endpoints.h): a GATHER plan's task array, the
 * two ways a handler ends (a 200 body or a JSON error) and the common ends of the timed JSON
 * bodies. Any thread; no shared state. */
#include "handlers/handler.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/endpoints.h"
#include "server/base/clock.h"
#include "server/base/json.h"

int iob_plan_tasks(struct iob_plan *plan, size_t n)
{
    struct iob_task *tasks = calloc(n ? n : 1, sizeof *tasks);
    if (!tasks)
        return -ENOMEM;
    free(plan->tasks);
    plan->tasks = tasks;
    plan->n_tasks = n;
    return 0;
}

size_t iob_plan_n_waits(const struct iob_plan *plan)
{
    switch (plan->step) {
    case IOB_STEP_SLEEP:
        return 1;
    case IOB_STEP_GATHER:
        return plan->n_tasks;
    case IOB_STEP_DRIP:
        return plan->n_chunks;
    default:
        return 0;
    }
}

uint64_t iob_plan_due_ns(const struct iob_plan *plan, size_t i)
{
    uint64_t ms = plan->step == IOB_STEP_GATHER ? plan->tasks[i].ms
                  : plan->step == IOB_STEP_DRIP ? (i + 1) * plan->ms
                                                : plan->ms;
    return plan->started_ns + ms * IOB_NS_PER_MS;
}

void iob_plan_fini(struct iob_plan *plan)
{
    free(plan->tasks);
    *plan = (struct iob_plan){0};
}

enum iob_step iob_handler_error(struct iob_response *res, int status, const char *fmt, ...)
{
    /* Our messages are one short sentence; a longer one is cut, never overrun. */
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;

    res->status = status;
    res->content_type = "application/json";
    res->content_type_len = 0;
    iob_buf_reset(res->body);
    int rc = iob_buf_puts(res->body, "{\"error\":");
    if (rc == 0)
        rc = iob_json_string(res->body, msg, len);
    if (rc == 0)
        rc = iob_buf_puts(res->body, "}\n");
    if (rc != 0)
        iob_buf_reset(res->body); /* a cap too small for the message: the status still says it */
    return IOB_STEP_NONE;
}

void iob_handler_reply(struct iob_response *res, int rc, const char *content_type)
{
    if (rc == -E2BIG) {
        iob_handler_error(res, 500, "response body over its limit of %zu bytes",
                          res->body->max_bytes);
    } else if (rc != 0) {
        iob_handler_error(res, 500, "out of memory while building the response");
    } else {
        res->status = 200;
        res->content_type = content_type;
        res->content_type_len = 0;
    }
}

void iob_handler_reply_json(struct iob_response *res, int rc)
{
    /* SPEC: as httpbin's, so that a terminal prompt starts on a line of its own */
    if (rc == 0)
        rc = iob_buf_puts(res->body, "\n");
    iob_handler_reply(res, rc, "application/json");
}

enum iob_step iob_handler_stream(struct iob_response *res, struct iob_plan *plan,
                                 const char *content_type, enum iob_stream stream)
{
    res->status = 200;
    res->content_type = content_type;
    res->content_type_len = 0;
    plan->stream = stream;
    plan->step = IOB_STEP_DRIP;
    return plan->step;
}

int iob_handler_json_mode(struct iob_buf *b, const struct iob_env *env)
{
    int rc = iob_buf_puts(b, "{\"mode\":");
    return rc ? rc : iob_json_string(b, env->mode, strlen(env->mode));
}

int iob_handler_json_elapsed(struct iob_buf *b, const struct iob_plan *plan)
{
    int rc = iob_buf_puts(b, ",\"elapsed_ms\":");
    return rc ? rc : iob_json_ms(b, iob_plan_elapsed_ns(plan));
}
