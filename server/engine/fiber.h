/* Stackful coroutines on one OS thread (glibc ucontext), for the fibers engine. Each stack is
 * mmap'd above a PROT_NONE guard: an overflow faults there, and the SIGSEGV handler (on an
 * alternate signal stack) names it and aborts, so it never writes into memory it does not own.
 * Every switch goes through the scheduler (the thread's own stack): it resumes a fiber, the
 * fiber yields back. Knows nothing of I/O or HTTP. All calls: the thread that called
 * iob_fiber_init(), one such thread per process. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct iob_fiber;
typedef void iob_fiber_fn(void *arg);

/* Sets up the calling thread to run fibers on stacks of stack_kb KiB: the overflow handler
 * (SIGSEGV on an alternate stack; a fault it does not own goes on to the handler before it).
 * Returns 0 or a negative errno. */
int iob_fiber_init(size_t stack_kb);
/* Frees the cached stacks and puts back the previous SIGSEGV handler and signal stack. Fibers
 * still suspended (an expired grace) are left as they are, their memory reachable, for the
 * process's exit. */
void iob_fiber_fini(void);

/* A fiber that will run fn(arg) when first resumed. Returns NULL when out of memory (or map
 * areas). It is freed when fn returns. */
struct iob_fiber *iob_fiber_new(iob_fiber_fn *fn, void *arg);
/* Runs f until it yields or its function returns. Scheduler only (never from a fiber). Returns
 * true when it has ended: f is then freed. */
bool iob_fiber_resume(struct iob_fiber *f);
/* From inside a fiber: back to the scheduler, until someone resumes this fiber again. */
void iob_fiber_yield(void);
