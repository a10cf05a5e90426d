/* A fake engine for handler tests: carries out a plan at once with fixed, known timings, so
 * plan() -> iob_fake_run() -> finish() gives byte-exact JSON. Each new step kind gets a case
 * here as well as in each engine. */
#pragma once
#include "handlers/handler.h"

/* The fake monotonic time at which every step starts. */
#define IOB_FAKE_START_NS (5 * 1000000000ULL)
/* How late every wait ends: 0.42 ms, so elapsed_ms reads N.42. */
#define IOB_FAKE_LATE_NS 420000ULL
/* GATHER task i ends IOB_FAKE_LATE_NS + i * IOB_FAKE_TASK_SKEW_NS late: distinct per task. */
#define IOB_FAKE_TASK_SKEW_NS 10000ULL

/* Sets started_ns, carries out plan->step (a CPU step really calls plan->work) and sets the
 * finish times. A NONE step is left alone. */
void iob_fake_run(struct iob_plan *plan);
