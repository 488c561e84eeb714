/*
 * newtest: a new test file in the standard pattern, and its entry in a
 * job of the workflow template, prepared in memory, checked, then written.
 *
 * newtest_prepare() decides everything and writes nothing: the test file's
 * text (from tests/ci/test_template.py, a Jinja2 template, or the built-in
 * pattern), checked to set NUM_GPUS as asked; with a job, the template's
 * new text (scaffold/registry.h adds one line) and the workflow rendered
 * from it, checked against the old rendering: the job gains exactly the
 * new entry, no job loses one. newtest_apply() then creates the test file
 * (never over an existing one) and replaces the template and the workflow
 * atomically; when one of those fails, what it wrote is undone.
 */
#ifndef GPUCI_SCAFFOLD_NEWTEST_H
#define GPUCI_SCAFFOLD_NEWTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"

struct newtest_opts {
	const char
	    *name; /* NAME, test_NAME, NAME.py, dir/NAME, [tests/]dir/test_x.py (see normalize) */
	bool gpus_given;      /* else the NUM_GPUS of an existing file */
	int64_t gpus;         /* NUM_GPUS */
	const char *job;      /* NULL: write the file only */
	const char *model;    /* NULL: a placeholder */
	const char *args;     /* the entry's test_args, or NULL */
	const char *workflow; /* its template is workflow + ".j2" */
	bool existing;        /* register the existing file; write no test file */
};

struct newtest_job {
	const char *id;
	const char *label; /* the PR label gating it, or NULL */
};

struct newtest {
	struct arena arena;
	const char *test_path; /* tests/test_NAME.py */
	const char *test_file; /* as the entry spells it (test_NAME.py in vime) */
	int64_t gpus;
	bool write_test;
	const char *template_from; /* tests/ci/test_template.py, or NULL for the built-in */
	struct strbuf test_text;
	bool edit;                        /* a job was named */
	const char *tpl_path, *yml_path;  /* the template and its workflow */
	struct strbuf tpl_text, yml_text; /* their new contents */
	bool yml_was_stale;               /* the workflow was not current before */
	unsigned added_line;              /* of the new entry in the template */
	const char *added_text;           /* the new line */
	const char *list_name;            /* the `set` list edited, or NULL */
	size_t njobs;
	struct newtest_job *jobs; /* the jobs that gain the test, the named one first */
};

/* Fills t (release with newtest_release, also after a failure). */
int newtest_prepare(const struct newtest_opts *o, struct newtest *t, struct diag *d);
int newtest_apply(const struct newtest *t, struct diag *d);
void newtest_release(struct newtest *t);

/* The built-in test file template (tpl syntax; variables as in cmd_new_test's help). */
extern const char newtest_default_template[];

#endif
