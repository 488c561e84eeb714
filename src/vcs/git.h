/*
 * vcs/git: the few git operations gpuci needs, over libgit2; the only code
 * that sees <git2.h>.
 *
 * libgit2 is not linked: it is loaded with dlopen() on the first
 * vcs_repo_open() ($GPUCI_LIBGIT2 when set, else "libgit2.so.1.5", else
 * "libgit2.so"), so that commands which never read git do not pay for
 * loading it and its dependencies on every start. When it cannot be
 * loaded, vcs_repo_open() fails with DIAG_SYSTEM and a message saying which
 * package to install.
 *
 * Every function reads the object database only: nothing here looks at the
 * work tree or the index, so a bare clone works and uncommitted edits never
 * count. Errors carry libgit2's own message.
 */
#ifndef GPUCI_VCS_GIT_H
#define GPUCI_VCS_GIT_H

#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"

/* An open repository (owns a git_repository); made by vcs_repo_open(). */
struct vcs_repo;

/*
 * An object id. Transparent on purpose, like struct srcloc: it is a small
 * value copied around on the stack, and callers compare and print it.
 * libgit2 1.5 knows SHA-1 only, hence 20 bytes.
 */
struct vcs_oid {
	unsigned char id[20];
};

/* 40 hex digits and a NUL. */
#define VCS_OID_HEXSZ 41

/*
 * Opens the repository that contains `path` (a work tree, any folder in it,
 * a .git folder or a bare repository), searching upwards like git does.
 * path NULL: as the git command would from the current directory, with
 * GIT_DIR, GIT_CEILING_DIRECTORIES and friends honoured. Fails with
 * DIAG_USAGE when there is no repository there ("not a git repository"),
 * DIAG_SYSTEM when libgit2 cannot be loaded or the repository cannot be
 * opened (e.g. owned by another user, see git's safe.directory).
 */
int vcs_repo_open(struct vcs_repo **out, const char *path, struct diag *d);
/* Closes r; NULL is fine. */
void vcs_repo_free(struct vcs_repo *r);

/*
 * Resolves `rev` (anything `git rev-parse` takes: a branch, a remote
 * branch, a tag, a full or short id, HEAD~2, ...) to a commit, peeling tags.
 * Fails with DIAG_USAGE naming the revision when it does not resolve or
 * names no commit.
 */
int vcs_resolve_commit(struct vcs_repo *r, const char *rev, struct vcs_oid *out, struct diag *d);

/*
 * The best common ancestor of commits a and b, as `git merge-base a b`
 * (one of them when there are several). Fails with DIAG_USAGE when the
 * histories share no commit or the walk cannot reach one (a shallow clone
 * missing the commits between: libgit2 1.5 does not follow grafts).
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
 * git.c), a file that became a link or back is 'T'. So a file renamed
 * from outside the pathspec is 'A', as in git.
 *
 * pathspec: git glob patterns relative to the top of the repository, where
 * `*` and `?` also match '/' and a pattern without wildcards also matches
 * everything under a folder of that name; npathspec 0 means everything.
 *
 * The deltas, sorted by path as git prints them, and their strings live in
 * arena `a`; *n is their number.
 */
int vcs_diff(struct vcs_repo *r, const struct vcs_oid *from, const struct vcs_oid *to,
             const char *const *pathspec, size_t npathspec, struct arena *a, struct vcs_delta **out,
             size_t *n, struct diag *d);

/* Appends the content of blob `id` to out. */
int vcs_blob_read(struct vcs_repo *r, const struct vcs_oid *id, struct strbuf *out, struct diag *d);

/*
 * Appends the content of the file at `path` in commit `commit` (as
 * `git show COMMIT:PATH`) to out. Fails with DIAG_INPUT when there is no
 * such path or it is not a file (a folder, a submodule).
 */
int vcs_read_file(struct vcs_repo *r, const struct vcs_oid *commit, const char *path,
                  struct strbuf *out, struct diag *d);

/* Writes the 40 hex digits of id and a NUL into hex. */
void vcs_oid_hex(const struct vcs_oid *id, char hex[VCS_OID_HEXSZ]);

#endif
