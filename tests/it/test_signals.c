/* Integration: the process's signals. SIGTERM under load never truncates an answer and exits 0
 * once the drain ends; a second signal exits at once (exit 1); an expired grace closes the rest
 * and logs their number; SIGHUP and SIGUSR1 reopen the access log (logrotate); SIGPIPE from a log
 * reader that went away never kills it. Timing bounds scale with IOB_TIME_SCALE (RUN_SERIAL). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/it/client.h"
#include "tests/it/raw.h"

/* A log reader that goes away (access_log on a pipe, e.g. a log shipper that died): the next
 * log write raises SIGPIPE, which must not end the process. The socket writes use MSG_NOSIGNAL
 * (test_faults.c closes clients mid-answer), so this is where an unignored SIGPIPE would kill. */
static void sigpipe_from_a_gone_log_reader(struct it_ctx *t, struct it_proc *unused)
{
    char dir[] = "/tmp/iobound-faults-XXXXXX", fifo[96], set[128];
    struct it_proc srv;
    (void)unused;
    if (!it_check(t, mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno)))
        return;
    snprintf(fifo, sizeof(fifo), "%s/access.log", dir);
    snprintf(set, sizeof(set), "log.access_log=%s", fifo);
    const char *args[] = {"--set", set, NULL};
    /* The reader first, so the server's open() of the FIFO does not wait for one. */
    int reader = -1;
    if (it_check(t, mkfifo(fifo, 0600) == 0, "mkfifo %s: %s", fifo, strerror(errno)))
        reader = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (it_check(t, reader >= 0, "open %s for reading: %s", fifo, strerror(errno)) &&
        it_server_start(t, &srv, args) == 0) {
        struct it_resp r = {0};
        char line[512];
        it_get(t, &srv, "/hello", &r);
        it_resp_fini(&r);
        it_sleep_ms(50);
        it_check(t, read(reader, line, sizeof(line)) > 0, "no access log line in the FIFO");
        close(reader);
        reader = -1;
        for (int i = 0; i < 3; i++) {
            struct it_http req = {.path = "/hello", .may_fail = true};
            it_fetch(t, &srv, &req, &r);
            it_resp_fini(&r);
        }
        it_sleep_ms(100);
        if (it_expect_running(t, &srv, "its access log reader went away") &&
            it_get(t, &srv, "/healthz", &r) == 0)
            it_expect_int(t, "GET /healthz after the log reader went away", 200, r.status);
        it_resp_fini(&r);
        it_server_stop(t, &srv);
    }
    if (reader >= 0)
        close(reader);
    unlink(fifo);
    rmdir(dir);
}

/* --- shutdown ---------------------------------------------------------------------------- */

#define LOAD_CLIENTS 50
#define LOAD_MS      1000
#define TERM_AT_MS   500

/* Transport errors that mean "no answer": refused, or closed before any byte of a response. */
static bool is_clean_failure(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR ||
           rc == CURLE_SEND_ERROR;
}

struct load_tally {
    int ok, refused_after_term;
};

/* One finished transfer of the load: a status means a complete 200; no status means a clean
 * failure, and only once SIGTERM was sent. */
static void judge(struct it_ctx *t, const struct it_resp *r, bool term_sent, struct load_tally *n)
{
    if (r->status != 0) {
        bool whole =
            r->rc == CURLE_OK && r->status == 200 && strstr(r->body, "\"slept_ms\":50,") != NULL;
        n->ok += it_check(t, whole,
                          "%s: a response began but was not a complete 200: curl %s, status %ld, "
                          "%zu body bytes",
                          r->what, curl_easy_strerror(r->rc), r->status, r->body_len);
        return;
    }
    if (it_check(t, term_sent && is_clean_failure(r->rc),
                 "%s: failed %s SIGTERM: %s (only refused or closed-before-answer allowed after)",
                 r->what, term_sent ? "after" : "before", curl_easy_strerror(r->rc)))
        n->refused_after_term++;
}

static void shutdown_under_load(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc srv;
    struct it_multi mu;
    struct it_http req = {
        .path = "/sleep?ms=50", .may_fail = true, .timeout_ms = it_scaled_ms(t, 5000)};
    CURL *h[LOAD_CLIENTS];
    static struct it_resp r[LOAD_CLIENTS];
    struct load_tally n = {0};
    bool term_sent = false;
    (void)unused;
    if (it_server_start(t, &srv, NULL) != 0)
        return;
    it_multi_init(&mu);
    for (int i = 0; i < LOAD_CLIENTS; i++) {
        h[i] = it_easy_new();
        it_easy_prepare(t, h[i], &srv, &req, &r[i]);
        it_multi_add(&mu, h[i]);
    }
    double start = it_now_ms(), term_at = 0;
    while (it_now_ms() - start < LOAD_MS) {
        it_multi_step(t, &mu, 5);
        if (!term_sent && it_now_ms() - start >= TERM_AT_MS) {
            kill(srv.pid, SIGTERM);
            term_sent = true;
            term_at = it_now_ms();
        }
        for (int i = 0; i < LOAD_CLIENTS; i++) {
            if (!r[i].done)
                continue;
            judge(t, &r[i], term_sent, &n);
            /* A client whose request failed after the stop gives up; the others go on. */
            if (r[i].status == 0) {
                r[i].done = false;
                continue;
            }
            it_easy_prepare(t, h[i], &srv, &req, &r[i]);
            it_multi_add(&mu, h[i]);
        }
    }
    it_multi_wait_all(t, &mu, it_now_ms() + it_scaled_ms(t, 5000));
    for (int i = 0; i < LOAD_CLIENTS; i++)
        if (r[i].done)
            judge(t, &r[i], term_sent, &n);
    it_expect_range(t, "complete 200s before and during the drain", LOAD_CLIENTS, INFINITY, n.ok);
    it_expect_range(t, "requests refused or closed unanswered after the stop", 1, INFINITY,
                    n.refused_after_term);
    int code = it_proc_wait(&srv, it_scaled_ms(t, 5000));
    if (it_check(t, code != -ETIMEDOUT, "server still running 5 s after SIGTERM under load"))
        it_expect_int(t, "exit code after SIGTERM under load", 0, code);
    it_expect_range(t, "ms from SIGTERM to exit under load (drains 50 ms sleeps)", 0,
                    it_scaled_ms(t, 1000), it_now_ms() - term_at);
    printf("     shutdown under load: %d complete 200s, %d refused/unanswered after SIGTERM\n",
           n.ok, n.refused_after_term);
    it_multi_fini(&mu);
    for (int i = 0; i < LOAD_CLIENTS; i++) {
        curl_easy_cleanup(h[i]);
        it_resp_fini(&r[i]);
    }
    if (t->failures > srv.failures_at_start)
        it_proc_dump(&srv);
    it_proc_fini(&srv);
}

/* Starts /sleep?ms=sleep_ms in the background on srv and drives it for 300 ms. */
static void start_long_sleep(struct it_ctx *t, const struct it_proc *srv, struct it_multi *mu,
                             CURL *h, struct it_resp *r, const char *path)
{
    struct it_http req = {.path = path, .may_fail = true, .timeout_ms = it_scaled_ms(t, 10000)};
    it_multi_init(mu);
    it_easy_prepare(t, h, srv, &req, r);
    it_multi_add(mu, h);
    double until = it_now_ms() + 300;
    while (it_now_ms() < until)
        it_multi_step(t, mu, 20);
    it_check(t, !r->done, "%s finished before the signal", path);
}

/* Signals srv, then waits for its exit and checks the code and how long it took. */
static void expect_exit(struct it_ctx *t, struct it_proc *srv, double since, int code_wanted,
                        int within_ms, const char *what)
{
    char label[160];
    int code = it_proc_wait(srv, within_ms);
    snprintf(label, sizeof(label), "%s: exit code", what);
    if (it_check(t, code != -ETIMEDOUT, "%s: still running after %d ms", what, within_ms))
        it_expect_int(t, label, code_wanted, code);
    snprintf(label, sizeof(label), "%s: ms to exit", what);
    it_expect_range(t, label, 0, within_ms, it_now_ms() - since);
}

/* The request in flight gets no partial answer: either nothing, or (never) a status. */
static void expect_unanswered(struct it_ctx *t, struct it_multi *mu, struct it_resp *r)
{
    it_multi_wait_all(t, mu, it_now_ms() + it_scaled_ms(t, 3000));
    it_check(t, !r->done || r->status == 0,
             "%s cut by the exit: expected no response, got status %ld (curl %s)", r->what,
             r->status, curl_easy_strerror(r->rc));
    it_multi_fini(mu);
}

/* The SPEC: "A second signal exits at once". The server's exit code for it is 1 (stopped
 * abnormally), unlike 0 for a finished drain. */
static void second_sigterm_exits_at_once(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc srv;
    struct it_multi mu;
    struct it_resp r = {0};
    (void)unused;
    if (it_server_start(t, &srv, NULL) != 0)
        return;
    CURL *h = it_easy_new();
    start_long_sleep(t, &srv, &mu, h, &r, "/sleep?ms=5000");
    kill(srv.pid, SIGTERM);
    it_sleep_ms(200);
    it_expect_running(t, &srv, "the first SIGTERM with /sleep?ms=5000 in flight");
    double since = it_now_ms();
    kill(srv.pid, SIGTERM);
    expect_exit(t, &srv, since, 1, it_scaled_ms(t, 1000), "second SIGTERM during a 5 s sleep");
    expect_unanswered(t, &mu, &r);
    if (t->failures > srv.failures_at_start)
        it_proc_dump(&srv);
    it_proc_fini(&srv);
    curl_easy_cleanup(h);
    it_resp_fini(&r);
}

/* Idle keep-alive connections have nothing unread, so the drain closes them at once (no linger)
 * and the server exits as quickly as nginx does: well under 200 ms, not the linger's second. */
#define IDLE_CLIENTS 5
static void sigterm_with_idle_keepalive_exits_at_once(struct it_ctx *t, struct it_proc *unused)
{
    struct it_proc srv;
    struct it_raw c[IDLE_CLIENTS];
    (void)unused;
    if (it_server_start(t, &srv, NULL) != 0)
        return;
    int open = 0;
    for (; open < IDLE_CLIENTS; open++) {
        struct it_raw_resp r = {0};
        if (it_raw_open(&c[open], srv.port) != 0 ||
            it_raw_send_str(&c[open], "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") != 0 ||
            !it_raw_expect(t, &c[open], "keep-alive GET /hello", &r, false, 2000)) {
            it_raw_close(&c[open]);
            it_raw_resp_fini(&r);
            break;
        }
        it_raw_resp_fini(&r);
    }
    it_expect_int(t, "idle keep-alive connections open", IDLE_CLIENTS, open);
    double since = it_now_ms();
    kill(srv.pid, SIGTERM);
    expect_exit(t, &srv, since, 0, it_scaled_ms(t, 200), "SIGTERM with only idle connections");
    for (int i = 0; i < open; i++) {
        it_raw_expect_closed(t, &c[i], "an idle connection at the drain", 1000);
        it_raw_close(&c[i]);
    }
    if (t->failures > srv.failures_at_start)
        it_proc_dump(&srv);
    it_proc_fini(&srv);
}

static void grace_expiry_closes_and_counts(struct it_ctx *t, struct it_proc *unused)
{
    const char *args[] = {"--set", "process.shutdown_grace_ms=300", NULL};
    struct it_proc srv;
    struct it_multi mu;
    struct it_resp r = {0};
    (void)unused;
    if (it_server_start(t, &srv, args) != 0)
        return;
    CURL *h = it_easy_new();
    start_long_sleep(t, &srv, &mu, h, &r, "/sleep?ms=3000");
    double since = it_now_ms();
    kill(srv.pid, SIGTERM);
    expect_exit(t, &srv, since, 0, it_scaled_ms(t, 1000),
                "SIGTERM, shutdown_grace_ms=300, /sleep?ms=3000 in flight");
    char *err = it_proc_stderr(&srv);
    it_expect_contains(t, "error log at grace expiry", err,
                       "shutdown grace expired: closing 1 connections");
    free(err);
    expect_unanswered(t, &mu, &r);
    if (t->failures > srv.failures_at_start)
        it_proc_dump(&srv);
    it_proc_fini(&srv);
    curl_easy_cleanup(h);
    it_resp_fini(&r);
}

/* --- log reopen ------------------------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;
    if (!f)
        return strdup("");
    char chunk[4096];
    for (size_t n; (n = fread(chunk, 1, sizeof(chunk), f)) > 0;) {
        char *grown = realloc(text, len + n + 1);
        if (!grown)
            break;
        text = grown;
        memcpy(text + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!text)
        return strdup("");
    text[len] = '\0';
    return text;
}

/* GET /hello?batch=<tag> three times, then waits until path holds the three lines. */
static void log_batch(struct it_ctx *t, const struct it_proc *srv, const char *tag,
                      const char *path)
{
    char target[64], needle[64];
    snprintf(target, sizeof(target), "/hello?batch=%s", tag);
    snprintf(needle, sizeof(needle), "batch=%s ", tag);
    for (int i = 0; i < 3; i++) {
        struct it_resp r = {0};
        it_get(t, srv, target, &r);
        it_resp_fini(&r);
    }
    double deadline = it_now_ms() + it_scaled_ms(t, 2000);
    int n;
    do {
        char *text = read_file(path);
        n = it_count_str(text, needle);
        free(text);
    } while (n < 3 && it_now_ms() < deadline && (it_sleep_ms(20), true));
    char what[128];
    snprintf(what, sizeof(what), "access log lines for batch %s in %s", tag, path);
    it_expect_int(t, what, 3, n);
}

static void expect_batches(struct it_ctx *t, const char *path, const char *has, const char *not1,
                           const char *not2)
{
    char *text = read_file(path);
    const char *absent[] = {not1, not2};
    char needle[64], what[160];
    snprintf(needle, sizeof(needle), "batch=%s ", has);
    snprintf(what, sizeof(what), "%s lines with batch=%s", path, has);
    it_expect_int(t, what, 3, it_count_str(text, needle));
    for (int i = 0; i < 2; i++) {
        snprintf(needle, sizeof(needle), "batch=%s ", absent[i]);
        snprintf(what, sizeof(what), "%s lines with batch=%s", path, absent[i]);
        it_expect_int(t, what, 0, it_count_str(text, needle));
    }
    free(text);
}

/* logrotate's way: rename the file, signal, and the next lines go to a new file at the old
 * name while the renamed one keeps what it had. Once with SIGHUP, once with SIGUSR1. */
static void log_reopen_on_hup_and_usr1(struct it_ctx *t, struct it_proc *unused)
{
    char dir[] = "/tmp/iobound-faults-XXXXXX", log[96], set[128], old1[96], old2[96];
    struct it_proc srv;
    (void)unused;
    if (!it_check(t, mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno)))
        return;
    snprintf(log, sizeof(log), "%s/access.log", dir);
    snprintf(old1, sizeof(old1), "%s/access.log.1", dir);
    snprintf(old2, sizeof(old2), "%s/access.log.2", dir);
    snprintf(set, sizeof(set), "log.access_log=%s", log);
    const char *args[] = {"--set", set, NULL};
    if (it_server_start(t, &srv, args) == 0) {
        const char *olds[] = {old1, old2}, *next[] = {"B", "C"};
        const int sigs[] = {SIGHUP, SIGUSR1};
        log_batch(t, &srv, "A", log);
        for (int i = 0; i < 2; i++) {
            struct stat st;
            rename(log, olds[i]);
            kill(srv.pid, sigs[i]);
            double deadline = it_now_ms() + it_scaled_ms(t, 2000);
            while (stat(log, &st) != 0 && it_now_ms() < deadline)
                it_sleep_ms(10);
            it_check(t, stat(log, &st) == 0, "no new %s within 2 s of %s", log, strsignal(sigs[i]));
            log_batch(t, &srv, next[i], log);
        }
        expect_batches(t, old1, "A", "B", "C");
        expect_batches(t, old2, "B", "A", "C");
        expect_batches(t, log, "C", "A", "B");
        it_server_stop(t, &srv);
    }
    unlink(log);
    unlink(old1);
    unlink(old2);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"shutdown_under_load", shutdown_under_load},
        {"second_sigterm_exits_at_once", second_sigterm_exits_at_once},
        {"sigterm_with_idle_keepalive_exits_at_once", sigterm_with_idle_keepalive_exits_at_once},
        {"grace_expiry_closes_and_counts", grace_expiry_closes_and_counts},
        {"log_reopen_on_hup_and_usr1", log_reopen_on_hup_and_usr1},
        {"sigpipe_from_a_gone_log_reader", sigpipe_from_a_gone_log_reader},
    };
    return it_main(argc, argv, NULL, NULL, 0, cases, IT_LEN(cases));
}
