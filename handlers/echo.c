/* POST /echo: the request body back, under the request's Content-Type. The body arrives whole
 * (the HTTP layer has already applied max_body_bytes and decoded chunked framing). */
#include "handlers/endpoints.h"

enum iob_step iob_echo_plan(const struct iob_request *req, const struct iob_env *env,
                            struct iob_plan *plan, struct iob_response *res)
{
    (void)env, (void)plan;
    iob_handler_reply(res, iob_buf_append(res->body, req->body, req->body_len),
                      "application/octet-stream");
    if (res->status == 200 && req->content_type && req->content_type_len > 0) {
        res->content_type = req->content_type;
        res->content_type_len = req->content_type_len;
    }
    return IOB_STEP_NONE;
}
