/* One request from route to answer. Every answer of the server, good or bad, is written,
 * counted and logged here, so metrics and the access log never miss one. Runs on the
 * connection's thread. */
#include "server/http/exchange.h"

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

/* Writes the answer in x->res to the output, counts and logs it. begun: the request was counted
 * as in flight by iob_exchange_begin(). */
static void answer(struct iob_conn *c, bool begun)
{
    struct iob_exchange *x = &c->x;
    bool is_405 = x->res.status == 405;
    if (!x->keep_alive || c->draining)
        c->want_close = true;
    struct iob_respond_opts opts = {
        .is_head = x->method == IOB_METHOD_HEAD,
        .want_close = c->want_close,
        .want_keepalive = x->asked_keepalive && !c->want_close,
        .allow = is_405 ? (x->route ? x->route->allow : "GET, HEAD, POST") : NULL,
    };
    if (iob_respond_write(&c->out, &x->res, &opts) < 0) {
        /* The answer does not fit its buffer: say so instead, and close. */
        c->want_close = opts.want_close = true;
        iob_handler_error(&x->res, 500, "response too large for the output buffer");
        iob_respond_write(&c->out, &x->res, &opts);
    }
    uint64_t duration_ns = iob_clock_now_ns() - x->start_ns;
    if (begun)
        iob_metrics_request_end(route_id(x->route), x->res.status, duration_ns);
    else
        iob_metrics_request_count(route_id(x->route), x->res.status, duration_ns);
    if (iob_log_access_enabled())
        iob_log_access(c->peer, x->method_name ? x->method_name : "-",
                       c->head.data ? c->head.data : "", c->url_len, x->http_minor, x->res.status,
                       x->res.body ? x->res.body->len : 0, duration_ns);
}

enum iob_step iob_exchange_begin(struct iob_conn *c, struct iob_plan **plan)
{
    struct iob_exchange *x = &c->x;
    c->phase = IOB_PHASE_BUSY;
    x->res.body = &x->res_body;
    *plan = &x->plan;
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
    return x->step;
}

void iob_exchange_finish(struct iob_conn *c)
{
    struct iob_exchange *x = &c->x;
    if (x->step != IOB_STEP_NONE && x->route->finish)
        x->route->finish(&x->req, c->env, &x->plan, &x->res);
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
