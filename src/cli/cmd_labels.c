/*
 * gpuci labels: the PR label catalogue of a workflow, found by evaluating
 * its if: conditions, as the CI docs show it.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "plan/plan.h"
#include "wf/model.h"
#include "base/banned.h"

#define DEFAULT_WORKFLOW ".github/workflows/pr-test.yml"

static const char labels_usage[] = "usage: gpuci labels [--workflow FILE] [--markdown | --json]\n";

static const char labels_description[] =
    "Lists the PR labels a workflow reacts to: for each label, the jobs a\n"
    "pull_request carrying only that label runs and one without labels does not,\n"
    "with the number of tests (matrix entries), the GPUs per test (min-max) and\n"
    "the GPUs in all; then the always-on jobs, which run on every pull_request.\n"
    "Labels are found by evaluating the jobs' if: conditions (each string in them\n"
    "is tried as a label), not by searching the text, so a label that gates no job\n"
    "is not listed. A job whose tests are only known at run time (the changed\n"
    "tests) shows \"dynamic\".\n"
    "\n"
    "--markdown prints a table to paste into the CI docs; --json the same data.\n"
    "\n"
    "Exit status: 0 listed; 1 the workflow is broken; 2 usage.\n"
    "\n"
    "Examples:\n"
    "  gpuci labels\n"
    "  gpuci labels --markdown > docs/ci-labels.md\n";

struct counts {
	bool dynamic, matrix;
	size_t tests;
	int64_t min, max, total;
};

static struct counts job_counts(const struct plan_job *pj)
{
	struct counts c = {.min = -1};
	if (pj->state != PLAN_RUNS || !pj->matrix_known) {
		c.dynamic = true;
		return c;
	}
	c.matrix = pj->has_matrix;
	if (!c.matrix)
		return c;
	c.tests = pj->nentries;
	for (size_t i = 0; i < pj->nentries; i++) {
		int64_t g = plan_entry_gpus(pj->entries[i]);
		if (c.min < 0 || g < c.min)
			c.min = g;
		if (g > c.max)
			c.max = g;
		c.total += g;
	}
	if (c.min < 0)
		c.min = 0;
	return c;
}

/* "4", "1-8", "dynamic" or "-" into buf. */
static const char *fmt_range(char *buf, size_t n, const struct counts *c)
{
	if (c->dynamic)
		snprintf(buf, n, "dynamic");
	else if (!c->matrix || !c->tests)
		snprintf(buf, n, "-");
	else if (c->min == c->max)
		snprintf(buf, n, "%lld", (long long)c->min);
	else
		snprintf(buf, n, "%lld-%lld", (long long)c->min, (long long)c->max);
	return buf;
}

static const char *fmt_num(char *buf, size_t n, const struct counts *c, bool total)
{
	if (c->dynamic)
		snprintf(buf, n, "dynamic");
	else if (!c->matrix)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%lld", total ? (long long)c->total : (long long)c->tests);
	return buf;
}

static void print_table(FILE *f, const struct plan_catalogue *c, bool md)
{
	char r[32], t[32], g[32];
	struct strbuf q = STRBUF_INIT, q2 = STRBUF_INIT;
	if (md) {
		fprintf(f, "| Label | Job | Tests | GPUs per test | GPUs in all |\n");
		fprintf(f, "|---|---|---|---|---|\n");
	} else {
		fprintf(f, "%-20s %-24s %7s %13s %11s\n", "LABEL", "JOB", "TESTS", "GPUS/TEST",
		        "GPUS");
	}
	for (size_t i = 0; i < c->nlabels; i++) {
		const struct plan_label *l = &c->labels[i];
		for (size_t k = 0; k < l->njobs; k++) {
			struct counts n = job_counts(l->jobs[k]);
			const char *label = cli_shown(&q, l->label),
			           *id = cli_shown(&q2, l->jobs[k]->job->id);
			if (md)
				fprintf(f, "| %s%s%s | `%s` | %s | %s | %s |\n", k ? "" : "`",
				        k ? "" : label, k ? "" : "`", id,
				        fmt_num(t, sizeof(t), &n, false),
				        fmt_range(r, sizeof(r), &n),
				        fmt_num(g, sizeof(g), &n, true));
			else
				fprintf(f, "%-20s %-24s %7s %13s %11s\n", k ? "" : label, id,
				        fmt_num(t, sizeof(t), &n, false),
				        fmt_range(r, sizeof(r), &n),
				        fmt_num(g, sizeof(g), &n, true));
		}
	}
	if (!c->nlabels)
		fprintf(f, md ? "\nNo job of this workflow is gated by a PR label.\n"
		              : "(no job is gated by a PR label)\n");
	fprintf(f, md ? "\nAlways on (every pull request, whatever its labels):" : "\nAlways on:");
	if (!c->nalways)
		fprintf(f, " none");
	for (size_t i = 0; i < c->nalways; i++) {
		struct counts n = job_counts(c->always[i]);
		fprintf(f, "%s%s%s%s", i ? "," : "", md ? " `" : " ",
		        cli_shown(&q, c->always[i]->job->id), md ? "`" : "");
		if (n.matrix)
			fprintf(f, " (%zu test%s, %lld GPU%s)", n.tests, n.tests == 1 ? "" : "s",
			        (long long)n.total, n.total == 1 ? "" : "s");
	}
	fprintf(f, "\n");
	strbuf_release(&q);
	strbuf_release(&q2);
}

static void json_job(struct strbuf *s, const struct plan_job *pj)
{
	struct counts n = job_counts(pj);
	strbuf_adds(s, "{\"job\":");
	strbuf_add_json_str(s, pj->job->id);
	if (n.dynamic)
		strbuf_adds(s, ",\"tests\":null,\"dynamic\":true");
	else if (!n.matrix)
		strbuf_adds(s, ",\"tests\":0");
	else
		strbuf_addf(s, ",\"tests\":%zu,\"gpus_min\":%lld,\"gpus_max\":%lld,\"gpus\":%lld",
		            n.tests, (long long)n.min, (long long)n.max, (long long)n.total);
	strbuf_addch(s, '}');
}

static void print_json(FILE *f, const struct plan_catalogue *c)
{
	struct strbuf s = STRBUF_INIT;
	strbuf_adds(&s, "{\"labels\":[");
	for (size_t i = 0; i < c->nlabels; i++) {
		strbuf_adds(&s, i ? ",{\"label\":" : "{\"label\":");
		strbuf_add_json_str(&s, c->labels[i].label);
		strbuf_adds(&s, ",\"jobs\":[");
		for (size_t k = 0; k < c->labels[i].njobs; k++) {
			if (k)
				strbuf_addch(&s, ',');
			json_job(&s, c->labels[i].jobs[k]);
		}
		strbuf_adds(&s, "]}");
	}
	strbuf_adds(&s, "],\"always\":[");
	for (size_t i = 0; i < c->nalways; i++) {
		if (i)
			strbuf_addch(&s, ',');
		json_job(&s, c->always[i]);
	}
	strbuf_adds(&s, "]}\n");
	fwrite(s.buf, 1, s.len, f);
	strbuf_release(&s);
}

int cmd_labels(int argc, char **argv, struct gpuci_ctx *ctx)
{
	const char *workflow = DEFAULT_WORKFLOW;
	bool md = false, json = false;
	const struct cli_option opts[] = {
	    {"workflow", 'w', CLI_OPT_STRING, &workflow, "FILE",
	     "the workflow (default " DEFAULT_WORKFLOW ")", NULL},
	    {"markdown", 0, CLI_OPT_FLAG, &md, NULL, "print a Markdown table for the docs", NULL},
	    {"json", 0, CLI_OPT_FLAG, &json, NULL, "print the catalogue as JSON", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	int rest, rc = EXIT_OK;
	bool help;
	struct wf *w = NULL;
	if (cli_parse(argc, argv, opts, false, &rest, &help, &d) < 0) {
		rc = cli_usage_error(ctx, "labels", &d);
		goto out;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", labels_usage, labels_description);
		cli_print_options(ctx->out, opts);
		goto out;
	}
	if (md && json) {
		diag_set(&d, DIAG_USAGE, "--markdown and --json: one at a time");
		rc = cli_usage_error(ctx, "labels", &d);
		goto out;
	}
	if (wf_load(workflow, &w, &d) < 0) {
		cli_error(ctx, "labels", &d);
		rc = EXIT_FAILED;
		goto out;
	}
	struct plan_catalogue c;
	if (plan_catalogue(w, &c, &d) < 0) {
		cli_error(ctx, "labels", &d);
		rc = EXIT_FAILED;
	} else if (json) {
		print_json(ctx->out, &c);
	} else {
		print_table(ctx->out, &c, md);
	}
	plan_catalogue_release(&c);
out:
	wf_free(w);
	diag_release(&d);
	return rc;
}
