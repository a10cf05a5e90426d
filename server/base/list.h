/* An intrusive doubly linked list: each element embeds a struct iob_link, and a list is a
 * pointer to its first link (NULL: empty), so a zeroed owner holds an empty list. An element
 * joins at the front and leaves from anywhere in O(1), with no allocation; iob_container_of()
 * gets the element back from its link. Not thread-safe: the owner locks if it must. */
#pragma once
#include "server/base/container.h"

struct iob_link {
    struct iob_link *prev, *next;
};

static inline void iob_list_push(struct iob_link **head, struct iob_link *l)
{
    l->prev = NULL;
    l->next = *head;
    if (*head)
        (*head)->prev = l;
    *head = l;
}

static inline void iob_list_unlink(struct iob_link **head, struct iob_link *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        *head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
}
