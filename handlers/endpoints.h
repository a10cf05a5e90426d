/* Every endpoint's plan() and finish(), one pair per file (hello.c, sleep.c, ...). Only the
 * route table and the handler tests call these; everyone else goes through iob_routes[]. */
#pragma once
#include "handlers/handler.h"

iob_plan_fn iob_index_plan;
iob_plan_fn iob_hello_plan;
iob_plan_fn iob_sleep_plan;
iob_finish_fn iob_sleep_finish;
iob_plan_fn iob_gather_plan;
iob_finish_fn iob_gather_finish;
iob_plan_fn iob_cpu_plan;
iob_finish_fn iob_cpu_finish;
iob_plan_fn iob_echo_plan;
iob_plan_fn iob_healthz_plan;
iob_plan_fn iob_readyz_plan;
iob_plan_fn iob_metrics_plan;
iob_plan_fn iob_drip_plan;
iob_plan_fn iob_status_plan;
iob_finish_fn iob_status_finish;
iob_plan_fn iob_anything_plan;
iob_finish_fn iob_anything_finish;
iob_plan_fn iob_sse_plan;
iob_plan_fn iob_bytes_plan;
iob_plan_fn iob_fault_plan;

/* Ends the plan() of a streamed answer: a 200 with content_type (static), whose pieces are
 * stream, paced by the DRIP step. Returns IOB_STEP_DRIP. */
enum iob_step iob_handler_stream(struct iob_response *res, struct iob_plan *plan,
                                 const char *content_type, enum iob_stream stream);

/* The JSON bodies of timed endpoints share their ends: each opens with the mode and reports
 * the step's elapsed time. Return as iob_buf_append(). */
/* Appends {"mode":"<env->mode>" (the object stays open). */
int iob_handler_json_mode(struct iob_buf *b, const struct iob_env *env);
/* Appends ,"elapsed_ms":<ended_ns - started_ns as ms with two decimals>. */
int iob_handler_json_elapsed(struct iob_buf *b, const struct iob_plan *plan);
