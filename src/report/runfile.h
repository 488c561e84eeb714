/*
 * runfile: what a run's report is made from, kept in its folder as
 * RUN-DIR/run.tsv, so `gpuci report RUN-ID` can draw the page again later,
 * also for a run that crashed (the file is written when the run starts,
 * with its tests not run yet, and again when it ends).
 *
 * The format: a first line "gpuci-run<TAB>1", then one record a line,
 * fields separated by tabs, \\ \t \n \r escaped with a backslash:
 *   run_id|repository|commit|selection|machine<TAB>TEXT
 *   gpus|tail_lines<TAB>N     started|ended<TAB>EPOCH-SECONDS
 *   case<TAB>job test_file test_args variant gpus gpu_ids node status
 *        attempts exit_code duration log_path message
 *   attempt<TAB>test attempt status start end gpus gpu_ids node log_path
 * A record of another kind is skipped (a newer gpuci's); a line that
 * breaks these rules fails with its file:line.
 */
#ifndef GPUCI_REPORT_RUNFILE_H
#define GPUCI_REPORT_RUNFILE_H

#include "base/diag.h"
#include "report/colour.h"
#include "report/html.h"

#define REPORT_RUNFILE_NAME "run.tsv"

/* Writes r's description to path, atomically (DIAG_SYSTEM when it cannot). */
int report_runfile_write(const char *path, const struct report_run *r, struct diag *d);

struct report_runfile;
/* Reads path; the run it describes is report_runfile_run()'s. */
int report_runfile_read(struct report_runfile **out, const char *path, struct diag *d);
/* The run; valid until report_runfile_free(). */
const struct report_run *report_runfile_run(const struct report_runfile *f);
void report_runfile_free(struct report_runfile *f);

#endif
