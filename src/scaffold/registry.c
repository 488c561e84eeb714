/*
 * registry: see registry.h.
 *
 * Three layers. tpl_sets() gives the `set NAME = ...` statements of the
 * template with the tokens of their values, read by the template engine's
 * own lexer (so comments, raw blocks and strings are what they are when
 * the template renders); a template it cannot tokenize ends the reading
 * there, as it ends tpl_compile(). The parser reads the value of each `set`
 * into a tree of the literals a registry is made of: strings, ints, names,
 * lists, dicts and sums; anything else becomes an N_OTHER node, skipped
 * bracket by bracket. The assembly finds the dicts of jobs, resolves each
 * job's `tests`, and decides whether reg_add could add a line to it.
 *
 * struct reg keeps lines, not byte offsets, so reg_add scans the text again
 * for the offsets (a template is small; the scan is linear).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scaffold/registry.h"
#include "tpl/tpl.h"
#include "base/xalloc.h"
#include "base/banned.h"

/* Nesting deeper than this is not a registry: it is skipped, not parsed. */
#define MAX_DEPTH 200
#define NO_POS    SIZE_MAX

/* ---- the value of a `set` ---- */

enum node_kind { N_OTHER, N_STR, N_INT, N_NAME, N_LIST, N_DICT, N_SUM };

struct node {
	enum node_kind kind;
	size_t start, end;  /* src[start..end); start == end for a missing operand */
	const char *s;      /* N_STR: the value, unescaped; N_NAME: the name */
	int64_t i;          /* N_INT */
	size_t n;           /* N_LIST items, N_DICT pairs, N_SUM operands */
	struct node **kids; /* N_DICT: the key of pair k at 2k, its value at 2k + 1 */
	size_t *comma;      /* N_LIST: offset of the ',' after item k, NO_POS if none */
	size_t list_idx;    /* its index in reg.lists, NO_POS if none */
	size_t owner;       /* the first job whose tests are this list, NO_POS if none */
	size_t seen;        /* 1 + the job whose message last named its owners */
};

struct set_stmt {
	const char *name;
	size_t at; /* offset of the name */
	struct node *value;
	size_t ndefs;    /* `set` statements of this name in the template */
	bool referenced; /* a job's tests name it */
};

enum tests_state {
	TS_NONE,     /* no 'tests' key */
	TS_OTHER,    /* not a list, a name or a sum of those */
	TS_UNKNOWN,  /* a name no `set` sets */
	TS_NOT_LIST, /* a name set to something else than a list literal */
	TS_ONE,
	TS_SUM,
};

struct job_info {
	const struct node *key, *dict;
	size_t set; /* the `set` of the registry */
	enum tests_state state;
	const char *bad_name; /* TS_UNKNOWN, TS_NOT_LIST */
	size_t nparts;
	struct node **parts; /* the lists, in order */
	size_t *part_set;    /* the `set` that holds part k, NO_POS when written in place */
	size_t next_owner;   /* the next job with the same list as tests, NO_POS if none */
};

struct name_ref {
	const char *name;
	size_t idx;
};

struct scan {
	const char *src;
	size_t len;
	struct reg *r;
	struct diag *d;
	struct arena tmp; /* tokens' values and nodes: what dies with the scan */
	size_t *lines;    /* offset of the first byte of each line */
	size_t nlines;
	struct set_stmt *sets;
	size_t nsets, setcap;
	struct name_ref *names; /* the sets, by name then order */
	struct job_info *jobs;
	size_t njobs, jobcap;
	struct node **list_nodes; /* r->lists[k] was read from list_nodes[k] */
};

/* ---- lines ---- */

/* Lines end at "\n", "\r\n" or a lone "\r", as Jinja2 counts them. */
static void index_lines(struct scan *sc)
{
	size_t n = 1;
	for (size_t i = 0; i < sc->len; i++)
		if (sc->src[i] == '\n' ||
		    (sc->src[i] == '\r' && (i + 1 >= sc->len || sc->src[i + 1] != '\n')))
			n++;
	sc->lines = xmalloc(n * sizeof(*sc->lines));
	sc->lines[0] = 0;
	sc->nlines = 1;
	for (size_t i = 0; i < sc->len; i++)
		if (sc->src[i] == '\n' ||
		    (sc->src[i] == '\r' && (i + 1 >= sc->len || sc->src[i + 1] != '\n')))
			sc->lines[sc->nlines++] = i + 1;
}

/* The 1-based line of offset off. */
static unsigned line_of(const struct scan *sc, size_t off)
{
	size_t lo = 0, hi = sc->nlines; /* lines[lo] <= off < lines[hi] */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (sc->lines[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo + 1 >= UINT32_MAX ? UINT32_MAX : (unsigned)(lo + 1);
}

/* The line of a node's last byte. */
static unsigned end_line_of(const struct scan *sc, const struct node *x)
{
	return line_of(sc, x->end > x->start ? x->end - 1 : x->start);
}

/* ---- the parser: literals, names and sums ---- */

struct parser {
	struct scan *sc;
	const struct tpl_set_tok *t;
	size_t n, i;
};

struct vec {
	void **v;
	size_t n, cap;
};

static void vec_push(struct vec *v, void *x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = x;
}

struct offsets {
	size_t *v;
	size_t n, cap;
};

static void offsets_push(struct offsets *o, size_t x)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 8;
		o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
	}
	o->v[o->n++] = x;
}

static bool is_op(const struct parser *p, size_t i, char c)
{
	return i < p->n && p->t[i].kind == TPL_TOK_OP && p->t[i].s[0] == c && !p->t[i].s[1];
}

static bool is_open(const struct parser *p, size_t i)
{
	return is_op(p, i, '[') || is_op(p, i, '(') || is_op(p, i, '{');
}

static bool is_close(const struct parser *p, size_t i)
{
	return is_op(p, i, ']') || is_op(p, i, ')') || is_op(p, i, '}');
}

/* Where an expression inside brackets ends. */
static bool is_stop(const struct parser *p, size_t i)
{
	return i >= p->n || is_close(p, i) || is_op(p, i, ',') || is_op(p, i, ':');
}

/* Skips to after the bracket that closes the one open before p->i. */
static void skip_rest(struct parser *p)
{
	size_t depth = 0;
	for (; p->i < p->n; p->i++) {
		if (is_open(p, p->i)) {
			depth++;
		} else if (is_close(p, p->i)) {
			if (depth == 0) {
				p->i++;
				return;
			}
			depth--;
		}
	}
}

/* Skips to the end of the expression at p->i: a ',', ':' or closing bracket outside brackets. */
static void skip_to_stop(struct parser *p)
{
	size_t depth = 0;
	for (; p->i < p->n; p->i++) {
		if (is_open(p, p->i)) {
			depth++;
		} else if (is_close(p, p->i)) {
			if (depth == 0)
				return;
			depth--;
		} else if (depth == 0 && (is_op(p, p->i, ',') || is_op(p, p->i, ':'))) {
			return;
		}
	}
}

/* A node of kind from token first to the token before p->i. */
static struct node *new_node(struct parser *p, enum node_kind kind, size_t first)
{
	struct node *x = arena_alloc(&p->sc->tmp, sizeof(*x));
	x->kind = kind;
	x->list_idx = x->owner = NO_POS;
	if (first < p->i) {
		x->start = p->t[first].start;
		x->end = p->t[p->i - 1].end;
	} else {
		x->start = x->end = first < p->n ? p->t[first].start
		                    : p->n       ? p->t[p->n - 1].end
		                                 : 0;
	}
	return x;
}

static struct node **kids_of(struct parser *p, struct vec *v)
{
	struct node **kids = NULL;
	if (v->n) {
		size_t size = v->n * sizeof(*kids); // NOLINT(bugprone-sizeof-expression)
		kids = arena_alloc(&p->sc->tmp, size);
		memcpy(kids, v->v, size);
	}
	return kids;
}

static struct node *parse_expr(struct parser *p, unsigned depth);

/* A list or dict literal at p->i (its opening bracket); N_OTHER when it is not one. */
static struct node *parse_container(struct parser *p, unsigned depth, bool dict)
{
	size_t first = p->i;
	if (depth >= MAX_DEPTH) {
		p->i++;
		skip_rest(p);
		return new_node(p, N_OTHER, first);
	}
	p->i++;
	char close = dict ? '}' : ']';
	struct vec kids = {0};
	struct offsets commas = {0};
	bool ok = true;
	for (;;) {
		if (p->i >= p->n) {
			ok = false;
			break;
		}
		if (is_op(p, p->i, close)) {
			p->i++;
			break;
		}
		struct node *key = parse_expr(p, depth + 1);
		vec_push(&kids, key);
		if (dict) {
			if (!is_op(p, p->i, ':')) {
				ok = false;
				skip_rest(p);
				break;
			}
			p->i++;
			vec_push(&kids, parse_expr(p, depth + 1));
		} else {
			offsets_push(&commas, NO_POS);
		}
		if (is_op(p, p->i, ',')) {
			if (!dict)
				commas.v[commas.n - 1] = p->t[p->i].start;
			p->i++;
			continue;
		}
		if (is_op(p, p->i, close)) {
			p->i++;
			break;
		}
		ok = false;
		skip_rest(p);
		break;
	}
	struct node *x = new_node(p, ok ? (dict ? N_DICT : N_LIST) : N_OTHER, first);
	if (ok) {
		x->kids = kids_of(p, &kids);
		x->n = dict ? kids.n / 2 : kids.n;
		if (!dict && kids.n) {
			x->comma = arena_alloc(&p->sc->tmp, kids.n * sizeof(*x->comma));
			memcpy(x->comma, commas.v, kids.n * sizeof(*x->comma));
		}
	}
	free(kids.v);
	free(commas.v);
	return x;
}

/* One operand: a literal, a name, or N_OTHER (nothing taken at a stop). */
static struct node *parse_operand(struct parser *p, unsigned depth)
{
	size_t first = p->i;
	if (is_stop(p, p->i))
		return new_node(p, N_OTHER, first);
	const struct tpl_set_tok *t = &p->t[p->i];
	if (is_op(p, p->i, '['))
		return parse_container(p, depth, false);
	if (is_op(p, p->i, '{'))
		return parse_container(p, depth, true);
	if (is_op(p, p->i, '(')) {
		p->i++;
		skip_rest(p);
		return new_node(p, N_OTHER, first);
	}
	p->i++;
	struct node *x;
	switch (t->kind) {
	case TPL_TOK_STRING:
		x = new_node(p, N_STR, first);
		x->s = t->s;
		return x;
	case TPL_TOK_INT:
		x = new_node(p, N_INT, first);
		x->i = t->i;
		return x;
	case TPL_TOK_NAME:
		x = new_node(p, N_NAME, first);
		x->s = t->s;
		return x;
	default:
		return new_node(p, N_OTHER, first);
	}
}

/*
 * An expression up to the next ',', ':' or closing bracket: an operand, or
 * a sum of operands; anything more makes it N_OTHER.
 */
static struct node *parse_expr(struct parser *p, unsigned depth)
{
	size_t first = p->i;
	struct node *x = parse_operand(p, depth);
	if (is_op(p, p->i, '+')) {
		struct vec ops = {0};
		vec_push(&ops, x);
		while (is_op(p, p->i, '+')) {
			p->i++;
			vec_push(&ops, parse_operand(p, depth));
		}
		x = new_node(p, N_SUM, first);
		x->kids = kids_of(p, &ops);
		x->n = ops.n;
		free(ops.v);
	}
	if (!is_stop(p, p->i)) {
		skip_to_stop(p);
		x = new_node(p, N_OTHER, first);
	}
	return x;
}

/* ---- reading the `set` statements ---- */

/* Records one `set NAME = ...`. */
static void add_set(struct scan *sc, const struct tpl_set *s)
{
	struct parser p = {.sc = sc, .t = s->toks, .n = s->ntoks};
	struct node *value = parse_expr(&p, 0);
	if (p.i < p.n) { /* `set x = a, b` (a tuple) or a stray closing bracket */
		p.i = p.n;
		value = new_node(&p, N_OTHER, 0);
	}
	if (sc->nsets == sc->setcap) {
		sc->setcap = sc->setcap ? sc->setcap * 2 : 16;
		sc->sets = xrealloc(sc->sets, sc->setcap * sizeof(*sc->sets));
	}
	sc->sets[sc->nsets++] =
	    (struct set_stmt){.name = s->name, .at = s->name_at, .value = value};
}

/* Whether the value of a `set` starts as a registry's does: with `[` or `{`. */
static bool starts_literal(const struct tpl_set *s)
{
	return s->ntoks && s->toks[0].kind == TPL_TOK_OP &&
	       (!strcmp(s->toks[0].s, "[") || !strcmp(s->toks[0].s, "{"));
}

/*
 * Reads every `set NAME = ...` of the template. Text that tpl's lexer
 * refuses ends the reading: inside a `set` of a list or dict literal that
 * is an error, elsewhere the rest of the template is left unread.
 */
static int read_sets(struct scan *sc)
{
	struct tpl_set *sets;
	size_t n;
	struct diag ld = DIAG_INIT;
	int rc = 0;
	if (tpl_sets(sc->src, sc->len, sc->r->file, NULL, &sc->tmp, &sets, &n, &ld) < 0 && n &&
	    sets[n - 1].cut) {
		const struct tpl_set *s = &sets[--n];
		if (starts_literal(s)) {
			sc->d->loc = ld.loc;
			rc = diag_set(sc->d, DIAG_INPUT,
			              "cannot read `set %s`: %s; fix the template", s->name,
			              ld.msg.buf);
		}
	}
	diag_release(&ld);
	/* An int literal beyond 64 bits (tpl keeps its text) is no count of GPUs. */
	for (size_t k = 0; k < n && rc == 0; k++)
		for (size_t j = 0; j < sets[k].ntoks && rc == 0 && starts_literal(&sets[k]); j++)
			if (sets[k].toks[j].kind == TPL_TOK_INT && sets[k].toks[j].s) {
				sc->d->loc.file = sc->r->file;
				sc->d->loc.line = sets[k].toks[j].line;
				rc = diag_set(
				    sc->d, DIAG_INPUT,
				    "cannot read `set %s`: integer literal too large (beyond "
				    "64 bits); fix the template",
				    sets[k].name);
			}
	for (size_t k = 0; k < n && rc == 0; k++)
		add_set(sc, &sets[k]);
	return rc;
}

/* ---- the registry ---- */

/* The value of key in a dict literal (the last one, as Jinja2 keeps it), NULL if none. */
static const struct node *dict_get(const struct node *dict, const char *key)
{
	const struct node *v = NULL;
	for (size_t k = 0; k < dict->n; k++)
		if (dict->kids[2 * k]->kind == N_STR && !strcmp(dict->kids[2 * k]->s, key))
			v = dict->kids[2 * k + 1];
	return v;
}

/* A dict literal with a dict literal value that has 'tests'. */
static bool is_registry(const struct node *x)
{
	if (x->kind != N_DICT)
		return false;
	for (size_t k = 0; k < x->n; k++) {
		const struct node *v = x->kids[2 * k + 1];
		if (v->kind == N_DICT && dict_get(v, "tests"))
			return true;
	}
	return false;
}

static int cmp_name_ref(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* The run [*lo, *hi) of refs with this name; refs sorted by cmp_name_ref. */
static void find_name(const struct name_ref *refs, size_t n, const char *name, size_t *lo,
                      size_t *hi)
{
	size_t a = 0, b = n;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (strcmp(refs[mid].name, name) < 0)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	while (b < n && !strcmp(refs[b].name, name))
		b++;
	*hi = b;
}

static void index_sets(struct scan *sc)
{
	if (!sc->nsets)
		return;
	sc->names = xmalloc(sc->nsets * sizeof(*sc->names));
	for (size_t k = 0; k < sc->nsets; k++)
		sc->names[k] = (struct name_ref){sc->sets[k].name, k};
	qsort(sc->names, sc->nsets, sizeof(*sc->names), cmp_name_ref);
	for (size_t a = 0, b; a < sc->nsets; a = b) {
		for (b = a + 1; b < sc->nsets && !strcmp(sc->names[a].name, sc->names[b].name); b++)
			;
		for (size_t k = a; k < b; k++)
			sc->sets[sc->names[k].idx].ndefs = b - a;
	}
}

/*
 * The `set` a name used at offset before refers to: the last one before it,
 * else the first after it (a macro may run later); NO_POS if none.
 */
static size_t resolve_name(const struct scan *sc, const char *name, size_t before)
{
	size_t lo, hi;
	find_name(sc->names, sc->nsets, name, &lo, &hi);
	if (lo == hi)
		return NO_POS;
	size_t a = lo, b = hi; /* the first with at >= before is at a */
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (sc->sets[sc->names[mid].idx].at < before)
			a = mid + 1;
		else
			b = mid;
	}
	return a > lo ? sc->names[a - 1].idx : sc->names[lo].idx;
}

/* Adds one list of a job's tests; false when it is not one. */
static bool add_part(struct scan *sc, struct job_info *j, struct node *x)
{
	if (x->kind == N_LIST) {
		j->parts[j->nparts] = x;
		j->part_set[j->nparts++] = NO_POS;
		return true;
	}
	if (x->kind != N_NAME) {
		j->state = TS_OTHER;
		return false;
	}
	size_t k = resolve_name(sc, x->s, sc->sets[j->set].at);
	if (k == NO_POS || sc->sets[k].value->kind != N_LIST) {
		j->state = k == NO_POS ? TS_UNKNOWN : TS_NOT_LIST;
		j->bad_name = x->s;
		return false;
	}
	j->parts[j->nparts] = sc->sets[k].value;
	j->part_set[j->nparts++] = k;
	return true;
}

static void resolve_tests(struct scan *sc, struct job_info *j)
{
	const struct node *t = dict_get(j->dict, "tests");
	if (!t) {
		j->state = TS_NONE;
		return;
	}
	bool sum = t->kind == N_SUM;
	size_t n = sum ? t->n : 1;
	j->parts =
	    arena_alloc(&sc->tmp, n * sizeof(*j->parts)); // NOLINT(bugprone-sizeof-expression)
	j->part_set = arena_alloc(&sc->tmp, n * sizeof(*j->part_set));
	bool ok = true;
	for (size_t k = 0; k < n && ok; k++)
		ok = add_part(sc, j, sum ? t->kids[k] : (struct node *)t);
	if (!ok) {
		j->nparts = 0;
		return;
	}
	j->state = sum ? TS_SUM : TS_ONE;
	for (size_t k = 0; k < j->nparts; k++)
		if (j->part_set[k] != NO_POS)
			sc->sets[j->part_set[k]].referenced = true;
}

static void find_jobs(struct scan *sc)
{
	for (size_t si = 0; si < sc->nsets; si++) {
		const struct node *reg = sc->sets[si].value;
		if (!is_registry(reg))
			continue;
		for (size_t k = 0; k < reg->n; k++) {
			const struct node *key = reg->kids[2 * k], *v = reg->kids[2 * k + 1];
			if (key->kind != N_STR || v->kind != N_DICT)
				continue;
			if (sc->njobs == sc->jobcap) {
				sc->jobcap = sc->jobcap ? sc->jobcap * 2 : 16;
				sc->jobs = xrealloc(sc->jobs, sc->jobcap * sizeof(*sc->jobs));
			}
			struct job_info *j = &sc->jobs[sc->njobs++];
			*j = (struct job_info){.key = key, .dict = v, .set = si};
			resolve_tests(sc, j);
		}
	}
	/* Each list's owners, in the template's order. */
	for (size_t k = sc->njobs; k-- > 0;) {
		struct job_info *j = &sc->jobs[k];
		j->next_owner = NO_POS;
		if (j->state == TS_ONE) {
			j->next_owner = j->parts[0]->owner;
			j->parts[0]->owner = k;
		}
	}
}

static bool has_dict_item(const struct node *list)
{
	for (size_t k = 0; k < list->n; k++)
		if (list->kids[k]->kind == N_DICT)
			return true;
	return false;
}

static const char *reg_strdup(struct scan *sc, const char *s)
{
	return s ? arena_strndup(&sc->r->arena, s, strlen(s)) : NULL;
}

static void fill_list(struct scan *sc, struct reg_list *l, const struct node *x, const char *name)
{
	l->name = reg_strdup(sc, name);
	l->line = line_of(sc, x->start);
	for (size_t k = 0; k < x->n; k++)
		l->n += x->kids[k]->kind == N_DICT;
	if (!l->n)
		return;
	l->entries = arena_alloc(&sc->r->arena, l->n * sizeof(*l->entries));
	size_t i = 0;
	for (size_t k = 0; k < x->n; k++) {
		const struct node *e = x->kids[k];
		if (e->kind != N_DICT)
			continue;
		const struct node *file = dict_get(e, "test_file"),
		                  *args = dict_get(e, "test_args"), *gpus = dict_get(e, "num_gpus");
		l->entries[i++] = (struct reg_entry){
		    .test_file = file && file->kind == N_STR ? reg_strdup(sc, file->s) : NULL,
		    .test_args = args && args->kind == N_STR ? reg_strdup(sc, args->s) : NULL,
		    .num_gpus = gpus && gpus->kind == N_INT ? gpus->i : -1,
		    .line = line_of(sc, e->start),
		};
	}
}

/*
 * r->lists, in the template's order: the `set` lists of entries and those
 * a job's tests name, and the lists written inside jobs.
 */
static void make_lists(struct scan *sc)
{
	struct vec nodes = {0}, names = {0};
	size_t jc = 0;
	for (size_t si = 0; si < sc->nsets; si++) {
		struct node *v = sc->sets[si].value;
		if (v->kind == N_LIST && v->list_idx == NO_POS &&
		    (sc->sets[si].referenced || has_dict_item(v))) {
			v->list_idx = nodes.n;
			vec_push(&nodes, v);
			vec_push(&names, (void *)sc->sets[si].name);
		}
		for (; jc < sc->njobs && sc->jobs[jc].set == si; jc++) {
			const struct job_info *j = &sc->jobs[jc];
			for (size_t k = 0; k < j->nparts; k++) {
				if (j->part_set[k] != NO_POS || j->parts[k]->list_idx != NO_POS)
					continue;
				j->parts[k]->list_idx = nodes.n;
				vec_push(&nodes, j->parts[k]);
				vec_push(&names, NULL);
			}
		}
	}
	struct reg *r = sc->r;
	r->nlists = nodes.n;
	if (nodes.n) {
		r->lists = arena_alloc(&r->arena, nodes.n * sizeof(*r->lists));
		sc->list_nodes = xmalloc(
		    nodes.n * sizeof(*sc->list_nodes)); // NOLINT(bugprone-sizeof-expression)
	}
	for (size_t k = 0; k < nodes.n; k++) {
		sc->list_nodes[k] = nodes.v[k];
		fill_list(sc, &r->lists[k], nodes.v[k], names.v[k]);
	}
	free(nodes.v);
	free(names.v);
}

/* Where and how reg_add writes its line; see list_check. */
struct insertion {
	size_t at;      /* offset of the new line */
	size_t comma;   /* of the comma after the last entry */
	const char *nl; /* the line end to give it: that of the line before */
	size_t nllen;
	unsigned line; /* of the line before it */
	const struct node *last;
};

enum list_problem {
	LP_OK,
	LP_EMPTY,
	LP_NOT_ENTRY,
	LP_ONE_LINE,
	LP_SHARED,
	LP_NO_COMMA,
	LP_TEXT_AFTER,
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

/*
 * Whether a line can go after the last entry of list, and where; *line
 * gets the line a problem is on.
 */
static enum list_problem list_check(const struct scan *sc, const struct node *list,
                                    struct insertion *ins, unsigned *line)
{
	const char *s = sc->src;
	*line = line_of(sc, list->start);
	if (list->n == 0)
		return LP_EMPTY;
	const struct node *last = list->kids[list->n - 1];
	unsigned first = line_of(sc, last->start);
	*line = first;
	if (last->kind != N_DICT)
		return LP_NOT_ENTRY;
	if (line_of(sc, list->start) == first)
		return LP_ONE_LINE;
	if (list->n >= 2 && end_line_of(sc, list->kids[list->n - 2]) >= first)
		return LP_SHARED;
	for (size_t p = sc->lines[first - 1]; p < last->start; p++)
		if (!is_blank(s[p]))
			return LP_SHARED;
	size_t comma = list->comma[list->n - 1];
	*line = end_line_of(sc, last);
	if (comma == NO_POS)
		return LP_NO_COMMA;
	*line = line_of(sc, comma);
	size_t p = comma + 1;
	while (p < sc->len && is_blank(s[p]))
		p++;
	if (p >= sc->len || (s[p] != '\n' && s[p] != '\r'))
		return LP_TEXT_AFTER;
	ins->nl = s + p;
	ins->nllen = s[p] == '\r' && p + 1 < sc->len && s[p + 1] == '\n' ? 2 : 1;
	ins->at = p + ins->nllen;
	ins->comma = comma;
	ins->line = *line;
	ins->last = last;
	return LP_OK;
}

/* Appends "J's tests list" with the list's name, for messages. */
static void add_list_desc(struct strbuf *sb, const char *job, const char *name)
{
	if (name)
		strbuf_addf(sb, "%s's tests list `%s`", job, name);
	else
		strbuf_addf(sb, "%s's tests list", job);
}

static void list_problem_msg(struct strbuf *sb, const char *job, const char *name,
                             enum list_problem lp, unsigned line)
{
	add_list_desc(sb, job, name);
	switch (lp) {
	case LP_OK:
		break;
	case LP_EMPTY:
		strbuf_addf(
		    sb, " (line %u) is empty: write its first entry by hand, then try again", line);
		break;
	case LP_NOT_ENTRY:
		strbuf_addf(sb,
		            " ends with an item that is not a test entry (line %u): end it with a "
		            "{'test_file': ...} entry, then try again",
		            line);
		break;
	case LP_ONE_LINE:
		strbuf_addf(sb,
		            " is on one line (line %u): put each entry on a line of its own, "
		            "then try again",
		            line);
		break;
	case LP_SHARED:
		strbuf_addf(sb,
		            " has its last entry on a line shared with another item (line %u): "
		            "put each entry on a line of its own, then try again",
		            line);
		break;
	case LP_NO_COMMA:
		strbuf_addf(sb,
		            " has no comma after its last entry (line %u): add one, then try again",
		            line);
		break;
	case LP_TEXT_AFTER:
		strbuf_addf(sb,
		            " has more text after its last entry's comma (line %u): move it to a "
		            "line of its own, then try again",
		            line);
		break;
	}
}

static const char *arena_sb(struct arena *a, struct strbuf *sb)
{
	const char *s = arena_strndup(a, sb->buf, sb->len);
	strbuf_release(sb);
	return s;
}

/* "short_tests + megatron_tests + [...] (line 9)", the first few. */
static void add_sum_desc(struct strbuf *sb, const struct scan *sc, const struct job_info *j)
{
	for (size_t k = 0; k < j->nparts; k++) {
		if (k == 12) {
			strbuf_adds(sb, " + ...");
			break;
		}
		if (k)
			strbuf_adds(sb, " + ");
		if (j->part_set[k] == NO_POS)
			strbuf_addf(sb, "[...] (line %u)", line_of(sc, j->parts[k]->start));
		else
			strbuf_adds(sb, sc->sets[j->part_set[k]].name);
	}
}

/*
 * Appends " (A, B)": the jobs whose tests are just one of the parts of job
 * jk (the first few); returns how many.
 */
static size_t add_owners(struct strbuf *sb, const struct scan *sc, size_t jk)
{
	const struct job_info *j = &sc->jobs[jk];
	size_t found = 0;
	for (size_t k = 0; k < j->nparts; k++) {
		struct node *part = j->parts[k];
		if (part->seen == jk + 1)
			continue; /* `a + a` */
		part->seen = jk + 1;
		for (size_t o = part->owner; o != NO_POS; o = sc->jobs[o].next_owner) {
			if (found == 12) {
				strbuf_adds(sb, ", ...");
				goto out;
			}
			strbuf_adds(sb, found++ ? ", " : " (");
			strbuf_adds(sb, sc->jobs[o].key->s);
		}
	}
out:
	if (found)
		strbuf_addch(sb, ')');
	return found;
}

static const char *why_not(struct scan *sc, size_t jk)
{
	const struct job_info *j = &sc->jobs[jk];
	struct strbuf sb = STRBUF_INIT;
	const char *id = j->key->s;
	switch (j->state) {
	case TS_NONE:
		strbuf_addf(&sb, "%s has no 'tests' list: give it one by hand, then try again", id);
		break;
	case TS_OTHER:
		strbuf_addf(&sb,
		            "%s's tests are not a list, the name of one or a sum of those: edit "
		            "the template by hand",
		            id);
		break;
	case TS_UNKNOWN:
		strbuf_addf(&sb,
		            "%s's tests are %s, which no `set` statement sets: edit the template "
		            "by hand",
		            id, j->bad_name);
		break;
	case TS_NOT_LIST:
		strbuf_addf(&sb,
		            "%s's tests are %s, which is not set to a list literal ([...]): edit "
		            "the template by hand",
		            id, j->bad_name);
		break;
	case TS_SUM:
		strbuf_addf(&sb, "%s's tests are ", id);
		add_sum_desc(&sb, sc, j);
		strbuf_adds(&sb, ": add the test to the job that owns one of those lists");
		if (add_owners(&sb, sc, jk))
			strbuf_addf(&sb, "; it reaches %s through it", id);
		else
			strbuf_addf(&sb, " (it reaches %s through it)", id);
		break;
	case TS_ONE: {
		size_t si = j->part_set[0];
		if (si != NO_POS && sc->sets[si].ndefs > 1) {
			const char *name = sc->sets[si].name;
			size_t lo, hi;
			find_name(sc->names, sc->nsets, name, &lo, &hi);
			strbuf_addf(&sb, "%s's tests are %s, which is set %zu times (lines ", id,
			            name, hi - lo);
			for (size_t k = lo; k < hi && k < lo + 5; k++)
				strbuf_addf(&sb, "%s%u", k > lo ? ", " : "",
				            line_of(sc, sc->sets[sc->names[k].idx].at));
			strbuf_addf(&sb, "%s): keep one `set %s = [...]`, then try again",
			            hi - lo > 5 ? ", ..." : "", name);
			break;
		}
		struct insertion ins;
		unsigned line;
		enum list_problem lp = list_check(sc, j->parts[0], &ins, &line);
		if (lp == LP_OK)
			return NULL;
		list_problem_msg(&sb, id, si != NO_POS ? sc->sets[si].name : NULL, lp, line);
		break;
	}
	}
	return arena_sb(&sc->r->arena, &sb);
}

/* A job id that more than one job has makes reg_add refuse all of them. */
static void mark_duplicate_jobs(struct scan *sc)
{
	struct reg *r = sc->r;
	struct name_ref *ids = xmalloc(r->njobs * sizeof(*ids));
	for (size_t k = 0; k < r->njobs; k++)
		ids[k] = (struct name_ref){r->jobs[k].id, k};
	qsort(ids, r->njobs, sizeof(*ids), cmp_name_ref);
	for (size_t a = 0, b; a < r->njobs; a = b) {
		for (b = a + 1; b < r->njobs && !strcmp(ids[a].name, ids[b].name); b++)
			;
		if (b - a < 2)
			continue;
		struct strbuf sb = STRBUF_INIT;
		strbuf_addf(&sb, "there are %zu jobs named %s (lines ", b - a, ids[a].name);
		for (size_t k = a; k < b && k < a + 5; k++)
			strbuf_addf(&sb, "%s%u", k > a ? ", " : "", r->jobs[ids[k].idx].line);
		strbuf_addf(&sb, "%s): keep one, then try again", b - a > 5 ? ", ..." : "");
		const char *msg = arena_sb(&r->arena, &sb);
		for (size_t k = a; k < b; k++)
			r->jobs[ids[k].idx].why_not = msg;
	}
	free(ids);
}

static void make_jobs(struct scan *sc)
{
	struct reg *r = sc->r;
	if (!sc->njobs)
		return;
	r->njobs = sc->njobs;
	r->jobs = arena_alloc(&r->arena, sc->njobs * sizeof(*r->jobs));
	for (size_t k = 0; k < sc->njobs; k++) {
		const struct job_info *j = &sc->jobs[k];
		struct reg_job *rj = &r->jobs[k];
		rj->id = reg_strdup(sc, j->key->s);
		rj->line = line_of(sc, j->key->start);
		rj->nlists = j->nparts;
		if (j->nparts) {
			rj->lists = arena_alloc(
			    &r->arena,
			    j->nparts * sizeof(*rj->lists)); // NOLINT(bugprone-sizeof-expression)
			for (size_t p = 0; p < j->nparts; p++)
				rj->lists[p] = &r->lists[j->parts[p]->list_idx];
		}
		rj->why_not = why_not(sc, k);
	}
	mark_duplicate_jobs(sc);
}

static void scan_release(struct scan *sc)
{
	arena_release(&sc->tmp);
	free(sc->lines);
	free(sc->sets);
	free(sc->names);
	free(sc->jobs);
	free(sc->list_nodes);
	memset(sc, 0, sizeof(*sc));
}

static int scan_run(struct scan *sc, const char *src, size_t len, const char *file, struct reg *r,
                    struct diag *d)
{
	memset(r, 0, sizeof(*r));
	r->file = file;
	memset(sc, 0, sizeof(*sc));
	sc->src = src;
	sc->len = src ? len : 0;
	sc->r = r;
	sc->d = d;
	index_lines(sc);
	if (read_sets(sc) < 0)
		return -1;
	index_sets(sc);
	find_jobs(sc);
	make_lists(sc);
	make_jobs(sc);
	return 0;
}

int reg_scan(const char *src, size_t len, const char *file, struct reg *r, struct diag *d)
{
	struct scan sc;
	int rc = scan_run(&sc, src, len, file, r, d);
	scan_release(&sc);
	return rc;
}

void reg_release(struct reg *r)
{
	arena_release(&r->arena);
	memset(r, 0, sizeof(*r));
}

const struct reg_job *reg_job_find(const struct reg *r, const char *id)
{
	for (size_t k = 0; k < r->njobs; k++)
		if (!strcmp(r->jobs[k].id, id))
			return &r->jobs[k];
	return NULL;
}

static bool same_args(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

/* The nth entry of job with test_file and test_args, NULL if none. */
static const struct reg_entry *find_entry(const struct reg_job *j, const char *test_file,
                                          const char *test_args, size_t nth)
{
	for (size_t l = 0; l < j->nlists; l++) {
		const struct reg_list *list = j->lists[l];
		for (size_t k = 0; k < list->n; k++) {
			const struct reg_entry *e = &list->entries[k];
			if (e->test_file && !strcmp(e->test_file, test_file) &&
			    same_args(e->test_args, test_args) && nth-- == 0)
				return e;
		}
	}
	return NULL;
}

unsigned reg_entry_line(const struct reg *r, const char *job, const char *test_file,
                        const char *test_args, size_t nth)
{
	const struct reg_job *j = reg_job_find(r, job);
	const struct reg_entry *e =
	    j && test_file ? find_entry(j, test_file, test_args, nth) : NULL;
	return e ? e->line : 0;
}

/* ---- reg_add ---- */

/* d, with its place set to file:line: for diag_set(place(d, ...), ...). */
static struct diag *place(struct diag *d, const char *file, unsigned line)
{
	d->loc = (struct srcloc){file, line, 0};
	return d;
}

static int no_such_job(const struct reg *r, const char *job, struct diag *d)
{
	if (!r->njobs)
		return diag_set(place(d, r->file, 0), DIAG_INPUT,
		                "no test registry found (a `set` of a dict of jobs, each with a "
		                "'tests' list): add the test by hand");
	struct strbuf names = STRBUF_INIT;
	for (size_t k = 0; k < r->njobs && k < 30; k++)
		strbuf_addf(&names, "%s%s", k ? ", " : "", r->jobs[k].id);
	if (r->njobs > 30)
		strbuf_adds(&names, ", ...");
	diag_set(place(d, r->file, 0), DIAG_INPUT, "no job %s in the test registry: name one of %s",
	         job, names.buf);
	strbuf_release(&names);
	return -1;
}

/* Appends s as a Jinja2 string literal in quote q. */
static void add_quoted(struct strbuf *sb, const char *s, char q)
{
	strbuf_addch(sb, q);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\' || c == (unsigned char)q) {
			strbuf_addch(sb, '\\');
			strbuf_addch(sb, (char)c);
		} else if (c == '\n') {
			strbuf_adds(sb, "\\n");
		} else if (c == '\t') {
			strbuf_adds(sb, "\\t");
		} else if (c == '\r') {
			strbuf_adds(sb, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			strbuf_addf(sb, "\\x%02x", c);
		} else {
			strbuf_addch(sb, (char)c);
		}
	}
	strbuf_addch(sb, q);
}

/* src[a..b) when it is one line, else dflt. */
static void add_gap(struct strbuf *sb, const struct scan *sc, size_t a, size_t b, const char *dflt)
{
	if (a > b || b > sc->len || memchr(sc->src + a, '\n', b - a) ||
	    memchr(sc->src + a, '\r', b - a))
		strbuf_adds(sb, dflt);
	else
		strbuf_add(sb, sc->src + a, b - a);
}

/* The new line, in the style of the entry before it. */
static void make_line(struct strbuf *sb, const struct scan *sc, const struct insertion *ins,
                      const struct reg_new *e)
{
	const struct node *last = ins->last;
	unsigned line = line_of(sc, last->start);
	strbuf_add(sb, sc->src + sc->lines[line - 1], last->start - sc->lines[line - 1]);
	char q = '\'';
	for (size_t k = 0; k < last->n; k++)
		if (last->kids[2 * k]->kind == N_STR) {
			q = sc->src[last->kids[2 * k]->start];
			break;
		}
	const struct node *k0 = last->n ? last->kids[0] : NULL,
	                  *v0 = last->n ? last->kids[1] : NULL;
	const struct node *vn = last->n ? last->kids[2 * last->n - 1] : NULL;
	struct strbuf colon = STRBUF_INIT, comma = STRBUF_INIT;
	if (k0)
		add_gap(&colon, sc, k0->end, v0->start, ": ");
	else
		strbuf_adds(&colon, ": ");
	if (last->n >= 2)
		add_gap(&comma, sc, v0->end, last->kids[2]->start, ", ");
	else
		strbuf_adds(&comma, ", ");

	strbuf_addch(sb, '{');
	if (k0)
		add_gap(sb, sc, last->start + 1, k0->start, "");
	add_quoted(sb, "test_file", q);
	strbuf_add(sb, colon.buf, colon.len);
	add_quoted(sb, e->test_file, q);
	strbuf_add(sb, comma.buf, comma.len);
	add_quoted(sb, "num_gpus", q);
	strbuf_add(sb, colon.buf, colon.len);
	strbuf_addf(sb, "%lld", (long long)e->num_gpus);
	if (e->test_args && *e->test_args) {
		strbuf_add(sb, comma.buf, comma.len);
		add_quoted(sb, "test_args", q);
		strbuf_add(sb, colon.buf, colon.len);
		add_quoted(sb, e->test_args, q);
	}
	if (vn)
		add_gap(sb, sc, vn->end, last->end - 1, "");
	strbuf_addch(sb, '}');
	add_gap(sb, sc, last->end, ins->comma, "");
	strbuf_addch(sb, ',');
	strbuf_release(&colon);
	strbuf_release(&comma);
}

int reg_add(const struct reg *r, const char *src, size_t len, const char *job,
            const struct reg_new *e, struct strbuf *out, struct reg_added *info, struct diag *d)
{
	const struct reg_job *j = reg_job_find(r, job);
	if (!j)
		return no_such_job(r, job, d);
	if (j->why_not)
		return diag_set(place(d, r->file, j->line), DIAG_INPUT, "%s", j->why_not);
	if (!e->test_file || !*e->test_file)
		return diag_set(place(d, r->file, j->line), DIAG_INPUT,
		                "no test file given: name the test to add");
	if (e->num_gpus < 0)
		return diag_set(place(d, r->file, j->line), DIAG_INPUT, "%lld GPUs: give 0 or more",
		                (long long)e->num_gpus);
	const struct reg_entry *dup = find_entry(j, e->test_file, e->test_args, 0);
	if (dup) {
		if (e->test_args && *e->test_args)
			return diag_set(place(d, r->file, j->line), DIAG_INPUT,
			                "%s with test_args '%s' is already registered at %s:%u: "
			                "nothing to add",
			                e->test_file, e->test_args, r->file, dup->line);
		return diag_set(place(d, r->file, j->line), DIAG_INPUT,
		                "%s is already registered at %s:%u: nothing to add (give test_args "
		                "to add another run of it)",
		                e->test_file, r->file, dup->line);
	}

	struct reg again;
	struct scan sc;
	struct strbuf line = STRBUF_INIT;
	int rc = scan_run(&sc, src, len, r->file, &again, d);
	if (rc < 0)
		goto out;
	size_t k = (size_t)(j - r->jobs);
	struct insertion ins;
	unsigned where;
	if (again.njobs != r->njobs || k >= again.njobs || strcmp(again.jobs[k].id, j->id) != 0 ||
	    again.jobs[k].line != j->line || again.jobs[k].why_not || sc.jobs[k].nparts != 1 ||
	    list_check(&sc, sc.jobs[k].parts[0], &ins, &where) != LP_OK) {
		rc = diag_set(place(d, r->file, j->line), DIAG_INPUT,
		              "the template is not the text the registry was read from: read it "
		              "again");
		goto out;
	}
	make_line(&line, &sc, &ins, e);
	size_t before = out->len;
	strbuf_add(out, src, ins.at);
	strbuf_add(out, line.buf, line.len);
	strbuf_add(out, ins.nl, ins.nllen);
	strbuf_add(out, src + ins.at, len - ins.at);
	if (strbuf_failed(out) || strbuf_failed(&line)) {
		strbuf_setlen(out, before);
		rc = diag_set(place(d, r->file, j->line), DIAG_INPUT,
		              "the template would be too large");
		goto out;
	}
	/* The text lives in r's arena, which the caller lent as const. */
	struct arena *a = (struct arena *)&r->arena;
	info->line = ins.line + 1;
	info->text = arena_strndup(a, line.buf, line.len);
	info->list_name = j->lists[0]->name;
out:
	strbuf_release(&line);
	scan_release(&sc);
	reg_release(&again);
	return rc;
}
