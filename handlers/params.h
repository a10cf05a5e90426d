/* Query parameters -> numbers, or the message of a 400 that names the allowed range. The query
 * is percent-decoded first ('+' is a space), unknown parameters are ignored, and a parameter
 * given twice is an error rather than a guess. Pure; any thread; never allocates. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"

/* Reads parameter name of req's query as one decimal integer in [0, max]. Returns 0 and sets
 * *out, or -EINVAL with the message in err (missing, repeated, empty, not digits, too big). */
int iob_param_u64(const struct iob_request *req, const char *name, uint64_t max, uint64_t *out,
                  char *err, size_t errlen);

/* Reads an optional parameter name as one decimal integer in [min, max]. Returns 1 with *out set
 * when given, 0 with *out = fallback when absent, or -EINVAL with the message in err (repeated,
 * empty, not digits, out of range). */
int iob_param_u64_opt(const struct iob_request *req, const char *name, uint64_t min, uint64_t max,
                      uint64_t fallback, uint64_t *out, char *err, size_t errlen);

/* The pacing of a stream (/drip, /sse): parameter count_name (absent: default_count) pieces in
 * [min_count, 1000] into plan->n_chunks, one every ms= (absent: default_ms, lowered to fit) into
 * plan->ms, and the whole stream within max_sleep_ms. Returns 0, or -EINVAL with the message in
 * err naming the rule broken. */
int iob_param_paced(const struct iob_request *req, const struct iob_env *env,
                    const char *count_name, uint64_t min_count, uint64_t default_count,
                    uint64_t default_ms, struct iob_plan *plan, char *err, size_t errlen);

/* Reads parameter name as one of names[0..n) (a NULL entry is skipped). Returns 0 and sets
 * *index, or -EINVAL with the message in err listing the allowed names (missing, repeated,
 * anything else). */
int iob_param_choice(const struct iob_request *req, const char *name, const char *const *names,
                     size_t n, size_t *index, char *err, size_t errlen);

/* Appends text[0..len) (a query, or a form body: name=value pairs joined by '&') as a JSON
 * object of the decoded pairs, as httpbin's args and form: a name given once maps to its value,
 * a repeated one to the list of its values in order. Returns as iob_buf_append(). */
int iob_param_pairs_json(struct iob_buf *b, const char *text, size_t len);

/* The optional jitter=J of /sleep and /gather (SPEC Extensions): J follows the rules of ms. */
struct iob_jitter {
    uint64_t ms;
    bool is_given; /* the query named it, so the answer reports jitter_ms */
};
/* Reads jitter (absent: 0, not given) as a decimal integer in [0, max_ms]. Returns 0, or -EINVAL
 * with the message in err. */
int iob_param_jitter(const struct iob_request *req, uint64_t max_ms, struct iob_jitter *out,
                     char *err, size_t errlen);
/* Wait i of a request seeded with seed (plan->seed): uniform in [ms - J, ms + J], then clamped to
 * [0, max_ms]. Pure: the randomness is seed and i alone, so the same arguments give the same
 * wait and concurrent requests share nothing. */
uint64_t iob_param_jittered_ms(const struct iob_jitter *j, uint64_t seed, size_t i, uint64_t ms,
                               uint64_t max_ms);

/* Appends n pseudo-random bytes, a pure function of seed (splitmix64): the same seed, the same
 * bytes, on any host. Returns as iob_buf_append(). */
int iob_param_random_bytes(struct iob_buf *b, uint64_t n, uint64_t seed);

/* Reads parameter name as a comma-separated list of 1 to max_tasks waits, each a decimal
 * integer in [0, max_ms], into a GATHER plan's tasks (allocated here via iob_plan_tasks()).
 * Returns 0, -EINVAL with the message in err, or -ENOMEM. */
int iob_param_tasks(const struct iob_request *req, const char *name, uint64_t max_ms,
                    size_t max_tasks, struct iob_plan *plan, char *err, size_t errlen);
