/* GET /status/CODE[?ms=N]: answers with status CODE (200-599) after an optional wait, body
 * {"status":CODE}, none for 204 and 304. The HTTP layer writes the reason phrase. */
#include "handlers/endpoints.h"

#include <string.h>

#include "handlers/params.h"
#include "server/base/strnum.h"

#define PREFIX   "/status/"
#define MIN_CODE 200
#define MAX_CODE 599

/* The response for code; the body is empty so far. */
static void answer(struct iob_response *res, int code)
{
    if (code == 204 || code == 304) { /* RFC 9110: these two never carry content */
        res->status = code;
        res->content_type = NULL;
        res->content_type_len = 0;
        return;
    }
    int rc = iob_buf_printf(res->body, "{\"status\":%d}", code);
    iob_handler_reply_json(res, rc);
    if (rc == 0)
        res->status = code;
}

enum iob_step iob_status_plan(const struct iob_request *req, const struct iob_env *env,
                              struct iob_plan *plan, struct iob_response *res)
{
    /* The route matched the prefix, so the path starts with it; the rest is the code, raw (an
     * escape is not a digit). */
    const char *code_text = req->path + strlen(PREFIX);
    uint64_t code;
    if (iob_strnum_u64(code_text, req->path_len - strlen(PREFIX), MAX_CODE, &code) != 0 ||
        code < MIN_CODE)
        return iob_handler_error(res, 400,
                                 "CODE in /status/CODE must be a decimal integer from %d to %d",
                                 MIN_CODE, MAX_CODE);
    char err[160];
    int rc = iob_param_u64_opt(req, "ms", 0, env->max_sleep_ms, 0, &plan->ms, err, sizeof err);
    if (rc < 0)
        return iob_handler_error(res, 400, "%s", err);
    if (rc == 0) {
        answer(res, (int)code);
        return IOB_STEP_NONE;
    }
    memcpy(plan->scratch, &code, sizeof code);
    plan->step = IOB_STEP_SLEEP;
    return plan->step;
}

void iob_status_finish(const struct iob_request *req, const struct iob_env *env,
                       const struct iob_plan *plan, struct iob_response *res)
{
    (void)req, (void)env;
    uint64_t code;
    memcpy(&code, plan->scratch, sizeof code);
    answer(res, (int)code);
}
