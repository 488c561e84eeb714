/*
 * registry: the test registry written in a workflow template (*.yml.j2):
 * a `set` of a dict whose values are job configs with a `tests` list, each
 * test an entry {'test_file': ..., 'num_gpus': ..., 'test_args': ...}.
 * vime's pr-test.yml.j2 is the model:
 *
 *   <%- set short_tests = [
 *       {'test_file': 'test_a.py', 'num_gpus': 4},
 *       {'test_file': 'test_a.py', 'num_gpus': 4, 'test_args': '--colocate'},
 *   ] %>
 *   <%- set jobs = {
 *       'e2e-test-short': {'label': 'run-ci-short', 'tests': short_tests},
 *       'e2e-test-moe': {'label': 'run-ci-moe', 'tests': [
 *           {'test_file': 'test_b.py', 'num_gpus': 8},
 *       ]},
 *       'e2e-test-image': {'tests': short_tests + megatron_tests},
 *   } %>
 *
 * The template is read without rendering it: the `set` statements at any
 * place, as tpl's lexer reads them (tpl_sets(), with tpl_syntax_default's
 * delimiters: <% %>, << >>, {# #}), their values parsed as Jinja literals
 * (strings in either quote with escapes, ints, names, True/False/None,
 * lists, dicts, `+`). What the scanner does not understand is skipped,
 * never guessed at.
 *
 * reg_add() adds one entry as one new line, in the style of the entries
 * around it, and touches no other byte; where that cannot be done safely
 * it fails and says why.
 */
#ifndef GPUCI_SCAFFOLD_REGISTRY_H
#define GPUCI_SCAFFOLD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"

/* One test entry as the template spells it. */
struct reg_entry {
	const char *test_file; /* NULL when the entry has no string test_file */
	const char *test_args; /* NULL when the entry has none (or it is not a string) */
	int64_t num_gpus;      /* -1 when absent or not an int literal */
	unsigned line;         /* of the entry's `{` (1-based) */
};

/* A list literal of entries. */
struct reg_list {
	const char *name; /* the `set` variable that holds it; NULL when written inside a job */
	unsigned line;    /* of its `[` */
	size_t n;
	struct reg_entry *entries; /* in order; items that are not dict literals are left out */
};

struct reg_job {
	const char *id; /* its key in the jobs dict */
	unsigned line;  /* of that key */
	/*
	 * Its `tests`, resolved: one list (a literal, or a name set to one), or
	 * the lists of a sum `a + b + [...]`, in order. Empty when `tests` is
	 * absent or something else (a call, a filter, an unknown name).
	 */
	size_t nlists;
	const struct reg_list **lists;
	/* NULL when reg_add can add an entry to this job; else why not, one line. */
	const char *why_not;
};

struct reg {
	struct arena arena; /* everything below lives here */
	const char *file;
	size_t njobs;
	struct reg_job *jobs; /* in the template's order */
	size_t nlists;
	struct reg_list *lists; /* every list of entries found, named or inline */
};

/*
 * Scans the template src[0..len) (file names it in messages and must
 * outlive r). A template without a registry gives njobs 0, not an error;
 * fails (DIAG_INPUT, file:line, tpl's message) only on text tpl cannot
 * tokenize inside a `set` statement it needs (one of a list or dict
 * literal). Such text elsewhere ends the scan there, without an error (a
 * template that is not UTF-8 is not read at all). Release r with
 * reg_release, also after a failure.
 */
int reg_scan(const char *src, size_t len, const char *file, struct reg *r, struct diag *d);
void reg_release(struct reg *r);

const struct reg_job *reg_job_find(const struct reg *r, const char *id);

/*
 * The line of the nth (0-based) entry of job with this test_file and
 * test_args (NULL and "" are the same: no args), searched through the
 * job's lists in order; 0 when there is none.
 */
unsigned reg_entry_line(const struct reg *r, const char *job, const char *test_file,
                        const char *test_args, size_t nth);

struct reg_new {
	const char *test_file; /* as the other entries spell it (relative to tests/ in vime) */
	int64_t num_gpus;
	const char *test_args; /* NULL or "" for none */
};

struct reg_added {
	unsigned line;         /* of the new line, in the new text (1-based) */
	const char *text;      /* the new line without its newline (in r's arena) */
	const char *list_name; /* the `set` variable edited, NULL for a list inside the job */
};

/*
 * Writes to out the template src[0..len) (the text r was scanned from) with
 * entry e added at the end of job's tests list, as one new line: the
 * indentation of the list's last entry, its quote character, its spacing
 * after ':' and ',', keys in the order test_file, num_gpus, test_args, and
 * a trailing comma (the last entry must have one: adding a comma to it
 * would touch another line). Strings are escaped for the quote used.
 *
 * Fails (DIAG_INPUT, at the job's line, a message saying what to do)
 * when job is not in the registry, its tests are not one list (a sum: name
 * the job that owns the part instead), the list is empty, on one line, has
 * two entries on its last entry's lines or no comma after its last entry,
 * the list's name is `set` more than once, or the same test_file and
 * test_args are already in the job's lists.
 */
int reg_add(const struct reg *r, const char *src, size_t len, const char *job,
            const struct reg_new *e, struct strbuf *out, struct reg_added *info, struct diag *d);

#endif
