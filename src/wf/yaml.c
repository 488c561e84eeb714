/* wf/yaml: libyaml's events as placed nodes. See wf.h. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "wf/wf.h"
#include "base/strmap.h"
#include "base/xalloc.h"
#include "wf/model.h"
#include "base/banned.h"

static void syntax_error(yaml_parser_t *parser, const char *name, struct diag *d)
{
	/* libyaml's marks count from 0. */
	yaml_mark_t m = parser->problem_mark;
	diag_set(d, DIAG_INPUT, "not valid YAML: %s%s%s",
	         parser->problem ? parser->problem : "parse error", parser->context ? " " : "",
	         parser->context ? parser->context : "");
	d->loc = (struct srcloc){name, (unsigned)m.line + 1, (unsigned)m.column + 1};
}

static struct srcloc mark_loc(const char *name, yaml_mark_t m)
{
	return (struct srcloc){name, (unsigned)m.line + 1, (unsigned)m.column + 1};
}

static int too_deep(struct diag *d, struct srcloc at)
{
	diag_set(d, DIAG_INPUT, "YAML nested deeper than %d levels", WF_MAX_DEPTH);
	d->loc = at;
	return -1;
}

int wf_check_yaml(const char *text, size_t len, const char *name, struct diag *d)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return diag_set(d, DIAG_SYSTEM, "cannot start the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc = 0, depth = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&parser, name, d);
			rc = -1;
			break;
		}
		bool end = ev.type == YAML_STREAM_END_EVENT;
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > WF_MAX_DEPTH) {
				rc = too_deep(d, mark_loc(name, ev.start_mark));
				end = true;
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT ||
		           ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		yaml_event_delete(&ev);
		if (end)
			break;
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- the tree ------------------------------------------------------------- */

/* An anchored node and what it costs where an alias repeats it. */
struct anchored {
	struct wf_node *n;
	size_t size;     /* nodes, aliases expanded */
	unsigned height; /* levels below it */
};

/* A collection being read. */
struct frame {
	struct wf_node *n;
	struct wf_node **kids; /* seq: items; map: key, value, ... */
	size_t nkids, cap;
	size_t size;        /* nodes so far, itself included, aliases expanded */
	unsigned height;    /* levels below it so far */
	char *anchor;       /* registered when it ends (an alias inside it is undefined) */
	struct strmap keys; /* map: its keys, once it has more than a few */
};

struct builder {
	const char *name;
	struct arena *a;
	struct diag *d;
	struct frame *stack;
	size_t depth, cap;
	struct strmap anchors; /* name (owned) -> struct anchored (owned) */
	struct wf_node *root;
	size_t root_size;
};

static int node_fail(struct builder *b, const struct wf_node *at, const char *msg, const char *key)
{
	if (key)
		diag_set(b->d, DIAG_INPUT, "%s '%s'", msg, key);
	else
		diag_set(b->d, DIAG_INPUT, "%s", msg);
	b->d->loc = at->loc;
	return -1;
}

/* Whether key, the key just added to map frame f, is new; linear for a few keys. */
static bool key_is_new(struct frame *f, struct wf_node *key)
{
	size_t nkeys = f->nkids / 2; /* before this one */
	if (nkeys < 8) {
		for (size_t i = 0; i < nkeys; i++) {
			const struct wf_node *k = f->kids[2 * i];
			if (k->len == key->len && !memcmp(k->s, key->s, key->len))
				return false;
		}
		if (nkeys == 7) /* the next key finds them hashed */
			for (size_t i = 0; i <= nkeys; i++) {
				struct wf_node *k = i < nkeys ? f->kids[2 * i] : key;
				strmap_put(&f->keys, k->s, k->len, k);
			}
		return true;
	}
	return strmap_put(&f->keys, key->s, key->len, key) == NULL;
}

/* Adds a finished node (of size nodes, height levels) where it belongs. */
static int add_node(struct builder *b, struct wf_node *n, size_t size, unsigned height,
                    const struct srcloc *at)
{
	if (b->depth + height > WF_MAX_DEPTH)
		return too_deep(b->d, *at);
	if (!b->depth) {
		b->root = n;
		b->root_size = size;
		return 0;
	}
	struct frame *f = &b->stack[b->depth - 1];
	if (size > WF_MAX_NODES - f->size) {
		diag_set(b->d, DIAG_INPUT,
		         "YAML aliases expand to more than %d nodes (an alias bomb?)",
		         WF_MAX_NODES);
		b->d->loc = *at;
		return -1;
	}
	if (f->n->kind == WF_MAP && f->nkids % 2 == 0) {
		if (n->kind != WF_SCALAR)
			return node_fail(b, n, "a mapping key must be a scalar", NULL);
		if (!key_is_new(f, n))
			return node_fail(b, n, "duplicate key", n->s);
	}
	if (f->nkids == f->cap)
		f->kids =
		    xrealloc(f->kids, (f->cap = f->cap ? 2 * f->cap : 8) *
		                          sizeof(f->kids[0])); // NOLINT(bugprone-sizeof-expression)
	f->kids[f->nkids++] = n;
	f->size += size;
	if (height + 1 > f->height)
		f->height = height + 1;
	return 0;
}

static void anchor(struct builder *b, const yaml_char_t *name, struct wf_node *n, size_t size,
                   unsigned height)
{
	if (!name)
		return;
	struct anchored *x = xmalloc(sizeof(*x));
	*x = (struct anchored){n, size, height};
	char *key = xstrdup((const char *)name);
	/* A redefined anchor: later aliases mean the new node; the slot keeps its key. */
	struct anchored *old = strmap_put(&b->anchors, key, strlen(key), x);
	if (old) {
		free(old);
		free(key);
	}
}

static struct wf_node *new_node(struct builder *b, enum wf_node_kind kind, yaml_mark_t m)
{
	struct wf_node *n = arena_alloc(b->a, sizeof(*n));
	n->kind = kind;
	n->loc = mark_loc(b->name, m);
	return n;
}

static int on_event(struct builder *b, yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		struct wf_node *n = new_node(b, WF_SCALAR, ev->start_mark);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->len = ev->data.scalar.length;
		n->s = arena_strndup(b->a, (const char *)ev->data.scalar.value, n->len);
		if (add_node(b, n, 1, 0, &n->loc) < 0)
			return -1;
		anchor(b, ev->data.scalar.anchor, n, 1, 0);
		return 0;
	}
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		struct anchored *x = strmap_get(&b->anchors, name, strlen(name));
		struct srcloc at = mark_loc(b->name, ev->start_mark);
		if (!x) {
			diag_set(b->d, DIAG_INPUT, "not valid YAML: found undefined alias '%s'",
			         name);
			b->d->loc = at;
			return -1;
		}
		return add_node(b, x->n, x->size, x->height, &at);
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
		struct wf_node *n = new_node(b, seq ? WF_SEQ : WF_MAP, ev->start_mark);
		if (b->depth + 1 > WF_MAX_DEPTH)
			return too_deep(b->d, n->loc);
		if (b->depth == b->cap)
			b->stack = xrealloc(b->stack, (b->cap = b->cap ? 2 * b->cap : 16) *
			                                  sizeof(*b->stack));
		const yaml_char_t *an =
		    seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
		b->stack[b->depth++] = (struct frame){
		    .n = n, .size = 1, .anchor = an ? xstrdup((const char *)an) : NULL};
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		if (!b->depth) /* libyaml pairs them; never an end without a start */
			return 0;
		struct frame f = b->stack[--b->depth];
		struct wf_node *n = f.n;
		n->len = n->kind == WF_MAP ? f.nkids / 2 : f.nkids;
		n->kv =
		    arena_alloc(b->a, (f.nkids ? f.nkids : 1) *
		                          sizeof(n->kv[0])); // NOLINT(bugprone-sizeof-expression)
		if (f.nkids)
			memcpy(n->kv, f.kids,
			       f.nkids * sizeof(n->kv[0])); // NOLINT(bugprone-sizeof-expression)
		free(f.kids);
		strmap_release(&f.keys);
		int rc = add_node(b, n, f.size, f.height, &n->loc);
		if (rc == 0)
			anchor(b, (const yaml_char_t *)f.anchor, n, f.size, f.height);
		free(f.anchor);
		return rc;
	}
	default:
		return 0;
	}
}

static void builder_release(struct builder *b)
{
	while (b->depth) {
		struct frame *f = &b->stack[--b->depth];
		free(f->kids);
		free(f->anchor);
		strmap_release(&f->keys);
	}
	free(b->stack);
	for (size_t i = 0; i < b->anchors.cap; i++)
		if (b->anchors.slots[i].key) {
			free((char *)b->anchors.slots[i].key);
			free(b->anchors.slots[i].val);
		}
	strmap_release(&b->anchors);
}

int wf_load_nodes(const char *text, size_t len, const char *name, struct arena *a,
                  struct wf_node **root, struct diag *d)
{
	*root = NULL;
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return diag_set(d, DIAG_SYSTEM, "cannot start the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	struct builder b = {.name = name, .a = a, .d = d};
	int rc = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&parser, name, d);
			rc = -1;
			break;
		}
		/* The first document only, as yaml_parser_load() reads it. */
		bool end = ev.type == YAML_STREAM_END_EVENT || ev.type == YAML_DOCUMENT_END_EVENT;
		rc = on_event(&b, &ev);
		yaml_event_delete(&ev);
		if (end || rc < 0)
			break;
	}
	if (rc == 0)
		*root = b.root;
	builder_release(&b);
	yaml_parser_delete(&parser);
	return rc;
}
