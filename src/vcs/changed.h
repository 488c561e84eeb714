/*
 * changed: the test files a branch adds or changes, with the GPU count
 * each declares, as the `run-ci-changed` job needs them.
 *
 * Files changed between the merge base of base and head and head (git's
 * `base...head`), read through the git command (see vcs/git.h),
 * filtered by pathspec globs and, unless asked not to, by each file's own
 * name (see changed_pattern_match), each file's content read from head (so a
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
#include "vcs/git.h"

struct changed_opts {
	const char *repo;            /* a path in the repository; NULL: found from the current
	                                directory as git would (GIT_DIR honoured) */
	const char *base;            /* NULL: "origin/main" */
	const char *head;            /* NULL: "HEAD" */
	const char *const *patterns; /* git pathspec globs; npatterns 0: the defaults */
	size_t npatterns;
	const char *diff_filter; /* git's --diff-filter letters; NULL: "AMR" */
	int64_t default_gpus;    /* for files without a literal NUM_GPUS */
	bool git_pathspec;       /* list every file git's pathspec matches, as the old
	                            detector did; false: the name rule (below) */
};

/*
 * Which files a pattern reaches. Patterns are git pathspec globs relative
 * to the top of the repository (a leading "./" dropped), read the way
 * git reads them for every pattern that changed_pattern_check() accepts:
 *
 *   git's meaning: the pattern equals the path; or it matches the whole
 *   path with wildmatch where '*', '?' and [...] also match '/' (so
 *   'tests/test_*.py' matches tests/test_agent/_fakes.py); or it has no
 *   wildcard and names a folder above the path. One trailing '/' is
 *   dropped; "*" matches everything. Bytes, not characters; classes such
 *   as [[:alpha:]] are ASCII.
 *
 *   the name rule (the default of `gpuci changed`): git's meaning, and
 *   also the file's own name (the part of path after its last '/') must
 *   match the pattern's last component (the part after its last '/', the
 *   whole pattern when it has none) by itself, where nothing can match
 *   '/'. So 'tests/test_*.py' still reaches tests/test_agent/test_x.py
 *   (its name is test_x.py), not tests/test_agent/_fakes.py nor
 *   tests/test_agent/__init__.py. The pattern's folder part keeps git's
 *   meaning: a * there may still match several folders. A
 *   pattern without '/' is still anchored at the top, as pathspecs are
 *   (unlike .gitignore): 'test_*.py' reaches test_a.py and
 *   test_dir/test_b.py, not test_dir/helper.py. A pattern without any
 *   wildcard keeps git's meaning whole: that file, or every file under
 *   that folder ('tests/plugin_contracts').
 */
enum changed_match {
	CHANGED_MATCH_NONE,     /* not even in git's meaning */
	CHANGED_MATCH_CROSSING, /* git's meaning only: a wildcard crosses '/' */
	CHANGED_MATCH,          /* git's meaning and the name rule */
};

/* How pattern reaches path (relative to the top; a leading "./" dropped). */
enum changed_match changed_pattern_match(const char *pattern, const char *path);

/*
 * Whether `gpuci changed` lists path, when a branch adds or changes it, for
 * pattern: git's meaning when git_pathspec, else the name rule. False for
 * a pattern changed_pattern_check() refuses. For lint and the like: the
 * exact rule changed_detect() applies, on one path, without git.
 */
bool changed_pattern_matches(const char *pattern, const char *path, bool git_pathspec);

/*
 * Fails with DIAG_USAGE and one line when changed_detect() refuses the
 * pattern: empty, pathspec magic (":(exclude)..."), a leading '/', or
 * what reads differently elsewhere or is most likely a mistake (refused
 * since gpuci read git through libgit2, so that the answers stay the
 * same): a leading '!' (an exclusion in a .gitignore, a name to git) or
 * '#' (a comment there), an empty, "." or ".." part ("a//b", ".",
 * "tests/..": git resolves them, changed_pattern_match() does not), a
 * control character or a trailing blank.
 */
int changed_pattern_check(const char *pattern, struct diag *d);

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
	unsigned gpus_line;           /* line of the NUM_GPUS that decided, 0 when defaulted */
	bool defaulted;               /* num_gpus is the default (no usable literal NUM_GPUS) */
	const char *warning;          /* why it was defaulted (one of warnings[]), or NULL */
	unsigned warning_line;        /* the line that warning is about, 0 for the whole file */
	bool path_not_utf8;           /* the JSON shows U+FFFD for some bytes of path */
	const char *crossing;         /* git_pathspec: the pattern that reaches it only because
	                                 a wildcard crosses '/' (the name rule would leave it
	                                 out), else NULL */
	const char *crossing_warning; /* then the warning saying so (in warnings[]) */
};

/* A file git's pathspec matches that the name rule leaves out. */
struct changed_left_out {
	const char *path;
	char status;         /* as changed_test's */
	const char *pattern; /* the first pattern that reaches it in git's meaning */
	const char *reason;  /* "'tests/test_*.py' matches it only because git's * crosses
	                        '/'; its name is not test_*.py" */
};

struct changed_result {
	struct arena arena; /* everything below lives here */
	size_t n;
	struct changed_test *tests; /* in git's path order */
	size_t nwarnings;
	const char **warnings; /* "path:line: NUM_GPUS is not a literal; using 8" */
	size_t nleft_out;
	struct changed_left_out *left_out; /* in git's path order; none with git_pathspec */
	/* The commits compared: 40 hex digits each (64 in a SHA-256 repository),
	   empty until resolved. */
	char base_id[VCS_OID_HEXSZ], head_id[VCS_OID_HEXSZ], merge_base_id[VCS_OID_HEXSZ];
};

/*
 * Fills r (released with changed_result_release, also after a failure).
 * A bad revision, no merge base, or a path that is not a repository fails
 * with DIAG_USAGE and one line saying which; so do a bad diff filter and
 * a pattern changed_pattern_check() refuses. git missing or failing, or a
 * broken repository: DIAG_SYSTEM/DIAG_INPUT.
 *
 * The files are those of the diff that git's pathspec meaning matches;
 * unless o->git_pathspec, those the name rule leaves out are not tests but
 * r->left_out, each with the reason. With o->git_pathspec they are tests
 * as before, each with a warning (and t->crossing) saying that the name
 * rule would leave it out.
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
 * Appends what `gpuci changed --json` prints: the matrix's "info" exactly as
 * changed_matrix_json() writes it, then "left_out", the files the name rule
 * left out: {"info":[...],"left_out":[{"file":"...","pattern":"...",
 * "reason":"..."},...]} (an empty list when none, or with git_pathspec).
 */
void changed_json(const struct changed_result *r, struct strbuf *out);

/*
 * Appends s as a JSON string, quotes included, that is valid JSON and valid
 * Unicode whatever bytes s holds: '"', '\\' and control characters (< 0x20,
 * 0x7f) escaped (\n, \t, \u001b...), valid UTF-8 copied as is, and each
 * byte that is not part of valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF) written as \ufffd, U+FFFD, the
 * replacement character. Returns false when it replaced any byte.
 */
bool changed_json_str(struct strbuf *out, const char *s);

#endif
