/* The response writer: status line, the standard headers (Server, Date, Content-Length,
 * Connection), the body (none for HEAD), and the canned 503 for connections over the limit.
 * Pure apart from the clock; any thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "handlers/handler.h"
#include "server/base/buf.h"

struct iob_respond_opts {
    bool is_head;         /* headers as for GET, no body */
    bool want_close;      /* the server closes after this response: Connection: close */
    bool want_keepalive;  /* an HTTP/1.0 client asked for keep-alive: say we keep it */
    const char *allow;    /* Allow header (405), or NULL */
};

/* Appends the whole response to out. Returns 0 or a negative errno from iob_buf_append(). */
int iob_respond_write(struct iob_buf *out, const struct iob_response *res,
                      const struct iob_respond_opts *opts);
/* The standard reason phrase of status ("Not Found"), or "Unknown". */
const char *iob_respond_reason(int status);
/* Writes the complete 503 answer for a connection over max_connections (Retry-After: 1,
 * Connection: close) into buf. Returns its length, or 0 when it does not fit. */
size_t iob_respond_overload(char *buf, size_t len);
