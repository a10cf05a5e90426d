/* A small JSON writer into an iob_buf: escaped strings and fixed-point milliseconds.
 * Pure; any thread. Returns as iob_buf_append(): 0, -E2BIG or -ENOMEM. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/base/buf.h"

/* Appends s[0..len) as a quoted JSON string, escaping quotes, backslashes and control bytes. */
int iob_json_string(struct iob_buf *b, const char *s, size_t len);
/* The same without the quotes: a piece of a string written in runs. */
int iob_json_escaped(struct iob_buf *b, const char *s, size_t len);
/* True when s[0..len) is one JSON value (RFC 8259), blanks around it allowed, nested at most
 * 64 deep. Bytes of strings are not checked for UTF-8. */
bool iob_json_is_valid(const char *s, size_t len);
/* Appends a duration in nanoseconds as milliseconds with two decimals, e.g. 100.42. */
int iob_json_ms(struct iob_buf *b, uint64_t ns);
