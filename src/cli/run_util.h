/*
 * run_util: the parts of `gpuci run` (cmd_run.c) around the run itself:
 * the folders and files it writes, checked before anything runs; masking
 * the cases of the reports; what a crashed run left. Private to src/cli.
 */
#ifndef GPUCI_CLI_RUN_UTIL_H
#define GPUCI_CLI_RUN_UTIL_H

#include <stdbool.h>

#include "base/arena.h"
#include "base/diag.h"
#include "cli/cli.h"
#include "report/mask.h"
#include "report/report.h"

/* mkdir that says which folder could not be made and why (there already: fine). */
int run_make_dir(const char *path, struct diag *d);
/* run_make_dir for path and every missing folder above it. */
int run_make_dirs(const char *path, struct diag *d);
/* Whether a report can be written at path (report_junit_write's temporary file). */
int run_check_writable(const char *path, struct diag *d);
/* Every string of c masked, copied into a. */
void run_mask_case(struct report_case *c, const struct report_mask *m, struct arena *a);
/* Ends what crashed runs recorded in dir left (run/recover.h); says so on ctx->err. */
void run_recover_crashed(struct gpuci_ctx *ctx, const char *dir, double kill_after);
#endif
