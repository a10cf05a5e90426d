/* A growable byte buffer with a hard cap. Leaf utility: knows nothing of HTTP or engines.
 * Not thread-safe; each buffer has one owner. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct iob_buf {
    char *data;       /* NULL until the first append; then data[len] is always '\0' */
    size_t len;       /* bytes in use */
    size_t alloc;     /* bytes allocated */
    size_t max_bytes; /* appending past this fails with -E2BIG */
};

/* Starts an empty buffer that may grow to max_bytes. Allocates nothing. */
void iob_buf_init(struct iob_buf *b, size_t max_bytes);
/* Frees the memory; the buffer is empty and may be reused. Accepts a zeroed buffer. */
void iob_buf_fini(struct iob_buf *b);
/* Forgets the contents but keeps the memory for the next use. */
void iob_buf_reset(struct iob_buf *b);
/* iob_buf_append() when the bytes do not fit the memory already allocated. */
int iob_buf_append_grow(struct iob_buf *b, const void *p, size_t n);
/* Appends n bytes. Returns 0, -E2BIG past max_bytes (nothing appended) or -ENOMEM. Inline: a
 * response is built from many short appends, and the call was a tenth of a /hello's cost. */
static inline int iob_buf_append(struct iob_buf *b, const void *p, size_t n)
{
    if (n >= b->alloc - b->len) /* never past max_bytes: alloc is at most max_bytes + 1 */
        return iob_buf_append_grow(b, p, n);
    if (n) /* p may be NULL when n is 0 (an empty body) */
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}
/* Appends a NUL-terminated string; same returns as iob_buf_append(). */
static inline int iob_buf_puts(struct iob_buf *b, const char *s)
{
    return iob_buf_append(b, s, strlen(s));
}
/* Appends n in decimal, without printf (which costs far more on the hot path); same returns. */
int iob_buf_put_u64(struct iob_buf *b, uint64_t n);
/* Appends printf output; same returns as iob_buf_append(). */
int iob_buf_printf(struct iob_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int iob_buf_vprintf(struct iob_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Keeps the first n bytes (n <= len) and drops the rest. */
void iob_buf_truncate(struct iob_buf *b, size_t n);
/* Drops the first n bytes (n <= len), moving the rest to the front. */
void iob_buf_consume(struct iob_buf *b, size_t n);
