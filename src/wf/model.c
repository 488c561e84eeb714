/*
 * wf/model: the workflow file as a tree of placed nodes, and its jobs.
 * See model.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "wf/model.h"
#include "wf/wf.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "base/banned.h"

struct wf {
	struct arena arena;
	const char *name;
	struct wf_node *root;
	const struct wf_node *on, *env;
	size_t njobs;
	struct wf_job *jobs;
	size_t *order;
};

const struct wf_node *wf_get(const struct wf_node *m, const char *key)
{
	if (!m || m->kind != WF_MAP)
		return NULL;
	for (size_t i = 0; i < m->len; i++) {
		const struct wf_node *k = m->kv[2 * i];
		if (k->kind == WF_SCALAR && !strcmp(k->s, key))
			return m->kv[2 * i + 1];
	}
	return NULL;
}

const char *wf_str(const struct wf_node *n)
{
	return n && n->kind == WF_SCALAR ? n->s : NULL;
}

static int node_error(struct diag *d, const char *file, const struct wf_node *n, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/* Sets an input error at node n (or the top of the file). */
static int node_error(struct diag *d, const char *file, const struct wf_node *n, const char *fmt,
                      ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_set(d, DIAG_INPUT, "%s", "");
	strbuf_reset(&d->msg);
	strbuf_vaddf(&d->msg, fmt, ap);
	va_end(ap);
	d->loc = n ? n->loc : (struct srcloc){file, 1, 1};
	return -1;
}

static int load_tree(struct wf *w, const char *text, size_t len, struct diag *d)
{
	if (wf_load_nodes(text, len, w->name, &w->arena, &w->root, d) < 0)
		return -1;
	if (!w->root)
		return node_error(d, w->name, NULL, "the workflow is empty");
	return 0;
}

/* Reads one step: a mapping with optional name, id, run, if. */
static int load_step(struct wf *w, const struct wf_node *n, struct wf_step *s, struct diag *d)
{
	if (n->kind != WF_MAP)
		return node_error(d, w->name, n, "a step must be a mapping");
	s->node = n;
	s->name = wf_str(wf_get(n, "name"));
	s->id = wf_str(wf_get(n, "id"));
	s->run = wf_get(n, "run");
	s->if_ = wf_get(n, "if");
	return 0;
}

static int load_job(struct wf *w, const struct wf_node *key, const struct wf_node *n,
                    struct wf_job *j, struct diag *d)
{
	j->id = key->s;
	j->loc = key->loc;
	j->node = n;
	if (n->kind != WF_MAP)
		return node_error(d, w->name, n, "job '%s' must be a mapping", j->id);
	j->name = wf_get(n, "name");
	j->if_ = wf_get(n, "if");
	j->runs_on = wf_get(n, "runs-on");
	j->outputs = wf_get(n, "outputs");
	j->env = wf_get(n, "env");
	j->strategy = wf_get(n, "strategy");
	j->matrix = wf_get(j->strategy, "matrix");
	const struct wf_node *c = wf_get(n, "container");
	j->image = c && c->kind == WF_SCALAR ? c : wf_get(c, "image");
	if (j->if_ && j->if_->kind != WF_SCALAR)
		return node_error(d, w->name, j->if_, "job '%s': if must be a string", j->id);
	if (j->env && j->env->kind != WF_MAP && j->env->kind != WF_SCALAR)
		return node_error(d, w->name, j->env, "job '%s': env must be a mapping", j->id);
	if (j->outputs && j->outputs->kind != WF_MAP)
		return node_error(d, w->name, j->outputs, "job '%s': outputs must be a mapping",
		                  j->id);
	if (j->strategy && j->strategy->kind != WF_MAP)
		return node_error(d, w->name, j->strategy, "job '%s': strategy must be a mapping",
		                  j->id);

	const struct wf_node *needs = wf_get(n, "needs");
	if (needs) {
		size_t k = needs->kind == WF_SEQ ? needs->len : 1;
		j->needs = arena_alloc(&w->arena, k * sizeof(*j->needs));
		j->needs_nodes = arena_alloc(
		    &w->arena, k * sizeof(j->needs_nodes[0])); // NOLINT(bugprone-sizeof-expression)
		for (size_t i = 0; i < k; i++) {
			const struct wf_node *e = needs->kind == WF_SEQ ? needs->kv[i] : needs;
			if (e->kind != WF_SCALAR)
				return node_error(
				    d, w->name, e,
				    "job '%s': needs must name jobs (a string or a list)", j->id);
			j->needs[i] = e->s;
			j->needs_nodes[i] = e;
		}
		j->nneeds = k;
	}

	const struct wf_node *steps = wf_get(n, "steps");
	if (steps) {
		if (steps->kind != WF_SEQ)
			return node_error(d, w->name, steps, "job '%s': steps must be a list",
			                  j->id);
		j->nsteps = steps->len;
		j->steps =
		    arena_alloc(&w->arena, (steps->len ? steps->len : 1) * sizeof(*j->steps));
		for (size_t i = 0; i < steps->len; i++)
			if (load_step(w, steps->kv[i], &j->steps[i], d) < 0)
				return -1;
	}
	return 0;
}

/*
 * Orders jobs so that each follows what it needs (a depth-first walk in
 * file order); a cycle or an unknown name is an error at the `needs` entry.
 */
static int order_jobs(struct wf *w, struct diag *d)
{
	enum { NEW, OPEN, DONE };
	unsigned char *state = xcalloc(w->njobs ? w->njobs : 1, 1);
	size_t *stack = xcalloc(w->njobs ? w->njobs : 1, sizeof(*stack));
	size_t *next = xcalloc(w->njobs ? w->njobs : 1, sizeof(*next));
	size_t filled = 0;
	int rc = 0;
	w->order = arena_alloc(&w->arena, (w->njobs ? w->njobs : 1) * sizeof(*w->order));
	for (size_t s = 0; s < w->njobs && !rc; s++) {
		if (state[s] != NEW)
			continue;
		size_t top = 0;
		stack[top++] = s;
		state[s] = OPEN;
		next[s] = 0;
		while (top && !rc) {
			size_t j = stack[top - 1];
			const struct wf_job *job = &w->jobs[j];
			if (next[j] == job->nneeds) {
				state[j] = DONE;
				w->order[filled++] = j;
				top--;
				continue;
			}
			size_t k = next[j]++;
			const struct wf_job *dep = wf_job_find(w, job->needs[k]);
			if (!dep) {
				diag_set(d, DIAG_INPUT,
				         "job '%s' needs '%s', which is not a job here", job->id,
				         job->needs[k]);
				d->loc = job->needs_nodes[k]->loc;
				rc = -1;
				break;
			}
			size_t di = (size_t)(dep - w->jobs);
			if (state[di] == OPEN) {
				diag_set(d, DIAG_INPUT,
				         "jobs '%s' and '%s' need each other (a cycle)", job->id,
				         dep->id);
				d->loc = job->needs_nodes[k]->loc;
				rc = -1;
			} else if (state[di] == NEW) {
				state[di] = OPEN;
				next[di] = 0;
				stack[top++] = di;
			}
		}
	}
	free(state);
	free(stack);
	free(next);
	return rc;
}

int wf_parse_yaml(const char *text, size_t len, const char *name, struct wf **out, struct diag *d)
{
	struct wf *w = xcalloc(1, sizeof(*w));
	w->name = arena_strndup(&w->arena, name, strlen(name));
	*out = NULL;
	if (load_tree(w, text, len, d) < 0) {
		if (d->loc.file == w->name || d->loc.line)
			d->loc.file = name;
		wf_free(w);
		return -1;
	}
	w->order = arena_alloc(&w->arena, sizeof(*w->order));
	*out = w;
	return 0;
}

int wf_parse(const char *text, size_t len, const char *name, struct wf **out, struct diag *d)
{
	struct wf *w = xcalloc(1, sizeof(*w));
	/* Nodes carry the arena's copy of the name; an error carries the caller's. */
	w->name = arena_strndup(&w->arena, name, strlen(name));
	*out = NULL;
	if (load_tree(w, text, len, d) < 0)
		goto fail;
	if (w->root->kind != WF_MAP) {
		node_error(d, w->name, w->root, "a workflow must be a mapping");
		goto fail;
	}
	w->on = wf_get(w->root, "on");
	if (!w->on)
		w->on = wf_get(w->root, "true"); /* `on:` read as YAML 1.1's true */
	w->env = wf_get(w->root, "env");
	const struct wf_node *jobs = wf_get(w->root, "jobs");
	if (!jobs) {
		node_error(d, w->name, NULL, "the workflow has no 'jobs'");
		goto fail;
	}
	if (jobs->kind != WF_MAP) {
		node_error(d, w->name, jobs, "'jobs' must be a mapping of job ids to jobs");
		goto fail;
	}
	w->njobs = jobs->len;
	w->jobs = arena_alloc(&w->arena, (jobs->len ? jobs->len : 1) * sizeof(*w->jobs));
	for (size_t i = 0; i < jobs->len; i++)
		if (load_job(w, jobs->kv[2 * i], jobs->kv[2 * i + 1], &w->jobs[i], d) < 0)
			goto fail;
	if (order_jobs(w, d) < 0)
		goto fail;
	*out = w;
	return 0;
fail:
	if (d->loc.file == w->name || d->loc.line)
		d->loc.file = name;
	wf_free(w);
	return -1;
}

int wf_load(const char *path, struct wf **out, struct diag *d)
{
	struct strbuf text = STRBUF_INIT;
	*out = NULL;
	int rc = fs_read_all(path, &text, d);
	if (rc == 0)
		rc = wf_parse(text.buf, text.len, path, out, d);
	strbuf_release(&text);
	return rc;
}

const char *wf_name(const struct wf *w)
{
	return w->name;
}

const struct wf_node *wf_root(const struct wf *w)
{
	return w->root;
}

const struct wf_node *wf_env(const struct wf *w)
{
	return w->env && w->env->kind == WF_MAP ? w->env : NULL;
}

bool wf_on(const struct wf *w, const char *event, const struct wf_node **config)
{
	const struct wf_node *on = w->on;
	if (config)
		*config = NULL;
	if (!on)
		return false;
	if (on->kind == WF_SCALAR)
		return !strcmp(on->s, event);
	if (on->kind == WF_SEQ) {
		for (size_t i = 0; i < on->len; i++)
			if (on->kv[i]->kind == WF_SCALAR && !strcmp(on->kv[i]->s, event))
				return true;
		return false;
	}
	for (size_t i = 0; i < on->len; i++)
		if (!strcmp(on->kv[2 * i]->s, event)) {
			if (config)
				*config = on->kv[2 * i + 1];
			return true;
		}
	return false;
}

size_t wf_njobs(const struct wf *w)
{
	return w->njobs;
}

const struct wf_job *wf_job_at(const struct wf *w, size_t i)
{
	return i < w->njobs ? &w->jobs[i] : NULL;
}

const struct wf_job *wf_job_find(const struct wf *w, const char *id)
{
	for (size_t i = 0; i < w->njobs; i++)
		if (!strcmp(w->jobs[i].id, id))
			return &w->jobs[i];
	return NULL;
}

const size_t *wf_job_order(const struct wf *w)
{
	return w->order;
}

/* Whether s[0..len) is all of a YAML 1.2 core-schema int; stores it in *out. */
static bool core_int(const char *s, size_t len, int64_t *out)
{
	if (!len)
		return false;
	const char *p = s;
	int base = 10;
	bool neg = false;
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		p += 2;
	} else if (*p == '-' || *p == '+') {
		neg = *p == '-';
		p++;
	}
	if (p == s + len)
		return false;
	for (const char *q = p; q < s + len; q++) {
		bool ok = base == 16 ? ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
		                        (*q >= 'A' && *q <= 'F'))
		                     : (*q >= '0' && *q < '0' + (base == 8 ? 8 : 10));
		if (!ok)
			return false;
	}
	errno = 0;
	char *end;
	long long v = strtoll(p, &end, base);
	if (errno || end != s + len)
		return false;
	*out = neg ? -v : v;
	return true;
}

/* Whether s is a YAML 1.2 core-schema float; stores it in *out. */
static bool core_float(const char *s, size_t len, double *out)
{
	static const char *const inf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"};
	static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF"};
	for (size_t i = 0; i < sizeof(inf) / sizeof(*inf); i++)
		if (!strcmp(s, inf[i])) {
			*out = __builtin_inf();
			return true;
		}
	for (size_t i = 0; i < sizeof(ninf) / sizeof(*ninf); i++)
		if (!strcmp(s, ninf[i])) {
			*out = -__builtin_inf();
			return true;
		}
	if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
		*out = __builtin_nan("");
		return true;
	}
	/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
	const char *p = s, *end = s + len;
	if (p < end && (*p == '-' || *p == '+'))
		p++;
	size_t digits = 0;
	while (p < end && *p >= '0' && *p <= '9')
		p++, digits++;
	if (p < end && *p == '.') {
		p++;
		while (p < end && *p >= '0' && *p <= '9')
			p++, digits++;
	}
	if (!digits)
		return false;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '-' || *p == '+'))
			p++;
		size_t e = 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++, e++;
		if (!e)
			return false;
	}
	if (p != end)
		return false;
	*out = strtod(s, NULL);
	return true;
}

struct value wf_value(const struct wf_node *n, struct arena *a)
{
	if (!n)
		return value_none();
	switch (n->kind) {
	case WF_SEQ: {
		struct value v = value_list(a, n->len);
		for (size_t i = 0; i < n->len; i++)
			v.list->items[i] = wf_value(n->kv[i], a);
		return v;
	}
	case WF_MAP: {
		struct value v = value_dict_sized(a, n->len);
		for (size_t i = 0; i < n->len; i++)
			vdict_set(a, v.dict, value_str_static(n->kv[2 * i]->s),
			          wf_value(n->kv[2 * i + 1], a));
		return v;
	}
	default:
		break;
	}
	if (n->plain) {
		const char *s = n->s;
		int64_t i;
		double f;
		if (!n->len || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
		    !strcmp(s, "NULL"))
			return value_none();
		if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
			return value_bool(true);
		if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
			return value_bool(false);
		if (core_int(s, n->len, &i))
			return value_int(i);
		if (core_float(s, n->len, &f))
			return value_float(f);
	}
	return (struct value){.kind = V_STR, .str = {n->s, n->len}};
}

/* Whether every key of `part` is in `whole` with an equal value. */
static bool dict_matches(const struct vdict *whole, const struct vdict *part)
{
	for (size_t i = 0; i < part->n; i++) {
		struct value *v = vdict_get(whole, part->keys[i]);
		if (!v || !value_equal(*v, part->vals[i]))
			return false;
	}
	return true;
}

static struct value dict_copy(struct arena *a, const struct vdict *src)
{
	struct value v = value_dict_sized(a, src->n + 4);
	for (size_t i = 0; i < src->n; i++)
		vdict_set(a, v.dict, src->keys[i], src->vals[i]);
	return v;
}

static int matrix_error(struct diag *d, const struct srcloc *at, const char *msg, const char *arg)
{
	diag_set(d, DIAG_INPUT, "%s%s", msg, arg ? arg : "");
	if (at)
		d->loc = *at;
	return -1;
}

int wf_matrix_expand(struct value matrix, struct arena *a, const struct srcloc *at,
                     struct value *entries, struct diag *d)
{
	if (matrix.kind != V_DICT)
		return matrix_error(d, at, "strategy.matrix must be a mapping, not ",
		                    value_type_name(matrix));
	const struct vdict *m = matrix.dict;
	struct value include = value_none(), exclude = value_none();

	/* The cartesian product of the list-valued keys, first key outermost. */
	size_t nkeys = 0, total = 1;
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->keys[i].str.s;
		if (!strcmp(k, "include")) {
			include = m->vals[i];
			continue;
		}
		if (!strcmp(k, "exclude")) {
			exclude = m->vals[i];
			continue;
		}
		if (m->vals[i].kind != V_LIST) {
			diag_set(d, DIAG_INPUT, "matrix key '%s' must be a list", k);
			if (at)
				d->loc = *at;
			return -1;
		}
		nkeys++;
		total *= m->vals[i].list->n;
		if (total > 1u << 20)
			return matrix_error(
			    d, at, "the matrix has more than a million combinations", NULL);
	}
	size_t n = nkeys ? total : 0;
	struct value *combos = arena_alloc(a, (n ? n : 1) * sizeof(*combos));
	size_t *added_from = NULL; /* keys before this index are original */
	for (size_t c = 0; c < n; c++) {
		combos[c] = value_dict_sized(a, nkeys + 4);
		size_t rest = c, span = total;
		for (size_t i = 0; i < m->n; i++) {
			const char *k = m->keys[i].str.s;
			if (!strcmp(k, "include") || !strcmp(k, "exclude"))
				continue;
			const struct vlist *l = m->vals[i].list;
			span /= l->n;
			vdict_set(a, combos[c].dict, m->keys[i], l->items[rest / span]);
			rest %= span;
		}
	}

	if (exclude.kind != V_NONE) {
		if (exclude.kind != V_LIST)
			return matrix_error(d, at, "matrix 'exclude' must be a list of mappings",
			                    NULL);
		size_t kept = 0;
		for (size_t c = 0; c < n; c++) {
			bool drop = false;
			for (size_t e = 0; e < exclude.list->n && !drop; e++) {
				struct value x = exclude.list->items[e];
				if (x.kind != V_DICT)
					return matrix_error(
					    d, at, "matrix 'exclude' must be a list of mappings",
					    NULL);
				drop = dict_matches(combos[c].dict, x.dict);
			}
			if (!drop)
				combos[kept++] = combos[c];
		}
		n = kept;
	}

	size_t count = n;
	if (include.kind != V_NONE) {
		if (include.kind != V_LIST)
			return matrix_error(d, at, "matrix 'include' must be a list of mappings",
			                    NULL);
		size_t cap = n + include.list->n;
		struct value *grown = arena_alloc(a, (cap ? cap : 1) * sizeof(*grown));
		memcpy(grown, combos, n * sizeof(*grown));
		combos = grown;
		added_from = arena_alloc(a, (cap ? cap : 1) * sizeof(*added_from));
		for (size_t c = 0; c < n; c++)
			added_from[c] = combos[c].dict->n;
		for (size_t e = 0; e < include.list->n; e++) {
			struct value x = include.list->items[e];
			if (x.kind != V_DICT)
				return matrix_error(
				    d, at, "matrix 'include' must be a list of mappings", NULL);
			bool merged = false;
			for (size_t c = 0; c < n; c++) {
				/* Original values may not change; added ones may. */
				const struct vdict *cd = combos[c].dict;
				bool fits = true;
				for (size_t k = 0; k < x.dict->n && fits; k++) {
					for (size_t o = 0; o < added_from[c]; o++)
						if (value_equal(cd->keys[o], x.dict->keys[k]) &&
						    !value_equal(cd->vals[o], x.dict->vals[k]))
							fits = false;
				}
				if (!fits)
					continue;
				for (size_t k = 0; k < x.dict->n; k++)
					vdict_set(a, combos[c].dict, x.dict->keys[k],
					          x.dict->vals[k]);
				merged = true;
			}
			if (!merged) {
				combos[count] = dict_copy(a, x.dict);
				added_from[count] = 0;
				count++;
			}
		}
	}
	struct value out = value_list(a, count);
	memcpy(out.list->items, combos, count * sizeof(*combos));
	*entries = out;
	return 0;
}

void wf_free(struct wf *w)
{
	if (!w)
		return;
	arena_release(&w->arena);
	free(w);
}

bool wf_job_static_matrix(const struct wf_job *j, struct arena *a, struct value *entries)
{
	if (!j->matrix || j->matrix->kind != WF_MAP)
		return false;
	struct diag d = DIAG_INIT;
	int rc = wf_matrix_expand(wf_value(j->matrix, a), a, &j->matrix->loc, entries, &d);
	diag_release(&d);
	return rc == 0;
}
