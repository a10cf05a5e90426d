/* Accepting and admission, shared by every engine: the listening sockets of a loop as one
 * descriptor, accept4, TCP_NODELAY, the peer's address, admission against the process's one
 * count of open connections, the EMFILE/ENFILE pause with its rate-limited log, and the 503 for
 * a connection that will not be served. Any engine thread; the count is atomic, so several
 * loops may accept at once. Never blocks. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "server/base/addr.h"

/* How long an engine stops accepting after the descriptor table was full. */
#define IOB_ACCEPT_PAUSE_MS 100
/* Room for iob_accept_next()'s peer text. */
#define IOB_PEER_MAX 64
/* Connections taken from one listening socket per wake, so a burst cannot starve the rest. */
#define IOB_ACCEPT_BATCH 64

/* The listening sockets one loop (or acceptor thread) accepts from, as one descriptor: fd is an
 * epoll set of them, readable while any has a connection waiting, so an engine waits on it as
 * on a single socket (in its poll(), its epoll set or its event loop). One thread's. */
struct iob_accept_set {
    int fd; /* the epoll set; -1 once closed */
    size_t n;
    int listen_fds[IOB_ADDR_LIST_MAX];
};

/* Takes the listening sockets fds[0..n) (n <= IOB_ADDR_LIST_MAX), closing them on failure too.
 * Returns 0 or a negative errno. */
int iob_accept_set_open(struct iob_accept_set *set, const int *fds, size_t n);
/* Closes the listening sockets and the set (stop accepting: the drain). Again: nothing. */
void iob_accept_set_close(struct iob_accept_set *set);

/* Called with each connection iob_accept_some() admitted; it owns fd from then on (ends it with
 * iob_accept_end() or iob_accept_reject()); peer lasts only for the call. */
typedef void iob_accept_fn(void *ctx, int fd, const char *peer);
/* Takes the connections waiting on the set's sockets, up to IOB_ACCEPT_BATCH from each, and
 * hands each to take. Returns 0, or -EMFILE when the descriptor table (or memory) is full: the
 * caller stops watching set->fd for IOB_ACCEPT_PAUSE_MS and goes on serving. */
int iob_accept_some(struct iob_accept_set *set, size_t max_connections, iob_accept_fn *take,
                    void *ctx);

/* Takes the next waiting connection from listen_fd. Over max_connections it gets the 503 and is
 * closed, and the next one is taken. Returns an admitted, counted, non-blocking fd with the
 * client's host in peer (no port: Common Log Format's %h) — the caller ends it with
 * iob_accept_end() or iob_accept_reject() — or -EAGAIN when none is waiting, or -EMFILE when
 * the descriptor table (or memory) is full: logged here at most once a second; the caller
 * stops accepting for IOB_ACCEPT_PAUSE_MS and goes on serving. */
int iob_accept_next(int listen_fd, size_t max_connections, char peer[IOB_PEER_MAX]);
/* The same admission for fd, accepted already (an io_uring accept): returns fd, admitted, or
 * -EAGAIN when it got the 503 and was closed. */
int iob_accept_take(int fd, size_t max_connections, char peer[IOB_PEER_MAX]);
/* An accept that failed with err (positive errno), classified and logged as iob_accept_next()
 * does: returns -EMFILE (pause accepting) or -EAGAIN (go on). */
int iob_accept_failed(int err);
/* Closes an admitted connection and uncounts it; with reset, abortively (an RST, for a /fault
 * reset). Takes ownership of fd. */
void iob_accept_end(int fd, bool reset);
/* An admitted connection the engine cannot serve (no thread, no memory): sends the 503 with
 * Retry-After (best effort), closes fd and uncounts it. Takes ownership of fd. */
void iob_accept_reject(int fd);
/* Connections admitted and not yet closed, for log lines. */
size_t iob_accept_open(void);
