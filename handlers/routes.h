/* The fixed route table: one row per endpoint, feeding dispatch, 405 Allow, HEAD, the index page
 * and the metrics route labels. Read-only; any thread. */
#pragma once
#include <stddef.h>

#include "handlers/handler.h"

struct iob_route {
    const char *label; /* metrics route label */
    /* exact path; a trailing '/' means "this prefix" (/status/), a trailing "/..." this path and
     * every path below it (/anything/..., never /anythingelse) */
    const char *path;
    unsigned methods;    /* enum iob_method bits; GET implies HEAD */
    const char *allow;   /* the Allow header value */
    const char *example; /* a link for the index page */
    const char *summary; /* one line for the index page */
    iob_plan_fn *plan;
    iob_finish_fn *finish;
};

extern const struct iob_route iob_routes[];
extern const size_t iob_routes_count;
/* The metrics label index of requests that matched no route (404s and parse errors). */
extern const size_t iob_route_other;
/* Writes every route's metrics label, then "other" at iob_route_other, into labels (room for
 * iob_routes_count + 1; IOB_METRICS_ROUTES_MAX always suffices) and returns the count. */
size_t iob_route_labels(const char **labels);
/* The metrics label of route, "other" for NULL (no route matched). */
const char *iob_route_label(const struct iob_route *route);

/* The route for path[0..len), or NULL. */
const struct iob_route *iob_route_find(const char *path, size_t len);
