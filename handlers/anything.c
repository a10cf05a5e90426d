/* ANY /anything[/...][?ms=N&jitter=J]: the request as the server saw it, in httpbin's JSON
 * shape (args, data, form, headers, json, method, origin, path, url): what a proxy forwarded.
 * With ms=, the answer waits first, as /status does. The header and body caps of the HTTP layer
 * apply as to every route. */
#include "handlers/endpoints.h"

#include <string.h>
#include <strings.h>

#include "handlers/params.h"
#include "server/base/json.h"

_Static_assert(sizeof(struct iob_jitter) <= IOB_PLAN_SCRATCH_BYTES, "the jitter fits the scratch");

/* One "name:value" header line of the request view. */
struct header {
    const char *name, *value;
    size_t name_len, value_len;
};

/* The header line at *p (before end), which moves past it. */
static struct header next_header(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *line_end = nl ? nl : end;
    const char *colon = memchr(*p, ':', (size_t)(line_end - *p));
    if (!colon)
        colon = line_end;
    struct header h = {*p, colon, (size_t)(colon - *p), 0};
    h.value = colon < line_end ? colon + 1 : line_end;
    h.value_len = (size_t)(line_end - h.value);
    *p = nl ? nl + 1 : end;
    return h;
}

static bool same_name(const struct header *a, const struct header *b)
{
    return a->name_len == b->name_len && strncasecmp(a->name, b->name, a->name_len) == 0;
}

/* The headers as an object; a repeated name once, its values joined by ", " (RFC 9110 5.3). */
static int put_headers(struct iob_buf *b, const struct iob_request *req)
{
    const char *end = req->headers + req->headers_len;
    int rc = iob_buf_puts(b, ",\"headers\":{");
    bool is_first = true;
    for (const char *p = req->headers; rc == 0 && p < end;) {
        const char *at = p;
        struct header h = next_header(&p, end);
        bool is_seen = false;
        for (const char *q = req->headers; q < at && !is_seen;) {
            struct header earlier = next_header(&q, end);
            is_seen = same_name(&earlier, &h);
        }
        if (is_seen)
            continue;
        rc = iob_buf_puts(b, is_first ? "" : ",");
        is_first = false;
        if (rc == 0)
            rc = iob_json_string(b, h.name, h.name_len);
        if (rc == 0)
            rc = iob_buf_puts(b, ":\"");
        for (const char *q = at; rc == 0 && q < end;) {
            struct header same = next_header(&q, end);
            if (!same_name(&same, &h))
                continue;
            if (same.name != h.name)
                rc = iob_buf_puts(b, ", ");
            if (rc == 0)
                rc = iob_json_escaped(b, same.value, same.value_len);
        }
        if (rc == 0)
            rc = iob_buf_puts(b, "\"");
    }
    return rc ? rc : iob_buf_puts(b, "}");
}

/* The value of the first header called name, or an empty one. */
static struct header find_header(const struct iob_request *req, const char *name)
{
    struct header want = {name, NULL, strlen(name), 0};
    const char *end = req->headers + req->headers_len;
    for (const char *p = req->headers; p < end;) {
        struct header h = next_header(&p, end);
        if (same_name(&h, &want))
            return h;
    }
    return (struct header){"", "", 0, 0};
}

/* The URL as the client named it: absolute-form as sent, origin-form under http://Host. */
static int put_url(struct iob_buf *b, const struct iob_request *req)
{
    int rc = iob_buf_puts(b, ",\"url\":\"");
    if (rc == 0 && req->target_len && req->target[0] == '/') {
        struct header host = find_header(req, "host");
        rc = iob_buf_puts(b, "http://");
        if (rc == 0)
            rc = iob_json_escaped(b, host.value, host.value_len);
    }
    if (rc == 0)
        rc = iob_json_escaped(b, req->target, req->target_len);
    return rc ? rc : iob_buf_puts(b, "\"");
}

static bool type_is(const struct iob_request *req, const char *type)
{
    size_t n = strlen(type);
    return req->content_type && req->content_type_len >= n &&
           strncasecmp(req->content_type, type, n) == 0 &&
           (req->content_type_len == n || req->content_type[n] == ';' ||
            req->content_type[n] == ' ');
}

/* data: the body as text; form: its pairs when it is a form. */
static int put_body(struct iob_buf *b, const struct iob_request *req)
{
    int rc = iob_buf_puts(b, ",\"data\":");
    if (rc == 0)
        rc = iob_json_string(b, req->body, req->body_len);
    if (rc == 0)
        rc = iob_buf_puts(b, ",\"form\":");
    bool is_form = type_is(req, "application/x-www-form-urlencoded");
    if (rc == 0)
        rc = iob_param_pairs_json(b, is_form ? req->body : NULL, is_form ? req->body_len : 0);
    return rc;
}

/* json: the body itself when it is valid JSON under a JSON type, else null. */
static int put_json(struct iob_buf *b, const struct iob_request *req)
{
    int rc = iob_buf_puts(b, ",\"json\":");
    bool is_json = type_is(req, "application/json") && iob_json_is_valid(req->body, req->body_len);
    if (rc == 0)
        rc = is_json ? iob_buf_append(b, req->body, req->body_len) : iob_buf_puts(b, "null");
    return rc;
}

/* The fields in httpbin's order (its files is left out: multipart bodies are not parsed). */
static void answer(const struct iob_request *req, struct iob_response *res)
{
    struct iob_buf *b = res->body;
    int rc = iob_buf_puts(b, "{\"args\":");
    if (rc == 0)
        rc = iob_param_pairs_json(b, req->query, req->query_len);
    if (rc == 0)
        rc = put_body(b, req);
    if (rc == 0)
        rc = put_headers(b, req);
    if (rc == 0)
        rc = put_json(b, req);
    if (rc == 0)
        rc = iob_buf_printf(b, ",\"method\":\"%s\",\"origin\":", req->method_name);
    if (rc == 0)
        rc = iob_json_string(b, req->peer, strlen(req->peer));
    if (rc == 0)
        rc = iob_buf_puts(b, ",\"path\":");
    if (rc == 0)
        rc = iob_json_string(b, req->path, req->path_len);
    if (rc == 0)
        rc = put_url(b, req);
    if (rc == 0)
        rc = iob_buf_puts(b, "}");
    iob_handler_reply_json(res, rc);
}

enum iob_step iob_anything_plan(const struct iob_request *req, const struct iob_env *env,
                                struct iob_plan *plan, struct iob_response *res)
{
    char err[160];
    struct iob_jitter jitter;
    int rc = iob_param_u64_opt(req, "ms", 0, env->max_sleep_ms, 0, &plan->ms, err, sizeof err);
    if (rc < 0 || iob_param_jitter(req, env->max_sleep_ms, &jitter, err, sizeof err) != 0)
        return iob_handler_error(res, 400, "%s", err);
    if (rc == 0 && !jitter.is_given) {
        answer(req, res);
        return IOB_STEP_NONE;
    }
    plan->ms = iob_param_jittered_ms(&jitter, plan->seed, 0, plan->ms, env->max_sleep_ms);
    plan->step = IOB_STEP_SLEEP;
    return plan->step;
}

void iob_anything_finish(const struct iob_request *req, const struct iob_env *env,
                         const struct iob_plan *plan, struct iob_response *res)
{
    (void)env, (void)plan;
    answer(req, res);
}
