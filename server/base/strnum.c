/* Strict decimal parsing. strtoull() accepts blanks, signs, "0x" and wraps "-1" to 2^64-1, so
 * every number a user types (query, config, flags) goes through this instead. */
#include "server/base/strnum.h"

#include <errno.h>
#include <stdbool.h>

int iob_strnum_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0)
        return -EINVAL;
    uint64_t v = 0;
    bool is_over = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        unsigned digit = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            is_over = true; /* keep scanning: "99999999999999999999x" is -EINVAL, not -ERANGE */
        else
            v = v * 10 + digit;
    }
    if (is_over || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}
