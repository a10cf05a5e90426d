/* Strict decimal parsing for query values, config values and the like: digits only, no sign,
 * exponent, blanks or overflow. Pure; any thread. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Parses s[0..len) as a decimal integer in [0, max]. Returns 0 and sets *out, -EINVAL when the
 * text is empty or not all digits, or -ERANGE when the value is above max (or overflows). */
int iob_strnum_u64(const char *s, size_t len, uint64_t max, uint64_t *out);
