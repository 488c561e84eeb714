/*
 * lint: the mistakes that make GPU CI silently run nothing, or the wrong
 * thing, found before a PR is pushed: the workflow's test registry against
 * the test files, the files against the standard test pattern, labels
 * against jobs, the generated workflow against its template, and two
 * workflow hazards (untrusted values pasted into scripts; label events
 * cancelling each other's runs).
 *
 * Each finding has a stable rule name (lint_rules), a severity (error: CI
 * runs nothing, the wrong thing, or something unsafe; warning: it works,
 * but not as it should) and a place: the template's line when the workflow
 * is generated from one (a matrix entry, or any line of the workflow when
 * it is current), else the workflow's line, or the test file's.
 *
 * A repository turns rules off or changes their severity in
 * .github/gpuci.yml (lint: disable, ignore, severity, prepare-execute), and
 * a file with a `# gpuci: disable=RULE[,RULE]` comment: on a line of its
 * own for the whole file, at the end of a line for that line.
 */
#ifndef GPUCI_LINT_LINT_H
#define GPUCI_LINT_LINT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"

enum lint_severity { LINT_ERROR, LINT_WARNING };

/* "error", "warning". */
const char *lint_severity_name(enum lint_severity s);

struct lint_rule {
	const char *name;
	const char *summary;         /* one line */
	enum lint_severity severity; /* of its findings, unless one says otherwise */
};

/* Every rule, in the order lint runs them; ends with {NULL}. */
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
	enum lint_severity severity;
	const char *message; /* one line */
};

struct lint_report {
	struct arena arena; /* the strings below live here */
	size_t n;
	struct lint_finding *findings; /* by file, then line, then rule */
	size_t nfiles;                 /* test files read */
	size_t nentries;               /* matrix entries checked */
	size_t nerrors, nwarnings;     /* findings of each severity */
	const char *config;            /* the .github/gpuci.yml read, or NULL */
};

/*
 * Runs the checks. A workflow or a .github/gpuci.yml that cannot be read or
 * parsed, or names a rule that does not exist, is a failure (DIAG_INPUT
 * with its place), not a finding; a template that fails to
 * render, a test file Python could not import, are findings. Release r
 * with lint_report_release, also after a failure.
 */
int lint_run(const struct lint_opts *o, struct lint_report *r, struct diag *d);
void lint_report_release(struct lint_report *r);

#endif
