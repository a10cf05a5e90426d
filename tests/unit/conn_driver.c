/* The fake engine behind conn_driver.h. It makes the calls evented.c and threaded.c make, in
 * their order, and checks what conn.h and exchange.h promise: MORE consumes everything, CLOSE
 * comes with want_close and an error answer, no timeout runs during an exchange, every write is
 * whole responses with the standard headers, and Connection: close is said exactly when the
 * server closes. */
#include "conn_driver.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_run.h"
#include "handlers/handler.h"
#include "handlers/routes.h"
#include "server/base/metrics.h"
#include "server/http/conn.h"
#include "server/http/exchange.h"

/* Bounds what one connection may write: far above any answer the small limits allow. */
#define OUT_MAX_BYTES (64u << 20)
/* How much of a bad write a contract message shows. */
#define SHOW_BYTES 200

static const struct iob_model drive_model = {.name = "evented",
                                             .summary = "one loop",
                                             .cpu_lanes = 1,
                                             .threads_at_rest = 1,
                                             .breaks_first = "CPU work"};
static const struct iob_model *const drive_models[] = {&drive_model};

const struct iob_env iob_drive_env = {
    .mode = "evented",
    .model = &drive_model,
    .models = drive_models,
    .n_models = 1,
    .max_sleep_ms = 30000,
    .max_cpu_ms = 0,
    .max_gather_tasks = 64,
    .max_body_bytes = 64,
    .max_header_bytes = 256,
    .header_timeout_ms = 10000,
    .idle_timeout_ms = 5000,
    .body_timeout_ms = 60000,
    .body_min_rate_bytes = 1024,
    .max_connections = 10000,
    .allow_faults = true,
};

void iob_drive_init(void)
{
    static const char *labels[IOB_METRICS_ROUTES_MAX];
    iob_metrics_init(iob_drive_env.mode, labels, iob_route_labels(labels));
    iob_metrics_init_faults(iob_fault_names, IOB_FAULT_COUNT);
}

/* The HTTP layer broke a promise: stop here, so a fuzzer run or a test names the input. */
static void __attribute__((noreturn, format(printf, 1, 2))) broken(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("conn_driver: the HTTP layer broke its contract: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static bool has_header(const char *head, size_t len, const char *line)
{
    return memmem(head, len, line, strlen(line)) != NULL;
}

/* Returns the bytes of the whole chunked body at p[0..n) (through "0\r\n\r\n"), or 0 when it is
 * not exactly one well-formed chunked body. The server's own chunks carry no extensions and no
 * trailers. */
static size_t chunked_bytes(const char *p, size_t n)
{
    size_t i = 0;
    for (;;) {
        char *hex_end;
        if (i >= n || !isxdigit((unsigned char)p[i]))
            return 0;
        unsigned long size = strtoul(p + i, &hex_end, 16);
        i = (size_t)(hex_end - p);
        if (n - i < 2 || memcmp(p + i, "\r\n", 2) != 0 || n - i - 2 < size + 2 ||
            memcmp(p + i + 2 + size, "\r\n", 2) != 0)
            return 0;
        i += 2 + size + 2;
        if (size == 0)
            return i;
    }
}

/* Checks the bytes of one write: interim 1xx answers, then at most one final response with the
 * standard headers whose body is Content-Length bytes or one chunked body (or none, for HEAD),
 * and no framing header and no body at all for 204 and 304.
 * Appends each status to d->statuses. Returns the final status, or 0 when there is none. */
static int check_write(struct iob_drive *d, const char *p, size_t n, bool want_close)
{
    if (n == 0)
        return 0;
    const char *end = p + n;
    while (p < end) {
        int show = (int)(end - p < SHOW_BYTES ? end - p : SHOW_BYTES);
        const char *head_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!head_end || end - p < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0 || p[12] != ' ' ||
            p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
            broken("a write is not whole responses: \"%.*s\"", show, p);
        int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
        if (iob_buf_printf(&d->statuses, "%s%d", d->statuses.len ? "," : "", status) < 0)
            broken("more answers than the test can hold");
        size_t head_len = (size_t)(head_end - p) + 2; /* through the last header's CRLF */
        const char *body = head_end + 4;
        const char *cl = memmem(p, head_len, "\r\nContent-Length: ", 18);
        bool is_chunked = has_header(p, head_len, "\r\nTransfer-Encoding: chunked\r\n");
        /* RFC 9110 §8.6: no Content-Length on 1xx and 204; none on 304 is the README's choice */
        bool has_no_content = status < 200 || status == 204 || status == 304;
        if (has_no_content && (cl || is_chunked))
            broken("a %d answer must carry neither Content-Length nor Transfer-Encoding: "
                   "\"%.*s\"",
                   status, show, p);
        if (status < 200) {
            p = body;
            continue;
        }
        if (!has_header(p, head_len, "\r\nServer: iobound/") ||
            !has_header(p, head_len, "\r\nDate: "))
            broken("a %d answer lacks Server or Date: \"%.*s\"", status, show, p);
        size_t body_bytes = (size_t)(end - body);
        if (!has_no_content && is_chunked == (cl != NULL))
            broken("a %d answer needs exactly one of Content-Length and chunked: \"%.*s\"", status,
                   show, p);
        size_t want_bytes = has_no_content ? 0
                            : cl           ? strtoul(cl + 18, NULL, 10)
                                           : chunked_bytes(body, body_bytes);
        if (body_bytes != want_bytes && body_bytes != 0)
            broken("a %d answer has %zu body bytes; its framing says %zu", status, body_bytes,
                   want_bytes);
        if (has_header(p, head_len, "\r\nConnection: close\r\n") != want_close)
            broken("a %d answer %s Connection: close but the server %s", status,
                   want_close ? "lacks" : "says", want_close ? "closes" : "keeps the connection");
        return status;
    }
    return 0;
}

/* A /fault answer is broken on purpose, all but slowhead's: what it promises instead is to end
 * the connection, with an RST exactly for reset. Appends its kind to d->statuses. */
static void check_fault(struct iob_drive *d, bool want_close)
{
    const char *kind = iob_fault_names[d->fault];
    if (!want_close)
        broken("a %s fault keeps the connection", kind);
    if (iob_conn_want_reset(d->conn) != (d->fault == IOB_FAULT_RESET))
        broken("a %s fault %s an RST", kind, d->fault == IOB_FAULT_RESET ? "lacks" : "asks for");
    if (iob_buf_printf(&d->statuses, "%s%s", d->statuses.len ? "," : "", kind) < 0)
        broken("more answers than the test can hold");
}

/* Writes the connection's output to the client, as the engines' flush() does. */
static int flush(struct iob_drive *d)
{
    struct iob_buf *out = iob_conn_output(d->conn);
    bool want_close = iob_conn_want_close(d->conn);
    bool is_broken = d->fault != IOB_FAULT_NONE && d->fault != IOB_FAULT_SLOWHEAD;
    int status = 0;
    if (is_broken)
        check_fault(d, want_close);
    else
        status = check_write(d, out->data, out->len, want_close);
    d->fault = IOB_FAULT_NONE;
    int rc = out->len ? iob_buf_append(&d->out, out->data, out->len) : 0;
    iob_buf_reset(out);
    if (want_close)
        d->closed = true;
    return rc < 0 ? rc : status;
}

/* One complete request: begin, the step carried out at once (a DRIP's pieces all written),
 * finish. */
static void exchange(struct iob_drive *d)
{
    struct iob_plan *plan;
    enum iob_step step = iob_exchange_begin(d->conn, &plan);
    d->fault = plan->fault;
    if (iob_conn_deadline_ns(d->conn) != 0)
        broken("a timeout runs while step %d is in progress", (int)step);
    for (size_t i = 0; step == IOB_STEP_DRIP && i < plan->n_chunks; i++)
        iob_exchange_drip(d->conn, i);
    iob_fake_run(plan);
    iob_exchange_finish(d->conn);
}

int iob_drive_open(struct iob_drive *d, const struct iob_env *env)
{
    *d = (struct iob_drive){0};
    iob_buf_init(&d->in, SIZE_MAX);
    iob_buf_init(&d->out, OUT_MAX_BYTES);
    iob_buf_init(&d->statuses, OUT_MAX_BYTES);
    d->conn = iob_conn_new(env, "127.0.0.1");
    return d->conn ? 0 : -ENOMEM;
}

int iob_drive_read(struct iob_drive *d, const char *data, size_t len)
{
    if (d->closed)
        return 0;
    int rc = iob_buf_append(&d->in, data, len);
    /* A REQUEST that consumed nothing twice in a row would spin an engine forever. */
    unsigned stalls = 0;
    while (rc >= 0 && d->in.len && !d->closed) {
        size_t used;
        enum iob_feed r = iob_conn_feed(d->conn, d->in.data, d->in.len, &used);
        if (used > d->in.len)
            broken("feed consumed %zu of %zu bytes", used, d->in.len);
        if (r == IOB_FEED_MORE && used != d->in.len)
            broken("MORE left %zu of %zu bytes unread", d->in.len - used, d->in.len);
        if (r == IOB_FEED_CLOSE && !iob_conn_want_close(d->conn))
            broken("CLOSE without want_close");
        if (r == IOB_FEED_MORE && iob_conn_deadline_ns(d->conn) == 0)
            broken("no timeout runs while the server waits for bytes");
        iob_buf_consume(&d->in, used);
        if (r == IOB_FEED_REQUEST) {
            stalls = used ? 0 : stalls + 1;
            if (stalls > 1)
                broken("REQUEST twice without consuming a byte");
            exchange(d);
        }
        rc = flush(d);
        if (r == IOB_FEED_CLOSE && rc >= 0 && rc < 400)
            broken("CLOSE answered %d, not an error", rc);
        if (r == IOB_FEED_REQUEST && !d->closed && !iob_conn_is_idle(d->conn))
            broken("not idle after an answer");
    }
    return rc < 0 ? rc : 0;
}

void iob_drive_timeout(struct iob_drive *d)
{
    if (d->closed)
        return;
    iob_conn_timed_out(d->conn);
    if (!iob_conn_want_close(d->conn))
        broken("a timeout without want_close");
    int status = flush(d);
    if (status != 0 && status != 408)
        broken("a timeout answered %d; only 408 or nothing is allowed", status);
}

void iob_drive_fini(struct iob_drive *d)
{
    iob_conn_free(d->conn);
    iob_buf_fini(&d->in);
    iob_buf_fini(&d->out);
    iob_buf_fini(&d->statuses);
    *d = (struct iob_drive){0};
}

int iob_drive_run(struct iob_drive *d, const struct iob_env *env, const char *data, size_t len,
                  size_t first, size_t step)
{
    int rc = iob_drive_open(d, env);
    for (size_t sent = 0; rc == 0 && sent < len;) {
        size_t n = sent == 0 ? first : step;
        if (n == 0 || n > len - sent)
            n = len - sent;
        rc = iob_drive_read(d, data + sent, n);
        sent += n;
    }
    return rc;
}

void iob_drive_strip_date(struct iob_buf *out)
{
    size_t w = 0;
    for (size_t r = 0; r < out->len;) {
        /* Only w <= r is ever written, so out->data[r - 1] is still the input byte. */
        bool at_line = r == 0 || out->data[r - 1] == '\n';
        if (at_line && out->len - r >= 6 && memcmp(out->data + r, "Date: ", 6) == 0) {
            const char *nl = memchr(out->data + r, '\n', out->len - r);
            r = nl ? (size_t)(nl - out->data) + 1 : out->len;
            continue;
        }
        out->data[w++] = out->data[r++];
    }
    out->len = w;
    if (out->data)
        out->data[w] = '\0';
}
