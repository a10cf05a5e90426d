/* GET /bytes?n=N[&seed=S]: N pseudo-random bytes with a Content-Length (httpbin's /bytes). With
 * a seed the bytes are the same on every call and every host, so a client can check what
 * arrived; without one they differ per request. */
#include "handlers/endpoints.h"

#include <stdint.h>
#include <sys/param.h>

#include "handlers/params.h"

#define DEFAULT_BYTES 64

enum iob_step iob_bytes_plan(const struct iob_request *req, const struct iob_env *env,
                             struct iob_plan *plan, struct iob_response *res)
{
    char err[160];
    uint64_t n, seed;
    int rc = iob_param_u64_opt(req, "n", 0, env->max_body_bytes,
                               MIN(DEFAULT_BYTES, env->max_body_bytes), &n, err, sizeof err);
    if (rc >= 0)
        rc = iob_param_u64_opt(req, "seed", 0, UINT64_MAX, plan->seed, &seed, err, sizeof err);
    if (rc < 0)
        return iob_handler_error(res, 400, "%s", err);
    iob_handler_reply(res, iob_param_random_bytes(res->body, n, seed), "application/octet-stream");
    return IOB_STEP_NONE;
}
