/*
 * lint/scripts: what run: scripts do (script-injection; cpu-test's jobs
 * that always take a GPU lease; the folders a job's script runs, which
 * reach test files no matrix names).
 */
#include "lint/lint_int.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

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
static unsigned script_first_line(const struct lctx *c, const struct wf_node *n)
{
	const char *s = lint__line_start(&c->wf_text, n->loc.line);
	if (!s || n->loc.col == 0)
		return n->loc.line;
	size_t len = (size_t)(lint__line_end(&c->wf_text, s) - s);
	char ch = n->loc.col - 1 < len ? s[n->loc.col - 1] : 0;
	return n->loc.line + (ch == '|' || ch == '>');
}

void lint__check_cpu_jobs(struct lctx *c)
{
	for (size_t i = 0; i < c->nentries; i++) {
		const struct entry *e = &c->entries[i];
		bool zero = e->has_gpus && e->num_gpus == 0;
		if (!zero && e->path) {
			const struct tfile *t = lint__tfile(c, e->path);
			zero = t->parsed && t->gpus.kind == PY_INT_LITERAL && t->gpus.value == 0;
		}
		if (!zero)
			continue;
		for (size_t s = 0; s < e->job->nsteps; s++) {
			const struct wf_step *st = &e->job->steps[s];
			const char *run = wf_str(st->run);
			if (!run)
				continue;
			unsigned line = unconditional_lease(run, script_first_line(c, st->run));
			if (line) {
				lint__add(
				    c, LINT_ERROR, true, e->at.file, e->at.line, e->at.col,
				    "cpu-test",
				    "%s needs no GPU, but job %s always takes a GPU lease (%s), "
				    "and a lease of 0 GPUs is refused: register it in a CPU job, "
				    "or "
				    "skip the lock when num_gpus is 0",
				    e->test_file, e->job->id, lint__where(c, c->wf_path, line));
				break;
			}
		}
	}
}

/* ---- the folders job scripts run ------------------------------------------ */

/* Whether a word of a script (a path under tests/, or a glob) covers path. */
static bool word_covers(const char *w, size_t n, const char *path)
{
	char buf[512];
	if (n < 7 || n >= sizeof(buf) || strncmp(w, "tests/", 6) != 0 || memchr(w, '$', n))
		return false;
	memcpy(buf, w, n);
	buf[n] = '\0';
	while (n > 6 && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (!strcmp(buf, path) || (!strncmp(path, buf, n) && path[n] == '/'))
		return true;
	return strpbrk(buf, "*?[") && fnmatch(buf, path, FNM_PATHNAME) == 0;
}

const char *lint__script_reaches(struct lctx *c, const char *path)
{
	for (size_t j = 0; j < wf_njobs(c->w); j++) {
		const struct wf_job *job = wf_job_at(c->w, j);
		if (plan_job_detects(job)) /* its pathspecs only list files */
			continue;
		for (size_t s = 0; s < job->nsteps; s++) {
			const char *run = wf_str(job->steps[s].run);
			for (const char *p = run; p && *p;) {
				while (*p && (isspace((unsigned char)*p) || strchr("\"'=;|&(", *p)))
					p++;
				size_t n = strcspn(p, " \t\r\n\"';|&)");
				if (word_covers(p, n, path))
					return job->id;
				p += n ? n : 1;
			}
		}
	}
	return NULL;
}

/* ---- untrusted values in scripts ----------------------------------------- */

/*
 * The fields of an event that whoever triggers it writes (GitHub's list of
 * untrusted input, "Security hardening for GitHub Actions"), and what they
 * are. Numbers, ids, SHAs and the repository are not among them.
 */
static const struct {
	const char *path, *what;
} untrusted_fields[] = {
    {"github.event.issue.title", "an issue's title is its author's"},
    {"github.event.issue.body", "an issue's text is its author's"},
    {"github.event.pull_request.title", "the pull request's title is its author's"},
    {"github.event.pull_request.body", "the pull request's description is its author's"},
    {"github.event.comment.body", "a comment's text is its author's"},
    {"github.event.review.body", "a review's text is its author's"},
    {"github.event.review_comment.body", "a review comment's text is its author's"},
    {"github.event.pages.*.page_name", "a wiki page's name is its author's"},
    {"github.event.commits.*.message", "a commit's message is its author's"},
    {"github.event.head_commit.message", "a commit's message is its author's"},
    {"github.event.head_commit.author.email", "a commit's author is whatever it says"},
    {"github.event.head_commit.author.name", "a commit's author is whatever it says"},
    {"github.event.commits.*.author.email", "a commit's author is whatever it says"},
    {"github.event.commits.*.author.name", "a commit's author is whatever it says"},
    {"github.event.pull_request.head.ref", "the pull request's branch name is its author's"},
    {"github.event.pull_request.head.label", "the pull request's branch name is its author's"},
    {"github.event.pull_request.head.repo.default_branch",
     "a fork's default branch is its owner's"},
    {"github.head_ref", "the pull request's branch name is its author's"},
    {"github.event.discussion.title", "a discussion's title is its author's"},
    {"github.event.discussion.body", "a discussion's text is its author's"},
    {"github.event.workflow_run.head_branch", "the branch that ran is its author's"},
    {"github.event.workflow_run.head_commit.message", "a commit's message is its author's"},
    {"github.event.workflow_run.head_commit.author.email", "a commit's author is whatever it says"},
    {"github.event.workflow_run.head_commit.author.name", "a commit's author is whatever it says"},
};

/*
 * The next property chain of an expression (github.event.issue.title,
 * steps.x.outputs['y'], matrix.info.test_file), normalized: lower case,
 * dots, `*` for an index. Returns its end in e, or NULL when there is none.
 */
static const char *next_chain(const char *e, const char *end, struct strbuf *out)
{
	strbuf_reset(out);
	const char *p = e;
	while (p < end) {
		if (*p == '\'') { /* a string literal */
			for (p++; p < end && *p != '\''; p++)
				;
			p += p < end;
			continue;
		}
		if ((isalpha((unsigned char)*p) || *p == '_') &&
		    (p == e || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.' ||
		                 p[-1] == '-')))
			break;
		p++;
	}
	if (p >= end)
		return NULL;
	for (;;) {
		while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '-'))
			strbuf_addch(out, (char)tolower((unsigned char)*p++));
		if (p + 1 < end && *p == '.' && p[1] == '*') {
			strbuf_adds(out, ".*");
			p += 2;
		} else if (p + 1 < end && *p == '.' &&
		           (isalpha((unsigned char)p[1]) || p[1] == '_')) {
			strbuf_addch(out, '.');
			p++;
		} else if (p < end && *p == '[') {
			const char *q = memchr(p, ']', (size_t)(end - p));
			if (!q)
				break;
			if (p[1] == '\'' && q[-1] == '\'' && q - p > 3) {
				strbuf_addch(out, '.');
				for (const char *k = p + 2; k < q - 1; k++)
					strbuf_addch(out, (char)tolower((unsigned char)*k));
			} else {
				strbuf_adds(out, ".*");
			}
			p = q + 1;
		} else {
			break;
		}
	}
	return p;
}

/* Whether the chain names an untrusted field, or an object holding one. */
static const char *untrusted_field(const char *chain)
{
	size_t n = strlen(chain);
	for (size_t i = 0; i < sizeof(untrusted_fields) / sizeof(*untrusted_fields); i++) {
		const char *f = untrusted_fields[i].path;
		if (!fnmatch(f, chain, 0) ||
		    (!strncmp(f, chain, n) && f[n] == '.' && strcmp(chain, "github") != 0))
			return untrusted_fields[i].what;
	}
	return NULL;
}

/*
 * The job whose output a dynamic matrix is read from (fromJson(needs.X.
 * outputs.Y)), or NULL for a matrix the workflow spells out: its values
 * are the workflow's own.
 */
static const struct wf_job *matrix_source(const struct lctx *c, const struct wf_job *j,
                                          bool *dynamic)
{
	*dynamic = false;
	const char *m = wf_str(j->matrix);
	const struct wf_node *node = j->matrix;
	if (!m && node && node->kind == WF_MAP) /* info: ${{ fromJson(...) }} */
		for (size_t i = 0; i < node->len && !m; i++)
			m = wf_str(node->kv[2 * i + 1]) && strstr(node->kv[2 * i + 1]->s, "${{")
			        ? node->kv[2 * i + 1]->s
			        : NULL;
	if (!m || !strstr(m, "${{"))
		return NULL;
	*dynamic = true;
	const char *n = strstr(m, "needs.");
	if (!n)
		return NULL;
	n += 6;
	size_t len = strcspn(n, ".");
	for (size_t k = 0; k < j->nneeds; k++)
		if (strlen(j->needs[k]) == len && !strncmp(j->needs[k], n, len))
			return wf_job_find(c->w, j->needs[k]);
	return NULL;
}

static const struct wf_step *find_step(const struct wf_job *j, const char *id, size_t len)
{
	for (size_t s = 0; s < j->nsteps; s++)
		if (j->steps[s].id && strlen(j->steps[s].id) == len &&
		    !strncasecmp(j->steps[s].id, id, len))
			return &j->steps[s];
	return NULL;
}

/*
 * What an expression pastes into a script that is not the workflow's own:
 * the message, and its severity (an error for what a PR or comment writes,
 * a warning for a step's or job's output, which may or may not hold it).
 */
static bool judge(const struct lctx *c, const struct wf_job *j, const char *e, size_t n,
                  struct strbuf *why, enum lint_severity *sev)
{
	struct strbuf chain = STRBUF_INIT;
	bool hit = false;
	*sev = LINT_WARNING;
	for (const char *p = e, *end = e + n; (p = next_chain(p, end, &chain));) {
		const char *ch = chain.buf;
		const char *what = untrusted_field(ch);
		if (what) {
			strbuf_reset(why);
			strbuf_adds(why, what);
			*sev = LINT_ERROR;
			hit = true;
			break;
		}
		if (!strncmp(ch, "matrix.", 7) || !strcmp(ch, "matrix")) {
			bool dynamic;
			const struct wf_job *src = matrix_source(c, j, &dynamic);
			const char *last = strrchr(ch, '.');
			/*
			 * A detect job's matrix holds test_file (a name the PR chose) and
			 * num_gpus (a number); other keys are empty. Anything else dynamic
			 * is whatever its job wrote.
			 */
			bool detected = src && plan_job_detects(src);
			bool names = !last || !strcmp(last, ".test_file") ||
			             !strcmp(last, ".info") || !strcmp(ch, "matrix");
			if (!dynamic || (detected && !names))
				continue;
			strbuf_reset(why);
			if (detected)
				strbuf_addf(
				    why,
				    "the matrix comes from job %s: test_file is the name of a "
				    "file the PR adds",
				    src->id);
			else
				strbuf_addf(why, "the matrix comes from %s, whatever it wrote",
				            src ? src->id
				                : "an expression known only when it runs");
			*sev = LINT_ERROR;
			hit = true;
			break;
		}
		if (!strncmp(ch, "steps.", 6) && strstr(ch, ".outputs")) {
			const char *id = ch + 6;
			size_t len = strcspn(id, ".");
			const struct wf_step *st = find_step(j, id, len);
			strbuf_reset(why);
			strbuf_addf(why, "the output of step %.*s", (int)len, id);
			if (st && st->name)
				strbuf_addf(why, " ('%s')", st->name);
			strbuf_adds(why, " may hold text from the PR (a branch name, a title)");
			hit = true;
		} else if (!strncmp(ch, "needs.", 6) && strstr(ch, ".outputs")) {
			const char *id = ch + 6;
			strbuf_reset(why);
			strbuf_addf(why, "the output of job %.*s may hold text from the PR",
			            (int)strcspn(id, "."), id);
			hit = true;
		}
	}
	strbuf_release(&chain);
	return hit;
}

/* Line and column of the nth occurrence of text at or after line `from` in the file. */
static void find_in_file(const struct strbuf *file, unsigned from, const char *text, size_t len,
                         size_t nth, struct srcloc *at)
{
	unsigned line = from;
	const char *s = lint__line_start(file, from), *end = file->buf + file->len;
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
	*e = lint__line_end(text, s);
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
 * For a workflow that is not current (no exact map): moves *at to the
 * template line that holds the expression and renders to the workflow's
 * line, when exactly one does.
 */
static void guess_template_line(const struct lctx *c, const char *expr, size_t len,
                                struct srcloc *at)
{
	const char *ws = lint__line_start(&c->wf_text, at->line), *wb, *we;
	if (!ws)
		return;
	trimmed(&c->wf_text, ws, &wb, &we);
	if (we == wb)
		return;
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
		return;
	const char *lb = x;
	while (lb > c->tpl_src.buf && lb[-1] != '\n')
		lb--;
	*at = (struct srcloc){c->tpl_path, hit, (unsigned)(x - lb) + 1};
}

static void check_script(struct lctx *c, const struct wf_job *j, const struct wf_node *run)
{
	const char *s = wf_str(run);
	if (!s)
		return;
	struct strbuf why = STRBUF_INIT;
	for (const char *p = s; (p = strstr(p, "${{"));) {
		const char *q = strstr(p + 3, "}}");
		if (!q)
			break;
		size_t len = (size_t)(q + 2 - p);
		enum lint_severity sev;
		if (judge(c, j, p + 3, (size_t)(q - p - 3), &why, &sev)) {
			/* The nth time this exact text appears in the script. */
			size_t nth = 0;
			for (const char *r = s; (r = strstr(r, "${{")) && r < p; r++)
				nth += !strncmp(r, p, len);
			struct srcloc at = run->loc;
			at.file = c->wf_path;
			find_in_file(&c->wf_text, run->loc.line, p, len, nth, &at);
			if (c->tpl_path && !c->map && at.line)
				guess_template_line(c, p, len, &at);
			lint__add(
			    c, sev, true, at.file, at.line, at.col, "script-injection",
			    "%.*s is pasted into a run: script (job %s): %s, and a crafted one "
			    "runs as shell code; pass it through env: and use \"$NAME\"",
			    (int)len, p, j->id, why.buf);
		}
		p = q + 2;
	}
	strbuf_release(&why);
}

void lint__check_scripts(struct lctx *c)
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
