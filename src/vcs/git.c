/*
 * vcs/git: libgit2 behind a small API, loaded with dlopen (see git.h).
 *
 * Linking libgit2 would cost every gpuci command about 2 ms of dynamic
 * loading (libgit2 pulls in libssh2, libssl, libpcre2, libhttp_parser...),
 * and its static archive needs GSSAPI; so only the commands that read git
 * load it, through a table of pointers typed from <git2.h> itself, which
 * keeps the compiler checking every call.
 */
#include "vcs/git.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "base/dl.h"
#include "base/xalloc.h"
#include "base/banned.h"

/* The libgit2 functions gpuci calls; each becomes a member of struct git_api. */
#define GIT_API_FUNCS(X)                                                                           \
	X(git_libgit2_init)                                                                        \
	X(git_libgit2_shutdown)                                                                    \
	X(git_libgit2_version)                                                                     \
	X(git_error_last)                                                                          \
	X(git_repository_open_ext)                                                                 \
	X(git_repository_free)                                                                     \
	X(git_revparse_single)                                                                     \
	X(git_object_peel)                                                                         \
	X(git_object_id)                                                                           \
	X(git_object_free)                                                                         \
	X(git_merge_base)                                                                          \
	X(git_commit_lookup)                                                                       \
	X(git_commit_tree)                                                                         \
	X(git_commit_free)                                                                         \
	X(git_tree_free)                                                                           \
	X(git_tree_entry_bypath)                                                                   \
	X(git_tree_entry_id)                                                                       \
	X(git_tree_entry_type)                                                                     \
	X(git_tree_entry_free)                                                                     \
	X(git_diff_tree_to_tree)                                                                   \
	X(git_diff_num_deltas)                                                                     \
	X(git_diff_get_delta)                                                                      \
	X(git_diff_free)                                                                           \
	X(git_blob_lookup)                                                                         \
	X(git_blob_rawcontent)                                                                     \
	X(git_blob_rawsize)                                                                        \
	X(git_blob_free)

struct git_api {
#define GIT_API_MEMBER(f) __typeof__(f) *(f);
	GIT_API_FUNCS(GIT_API_MEMBER)
#undef GIT_API_MEMBER
};

/*
 * The loaded library: process-wide, like the dynamic loader's own state it
 * mirrors. Written once under pthread_once() before anyone reads it, never
 * changed after, so it is the one static here that is not per-call state.
 */
static struct git_api api;
static bool api_ok;
static char api_error[512];
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

/*
 * The first library that loads: $GPUCI_LIBGIT2 when set (another build, or
 * a path to test the failure with), else the soname the headers were
 * written for, else the development symlink.
 */
static void *api_dlopen(void)
{
	static const char *const names[] = {"libgit2.so.1.5", "libgit2.so"};
	return dl_open_first("GPUCI_LIBGIT2", names, sizeof(names) / sizeof(names[0]), api_error,
	                     sizeof(api_error));
}

static void api_load(void)
{
	void *h = api_dlopen();
	if (!h)
		return;
#define GIT_API_LOAD(f)                                                                            \
	api.f = (__typeof__(f) *)dlsym(h, #f);                                                     \
	if (!api.f) {                                                                              \
		snprintf(api_error, sizeof(api_error), "%s has no %s", "libgit2", #f);             \
		return;                                                                            \
	}
	GIT_API_FUNCS(GIT_API_LOAD)
#undef GIT_API_LOAD
	/* Built against 1.5's headers: refuse older ones and other major versions. */
	int major = 0, minor = 0, rev = 0;
	api.git_libgit2_version(&major, &minor, &rev);
	if (major != 1 || minor < 5) {
		snprintf(api_error, sizeof(api_error),
		         "found libgit2 %d.%d.%d, need 1.5 or later 1.x", major, minor, rev);
		return;
	}
	/* The handle stays open for the life of the process, as the table points into it. */
	api_ok = true;
}

struct vcs_repo {
	git_repository *repo;
};

/* libgit2's message for the call that just failed. */
static const char *git_msg(void)
{
	const git_error *e = api.git_error_last();
	return e && e->message && *e->message ? e->message : "libgit2 gave no reason";
}

/* diag_set() with ": <libgit2's message>" appended. */
static int git_fail(struct diag *d, enum diag_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int git_fail(struct diag *d, enum diag_code code, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	diag_set(d, code, "%s: %s", sb.buf, git_msg());
	strbuf_release(&sb);
	return -1;
}

static const git_oid *to_git(const struct vcs_oid *id)
{
	/* git_oid is exactly these 20 bytes in libgit2 1.x built for SHA-1. */
	_Static_assert(sizeof(git_oid) == sizeof(struct vcs_oid), "git_oid is 20 bytes");
	return (const git_oid *)(const void *)id;
}

static void from_git(struct vcs_oid *out, const git_oid *id)
{
	memcpy(out->id, id->id, sizeof(out->id));
}

void vcs_oid_hex(const struct vcs_oid *id, char hex[VCS_OID_HEXSZ])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(id->id); i++) {
		hex[2 * i] = digits[id->id[i] >> 4];
		hex[2 * i + 1] = digits[id->id[i] & 0xf];
	}
	hex[VCS_OID_HEXSZ - 1] = '\0';
}

int vcs_repo_open(struct vcs_repo **out, const char *path, struct diag *d)
{
	*out = NULL;
	pthread_once(&api_once, api_load);
	if (!api_ok)
		return diag_set(d, DIAG_SYSTEM,
		                "libgit2 is needed to read git and could not be loaded "
		                "(apt-get install libgit2-1.5): %s",
		                api_error);
	if (api.git_libgit2_init() < 0)
		return diag_set(d, DIAG_SYSTEM, "cannot initialise libgit2");
	git_repository *repo = NULL;
	int rc = path
	             ? api.git_repository_open_ext(&repo, path, 0, NULL)
	             : api.git_repository_open_ext(&repo, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL);
	if (rc < 0) {
		if (rc == GIT_ENOTFOUND)
			diag_set(d, DIAG_USAGE,
			         "not a git repository: '%s' (nor any parent folder)",
			         path ? path : ".");
		else
			git_fail(d, DIAG_SYSTEM, "cannot open the git repository at '%s'",
			         path ? path : ".");
		api.git_libgit2_shutdown();
		return -1;
	}
	struct vcs_repo *r = calloc(1, sizeof(*r));
	if (!r) {
		api.git_repository_free(repo);
		api.git_libgit2_shutdown();
		return diag_set(d, DIAG_SYSTEM, "out of memory");
	}
	r->repo = repo;
	*out = r;
	return 0;
}

void vcs_repo_free(struct vcs_repo *r)
{
	if (!r)
		return;
	api.git_repository_free(r->repo);
	free(r);
	/* Each open took one reference on libgit2's global state. */
	api.git_libgit2_shutdown();
}

int vcs_resolve_commit(struct vcs_repo *r, const char *rev, struct vcs_oid *out, struct diag *d)
{
	git_object *obj = NULL, *commit = NULL;
	if (api.git_revparse_single(&obj, r->repo, rev) < 0) {
		const git_error *e = api.git_error_last();
		/* libgit2 sets no message when @{-N} finds no N-th checkout. */
		if ((!e || !e->message || !*e->message) && strstr(rev, "@{-"))
			return diag_set(d, DIAG_USAGE,
			                "unknown revision '%s': HEAD's reflog records no such "
			                "earlier checkout (@{-N} is the N-th branch checked out "
			                "before this one; a fresh clone has none)",
			                rev);
		return git_fail(d, DIAG_USAGE, "unknown revision '%s'", rev);
	}
	int rc = 0;
	if (api.git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0)
		rc = git_fail(d, DIAG_USAGE, "'%s' does not name a commit", rev);
	else
		from_git(out, api.git_object_id(commit));
	api.git_object_free(commit);
	api.git_object_free(obj);
	return rc;
}

int vcs_merge_base(struct vcs_repo *r, const struct vcs_oid *a, const struct vcs_oid *b,
                   struct vcs_oid *out, struct diag *d)
{
	git_oid base;
	int rc = api.git_merge_base(&base, r->repo, to_git(a), to_git(b));
	if (rc == GIT_ENOTFOUND) {
		char ha[VCS_OID_HEXSZ], hb[VCS_OID_HEXSZ];
		vcs_oid_hex(a, ha);
		vcs_oid_hex(b, hb);
		return diag_set(d, DIAG_USAGE, "commits %.12s and %.12s have no common ancestor",
		                ha, hb);
	}
	/* Most often a shallow clone, whose history stops before the branch point. */
	if (rc < 0)
		return git_fail(d, DIAG_USAGE,
		                "cannot find the merge base (a shallow clone? fetch the history, "
		                "e.g. actions/checkout with fetch-depth: 0)");
	from_git(out, &base);
	return 0;
}

/* The tree of commit id; the caller frees it. */
static int commit_tree(struct vcs_repo *r, const struct vcs_oid *id, git_tree **out, struct diag *d)
{
	git_commit *c = NULL;
	char hex[VCS_OID_HEXSZ];
	*out = NULL;
	if (api.git_commit_lookup(&c, r->repo, to_git(id)) < 0 || api.git_commit_tree(out, c) < 0) {
		vcs_oid_hex(id, hex);
		git_fail(d, DIAG_INPUT, "cannot read commit %.12s", hex);
		api.git_commit_free(c);
		return -1;
	}
	api.git_commit_free(c);
	return 0;
}

static char delta_letter(git_delta_t s)
{
	switch (s) {
	case GIT_DELTA_ADDED:
		return 'A';
	case GIT_DELTA_DELETED:
		return 'D';
	case GIT_DELTA_MODIFIED:
		return 'M';
	case GIT_DELTA_RENAMED:
		return 'R';
	case GIT_DELTA_COPIED:
		return 'C';
	case GIT_DELTA_TYPECHANGE:
		return 'T';
	case GIT_DELTA_CONFLICTED:
		return 'U';
	case GIT_DELTA_UNREADABLE:
		return 'X';
	case GIT_DELTA_UNMODIFIED:
	case GIT_DELTA_IGNORED:
	case GIT_DELTA_UNTRACKED:
		break;
	}
	return 0;
}

/*
 * ---- renames, as git's diffcore-rename finds them ------------------------
 *
 * libgit2's git_diff_find_similar() answers differently from git in cases
 * a PR meets: it takes a type change (file to link) apart and pairs its
 * halves with other files, scores small files that git rejects on size,
 * and breaks ties its own way. `gpuci changed --diff-filter AM` must list
 * what the old `git diff --diff-filter=AM` listed, so renames are found
 * here with git's own method (`git diff -M`, the default since git 2.9):
 *
 *   1. exact: an added file whose blob a deleted one had (first unused one
 *      in path order, same basename preferred; other than regular files
 *      only with the same mode);
 *   2. basename: a deleted and an added file whose basename each is the
 *      only one of its kind on its side, at least 75% similar;
 *   3. inexact, unless there are more than 1000 x 1000 candidates: each
 *      added file keeps its best 4 deleted ones (ties: same basename
 *      first), all pairs sorted by score (stable), taken greedily if at
 *      least 50% similar and both sides are still free.
 *
 * Similarity is git's estimate: both regular files, sizes within the
 * threshold of each other, then the bytes of the new file found in the old
 * one, counted on chunks cut at each LF or every 64 bytes and hashed
 * (a CR before an LF skipped in text), over the larger size. Scores run to
 * 60000 (MAX_SCORE) like git's. A final line without LF counts, as since
 * git 2.44 (older git ignored it, so it may score such files a little
 * lower).
 */
#define RN_MAX_SCORE      60000u
#define RN_MIN_SCORE      30000u /* 50%, git's default -M */
#define RN_BASENAME_SCORE (RN_MIN_SCORE + (RN_MAX_SCORE - RN_MIN_SCORE) / 2)
#define RN_LIMIT          1000u /* git's diff.renameLimit default */
#define RN_CANDIDATES     4
#define RN_HASHBASE       107927u

/* One chunk hash of a file and how many bytes hashed to it. */
struct rn_span {
	uint32_t hash, count;
};

/* A side of a rename candidate: a deleted (source) or added (destination) file. */
struct rn_file {
	const git_diff_delta *delta;
	const git_diff_file *side;
	bool paired;   /* source used, or destination given a source */
	bool loaded;   /* size and spans below are known */
	bool unusable; /* the blob could not be read: never similar */
	size_t size;
	struct rn_span *spans; /* sorted by hash, one entry per hash */
	size_t nspans;
	size_t src;     /* destination: index of its source */
	unsigned score; /* destination: the pair's score */
};

static bool rn_is_reg(const struct rn_file *f)
{
	return (f->side->mode & 0170000) == 0100000;
}

static int rn_span_cmp(const void *a, const void *b)
{
	const struct rn_span *x = a, *y = b;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Appends a span to the growing array *v of *n, *cap. */
static void rn_push(struct rn_span **v, size_t *n, size_t *cap, struct rn_span sp)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = sp;
}

/* git's hash_chars(): the chunk histogram of data. */
static void rn_hash(struct rn_file *f, const unsigned char *buf, size_t size)
{
	size_t cap = 0, n = 0;
	struct rn_span *v = NULL;
	size_t probe = size < 8000 ? size : 8000;
	bool text = !probe || !memchr(buf, 0, probe); /* git's buffer_is_binary() */
	uint32_t a1 = 0, a2 = 0, len = 0;
	for (size_t i = 0; i < size; i++) {
		uint32_t c = buf[i], old1 = a1;
		if (text && c == '\r' && i + 1 < size && buf[i + 1] == '\n')
			continue;
		a1 = (a1 << 7) ^ (a2 >> 25);
		a2 = (a2 << 7) ^ (old1 >> 25);
		a1 += c;
		if (++len < 64 && c != '\n')
			continue;
		rn_push(&v, &n, &cap, (struct rn_span){(a1 + a2 * 0x61) % RN_HASHBASE, len});
		len = a1 = a2 = 0;
	}
	if (len > 0)
		rn_push(&v, &n, &cap, (struct rn_span){(a1 + a2 * 0x61) % RN_HASHBASE, len});
	if (n > 1)
		qsort(v, n, sizeof(*v), rn_span_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && v[k - 1].hash == v[i].hash)
			v[k - 1].count += v[i].count;
		else
			v[k++] = v[i];
	}
	f->spans = v;
	f->nspans = k;
}

/* Reads f's blob once for its size and histogram. */
static void rn_load(struct vcs_repo *r, struct rn_file *f)
{
	if (f->loaded)
		return;
	f->loaded = true;
	git_blob *b = NULL;
	if (api.git_blob_lookup(&b, r->repo, &f->side->id) < 0) {
		f->unusable = true; /* as git: a blob it cannot read is never similar */
		return;
	}
	f->size = (size_t)api.git_blob_rawsize(b);
	rn_hash(f, api.git_blob_rawcontent(b), f->size);
	api.git_blob_free(b);
}

/* git's estimate_similarity(): 0..RN_MAX_SCORE. */
static unsigned rn_similarity(struct vcs_repo *r, struct rn_file *src, struct rn_file *dst,
                              unsigned min_score)
{
	if (!rn_is_reg(src) || !rn_is_reg(dst))
		return 0;
	rn_load(r, src);
	rn_load(r, dst);
	if (src->unusable || dst->unusable)
		return 0;
	uint64_t max = src->size > dst->size ? src->size : dst->size;
	uint64_t base = src->size < dst->size ? src->size : dst->size;
	if (max * (RN_MAX_SCORE - min_score) < (max - base) * RN_MAX_SCORE)
		return 0;
	if (!dst->size)
		return 0;
	/* Bytes of dst's chunks that src has too: the sum of the smaller counts. */
	uint64_t copied = 0;
	for (size_t i = 0, j = 0; i < src->nspans && j < dst->nspans;) {
		if (src->spans[i].hash < dst->spans[j].hash) {
			i++;
		} else if (src->spans[i].hash > dst->spans[j].hash) {
			j++;
		} else {
			uint32_t s = src->spans[i++].count, t = dst->spans[j++].count;
			copied += s < t ? s : t;
		}
	}
	return (unsigned)(copied * RN_MAX_SCORE / max);
}

static const char *rn_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* git's basename_same(): the last path components are equal. */
static bool rn_basename_same(const struct rn_file *a, const struct rn_file *b)
{
	return !strcmp(rn_basename(a->side->path), rn_basename(b->side->path));
}

static void rn_pair(struct rn_file *src, size_t src_index, struct rn_file *dst, unsigned score)
{
	src->paired = true;
	dst->paired = true;
	dst->src = src_index;
	dst->score = score;
}

/* Whether path's basename belongs to exactly one unpaired file of v. */
static bool rn_unique_basename(const struct rn_file *v, size_t n, const char *base)
{
	size_t seen = 0;
	for (size_t i = 0; i < n && seen < 2; i++)
		if (!v[i].paired && !strcmp(rn_basename(v[i].side->path), base))
			seen++;
	return seen == 1;
}

struct rn_score {
	size_t src, dst, order; /* order: position before sorting, for a stable sort */
	unsigned score;
	bool same_name;
	bool used; /* a slot holding a candidate */
};

/* git's score_compare(): better first, empty slots last. */
static int rn_score_cmp(const struct rn_score *a, const struct rn_score *b)
{
	if (!a->used || !b->used)
		return (int)b->used - (int)a->used;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return (int)b->same_name - (int)a->same_name;
}

static int rn_score_sort(const void *a, const void *b)
{
	int c = rn_score_cmp(a, b);
	if (c)
		return c;
	const struct rn_score *x = a, *y = b;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* git's record_if_better(): o replaces the worst of the slots if strictly better. */
static void rn_keep_best(struct rn_score *m, const struct rn_score *o)
{
	size_t worst = 0;
	for (size_t i = 1; i < RN_CANDIDATES; i++)
		if (rn_score_cmp(&m[i], &m[worst]) > 0)
			worst = i;
	if (rn_score_cmp(&m[worst], o) > 0)
		m[worst] = *o;
}

static void rn_detect(struct vcs_repo *r, struct rn_file *src, size_t nsrc, struct rn_file *dst,
                      size_t ndst)
{
	if (!nsrc || !ndst)
		return;
	/* 1. Exact renames. */
	for (size_t i = 0; i < ndst; i++) {
		size_t best = SIZE_MAX, tries = 100;
		int best_score = -1;
		for (size_t j = 0; j < nsrc; j++) {
			struct rn_file *s = &src[j];
			if (s->paired ||
			    memcmp(&s->side->id, &dst[i].side->id, sizeof(git_oid)) != 0)
				continue;
			if ((!rn_is_reg(s) || !rn_is_reg(&dst[i])) &&
			    s->side->mode != dst[i].side->mode)
				continue;
			int score = 1 + rn_basename_same(s, &dst[i]);
			if (score > best_score) {
				best = j;
				best_score = score;
				if (score == 2)
					break;
			}
			if (!--tries)
				break;
		}
		if (best != SIZE_MAX)
			rn_pair(&src[best], best, &dst[i], RN_MAX_SCORE);
	}

	/* 2. Files that kept their basename, unique on both sides. */
	for (size_t j = 0; j < nsrc; j++) {
		if (src[j].paired)
			continue;
		const char *base = rn_basename(src[j].side->path);
		if (!rn_unique_basename(src, nsrc, base) || !rn_unique_basename(dst, ndst, base))
			continue;
		size_t i = 0;
		while (dst[i].paired || strcmp(rn_basename(dst[i].side->path), base) != 0)
			i++;
		unsigned score = rn_similarity(r, &src[j], &dst[i], RN_BASENAME_SCORE);
		if (score >= RN_BASENAME_SCORE)
			rn_pair(&src[j], j, &dst[i], score);
	}

	/* 3. The inexact matrix, within the limit. */
	size_t left_src = 0, left_dst = 0;
	for (size_t j = 0; j < nsrc; j++)
		left_src += !src[j].paired;
	for (size_t i = 0; i < ndst; i++)
		left_dst += !dst[i].paired;
	if (!left_src || !left_dst || (uint64_t)left_src * left_dst > (uint64_t)RN_LIMIT * RN_LIMIT)
		return;
	struct rn_score *mx = xcalloc(left_dst * RN_CANDIDATES, sizeof(*mx));
	size_t nmx = 0;
	for (size_t i = 0; i < ndst; i++) {
		if (dst[i].paired)
			continue;
		struct rn_score *m = &mx[nmx];
		for (size_t j = 0; j < nsrc; j++) {
			if (src[j].paired)
				continue;
			struct rn_score o = {
			    .src = j,
			    .dst = i,
			    .score = rn_similarity(r, &src[j], &dst[i], RN_MIN_SCORE),
			    .same_name = rn_basename_same(&src[j], &dst[i]),
			    .used = true,
			};
			rn_keep_best(m, &o);
		}
		nmx += RN_CANDIDATES;
	}
	for (size_t k = 0; k < nmx; k++)
		mx[k].order = k;
	qsort(mx, nmx, sizeof(*mx), rn_score_sort);
	for (size_t k = 0; k < nmx; k++) {
		if (!mx[k].used || mx[k].score < RN_MIN_SCORE)
			break;
		if (dst[mx[k].dst].paired || src[mx[k].src].paired)
			continue;
		rn_pair(&src[mx[k].src], mx[k].src, &dst[mx[k].dst], mx[k].score);
	}
	free(mx);
}

/* git's order: by path, byte by byte (tree order is the same for whole paths). */
static int cmp_delta(const void *a, const void *b)
{
	const struct vcs_delta *x = a, *y = b;
	return strcmp(x->path, y->path);
}

static int cmp_rn_file(const void *a, const void *b)
{
	const struct rn_file *x = a, *y = b;
	return strcmp(x->side->path, y->side->path);
}

int vcs_diff(struct vcs_repo *r, const struct vcs_oid *from, const struct vcs_oid *to,
             const char *const *pathspec, size_t npathspec, struct arena *a, struct vcs_delta **out,
             size_t *n, struct diag *d)
{
	git_tree *old_tree = NULL, *new_tree = NULL;
	git_diff *diff = NULL;
	struct rn_file *src = NULL, *dst = NULL;
	size_t nsrc = 0, ndst = 0;
	int rc = -1;
	*out = NULL;
	*n = 0;
	if (commit_tree(r, from, &old_tree, d) < 0 || commit_tree(r, to, &new_tree, d) < 0)
		goto out;

	/* GIT_DIFF_OPTIONS_INIT, spelt out with names for -Wmissing-field-initializers. */
	git_diff_options opts = {
	    .version = GIT_DIFF_OPTIONS_VERSION,
	    /* git shows a file that became a link (or back) as 'T', not 'D' plus 'A'. */
	    .flags = GIT_DIFF_INCLUDE_TYPECHANGE | GIT_DIFF_SKIP_BINARY_CHECK,
	    .ignore_submodules = GIT_SUBMODULE_IGNORE_UNSPECIFIED,
	    /* libgit2 only reads the strings; its struct is not const-correct. */
	    .pathspec = {.strings = (char **)pathspec, .count = npathspec},
	    .context_lines = 3,
	};
	/* Limited by the pathspec first, then renames looked for: git's order too. */
	if (api.git_diff_tree_to_tree(&diff, r->repo, old_tree, new_tree, &opts) < 0) {
		git_fail(d, DIAG_INPUT, "cannot diff the trees");
		goto out;
	}

	size_t total = api.git_diff_num_deltas(diff);
	if (total) {
		src = xcalloc(total, sizeof(*src));
		dst = xcalloc(total, sizeof(*dst));
	}
	for (size_t i = 0; i < total; i++) {
		const git_diff_delta *g = api.git_diff_get_delta(diff, i);
		if (g && g->status == GIT_DELTA_DELETED)
			src[nsrc++] = (struct rn_file){.delta = g, .side = &g->old_file};
		else if (g && g->status == GIT_DELTA_ADDED)
			dst[ndst++] = (struct rn_file){.delta = g, .side = &g->new_file};
	}
	if (nsrc > 1)
		qsort(src, nsrc, sizeof(*src), cmp_rn_file);
	if (ndst > 1)
		qsort(dst, ndst, sizeof(*dst), cmp_rn_file);
	rn_detect(r, src, nsrc, dst, ndst);

	struct vcs_delta *v = total ? arena_alloc(a, total * sizeof(*v)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < total; i++) {
		const git_diff_delta *g = api.git_diff_get_delta(diff, i);
		char letter = g ? delta_letter(g->status) : 0;
		if (!letter || letter == 'A')
			continue; /* additions below, with their renames */
		if (letter == 'D') {
			const struct rn_file key = {.side = &g->old_file};
			const struct rn_file *s =
			    nsrc ? bsearch(&key, src, nsrc, sizeof(*src), cmp_rn_file) : NULL;
			if (s && s->paired)
				continue; /* renamed: listed under its new name */
		}
		struct vcs_delta *e = &v[k++];
		e->status = letter;
		const git_diff_file *side = letter == 'D' ? &g->old_file : &g->new_file;
		e->path = arena_strndup(a, side->path, strlen(side->path));
		if (letter != 'D') {
			from_git(&e->blob, &g->new_file.id);
			e->mode = g->new_file.mode;
		}
	}
	for (size_t i = 0; i < ndst; i++) {
		struct vcs_delta *e = &v[k++];
		const git_diff_file *side = dst[i].side;
		e->status = dst[i].paired ? 'R' : 'A';
		e->path = arena_strndup(a, side->path, strlen(side->path));
		from_git(&e->blob, &side->id);
		e->mode = side->mode;
		if (dst[i].paired) {
			const char *old = src[dst[i].src].side->path;
			e->old_path = arena_strndup(a, old, strlen(old));
			e->similarity = dst[i].score * 100 / RN_MAX_SCORE;
		}
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_delta);
	*out = v;
	*n = k;
	rc = 0;
out:
	for (size_t i = 0; i < nsrc; i++)
		free(src[i].spans);
	for (size_t i = 0; i < ndst; i++)
		free(dst[i].spans);
	free(src);
	free(dst);
	api.git_diff_free(diff);
	api.git_tree_free(old_tree);
	api.git_tree_free(new_tree);
	return rc;
}

int vcs_blob_read(struct vcs_repo *r, const struct vcs_oid *id, struct strbuf *out, struct diag *d)
{
	git_blob *b = NULL;
	if (api.git_blob_lookup(&b, r->repo, to_git(id)) < 0) {
		char hex[VCS_OID_HEXSZ];
		vcs_oid_hex(id, hex);
		return git_fail(d, DIAG_INPUT, "cannot read blob %.12s", hex);
	}
	git_object_size_t size = api.git_blob_rawsize(b);
	int rc = 0;
	if (size > (git_object_size_t)STRBUF_DEFAULT_MAX) {
		rc = diag_set(d, DIAG_INPUT, "file too large (%llu bytes)",
		              (unsigned long long)size);
	} else {
		size_t before = out->len;
		strbuf_add(out, api.git_blob_rawcontent(b), (size_t)size);
		if (strbuf_failed(out) || out->len != before + (size_t)size)
			rc = diag_set(d, DIAG_INPUT, "file too large (%llu bytes)",
			              (unsigned long long)size);
	}
	api.git_blob_free(b);
	return rc;
}

int vcs_read_file(struct vcs_repo *r, const struct vcs_oid *commit, const char *path,
                  struct strbuf *out, struct diag *d)
{
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	int rc = -1;
	if (commit_tree(r, commit, &tree, d) < 0)
		return -1;
	if (api.git_tree_entry_bypath(&e, tree, path) < 0) {
		char hex[VCS_OID_HEXSZ];
		vcs_oid_hex(commit, hex);
		git_fail(d, DIAG_INPUT, "no file '%s' in commit %.12s", path, hex);
	} else if (api.git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		rc = diag_set(d, DIAG_INPUT, "'%s' is not a file", path);
	} else {
		struct vcs_oid id;
		from_git(&id, api.git_tree_entry_id(e));
		rc = vcs_blob_read(r, &id, out, d);
	}
	api.git_tree_entry_free(e);
	api.git_tree_free(tree);
	return rc;
}
