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

static const char lint_usage[] =
    "usage: gpuci lint [--workflow FILE] [--rule NAME]... [--strict] [--json]\n"
    "       gpuci lint --list-rules\n";

static const char lint_description[] =
    "Checks, from the repository's top directory, what makes GPU CI silently run\n"
    "nothing or the wrong thing, and prints each finding as\n"
    "  file:line: error|warning: message [rule]\n"
    "pointing at the line to fix: in the workflow template (*.yml.j2) when the\n"
    "workflow is generated from one (a matrix entry, a script line, an if:), else\n"
    "in the workflow; a test file's line. Errors are what makes CI run nothing,\n"
    "the wrong thing or something unsafe; warnings, what works but not as it\n"
    "should. Exit 1 on errors (on any finding with --strict).\n"
    "\n"
    "Rules (gpuci lint --list-rules prints them with a line each):\n"
    "  missing-test-file     a matrix entry's test_file does not exist\n"
    "  gpu-count-mismatch    an entry's num_gpus differs from the file's NUM_GPUS\n"
    "  unregistered-test     a test file in no job that run-ci-changed runs when\n"
    "                        it changes (warning; or list it in unregistered.txt)\n"
    "  unreached-test        a tests/**/test_*.py no job runs and no change pattern\n"
    "                        of run-ci-changed matches: it never runs in CI (a job\n"
    "                        whose script names its folder, `pytest tests/unit`,\n"
    "                        reaches it)\n"
    "  stale-unregistered    unregistered.txt names a file that is registered or gone\n"
    "  test-pattern          a test CI runs as `python FILE` without a literal\n"
    "                        NUM_GPUS or an if __name__ == \"__main__\": block (an\n"
    "                        error: it would run nothing and pass); where the\n"
    "                        repository's GPU tests follow the prepare()/execute()\n"
    "                        pattern, one that does not (a warning)\n"
    "  cpu-test              a test of no GPU (NUM_GPUS = 0 or num_gpus 0) with no\n"
    "                        __main__ block, or in a job whose script always takes\n"
    "                        a GPU lease\n"
    "  one-job-per-label     a PR label gates more than one job\n"
    "  unreachable-job       no event the workflow listens to runs the job (a job\n"
    "                        gated on a PR's title, a comment, the repository or\n"
    "                        the actor may run: it is not reported)\n"
    "  stale-workflow        the workflow is not what its template renders (the\n"
    "                        generated header is kept, whatever its comment says)\n"
    "  duplicate-entry       the same entry (file, args and every other key) twice\n"
    "                        in one job\n"
    "  script-injection      ${{ }} pasted into a run: script of text a PR or a\n"
    "                        comment writes (GitHub's list of untrusted input: a\n"
    "                        title, a body, a branch name; not numbers or ids), or\n"
    "                        of a matrix built from the PR's changed files (errors);\n"
    "                        of a step's or a job's output (a warning naming it)\n"
    "  cancel-on-label       adding a label cancels the run another label started,\n"
    "                        or runs that label's jobs again; or a push leaves the\n"
    "                        runs of the old commit going (see Label workflows)\n"
    "\n"
    "Label workflows that neither cancel nor re-run. A labeled event's run carries\n"
    "every label of the PR, and a per-PR concurrency group with cancel-in-progress\n"
    "makes each new label cancel the last one's run. The pattern that works:\n"
    "  on: pull_request: types: [opened, reopened, synchronize, labeled]\n"
    "  concurrency:        # a label's run is its own; a push cancels the last push\n"
    "    group: ${{ github.workflow }}-${{ github.event.pull_request.number ||\n"
    "      github.ref }}-${{ github.event.action == 'labeled' && github.run_id ||\n"
    "      'push' }}\n"
    "    cancel-in-progress: true\n"
    "  jobs: JOB:\n"
    "    if: github.event.action == 'labeled' && github.event.label.name == 'L' ||\n"
    "        github.event.action != 'labeled' &&\n"
    "        contains(github.event.pull_request.labels.*.name, 'L')\n"
    "    concurrency:      # one of each test per PR: a push cancels the old one\n"
    "      group: ${{ github.workflow }}-${{ github.event.pull_request.number }}-JOB-\n"
    "        ${{ toJSON(matrix) }}\n"
    "      cancel-in-progress: true\n"
    "Adding label B then runs exactly B's jobs (A's run goes on); a push runs every\n"
    "label's jobs once and cancels each of them still running on the old commit.\n"
    "Always-on jobs run on the push events only (github.event.action != 'labeled').\n"
    "`gpuci plan --label A --added B` shows what adding B runs.\n"
    "\n"
    "tests/ci/unregistered.txt lists test files that are not meant to be in a job\n"
    "(one path or glob per line, from the top or under tests/; # comments).\n"
    "\n"
    "Turning rules off. In .github/gpuci.yml (YAML; every key optional):\n"
    "  lint:\n"
    "    disable: [one-job-per-label]        # off for the whole repository\n"
    "    ignore:                             # off for some files\n"
    "      - files: ['tests/test_agent/*']   # globs from the top; ** crosses /\n"
    "        rules: [test-pattern]           # all rules when none is named\n"
    "    severity: {unregistered-test: error}\n"
    "    prepare-execute: auto               # auto, always or never\n"
    "and in a file, a comment `# gpuci: disable=RULE[,RULE...]` (or disable=all):\n"
    "on a line of its own for the whole file, at the end of a line for that line.\n"
    "prepare-execute auto asks prepare() and execute() of a GPU test only where\n"
    "more than half of the repository's GPU tests define both, and never of a\n"
    "pytest-style file (top-level def test_*) that has a __main__ block.\n"
    "\n"
    "--json prints {\"findings\":[{\"file\",\"line\",\"col\",\"rule\",\"severity\",\n"
    "\"message\"}],\"errors\":N,\"warnings\":N,\"files\":N,\"entries\":N} (line and col\n"
    "0 where a finding has none).\n"
    "\n"
    "Under GitHub Actions (GITHUB_ACTIONS=true) each finding is also an ::error or\n"
    "::warning annotation on its line, shown in the pull request's diff.\n"
    "\n"
    "Exit status: 0 no errors (no findings with --strict); 1 errors, or the\n"
    "workflow or .github/gpuci.yml cannot be read; 2 usage.\n"
    "\n"
    "Examples:\n"
    "  gpuci lint\n"
    "  gpuci lint --strict                       # warnings fail too\n"
    "  gpuci lint --rule gpu-count-mismatch --rule missing-test-file\n"
    "  gpuci lint --json | jq -r '.findings[].rule' | sort | uniq -c\n";

static void print_text(struct gpuci_ctx *ctx, const struct lint_report *r)
{
	bool gh = report_in_github_actions();
	for (size_t i = 0; i < r->n; i++) {
		const struct lint_finding *f = &r->findings[i];
		struct strbuf line = STRBUF_INIT;
		strbuf_add_shown(&line, f->file);
		strbuf_addch(&line, ':');
		if (f->line)
			strbuf_addf(&line, "%u:", f->line);
		if (f->line && f->col)
			strbuf_addf(&line, "%u:", f->col);
		strbuf_addf(&line, " %s: ", lint_severity_name(f->severity));
		strbuf_add_shown(&line, f->message);
		strbuf_addf(&line, " [%s]\n", f->rule);
		fputs(line.buf, ctx->out);
		strbuf_release(&line);
		/* In GitHub Actions, also an annotation on the line, in the PR's diff. */
		if (gh) {
			struct strbuf title = STRBUF_INIT;
			strbuf_addf(&title, "gpuci lint: %s", f->rule);
			if (f->severity == LINT_ERROR)
				report_gh_error(ctx->out, f->file, f->line, title.buf, f->message);
			else
				report_gh_warning(ctx->out, f->file, f->line, title.buf,
				                  f->message);
			strbuf_release(&title);
		}
	}
	/* The summary: by rule, in the rules' order. */
	if (!r->n) {
		fprintf(ctx->err, "gpuci lint: no findings (%zu test files, %zu matrix entries)\n",
		        r->nfiles, r->nentries);
		return;
	}
	fprintf(ctx->err, "gpuci lint: %zu error%s, %zu warning%s (", r->nerrors,
	        r->nerrors == 1 ? "" : "s", r->nwarnings, r->nwarnings == 1 ? "" : "s");
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
		strbuf_addf(&s,
		            ",\"severity\":\"%s\",\"message\":", lint_severity_name(x->severity));
		strbuf_add_json_str(&s, x->message);
		strbuf_addch(&s, '}');
	}
	strbuf_addf(&s, "],\"errors\":%zu,\"warnings\":%zu,\"files\":%zu,\"entries\":%zu}\n",
	            r->nerrors, r->nwarnings, r->nfiles, r->nentries);
	fwrite(s.buf, 1, s.len, f);
	strbuf_release(&s);
}

int cmd_lint(int argc, char **argv, struct gpuci_ctx *ctx)
{
	const char *workflow = DEFAULT_WORKFLOW;
	bool json = false, list = false, strict = false;
	struct cli_list rules = {0};
	const struct cli_option opts[] = {
	    {"workflow", 'w', CLI_OPT_STRING, &workflow, "FILE",
	     "the workflow (default " DEFAULT_WORKFLOW "; its template is FILE.j2)", NULL},
	    {"rule", 'r', CLI_OPT_LIST, &rules, "NAME", "run only this rule (repeatable)", NULL},
	    {"strict", 0, CLI_OPT_FLAG, &strict, NULL, "exit 1 on warnings too", NULL},
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
			fprintf(ctx->out, "%-21s %-7s %s\n", r->name,
			        lint_severity_name(r->severity), r->summary);
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
	rc = r.nerrors || (strict && r.n) ? EXIT_FAILED : EXIT_OK;
	lint_report_release(&r);
out:
	free(rules.items);
	diag_release(&d);
	return rc;
}
