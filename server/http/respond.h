/* The response writer: status line, the standard headers (Server, Date, Content-Length,
 * Connection), the body (none for HEAD), and the canned 503 for connections over the limit.
 * Pure apart from the clock; any thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "handlers/handler.h"
#include "server/base/buf.h"

struct iob_respond_opts {
    bool is_head;        /* headers as for GET, no body */
    bool want_close;     /* the server closes after this response: Connection: close */
    bool want_keepalive; /* an HTTP/1.0 client asked for keep-alive: say we keep it */
    const char *allow;   /* Allow header (405), or NULL */
};

/* Appends the whole response to out, with Content-Length except on 1xx, 204 and 304, which
 * carry no framing header and must come with no body. Returns 0 or a negative errno from
 * iob_buf_append(). */
int iob_respond_write(struct iob_buf *out, const struct iob_response *res,
                      const struct iob_respond_opts *opts);
/* iob_respond_write() with Content-Length: content_length whatever the body's length: /fault's
 * short and long answers lie on purpose. */
int iob_respond_write_claiming(struct iob_buf *out, const struct iob_response *res,
                               const struct iob_respond_opts *opts, size_t content_length);
/* Appends the head of a streamed answer: Transfer-Encoding: chunked instead of Content-Length.
 * The chunks follow with iob_respond_chunk(), the end with "0\r\n\r\n". Returns as
 * iob_respond_write(). */
int iob_respond_head_chunked(struct iob_buf *out, const struct iob_response *res,
                             const struct iob_respond_opts *opts);
/* Appends one chunk of len bytes, each the byte fill; nothing when len is 0. Returns as
 * iob_buf_append(). */
int iob_respond_chunk(struct iob_buf *out, char fill, size_t len);
/* Appends one chunk holding data[0..len); nothing when len is 0. Returns as iob_buf_append(). */
int iob_respond_chunk_data(struct iob_buf *out, const char *data, size_t len);
/* The standard reason phrase of status ("Not Found"), or "Unknown". */
const char *iob_respond_reason(int status);
/* Writes the complete 503 answer for a connection over max_connections (Retry-After: 1,
 * Connection: close) into buf. Returns its length, or 0 when it does not fit. */
size_t iob_respond_overload(char *buf, size_t len);
