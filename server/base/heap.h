/* A binary min-heap of timers, keyed by a monotonic time: the caller embeds a node in each
 * object that may wait and gets it back from iob_heap_top() with iob_container_of(). A node
 * knows its place, so a timer that is no longer wanted leaves in O(log n). Not thread-safe:
 * one owner. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "server/base/container.h"

struct iob_heap_node {
    uint64_t at_ns;
    size_t index; /* its place in the heap; IOB_HEAP_NONE when not in one */
};
#define IOB_HEAP_NONE ((size_t)-1)

/* The key beside the node: comparisons never touch the nodes, which live wherever their
 * owners do (a fiber's stack each), so a sift costs no cache or TLB miss per level. */
struct iob_heap_entry {
    uint64_t at_ns;
    struct iob_heap_node *node;
};

struct iob_heap {
    struct iob_heap_entry *v;
    size_t n, cap;
};

/* An empty heap (owns nothing until iob_heap_reserve()). */
void iob_heap_init(struct iob_heap *h);
void iob_heap_fini(struct iob_heap *h);
/* Makes room for n nodes, so iob_heap_push() cannot fail below that. Returns 0 or -ENOMEM. */
int iob_heap_reserve(struct iob_heap *h, size_t n);
/* Adds node (not in a heap, at_ns set); room must have been reserved. */
void iob_heap_push(struct iob_heap *h, struct iob_heap_node *node);
/* Gives node the key at_ns: moves it if it is in the heap, else adds it (room reserved). */
void iob_heap_set(struct iob_heap *h, struct iob_heap_node *node, uint64_t at_ns);
/* Takes node out; a node in no heap is left alone. */
void iob_heap_remove(struct iob_heap *h, struct iob_heap_node *node);
/* The earliest node, or NULL when empty. */
struct iob_heap_node *iob_heap_top(const struct iob_heap *h);
