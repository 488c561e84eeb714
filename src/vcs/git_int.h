/*
 * vcs/git_int.h: what git.c and rename.c share, private to vcs/.
 *
 * Renames are found by gpuci, not by git (`git diff-tree --no-renames`), so
 * that the answer does not depend on the installed git's version or on
 * diff.renames / diff.renameLimit; rename.c follows git's diffcore-rename
 * over these neutral records and reads blobs through a callback.
 */
#ifndef GPUCI_VCS_GIT_INT_H
#define GPUCI_VCS_GIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/strbuf.h"
#include "vcs/git.h"

/* Whether a and b are the same object id. */
static inline bool vcs_oid_equal(const struct vcs_oid *a, const struct vcs_oid *b)
{
	return a->len == b->len && !memcmp(a->id, b->id, a->len);
}

/* Scores run to git's MAX_SCORE; a pair's percentage is score * 100 / this. */
#define VCS_RN_MAX_SCORE 60000u

/* One chunk hash of a file and how many bytes hashed to it. */
struct vcs_rn_span {
	uint32_t hash, count;
};

/* A side of a rename candidate: a deleted (source) or added (destination) file. */
struct vcs_rn_file {
	const char *path; /* as git gives it, relative to the top */
	unsigned mode;    /* 0100644, 0100755, 0120000, 0160000 */
	struct vcs_oid oid;
	/* Filled by vcs_rename_detect(): */
	bool paired;   /* source used, or destination given a source */
	bool loaded;   /* size and spans below are known */
	bool unusable; /* the blob could not be read: never similar */
	size_t size;
	struct vcs_rn_span *spans; /* sorted by hash, one entry per hash */
	size_t nspans;
	size_t src;     /* destination: index of its source */
	unsigned score; /* destination: the pair's score, to VCS_RN_MAX_SCORE */
};

/*
 * Reads blob id into out (empty on entry); 0, or -1 when it cannot be read
 * (the file is then never similar to another, as in git).
 */
typedef int (*vcs_rn_read_fn)(void *ctx, const struct vcs_oid *id, struct strbuf *out);

/*
 * Pairs deleted files src (sorted by path) with added files dst (sorted by
 * path) the way `git diff -M` does by default: see rename.c. Each blob is
 * read at most once, through read(ctx, ...).
 */
void vcs_rename_detect(struct vcs_rn_file *src, size_t nsrc, struct vcs_rn_file *dst, size_t ndst,
                       vcs_rn_read_fn read, void *ctx);

/* Frees what vcs_rename_detect() kept in each of the n files of v. */
void vcs_rename_release(struct vcs_rn_file *v, size_t n);

#endif
