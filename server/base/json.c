/* The JSON writer: just enough for our bodies (strings and fixed-point milliseconds). Numbers
 * that are integers are written by the callers with iob_buf_printf. */
#include "server/base/json.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

/* The escape for byte c, or NULL when c goes out as it is; want_ascii escapes 0x7f and up. */
static const char *escape_of(unsigned char c, bool want_ascii, char spare[7])
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    }
    if (c >= 0x20 && (!want_ascii || c < 0x7f))
        return NULL;
    spare[0] = '\\';
    spare[1] = 'u';
    spare[2] = '0';
    spare[3] = '0';
    spare[4] = hex[c >> 4];
    spare[5] = hex[c & 0xf];
    spare[6] = '\0';
    return spare;
}

int iob_json_string(struct iob_buf *b, const char *s, size_t len)
{
    int rc = iob_buf_append(b, "\"", 1);
    size_t start = 0; /* s[start..i) needs no escaping and is appended in one go */
    for (size_t i = 0; rc == 0 && i < len; i++) {
        char spare[7];
        const char *esc = escape_of((unsigned char)s[i], false, spare);
        if (!esc)
            continue;
        rc = iob_buf_append(b, s + start, i - start);
        if (rc == 0)
            rc = iob_buf_puts(b, esc);
        start = i + 1;
    }
    if (rc == 0)
        rc = iob_buf_append(b, s + start, len - start);
    return rc ? rc : iob_buf_append(b, "\"", 1);
}

size_t iob_json_escape(char *out, size_t room, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char spare[7];
        const char *esc = escape_of((unsigned char)s[i], true, spare);
        size_t m = esc ? strlen(esc) : 1;
        if (n + m > room)
            break;
        memcpy(out + n, esc ? esc : s + i, m);
        n += m;
    }
    return n;
}

int iob_json_ms(struct iob_buf *b, uint64_t ns)
{
    /* Round half up to hundredths of a millisecond (10 us) without overflowing near 2^64. */
    uint64_t hundredths = ns / 10000 + (ns % 10000 >= 5000);
    return iob_buf_printf(b, "%" PRIu64 ".%02" PRIu64, hundredths / 100, hundredths % 100);
}
