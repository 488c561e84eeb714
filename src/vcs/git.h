/*
 * vcs/git: the few git operations gpuci needs, through the git command;
 * the only code that runs git.
 *
 * Every call runs `git --git-dir=DIR` plumbing (rev-parse, merge-base,
 * diff-tree) or asks one long-lived `git cat-file --batch` per open
 * repository, started on first use; no shell, the caller's environment
 * plus LC_ALL=C, GIT_TERMINAL_PROMPT=0 and GIT_OPTIONAL_LOCKS=0. The
 * executable is $GPUCI_GIT when set, else "git" found on PATH; when it
 * cannot be run, vcs_repo_open() fails with DIAG_SYSTEM saying what was
 * tried and which package to install.
 *
 * Every function reads the object database only: nothing here looks at the
 * work tree or the index, so a bare clone works and uncommitted edits never
 * count. Errors carry git's own message (one line). SHA-1 and SHA-256
 * repositories both work.
 */
#ifndef GPUCI_VCS_GIT_H
#define GPUCI_VCS_GIT_H

#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"

/* An open repository (its git folder, and the cat-file process once started). */
struct vcs_repo;

/*
 * An object id. Transparent on purpose, like struct srcloc: it is a small
 * value copied around on the stack, and callers compare and print it.
 * len is 20 (SHA-1) or 32 (SHA-256); the bytes past len are zero, so two
 * ids compare equal with memcmp over the whole array.
 */
struct vcs_oid {
	unsigned char id[32];
	unsigned char len;
};

/* 64 hex digits (SHA-256) and a NUL; a SHA-1 id takes 40 of them. */
#define VCS_OID_HEXSZ 65

/*
 * Opens the repository that contains `path` (a work tree, any folder in it,
 * a .git folder or a bare repository), searching upwards like git does.
 * path NULL: as the git command would from the current directory, with
 * GIT_DIR, GIT_CEILING_DIRECTORIES and friends honoured; with a path,
 * GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE (and GIT_COMMON_DIR,
 * GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES) are not passed to
 * git. Fails with DIAG_USAGE when there is no repository there ("not a git
 * repository"), DIAG_SYSTEM when git cannot be run or refuses the
 * repository (e.g. owned by another user: git's message says how to add it
 * to safe.directory; gpuci does not bypass it).
 */
int vcs_repo_open(struct vcs_repo **out, const char *path, struct diag *d);
/* Closes r; NULL is fine. */
void vcs_repo_free(struct vcs_repo *r);

/*
 * Resolves `rev` (anything `git rev-parse` takes: a branch, a remote
 * branch, a tag, a full or short id, HEAD~2, ...) to a commit, peeling tags.
 * Fails with DIAG_USAGE naming the revision when it does not resolve or
 * names no commit, or holds a newline. A revision is never an option,
 * whatever it starts with.
 */
int vcs_resolve_commit(struct vcs_repo *r, const char *rev, struct vcs_oid *out, struct diag *d);

/*
 * The best common ancestor of commits a and b, as `git merge-base a b`
 * (one of them when there are several). Fails with DIAG_USAGE when the
 * histories share no commit (in a shallow clone, saying that the history
 * may stop before the branch point).
 */
int vcs_merge_base(struct vcs_repo *r, const struct vcs_oid *a, const struct vcs_oid *b,
                   struct vcs_oid *out, struct diag *d);

/* One changed path of a diff between two commits. */
struct vcs_delta {
	char status;          /* as `git diff --name-status`: A D M R T U X */
	unsigned similarity;  /* 'R': percent similar to the old file, else 0 */
	const char *path;     /* the new path (the old one for 'D') */
	const char *old_path; /* 'R': the path it was renamed from, else NULL */
	struct vcs_oid blob;  /* the new side's object (zero for 'D') */
	unsigned mode;        /* the new side's mode: 0100644, 0100755, 0120000 (link),
	                         0160000 (submodule), 0 for 'D' */
};

/*
 * The paths that differ between the trees of commits `from` and `to`, as
 * `git diff --name-status from to -- PATHSPEC` prints them: the tree diff
 * first limited to the pathspec, then renames found among its deleted and
 * added files the way git finds them by default (exact content first, then
 * same basename at 75% similarity, then best pairs at 50%; no copies; see
 * rename.c), a file that became a link or back is 'T'. So a file renamed
 * from outside the pathspec is 'A', as in git. Renames do not depend on
 * the installed git or its diff.renames / diff.renameLimit settings.
 *
 * pathspec: git glob patterns relative to the top of the repository, where
 * `*` and `?` also match '/' and a pattern without wildcards also matches
 * everything under a folder of that name; one trailing '/' is dropped;
 * npathspec 0 means everything. A pattern is never pathspec magic: one
 * that starts with ':' names a path starting with ':'; the answer is the
 * same from any current directory. A malformed answer from git fails
 * with DIAG_SYSTEM.
 *
 * The deltas, sorted by path as git prints them, and their strings live in
 * arena `a`; *n is their number.
 */
int vcs_diff(struct vcs_repo *r, const struct vcs_oid *from, const struct vcs_oid *to,
             const char *const *pathspec, size_t npathspec, struct arena *a, struct vcs_delta **out,
             size_t *n, struct diag *d);

/*
 * Appends the content of blob `id` to out. Fails with DIAG_INPUT when there
 * is no such blob or it is larger than STRBUF_DEFAULT_MAX ("file too
 * large").
 */
int vcs_blob_read(struct vcs_repo *r, const struct vcs_oid *id, struct strbuf *out, struct diag *d);

/*
 * vcs_blob_read() for n blobs: the content of ids[i] appended to out[i],
 * asked of git in rounds of many at once (one round trip each instead of
 * one per blob). On failure, *failed (when not NULL) is the index of the
 * blob the error is about, or the first of its round when git failed.
 */
int vcs_blobs_read(struct vcs_repo *r, const struct vcs_oid *ids, size_t n, struct strbuf *out,
                   size_t *failed, struct diag *d);

/*
 * Appends the content of the file at `path` in commit `commit` (as
 * `git show COMMIT:PATH`) to out. Fails with DIAG_INPUT when there is no
 * such path, it is not a file (a folder, a submodule), or path holds a
 * newline.
 */
int vcs_read_file(struct vcs_repo *r, const struct vcs_oid *commit, const char *path,
                  struct strbuf *out, struct diag *d);

/* Writes the hex digits of id (40 for SHA-1, 64 for SHA-256) and a NUL into hex. */
void vcs_oid_hex(const struct vcs_oid *id, char hex[VCS_OID_HEXSZ]);

#endif
