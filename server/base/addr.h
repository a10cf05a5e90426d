/* Socket addresses as text: "127.0.0.1:8080", "[::1]:8080". Pure; any thread. */
#pragma once
#include <stddef.h>
#include <sys/socket.h>

/* Parses "A.B.C.D:PORT", "localhost:PORT" (as 127.0.0.1) or "[IPv6]:PORT", port 0..65535, into
 * ss and *sslen. Numeric only: no resolver, so start-up and health checks never hang on DNS.
 * Returns 0 or -EINVAL. */
int iob_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *sslen);

/* Writes the host of sa alone ("127.0.0.1", "::1"), as Common Log Format's %h wants; "?" for
 * other families. outlen of INET6_ADDRSTRLEN always fits. */
void iob_addr_host(const struct sockaddr *sa, char *out, size_t outlen);
/* Writes sa as HOST:PORT (IPv6 in brackets) into out; "?" for other families. */
void iob_addr_format(const struct sockaddr *sa, char *out, size_t outlen);
