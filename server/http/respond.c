/* Response serialisation shared by both engines. Knows HTTP framing, not sockets or routes. */
#include "server/http/respond.h"

#include <stdio.h>
#include <string.h>

#include "server/base/clock.h"
#include "version.h"

#define SERVER_HEADER "Server: iobound/" IOB_VERSION "\r\n"

/* Standard reason phrases (RFC 9110 and the IANA registry), for /status/CODE too. */
static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {418, "I'm a teapot"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {507, "Insufficient Storage"},
    {511, "Network Authentication Required"},
};

const char *iob_respond_reason(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}

/* 1xx, 204 and 304 answers have no content (RFC 9112 §6.3), so they carry no framing header:
 * RFC 9110 §8.6 forbids Content-Length on 1xx and 204 (RFC 9112 §6.1 Transfer-Encoding). A 304
 * may carry the length its 200 would have had, but /status/304 has no such 200: none. Handlers
 * give these statuses no body. */
static bool has_no_content(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* The status line and headers. content_length < 0: a chunked body follows. Built by appends, not
 * printf: glibc's vsnprintf was 60 % of the user-space instructions of a /hello (callgrind). */
static int write_head(struct iob_buf *out, const struct iob_response *res,
                      const struct iob_respond_opts *opts, long long content_length)
{
    char date[IOB_HTTP_DATE_LEN + 1];
    iob_clock_http_date(date);
    const char code[] = {(char)('0' + res->status / 100 % 10), (char)('0' + res->status / 10 % 10),
                         (char)('0' + res->status % 10), ' '};
    int rc = iob_buf_puts(out, "HTTP/1.1 ");
    rc = rc ? rc : iob_buf_append(out, code, sizeof code);
    rc = rc ? rc : iob_buf_puts(out, iob_respond_reason(res->status));
    rc = rc ? rc : iob_buf_puts(out, "\r\n" SERVER_HEADER "Date: ");
    rc = rc ? rc : iob_buf_append(out, date, IOB_HTTP_DATE_LEN);
    rc = rc ? rc : iob_buf_puts(out, "\r\n");
    if (rc == 0 && res->content_type) {
        size_t n = res->content_type_len ? res->content_type_len : strlen(res->content_type);
        rc = iob_buf_puts(out, "Content-Type: ");
        rc = rc ? rc : iob_buf_append(out, res->content_type, n);
        rc = rc ? rc : iob_buf_puts(out, "\r\n");
    }
    if (rc == 0 && !has_no_content(res->status) && content_length < 0) {
        rc = iob_buf_puts(out, "Transfer-Encoding: chunked\r\n");
    } else if (rc == 0 && !has_no_content(res->status)) {
        rc = iob_buf_puts(out, "Content-Length: ");
        rc = rc ? rc : iob_buf_put_u64(out, (uint64_t)content_length);
        rc = rc ? rc : iob_buf_puts(out, "\r\n");
    }
    if (rc == 0 && opts->allow)
        rc = iob_buf_printf(out, "Allow: %s\r\n", opts->allow);
    if (rc == 0 && opts->want_close)
        rc = iob_buf_puts(out, "Connection: close\r\n");
    else if (rc == 0 && opts->want_keepalive)
        rc = iob_buf_puts(out, "Connection: keep-alive\r\n");
    return rc ? rc : iob_buf_puts(out, "\r\n");
}

int iob_respond_write_claiming(struct iob_buf *out, const struct iob_response *res,
                               const struct iob_respond_opts *opts, size_t content_length)
{
    size_t body_len = res->body ? res->body->len : 0;
    int rc = write_head(out, res, opts, (long long)content_length);
    if (rc == 0 && body_len && !opts->is_head)
        rc = iob_buf_append(out, res->body->data, body_len);
    return rc;
}

int iob_respond_write(struct iob_buf *out, const struct iob_response *res,
                      const struct iob_respond_opts *opts)
{
    return iob_respond_write_claiming(out, res, opts, res->body ? res->body->len : 0);
}

int iob_respond_head_chunked(struct iob_buf *out, const struct iob_response *res,
                             const struct iob_respond_opts *opts)
{
    return write_head(out, res, opts, -1);
}

int iob_respond_chunk(struct iob_buf *out, char fill, size_t len)
{
    if (len == 0) /* a zero-size chunk would end the body */
        return 0;
    char block[1024];
    memset(block, fill, sizeof(block));
    int rc = iob_buf_printf(out, "%zx\r\n", len);
    for (size_t left = len; rc == 0 && left > 0;) {
        size_t n = left < sizeof(block) ? left : sizeof(block);
        rc = iob_buf_append(out, block, n);
        left -= n;
    }
    if (rc == 0)
        rc = iob_buf_puts(out, "\r\n");
    return rc;
}

int iob_respond_chunk_data(struct iob_buf *out, const char *data, size_t len)
{
    if (len == 0) /* a zero-size chunk would end the body */
        return 0;
    int rc = iob_buf_printf(out, "%zx\r\n", len);
    if (rc == 0)
        rc = iob_buf_append(out, data, len);
    if (rc == 0)
        rc = iob_buf_puts(out, "\r\n");
    return rc;
}

size_t iob_respond_overload(char *buf, size_t len)
{
    static const char body[] = "{\"error\":\"too many open connections; retry after 1 second\"}\n";
    char date[IOB_HTTP_DATE_LEN + 1];
    iob_clock_http_date(date);
    int n = snprintf(buf, len,
                     "HTTP/1.1 503 Service Unavailable\r\n" SERVER_HEADER "Date: %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Retry-After: 1\r\nConnection: close\r\n\r\n%s",
                     date, sizeof(body) - 1, body);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}
