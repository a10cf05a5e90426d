/* GET /fault?kind=K[&...]: exactly one misbehaviour, on purpose, for testing clients and proxies.
 * The handler only checks the numbers and describes the fault in the plan (its kind, the lying
 * Content-Length, where to cut); the HTTP layer writes the broken answer and the engine ends the
 * connection as told, in every model alike. Off with [limits] allow_faults = false. */
#include "handlers/endpoints.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <sys/param.h>

#include "handlers/params.h"

const char *const iob_fault_names[IOB_FAULT_COUNT] = {
    [IOB_FAULT_RESET] = "reset",     [IOB_FAULT_CLOSE] = "close", [IOB_FAULT_HANG] = "hang",
    [IOB_FAULT_SHORT] = "short",     [IOB_FAULT_LONG] = "long",   [IOB_FAULT_SLOWHEAD] = "slowhead",
    [IOB_FAULT_GARBAGE] = "garbage",
};

/* The body a cut, short or long answer is made of: a visible run of '*', as /drip's. */
#define DEFAULT_BYTES       100
#define DEFAULT_GARBAGE     64
#define DEFAULT_SLOWHEAD_MS 10

/* Appends n bytes of '*'. Returns as iob_buf_append(). */
static int fill(struct iob_buf *b, uint64_t n)
{
    char block[256];
    memset(block, '*', sizeof block);
    int rc = 0;
    for (uint64_t left = n; rc == 0 && left > 0; left -= MIN(left, sizeof block))
        rc = iob_buf_append(b, block, (size_t)MIN(left, sizeof block));
    return rc;
}

/* reset, close: an honest answer of n bytes, cut after `after` bytes (0: before the status
 * line; past its end: all of it) and then ended. garbage takes after= the same way. */
static int plan_cut(const struct iob_request *req, const struct iob_env *env, struct iob_plan *plan,
                    char *err, size_t errlen)
{
    int rc = iob_param_u64_opt(req, "n", 0, env->max_body_bytes,
                               MIN(DEFAULT_BYTES, env->max_body_bytes), &plan->bytes, err, errlen);
    if (rc >= 0)
        rc = iob_param_u64_opt(req, "after", 0, UINT32_MAX, 0, &plan->after_bytes, err, errlen);
    return rc;
}

/* short, long: Content-Length n; the body is n/2 bytes, or 2n (so n is at most half the cap). */
static int plan_lie(const struct iob_request *req, const struct iob_env *env, struct iob_plan *plan,
                    char *err, size_t errlen)
{
    uint64_t max = plan->fault == IOB_FAULT_LONG ? env->max_body_bytes / 2 : env->max_body_bytes;
    return iob_param_u64_opt(req, "n", 1, max, MIN(DEFAULT_BYTES, max), &plan->bytes, err, errlen);
}

/* The kind's own parameters into plan. Returns as iob_param_u64_opt(). */
static int plan_kind(const struct iob_request *req, const struct iob_env *env,
                     struct iob_plan *plan, char *err, size_t errlen)
{
    uint64_t slowhead_max = env->max_sleep_ms / IOB_HEAD_MAX_BYTES;
    switch (plan->fault) {
    case IOB_FAULT_RESET:
    case IOB_FAULT_CLOSE:
        return plan_cut(req, env, plan, err, errlen);
    case IOB_FAULT_SHORT:
    case IOB_FAULT_LONG:
        return plan_lie(req, env, plan, err, errlen);
    case IOB_FAULT_HANG:
        return iob_param_u64_opt(req, "ms", 0, env->max_sleep_ms, env->max_sleep_ms, &plan->ms, err,
                                 errlen);
    case IOB_FAULT_SLOWHEAD:
        /* The head is under IOB_HEAD_MAX_BYTES, so the crawl obeys max_sleep_ms. */
        return iob_param_u64_opt(req, "ms", 0, slowhead_max, MIN(DEFAULT_SLOWHEAD_MS, slowhead_max),
                                 &plan->ms, err, errlen);
    default: {
        int rc = iob_param_u64_opt(req, "n", 1, MAX(env->max_body_bytes, 1),
                                   MIN(DEFAULT_GARBAGE, MAX(env->max_body_bytes, 1)), &plan->bytes,
                                   err, errlen);
        if (rc >= 0)
            rc = iob_param_u64_opt(req, "after", 0, UINT32_MAX, 0, &plan->after_bytes, err, errlen);
        if (rc >= 0)
            rc =
                iob_param_u64_opt(req, "seed", 0, UINT64_MAX, plan->seed, &plan->seed, err, errlen);
        return rc;
    }
    }
}

/* The body the HTTP layer breaks. Returns as iob_buf_append(). */
static int make_body(const struct iob_env *env, struct iob_plan *plan, struct iob_response *res)
{
    switch (plan->fault) {
    case IOB_FAULT_SHORT:
        return fill(res->body, plan->bytes / 2);
    case IOB_FAULT_LONG:
        return fill(res->body, plan->bytes * 2);
    case IOB_FAULT_HANG:
        return 0;
    case IOB_FAULT_SLOWHEAD: {
        int rc = iob_handler_json_mode(res->body, env);
        return rc ? rc
                  : iob_buf_printf(res->body,
                                   ",\"fault\":\"slowhead\",\"ms_per_byte\":%" PRIu64 "}\n",
                                   plan->ms);
    }
    case IOB_FAULT_GARBAGE: {
        /* The high bit set in every byte: not ASCII, so nothing a client could take for HTTP;
         * then an empty line, so that a client reading a head gets a whole line of it. */
        int rc = iob_param_random_bytes(res->body, plan->bytes, plan->seed);
        for (size_t i = 0; rc == 0 && i < res->body->len; i++)
            res->body->data[i] = (char)(res->body->data[i] | 0x80);
        return rc ? rc : iob_buf_puts(res->body, "\r\n\r\n");
    }
    default:
        return fill(res->body, plan->bytes);
    }
}

enum iob_step iob_fault_plan(const struct iob_request *req, const struct iob_env *env,
                             struct iob_plan *plan, struct iob_response *res)
{
    if (!env->allow_faults)
        return iob_handler_error(res, 403,
                                 "faults are switched off on this server ([limits] allow_faults "
                                 "= false)");
    char err[200];
    size_t kind;
    if (iob_param_choice(req, "kind", iob_fault_names, IOB_FAULT_COUNT, &kind, err, sizeof err) < 0)
        return iob_handler_error(res, 400, "%s", err);
    plan->fault = (enum iob_fault)kind;
    if (plan_kind(req, env, plan, err, sizeof err) < 0) {
        plan->fault = IOB_FAULT_NONE;
        return iob_handler_error(res, 400, "%s (kind=%s)", err, iob_fault_names[kind]);
    }
    bool is_json = plan->fault == IOB_FAULT_SLOWHEAD;
    iob_handler_reply(res, make_body(env, plan, res),
                      is_json ? "application/json" : "application/octet-stream");
    if (res->status != 200) {
        plan->fault = IOB_FAULT_NONE; /* the 500 goes out as an ordinary answer */
        return IOB_STEP_NONE;
    }
    /* plan->bytes is the Content-Length the head tells: the body's own for reset and close, a
     * lie for short and long. */
    plan->stream = IOB_STREAM_SLOWHEAD; /* read only by the DRIP step of slowhead */
    plan->step = plan->fault == IOB_FAULT_HANG       ? IOB_STEP_SLEEP
                 : plan->fault == IOB_FAULT_SLOWHEAD ? IOB_STEP_DRIP
                                                     : IOB_STEP_NONE;
    return plan->step;
}
