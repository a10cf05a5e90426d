/* The timer heap (heap.h): an array of (key, node) entries, each node holding its own index. */
#include "server/base/heap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

void iob_heap_init(struct iob_heap *h)
{
    *h = (struct iob_heap){0};
}

void iob_heap_fini(struct iob_heap *h)
{
    free(h->v);
    *h = (struct iob_heap){0};
}

int iob_heap_reserve(struct iob_heap *h, size_t n)
{
    if (n <= h->cap)
        return 0;
    size_t cap = h->cap ? h->cap : 64;
    while (cap < n)
        cap *= 2;
    struct iob_heap_entry *v = realloc(h->v, cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    h->v = v;
    h->cap = cap;
    return 0;
}

static void place(struct iob_heap *h, size_t i, struct iob_heap_entry e)
{
    h->v[i] = e;
    e.node->index = i;
}

/* Moves the entry at i up or down until the order holds again. */
static void settle(struct iob_heap *h, size_t i)
{
    struct iob_heap_entry e = h->v[i];
    while (i > 0 && h->v[(i - 1) / 2].at_ns > e.at_ns) {
        place(h, i, h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1].at_ns < h->v[c].at_ns)
            c++;
        if (h->v[c].at_ns >= e.at_ns)
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, e);
}

static bool holds(const struct iob_heap *h, const struct iob_heap_node *node)
{
    size_t i = node->index;
    return i != IOB_HEAP_NONE && i < h->n && h->v[i].node == node;
}

void iob_heap_push(struct iob_heap *h, struct iob_heap_node *node)
{
    place(h, h->n++, (struct iob_heap_entry){node->at_ns, node});
    settle(h, h->n - 1);
}

void iob_heap_set(struct iob_heap *h, struct iob_heap_node *node, uint64_t at_ns)
{
    node->at_ns = at_ns;
    if (!holds(h, node)) {
        iob_heap_push(h, node);
        return;
    }
    h->v[node->index].at_ns = at_ns;
    settle(h, node->index);
}

void iob_heap_remove(struct iob_heap *h, struct iob_heap_node *node)
{
    if (!holds(h, node))
        return;
    size_t i = node->index;
    node->index = IOB_HEAP_NONE;
    struct iob_heap_entry last = h->v[--h->n];
    if (i < h->n) {
        place(h, i, last);
        settle(h, i);
    }
}

struct iob_heap_node *iob_heap_top(const struct iob_heap *h)
{
    return h->n ? h->v[0].node : NULL;
}
