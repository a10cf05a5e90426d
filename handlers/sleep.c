/* GET /sleep?ms=N[&jitter=J]: one wait of N ms (J: uniform in [N-J, N+J]) that uses no CPU. How
 * the wait happens (a timer, or a sleeping thread) is the engine's business; this file only
 * asks for it and reports it. */
#include "handlers/endpoints.h"

#include <inttypes.h>
#include <string.h>

#include "handlers/params.h"

_Static_assert(sizeof(struct iob_jitter) <= IOB_PLAN_SCRATCH_BYTES, "the jitter fits the scratch");

enum iob_step iob_sleep_plan(const struct iob_request *req, const struct iob_env *env,
                             struct iob_plan *plan, struct iob_response *res)
{
    char err[160];
    struct iob_jitter jitter;
    if (iob_param_u64(req, "ms", env->max_sleep_ms, &plan->ms, err, sizeof err) != 0 ||
        iob_param_jitter(req, env->max_sleep_ms, &jitter, err, sizeof err) != 0)
        return iob_handler_error(res, 400, "%s", err);
    plan->ms = iob_param_jittered_ms(&jitter, plan->seed, 0, plan->ms, env->max_sleep_ms);
    memcpy(plan->scratch, &jitter, sizeof jitter);
    plan->step = IOB_STEP_SLEEP;
    return plan->step;
}

void iob_sleep_finish(const struct iob_request *req, const struct iob_env *env,
                      const struct iob_plan *plan, struct iob_response *res)
{
    (void)req;
    struct iob_jitter jitter;
    memcpy(&jitter, plan->scratch, sizeof jitter);
    int rc = iob_handler_json_mode(res->body, env);
    if (rc == 0) /* the wait asked of the engine: with jitter, the drawn one */
        rc = iob_buf_puts(res->body, ",\"slept_ms\":");
    if (rc == 0)
        rc = iob_buf_put_u64(res->body, plan->ms);
    if (rc == 0 && jitter.is_given)
        rc = iob_buf_printf(res->body, ",\"jitter_ms\":%" PRIu64, jitter.ms);
    if (rc == 0)
        rc = iob_handler_json_elapsed(res->body, plan);
    if (rc == 0)
        rc = iob_buf_puts(res->body, "}");
    iob_handler_reply_json(res, rc);
}
