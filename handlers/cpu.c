/* GET /cpu?ms=N: N ms of real CPU work (the calling thread's CPU clock, not the wall clock),
 * computing a digest so the work cannot be optimised away. The work function runs on the
 * engine's thread: in evented mode it stalls the loop, which is the lesson of this endpoint. */
#include "handlers/endpoints.h"

#include <inttypes.h>
#include <string.h>

#include "handlers/params.h"
#include "server/base/clock.h"

/* FNV-1a's 64-bit constants, folded over a counter. */
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL
/* Mixing steps between clock reads: a few microseconds of work, so the clock call is noise
 * and the overshoot past N ms stays around the 10 us resolution of elapsed_ms. */
#define STEPS_PER_CHECK 4096

_Static_assert(sizeof(uint64_t) <= IOB_PLAN_SCRATCH_BYTES, "the digest lives in the scratch");

static void burn(struct iob_plan *plan)
{
    uint64_t budget_ns = plan->ms * IOB_NS_PER_MS;
    uint64_t start_ns = iob_clock_thread_cpu_ns();
    uint64_t digest = FNV_OFFSET;
    uint64_t counter = 0;
    while (iob_clock_thread_cpu_ns() - start_ns < budget_ns) {
        for (int i = 0; i < STEPS_PER_CHECK; i++) {
            digest ^= counter++;
            digest *= FNV_PRIME;
        }
    }
    memcpy(plan->scratch, &digest, sizeof digest);
}

enum iob_step iob_cpu_plan(const struct iob_request *req, const struct iob_env *env,
                           struct iob_plan *plan, struct iob_response *res)
{
    char err[160];
    if (iob_param_u64(req, "ms", env->max_cpu_ms, &plan->ms, err, sizeof err) != 0)
        return iob_handler_error(res, 400, "%s", err);
    plan->work = burn;
    plan->step = IOB_STEP_CPU;
    return plan->step;
}

void iob_cpu_finish(const struct iob_request *req, const struct iob_env *env,
                    const struct iob_plan *plan, struct iob_response *res)
{
    (void)req;
    uint64_t digest;
    memcpy(&digest, plan->scratch, sizeof digest);
    int rc = iob_handler_json_mode(res->body, env);
    if (rc == 0)
        rc = iob_buf_printf(res->body, ",\"cpu_ms\":%" PRIu64, plan->ms);
    if (rc == 0)
        rc = iob_handler_json_elapsed(res->body, plan);
    if (rc == 0)
        rc = iob_buf_printf(res->body, ",\"digest\":\"%016" PRIx64 "\"}", digest);
    iob_handler_reply_json(res, rc);
}
