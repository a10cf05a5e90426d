/* Socket addresses as text: "127.0.0.1:8080", "[::1]:8080". Pure; any thread. */
#pragma once
#include <stddef.h>
#include <sys/socket.h>

/* Writes sa as HOST:PORT (IPv6 in brackets) into out; "?" for other families. */
void iob_addr_format(const struct sockaddr *sa, char *out, size_t outlen);
