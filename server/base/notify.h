/* systemd's readiness protocol (sd_notify(3)), spoken directly: one datagram with the state
 * text to the AF_UNIX socket named by $NOTIFY_SOCKET. Without that variable (no systemd, a
 * container, a test) it does nothing. Any thread; never blocks (the socket is non-blocking). */
#pragma once

/* Sends state ("READY=1", "STOPPING=1", "RELOADING=1", newline-separated assignments) to
 * $NOTIFY_SOCKET: an absolute path, or "@name" for the abstract namespace. Returns 1 when sent,
 * 0 when $NOTIFY_SOCKET is unset or empty, or a negative errno (-EINVAL for a socket name that
 * is neither, -EMSGSIZE when short-written, or the socket's own error). The caller logs. */
int iob_notify(const char *state);
