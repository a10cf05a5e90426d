/* GET /metrics: the registry's Prometheus text exposition, format 0.0.4. */
#include "handlers/endpoints.h"

#include "server/base/metrics.h"

enum iob_step iob_metrics_plan(const struct iob_request *req, const struct iob_env *env,
                               struct iob_plan *plan, struct iob_response *res)
{
    (void)req, (void)env, (void)plan;
    iob_handler_reply(res, iob_metrics_render(res->body),
                      "text/plain; version=0.0.4; charset=utf-8");
    return IOB_STEP_NONE;
}
