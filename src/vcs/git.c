/*
 * vcs/git: git's plumbing behind a small API (see git.h).
 *
 * gpuci once loaded libgit2 with dlopen; CI images often carry another
 * ABI of it or none, while the git command is present wherever a checkout
 * was made and its plumbing output is a stable contract. So every answer
 * here comes from a git process (gitrun.c): `git rev-parse` to open,
 * `git merge-base`, `git diff-tree -z --raw --no-renames` with renames found
 * by rename.c, and one `git cat-file --batch` per repository for
 * revisions and contents.
 */
#include "vcs/git.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/xalloc.h"
#include "vcs/git_int.h"
#include "base/banned.h"

void vcs_oid_hex(const struct vcs_oid *id, char hex[VCS_OID_HEXSZ])
{
	static const char digits[] = "0123456789abcdef";
	size_t len = id->len <= sizeof(id->id) ? id->len : sizeof(id->id);
	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[id->id[i] >> 4];
		hex[2 * i + 1] = digits[id->id[i] & 0xf];
	}
	hex[2 * len] = '\0';
}

/* ---- opening --------------------------------------------------------------- */

int vcs_repo_open(struct vcs_repo **out, const char *path, struct diag *d)
{
	*out = NULL;
	const char *git = getenv("GPUCI_GIT");
	if (!git || !*git)
		git = "git";
	char **env = vcs_git_env(path != NULL);
	const char *args[] = {
	    "-C", path ? path : ".", "rev-parse", "--absolute-git-dir", "--is-shallow-repository",
	    NULL};
	struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
	int status = 0;
	/* path NULL: the current directory, as git itself would (GIT_DIR honoured). */
	if (vcs_git_run(git, env, path ? args : args + 2, &sb, &status, &err, d) < 0)
		goto fail;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 128 &&
		    (strstr(err.buf, "not a git repository") ||
		     strstr(err.buf, "cannot change to")))
			diag_set(d, DIAG_USAGE,
			         "not a git repository: '%s' (nor any parent folder)",
			         path ? path : ".");
		else
			diag_set(d, DIAG_SYSTEM, "cannot open the git repository at '%s': %s",
			         path ? path : ".", err.len ? err.buf : "git gave no reason");
		goto fail;
	}
	char *nl = strchr(sb.buf, '\n');
	if (!nl || sb.buf[0] != '/' || !nl[1]) {
		diag_set(d, DIAG_SYSTEM, "git rev-parse --absolute-git-dir printed no folder");
		goto fail;
	}
	*nl = '\0';
	struct vcs_repo *r = xcalloc(1, sizeof(*r));
	r->git = git;
	r->env = env;
	r->shallow = !strncmp(nl + 1, "true", 4);
	struct strbuf opt = STRBUF_INIT;
	strbuf_addf(&opt, "--git-dir=%s", sb.buf);
	r->dir_opt = strbuf_detach(&opt, NULL);
	r->batch.c = (struct vcs_git_child){.fd = -1, .err = -1};
	r->batch_msg = (struct strbuf)STRBUF_INIT;
	strbuf_release(&sb);
	strbuf_release(&err);
	*out = r;
	return 0;
fail:
	strbuf_release(&sb);
	strbuf_release(&err);
	vcs_git_env_free(env);
	return -1;
}

void vcs_repo_free(struct vcs_repo *r)
{
	if (!r)
		return;
	vcs_batch_stop(r);
	strbuf_release(&r->batch_msg);
	free(r->dir_opt);
	vcs_git_env_free(r->env);
	free(r);
}

/* ---- revisions -------------------------------------------------------------- */

int vcs_resolve_commit(struct vcs_repo *r, const char *rev, struct vcs_oid *out, struct diag *d)
{
	if (strchr(rev, '\n'))
		return diag_set(d, DIAG_USAGE,
		                "unknown revision '%s': a revision cannot hold a newline", rev);
	struct strbuf q = STRBUF_INIT;
	struct vcs_batch_obj o;
	strbuf_addf(&q, "%s^{commit}", rev);
	int rc = vcs_batch_get(r, q.buf, &o, NULL, d);
	strbuf_release(&q);
	if (rc < 0) {
		/*
		 * git dies on some names (e.g. @{upstream} without one) with its
		 * reason and status 128: a bad revision, not a broken git.
		 */
		int st = r->batch_status;
		if (r->batch.c.pid == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 128 &&
		    r->batch_msg.len)
			diag_set(d, DIAG_USAGE, "unknown revision '%s': %s", rev, r->batch_msg.buf);
		return -1;
	}
	if (o.found) {
		if (strcmp(o.type, "commit") != 0)
			return diag_set(d, DIAG_SYSTEM, "git cat-file gave a %s for '%s^{commit}'",
			                o.type, rev);
		*out = o.oid;
		return 0;
	}
	if (o.ambiguous)
		return diag_set(d, DIAG_USAGE, "unknown revision '%s': the short id is ambiguous",
		                rev);
	/* Something that is not a commit, or nothing at all? */
	if (vcs_batch_get(r, rev, &o, NULL, d) < 0)
		return -1;
	if (o.found)
		return diag_set(d, DIAG_USAGE, "'%s' does not name a commit (it names a %s)", rev,
		                o.type);
	if (strstr(rev, "@{-"))
		return diag_set(d, DIAG_USAGE,
		                "unknown revision '%s': HEAD's reflog records no such "
		                "earlier checkout (@{-N} is the N-th branch checked out "
		                "before this one; a fresh clone has none)",
		                rev);
	return diag_set(d, DIAG_USAGE, "unknown revision '%s'", rev);
}

int vcs_merge_base(struct vcs_repo *r, const struct vcs_oid *a, const struct vcs_oid *b,
                   struct vcs_oid *out, struct diag *d)
{
	char ha[VCS_OID_HEXSZ], hb[VCS_OID_HEXSZ];
	vcs_oid_hex(a, ha);
	vcs_oid_hex(b, hb);
	const char *args[] = {"merge-base", ha, hb, NULL};
	struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
	int status = 0, rc = -1;
	if (vcs_repo_run(r, args, &sb, &status, &err, d) < 0)
		goto out;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && !sb.len && !err.len) {
		/* Most often a shallow clone, whose history stops before the branch point. */
		if (r->shallow)
			diag_set(d, DIAG_USAGE,
			         "cannot find the merge base of %.12s and %.12s in this shallow "
			         "clone (fetch the history, e.g. actions/checkout with "
			         "fetch-depth: 0)",
			         ha, hb);
		else
			diag_set(d, DIAG_USAGE, "commits %.12s and %.12s have no common ancestor",
			         ha, hb);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		vcs_git_status_fail(d, "merge-base", status, &err);
		goto out;
	}
	if (!sb.len || sb.buf[sb.len - 1] != '\n' || !vcs_oid_parse(sb.buf, sb.len - 1, out)) {
		struct strbuf shown = STRBUF_INIT;
		shown.max = 200;
		strbuf_add_quoted(&shown, sb.buf);
		diag_set(d, DIAG_SYSTEM, "git merge-base printed %s, not an object id", shown.buf);
		strbuf_release(&shown);
		goto out;
	}
	rc = 0;
out:
	strbuf_release(&sb);
	strbuf_release(&err);
	return rc;
}

/* ---- contents ---------------------------------------------------------------- */

/* Checks the answer o (for blob id, content appended to out from before). */
static int blob_check(const struct vcs_oid *id, const struct vcs_batch_obj *o, struct strbuf *out,
                      size_t before, struct diag *d)
{
	char hex[VCS_OID_HEXSZ];
	vcs_oid_hex(id, hex);
	if (!o->found)
		return diag_set(d, DIAG_INPUT, "cannot read blob %.12s: no such object", hex);
	if (strcmp(o->type, "blob") != 0) {
		strbuf_setlen(out, before);
		return diag_set(d, DIAG_INPUT, "cannot read blob %.12s: it is a %s", hex, o->type);
	}
	if (o->too_large || strbuf_failed(out) || out->len != before + o->size)
		return diag_set(d, DIAG_INPUT, "file too large (%llu bytes)",
		                (unsigned long long)o->size);
	return 0;
}

int vcs_blob_read(struct vcs_repo *r, const struct vcs_oid *id, struct strbuf *out, struct diag *d)
{
	return vcs_blobs_read(r, id, 1, out, NULL, d);
}

int vcs_blobs_read(struct vcs_repo *r, const struct vcs_oid *ids, size_t n, struct strbuf *out,
                   size_t *failed, struct diag *d)
{
	char hex[VCS_BATCH_MANY][VCS_OID_HEXSZ];
	const char *names[VCS_BATCH_MANY];
	struct vcs_batch_obj objs[VCS_BATCH_MANY];
	size_t before[VCS_BATCH_MANY];
	for (size_t at = 0; at < n; at += VCS_BATCH_MANY) {
		size_t k = n - at < VCS_BATCH_MANY ? n - at : VCS_BATCH_MANY;
		for (size_t i = 0; i < k; i++) {
			vcs_oid_hex(&ids[at + i], hex[i]);
			names[i] = hex[i];
			before[i] = out[at + i].len;
		}
		if (vcs_batch_get_many(r, names, k, objs, out + at, d) < 0) {
			for (size_t i = 0; i < k; i++)
				strbuf_setlen(&out[at + i], before[i]);
			if (failed)
				*failed = at;
			return -1;
		}
		for (size_t i = 0; i < k; i++)
			if (blob_check(&ids[at + i], &objs[i], &out[at + i], before[i], d) < 0) {
				if (failed)
					*failed = at + i;
				return -1;
			}
	}
	return 0;
}

/*
 * Whether the entry `name` of the tree `tree` (raw: "<mode> <name>\0<id>"
 * entries) is a submodule.
 */
static bool tree_has_gitlink(const struct strbuf *tree, size_t idlen, const char *name)
{
	const char *p = tree->buf, *end = tree->buf + tree->len;
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *nul = sp ? memchr(sp, '\0', (size_t)(end - sp)) : NULL;
		if (!nul || (size_t)(end - nul - 1) < idlen)
			return false;
		if (!strcmp(sp + 1, name))
			return sp - p == 6 && !memcmp(p, "160000", 6);
		p = nul + 1 + idlen;
	}
	return false;
}

int vcs_read_file(struct vcs_repo *r, const struct vcs_oid *commit, const char *path,
                  struct strbuf *out, struct diag *d)
{
	char hex[VCS_OID_HEXSZ];
	vcs_oid_hex(commit, hex);
	if (strchr(path, '\n'))
		return diag_set(d, DIAG_INPUT,
		                "no file '%s' in commit %.12s: a path git can be "
		                "asked for cannot hold a newline",
		                path, hex);
	struct strbuf q = STRBUF_INIT;
	struct vcs_batch_obj o;
	size_t before = out->len;
	int rc = -1;
	strbuf_addf(&q, "%s:%s", hex, path);
	if (vcs_batch_get(r, q.buf, &o, out, d) < 0) {
		strbuf_setlen(out, before);
		goto out;
	}
	if (o.found && strcmp(o.type, "blob") != 0) {
		strbuf_setlen(out, before);
		diag_set(d, DIAG_INPUT, "'%s' is not a file (a %s)", path, o.type);
	} else if (o.found && (o.too_large || strbuf_failed(out))) {
		diag_set(d, DIAG_INPUT, "file too large (%llu bytes)", (unsigned long long)o.size);
	} else if (o.found) {
		rc = 0;
	} else {
		/* Not there, or a submodule (whose commit this repository lacks)? */
		const char *slash = strrchr(path, '/');
		struct strbuf tree = STRBUF_INIT;
		strbuf_reset(&q);
		if (slash)
			strbuf_addf(&q, "%s:%.*s", hex, (int)(slash - path), path);
		else
			strbuf_addf(&q, "%s^{tree}", hex);
		if (vcs_batch_get(r, q.buf, &o, &tree, d) == 0) {
			if (o.found && !strcmp(o.type, "tree") &&
			    tree_has_gitlink(&tree, commit->len, slash ? slash + 1 : path))
				diag_set(d, DIAG_INPUT, "'%s' is not a file (a submodule)", path);
			else
				diag_set(d, DIAG_INPUT, "no file '%s' in commit %.12s", path, hex);
		}
		strbuf_release(&tree);
	}
out:
	strbuf_release(&q);
	return rc;
}

/* ---- diffs --------------------------------------------------------------------- */

/* One record of `git diff-tree -z --raw`. */
struct raw_delta {
	char status;
	unsigned old_mode, new_mode;
	struct vcs_oid old_oid, new_oid;
	const char *path;
	bool renamed; /* 'D' paired with an 'A' */
};

/* Parses the 6 octal digits at s. */
static bool mode_parse(const char *s, unsigned *out)
{
	*out = 0;
	for (size_t i = 0; i < 6; i++) {
		if (s[i] < '0' || s[i] > '7')
			return false;
		*out = *out << 3 | (unsigned)(s[i] - '0');
	}
	return true;
}

/*
 * Parses the -z raw records of diff-tree: ":OLDMODE NEWMODE OLDID NEWID
 * STATUS\0PATH\0" each. On a malformed one returns -1 with *bad_at its offset.
 */
static int raw_parse(const struct strbuf *sb, struct raw_delta **out, size_t *n, size_t *bad_at)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	for (size_t at = 0; at < sb->len;) {
		const char *p = sb->buf + at, *end = sb->buf + sb->len;
		const char *meta_end = memchr(p, '\0', (size_t)(end - p));
		*bad_at = at;
		if (!meta_end || meta_end + 1 >= end || *p != ':')
			return -1;
		const char *path = meta_end + 1;
		const char *path_end = memchr(path, '\0', (size_t)(end - path));
		if (!path_end || path_end == path)
			return -1;
		struct raw_delta rd = {.path = path};
		size_t mlen = (size_t)(meta_end - p);
		const char *f = p + 1;
		/* ":" 6 " " 6 " " H " " H " " S: H is 40 or 64 */
		size_t hl = mlen == 1 + 7 + 7 + 41 + 41 + 1   ? 40
		            : mlen == 1 + 7 + 7 + 65 + 65 + 1 ? 64
		                                              : 0;
		if (!hl || !mode_parse(f, &rd.old_mode) || f[6] != ' ' ||
		    !mode_parse(f + 7, &rd.new_mode) || f[13] != ' ' ||
		    !vcs_oid_parse(f + 14, hl, &rd.old_oid) || f[14 + hl] != ' ' ||
		    !vcs_oid_parse(f + 15 + hl, hl, &rd.new_oid) || f[15 + 2 * hl] != ' ' ||
		    !f[16 + 2 * hl] || !strchr("ADMTUX", f[16 + 2 * hl]))
			return -1;
		rd.status = f[16 + 2 * hl];
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[(*n)++] = rd;
		at = (size_t)(path_end + 1 - sb->buf);
	}
	return 0;
}

/* The rename detector's blob reader: the batch; a failing git stops the diff. */
struct rn_read_ctx {
	struct vcs_repo *r;
	struct diag *d; /* set when git failed */
	bool failed;
};

static void rn_read(void *ctx, const struct vcs_oid *ids, size_t n, struct strbuf *out, bool *ok)
{
	struct rn_read_ctx *c = ctx;
	char hex[VCS_RN_ROUND][VCS_OID_HEXSZ];
	const char *names[VCS_RN_ROUND] = {0};
	struct vcs_batch_obj objs[VCS_RN_ROUND];
	_Static_assert(VCS_RN_ROUND <= VCS_BATCH_MANY, "one batch round");
	memset(ok, 0, n * sizeof(*ok));
	if (c->failed || n > VCS_RN_ROUND)
		return;
	for (size_t i = 0; i < n; i++) {
		vcs_oid_hex(&ids[i], hex[i]);
		names[i] = hex[i];
	}
	if (vcs_batch_get_many(c->r, names, n, objs, out, c->d) < 0) {
		c->failed = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		ok[i] = objs[i].found && !objs[i].too_large && !strcmp(objs[i].type, "blob") &&
		        !strbuf_failed(&out[i]);
}

/* git's order: by path, byte by byte (tree order is the same for whole paths). */
static int cmp_delta(const void *a, const void *b)
{
	const struct vcs_delta *x = a, *y = b;
	return strcmp(x->path, y->path);
}

static int cmp_rn_file(const void *a, const void *b)
{
	const struct vcs_rn_file *x = a, *y = b;
	return strcmp(x->path, y->path);
}

/* The diff-tree argv: options, the two commits, then each pattern at the top, never magic. */
static const char **diff_args(const char *from, const char *to, const char *const *pathspec,
                              size_t n, struct strbuf *specs)
{
	static const char *const opts[] = {"diff-tree",
	                                   "-r",
	                                   "-z",
	                                   "--raw",
	                                   "--no-renames",
	                                   "--no-abbrev",
	                                   "--ignore-submodules=none"};
	size_t nopts = sizeof(opts) / sizeof(opts[0]);
	const char **v = xcalloc(nopts + 4 + n, sizeof(*v));
	memcpy(v, opts, sizeof(opts));
	size_t k = nopts;
	v[k++] = from;
	v[k++] = to;
	v[k++] = "--";
	/* ":(top)": from the top whatever the current directory, and what
	   follows is the pattern even if it starts with ':'; git's default
	   glob meaning stays. One trailing '/' dropped, as changed_pattern_match()
	   and libgit2 before it do, so "x.py/" still names the file x.py. */
	size_t *offs = xcalloc(n ? n : 1, sizeof(*offs));
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(pathspec[i]);
		if (len > 1 && pathspec[i][len - 1] == '/')
			len--;
		offs[i] = specs->len;
		strbuf_addf(specs, ":(top)%.*s", (int)len, pathspec[i]);
		strbuf_addch(specs, '\0');
	}
	for (size_t i = 0; i < n; i++)
		v[k++] = specs->buf + offs[i];
	free(offs);
	return v;
}

int vcs_diff(struct vcs_repo *r, const struct vcs_oid *from, const struct vcs_oid *to,
             const char *const *pathspec, size_t npathspec, struct arena *a, struct vcs_delta **out,
             size_t *n, struct diag *d)
{
	char hf[VCS_OID_HEXSZ], ht[VCS_OID_HEXSZ];
	struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT, specs = STRBUF_INIT;
	struct raw_delta *raw = NULL;
	struct vcs_rn_file *src = NULL, *dst = NULL;
	size_t nraw = 0, nsrc = 0, ndst = 0, bad_at = 0;
	int status = 0, rc = -1;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < npathspec; i++)
		if (strchr(pathspec[i], '\n') || !*pathspec[i])
			return diag_set(d, DIAG_USAGE,
			                "pattern '%s': a pattern cannot be empty or "
			                "hold a newline",
			                pathspec[i]);
	vcs_oid_hex(from, hf);
	vcs_oid_hex(to, ht);
	const char **args = diff_args(hf, ht, pathspec, npathspec, &specs);
	if (vcs_repo_run(r, args, &sb, &status, &err, d) < 0)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		vcs_git_status_fail(d, "diff-tree", status, &err);
		/* git's own refusal (a missing tree: a broken repository), as before. */
		if (WIFEXITED(status) && WEXITSTATUS(status) == 128)
			d->code = DIAG_INPUT;
		goto out;
	}
	if (raw_parse(&sb, &raw, &nraw, &bad_at) < 0) {
		struct strbuf shown = STRBUF_INIT;
		shown.max = 200;
		for (size_t i = bad_at; i < sb.len && i < bad_at + 160; i++)
			strbuf_addch(&shown, sb.buf[i] ? sb.buf[i] : '\n');
		struct strbuf q = STRBUF_INIT;
		strbuf_add_quoted(&q, shown.buf);
		diag_set(
		    d, DIAG_SYSTEM,
		    "git diff-tree -z --raw printed a record gpuci cannot read at byte %zu: %s",
		    bad_at, q.buf);
		strbuf_release(&q);
		strbuf_release(&shown);
		goto out;
	}
	if (nraw) {
		src = xcalloc(nraw, sizeof(*src));
		dst = xcalloc(nraw, sizeof(*dst));
	}
	for (size_t i = 0; i < nraw; i++) {
		if (raw[i].status == 'D')
			src[nsrc++] = (struct vcs_rn_file){
			    .path = raw[i].path, .mode = raw[i].old_mode, .oid = raw[i].old_oid};
		else if (raw[i].status == 'A')
			dst[ndst++] = (struct vcs_rn_file){
			    .path = raw[i].path, .mode = raw[i].new_mode, .oid = raw[i].new_oid};
	}
	if (nsrc > 1)
		qsort(src, nsrc, sizeof(*src), cmp_rn_file);
	if (ndst > 1)
		qsort(dst, ndst, sizeof(*dst), cmp_rn_file);
	struct rn_read_ctx ctx = {.r = r, .d = d};
	vcs_rename_detect(src, nsrc, dst, ndst, rn_read, &ctx);
	if (ctx.failed)
		goto out;

	struct vcs_delta *v = nraw ? arena_alloc(a, nraw * sizeof(*v)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < nraw; i++) {
		const struct raw_delta *g = &raw[i];
		if (g->status == 'A')
			continue; /* additions below, with their renames */
		if (g->status == 'D') {
			const struct vcs_rn_file key = {.path = g->path};
			const struct vcs_rn_file *s =
			    nsrc ? bsearch(&key, src, nsrc, sizeof(*src), cmp_rn_file) : NULL;
			if (s && s->paired)
				continue; /* renamed: listed under its new name */
		}
		struct vcs_delta *e = &v[k++];
		*e = (struct vcs_delta){.status = g->status,
		                        .path = arena_strndup(a, g->path, strlen(g->path))};
		if (g->status != 'D') {
			e->blob = g->new_oid;
			e->mode = g->new_mode;
		}
	}
	for (size_t i = 0; i < ndst; i++) {
		struct vcs_delta *e = &v[k++];
		*e = (struct vcs_delta){.status = dst[i].paired ? 'R' : 'A',
		                        .path = arena_strndup(a, dst[i].path, strlen(dst[i].path)),
		                        .blob = dst[i].oid,
		                        .mode = dst[i].mode};
		if (dst[i].paired) {
			const char *old = src[dst[i].src].path;
			e->old_path = arena_strndup(a, old, strlen(old));
			e->similarity = dst[i].score * 100 / VCS_RN_MAX_SCORE;
		}
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_delta);
	*out = v;
	*n = k;
	rc = 0;
out:
	vcs_rename_release(src, nsrc);
	vcs_rename_release(dst, ndst);
	free(src);
	free(dst);
	free(raw);
	free(args);
	strbuf_release(&sb);
	strbuf_release(&err);
	strbuf_release(&specs);
	return rc;
}
