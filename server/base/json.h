/* A small JSON writer into an iob_buf: escaped strings and fixed-point milliseconds.
 * Pure; any thread. Returns as iob_buf_append(): 0, -E2BIG or -ENOMEM. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/base/buf.h"

/* Appends s[0..len) as a quoted JSON string, escaping quotes, backslashes and control bytes. */
int iob_json_string(struct iob_buf *b, const char *s, size_t len);
/* Writes s[0..len) escaped for the inside of a JSON string into out[0..room), without quotes
 * and without a NUL. Bytes from 0x7f up become \u00XX too, so the output is pure ASCII and a
 * line stays valid JSON whatever a client sent. Stops before an escape that would not fit;
 * returns the bytes written. For fixed buffers such as a log line. */
size_t iob_json_escape(char *out, size_t room, const char *s, size_t len);
/* The same without the quotes: a piece of a string written in runs. */
int iob_json_escaped(struct iob_buf *b, const char *s, size_t len);
/* True when s[0..len) is one JSON value (RFC 8259), blanks around it allowed, nested at most
 * 64 deep. Bytes of strings are not checked for UTF-8. */
bool iob_json_is_valid(const char *s, size_t len);
/* Appends a duration in nanoseconds as milliseconds with two decimals, e.g. 100.42. */
int iob_json_ms(struct iob_buf *b, uint64_t ns);
