/*
 * strmap: a hash table from byte strings to pointers, for the lookups that
 * must stay linear in what they index (a mapping's keys, lint's files).
 * Keys are borrowed, not copied: they must outlive the map.
 */
#ifndef GPUCI_BASE_STRMAP_H
#define GPUCI_BASE_STRMAP_H

#include <stddef.h>

struct strmap_slot {
	const char *key; /* NULL: empty */
	size_t len;
	void *val;
};

struct strmap {
	size_t n, cap; /* cap: 0 or a power of two */
	struct strmap_slot *slots;
};

#define STRMAP_INIT                                                                                \
	{                                                                                          \
		0                                                                                  \
	}

/* The value of key[0..len), or NULL when it is not there. */
void *strmap_get(const struct strmap *m, const char *key, size_t len);
/* Sets key[0..len) to val (not NULL); returns its old value, or NULL when it is new. */
void *strmap_put(struct strmap *m, const char *key, size_t len, void *val);
void strmap_release(struct strmap *m);

#endif
