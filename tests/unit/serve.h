/* A handler harness for the unit tests: one request through its route's plan(), fake_run.c's
 * fixed timings and finish(), without an HTTP layer or an engine. One thread. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"
#include "server/base/buf.h"

#define JSON "application/json"
#define TEXT "text/plain; charset=utf-8"

/* The per-request random value the HTTP layer hands plan(); fixed, so jitter is repeatable. */
#define SEED 0x0123456789abcdefULL

/* Limits at their defaults, two models (one per value of each trait), faults allowed. */
extern const struct iob_env default_env;

/* One request's outcome, as an engine would produce it. */
struct outcome {
    enum iob_step step; /* what plan() returned */
    struct iob_plan plan;
    struct iob_buf body;
    struct iob_response res;
};

/* Runs req through the route table: plan() with seed, fake_run, finish() once for a step other
 * than NONE (a DRIP or a fault has none: the HTTP layer writes those). The body may grow to body_cap. Free
 * o with done(). */
void serve_with(struct outcome *o, const struct iob_env *env, const struct iob_request *req,
                size_t body_cap, uint64_t seed);
/* serve_with() for GET path?query. query may be NULL. */
void serve_seeded(struct outcome *o, const struct iob_env *env, const char *path, const char *query,
                  uint64_t seed);
/* serve_seeded() with SEED. */
void serve(struct outcome *o, const struct iob_env *env, const char *path, const char *query);
void done(struct outcome *o);
/* Asserts status, content type and the exact body, printing both bodies when they differ. */
void expect(const struct outcome *o, int status, const char *content_type, const char *body);
