/* A fake engine for the conn tests and the fuzzer: pushes bytes through the HTTP layer the way
 * both engines do (feed, begin, a fake_run.c step, finish, write the output), with no sockets
 * and no clock waits, and checks the layer's promises on every step. A broken promise aborts
 * with a message, so the fuzzer reports it as a crash. One thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "handlers/handler.h"
#include "server/base/buf.h"

/* What the client saw. */
struct iob_drive {
    struct iob_buf out;      /* every byte written to the client, in order */
    struct iob_buf statuses; /* the status of each response in out, "100,200,404" */
    bool closed;             /* the server closed the connection (else it waits for more) */
};

/* The limits the conn tests and the fuzzer run with: small, so that short inputs reach every
 * limit, and max_cpu_ms = 0 so /cpu costs nothing and its digest is fixed. */
extern const struct iob_env iob_drive_env;

/* Sets up the process as main.c does before serving (the metrics route labels). Call once. */
void iob_drive_init(void);

/* Feeds data[0..len) to a fresh connection for a client that sends the first `first` bytes in
 * one read, then reads of `step` bytes (0: the rest at once), and answers every complete request
 * as an engine would. Stops at the server's close. Initialises *d (free it with
 * iob_drive_fini()). Returns 0, or -ENOMEM when the connection or the output does not fit. */
int iob_drive_run(struct iob_drive *d, const struct iob_env *env, const char *data, size_t len,
                  size_t first, size_t step);
void iob_drive_fini(struct iob_drive *d);

/* Removes every "Date: ..." header line from out, in place: the only bytes of an answer that
 * depend on when it was made (GET /metrics aside). */
void iob_drive_strip_date(struct iob_buf *out);
