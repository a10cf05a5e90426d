/* GET /sleep?ms=N: one wait of N ms that uses no CPU. How the wait happens (a timer, or a
 * sleeping thread) is the engine's business; this file only asks for it and reports it. */
#include "handlers/endpoints.h"

#include <inttypes.h>

#include "handlers/params.h"

enum iob_step iob_sleep_plan(const struct iob_request *req, const struct iob_env *env,
                             struct iob_plan *plan, struct iob_response *res)
{
    char err[160];
    if (iob_param_u64(req, "ms", env->max_sleep_ms, &plan->ms, err, sizeof err) != 0)
        return iob_handler_error(res, 400, "%s", err);
    plan->step = IOB_STEP_SLEEP;
    return plan->step;
}

void iob_sleep_finish(const struct iob_request *req, const struct iob_env *env,
                      const struct iob_plan *plan, struct iob_response *res)
{
    (void)req;
    int rc = iob_handler_json_mode(res->body, env);
    if (rc == 0)
        rc = iob_buf_printf(res->body, ",\"slept_ms\":%" PRIu64, plan->ms);
    if (rc == 0)
        rc = iob_handler_json_elapsed(res->body, plan);
    if (rc == 0)
        rc = iob_buf_puts(res->body, "}");
    iob_handler_reply(res, rc, "application/json");
}
