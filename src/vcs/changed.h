/*
 * changed: the test files a branch adds or changes, with the GPU count
 * each declares, as the `run-ci-changed` job needs them.
 *
 * Files changed between the merge base of base and head and head (git's
 * `base...head`), read through libgit2 (loaded at run time: see vcs/git.h),
 * filtered by pathspec globs, each file's content read from head (so a
 * bare clone works and uncommitted edits do not count), its NUM_GPUS read
 * by py/pyread.h.
 */
#ifndef GPUCI_VCS_CHANGED_H
#define GPUCI_VCS_CHANGED_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"

struct changed_opts {
	const char *repo;                /* a path in the repository; NULL: "." */
	const char *base;                /* NULL: "origin/main" */
	const char *head;                /* NULL: "HEAD" */
	const char *const *patterns;     /* git pathspec globs; npatterns 0: the defaults */
	size_t npatterns;
	const char *diff_filter;         /* git's --diff-filter letters; NULL: "AMR" */
	int64_t default_gpus;            /* for files without a literal NUM_GPUS */
};

/* The default patterns: tests/test_*.py, tests/plugin_contracts/test_*.py. */
extern const char *const changed_default_patterns[];
extern const size_t changed_default_npatterns;

struct changed_test {
	const char *path;     /* as git gives it, relative to the repository root */
	const char *old_path; /* renamed from (status 'R'), else NULL */
	char status;          /* 'A', 'M', 'R', ... as git's --name-status */
	int64_t num_gpus;
	unsigned gpus_line;   /* line of the NUM_GPUS that decided, 0 when defaulted */
};

struct changed_result {
	struct arena arena; /* everything below lives here */
	size_t n;
	struct changed_test *tests; /* in git's path order */
	size_t nwarnings;
	const char **warnings; /* "path:line: NUM_GPUS is not a literal; using 8" */
};

/*
 * Fills r (released with changed_result_release, also after a failure).
 * A bad revision, no merge base, or a path that is not a repository fails
 * with DIAG_USAGE and one line saying which.
 */
int changed_detect(const struct changed_opts *o, struct changed_result *r, struct diag *d);
void changed_result_release(struct changed_result *r);

/*
 * Appends {"info":[{"test_file":"...","num_gpus":N},...]}: keys in that
 * order, no spaces, any byte a path may hold escaped.
 */
void changed_matrix_json(const struct changed_result *r, struct strbuf *out);

#endif
