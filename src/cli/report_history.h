/*
 * cli/report_history: `gpuci report --history`, the trends page of the
 * history (report/trends.h), once cmd_report.c has parsed the options.
 */
#ifndef GPUCI_CLI_REPORT_HISTORY_H
#define GPUCI_CLI_REPORT_HISTORY_H

#include "cli/cli.h"

/* The window when --days is not given. */
#define REPORT_HISTORY_DAYS_DEFAULT 30

/* gpuci report --history: the options already parsed by cmd_report.c. */
struct report_history_opts {
	const char *history;   /* the history file; NULL or "": cli_find_history() */
	const char *test_glob; /* NULL: every test */
	const char *output;    /* NULL or "": trends.html in the history's folder */
	unsigned days;         /* 0: REPORT_HISTORY_DAYS_DEFAULT */
};

/*
 * Writes the page (atomically) and prints a line of what it holds, then
 * `report: PATH`. Exit status: 0 written (also when no attempt is in the
 * window: the page says so); 1 no history at that path, one that cannot
 * be read, or a page that cannot be written.
 */
int report_history_main(struct gpuci_ctx *ctx, const struct report_history_opts *o);

#endif
