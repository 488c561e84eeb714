/*
 * plan/entry: matrix entries as the Execute step and people see them: the
 * mapping that holds test_file, its GPUs, its path, a description, its
 * identity, and what tells apart entries that share a description.
 */
#include <stdlib.h>
#include <string.h>

#include "plan/plan_int.h"
#include "base/xalloc.h"
#include "base/banned.h"

void plan_json(struct value v, struct strbuf *out)
{
	switch (v.kind) {
	case V_NONE:
	case V_UNDEF:
		strbuf_adds(out, "null");
		break;
	case V_BOOL:
		strbuf_adds(out, v.b ? "true" : "false");
		break;
	case V_INT:
		strbuf_addf(out, "%lld", (long long)v.i);
		break;
	case V_FLOAT:
		if (v.f != v.f || v.f - v.f != 0) /* NaN, infinities: not JSON */
			strbuf_adds(out, "null");
		else
			value_float_repr(v.f, out);
		break;
	case V_STR:
		strbuf_add_json_str(out, v.str.s);
		break;
	case V_LIST:
		strbuf_addch(out, '[');
		for (size_t i = 0; i < v.list->n; i++) {
			if (i)
				strbuf_addch(out, ',');
			plan_json(v.list->items[i], out);
		}
		strbuf_addch(out, ']');
		break;
	case V_DICT:
		strbuf_addch(out, '{');
		for (size_t i = 0; i < v.dict->n; i++) {
			if (i)
				strbuf_addch(out, ',');
			struct strbuf k = STRBUF_INIT;
			value_str_into(v.dict->keys[i], &k);
			strbuf_add_json_str(out, k.buf);
			strbuf_release(&k);
			strbuf_addch(out, ':');
			plan_json(v.dict->vals[i], out);
		}
		strbuf_addch(out, '}');
		break;
	default:
		strbuf_adds(out, "null");
	}
}

struct value plan_entry_fields(struct value entry, const char *key)
{
	if (entry.kind != V_DICT)
		return value_none();
	if (get(entry, key))
		return entry;
	for (size_t i = 0; i < entry.dict->n; i++)
		if (entry.dict->vals[i].kind == V_DICT && get(entry.dict->vals[i], key))
			return entry.dict->vals[i];
	return value_none();
}

int64_t plan_entry_gpus(struct value entry)
{
	struct value f = plan_entry_fields(entry, "num_gpus");
	struct value *n = get(f, "num_gpus");
	if (!n)
		return 0;
	if (n->kind == V_INT && n->i > 0)
		return n->i;
	if (n->kind == V_STR)
		return strtoll(n->str.s, NULL, 10) > 0 ? strtoll(n->str.s, NULL, 10) : 0;
	return 0;
}

bool plan_entry_gpus_valid(struct value entry, int64_t max, struct value *bad)
{
	struct value *n = get(plan_entry_fields(entry, "num_gpus"), "num_gpus");
	if (!n)
		return true;
	*bad = *n;
	if (n->kind == V_INT)
		return n->i >= 0 && n->i <= max;
	if (n->kind != V_STR || !n->str.len || n->str.len > 18)
		return false;
	for (size_t i = 0; i < n->str.len; i++) /* '4' works in the Execute script too */
		if (n->str.s[i] < '0' || n->str.s[i] > '9')
			return false;
	return strtoll(n->str.s, NULL, 10) <= max;
}

void plan_entry_describe(struct value entry, struct strbuf *out)
{
	struct value f = plan_entry_fields(entry, "test_file");
	struct value *t = get(f, "test_file");
	if (!t) {
		plan_json(entry, out);
		return;
	}
	value_str_into(*t, out);
	struct value *args = get(f, "test_args");
	if (args && args->kind != V_NONE) {
		size_t before = out->len;
		strbuf_addch(out, ' ');
		value_str_into(*args, out);
		if (out->len == before + 1)
			strbuf_setlen(out, before);
	}
}

bool plan_test_path(const char *f, struct strbuf *out, struct strbuf *why)
{
	if (!*f || f[0] == '/') {
		strbuf_addf(why, "test_file '%s' is not a relative path", f);
		return false;
	}
	for (const char *c = f; *c;) {
		size_t len = strcspn(c, "/");
		if (len == 2 && !strncmp(c, "..", 2)) {
			strbuf_addf(why, "test_file '%s' leaves the repository", f);
			return false;
		}
		c += len + (c[len] == '/');
	}
	if (strncmp(f, "tests/", 6) != 0)
		strbuf_adds(out, "tests/");
	strbuf_adds(out, f);
	return true;
}

/* ---- identity ---------------------------------------------------------- */

struct keyed {
	const char *key;
	struct value v;
};

static int cmp_keyed(const void *x, const void *y)
{
	return strcmp(((const struct keyed *)x)->key, ((const struct keyed *)y)->key);
}

/* A dict's entries sorted by key (keys as strings); the caller frees. */
static struct keyed *sorted(struct value dict, struct strbuf *keys)
{
	size_t n = dict.dict->n;
	struct keyed *v = xcalloc(n ? n : 1, sizeof(*v));
	size_t *off = xcalloc(n ? n : 1, sizeof(*off));
	for (size_t i = 0; i < n; i++) {
		off[i] = keys->len;
		value_str_into(dict.dict->keys[i], keys);
		strbuf_addch(keys, '\0');
	}
	for (size_t i = 0; i < n; i++)
		v[i] = (struct keyed){keys->buf + off[i], dict.dict->vals[i]};
	free(off);
	qsort(v, n, sizeof(*v), cmp_keyed);
	return v;
}

/* Canonical JSON: keys sorted at every level; fields' test_file as its path. */
static void canonical(struct value v, struct value fields, struct strbuf *out, int depth)
{
	if (v.kind != V_DICT || depth > 32) {
		plan_json(v, out);
		return;
	}
	struct strbuf keys = STRBUF_INIT;
	struct keyed *kv = sorted(v, &keys);
	strbuf_addch(out, '{');
	for (size_t i = 0; i < v.dict->n; i++) {
		if (i)
			strbuf_addch(out, ',');
		strbuf_add_json_str(out, kv[i].key);
		strbuf_addch(out, ':');
		struct strbuf path = STRBUF_INIT, why = STRBUF_INIT;
		if (v.dict == fields.dict && !strcmp(kv[i].key, "test_file") &&
		    kv[i].v.kind == V_STR && plan_test_path(kv[i].v.str.s, &path, &why))
			strbuf_add_json_str(out, path.buf);
		else
			canonical(kv[i].v, fields, out, depth + 1);
		strbuf_release(&path);
		strbuf_release(&why);
	}
	strbuf_addch(out, '}');
	free(kv);
	strbuf_release(&keys);
}

void plan_entry_identity(struct value entry, struct strbuf *out)
{
	canonical(entry, plan_entry_fields(entry, "test_file"), out, 0);
}

/* ---- variants ----------------------------------------------------------- */

/*
 * The keys that make an entry what it is beyond its description: those of
 * its fields mapping but test_file and test_args, and the entry's own keys
 * but the one holding that mapping (a matrix of info plus other keys).
 */
static size_t variant_keys(struct value entry, struct strbuf *keys, struct keyed **out)
{
	struct value f = plan_entry_fields(entry, "test_file");
	size_t n = 0, cap = 8;
	struct keyed *v = xcalloc(cap, sizeof(*v));
	struct value dicts[2] = {f, entry};
	for (int d = 0; d < 2; d++) {
		if (dicts[d].kind != V_DICT || (d == 1 && dicts[1].dict == f.dict))
			continue;
		struct keyed *kv = sorted(dicts[d], keys);
		for (size_t i = 0; i < dicts[d].dict->n; i++) {
			if (d == 0 &&
			    (!strcmp(kv[i].key, "test_file") || !strcmp(kv[i].key, "test_args")))
				continue;
			if (d == 1 && kv[i].v.kind == V_DICT && kv[i].v.dict == f.dict)
				continue;
			if (n == cap)
				v = xrealloc(v, (cap *= 2) * sizeof(*v));
			v[n++] = kv[i];
		}
		free(kv);
	}
	*out = v;
	return n;
}

static const struct value *find_key(const struct keyed *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].key, key))
			return &v[i].v;
	return NULL;
}

static bool same_value(const struct value *a, const struct value *b)
{
	if (!a || !b)
		return a == b;
	struct strbuf x = STRBUF_INIT, y = STRBUF_INIT;
	plan_json(*a, &x);
	plan_json(*b, &y);
	bool same = !strcmp(x.buf, y.buf);
	strbuf_release(&x);
	strbuf_release(&y);
	return same;
}

/* A value as the suffix shows it: a string without quotes, anything else as JSON. */
static void show_value(struct value v, struct strbuf *out)
{
	if (v.kind == V_STR)
		strbuf_adds(out, v.str.s);
	else
		plan_json(v, out);
}

void plan_entry_variants(const struct value *entries, size_t n, struct arena *a,
                         const char **suffix)
{
	struct strbuf *desc = xcalloc(n ? n : 1, sizeof(*desc));
	struct strbuf *keys = xcalloc(n ? n : 1, sizeof(*keys));
	struct keyed **kv = xcalloc(n ? n : 1, sizeof(struct keyed *));
	size_t *nkv = xcalloc(n ? n : 1, sizeof(*nkv));
	for (size_t i = 0; i < n; i++) {
		desc[i] = (struct strbuf)STRBUF_INIT;
		keys[i] = (struct strbuf)STRBUF_INIT;
		plan_entry_describe(entries[i], &desc[i]);
		nkv[i] = variant_keys(entries[i], &keys[i], &kv[i]);
		suffix[i] = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		/* The group of entries with this description, and which keys differ in it. */
		size_t group = 0, nth = 0;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(desc[j].buf, desc[i].buf)) {
				group++;
				nth += j < i;
			}
		if (group < 2)
			continue;
		struct strbuf set = STRBUF_INIT, unset = STRBUF_INIT, s = STRBUF_INIT;
		/* Every key any entry of the group has, each once, in sorted order per entry. */
		for (size_t j = 0; j < n; j++) {
			if (strcmp(desc[j].buf, desc[i].buf) != 0)
				continue;
			for (size_t k = 0; k < nkv[j]; k++) {
				const char *key = kv[j][k].key;
				bool first = true; /* the first entry of the group that has key */
				for (size_t m = 0; m < j && first; m++)
					first = strcmp(desc[m].buf, desc[i].buf) != 0 ||
					        !find_key(kv[m], nkv[m], key);
				if (!first)
					continue;
				bool differs = false;
				for (size_t m = 0; m < n && !differs; m++)
					if (!strcmp(desc[m].buf, desc[i].buf))
						differs = !same_value(find_key(kv[m], nkv[m], key),
						                      &kv[j][k].v);
				if (!differs)
					continue;
				const struct value *mine = find_key(kv[i], nkv[i], key);
				if (mine) {
					strbuf_addf(&set, "%s%s=", set.len ? " " : "", key);
					show_value(*mine, &set);
				} else {
					strbuf_addf(&unset, "%s%s", unset.len ? ", " : "without ",
					            key);
				}
			}
		}
		strbuf_adds(&s, "[");
		strbuf_add(&s, set.buf, set.len);
		if (set.len && unset.len)
			strbuf_adds(&s, "; ");
		strbuf_add(&s, unset.buf, unset.len);
		if (!set.len && !unset.len) /* the same entry twice (lint: duplicate-entry) */
			strbuf_addf(&s, "#%zu", nth + 1);
		strbuf_addch(&s, ']');
		suffix[i] = arena_strndup(a, s.buf, s.len);
		strbuf_release(&set);
		strbuf_release(&unset);
		strbuf_release(&s);
	}
	for (size_t i = 0; i < n; i++) {
		strbuf_release(&desc[i]);
		strbuf_release(&keys[i]);
		free(kv[i]);
	}
	free(desc);
	free(keys);
	free(kv);
	free(nkv);
}

const char *plan_job_not_run(const struct plan_job *pj)
{
	if (pj->state != PLAN_RUNS || !pj->matrix_known)
		return NULL;
	if (!pj->has_matrix)
		return "no matrix";
	for (size_t i = 0; i < pj->nentries; i++)
		if (get(plan_entry_fields(pj->entries[i], "test_file"), "test_file"))
			return NULL;
	return pj->nentries ? "no test_file in its matrix" : NULL;
}
