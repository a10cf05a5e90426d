/* libFuzzer target for the HTTP layer: each input is the byte stream of one client connection,
 * pushed through tests/unit/conn_driver.c's fake engine (which aborts on a broken contract) whole,
 * split at an input-chosen offset and byte by byte; all three must answer alike. Built by
 * tests/fuzz/CMakeLists.txt with clang, run by tests/fuzz/run.sh. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_driver.h"

/* Answers to these depend on more than the bytes (counters, random jitter, /bytes and garbage
 * without a seed): for inputs that mention them, only the statuses and the close must match
 * across splits. */
static const char *const varying[] = {"/metrics", "jitter", "/bytes", "/fault"};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    iob_drive_init();
    return 0;
}

static bool is_varying(const char *data, size_t size)
{
    for (size_t i = 0; i < sizeof varying / sizeof varying[0]; i++)
        if (memmem(data, size, varying[i], strlen(varying[i])))
            return true;
    return false;
}

/* FNV-1a of the input: a split offset that moves with every mutation. */
static size_t split_point(const uint8_t *data, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3ULL;
    return size > 1 ? 1 + (size_t)(h % (size - 1)) : size;
}

static void run(struct iob_drive *d, const char *data, size_t size, size_t first, size_t step)
{
    if (iob_drive_run(d, &iob_drive_env, data, size, first, step) != 0) {
        fprintf(stderr, "fuzz_conn: out of memory\n");
        abort();
    }
    iob_drive_strip_date(&d->out);
}

static void assert_alike(const struct iob_drive *whole, const struct iob_drive *other,
                         const char *how, bool is_exact)
{
    const struct iob_buf *a = is_exact ? &whole->out : &whole->statuses;
    const struct iob_buf *b = is_exact ? &other->out : &other->statuses;
    if (whole->closed == other->closed && a->len == b->len &&
        (a->len == 0 || memcmp(a->data, b->data, a->len) == 0))
        return;
    fprintf(stderr,
            "fuzz_conn: sent %s, the answers differ from the input sent whole:\n"
            "close %d vs %d\n--- whole:\n%s\n--- %s:\n%s\n",
            how, whole->closed, other->closed, a->data ? a->data : "", how, b->data ? b->data : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bytes = (const char *)data;
    bool is_exact = !is_varying(bytes, size);
    struct iob_drive whole, split, bytewise;
    run(&whole, bytes, size, 0, 0);
    run(&split, bytes, size, split_point(data, size), 0);
    run(&bytewise, bytes, size, 1, 1);
    assert_alike(&whole, &split, "in two reads", is_exact);
    assert_alike(&whole, &bytewise, "byte by byte", is_exact);
    /* The client goes quiet: the timeout policy on whatever state the input left. */
    iob_drive_timeout(&whole);
    iob_drive_fini(&whole);
    iob_drive_fini(&split);
    iob_drive_fini(&bytewise);
    return 0;
}
