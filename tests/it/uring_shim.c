/* LD_PRELOAD shim for it.uring_unavailable: io_uring_queue_init_params() fails as a kernel without
 * io_uring would make it fail, with the errno named by IOB_SHIM_ERRNO (EPERM: the sysctl or a
 * seccomp profile; ENOSYS: no io_uring, or seccomp hiding it). liburing returns -errno. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct io_uring;
struct io_uring_params;

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring, struct io_uring_params *p);

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring, struct io_uring_params *p)
{
    (void)entries, (void)ring, (void)p;
    const char *e = getenv("IOB_SHIM_ERRNO");
    return e && strcmp(e, "ENOSYS") == 0 ? -ENOSYS : -EPERM;
}
