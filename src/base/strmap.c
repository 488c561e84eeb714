#include "base/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

/* FNV-1a, 64 bits, finalized. */
static uint64_t hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	/* murmur3's finalizer: the low bits index the table, so mix the high ones in. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static struct strmap_slot *find(const struct strmap *m, const char *key, size_t len)
{
	size_t mask = m->cap - 1;
	for (size_t i = (size_t)hash(key, len) & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key || (s->len == len && !memcmp(s->key, key, len)))
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key, size_t len)
{
	if (!m->cap)
		return NULL;
	struct strmap_slot *s = find(m, key, len);
	return s->key ? s->val : NULL;
}

static void grow(struct strmap *m)
{
	struct strmap old = *m;
	m->cap = old.cap ? 2 * old.cap : 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			*find(m, old.slots[i].key, old.slots[i].len) = old.slots[i];
	free(old.slots);
}

void *strmap_put(struct strmap *m, const char *key, size_t len, void *val)
{
	if (2 * (m->n + 1) > m->cap) /* at most half full */
		grow(m);
	struct strmap_slot *s = find(m, key, len);
	if (s->key) {
		void *old = s->val;
		s->val = val;
		return old;
	}
	*s = (struct strmap_slot){key, len, val};
	m->n++;
	return NULL;
}

void strmap_release(struct strmap *m)
{
	free(m->slots);
	*m = (struct strmap){0};
}
