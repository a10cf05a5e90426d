/* GET /hello: the baseline. No parameters, no waiting: what is left is the server's own cost. */
#include "handlers/endpoints.h"

enum iob_step iob_hello_plan(const struct iob_request *req, const struct iob_env *env,
                             struct iob_plan *plan, struct iob_response *res)
{
    (void)req, (void)env, (void)plan;
    iob_handler_reply(res, iob_buf_puts(res->body, "hello\n"), "text/plain; charset=utf-8");
    return IOB_STEP_NONE;
}
