/*
 * html: a run's report as one self-contained HTML page (inline CSS, inline
 * SVG, a few lines of inline script to sort the table; nothing fetched from
 * anywhere), which opens from disk or as a CI artifact; and the run's
 * timeline as a Mermaid gantt for GitHub's step summary.
 *
 * The page, top to bottom: a header (repository, commit, selection,
 * machine, GPUs, start, wall time, GPU utilisation = busy GPU-seconds /
 * (GPUs x wall), the lower bound of these attempts and the wall's ratio to
 * it); a legend; the timeline (report/timeline.h: a lane per GPU, CPU lanes
 * for tests of no GPU, each attempt a bar from its start to its end on each
 * of its lanes, coloured by its result, labelled where the label fits,
 * its test, duration, GPUs and log in a hover title, a click going to its
 * row); a table of the tests (sortable by any column), a failure's last
 * log lines folded under it.
 *
 * What tests and tools may rely on (the DOM):
 *   svg#timeline[data-t0 data-left data-pxps data-top data-lane-h]:
 *     time t is at x = left + (t - t0) * pxps; lane k spans y from
 *     top + k * lane-h to top + (k + 1) * lane-h.
 *   g.lane[data-lane data-name data-gpu data-node] (data-gpu "" for CPU lanes)
 *   g.attempt[data-test data-attempt data-status data-start data-end
 *     data-gpus data-node data-log], one rect.bar[data-lane] per lane
 *   span.legend[data-status] (style="background:COLOUR", each bar's fill)
 *   table#tests tr.test[data-test data-status data-duration data-attempts],
 *     details.tail for a failure's log
 *   dl#summary dd[data-key]
 */
#ifndef GPUCI_REPORT_HTML_H
#define GPUCI_REPORT_HTML_H

#include <stddef.h>

#include "base/strbuf.h"
#include "report/report.h"
#include "report/timeline.h"

/* Everything a run's report shows. Strings are the caller's; NULL reads as unknown. */
struct report_run {
	const char *run_id;
	const char *repository; /* "owner/name" or the folder's name */
	const char *commit;     /* hex, or NULL */
	const char *selection;  /* "--label run-ci-short --test 'x*'" */
	const char *machine;    /* "this machine", "Slurm cluster ...", "shard 1/4 of ..." */
	unsigned gpus;          /* the machine's GPUs: its lanes */
	double started, ended;  /* epoch seconds; ended 0: the attempts' last end */
	const char *note;       /* one line above everything (a crashed run), or NULL */
	const struct report_case *cases; /* the tests, in the results' order */
	size_t ncases;
	const struct report_attempt *attempts; /* every attempt, in any order */
	size_t nattempts;
	size_t tail_lines;    /* of a failure's log in the table; 0: none */
	const char *base_dir; /* the page's folder: logs under it are linked relatively */
};

/* Appends the page; check strbuf_failed(out) after (a ceiling passed). */
void report_html(struct strbuf *out, const struct report_run *r);

/* The size the Mermaid gantt aims under: mermaid refuses a text over 50 000 characters. */
#define REPORT_MERMAID_MAX 48000

/*
 * Appends the run's timeline as a ```mermaid gantt block for a step
 * summary: dateFormat x (epoch milliseconds), one section per lane (as the
 * page's), one task per attempt per lane, id aN_K (N: the attempt's place
 * in start order, K its lane), tagged by result (flaky active; failed,
 * timeout, crashed crit; canceled done; passed none), then a line saying
 * what the tags mean. Past max bytes, the shortest attempts are left out
 * and that line says how many; a run of no attempt appends nothing.
 */
void report_mermaid(struct strbuf *out, const struct report_run *r, size_t max);

#endif
