/* llhttp glue: strict parsing, the SPEC's extra checks llhttp leaves to us, limits counted as
 * bytes arrive, pipelining by pausing after each message, and the timeout policy. The only file
 * that includes llhttp.h. Runs on the connection's thread (evented: the loop thread). */
#include "server/http/conn.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "server/base/clock.h"
#include "server/base/metrics.h"
#include "server/http/conn_state.h"
#include "server/http/exchange.h"

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* The answers for limits and versions, each given from more than one place. */
static const char msg_414[] =
    "request target too long; the request line and headers may have at most max_header_bytes";
static const char msg_431[] =
    "request headers too large; the request line and headers may have at most max_header_bytes";
static const char msg_505[] = "HTTP version not supported; allowed: HTTP/1.0, HTTP/1.1";

static struct iob_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

/* Records the first problem found in a request; the parser then stops (callbacks return -1). */
static int reject(struct iob_conn *c, int status, const char *msg)
{
    if (!c->error_status) {
        c->error_status = status;
        c->error_msg = msg;
    }
    return -1;
}

static int on_message_begin(llhttp_t *p)
{
    struct iob_conn *c = conn_of(p);
    c->phase = IOB_PHASE_HEADERS;
    c->x.start_ns = iob_clock_now_ns();
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct iob_conn *c = conn_of(p);
    if (iob_buf_append(&c->head, at, len) < 0)
        return reject(c, 414, msg_414);
    return 0;
}

static int on_url_complete(llhttp_t *p)
{
    struct iob_conn *c = conn_of(p);
    c->url_len = c->head.len;
    c->url_done = true;
    return 0;
}

/* The stream offset of at, a byte of the llhttp_execute() in progress. */
static uint64_t stream_off(const struct iob_conn *c, const char *at)
{
    return c->exec_off + (uint64_t)(at - c->exec_base);
}

/* Keeps bytes of a header as a "name:value\n" line after the URL (GET /anything shows them):
 * the head's headers only, shorter than the raw lines, so max_header_bytes bounds them too. A
 * chunked body's trailers are not kept (nor counted against that limit, nor looked at). */
static int keep_header(struct iob_conn *c, const char *at, size_t len)
{
    if (c->phase != IOB_PHASE_HEADERS)
        return 0;
    return iob_buf_append(&c->head, at, len) < 0 ? reject(c, 431, msg_431) : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct iob_conn *c = conn_of(p);
    if (keep_header(c, at, len) < 0)
        return -1;
    c->field_end = stream_off(c, at) + len;
    for (size_t i = 0; i < len && c->field_len + i < sizeof(c->field); i++)
        c->field[c->field_len + i] = (char)(at[i] | 0x20);
    c->field_len += len;
    return 0;
}

static bool field_is(const struct iob_conn *c, const char *name)
{
    size_t n = strlen(name);
    return c->field_len == n && memcmp(c->field, name, n) == 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct iob_conn *c = conn_of(p);
    if (c->phase != IOB_PHASE_HEADERS)
        c->header = IOB_HEADER_OTHER; /* a trailer */
    else if (field_is(c, "host"))
        c->header = IOB_HEADER_HOST;
    else if (field_is(c, "content-type"))
        c->header = IOB_HEADER_CONTENT_TYPE;
    else if (field_is(c, "expect"))
        c->header = IOB_HEADER_EXPECT;
    else if (field_is(c, "user-agent"))
        c->header = IOB_HEADER_USER_AGENT;
    else
        c->header = IOB_HEADER_OTHER;
    return keep_header(c, ":", 1);
}

/* Where the value of the header being parsed is kept, or NULL when it is not. */
static struct iob_kept *kept_of(struct iob_conn *c)
{
    switch (c->header) {
    case IOB_HEADER_CONTENT_TYPE:
        return &c->ctype;
    case IOB_HEADER_USER_AGENT:
        return &c->user_agent;
    default:
        return NULL;
    }
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct iob_conn *c = conn_of(p);
    /* llhttp 8.1 accepts obs-fold (a line break then blanks, even before the value's first
     * byte) and hands the next line over as more of the value: no LF may lie between a header's
     * name and a piece of its value. An empty name is rejected once its value is complete. */
    uint64_t from_off = c->field_end > c->exec_off ? c->field_end : c->exec_off;
    const char *from = c->exec_base + (from_off - c->exec_off);
    if (c->field_len && (memchr(from, '\n', (size_t)(at - from)) || c->lf_end > c->field_end))
        return reject(c, 400, "obsolete line folding in a header is not allowed");
    struct iob_kept *k = kept_of(c);
    if (k && !k->is_set) {
        k->is_set = true;
        k->off = c->head.len; /* its bytes follow in the kept "name:value" line */
    }
    if (keep_header(c, at, len) < 0)
        return -1;
    if (k && !k->is_done) {
        k->len += len;
    } else if (c->header == IOB_HEADER_EXPECT) {
        for (size_t i = 0; i < len && c->expect_len < sizeof(c->expect); i++)
            c->expect[c->expect_len++] = (char)(at[i] | 0x20);
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct iob_conn *c = conn_of(p);
    /* llhttp 8.1 accepts ": a"; an empty header name is malformed (RFC 9110 token). */
    if (c->field_len == 0)
        return reject(c, 400, "empty header name");
    if (c->header == IOB_HEADER_HOST)
        c->host_count++;
    if (keep_header(c, "\n", 1) < 0)
        return -1;
    struct iob_kept *k = kept_of(c);
    if (k)
        k->is_done = k->is_set;
    c->field_len = 0;
    c->header = IOB_HEADER_OTHER;
    return 0;
}

static enum iob_method method_bit(uint8_t method)
{
    switch (method) {
    case HTTP_GET:
        return IOB_METHOD_GET;
    case HTTP_HEAD:
        return IOB_METHOD_HEAD;
    case HTTP_POST:
        return IOB_METHOD_POST;
    default:
        return IOB_METHOD_OTHER;
    }
}

/* Splits the URL into path and query: origin-form as is, absolute-form without its scheme and
 * authority. Returns false for any other form ("*", authority-form). */
static bool split_target(struct iob_conn *c, struct iob_request *r)
{
    const char *u = c->head.data, *end = u + c->url_len;
    if (u[0] != '/') {
        const char *auth = memmem(u, c->url_len, "://", 3);
        if (!auth)
            return false;
        for (u = auth + 3; u < end && *u != '/' && *u != '?';)
            u++;
    }
    const char *q = memchr(u, '?', (size_t)(end - u));
    r->path = u;
    r->path_len = (size_t)((q ? q : end) - u);
    if (r->path_len == 0) { /* "http://host" and "http://host?x" name the root */
        r->path = "/";
        r->path_len = 1;
    }
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? (size_t)(end - q - 1) : 0;
    return true;
}

static int on_headers_complete(llhttp_t *p)
{
    struct iob_conn *c = conn_of(p);
    struct iob_exchange *x = &c->x;
    uint8_t major = llhttp_get_http_major(p), minor = llhttp_get_http_minor(p);

    /* llhttp 8.1 takes "GET /" as HTTP/0.9; only 1.0 and 1.1 are served. */
    if (major != 1 || minor > 1)
        return reject(c, 505, msg_505);
    x->http_minor = minor;
    if (minor == 1 ? c->host_count != 1 : c->host_count > 1)
        return reject(c, 400, "exactly one Host header is required in HTTP/1.1");
    x->method = method_bit(llhttp_get_method(p));
    x->method_name = llhttp_method_name(llhttp_get_method(p));
    if (llhttp_get_method(p) == HTTP_CONNECT)
        return reject(c, 405, "CONNECT is not supported; this is an origin server");
    if (c->url_len == 0 || !split_target(c, &x->req))
        return reject(c, 400, "the request target must be origin-form (/path) or absolute-form");
    /* RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing, since a 1.0 hop may not
     * know chunked and would read the body to a different end. llhttp 8.1 decodes it. */
    if (minor == 0 && (p->flags & (F_CHUNKED | F_TRANSFER_ENCODING)))
        return reject(c, 400, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    x->route = iob_route_find(x->req.path, x->req.path_len);
    c->skip_body = !x->route || !(x->route->methods & IOB_METHOD_POST);

    bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->env->max_body_bytes)
        return reject(c, 413, "request body too large; at most max_body_bytes bytes allowed");
    x->keep_alive = llhttp_should_keep_alive(p);
    x->asked_keepalive = minor == 0 && x->keep_alive;
    c->want_continue =
        has_body && minor == 1 && c->expect_len == 12 && memcmp(c->expect, "100-continue", 12) == 0;
    c->phase = IOB_PHASE_BODY;
    c->body_start_ns = iob_clock_now_ns();
    /* Pause so iob_conn_feed() knows exactly where the headers ended (max_header_bytes). */
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct iob_conn *c = conn_of(p);
    if (c->body_seen + len > c->env->max_body_bytes)
        return reject(c, 413, "request body too large; at most max_body_bytes bytes allowed");
    c->body_seen += len;
    if (c->skip_body) /* counted against the limit, never stored */
        return 0;
    if (iob_buf_append(&c->body, at, len) < 0)
        return reject(c, 503, "out of memory");
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct iob_conn *c = conn_of(p);
    c->phase = IOB_PHASE_READY;
    /* One request at a time: the bytes of the next pipelined one wait for this answer. */
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

struct iob_conn *iob_conn_new(const struct iob_env *env, const char *peer)
{
    struct iob_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->parser = malloc(sizeof(llhttp_t));
    if (!c->parser) {
        free(c);
        return NULL;
    }
    llhttp_init(c->parser, HTTP_REQUEST, &settings);
    c->parser->data = c;
    c->env = env;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->accept_ns = iob_clock_now_ns();
    c->random_state = c->accept_ns ^ (uint64_t)(uintptr_t)c;
    c->last_byte_ns = c->accept_ns;
    iob_buf_init(&c->head, env->max_header_bytes);
    iob_buf_init(&c->body, env->max_body_bytes);
    /* Answers are bounded by the largest body a handler makes (echo, metrics) plus headers. */
    iob_buf_init(&c->x.res_body, env->max_body_bytes + 256 * 1024);
    iob_buf_init(&c->out, 2 * (env->max_body_bytes + 256 * 1024));
    iob_buf_init(&c->staged, env->max_body_bytes + 256 * 1024 + env->max_header_bytes);
    return c;
}

void iob_conn_free(struct iob_conn *c)
{
    if (!c)
        return;
    iob_plan_fini(&c->x.plan);
    iob_buf_fini(&c->head);
    iob_buf_fini(&c->body);
    iob_buf_fini(&c->x.res_body);
    iob_buf_fini(&c->out);
    iob_buf_fini(&c->staged);
    free(c->parser);
    free(c);
}

uint64_t iob_conn_random(struct iob_conn *c)
{
    /* splitmix64: per connection, so handlers get randomness without shared state. */
    uint64_t z = (c->random_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void iob_conn_request_done(struct iob_conn *c)
{
    struct iob_buf res_body = c->x.res_body;
    iob_plan_fini(&c->x.plan);
    iob_buf_reset(&res_body);
    memset(&c->x, 0, sizeof(c->x));
    c->x.res_body = res_body;
    iob_buf_reset(&c->head);
    iob_buf_reset(&c->body);
    iob_buf_reset(&c->staged);
    c->url_len = 0;
    c->url_done = false;
    c->head_bytes = 0;
    c->header = IOB_HEADER_OTHER;
    c->field_len = 0;
    c->ctype = c->user_agent = (struct iob_kept){0};
    c->expect_len = 0;
    c->host_count = 0;
    c->skip_body = false;
    c->body_seen = 0;
    c->has_served = true;
    c->last_byte_ns = iob_clock_now_ns();
    c->phase = IOB_PHASE_IDLE;
}

/* Fills the request view the handlers see; every pointer is into this connection. */
static void complete_request(struct iob_conn *c)
{
    struct iob_request *r = &c->x.req;
    r->method = c->x.method;
    r->method_name = c->x.method_name;
    r->content_type = c->ctype.is_set ? c->head.data + c->ctype.off : NULL;
    r->content_type_len = c->ctype.len;
    r->body = c->body.data;
    r->body_len = c->body.len;
    r->target = c->head.data;
    r->target_len = c->url_len;
    r->headers = c->head.data + c->url_len;
    r->headers_len = c->head.len - c->url_len;
    r->peer = c->peer;
}

/* llhttp 8.1 strict still takes a bare LF as the empty line that ends the headers or a chunked
 * trailer ("Host: a\r\n\n"). Such a pause comes right after that LF, the last of the used
 * bytes at[0..used); the byte before it must be a CR. */
static bool ends_in_bare_lf(const struct iob_conn *c, const char *at, size_t used)
{
    bool ends_section = c->phase == IOB_PHASE_BODY ||
                        (c->phase == IOB_PHASE_READY && (c->parser->flags & F_CHUNKED));
    char before = used >= 2 ? at[used - 2] : c->last_byte;
    return ends_section && used && at[used - 1] == '\n' && before != '\r';
}

/* Maps a parser stop that is not ours to the answer the SPEC asks for. */
static void reject_parse_error(struct iob_conn *c, llhttp_errno_t err)
{
    switch (err) {
    case HPE_INVALID_VERSION:
        /* "HTTP/1.1 junk" is a malformed line, "HTTP/1.2" an unsupported version. */
        if (c->parser->http_major == 1 && c->parser->http_minor <= 1)
            reject(c, 400, "malformed request line");
        else
            reject(c, 505, msg_505);
        break;
    case HPE_PAUSED_H2_UPGRADE:
        reject(c, 505, msg_505);
        break;
    case HPE_INVALID_METHOD:
        reject(c, 400, "malformed request line: unknown method");
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        reject(c, 400,
               "both Content-Length and Transfer-Encoding, or a repeated "
               "Content-Length, are not allowed");
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        reject(c, 400, "Transfer-Encoding must end in chunked");
        break;
    case HPE_LF_EXPECTED:
    case HPE_CR_EXPECTED:
        reject(c, 400, "malformed request: lines must end in CRLF");
        break;
    default:
        reject(c, 400, "malformed request");
        break;
    }
}

enum iob_feed iob_conn_feed(struct iob_conn *c, const char *data, size_t len, size_t *consumed)
{
    size_t off = 0;
    *consumed = 0;
    if (c->phase == IOB_PHASE_CLOSING)
        return IOB_FEED_CLOSE;
    c->last_byte_ns = iob_clock_now_ns();
    /* After the pause at the end of the headers, llhttp needs one more call, even with no bytes
     * left, to finish a message that has no body. */
    bool headers_paused = false;
    while ((off < len || headers_paused) && !c->error_status) {
        bool in_head = c->phase == IOB_PHASE_IDLE || c->phase == IOB_PHASE_HEADERS;
        size_t slice = len - off;
        /* While the head arrives, never feed past max_header_bytes: the limit holds as bytes
         * arrive, not after buffering them. */
        if (in_head && slice > c->env->max_header_bytes - c->head_bytes)
            slice = c->env->max_header_bytes - c->head_bytes;
        if (in_head && slice == 0) {
            if (c->url_done)
                reject(c, 431, msg_431);
            else
                reject(c, 414, msg_414);
            break;
        }
        c->exec_base = data + off;
        llhttp_errno_t err = llhttp_execute(c->parser, data + off, slice);
        size_t used = slice;
        headers_paused = false;
        if (err == HPE_PAUSED) {
            used = (size_t)(llhttp_get_error_pos(c->parser) - (data + off));
            llhttp_resume(c->parser);
            headers_paused = c->phase == IOB_PHASE_BODY;
        } else if (err == HPE_PAUSED_UPGRADE) {
            /* Upgrade: is ignored; the request is served as HTTP/1.1 and parsing goes on. */
            used = (size_t)(llhttp_get_error_pos(c->parser) - (data + off));
            llhttp_resume_after_upgrade(c->parser);
        } else if (err != HPE_OK) {
            if (!c->error_status)
                reject_parse_error(c, err);
            break;
        }
        if (err != HPE_OK && ends_in_bare_lf(c, data + off, used))
            reject(c, 400, "malformed request: lines must end in CRLF");
        if (c->want_continue && !c->error_status &&
            iob_buf_append(&c->out, continue_100, sizeof(continue_100) - 1) < 0)
            reject(c, 503, "out of memory");
        c->want_continue = false;
        const char *lf = used ? memrchr(data + off, '\n', used) : NULL;
        if (lf)
            c->lf_end = c->exec_off + (uint64_t)(lf - (data + off)) + 1;
        if (used)
            c->last_byte = data[off + used - 1];
        c->exec_off += used;
        if (in_head)
            c->head_bytes += used;
        off += used;
        if (c->phase == IOB_PHASE_READY && !c->error_status) {
            *consumed = off;
            complete_request(c);
            return IOB_FEED_REQUEST;
        }
    }
    *consumed = off;
    if (c->error_status) {
        *consumed = len;
        iob_exchange_reject(c, c->error_status, c->error_msg);
        return IOB_FEED_CLOSE;
    }
    return IOB_FEED_MORE;
}

struct iob_buf *iob_conn_output(struct iob_conn *c)
{
    return &c->out;
}

bool iob_conn_want_close(const struct iob_conn *c)
{
    return c->want_close;
}

bool iob_conn_want_reset(const struct iob_conn *c)
{
    return c->want_reset;
}

bool iob_conn_is_idle(const struct iob_conn *c)
{
    return c->phase == IOB_PHASE_IDLE;
}

/* The earliest of a body's three limits, and which one it is. A stall (no byte for
 * idle_timeout_ms) and the total (body_timeout_ms) are plain; the rate lets the body fall at most
 * idle_timeout_ms behind body_min_rate_bytes a second, so each byte received buys 1/rate s and a
 * slow-POST client that trickles a byte before every idle timeout still runs out (R-U-Dead-Yet). */
static uint64_t body_deadline_ns(const struct iob_conn *c, enum iob_metrics_timeout *limit)
{
    const struct iob_env *env = c->env;
    uint64_t idle_ns = env->idle_timeout_ms * IOB_NS_PER_MS;
    uint64_t at = c->last_byte_ns + idle_ns;
    *limit = IOB_METRICS_TIMEOUT_BODY_IDLE;
    uint64_t total = c->body_start_ns + env->body_timeout_ms * IOB_NS_PER_MS;
    if (total < at) {
        at = total;
        *limit = IOB_METRICS_TIMEOUT_BODY;
    }
    if (env->body_min_rate_bytes) {
        /* body_seen <= max_body_bytes <= 2^30, so the product stays far below 2^64. */
        uint64_t rate = c->body_start_ns + idle_ns +
                        (uint64_t)c->body_seen * IOB_NS_PER_SEC / env->body_min_rate_bytes;
        if (rate < at) {
            at = rate;
            *limit = IOB_METRICS_TIMEOUT_BODY_RATE;
        }
    }
    return at;
}

uint64_t iob_conn_deadline_ns(const struct iob_conn *c)
{
    enum iob_metrics_timeout limit;
    switch (c->phase) {
    case IOB_PHASE_IDLE:
        /* A new connection gets header_timeout_ms for its first request; afterwards the
         * keep-alive idle timeout runs until the next request's first byte. */
        if (!c->has_served)
            return c->accept_ns + c->env->header_timeout_ms * IOB_NS_PER_MS;
        return c->last_byte_ns + c->env->idle_timeout_ms * IOB_NS_PER_MS;
    case IOB_PHASE_HEADERS:
        /* From the first byte, not the last: one byte a second never extends it (slowloris). */
        return c->x.start_ns + c->env->header_timeout_ms * IOB_NS_PER_MS;
    case IOB_PHASE_BODY:
        return body_deadline_ns(c, &limit);
    default:
        return 0;
    }
}

/* The 408 message of each limit: what was late, the limit's value with its unit, its key. */
static const struct {
    const char *what;
    size_t env_offset;
    const char *unit;
    const char *key;
} timeouts[IOB_METRICS_TIMEOUTS] = {
    [IOB_METRICS_TIMEOUT_HEADER] = {"headers not complete within",
                                    offsetof(struct iob_env, header_timeout_ms), "ms",
                                    "header_timeout_ms"},
    [IOB_METRICS_TIMEOUT_BODY_IDLE] = {"body stalled longer than",
                                       offsetof(struct iob_env, idle_timeout_ms), "ms",
                                       "idle_timeout_ms"},
    [IOB_METRICS_TIMEOUT_BODY_RATE] = {"body slower than",
                                       offsetof(struct iob_env, body_min_rate_bytes),
                                       "bytes a second", "body_min_rate_bytes"},
    [IOB_METRICS_TIMEOUT_BODY] = {"body not complete within",
                                  offsetof(struct iob_env, body_timeout_ms), "ms",
                                  "body_timeout_ms"},
};

void iob_conn_timed_out(struct iob_conn *c)
{
    enum iob_metrics_timeout limit = IOB_METRICS_TIMEOUT_HEADER;
    c->want_close = true;
    if (c->phase == IOB_PHASE_BODY) {
        body_deadline_ns(c, &limit);
    } else if (c->phase != IOB_PHASE_HEADERS) {
        /* Nothing of a request arrived: a quiet close. */
        c->phase = IOB_PHASE_CLOSING;
        return;
    }
    uint64_t value;
    memcpy(&value, (const char *)c->env + timeouts[limit].env_offset, sizeof value);
    char msg[128];
    snprintf(msg, sizeof msg, "request %s %llu %s (%s)", timeouts[limit].what,
             (unsigned long long)value, timeouts[limit].unit, timeouts[limit].key);
    iob_metrics_request_timed_out(limit);
    iob_exchange_reject(c, 408, msg);
}

void iob_conn_drain(struct iob_conn *c)
{
    c->draining = true;
}
