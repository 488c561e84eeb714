/*
 * run_view: what `gpuci run` shows while a suite runs, from the events of
 * run_suite() (run/run.h): a line per event; on a terminal, a live block
 * of the running tests, redrawn; under GitHub Actions, each test's log
 * folded in a ::group:: and an ::error:: per failure. Private to src/cli.
 */
#ifndef GPUCI_CLI_RUN_VIEW_H
#define GPUCI_CLI_RUN_VIEW_H

#include <stdio.h>

#include "run/run.h"

enum run_style {
	RUN_STYLE_LINES,  /* a line per event */
	RUN_STYLE_TTY,    /* a live block of running tests, redrawn */
	RUN_STYLE_GITHUB, /* lines, each test's log in ::group::, ::error per failure */
};

struct run_view;

/* A view writing to out; free with run_view_free. */
struct run_view *run_view_new(enum run_style style, FILE *out);
void run_view_free(struct run_view *v);
/* The run_opts.on_event of a view (arg: the view). */
void run_view_event(void *v, const struct run_event *ev);
/* How often the view wants an IDLE to redraw (run_opts.idle_every). */
double run_view_idle_every(const struct run_view *v);

#endif
