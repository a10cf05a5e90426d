/* Integration: the process contract. SIGTERM drains in-flight requests (answered with
 * Connection: close), closes idle keep-alive connections, stops accepting and exits 0; SIGINT
 * likewise; SIGHUP/SIGUSR1 and vanished clients (SIGPIPE) do not stop it; a taken port is exit 1
 * naming the address; bad config from file, environment or --set is exit 2 naming its origin;
 * --check-config shows defaults < file < environment < flags; --version, --help, bad flags. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/it/client.h"
#include "tests/it/raw.h"

/* Waits for a server we signalled ourselves, checks exit 0 and frees it. */
static void expect_clean_exit(struct it_ctx *t, struct it_proc *p, const char *what, int within_ms)
{
    int code = it_proc_wait(p, within_ms);
    if (code == -ETIMEDOUT)
        it_check(t, false, "%s: server still running after %d ms", what, within_ms);
    else
        it_expect_int(t, what, 0, code);
    if (t->failures > p->failures_at_start)
        it_proc_dump(p);
    it_proc_fini(p);
}

static void sigterm_drains_inflight(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc srv;
    struct it_multi mu;
    struct it_http req = {.path = "/sleep?ms=1000", .timeout_ms = it_scaled_ms(t, 10000)};
    struct it_resp r = {0};
    struct it_raw idle, late;
    struct it_raw_resp rr = {0};
    (void)unused;
    if (it_server_start(t, &srv, NULL) != 0)
        return;
    CURL *h = it_easy_new();
    it_multi_init(&mu);
    it_easy_prepare(t, h, &srv, &req, &r);
    it_multi_add(&mu, h);
    /* An idle keep-alive connection that has had its answer. */
    if (it_raw_open(&idle, srv.port) == 0) {
        it_raw_send_str(&idle, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        it_raw_expect(t, &idle, "GET /hello before SIGTERM", &rr, false, it_scaled_ms(t, 3000));
    }
    double until = it_now_ms() + 300;
    while (it_now_ms() < until)
        it_multi_step(t, &mu, 20);
    it_check(t, !r.done, "GET /sleep?ms=1000 finished before SIGTERM was sent");
    kill(srv.pid, SIGTERM);

    it_raw_expect_closed(t, &idle, "idle keep-alive connection after SIGTERM",
                         it_scaled_ms(t, 600));
    /* Stopped accepting: refused, or never answered before the process is gone. */
    int rc = it_raw_open(&late, srv.port);
    if (rc == 0) {
        it_raw_send_str(&late, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        rc = it_raw_read(t, &late, &rr, false, it_scaled_ms(t, 5000));
        it_check(t, rc != 0 || rr.status != 200,
                 "a connection opened after SIGTERM was served with 200");
    }
    it_raw_close(&late);
    it_raw_close(&idle);
    it_raw_resp_fini(&rr);

    it_multi_wait_all(t, &mu, it_now_ms() + it_scaled_ms(t, 5000));
    if (r.done && r.rc == CURLE_OK) {
        it_expect_int(t, "in-flight /sleep?ms=1000 across SIGTERM", 200, r.status);
        it_expect_contains(t, "in-flight /sleep?ms=1000 body", r.body, "\"slept_ms\":1000,");
        it_check(t, it_header_has_token(r.head, "Connection", "close"),
                 "response sent during the drain: expected Connection: close");
    }
    expect_clean_exit(t, &srv, "exit code after SIGTERM with a request in flight",
                      it_scaled_ms(t, 5000));
    it_multi_fini(&mu);
    curl_easy_cleanup(h);
    it_resp_fini(&r);
}

static void sigint_exits_0(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc srv;
    (void)unused;
    if (it_server_start(t, &srv, NULL) != 0)
        return;
    kill(srv.pid, SIGINT);
    expect_clean_exit(t, &srv, "exit code after SIGINT", it_scaled_ms(t, 5000));
}

/* SIGHUP/SIGUSR1 reopen logs; clients that vanish (reset while the server writes) raise SIGPIPE.
 * None of them may stop the server. */
static void survives_hup_and_vanished_clients(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc srv;
    struct it_resp r = {0};
    struct it_raw c;
    static char big[512 * 1024];
    char head[160];
    (void)unused;
    if (it_server_start(t, &srv, NULL) != 0)
        return;
    kill(srv.pid, SIGHUP);
    kill(srv.pid, SIGUSR1);
    it_sleep_ms(100);
    if (it_raw_open(&c, srv.port) == 0) {
        it_raw_send_str(&c, "GET /sleep?ms=100 HTTP/1.1\r\nHost: a\r\n\r\n");
        it_raw_abort(&c);
    }
    memset(big, 'x', sizeof(big));
    snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
             sizeof(big));
    for (int i = 0; i < 3; i++) {
        if (it_raw_open(&c, srv.port) != 0)
            continue;
        it_raw_send_str(&c, head);
        it_raw_send(&c, big, sizeof(big));
        it_raw_abort(&c);
    }
    it_sleep_ms(300);
    it_expect_running(t, &srv, "SIGHUP, SIGUSR1 and vanished clients");
    if (srv.pid > 0 && it_get(t, &srv, "/healthz", &r) == 0)
        it_expect_int(t, "GET /healthz after SIGHUP, SIGUSR1 and vanished clients", 200, r.status);
    it_resp_fini(&r);
    it_server_stop(t, &srv);
}

static void port_taken_exits_1(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc first, second;
    char listen[64];
    (void)unused;
    if (it_server_start(t, &first, NULL) != 0)
        return;
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", first.port);
    const char *args[] = {"--listen", listen, "--mode", t->mode, NULL};
    if (it_run(t, args, NULL, it_scaled_ms(t, 5000), &second) == 0) {
        char *err = it_proc_stderr(&second);
        it_expect_int(t, "exit code when the port is taken", 1, second.exit_code);
        it_expect_contains(t, "error names the address", err, listen);
        it_expect_contains(t, "error names the system error", err, "Address already in use");
        free(err);
        it_proc_fini(&second);
    }
    it_server_stop(t, &first);
}

/* A temporary INI file; the caller unlinks path. */
static bool write_temp(struct it_ctx *t, const char *text, char path[64])
{
    snprintf(path, 64, "/tmp/iobound-it-XXXXXX.ini");
    int fd = mkstemps(path, 4);
    if (!it_check(t, fd >= 0, "mkstemps failed"))
        return false;
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return it_check(t, ok, "writing %s failed", path);
}

/* Runs the binary with args and env; expects exit 2 and every needle in stderr. */
static void expect_config_error(struct it_ctx *t, const char *what, const char *const *args,
                                const char *const *env, const char *const *needles)
{
    struct it_proc p;
    if (it_run(t, args, env, it_scaled_ms(t, 5000), &p) != 0)
        return;
    char *err = it_proc_stderr(&p);
    char label[160];
    snprintf(label, sizeof(label), "%s: exit code", what);
    it_expect_int(t, label, 2, p.exit_code);
    snprintf(label, sizeof(label), "%s: stderr", what);
    for (; needles && *needles; needles++)
        it_expect_contains(t, label, err, *needles);
    free(err);
    it_proc_fini(&p);
}

static void bad_config_file_exits_2(struct it_ctx *t, struct it_proc *unused)
{
    char path[64], at3[80], at5[80];
    (void)unused;
    if (!write_temp(t,
                    "[server]\nbacklog = 16\nbogus_key = 1\n[limits]\nmax_sleep_ms = abc\n"
                    "[nosuch]\nx = 1\n",
                    path))
        return;
    snprintf(at3, sizeof(at3), "%s:3", path);
    snprintf(at5, sizeof(at5), "%s:5", path);
    const char *serve[] = {"-c", path, "--listen", "127.0.0.1:0", NULL};
    const char *check[] = {"-c", path, "--check-config", NULL};
    /* Every error is reported, not just the first. */
    const char *needles[] = {at3, "bogus_key", at5, "max_sleep_ms", "nosuch", NULL};
    expect_config_error(t, "serving with a bad config file", serve, NULL, needles);
    expect_config_error(t, "--check-config with a bad config file", check, NULL, needles);
    unlink(path);
    const char *missing[] = {"-c", "/nonexistent/iobound.ini", "--listen", "127.0.0.1:0", NULL};
    const char *missing_needles[] = {"/nonexistent/iobound.ini", NULL};
    expect_config_error(t, "a missing config file", missing, NULL, missing_needles);
}

/* The value of [section] key in an INI text ("" for an empty value). */
static bool ini_value(const char *text, const char *section, const char *key, char *out,
                      size_t outlen)
{
    char cur[64] = "";
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[1024];
        snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
        char *s = buf + strspn(buf, " \t");
        char *semi = strchr(s, ';');
        if (semi && (semi == s || semi[-1] == ' ' || semi[-1] == '\t'))
            *semi = '\0';
        char *eq = strchr(s, '=');
        if (*s == '[') {
            snprintf(cur, sizeof(cur), "%.*s", (int)strcspn(s + 1, "]"), s + 1);
        } else if (eq && strcmp(cur, section) == 0) {
            char *k_end = eq;
            while (k_end > s && (k_end[-1] == ' ' || k_end[-1] == '\t'))
                k_end--;
            if ((size_t)(k_end - s) == strlen(key) && strncmp(s, key, strlen(key)) == 0) {
                char *v = eq + 1 + strspn(eq + 1, " \t");
                size_t vl = strlen(v);
                while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
                    vl--;
                snprintf(out, outlen, "%.*s", (int)vl, v);
                return true;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

static void expect_ini(struct it_ctx *t, const char *what, const char *text, const char *section,
                       const char *key, const char *expected)
{
    char v[256] = "(absent)", label[160];
    ini_value(text, section, key, v, sizeof(v));
    snprintf(label, sizeof(label), "%s: [%s] %s", what, section, key);
    it_expect_str(t, label, expected, v);
}

static void check_config_precedence(struct it_ctx *t, struct it_proc *unused)
{
    char path[64], file[256], env_mode[64];
    struct it_proc p;
    (void)unused;
    snprintf(file, sizeof(file),
             "[server]\nmode = %s\n[limits]\nmax_sleep_ms = 1234\nmax_cpu_ms = 111\n"
             "max_gather_tasks = 7\n",
             t->mode);
    if (!write_temp(t, file, path))
        return;
    snprintf(env_mode, sizeof(env_mode), "IOBOUND_SERVER_MODE=%s", it_other_mode(t));
    const char *env[] = {env_mode, "IOBOUND_LIMITS_MAX_CPU_MS=222",
                         "IOBOUND_LIMITS_MAX_GATHER_TASKS=8", NULL};
    const char *no_flags[] = {"-c", path, "--check-config", NULL};
    const char *flags[] = {
        "-c", path, "--check-config", "--mode", t->mode, "--set", "limits.max_gather_tasks=9",
        NULL};
    if (it_run(t, no_flags, env, it_scaled_ms(t, 5000), &p) == 0) {
        char *out = it_proc_stdout(&p);
        it_expect_int(t, "--check-config exit code", 0, p.exit_code);
        expect_ini(t, "default", out, "server", "backlog", "1024");
        expect_ini(t, "default", out, "limits", "idle_timeout_ms", "5000");
        expect_ini(t, "file over default", out, "limits", "max_sleep_ms", "1234");
        expect_ini(t, "environment over file", out, "limits", "max_cpu_ms", "222");
        expect_ini(t, "environment over file", out, "server", "mode", it_other_mode(t));
        expect_ini(t, "environment over file", out, "limits", "max_gather_tasks", "8");
        if (t->failures > p.failures_at_start)
            it_proc_dump(&p);
        free(out);
        it_proc_fini(&p);
    }
    if (it_run(t, flags, env, it_scaled_ms(t, 5000), &p) == 0) {
        char *out = it_proc_stdout(&p);
        it_expect_int(t, "--check-config with flags: exit code", 0, p.exit_code);
        expect_ini(t, "--mode over environment", out, "server", "mode", t->mode);
        expect_ini(t, "--set over environment", out, "limits", "max_gather_tasks", "9");
        expect_ini(t, "environment still applies", out, "limits", "max_cpu_ms", "222");
        if (t->failures > p.failures_at_start)
            it_proc_dump(&p);
        free(out);
        it_proc_fini(&p);
    }
    unlink(path);
}

static void bad_env_and_set_exit_2(struct it_ctx *t, struct it_proc *unused)
{
    (void)unused;
    const char *serve[] = {"--listen", "127.0.0.1:0", NULL};
    const char *check[] = {"--check-config", NULL};
    const char *bad_mode[] = {"IOBOUND_SERVER_MODE=async", NULL};
    const char *bad_mode_needles[] = {"IOBOUND_SERVER_MODE", "async", NULL};
    expect_config_error(t, "IOBOUND_SERVER_MODE=async", serve, bad_mode, bad_mode_needles);
    const char *bad_num[] = {"IOBOUND_LIMITS_MAX_SLEEP_MS=-1", NULL};
    const char *bad_num_needles[] = {"IOBOUND_LIMITS_MAX_SLEEP_MS", NULL};
    expect_config_error(t, "IOBOUND_LIMITS_MAX_SLEEP_MS=-1", check, bad_num, bad_num_needles);
    const char *unknown[] = {"IOBOUND_SERVER_NO_SUCH_KEY=1", NULL};
    const char *unknown_needles[] = {"IOBOUND_SERVER_NO_SUCH_KEY", NULL};
    expect_config_error(t, "an IOBOUND_ variable naming no key", check, unknown, unknown_needles);
    const char *bad_set[] = {"--check-config", "--set", "limits.max_sleep_ms=1e3", NULL};
    const char *bad_set_needles[] = {"--set", "max_sleep_ms", NULL};
    expect_config_error(t, "--set limits.max_sleep_ms=1e3", bad_set, NULL, bad_set_needles);
    const char *bad_flag_mode[] = {"--check-config", "--mode", "async", NULL};
    const char *bad_flag_mode_needles[] = {"async", NULL};
    expect_config_error(t, "--mode async", bad_flag_mode, NULL, bad_flag_mode_needles);
    const char *bad_flag[] = {"--no-such-flag", NULL};
    expect_config_error(t, "an unknown flag", bad_flag, NULL, NULL);
}

static void version_and_help(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc p;
    const char *version[] = {"--version", NULL};
    const char *help[] = {"--help", NULL};
    (void)unused;
    if (it_run(t, version, NULL, it_scaled_ms(t, 5000), &p) == 0) {
        char *out = it_proc_stdout(&p);
        it_expect_int(t, "--version exit code", 0, p.exit_code);
        it_expect_contains(t, "--version output", out, "0.1.0");
        free(out);
        it_proc_fini(&p);
    }
    if (it_run(t, help, NULL, it_scaled_ms(t, 5000), &p) == 0) {
        char *out = it_proc_stdout(&p), *err = it_proc_stderr(&p);
        size_t len = strlen(out) + strlen(err) + 1;
        char *both = malloc(len);
        snprintf(both, len, "%s%s", out, err);
        it_expect_int(t, "--help exit code", 0, p.exit_code);
        it_expect_contains(t, "--help output", both, "--check-config");
        it_expect_contains(t, "--help output", both, "--mode");
        free(both);
        free(out);
        free(err);
        it_proc_fini(&p);
    }
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"sigterm_drains_inflight", sigterm_drains_inflight},
        {"sigint_exits_0", sigint_exits_0},
        {"survives_hup_and_vanished_clients", survives_hup_and_vanished_clients},
        {"port_taken_exits_1", port_taken_exits_1},
        {"bad_config_file_exits_2", bad_config_file_exits_2},
        {"check_config_precedence", check_config_precedence},
        {"bad_env_and_set_exit_2", bad_env_and_set_exit_2},
        {"version_and_help", version_and_help},
    };
    return it_main(argc, argv, NULL, NULL, 0, cases, IT_LEN(cases));
}
