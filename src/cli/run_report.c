/*
 * The report of `gpuci run` (report/html.h): every attempt as the run
 * tells it, the run's description in RUN-DIR/run.tsv (at the start, so a
 * crashed run can be drawn again, and at the end), RUN-DIR/report.html, and
 * the timeline in the step summary. See run_util.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "cli/run_util.h"
#include "report/html.h"
#include "report/runfile.h"
#include "vcs/git.h"

#include "base/banned.h"

struct run_report {
	struct report_attempt *att;
	size_t n, cap;
	struct arena a;
	struct report_run run;
};

/* Now, in whole milliseconds: what run.tsv keeps, so a page drawn again is the same page. */
static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + floor((double)ts.tv_nsec / 1e6) / 1e3;
}

static const char *dup_or_null(struct arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

/* The repository: $GITHUB_REPOSITORY under Actions, else the root folder's name. */
static const char *repository(struct run_cmd *c)
{
	const char *gh = getenv("GITHUB_REPOSITORY");
	if (gh && *gh)
		return gh;
	const char *b = strrchr(c->root, '/');
	return b && b[1] ? b + 1 : c->root;
}

/* HEAD's commit (git), else $GITHUB_SHA, else NULL. */
static const char *commit(struct run_cmd *c, struct arena *a)
{
	struct vcs_repo *r = NULL;
	struct diag d = DIAG_INIT;
	const char *out = NULL;
	struct vcs_oid id;
	if (vcs_repo_open(&r, c->root, &d) == 0 && vcs_resolve_commit(r, "HEAD", &id, &d) == 0) {
		char hex[VCS_OID_HEXSZ];
		vcs_oid_hex(&id, hex);
		out = arena_strndup(a, hex, strlen(hex));
	}
	vcs_repo_free(r);
	diag_release(&d);
	const char *sha = getenv("GITHUB_SHA");
	return out ? out : sha && *sha ? sha : NULL;
}

static void add_opt(struct strbuf *sb, const char *opt, const char *value)
{
	if (sb->len)
		strbuf_addch(sb, ' ');
	strbuf_adds(sb, opt);
	if (value) {
		strbuf_addch(sb, ' ');
		strbuf_add_quoted(sb, value);
	}
}

/* The options that chose the tests, as they would be typed again. */
static const char *selection(struct run_cmd *c, struct arena *a)
{
	const struct run_cli_opts *o = c->o;
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < o->labels.n; i++)
		add_opt(&sb, "--label", o->labels.items[i]);
	if (o->no_always)
		add_opt(&sb, "--no-always", NULL);
	if (o->changed)
		add_opt(&sb, "--changed", NULL);
	if (o->all)
		add_opt(&sb, "--all", NULL);
	for (size_t i = 0; i < o->jobs.n; i++)
		add_opt(&sb, "--job", o->jobs.items[i]);
	for (size_t i = 0; i < o->tests.n; i++)
		add_opt(&sb, "--test", o->tests.items[i]);
	if (o->shard)
		add_opt(&sb, "--shard", o->shard);
	const char *s = dup_or_null(a, sb.buf ? sb.buf : "");
	strbuf_release(&sb);
	return s;
}

static const char *machine(struct run_cmd *c, struct arena *a)
{
	struct strbuf sb = STRBUF_INIT;
	if (*c->machine)
		strbuf_adds(&sb, c->machine);
	else
		strbuf_addf(&sb, "this machine, %u GPU%s", c->total, c->total == 1 ? "" : "s");
	if (c->o->docker)
		strbuf_addf(&sb, ", in containers (--docker %s)", c->o->docker);
	const char *s = dup_or_null(a, sb.buf);
	strbuf_release(&sb);
	return s;
}

void run_report_begin(struct run_cmd *c)
{
	struct run_report *r = xcalloc(1, sizeof(*r));
	c->report = r;
	struct report_run *run = &r->run;
	run->run_id = c->run_id;
	run->repository = repository(c);
	run->commit = commit(c, &r->a);
	run->selection = selection(c, &r->a);
	run->machine = machine(c, &r->a);
	run->gpus = c->total;
	run->started = wall_now();
	run->tail_lines = RUN_REPORT_TAIL_LINES;
	run->base_dir = c->log_dir;
	/* The tests as they stand before anything ran. */
	struct report_case *cases = arena_alloc(&r->a, (c->prep.n + 1) * sizeof(*cases));
	for (size_t i = 0; i < c->prep.n; i++) {
		const struct run_test *t = &c->prep.tests[i];
		bool runnable = t->argv != NULL;
		cases[i] = run_case_of(t); /* nothing has run: none of its results yet */
		cases[i].gpu_ids = "";
		cases[i].node = NULL;
		cases[i].attempts = 0;
		cases[i].exit_code = -1;
		cases[i].duration = 0;
		cases[i].log_path = NULL;
		if (runnable) {
			cases[i].status = REPORT_CANCELED;
			cases[i].message = "not run";
		} else if (!t->message) {
			cases[i].message = "not runnable";
		}
		if (report_mask_count(c->mask))
			run_mask_case(&cases[i], c->mask, &r->a);
	}
	run->cases = cases;
	run->ncases = c->prep.n;
	struct strbuf p = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	strbuf_addf(&p, "%s/%s", c->log_dir, REPORT_RUNFILE_NAME);
	if (report_runfile_write(p.buf, run, &d) < 0)
		fprintf(c->ctx->err,
		        "gpuci run: warning: %s (gpuci report could not draw this run again "
		        "were it to crash)\n",
		        d.msg.buf);
	strbuf_release(&p);
	diag_release(&d);
}

void run_report_attempt(struct run_cmd *c, size_t test, const struct run_test *t)
{
	struct run_report *r = c->report;
	if (!r)
		return;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->att = xrealloc(r->att, r->cap * sizeof(*r->att));
	}
	r->att[r->n++] = (struct report_attempt){
	    .test = test,
	    .attempt = t->attempts,
	    .status = t->status,
	    .start = t->started_at,
	    .end = t->started_at + (t->duration > 0 ? t->duration : 0),
	    .gpus = t->gpus,
	    .gpu_ids = dup_or_null(&r->a, t->gpu_ids ? t->gpu_ids : ""),
	    .node = dup_or_null(&r->a, t->node),
	    .log_path = dup_or_null(&r->a, t->log_path),
	};
}

/* The Mermaid timeline's share of what is left of the summary's 1 MiB. */
static size_t mermaid_room(size_t room)
{
	return room / 2 < REPORT_MERMAID_MAX ? room / 2 : REPORT_MERMAID_MAX;
}

void run_report_summary(struct run_cmd *c, struct strbuf *md, size_t room)
{
	struct strbuf mm = STRBUF_INIT;
	if (c->report)
		report_mermaid(&mm, &c->report->run, mermaid_room(room));
	if (mm.len > room)
		strbuf_reset(&mm);
	report_markdown_fit(md, room - mm.len);
	if (mm.len)
		strbuf_add(md, mm.buf, mm.len);
	strbuf_release(&mm);
}

void run_report_cases(struct run_cmd *c, const struct report_case *cases)
{
	if (!c->report)
		return;
	c->report->run.cases = cases;
	c->report->run.attempts = c->report->att;
	c->report->run.nattempts = c->report->n;
	c->report->run.ended = wall_now();
}

int run_report_write(struct run_cmd *c)
{
	struct run_report *r = c->report;
	if (!r)
		return 0;
	struct strbuf p = STRBUF_INIT, page = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	int rc = 0;
	strbuf_addf(&p, "%s/%s", c->log_dir, REPORT_RUNFILE_NAME);
	if (report_runfile_write(p.buf, &r->run, &d) < 0) {
		fprintf(c->ctx->err, "gpuci run: warning: %s\n", d.msg.buf);
		diag_release(&d);
		diag_init(&d);
	}
	strbuf_reset(&p);
	strbuf_addf(&p, "%s/report.html", c->log_dir);
	report_html(&page, &r->run);
	if (strbuf_failed(&page))
		rc = diag_set(&d, DIAG_SYSTEM, "%s: the report is too large to write", p.buf);
	else
		rc = fs_write_atomic(p.buf, page.buf, page.len, &d);
	if (rc < 0)
		fprintf(c->ctx->err, "gpuci run: warning: no report: %s\n", d.msg.buf);
	else
		fprintf(c->ctx->out, "report: %s\n", p.buf);
	strbuf_release(&p);
	strbuf_release(&page);
	diag_release(&d);
	return rc;
}

void run_report_free(struct run_cmd *c)
{
	struct run_report *r = c->report;
	if (!r)
		return;
	free(r->att);
	arena_release(&r->a);
	free(r);
	c->report = NULL;
}
