/* The listening sockets: HOST:PORT, [IPv6]:PORT and unix:PATH, one or a comma-separated list of
 * them, socket/bind/listen, the bound addresses (port 0 binds an ephemeral port), more sockets on
 * the same address for engines that run one loop per socket (SO_REUSEPORT), and the removal of
 * the Unix socket files at exit. Main thread, or an engine before its loops start. */
#pragma once
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/base/addr.h"

/* Opens a non-blocking listening socket on addr ("127.0.0.1:8080", "[::1]:0", "0.0.0.0:80",
 * "unix:/run/iobound/iobound.sock"). With reuseport a TCP socket has SO_REUSEPORT, so
 * iob_listen_again() can add sockets beside it; a port another socket holds is still refused
 * (probed first without the option). A Unix socket gets mode 0660 before it listens; a file
 * already at its path is refused with EADDRINUSE, as nginx does: a live server may own it, and
 * a stale one from a crash is for the operator to remove. Returns the fd, -EINVAL with a
 * message in err for a malformed address, or another negative errno with the address, strerror
 * and (for a Unix socket in use) that hint in err. */
int iob_listen_open(const char *addr, int backlog, bool reuseport, char *err, size_t errlen);
/* One more listening socket for another loop on fd's address: for TCP (fd from
 * iob_listen_open() with reuseport) a SO_REUSEPORT twin, and the kernel spreads new
 * connections over them; a Unix socket cannot have twins, so the loops share it (a dup: each
 * loop closes its own). Returns the new fd or a negative errno. */
int iob_listen_again(int fd, int backlog);
/* Writes the bound address of fd as "HOST:PORT" (IPv6 as "[::1]:PORT") or "unix:PATH".
 * Returns 0 or -errno. */
int iob_listen_name(int fd, char *out, size_t outlen);

/* Closes the listening sockets fds[0..n) (an engine that cannot serve them). */
void iob_listen_close(const int *fds, size_t n);

/* Every socket of a listen list, in its order, with the names they are bound to. */
struct iob_listeners {
    size_t n;
    int fds[IOB_ADDR_LIST_MAX];
    char names[IOB_ADDR_LIST_MAX][IOB_ADDR_TEXT_MAX]; /* as iob_listen_name() writes them */
    /* The Unix socket files made, by absolute path (a daemon changes its directory); "" else. */
    char files[IOB_ADDR_LIST_MAX][PATH_MAX];
};

/* Opens every address of list (config's listen: "A, B, C") with iob_listen_open(). On failure
 * closes and removes what it had opened and returns that error, the message in err. */
int iob_listen_open_all(const char *list, int backlog, bool reuseport, struct iob_listeners *ls,
                        char *err, size_t errlen);
/* Removes the Unix socket files of ls (at exit; the sockets may be closed already). */
void iob_listen_remove_files(const struct iob_listeners *ls);
/* Closes every socket of ls (before an engine took them) and removes its files. */
void iob_listen_close_all(struct iob_listeners *ls);
