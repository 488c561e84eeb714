/*
 * lint/events: labels, events and runs (one-job-per-label, unreachable-job,
 * cancel-on-label), and the generated workflow (stale-workflow).
 */
#include "lint/lint_int.h"

#include <stdlib.h>
#include <string.h>

#include "gha/expr.h"
#include "base/xalloc.h"
#include "base/banned.h"

/* ---- labels ------------------------------------------------------------- */

void lint__check_labels(struct lctx *c)
{
	for (size_t i = 0; i < c->cat.nlabels; i++) {
		const struct plan_label *l = &c->cat.labels[i];
		const struct wf_job *first = NULL;
		for (size_t k = 0; k < l->njobs; k++) {
			const struct wf_job *j = l->jobs[k]->job;
			if (!plan_label_gates(j, l->label))
				continue; /* reached through needs, not gated by it */
			if (!first) {
				first = j;
				continue;
			}
			const struct srcloc *at = j->if_ ? &j->if_->loc : &j->loc;
			const struct srcloc *fat = first->if_ ? &first->if_->loc : &first->loc;
			lint__add(
			    c, LINT_WARNING, true, c->wf_path, at->line, 0, "one-job-per-label",
			    "label %s gates job %s and job %s too (%s): one label, one job, so "
			    "that a label says what it runs",
			    l->label, j->id, first->id, lint__where(c, c->wf_path, fat->line));
		}
	}
}

/* ---- events that run nothing -------------------------------------------- */

struct reach {
	size_t n;
	bool *seen;
};

/* Marks the jobs a plan runs, or may run (undetermined: it depends on the run). */
static void plan_mark(struct lctx *c, const struct plan_opts *po, struct reach *rs)
{
	struct plan p;
	struct diag d = DIAG_INIT;
	if (plan_make(c->w, po, &p, &d) == 0)
		for (size_t i = 0; i < p.njobs && i < rs->n; i++)
			if (p.jobs[i].state != PLAN_SKIPPED)
				rs->seen[i] = true;
	plan_release(&p);
	diag_release(&d);
}

static void mark_dispatch(struct lctx *c, const struct wf_node *cfg, struct reach *rs)
{
	struct plan_opts po = {.event = "workflow_dispatch"};
	/* Each option of each choice input, the others at their defaults. */
	const struct wf_node *inputs = wf_get(cfg, "inputs");
	for (size_t k = 0; inputs && inputs->kind == WF_MAP && k < inputs->len; k++) {
		const struct wf_node *opts = wf_get(inputs->kv[2 * k + 1], "options");
		for (size_t o = 0; opts && opts->kind == WF_SEQ && o < opts->len; o++) {
			const char *v = wf_str(opts->kv[o]);
			if (!v)
				continue;
			struct strbuf kv = STRBUF_INIT;
			strbuf_addf(&kv, "%s=%s", inputs->kv[2 * k]->s, v);
			const char *in[1] = {kv.buf};
			po.inputs = in;
			po.ninputs = 1;
			plan_mark(c, &po, rs);
			strbuf_release(&kv);
		}
	}
}

static void mark_labels(struct lctx *c, const char *event, struct reach *rs)
{
	static const char *const actions[] = {"synchronize", "labeled"};
	const char **all = xcalloc(c->cat.nlabels + 1, sizeof(*all));
	for (size_t i = 0; i < c->cat.nlabels; i++)
		all[i] = c->cat.labels[i].label;
	for (size_t a = 0; a < 2; a++) {
		struct plan_opts po = {.event = event, .action = actions[a]};
		for (size_t i = 0; i < c->cat.nlabels; i++) {
			po.labels = &all[i];
			po.nlabels = 1;
			po.added = a ? all[i] : NULL;
			plan_mark(c, &po, rs);
		}
		po.labels = all;
		po.nlabels = c->cat.nlabels;
		po.added = a && c->cat.nlabels ? all[c->cat.nlabels - 1] : NULL;
		plan_mark(c, &po, rs);
	}
	free(all);
}

void lint__check_reachable(struct lctx *c)
{
	const struct wf_node *on = wf_get(wf_root(c->w), "on");
	if (!on)
		return;
	struct reach rs = {wf_njobs(c->w), xcalloc(wf_njobs(c->w) + 1, sizeof(bool))};
	size_t nev = on->kind == WF_SCALAR ? 1 : on->len;
	for (size_t e = 0; e < nev; e++) {
		const struct wf_node *ev = on->kind == WF_SCALAR ? on
		                           : on->kind == WF_SEQ  ? on->kv[e]
		                                                 : on->kv[2 * e];
		const char *name = wf_str(ev);
		if (!name)
			continue;
		struct plan_opts po = {.event = name};
		plan_mark(c, &po, &rs);
		if (!strcmp(name, "pull_request") || !strcmp(name, "pull_request_target"))
			mark_labels(c, name, &rs);
		else if (!strcmp(name, "workflow_dispatch"))
			mark_dispatch(c, on->kind == WF_MAP ? on->kv[2 * e + 1] : NULL, &rs);
	}
	for (size_t i = 0; i < rs.n; i++) {
		if (rs.seen[i])
			continue;
		const struct wf_job *j = wf_job_at(c->w, i);
		const struct srcloc *at = j->if_ ? &j->if_->loc : &j->loc;
		lint__add(
		    c, LINT_WARNING, true, c->wf_path, at->line, 0, "unreachable-job",
		    "job %s runs for no event this workflow listens to (each event in on:, each "
		    "PR label, each workflow_dispatch choice was tried): its if: or needs: can "
		    "never hold",
		    j->id);
	}
	free(rs.seen);
}

/* ---- the generated workflow ---------------------------------------------- */

void lint__check_generated(struct lctx *c)
{
	if (!c->tpl_path || c->wf_current)
		return;
	const struct diag *d = &c->gen_err;
	const struct strbuf *out = &c->gen_out;
	if (c->gen_rc < 0) {
		lint__add(c, LINT_ERROR, false, d->loc.file ? d->loc.file : c->tpl_path,
		          d->loc.line, d->loc.col, "stale-workflow",
		          "the template does not render: %s", d->msg.buf);
		return;
	}
	unsigned line = 1;
	size_t i = 0;
	while (i < out->len && i < c->wf_text.len && out->buf[i] == c->wf_text.buf[i])
		line += out->buf[i++] == '\n';
	lint__add(c, LINT_ERROR, false, c->wf_path, line, 0, "stale-workflow",
	          "not what %s renders (first difference on this line): run `gpuci render` and "
	          "commit both",
	          c->tpl_path);
}

/* ---- concurrency and label events ----------------------------------------- */

/* The line of key in mapping m (where a finding about its value belongs), or 0. */
static unsigned key_line(const struct wf_node *m, const char *key)
{
	for (size_t i = 0; m && m->kind == WF_MAP && i < m->len; i++)
		if (wf_str(m->kv[2 * i]) && !strcmp(m->kv[2 * i]->s, key))
			return m->kv[2 * i]->loc.line;
	return 0;
}

static bool seq_has(const struct wf_node *n, const char *s)
{
	if (n && n->kind == WF_SCALAR)
		return !strcmp(n->s, s);
	for (size_t i = 0; n && n->kind == WF_SEQ && i < n->len; i++)
		if (wf_str(n->kv[i]) && !strcmp(wf_str(n->kv[i]), s))
			return true;
	return false;
}

/*
 * A concurrency node's group (text) and cancel-in-progress, evaluated in
 * ctx with matrix (V_NONE: none). False when it cannot be known.
 */
static bool eval_conc(const struct wf_node *conc, struct value ctx, struct value matrix,
                      struct arena *a, struct strbuf *group, bool *cancel)
{
	const struct wf_node *g = conc->kind == WF_SCALAR ? conc : wf_get(conc, "group");
	const struct wf_node *cp = conc->kind == WF_MAP ? wf_get(conc, "cancel-in-progress") : NULL;
	if (matrix.kind != V_NONE) {
		struct value with = value_dict_sized(a, ctx.dict->n + 1);
		for (size_t i = 0; i < ctx.dict->n; i++)
			vdict_set(a, with.dict, ctx.dict->keys[i], ctx.dict->vals[i]);
		vdict_set(a, with.dict, value_str_static("matrix"), matrix);
		ctx = with;
	}
	struct gha_ctx gc = {.contexts = ctx, .status = GHA_SUCCESS};
	struct diag d = DIAG_INIT;
	struct value gv, cv = value_bool(false);
	bool ok = wf_str(g) && gha_interp(g->s, g->len, &g->loc, &gc, a, &gv, &d) == 0 &&
	          gv.kind != V_UNDEF;
	if (ok && cp && wf_str(cp)) {
		if (cp->plain && (!strcmp(cp->s, "true") || !strcmp(cp->s, "false")))
			cv = value_bool(!strcmp(cp->s, "true"));
		else
			ok = gha_interp(cp->s, cp->len, &cp->loc, &gc, a, &cv, &d) == 0 &&
			     cv.kind != V_UNDEF;
	}
	diag_release(&d);
	if (!ok)
		return false;
	strbuf_reset(group);
	gha_to_str(gv, group);
	*cancel = cv.kind == V_STR ? !strcmp(cv.str.s, "true") : gha_truthy(cv);
	return true;
}

/* Three runs of one pull request, as the label workflow must take them. */
struct runs {
	const char *a, *b;  /* two labels */
	struct plan first;  /* label a added */
	struct plan second; /* label b added, the PR having a */
	struct plan push;   /* a push to the PR, which has a */
	bool ok;
};

static void runs_make(struct lctx *c, struct runs *r)
{
	r->a = c->cat.labels[0].label;
	r->b = c->cat.nlabels > 1 ? c->cat.labels[1].label : "another-label";
	const char *one[1] = {r->a};
	struct plan_opts o1 = {.labels = one, .nlabels = 1, .added = r->a, .run_id = "101"};
	struct plan_opts o2 = {.labels = one, .nlabels = 1, .added = r->b, .run_id = "102"};
	struct plan_opts o3 = {
	    .labels = one, .nlabels = 1, .action = "synchronize", .run_id = "103"};
	struct diag d = DIAG_INIT;
	int rc1 = plan_make(c->w, &o1, &r->first, &d);
	int rc2 = plan_make(c->w, &o2, &r->second, &d);
	int rc3 = plan_make(c->w, &o3, &r->push, &d);
	r->ok = rc1 == 0 && rc2 == 0 && rc3 == 0 && r->first.njobs;
	diag_release(&d);
}

static void runs_release(struct runs *r)
{
	plan_release(&r->first);
	plan_release(&r->second);
	plan_release(&r->push);
}

static const struct wf_node *wf_conc(const struct lctx *c)
{
	return wf_get(wf_root(c->w), "concurrency");
}

/* Whether the run `later` cancels the run `earlier`: one workflow group, cancel-in-progress. */
static bool wf_cancels(const struct lctx *c, const struct plan *earlier, const struct plan *later,
                       struct arena *a)
{
	struct strbuf g1 = STRBUF_INIT, g2 = STRBUF_INIT;
	bool c1, c2;
	const struct wf_node *conc = wf_conc(c);
	bool hit = conc && eval_conc(conc, earlier->jobs[0].ctx, value_none(), a, &g1, &c1) &&
	           eval_conc(conc, later->jobs[0].ctx, value_none(), a, &g2, &c2) && c2 &&
	           !strcasecmp(g1.buf, g2.buf);
	strbuf_release(&g1);
	strbuf_release(&g2);
	return hit;
}

/*
 * Whether job i of the run `later` cancels job i of the run `earlier`
 * through the job's own group: the same group for an entry of each (the
 * same entry, with same_entry), with cancel-in-progress.
 */
static bool job_cancels(const struct plan *earlier, const struct plan *later, size_t i,
                        bool same_entry, struct arena *a)
{
	const struct plan_job *x = &earlier->jobs[i], *y = &later->jobs[i];
	const struct wf_node *jc = wf_get(x->job->node, "concurrency");
	if (!jc)
		return false;
	struct strbuf g1 = STRBUF_INIT, g2 = STRBUF_INIT, i1 = STRBUF_INIT, i2 = STRBUF_INIT;
	bool c1, c2, hit = false;
	size_t nx = x->matrix_known && x->has_matrix ? x->nentries : 0;
	size_t ny = y->matrix_known && y->has_matrix ? y->nentries : 0;
	for (size_t e = 0; !hit && e < (nx ? nx : 1); e++)
		for (size_t f = 0; !hit && f < (ny ? ny : 1); f++) {
			struct value mx = nx ? x->entries[e] : value_none();
			struct value my = ny ? y->entries[f] : value_none();
			if (same_entry && nx && ny) {
				strbuf_reset(&i1);
				strbuf_reset(&i2);
				plan_entry_identity(mx, &i1);
				plan_entry_identity(my, &i2);
				if (strcmp(i1.buf, i2.buf) != 0)
					continue;
			}
			hit = eval_conc(jc, x->ctx, mx, a, &g1, &c1) &&
			      eval_conc(jc, y->ctx, my, a, &g2, &c2) && c2 &&
			      !strcasecmp(g1.buf, g2.buf);
		}
	strbuf_release(&g1);
	strbuf_release(&g2);
	strbuf_release(&i1);
	strbuf_release(&i2);
	return hit;
}

static bool runs_job(const struct plan *p, size_t i)
{
	return p->jobs[i].state == PLAN_RUNS;
}

void lint__check_cancel(struct lctx *c)
{
	const struct wf_node *cfg = NULL;
	if (!wf_on(c->w, "pull_request", &cfg) && !wf_on(c->w, "pull_request_target", &cfg))
		return;
	if (!seq_has(wf_get(cfg, "types"), "labeled") || !c->cat.nlabels)
		return;
	struct runs r;
	runs_make(c, &r);
	struct arena a = ARENA_INIT;
	const char *help = "see gpuci lint --help, \"Label workflows\"";
	unsigned conc_line = key_line(wf_root(c->w), "concurrency");
	bool cancelled = false;
	/* 1. Adding b cancels what adding a started. */
	if (r.ok && wf_cancels(c, &r.first, &r.second, &a)) {
		struct strbuf g = STRBUF_INIT;
		bool cancel;
		eval_conc(wf_conc(c), r.first.jobs[0].ctx, value_none(), &a, &g, &cancel);
		lint__add(c, LINT_ERROR, true, c->wf_path, conc_line, 0, "cancel-on-label",
		          "the workflow's concurrency group is one per PR (\"%s\" for both) with "
		          "cancel-in-progress, and labeled events start runs: adding label %s "
		          "cancels the jobs label %s started; %s",
		          g.buf, r.b, r.a, help);
		strbuf_release(&g);
		cancelled = true;
	}
	for (size_t i = 0; r.ok && !cancelled && i < r.first.njobs; i++) {
		if (!runs_job(&r.first, i) || !runs_job(&r.second, i) ||
		    !job_cancels(&r.first, &r.second, i, false, &a))
			continue;
		const struct wf_job *j = r.first.jobs[i].job;
		lint__add(c, LINT_ERROR, true, c->wf_path, key_line(j->node, "concurrency"), 0,
		          "cancel-on-label",
		          "job %s's concurrency group is the same after label %s is added, with "
		          "cancel-in-progress: adding %s cancels the run label %s started; %s",
		          j->id, r.b, r.b, r.a, help);
		cancelled = true;
	}
	/* 2. Adding b runs a's jobs again. */
	for (size_t i = 0; r.ok && !cancelled && i < r.second.njobs; i++) {
		const struct plan_job *pj = &r.second.jobs[i];
		if (!runs_job(&r.second, i) || !plan_label_gates(pj->job, r.a) ||
		    plan_label_gates(pj->job, r.b))
			continue;
		const struct srcloc *at = pj->job->if_ ? &pj->job->if_->loc : &pj->job->loc;
		lint__add(
		    c, LINT_ERROR, true, c->wf_path, at->line, 0, "cancel-on-label",
		    "adding label %s to a PR that has %s runs job %s (%s's: %zu entr%s, %lld "
		    "GPUs) again, though %s's run goes on: a labeled event's run carries every "
		    "label, so gate on github.event.label.name when the action is labeled; %s",
		    r.b, r.a, pj->job->id, r.a, pj->has_matrix ? pj->nentries : 1,
		    pj->has_matrix && pj->nentries != 1 ? "ies" : "y", (long long)pj->gpus, r.a,
		    help);
	}
	/* 3. A push leaves a's run on the old commit going, and runs its jobs again. */
	for (size_t i = 0; r.ok && !cancelled && i < r.first.njobs; i++) {
		const struct plan_job *pj = &r.first.jobs[i];
		if (!runs_job(&r.first, i) || !runs_job(&r.push, i) ||
		    !plan_label_gates(pj->job, r.a) || wf_cancels(c, &r.first, &r.push, &a) ||
		    job_cancels(&r.first, &r.push, i, true, &a))
			continue;
		lint__add(
		    c, LINT_ERROR, true, c->wf_path, conc_line ? conc_line : pj->job->loc.line, 0,
		    "cancel-on-label",
		    "a push to a PR labeled %s runs job %s again while the run that adding %s "
		    "started goes on with the old commit: give each job a concurrency group of "
		    "the PR, the job and its entry (${{ toJSON(matrix) }}) with "
		    "cancel-in-progress; %s",
		    r.a, pj->job->id, r.a, help);
		break;
	}
	arena_release(&a);
	runs_release(&r);
}
