/* One request from routing to answer: route lookup, 404/405 + Allow, HEAD, the handler's
 * plan() and finish(), the response bytes, metrics and the access log. The engines call
 *   step = iob_exchange_begin(c, &plan);  carry out step;  iob_exchange_finish(c);
 * on the connection's thread, after iob_conn_feed() returned IOB_FEED_REQUEST. */
#pragma once

#include "handlers/handler.h"
#include "server/http/conn.h"

/* Routes the completed request and calls its plan(). Returns the step the engine must carry out
 * and sets *plan (owned by the connection; the engine fills its timings). For IOB_STEP_NONE the
 * engine goes straight to iob_exchange_finish(). */
enum iob_step iob_exchange_begin(struct iob_conn *c, struct iob_plan **plan);
/* DRIP: appends piece i (0-based, in order) of the answer to the output: a chunk of /drip's
 * bytes, an SSE event, or a byte of a slowhead head. The engine calls it plan->n_chunks times
 * (read it after begin: the HTTP layer may set it), plan->ms apart, between begin and finish. */
void iob_exchange_drip(struct iob_conn *c, size_t i);
/* Calls finish() (exactly once per begin, even when the client has gone), appends the answer to
 * the connection's output, counts it and logs it. A /fault answer is broken on purpose and sets
 * want_close (and want_reset): the engine sends the output and ends the connection. */
void iob_exchange_finish(struct iob_conn *c);
