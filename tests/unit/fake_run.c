/* The fake engine behind fake_run.h: no waiting, only arithmetic on a fixed start time. */
#include "fake_run.h"

#include "server/base/clock.h"

void iob_fake_run(struct iob_plan *plan)
{
    plan->started_ns = IOB_FAKE_START_NS;
    switch (plan->step) {
    case IOB_STEP_NONE:
        return;
    case IOB_STEP_SLEEP:
        plan->ended_ns = plan->started_ns + plan->ms * IOB_NS_PER_MS + IOB_FAKE_LATE_NS;
        return;
    case IOB_STEP_GATHER:
        plan->ended_ns = plan->started_ns;
        for (size_t i = 0; i < plan->n_tasks; i++) {
            struct iob_task *t = &plan->tasks[i];
            t->finished_ns = plan->started_ns + t->ms * IOB_NS_PER_MS + IOB_FAKE_LATE_NS +
                             i * IOB_FAKE_TASK_SKEW_NS;
            if (t->finished_ns > plan->ended_ns)
                plan->ended_ns = t->finished_ns;
        }
        return;
    case IOB_STEP_DRIP: /* n_chunks pieces, each after a pause of ms */
        plan->ended_ns =
            plan->started_ns + plan->n_chunks * plan->ms * IOB_NS_PER_MS + IOB_FAKE_LATE_NS;
        return;
    case IOB_STEP_CPU:
        plan->work(plan);
        plan->ended_ns = plan->started_ns + plan->ms * IOB_NS_PER_MS + IOB_FAKE_LATE_NS;
        return;
    }
}
