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

#include <sys/types.h>

#include "base/diag.h"
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

/* At most how many blobs vcs_rename_detect() asks for at once. */
#define VCS_RN_ROUND 64

/*
 * Reads blobs ids[0..n) (n <= VCS_RN_ROUND) into out[0..n) (empty on
 * entry); ok[i] false when blob i cannot be read (the file is then never
 * similar to another, as in git).
 */
typedef void (*vcs_rn_read_fn)(void *ctx, const struct vcs_oid *ids, size_t n, struct strbuf *out,
                               bool *ok);

/*
 * Pairs deleted files src (sorted by path) with added files dst (sorted by
 * path) the way `git diff -M` does by default: see rename.c. Each blob is
 * read at most once, through read(ctx, ...), many at a time.
 */
void vcs_rename_detect(struct vcs_rn_file *src, size_t nsrc, struct vcs_rn_file *dst, size_t ndst,
                       vcs_rn_read_fn read, void *ctx);

/* Frees what vcs_rename_detect() kept in each of the n files of v. */
void vcs_rename_release(struct vcs_rn_file *v, size_t n);

/* ---- git processes (gitrun.c) ---------------------------------------------- */

/* A running git: its pid, the socket to its stdin and stdout, its stderr (a memfd). */
struct vcs_git_child {
	pid_t pid;
	int fd;
	int err;
};

/* The `git cat-file --batch` of a repository and what it sent that is not read yet. */
struct vcs_git_batch {
	struct vcs_git_child c; /* pid 0: not running */
	size_t start, end;
	char buf[65536];
};

struct vcs_repo {
	const char *git; /* the executable: $GPUCI_GIT or "git" */
	char *dir_opt;   /* "--git-dir=/abs/path/.git" */
	char **env;      /* the children's environment */
	bool shallow;
	struct vcs_git_batch batch;
	int batch_status;        /* how the last batch that failed ended */
	struct strbuf batch_msg; /* and what it said on stderr (one line) */
};

/*
 * The children's environment: the caller's, less LC_ALL, GIT_TERMINAL_PROMPT,
 * GIT_OPTIONAL_LOCKS and the GIT_*_PATHSPECS that would change what a
 * pattern means, plus LC_ALL=C, GIT_TERMINAL_PROMPT=0, GIT_OPTIONAL_LOCKS=0;
 * explicit (the repository named by path): also less GIT_DIR, GIT_WORK_TREE,
 * GIT_INDEX_FILE, GIT_COMMON_DIR, GIT_OBJECT_DIRECTORY and
 * GIT_ALTERNATE_OBJECT_DIRECTORIES. Freed with vcs_git_env_free().
 */
char **vcs_git_env(bool explicit);
void vcs_git_env_free(char **env);

/*
 * Runs `GIT ARGS...` to its end: its stdout into out, its wait status in
 * *status, its stderr as one line in err when it did not exit 0. Fails
 * (DIAG_SYSTEM) only when it cannot be run (saying what was tried and
 * how to install git) or read.
 */
int vcs_git_run(const char *git, char *const *env, const char *const *args, struct strbuf *out,
                int *status, struct strbuf *err, struct diag *d);
/* vcs_git_run() for `git --git-dir=DIR ARGS...` of r. */
int vcs_repo_run(struct vcs_repo *r, const char *const *args, struct strbuf *out, int *status,
                 struct strbuf *err, struct diag *d);
/* DIAG_SYSTEM: "git WHAT exited with status 128: <git's message>"; returns -1. */
int vcs_git_status_fail(struct diag *d, const char *what, int status, const struct strbuf *err);

/* Parses the n hex digits at s (40 or 64) into out; false when they are not that. */
bool vcs_oid_parse(const char *s, size_t n, struct vcs_oid *out);

/* What cat-file said about one object. */
struct vcs_batch_obj {
	bool found;     /* false: "missing" or "ambiguous" */
	bool too_large; /* found, but its content would not fit in the body: drained */
	bool ambiguous; /* not found because a short id names several objects */
	char type[16];  /* "commit", "tree", "blob", "tag" */
	uint64_t size;  /* of the content */
	struct vcs_oid oid;
};

/*
 * Asks r's cat-file --batch (started on first use) for name and reads its
 * answer: the header into o, then the content into body (NULL: drained; a
 * content too large for body is drained and o->too_large set). The stream
 * stays in step whatever the object. Fails (DIAG_SYSTEM) only when git
 * fails: the process is then ended (the next call starts another), its
 * wait status and message kept in r->batch_status and r->batch_msg.
 */
int vcs_batch_get(struct vcs_repo *r, const char *name, struct vcs_batch_obj *o,
                  struct strbuf *body, struct diag *d);
/*
 * vcs_batch_get() for n names at once: all the questions sent together
 * (so at most VCS_BATCH_MANY of them, each a short line: they always fit
 * in the socket's buffer while git answers), then the n answers read in
 * order into objs[i] and bodies[i] (bodies NULL: drained). One round trip
 * instead of n.
 */
#define VCS_BATCH_MANY 64
int vcs_batch_get_many(struct vcs_repo *r, const char *const *names, size_t n,
                       struct vcs_batch_obj *objs, struct strbuf *bodies, struct diag *d);
/* Ends r's cat-file process, if any; returns its wait status. */
int vcs_batch_stop(struct vcs_repo *r);

#endif
