/* GET /sse?events=N&ms=M[&retry=R]: a text/event-stream of N events, one every M ms (the first
 * after M), each an id: line and a JSON data: line; R, when given, goes out as the retry: field
 * of the first. No Content-Length: a proxy that buffers shows itself by delivering the events
 * in one lump. The engine paces the pieces and the HTTP layer writes them (exchange.c). */
#include "handlers/endpoints.h"

#include <inttypes.h>
#include <sys/param.h>

#include "handlers/params.h"

/* A bare /sse shows five events a second apart, lowered to fit the limits. */
#define DEFAULT_EVENTS 5
#define DEFAULT_MS     1000
/* As /drip's pieces: more would only add per-event overhead. */
#define MAX_EVENTS 1000

enum iob_step iob_sse_plan(const struct iob_request *req, const struct iob_env *env,
                           struct iob_plan *plan, struct iob_response *res)
{
    char err[160];
    int rc = iob_param_u64_opt(req, "events", 0, MAX_EVENTS, DEFAULT_EVENTS, &plan->n_chunks, err,
                               sizeof err);
    uint64_t per_event_max = env->max_sleep_ms / MAX(plan->n_chunks, 1);
    if (rc >= 0)
        rc = iob_param_u64_opt(req, "ms", 0, env->max_sleep_ms, MIN(DEFAULT_MS, per_event_max),
                               &plan->ms, err, sizeof err);
    if (rc >= 0)
        rc = iob_param_u64_opt(req, "retry", 1, env->max_sleep_ms, 0, &plan->retry_ms, err,
                               sizeof err);
    if (rc < 0)
        return iob_handler_error(res, 400, "%s", err);
    /* The whole stream is one wait, so it obeys the wait limit; dividing avoids the overflow. */
    if (plan->ms > per_event_max)
        return iob_handler_error(res, 400,
                                 "events*ms must be at most %" PRIu64
                                 " (max_sleep_ms); got %" PRIu64 "*%" PRIu64,
                                 env->max_sleep_ms, plan->n_chunks, plan->ms);
    res->status = 200;
    res->content_type = "text/event-stream";
    res->content_type_len = 0;
    plan->stream = IOB_STREAM_SSE;
    plan->step = IOB_STEP_DRIP;
    return plan->step;
}
