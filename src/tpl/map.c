/*
 * Source maps (tpl.h: tpl_render_map): what the renderer notes while it
 * renders with a map (tpl_int.h: tpl_map_*), and the lookup.
 *
 * A map is a list of segments in output order, each the start of one
 * append: copied text (len bytes of the template from src on) or the
 * output of one expression (every byte at src). Appends are the only way
 * output grows, so each segment runs to the start of the next.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tpl/tpl_int.h"
#include "base/xalloc.h"
#include "base/banned.h"

struct seg {
	size_t out;   /* where it starts, from the start of its buffer's recording */
	uint32_t src; /* offset in the template's normalized text */
	uint32_t len; /* copied text: its length; 0: every byte comes from src */
};

struct segs {
	struct seg *v;
	size_t n, cap;
};

/* The recording of one buffer: the output, or a body being rendered. */
struct rec {
	const struct strbuf *out;
	size_t base; /* out->len when the recording began */
	struct segs segs;
};

/* A body that became a string value, with its segments (offsets from 0). */
struct done {
	const char *s; /* the value's bytes: the key; NULL: an empty slot */
	size_t len;
	const struct seg *v;
	size_t n;
};

struct tpl_mapper {
	struct rec *cur;
	struct arena arena; /* the segments of finished bodies */
	struct done *tab;   /* open addressing on the string's address */
	size_t tab_cap, tab_n;
};

struct tpl_map {
	struct seg *v;
	size_t n;
	size_t len;      /* of the output */
	uint32_t *lines; /* where each template line starts in the normalized text */
	size_t nlines;
};

static void push(struct segs *s, struct seg g)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = g;
}

static size_t slot(const struct tpl_mapper *m, const char *s)
{
	uint64_t h = (uint64_t)(uintptr_t)s * UINT64_C(0x9e3779b97f4a7c15);
	return (size_t)(h >> 17) & (m->tab_cap - 1);
}

static const struct done *lookup(const struct tpl_mapper *m, const char *s)
{
	if (!m->tab_n)
		return NULL;
	for (size_t i = slot(m, s);; i = (i + 1) & (m->tab_cap - 1)) {
		if (!m->tab[i].s)
			return NULL;
		if (m->tab[i].s == s)
			return &m->tab[i];
	}
}

static void insert(struct tpl_mapper *m, struct done e)
{
	if (2 * (m->tab_n + 1) > m->tab_cap) {
		struct done *old = m->tab;
		size_t n = m->tab_cap;
		m->tab_cap = n ? 2 * n : 64;
		m->tab = xcalloc(m->tab_cap, sizeof(*m->tab));
		m->tab_n = 0;
		for (size_t i = 0; i < n; i++)
			if (old[i].s)
				insert(m, old[i]);
		free(old);
	}
	size_t i = slot(m, e.s);
	while (m->tab[i].s && m->tab[i].s != e.s)
		i = (i + 1) & (m->tab_cap - 1);
	m->tab_n += !m->tab[i].s;
	m->tab[i] = e;
}

/* The recording of out, or NULL when out is not the buffer being recorded. */
static struct rec *recording(struct tpl_mapper *m, const struct strbuf *out, size_t at)
{
	struct rec *r = m->cur;
	return r && r->out == out && out->len > at && at >= r->base ? r : NULL;
}

void tpl_map_text(struct tpl_mapper *m, const struct strbuf *out, size_t at, uint32_t src)
{
	struct rec *r = recording(m, out, at);
	if (r)
		push(&r->segs, (struct seg){at - r->base, src, (uint32_t)(out->len - at)});
}

void tpl_map_value(struct tpl_mapper *m, const struct strbuf *out, size_t at, struct value v,
                   uint32_t src)
{
	struct rec *r = recording(m, out, at);
	if (!r)
		return;
	const struct done *e = v.kind == V_STR ? lookup(m, v.str.s) : NULL;
	if (e && e->len == v.str.len && out->len - at == e->len) {
		for (size_t i = 0; i < e->n; i++)
			push(&r->segs,
			     (struct seg){at - r->base + e->v[i].out, e->v[i].src, e->v[i].len});
		return;
	}
	push(&r->segs, (struct seg){at - r->base, src, 0});
}

void *tpl_map_body_begin(struct tpl_mapper *m, const struct strbuf *sb)
{
	struct rec *r = xcalloc(1, sizeof(*r));
	r->out = sb;
	r->base = sb->len;
	void *saved = m->cur;
	m->cur = r;
	return saved;
}

void tpl_map_body_end(struct tpl_mapper *m, void *saved, struct value v)
{
	struct rec *r = m->cur;
	if (v.kind == V_STR && v.str.len && r->segs.n) {
		struct seg *copy = arena_alloc(&m->arena, r->segs.n * sizeof(*copy));
		memcpy(copy, r->segs.v, r->segs.n * sizeof(*copy));
		insert(m, (struct done){v.str.s, v.str.len, copy, r->segs.n});
	}
	free(r->segs.v);
	free(r);
	m->cur = saved;
}

int tpl_render_map(const struct tpl *t, const struct vdict *vars, struct strbuf *out,
                   struct tpl_map **map, struct diag *d)
{
	*map = NULL;
	struct tpl_mapper m = {0};
	struct rec top = {.out = out, .base = out->len};
	m.cur = &top;
	int rc = tpl_render_into(t, vars, out, &m, d);
	if (rc == 0) {
		struct tpl_map *mp = xcalloc(1, sizeof(*mp));
		mp->v = top.segs.v;
		mp->n = top.segs.n;
		mp->len = out->len - top.base;
		top.segs.v = NULL;
		size_t nl = 1;
		for (size_t i = 0; i < t->len; i++)
			nl += t->src[i] == '\n';
		mp->lines = xmalloc(nl * sizeof(*mp->lines));
		mp->lines[mp->nlines++] = 0;
		for (size_t i = 0; i < t->len; i++)
			if (t->src[i] == '\n')
				mp->lines[mp->nlines++] = (uint32_t)(i + 1);
		*map = mp;
	}
	free(top.segs.v);
	free(m.tab);
	arena_release(&m.arena);
	return rc;
}

bool tpl_map_find(const struct tpl_map *m, size_t out_offset, unsigned *line, unsigned *col)
{
	if (!m || out_offset >= m->len || !m->n || m->v[0].out > out_offset)
		return false;
	/* The last segment that starts at or before the offset. */
	size_t lo = 0, hi = m->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].out <= out_offset)
			lo = mid;
		else
			hi = mid;
	}
	const struct seg *g = &m->v[lo];
	size_t k = out_offset - g->out;
	if (g->len && k >= g->len)
		return false; /* a byte no append made: cannot be, see the top */
	uint32_t src = g->src + (g->len ? (uint32_t)k : 0);
	lo = 0;
	hi = m->nlines;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->lines[mid] <= src)
			lo = mid;
		else
			hi = mid;
	}
	*line = (unsigned)lo + 1;
	*col = src - m->lines[lo] + 1;
	return true;
}

void tpl_map_free(struct tpl_map *m)
{
	if (!m)
		return;
	free(m->v);
	free(m->lines);
	free(m);
}
