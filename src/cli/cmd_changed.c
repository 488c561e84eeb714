/*
 * gpuci changed: the test files a branch adds or changes, with the GPUs each
 * declares, as the matrix of the `run-ci-changed` job; replaces the bash +
 * grep detector of the detect-changed-tests step.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "report/report.h"
#include "vcs/changed.h"
#include "base/banned.h"

/* GitHub Actions refuses a matrix of more jobs than this. */
#define GITHUB_MATRIX_MAX 256

static const char changed_usage[] =
    "usage: gpuci changed [--base REV] [--head REV] [--pattern GLOB]... [--git-pathspec]\n"
    "                     [--default-gpus N] [--diff-filter LETTERS] [--json]\n"
    "                     [--github-output] [--repo PATH] [--max-jobs N]\n";

static const char changed_description[] =
    "Lists the test files that HEAD adds or changes since it left BASE, each with\n"
    "the number of GPUs it declares, as the matrix of a `run-ci-changed` job.\n"
    "\n"
    "What counts: the files that differ between the merge base of BASE and HEAD\n"
    "and HEAD, as `git diff BASE...HEAD` (three dots: what BASE gained since the\n"
    "branch point does not count), whose paths match a --pattern. Patterns are\n"
    "git pathspec globs relative to the top of the repository; the defaults are\n"
    "'tests/test_*.py' and 'tests/plugin_contracts/test_*.py'.\n"
    "\n"
    "Patterns: in git a * also matches '/', so 'tests/test_*.py' matches\n"
    "tests/test_agent/_fakes.py and tests/test_agent/__init__.py. gpuci asks more:\n"
    "the file's own name (after its last '/') must match the pattern's last part\n"
    "(after its last '/'), where nothing matches '/'. tests/test_agent/test_x.py is\n"
    "listed (its name is test_x.py), the helpers are left out, each named on stderr\n"
    "with the pattern that reached it (and in --json's \"left_out\"). The folder\n"
    "part keeps git's meaning: a * there may match several folders. A pattern\n"
    "without '/' is anchored at the top, as in git: 'test_*.py' is test_a.py and\n"
    "test_d/test_b.py, not test_d/helper.py. A pattern without any wildcard is that\n"
    "file, or every file under that folder, as in git. --git-pathspec keeps git's\n"
    "meaning throughout, as the old detector had it: the helpers are listed (and\n"
    "run by CI as tests), each with a warning.\n"
    "\n"
    "Added (A), modified (M) and renamed (R, listed under the new name; renames\n"
    "found as `git diff` finds them by default, 50% similar) files count;\n"
    "--diff-filter picks others with git's letters: uppercase to include,\n"
    "lowercase to exclude. `--git-pathspec --diff-filter AM` gives exactly what\n"
    "the old detector gave (`git diff --name-only --diff-filter=AM\n"
    "origin/main...HEAD -- PATTERNS`: helpers listed, renamed tests left out). D\n"
    "is refused: a deleted file has nothing to run.\n"
    "\n"
    "GPUs: each file is read from HEAD's commit, not from the work tree (so a\n"
    "bare clone works and uncommitted edits do not count), and its top-level\n"
    "`NUM_GPUS = N` read as Python would see it on import: an assignment in a\n"
    "docstring, a comment, a function or the __main__ block does not count; the\n"
    "last top-level one wins. A file without a literal count gets --default-gpus\n"
    "(8) and a warning naming file:line: no NUM_GPUS, a value that is not an int\n"
    "literal (NUM_GPUS = int(os.environ[...])), one set under a top-level if/try,\n"
    "or a file Python could not tokenize. Warnings never fail the command; under\n"
    "GitHub Actions (GITHUB_ACTIONS=true) each is also a ::warning annotation on\n"
    "the file's line.\n"
    "\n"
    "Output: a listing on stderr, one line per test (status, GPUs, path), one per\n"
    "file left out (\"left out PATH: why\"; also a ::warning under GitHub Actions),\n"
    "then the warnings. --json prints the matrix and the files left out on stdout:\n"
    "  {\"info\":[{\"test_file\":\"tests/test_x.py\",\"num_gpus\":4}],\n"
    "   \"left_out\":[{\"file\":\"tests/test_a/_h.py\",\"pattern\":\"tests/test_*.py\",\n"
    "                \"reason\":\"...\"}]}\n"
    "on one line, with paths as git gives them, from the top of the repository, in\n"
    "git's order (the old detector dropped the tests/ prefix: a step that ran\n"
    "`python tests/${{ matrix.info.test_file }}` now runs\n"
    "`python ${{ matrix.info.test_file }}`). JSON escapes '\"', '\\' and control\n"
    "characters; bytes of a path that are not UTF-8 become U+FFFD (with a\n"
    "warning), so the output is always valid JSON. It is not a matrix to hand to\n"
    "GitHub as is (\"left_out\" would be a dimension): --github-output appends\n"
    "`has_tests=true|false` and `matrix={\"info\":[...]}`, the matrix alone, as\n"
    "before, to the file named by $GITHUB_OUTPUT. A GitHub matrix holds at most\n"
    "256 jobs: more changed tests than --max-jobs (256) is an error, and nothing is\n"
    "written.\n"
    "\n"
    "The repository is found from --repo PATH (or the current directory) upwards,\n"
    "as git finds it, and read with the git command (GPUCI_GIT=/path/to/git names\n"
    "another one); the work tree and the index are never read.\n"
    "\n"
    "Exit status: 0 done, also when no test changed; 1 more tests than --max-jobs,\n"
    "git missing or failing, or a read or write failed; 2 usage errors, a bad\n"
    "revision, no merge base (also: a shallow clone that stops short of it), not\n"
    "a repository, or --github-output without $GITHUB_OUTPUT.\n"
    "\n"
    "Examples:\n"
    "  gpuci changed --json                  # this branch against origin/main\n"
    "  gpuci changed --base main --json      # against the local main\n"
    "  gpuci changed --pattern 'tests/*/test_*.py' --default-gpus 1  # any depth\n"
    "  gpuci changed --git-pathspec --diff-filter AM  # what the old detector listed\n"
    "\n"
    "In a workflow (the checkout needs the history down to the merge base):\n"
    "  - uses: actions/checkout@v4\n"
    "    with: {fetch-depth: 0}\n"
    "  - id: detect\n"
    "    run: gpuci changed --github-output\n"
    "  ... and the run job takes\n"
    "    if: needs.detect-changed-tests.outputs.has_tests == 'true'\n"
    "    strategy:\n"
    "      matrix: ${{ fromJson(needs.detect-changed-tests.outputs.matrix) }}\n";

/* Appends data to the file at path in one go (GitHub reads it after the step). */
static int append_file(const char *path, const char *data, size_t len, struct diag *d)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return diag_errno(d, "cannot open $GITHUB_OUTPUT file %s", path);
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			diag_errno(d, "cannot write $GITHUB_OUTPUT file %s", path);
			close(fd);
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0)
		return diag_errno(d, "cannot write $GITHUB_OUTPUT file %s", path);
	return 0;
}

/* Ends each note about a file left out. */
static const char keeps_git[] = " (--git-pathspec keeps git's meaning)";

/*
 * The listing on stderr: a summary line, one line per test, one per file
 * left out, then the warnings.
 */
static void print_listing(struct gpuci_ctx *ctx, const struct changed_result *r,
                          const struct changed_opts *o, const char *filter)
{
	const char *base = o->base ? o->base : "origin/main";
	const char *head = o->head ? o->head : "HEAD";
	struct strbuf sb = STRBUF_INIT;
	if (r->n == 0) {
		strbuf_adds(&sb, "gpuci changed: no test file in ");
		strbuf_add_shown(&sb, base);
		strbuf_adds(&sb, "...");
		strbuf_add_shown(&sb, head);
		strbuf_adds(&sb, " matches");
		const char *const *p = o->npatterns ? o->patterns : changed_default_patterns;
		size_t np = o->npatterns ? o->npatterns : changed_default_npatterns;
		for (size_t i = 0; i < np; i++)
			strbuf_addf(&sb, " '%s'", p[i]);
		strbuf_addf(&sb, " with status %s (merge base %.12s)\n", filter, r->merge_base_id);
	} else {
		strbuf_addf(&sb, "gpuci changed: %zu test file%s in ", r->n, r->n == 1 ? "" : "s");
		strbuf_add_shown(&sb, base);
		strbuf_adds(&sb, "...");
		strbuf_add_shown(&sb, head);
		strbuf_addf(&sb, " (merge base %.12s):\n", r->merge_base_id);
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct changed_test *t = &r->tests[i];
		strbuf_addf(&sb, "  %c %3" PRId64 " GPU%s  ", t->status, t->num_gpus,
		            t->num_gpus == 1 ? " " : "s");
		strbuf_add_quoted(&sb, t->path);
		if (t->old_path) {
			strbuf_adds(&sb, "  (from ");
			strbuf_add_quoted(&sb, t->old_path);
			strbuf_addf(&sb, ", %u%% similar)", t->similarity);
		}
		if (t->defaulted)
			strbuf_adds(&sb, "  (default)");
		strbuf_addch(&sb, '\n');
	}
	struct strbuf why = STRBUF_INIT;
	for (size_t i = 0; i < r->nleft_out; i++) {
		strbuf_adds(&sb, "gpuci changed: left out ");
		strbuf_add_quoted(&sb, r->left_out[i].path);
		strbuf_adds(&sb, ": ");
		strbuf_add_shown(&sb, r->left_out[i].reason);
		strbuf_addf(&sb, "%s\n", keeps_git);
	}
	for (size_t i = 0; i < r->nwarnings; i++) {
		strbuf_adds(&sb, "gpuci changed: warning: ");
		strbuf_add_shown(&sb, r->warnings[i]);
		strbuf_addch(&sb, '\n');
	}
	fputs(sb.buf, ctx->err);
	strbuf_release(&sb);
	/*
	 * In GitHub Actions, each defaulted file is also a warning on its line,
	 * and each file a wildcard reached across '/' one on the file.
	 */
	if (report_in_github_actions()) {
		for (size_t i = 0; i < r->n; i++) {
			const struct changed_test *t = &r->tests[i];
			if (t->warning)
				report_gh_warning(ctx->err, t->path, t->warning_line,
				                  "gpuci changed: NUM_GPUS", t->warning);
			if (t->crossing_warning)
				report_gh_warning(ctx->err, t->path, 0,
				                  "gpuci changed: not a test by its name",
				                  t->crossing_warning);
		}
		for (size_t i = 0; i < r->nleft_out; i++) {
			strbuf_reset(&why);
			strbuf_addf(&why, "%s%s", r->left_out[i].reason, keeps_git);
			report_gh_warning(ctx->err, r->left_out[i].path, 0,
			                  "gpuci changed: left out", why.buf);
		}
	}
	strbuf_release(&why);
}

int cmd_changed(int argc, char **argv, struct gpuci_ctx *ctx)
{
	struct changed_opts o = {0};
	struct cli_list patterns = {0};
	unsigned default_gpus = 8, max_jobs = GITHUB_MATRIX_MAX;
	bool json = false, github_output = false;
	const struct cli_option opts[] = {
	    {"base", 0, CLI_OPT_STRING, &o.base, "REV", "compare from the merge base with REV",
	     NULL},
	    {"head", 0, CLI_OPT_STRING, &o.head, "REV", "the branch's commit (HEAD)", NULL},
	    {"pattern", 0, CLI_OPT_LIST, &patterns, "GLOB", "test files to look at; repeatable",
	     NULL},
	    {"git-pathspec", 0, CLI_OPT_FLAG, &o.git_pathspec, NULL,
	     "git's meaning: list helpers a * reaches across '/'", NULL},
	    {"default-gpus", 0, CLI_OPT_UINT, &default_gpus, "N",
	     "GPUs of a test without a literal NUM_GPUS (8)", NULL},
	    {"diff-filter", 0, CLI_OPT_STRING, &o.diff_filter, "LETTERS",
	     "git's change letters to list (AMR)", NULL},
	    {"json", 0, CLI_OPT_FLAG, &json, NULL, "print the matrix and what was left out as JSON",
	     NULL},
	    {"github-output", 0, CLI_OPT_FLAG, &github_output, NULL,
	     "append has_tests= and matrix= to $GITHUB_OUTPUT", NULL},
	    {"repo", 0, CLI_OPT_STRING, &o.repo, "PATH",
	     "a path in the repository (the current directory)", NULL},
	    {"max-jobs", 0, CLI_OPT_UINT, &max_jobs, "N",
	     "fail when more tests than this changed (256)", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	struct changed_result r = {0};
	int rc = EXIT_OK, rest;
	bool help;
	if (cli_parse(argc, argv, opts, false, &rest, &help, &d) < 0) {
		rc = cli_usage_error(ctx, "changed", &d);
		goto out;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", changed_usage, changed_description);
		cli_print_options(ctx->out, opts);
		goto out;
	}
	if (rest < argc) {
		diag_set(&d, DIAG_USAGE, "unexpected argument '%s'", argv[rest]);
		rc = cli_usage_error(ctx, "changed", &d);
		goto out;
	}
	if (max_jobs == 0) {
		diag_set(&d, DIAG_USAGE, "--max-jobs must be 1 or more");
		rc = cli_usage_error(ctx, "changed", &d);
		goto out;
	}
	const char *gh_path = getenv("GITHUB_OUTPUT");
	if (github_output && (!gh_path || !*gh_path)) {
		diag_set(&d, DIAG_USAGE,
		         "--github-output: GITHUB_OUTPUT is not set (GitHub Actions sets it in "
		         "a step; elsewhere, set it to a file or use --json)");
		cli_error(ctx, "changed", &d);
		rc = EXIT_USAGE;
		goto out;
	}
	o.patterns = patterns.items;
	o.npatterns = patterns.n;
	o.default_gpus = default_gpus;

	char filter[CHANGED_FILTER_MAX];
	if (changed_filter_parse(o.diff_filter ? o.diff_filter : "AMR", filter, &d) < 0 ||
	    changed_detect(&o, &r, &d) < 0) {
		cli_error(ctx, "changed", &d);
		rc = d.code == DIAG_USAGE ? EXIT_USAGE : EXIT_FAILED;
		goto out;
	}
	print_listing(ctx, &r, &o, filter);
	if (r.n > max_jobs) {
		diag_set(&d, DIAG_INPUT,
		         "%zu test files changed, more than the %u jobs %s; split the change, "
		         "narrow --pattern, or raise --max-jobs",
		         r.n, max_jobs,
		         max_jobs == GITHUB_MATRIX_MAX ? "a GitHub Actions matrix may hold"
		                                       : "--max-jobs allows");
		cli_error(ctx, "changed", &d);
		rc = EXIT_FAILED;
		goto out;
	}

	struct strbuf matrix = STRBUF_INIT, json_out = STRBUF_INIT;
	changed_matrix_json(&r, &matrix);
	if (github_output) {
		struct strbuf lines = STRBUF_INIT;
		strbuf_addf(&lines, "has_tests=%s\nmatrix=%s\n", r.n ? "true" : "false",
		            matrix.buf);
		if (append_file(gh_path, lines.buf, lines.len, &d) < 0) {
			cli_error(ctx, "changed", &d);
			rc = EXIT_FAILED;
		}
		strbuf_release(&lines);
	}
	if (json && rc == EXIT_OK) {
		changed_json(&r, &json_out);
		fputs(json_out.buf, ctx->out);
		fputc('\n', ctx->out);
	}
	strbuf_release(&json_out);
	strbuf_release(&matrix);
out:
	changed_result_release(&r);
	free(patterns.items);
	diag_release(&d);
	return rc;
}
