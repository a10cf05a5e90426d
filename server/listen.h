/* The listening socket: HOST:PORT and [IPv6]:PORT, socket/bind/listen, and the bound address
 * (port 0 binds an ephemeral port). Main thread, before the engine starts. */
#pragma once
#include <stddef.h>

/* Opens a non-blocking listening socket on addr ("127.0.0.1:8080", "[::1]:0", "0.0.0.0:80").
 * Returns the fd, -EINVAL with a message in err for a malformed address, or another negative
 * errno with the address and strerror in err. */
int iob_listen_open(const char *addr, int backlog, char *err, size_t errlen);
/* Writes the bound address of fd as "HOST:PORT" (IPv6 as "[::1]:PORT"). Returns 0 or -errno. */
int iob_listen_name(int fd, char *out, size_t outlen);
