/* Unit tests for server/engine/fiber.c and server/base/heap.c, the two parts of the fibers
 * engine below its loop: fibers run in turn and end, a stack overflow dies loudly by SIGABRT
 * with its message (in a child process), and the timer heap gives its nodes back in time order
 * whatever was taken out between. */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "server/base/heap.h"
#include "server/engine/fiber.h"

struct turns {
    char log[16];
    size_t n;
};

static struct turns turns;

static void take_turns(void *arg)
{
    const char *name = arg;
    for (int i = 0; i < 3; i++) {
        turns.log[turns.n++] = name[0];
        iob_fiber_yield();
    }
}

static void test_fibers_run_in_turn_and_end(void **state)
{
    (void)state;
    assert_int_equal(iob_fiber_init(64), 0);
    turns = (struct turns){{0}, 0};
    struct iob_fiber *a = iob_fiber_new(take_turns, "a");
    struct iob_fiber *b = iob_fiber_new(take_turns, "b");
    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < 3; i++) {
        assert_false(iob_fiber_resume(a));
        assert_false(iob_fiber_resume(b));
    }
    assert_string_equal(turns.log, "ababab");
    assert_true(iob_fiber_resume(a)); /* each ends (and is freed) on its fourth resume */
    assert_true(iob_fiber_resume(b));
    iob_fiber_fini();
}

/* 512 bytes a frame to a depth of 2^20 passes any stack; the volatile buffer keeps each frame
 * real. */
static int recurse(int depth, int limit)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    return depth == limit ? 0 : recurse(depth + 1, limit) + frame[0];
}

static void overflow(void *arg)
{
    recurse(0, *(const int *)arg);
}

/* In a child: a fiber recurses past its 64 KiB stack. The child must die by SIGABRT (not run on,
 * not die silently by SIGSEGV) and say so on stderr, naming the key. */
static void test_fiber_stack_overflow_aborts_with_message(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        int limit = 1 << 20;
        if (iob_fiber_init(64) == 0)
            iob_fiber_resume(iob_fiber_new(overflow, &limit));
        _exit(0); /* reached only when the overflow went unnoticed */
    }
    close(p[1]);
    char err[4096] = {0};
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(err) - 1 && (n = read(p[0], err + len, sizeof(err) - 1 - len)) > 0)
        len += (size_t)n;
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    printf("child: %s %d; stderr: %s", WIFSIGNALED(status) ? "signal" : "exit",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), err);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(err, "fiber stack overflow (stack_size_kb=64)"));
}

static void test_heap_gives_nodes_back_in_time_order(void **state)
{
    (void)state;
    enum { N = 200 };
    static struct iob_heap_node nodes[N];
    struct iob_heap h;
    iob_heap_init(&h);
    assert_int_equal(iob_heap_reserve(&h, N), 0);
    for (size_t i = 0; i < N; i++) {
        nodes[i] = (struct iob_heap_node){.at_ns = (i * 7919) % 1000, .index = IOB_HEAP_NONE};
        iob_heap_push(&h, &nodes[i]);
    }
    for (size_t i = 0; i < N; i += 3) /* out of the middle, the top and the end */
        iob_heap_remove(&h, &nodes[i]);
    iob_heap_remove(&h, &nodes[0]); /* a second time: no longer in it, left alone */
    size_t left = 0;
    uint64_t last = 0;
    struct iob_heap_node *top;
    while ((top = iob_heap_top(&h))) {
        assert_true(top->at_ns >= last);
        assert_true((top - nodes) % 3 != 0);
        last = top->at_ns;
        iob_heap_remove(&h, top);
        left++;
    }
    assert_int_equal(left, N - (N + 2) / 3);
    iob_heap_fini(&h);
}

/* The evented loop's move of a connection's wake time, earlier and later, and set on a node in
 * no heap (added). */
static void test_heap_set_moves_a_node_either_way(void **state)
{
    (void)state;
    enum { N = 200 };
    static struct iob_heap_node nodes[N + 1];
    static uint64_t want[N + 1];
    struct iob_heap h;
    iob_heap_init(&h);
    assert_int_equal(iob_heap_reserve(&h, N + 1), 0);
    for (size_t i = 0; i < N; i++) {
        nodes[i] =
            (struct iob_heap_node){.at_ns = 1000 + (i * 7919) % 1000, .index = IOB_HEAP_NONE};
        want[i] = nodes[i].at_ns;
        iob_heap_push(&h, &nodes[i]);
    }
    for (size_t i = 0; i < N; i += 5) { /* every fifth later, the one after it earlier */
        want[i] += 5000;
        iob_heap_set(&h, &nodes[i], want[i]);
        want[i + 1] = 3 * i;
        iob_heap_set(&h, &nodes[i + 1], want[i + 1]);
    }
    nodes[N] = (struct iob_heap_node){.index = IOB_HEAP_NONE};
    want[N] = 1500;
    iob_heap_set(&h, &nodes[N], want[N]);
    size_t popped = 0;
    uint64_t last = 0;
    struct iob_heap_node *top;
    while ((top = iob_heap_top(&h))) {
        assert_true(top->at_ns >= last);
        assert_int_equal(top->at_ns, want[top - nodes]);
        last = top->at_ns;
        iob_heap_remove(&h, top);
        popped++;
    }
    assert_int_equal(popped, N + 1);
    iob_heap_fini(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fibers_run_in_turn_and_end),
        cmocka_unit_test(test_fiber_stack_overflow_aborts_with_message),
        cmocka_unit_test(test_heap_gives_nodes_back_in_time_order),
        cmocka_unit_test(test_heap_set_moves_a_node_either_way),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
