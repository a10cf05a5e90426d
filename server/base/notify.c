/* The sd_notify datagram protocol in a few lines, so that the binary links no libsystemd: the
 * same iobound runs in containers and on hosts without systemd, and systemd documents this
 * socket protocol as a stable interface (sd_notify(3), "NOTES"). Knows nothing of the server. */
#include "server/base/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int iob_notify(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !*name)
        return 0;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len >= sizeof sun.sun_path)
        return -EINVAL;
    memcpy(sun.sun_path, name, len);
    /* "@name" is Linux's abstract namespace: a leading NUL and no terminator in the length. */
    if (name[0] == '@')
        sun.sun_path[0] = '\0';
    socklen_t sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    size_t n = strlen(state);
    ssize_t sent = sendto(fd, state, n, MSG_NOSIGNAL, (struct sockaddr *)&sun, sunlen);
    int rc = sent < 0 ? -errno : (size_t)sent == n ? 1 : -EMSGSIZE;
    close(fd);
    return rc;
}
