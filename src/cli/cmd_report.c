/*
 * gpuci report: the reports gpuci draws from what it recorded. This build
 * has one, the trends page of the history (--history, cli/report_history.c).
 */
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/report_history.h"
#include "base/banned.h"

static const char report_usage[] =
    "usage: gpuci report --history [--test GLOB] [--days N] [-o FILE] [--history-file PATH]\n";

static const char report_description[] =
    "--history writes the trends page of the history: one HTML file, with no\n"
    "external link, of every test that ran in the last N days (30): its\n"
    "runs, passed, flaky and failed attempts, the median and p90 of its\n"
    "passed and flaky durations, a chart of its durations over its attempts\n"
    "and its last results, flakiest first, then slowest. Written to\n"
    "trends.html next to the history (.gpuci/trends.html), or -o FILE; the\n"
    "last line says `report: PATH`.\n"
    "\n"
    "Exit status: 0 written; 1 no history, or one that cannot be read, or a\n"
    "page that cannot be written; 2 usage.\n";

int cmd_report(int argc, char **argv, struct gpuci_ctx *ctx)
{
	struct report_history_opts o = {0};
	bool history = false, days_seen = false, help;
	const struct cli_option opts[] = {
	    {"history", 0, CLI_OPT_FLAG, &history, NULL, "the trends page of the history", NULL},
	    {"history-file", 0, CLI_OPT_STRING, &o.history, "PATH",
	     "the history file (.gpuci/history.db here or in a folder above)", NULL},
	    {"test", 0, CLI_OPT_STRING, &o.test_glob, "GLOB",
	     "only the test files matching GLOB (tests/ optional)", NULL},
	    {"days", 0, CLI_OPT_UINT, &o.days, "N", "the last N days (30)", &days_seen},
	    {"output", 'o', CLI_OPT_STRING, &o.output, "FILE",
	     "write the page to FILE (trends.html next to the history)", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	int rest, rc;
	if (cli_parse(argc, argv, opts, true, &rest, &help, &d) < 0) {
		rc = cli_usage_error(ctx, "report", &d);
		goto out;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", report_usage, report_description);
		cli_print_options(ctx->out, opts);
		rc = EXIT_OK;
		goto out;
	}
	if (rest < argc)
		diag_set(&d, DIAG_USAGE, "unexpected argument '%s'", argv[rest]);
	else if (!history)
		diag_set(&d, DIAG_USAGE, "give --history (the trends page)");
	else if (days_seen && o.days == 0)
		diag_set(&d, DIAG_USAGE, "--days must be 1 or more");
	if (d.code != DIAG_OK) {
		rc = cli_usage_error(ctx, "report", &d);
		goto out;
	}
	rc = report_history_main(ctx, &o);
out:
	diag_release(&d);
	return rc;
}
