/*
 * gpuci lint: the test registry, the test files and the workflow checked
 * against each other, each finding as file:line: message [rule].
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lint/lint.h"
#include "report/report.h"
#include "base/banned.h"

#define DEFAULT_WORKFLOW ".github/workflows/pr-test.yml"

static const char lint_usage[] = "usage: gpuci lint [--workflow FILE] [--rule NAME]... [--json]\n"
                                 "       gpuci lint --list-rules\n";

static const char lint_description[] =
    "Checks, from the repository's top directory, what makes GPU CI silently run\n"
    "nothing or the wrong thing, and prints each finding as\n"
    "  file:line: message [rule]\n"
    "pointing at the line to fix: a matrix entry's line in the workflow template\n"
    "(*.yml.j2) when there is one, else in the workflow; a test file's line.\n"
    "\n"
    "Rules (gpuci lint --list-rules prints them with a line each):\n"
    "  missing-test-file     a matrix entry's test_file does not exist\n"
    "  gpu-count-mismatch    an entry's num_gpus differs from the file's NUM_GPUS\n"
    "  unregistered-test     a tests/test_*.py or tests/plugin_contracts/test_*.py\n"
    "                        in no job and not in tests/ci/unregistered.txt\n"
    "  stale-unregistered    unregistered.txt names a file that is registered or gone\n"
    "  test-pattern          a GPU test without a literal NUM_GPUS, top-level prepare()\n"
    "                        and execute(), or an if __name__ == \"__main__\": block\n"
    "  cpu-test              a NUM_GPUS = 0 test that cannot run without GPUs: no\n"
    "                        __main__ block (python FILE would run nothing), or in a\n"
    "                        job whose script always takes a GPU lease\n"
    "  one-job-per-label     a PR label gates more than one job\n"
    "  unreachable-job       no event the workflow listens to runs the job\n"
    "  stale-workflow        the workflow is not what its template renders\n"
    "  duplicate-entry       the same test_file and test_args twice in one job\n"
    "  script-injection      ${{ }} of a matrix value or github.event.* pasted into a\n"
    "                        run: script (pass it through env: instead)\n"
    "  cancel-on-label       a per-PR concurrency group with cancel-in-progress and\n"
    "                        labeled events: a second label cancels the first's jobs\n"
    "\n"
    "tests/ci/unregistered.txt lists test files that are not meant to be in a job\n"
    "(one path or glob per line, from the top or under tests/; # comments).\n"
    "\n"
    "--json prints {\"findings\":[{\"file\",\"line\",\"col\",\"rule\",\"message\"}],\n"
    "\"files\":N,\"entries\":N} (line and col 0 where a finding has none).\n"
    "\n"
    "Under GitHub Actions (GITHUB_ACTIONS=true) each finding is also an ::error\n"
    "annotation on its line, shown in the pull request's diff.\n"
    "\n"
    "Exit status: 0 no findings; 1 findings, or the workflow cannot be read;\n"
    "2 usage.\n"
    "\n"
    "Examples:\n"
    "  gpuci lint\n"
    "  gpuci lint --rule gpu-count-mismatch --rule missing-test-file\n"
    "  gpuci lint --json | jq -r '.findings[].rule' | sort | uniq -c\n";

static void print_text(struct gpuci_ctx *ctx, const struct lint_report *r)
{
	bool gh = report_in_github_actions();
	for (size_t i = 0; i < r->n; i++) {
		const struct lint_finding *f = &r->findings[i];
		fprintf(ctx->out, "%s:", f->file);
		if (f->line)
			fprintf(ctx->out, "%u:", f->line);
		if (f->line && f->col)
			fprintf(ctx->out, "%u:", f->col);
		fprintf(ctx->out, " %s [%s]\n", f->message, f->rule);
		/* In GitHub Actions, also an annotation on the line, in the PR's diff. */
		if (gh) {
			struct strbuf title = STRBUF_INIT;
			strbuf_addf(&title, "gpuci lint: %s", f->rule);
			report_gh_error(ctx->out, f->file, f->line, title.buf, f->message);
			strbuf_release(&title);
		}
	}
	/* The summary: by rule, in the rules' order. */
	if (!r->n) {
		fprintf(ctx->err, "gpuci lint: no findings (%zu test files, %zu matrix entries)\n",
		        r->nfiles, r->nentries);
		return;
	}
	fprintf(ctx->err, "gpuci lint: %zu finding%s (", r->n, r->n == 1 ? "" : "s");
	bool first = true;
	for (const struct lint_rule *rule = lint_rules; rule->name; rule++) {
		size_t k = 0;
		for (size_t i = 0; i < r->n; i++)
			k += !strcmp(r->findings[i].rule, rule->name);
		if (k)
			fprintf(ctx->err, "%s%zu %s", first ? "" : ", ", k, rule->name);
		first &= !k;
	}
	fprintf(ctx->err, ") in %zu test files and %zu matrix entries\n", r->nfiles, r->nentries);
}

static void print_json(FILE *f, const struct lint_report *r)
{
	struct strbuf s = STRBUF_INIT;
	strbuf_adds(&s, "{\"findings\":[");
	for (size_t i = 0; i < r->n; i++) {
		const struct lint_finding *x = &r->findings[i];
		strbuf_adds(&s, i ? ",{\"file\":" : "{\"file\":");
		strbuf_add_json_str(&s, x->file);
		strbuf_addf(&s, ",\"line\":%u,\"col\":%u,\"rule\":", x->line, x->col);
		strbuf_add_json_str(&s, x->rule);
		strbuf_adds(&s, ",\"message\":");
		strbuf_add_json_str(&s, x->message);
		strbuf_addch(&s, '}');
	}
	strbuf_addf(&s, "],\"files\":%zu,\"entries\":%zu}\n", r->nfiles, r->nentries);
	fwrite(s.buf, 1, s.len, f);
	strbuf_release(&s);
}

int cmd_lint(int argc, char **argv, struct gpuci_ctx *ctx)
{
	const char *workflow = DEFAULT_WORKFLOW;
	bool json = false, list = false;
	struct cli_list rules = {0};
	const struct cli_option opts[] = {
	    {"workflow", 'w', CLI_OPT_STRING, &workflow, "FILE",
	     "the workflow (default " DEFAULT_WORKFLOW "; its template is FILE.j2)", NULL},
	    {"rule", 'r', CLI_OPT_LIST, &rules, "NAME", "run only this rule (repeatable)", NULL},
	    {"json", 0, CLI_OPT_FLAG, &json, NULL, "print the findings as JSON", NULL},
	    {"list-rules", 0, CLI_OPT_FLAG, &list, NULL, "print the rules and exit", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	int rest, rc = EXIT_OK;
	bool help;
	if (cli_parse(argc, argv, opts, false, &rest, &help, &d) < 0) {
		rc = cli_usage_error(ctx, "lint", &d);
		goto out;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", lint_usage, lint_description);
		cli_print_options(ctx->out, opts);
		goto out;
	}
	if (list) {
		for (const struct lint_rule *r = lint_rules; r->name; r++)
			fprintf(ctx->out, "%-21s %s\n", r->name, r->summary);
		goto out;
	}
	if (rest < argc) {
		diag_set(&d, DIAG_USAGE, "unexpected argument '%s'", argv[rest]);
		rc = cli_usage_error(ctx, "lint", &d);
		goto out;
	}
	struct lint_opts lo = {.workflow = workflow, .rules = rules.items, .nrules = rules.n};
	struct lint_report r;
	if (lint_run(&lo, &r, &d) < 0) {
		if (d.code == DIAG_USAGE) {
			rc = cli_usage_error(ctx, "lint", &d);
		} else {
			cli_error(ctx, "lint", &d);
			if (access(workflow, F_OK) < 0)
				fprintf(ctx->err,
				        "gpuci lint: run it from the repository's top "
				        "directory, or name the workflow (--workflow FILE)\n");
			rc = EXIT_FAILED;
		}
		lint_report_release(&r);
		goto out;
	}
	if (json)
		print_json(ctx->out, &r);
	else
		print_text(ctx, &r);
	rc = r.n ? EXIT_FAILED : EXIT_OK;
	lint_report_release(&r);
out:
	free(rules.items);
	diag_release(&d);
	return rc;
}
