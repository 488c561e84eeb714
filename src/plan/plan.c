/*
 * plan: the jobs and matrix entries a workflow runs for an event. See plan.h.
 */
#include <stdlib.h>
#include <string.h>

#include "plan/plan_int.h"
#include "gha/expr.h"
#include "base/xalloc.h"
#include "base/banned.h"

/* Whether v or anything in it is unknown (V_UNDEF); stores its hint. */
static bool find_unknown(struct value v, const char **hint, int depth)
{
	if (v.kind == V_UNDEF) {
		*hint = v.str.s;
		return true;
	}
	if (depth > 64)
		return false;
	if (v.kind == V_LIST) {
		for (size_t i = 0; i < v.list->n; i++)
			if (find_unknown(v.list->items[i], hint, depth + 1))
				return true;
	} else if (v.kind == V_DICT) {
		for (size_t i = 0; i < v.dict->n; i++)
			if (find_unknown(v.dict->vals[i], hint, depth + 1))
				return true;
	}
	return false;
}

/* A copy of a dict with one more key. */
static struct value with(struct arena *a, struct value dict, const char *key, struct value v)
{
	struct value c = value_dict_sized(a, dict.dict->n + 1);
	for (size_t i = 0; i < dict.dict->n; i++)
		vdict_set(a, c.dict, dict.dict->keys[i], dict.dict->vals[i]);
	put(a, c, key, v);
	return c;
}

/* ---- change detection ------------------------------------------------------ */

/*
 * The step of a job that detects changed tests: one whose script runs
 * `gpuci changed`, or the older bash detector (git diff + NUM_GPUS).
 * *legacy tells which.
 */
static const struct wf_step *detect_step(const struct wf_job *j, bool *legacy)
{
	for (size_t i = 0; i < j->nsteps; i++) {
		const char *run = wf_str(j->steps[i].run);
		if (!run || !j->steps[i].id)
			continue;
		if (strstr(run, "gpuci changed")) {
			*legacy = false;
			return &j->steps[i];
		}
		if (strstr(run, "git diff") && strstr(run, "NUM_GPUS")) {
			*legacy = true;
			return &j->steps[i];
		}
	}
	return NULL;
}

/* Whether s starts a backslash-newline, which the shell reads as a blank. */
static bool continues(const char *s)
{
	return s[0] == '\\' && s[1] == '\n';
}

/*
 * The next shell word of *p on its line (lines joined by a backslash at
 * their end), its quotes removed; a word ends at blanks and at the
 * operators ) ; | & < > outside quotes.
 */
static char *next_word(struct arena *a, const char **p)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t' || continues(s))
		s += continues(s) ? 2 : 1;
	if (!*s || strchr("\n);|&<>", *s)) {
		*p = s;
		return NULL;
	}
	struct strbuf w = STRBUF_INIT;
	while (*s && !strchr(" \t\n);|&<>", *s) && !continues(s)) {
		if (*s == '\'' || *s == '"') {
			char q = *s++;
			while (*s && *s != q)
				strbuf_addch(&w, *s++);
			if (*s)
				s++;
		} else {
			strbuf_addch(&w, *s++);
		}
	}
	*p = s;
	char *r = arena_strndup(a, w.buf, w.len);
	strbuf_release(&w);
	return r;
}

/*
 * The change detection a step asks for, read off its script: the options of
 * its `gpuci changed` line (--git-pathspec included), or the --diff-filter
 * and pathspecs of the old detector's `git diff` line. What the user passed
 * to plan wins.
 *
 * The old detector gave its pathspecs to git, where 'tests/test_*.py' also
 * reaches tests/test_agent/_fakes.py, and CI ran each such helper as a
 * test: for it git_pathspec is on, so that the plan shows what CI will
 * run, and changed_detect() warns about each helper, which `gpuci
 * changed` in the step would leave out.
 */
static void detect_options(struct arena *a, const char *run, bool legacy,
                           const struct changed_opts *given, struct changed_opts *o)
{
	*o = *given;
	o->git_pathspec = given->git_pathspec || legacy;
	const char *line = strstr(run, legacy ? "git diff" : "gpuci changed");
	const char **pats = arena_alloc(a, 64 * sizeof(*pats));
	size_t npats = 0;
	bool after_dashes = false;
	const char *p = line + (legacy ? 8 : 13);
	for (char *word; (word = next_word(a, &p));) {
		char *eq = strchr(word, '=');
		const char *val = NULL;
		if (after_dashes) {
			if (npats < 64 && *word)
				pats[npats++] = word;
			continue;
		}
		if (!strcmp(word, "--"))
			after_dashes = legacy;
		if (!legacy && !strcmp(word, "--git-pathspec"))
			o->git_pathspec = true;
		if (!strncmp(word, "--", 2) && eq) {
			*eq = 0;
			val = eq + 1;
		}
		bool takes = !strcmp(word, "--pattern") || !strcmp(word, "--diff-filter") ||
		             !strcmp(word, "--default-gpus") || !strcmp(word, "--base") ||
		             !strcmp(word, "--head");
		if (takes && !val)
			val = next_word(a, &p);
		if (!val)
			continue;
		if (!strcmp(word, "--pattern") && npats < 64)
			pats[npats++] = val;
		else if (!strcmp(word, "--diff-filter") && !given->diff_filter)
			o->diff_filter = val;
		else if (!strcmp(word, "--default-gpus") && !given->default_gpus)
			o->default_gpus = strtoll(val, NULL, 10);
		else if (!strcmp(word, "--base") && !given->base && *val != '$')
			o->base = val;
		else if (!strcmp(word, "--head") && !given->head && *val != '$')
			o->head = val;
	}
	if (!given->npatterns && npats) {
		o->patterns = pats;
		o->npatterns = npats;
	}
}

/*
 * The matrix the old bash detector wrote: like gpuci changed's, but each
 * test_file without its "tests/" (the step wrote "${f#tests/}").
 */
static void legacy_matrix_json(const struct changed_result *r, struct strbuf *out)
{
	strbuf_adds(out, "{\"info\":[");
	for (size_t i = 0; i < r->n; i++) {
		const char *path = r->tests[i].path;
		if (!strncmp(path, "tests/", 6))
			path += 6;
		strbuf_adds(out, i ? ",{\"test_file\":" : "{\"test_file\":");
		changed_json_str(out, path);
		strbuf_addf(out, ",\"num_gpus\":%lld}", (long long)r->tests[i].num_gpus);
	}
	strbuf_adds(out, "]}");
}

/* The outputs of job j, which runs: computed for a detect job with --changed. */
static int job_outputs(struct plan *p, const struct wf_job *j, const struct plan_opts *o,
                       struct value ctx, struct value *out, struct diag *d)
{
	struct arena *a = &p->arena;
	*out = value_dict(a);
	if (!j->outputs)
		return 0;
	bool legacy = false;
	const struct wf_step *det = detect_step(j, &legacy);
	struct value steps = value_dict(a);
	for (size_t i = 0; i < j->nsteps; i++) {
		if (!j->steps[i].id)
			continue;
		struct strbuf h = STRBUF_INIT;
		strbuf_addf(&h, "the outputs of step '%s' of job '%s', known when it runs",
		            j->steps[i].id, j->id);
		struct value outs = value_undef(arena_strndup(a, h.buf, h.len));
		strbuf_release(&h);
		struct value step = value_dict(a);
		put(a, step, "outputs", outs);
		put(a, step, "outcome", value_undef(NULL));
		put(a, step, "conclusion", value_undef(NULL));
		put(a, steps, j->steps[i].id, step);
	}
	if (det && o->changed) {
		if (!p->changed_done) {
			struct changed_opts co;
			detect_options(a, wf_str(det->run), legacy, &o->changed_opts, &co);
			if (!co.default_gpus)
				co.default_gpus = 8;
			p->changed_tried = true;
			if (changed_detect(&co, &p->changed, d) < 0)
				return -1;
			p->changed_done = true;
		}
		struct strbuf m = STRBUF_INIT;
		if (legacy)
			legacy_matrix_json(&p->changed, &m);
		else
			changed_matrix_json(&p->changed, &m);
		struct value outs = value_dict(a);
		put(a, outs, "matrix", value_strbuf(a, &m));
		put(a, outs, "has_tests", value_str_static(p->changed.n ? "true" : "false"));
		strbuf_release(&m);
		struct value step = value_dict(a);
		put(a, step, "outputs", outs);
		put(a, step, "outcome", value_str_static("success"));
		put(a, step, "conclusion", value_str_static("success"));
		put(a, steps, det->id, step);
	}
	struct value sctx = with(a, ctx, "steps", steps);
	struct gha_ctx g = {.contexts = sctx, .status = GHA_SUCCESS};
	for (size_t i = 0; i < j->outputs->len; i++) {
		const struct wf_node *k = j->outputs->kv[2 * i], *v = j->outputs->kv[2 * i + 1];
		struct value val;
		if (v->kind != WF_SCALAR) {
			val = value_str_static("");
		} else if (gha_interp(v->s, v->len, &v->loc, &g, a, &val, d) < 0) {
			return -1;
		}
		if (val.kind == V_UNDEF) {
			struct strbuf h = STRBUF_INIT;
			strbuf_addf(&h, "the output '%s' of job '%s'%s", k->s, j->id,
			            det ? " (gpuci plan --changed computes it)"
			                : ", known only when it runs");
			val = value_undef(arena_strndup(a, h.buf, h.len));
			strbuf_release(&h);
		}
		put(a, *out, k->s, val);
	}
	return 0;
}

bool plan_job_detect_opts(const struct wf_job *j, struct arena *a, struct changed_opts *o)
{
	bool legacy = false;
	const struct wf_step *det = detect_step(j, &legacy);
	struct changed_opts none = {0};
	if (!det)
		return false;
	detect_options(a, wf_str(det->run), legacy, &none, o);
	if (!o->npatterns) {
		o->patterns = changed_default_patterns;
		o->npatterns = changed_default_npatterns;
	}
	return true;
}

bool plan_job_detects(const struct wf_job *j)
{
	bool legacy;
	return detect_step(j, &legacy) != NULL;
}

/* ---- matrices -------------------------------------------------------------- */

/* A node as a value, its ${{ }} scalars evaluated. */
static int eval_node(const struct wf_node *n, const struct gha_ctx *g, struct arena *a,
                     struct value *out, struct diag *d)
{
	if (n->kind == WF_SCALAR) {
		if (!strstr(n->s, "${{")) {
			*out = wf_value(n, a);
			return 0;
		}
		return gha_interp(n->s, n->len, &n->loc, g, a, out, d);
	}
	if (n->kind == WF_SEQ) {
		*out = value_list(a, n->len);
		for (size_t i = 0; i < n->len; i++)
			if (eval_node(n->kv[i], g, a, &out->list->items[i], d) < 0)
				return -1;
		return 0;
	}
	*out = value_dict_sized(a, n->len);
	for (size_t i = 0; i < n->len; i++) {
		struct value v;
		if (eval_node(n->kv[2 * i + 1], g, a, &v, d) < 0)
			return -1;
		vdict_set(a, out->dict, value_str_static(n->kv[2 * i]->s), v);
	}
	return 0;
}

/* The node under a `num_gpus` key of n that reads as bad, or NULL. */
static const struct wf_node *find_gpus_node(const struct wf_node *n, struct value bad,
                                            struct arena *a)
{
	if (n->kind == WF_SCALAR)
		return NULL;
	for (size_t i = 0; i < n->len; i++) {
		const struct wf_node *v = n->kind == WF_MAP ? n->kv[2 * i + 1] : n->kv[i];
		if (n->kind == WF_MAP && !strcmp(n->kv[2 * i]->s, "num_gpus")) {
			if (value_equal(wf_value(v, a), bad))
				return v;
			for (size_t k = 0; v->kind == WF_SEQ && k < v->len; k++)
				if (value_equal(wf_value(v->kv[k], a), bad))
					return v->kv[k];
		}
		const struct wf_node *hit = find_gpus_node(v, bad, a);
		if (hit)
			return hit;
	}
	return NULL;
}

/* Every entry asks for a whole number of GPUs: -1 or 1.5 would run with none. */
static int check_gpus(struct plan *p, const struct plan_job *pj, struct diag *d)
{
	for (size_t i = 0; i < pj->nentries; i++) {
		struct value bad;
		if (plan_entry_gpus_valid(pj->entries[i], PLAN_MAX_GPUS, &bad))
			continue;
		struct strbuf v = STRBUF_INIT;
		plan_json(bad, &v);
		diag_set(d, DIAG_INPUT,
		         "job '%s': num_gpus must be a whole number of GPUs from 0 to %d, not %s",
		         pj->job->id, PLAN_MAX_GPUS, v.buf);
		strbuf_release(&v);
		const struct wf_node *at = find_gpus_node(pj->job->matrix, bad, &p->arena);
		d->loc = at ? at->loc : pj->job->matrix->loc;
		return -1;
	}
	return 0;
}

static int plan_matrix(struct plan *p, struct plan_job *pj, const struct gha_ctx *g, struct diag *d)
{
	struct arena *a = &p->arena;
	const struct wf_job *j = pj->job;
	pj->has_matrix = j->matrix != NULL;
	pj->matrix_known = true;
	if (!j->matrix) {
		pj->nentries = 1;
		pj->entries = arena_alloc(a, sizeof(*pj->entries));
		pj->entries[0] = value_dict(a);
		return 0;
	}
	struct value m;
	if (eval_node(j->matrix, g, a, &m, d) < 0)
		return -1;
	const char *hint = NULL;
	if (find_unknown(m, &hint, 0)) {
		pj->matrix_known = false;
		struct strbuf h = STRBUF_INIT;
		strbuf_addf(&h, "its matrix needs %s",
		            hint ? hint : "a value known only at run time");
		pj->why = arena_strndup(a, h.buf, h.len);
		strbuf_release(&h);
		return 0;
	}
	struct value entries;
	if (wf_matrix_expand(m, a, &j->matrix->loc, &entries, d) < 0)
		return -1;
	pj->nentries = entries.list->n;
	pj->entries = entries.list->items;
	if (check_gpus(p, pj, d) < 0)
		return -1;
	for (size_t i = 0; i < pj->nentries; i++)
		pj->gpus += plan_entry_gpus(pj->entries[i]);
	return 0;
}

/* ---- the plan --------------------------------------------------------------- */

static const char *runs_on_text(struct arena *a, const struct wf_node *n)
{
	if (!n)
		return "";
	if (n->kind == WF_SCALAR)
		return n->s;
	struct strbuf s = STRBUF_INIT;
	if (n->kind == WF_SEQ) {
		for (size_t i = 0; i < n->len; i++)
			if (wf_str(n->kv[i]))
				strbuf_addf(&s, "%s%s", s.len ? ", " : "", n->kv[i]->s);
	} else {
		for (size_t i = 0; i < n->len; i++) {
			struct value v = wf_value(n->kv[2 * i + 1], a);
			strbuf_addf(&s, "%s%s: ", s.len ? ", " : "", n->kv[2 * i]->s);
			plan_json(v, &s);
		}
	}
	const char *r = arena_strndup(a, s.buf, s.len);
	strbuf_release(&s);
	return r;
}

static const char *fmt_why(struct arena *a, const char *fmt, const char *x, const char *y)
{
	struct strbuf s = STRBUF_INIT;
	strbuf_adds(&s, fmt);
	/* fmt holds "%1" and "%2" for x and y: no printf format from data. */
	struct strbuf r = STRBUF_INIT;
	for (const char *c = s.buf; *c; c++) {
		if (c[0] == '%' && (c[1] == '1' || c[1] == '2')) {
			strbuf_adds(&r, c[1] == '1' ? x : y);
			c++;
		} else {
			strbuf_addch(&r, *c);
		}
	}
	const char *out = arena_strndup(a, r.buf, r.len);
	strbuf_release(&s);
	strbuf_release(&r);
	return out;
}

int plan_make(const struct wf *w, const struct plan_opts *o, struct plan *p, struct diag *d)
{
	memset(p, 0, sizeof(*p));
	struct arena *a = &p->arena;
	p->event = o->event ? o->event : "pull_request";
	p->triggered = wf_on(w, p->event, NULL);
	p->njobs = wf_njobs(w);
	p->jobs = arena_alloc(a, (p->njobs ? p->njobs : 1) * sizeof(*p->jobs));
	struct value base;
	if (plan__contexts(w, o, a, &base, d) < 0)
		return -1;
	struct value *outputs = arena_alloc(a, (p->njobs ? p->njobs : 1) * sizeof(*outputs));

	/* The jobs a pull_request of no labels runs as well: always on. */
	struct plan none;
	bool have_none = false;
	if (o->mark_always && (o->nlabels || o->added) &&
	    (!strcmp(p->event, "pull_request") || !strcmp(p->event, "pull_request_target"))) {
		struct plan_opts no = *o;
		no.labels = NULL;
		no.nlabels = 0;
		no.added = NULL;
		no.action =
		    o->action && strcmp(o->action, "labeled") != 0 ? o->action : "synchronize";
		no.mark_always = false;
		no.changed = false;
		if (plan_make(w, &no, &none, d) < 0) {
			plan_release(&none);
			return -1;
		}
		have_none = true;
	}

	const size_t *order = wf_job_order(w);
	for (size_t oi = 0; oi < p->njobs; oi++) {
		size_t ji = order[oi];
		const struct wf_job *j = wf_job_at(w, ji);
		struct plan_job *pj = &p->jobs[ji];
		pj->job = j;
		pj->runs_on = runs_on_text(a, j->runs_on);
		if (!p->triggered) {
			pj->state = PLAN_SKIPPED;
			pj->why = fmt_why(a, "the workflow does not run on %1", p->event, NULL);
			continue;
		}

		/* needs: each needed job's result and outputs. */
		struct value needs = value_dict(a);
		const char *skipped_dep = NULL, *unknown_dep = NULL;
		for (size_t k = 0; k < j->nneeds; k++) {
			const struct wf_job *dep = wf_job_find(w, j->needs[k]);
			size_t di = (size_t)(dep - wf_job_at(w, 0));
			const struct plan_job *pd = &p->jobs[di];
			struct value nd = value_dict(a);
			if (pd->state == PLAN_RUNS) {
				put(a, nd, "result", value_str_static("success"));
				put(a, nd, "outputs", outputs[di]);
			} else if (pd->state == PLAN_SKIPPED) {
				skipped_dep = skipped_dep ? skipped_dep : dep->id;
				put(a, nd, "result", value_str_static("skipped"));
				put(a, nd, "outputs", value_dict(a));
			} else {
				unknown_dep = unknown_dep ? unknown_dep : dep->id;
				const char *h = fmt_why(a, "whether job '%1' runs", dep->id, NULL);
				put(a, nd, "result", value_undef(h));
				put(a, nd, "outputs", value_undef(h));
			}
			put(a, needs, dep->id, nd);
		}
		struct value ctx = with(a, base, "needs", needs);
		pj->ctx = ctx;
		struct gha_ctx g = {.contexts = ctx,
		                    .status = skipped_dep ? GHA_SKIPPED : GHA_SUCCESS};

		bool uses_status = false;
		if (j->if_) {
			const char *src = j->if_->s;
			size_t len = j->if_->len;
			/* Only the expression: strip one ${{ }} around the whole. */
			const char *b = src, *e = src + len;
			while (b < e && (*b == ' ' || *b == '\n' || *b == '\t'))
				b++;
			while (e > b && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t'))
				e--;
			if (e - b >= 5 && !strncmp(b, "${{", 3) && !strncmp(e - 2, "}}", 2)) {
				b += 3;
				e -= 2;
			}
			struct arena tmp = ARENA_INIT;
			struct diag ignore = DIAG_INIT;
			struct gha_expr *ex = gha_parse(&tmp, b, (size_t)(e - b), NULL, &ignore);
			uses_status = ex && gha_uses_status(ex);
			arena_release(&tmp);
			diag_release(&ignore);
		}
		if (skipped_dep && !uses_status) {
			pj->state = PLAN_SKIPPED;
			pj->why = fmt_why(a, "it needs '%1', which is skipped", skipped_dep, NULL);
			continue;
		}
		if (unknown_dep && !uses_status) {
			pj->state = PLAN_UNKNOWN;
			pj->why = fmt_why(a, "it needs '%1', which may or may not run", unknown_dep,
			                  NULL);
			continue;
		}
		if (j->if_) {
			bool yes = false, unknown = false;
			const char *hint = NULL;
			if (gha_eval_if(j->if_->s, j->if_->len, &j->if_->loc, &g, a, &yes, &unknown,
			                &hint, d) < 0) {
				if (have_none)
					plan_release(&none);
				return -1;
			}
			if (unknown) {
				pj->state = PLAN_UNKNOWN;
				pj->why = fmt_why(a, "its if: depends on %1",
				                  hint ? hint : "a run-time value", NULL);
				continue;
			}
			if (!yes) {
				pj->state = PLAN_SKIPPED;
				pj->why = "its if: is false";
				continue;
			}
		}
		pj->state = PLAN_RUNS;
		pj->always = have_none && none.jobs[ji].state == PLAN_RUNS;
		if (plan_matrix(p, pj, &g, d) < 0 ||
		    job_outputs(p, j, o, ctx, &outputs[ji], d) < 0) {
			if (have_none)
				plan_release(&none);
			return -1;
		}
	}
	if (have_none)
		plan_release(&none);
	return 0;
}

void plan_release(struct plan *p)
{
	if (p->changed_done || p->changed_tried) /* a failed detection holds memory too */
		changed_result_release(&p->changed);
	arena_release(&p->arena);
	memset(p, 0, sizeof(*p));
}
