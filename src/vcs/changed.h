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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"

struct changed_opts {
	const char *repo;            /* a path in the repository; NULL: found from the current
	                                directory as git would (GIT_DIR honoured) */
	const char *base;            /* NULL: "origin/main" */
	const char *head;            /* NULL: "HEAD" */
	const char *const *patterns; /* git pathspec globs; npatterns 0: the defaults */
	size_t npatterns;
	const char *diff_filter; /* git's --diff-filter letters; NULL: "AMR" */
	int64_t default_gpus;    /* for files without a literal NUM_GPUS */
};

/*
 * Diff filter: git's --diff-filter letters A C D M R T U X B, where an
 * uppercase letter includes that status and a lowercase one excludes it
 * (git's rule: with no uppercase letter, everything not excluded counts).
 * D is refused: a deleted file is not in head, so there is nothing to read
 * or run; and "everything" never includes it. C and B never match (copies
 * and broken pairs are not looked for, as `git diff` does by default), nor
 * does U (tree diffs have no conflicts).
 *
 * Stores the included uppercase letters, in the order ACMRTUXB, in out
 * (NUL-terminated). Fails with DIAG_USAGE naming a bad letter.
 */
#define CHANGED_FILTER_MAX 16
int changed_filter_parse(const char *letters, char out[CHANGED_FILTER_MAX], struct diag *d);

/* The default patterns: tests/test_*.py, tests/plugin_contracts/test_*.py. */
extern const char *const changed_default_patterns[];
extern const size_t changed_default_npatterns;

struct changed_test {
	const char *path;     /* as git gives it, relative to the repository root */
	const char *old_path; /* renamed from (status 'R'), else NULL */
	char status;          /* 'A', 'M', 'R', ... as git's --name-status */
	unsigned similarity;  /* 'R': percent similar to old_path */
	int64_t num_gpus;
	unsigned gpus_line;    /* line of the NUM_GPUS that decided, 0 when defaulted */
	bool defaulted;        /* num_gpus is the default (no usable literal NUM_GPUS) */
	const char *warning;   /* why it was defaulted (one of warnings[]), or NULL */
	unsigned warning_line; /* the line that warning is about, 0 for the whole file */
	bool path_not_utf8;    /* the JSON shows U+FFFD for some bytes of path */
};

struct changed_result {
	struct arena arena; /* everything below lives here */
	size_t n;
	struct changed_test *tests; /* in git's path order */
	size_t nwarnings;
	const char **warnings; /* "path:line: NUM_GPUS is not a literal; using 8" */
	/* The commits compared: 40 hex digits each, empty until resolved. */
	char base_id[41], head_id[41], merge_base_id[41];
};

/*
 * Fills r (released with changed_result_release, also after a failure).
 * A bad revision, no merge base, or a path that is not a repository fails
 * with DIAG_USAGE and one line saying which; so do a bad diff filter, an
 * empty pattern and pathspec magic (":(exclude)..."), which libgit2 does
 * not know. libgit2 missing or a broken repository: DIAG_SYSTEM/DIAG_INPUT.
 *
 * Patterns are relative to the top of the repository wherever it is run
 * from (git's are relative to the current directory); a leading "./" is
 * dropped.
 *
 * Each test's NUM_GPUS is read from its content in head. A literal count
 * is used as is. Anything else gets o->default_gpus and a warning, never
 * an error, as CI should still run the test: no top-level NUM_GPUS
 * ("path: no top-level NUM_GPUS; using 8"), a value that is not an int
 * literal or is set conditionally ("path:line: ..."), a file Python could
 * not tokenize ("path:line:col: ..."), a symbolic link or a submodule.
 */
int changed_detect(const struct changed_opts *o, struct changed_result *r, struct diag *d);
void changed_result_release(struct changed_result *r);

/*
 * Appends {"info":[{"test_file":"...","num_gpus":N},...]}: keys in that
 * order, no spaces, any byte a path may hold escaped.
 */
void changed_matrix_json(const struct changed_result *r, struct strbuf *out);

/*
 * Appends s as a JSON string, quotes included, that is valid JSON and valid
 * Unicode whatever bytes s holds: '"', '\\' and control characters (< 0x20,
 * 0x7f) escaped (\n, \t, \u001b...), valid UTF-8 copied as is, and each
 * byte that is not part of valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF) written as \ufffd, U+FFFD, the
 * replacement character. Returns false when it replaced any byte.
 */
bool changed_json_str(struct strbuf *out, const char *s);

/*
 * Appends path for a human to read, as git quotes paths in its messages
 * with core.quotePath=false: as is, unless it holds a control character,
 * '"', '\\' or bytes that are not UTF-8; then in double quotes with C
 * escapes (\n, \t, \", \\, \ooo in octal for the other bytes). Warnings
 * name paths this way.
 */
void changed_quote_path(struct strbuf *out, const char *path);

#endif
