/*
 * lint: the mistakes that make GPU CI silently run nothing, or the wrong
 * thing, found before a PR is pushed: the workflow's test registry against
 * the test files, the files against the standard test pattern, labels
 * against jobs, the generated workflow against its template, and two
 * workflow hazards (untrusted values pasted into scripts; label events
 * cancelling each other's runs).
 *
 * Each finding has a stable rule name (lint_rules) and a place: the
 * template line of a matrix entry when the workflow has a template that
 * spells it, else the workflow's line, or the test file's.
 */
#ifndef GPUCI_LINT_LINT_H
#define GPUCI_LINT_LINT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"

struct lint_rule {
	const char *name;
	const char *summary; /* one line */
};

/* Every rule, in the order lint runs them; ends with {NULL, NULL}. */
extern const struct lint_rule lint_rules[];
const struct lint_rule *lint_rule_find(const char *name);

struct lint_opts {
	const char *workflow; /* the workflow file, relative to the root or absolute */
	const char *root;     /* the repository's top directory; NULL: "." */
	/* Only these rules (names from lint_rules); nrules 0: all. */
	const char *const *rules;
	size_t nrules;
};

struct lint_finding {
	const char *file; /* relative to the root where it is inside */
	unsigned line;    /* 0: the whole file */
	unsigned col;     /* 0: the whole line */
	const char *rule;
	const char *message; /* one line */
};

struct lint_report {
	struct arena arena; /* the strings below live here */
	size_t n;
	struct lint_finding *findings; /* by file, then line, then rule */
	size_t nfiles;                 /* test files read */
	size_t nentries;               /* matrix entries checked */
};

/*
 * Runs the checks. A workflow that cannot be read or parsed is a failure
 * (DIAG_INPUT with its place), not a finding; a template that fails to
 * render, a test file Python could not import, are findings. Release r
 * with lint_report_release, also after a failure.
 */
int lint_run(const struct lint_opts *o, struct lint_report *r, struct diag *d);
void lint_report_release(struct lint_report *r);

#endif
