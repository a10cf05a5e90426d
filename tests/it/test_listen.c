/* Integration: the listen list. Every model serves every address of `--listen A, B, ...`: IPv4,
 * IPv6 ([::1]) and Unix sockets, and the start-up line names each; a Unix peer is logged as
 * "unix:"; a Unix socket's file has mode 0660 and is gone after the exit (the drain, and a
 * second signal); a socket file already there is refused (exit 1, that file kept, the ones made
 * removed); a bad entry is exit 2 naming the origin, the key and what is allowed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/it/client.h"
#include "tests/it/raw.h"

#define ADDRS_MAX 8
#define ADDR_MAX  160

/* A fresh directory for the socket files of one case, and the paths in it. */
static char dir[64];

static const char *in_dir(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", dir, name);
    return out;
}

/* The addresses of the start-up line ("listening on A, listening on B (pid N)"), in order. */
static int listed(const struct it_proc *p, char addrs[ADDRS_MAX][ADDR_MAX])
{
    char *err = it_proc_stderr(p);
    int n = 0;
    for (const char *at = err ? strstr(err, "listening on ") : NULL; at && n < ADDRS_MAX;
         at = strstr(at, "listening on ")) {
        at += strlen("listening on ");
        size_t len = strcspn(at, ", \n");
        snprintf(addrs[n++], ADDR_MAX, "%.*s", (int)len, at);
    }
    free(err);
    return n;
}

/* GET /hello through addr answers 200 "hello". */
static void expect_hello(struct it_ctx *t, const char *addr)
{
    struct it_raw c;
    struct it_raw_resp r = {0};
    char what[ADDR_MAX + 32];
    snprintf(what, sizeof(what), "GET /hello through %.*s", ADDR_MAX, addr);
    int rc = it_raw_open_addr(&c, addr);
    if (!it_check(t, rc == 0, "%s: connect: %s", what, strerror(-rc)))
        return;
    it_raw_send_str(&c, "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    if (it_raw_expect(t, &c, what, &r, false, it_scaled_ms(t, 3000))) {
        it_expect_int(t, what, 200, r.status);
        it_expect_str(t, what, "hello\n", r.body);
    }
    it_raw_resp_fini(&r);
    it_raw_close(&c);
}

static void expect_socket_file(struct it_ctx *t, const char *path)
{
    struct stat st;
    if (!it_check(t, stat(path, &st) == 0, "socket file %s: %s", path, strerror(errno)))
        return;
    it_check(t, S_ISSOCK(st.st_mode), "%s is not a socket (mode %o)", path, st.st_mode);
    it_expect_int(t, "socket file permissions (octal 660)", 0660, st.st_mode & 07777);
}

static void expect_gone(struct it_ctx *t, const char *path, const char *after)
{
    it_check(t, access(path, F_OK) != 0, "socket file %s still there %s", path, after);
}

static void every_address_serves(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    char a[ADDR_MAX], b[ADDR_MAX], list[3 * ADDR_MAX], addrs[ADDRS_MAX][ADDR_MAX];
    snprintf(list, sizeof(list), "127.0.0.1:0, [::1]:0, unix:%s, 127.0.0.1:0,unix:%s",
             in_dir("a.sock", a, sizeof(a)), in_dir("b.sock", b, sizeof(b)));
    const char *args[] = {"--listen", list, NULL};
    struct it_proc srv;
    if (it_server_start(t, &srv, args) != 0)
        return;
    int n = listed(&srv, addrs);
    char want[ADDR_MAX + 8];
    snprintf(want, sizeof(want), "unix:%s", a);
    if (it_expect_int(t, "addresses on the start-up line", 5, n)) {
        it_expect_str(t, "the third address", want, addrs[2]);
        it_check(t, strncmp(addrs[1], "[::1]:", 6) == 0, "second address: %s", addrs[1]);
        it_check(t, strcmp(addrs[0], addrs[3]) != 0, "two 127.0.0.1:0 got one port: %s", addrs[0]);
    }
    for (int i = 0; i < n; i++)
        expect_hello(t, addrs[i]);
    expect_socket_file(t, a);
    expect_socket_file(t, b);
    kill(srv.pid, SIGTERM);
    it_expect_int(t, "exit code after SIGTERM", 0, it_proc_wait(&srv, it_scaled_ms(t, 5000)));
    char *out = it_proc_stdout(&srv);
    it_expect_contains(t, "access log of a Unix peer (nginx's %h)", out, "unix: - - [");
    it_expect_contains(t, "access log of an IPv6 peer", out, "::1 - - [");
    it_expect_contains(t, "access log of an IPv4 peer", out, "127.0.0.1 - - [");
    free(out);
    expect_gone(t, a, "after the exit");
    expect_gone(t, b, "after the exit");
    it_server_stop(t, &srv);
}

/* Starts a server on 127.0.0.1:0 and the Unix socket dir/name (its path into path) and sends
 * request through the socket on c, then SIGTERM. Returns 0, or -1 (nothing left to free). */
static int unix_request_then_sigterm(struct it_ctx *t, const char *name, char path[ADDR_MAX],
                                     struct it_proc *srv, struct it_raw *c, const char *request)
{
    char list[2 * ADDR_MAX], addrs[ADDRS_MAX][ADDR_MAX];
    snprintf(list, sizeof(list), "127.0.0.1:0, unix:%s", in_dir(name, path, ADDR_MAX));
    const char *args[] = {"--listen", list, NULL};
    if (it_server_start(t, srv, args) != 0)
        return -1;
    if (!it_expect_int(t, "addresses on the start-up line", 2, listed(srv, addrs)) ||
        it_raw_open_addr(c, addrs[1]) != 0) {
        it_check(t, false, "cannot connect to %s", addrs[1]);
        it_server_stop(t, srv);
        return -1;
    }
    it_raw_send_str(c, request);
    it_sleep_ms(150);
    kill(srv->pid, SIGTERM);
    return 0;
}

/* A request in flight through a Unix socket is answered across the drain; the file goes. */
static void unix_socket_drains_and_goes(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    char path[ADDR_MAX];
    struct it_proc srv;
    struct it_raw c;
    struct it_raw_resp r = {0};
    if (unix_request_then_sigterm(t, "drain.sock", path, &srv, &c,
                                  "GET /sleep?ms=500 HTTP/1.1\r\nHost: a\r\n\r\n") != 0)
        return;
    if (it_raw_expect(t, &c, "/sleep?ms=500 through a Unix socket across SIGTERM", &r, false,
                      it_scaled_ms(t, 5000)))
        it_expect_int(t, "/sleep?ms=500 across SIGTERM", 200, r.status);
    it_raw_close(&c);
    it_expect_int(t, "exit code after the drain", 0, it_proc_wait(&srv, it_scaled_ms(t, 5000)));
    expect_gone(t, path, "after the drain");
    it_raw_resp_fini(&r);
    it_server_stop(t, &srv);
}

/* A second signal stops at once, and the socket file still goes. */
static void unix_socket_goes_on_stop_now(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    char path[ADDR_MAX];
    struct it_proc srv;
    struct it_raw c;
    if (unix_request_then_sigterm(t, "now.sock", path, &srv, &c,
                                  "GET /sleep?ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n") != 0)
        return;
    it_sleep_ms(100);
    kill(srv.pid, SIGTERM);
    int code = it_proc_wait(&srv, it_scaled_ms(t, 3000));
    it_check(t, code >= 0, "server still running 3 s after a second SIGTERM");
    srv.failures_at_start = t->failures; /* its exit code is not this case's claim */
    it_raw_close(&c);
    expect_gone(t, path, "after a second signal");
    it_proc_fini(&srv);
}

/* Runs `iobound --mode M args...` with env, expecting exit code and each needle on stderr. */
static void expect_exit(struct it_ctx *t, const char *what, const char **args, const char **env,
                        int code, const char *const *needles)
{
    const char *all[8] = {"--mode", t->mode};
    for (size_t i = 0; args[i] && i + 3 < IT_LEN(all); i++)
        all[i + 2] = args[i];
    struct it_proc p;
    if (it_run(t, all, env, it_scaled_ms(t, 5000), &p) != 0)
        return;
    char *err = it_proc_stderr(&p);
    bool ok = it_expect_int(t, what, code, p.exit_code);
    for (; needles && *needles; needles++)
        ok = it_expect_contains(t, what, err, *needles) && ok;
    if (!ok)
        it_proc_dump(&p);
    free(err);
    it_proc_fini(&p);
}

/* Like nginx: a file at the path may be a live server's; a stale one is for the operator. */
static void socket_file_there_is_refused(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    char stale[ADDR_MAX], made[ADDR_MAX], list[3 * ADDR_MAX];
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof(un.sun_path), "%.100s",
             in_dir("stale.sock", stale, sizeof(stale)));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    it_check(t, fd >= 0 && bind(fd, (struct sockaddr *)&un, sizeof(un)) == 0,
             "cannot make a stale socket file: %s", strerror(errno));
    close(fd); /* a crashed server's: the file stays */
    snprintf(list, sizeof(list), "127.0.0.1:0, unix:%s, unix:%s",
             in_dir("made.sock", made, sizeof(made)), stale);
    const char *args[] = {"--listen", list, NULL};
    const char *needles[] = {"cannot listen on unix:", "stale.sock: Address already in use", NULL};
    expect_exit(t, "a socket file already at the path", args, NULL, 1, needles);
    it_check(t, access(stale, F_OK) == 0, "the stale socket file was removed: not ours");
    expect_gone(t, made, "after the failed start (ours)");
    unlink(stale);
}

static void bad_entries_exit_2(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    const char *flag[] = {"--listen", "127.0.0.1:0, bogus", NULL};
    const char *flag_needles[] = {
        "--listen: [server] listen: got \"127.0.0.1:0, bogus\"; allowed: ", "unix:PATH",
        "comma-separated list", NULL};
    expect_exit(t, "--listen with a bad entry", flag, NULL, 2, flag_needles);
    char ini[ADDR_MAX];
    FILE *f = fopen(in_dir("bad.ini", ini, sizeof(ini)), "w");
    if (f) {
        fputs("[server]\nlisten = [::1]:0,,unix:/tmp/x.sock\n", f);
        fclose(f);
    }
    const char *file[] = {"-c", ini, NULL};
    const char *file_needles[] = {"bad.ini:2: [server] listen: got ", "allowed: ", NULL};
    expect_exit(t, "a config file with an empty entry", file, NULL, 2, file_needles);
    unlink(ini);
    const char *none[] = {NULL};
    const char *env[] = {"IOBOUND_SERVER_LISTEN=127.0.0.1:0, unix:", NULL};
    const char *env_needles[] = {"IOBOUND_SERVER_LISTEN: [server] listen: got ", NULL};
    expect_exit(t, "IOBOUND_SERVER_LISTEN with an empty path", none, env, 2, env_needles);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"every_address_serves", every_address_serves},
        {"unix_socket_drains_and_goes", unix_socket_drains_and_goes},
        {"unix_socket_goes_on_stop_now", unix_socket_goes_on_stop_now},
        {"socket_file_there_is_refused", socket_file_there_is_refused},
        {"bad_entries_exit_2", bad_entries_exit_2},
    };
    snprintf(dir, sizeof(dir), "/tmp/iob-listen-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = it_main(argc, argv, NULL, NULL, 0, cases, IT_LEN(cases));
    rmdir(dir);
    return rc;
}
