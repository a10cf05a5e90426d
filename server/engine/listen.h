/* The listening sockets: HOST:PORT and [IPv6]:PORT, socket/bind/listen, the bound address (port
 * 0 binds an ephemeral port), and more sockets on the same address for engines that run one
 * loop per socket (SO_REUSEPORT). Main thread, or an engine before its loops start. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Opens a non-blocking listening socket on addr ("127.0.0.1:8080", "[::1]:0", "0.0.0.0:80").
 * With reuseport it has SO_REUSEPORT, so iob_listen_again() can add sockets beside it; a port
 * another socket holds is still refused (probed first without the option). Returns the fd,
 * -EINVAL with a message in err for a malformed address, or another negative errno with the
 * address and strerror in err. */
int iob_listen_open(const char *addr, int backlog, bool reuseport, char *err, size_t errlen);
/* Opens one more SO_REUSEPORT listening socket on fd's bound address (fd came from
 * iob_listen_open() with reuseport): the kernel spreads new connections over them. Returns the
 * new fd or a negative errno. */
int iob_listen_again(int fd, int backlog);
/* Writes the bound address of fd as "HOST:PORT" (IPv6 as "[::1]:PORT"). Returns 0 or -errno. */
int iob_listen_name(int fd, char *out, size_t outlen);
