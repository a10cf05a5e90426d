/* Raw-socket client for what curl will not send: malformed and smuggling requests, pipelined
 * requests in one write, partial or slow headers, connections held open or reset. Loopback only;
 * blocking sockets read under poll() deadlines. Single-threaded. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "tests/it/client.h"

struct it_raw {
    int fd;
    char *buf; /* received bytes not yet consumed by it_raw_read() */
    size_t len;
    size_t alloc;
};

struct it_raw_resp {
    int status;
    char *head; /* status line and headers, NUL-terminated */
    size_t head_len;
    char *body; /* NUL-terminated */
    size_t body_len;
};

/* Connects to 127.0.0.1:port. Returns 0 or a negative errno (-ECONNREFUSED, ...). */
int it_raw_open(struct it_raw *c, int port);
/* Connects to addr as the start-up line names it: "127.0.0.1:P", "[::1]:P" or "unix:PATH".
 * Returns 0, -EINVAL for another shape, or a negative errno. */
int it_raw_open_addr(struct it_raw *c, const char *addr);
/* Closes the socket (if open) and frees the buffer. */
void it_raw_close(struct it_raw *c);
/* Closes with a reset (SO_LINGER 0): a client that vanished mid-request. */
void it_raw_abort(struct it_raw *c);
/* Sends all bytes. Returns 0 or a negative errno (-EPIPE, -ECONNRESET). */
int it_raw_send(struct it_raw *c, const void *data, size_t len);
int it_raw_send_str(struct it_raw *c, const char *s);

/* Reads one response within timeout_ms: the header block, then a Content-Length body (none for
 * HEAD, 1xx, 204, 304), or the rest of the stream when there is no Content-Length. Bytes after
 * it stay buffered for the next call (pipelining). A final response gets the harness's standard
 * header checks. Returns 0, -ETIMEDOUT, -EPIPE when the server closed before a whole response,
 * -EPROTO when it is not HTTP/1.x, or another negative errno. r must be zeroed or used before. */
int it_raw_read(struct it_ctx *t, struct it_raw *c, struct it_raw_resp *r, bool is_head,
                int timeout_ms);
/* it_raw_read() that records a failure naming what when no response came. */
bool it_raw_expect(struct it_ctx *t, struct it_raw *c, const char *what, struct it_raw_resp *r,
                   bool is_head, int timeout_ms);
/* Returns 0 when the server closes the connection (EOF or reset) within timeout_ms with no
 * further bytes, -ETIMEDOUT when it stays open, -EPROTO when bytes arrive instead. */
int it_raw_wait_closed(struct it_raw *c, int timeout_ms);
/* it_raw_wait_closed() that records a failure naming what unless the connection closed. */
bool it_raw_expect_closed(struct it_ctx *t, struct it_raw *c, const char *what, int timeout_ms);
void it_raw_resp_fini(struct it_raw_resp *r);
