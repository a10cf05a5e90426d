/* GET /readyz: readiness for probes (Kubernetes), distinct from liveness (/healthz). A server
 * that drains is alive but must take no new traffic: 503, so that a load balancer removes it
 * before its connections close. */
#include "handlers/endpoints.h"

enum iob_step iob_readyz_plan(const struct iob_request *req, const struct iob_env *env,
                              struct iob_plan *plan, struct iob_response *res)
{
    (void)env, (void)plan;
    if (req->is_draining)
        return iob_handler_error(res, 503, "draining: shutting down, send new requests elsewhere");
    iob_handler_reply(res, iob_buf_puts(res->body, "ready\n"), "text/plain; charset=utf-8");
    return IOB_STEP_NONE;
}
