/*
 * libFuzzer target: arbitrary bytes as a workflow file, loaded (wf_parse:
 * libyaml's events, the alias, depth and key limits) and planned for a
 * pull_request with a fixed label set, a labeled event and a
 * workflow_dispatch, and read as a plain YAML file and as a static matrix.
 * Any crash, leak, sanitizer report or hang is a bug; so is an error
 * without a message, or placed in another file or at line 0, and a plan
 * whose entries ask for GPUs that plan_entry_gpus_valid refuses.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "plan/plan.h"
#include "wf/model.h"
#include "wf/wf.h"

#define NAME "fuzz.yml"

/* A failure says what and, when placed, where: in this file, from line 1. */
static void check_error(const struct diag *d)
{
	CHECK(d->code != DIAG_OK && d->msg.len > 0);
	if (d->loc.file) {
		CHECK(!strcmp(d->loc.file, NAME));
		CHECK(d->loc.line >= 1 && d->loc.col >= 1);
	}
}

static void plan_once(const struct wf *w, const struct plan_opts *o)
{
	struct plan p;
	struct diag d = DIAG_INIT;
	if (plan_make(w, o, &p, &d) < 0) {
		CHECK(d.code != DIAG_OK && d.msg.len > 0);
	} else {
		CHECK(p.njobs == wf_njobs(w));
		for (size_t j = 0; j < p.njobs; j++) {
			const struct plan_job *pj = &p.jobs[j];
			for (size_t i = 0; pj->state == PLAN_RUNS && i < pj->nentries; i++) {
				struct value bad;
				CHECK(plan_entry_gpus_valid(pj->entries[i], PLAN_MAX_GPUS, &bad));
				CHECK(plan_entry_gpus(pj->entries[i]) <= PLAN_MAX_GPUS);
			}
		}
	}
	plan_release(&p);
	diag_release(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct diag d = DIAG_INIT;
	struct wf *w = NULL;

	if (wf_check_yaml(text, size, NAME, &d) < 0)
		check_error(&d);
	diag_release(&d);
	diag_init(&d);
	if (wf_parse_yaml(text, size, NAME, &w, &d) < 0)
		check_error(&d);
	wf_free(w);
	w = NULL;
	diag_release(&d);
	diag_init(&d);

	if (wf_parse(text, size, NAME, &w, &d) < 0) {
		check_error(&d);
		CHECK(w == NULL);
		diag_release(&d);
		return 0;
	}
	diag_release(&d);
	static const char *const labels[] = {"run-ci-short", "run-ci-long", "run-ci-changed"};
	struct plan_opts pr = {.labels = labels, .nlabels = 3};
	struct plan_opts added = {.labels = labels, .nlabels = 1, .added = "run-ci-short"};
	struct plan_opts dispatch = {.event = "workflow_dispatch"};
	plan_once(w, &pr);
	plan_once(w, &added);
	plan_once(w, &dispatch);
	struct arena a = ARENA_INIT;
	for (size_t j = 0; j < wf_njobs(w); j++) {
		struct value entries;
		if (wf_job_static_matrix(wf_job_at(w, j), &a, &entries))
			CHECK(entries.kind == V_LIST);
	}
	arena_release(&a);
	wf_free(w);
	return 0;
}
