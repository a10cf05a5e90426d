/* A fake engine for the conn tests and the fuzzer: pushes bytes through the HTTP layer the way
 * both engines do (feed, begin, a fake_run.c step, finish, write the output), with no sockets
 * and no clock waits, and checks the layer's promises on every step. A broken promise aborts
 * with a message, so the fuzzer reports it as a crash. One thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "handlers/handler.h"
#include "server/base/buf.h"

struct iob_conn;

/* One client connection and what the client saw. */
struct iob_drive {
    struct iob_conn *conn;
    struct iob_buf in;       /* bytes read but not yet consumed: the engine's input buffer */
    struct iob_buf out;      /* every byte written to the client, in order */
    /* the status of each response in out, "100,200,404"; a broken one by its fault kind */
    struct iob_buf statuses;
    bool closed;             /* the server closed the connection (else it waits for more) */
    enum iob_fault fault;    /* the answer in the output is broken on purpose (/fault) */
};

/* The limits the conn tests and the fuzzer run with: small, so that short inputs reach every
 * limit, and max_cpu_ms = 0 so /cpu costs nothing and its digest is fixed. */
extern const struct iob_env iob_drive_env;

/* Sets up the process as main.c does before serving (the metrics route labels). Call once. */
void iob_drive_init(void);

/* Opens a fresh connection with env (which must outlive it). Returns 0 or -ENOMEM; on success
 * free it with iob_drive_fini(). */
int iob_drive_open(struct iob_drive *d, const struct iob_env *env);
/* One read of data[0..len) from the client: answers every complete request as an engine would
 * and writes the answers to d->out. Ignored once the server closed. Returns 0 or -ENOMEM. */
int iob_drive_read(struct iob_drive *d, const char *data, size_t len);
/* The connection's deadline passed: the engine's iob_conn_timed_out(), write, close. */
void iob_drive_timeout(struct iob_drive *d);
/* Frees the connection and the buffers; accepts a zeroed or failed drive. */
void iob_drive_fini(struct iob_drive *d);

/* Opens a connection and sends data[0..len) as a client would: the first `first` bytes in one
 * read (0: all), then reads of `step` bytes (0: the rest at once). Returns as iob_drive_open()
 * or iob_drive_read(); free *d with iob_drive_fini() either way. */
int iob_drive_run(struct iob_drive *d, const struct iob_env *env, const char *data, size_t len,
                  size_t first, size_t step);

/* Removes every "Date: ..." line from out, in place: the only bytes of an answer that depend on
 * when it was made (GET /metrics aside). */
void iob_drive_strip_date(struct iob_buf *out);
