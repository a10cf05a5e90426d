/* Stopping, shared by every engine: the signal set, what each signal does (reopen the logs,
 * start the drain, stop now), the drain, grace and exit messages, and the grace deadline.
 * Signals are process-wide, so this is one object for the process: iob_stop_init() on the main
 * thread before any other thread starts; after that any thread may read it, and its descriptors
 * stay open until the process exits (threads left behind by an expired grace may still poll). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum iob_stop_event {
    IOB_STOP_NONE,  /* nothing for the engine to do (no signal, or the logs were reopened) */
    IOB_STOP_DRAIN, /* stop accepting; finish in-flight requests; close idle connections */
    IOB_STOP_NOW,   /* a second signal: stop at once */
};

/* Blocks SIGTERM, SIGINT, SIGHUP and SIGUSR1 in the calling thread (threads started later
 * inherit the mask) and opens the descriptors below. Returns 0 or a negative errno. */
int iob_stop_init(uint32_t shutdown_grace_ms);
/* Readable when a signal is waiting: call iob_stop_take(). Non-blocking. */
int iob_stop_signal_fd(void);
/* Takes one waiting signal and acts on it: SIGHUP/SIGUSR1 reopen the logs (a failure is logged);
 * the first SIGTERM/SIGINT starts the drain (logged with the open connections and the grace);
 * a second one is logged and asks to stop now. The caller then does what the result says.
 * Only the thread that owns the signal fd calls it. */
enum iob_stop_event iob_stop_take(void);
/* True once the drain has begun. Any thread. */
bool iob_stop_draining(void);
/* Readable (and stays readable) once the drain has begun, for threads blocked in poll() and for
 * event loops that do not take the signals themselves. */
int iob_stop_drain_fd(void);
/* Readable (and stays readable) once a second signal asked to stop now. */
int iob_stop_now_fd(void);
/* Monotonic time the grace runs out; 0 before the drain. */
uint64_t iob_stop_grace_deadline_ns(void);
/* The grace ran out: logs how many connections are being closed and raises the stop-now
 * descriptor. Called once, by the thread that takes the signals. */
void iob_stop_grace_expired(void);
/* For a supervising thread after the drain began: waits until no connection is open (accept.h's
 * count), taking signals meanwhile. Returns 0 when drained or when the grace ran out (logged),
 * -EINTR after a second signal. Blocks. */
int iob_stop_wait_drained(void);
