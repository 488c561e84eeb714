/*
 * gpuci new-test: a new test file in the standard pattern, registered in a
 * job of the workflow template, and the workflow rendered again.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lease/lease.h"
#include "scaffold/newtest.h"
#include "base/banned.h"

#define DEFAULT_WORKFLOW ".github/workflows/pr-test.yml"

static const char new_test_usage[] =
    "usage: gpuci new-test NAME --gpus N [--job JOB] [--model MODEL] [--args ARGS]\n"
    "       gpuci new-test NAME --existing --job JOB [--gpus N] [--args ARGS]\n";

static const char new_test_description[] =
    "Writes tests/test_NAME.py in the standard test pattern: a docstring,\n"
    "MODEL_NAME, NUM_GPUS = N, prepare(), execute(), and a __main__ block that\n"
    "calls prepare(), drops the four proxy variables from the environment, then\n"
    "calls execute(). An existing file is never overwritten.\n"
    "\n"
    "NAME is a bare name (no /), completed with test_ in front and .py after when\n"
    "missing: qwen3.5_probe, test_qwen3.5_probe and qwen3.5_probe.py all make\n"
    "tests/test_qwen3.5_probe.py. Or a path: folders under tests/ (tests/ itself\n"
    "may be left out), then a file taken as it is, which must be test_*.py\n"
    "(tests/test_qwen2.5_0.5B_short.py, as --existing wants it), or a name\n"
    "completed as above (plugin_contracts/NAME). Names use ASCII letters, digits\n"
    "and _ . - + @ = , % only, so that they are safe as a file name, in the\n"
    "entry's string and as a shell word; any other character (whitespace, quotes,\n"
    "backslash, shell specials, globs, :, non-ASCII) is refused with the reason.\n"
    "\n"
    "With --job, the test is also registered: the entry\n"
    "  {'test_file': 'test_NAME.py', 'num_gpus': N}\n"
    "(with 'test_args' when --args is given) is added to the end of that job's\n"
    "tests list in the workflow template (FILE.j2), as one new line in the style\n"
    "of the entries above it; no other line changes. The workflow is then rendered\n"
    "again, and checked: the job must plan the new entry and no job may lose one.\n"
    "A job whose tests are a sum of lists (vime's e2e-test-image) is refused: add\n"
    "the test to the job that owns one of the lists. When the template cannot be\n"
    "edited safely, nothing is changed and the reason is printed.\n"
    "\n"
    "Without --job the test runs under run-ci-changed (every added or modified\n"
    "test file, on its NUM_GPUS) until it is registered.\n"
    "\n"
    "The file comes from tests/ci/test_template.py when the repository has one, a\n"
    "Jinja2 template (<< >> expressions, <% %> statements) that sees: name\n"
    "(test_NAME), path (tests/test_NAME.py), num_gpus, model, job, label (the\n"
    "job's PR label, or empty), args. The result must set NUM_GPUS to N.\n"
    "\n"
    "Prints each file it created or changed.\n"
    "\n"
    "Exit status: 0 done; 1 refused or failed, nothing changed; 2 usage.\n"
    "\n"
    "Examples:\n"
    "  gpuci new-test qwen3_8B_grpo --gpus 8 --job e2e-test-megatron --model Qwen3-8B\n"
    "  gpuci new-test qwen3_4B_ckpt_resume --gpus 2 --job e2e-test-ckpt --args '--async-save'\n"
    "  gpuci new-test plugin_contracts/test_plugin_loss_contracts --gpus 0 \\\n"
    "      --job plugin-contracts\n"
    "  gpuci new-test qwen3_4B_probe --existing --job e2e-test-megatron  # register a file\n"
    "  gpuci new-test tests/test_qwen2.5_0.5B_short.py --existing --job e2e-test-short\n";

static void report(FILE *f, const struct newtest *t, bool dry_run)
{
	const char *verb = dry_run ? "would " : "";
	if (t->write_test)
		fprintf(f, "%s%s %s (NUM_GPUS = %lld, from %s)\n", verb,
		        dry_run ? "create" : "created", t->test_path, (long long)t->gpus,
		        t->template_from ? t->template_from : "the built-in pattern");
	if (t->edit) {
		const char *p = t->added_text;
		while (*p == ' ' || *p == '\t')
			p++;
		fprintf(f, "%s%s %s:%u: + %s\n", verb, dry_run ? "change" : "changed", t->tpl_path,
		        t->added_line, p);
		for (size_t i = 0; i < t->njobs; i++) {
			fprintf(f, "  %s %s", i ? "and job" : (t->list_name ? "in" : "job"),
			        t->jobs[i].id);
			if (!i && t->list_name)
				fprintf(f, "'s list %s", t->list_name);
			if (t->jobs[i].label)
				fprintf(f, " (label %s)", t->jobs[i].label);
			fprintf(f, "\n");
		}
		fprintf(f, "%s%s %s\n", verb, dry_run ? "render" : "rendered", t->yml_path);
		if (t->yml_was_stale)
			fprintf(f,
			        "  note: %s was not current before: it %s the template's other "
			        "changes too\n",
			        t->yml_path, dry_run ? "would get" : "got");
	}
	if (dry_run)
		return;
	const char *bare = t->test_path + 6;
	if (t->write_test)
		fprintf(f,
		        "\nNext: write prepare() and execute() in %s, then run it here as CI "
		        "would:\n",
		        t->test_path);
	else
		fprintf(f, "\nNext: run it here as CI would:\n");
	if (t->edit)
		fprintf(f, "  gpuci run --job %s --test %s\nand commit %s%s%s and %s.\n",
		        t->jobs[0].id, bare, t->write_test ? t->test_path : "",
		        t->write_test ? ", " : "", t->tpl_path, t->yml_path);
	else
		fprintf(f,
		        "  gpuci run --changed --test %s   (after a commit)\n"
		        "Until it is in a job, CI runs it only under run-ci-changed; register it "
		        "with\n  gpuci new-test %s --existing --job JOB\n",
		        bare, bare);
}

int cmd_new_test(int argc, char **argv, struct gpuci_ctx *ctx)
{
	const char *workflow = DEFAULT_WORKFLOW, *job = NULL, *model = NULL, *args = NULL;
	unsigned gpus = 0;
	bool gpus_seen = false, existing = false, dry_run = false;
	const struct cli_option opts[] = {
	    {"gpus", 'g', CLI_OPT_UINT, &gpus, "N",
	     "GPUs the test needs: its NUM_GPUS (0: CPU only)", &gpus_seen},
	    {"job", 'j', CLI_OPT_STRING, &job, "JOB", "register it in this job of the template",
	     NULL},
	    {"model", 'm', CLI_OPT_STRING, &model, "MODEL", "the MODEL_NAME it trains", NULL},
	    {"args", 'a', CLI_OPT_STRING, &args, "ARGS", "the entry's test_args (with --job)",
	     NULL},
	    {"existing", 0, CLI_OPT_FLAG, &existing, NULL,
	     "register an existing test file (NUM_GPUS read from it)", NULL},
	    {"workflow", 'w', CLI_OPT_STRING, &workflow, "FILE",
	     "the workflow (default " DEFAULT_WORKFLOW "; its template is FILE.j2)", NULL},
	    {"dry-run", 'n', CLI_OPT_FLAG, &dry_run, NULL,
	     "print what would change; change nothing", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	int rc = EXIT_OK;
	bool help = false;
	const char *name = NULL;
	/* Options and one NAME, in any order. */
	for (char **av = argv; argc > 0;) {
		int rest;
		bool h;
		if (cli_parse(argc, av, opts, true, &rest, &h, &d) < 0) {
			rc = cli_usage_error(ctx, "new-test", &d);
			goto out;
		}
		help |= h;
		if (rest >= argc)
			break;
		if (name) {
			diag_set(&d, DIAG_USAGE,
			         "unexpected argument '%s' (one NAME; quote --args)", av[rest]);
			rc = cli_usage_error(ctx, "new-test", &d);
			goto out;
		}
		name = av[rest];
		av += rest;
		argc -= rest;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", new_test_usage, new_test_description);
		cli_print_options(ctx->out, opts);
		goto out;
	}
	if (!name) {
		diag_set(&d, DIAG_USAGE, "which test? gpuci new-test NAME --gpus N");
		rc = cli_usage_error(ctx, "new-test", &d);
		goto out;
	}
	if (gpus_seen && gpus > LEASE_MAX_GPUS) {
		diag_set(
		    &d, DIAG_USAGE,
		    "--gpus %u: more GPUs than one machine can give a test (gpuci locks at most "
		    "%d per machine)",
		    gpus, LEASE_MAX_GPUS);
		rc = cli_usage_error(ctx, "new-test", &d);
		goto out;
	}
	if (args && !job) {
		diag_set(&d, DIAG_USAGE,
		         "--args goes into a job's entry: name the job (--job JOB)");
		rc = cli_usage_error(ctx, "new-test", &d);
		goto out;
	}
	struct newtest_opts no = {.name = name,
	                          .gpus_given = gpus_seen,
	                          .gpus = gpus,
	                          .job = job,
	                          .model = model,
	                          .args = args,
	                          .workflow = workflow,
	                          .existing = existing};
	struct newtest t;
	if (newtest_prepare(&no, &t, &d) < 0 || (!dry_run && newtest_apply(&t, &d) < 0)) {
		if (d.code == DIAG_USAGE) {
			rc = cli_usage_error(ctx, "new-test", &d);
		} else {
			cli_error(ctx, "new-test", &d);
			fprintf(ctx->err, "gpuci new-test: nothing was changed\n");
			rc = EXIT_FAILED;
		}
		newtest_release(&t);
		goto out;
	}
	report(ctx->out, &t, dry_run);
	newtest_release(&t);
out:
	diag_release(&d);
	return rc;
}
