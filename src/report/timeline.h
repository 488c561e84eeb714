/*
 * timeline: where a run's attempts go on a picture of its GPUs, for the
 * HTML report (report/html.h) and the Mermaid gantt of the step summary
 * (report/mermaid.h). Arithmetic only: lanes, the time scale, axis ticks,
 * which labels fit. Nothing here draws.
 *
 * Lanes: one per GPU, GPUs of this machine (node NULL or "") first, 0 to
 * gpus - 1 whether used or not (an idle GPU is a visible empty lane; none
 * when every attempt ran on a cluster's node), then
 * each cluster node's, by node name then id, 0 to the highest id seen or
 * gpus - 1. After them, as few "CPU" lanes as the tests of no GPU need to
 * never overlap (first fit by start time); then as few "GPU ?" lanes for
 * attempts that asked for GPUs without ids on record (a cluster job too
 * short to be seen running). An attempt of k GPUs is on exactly k lanes.
 *
 * Scale: the plot is at least TIMELINE_MIN_WIDTH px wide and widens so that
 * the median attempt is TIMELINE_MEDIAN_PX px, up to TIMELINE_MAX_WIDTH (a
 * 500-test run scrolls sideways instead of shrinking every bar to a line).
 */
#ifndef GPUCI_REPORT_TIMELINE_H
#define GPUCI_REPORT_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "report/report.h"

/* One attempt of one test, as a report draws it. Strings are the caller's. */
struct report_attempt {
	size_t test;      /* index in the run's cases */
	unsigned attempt; /* from 1 */
	enum report_status status;
	double start, end;    /* seconds since the epoch */
	unsigned gpus;        /* asked for */
	const char *gpu_ids;  /* "0,1" as leased, "" none */
	const char *node;     /* a cluster's node, or NULL / "": this machine */
	const char *log_path; /* or NULL */
};

#define TIMELINE_MIN_WIDTH 960.0
#define TIMELINE_MAX_WIDTH 6000.0
#define TIMELINE_MEDIAN_PX 48.0

enum timeline_lane_kind { TIMELINE_GPU, TIMELINE_CPU, TIMELINE_UNKNOWN };

struct timeline_lane {
	enum timeline_lane_kind kind;
	const char *node; /* "" for this machine (the attempts' strings) */
	unsigned gpu;     /* TIMELINE_GPU: its id; else the row, from 1 */
};

struct timeline;

/*
 * Lays out a[0..n) for a machine of gpus GPUs, from t0 to t1 (epoch
 * seconds; t1 <= t0: the attempts' extent). A GPU id in a that is not a
 * number is left out of the attempt's lanes (it lands on a "GPU ?" lane when
 * none is left).
 */
struct timeline *timeline_new(const struct report_attempt *a, size_t n, unsigned gpus, double t0,
                              double t1);
void timeline_free(struct timeline *t);

size_t timeline_lanes(const struct timeline *t);
const struct timeline_lane *timeline_lane(const struct timeline *t, size_t k);
/* "GPU 3", "node1 GPU 3", "CPU 2", "GPU ? 1" into buf. */
void timeline_lane_name(const struct timeline *t, size_t k, char *buf, size_t size);

/* The lanes of attempt i (sorted); returns how many, *lanes valid until timeline_free. */
size_t timeline_attempt_lanes(const struct timeline *t, size_t i, const size_t **lanes);

double timeline_t0(const struct timeline *t);
double timeline_t1(const struct timeline *t);
/* Pixels per second, and the plot's width in pixels (t0 to t1). */
double timeline_pxps(const struct timeline *t);
double timeline_width(const struct timeline *t);

/*
 * A step for the axis ticks, from 1-2-5 series in seconds, minutes and
 * hours (0.1 s ... 6 h), the smallest that keeps ticks at least min_px
 * apart at pxps. Never 0.
 */
double timeline_tick_step(double pxps, double min_px);

/*
 * How many characters of a label fit a bar width_px wide at char_px per
 * character with pad_px either side: 0 when not even three do (the label
 * is left to the hover title), else at most len.
 */
size_t timeline_label_fit(double width_px, double char_px, double pad_px, size_t len);

/*
 * Busy GPU-seconds: each attempt's duration (within t0 to t1) times the
 * GPUs it asked for.
 */
double timeline_busy(const struct report_attempt *a, size_t n, double t0, double t1);
/*
 * No schedule of these attempts on gpus GPUs ends sooner than this: the
 * larger of busy / gpus and the longest chain of one test's attempts
 * (its retries run one after another).
 */
double timeline_bound(const struct report_attempt *a, size_t n, unsigned gpus);

#endif
