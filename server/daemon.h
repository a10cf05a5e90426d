/* --daemon and the pid file: detach from the terminal, own the pid file (refusing a live
 * owner, replacing a stale one), remove it on exit. Main thread, before the engine starts. */
#pragma once
#include <stddef.h>

/* Detaches (fork, setsid, fork, chdir /, stdio to /dev/null). Returns 0 in the daemon; the
 * parents exit inside (the only exit() outside main.c, as the process it ends has nothing left to
 * do) once the daemon reports it is serving, or with its failure code. Returns a negative errno
 * with a message in err when the fork fails. */
int iob_daemon_detach(char *err, size_t errlen);
/* Tells the waiting parent that start-up finished with exit code `code` (0 = serving). A no-op
 * when not detached. */
void iob_daemon_ready(int code);
/* Writes our pid to path. Refuses (-EEXIST, message in err naming the pid) when the file names a
 * live process; replaces a stale or malformed one. Returns 0 or a negative errno. */
int iob_daemon_pidfile_write(const char *path, char *err, size_t errlen);
/* Removes path when it still holds our pid. */
void iob_daemon_pidfile_remove(const char *path);
