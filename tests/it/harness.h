/* Integration-test harness: starts the real iobound binary on 127.0.0.1:0, reads the bound port
 * from its start-up line, runs other invocations to completion, stops it with SIGTERM to the pid
 * it started, and records checks with expected and actual values, printing the server's captured
 * output when a check failed. client.h talks HTTP through libcurl, raw.h through bare sockets.
 * Black box: it knows the SPEC, not the server's code. Single-threaded. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A model's traits, as the binary's --list-modes=json states them. Suites assert these, never
 * a model's name, so a new row in the engine table inherits every suite. */
struct it_traits {
    bool wait_costs_thread; /* a wait holds an OS thread until it ends */
    bool cpu_stalls_others; /* CPU work delays the other clients of its thread (loop) */
    int cpu_lanes;          /* CPU steps that run at once; 0: one per connection */
    int threads_at_rest;    /* OS threads with no connection open */
    int threads_per_conn;   /* OS threads each open connection adds */
    int max_waits;          /* waits that can be in progress at once; 0: no limit */
};

#define IT_MODES_MAX 16
#define IT_MODE_MAX  32

/* One test program run: argv[1] the binary, argv[2] the mode, argv[3] IOB_TIME_SCALE, argv[4]
 * IOB_RUNTIME_THREADS. */
struct it_ctx {
    const char *bin;
    const char *mode;                      /* one of modes[] */
    struct it_traits traits;               /* the mode's */
    char modes[IT_MODES_MAX][IT_MODE_MAX]; /* every model the binary lists, in its order */
    int n_modes;
    int time_scale;      /* multiply upper time bounds by it: 3 under sanitizers, else 1 */
    int runtime_threads; /* threads a sanitizer adds to a process that has a second one */
    const char *where;   /* the case running now, for messages */
    unsigned checks;     /* checks made */
    unsigned failures;   /* checks failed */
};

/* A process the harness started: a server or a one-shot invocation. Its stdout and stderr go to
 * memory files, so a chatty server can never block on a full pipe. */
struct it_proc {
    pid_t pid;     /* 0 once reaped */
    int port;      /* servers: the bound port */
    int out_fd;    /* memfd holding its stdout */
    int err_fd;    /* memfd holding its stderr */
    int exit_code; /* after reaping: the exit status, or 128 + signal */
    unsigned failures_at_start;
};

/* Parses argv and reads the models and the mode's traits from `bin --list-modes=json`; returns
 * 0, or prints usage (naming the binary's models) and returns -EINVAL. Initialises libcurl. */
int it_init(struct it_ctx *t, int argc, char **argv);
/* A model other than t->mode (the next in the list), for tests that switch models. */
const char *it_other_mode(const struct it_ctx *t);
/* Prints the summary; returns the process exit code (0 when every check passed). */
int it_finish(struct it_ctx *t);

typedef void it_case_fn(struct it_ctx *t, struct it_proc *srv);
struct it_case {
    const char *name;
    it_case_fn *fn;
};
/* Runs each case in order against srv (which may be NULL for cases that start their own). */
void it_run_cases(struct it_ctx *t, struct it_proc *srv, const struct it_case *cases, size_t n);
/* A whole test program: it_init(), the shared cases against one server started with args (NULL:
 * the defaults), then the own cases (which start servers of their own), it_finish(). Returns
 * main()'s exit code. */
int it_main(int argc, char **argv, const char *const *args, const struct it_case *shared,
            size_t n_shared, const struct it_case *own, size_t n_own);
#define IT_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Checks: each counts, and on failure prints "FAIL <case>: <what>: expected ..., actual ...".
 * They return whether the check passed, so a case can stop when later checks would be noise. */
bool it_check(struct it_ctx *t, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool it_expect_int(struct it_ctx *t, const char *what, long long expected, long long actual);
bool it_expect_str(struct it_ctx *t, const char *what, const char *expected, const char *actual);
bool it_expect_mem(struct it_ctx *t, const char *what, const void *expected, size_t expected_len,
                   const void *actual, size_t actual_len);
bool it_expect_contains(struct it_ctx *t, const char *what, const char *haystack,
                        const char *needle);
/* lo <= actual < hi; pass hi = INFINITY for no upper bound. */
bool it_expect_range(struct it_ctx *t, const char *what, double lo, double hi, double actual);

/* Bytes of a value shown in a failure message. */
#define IT_SHOW_MAX 600
/* Writes a printable, bounded rendering of s[0..n) into out (C escapes for the rest); returns
 * out, or "(null)" for NULL. */
const char *it_show(const void *s, size_t n, char *out, size_t outlen);

/* Monotonic milliseconds. */
double it_now_ms(void);
/* Sleeps ms milliseconds. */
void it_sleep_ms(int ms);
/* ms scaled for slow (sanitized) builds. */
int it_scaled_ms(const struct it_ctx *t, int ms);

/* Starts `bin --listen 127.0.0.1:0 --mode <t->mode> args...` (args NULL-terminated, may be NULL)
 * with the caller's environment minus every IOBOUND_ variable, and waits up to 5 s (scaled) for
 * the `listening on HOST:PORT` line. Returns 0 with p->port set, or a negative errno after
 * recording a failure (the process is then reaped). */
int it_server_start(struct it_ctx *t, struct it_proc *p, const char *const *args);
/* Sends SIGTERM to p->pid, waits up to 10 s (scaled), checks exit 0 and prints the captured
 * output if any check failed since the start. Frees p. */
void it_server_stop(struct it_ctx *t, struct it_proc *p);
/* Runs `bin args...` with the cleaned environment plus env (NULL-terminated, may be NULL) until it
 * exits or timeout_ms passes (then SIGKILL and a failure). Returns 0 with p->exit_code set, or
 * -ETIMEDOUT. The caller frees p with it_proc_fini(). */
int it_run(struct it_ctx *t, const char *const *args, const char *const *env, int timeout_ms,
           struct it_proc *p);
/* Waits up to timeout_ms for p to exit. Returns p->exit_code, or -ETIMEDOUT. */
int it_proc_wait(struct it_proc *p, int timeout_ms);
/* The captured stdout / stderr so far, NUL-terminated; the caller frees it. */
char *it_proc_stdout(const struct it_proc *p);
char *it_proc_stderr(const struct it_proc *p);
/* Prints the captured output to our stderr, for a failure report. */
void it_proc_dump(const struct it_proc *p);
/* Checks that p still runs; on failure names its exit code, or the signal that killed it, and
 * after (what had just happened). */
bool it_expect_running(struct it_ctx *t, struct it_proc *p, const char *after);
/* How many times needle occurs in text (NULL text: 0), e.g. a log line in a capture. */
int it_count_str(const char *text, const char *needle);
/* Kills p if it still runs (SIGKILL to its pid), reaps it and closes the captures. */
void it_proc_fini(struct it_proc *p);
