/* Integration-test harness (see harness.h): checks and their messages, starting and stopping the
 * real binary. Single-threaded. */
#include "tests/it/harness.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

extern char **environ;

#define START_DEADLINE_MS 5000
#define STOP_DEADLINE_MS  10000
#define ARGS_MAX          64

/* Reads a JSON boolean or number field of the object obj (up to its closing brace). */
static bool json_field(const char *obj, const char *name, double *out)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *end = strchr(obj, '}');
    const char *at = strstr(obj, key);
    if (!at || (end && at > end))
        return false;
    at += strlen(key);
    if (strncmp(at, "true", 4) == 0 || strncmp(at, "false", 5) == 0) {
        *out = at[0] == 't';
        return true;
    }
    char *num_end;
    *out = strtod(at, &num_end);
    return num_end != at;
}

/* Fills t->modes and t->traits from the binary's own table. Returns 0 or -EINVAL. */
static int read_models(struct it_ctx *t)
{
    static const char *const args[] = {"--list-modes=json", NULL};
    struct it_proc p;
    if (it_run(t, args, NULL, 5000, &p) != 0)
        return -EINVAL;
    char *json = it_proc_stdout(&p);
    it_proc_fini(&p);
    bool found = false;
    for (const char *o = json ? strstr(json, "{\"name\":\"") : NULL; o && t->n_modes < IT_MODES_MAX;
         o = strstr(o + 1, "{\"name\":\"")) {
        const char *name = o + 9;
        size_t len = strcspn(name, "\"");
        if (len >= IT_MODE_MAX)
            continue;
        char *mode = t->modes[t->n_modes++];
        memcpy(mode, name, len);
        mode[len] = '\0';
        if (strcmp(mode, t->mode) != 0)
            continue;
        double wait, cpu, lanes, rest, per_conn, max_waits;
        found =
            json_field(o, "wait_costs_thread", &wait) && json_field(o, "cpu_stalls_others", &cpu) &&
            json_field(o, "cpu_lanes", &lanes) && json_field(o, "threads_at_rest", &rest) &&
            json_field(o, "threads_per_conn", &per_conn) && json_field(o, "max_waits", &max_waits);
        t->traits = (struct it_traits){wait != 0, cpu != 0,      (int)lanes,
                                       (int)rest, (int)per_conn, (int)max_waits};
        t->mode = mode;
    }
    free(json);
    return found ? 0 : -EINVAL;
}

int it_init(struct it_ctx *t, int argc, char **argv)
{
    memset(t, 0, sizeof(*t));
    if (argc < 3) {
        fprintf(stderr, "usage: %s IOBOUND_BINARY MODE [TIME_SCALE [RUNTIME_THREADS]]\n", argv[0]);
        return -EINVAL;
    }
    t->bin = argv[1];
    t->mode = argv[2];
    t->time_scale = argc > 3 ? atoi(argv[3]) : 1;
    if (t->time_scale < 1)
        t->time_scale = 1;
    t->runtime_threads = argc > 4 ? atoi(argv[4]) : 0;
    t->where = "setup";
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Our raw sockets write to connections the server may have closed on purpose. The servers we
     * start get SIGPIPE back at its default, so the SPEC's "SIGPIPE never kills it" is tested. */
    signal(SIGPIPE, SIG_IGN);
    if (read_models(t) < 0) {
        fprintf(stderr, "%s: %s --list-modes=json does not list mode \"%s\" with its traits\n",
                argv[0], t->bin, argv[2]);
        return -EINVAL;
    }
    printf("%s mode: wait_costs_thread=%d cpu_stalls_others=%d cpu_lanes=%d threads_at_rest=%d "
           "threads_per_conn=%d max_waits=%d\n",
           t->mode, t->traits.wait_costs_thread, t->traits.cpu_stalls_others, t->traits.cpu_lanes,
           t->traits.threads_at_rest, t->traits.threads_per_conn, t->traits.max_waits);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

const char *it_other_mode(const struct it_ctx *t)
{
    for (int i = 0; i < t->n_modes; i++)
        if (strcmp(t->modes[i], t->mode) == 0)
            return t->modes[(i + 1) % t->n_modes];
    return t->mode;
}

int it_finish(struct it_ctx *t)
{
    curl_global_cleanup();
    printf("%s mode: %u checks, %u failed\n", t->mode, t->checks, t->failures);
    return t->failures ? 1 : 0;
}

void it_run_cases(struct it_ctx *t, struct it_proc *srv, const struct it_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned before = t->failures;
        t->where = cases[i].name;
        cases[i].fn(t, srv);
        printf("%s %s\n", t->failures == before ? "ok  " : "FAIL", cases[i].name);
    }
}

int it_main(int argc, char **argv, const char *const *args, const struct it_case *shared,
            size_t n_shared, const struct it_case *own, size_t n_own)
{
    struct it_ctx t;
    struct it_proc srv;
    if (it_init(&t, argc, argv) != 0)
        return 2;
    if (n_shared && it_server_start(&t, &srv, args) == 0) {
        it_run_cases(&t, &srv, shared, n_shared);
        it_server_stop(&t, &srv);
    }
    it_run_cases(&t, NULL, own, n_own);
    return it_finish(&t);
}

const char *it_show(const void *s, size_t n, char *out, size_t outlen)
{
    const unsigned char *p = s;
    size_t o = 0;
    if (!s)
        return "(null)";
    for (size_t i = 0; i < n && o + 8 < outlen; i++) {
        if (p[i] == '\n')
            o += (size_t)snprintf(out + o, outlen - o, "\\n");
        else if (p[i] == '\r')
            o += (size_t)snprintf(out + o, outlen - o, "\\r");
        else if (isprint(p[i]))
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", p[i]);
    }
    if (o + 8 >= outlen)
        o += (size_t)snprintf(out + o, outlen - o, "...");
    out[o] = '\0';
    return out;
}

bool it_check(struct it_ctx *t, bool ok, const char *fmt, ...)
{
    va_list ap;
    t->checks++;
    if (ok)
        return true;
    t->failures++;
    printf("FAIL [%s] %s: ", t->mode, t->where);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return false;
}

bool it_expect_int(struct it_ctx *t, const char *what, long long expected, long long actual)
{
    return it_check(t, expected == actual, "%s: expected %lld, actual %lld", what, expected,
                    actual);
}

bool it_expect_mem(struct it_ctx *t, const char *what, const void *expected, size_t expected_len,
                   const void *actual, size_t actual_len)
{
    char e[IT_SHOW_MAX], a[IT_SHOW_MAX];
    bool ok = expected && actual && expected_len == actual_len &&
              memcmp(expected, actual, expected_len) == 0;
    return it_check(t, ok, "%s: expected \"%s\" (%zu bytes), actual \"%s\" (%zu bytes)", what,
                    it_show(expected, expected_len, e, sizeof(e)), expected_len,
                    it_show(actual, actual_len, a, sizeof(a)), actual_len);
}

bool it_expect_str(struct it_ctx *t, const char *what, const char *expected, const char *actual)
{
    return it_expect_mem(t, what, expected, expected ? strlen(expected) : 0, actual,
                         actual ? strlen(actual) : 0);
}

bool it_expect_contains(struct it_ctx *t, const char *what, const char *haystack,
                        const char *needle)
{
    char a[IT_SHOW_MAX];
    bool ok = haystack && strstr(haystack, needle);
    return it_check(t, ok, "%s: expected to contain \"%s\", actual \"%s\"", what, needle,
                    it_show(haystack, haystack ? strlen(haystack) : 0, a, sizeof(a)));
}

bool it_expect_range(struct it_ctx *t, const char *what, double lo, double hi, double actual)
{
    return it_check(t, actual >= lo && actual < hi, "%s: expected in [%.2f, %.2f), actual %.2f",
                    what, lo, hi, actual);
}

double it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void it_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int it_scaled_ms(const struct it_ctx *t, int ms)
{
    return ms * t->time_scale;
}

/* --- processes --------------------------------------------------------------------------- */

/* environ minus every IOBOUND_ variable (so the caller's shell cannot change a test), plus
 * extra. The caller frees the array, not the strings. */
static char **clean_env(const char *const *extra)
{
    size_t n = 0, k = 0;
    for (char **e = environ; *e; e++)
        n++;
    for (const char *const *e = extra; e && *e; e++)
        n++;
    char **env = calloc(n + 1, sizeof(*env));
    if (!env)
        return NULL;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "IOBOUND_", 8) != 0)
            env[k++] = *e;
    for (const char *const *e = extra; e && *e; e++)
        env[k++] = (char *)*e;
    env[k] = NULL;
    return env;
}

static int spawn(struct it_ctx *t, struct it_proc *p, const char *const *args,
                 const char *const *env_extra)
{
    char *argv[ARGS_MAX];
    size_t argc = 0;
    memset(p, 0, sizeof(*p));
    p->out_fd = p->err_fd = -1;
    argv[argc++] = (char *)t->bin;
    for (; args && *args; args++) {
        if (argc + 1 >= ARGS_MAX)
            return -E2BIG;
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    char **envp = clean_env(env_extra);
    if (!envp)
        return -ENOMEM;
    p->out_fd = memfd_create("iobound-stdout", MFD_CLOEXEC);
    p->err_fd = memfd_create("iobound-stderr", MFD_CLOEXEC);
    if (p->out_fd < 0 || p->err_fd < 0) {
        int rc = -errno;
        free(envp);
        it_proc_fini(p);
        return rc;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        free(envp);
        it_proc_fini(p);
        return rc;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls until execve. A crashed or killed test (ctest TIMEOUT)
         * must not leave a server behind. */
        sigset_t none;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        signal(SIGPIPE, SIG_DFL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(p->out_fd, 1) < 0 || dup2(p->err_fd, 2) < 0)
            _exit(127);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    free(envp);
    p->pid = pid;
    p->failures_at_start = t->failures;
    return 0;
}

static char *read_capture(int fd)
{
    struct stat st;
    size_t len = 0;
    if (fd < 0 || fstat(fd, &st) != 0)
        return strdup("");
    char *text = malloc((size_t)st.st_size + 1);
    if (!text)
        return NULL;
    while (len < (size_t)st.st_size) {
        ssize_t r = pread(fd, text + len, (size_t)st.st_size - len, (off_t)len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    text[len] = '\0';
    return text;
}

char *it_proc_stdout(const struct it_proc *p)
{
    return read_capture(p->out_fd);
}

char *it_proc_stderr(const struct it_proc *p)
{
    return read_capture(p->err_fd);
}

void it_proc_dump(const struct it_proc *p)
{
    char *err = it_proc_stderr(p), *out = it_proc_stdout(p);
    printf("---- server stderr ----\n%s---- server stdout ----\n%s---- end ----\n", err ? err : "",
           out ? out : "");
    free(err);
    free(out);
}

static void reap(struct it_proc *p, int status)
{
    p->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    p->pid = 0;
}

int it_proc_wait(struct it_proc *p, int timeout_ms)
{
    double deadline = it_now_ms() + timeout_ms;
    while (p->pid > 0) {
        int status;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            reap(p, status);
            break;
        }
        if (r < 0 && errno != EINTR)
            return -errno;
        if (it_now_ms() >= deadline)
            return -ETIMEDOUT;
        it_sleep_ms(5);
    }
    return p->exit_code;
}

bool it_expect_running(struct it_ctx *t, struct it_proc *p, const char *after)
{
    int code = it_proc_wait(p, 0);
    return it_check(t, code == -ETIMEDOUT, "server exited after %s: exit %d%s%s", after, code,
                    code > 128 ? ", killed by " : "", code > 128 ? strsignal(code - 128) : "");
}

int it_count_str(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

void it_proc_fini(struct it_proc *p)
{
    if (p->pid > 0) {
        int status;
        kill(p->pid, SIGKILL);
        if (waitpid(p->pid, &status, 0) == p->pid)
            reap(p, status);
    }
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
}

/* The port of the first address of a complete `listening on HOST:PORT[, listening on ...]
 * (pid N)` line, 0 while there is none yet. */
static int parse_listening_port(const char *err)
{
    const char *at = strstr(err, "listening on ");
    if (!at)
        return 0;
    const char *end = strchr(at, '\n');
    const char *pid = strstr(at, " (pid ");
    if (!end || !pid || pid > end)
        return 0;
    const char *next = strstr(at, ", listening on ");
    const char *colon = next && next < pid ? next : pid;
    while (colon > at && *colon != ':')
        colon--;
    return *colon == ':' ? atoi(colon + 1) : 0;
}

int it_server_start(struct it_ctx *t, struct it_proc *p, const char *const *args)
{
    const char *all[ARGS_MAX] = {"--listen", "127.0.0.1:0", "--mode", t->mode};
    size_t n = 4;
    for (; args && *args && n + 1 < ARGS_MAX; args++)
        all[n++] = *args;
    all[n] = NULL;
    int rc = spawn(t, p, all, NULL);
    if (rc < 0) {
        it_check(t, false, "cannot start %s: %s", t->bin, strerror(-rc));
        return rc;
    }
    double deadline = it_now_ms() + it_scaled_ms(t, START_DEADLINE_MS);
    for (;;) {
        char *err = it_proc_stderr(p);
        p->port = err ? parse_listening_port(err) : 0;
        free(err);
        if (p->port > 0)
            return 0;
        int code = it_proc_wait(p, 0);
        if (code >= 0) {
            it_check(t, false, "server exited with %d before its `listening on` line", code);
            rc = -ECHILD;
            break;
        }
        if (it_now_ms() >= deadline) {
            it_check(t, false, "no `listening on HOST:PORT` line on stderr within %d ms",
                     it_scaled_ms(t, START_DEADLINE_MS));
            rc = -ETIMEDOUT;
            break;
        }
        it_sleep_ms(10);
    }
    it_proc_dump(p);
    it_proc_fini(p);
    return rc;
}

void it_server_stop(struct it_ctx *t, struct it_proc *p)
{
    t->where = "stop";
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        int code = it_proc_wait(p, it_scaled_ms(t, STOP_DEADLINE_MS));
        if (code == -ETIMEDOUT)
            it_check(t, false, "server still running %d ms after SIGTERM",
                     it_scaled_ms(t, STOP_DEADLINE_MS));
        else
            it_expect_int(t, "server exit code after SIGTERM", 0, code);
    }
    if (t->failures > p->failures_at_start)
        it_proc_dump(p);
    it_proc_fini(p);
}

int it_run(struct it_ctx *t, const char *const *args, const char *const *env, int timeout_ms,
           struct it_proc *p)
{
    int rc = spawn(t, p, args, env);
    if (rc < 0) {
        it_check(t, false, "cannot run %s: %s", t->bin, strerror(-rc));
        return rc;
    }
    rc = it_proc_wait(p, timeout_ms);
    if (rc == -ETIMEDOUT) {
        it_check(t, false, "%s %s still running after %d ms", t->bin,
                 args && args[0] ? args[0] : "", timeout_ms);
        it_proc_dump(p);
        it_proc_fini(p);
        return rc;
    }
    return 0;
}
