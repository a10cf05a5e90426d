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
    case IOB_STEP_GATHER:
    case IOB_STEP_DRIP:
        /* Every wait ends a little late, gather tasks each a little later than the one before,
         * on the schedule every engine follows. */
        plan->ended_ns = plan->started_ns;
        for (size_t i = 0; i < iob_plan_n_waits(plan); i++) {
            bool is_task = plan->step == IOB_STEP_GATHER;
            uint64_t at = iob_plan_due_ns(plan, i) + IOB_FAKE_LATE_NS +
                          (is_task ? i * IOB_FAKE_TASK_SKEW_NS : 0);
            if (is_task)
                plan->tasks[i].finished_ns = at;
            if (at > plan->ended_ns)
                plan->ended_ns = at;
        }
        return;
    case IOB_STEP_CPU:
        plan->work(plan);
        plan->ended_ns = plan->started_ns + plan->ms * IOB_NS_PER_MS + IOB_FAKE_LATE_NS;
        return;
    }
}
