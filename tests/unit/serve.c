/* The handler harness behind serve.h: the route table, plan(), fake_run.c and finish(), as the
 * HTTP layer and an engine would run them. */
#include "serve.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "fake_run.h"
#include "handlers/routes.h"

/* Two models as the engine table would describe them, one per value of each trait. */
const struct iob_model test_models[2] = {
    {.name = "evented",
     .summary = "one loop <one thread>",
     .cpu_stalls_others = true,
     .cpu_lanes = 1,
     .threads_at_rest = 1,
     .breaks_first = "CPU work"},
    {.name = "threaded",
     .summary = "a thread per connection",
     .wait_costs_thread = true,
     .threads_at_rest = 1,
     .threads_per_conn = 1,
     .breaks_first = "memory"},
};
static const struct iob_model *const test_model_list[] = {&test_models[0], &test_models[1]};

const struct iob_env default_env = {
    .mode = "evented",
    .model = &test_models[0],
    .models = test_model_list,
    .n_models = 2,
    .max_sleep_ms = 30000,
    .max_cpu_ms = 10000,
    .max_gather_tasks = 64,
    .max_body_bytes = 1048576,
    .max_header_bytes = 8192,
    .header_timeout_ms = 10000,
    .idle_timeout_ms = 5000,
    .body_timeout_ms = 60000,
    .body_min_rate_bytes = 1024,
    .max_connections = 10000,
    .allow_faults = true,
};

/* Runs one request through the route table like the HTTP layer and an engine would:
 * find the route, plan(), fake_run, finish() once for a step other than NONE (DRIP has none:
 * the HTTP layer streams its body). */
void serve_with(struct outcome *o, const struct iob_env *env, const struct iob_request *req,
                size_t body_cap, uint64_t seed)
{
    *o = (struct outcome){0};
    iob_buf_init(&o->body, body_cap);
    o->res.body = &o->body;
    o->plan.seed = seed;
    const struct iob_route *r = iob_route_find(req->path, req->path_len);
    assert_non_null(r);
    o->step = r->plan(req, env, &o->plan, &o->res);
    assert_int_equal(o->step, o->plan.step);
    if (o->step != IOB_STEP_NONE) {
        /* DRIP has no finish(): the HTTP layer streams it; nor has a fault: it writes that */
        assert_true(r->finish || o->step == IOB_STEP_DRIP || o->plan.fault != IOB_FAULT_NONE);
        iob_fake_run(&o->plan);
        if (r->finish)
            r->finish(req, env, &o->plan, &o->res);
    }
}

void serve_seeded(struct outcome *o, const struct iob_env *env, const char *path, const char *query,
                  uint64_t seed)
{
    struct iob_request req = {
        .method = IOB_METHOD_GET,
        .method_name = "GET",
        .path = path,
        .path_len = strlen(path),
        .query = query,
        .query_len = query ? strlen(query) : 0,
    };
    serve_with(o, env, &req, 1 << 20, seed);
}

void serve(struct outcome *o, const struct iob_env *env, const char *path, const char *query)
{
    serve_seeded(o, env, path, query, SEED);
}

void done(struct outcome *o)
{
    iob_plan_fini(&o->plan);
    iob_buf_fini(&o->body);
}

/* Asserts status, content type and the exact body, printing both bodies when they differ. */
void expect(const struct outcome *o, int status, const char *content_type, const char *body)
{
    const char *got = o->body.data ? o->body.data : "";
    if (o->res.status != status || strcmp(got, body) != 0)
        print_error("want %d %s\n     got %d %s\n", status, body, o->res.status, got);
    assert_int_equal(o->res.status, status);
    assert_string_equal(got, body);
    assert_string_equal(o->res.content_type, content_type);
    assert_int_equal(o->res.content_type_len, 0);
}
