/* The non-blocking connection driver, shared by every event-loop engine. It does no I/O of its
 * own: the engine reports events (bytes arrived, n bytes sent, the socket is full, EOF, an
 * error, the timer fired, the CPU step is done) and then asks iob_nb_next() what to do (read up
 * to n bytes, write this span, wake at t, run this CPU step, shut down writes, close). It owns
 * the policy between the HTTP layer and the socket: pipelining with a bounded hold of read-ahead
 * bytes, the schedule of SLEEP/GATHER/DRIP waits (one timer per connection), the write-stall
 * deadline, the linger close and the abort (an RST) the HTTP layer may ask for. Fits readiness
 * (epoll) and completion (io_uring) engines alike: a span handed out stays valid and unchanged
 * until it is reported sent, because nothing is appended to the output while any of it is unsent.
 * One thread at a time per connection. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"

struct iob_nbconn;

/* The most iob_nb_next() ever asks to read at once: an engine's read buffer of this size fits. */
#define IOB_NB_READ_MAX 65536

/* What the engine does after an event, in this order. */
struct iob_nb_next {
    bool close;           /* free it (iob_nb_free()) and close the socket; nothing else */
    bool reset;           /* with close: abort it, an RST instead of a FIN (iob_fd_abort()) */
    bool shutdown_wr;     /* once: shut down our side's writes (the linger begins) */
    struct iob_plan *cpu; /* once: run cpu->work(cpu) anywhere, then iob_nb_cpu_done() */
    const char *write;    /* send write[0..write_len), then iob_nb_sent() */
    size_t write_len;     /* 0: nothing to send */
    size_t read_max;      /* read up to this many bytes and iob_nb_read() them; 0: don't read */
    uint64_t wake_ns;     /* call iob_nb_timer() at this monotonic time; 0: no timer */
};

/* A connection for a client at peer (copied). env must outlive it. Returns NULL when out of
 * memory. The engine owns it and frees it with iob_nb_free(). */
struct iob_nbconn *iob_nb_new(const struct iob_env *env, const char *peer);
/* Frees it (a step in progress is abandoned: the stop-now path). Accepts NULL. */
void iob_nb_free(struct iob_nbconn *nb);

/* Events. data is copied or used before the call returns. */
void iob_nb_read(struct iob_nbconn *nb, const char *data, size_t len);
void iob_nb_eof(struct iob_nbconn *nb);
/* A read or write failed (err: a positive errno); the client is gone. */
void iob_nb_error(struct iob_nbconn *nb, int err);
void iob_nb_sent(struct iob_nbconn *nb, size_t n);
/* A write could not complete at once (readiness: EAGAIN; completion: submitted): the client
 * now has idle_timeout_ms to take bytes before it is dropped. */
void iob_nb_write_blocked(struct iob_nbconn *nb);
void iob_nb_timer(struct iob_nbconn *nb, uint64_t now_ns);
void iob_nb_cpu_done(struct iob_nbconn *nb);
/* The server is stopping: answers say Connection: close; an idle connection closes at once. */
void iob_nb_drain(struct iob_nbconn *nb);

/* What to do now (see struct iob_nb_next). Call after every event; the once-only actions are
 * reported once. */
void iob_nb_next(struct iob_nbconn *nb, struct iob_nb_next *next);
