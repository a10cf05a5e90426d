/* The object that embeds a member (a list link, a heap node), from a pointer to that member. */
#pragma once
#include <stddef.h>

#define iob_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
