/* GET /drip?bytes=N&chunks=K&ms=M: N bytes of '*' streamed as a chunked body in K pieces, one
 * every M ms (httpbin's /drip). The handler only checks the numbers and describes the stream;
 * the engine paces the pieces and the HTTP layer writes them, so there is no finish(). */
#include "handlers/endpoints.h"

#include <sys/param.h>

#include "handlers/params.h"

/* Missing parameters take these (ten bytes over one second, a visible trickle), lowered to fit
 * the limits, so a bare /drip always works. */
#define DEFAULT_BYTES  10
#define DEFAULT_CHUNKS 10
#define DEFAULT_MS     100

enum iob_step iob_drip_plan(const struct iob_request *req, const struct iob_env *env,
                            struct iob_plan *plan, struct iob_response *res)
{
    char err[160];
    int rc =
        iob_param_u64_opt(req, "bytes", 0, env->max_body_bytes,
                          MIN(DEFAULT_BYTES, env->max_body_bytes), &plan->bytes, err, sizeof err);
    if (rc >= 0)
        rc = iob_param_paced(req, env, "chunks", 1, DEFAULT_CHUNKS, DEFAULT_MS, plan, err,
                             sizeof err);
    if (rc < 0)
        return iob_handler_error(res, 400, "%s", err);
    return iob_handler_stream(res, plan, "application/octet-stream", IOB_STREAM_FILL);
}
