/* One request from route to answer. Every answer of the server, good or bad, is written,
 * counted and logged here, so metrics and the access log never miss one. Runs on the
 * connection's thread. */
#include "server/http/exchange.h"

#include <inttypes.h>
#include <stdio.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/http/conn_state.h"
#include "server/http/respond.h"

static size_t route_id(const struct iob_route *route)
{
    return route ? (size_t)(route - iob_routes) : iob_route_other;
}

static bool method_allowed(const struct iob_route *route, enum iob_method method)
{
    unsigned allowed = route->methods;
    if (allowed & IOB_METHOD_GET)
        allowed |= IOB_METHOD_HEAD;
    return allowed & method;
}

static struct iob_respond_opts respond_opts(struct iob_conn *c)
{
    struct iob_exchange *x = &c->x;
    if (!x->keep_alive || c->draining)
        c->want_close = true;
    return (struct iob_respond_opts){
        .is_head = x->method == IOB_METHOD_HEAD,
        .want_close = c->want_close,
        .want_keepalive = x->asked_keepalive && !c->want_close,
        .allow = x->res.status != 405 ? NULL
                 : x->route           ? x->route->allow
                                      : "GET, HEAD, POST",
    };
}

/* Counts and logs the answer. begun: the request was counted as in flight by
 * iob_exchange_begin(). */
static void account(struct iob_conn *c, bool begun, size_t body_bytes)
{
    struct iob_exchange *x = &c->x;
    uint64_t duration_ns = iob_clock_now_ns() - x->start_ns;
    if (begun)
        iob_metrics_request_end(route_id(x->route), x->res.status, duration_ns);
    else
        iob_metrics_request_count(route_id(x->route), x->res.status, duration_ns);
    if (!iob_log_access_enabled())
        return;
    const struct iob_kept *ua = &c->user_agent;
    iob_log_access(&(struct iob_access){
        .peer = c->peer,
        .method = x->method_name ? x->method_name : "-",
        .target = c->head.data ? c->head.data : "",
        .target_len = c->url_len,
        .http_minor = x->http_minor,
        .status = x->res.status,
        .body_bytes = body_bytes,
        .duration_ns = duration_ns,
        .route = iob_route_label(x->route),
        .mode = c->env->mode,
        .user_agent = ua->is_set ? c->head.data + ua->off : NULL,
        .user_agent_len = ua->len,
    });
}

/* Writes the answer in x->res to the output, counts and logs it. */
static void answer(struct iob_conn *c, bool begun)
{
    struct iob_exchange *x = &c->x;
    struct iob_respond_opts opts = respond_opts(c);
    if (iob_respond_write(&c->out, &x->res, &opts) < 0) {
        /* The answer does not fit its buffer: say so instead, and close. */
        c->want_close = opts.want_close = true;
        iob_handler_error(&x->res, 500, "response too large for the output buffer");
        iob_respond_write(&c->out, &x->res, &opts);
    }
    account(c, begun, x->res.body ? x->res.body->len : 0);
}

/* Size of DRIP piece i: the bytes spread evenly, the remainder over the first pieces. */
static size_t drip_piece_bytes(const struct iob_plan *plan, size_t i)
{
    return (size_t)(plan->bytes / plan->n_chunks + (i < plan->bytes % plan->n_chunks ? 1 : 0));
}

/* A slowhead answer is made whole now, so its head says what a quick one would; its head bytes
 * are the pieces (the body goes with the last). An answer that cannot be made sends nothing
 * and closes. */
static void stage_whole(struct iob_conn *c, const struct iob_respond_opts *opts)
{
    struct iob_exchange *x = &c->x;
    iob_buf_reset(&c->staged);
    size_t body_len = opts->is_head ? 0 : x->res.body->len;
    if (iob_respond_write(&c->staged, &x->res, opts) < 0) {
        iob_buf_reset(&c->staged);
        c->want_close = true;
        x->plan.n_chunks = 0;
        return;
    }
    size_t head_len = c->staged.len - body_len;
    x->plan.n_chunks = head_len < IOB_HEAD_MAX_BYTES ? head_len : IOB_HEAD_MAX_BYTES;
}

enum iob_step iob_exchange_begin(struct iob_conn *c, struct iob_plan **plan)
{
    struct iob_exchange *x = &c->x;
    c->phase = IOB_PHASE_BUSY;
    x->res.body = &x->res_body;
    x->plan.seed = iob_conn_random(c);
    *plan = &x->plan;
    x->req.is_draining = c->draining;
    iob_metrics_request_begin();
    if (!x->route)
        x->step = iob_handler_error(&x->res, 404, "no such path; GET / lists the endpoints");
    else if (!method_allowed(x->route, x->method))
        x->step = iob_handler_error(&x->res, 405, "method %s not allowed; allowed: %s",
                                    x->method_name, x->route->allow);
    else
        x->step = x->route->plan(&x->req, c->env, &x->plan, &x->res);
    x->plan.step = x->step;
    x->plan.started_ns = iob_clock_now_ns();
    if (x->step == IOB_STEP_DRIP) {
        /* A stream's head goes out now and its pieces follow as the engine's timers fire; a
         * slowhead answer waits whole, its head being the pieces. */
        struct iob_respond_opts opts = respond_opts(c);
        if (x->plan.stream == IOB_STREAM_SLOWHEAD)
            stage_whole(c, &opts);
        else
            iob_respond_head_chunked(&c->out, &x->res, &opts);
    }
    return x->step;
}

/* SSE event i (0-based) of the stream, as one chunk: id and data lines, and the client's
 * reconnection delay in the first when asked for. */
static void write_event(struct iob_conn *c, size_t i)
{
    const struct iob_plan *plan = &c->x.plan;
    char retry[32] = "", event[160];
    if (i == 0 && plan->retry_ms)
        snprintf(retry, sizeof retry, "retry: %" PRIu64 "\n", plan->retry_ms);
    int n = snprintf(event, sizeof event,
                     "%sid: %zu\ndata: {\"id\":%zu,\"of\":%" PRIu64 ",\"mode\":\"%s\"}\n\n", retry,
                     i + 1, i + 1, plan->n_chunks, c->env->mode);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof event ? (size_t)n : sizeof event - 1;
    if (iob_respond_chunk_data(&c->out, event, len) == 0)
        c->x.streamed_bytes += len;
}

void iob_exchange_drip(struct iob_conn *c, size_t i)
{
    struct iob_exchange *x = &c->x;
    if (x->plan.stream == IOB_STREAM_SLOWHEAD) {
        bool is_last = i + 1 == x->plan.n_chunks;
        iob_buf_append(&c->out, c->staged.data + i, is_last ? c->staged.len - i : 1);
    } else if (x->method == IOB_METHOD_HEAD) {
        return; /* HEAD: the same head and pacing as GET, no body */
    } else if (x->plan.stream == IOB_STREAM_SSE) {
        write_event(c, i);
    } else {
        size_t n = drip_piece_bytes(&x->plan, i);
        if (iob_respond_chunk(&c->out, '*', n) == 0)
            x->streamed_bytes += n;
    }
}

/* Ends a DRIP answer: the last chunk (a slowhead answer went out whole with its pieces). */
static void end_stream(struct iob_conn *c)
{
    struct iob_exchange *x = &c->x;
    bool is_head = x->method == IOB_METHOD_HEAD;
    size_t body_bytes = x->streamed_bytes;
    if (x->plan.stream == IOB_STREAM_SLOWHEAD)
        body_bytes = is_head ? 0 : x->res.body->len;
    else if (!is_head)
        iob_buf_puts(&c->out, "0\r\n\r\n");
    account(c, true, body_bytes);
}

/* A /fault answer, broken as asked: nothing (hang); a head whose Content-Length is plan->bytes,
 * true or not, and the body, cut after after_bytes (reset, close); or the head cut there and the
 * body's garbage after it (garbage). The connection then ends: the engine sends what is here
 * and closes, with an RST for reset. */
static void answer_fault(struct iob_conn *c)
{
    struct iob_exchange *x = &c->x;
    struct iob_respond_opts opts = respond_opts(c);
    enum iob_fault fault = x->plan.fault;
    bool is_garbage = fault == IOB_FAULT_GARBAGE;
    bool is_cut = fault == IOB_FAULT_RESET || fault == IOB_FAULT_CLOSE || is_garbage;
    size_t start = c->out.len;
    opts.is_head = opts.is_head || is_garbage;
    if (fault != IOB_FAULT_HANG)
        iob_respond_write_claiming(&c->out, &x->res, &opts, (size_t)x->plan.bytes);
    if (is_cut && c->out.len - start > x->plan.after_bytes)
        iob_buf_truncate(&c->out, start + (size_t)x->plan.after_bytes);
    if (is_garbage)
        iob_buf_append(&c->out, x->res.body->data, x->res.body->len);
    c->want_close = true;
    c->want_reset = fault == IOB_FAULT_RESET;
    account(c, true, c->out.len - start);
}

void iob_exchange_finish(struct iob_conn *c)
{
    struct iob_exchange *x = &c->x;
    if (x->step != IOB_STEP_NONE && x->route->finish)
        x->route->finish(&x->req, c->env, &x->plan, &x->res);
    if (x->plan.fault != IOB_FAULT_NONE)
        iob_metrics_fault(x->plan.fault);
    if (x->step == IOB_STEP_DRIP)
        end_stream(c);
    else if (x->plan.fault != IOB_FAULT_NONE)
        answer_fault(c);
    else
        answer(c, true);
    iob_conn_request_done(c);
}

void iob_exchange_reject(struct iob_conn *c, int status, const char *msg)
{
    struct iob_exchange *x = &c->x;
    x->res.body = &x->res_body;
    iob_buf_reset(&x->res_body);
    iob_handler_error(&x->res, status, "%s", msg);
    if (!x->start_ns)
        x->start_ns = iob_clock_now_ns();
    c->want_close = true;
    c->phase = IOB_PHASE_CLOSING;
    answer(c, false);
}
