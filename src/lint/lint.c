/* lint: the rules, the findings, the whole run. See lint.h. */
#include "lint/lint_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "base/banned.h"

const struct lint_rule lint_rules[] = {
    {"missing-test-file", "a matrix entry's test_file does not exist", LINT_ERROR},
    {"gpu-count-mismatch", "a matrix entry's num_gpus differs from its file's NUM_GPUS",
     LINT_ERROR},
    {"unregistered-test", "a test file only run-ci-changed runs, when it changes", LINT_WARNING},
    {"unreached-test", "a test file no job and no change pattern ever runs", LINT_ERROR},
    {"stale-unregistered", "tests/ci/unregistered.txt names a file that is registered or gone",
     LINT_WARNING},
    {"test-pattern", "a test CI runs lacks a literal NUM_GPUS, __main__, prepare() or execute()",
     LINT_WARNING},
    {"cpu-test", "a test of no GPU that runs nothing, or only under a GPU lease", LINT_ERROR},
    {"one-job-per-label", "a PR label gates more than one job", LINT_WARNING},
    {"unreachable-job", "no event the workflow listens to runs the job", LINT_WARNING},
    {"stale-workflow", "the workflow is not what its template renders", LINT_ERROR},
    {"duplicate-entry", "the same entry twice in one job", LINT_ERROR},
    {"script-injection", "${{ }} of text a PR controls (or a step's output) in a run: script",
     LINT_ERROR},
    {"cancel-on-label", "adding a label cancels another's run or runs its jobs again", LINT_ERROR},
    {NULL, NULL, LINT_ERROR},
};

const struct lint_rule *lint_rule_find(const char *name)
{
	for (const struct lint_rule *r = lint_rules; r->name; r++)
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

const char *lint_severity_name(enum lint_severity s)
{
	return s == LINT_ERROR ? "error" : "warning";
}

static bool rule_on(const struct lctx *c, const char *rule)
{
	if (!c->o->nrules)
		return true;
	for (size_t i = 0; i < c->o->nrules; i++)
		if (!strcmp(c->o->rules[i], rule))
			return true;
	return false;
}

/* A place in the current generated workflow, moved to the template's. */
void lint__to_template(const struct lctx *c, const char **file, unsigned *line, unsigned *col)
{
	unsigned tl, tc;
	if (!c->map || !c->tpl_path || strcmp(*file, c->wf_path) != 0 || !*line)
		return;
	if (wf_gen_srcmap_find(c->map, *line, *col, &tl, &tc)) {
		*file = c->tpl_path;
		*line = tl;
		*col = *col ? tc : 0;
	}
}

void lint__add(struct lctx *c, enum lint_severity sev, bool move, const char *file, unsigned line,
               unsigned col, const char *rule, const char *fmt, ...)
{
	if (!rule_on(c, rule))
		return;
	if (move)
		lint__to_template(c, &file, &line, &col);
	if (lint__suppressed(c, file, line, rule))
		return;
	struct lint_report *r = c->r;
	struct strbuf m = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&m, fmt, ap);
	va_end(ap);
	/*
	 * One finding per line and rule: a list two jobs share is one line to
	 * fix (a finding of no line: one per message). Hashed, so that 20,000
	 * files' findings cost linear time.
	 */
	struct strbuf key = STRBUF_INIT;
	strbuf_addf(&key, "%u:%u:%s:%s", line, col, rule, file);
	if (!line) {
		strbuf_addch(&key, '\0');
		strbuf_add(&key, m.buf, m.len);
	}
	if (strmap_get(&c->finding_index, key.buf, key.len)) {
		strbuf_release(&key);
		strbuf_release(&m);
		return;
	}
	const char *k = arena_strndup(c->a, key.buf, key.len);
	strmap_put(&c->finding_index, k, key.len, (void *)k);
	strbuf_release(&key);
	if (r->n == c->capfindings)
		r->findings = xrealloc(r->findings,
		                       (c->capfindings = c->capfindings ? 2 * c->capfindings : 16) *
		                           sizeof(*r->findings));
	r->findings[r->n++] = (struct lint_finding){
	    .file = lint__astr(c, file),
	    .line = line,
	    .col = col,
	    .rule = lint_rule_find(rule)->name,
	    .severity = lint__severity(c, rule, sev),
	    .message = arena_strndup(c->a, m.buf, m.len),
	};
	strbuf_release(&m);
}

const char *lint__where(struct lctx *c, const char *file, unsigned line)
{
	unsigned col = 0;
	lint__to_template(c, &file, &line, &col);
	struct strbuf s = STRBUF_INIT;
	strbuf_addf(&s, "%s:%u", file, line);
	const char *r = arena_strndup(c->a, s.buf, s.len);
	strbuf_release(&s);
	return r;
}

const char *lint__astr(struct lctx *c, const char *s)
{
	return arena_strndup(c->a, s, strlen(s));
}

void lint__full_path(const struct lctx *c, const char *rel, struct strbuf *out)
{
	strbuf_reset(out);
	if (strcmp(c->root, ".") != 0 && rel[0] != '/')
		strbuf_addf(out, "%s/", c->root);
	strbuf_adds(out, rel);
}

const char *lint__line_end(const struct strbuf *text, const char *s)
{
	const char *end = text->buf + text->len;
	const char *nl = memchr(s, '\n', (size_t)(end - s));
	return nl ? nl : end;
}

const char *lint__line_start(const struct strbuf *text, unsigned line)
{
	const char *s = text->buf;
	for (unsigned i = 1; i < line; i++) {
		const char *e = lint__line_end(text, s);
		if (e == text->buf + text->len)
			return NULL;
		s = e + 1;
	}
	return s;
}

struct tfile *lint__tfile_find(const struct lctx *c, const char *path)
{
	return strmap_get(&c->file_index, path, strlen(path));
}

/* What lint asks of a test's top-level defs. */
static void read_defs(struct tfile *t, const struct py_top *top)
{
	t->has_main_block = top->has_main_block;
	t->has_prepare = py_top_has_def(top, "prepare");
	t->has_execute = py_top_has_def(top, "execute");
	for (size_t i = 0; i < top->ndefs; i++)
		if (top->defs[i].len > 5 && !strncmp(top->defs[i].name, "test_", 5))
			t->has_test_def = true;
}

struct tfile *lint__tfile(struct lctx *c, const char *path)
{
	struct tfile *t = lint__tfile_find(c, path);
	if (t)
		return t;
	t = xcalloc(1, sizeof(*t));
	t->path = lint__astr(c, path);
	diag_init(&t->err);
	struct strbuf p = STRBUF_INIT, src = STRBUF_INIT;
	lint__full_path(c, path, &p);
	struct stat st;
	t->exists = stat(p.buf, &st) == 0 && S_ISREG(st.st_mode);
	if (t->exists && fs_read_all(p.buf, &src, &t->err) == 0) {
		struct py_top top;
		t->readable = true;
		t->parsed =
		    py_top_int(src.buf, src.len, t->path, "NUM_GPUS", &t->gpus, &t->err) == 0 &&
		    py_top_names(src.buf, src.len, t->path, &top, &t->err) == 0;
		if (t->parsed)
			read_defs(t, &top);
		lint__read_disables(c, t->path, &src); /* its findings ask: no second read */
	}
	strbuf_release(&src);
	strbuf_release(&p);
	strmap_put(&c->file_index, t->path, strlen(t->path), t);
	if (c->nfiles == c->capfiles)
		c->files = xrealloc(c->files, (c->capfiles = c->capfiles ? 2 * c->capfiles : 32) *
		                                  sizeof(struct tfile *));
	c->files[c->nfiles++] = t;
	return t;
}

static void tfile_free(struct tfile *t)
{
	diag_release(&t->err);
	free(t);
}

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

/* The template and whether the workflow is current, with its source map then. */
static void read_template(struct lctx *c, const char *wf_full)
{
	struct strbuf tp = STRBUF_INIT;
	strbuf_addf(&tp, "%s.j2", wf_full);
	struct diag td = DIAG_INIT;
	if (fs_read_all(tp.buf, &c->tpl_src, &td) == 0) {
		struct strbuf rel = STRBUF_INIT;
		strbuf_addf(&rel, "%s.j2", c->wf_path);
		c->tpl_path = lint__astr(c, rel.buf); /* outlives lint_run: errors name it */
		strbuf_release(&rel);
		c->have_reg =
		    reg_scan(c->tpl_src.buf, c->tpl_src.len, c->tpl_path, &c->reg, &td) == 0;
		struct wf_gen_in in = {.tpl = c->tpl_src.buf,
		                       .tpl_len = c->tpl_src.len,
		                       .tpl_name = c->tpl_path,
		                       .old = c->wf_text.buf,
		                       .old_len = c->wf_text.len,
		                       .out_name = c->wf_path};
		c->gen_rc = wf_gen_update(&in, &c->gen_out, &c->wf_current, &c->gen_err);
		diag_release(&td);
		diag_init(&td);
		if (c->gen_rc == 0 && c->wf_current &&
		    wf_gen_srcmap_new(c->tpl_src.buf, c->tpl_src.len, c->tpl_path, &c->map, &td) <
		        0)
			c->map = NULL;
	}
	diag_release(&td);
	strbuf_release(&tp);
}

/* The workflow's detect job's change patterns (run-ci-changed), if it has one. */
static void read_detect(struct lctx *c)
{
	for (size_t j = 0; j < wf_njobs(c->w) && !c->have_detect; j++)
		c->have_detect = plan_job_detect_opts(wf_job_at(c->w, j), c->a, &c->detect);
}

int lint_run(const struct lint_opts *o, struct lint_report *r, struct diag *d)
{
	*r = (struct lint_report){0};
	struct lctx c = {.o = o, .r = r, .a = &r->arena, .root = o->root ? o->root : "."};
	c.wf_text = (struct strbuf)STRBUF_INIT;
	c.tpl_src = (struct strbuf)STRBUF_INIT;
	c.gen_out = (struct strbuf)STRBUF_INIT;
	diag_init(&c.gen_err);
	for (size_t i = 0; i < o->nrules; i++)
		if (!lint_rule_find(o->rules[i]))
			return diag_set(d, DIAG_USAGE, "no rule '%s' (gpuci lint --list-rules)",
			                o->rules[i]);
	struct strbuf p = STRBUF_INIT;
	c.wf_path = lint__astr(&c, o->workflow);
	lint__full_path(&c, o->workflow, &p);
	int rc = -1;
	if (lint__config_load(&c, d) < 0 || fs_read_all(p.buf, &c.wf_text, d) < 0 ||
	    wf_parse(c.wf_text.buf, c.wf_text.len, c.wf_path, &c.w, d) < 0)
		goto out;
	r->config = c.cfg.path;
	read_template(&c, p.buf);
	lint__collect_entries(&c);
	if (lint__check_gpus(&c, d) < 0)
		goto out;
	if (plan_catalogue(c.w, &c.cat, d) < 0) {
		/* A plan-time error is fixed where findings are: the template's line. */
		if (d->loc.file && d->loc.line)
			lint__to_template(&c, &d->loc.file, &d->loc.line, &d->loc.col);
		plan_catalogue_release(&c.cat);
		goto out;
	}
	c.have_cat = true;
	read_detect(&c);

	lint__check_entries(&c);
	lint__scan_tests(&c);
	lint__check_files(&c);
	lint__check_cpu_jobs(&c);
	lint__check_labels(&c);
	lint__check_reachable(&c);
	lint__check_generated(&c);
	lint__check_scripts(&c);
	lint__check_cancel(&c);
	if (r->n)
		qsort(r->findings, r->n, sizeof(*r->findings), cmp_finding);
	for (size_t i = 0; i < r->n; i++)
		r->findings[i].severity == LINT_ERROR ? r->nerrors++ : r->nwarnings++;
	rc = 0;
out:
	/* An error's place may point into the workflow's memory, freed below. */
	if (rc < 0 && d->loc.file)
		d->loc.file = lint__astr(&c, d->loc.file);
	if (c.have_cat)
		plan_catalogue_release(&c.cat);
	if (c.have_reg || c.tpl_path)
		reg_release(&c.reg);
	for (size_t i = 0; i < c.nfiles; i++)
		tfile_free(c.files[i]);
	free(c.files);
	strmap_release(&c.file_index);
	strmap_release(&c.finding_index);
	free(c.entries);
	wf_gen_srcmap_free(c.map);
	lint__config_release(&c);
	wf_free(c.w);
	strbuf_release(&c.wf_text);
	strbuf_release(&c.tpl_src);
	strbuf_release(&c.gen_out);
	diag_release(&c.gen_err);
	strbuf_release(&p);
	return rc;
}

void lint_report_release(struct lint_report *r)
{
	free(r->findings);
	arena_release(&r->arena);
	*r = (struct lint_report){0};
}
