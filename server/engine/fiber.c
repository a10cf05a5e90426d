/* Fibers (fiber.h): a hand-written switch on x86-64, glibc ucontext elsewhere. A stack is [guard |
 * stack] in one mapping; ended fibers' stacks are kept for reuse up to STACK_CACHE_MAX, so a
 * keep-alive burst costs no mmap per connection. The sanitizers are told of every switch (ASan:
 * which stack is live, so it does not report the other as overflowed; TSan: its own fiber contexts;
 * LSan: a fiber stack is a root region, since pointers to a connection's memory live there). One
 * thread. */
#include "server/engine/fiber.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

/* GCC says __SANITIZE_*__, clang __has_feature(). */
#if defined(__SANITIZE_ADDRESS__)
#define IOB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IOB_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define IOB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IOB_TSAN 1
#endif
#endif
#ifdef IOB_ASAN
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
#ifdef IOB_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#if defined(__x86_64__)
/* The hand-off on x86-64: glibc's swapcontext() also saves and sets the signal mask, a system
 * call on every switch (four a keep-alive request: 30756 rt_sigprocmask for 7630 /sleep
 * requests under strace), and fibers never change the mask. This keeps only what the ABI has a
 * callee keep: rbx, rbp, r12-r15 and the stack pointer (the MXCSR and x87 control words are
 * never changed here). */
struct context {
    void *sp;
};
void iob_fiber_jump(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".globl iob_fiber_jump\n"
        ".hidden iob_fiber_jump\n"
        ".type iob_fiber_jump,@function\n"
        "iob_fiber_jump:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size iob_fiber_jump, .-iob_fiber_jump\n");

/* The first switch to c pops six zeroed registers and "returns" into entry, its stack then as
 * after a call (rsp + 8 a multiple of 16); entry's own return address is 0, where unwinders
 * stop. [lo, lo + size) is 16-byte aligned at its top. */
static int context_make(struct context *c, char *lo, size_t size, void (*entry)(void))
{
    void **top = (void **)(lo + size);
    top[-1] = NULL;
    top[-2] = (void *)entry;
    for (int i = 3; i <= 8; i++)
        top[-i] = NULL;
    c->sp = top - 8;
    return 0;
}

static void context_switch(struct context *from, struct context *to)
{
    iob_fiber_jump(&from->sp, to->sp);
}
#else
/* getcontext() and swapcontext() are "returns twice" to the compiler, but ours come back once
 * each, through swapcontext() that restores the callee-saved registers: nothing is clobbered. */
#pragma GCC diagnostic ignored "-Wclobbered"
struct context {
    ucontext_t uc;
};

static int context_make(struct context *c, char *lo, size_t size, void (*entry)(void))
{
    if (getcontext(&c->uc) < 0)
        return -1;
    c->uc.uc_stack = (stack_t){.ss_sp = lo, .ss_size = size};
    c->uc.uc_link = NULL;
    makecontext(&c->uc, entry, 0);
    return 0;
}

static void context_switch(struct context *from, struct context *to)
{
    swapcontext(&from->uc, &to->uc);
}
#endif

/* Larger than any one frame of ours (blocking.c keeps a 16 KiB read buffer on the stack), so a
 * frame that runs past the stack's end lands in the guard, never in the next mapping. Address
 * space only: no page of it is ever resident. */
#define GUARD_BYTES     (64 * 1024)
#define STACK_CACHE_MAX 1024
#define ALTSTACK_BYTES  (64 * 1024)

struct iob_fiber {
    struct context ctx;
    iob_fiber_fn *fn;
    void *arg;
    char *map; /* the guard, then the stack */
    bool has_ended;
    void *asan_fake; /* ASan's fake stack of a suspended fiber */
    void *tsan;      /* TSan's context for it */
};

static size_t stack_bytes;
static struct context sched;
static struct iob_fiber *current;
static char *cache[STACK_CACHE_MAX];
static size_t n_cache;
static const void *sched_bottom; /* the scheduler's stack, as ASan reports it */
static size_t sched_size;
static void *sched_tsan;
static char overflow_msg[128];
static size_t overflow_len;
static struct sigaction old_segv;
static stack_t old_altstack;
static void *altstack;

/* Before a switch: the stack being switched to ([bottom, bottom + size)) and its TSan context.
 * fake: where ASan keeps the leaving side's fake stack; NULL when the leaving fiber has ended. */
static void switch_begin(void **fake, const void *bottom, size_t size, void *tsan_to)
{
#ifdef IOB_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
#ifdef IOB_TSAN
    __tsan_switch_to_fiber(tsan_to, 0);
#else
    (void)tsan_to;
#endif
}

/* After a switch, on the new stack: gives back its fake stack; learns the stack switched from. */
static void switch_end(void *fake, const void **from_bottom, size_t *from_size)
{
#ifdef IOB_ASAN
    __sanitizer_finish_switch_fiber(fake, from_bottom, from_size);
#else
    (void)fake, (void)from_bottom, (void)from_size;
#endif
}

/* Only a fault in the running fiber's guard is ours: anything else goes back to the handler
 * installed before us (the default, or ASan's), and the faulting access repeats under it. */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    const char *at = si->si_addr;
    if (current && at >= current->map && at < current->map + GUARD_BYTES) {
        (void)!write(STDERR_FILENO, overflow_msg, overflow_len);
        abort();
    }
    sigaction(SIGSEGV, &old_segv, NULL);
}

int iob_fiber_init(size_t stack_kb)
{
    stack_bytes = stack_kb * 1024;
    overflow_len = (size_t)snprintf(overflow_msg, sizeof(overflow_msg),
                                    "iobound: fiber stack overflow (stack_size_kb=%zu); raise "
                                    "[fibers] stack_size_kb\n",
                                    stack_kb);
    /* The overflowing fiber has no stack left to run a handler on. */
    if (!altstack)
        altstack = malloc(ALTSTACK_BYTES);
    stack_t ss = {.ss_sp = altstack, .ss_size = ALTSTACK_BYTES};
    if (!altstack || sigaltstack(&ss, &old_altstack) < 0)
        return -ENOMEM;
    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
#ifdef IOB_TSAN
    sched_tsan = __tsan_get_current_fiber();
#endif
    return 0;
}

static void stack_unmap(char *map)
{
#ifdef IOB_ASAN
    __lsan_unregister_root_region(map + GUARD_BYTES, stack_bytes);
#endif
    munmap(map, GUARD_BYTES + stack_bytes);
}

void iob_fiber_fini(void)
{
    while (n_cache)
        stack_unmap(cache[--n_cache]);
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaltstack(&old_altstack, NULL);
    /* altstack is kept (and reused by the next init): freeing memory a signal stack was set to
     * buys nothing for a process about to exit. */
}

static char *stack_map(void)
{
    if (n_cache)
        return cache[--n_cache];
    /* MAP_NORESERVE: only the pages a fiber touches are ever committed. */
    char *map = mmap(NULL, GUARD_BYTES + stack_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (mprotect(map, GUARD_BYTES, PROT_NONE) < 0) {
        munmap(map, GUARD_BYTES + stack_bytes);
        return NULL;
    }
#ifdef IOB_ASAN
    __lsan_register_root_region(map + GUARD_BYTES, stack_bytes);
#endif
    return map;
}

/* Where every fiber starts (makecontext passes no pointer portably: current names it). */
static void trampoline(void)
{
    struct iob_fiber *f = current;
    switch_end(NULL, &sched_bottom, &sched_size);
    f->fn(f->arg);
    f->has_ended = true;
    switch_begin(NULL, sched_bottom, sched_size, sched_tsan);
    context_switch(&f->ctx, &sched); /* never comes back: the scheduler releases f */
}

/* A fiber's own state sits at the top of its mapping, in the page its first frames dirty anyway:
 * a parked connection costs no heap for it. */
#define HEAD_BYTES ((sizeof(struct iob_fiber) + 63) & ~(size_t)63)

struct iob_fiber *iob_fiber_new(iob_fiber_fn *fn, void *arg)
{
    char *map = stack_map();
    if (!map)
        return NULL;
    struct iob_fiber *f = (struct iob_fiber *)(map + GUARD_BYTES + stack_bytes - HEAD_BYTES);
    *f = (struct iob_fiber){.fn = fn, .arg = arg, .map = map};
    if (context_make(&f->ctx, map + GUARD_BYTES, stack_bytes - HEAD_BYTES, trampoline) < 0) {
        cache[n_cache++] = map; /* just taken from the cache or mapped: room for it */
        return NULL;
    }
#ifdef IOB_TSAN
    f->tsan = __tsan_create_fiber(0);
#endif
    return f;
}

/* f lives in its own mapping: nothing of it is touched once that is cached or unmapped. */
static void release(struct iob_fiber *f)
{
#ifdef IOB_TSAN
    __tsan_destroy_fiber(f->tsan);
#endif
    if (n_cache < STACK_CACHE_MAX)
        cache[n_cache++] = f->map;
    else
        stack_unmap(f->map);
}

bool iob_fiber_resume(struct iob_fiber *f)
{
    void *fake = NULL;
    current = f;
    switch_begin(&fake, f->map + GUARD_BYTES, stack_bytes - HEAD_BYTES, f->tsan);
    context_switch(&sched, &f->ctx);
    switch_end(fake, NULL, NULL);
    current = NULL;
    if (!f->has_ended)
        return false;
    release(f);
    return true;
}

void iob_fiber_yield(void)
{
    struct iob_fiber *f = current;
    switch_begin(&f->asan_fake, sched_bottom, sched_size, sched_tsan);
    context_switch(&f->ctx, &sched);
    switch_end(f->asan_fake, &sched_bottom, &sched_size);
}
