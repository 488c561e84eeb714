/*
 * gpuci plan: which jobs and matrix entries a workflow would run for an
 * event and PR labels, before pushing anything.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/run_shard.h"
#include "cli/run_util.h"
#include "lease/lease.h"
#include "plan/plan.h"
#include "report/report.h"
#include "wf/model.h"
#include "base/banned.h"

#define DEFAULT_WORKFLOW ".github/workflows/pr-test.yml"

static const char plan_usage[] =
    "usage: gpuci plan [--workflow FILE] [--event EVENT] [--label L]... [--input K=V]...\n"
    "                  [--action ACTION] [--added L] [--no-always]\n"
    "                  [--changed [--base REV] [--head REV] [--repo PATH]] [--json]\n"
    "       gpuci plan --shards N [--gpus G] [--history PATH] (--label L... | --changed |\n"
    "                  --event workflow_dispatch | --job NAME...) [--test GLOB]... [--json]\n";

static const char plan_description[] =
    "Says which jobs of a workflow would run for an event, with their matrix\n"
    "entries and GPU counts, the way GitHub decides it: the github context is built\n"
    "for the event (a pull_request carries the --label labels; a workflow_dispatch\n"
    "the --input values over the inputs' defaults), each job's if: is evaluated in\n"
    "needs order (a job whose needed job is skipped is skipped unless its if: calls\n"
    "a status function such as always()), and matrices are expanded (include,\n"
    "exclude, ${{ fromJson(...) }}).\n"
    "\n"
    "What only a run can tell stays open: a job whose if: or matrix needs another\n"
    "job's output is listed as undetermined, naming the output. With --changed the\n"
    "outputs of the change-detection job (a step running `gpuci changed`, or the\n"
    "older grep for NUM_GPUS) are computed here, as `gpuci changed` would compute\n"
    "them, so the changed-tests job is planned with its real entries.\n"
    "\n"
    "A pull_request is a push to a PR carrying the labels (action synchronize)\n"
    "unless --action says otherwise; --added L is the event of adding label L to a\n"
    "PR that has the other --label labels (action labeled, github.event.label.name\n"
    "L): what a second label starts while the first one's run goes on. What the\n"
    "PR's author writes (title, description, branch), a comment's text, the\n"
    "repository and the actor are known only when it runs: a job gated on them is\n"
    "undetermined (\"its if: depends on the pull request's title\"), never skipped.\n"
    "\n"
    "An entry's GPUs are its num_gpus (or matrix.info.num_gpus, one level down).\n"
    "Entries of a job that share test_file and test_args show what tells them\n"
    "apart: test_r3.py [use_deepep=1]. --no-always leaves out the jobs a PR of no\n"
    "labels runs too (the always-on ones), so a label's own jobs stand out. A job\n"
    "that runs but has no matrix (one script, a pytest of a folder) is listed with\n"
    "\"not run by gpuci run: no matrix\".\n"
    "\n"
    "--json prints {\"event\",\"labels\",\"jobs\":[{\"name\",\"runs_on\",\"matrix\",\"gpus\",\n"
    "\"always\",\"not_run\"}],\n"
    "\"undetermined\":[{\"name\",\"reason\"}],\"skipped\":[{\"name\",\"reason\"}],\"gpus\"},\n"
    "jobs in file order, each matrix entry as the workflow spells it.\n"
    "\n"
    "Shards: --shards N splits what `gpuci run` with the same selection would run\n"
    "(--label L, --no-always, --changed, --event workflow_dispatch for run's --all,\n"
    "--job NAME, --test GLOB) into N shards for N machines of G GPUs (--gpus G;\n"
    "else GPUCI_TOTAL_GPUS; else 8), one GitHub matrix job each running `gpuci run\n"
    "--shard K/N@DIGEST`. Each shard takes about as long as the others on its\n"
    "machine: tests go longest (most GPU-seconds) first to the shard whose\n"
    "makespan, as gpuci run's scheduler predicts it from the history's durations\n"
    "(--history PATH, default .gpuci/history.db), grows least, then moves and\n"
    "swaps shorten the slowest shard. Every test is in exactly one shard; a test\n"
    "wider than G is in shard 1, which reports it as not runnable; shards may be\n"
    "empty when N is more than the tests. The split depends only on the selected\n"
    "entries, their durations and GPUs, N and G: the same history gives the same\n"
    "split here and in each shard job, and DIGEST, a digest of the split, lets a\n"
    "shard job whose history or G differ fail before running anything. --json\n"
    "prints a matrix for strategy.matrix: ${{ fromJson(...) }}:\n"
    "{\"include\":[{\"shard\":\"1/4@DIGEST\",\"tests\":M,\"makespan\":SECONDS},...]}\n"
    "(N at most 256, GitHub's limit of jobs in a matrix; one line, for\n"
    "$GITHUB_OUTPUT).\n"
    "\n"
    "Exit status: 0 planned; 1 the workflow or a change detection failed; 2 usage.\n"
    "\n"
    "Examples:\n"
    "  gpuci plan --label run-ci-short            # what this label would run\n"
    "  gpuci plan --label run-ci-short --no-always\n"
    "  gpuci plan --label run-ci-short --added run-ci-ckpt  # adding a second label\n"
    "  gpuci plan --label run-ci-changed --changed\n"
    "  gpuci plan --event workflow_dispatch --input job_filter=e2e-test-ckpt\n"
    "  gpuci plan --event push --json\n"
    "  gpuci plan --shards 4 --gpus 8 --label run-ci-image           # 4 machines\n"
    "  echo \"shards=$(gpuci plan --shards 4 --label run-ci-image --json)\" >> "
    "\"$GITHUB_OUTPUT\"\n";

/* One line per entry, under its job. */
static void print_entries(FILE *f, const struct plan_job *pj)
{
	if (!pj->has_matrix)
		return;
	struct arena a = ARENA_INIT;
	const char **variant = arena_alloc(&a, (pj->nentries + 1) * sizeof(*variant));
	plan_entry_variants(pj->entries, pj->nentries, &a, variant);
	for (size_t i = 0; i < pj->nentries; i++) {
		struct strbuf s = STRBUF_INIT;
		plan_entry_describe(pj->entries[i], &s);
		if (variant[i])
			strbuf_addf(&s, " %s", variant[i]);
		int64_t g = plan_entry_gpus(pj->entries[i]);
		struct strbuf q = STRBUF_INIT;
		fprintf(f, "      %-60s %lld GPU%s\n", cli_shown(&q, s.buf), (long long)g,
		        g == 1 ? "" : "s");
		strbuf_release(&q);
		strbuf_release(&s);
	}
	arena_release(&a);
}

static void print_human(FILE *f, const struct plan *p, const struct plan_opts *o,
                        const char *workflow, bool no_always)
{
	struct strbuf q = STRBUF_INIT, q2 = STRBUF_INIT;
	fprintf(f, "%s", cli_shown(&q, p->event));
	if (o->added)
		fprintf(f, ": label %s added", cli_shown(&q, o->added));
	if (o->nlabels) {
		fprintf(f, "%s label%s", o->added ? " to a PR with" : " with",
		        o->nlabels == 1 ? "" : "s");
		for (size_t i = 0; i < o->nlabels; i++)
			fprintf(f, "%s%s", i ? ", " : " ", cli_shown(&q, o->labels[i]));
	} else if (!strcmp(p->event, "pull_request") && !o->added) {
		fprintf(f, " without labels");
	}
	if (o->action && !o->added)
		fprintf(f, " (action %s)", cli_shown(&q, o->action));
	fprintf(f, " (%s)\n", cli_shown(&q, workflow));
	if (!p->triggered) {
		fprintf(f, "  the workflow does not run on %s: nothing runs\n",
		        cli_shown(&q, p->event));
		strbuf_release(&q);
		return;
	}
	size_t jobs = 0, entries = 0, left_out = 0;
	int64_t gpus = 0;
	bool any = false;
	for (int state = PLAN_RUNS; state <= PLAN_UNKNOWN; state++) {
		static const char *const titles[] = {"Runs:", "Skipped:", "Undetermined:"};
		/* Skipped last: print in the order runs, undetermined, skipped. */
		int s = state == PLAN_RUNS      ? PLAN_RUNS
		        : state == PLAN_SKIPPED ? PLAN_UNKNOWN
		                                : PLAN_SKIPPED;
		bool header = false;
		for (size_t i = 0; i < p->njobs; i++) {
			const struct plan_job *pj = &p->jobs[i];
			if ((int)pj->state != s)
				continue;
			if (no_always && pj->always) {
				left_out++;
				continue;
			}
			if (!header) {
				fprintf(f, "%s\n", titles[s]);
				header = true;
			}
			any = true;
			if (s == PLAN_RUNS && pj->matrix_known) {
				jobs++;
				entries += pj->has_matrix ? pj->nentries : 0;
				gpus += pj->gpus;
				fprintf(f, "  %s", cli_shown(&q, pj->job->id));
				fprintf(f, " (%s)", cli_shown(&q, pj->runs_on));
				if (pj->has_matrix)
					fprintf(f, ": %zu entr%s, %lld GPU%s", pj->nentries,
					        pj->nentries == 1 ? "y" : "ies",
					        (long long)pj->gpus, pj->gpus == 1 ? "" : "s");
				if (plan_job_not_run(pj))
					fprintf(f, ": not run by gpuci run: %s",
					        cli_shown(&q, plan_job_not_run(pj)));
				fprintf(f, "\n");
				print_entries(f, pj);
			} else if (s == PLAN_RUNS) {
				jobs++;
				fprintf(f, "  %s", cli_shown(&q, pj->job->id));
				fprintf(f, " (%s): matrix unknown: %s\n",
				        cli_shown(&q, pj->runs_on), cli_shown(&q2, pj->why));
			} else {
				fprintf(f, "  %s: %s\n", cli_shown(&q, pj->job->id),
				        cli_shown(&q2, pj->why));
			}
		}
	}
	if (!any)
		fprintf(f, "  the workflow has no jobs\n");
	fprintf(f, "%zu job%s run%s, %zu matrix entr%s, %lld GPU%s in all", jobs,
	        jobs == 1 ? "" : "s", jobs == 1 ? "s" : "", entries, entries == 1 ? "y" : "ies",
	        (long long)gpus, gpus == 1 ? "" : "s");
	if (left_out)
		fprintf(f, " (%zu always-on job%s left out: --no-always)", left_out,
		        left_out == 1 ? "" : "s");
	fprintf(f, "\n");
	strbuf_release(&q);
	strbuf_release(&q2);
}

static void print_json(FILE *f, const struct plan *p, const struct plan_opts *o, bool no_always)
{
	struct strbuf s = STRBUF_INIT;
	strbuf_adds(&s, "{\"event\":");
	strbuf_add_json_str(&s, p->event);
	strbuf_adds(&s, ",\"labels\":[");
	for (size_t i = 0; i < o->nlabels; i++) {
		if (i)
			strbuf_addch(&s, ',');
		strbuf_add_json_str(&s, o->labels[i]);
	}
	strbuf_adds(&s, "],\"jobs\":[");
	int64_t gpus = 0;
	bool first = true;
	for (size_t i = 0; i < p->njobs; i++) {
		const struct plan_job *pj = &p->jobs[i];
		if (pj->state != PLAN_RUNS || (no_always && pj->always))
			continue;
		strbuf_adds(&s, first ? "{\"name\":" : ",{\"name\":");
		first = false;
		strbuf_add_json_str(&s, pj->job->id);
		strbuf_adds(&s, ",\"runs_on\":");
		strbuf_add_json_str(&s, pj->runs_on);
		strbuf_adds(&s, ",\"matrix\":");
		if (!pj->matrix_known) {
			strbuf_adds(&s, "null,\"matrix_needs\":");
			strbuf_add_json_str(&s, pj->why);
		} else {
			strbuf_addch(&s, '[');
			for (size_t k = 0; pj->has_matrix && k < pj->nentries; k++) {
				if (k)
					strbuf_addch(&s, ',');
				plan_json(pj->entries[k], &s);
			}
			strbuf_addch(&s, ']');
		}
		strbuf_addf(&s, ",\"gpus\":%lld,\"always\":%s", (long long)pj->gpus,
		            pj->always ? "true" : "false");
		if (plan_job_not_run(pj)) {
			strbuf_adds(&s, ",\"not_run\":");
			strbuf_add_json_str(&s, plan_job_not_run(pj));
		}
		strbuf_addch(&s, '}');
		gpus += pj->gpus;
	}
	static const char *const lists[] = {"undetermined", "skipped"};
	for (int l = 0; l < 2; l++) {
		enum plan_state want = l == 0 ? PLAN_UNKNOWN : PLAN_SKIPPED;
		strbuf_addf(&s, "],\"%s\":[", lists[l]);
		first = true;
		for (size_t i = 0; i < p->njobs; i++) {
			const struct plan_job *pj = &p->jobs[i];
			if (pj->state != want)
				continue;
			strbuf_adds(&s, first ? "{\"name\":" : ",{\"name\":");
			first = false;
			strbuf_add_json_str(&s, pj->job->id);
			strbuf_adds(&s, ",\"reason\":");
			strbuf_add_json_str(&s, pj->why);
			strbuf_addch(&s, '}');
		}
	}
	strbuf_addf(&s, "],\"gpus\":%lld}\n", (long long)gpus);
	fwrite(s.buf, 1, s.len, f);
	strbuf_release(&s);
}

/* What gpuci plan --shards takes besides the plan's own options. */
struct shard_opts {
	unsigned n, gpus;
	bool n_seen, gpus_seen;
	const char *history;
	struct cli_list jobs, tests;
};

/* The machines' GPUs: --gpus G, else GPUCI_TOTAL_GPUS, else 8. */
static int shard_gpus(const struct shard_opts *so, unsigned *out, struct diag *d)
{
	const char *env = getenv("GPUCI_TOTAL_GPUS");
	*out = 8;
	if (so->gpus_seen)
		*out = so->gpus;
	else if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);
		if (*end || v == 0 || v > 4096)
			return diag_set(
			    d, DIAG_USAGE,
			    "GPUCI_TOTAL_GPUS=%s: expected the GPUs of a shard machine, "
			    "1 to 4096 (or give --gpus G)",
			    env);
		*out = (unsigned)v;
	}
	if (*out == 0)
		return diag_set(d, DIAG_USAGE, "--gpus G: a shard machine has at least 1 GPU");
	return 0;
}

static void print_shards_json(FILE *f, const struct run_shards *p)
{
	struct strbuf s = STRBUF_INIT;
	strbuf_adds(&s, "{\"include\":[");
	for (unsigned k = 0; k < p->n; k++) {
		char name[48];
		run_shards_name(p, k, name, sizeof(name));
		strbuf_addf(&s, "%s{\"shard\":\"%s\",\"tests\":%zu,\"makespan\":%.3f}",
		            k ? "," : "", name, p->count[k], p->makespan[k]);
	}
	strbuf_adds(&s, "]}\n");
	fwrite(s.buf, 1, s.len, f);
	strbuf_release(&s);
}

static void print_shards_human(FILE *f, const struct run_cmd *c, const struct run_shards *p)
{
	struct strbuf d = STRBUF_INIT, q = STRBUF_INIT;
	size_t have = c->prep.n - c->guessed;
	fprintf(f,
	        "%u shard%s of %zu test%s for machines of %u GPU%s (%s: %zu of them with a "
	        "history):\n",
	        p->n, p->n == 1 ? "" : "s", c->prep.n, c->prep.n == 1 ? "" : "s", p->gpus,
	        p->gpus == 1 ? "" : "s", cli_shown(&q, c->history_path), have);
	double top = 0;
	for (unsigned k = 0; k < p->n; k++) {
		char name[48];
		run_shards_name(p, k, name, sizeof(name));
		strbuf_reset(&d);
		report_add_duration(&d, p->makespan[k]);
		fprintf(f, "  shard %s: %zu test%s, predicted makespan %s\n", name, p->count[k],
		        p->count[k] == 1 ? "" : "s", d.buf);
		top = p->makespan[k] > top ? p->makespan[k] : top;
		for (size_t i = 0; i < c->prep.n; i++) {
			const struct run_test *t = &c->prep.tests[i];
			if (p->of[i] != k)
				continue;
			strbuf_reset(&d);
			report_add_duration(&d, t->expected);
			fprintf(f, "      %-22s %-50s %2u GPU%s  ~%s%s\n", cli_shown(&q, t->job),
			        t->display, t->gpus, t->gpus == 1 ? " " : "s", d.buf,
			        t->gpus > p->gpus ? "  (not runnable: wider than a machine)" : "");
		}
	}
	strbuf_reset(&d);
	report_add_duration(&d, top);
	fprintf(f, "slowest shard %s", d.buf);
	strbuf_reset(&d);
	report_add_duration(&d, p->bound);
	fprintf(f, "; no split beats %s (the GPU-seconds over %u x %u GPUs, or the longest test)",
	        d.buf, p->n, p->gpus);
	if (p->bound > 0)
		fprintf(f, ": %.2fx", top / p->bound);
	fprintf(f, "\n");
	if (c->guessed)
		fprintf(f,
		        "(%zu test%s without a history %s guessed at %s; a run records real "
		        "durations)\n",
		        c->guessed, c->guessed == 1 ? "" : "s", c->guessed == 1 ? "is" : "are",
		        c->have_all ? "the median of the tests that have one"
		                    : "60 s x (its GPUs + 1)");
	strbuf_release(&d);
	strbuf_release(&q);
}

/* gpuci plan --shards: the selection as gpuci run makes it, split. */
static int plan_shards(struct gpuci_ctx *ctx, const char *workflow, const char *event,
                       const struct cli_list *labels, bool no_always, bool changed,
                       const struct changed_opts *co, const struct shard_opts *so, bool json)
{
	struct run_cli_opts o = {.workflow = workflow,
	                         .pattern = LEASE_DEFAULT_PATTERN,
	                         .labels = *labels,
	                         .jobs = so->jobs,
	                         .tests = so->tests,
	                         .no_always = no_always,
	                         .changed = changed,
	                         .all = !strcmp(event, "workflow_dispatch"),
	                         .base = co->base,
	                         .head = co->head,
	                         .history = so->history,
	                         .dry_run = true};
	struct run_cmd c = {
	    .name = "plan",
	    .ctx = ctx,
	    .o = &o,
	    .d = DIAG_INIT,
	    .a = ARENA_INIT,
	    .prep = {.not_run = STRBUF_INIT, .arena = ARENA_INIT, .envs = STRBUF_INIT}};
	struct run_shards parts = {0};
	int rc = EXIT_OK;
	if (so->n == 0 || so->n > SHARD_MAX) {
		diag_set(&c.d, DIAG_USAGE,
		         "--shards N: 1 to %d shards (GitHub runs at most %d jobs of one matrix)",
		         SHARD_MAX, SHARD_MAX);
		rc = cli_usage_error(ctx, "plan", &c.d);
		goto out;
	}
	if (shard_gpus(so, &c.total, &c.d) < 0) {
		rc = cli_usage_error(ctx, "plan", &c.d);
		goto out;
	}
	if ((rc = run_cmd_select(&c)))
		goto out;
	run_cmd_expected(&c);
	if (!c.prep.n) {
		fprintf(ctx->err, "gpuci plan: nothing to shard: no selected job has a test_file "
		                  "entry\n");
		rc = EXIT_FAILED;
		goto out;
	}
	run_shards_compute(&c, so->n, c.total, &parts);
	struct strbuf q = STRBUF_INIT;
	for (size_t i = 0; i < c.prep.n; i++)
		if (c.prep.tests[i].gpus > c.total)
			fprintf(
			    ctx->err,
			    "gpuci plan: warning: %s %s needs %u GPUs and a shard machine has %u: "
			    "it is in shard 1, which reports it as not runnable\n",
			    cli_shown(&q, c.prep.tests[i].job), c.prep.tests[i].display,
			    c.prep.tests[i].gpus, c.total);
	strbuf_release(&q);
	if (json)
		print_shards_json(ctx->out, &parts);
	else
		print_shards_human(ctx->out, &c, &parts);
out:
	run_shards_release(&parts);
	run_cmd_release(&c);
	return rc;
}

int cmd_plan(int argc, char **argv, struct gpuci_ctx *ctx)
{
	const char *workflow = DEFAULT_WORKFLOW, *event = "pull_request", *action = NULL,
	           *added = NULL;
	struct cli_list labels = {0}, inputs = {0};
	bool json = false, changed = false, no_always = false;
	struct changed_opts co = {0};
	struct shard_opts so = {0};
	const struct cli_option opts[] = {
	    {"workflow", 'w', CLI_OPT_STRING, &workflow, "FILE",
	     "the workflow (default " DEFAULT_WORKFLOW ")", NULL},
	    {"event", 'e', CLI_OPT_STRING, &event, "EVENT",
	     "pull_request (default), push, workflow_dispatch, ...", NULL},
	    {"label", 'l', CLI_OPT_LIST, &labels, "L", "a label on the pull request (repeatable)",
	     NULL},
	    {"action", 0, CLI_OPT_STRING, &action, "ACTION",
	     "the pull_request's action (synchronize; labeled with --added)", NULL},
	    {"added", 0, CLI_OPT_STRING, &added, "L",
	     "the event of adding label L to a PR with the --label labels", NULL},
	    {"no-always", 0, CLI_OPT_FLAG, &no_always, NULL,
	     "leave out the jobs a PR of no labels runs too", NULL},
	    {"input", 'i', CLI_OPT_LIST, &inputs, "K=V",
	     "a workflow_dispatch input (repeatable; others keep their defaults)", NULL},
	    {"changed", 0, CLI_OPT_FLAG, &changed, NULL,
	     "compute the changed-tests outputs from git here", NULL},
	    {"base", 0, CLI_OPT_STRING, &co.base, "REV", "with --changed: the base (origin/main)",
	     NULL},
	    {"head", 0, CLI_OPT_STRING, &co.head, "REV", "with --changed: the head (HEAD)", NULL},
	    {"repo", 0, CLI_OPT_STRING, &co.repo, "PATH", "with --changed: the repository (.)",
	     NULL},
	    {"json", 0, CLI_OPT_FLAG, &json, NULL, "print the plan as JSON", NULL},
	    {"shards", 0, CLI_OPT_UINT, &so.n, "N",
	     "split gpuci run's selection into N shards for N machines (a GitHub matrix)",
	     &so.n_seen},
	    {"gpus", 0, CLI_OPT_UINT, &so.gpus, "G",
	     "with --shards: each machine's GPUs (GPUCI_TOTAL_GPUS, else 8)", &so.gpus_seen},
	    {"history", 0, CLI_OPT_STRING, &so.history, "PATH",
	     "with --shards: the durations' history (.gpuci/history.db)", NULL},
	    {"job", 'j', CLI_OPT_LIST, &so.jobs, "NAME",
	     "with --shards: only this job (repeatable)", NULL},
	    {"test", 't', CLI_OPT_LIST, &so.tests, "GLOB",
	     "with --shards: only matching test files (repeatable)", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	int rest, rc = EXIT_OK;
	bool help;
	struct wf *w = NULL;
	if (cli_parse(argc, argv, opts, false, &rest, &help, &d) < 0) {
		rc = cli_usage_error(ctx, "plan", &d);
		goto out;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", plan_usage, plan_description);
		cli_print_options(ctx->out, opts);
		goto out;
	}
	if ((labels.n || added || action) && strcmp(event, "pull_request") != 0 &&
	    strcmp(event, "pull_request_target") != 0) {
		diag_set(&d, DIAG_USAGE, "--%s needs a pull_request event, not %s",
		         labels.n ? "label"
		         : added  ? "added"
		                  : "action",
		         event);
		rc = cli_usage_error(ctx, "plan", &d);
		goto out;
	}
	if (added && action && strcmp(action, "labeled") != 0) {
		diag_set(&d, DIAG_USAGE, "--added is a labeled event, not --action %s", action);
		rc = cli_usage_error(ctx, "plan", &d);
		goto out;
	}
	if (!changed && (co.base || co.head || co.repo)) {
		diag_set(&d, DIAG_USAGE, "--base, --head and --repo go with --changed");
		rc = cli_usage_error(ctx, "plan", &d);
		goto out;
	}
	if (!so.n_seen && (so.gpus_seen || so.history || so.jobs.n || so.tests.n)) {
		diag_set(&d, DIAG_USAGE, "--%s goes with --shards N",
		         so.gpus_seen ? "gpus"
		         : so.history ? "history"
		         : so.jobs.n  ? "job"
		                      : "test");
		rc = cli_usage_error(ctx, "plan", &d);
		goto out;
	}
	if (so.n_seen) {
		const char *bad = inputs.n  ? "--input"
		                  : action  ? "--action"
		                  : added   ? "--added"
		                  : co.repo ? "--repo"
		                            : NULL;
		bool dispatch = !strcmp(event, "workflow_dispatch");
		if (!bad && strcmp(event, "pull_request") != 0 && !dispatch)
			bad = "--event (other than pull_request and workflow_dispatch)";
		if (bad)
			diag_set(&d, DIAG_USAGE,
			         "--shards splits what gpuci run would run, which takes no %s",
			         bad);
		else if (!labels.n && !changed && !dispatch && !so.jobs.n)
			diag_set(
			    &d, DIAG_USAGE,
			    "--shards: say what to split, as for gpuci run: --label L, --changed, "
			    "--event workflow_dispatch (run's --all) or --job NAME");
		else if (changed && (labels.n || dispatch))
			diag_set(
			    &d, DIAG_USAGE,
			    "--shards: --changed alone, as gpuci run takes it (not with --label "
			    "or workflow_dispatch)");
		if (d.code) {
			rc = cli_usage_error(ctx, "plan", &d);
			goto out;
		}
		rc = plan_shards(ctx, workflow, event, &labels, no_always, changed, &co, &so, json);
		goto out;
	}
	if (wf_load(workflow, &w, &d) < 0) {
		cli_error(ctx, "plan", &d);
		rc = EXIT_FAILED;
		goto out;
	}
	struct plan_opts po = {
	    .event = event,
	    .labels = labels.items,
	    .nlabels = labels.n,
	    .action = action,
	    .added = added,
	    .mark_always = true,
	    .inputs = inputs.items,
	    .ninputs = inputs.n,
	    .changed = changed,
	    .changed_opts = co,
	};
	struct plan p;
	if (plan_make(w, &po, &p, &d) < 0) {
		if (d.code == DIAG_USAGE)
			rc = cli_usage_error(ctx, "plan", &d);
		else {
			cli_error(ctx, "plan", &d);
			rc = EXIT_FAILED;
		}
		plan_release(&p);
		goto out;
	}
	{
		struct strbuf q = STRBUF_INIT, q2 = STRBUF_INIT;
		for (size_t i = 0; p.changed_done && i < p.changed.nwarnings; i++)
			fprintf(ctx->err, "gpuci plan: warning: %s\n",
			        cli_shown(&q, p.changed.warnings[i]));
		if (!p.triggered)
			fprintf(ctx->err, "gpuci plan: warning: %s does not run on %s events\n",
			        cli_shown(&q, workflow), cli_shown(&q2, event));
		strbuf_release(&q);
		strbuf_release(&q2);
	}
	if (json)
		print_json(ctx->out, &p, &po, no_always);
	else
		print_human(ctx->out, &p, &po, workflow, no_always);
	plan_release(&p);
out:
	wf_free(w);
	free(labels.items);
	free(inputs.items);
	free(so.jobs.items);
	free(so.tests.items);
	diag_release(&d);
	return rc;
}
