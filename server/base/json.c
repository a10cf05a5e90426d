/* The JSON writer: just enough for our bodies (strings and fixed-point milliseconds). Numbers
 * that are integers are written by the callers with iob_buf_put_u64 or iob_buf_printf. */
#include "server/base/json.h"

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
    if (rc == 0)
        rc = iob_json_escaped(b, s, len);
    return rc ? rc : iob_buf_append(b, "\"", 1);
}

int iob_json_escaped(struct iob_buf *b, const char *s, size_t len)
{
    if (len == 0)
        return 0; /* s may be NULL then (a request without a body) */
    int rc = 0;
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
    return rc ? rc : iob_buf_append(b, s + start, len - start);
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
    const char cents[] = {'.', (char)('0' + hundredths / 10 % 10), (char)('0' + hundredths % 10)};
    int rc = iob_buf_put_u64(b, hundredths / 100);
    return rc ? rc : iob_buf_append(b, cents, sizeof cents);
}

/* A recursive-descent check over [p, end): each function takes one value's syntax and moves
 * p past it, or returns false. */
struct scan {
    const char *p, *end;
    int depth;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_blanks(struct scan *s)
{
    while (s->p < s->end && is_blank(*s->p))
        s->p++;
}

static bool take(struct scan *s, char c)
{
    skip_blanks(s);
    if (s->p == s->end || *s->p != c)
        return false;
    s->p++;
    return true;
}

static bool scan_string(struct scan *s)
{
    if (!take(s, '"'))
        return false;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = (unsigned char)*s->p++;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (s->p == s->end)
            return false;
        char e = *s->p++;
        if (e == 'u') {
            for (int i = 0; i < 4; i++, s->p++)
                if (s->p == s->end || !*s->p || !strchr("0123456789abcdefABCDEF", *s->p))
                    return false;
        } else if (!e || !strchr("\"\\/bfnrt", e)) {
            return false;
        }
    }
    return take(s, '"');
}

static size_t digits(struct scan *s)
{
    const char *from = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return (size_t)(s->p - from);
}

static bool scan_number(struct scan *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    const char *first = s->p;
    size_t n = digits(s);
    if (n == 0 || (n > 1 && *first == '0'))
        return false;
    if (s->p < s->end && *s->p == '.' && (s->p++, digits(s) == 0))
        return false;
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (digits(s) == 0)
            return false;
    }
    return true;
}

static bool scan_word(struct scan *s, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool scan_value(struct scan *s);

/* An array or an object: values (for an object, "name": value pairs) between open and close. */
static bool scan_list(struct scan *s, char open, char close, bool is_object)
{
    if (!take(s, open) || ++s->depth > 64)
        return false;
    skip_blanks(s);
    bool is_empty = s->p < s->end && *s->p == close;
    do {
        if (is_empty)
            break;
        if (is_object && (!scan_string(s) || !take(s, ':')))
            return false;
        if (!scan_value(s))
            return false;
    } while (take(s, ','));
    s->depth--;
    return take(s, close);
}

static bool scan_value(struct scan *s)
{
    skip_blanks(s);
    if (s->p == s->end)
        return false;
    switch (*s->p) {
    case '{':
        return scan_list(s, '{', '}', true);
    case '[':
        return scan_list(s, '[', ']', false);
    case '"':
        return scan_string(s);
    case 't':
        return scan_word(s, "true");
    case 'f':
        return scan_word(s, "false");
    case 'n':
        return scan_word(s, "null");
    default:
        return scan_number(s);
    }
}

bool iob_json_is_valid(const char *s, size_t len)
{
    if (!s)
        return false;
    struct scan sc = {s, s + len, 0};
    if (!scan_value(&sc))
        return false;
    skip_blanks(&sc);
    return sc.p == sc.end;
}
