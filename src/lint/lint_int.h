/*
 * lint_int.h: what the files of lint/ share. Not for other modules.
 *
 *   lint.c     the rules, findings, the whole run
 *   config.c   .github/gpuci.yml and `# gpuci: disable=` comments
 *   files.c    matrix entries and test files against each other
 *   scripts.c  run: scripts (script-injection, jobs that always lock)
 *   events.c   labels, events and concurrency (one-job-per-label,
 *              unreachable-job, cancel-on-label), the generated workflow
 */
#ifndef GPUCI_LINT_LINT_INT_H
#define GPUCI_LINT_LINT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lint/lint.h"
#include "base/strbuf.h"
#include "base/strmap.h"
#include "plan/plan.h"
#include "py/pyread.h"
#include "scaffold/registry.h"
#include "vcs/changed.h"
#include "wf/gen.h"
#include "wf/model.h"

#define UNREGISTERED_FILE "tests/ci/unregistered.txt"
#define CONFIG_FILE       ".github/gpuci.yml"

/* A test file, read once; what lint needs of its text is kept, not the text. */
struct tfile {
	const char *path; /* relative to the root */
	bool exists, readable, parsed;
	struct diag err; /* !parsed: why */
	struct py_int_assign gpus;
	bool has_main_block;                         /* of its py_top */
	bool has_prepare, has_execute, has_test_def; /* top-level defs: prepare, execute, test_* */
	bool registered;
	bool cpu_entry;         /* some entry runs it with num_gpus 0 */
	const char *first_job;  /* the first job that registers it */
	const char *reached_by; /* a change pattern that reaches it, or NULL */
	const char *script_job; /* a job whose script names its folder, or NULL */
	bool listed;            /* in tests/ci/unregistered.txt */
};

/* A static matrix entry with a test_file. */
struct entry {
	const struct wf_job *job;
	const char *test_file, *test_args; /* test_args NULL when none */
	const char *identity;              /* plan_entry_identity() */
	bool has_gpus;
	int64_t num_gpus;
	const char *bad_gpus; /* num_gpus as JSON when it is no whole number 0..PLAN_MAX_GPUS */
	const char *path;     /* under the root, tests/ added; NULL when it leaves the repository */
	struct srcloc at;     /* the template's line when it spells it, else the workflow's */
};

/* `# gpuci: disable=` comments of one file. */
struct disables {
	const char *file;
	size_t n;
	struct disable {
		unsigned line; /* 0: the whole file */
		const char *rule;
	} * v;
};

/* .github/gpuci.yml's lint: section. */
enum prep_exec { PREP_EXEC_AUTO, PREP_EXEC_ALWAYS, PREP_EXEC_NEVER };

struct lint_config {
	const char *path; /* the file, when there is one */
	size_t ndisabled;
	const char **disabled; /* rules off everywhere */
	size_t nignores;
	struct config_ignore {
		size_t nfiles, nrules;
		const char **files; /* globs from the top */
		const char **rules;
	} * ignores;
	size_t nseverity;
	struct config_severity {
		const char *rule;
		enum lint_severity severity;
	} * severity;
	enum prep_exec prepare_execute;
};

struct lctx {
	const struct lint_opts *o;
	struct lint_report *r;
	struct arena *a;
	const char *root;
	const char *wf_path;
	struct wf *w;
	struct strbuf wf_text;
	const char *tpl_path; /* NULL without a template */
	struct strbuf tpl_src;
	bool wf_current;       /* the workflow is what the template renders */
	int gen_rc;            /* rendering the template: 0, or -1 with gen_err */
	struct strbuf gen_out; /* what it renders (header and body) */
	struct diag gen_err;
	struct wf_gen_srcmap *map; /* workflow places to template places, when current */
	struct reg reg;
	bool have_reg;
	size_t nentries;
	struct entry *entries;
	size_t nfiles, capfiles;
	struct tfile **files;
	struct strmap file_index; /* path -> struct tfile */
	size_t capfindings;
	struct strmap finding_index; /* a finding's key (lint__add) -> itself */
	struct plan_catalogue cat;
	bool have_cat;
	struct lint_config cfg;
	size_t ndisables, capdisables;
	struct disables *disables;
	struct strmap disable_index; /* file -> its index in disables (a size_t) */
	/* The change patterns of the workflow's detect job (none without one). */
	struct changed_opts detect;
	bool have_detect;
};

/*
 * Adds a finding, unless its rule is not asked for, is off for the file
 * (config, `# gpuci: disable=` comments) or the same finding is there. A
 * place in the generated workflow moves to the template line that renders
 * it (to_template), when the workflow is current.
 */
void lint__add(struct lctx *c, enum lint_severity sev, bool to_template, const char *file,
               unsigned line, unsigned col, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

const char *lint__astr(struct lctx *c, const char *s);
/* A place in the current generated workflow, moved to the template line that writes it. */
void lint__to_template(const struct lctx *c, const char **file, unsigned *line, unsigned *col);
/* "file:line" for a message, a place of the current workflow as the template's. */
const char *lint__where(struct lctx *c, const char *file, unsigned line);
/* root/rel, or rel when the root is ".". */
void lint__full_path(const struct lctx *c, const char *rel, struct strbuf *out);
/* The test file at path (relative to the root), read on first use. */
struct tfile *lint__tfile(struct lctx *c, const char *path);
/* The test file at path when lint has read it, else NULL. */
struct tfile *lint__tfile_find(const struct lctx *c, const char *path);
/* The start of line `line` (1-based) of text, or NULL past its end; its end. */
const char *lint__line_start(const struct strbuf *text, unsigned line);
const char *lint__line_end(const struct strbuf *text, const char *s);

/* config.c */
int lint__config_load(struct lctx *c, struct diag *d);
void lint__config_release(struct lctx *c);
/* Reads the `# gpuci: disable=` comments of file from its text (once a file). */
void lint__read_disables(struct lctx *c, const char *file, const struct strbuf *text);
/* Whether config or the file's comments turn rule off at file:line. */
bool lint__suppressed(struct lctx *c, const char *file, unsigned line, const char *rule);
/* The severity config gives rule, or def. */
enum lint_severity lint__severity(const struct lctx *c, const char *rule, enum lint_severity def);
/* A glob of the config (a `**` crosses folders, a `*` does not) against path. */
bool lint__glob(const char *glob, const char *path);

/* files.c */
void lint__collect_entries(struct lctx *c);
/* Fails at the first entry whose num_gpus plan would refuse, at the entry's place. */
int lint__check_gpus(struct lctx *c, struct diag *d);
void lint__check_entries(struct lctx *c);
void lint__scan_tests(struct lctx *c);
void lint__check_files(struct lctx *c);

/* scripts.c */
void lint__check_cpu_jobs(struct lctx *c);
void lint__check_scripts(struct lctx *c);
/* The job (id) whose run: script names a folder or file above path, or NULL. */
const char *lint__script_reaches(struct lctx *c, const char *path);

/* events.c */
void lint__check_labels(struct lctx *c);
void lint__check_reachable(struct lctx *c);
void lint__check_generated(struct lctx *c);
void lint__check_cancel(struct lctx *c);

#endif
