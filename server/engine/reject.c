/* The 503 for connections over the limit, shared by both engines. */
#include "server/engine/reject.h"

#include <sys/socket.h>
#include <unistd.h>

#include "server/base/metrics.h"
#include "server/http/respond.h"

void iob_engine_reject(int fd)
{
    char buf[512];
    size_t n = iob_respond_overload(buf, sizeof(buf));
    /* Read what the client sent so far: closing with unread bytes would reset the connection
     * and could destroy the 503 before the client reads it. */
    while (recv(fd, buf + n, sizeof(buf) - n, MSG_DONTWAIT) > 0)
        ;
    (void)send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    close(fd);
    iob_metrics_conn_rejected();
}
