/* Blocking under a deadline on one non-blocking descriptor, for the code that may block: the
 * threaded engine's connection threads, the fibers engine and --health-check. Any thread. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* The poll() timeout in ms until deadline_ns (monotonic), rounded up so a remainder under a
 * millisecond still waits; 0 once it has passed; -1 (forever) when deadline_ns is 0. */
int iob_fd_poll_ms(uint64_t deadline_ns);
/* Waits until fd is ready for events (POLLIN, POLLOUT) or deadline_ns passes. Returns 0,
 * -ETIMEDOUT or a negative errno. Blocks. */
int iob_fd_wait(int fd, short events, uint64_t deadline_ns);
/* Makes the coming close() of the socket fd an abort: SO_LINGER {on, 0 s} drops what is unsent
 * and sends an RST instead of a FIN (a /fault reset). Returns 0 or a negative errno. */
int iob_fd_abort(int fd);
/* Sends all len bytes of buf on fd (MSG_NOSIGNAL: a gone peer is -EPIPE, never SIGPIPE),
 * waiting for room until deadline_ns, also when fd is a blocking socket. Returns 0, -ETIMEDOUT or a
 * negative errno. Blocks. */
int iob_fd_send_all(int fd, const void *buf, size_t len, uint64_t deadline_ns);
/* How iob_fd_send_all_via() waits for room: 0 once fd may be writable, -ETIMEDOUT after
 * deadline_ns, or a negative errno. */
typedef int iob_fd_wait_fn(void *ctx, int fd, uint64_t deadline_ns);
/* iob_fd_send_all() for a caller that waits its own way (a fiber yields to its loop). */
int iob_fd_send_all_via(int fd, const void *buf, size_t len, uint64_t deadline_ns,
                        iob_fd_wait_fn *wait_writable, void *ctx);
