/* The route table: the one list of endpoints. Dispatch, 405's Allow, HEAD, the index page and
 * the metrics route labels all read it, so a new endpoint is one row here (and its label).
 * Read-only after start; any thread. */
#include "handlers/routes.h"

#include <string.h>

#include "handlers/endpoints.h"
#include "server/base/metrics.h"

#define GET_HEAD (IOB_METHOD_GET | IOB_METHOD_HEAD)

const struct iob_route iob_routes[] = {
    {"index", "/", GET_HEAD, "GET, HEAD", "/", "this page: the mode, the endpoints, the limits",
     iob_index_plan, NULL},
    {"hello", "/hello", GET_HEAD, "GET, HEAD", "/hello", "does nothing: the baseline",
     iob_hello_plan, NULL},
    {"sleep", "/sleep", GET_HEAD, "GET, HEAD", "/sleep?ms=100",
     "waits ms without using CPU: a timer (evented) or a sleeping thread (threaded)",
     iob_sleep_plan, iob_sleep_finish},
    {"gather", "/gather", GET_HEAD, "GET, HEAD", "/gather?ms=100,200,300",
     "runs the waits concurrently, like asyncio.gather: takes the longest, not the sum",
     iob_gather_plan, iob_gather_finish},
    {"cpu", "/cpu", GET_HEAD, "GET, HEAD", "/cpu?ms=100",
     "burns ms of CPU time: stalls the evented loop, runs beside the others when threaded",
     iob_cpu_plan, iob_cpu_finish},
    {"echo", "/echo", IOB_METHOD_POST, "POST", "/echo",
     "returns the request body with its Content-Type", iob_echo_plan, NULL},
    {"healthz", "/healthz", GET_HEAD, "GET, HEAD", "/healthz", "liveness for probes: ok",
     iob_healthz_plan, NULL},
    {"readyz", "/readyz", GET_HEAD, "GET, HEAD", "/readyz",
     "readiness for probes: ready, or 503 once the server drains (SIGTERM)", iob_readyz_plan, NULL},
    {"metrics", "/metrics", GET_HEAD, "GET, HEAD", "/metrics", "Prometheus text format 0.0.4",
     iob_metrics_plan, NULL},
    {"drip", "/drip", GET_HEAD, "GET, HEAD", "/drip?bytes=10&chunks=5&ms=200",
     "streams bytes of '*' in chunks pieces, ms apart: a timer per piece or a sleeping thread",
     iob_drip_plan, NULL},
    {"status", "/status/", GET_HEAD, "GET, HEAD", "/status/418",
     "answers with status CODE (200-599) and its reason phrase, after an optional ?ms= wait",
     iob_status_plan, iob_status_finish},
    {"anything", "/anything/...", IOB_METHOD_ANY, "any but CONNECT", "/anything/a/b?x=1",
     "any method, any path below: the request as received (httpbin's shape), after an optional "
     "?ms= wait",
     iob_anything_plan, iob_anything_finish},
    {"sse", "/sse", GET_HEAD, "GET, HEAD", "/sse?events=5&ms=500",
     "Server-Sent Events: events (0-1000) id/data events, one every ms; events*ms <= "
     "max_sleep_ms",
     iob_sse_plan, NULL},
    {"bytes", "/bytes", GET_HEAD, "GET, HEAD", "/bytes?n=64&seed=7",
     "n (up to max_body_bytes) pseudo-random bytes, the same for the same seed", iob_bytes_plan,
     NULL},
    {"fault", "/fault", GET_HEAD, "GET, HEAD", "/fault?kind=reset&after=20",
     "one misbehaviour on purpose: kind=reset|close|hang|short|long|slowhead|garbage",
     iob_fault_plan, NULL},
};
const size_t iob_routes_count = sizeof iob_routes / sizeof iob_routes[0];
const size_t iob_route_other = sizeof iob_routes / sizeof iob_routes[0];

_Static_assert(sizeof iob_routes / sizeof iob_routes[0] + 1 <= IOB_METRICS_ROUTES_MAX,
               "the metrics registry holds every route label and \"other\"");

#define OTHER_LABEL "other"

size_t iob_route_labels(const char **labels)
{
    for (size_t i = 0; i < iob_routes_count; i++)
        labels[i] = iob_routes[i].label;
    labels[iob_route_other] = OTHER_LABEL;
    return iob_routes_count + 1;
}

const char *iob_route_label(const struct iob_route *route)
{
    return route ? route->label : OTHER_LABEL;
}

const struct iob_route *iob_route_find(const char *path, size_t len)
{
    for (size_t i = 0; i < iob_routes_count; i++) {
        const struct iob_route *r = &iob_routes[i];
        size_t n = strlen(r->path);
        /* A prefix row also takes the bare prefix, so its plan() can say what is missing. */
        bool is_prefix = n > 1 && r->path[n - 1] == '/';
        bool is_tree = n > 4 && memcmp(r->path + n - 4, "/...", 4) == 0;
        if (is_tree) /* the path itself, or it and a '/' */
            n -= 4;
        bool is_size = is_prefix ? len >= n : len == n || (is_tree && len > n && path[n] == '/');
        if (is_size && memcmp(path, r->path, n) == 0)
            return r;
    }
    return NULL;
}
