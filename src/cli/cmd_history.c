/*
 * gpuci history: what `gpuci run` recorded, read back: the latest attempts,
 * the slowest tests, the flaky ones.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "db/history.h"
#include "base/xalloc.h"
#include "base/banned.h"

static const char history_usage[] =
    "usage: gpuci history [--test GLOB] [--limit N] [--json] [--history PATH]\n"
    "       gpuci history --slowest N [--test GLOB] [--json] [--history PATH]\n"
    "       gpuci history --flaky [--test GLOB] [--limit N] [--json] [--history PATH]\n"
    "       gpuci history --prune [--keep-days N] [--history PATH]\n"
    "       gpuci history --import FILE [--history PATH]\n";

static const char history_description[] =
    "Shows what `gpuci run` recorded: every attempt of every test, retries\n"
    "included, kept in an SQLite file (.gpuci/history.db at the repository's\n"
    "top, found from any folder below it; or --history PATH) that the runs of\n"
    "one machine share; several may write to it at once.\n"
    "\n"
    "Views:\n"
    "  (default)    the most recently recorded attempts, newest first (50, or\n"
    "               --limit N): when it started (local time), run id, job, test\n"
    "               and its args, GPUs (the count, and the ids it leased),\n"
    "               status, attempt, duration, log file.\n"
    "  --slowest N  the N tests with the longest median duration over their\n"
    "               passed and flaky attempts: where a run's time goes, and the\n"
    "               durations the scheduler plans with. A test is a matrix\n"
    "               entry: its file, args and other keys (the same file with\n"
    "               other args, or other use_deepep, is another), shown with\n"
    "               what tells it apart: test_r3.py [use_deepep=1].\n"
    "  --flaky      the tests that were flaky (passed on a retry) or have both\n"
    "               passed and failed (failed, timeout, crashed), with the\n"
    "               counts, most flaky + failed attempts first (50, or --limit N).\n"
    "\n"
    "Upkeep:\n"
    "  --prune      removes the attempts older than --keep-days N days (90) and\n"
    "               says how many; gpuci run does the same now and then (once a\n"
    "               day at most, 20000 attempts at a time; --history-keep-days).\n"
    "  --import FILE  loads the attempts of FILE, a history of the same shape:\n"
    "               what a run saves as .gpuci/runs/RUN/history-unsaved.db when\n"
    "               the history was locked by another process; attempts already\n"
    "               there (same run, test, attempt, start) are skipped.\n"
    "\n"
    "--test GLOB keeps the tests whose file matches, as fnmatch() without\n"
    "flags (* matches '/' too); the glob is also tried on the file with its\n"
    "leading \"tests/\" removed, or added when it has none, so --test\n"
    "'test_glm*' finds tests/test_glm.py. Quote the glob, or the shell expands\n"
    "it first.\n"
    "\n"
    "--json prints an array, one object a line, [] when nothing matches:\n"
    "  attempts:  {\"id\":7,\"run_id\":\"20261126-065501-12345\",\"job\":\"unit\",\n"
    "              \"test_file\":\"tests/test_x.py\",\"test_args\":\"\",\"gpus\":2,\n"
    "              \"gpu_ids\":\"0,1\",\"status\":\"passed\",\"attempt\":1,\"exit_code\":0,\n"
    "              \"started_at\":1764140101.250,\"time\":\"2026-11-26T06:55:01Z\",\n"
    "              \"duration\":12.345,\"log_path\":\"...\",\"host\":\"runner-1\",\n"
    "              \"identity\":\"{...}\",\"variant\":\"[use_deepep=1]\"}\n"
    "  --slowest, --flaky:\n"
    "             {\"test_file\":\"tests/test_x.py\",\"test_args\":\"\",\"identity\":\"{...}\",\n"
    "              \"variant\":\"\",\"runs\":12,\n"
    "              \"passed\":10,\"flaky\":1,\"failed\":1,\"median\":12.345,\n"
    "              \"last_status\":\"passed\",\"last_started_at\":1764140101.250}\n"
    "Times are seconds (3 decimals); started_at since the epoch, time the same\n"
    "in UTC. identity is the whole matrix entry as canonical JSON (\"\" for\n"
    "attempts recorded before gpuci kept it), variant what tells it from entries\n"
    "of the same file and args (\"\" when none does). exit_code is null for a\n"
    "test that never ran. runs counts every\n"
    "attempt, failed those that failed, timed out or crashed; median is over\n"
    "the passed and flaky attempts, null when there is none. Statuses: passed\n"
    "failed timeout flaky crashed skipped canceled not-runnable. Text that is\n"
    "not UTF-8 shows U+FFFD.\n"
    "\n"
    "No history file yet: says so on stderr and prints nothing (or [] with\n"
    "--json); nothing is created. SQLite is built into gpuci: history needs\n"
    "no library on the machine.\n"
    "\n"
    "Exit status: 0 listed, also when there is no history yet; 1 the history\n"
    "cannot be read (not a gpuci history, damaged, not readable); 2 usage.\n"
    "\n"
    "Examples:\n"
    "  gpuci history                                # the last 50 attempts\n"
    "  gpuci history --test 'test_glm*' --limit 10  # one test's last 10\n"
    "  gpuci history --slowest 20                   # where the time goes\n"
    "  gpuci history --flaky --json | jq -r '.[].test_file'\n";

/*
 * cli.h. The history `gpuci run` keeps at the repository's top is found
 * this way, so that `gpuci history` and `gpuci report` work from any folder
 * of the repository.
 */
char *cli_find_above(const char *rel)
{
	char dir[PATH_MAX];
	if (!getcwd(dir, sizeof(dir)))
		return NULL;
	for (;;) {
		struct strbuf p = STRBUF_INIT;
		strbuf_addf(&p, "%s/%s", strcmp(dir, "/") ? dir : "", rel);
		if (access(p.buf, F_OK) == 0)
			return strbuf_detach(&p, NULL);
		strbuf_release(&p);
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			return NULL;
		*slash = '\0';
	}
}

char *cli_find_history(void)
{
	char *p = cli_find_above(HISTORY_DEFAULT_PATH);
	return p ? p : xstrdup(HISTORY_DEFAULT_PATH);
}

/* --prune and --import: the history opened to write, waiting for others as a writer does. */
static int upkeep(struct gpuci_ctx *ctx, const char *path, bool prune, unsigned keep_days,
                  const char *import)
{
	struct diag d = DIAG_INIT;
	struct history *h = NULL;
	int rc = EXIT_OK;
	bool missing = false;
	if (prune && access(path, F_OK) != 0) {
		/* Nothing to prune: made by nobody. */
		missing = true;
	} else if (history_open(&h, path, &d) < 0) {
		cli_error(ctx, "history", &d);
		rc = EXIT_FAILED;
	} else if (prune) {
		struct history_pruned pr;
		time_t now = time(NULL);
		double before = (double)now - keep_days * 86400.0;
		char when[32] = "?";
		time_t b = (time_t)before;
		struct tm tm;
		if (localtime_r(&b, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		if (history_prune(h, before, &pr, &d) < 0) {
			cli_error(ctx, "history", &d);
			rc = EXIT_FAILED;
		} else {
			fprintf(
			    ctx->out,
			    "removed %zu attempt%s older than %u day%s (started before %s) from "
			    "%s; %zu test%s lost some\n",
			    pr.removed, pr.removed == 1 ? "" : "s", keep_days,
			    keep_days == 1 ? "" : "s", when, path, pr.tests,
			    pr.tests == 1 ? "" : "s");
		}
	} else {
		size_t added, skipped;
		if (history_import(h, import, &added, &skipped, &d) < 0) {
			cli_error(ctx, "history", &d);
			rc = EXIT_FAILED;
		} else {
			fprintf(ctx->out, "imported %zu attempt%s from %s into %s", added,
			        added == 1 ? "" : "s", import, path);
			if (skipped)
				fprintf(ctx->out, " (%zu already there)", skipped);
			fputc('\n', ctx->out);
		}
	}
	if (missing)
		fprintf(ctx->out, "nothing to prune: no history yet at %s\n", path);
	history_close(h);
	diag_release(&d);
	return rc;
}

int cmd_history(int argc, char **argv, struct gpuci_ctx *ctx)
{
	const char *path = HISTORY_DEFAULT_PATH;
	struct history_query q = {0};
	unsigned slowest = 0, limit = 0;
	bool json = false, slowest_seen = false, limit_seen = false, path_seen = false;
	bool prune = false, keep_seen = false;
	unsigned keep_days = HISTORY_KEEP_DAYS_DEFAULT;
	const char *import = NULL;
	char *found = NULL;
	const struct cli_option opts[] = {
	    {"slowest", 0, CLI_OPT_UINT, &slowest, "N",
	     "the N tests with the longest median duration", &slowest_seen},
	    {"flaky", 0, CLI_OPT_FLAG, &q.flaky, NULL,
	     "the tests that were flaky, or passed and failed", NULL},
	    {"test", 0, CLI_OPT_STRING, &q.test_glob, "GLOB",
	     "only the test files matching GLOB (tests/ optional)", NULL},
	    {"limit", 0, CLI_OPT_UINT, &limit, "N", "list at most N attempts or tests (50)",
	     &limit_seen},
	    {"json", 0, CLI_OPT_FLAG, &json, NULL, "print JSON (shape above) on stdout", NULL},
	    {"prune", 0, CLI_OPT_FLAG, &prune, NULL, "remove the attempts older than --keep-days",
	     NULL},
	    {"keep-days", 0, CLI_OPT_UINT, &keep_days, "N", "with --prune: keep N days (90)",
	     &keep_seen},
	    {"import", 0, CLI_OPT_STRING, &import, "FILE",
	     "load the attempts of FILE (a run's history-unsaved.db)", NULL},
	    {"history", 0, CLI_OPT_STRING, &path, "PATH",
	     "the history file (" HISTORY_DEFAULT_PATH " here or in a folder above)", &path_seen},
	    {0},
	};
	struct diag d = DIAG_INIT;
	struct history *h = NULL;
	struct strbuf out = STRBUF_INIT;
	int rc = EXIT_OK, rest;
	bool help, missing;
	if (cli_parse(argc, argv, opts, true, &rest, &help, &d) < 0) {
		rc = cli_usage_error(ctx, "history", &d);
		goto out;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", history_usage, history_description);
		cli_print_options(ctx->out, opts);
		goto out;
	}
	if (rest < argc)
		diag_set(&d, DIAG_USAGE, "unexpected argument '%s' (a glob goes after --test)",
		         argv[rest]);
	else if (slowest_seen && slowest == 0)
		diag_set(&d, DIAG_USAGE, "--slowest must be 1 or more");
	else if (limit_seen && limit == 0)
		diag_set(&d, DIAG_USAGE, "--limit must be 1 or more");
	else if (slowest_seen && q.flaky)
		diag_set(&d, DIAG_USAGE, "--slowest and --flaky are two views; ask for one");
	else if (slowest_seen && limit_seen)
		diag_set(&d, DIAG_USAGE, "--slowest N already says how many tests; drop --limit");
	else if (!*path)
		diag_set(&d, DIAG_USAGE, "--history needs a file name");
	else if (keep_seen && !prune)
		diag_set(&d, DIAG_USAGE, "--keep-days goes with --prune");
	else if (prune && keep_days == 0)
		diag_set(&d, DIAG_USAGE, "--keep-days must be 1 or more");
	else if ((prune || import) &&
	         (slowest_seen || q.flaky || limit_seen || json || q.test_glob))
		diag_set(&d, DIAG_USAGE, "--%s changes the history: it takes no view options",
		         prune ? "prune" : "import");
	else if (prune && import)
		diag_set(&d, DIAG_USAGE, "--prune and --import: one at a time");
	else if (import && !*import)
		diag_set(&d, DIAG_USAGE, "--import needs a file name");
	if (d.code != DIAG_OK) {
		rc = cli_usage_error(ctx, "history", &d);
		goto out;
	}
	q.slowest = slowest;
	q.limit = limit;
	if (!path_seen)
		path = found = cli_find_history();
	if (prune || import) {
		rc = upkeep(ctx, path, prune, keep_days, import);
		goto out;
	}

	if (history_open_read(&h, path, &missing, &d) < 0) {
		cli_error(ctx, "history", &d);
		rc = EXIT_FAILED;
		goto out;
	}
	if (missing) {
		/* Not an error: a machine gpuci never ran on has nothing to show. */
		fprintf(ctx->err, "gpuci history: no history yet at %s; gpuci run records one\n",
		        path);
		if (json)
			fputs("[]\n", ctx->out);
		goto out;
	}
	if (history_report(h, &q, json, &out, &d) < 0) {
		cli_error(ctx, "history", &d);
		rc = d.code == DIAG_USAGE ? EXIT_USAGE : EXIT_FAILED;
		goto out;
	}
	if (strbuf_failed(&out)) {
		fprintf(ctx->err, "gpuci history: the answer is too long; narrow it with --test "
		                  "or --limit\n");
		rc = EXIT_FAILED;
		goto out;
	}
	fputs(out.buf, ctx->out);
out:
	free(found);
	strbuf_release(&out);
	history_close(h);
	diag_release(&d);
	return rc;
}
