/* GET /healthz: liveness for probes (Docker HEALTHCHECK, Kubernetes). If the server can answer
 * at all it is alive, so this checks nothing else. */
#include "handlers/endpoints.h"

enum iob_step iob_healthz_plan(const struct iob_request *req, const struct iob_env *env,
                               struct iob_plan *plan, struct iob_response *res)
{
    (void)req, (void)env, (void)plan;
    iob_handler_reply(res, iob_buf_puts(res->body, "ok\n"), "text/plain; charset=utf-8");
    return IOB_STEP_NONE;
}
