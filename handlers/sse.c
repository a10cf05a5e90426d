/* GET /sse?events=N&ms=M[&retry=R]: a text/event-stream of N events, one every M ms (the first
 * after M), each an id: line and a JSON data: line; R, when given, goes out as the retry: field
 * of the first. No Content-Length: a proxy that buffers shows itself by delivering the events
 * in one lump. The engine paces the pieces and the HTTP layer writes them (exchange.c). */
#include "handlers/endpoints.h"

#include "handlers/params.h"

/* A bare /sse shows five events a second apart, lowered to fit the limits. */
#define DEFAULT_EVENTS 5
#define DEFAULT_MS     1000

enum iob_step iob_sse_plan(const struct iob_request *req, const struct iob_env *env,
                           struct iob_plan *plan, struct iob_response *res)
{
    char err[160];
    int rc =
        iob_param_paced(req, env, "events", 0, DEFAULT_EVENTS, DEFAULT_MS, plan, err, sizeof err);
    if (rc >= 0)
        rc = iob_param_u64_opt(req, "retry", 1, env->max_sleep_ms, 0, &plan->retry_ms, err,
                               sizeof err);
    if (rc < 0)
        return iob_handler_error(res, 400, "%s", err);
    return iob_handler_stream(res, plan, "text/event-stream", IOB_STREAM_SSE);
}
