/*
 * lint/files: the matrix entries and the test files against each other
 * (missing-test-file, gpu-count-mismatch, duplicate-entry,
 * unregistered-test, unreached-test, stale-unregistered, test-pattern,
 * cpu-test's tests that run nothing).
 */
#include "lint/lint_int.h"

#include <ctype.h>
#include <dirent.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "base/banned.h"

/* The file new-test renders tests from: a Jinja2 template, not a test. */
#define TEST_TEMPLATE_FILE "tests/ci/test_template.py"

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

/* The entry's file (plan_test_path), in the arena; NULL when it leaves the repository. */
static const char *entry_path(struct lctx *c, const char *f)
{
	struct strbuf p = STRBUF_INIT, why = STRBUF_INIT;
	const char *out = plan_test_path(f, &p, &why) ? arena_strndup(c->a, p.buf, p.len) : NULL;
	strbuf_release(&p);
	strbuf_release(&why);
	return out;
}

void lint__collect_entries(struct lctx *c)
{
	size_t cap = 0;
	for (size_t j = 0; j < wf_njobs(c->w); j++) {
		const struct wf_job *job = wf_job_at(c->w, j);
		struct value list;
		if (!wf_job_static_matrix(job, c->a, &list))
			continue;
		struct strmap same = STRMAP_INIT; /* file, args -> entries so far */
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
			struct strbuf id = STRBUF_INIT;
			plan_entry_identity(list.list->items[i], &id);
			e->identity = arena_strndup(c->a, id.buf, id.len);
			strbuf_release(&id);
			struct value bad;
			if (!plan_entry_gpus_valid(f, PLAN_MAX_GPUS, &bad)) {
				struct strbuf js = STRBUF_INIT;
				plan_json(bad, &js);
				e->bad_gpus = arena_strndup(c->a, js.buf, js.len);
				strbuf_release(&js);
			} else if (ng && ng->kind == V_INT) {
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
				/* Which of the job's entries of this file and args it is. */
				struct strbuf k = STRBUF_INIT;
				strbuf_addf(&k, "%s%c%s", e->test_file, 0,
				            e->test_args ? e->test_args : "");
				size_t *seen = strmap_get(&same, k.buf, k.len);
				if (!seen) {
					seen = arena_alloc(c->a, sizeof(*seen));
					strmap_put(&same, arena_strndup(c->a, k.buf, k.len), k.len,
					           seen);
				}
				strbuf_release(&k);
				size_t nth = (*seen)++;
				unsigned line = reg_entry_line(&c->reg, job->id, e->test_file,
				                               e->test_args, nth);
				if (line)
					e->at = (struct srcloc){c->tpl_path, line, 0};
			}
		}
		strmap_release(&same);
	}
	c->r->nentries = c->nentries;
}

int lint__check_gpus(struct lctx *c, struct diag *d)
{
	for (size_t i = 0; i < c->nentries; i++) {
		const struct entry *e = &c->entries[i];
		if (!e->bad_gpus)
			continue;
		diag_set(d, DIAG_INPUT,
		         "job '%s': num_gpus must be a whole number of GPUs from 0 to %d, not %s",
		         e->job->id, PLAN_MAX_GPUS, e->bad_gpus);
		d->loc = e->at;
		lint__to_template(c, &d->loc.file, &d->loc.line, &d->loc.col);
		return -1;
	}
	return 0;
}

static void describe(const struct entry *e, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_adds(out, e->test_file);
	if (e->test_args && *e->test_args)
		strbuf_addf(out, " %s", e->test_args);
}

void lint__check_entries(struct lctx *c)
{
	struct strbuf what = STRBUF_INIT, key = STRBUF_INIT;
	struct strmap first = STRMAP_INIT; /* job, identity -> its first entry */
	for (size_t i = 0; i < c->nentries; i++) {
		struct entry *e = &c->entries[i];
		describe(e, &what);
		if (!e->path) {
			lint__add(c, LINT_ERROR, true, e->at.file, e->at.line, e->at.col,
			          "missing-test-file",
			          "test_file '%s' (job %s) is not a path inside tests/",
			          e->test_file, e->job->id);
			continue;
		}
		struct tfile *t = lint__tfile(c, e->path);
		if (!t->registered)
			t->first_job = e->job->id;
		t->registered = true;
		t->cpu_entry |= e->has_gpus && e->num_gpus == 0;
		if (!t->exists) {
			lint__add(c, LINT_ERROR, true, e->at.file, e->at.line, e->at.col,
			          "missing-test-file", "%s does not exist (job %s runs it)",
			          e->path, e->job->id);
		} else if (t->parsed && t->gpus.kind == PY_INT_LITERAL) {
			if (!e->has_gpus)
				lint__add(c, LINT_ERROR, true, e->at.file, e->at.line, e->at.col,
				          "gpu-count-mismatch",
				          "%s (job %s) has no num_gpus; %s:%u sets NUM_GPUS = %lld",
				          what.buf, e->job->id, t->path, t->gpus.line,
				          (long long)t->gpus.value);
			else if (e->num_gpus != t->gpus.value)
				lint__add(
				    c, LINT_ERROR, true, e->at.file, e->at.line, e->at.col,
				    "gpu-count-mismatch",
				    "%s (job %s) has num_gpus %lld but %s:%u sets NUM_GPUS = %lld",
				    what.buf, e->job->id, (long long)e->num_gpus, t->path,
				    t->gpus.line, (long long)t->gpus.value);
		}
		/* The same entry (file, args and every other key) twice in a job. */
		strbuf_reset(&key);
		strbuf_addf(&key, "%p%c%s", (const void *)e->job, 0, e->identity);
		const struct entry *p = strmap_get(&first, key.buf, key.len);
		if (p)
			lint__add(c, LINT_ERROR, true, e->at.file, e->at.line, e->at.col,
			          "duplicate-entry",
			          "%s is twice in job %s (first at %s), every key alike: it "
			          "runs twice",
			          what.buf, e->job->id, lint__where(c, p->at.file, p->at.line));
		else
			strmap_put(&first, arena_strndup(c->a, key.buf, key.len), key.len, e);
	}
	strmap_release(&first);
	strbuf_release(&key);
	strbuf_release(&what);
}

/* ---- tests/ci/unregistered.txt ------------------------------------------- */

struct ignore {
	char *pat; /* with tests/ in front */
	unsigned line;
	bool used, glob;
	struct ignore *same; /* the next line of the same literal path */
};

/*
 * The lines of unregistered.txt: a literal path is found in a hash set,
 * only the glob lines go through fnmatch, so a list of 10,000 files costs
 * linear time.
 */
struct ignores {
	size_t n;
	struct ignore *v;
	struct strmap literal; /* pat -> the first struct ignore of it */
	size_t nglobs;
	size_t *globs; /* indexes into v */
};

static void read_ignores(struct lctx *c, struct ignores *ig)
{
	struct strbuf p = STRBUF_INIT, text = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	lint__full_path(c, UNREGISTERED_FILE, &p);
	size_t cap = 0;
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
				if (ig->n == cap)
					ig->v = xrealloc(ig->v, (cap = cap ? 2 * cap : 64) *
					                            sizeof(*ig->v));
				struct strbuf pat = STRBUF_INIT;
				if (strncmp(s, "tests/", 6) != 0)
					strbuf_adds(&pat, "tests/");
				strbuf_adds(&pat, s);
				/* A backslash escapes in fnmatch: such a line is no literal. */
				bool glob = strpbrk(pat.buf, "*?[\\") != NULL;
				ig->v[ig->n++] = (struct ignore){
				    .pat = strbuf_detach(&pat, NULL), .line = lineno, .glob = glob};
			}
			s = nl ? nl + 1 : NULL;
		}
	} else if (access(p.buf, F_OK) == 0) {
		/* None is no list; one that cannot be read (a FIFO, a folder) is said. */
		lint__add(c, LINT_ERROR, false, UNREGISTERED_FILE, 0, 0, "stale-unregistered", "%s",
		          d.msg.buf);
	}
	/* Indexed once the array no longer moves. */
	ig->globs = xcalloc(ig->n ? ig->n : 1, sizeof(*ig->globs));
	for (size_t i = ig->n; i-- > 0;) { /* backwards: a chain runs in file order */
		struct ignore *e = &ig->v[i];
		if (e->glob) {
			ig->globs[ig->nglobs++] = i;
			continue;
		}
		e->same = strmap_put(&ig->literal, e->pat, strlen(e->pat), e);
	}
	for (size_t i = 0; i < ig->nglobs / 2; i++) { /* file order */
		size_t t = ig->globs[i];
		ig->globs[i] = ig->globs[ig->nglobs - 1 - i];
		ig->globs[ig->nglobs - 1 - i] = t;
	}
	diag_release(&d);
	strbuf_release(&p);
	strbuf_release(&text);
}

static void free_ignores(struct ignores *ig)
{
	for (size_t i = 0; i < ig->n; i++)
		free(ig->v[i].pat);
	free(ig->v);
	free(ig->globs);
	strmap_release(&ig->literal);
}

static bool listed(struct ignores *ig, const char *path)
{
	bool hit = false;
	for (struct ignore *e = strmap_get(&ig->literal, path, strlen(path)); e; e = e->same)
		hit = e->used = true;
	for (size_t i = 0; i < ig->nglobs; i++) {
		struct ignore *e = &ig->v[ig->globs[i]];
		if (!fnmatch(e->pat, path, FNM_PATHNAME))
			hit = e->used = true;
	}
	return hit;
}

/* ---- test files on disk ------------------------------------------------ */

/* Every test_*.py under tests/, at any depth (not hidden folders, caches). */
static void walk(struct lctx *c, const char *rel, int depth)
{
	struct strbuf p = STRBUF_INIT;
	lint__full_path(c, rel, &p);
	DIR *dir = depth < 32 ? opendir(p.buf) : NULL;
	strbuf_release(&p);
	if (!dir)
		return;
	struct dirent *e;
	struct strbuf child = STRBUF_INIT;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "__pycache__"))
			continue;
		strbuf_reset(&child);
		strbuf_addf(&child, "%s/%s", rel, e->d_name);
		struct strbuf full = STRBUF_INIT;
		lint__full_path(c, child.buf, &full);
		struct stat st;
		bool ok = lstat(full.buf, &st) == 0;
		strbuf_release(&full);
		if (!ok)
			continue;
		size_t n = strlen(e->d_name);
		if (S_ISDIR(st.st_mode))
			walk(c, child.buf, depth + 1);
		else if (S_ISREG(st.st_mode) && !strncmp(e->d_name, "test_", 5) && n > 8 &&
		         !strcmp(e->d_name + n - 3, ".py") &&
		         strcmp(child.buf, TEST_TEMPLATE_FILE) != 0)
			(void)lint__tfile(c, child.buf);
	}
	strbuf_release(&child);
	closedir(dir);
}

void lint__scan_tests(struct lctx *c)
{
	walk(c, "tests", 0);
}

/* The first change pattern of the workflow's detect job that reaches path. */
static const char *reached_by(const struct lctx *c, const char *path)
{
	for (size_t i = 0; c->have_detect && i < c->detect.npatterns; i++)
		if (changed_pattern_matches(c->detect.patterns[i], path, c->detect.git_pathspec))
			return c->detect.patterns[i];
	return NULL;
}

static bool pytest_style(const struct tfile *t)
{
	return t->has_test_def;
}

static bool has_prep_exec(const struct tfile *t)
{
	return t->has_prepare && t->has_execute;
}

/* Whether CI runs the file as `python FILE`: a job registers it, or run-ci-changed can. */
static bool runs_as_file(const struct tfile *t)
{
	return t->exists && (t->registered || t->reached_by);
}

static bool gpu_test(const struct tfile *t)
{
	return t->parsed && t->gpus.kind == PY_INT_LITERAL && t->gpus.value > 0;
}

/*
 * prepare-execute auto: the repository follows the pattern when more than
 * half of the GPU tests CI runs define both prepare() and execute().
 */
static bool repo_follows_pattern(const struct lctx *c)
{
	size_t gpu = 0, follow = 0;
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct tfile *t = c->files[i];
		if (runs_as_file(t) && gpu_test(t)) {
			gpu++;
			follow += has_prep_exec(t);
		}
	}
	return gpu && 2 * follow > gpu;
}

static void check_gpu_test(struct lctx *c, const struct tfile *t, bool pattern)
{
	const struct py_int_assign *g = &t->gpus;
	long long dflt = c->have_detect && c->detect.default_gpus ? c->detect.default_gpus : 8;
	if (g->kind == PY_INT_ABSENT && t->reached_by)
		lint__add(
		    c, LINT_WARNING, false, t->path, 0, 0, "test-pattern",
		    "no top-level NUM_GPUS = N: run-ci-changed ('%s') gives it %lld GPUs, and "
		    "its jobs' num_gpus cannot be checked",
		    t->reached_by, dflt);
	else if (g->kind == PY_INT_NONLITERAL)
		lint__add(c, LINT_WARNING, false, t->path, g->line, g->col, "test-pattern",
		          "NUM_GPUS is not an int literal: run-ci-changed cannot read it and "
		          "gives the test %lld GPUs",
		          dflt);
	else if (g->kind == PY_INT_CONDITIONAL)
		lint__add(c, LINT_WARNING, false, t->path, g->line, g->col, "test-pattern",
		          "NUM_GPUS is set under an if/try/for/with: run-ci-changed cannot "
		          "know which value and gives the test %lld GPUs",
		          dflt);
	if (!t->has_main_block)
		lint__add(c, LINT_ERROR, false, t->path, 0, 0, "test-pattern",
		          "no if __name__ == \"__main__\": block: CI runs `python %s`, which would "
		          "run nothing and pass",
		          t->path);
	bool prep = t->has_prepare, exec = t->has_execute;
	if (pattern && (!prep || !exec))
		lint__add(
		    c, LINT_WARNING, false, t->path, 0, 0, "test-pattern",
		    "no top-level %s: this repository's GPU tests define prepare() (downloads) "
		    "and execute() (the run), called from __main__ (lint: prepare-execute "
		    "in " CONFIG_FILE " says where)",
		    !prep && !exec ? "def prepare() nor def execute()"
		    : !prep        ? "def prepare()"
		                   : "def execute()");
}

static void check_cpu_test(struct lctx *c, const struct tfile *t)
{
	if (!t->has_main_block)
		lint__add(
		    c, LINT_ERROR, false, t->path, 0, 0, "cpu-test",
		    "a test of no GPU (%s) with no if __name__ == \"__main__\": block: CI runs "
		    "`python %s`, which would run none of its tests and pass",
		    t->gpus.kind == PY_INT_LITERAL ? "NUM_GPUS = 0" : "num_gpus 0 in its job",
		    t->path);
	if (t->gpus.kind == PY_INT_ABSENT && t->reached_by)
		lint__add(
		    c, LINT_WARNING, false, t->path, 0, 0, "test-pattern",
		    "no top-level NUM_GPUS = N: job %s runs it with 0 GPUs, but run-ci-changed "
		    "('%s') gives it %lld; add NUM_GPUS = 0",
		    t->first_job, t->reached_by,
		    c->have_detect && c->detect.default_gpus ? (long long)c->detect.default_gpus
		                                             : 8LL);
}

static void check_file(struct lctx *c, struct tfile *t, bool follows)
{
	const char *wf_base = strrchr(c->wf_path, '/') ? strrchr(c->wf_path, '/') + 1 : c->wf_path;
	if (!t->registered && !t->listed) {
		if (t->reached_by)
			lint__add(
			    c, LINT_WARNING, false, t->path, 0, 0, "unregistered-test",
			    "in no job of %s and not in " UNREGISTERED_FILE
			    ": it runs only under run-ci-changed, when it changes; register it "
			    "(gpuci new-test %s --existing --job JOB) or list it there",
			    wf_base, t->path);
		else if (!t->script_job) {
			struct strbuf why = STRBUF_INIT;
			for (size_t i = 0; c->have_detect && i < c->detect.npatterns; i++)
				strbuf_addf(&why, "%s'%s'",
				            i ? ", " : "no change pattern of run-ci-changed (",
				            c->detect.patterns[i]);
			strbuf_adds(&why, why.len ? ") matches it"
			                          : "the workflow detects no changed tests");
			lint__add(c, LINT_ERROR, false, t->path, 0, 0, "unreached-test",
			          "no job of %s runs it and %s: it never runs in CI; register it "
			          "(gpuci new-test %s --existing --job JOB), run its folder from a "
			          "job's script, or list it in " UNREGISTERED_FILE,
			          wf_base, why.buf, t->path);
			strbuf_release(&why);
		}
	}
	if (!runs_as_file(t))
		return;
	if (!t->readable) {
		lint__add(c, LINT_ERROR, false, t->path, 0, 0, "test-pattern", "cannot be read: %s",
		          t->err.msg.buf);
		return;
	}
	if (!t->parsed) {
		lint__add(c, LINT_ERROR, false, t->path, t->err.loc.line, t->err.loc.col,
		          "test-pattern", "Python cannot import it: %s", t->err.msg.buf);
		return;
	}
	bool cpu = (t->gpus.kind == PY_INT_LITERAL && t->gpus.value == 0) ||
	           (t->gpus.kind == PY_INT_ABSENT && t->cpu_entry);
	if (cpu) {
		check_cpu_test(c, t);
		return;
	}
	enum prep_exec mode = c->cfg.prepare_execute;
	bool pattern =
	    mode == PREP_EXEC_ALWAYS || (mode == PREP_EXEC_AUTO && follows && !pytest_style(t));
	check_gpu_test(c, t, pattern);
}

void lint__check_files(struct lctx *c)
{
	/* A workflow that runs no test (a release, a docs build) says nothing of test files. */
	if (!c->nentries && !c->have_detect)
		return;
	struct ignores ig = {0};
	read_ignores(c, &ig);
	for (size_t i = 0; i < c->nfiles; i++) {
		struct tfile *t = c->files[i];
		if (!t->exists)
			continue;
		t->listed = listed(&ig, t->path);
		t->reached_by = reached_by(c, t->path);
		t->script_job = lint__script_reaches(c, t->path);
	}
	bool follows = repo_follows_pattern(c);
	for (size_t i = 0; i < c->nfiles; i++) {
		struct tfile *t = c->files[i];
		if (!t->exists)
			continue;
		c->r->nfiles++;
		check_file(c, t, follows);
	}
	for (size_t i = 0; i < ig.n; i++) {
		const struct ignore *e = &ig.v[i];
		if (!e->used) {
			lint__add(c, LINT_WARNING, false, UNREGISTERED_FILE, e->line, 0,
			          "stale-unregistered", "%s matches no test file: remove the line",
			          e->pat);
			continue;
		}
		if (e->glob)
			continue;
		const struct tfile *t = lint__tfile_find(c, e->pat);
		if (t && t->registered && t->exists)
			lint__add(c, LINT_WARNING, false, UNREGISTERED_FILE, e->line, 0,
			          "stale-unregistered",
			          "%s is registered in job %s: remove the line", e->pat,
			          t->first_job);
	}
	free_ignores(&ig);
}
