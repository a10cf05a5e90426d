/* Query parsing without copies: a cursor decodes percent-escapes byte by byte, so a value of
 * any length is checked in place, and each number is handed to iob_strnum_u64() through a
 * small token buffer. The jitter draw lives here too: a pure function of the request's seed. */
#include "handlers/params.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "server/base/json.h"
#include "server/base/strnum.h"

/* Decoded bytes of raw query text [p, end). */
struct cursor {
    const char *p;
    const char *end;
};

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The next decoded byte, or -1 at the end. A '%' not followed by two hex digits stays a '%',
 * which no name matches and no number accepts. */
static int next_byte(struct cursor *c)
{
    if (c->p == c->end)
        return -1;
    char ch = *c->p++;
    if (ch == '+')
        return ' ';
    if (ch != '%' || c->end - c->p < 2)
        return (unsigned char)ch;
    int hi = hex_value(c->p[0]);
    int lo = hex_value(c->p[1]);
    if (hi < 0 || lo < 0)
        return '%';
    c->p += 2;
    return hi << 4 | lo;
}

static bool is_name(struct cursor raw, const char *name)
{
    for (; *name; name++) {
        if (next_byte(&raw) != (unsigned char)*name)
            return false;
    }
    return raw.p == raw.end;
}

/* Finds the value of name in the query: 1 with *value set, 0 when absent, 2 when repeated. */
static int find_value(const struct iob_request *req, const char *name, struct cursor *value)
{
    int found = 0;
    const char *p = req->query;
    const char *end = p ? p + req->query_len : p;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *name_end = eq ? eq : pair_end;
        if (is_name((struct cursor){p, name_end}, name)) {
            if (++found > 1)
                return 2;
            *value = (struct cursor){eq ? eq + 1 : pair_end, pair_end};
        }
        p = amp ? amp + 1 : end;
    }
    return found;
}

/* One name=value pair of raw text: the cursors of its name and its value. */
struct pair {
    struct cursor name, value;
};

/* The pair that starts at *p (before end), which moves past it and its '&'. */
static struct pair next_pair(const char **p, const char *end)
{
    const char *amp = memchr(*p, '&', (size_t)(end - *p));
    const char *pair_end = amp ? amp : end;
    const char *eq = memchr(*p, '=', (size_t)(pair_end - *p));
    struct pair pr = {{*p, eq ? eq : pair_end}, {eq ? eq + 1 : pair_end, pair_end}};
    *p = amp ? amp + 1 : end;
    return pr;
}

static bool same_decoded(struct cursor a, struct cursor b)
{
    int ca, cb;
    do {
        ca = next_byte(&a);
        cb = next_byte(&b);
    } while (ca == cb && ca >= 0);
    return ca == cb;
}

/* Appends the decoded bytes of c as a JSON string. */
static int put_decoded(struct iob_buf *b, struct cursor c)
{
    char bytes[256];
    size_t n = 0;
    int rc = iob_buf_puts(b, "\"");
    for (int ch; rc == 0 && (ch = next_byte(&c)) >= 0;) {
        bytes[n++] = (char)ch;
        if (n == sizeof bytes || c.p == c.end) {
            rc = iob_json_escaped(b, bytes, n);
            n = 0;
        }
    }
    return rc ? rc : iob_buf_puts(b, "\"");
}

int iob_param_pairs_json(struct iob_buf *b, const char *text, size_t len)
{
    const char *end = text ? text + len : text;
    int rc = iob_buf_puts(b, "{");
    bool is_first = true;
    for (const char *p = text; rc == 0 && p < end;) {
        const char *at = p;
        struct pair pr = next_pair(&p, end);
        /* A name shown already (with all its values) is skipped; else count its values. */
        bool is_seen = false;
        size_t n_values = 0;
        for (const char *q = text; q < end && !is_seen;) {
            bool is_before = q < at;
            struct pair other = next_pair(&q, end);
            if (same_decoded(other.name, pr.name)) {
                is_seen = is_before;
                n_values++;
            }
        }
        if (is_seen || pr.name.p == pr.name.end)
            continue;
        rc = iob_buf_puts(b, is_first ? "" : ",");
        is_first = false;
        if (rc == 0)
            rc = put_decoded(b, pr.name);
        if (rc == 0)
            rc = iob_buf_puts(b, n_values > 1 ? ":[" : ":");
        for (const char *q = at; rc == 0 && q < end;) {
            struct pair other = next_pair(&q, end);
            if (!same_decoded(other.name, pr.name))
                continue;
            if (q != p)
                rc = iob_buf_puts(b, ",");
            if (rc == 0)
                rc = put_decoded(b, other.value);
        }
        if (rc == 0 && n_values > 1)
            rc = iob_buf_puts(b, "]");
    }
    return rc ? rc : iob_buf_puts(b, "}");
}

/* Reads one number from the cursor, up to its end or (when is_list) a ',', which is consumed
 * and reported in *has_more. Returns 0, -ENODATA for an empty one, or -EINVAL. */
static int next_number(struct cursor *c, bool is_list, uint64_t max, uint64_t *out, bool *has_more)
{
    char tok[24]; /* longer than any uint64_t; leading zeros are dropped as they arrive */
    size_t n = 0;
    bool is_long = false;
    int ch;
    *has_more = false;
    while ((ch = next_byte(c)) >= 0) {
        if (is_list && ch == ',') {
            *has_more = true;
            break;
        }
        if (n == 1 && tok[0] == '0')
            n = 0;
        if (n == sizeof tok)
            is_long = true;
        else
            tok[n++] = (char)ch;
    }
    if (n == 0)
        return -ENODATA;
    if (is_long || iob_strnum_u64(tok, n, max, out) < 0)
        return -EINVAL;
    return 0;
}

/* Finds the one value of name. Returns 0, or -EINVAL with a message built on allowed (what a
 * valid value looks like) when name is missing or repeated. */
static int find_one(const struct iob_request *req, const char *name, const char *allowed,
                    struct cursor *value, char *err, size_t errlen)
{
    switch (find_value(req, name, value)) {
    case 0:
        snprintf(err, errlen, "%s is required: %s", name, allowed);
        return -EINVAL;
    case 2:
        snprintf(err, errlen, "%s must be given once: %s", name, allowed);
        return -EINVAL;
    }
    return 0;
}

/* Reads name as one number in [min, max]. Returns 1 with *out set, 0 when it is absent and
 * is_optional (*out untouched), or -EINVAL with the message in err. */
static int read_u64(const struct iob_request *req, const char *name, uint64_t min, uint64_t max,
                    bool is_optional, uint64_t *out, char *err, size_t errlen)
{
    struct cursor value;
    bool has_more;
    uint64_t n;
    int found = find_value(req, name, &value);
    if (found == 1 && next_number(&value, false, max, &n, &has_more) == 0 && n >= min) {
        *out = n;
        return 1;
    }
    if (found == 0 && is_optional)
        return 0;
    /* Only on the error path: the snprintf was a sixth of a /sleep's instructions. */
    char allowed[64];
    snprintf(allowed, sizeof allowed, "a decimal integer from %" PRIu64 " to %" PRIu64, min, max);
    if (found != 1)
        return find_one(req, name, allowed, &value, err, errlen);
    snprintf(err, errlen, "%s must be %s", name, allowed);
    return -EINVAL;
}

/* More pieces would only add per-piece overhead (a timer or a wake-up each). */
#define MAX_PIECES 1000

int iob_param_paced(const struct iob_request *req, const struct iob_env *env,
                    const char *count_name, uint64_t min_count, uint64_t default_count,
                    uint64_t default_ms, struct iob_plan *plan, char *err, size_t errlen)
{
    int rc = iob_param_u64_opt(req, count_name, min_count, MAX_PIECES, default_count,
                               &plan->n_chunks, err, errlen);
    uint64_t per_piece_max = env->max_sleep_ms / (plan->n_chunks ? plan->n_chunks : 1);
    if (rc >= 0)
        rc = iob_param_u64_opt(req, "ms", 0, env->max_sleep_ms,
                               default_ms < per_piece_max ? default_ms : per_piece_max, &plan->ms,
                               err, errlen);
    if (rc < 0)
        return rc;
    /* The whole stream is one wait, so it obeys the wait limit; dividing avoids the overflow. */
    if (plan->ms > per_piece_max) {
        snprintf(err, errlen,
                 "%s*ms must be at most %" PRIu64 " (max_sleep_ms); got %" PRIu64 "*%" PRIu64,
                 count_name, env->max_sleep_ms, plan->n_chunks, plan->ms);
        return -EINVAL;
    }
    return 0;
}

int iob_param_choice(const struct iob_request *req, const char *name, const char *const *names,
                     size_t n, size_t *index, char *err, size_t errlen)
{
    char allowed[160] = "one of";
    size_t pos = strlen(allowed);
    for (size_t i = 0; i < n && pos < sizeof allowed; i++) {
        if (names[i])
            pos += (size_t)snprintf(allowed + pos, sizeof allowed - pos, "%s %s",
                                    pos > strlen("one of") ? "," : "", names[i]);
    }
    struct cursor value;
    int rc = find_one(req, name, allowed, &value, err, errlen);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (names[i] && is_name(value, names[i])) {
            *index = i;
            return 0;
        }
    }
    snprintf(err, errlen, "%s must be %s", name, allowed);
    return -EINVAL;
}

int iob_param_u64(const struct iob_request *req, const char *name, uint64_t max, uint64_t *out,
                  char *err, size_t errlen)
{
    int rc = read_u64(req, name, 0, max, false, out, err, errlen);
    return rc < 0 ? rc : 0;
}

int iob_param_u64_opt(const struct iob_request *req, const char *name, uint64_t min, uint64_t max,
                      uint64_t fallback, uint64_t *out, char *err, size_t errlen)
{
    *out = fallback;
    return read_u64(req, name, min, max, true, out, err, errlen);
}

int iob_param_jitter(const struct iob_request *req, uint64_t max_ms, struct iob_jitter *out,
                     char *err, size_t errlen)
{
    int rc = iob_param_u64_opt(req, "jitter", 0, max_ms, 0, &out->ms, err, errlen);
    out->is_given = rc == 1;
    return rc < 0 ? rc : 0;
}

/* splitmix64's output function: spreads the bits of consecutive inputs over the whole word. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t iob_param_jittered_ms(const struct iob_jitter *j, uint64_t seed, size_t i, uint64_t ms,
                               uint64_t max_ms)
{
    /* 2J+1 outcomes; the modulo's bias is below 2^-40 for any J a limit allows (<= 2^32). */
    uint64_t draw = mix64(seed + (i + 1) * 0x9e3779b97f4a7c15ULL) % (2 * j->ms + 1);
    if (ms + draw < j->ms)
        return 0;
    uint64_t wait_ms = ms + draw - j->ms;
    return wait_ms < max_ms ? wait_ms : max_ms;
}

int iob_param_random_bytes(struct iob_buf *b, uint64_t n, uint64_t seed)
{
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < n; i += 8) {
        uint64_t word = mix64(seed + (i / 8 + 1) * 0x9e3779b97f4a7c15ULL);
        unsigned char bytes[8];
        for (size_t k = 0; k < 8; k++)
            bytes[k] = (unsigned char)(word >> (8 * k)); /* little-endian on every host */
        rc = iob_buf_append(b, bytes, n - i < 8 ? (size_t)(n - i) : 8);
    }
    return rc;
}

/* Walks the list once, storing into tasks unless it is NULL; sets *count. Returns 0 or -EINVAL
 * with the message in err. */
static int scan_tasks(struct cursor value, const char *name, uint64_t max_ms, size_t max_tasks,
                      struct iob_task *tasks, size_t *count, char *err, size_t errlen)
{
    size_t n = 0;
    bool has_more = true;
    while (has_more) {
        uint64_t ms;
        int rc = next_number(&value, true, max_ms, &ms, &has_more);
        if (rc == -ENODATA && n == 0 && !has_more) {
            snprintf(err, errlen,
                     "%s must list 1 to %zu tasks, each a decimal integer from 0 to %" PRIu64, name,
                     max_tasks, max_ms);
            return -EINVAL;
        }
        if (rc == -ENODATA) {
            snprintf(err, errlen,
                     "%s: empty task in list; each task must be a decimal integer from 0 to "
                     "%" PRIu64,
                     name, max_ms);
            return -EINVAL;
        }
        if (rc != 0) {
            snprintf(err, errlen, "%s: task %zu must be a decimal integer from 0 to %" PRIu64, name,
                     n + 1, max_ms);
            return -EINVAL;
        }
        if (n == max_tasks) {
            snprintf(err, errlen, "%s: at most %zu tasks allowed", name, max_tasks);
            return -EINVAL;
        }
        if (tasks)
            tasks[n].ms = ms;
        n++;
    }
    *count = n;
    return 0;
}

int iob_param_tasks(const struct iob_request *req, const char *name, uint64_t max_ms,
                    size_t max_tasks, struct iob_plan *plan, char *err, size_t errlen)
{
    char allowed[128];
    snprintf(allowed, sizeof allowed,
             "a comma-separated list of 1 to %zu tasks, each a decimal integer from 0 to "
             "%" PRIu64,
             max_tasks, max_ms);
    struct cursor value;
    size_t n;
    int rc = find_one(req, name, allowed, &value, err, errlen);
    if (rc == 0)
        rc = scan_tasks(value, name, max_ms, max_tasks, NULL, &n, err, errlen);
    if (rc == 0)
        rc = iob_plan_tasks(plan, n);
    if (rc == 0) /* the second walk cannot fail: the first one checked the same bytes */
        rc = scan_tasks(value, name, max_ms, max_tasks, plan->tasks, &n, err, errlen);
    return rc;
}
