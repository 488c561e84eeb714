/*
 * vcs/rename: renames among the files a tree diff added and deleted, found
 * exactly as git's diffcore-rename finds them (see git_int.h).
 */
#include "vcs/git_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

/*
 * `gpuci changed --diff-filter AM` must list what `git diff
 * --diff-filter=AM` lists, whatever git is installed and however it is
 * configured (diff.renames, diff.renameLimit), so git is asked for the tree
 * diff without renames and they are found here with git's own method
 * (`git diff -M`, the default since git 2.9):
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
#define RN_MIN_SCORE      30000u /* 50%, git's default -M */
#define RN_BASENAME_SCORE (RN_MIN_SCORE + (VCS_RN_MAX_SCORE - RN_MIN_SCORE) / 2)
#define RN_LIMIT          1000u /* git's diff.renameLimit default */
#define RN_CANDIDATES     4
#define RN_HASHBASE       107927u

static bool rn_is_reg(const struct vcs_rn_file *f)
{
	return (f->mode & 0170000) == 0100000;
}

static int rn_span_cmp(const void *a, const void *b)
{
	const struct vcs_rn_span *x = a, *y = b;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Appends a span to the growing array *v of *n, *cap. */
static void rn_push(struct vcs_rn_span **v, size_t *n, size_t *cap, struct vcs_rn_span sp)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = sp;
}

/* git's hash_chars(): the chunk histogram of data. */
static void rn_hash(struct vcs_rn_file *f, const unsigned char *buf, size_t size)
{
	size_t cap = 0, n = 0;
	struct vcs_rn_span *v = NULL;
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
		rn_push(&v, &n, &cap, (struct vcs_rn_span){(a1 + a2 * 0x61) % RN_HASHBASE, len});
		len = a1 = a2 = 0;
	}
	if (len > 0)
		rn_push(&v, &n, &cap, (struct vcs_rn_span){(a1 + a2 * 0x61) % RN_HASHBASE, len});
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

/* The blob reader vcs_rename_detect() was given. */
struct rn_reader {
	vcs_rn_read_fn read;
	void *ctx;
};

/* A file to load, in a list of them. */
struct rn_ref {
	struct vcs_rn_file *f;
};

/*
 * Reads the blobs of the n files of v (none loaded yet) for their sizes and
 * histograms, VCS_RN_ROUND at a time, each blob kept only while hashed.
 */
static void rn_load_many(const struct rn_reader *r, const struct rn_ref *v, size_t n)
{
	struct vcs_oid ids[VCS_RN_ROUND];
	struct strbuf out[VCS_RN_ROUND];
	bool ok[VCS_RN_ROUND];
	for (size_t at = 0; at < n; at += VCS_RN_ROUND) {
		size_t k = n - at < VCS_RN_ROUND ? n - at : VCS_RN_ROUND;
		for (size_t i = 0; i < k; i++) {
			ids[i] = v[at + i].f->oid;
			out[i] = (struct strbuf)STRBUF_INIT;
		}
		r->read(r->ctx, ids, k, out, ok);
		for (size_t i = 0; i < k; i++) {
			struct vcs_rn_file *f = v[at + i].f;
			f->loaded = true;
			if (!ok[i]) {
				f->unusable =
				    true; /* as git: a blob it cannot read is never similar */
			} else {
				f->size = out[i].len;
				rn_hash(f, (const unsigned char *)out[i].buf, out[i].len);
			}
			strbuf_release(&out[i]);
		}
	}
}

/* Reads f's blob once for its size and histogram. */
static void rn_load(const struct rn_reader *r, struct vcs_rn_file *f)
{
	if (!f->loaded)
		rn_load_many(r, &(struct rn_ref){f}, 1);
}

/* Adds f to the list v (of *n) when it is a file not read yet (each is listed once). */
static void rn_want(struct rn_ref *v, size_t *n, struct vcs_rn_file *f)
{
	if (!f->loaded && (f->mode & 0170000) == 0100000)
		v[(*n)++] = (struct rn_ref){f};
}

/* git's estimate_similarity(): 0..VCS_RN_MAX_SCORE. */
static unsigned rn_similarity(const struct rn_reader *r, struct vcs_rn_file *src,
                              struct vcs_rn_file *dst, unsigned min_score)
{
	if (!rn_is_reg(src) || !rn_is_reg(dst))
		return 0;
	rn_load(r, src);
	rn_load(r, dst);
	if (src->unusable || dst->unusable)
		return 0;
	uint64_t max = src->size > dst->size ? src->size : dst->size;
	uint64_t base = src->size < dst->size ? src->size : dst->size;
	if (max * (VCS_RN_MAX_SCORE - min_score) < (max - base) * VCS_RN_MAX_SCORE)
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
	return (unsigned)(copied * VCS_RN_MAX_SCORE / max);
}

static const char *rn_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* git's basename_same(): the last path components are equal. */
static bool rn_basename_same(const struct vcs_rn_file *a, const struct vcs_rn_file *b)
{
	return !strcmp(rn_basename(a->path), rn_basename(b->path));
}

static void rn_pair(struct vcs_rn_file *src, size_t src_index, struct vcs_rn_file *dst,
                    unsigned score)
{
	src->paired = true;
	dst->paired = true;
	dst->src = src_index;
	dst->score = score;
}

/* Whether path's basename belongs to exactly one unpaired file of v. */
static bool rn_unique_basename(const struct vcs_rn_file *v, size_t n, const char *base)
{
	size_t seen = 0;
	for (size_t i = 0; i < n && seen < 2; i++)
		if (!v[i].paired && !strcmp(rn_basename(v[i].path), base))
			seen++;
	return seen == 1;
}

/*
 * The unpaired destination that unpaired source j may pair with by name:
 * the one whose basename is j's, when that basename is unique among the
 * unpaired files of both sides; else SIZE_MAX.
 */
static size_t rn_basename_partner(const struct vcs_rn_file *src, size_t nsrc,
                                  const struct vcs_rn_file *dst, size_t ndst, size_t j)
{
	if (src[j].paired)
		return SIZE_MAX;
	const char *base = rn_basename(src[j].path);
	if (!rn_unique_basename(src, nsrc, base) || !rn_unique_basename(dst, ndst, base))
		return SIZE_MAX;
	size_t i = 0;
	while (dst[i].paired || strcmp(rn_basename(dst[i].path), base) != 0)
		i++;
	return i;
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

void vcs_rename_detect(struct vcs_rn_file *src, size_t nsrc, struct vcs_rn_file *dst, size_t ndst,
                       vcs_rn_read_fn read, void *ctx)
{
	const struct rn_reader rd = {read, ctx}, *r = &rd;
	if (!nsrc || !ndst)
		return;
	/* 1. Exact renames. */
	for (size_t i = 0; i < ndst; i++) {
		size_t best = SIZE_MAX, tries = 100;
		int best_score = -1;
		for (size_t j = 0; j < nsrc; j++) {
			struct vcs_rn_file *s = &src[j];
			if (s->paired || !vcs_oid_equal(&s->oid, &dst[i].oid))
				continue;
			if ((!rn_is_reg(s) || !rn_is_reg(&dst[i])) && s->mode != dst[i].mode)
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
			rn_pair(&src[best], best, &dst[i], VCS_RN_MAX_SCORE);
	}

	/*
	 * 2. Files that kept their basename, unique on both sides. Pairing one
	 * changes no other basename's uniqueness, so the pairs to compare are
	 * known first, and their blobs read together.
	 */
	struct rn_ref *want = xcalloc(nsrc + ndst, sizeof(struct rn_ref));
	size_t nwant = 0;
	for (size_t j = 0; j < nsrc; j++) {
		size_t i = rn_basename_partner(src, nsrc, dst, ndst, j);
		if (i != SIZE_MAX && rn_is_reg(&src[j]) && rn_is_reg(&dst[i])) {
			rn_want(want, &nwant, &src[j]);
			rn_want(want, &nwant, &dst[i]);
		}
	}
	rn_load_many(r, want, nwant);
	for (size_t j = 0; j < nsrc; j++) {
		size_t i = rn_basename_partner(src, nsrc, dst, ndst, j);
		if (i == SIZE_MAX)
			continue;
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
	if (!left_src || !left_dst ||
	    (uint64_t)left_src * left_dst > (uint64_t)RN_LIMIT * RN_LIMIT) {
		free(want);
		return;
	}
	/* Every unpaired file is compared with every other side's: read them together. */
	bool any_src = false, any_dst = false;
	for (size_t j = 0; j < nsrc; j++)
		any_src |= !src[j].paired && rn_is_reg(&src[j]);
	for (size_t i = 0; i < ndst; i++)
		any_dst |= !dst[i].paired && rn_is_reg(&dst[i]);
	nwant = 0;
	for (size_t j = 0; j < nsrc && any_dst; j++)
		if (!src[j].paired)
			rn_want(want, &nwant, &src[j]);
	for (size_t i = 0; i < ndst && any_src; i++)
		if (!dst[i].paired)
			rn_want(want, &nwant, &dst[i]);
	rn_load_many(r, want, nwant);
	free(want);
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

void vcs_rename_release(struct vcs_rn_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].spans);
		v[i].spans = NULL;
	}
}
