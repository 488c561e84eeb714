/* plan/catalogue: the PR labels of a workflow, found by evaluation. See plan.h. */
#include <stdlib.h>
#include <string.h>

#include "plan/plan_int.h"
#include "base/xalloc.h"
#include "base/banned.h"

/* ---- the label catalogue ----------------------------------------------------- */

/* Adds the single-quoted string literals of an expression text to the list. */
static void literals(struct arena *a, const char *s, const char ***list, size_t *n, size_t *cap)
{
	while ((s = strchr(s, '\''))) {
		struct strbuf lit = STRBUF_INIT;
		s++;
		for (; *s; s++) {
			if (*s == '\'' && s[1] == '\'') {
				strbuf_addch(&lit, '\'');
				s++;
			} else if (*s == '\'') {
				break;
			} else {
				strbuf_addch(&lit, *s);
			}
		}
		bool dup = !lit.len;
		for (size_t i = 0; i < *n && !dup; i++)
			dup = !strcmp((*list)[i], lit.buf);
		if (!dup) {
			if (*n == *cap) {
				*cap = *cap ? 2 * *cap : 16;
				*list = xrealloc(*list, *cap * sizeof(**list));
			}
			(*list)[(*n)++] = arena_strndup(a, lit.buf, lit.len);
		}
		strbuf_release(&lit);
		if (!*s)
			break;
		s++;
	}
}

bool plan_label_gates(const struct wf_job *j, const char *label)
{
	if (!j->if_ || !j->if_->s)
		return false;
	struct arena a = ARENA_INIT;
	const char **lits = NULL;
	size_t n = 0, cap = 0;
	literals(&a, j->if_->s, &lits, &n, &cap);
	bool hit = false;
	for (size_t i = 0; i < n && !hit; i++)
		hit = !strcmp(lits[i], label);
	free(lits);
	arena_release(&a);
	return hit;
}

int plan_catalogue(const struct wf *w, struct plan_catalogue *c, struct diag *d)
{
	memset(c, 0, sizeof(*c));
	struct arena *a = &c->arena;
	struct plan_opts o = {.event = "pull_request"};
	if (plan_make(w, &o, &c->base, d) < 0)
		return -1;
	size_t nj = wf_njobs(w);
	c->always = arena_alloc(a, (nj ? nj : 1) *
	                               sizeof(*c->always)); // NOLINT(bugprone-sizeof-expression)
	for (size_t i = 0; i < nj; i++)
		if (c->base.jobs[i].state == PLAN_RUNS)
			c->always[c->nalways++] = &c->base.jobs[i];

	const char **cands = NULL;
	size_t ncands = 0, cap = 0;
	for (size_t i = 0; i < nj; i++) {
		const struct wf_job *j = wf_job_at(w, i);
		if (j->if_)
			literals(a, j->if_->s, &cands, &ncands, &cap);
	}
	c->plans = arena_alloc(a, (ncands ? ncands : 1) * sizeof(*c->plans));
	c->labels = arena_alloc(a, (ncands ? ncands : 1) * sizeof(*c->labels));
	size_t *first = arena_alloc(a, (ncands ? ncands : 1) * sizeof(*first));
	int rc = 0;
	for (size_t k = 0; k < ncands && !rc; k++) {
		struct plan_opts lo = {.event = "pull_request", .labels = &cands[k], .nlabels = 1};
		struct plan *p = &c->plans[c->nplans];
		if (plan_make(w, &lo, p, d) < 0) {
			plan_release(p);
			rc = -1;
			break;
		}
		c->nplans++;
		struct plan_label *l = &c->labels[c->nlabels];
		l->jobs = arena_alloc(
		    a, (nj ? nj : 1) * sizeof(*l->jobs)); // NOLINT(bugprone-sizeof-expression)
		for (size_t i = 0; i < nj; i++)
			if (p->jobs[i].state != PLAN_SKIPPED &&
			    c->base.jobs[i].state == PLAN_SKIPPED)
				l->jobs[l->njobs++] = &p->jobs[i];
		if (!l->njobs)
			continue;
		l->label = cands[k];
		first[c->nlabels] = (size_t)(l->jobs[0]->job - wf_job_at(w, 0));
		c->nlabels++;
	}
	free(cands);
	/* In the order of their first job (a stable insertion sort: few labels). */
	for (size_t i = 1; i < c->nlabels; i++) {
		struct plan_label l = c->labels[i];
		size_t f = first[i], j = i;
		for (; j > 0 && first[j - 1] > f; j--) {
			c->labels[j] = c->labels[j - 1];
			first[j] = first[j - 1];
		}
		c->labels[j] = l;
		first[j] = f;
	}
	return rc;
}

void plan_catalogue_release(struct plan_catalogue *c)
{
	plan_release(&c->base);
	for (size_t i = 0; i < c->nplans; i++)
		plan_release(&c->plans[i]);
	arena_release(&c->arena);
	memset(c, 0, sizeof(*c));
}
