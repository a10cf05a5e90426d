/* Query parameters -> numbers, or the message of a 400 that names the allowed range. The query
 * is percent-decoded first ('+' is a space), unknown parameters are ignored, and a parameter
 * given twice is an error rather than a guess. Pure; any thread; never allocates. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"

/* Reads parameter name of req's query as one decimal integer in [0, max]. Returns 0 and sets
 * *out, or -EINVAL with the message in err (missing, repeated, empty, not digits, too big). */
int iob_param_u64(const struct iob_request *req, const char *name, uint64_t max, uint64_t *out,
                  char *err, size_t errlen);

/* Reads parameter name as a comma-separated list of 1 to max_tasks waits, each a decimal
 * integer in [0, max_ms], into a GATHER plan's tasks (allocated here via iob_plan_tasks()).
 * Returns 0, -EINVAL with the message in err, or -ENOMEM. */
int iob_param_tasks(const struct iob_request *req, const char *name, uint64_t max_ms,
                    size_t max_tasks, struct iob_plan *plan, char *err, size_t errlen);
