/*
 * arena: a bump allocator for things that die together (the values of one
 * render, the nodes of one template). Nothing is freed one by one;
 * arena_release() frees everything at once.
 */
#ifndef GPUCI_BASE_ARENA_H
#define GPUCI_BASE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t used, size; /* within head */
};

#define ARENA_INIT                                                                                 \
	{                                                                                          \
		0                                                                                  \
	}

/* Zeroed memory, aligned for any type; never NULL (aborts on OOM). */
void *arena_alloc(struct arena *a, size_t n);
/* A NUL-terminated copy of s[0..len) in the arena. */
char *arena_strndup(struct arena *a, const char *s, size_t len);
void arena_release(struct arena *a);

#endif
