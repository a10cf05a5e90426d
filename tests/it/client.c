/* libcurl plumbing for the integration tests (see client.h): preparing and performing requests,
 * the multi loop, and the checks and readers every test shares. Single-threaded. */
#include "tests/it/client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REQUEST_TIMEOUT_MS 5000

static int append(char **buf, size_t *len, const void *data, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    if (!grown)
        return -ENOMEM;
    memcpy(grown + *len, data, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct it_resp *r = arg;
    return append(&r->body, &r->body_len, data, size * nmemb) == 0 ? size * nmemb : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct it_resp *r = arg;
    /* A new status line starts a new block (after a 100 Continue): keep only the final one. */
    if (size * nmemb >= 5 && memcmp(data, "HTTP/", 5) == 0)
        r->head_len = 0;
    return append(&r->head, &r->head_len, data, size * nmemb) == 0 ? size * nmemb : 0;
}

static size_t on_upload(char *out, size_t size, size_t nmemb, void *arg)
{
    struct it_resp *r = arg;
    /* Small pieces, so a chunked upload really arrives as several chunks. */
    size_t n = r->upload_len - r->upload_off;
    if (n > size * nmemb)
        n = size * nmemb;
    if (n > 7)
        n = 7;
    memcpy(out, r->upload + r->upload_off, n);
    r->upload_off += n;
    return n;
}

CURL *it_easy_new(void)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    return h;
}

void it_easy_prepare(struct it_ctx *t, CURL *h, const struct it_proc *srv,
                     const struct it_http *req, struct it_resp *resp)
{
    char url[2048];
    const char *method = req->method ? req->method : req->body ? "POST" : "GET";
    it_resp_fini(resp);
    snprintf(resp->what, sizeof(resp->what), "%s %.200s", method, req->path);
    resp->is_head = strcmp(method, "HEAD") == 0;
    resp->may_fail = req->may_fail;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv->port, req->path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(
        h, CURLOPT_TIMEOUT_MS,
        (long)(req->timeout_ms ? req->timeout_ms : it_scaled_ms(t, REQUEST_TIMEOUT_MS)));
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     req->http10 ? CURL_HTTP_VERSION_1_0 : CURL_HTTP_VERSION_1_1);
    /* Reset what an earlier request on a reused handle may have set. */
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_NOBODY, resp->is_head ? 1L : 0L);

    /* curl would add its own Content-Type and Expect to a POST: the tests say what is sent. */
    resp->hdrs = curl_slist_append(NULL, "Expect:");
    if (req->content_type) {
        char line[256];
        snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        resp->hdrs = curl_slist_append(resp->hdrs, line);
    } else {
        resp->hdrs = curl_slist_append(resp->hdrs, "Content-Type:");
    }
    if (req->body || strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        if (req->chunked) {
            resp->upload = req->body;
            resp->upload_len = req->body_len;
            resp->upload_off = 0;
            resp->hdrs = curl_slist_append(resp->hdrs, "Transfer-Encoding: chunked");
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
            curl_easy_setopt(h, CURLOPT_READDATA, resp);
        } else {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
            curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
        }
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && !resp->is_head)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, resp->hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_PRIVATE, resp);
}

/* Fills resp from a finished transfer and makes the checks every response gets. */
static int collect(struct it_ctx *t, CURL *h, struct it_resp *resp)
{
    curl_off_t total_us = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &resp->connects);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total_us);
    resp->elapsed_ms = (double)total_us / 1e3;
    resp->done = true;
    curl_slist_free_all(resp->hdrs);
    resp->hdrs = NULL;
    if (!resp->head)
        append(&resp->head, &resp->head_len, "", 0);
    if (!resp->body)
        append(&resp->body, &resp->body_len, "", 0);
    if (resp->rc != CURLE_OK && resp->may_fail)
        return -EIO;
    if (!it_check(t, resp->rc == CURLE_OK, "%s: curl failed: %s", resp->what,
                  curl_easy_strerror(resp->rc)))
        return -EIO;
    it_check_std_headers(t, resp->what, resp->head, resp->body_len, resp->is_head);
    return 0;
}

int it_easy_perform(struct it_ctx *t, CURL *h, struct it_resp *resp)
{
    resp->rc = curl_easy_perform(h);
    return collect(t, h, resp);
}

int it_fetch(struct it_ctx *t, const struct it_proc *srv, const struct it_http *req,
             struct it_resp *resp)
{
    CURL *h = it_easy_new();
    if (!it_check(t, h != NULL, "curl_easy_init failed"))
        return -ENOMEM;
    it_easy_prepare(t, h, srv, req, resp);
    int rc = it_easy_perform(t, h, resp);
    curl_easy_cleanup(h);
    return rc;
}

int it_get(struct it_ctx *t, const struct it_proc *srv, const char *path, struct it_resp *resp)
{
    struct it_http req = {.path = path};
    return it_fetch(t, srv, &req, resp);
}

void it_resp_fini(struct it_resp *resp)
{
    free(resp->head);
    free(resp->body);
    curl_slist_free_all(resp->hdrs);
    memset(resp, 0, sizeof(*resp));
}

void it_multi_init(struct it_multi *mu)
{
    mu->m = curl_multi_init();
    mu->running = 0;
}

void it_multi_add(struct it_multi *mu, CURL *h)
{
    curl_multi_add_handle(mu->m, h);
    mu->running++;
}

static void collect_done(struct it_ctx *t, struct it_multi *mu)
{
    CURLMsg *msg;
    int queued;
    while ((msg = curl_multi_info_read(mu->m, &queued))) {
        struct it_resp *resp = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&resp);
        resp->rc = msg->data.result;
        collect(t, msg->easy_handle, resp);
        curl_multi_remove_handle(mu->m, msg->easy_handle);
    }
}

int it_multi_step(struct it_ctx *t, struct it_multi *mu, int wait_ms)
{
    curl_multi_perform(mu->m, &mu->running);
    collect_done(t, mu);
    if (mu->running > 0 && wait_ms > 0) {
        curl_multi_poll(mu->m, NULL, 0, wait_ms, NULL);
        curl_multi_perform(mu->m, &mu->running);
        collect_done(t, mu);
    }
    return mu->running;
}

int it_multi_wait_all(struct it_ctx *t, struct it_multi *mu, double deadline_ms)
{
    while (it_multi_step(t, mu, 50) > 0) {
        if (it_now_ms() >= deadline_ms) {
            it_check(t, false, "%d transfers still running at the deadline", mu->running);
            return -ETIMEDOUT;
        }
    }
    return 0;
}

void it_multi_fini(struct it_multi *mu)
{
    curl_multi_cleanup(mu->m);
    mu->m = NULL;
}

/* --- response checks --------------------------------------------------------------------- */

/* The next header line of head after *pos: sets name/value spans. Returns false at the end. */
static bool next_header(const char *head, size_t *pos, const char **name, size_t *name_len,
                        const char **value, size_t *value_len)
{
    for (;;) {
        const char *line = head + *pos;
        const char *eol = strchr(line, '\n');
        if (!*line)
            return false;
        *pos = eol ? (size_t)(eol + 1 - head) : strlen(head);
        if (!eol)
            eol = line + strlen(line);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (line == head || !colon)
            continue; /* the status line, or the blank line ending the block */
        *name = line;
        *name_len = (size_t)(colon - line);
        const char *v = colon + 1, *e = eol;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *value = v;
        *value_len = (size_t)(e - v);
        return true;
    }
}

bool it_header_get(const char *head, const char *name, char *out, size_t outlen)
{
    size_t pos = 0, nl, vl;
    const char *n, *v;
    while (head && next_header(head, &pos, &n, &nl, &v, &vl)) {
        if (nl == strlen(name) && strncasecmp(n, name, nl) == 0) {
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return true;
        }
    }
    return false;
}

int it_header_count(const char *head, const char *name)
{
    size_t pos = 0, nl, vl;
    const char *n, *v;
    int count = 0;
    while (head && next_header(head, &pos, &n, &nl, &v, &vl))
        count += nl == strlen(name) && strncasecmp(n, name, nl) == 0;
    return count;
}

bool it_header_has_token(const char *head, const char *name, const char *token)
{
    char value[512], *save = NULL;
    if (!it_header_get(head, name, value, sizeof(value)))
        return false;
    for (char *tok = strtok_r(value, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        if (strcasecmp(tok, token) == 0)
            return true;
    }
    return false;
}

void it_check_std_headers(struct it_ctx *t, const char *what, const char *head, size_t body_len,
                          bool is_head)
{
    char v[256];
    struct tm tm;
    int status = 0;
    sscanf(head, "HTTP/1.%*1[01] %3d", &status);
    /* RFC 9110 §8.6: none on 1xx and 204; none on 304 is the README's choice */
    bool has_no_content = status > 0 && (status < 200 || status == 204 || status == 304);
    int framing =
        it_header_count(head, "Content-Length") + it_header_count(head, "Transfer-Encoding");
    if (has_no_content)
        it_check(t, framing == 0,
                 "%s: a %d answer must carry neither Content-Length nor Transfer-Encoding", what,
                 status);
    else if (it_check(t, it_header_get(head, "Content-Length", v, sizeof(v)),
                      "%s: no Content-Length header", what) &&
             !is_head) {
        char *end;
        unsigned long long cl = strtoull(v, &end, 10);
        it_check(t, *v && !*end && cl == body_len,
                 "%s: Content-Length: expected %zu (the body), actual \"%s\"", what, body_len, v);
    }
    if (it_check(t, it_header_get(head, "Date", v, sizeof(v)), "%s: no Date header", what)) {
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        it_check(t, end && !*end && strlen(v) == 29,
                 "%s: Date: expected an IMF-fixdate like \"Sun, 06 Nov 1994 08:49:37 GMT\", "
                 "actual \"%s\"",
                 what, v);
    }
    if (!it_header_get(head, "Server", v, sizeof(v)))
        snprintf(v, sizeof(v), "(none)");
    it_check(t, strcmp(v, "iobound/0.1.0") == 0,
             "%s: Server: expected \"iobound/0.1.0\", actual \"%s\"", what, v);
}

/* Length of the JSON number at s, 0 when there is none (RFC 8259 grammar). */
static size_t json_number_len(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (isdigit((unsigned char)*p))
            p++;
    else
        return 0;
    if (*p == '.') {
        if (!isdigit((unsigned char)p[1]))
            return 0;
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return (size_t)(p - s);
}

bool it_json_match(struct it_ctx *t, const char *what, const char *body, const char *pattern,
                   double *nums, size_t max_nums)
{
    const char *b = body ? body : "", *p = pattern;
    size_t n = 0;
    while (*p) {
        if (*p == '#') {
            size_t len = json_number_len(b);
            if (!len)
                break;
            if (n < max_nums)
                nums[n++] = strtod(b, NULL);
            b += len;
        } else if (*p == '@') {
            size_t len = 0;
            while (len < 16 &&
                   ((b[len] >= '0' && b[len] <= '9') || (b[len] >= 'a' && b[len] <= 'f')))
                len++;
            if (len != 16)
                break;
            b += len;
        } else if (*p == '$') {
            while (*b && *b != '"')
                b += (*b == '\\' && b[1]) ? 2 : 1;
        } else if (*b == *p) {
            b++;
        } else {
            break;
        }
        p++;
    }
    bool has_newline = !*p && *b == '\n'; /* SPEC: every JSON body ends with one */
    if (has_newline)
        b++;
    char a[IT_SHOW_MAX];
    return it_check(t, has_newline && !*b,
                    "%s: body does not match %s and a newline (first difference at body offset "
                    "%td): \"%s\"",
                    what, pattern, b - (body ? body : ""),
                    it_show(body, body ? strlen(body) : 0, a, sizeof(a)));
}

bool it_metric_value(const char *text, const char *series, double *out)
{
    size_t len = strlen(series);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ') {
            char *end;
            *out = strtod(line + len + 1, &end);
            return end != line + len + 1;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}
