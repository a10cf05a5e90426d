/* The capped byte buffer: every request, response and body buffer in the server is one of these,
 * so the cap is where 413/414/431 come from. One owner per buffer; no locking. */
#include "server/base/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest first allocation: most responses are short, and doubling from here wastes little. */
#define MIN_ALLOC_BYTES 256

void iob_buf_init(struct iob_buf *b, size_t max_bytes)
{
    *b = (struct iob_buf){.max_bytes = max_bytes};
}

void iob_buf_fini(struct iob_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

/* The NUL kept past len lets callers and tests read the contents as a string. */
static void terminate(struct iob_buf *b)
{
    if (b->data)
        b->data[b->len] = '\0';
}

void iob_buf_reset(struct iob_buf *b)
{
    if (b->len == 0) /* data[0] is '\0' already: not touching it spares a cache miss per buffer */
        return;
    b->len = 0;
    terminate(b);
}

/* Makes room for extra more bytes plus a NUL kept past len, so vsnprintf can write in place.
 * The NUL is not counted against max_bytes. */
static int reserve(struct iob_buf *b, size_t extra)
{
    /* SIZE_MAX - 1 keeps len + extra + 1 from wrapping even for an "unlimited" cap. */
    size_t cap = b->max_bytes < SIZE_MAX - 1 ? b->max_bytes : SIZE_MAX - 1;
    if (extra > cap - b->len)
        return -E2BIG;
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return 0;
    size_t alloc = b->alloc ? b->alloc : MIN_ALLOC_BYTES;
    while (alloc < need)
        alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
    if (alloc > cap + 1)
        alloc = cap + 1;
    char *data = realloc(b->data, alloc);
    if (!data)
        return -ENOMEM;
    b->data = data;
    b->alloc = alloc;
    return 0;
}

int iob_buf_append_grow(struct iob_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    terminate(b);
    return 0;
}

int iob_buf_put_u64(struct iob_buf *b, uint64_t n)
{
    char digits[20]; /* 2^64 - 1 has 20 */
    char *p = digits + sizeof digits;
    do
        *--p = (char)('0' + n % 10);
    while (n /= 10);
    return iob_buf_append(b, p, (size_t)(digits + sizeof digits - p));
}

int iob_buf_printf(struct iob_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = iob_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int iob_buf_vprintf(struct iob_buf *b, const char *fmt, va_list ap)
{
    /* Print in place first; only output longer than the free room is printed twice. */
    va_list again;
    va_copy(again, ap);
    size_t room = b->alloc - b->len; /* with the NUL's byte; 0 before the first allocation */
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    int rc = n < 0 ? -EINVAL : reserve(b, (size_t)n);
    if (rc == 0 && (size_t)n >= room)
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    if (rc == 0)
        b->len += (size_t)n;
    terminate(b); /* a refused in-place print may have overwritten the NUL's place */
    va_end(again);
    return rc;
}

void iob_buf_truncate(struct iob_buf *b, size_t n)
{
    if (n >= b->len)
        return;
    b->len = n;
    terminate(b);
}

void iob_buf_consume(struct iob_buf *b, size_t n)
{
    if (n >= b->len) {
        iob_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    terminate(b);
}
