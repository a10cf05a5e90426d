/* One client connection's HTTP state, shared by both engines: llhttp in strict mode, the limits
 * (checked as bytes arrive), pipelining (one request at a time, in order), keep-alive,
 * 100-continue and the timeout policy. No sockets, threads or event loop: the engine moves bytes
 * and owns the clock. A connection is used by one thread at a time. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"
#include "server/base/buf.h"

struct iob_conn;

/* What iob_conn_feed() found. In every case, first write iob_conn_output() to the client. */
enum iob_feed {
    IOB_FEED_MORE,    /* all bytes consumed; read more */
    IOB_FEED_REQUEST, /* a request is complete: iob_exchange_begin(); the rest of the bytes wait */
    IOB_FEED_CLOSE,   /* an error answer (if any) is in the output; close once it is written */
};

/* Creates a connection for a client whose host is peer (copied; "127.0.0.1", "::1": CLF's %h).
 * env must outlive it. Returns NULL when out of memory. The caller owns it and frees it with
 * iob_conn_free(). */
struct iob_conn *iob_conn_new(const struct iob_env *env, const char *peer);
/* Frees the connection, its buffers and any plan; accepts NULL. */
void iob_conn_free(struct iob_conn *c);

/* Parses data[0..len). Stops after a complete request so pipelined requests are answered one at
 * a time: *consumed says how many bytes were used; feed the rest again after the answer. */
enum iob_feed iob_conn_feed(struct iob_conn *c, const char *data, size_t len, size_t *consumed);
/* The bytes to send (100 Continue, answers). The engine writes them, then iob_buf_reset()s. */
struct iob_buf *iob_conn_output(struct iob_conn *c);
/* True once the server will close after the output: an error, Connection: close, HTTP/1.0,
 * or draining. */
bool iob_conn_want_close(const struct iob_conn *c);
/* True when that close is to be an abort: the engine sends the output, then closes with an RST
 * (iob_fd_abort()) instead of a FIN and no linger. Only a /fault reset asks for it. */
bool iob_conn_want_reset(const struct iob_conn *c);
/* True between requests: nothing of a new request has arrived and none is being answered. */
bool iob_conn_is_idle(const struct iob_conn *c);

/* Monotonic time (ns) by which more bytes must arrive, or 0 when no timeout runs (an exchange
 * is in progress): header_timeout_ms from a request's first byte (or from accept); in a body the
 * earliest of idle_timeout_ms since the last byte, body_timeout_ms since the end of the headers
 * and the body_min_rate_bytes schedule, which moves as body bytes arrive; between requests
 * idle_timeout_ms since the last byte. Ask again after every iob_conn_feed(). */
uint64_t iob_conn_deadline_ns(const struct iob_conn *c);
/* The deadline passed: puts a 408 answer in the output, naming the limit and counted by it in
 * iobound_request_timeouts_total, when a request was partly received, else nothing (a quiet
 * close). The engine then writes the output and closes. */
void iob_conn_timed_out(struct iob_conn *c);
/* The server is stopping: answers from now on carry Connection: close. */
void iob_conn_drain(struct iob_conn *c);
