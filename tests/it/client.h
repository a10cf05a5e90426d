/* HTTP through libcurl for the integration tests: one request (easy), many at once (multi under
 * curl_multi_poll()), and the checks every response gets (Content-Length, Date, Server), plus
 * readers for headers, compact JSON shapes and Prometheus samples. Single-threaded. */
#pragma once
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "tests/it/harness.h"

/* One request, as curl sends it. Zero-initialise and fill what is needed. */
struct it_http {
    const char *method; /* NULL: GET, or POST when body is set */
    const char *path;   /* with the query */
    const char *body;   /* request body, or NULL */
    size_t body_len;
    const char *content_type; /* NULL: none */
    bool chunked;             /* send the body with Transfer-Encoding: chunked */
    bool http10;              /* HTTP/1.0 instead of 1.1 */
    int timeout_ms;           /* 0: 5 s (scaled) */
    bool may_fail; /* a curl error is left in resp->rc for the caller to judge, not recorded */
};

/* One response. Every final response read through the harness is checked for Content-Length
 * (equal to the body length unless HEAD; none on 204 and 304), Date (IMF-fixdate) and Server:
 * iobound/0.1.0. */
struct it_resp {
    CURLcode rc;
    long status;
    char *head; /* the final header block, status line included, NUL-terminated */
    size_t head_len;
    char *body; /* NUL-terminated for convenience */
    size_t body_len;
    long connects;     /* CURLINFO_NUM_CONNECTS: new connections this transfer needed */
    double elapsed_ms; /* client-side wall time */
    bool is_head;      /* the request was HEAD: no body expected */
    bool done;         /* the transfer finished (see rc) */
    char what[216];    /* "METHOD /path", for messages */
    /* Harness-private: the request's header list and the chunked upload's progress. */
    struct curl_slist *hdrs;
    const char *upload;
    size_t upload_len;
    size_t upload_off;
    bool may_fail;
};

/* A curl easy handle with the harness's defaults (no proxy, no signals, loopback only). */
CURL *it_easy_new(void);
/* Points h at srv with req, resetting resp (zeroed or used before) to receive the answer. h may
 * be reused (keep-alive). req->body must stay valid until the transfer ends. */
void it_easy_prepare(struct it_ctx *t, CURL *h, const struct it_proc *srv,
                     const struct it_http *req, struct it_resp *resp);
/* Performs a prepared handle and fills resp. Returns 0, or -EIO after recording a failure. */
int it_easy_perform(struct it_ctx *t, CURL *h, struct it_resp *resp);
/* One request on a fresh handle. Returns as it_easy_perform(). */
int it_fetch(struct it_ctx *t, const struct it_proc *srv, const struct it_http *req,
             struct it_resp *resp);
/* GET path. Returns as it_easy_perform(). */
int it_get(struct it_ctx *t, const struct it_proc *srv, const char *path, struct it_resp *resp);
void it_resp_fini(struct it_resp *resp);

/* Concurrent transfers under curl_multi_poll(). Each added handle must have been prepared with
 * it_easy_prepare(); when it completes its resp is filled (as it_easy_perform() does). */
struct it_multi {
    CURLM *m;
    int running;
};
void it_multi_init(struct it_multi *mu);
void it_multi_add(struct it_multi *mu, CURL *h);
/* Drives the transfers for at most wait_ms and collects finished ones. Returns how many are still
 * running. */
int it_multi_step(struct it_ctx *t, struct it_multi *mu, int wait_ms);
/* Drives until every transfer finished or deadline_ms (monotonic, it_now_ms()) passes. Returns
 * 0, or -ETIMEDOUT after recording a failure. */
int it_multi_wait_all(struct it_ctx *t, struct it_multi *mu, double deadline_ms);
/* Cleans the multi handle; the easy handles stay the caller's. */
void it_multi_fini(struct it_multi *mu);

/* Headers of a header block (curl's or raw): the value of the first header called name
 * (case-insensitive), trimmed, copied into out. Returns false when absent. */
bool it_header_get(const char *head, const char *name, char *out, size_t outlen);
/* How many header lines are called name. */
int it_header_count(const char *head, const char *name);
/* Whether the comma-separated header name holds token (case-insensitive). */
bool it_header_has_token(const char *head, const char *name, const char *token);
/* Checks Content-Length (against body_len unless is_head; absent, with Transfer-Encoding, on
 * 1xx, 204 and 304), Date and Server in head. */
void it_check_std_headers(struct it_ctx *t, const char *what, const char *head, size_t body_len,
                          bool is_head);

/* Compares a compact JSON body with a pattern: literal characters must match exactly; '#' matches
 * a JSON number (captured in order into nums), '@' matches 16 lowercase hex digits, '$' matches
 * the inside of a JSON string. The body must end with one newline after the pattern. Records a
 * failure naming the first mismatch. */
bool it_json_match(struct it_ctx *t, const char *what, const char *body, const char *pattern,
                   double *nums, size_t max_nums);

/* Prometheus text: the value of the sample whose name-and-labels is exactly series (e.g.
 * `iobound_threads` or `iobound_requests_total{route="hello",code="200"}`). */
bool it_metric_value(const char *text, const char *series, double *out);
