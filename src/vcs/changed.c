/* changed: the test files a branch adds or changes; see changed.h. */
#include "vcs/changed.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "py/pyread.h"
#include "vcs/git.h"
#include "base/banned.h"

const char *const changed_default_patterns[] = {"tests/test_*.py",
                                                "tests/plugin_contracts/test_*.py"};
const size_t changed_default_npatterns =
    sizeof(changed_default_patterns) / sizeof(changed_default_patterns[0]);

/* git's --diff-filter letters, in git's documented order. */
static const char filter_letters[] = "ACDMRTUXB";

int changed_filter_parse(const char *letters, char out[CHANGED_FILTER_MAX], struct diag *d)
{
	bool include[sizeof(filter_letters)] = {0}, exclude[sizeof(filter_letters)] = {0};
	bool any_include = false;
	out[0] = '\0';
	if (!*letters)
		return diag_set(d, DIAG_USAGE,
		                "--diff-filter needs letters (e.g. AM; from ACDMRTUXB)");
	for (const char *p = letters; *p; p++) {
		char up = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		const char *at = strchr(filter_letters, up);
		if (!at)
			return diag_set(d, DIAG_USAGE,
			                "unknown change class '%c' in --diff-filter=%s (known: %s, "
			                "lowercase to exclude)",
			                *p, letters, filter_letters);
		if (*p == 'D')
			return diag_set(d, DIAG_USAGE,
			                "--diff-filter=%s: D (deleted) cannot be listed: a deleted "
			                "file is not in head, so there is nothing to read or run",
			                letters);
		size_t i = (size_t)(at - filter_letters);
		if (up == *p) {
			include[i] = true;
			any_include = true;
		} else {
			exclude[i] = true;
		}
	}
	/* git: lowercase letters alone exclude from everything (less D, here). */
	size_t n = 0;
	for (size_t i = 0; filter_letters[i]; i++)
		if ((any_include ? include[i] : filter_letters[i] != 'D') && !exclude[i])
			out[n++] = filter_letters[i];
	out[n] = '\0';
	return 0;
}

/* ---- patterns ------------------------------------------------------------ */

/*
 * The pattern as git's pathspec reads it (as libgit2's
 * git_attr_fnmatch__parse did before gpuci ran git itself): leading "./"
 * dropped (ours), one trailing '/' dropped (vcs_diff() drops it too), a
 * backslash before a blank removed (and a lone one at the end). *wild: an
 * unescaped * ? or [ was seen; *all: the pattern was "*", which matches
 * everything.
 */
static void pattern_body(const char *pattern, struct strbuf *out, bool *wild, bool *all)
{
	while (pattern[0] == '.' && pattern[1] == '/')
		pattern += 2;
	*all = !strcmp(pattern, "*");
	*wild = false;
	size_t len = strlen(pattern);
	bool escaped = false;
	for (size_t i = 0; i < len; i++) {
		char c = pattern[i];
		if (c == '\\' && !escaped) {
			escaped = true;
			continue;
		}
		if ((c == '*' || c == '?' || c == '[') && !escaped)
			*wild = true;
		escaped = false;
	}
	if (len && pattern[len - 1] == '/')
		len--;
	escaped = false;
	for (size_t i = 0; i < len; i++) {
		char c = pattern[i];
		if (!escaped && c == '\\') {
			escaped = true;
			continue;
		}
		if (escaped && c != ' ')
			strbuf_addch(out, '\\');
		strbuf_addch(out, c);
		escaped = false;
	}
}

/* Whether byte c is in the ASCII class named by the len bytes at name; -1: no such class. */
static int in_class(const char *name, size_t len, unsigned char c)
{
	bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
	bool digit = c >= '0' && c <= '9', alpha = upper || lower;
	bool space = c == ' ' || (c >= '\t' && c <= '\r');
	bool print = c >= 0x20 && c < 0x7f;
	static const char *const names[] = {"alnum", "alpha", "blank", "cntrl", "digit", "graph",
	                                    "lower", "print", "punct", "space", "upper", "xdigit"};
	bool in[] = {alpha || digit,
	             alpha,
	             c == ' ' || c == '\t',
	             c < 0x20 || c == 0x7f,
	             digit,
	             print && c != ' ',
	             lower,
	             print,
	             print && c != ' ' && !alpha && !digit,
	             space,
	             upper,
	             digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && !memcmp(names[i], name, len))
			return in[i];
	return -1;
}

/*
 * Matches the bracket expression at *pp (at its '[') against byte c, as
 * git's wildmatch does: '!' or '^' negates, a ']' first is a member, a-z
 * ranges, [:class:], backslash escapes. Moves *pp past the closing ']'.
 * Returns 1 or 0; -1 when it is malformed, which matches nothing.
 */
static int bracket(const char **pp, unsigned char c)
{
	const unsigned char *p = (const unsigned char *)*pp + 1;
	bool negated = *p == '!' || *p == '^', matched = false;
	if (negated)
		p++;
	unsigned prev = 0; /* the member before, for a range; 0: none */
	unsigned char pc = *p;
	do {
		if (!pc)
			return -1;
		if (pc == '\\') {
			pc = *++p;
			if (!pc)
				return -1;
			matched |= c == pc;
		} else if (pc == '-' && prev && p[1] && p[1] != ']') {
			pc = *++p;
			if (pc == '\\' && !(pc = *++p))
				return -1;
			matched |= c >= prev && c <= pc;
			pc = 0; /* a range is no start of another */
		} else if (pc == '[' && p[1] == ':') {
			const unsigned char *s = p + 2, *e = s;
			while (*e && *e != ']')
				e++;
			if (!*e)
				return -1;
			if (e - s < 1 || e[-1] != ':') {
				matched |= c == '['; /* no ":]": a plain '[' */
			} else {
				int in = in_class((const char *)s, (size_t)(e - s - 1), c);
				if (in < 0)
					return -1;
				matched |= in;
				p = e;
				pc = 0;
			}
		} else {
			matched |= c == pc;
		}
		prev = pc;
		pc = *++p;
	} while (pc != ']');
	*pp = (const char *)p + 1;
	return matched != negated;
}

/*
 * Whether text matches the glob p as git's wildmatch does without
 * WM_PATHNAME: '*' (and "**") any bytes, '/' included; '?' any byte;
 * [...] one byte; '\' makes the next byte plain. Only the last '*' seen
 * needs trying again with a longer run: what comes before it matched.
 */
static bool glob_match(const char *p, const char *text)
{
	const char *star_p = NULL, *star_t = NULL;
	while (*text) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (!*p)
				return true;
			star_p = p;
			star_t = text;
			continue;
		}
		int m;
		const char *next = p + 1;
		if (*p == '[') {
			next = p;
			m = bracket(&next, (unsigned char)*text);
			if (m < 0)
				return false;
		} else if (*p == '\\') {
			m = p[1] && p[1] == *text;
			next = p + 2;
		} else {
			m = *p && (*p == '?' || *p == *text);
		}
		if (m) {
			p = next;
			text++;
		} else if (star_p) {
			p = star_p;
			text = ++star_t;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

/* The part of s after its last '/'. */
static const char *last_part(const char *s)
{
	const char *slash = strrchr(s, '/');
	return slash ? slash + 1 : s;
}

/* The pattern's last component, for messages: after its last '/', less one trailing '/'. */
static void pattern_name(const char *pattern, struct strbuf *out)
{
	size_t len = strlen(pattern);
	if (len > 1 && pattern[len - 1] == '/')
		len--;
	size_t start = len;
	while (start && pattern[start - 1] != '/')
		start--;
	strbuf_add(out, pattern + start, len - start);
}

int changed_pattern_check(const char *pattern, struct diag *d)
{
	const char *p = pattern;
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (!*p)
		return diag_set(d, DIAG_USAGE,
		                "--pattern '%s' matches nothing useful: give "
		                "a glob such as 'tests/test_*.py'",
		                pattern);
	if (p[0] == ':')
		return diag_set(d, DIAG_USAGE,
		                "--pattern '%s': pathspec magic (':(...)') is not supported; "
		                "give plain globs",
		                pattern);
	if (p[0] == '/')
		return diag_set(d, DIAG_USAGE,
		                "--pattern '%s': patterns are relative to the top of the "
		                "repository",
		                pattern);
	if (p[0] == '!' || p[0] == '#')
		return diag_set(d, DIAG_USAGE,
		                "--pattern '%s': a leading '%c' is %s in a .gitignore and a name "
		                "to git; write '\\%c' for the name",
		                pattern, p[0], p[0] == '!' ? "an exclusion" : "a comment", p[0]);
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return diag_set(d, DIAG_USAGE,
			                "--pattern: control character \\%03o in a pattern (a "
			                "pattern is a path to type: write a ? to match it)",
			                *c);
	/* git resolves these parts; changed_pattern_match() compares them as they are. */
	size_t len = strlen(p) - (p[strlen(p) - 1] == '/');
	for (size_t start = 0, end; start <= len; start = end + 1) {
		end = start;
		while (end < len && p[end] != '/')
			end++;
		size_t n = end - start;
		if (n == 0 || (p[start] == '.' && (n == 1 || (n == 2 && p[start + 1] == '.'))))
			return diag_set(
			    d, DIAG_USAGE,
			    "--pattern '%s': an empty, '.' or '..' part (git resolves "
			    "them, gpuci's name rule does not); write the path without it",
			    pattern);
	}
	if (p[strlen(p) - 1] == ' ')
		return diag_set(d, DIAG_USAGE,
		                "--pattern '%s': a trailing blank (most likely a typo: git would "
		                "keep it)",
		                pattern);
	return 0;
}

enum changed_match changed_pattern_match(const char *pattern, const char *path)
{
	struct diag d = DIAG_INIT;
	bool ok = changed_pattern_check(pattern, &d) == 0;
	diag_release(&d);
	if (!ok)
		return CHANGED_MATCH_NONE;
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	struct strbuf body = STRBUF_INIT;
	bool wild, all;
	pattern_body(pattern, &body, &wild, &all);
	/* git's pathspec: equal, wildmatch, or (no wildcard) a folder above. */
	bool git = all || !strcmp(body.buf, path) || glob_match(body.buf, path) ||
	           (!wild && !strncmp(path, body.buf, body.len) && path[body.len] == '/');
	/* No wildcard: no '*' to cross '/'; the folder's files are meant. */
	bool name = !wild || glob_match(last_part(body.buf), last_part(path));
	strbuf_release(&body);
	return !git ? CHANGED_MATCH_NONE : name ? CHANGED_MATCH : CHANGED_MATCH_CROSSING;
}

bool changed_pattern_matches(const char *pattern, const char *path, bool git_pathspec)
{
	enum changed_match m = changed_pattern_match(pattern, path);
	return m == CHANGED_MATCH || (git_pathspec && m == CHANGED_MATCH_CROSSING);
}

/*
 * Why pattern reaches path only in git's meaning: "'tests/test_*.py'
 * matches it only because git's * crosses '/'; its name is not test_*.py".
 */
static void crossing_reason(struct strbuf *out, const char *pattern)
{
	bool star_only = !strpbrk(pattern, "?[");
	strbuf_addf(out, "'%s' matches it only because git's %s '/'; its name is not ", pattern,
	            star_only ? "* crosses" : "wildcards (* ? [...]) cross");
	pattern_name(pattern, out);
}

bool changed_json_str(struct strbuf *out, const char *s)
{
	return strbuf_add_json_str(out, s);
}

/* The matrix's "info" list: [{"test_file":"...","num_gpus":N},...]. */
static void info_json(const struct changed_result *r, struct strbuf *out)
{
	strbuf_addch(out, '[');
	for (size_t i = 0; i < r->n; i++) {
		strbuf_adds(out, i ? ",{\"test_file\":" : "{\"test_file\":");
		changed_json_str(out, r->tests[i].path);
		strbuf_addf(out, ",\"num_gpus\":%" PRId64 "}", r->tests[i].num_gpus);
	}
	strbuf_addch(out, ']');
}

void changed_matrix_json(const struct changed_result *r, struct strbuf *out)
{
	strbuf_adds(out, "{\"info\":");
	info_json(r, out);
	strbuf_addch(out, '}');
}

void changed_json(const struct changed_result *r, struct strbuf *out)
{
	strbuf_adds(out, "{\"info\":");
	info_json(r, out);
	strbuf_adds(out, ",\"left_out\":[");
	for (size_t i = 0; i < r->nleft_out; i++) {
		const struct changed_left_out *l = &r->left_out[i];
		strbuf_adds(out, i ? ",{\"file\":" : "{\"file\":");
		changed_json_str(out, l->path);
		strbuf_adds(out, ",\"pattern\":");
		changed_json_str(out, l->pattern);
		strbuf_adds(out, ",\"reason\":");
		changed_json_str(out, l->reason);
		strbuf_addch(out, '}');
	}
	strbuf_adds(out, "]}");
}

void changed_result_release(struct changed_result *r)
{
	arena_release(&r->arena);
	memset(r, 0, sizeof(*r));
}

/* Adds a warning to r and returns it (in r's arena). */
static const char *add_warning(struct changed_result *r, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *add_warning(struct changed_result *r, size_t *cap, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (r->nwarnings == *cap) {
		/* Grown in the arena: the old array is simply left there. */
		size_t ncap = *cap ? *cap * 2 : 8;
		const char **w = arena_alloc(&r->arena, ncap * sizeof(*w));
		if (r->nwarnings)
			memcpy(w, r->warnings, r->nwarnings * sizeof(*w));
		r->warnings = w;
		*cap = ncap;
	}
	const char *s = arena_strndup(&r->arena, sb.buf, sb.len);
	r->warnings[r->nwarnings++] = s;
	strbuf_release(&sb);
	return s;
}

/* Replaces d's message with "prefix: message" (the context the caller knows). */
static int diag_wrap(struct diag *d, const char *prefix)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "%s: %s", prefix, d->msg.buf);
	diag_set(d, d->code, "%s", sb.buf);
	strbuf_release(&sb);
	return -1;
}

/* The patterns to pass to git, checked, "./" dropped; in r's arena. */
static int clean_patterns(const struct changed_opts *o, struct changed_result *r, const char ***out,
                          size_t *n, struct diag *d)
{
	const char *const *in = o->npatterns ? o->patterns : changed_default_patterns;
	*n = o->npatterns ? o->npatterns : changed_default_npatterns;
	const char **v = arena_alloc(&r->arena, *n * sizeof(*v));
	for (size_t i = 0; i < *n; i++) {
		if (changed_pattern_check(in[i], d) < 0)
			return -1;
		const char *p = in[i];
		while (p[0] == '.' && p[1] == '/')
			p += 2;
		v[i] = p;
	}
	*out = v;
	return 0;
}

/* Whether changed_detect() reads the content of e (a file, not a link or a submodule). */
static bool is_read(const struct vcs_delta *e)
{
	return e->mode != 0120000 && e->mode != 0160000;
}

/*
 * Decides t->num_gpus from the file's content in head, src (read when
 * is_read(e)); qpath names it in warnings.
 */
static void read_gpus(const struct vcs_delta *e, const struct strbuf *src, const char *qpath,
                      int64_t def, struct changed_result *r, size_t *wcap, struct changed_test *t)
{
	t->num_gpus = def;
	t->defaulted = true;
	if (e->mode == 0120000) {
		t->warning = add_warning(r, wcap, "%s: a symbolic link, not read; using %" PRId64,
		                         qpath, def);
		return;
	}
	if (e->mode == 0160000) {
		t->warning =
		    add_warning(r, wcap, "%s: a submodule, not a file; using %" PRId64, qpath, def);
		return;
	}
	struct py_int_assign a = {0};
	struct diag pd = DIAG_INIT;
	if (py_top_int(src->buf, src->len, qpath, "NUM_GPUS", &a, &pd) < 0) {
		/* Python could not import it either; CI will say more when it runs it. */
		struct strbuf where = STRBUF_INIT;
		if (!pd.loc.file)
			pd.loc.file = qpath;
		diag_format(&pd, &where);
		t->warning = add_warning(r, wcap, "%s; using %" PRId64, where.buf, def);
		t->warning_line = pd.loc.line;
		strbuf_release(&where);
	} else {
		switch (a.kind) {
		case PY_INT_LITERAL:
			t->num_gpus = a.value;
			t->gpus_line = a.line;
			t->defaulted = false;
			break;
		case PY_INT_ABSENT:
			t->warning = add_warning(
			    r, wcap, "%s: no top-level NUM_GPUS; using %" PRId64, qpath, def);
			break;
		case PY_INT_NONLITERAL:
			t->warning = add_warning(
			    r, wcap, "%s:%u: NUM_GPUS is not an int literal; using %" PRId64, qpath,
			    a.line, def);
			t->warning_line = a.line;
			break;
		case PY_INT_CONDITIONAL:
			t->warning = add_warning(r, wcap,
			                         "%s:%u: NUM_GPUS is set conditionally (under a "
			                         "top-level if/try/for/while/with); using %" PRId64,
			                         qpath, a.line, def);
			t->warning_line = a.line;
			break;
		}
	}
	diag_release(&pd);
}

/*
 * The first pattern that reaches path only in git's meaning, when none
 * reaches it by the name rule; else NULL. The diff matched path with git's
 * meaning already; a path no pattern reaches (were git to part ways with
 * changed_pattern_match) is kept, as git chose it.
 */
static const char *crossing_pattern(const char *const *patterns, size_t n, const char *path)
{
	const char *first = NULL;
	for (size_t i = 0; i < n; i++) {
		enum changed_match m = changed_pattern_match(patterns[i], path);
		if (m == CHANGED_MATCH)
			return NULL;
		if (m == CHANGED_MATCH_CROSSING && !first)
			first = patterns[i];
	}
	return first;
}

/* Whether s is valid UTF-8 throughout. */
static bool utf8_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = strbuf_utf8_len(p);
		if (!n)
			return false;
		p += n;
	}
	return true;
}

/* How many files changed_detect() asks git for at once. */
#define READ_ROUND 64

/*
 * Reads each test i of r (deltas[of[i]]) from head, in rounds of
 * READ_ROUND files asked of git at once, and decides its GPUs and
 * warnings, in order.
 */
static int read_tests(struct vcs_repo *repo, const struct changed_opts *o,
                      const struct vcs_delta *deltas, const size_t *of, struct changed_result *r,
                      struct diag *d)
{
	size_t wcap = 0;
	struct strbuf src[READ_ROUND];
	struct vcs_oid ids[READ_ROUND];
	size_t which[READ_ROUND];
	for (size_t k = 0; k < READ_ROUND; k++)
		src[k] = (struct strbuf)STRBUF_INIT;
	int rc = 0;
	for (size_t at = 0; at < r->n && rc == 0; at += READ_ROUND) {
		size_t end = r->n - at < READ_ROUND ? r->n : at + READ_ROUND, nids = 0, failed = 0;
		for (size_t i = at; i < end; i++)
			if (is_read(&deltas[of[i]])) {
				which[nids] = i;
				ids[nids++] = deltas[of[i]].blob;
			}
		if (vcs_blobs_read(repo, ids, nids, src, &failed, d) < 0) {
			struct strbuf qpath = STRBUF_INIT;
			strbuf_add_quoted(&qpath, r->tests[which[failed]].path);
			rc = diag_wrap(d, qpath.buf);
			strbuf_release(&qpath);
			break;
		}
		for (size_t i = at, k = 0; i < end; i++) {
			struct changed_test *t = &r->tests[i];
			struct strbuf qpath = STRBUF_INIT;
			strbuf_add_quoted(&qpath, t->path);
			const struct vcs_delta *e = &deltas[of[i]];
			read_gpus(e, is_read(e) ? &src[k++] : NULL, qpath.buf, o->default_gpus, r,
			          &wcap, t);
			if (t->path_not_utf8)
				add_warning(
				    r, &wcap,
				    "%s: the path is not valid UTF-8; the JSON matrix shows "
				    "U+FFFD for its bad bytes",
				    qpath.buf);
			if (t->crossing) {
				struct strbuf why = STRBUF_INIT;
				crossing_reason(&why, t->crossing);
				t->crossing_warning = add_warning(
				    r, &wcap,
				    "%s: listed as a test (%" PRId64
				    " GPU%s), but %s (gpuci changed "
				    "without --git-pathspec leaves it out)",
				    qpath.buf, t->num_gpus, t->num_gpus == 1 ? "" : "s", why.buf);
				strbuf_release(&why);
			}
			strbuf_release(&qpath);
		}
		for (size_t k = 0; k < nids; k++)
			strbuf_reset(&src[k]);
	}
	for (size_t k = 0; k < READ_ROUND; k++)
		strbuf_release(&src[k]);
	return rc;
}

int changed_detect(const struct changed_opts *o, struct changed_result *r, struct diag *d)
{
	memset(r, 0, sizeof(*r));
	const char *base = o->base ? o->base : "origin/main";
	const char *head = o->head ? o->head : "HEAD";
	char filter[CHANGED_FILTER_MAX];
	const char **patterns = NULL;
	size_t npatterns = 0;
	if (changed_filter_parse(o->diff_filter ? o->diff_filter : "AMR", filter, d) < 0 ||
	    clean_patterns(o, r, &patterns, &npatterns, d) < 0)
		return -1;

	struct vcs_repo *repo = NULL;
	struct vcs_oid base_id, head_id, mb;
	struct vcs_delta *deltas = NULL;
	size_t ndeltas = 0;
	int rc = -1;
	if (vcs_repo_open(&repo, o->repo, d) < 0)
		return -1;
	if (vcs_resolve_commit(repo, base, &base_id, d) < 0) {
		/* The default names a remote branch a CI checkout may not have fetched. */
		if (!o->base && d->code == DIAG_USAGE)
			strbuf_adds(&d->msg, " (the default --base: fetch it first with 'git "
			                     "fetch origin main', or pass --base)");
		goto out;
	}
	vcs_oid_hex(&base_id, r->base_id);
	if (vcs_resolve_commit(repo, head, &head_id, d) < 0)
		goto out;
	vcs_oid_hex(&head_id, r->head_id);
	if (vcs_merge_base(repo, &base_id, &head_id, &mb, d) < 0) {
		struct strbuf sb = STRBUF_INIT;
		strbuf_addf(&sb, "no merge base of '%s' and '%s'", base, head);
		diag_wrap(d, sb.buf);
		strbuf_release(&sb);
		goto out;
	}
	vcs_oid_hex(&mb, r->merge_base_id);
	if (vcs_diff(repo, &mb, &head_id, patterns, npatterns, &r->arena, &deltas, &ndeltas, d) < 0)
		goto out;

	/* Which files are tests, first; then their contents, many at a time. */
	size_t *of = ndeltas ? xcalloc(ndeltas, sizeof(*of)) : NULL; /* test i: deltas[of[i]] */
	r->tests = ndeltas ? arena_alloc(&r->arena, ndeltas * sizeof(*r->tests)) : NULL;
	r->left_out = ndeltas ? arena_alloc(&r->arena, ndeltas * sizeof(*r->left_out)) : NULL;
	for (size_t i = 0; i < ndeltas; i++) {
		const struct vcs_delta *e = &deltas[i];
		if (!strchr(filter, e->status))
			continue;
		const char *crossing = crossing_pattern(patterns, npatterns, e->path);
		if (crossing && !o->git_pathspec) {
			struct changed_left_out *l = &r->left_out[r->nleft_out++];
			struct strbuf why = STRBUF_INIT;
			crossing_reason(&why, crossing);
			*l = (struct changed_left_out){
			    .path = e->path,
			    .status = e->status,
			    .pattern = crossing,
			    .reason = arena_strndup(&r->arena, why.buf, why.len)};
			strbuf_release(&why);
			continue;
		}
		of[r->n] = i;
		struct changed_test *t = &r->tests[r->n++];
		t->crossing = crossing;
		t->path = e->path;
		t->old_path = e->old_path;
		t->status = e->status;
		t->similarity = e->similarity;
		t->path_not_utf8 = !utf8_ok(t->path);
	}
	rc = read_tests(repo, o, deltas, of, r, d);
	free(of);
	if (rc < 0)
		goto out;
	rc = 0;
out:
	vcs_repo_free(repo);
	return rc;
}
