/* lint: see lint.h. */
#include "lint/lint.h"

#include <ctype.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "gha/expr.h"
#include "plan/plan.h"
#include "py/pyread.h"
#include "scaffold/registry.h"
#include "vcs/changed.h"
#include "wf/gen.h"
#include "wf/model.h"
#include "base/banned.h"

const struct lint_rule lint_rules[] = {
    {"missing-test-file", "a matrix entry's test_file does not exist"},
    {"gpu-count-mismatch", "a matrix entry's num_gpus differs from its file's NUM_GPUS"},
    {"unregistered-test", "a test file is in no job and not in tests/ci/unregistered.txt"},
    {"stale-unregistered", "tests/ci/unregistered.txt names a file that is registered or gone"},
    {"test-pattern", "a GPU test lacks a literal NUM_GPUS, prepare(), execute() or __main__"},
    {"cpu-test", "a NUM_GPUS = 0 test cannot run without GPUs"},
    {"one-job-per-label", "a PR label gates more than one job"},
    {"unreachable-job", "no event the workflow listens to runs the job"},
    {"stale-workflow", "the workflow is not what its template renders"},
    {"duplicate-entry", "the same test_file and test_args twice in one job"},
    {"script-injection", "${{ }} of a matrix value or github.event.* in a run: script"},
    {"cancel-on-label", "labeled events cancel the jobs an earlier label started"},
    {NULL, NULL},
};

const struct lint_rule *lint_rule_find(const char *name)
{
	for (const struct lint_rule *r = lint_rules; r->name; r++)
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

#define UNREGISTERED_FILE "tests/ci/unregistered.txt"

/* A test file, read once. */
struct tfile {
	const char *path; /* relative to the root */
	bool exists, readable, parsed;
	struct diag err; /* !parsed: why */
	struct strbuf src;
	struct py_int_assign gpus;
	struct py_top top;
	bool registered;
	const char *first_job; /* the first job that registers it */
};

/* A static matrix entry with a test_file. */
struct entry {
	const struct wf_job *job;
	const char *test_file, *test_args; /* test_args NULL when none */
	bool has_gpus;
	int64_t num_gpus;
	const char *path; /* under the root, tests/ added; NULL when it leaves the repository */
	struct srcloc at; /* the template's line when it spells it, else the workflow's */
};

struct lctx {
	const struct lint_opts *o;
	struct lint_report *r;
	struct arena *a;
	const char *root;
	const char *wf_path;
	struct wf *w;
	struct strbuf wf_text;
	char *tpl_path; /* NULL without a template */
	struct strbuf tpl_src;
	struct reg reg;
	bool have_reg;
	size_t nentries;
	struct entry *entries;
	size_t nfiles, capfiles;
	struct tfile **files;
	size_t capfindings;
	struct plan_catalogue cat;
	bool have_cat;
};

static bool rule_on(const struct lctx *c, const char *rule)
{
	if (!c->o->nrules)
		return true;
	for (size_t i = 0; i < c->o->nrules; i++)
		if (!strcmp(c->o->rules[i], rule))
			return true;
	return false;
}

static void add(struct lctx *c, const char *file, unsigned line, unsigned col, const char *rule,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void add(struct lctx *c, const char *file, unsigned line, unsigned col, const char *rule,
                const char *fmt, ...)
{
	if (!rule_on(c, rule))
		return;
	struct lint_report *r = c->r;
	struct strbuf m = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&m, fmt, ap);
	va_end(ap);
	/* One finding per line and rule: a list two jobs share is one line to fix. */
	for (size_t i = 0; i < r->n; i++) {
		const struct lint_finding *f = &r->findings[i];
		if (f->line == line && f->col == col && !strcmp(f->rule, rule) &&
		    !strcmp(f->file, file) && (line || !strcmp(f->message, m.buf))) {
			strbuf_release(&m);
			return;
		}
	}
	if (r->n == c->capfindings)
		r->findings = xrealloc(r->findings,
		                       (c->capfindings = c->capfindings ? 2 * c->capfindings : 16) *
		                           sizeof(*r->findings));
	r->findings[r->n++] = (struct lint_finding){
	    .file = arena_strndup(c->a, file, strlen(file)),
	    .line = line,
	    .col = col,
	    .rule = rule,
	    .message = arena_strndup(c->a, m.buf, m.len),
	};
	strbuf_release(&m);
}

static const char *astr(struct lctx *c, const char *s)
{
	return arena_strndup(c->a, s, strlen(s));
}

/* root/rel, or rel when the root is ".". */
static void full_path(const struct lctx *c, const char *rel, struct strbuf *out)
{
	strbuf_reset(out);
	if (strcmp(c->root, ".") != 0 && rel[0] != '/')
		strbuf_addf(out, "%s/", c->root);
	strbuf_adds(out, rel);
}

/* ---- test files -------------------------------------------------------- */

static struct tfile *tfile_get(struct lctx *c, const char *path)
{
	for (size_t i = 0; i < c->nfiles; i++)
		if (!strcmp(c->files[i]->path, path))
			return c->files[i];
	struct tfile *t = xcalloc(1, sizeof(*t));
	t->path = astr(c, path);
	t->src = (struct strbuf)STRBUF_INIT;
	diag_init(&t->err);
	struct strbuf p = STRBUF_INIT;
	full_path(c, path, &p);
	struct stat st;
	t->exists = stat(p.buf, &st) == 0 && S_ISREG(st.st_mode);
	if (t->exists && fs_read_all(p.buf, &t->src, &t->err) == 0) {
		t->readable = true;
		t->parsed = py_top_int(t->src.buf, t->src.len, t->path, "NUM_GPUS", &t->gpus,
		                       &t->err) == 0 &&
		            py_top_names(t->src.buf, t->src.len, t->path, &t->top, &t->err) == 0;
	}
	strbuf_release(&p);
	if (c->nfiles == c->capfiles)
		c->files = xrealloc(c->files, (c->capfiles = c->capfiles ? 2 * c->capfiles : 32) *
		                                  sizeof(struct tfile *));
	c->files[c->nfiles++] = t;
	return t;
}

static void tfile_free(struct tfile *t)
{
	strbuf_release(&t->src);
	diag_release(&t->err);
	free(t);
}

/* The entry's file (plan_test_path), in the arena; NULL when it leaves the repository. */
static const char *entry_path(struct lctx *c, const char *f)
{
	struct strbuf p = STRBUF_INIT, why = STRBUF_INIT;
	const char *out = plan_test_path(f, &p, &why) ? arena_strndup(c->a, p.buf, p.len) : NULL;
	strbuf_release(&p);
	strbuf_release(&why);
	return out;
}

/* ---- the registry: static matrix entries ------------------------------- */

static const char *value_s(struct value v)
{
	return v.kind == V_STR ? v.str.s : NULL;
}

/*
 * The node of the nth combination when the matrix is one key holding a
 * list of mappings and nothing else (vime's matrix.info), else NULL.
 */
static const struct wf_node *entry_node(const struct wf_node *matrix, size_t nth)
{
	if (!matrix || matrix->kind != WF_MAP || matrix->len != 1)
		return NULL;
	const struct wf_node *list = matrix->kv[1];
	if (list->kind != WF_SEQ || nth >= list->len)
		return NULL;
	return list->kv[nth];
}

static bool same_args(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

static void collect_entries(struct lctx *c)
{
	size_t cap = 0;
	for (size_t j = 0; j < wf_njobs(c->w); j++) {
		const struct wf_job *job = wf_job_at(c->w, j);
		struct value list;
		if (!wf_job_static_matrix(job, c->a, &list))
			continue;
		size_t first = c->nentries;
		for (size_t i = 0; i < list.list->n; i++) {
			struct value f = plan_entry_fields(list.list->items[i], "test_file");
			if (f.kind != V_DICT)
				continue;
			struct value *tf = vdict_get(f.dict, value_str_static("test_file"));
			struct value *ta = vdict_get(f.dict, value_str_static("test_args"));
			struct value *ng = vdict_get(f.dict, value_str_static("num_gpus"));
			if (!tf || !value_s(*tf))
				continue;
			if (c->nentries == cap)
				c->entries = xrealloc(c->entries, (cap = cap ? 2 * cap : 64) *
				                                      sizeof(*c->entries));
			struct entry *e = &c->entries[c->nentries++];
			*e = (struct entry){.job = job, .test_file = value_s(*tf)};
			e->test_args = ta ? value_s(*ta) : NULL;
			if (ng && ng->kind == V_INT) {
				e->has_gpus = true;
				e->num_gpus = ng->i;
			} else if (ng && ng->kind == V_STR) { /* '4' works in the script too */
				char *end;
				long long v = strtoll(ng->str.s, &end, 10);
				if (*ng->str.s && !*end && v >= 0) {
					e->has_gpus = true;
					e->num_gpus = v;
				}
			}
			e->path = entry_path(c, e->test_file);
			const struct wf_node *n = entry_node(job->matrix, i);
			e->at = n ? n->loc : job->matrix->loc;
			e->at.file = c->wf_path;
			if (c->have_reg) {
				size_t nth = 0;
				for (size_t k = first; k + 1 < c->nentries; k++)
					nth += !strcmp(c->entries[k].test_file, e->test_file) &&
					       same_args(c->entries[k].test_args, e->test_args);
				unsigned line = reg_entry_line(&c->reg, job->id, e->test_file,
				                               e->test_args, nth);
				if (line)
					e->at = (struct srcloc){c->tpl_path, line, 0};
			}
		}
	}
	c->r->nentries = c->nentries;
}

static void describe(const struct entry *e, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_adds(out, e->test_file);
	if (e->test_args && *e->test_args)
		strbuf_addf(out, " %s", e->test_args);
}

static void check_entries(struct lctx *c)
{
	struct strbuf what = STRBUF_INIT;
	for (size_t i = 0; i < c->nentries; i++) {
		struct entry *e = &c->entries[i];
		describe(e, &what);
		if (!e->path) {
			add(c, e->at.file, e->at.line, e->at.col, "missing-test-file",
			    "test_file '%s' (job %s) is not a path inside tests/", e->test_file,
			    e->job->id);
			continue;
		}
		struct tfile *t = tfile_get(c, e->path);
		if (!t->registered)
			t->first_job = e->job->id;
		t->registered = true;
		if (!t->exists) {
			add(c, e->at.file, e->at.line, e->at.col, "missing-test-file",
			    "%s does not exist (job %s runs it)", e->path, e->job->id);
		} else if (t->parsed && t->gpus.kind == PY_INT_LITERAL) {
			if (!e->has_gpus)
				add(c, e->at.file, e->at.line, e->at.col, "gpu-count-mismatch",
				    "%s (job %s) has no num_gpus; %s:%u sets NUM_GPUS = %lld",
				    what.buf, e->job->id, t->path, t->gpus.line,
				    (long long)t->gpus.value);
			else if (e->num_gpus != t->gpus.value)
				add(c, e->at.file, e->at.line, e->at.col, "gpu-count-mismatch",
				    "%s (job %s) has num_gpus %lld but %s:%u sets NUM_GPUS = %lld",
				    what.buf, e->job->id, (long long)e->num_gpus, t->path,
				    t->gpus.line, (long long)t->gpus.value);
		}
		for (size_t k = 0; k < i; k++) {
			const struct entry *p = &c->entries[k];
			if (p->job == e->job && !strcmp(p->test_file, e->test_file) &&
			    same_args(p->test_args, e->test_args)) {
				add(c, e->at.file, e->at.line, e->at.col, "duplicate-entry",
				    "%s is twice in job %s (first at %s:%u): it runs twice",
				    what.buf, e->job->id, p->at.file, p->at.line);
				break;
			}
		}
	}
	strbuf_release(&what);
}

/* ---- test files on disk ------------------------------------------------ */

struct ignores {
	size_t n;
	char **pat; /* with tests/ in front */
	unsigned *line;
	bool *used;
};

static void read_ignores(struct lctx *c, struct ignores *ig)
{
	struct strbuf p = STRBUF_INIT, text = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	full_path(c, UNREGISTERED_FILE, &p);
	if (fs_read_all(p.buf, &text, &d) == 0) {
		unsigned lineno = 0;
		for (char *s = text.buf; s && *s;) {
			char *nl = strchr(s, '\n');
			if (nl)
				*nl = '\0';
			lineno++;
			char *hash = strchr(s, '#');
			if (hash)
				*hash = '\0';
			while (isspace((unsigned char)*s))
				s++;
			size_t len = strlen(s);
			while (len && isspace((unsigned char)s[len - 1]))
				s[--len] = '\0';
			if (len) {
				ig->pat = xrealloc(ig->pat, (ig->n + 1) * sizeof(*ig->pat));
				ig->line = xrealloc(ig->line, (ig->n + 1) * sizeof(*ig->line));
				ig->used = xrealloc(ig->used, (ig->n + 1) * sizeof(*ig->used));
				struct strbuf pat = STRBUF_INIT;
				if (strncmp(s, "tests/", 6) != 0)
					strbuf_adds(&pat, "tests/");
				strbuf_adds(&pat, s);
				ig->pat[ig->n] = strbuf_detach(&pat, NULL);
				ig->line[ig->n] = lineno;
				ig->used[ig->n] = false;
				ig->n++;
			}
			s = nl ? nl + 1 : NULL;
		}
	}
	diag_release(&d);
	strbuf_release(&p);
	strbuf_release(&text);
}

static void free_ignores(struct ignores *ig)
{
	for (size_t i = 0; i < ig->n; i++)
		free(ig->pat[i]);
	free(ig->pat);
	free(ig->line);
	free(ig->used);
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* The test files the default patterns of `gpuci changed` match, in the working tree. */
static void scan_tests(struct lctx *c)
{
	struct strbuf pat = STRBUF_INIT;
	size_t skip = strcmp(c->root, ".") ? strlen(c->root) + 1 : 0;
	for (size_t i = 0; i < changed_default_npatterns; i++) {
		full_path(c, changed_default_patterns[i], &pat);
		glob_t g;
		if (glob(pat.buf, 0, NULL, &g) != 0)
			continue;
		for (size_t k = 0; k < g.gl_pathc; k++)
			(void)tfile_get(c, g.gl_pathv[k] + skip);
		globfree(&g);
	}
	strbuf_release(&pat);
}

static bool listed(struct ignores *ig, const char *path)
{
	bool hit = false;
	for (size_t i = 0; i < ig->n; i++)
		if (!fnmatch(ig->pat[i], path, FNM_PATHNAME)) {
			ig->used[i] = true;
			hit = true;
		}
	return hit;
}

static void check_files(struct lctx *c, struct ignores *ig)
{
	const char *wf_base = strrchr(c->wf_path, '/') ? strrchr(c->wf_path, '/') + 1 : c->wf_path;
	for (size_t i = 0; i < c->nfiles; i++) {
		struct tfile *t = c->files[i];
		if (!t->exists)
			continue;
		c->r->nfiles++;
		bool ignored = listed(ig, t->path);
		if (!t->registered && !ignored)
			add(c, t->path, 0, 0, "unregistered-test",
			    "in no job of %s and not in " UNREGISTERED_FILE
			    ": it runs only under run-ci-changed, when it changes; register it "
			    "(gpuci new-test %s --existing --job JOB) or list it there",
			    wf_base, t->path);
		if (!t->readable) {
			add(c, t->path, 0, 0, "test-pattern", "cannot be read: %s", t->err.msg.buf);
			continue;
		}
		if (!t->parsed) {
			add(c, t->path, t->err.loc.line, t->err.loc.col, "test-pattern",
			    "Python cannot import it: %s", t->err.msg.buf);
			continue;
		}
		const struct py_int_assign *g = &t->gpus;
		bool cpu = g->kind == PY_INT_LITERAL && g->value == 0;
		if (g->kind == PY_INT_ABSENT)
			add(c, t->path, 0, 0, "test-pattern",
			    "no top-level NUM_GPUS = N: run-ci-changed gives it %d GPUs, and its "
			    "jobs' num_gpus cannot be checked",
			    8);
		else if (g->kind == PY_INT_NONLITERAL)
			add(c, t->path, g->line, g->col, "test-pattern",
			    "NUM_GPUS is not an int literal: run-ci-changed cannot read it and "
			    "gives the test 8 GPUs");
		else if (g->kind == PY_INT_CONDITIONAL)
			add(c, t->path, g->line, g->col, "test-pattern",
			    "NUM_GPUS is set under an if/try/for/with: run-ci-changed cannot "
			    "know which value and gives the test 8 GPUs");
		if (cpu) {
			if (!t->top.has_main_block)
				add(c, t->path, 0, 0, "cpu-test",
				    "NUM_GPUS = 0 but no if __name__ == \"__main__\": block: CI "
				    "runs "
				    "`python %s`, which would run none of its tests and pass",
				    t->path);
			continue;
		}
		static const char *const defs[] = {"prepare", "execute"};
		for (size_t k = 0; k < 2; k++)
			if (!py_top_has_def(&t->top, defs[k]))
				add(c, t->path, 0, 0, "test-pattern",
				    "no top-level def %s(): a GPU test has prepare() and execute()",
				    defs[k]);
		if (!t->top.has_main_block)
			add(c, t->path, 0, 0, "test-pattern",
			    "no if __name__ == \"__main__\": block: `python %s` would run nothing "
			    "and pass",
			    t->path);
	}
	for (size_t i = 0; i < ig->n; i++) {
		if (!ig->used[i]) {
			add(c, UNREGISTERED_FILE, ig->line[i], 0, "stale-unregistered",
			    "%s matches no test file: remove the line", ig->pat[i]);
			continue;
		}
		if (has_glob(ig->pat[i]))
			continue;
		for (size_t k = 0; k < c->nfiles; k++)
			if (c->files[k]->registered && c->files[k]->exists &&
			    !strcmp(c->files[k]->path, ig->pat[i]))
				add(c, UNREGISTERED_FILE, ig->line[i], 0, "stale-unregistered",
				    "%s is registered in job %s: remove the line", ig->pat[i],
				    c->files[k]->first_job);
	}
}

/* ---- jobs whose script always takes a lease ------------------------------ */

static bool word_at(const char *s, const char *w)
{
	size_t n = strlen(w);
	return !strncmp(s, w, n) && (!s[n] || isspace((unsigned char)s[n]) || s[n] == ';');
}

/*
 * The line of a run: script that takes a GPU lease on every path (gpuci lock
 * or the old gpu_lock_exec.py, outside if/case/loops and not after && or
 * ||), or 0.
 */
static unsigned unconditional_lease(const char *script, unsigned first_line)
{
	int depth = 0;
	unsigned line = first_line;
	for (const char *s = script; *s; line++) {
		size_t len = strcspn(s, "\n");
		const char *p = s;
		while (p < s + len && isspace((unsigned char)*p))
			p++;
		if (*p != '#') {
			const char *lock = NULL;
			for (const char *q = p; q < s + len && !lock; q++)
				if (!strncmp(q, "gpuci lock", 10) ||
				    !strncmp(q, "gpu_lock_exec", 13))
					lock = q;
			if (word_at(p, "if") || word_at(p, "case") || word_at(p, "for") ||
			    word_at(p, "while") || word_at(p, "until"))
				depth++;
			bool guarded = false;
			for (const char *q = p; lock && q < lock; q++)
				if (!strncmp(q, "&&", 2) || !strncmp(q, "||", 2))
					guarded = true;
			if (lock && depth == 0 && !guarded)
				return line;
			/* Closers anywhere on the line: `if ...; then ...; fi` */
			for (const char *q = p; q < s + len; q++) {
				bool start =
				    q == p || isspace((unsigned char)q[-1]) || q[-1] == ';';
				if (start &&
				    (word_at(q, "fi") || word_at(q, "esac") || word_at(q, "done")))
					depth -= depth > 0;
			}
		}
		s += len + (s[len] == '\n');
	}
	return 0;
}

/* The line a scalar's text starts on: the next one for a block scalar (`run: |`). */
/* The end of the line that starts at s: its newline, or the end of text. */
static const char *line_end(const struct strbuf *text, const char *s)
{
	const char *end = text->buf + text->len;
	const char *nl = memchr(s, '\n', (size_t)(end - s));
	return nl ? nl : end;
}

/* The start of line `line` (1-based) of text, or NULL past its end. */
static const char *line_start(const struct strbuf *text, unsigned line)
{
	const char *s = text->buf;
	for (unsigned i = 1; i < line; i++) {
		const char *e = line_end(text, s);
		if (e == text->buf + text->len)
			return NULL;
		s = e + 1;
	}
	return s;
}

static unsigned script_first_line(const struct lctx *c, const struct wf_node *n)
{
	const char *s = line_start(&c->wf_text, n->loc.line);
	if (!s || n->loc.col == 0)
		return n->loc.line;
	size_t len = (size_t)(line_end(&c->wf_text, s) - s);
	char ch = n->loc.col - 1 < len ? s[n->loc.col - 1] : 0;
	return n->loc.line + (ch == '|' || ch == '>');
}

static void check_cpu_jobs(struct lctx *c)
{
	for (size_t i = 0; i < c->nentries; i++) {
		const struct entry *e = &c->entries[i];
		bool zero = e->has_gpus && e->num_gpus == 0;
		if (!zero && e->path) {
			const struct tfile *t = tfile_get(c, e->path);
			zero = t->parsed && t->gpus.kind == PY_INT_LITERAL && t->gpus.value == 0;
		}
		if (!zero)
			continue;
		for (size_t s = 0; s < e->job->nsteps; s++) {
			const struct wf_step *st = &e->job->steps[s];
			const char *run = wf_str(st->run);
			if (!run)
				continue;
			unsigned first = script_first_line(c, st->run);
			unsigned line = unconditional_lease(run, first);
			if (line) {
				add(c, e->at.file, e->at.line, e->at.col, "cpu-test",
				    "%s needs no GPU, but job %s always takes a GPU lease (%s:%u), "
				    "and a lease of 0 GPUs is refused: register it in a CPU job, "
				    "or "
				    "skip the lock when num_gpus is 0",
				    e->test_file, e->job->id, c->wf_path, line);
				break;
			}
		}
	}
}

/* ---- labels and events --------------------------------------------------- */

static void check_labels(struct lctx *c)
{
	for (size_t i = 0; i < c->cat.nlabels; i++) {
		const struct plan_label *l = &c->cat.labels[i];
		const struct wf_job *first = NULL;
		for (size_t k = 0; k < l->njobs; k++) {
			const struct wf_job *j = l->jobs[k]->job;
			if (!plan_label_gates(j, l->label))
				continue; /* reached through needs, not gated by it */
			if (!first) {
				first = j;
				continue;
			}
			const struct srcloc *at = j->if_ ? &j->if_->loc : &j->loc;
			add(c, c->wf_path, at->line, 0, "one-job-per-label",
			    "label %s gates job %s and job %s too (line %u): one label, one job, "
			    "so that a label says what it runs",
			    l->label, j->id, first->id, first->loc.line);
		}
	}
}

struct reach {
	size_t n;
	bool *seen;
};

static void plan_mark(struct lctx *c, const struct plan_opts *po, struct reach *rs)
{
	struct plan p;
	struct diag d = DIAG_INIT;
	if (plan_make(c->w, po, &p, &d) == 0)
		for (size_t i = 0; i < p.njobs && i < rs->n; i++)
			if (p.jobs[i].state != PLAN_SKIPPED)
				rs->seen[i] = true;
	plan_release(&p);
	diag_release(&d);
}

static void check_reachable(struct lctx *c)
{
	const struct wf_node *on = wf_get(wf_root(c->w), "on");
	if (!on)
		return;
	struct reach rs = {wf_njobs(c->w), xcalloc(wf_njobs(c->w) + 1, sizeof(bool))};
	size_t nev = on->kind == WF_SCALAR ? 1 : on->len;
	for (size_t e = 0; e < nev; e++) {
		const struct wf_node *ev = on->kind == WF_SCALAR ? on
		                           : on->kind == WF_SEQ  ? on->kv[e]
		                                                 : on->kv[2 * e];
		const char *name = wf_str(ev);
		if (!name)
			continue;
		struct plan_opts po = {.event = name};
		plan_mark(c, &po, &rs);
		if (!strcmp(name, "pull_request") || !strcmp(name, "pull_request_target")) {
			const char **all = xcalloc(c->cat.nlabels + 1, sizeof(*all));
			for (size_t i = 0; i < c->cat.nlabels; i++) {
				all[i] = c->cat.labels[i].label;
				po.labels = &all[i];
				po.nlabels = 1;
				plan_mark(c, &po, &rs);
			}
			po.labels = all;
			po.nlabels = c->cat.nlabels;
			plan_mark(c, &po, &rs);
			free(all);
		} else if (!strcmp(name, "workflow_dispatch")) {
			/* Each option of each choice input, the others at their defaults. */
			const struct wf_node *cfg = on->kind == WF_MAP ? on->kv[2 * e + 1] : NULL;
			const struct wf_node *inputs = wf_get(cfg, "inputs");
			for (size_t k = 0; inputs && inputs->kind == WF_MAP && k < inputs->len;
			     k++) {
				const struct wf_node *opts =
				    wf_get(inputs->kv[2 * k + 1], "options");
				for (size_t o = 0; opts && opts->kind == WF_SEQ && o < opts->len;
				     o++) {
					const char *v = wf_str(opts->kv[o]);
					if (!v)
						continue;
					struct strbuf kv = STRBUF_INIT;
					strbuf_addf(&kv, "%s=%s", inputs->kv[2 * k]->s, v);
					const char *in[1] = {kv.buf};
					po.inputs = in;
					po.ninputs = 1;
					plan_mark(c, &po, &rs);
					po.inputs = NULL;
					po.ninputs = 0;
					strbuf_release(&kv);
				}
			}
		}
	}
	for (size_t i = 0; i < rs.n; i++) {
		if (rs.seen[i])
			continue;
		const struct wf_job *j = wf_job_at(c->w, i);
		const struct srcloc *at = j->if_ ? &j->if_->loc : &j->loc;
		add(c, c->wf_path, at->line, 0, "unreachable-job",
		    "job %s runs for no event this workflow listens to (each event in on:, each "
		    "PR label, each workflow_dispatch choice was tried): its if: or needs: can "
		    "never hold",
		    j->id);
	}
	free(rs.seen);
}

/* ---- the generated workflow ---------------------------------------------- */

static void check_generated(struct lctx *c)
{
	if (!c->tpl_path)
		return;
	struct strbuf out = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	if (wf_gen_file(c->tpl_src.buf, c->tpl_src.len, c->tpl_path, c->wf_path, &out, &d) < 0) {
		add(c, d.loc.file ? d.loc.file : c->tpl_path, d.loc.line, d.loc.col,
		    "stale-workflow", "the template does not render: %s", d.msg.buf);
	} else if (out.len != c->wf_text.len || memcmp(out.buf, c->wf_text.buf, out.len) != 0) {
		unsigned line = 1;
		size_t i = 0;
		while (i < out.len && i < c->wf_text.len && out.buf[i] == c->wf_text.buf[i])
			line += out.buf[i++] == '\n';
		add(c, c->wf_path, line, 0, "stale-workflow",
		    "not what %s renders (first difference on this line): run `gpuci render` "
		    "and commit both",
		    c->tpl_path);
	}
	strbuf_release(&out);
	diag_release(&d);
}

/* ---- untrusted values in scripts ----------------------------------------- */

static bool ident_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-';
}

/* What an expression reads that a PR controls: "matrix", "github.event", ..., or NULL. */
static const char *untrusted(const char *e, size_t n)
{
	static const char *const names[] = {"matrix", "github.event", "github.head_ref"};
	for (size_t i = 0; i < n; i++) {
		if (i && (ident_char(e[i - 1]) || e[i - 1] == '.'))
			continue;
		if (e[i] == '\'') { /* a string literal */
			for (i++; i < n && e[i] != '\''; i++)
				;
			continue;
		}
		for (size_t k = 0; k < sizeof(names) / sizeof(*names); k++) {
			size_t len = strlen(names[k]);
			if (i + len <= n && !strncasecmp(e + i, names[k], len) &&
			    (i + len == n || !ident_char(e[i + len])))
				return names[k];
		}
	}
	return NULL;
}

/* Line and column of the nth occurrence of text at or after line `from` in the file. */
static void find_in_file(const struct strbuf *file, unsigned from, const char *text, size_t len,
                         size_t nth, struct srcloc *at)
{
	unsigned line = from;
	const char *s = line_start(file, from), *end = file->buf + file->len;
	if (!s)
		return;
	const char *bol = s;
	for (; s + len <= end; s++) {
		if (*s == '\n') {
			line++;
			bol = s + 1;
			continue;
		}
		if (!memcmp(s, text, len) && nth-- == 0) {
			at->line = line;
			at->col = (unsigned)(s - bol) + 1;
			return;
		}
	}
}

/* The text of the line that starts at s, without its indentation, as [*b, *e). */
static void trimmed(const struct strbuf *text, const char *s, const char **b, const char **e)
{
	*e = line_end(text, s);
	while (s < *e && (*s == ' ' || *s == '\t'))
		s++;
	*b = s;
}

/*
 * Whether the workflow line [wb, we) is what the template line [tb, te)
 * can render to: its text as it is, where each << >>, <% %> and {# #} may
 * stand for any text (a wildcard, matched with backtracking).
 */
static bool renders_to(const char *tb, const char *te, const char *wb, const char *we)
{
	static const char *const open[] = {"<<", "<%", "{#"}, *const close[] = {">>", "%>", "#}"};
	const char *star_t = NULL, *star_w = NULL;
	while (wb < we || tb < te) {
		int k = -1;
		for (int i = 0; i < 3 && tb + 1 < te; i++)
			if (tb[0] == open[i][0] && tb[1] == open[i][1])
				k = i;
		if (k >= 0) { /* a wildcard: skip the tag, remember where to come back */
			const char *end = memmem(tb + 2, (size_t)(te - tb - 2), close[k], 2);
			tb = end ? end + 2 : te;
			star_t = tb;
			star_w = wb;
			continue;
		}
		if (tb < te && wb < we && *tb == *wb) {
			tb++;
			wb++;
			continue;
		}
		if (!star_t || star_w >= we)
			return false;
		tb = star_t; /* the last wildcard takes one more character */
		wb = ++star_w;
	}
	return true;
}

/*
 * Moves *at (an expression's place in the workflow) to the template line
 * that holds the expression and renders to the workflow's line, when
 * exactly one does.
 */
static bool template_line(const struct lctx *c, unsigned wf_line, const char *expr, size_t len,
                          struct srcloc *at)
{
	const char *ws = line_start(&c->wf_text, wf_line), *wb, *we;
	if (!ws)
		return false;
	trimmed(&c->wf_text, ws, &wb, &we);
	if (we == wb)
		return false;
	unsigned hit = 0, hits = 0, l = 1;
	const char *x = NULL, *tend = c->tpl_src.buf + c->tpl_src.len;
	for (const char *ts = c->tpl_src.buf; ts <= tend; l++) {
		const char *tb, *te;
		trimmed(&c->tpl_src, ts, &tb, &te);
		const char *e = memmem(tb, (size_t)(te - tb), expr, len);
		if (e && renders_to(tb, te, wb, we)) {
			hit = l;
			x = e;
			hits++;
		}
		ts = te + 1;
	}
	if (hits != 1)
		return false;
	const char *lb = x;
	while (lb > c->tpl_src.buf && lb[-1] != '\n')
		lb--;
	*at = (struct srcloc){c->tpl_path, hit, (unsigned)(x - lb) + 1};
	return true;
}

static void check_script(struct lctx *c, const struct wf_job *j, const struct wf_node *run)
{
	const char *s = wf_str(run);
	if (!s)
		return;
	for (const char *p = s; (p = strstr(p, "${{"));) {
		const char *q = strstr(p + 3, "}}");
		if (!q)
			break;
		size_t len = (size_t)(q + 2 - p);
		const char *what = untrusted(p + 3, (size_t)(q - p - 3));
		if (what) {
			/* The nth time this exact text appears in the script. */
			size_t nth = 0;
			for (const char *r = s; (r = strstr(r, "${{")) && r < p; r++)
				nth += !strncmp(r, p, len);
			struct srcloc at = run->loc;
			at.file = c->wf_path;
			find_in_file(&c->wf_text, run->loc.line, p, len, nth, &at);
			/* The template's line when it spells it (the line to fix is there). */
			if (c->tpl_path && at.line)
				(void)template_line(c, at.line, p, len, &at);
			add(c, at.file, at.line, at.col, "script-injection",
			    "%.*s is pasted into a run: script (job %s): %s, and a crafted one "
			    "runs as shell code; pass it through env: and use \"$NAME\"",
			    (int)len, p, j->id,
			    !strcmp(what, "matrix")
			        ? "matrix values can come from the PR (a changed test's file name)"
			        : "the PR's title, body and branch name are its author's");
		}
		p = q + 2;
	}
}

static void check_scripts(struct lctx *c)
{
	for (size_t i = 0; i < wf_njobs(c->w); i++) {
		const struct wf_job *j = wf_job_at(c->w, i);
		for (size_t s = 0; s < j->nsteps; s++) {
			check_script(c, j, j->steps[s].run);
			const char *uses = wf_str(wf_get(j->steps[s].node, "uses"));
			if (uses && !strncmp(uses, "actions/github-script", 21))
				check_script(c, j,
				             wf_get(wf_get(j->steps[s].node, "with"), "script"));
		}
	}
}

/* ---- concurrency and labeled events --------------------------------------- */

/* The line of key in mapping m (where a finding about its value belongs), or 0. */
static unsigned key_line(const struct wf_node *m, const char *key)
{
	for (size_t i = 0; m && m->kind == WF_MAP && i < m->len; i++)
		if (wf_str(m->kv[2 * i]) && !strcmp(m->kv[2 * i]->s, key))
			return m->kv[2 * i]->loc.line;
	return 0;
}

static bool seq_has(const struct wf_node *n, const char *s)
{
	if (n && n->kind == WF_SCALAR)
		return !strcmp(n->s, s);
	for (size_t i = 0; n && n->kind == WF_SEQ && i < n->len; i++)
		if (wf_str(n->kv[i]) && !strcmp(wf_str(n->kv[i]), s))
			return true;
	return false;
}

/* The concurrency group (text) and cancel-in-progress of a concurrency node, evaluated. */
static bool eval_conc(const struct wf_node *conc, struct value ctx, struct arena *a,
                      struct strbuf *group, bool *cancel)
{
	const struct wf_node *g = conc->kind == WF_SCALAR ? conc : wf_get(conc, "group");
	const struct wf_node *cp = conc->kind == WF_MAP ? wf_get(conc, "cancel-in-progress") : NULL;
	struct gha_ctx gc = {.contexts = ctx, .status = GHA_SUCCESS};
	struct diag d = DIAG_INIT;
	struct value gv, cv = value_bool(false);
	bool ok = wf_str(g) && gha_interp(g->s, g->len, &g->loc, &gc, a, &gv, &d) == 0 &&
	          gv.kind != V_UNDEF;
	if (ok && cp && wf_str(cp)) {
		if (cp->plain && (!strcmp(cp->s, "true") || !strcmp(cp->s, "false")))
			cv = value_bool(!strcmp(cp->s, "true"));
		else
			ok = gha_interp(cp->s, cp->len, &cp->loc, &gc, a, &cv, &d) == 0 &&
			     cv.kind != V_UNDEF;
	}
	diag_release(&d);
	if (!ok)
		return false;
	gha_to_str(gv, group);
	*cancel = cv.kind == V_STR ? !strcmp(cv.str.s, "true") : gha_truthy(cv);
	return true;
}

static void check_cancel(struct lctx *c)
{
	const struct wf_node *cfg = NULL;
	if (!wf_on(c->w, "pull_request", &cfg) && !wf_on(c->w, "pull_request_target", &cfg))
		return;
	if (!seq_has(wf_get(cfg, "types"), "labeled") || !c->cat.nlabels)
		return;
	/* Run 1: label A added. Run 2: label B added while run 1 works. */
	const char *a = c->cat.labels[0].label;
	const char *b = c->cat.nlabels > 1 ? c->cat.labels[1].label : "another-label";
	const char *one[1] = {a}, *two[2] = {a, b};
	struct plan p1, p2;
	struct diag d = DIAG_INIT;
	struct plan_opts o1 = {.event = "pull_request", .labels = one, .nlabels = 1, .added = a};
	struct plan_opts o2 = {.event = "pull_request", .labels = two, .nlabels = 2, .added = b};
	int rc1 = plan_make(c->w, &o1, &p1, &d), rc2 = plan_make(c->w, &o2, &p2, &d);
	if (rc1 == 0 && rc2 == 0 && p1.njobs && p1.njobs == p2.njobs) {
		struct arena ar = ARENA_INIT;
		struct strbuf g1 = STRBUF_INIT, g2 = STRBUF_INIT;
		bool c1, c2;
		const struct wf_node *conc = wf_get(wf_root(c->w), "concurrency");
		if (conc && eval_conc(conc, p1.jobs[0].ctx, &ar, &g1, &c1) &&
		    eval_conc(conc, p2.jobs[0].ctx, &ar, &g2, &c2) && c2 && !strcmp(g1.buf, g2.buf))
			add(c, c->wf_path, key_line(wf_root(c->w), "concurrency"), 0,
			    "cancel-on-label",
			    "the workflow's concurrency group is one per PR (\"%s\" for both) with "
			    "cancel-in-progress, and labeled events start runs: adding label %s "
			    "cancels the jobs label %s started; put the label in the group "
			    "(${{ github.event.label.name }} on labeled events)",
			    g1.buf, b, a);
		for (size_t i = 0; i < p1.njobs; i++) {
			const struct wf_node *jc = wf_get(p1.jobs[i].job->node, "concurrency");
			if (!jc || p1.jobs[i].state == PLAN_SKIPPED ||
			    p2.jobs[i].state == PLAN_SKIPPED)
				continue;
			strbuf_reset(&g1);
			strbuf_reset(&g2);
			if (eval_conc(jc, p1.jobs[i].ctx, &ar, &g1, &c1) &&
			    eval_conc(jc, p2.jobs[i].ctx, &ar, &g2, &c2) && c2 &&
			    !strcmp(g1.buf, g2.buf))
				add(c, c->wf_path, key_line(p1.jobs[i].job->node, "concurrency"), 0,
				    "cancel-on-label",
				    "job %s's concurrency group (\"%s\") is the same after another "
				    "label is added, with cancel-in-progress: adding label %s "
				    "cancels "
				    "the run label %s started",
				    p1.jobs[i].job->id, g1.buf, b, a);
		}
		strbuf_release(&g1);
		strbuf_release(&g2);
		arena_release(&ar);
	}
	plan_release(&p1);
	plan_release(&p2);
	diag_release(&d);
}

/* ---- the whole ------------------------------------------------------------ */

static int cmp_finding(const void *x, const void *y)
{
	const struct lint_finding *a = x, *b = y;
	int k = strcmp(a->file, b->file);
	if (k)
		return k;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return strcmp(a->rule, b->rule);
}

int lint_run(const struct lint_opts *o, struct lint_report *r, struct diag *d)
{
	*r = (struct lint_report){0};
	struct lctx c = {.o = o, .r = r, .a = &r->arena, .root = o->root ? o->root : "."};
	c.wf_text = (struct strbuf)STRBUF_INIT;
	c.tpl_src = (struct strbuf)STRBUF_INIT;
	for (size_t i = 0; i < o->nrules; i++)
		if (!lint_rule_find(o->rules[i]))
			return diag_set(d, DIAG_USAGE, "no rule '%s' (gpuci lint --list-rules)",
			                o->rules[i]);
	struct strbuf p = STRBUF_INIT;
	c.wf_path = astr(&c, o->workflow);
	full_path(&c, o->workflow, &p);
	int rc = -1;
	if (fs_read_all(p.buf, &c.wf_text, d) < 0 ||
	    wf_parse(c.wf_text.buf, c.wf_text.len, c.wf_path, &c.w, d) < 0)
		goto out;
	struct strbuf tp = STRBUF_INIT;
	strbuf_addf(&tp, "%s.j2", p.buf);
	struct diag td = DIAG_INIT;
	if (fs_read_all(tp.buf, &c.tpl_src, &td) == 0) {
		struct strbuf rel = STRBUF_INIT;
		strbuf_addf(&rel, "%s.j2", c.wf_path);
		c.tpl_path = xstrdup(rel.buf);
		strbuf_release(&rel);
		c.have_reg = reg_scan(c.tpl_src.buf, c.tpl_src.len, c.tpl_path, &c.reg, &td) == 0;
	}
	diag_release(&td);
	strbuf_release(&tp);
	if (plan_catalogue(c.w, &c.cat, d) < 0) {
		plan_catalogue_release(&c.cat);
		goto out;
	}
	c.have_cat = true;

	struct ignores ig = {0};
	read_ignores(&c, &ig);
	collect_entries(&c);
	check_entries(&c);
	scan_tests(&c);
	check_files(&c, &ig);
	check_cpu_jobs(&c);
	check_labels(&c);
	check_reachable(&c);
	check_generated(&c);
	check_scripts(&c);
	check_cancel(&c);
	free_ignores(&ig);
	if (r->n)
		qsort(r->findings, r->n, sizeof(*r->findings), cmp_finding);
	rc = 0;
out:
	if (c.have_cat)
		plan_catalogue_release(&c.cat);
	if (c.have_reg || c.tpl_path)
		reg_release(&c.reg);
	for (size_t i = 0; i < c.nfiles; i++)
		tfile_free(c.files[i]);
	free(c.files);
	free(c.entries);
	free(c.tpl_path);
	wf_free(c.w);
	strbuf_release(&c.wf_text);
	strbuf_release(&c.tpl_src);
	strbuf_release(&p);
	return rc;
}

void lint_report_release(struct lint_report *r)
{
	free(r->findings);
	arena_release(&r->arena);
	*r = (struct lint_report){0};
}
