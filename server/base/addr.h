/* Socket addresses as text: "127.0.0.1:8080", "[::1]:8080", "unix:/run/iobound/iobound.sock",
 * and comma-separated lists of them (the listen key). Pure; any thread. */
#pragma once
#include <stddef.h>
#include <sys/socket.h>

/* The most addresses one list may hold, and the longest address text ("unix:" and the 107
 * bytes a sockaddr_un path can have, or an IPv6 address with its port). */
#define IOB_ADDR_LIST_MAX 16
#define IOB_ADDR_TEXT_MAX 128

/* Parses "A.B.C.D:PORT", "localhost:PORT" (as 127.0.0.1) or "[IPv6]:PORT", port 0..65535, or
 * "unix:PATH" (a Unix-domain socket file, PATH 1..107 bytes) into ss and *sslen. Numeric only:
 * no resolver, so start-up and health checks never hang on DNS. Returns 0 or -EINVAL. */
int iob_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *sslen);
/* Splits "A, B, C" at the commas into items[0..n), blanks around each dropped. Returns n, or
 * -EINVAL when an item is empty or longer than IOB_ADDR_TEXT_MAX - 1 bytes, or there are more
 * than max. Items are not parsed. */
int iob_addr_split(const char *list, char items[][IOB_ADDR_TEXT_MAX], size_t max);

/* Writes the host of sa alone ("127.0.0.1", "::1"), as Common Log Format's %h wants: "unix:"
 * for a Unix-domain peer (it has no address; nginx logs the same), "?" for other families.
 * outlen of INET6_ADDRSTRLEN always fits. */
void iob_addr_host(const struct sockaddr *sa, char *out, size_t outlen);
/* Writes sa as HOST:PORT (IPv6 in brackets) or unix:PATH into out; "?" for other families. */
void iob_addr_format(const struct sockaddr *sa, char *out, size_t outlen);
