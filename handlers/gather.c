/* GET /gather?ms=A,B,...[&jitter=J]: several waits inside one request, run concurrently like
 * asyncio.gather, so the request takes the longest wait, not the sum. Each task reports its
 * wait (drawn, with jitter) and when it finished, relative to the start, which shows the
 * overlap. */
#include "handlers/endpoints.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "handlers/params.h"
#include "server/base/json.h"

enum iob_step iob_gather_plan(const struct iob_request *req, const struct iob_env *env,
                              struct iob_plan *plan, struct iob_response *res)
{
    char err[192];
    int rc =
        iob_param_tasks(req, "ms", env->max_sleep_ms, env->max_gather_tasks, plan, err, sizeof err);
    if (rc == -ENOMEM)
        return iob_handler_error(res, 503, "out of memory for the gather tasks; try again");
    struct iob_jitter jitter;
    if (rc == 0)
        rc = iob_param_jitter(req, env->max_sleep_ms, &jitter, err, sizeof err);
    if (rc != 0)
        return iob_handler_error(res, 400, "%s", err);
    for (size_t i = 0; i < plan->n_tasks; i++)
        plan->tasks[i].ms =
            iob_param_jittered_ms(&jitter, plan->seed, i, plan->tasks[i].ms, env->max_sleep_ms);
    memcpy(plan->scratch, &jitter, sizeof jitter);
    plan->step = IOB_STEP_GATHER;
    return plan->step;
}

void iob_gather_finish(const struct iob_request *req, const struct iob_env *env,
                       const struct iob_plan *plan, struct iob_response *res)
{
    (void)req;
    struct iob_jitter jitter;
    memcpy(&jitter, plan->scratch, sizeof jitter);
    struct iob_buf *b = res->body;
    int rc = iob_handler_json_mode(b, env);
    if (rc == 0)
        rc = iob_buf_puts(b, ",\"tasks\":[");
    for (size_t i = 0; rc == 0 && i < plan->n_tasks; i++) {
        const struct iob_task *t = &plan->tasks[i];
        rc = iob_buf_printf(b, "%s{\"ms\":%" PRIu64 ",\"finished_ms\":", i ? "," : "", t->ms);
        if (rc == 0)
            rc = iob_json_ms(b, t->finished_ns - plan->started_ns);
        if (rc == 0)
            rc = iob_buf_puts(b, "}");
    }
    if (rc == 0)
        rc = iob_buf_puts(b, "]");
    if (rc == 0 && jitter.is_given)
        rc = iob_buf_printf(b, ",\"jitter_ms\":%" PRIu64, jitter.ms);
    if (rc == 0)
        rc = iob_handler_json_elapsed(b, plan);
    if (rc == 0)
        rc = iob_buf_puts(b, "}");
    iob_handler_reply_json(res, rc);
}
