/* The inside of a connection, shared by conn.c (parsing) and exchange.c (answering) only.
 * Engines and handlers never include this. llhttp stays behind an opaque pointer so that only
 * conn.c includes llhttp.h. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"
#include "handlers/routes.h"
#include "server/base/buf.h"
#include "server/http/conn.h"

enum iob_phase {
    IOB_PHASE_IDLE,    /* between requests */
    IOB_PHASE_HEADERS, /* request line and headers arriving */
    IOB_PHASE_BODY,    /* body arriving */
    IOB_PHASE_READY,   /* request complete, not yet begun */
    IOB_PHASE_BUSY,    /* an exchange is in progress */
    IOB_PHASE_CLOSING, /* answered an error; nothing more is parsed */
};

enum iob_header {
    IOB_HEADER_OTHER,
    IOB_HEADER_HOST,
    IOB_HEADER_CONTENT_TYPE,
    IOB_HEADER_USER_AGENT,
    IOB_HEADER_EXPECT,
};

/* A header value kept in the connection's head buffer. Only the first occurrence is kept: its
 * pieces are adjacent there only while no other kept value is appended between them. */
struct iob_kept {
    size_t off;
    size_t len;
    bool is_set;  /* the header was seen */
    bool is_done; /* its value is complete; a repeat is ignored */
};

/* One request from its first byte to its answer. Reset after each answer. */
struct iob_exchange {
    const struct iob_route *route; /* NULL: no such path */
    enum iob_method method;
    const char *method_name;
    int http_minor;
    bool keep_alive;      /* llhttp_should_keep_alive() at the end of the headers */
    bool asked_keepalive; /* HTTP/1.0 with Connection: keep-alive */
    uint64_t start_ns;    /* the request's first byte */
    enum iob_step step;
    struct iob_request req;
    struct iob_plan plan;
    struct iob_response res;
    struct iob_buf res_body;
    size_t streamed_bytes; /* DRIP: body bytes of the pieces written so far */
};

struct iob_conn {
    struct llhttp__internal_s *parser;
    const struct iob_env *env;
    char peer[64];
    enum iob_phase phase;
    bool has_served; /* a request was answered: idle_timeout_ms applies between requests */
    bool want_close;
    bool want_reset; /* a /fault reset: end with an RST, not a FIN (want_close is set too) */
    bool draining;
    uint64_t accept_ns;
    uint64_t random_state; /* splitmix64 state, seeded from the clock and this address */
    uint64_t last_byte_ns;

    /* The request being parsed. head holds the URL, then the kept header values. */
    struct iob_buf head;
    size_t url_len;
    bool url_done;
    size_t head_bytes; /* request line + headers so far, against max_header_bytes */
    enum iob_header header;
    size_t field_len;
    char field[16];             /* the lowercased start of the header name */
    struct iob_kept ctype;      /* Content-Type: for POST /echo */
    struct iob_kept user_agent; /* User-Agent: for the access log */
    char expect[16];
    size_t expect_len;
    unsigned host_count;
    /* Where llhttp's bytes sit in the connection's byte stream, so that a header value can tell
     * whether a line break lies between it and its name (obs-fold). */
    const char *exec_base;  /* the bytes of the llhttp_execute() in progress */
    uint64_t exec_off;      /* the stream offset of exec_base[0] */
    uint64_t lf_end;        /* the stream offset after the last LF of earlier executes */
    uint64_t field_end;     /* the stream offset after the header name so far */
    char last_byte;         /* the last byte llhttp used: the CR before a final LF */
    bool want_continue;     /* send 100 Continue once the end of the headers is checked */
    bool skip_body;         /* the route takes no body: read and discard it */
    size_t body_seen;       /* body bytes read, kept in body or (skip_body) discarded */
    uint64_t body_start_ns; /* the end of the headers: the body's limits run from here */
    int error_status;
    const char *error_msg;
    struct iob_buf body;

    struct iob_exchange x;
    struct iob_buf out;
    struct iob_buf staged; /* a slowhead answer, whole, that the pieces move to out */
};

/* Answers a request that failed before it could begin (a parse error, a limit, 408): the JSON
 * error in the output with Connection: close, counted and logged. exchange.c. */
void iob_exchange_reject(struct iob_conn *c, int status, const char *msg);
/* The next value of the connection's random sequence (a per-request seed for handlers). */
uint64_t iob_conn_random(struct iob_conn *c);
/* Forgets the request just answered so the next one starts clean. conn.c. */
void iob_conn_request_done(struct iob_conn *c);
