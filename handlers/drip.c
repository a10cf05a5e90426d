/* GET /drip?bytes=N&chunks=K&ms=M: N bytes of '*' streamed as a chunked body in K pieces, one
 * every M ms (httpbin's /drip). The handler only checks the numbers and describes the stream;
 * the engine paces the pieces and the HTTP layer writes them, so there is no finish(). */
#include "handlers/endpoints.h"

#include <inttypes.h>
#include <sys/param.h>

#include "handlers/params.h"

/* Missing parameters take these (ten bytes over one second, a visible trickle), lowered to fit
 * the limits, so a bare /drip always works. */
#define DEFAULT_BYTES  10
#define DEFAULT_CHUNKS 10
#define DEFAULT_MS     100
/* More pieces would only add per-piece overhead (a timer or a wake-up each). */
#define MAX_CHUNKS 1000

enum iob_step iob_drip_plan(const struct iob_request *req, const struct iob_env *env,
                            struct iob_plan *plan, struct iob_response *res)
{
    char err[160];
    int rc =
        iob_param_u64_opt(req, "bytes", 0, env->max_body_bytes,
                          MIN(DEFAULT_BYTES, env->max_body_bytes), &plan->bytes, err, sizeof err);
    if (rc >= 0)
        rc = iob_param_u64_opt(req, "chunks", 1, MAX_CHUNKS, DEFAULT_CHUNKS, &plan->n_chunks, err,
                               sizeof err);
    if (rc >= 0)
        rc = iob_param_u64_opt(req, "ms", 0, env->max_sleep_ms,
                               MIN(DEFAULT_MS, env->max_sleep_ms / plan->n_chunks), &plan->ms, err,
                               sizeof err);
    if (rc < 0)
        return iob_handler_error(res, 400, "%s", err);
    /* The whole stream is one wait, so it obeys the wait limit; dividing avoids the overflow. */
    if (plan->ms > env->max_sleep_ms / plan->n_chunks)
        return iob_handler_error(res, 400,
                                 "chunks*ms must be at most %" PRIu64
                                 " (max_sleep_ms); got %" PRIu64 "*%" PRIu64,
                                 env->max_sleep_ms, plan->n_chunks, plan->ms);
    res->status = 200;
    res->content_type = "application/octet-stream";
    res->content_type_len = 0;
    plan->step = IOB_STEP_DRIP;
    return plan->step;
}
