#include "report/runfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/fs.h"
#include "base/xalloc.h"

#include "base/banned.h"

struct report_runfile {
	struct report_run run;
	struct arena a;
	struct report_case *cases;
	struct report_attempt *attempts;
	size_t ccap, acap;
};

static void field(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '\t');
	for (; s && *s; s++)
		switch (*s) {
		case '\\':
			strbuf_adds(sb, "\\\\");
			break;
		case '\t':
			strbuf_adds(sb, "\\t");
			break;
		case '\n':
			strbuf_adds(sb, "\\n");
			break;
		case '\r':
			strbuf_adds(sb, "\\r");
			break;
		default:
			strbuf_addch(sb, *s);
		}
}

static void text(struct strbuf *sb, const char *key, const char *value)
{
	if (!value)
		return;
	strbuf_adds(sb, key);
	field(sb, value);
	strbuf_addch(sb, '\n');
}

int report_runfile_write(const char *path, const struct report_run *r, struct diag *d)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "gpuci-run\t1\n");
	text(&sb, "run_id", r->run_id);
	text(&sb, "repository", r->repository);
	text(&sb, "commit", r->commit);
	text(&sb, "selection", r->selection);
	text(&sb, "machine", r->machine);
	strbuf_addf(&sb, "gpus\t%u\ntail_lines\t%zu\nstarted\t%.3f\nended\t%.3f\n", r->gpus,
	            r->tail_lines, r->started, r->ended);
	for (size_t i = 0; i < r->ncases; i++) {
		const struct report_case *c = &r->cases[i];
		char num[64];
		strbuf_adds(&sb, "case");
		field(&sb, c->job);
		field(&sb, c->test_file);
		field(&sb, c->test_args);
		field(&sb, c->variant);
		snprintf(num, sizeof(num), "%u", c->gpus);
		field(&sb, num);
		field(&sb, c->gpu_ids);
		field(&sb, c->node);
		field(&sb, report_status_name(c->status));
		strbuf_addf(&sb, "\t%u\t%d\t%.3f", c->attempts, c->exit_code, c->duration);
		field(&sb, c->log_path);
		field(&sb, c->message);
		strbuf_addch(&sb, '\n');
	}
	for (size_t i = 0; i < r->nattempts; i++) {
		const struct report_attempt *a = &r->attempts[i];
		strbuf_addf(&sb, "attempt\t%zu\t%u", a->test, a->attempt);
		field(&sb, report_status_name(a->status));
		strbuf_addf(&sb, "\t%.3f\t%.3f\t%u", a->start, a->end, a->gpus);
		field(&sb, a->gpu_ids);
		field(&sb, a->node);
		field(&sb, a->log_path);
		strbuf_addch(&sb, '\n');
	}
	if (strbuf_failed(&sb)) {
		strbuf_release(&sb);
		return diag_set(d, DIAG_SYSTEM, "%s: the run's description is too large", path);
	}
	int rc = fs_write_atomic(path, sb.buf, sb.len, d);
	strbuf_release(&sb);
	return rc;
}

/* Splits line (NUL-terminated, changed in place) at tabs, unescaping; returns how many. */
static size_t split(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *w = line, *p = line;
	f[n++] = w;
	for (; *p; p++) {
		if (*p == '\t') {
			*w++ = '\0';
			if (n == max)
				return n + 1; /* too many */
			f[n++] = w;
		} else if (*p == '\\' && p[1]) {
			p++;
			*w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return n;
}

static bool num_u(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return *s >= '0' && *s <= '9' && !*end && !errno;
}

static bool num_d(const char *s, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	return *s && !*end && !errno && *out == *out;
}

static const char *keep(struct report_runfile *f, const char *s, bool null_if_empty)
{
	if (null_if_empty && !*s)
		return NULL;
	return arena_strndup(&f->a, s, strlen(s));
}

/* One record; false when it breaks the format. */
static bool record(struct report_runfile *f, char **v, size_t n)
{
	struct report_run *r = &f->run;
	unsigned long long u, u2;
	double x, y;
	const char *k = v[0];
	if (!strcmp(k, "case")) {
		enum report_status st;
		long long code;
		char *end;
		if (n != 14 || !num_u(v[5], &u) || !report_status_parse(v[8], &st) ||
		    !num_u(v[9], &u2) || !num_d(v[11], &x))
			return false;
		code = strtoll(v[10], &end, 10);
		if (!*v[10] || *end)
			return false;
		if (r->ncases == f->ccap) {
			f->ccap = f->ccap ? f->ccap * 2 : 16;
			f->cases = xrealloc(f->cases, f->ccap * sizeof(*f->cases));
		}
		f->cases[r->ncases++] = (struct report_case){
		    .job = keep(f, v[1], false),
		    .test_file = keep(f, v[2], false),
		    .test_args = keep(f, v[3], false),
		    .variant = keep(f, v[4], true),
		    .gpus = (unsigned)u,
		    .gpu_ids = keep(f, v[6], false),
		    .node = keep(f, v[7], true),
		    .status = st,
		    .attempts = (unsigned)u2,
		    .exit_code = (int)code,
		    .duration = x,
		    .log_path = keep(f, v[12], true),
		    .message = keep(f, v[13], false),
		};
	} else if (!strcmp(k, "attempt")) {
		enum report_status st;
		unsigned long long g;
		if (n != 10 || !num_u(v[1], &u) || !num_u(v[2], &u2) ||
		    !report_status_parse(v[3], &st) || !num_d(v[4], &x) || !num_d(v[5], &y) ||
		    !num_u(v[6], &g))
			return false;
		if (r->nattempts == f->acap) {
			f->acap = f->acap ? f->acap * 2 : 16;
			f->attempts = xrealloc(f->attempts, f->acap * sizeof(*f->attempts));
		}
		f->attempts[r->nattempts++] = (struct report_attempt){
		    .test = (size_t)u,
		    .attempt = (unsigned)u2,
		    .status = st,
		    .start = x,
		    .end = y,
		    .gpus = (unsigned)g,
		    .gpu_ids = keep(f, v[7], false),
		    .node = keep(f, v[8], true),
		    .log_path = keep(f, v[9], true),
		};
	} else if (n == 2) {
		static const char *const texts[] = {"run_id", "repository", "commit", "selection",
		                                    "machine"};
		const char **dst[] = {&r->run_id, &r->repository, &r->commit, &r->selection,
		                      &r->machine};
		for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
			if (!strcmp(k, texts[i]))
				*dst[i] = keep(f, v[1], false);
		if (!strcmp(k, "gpus") || !strcmp(k, "tail_lines")) {
			if (!num_u(v[1], &u))
				return false;
			if (!strcmp(k, "gpus"))
				r->gpus = (unsigned)u;
			else
				r->tail_lines = (size_t)u;
		}
		if (!strcmp(k, "started") || !strcmp(k, "ended")) {
			if (!num_d(v[1], &x))
				return false;
			if (!strcmp(k, "started"))
				r->started = x;
			else
				r->ended = x;
		}
	}
	return true;
}

int report_runfile_read(struct report_runfile **out, const char *path, struct diag *d)
{
	*out = NULL;
	struct strbuf sb = STRBUF_INIT;
	if (fs_read_all(path, &sb, d) < 0)
		return -1;
	struct report_runfile *f = xcalloc(1, sizeof(*f));
	char *p = sb.buf ? sb.buf : (char *)"";
	size_t line = 0;
	int rc = 0;
	while (*p) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		line++;
		char *v[16];
		size_t n = split(p, v, 16);
		bool ok = line == 1 ? n == 2 && !strcmp(v[0], "gpuci-run") && !strcmp(v[1], "1")
		                    : n <= 16 && record(f, v, n);
		if (!ok) {
			rc = diag_set(
			    d, DIAG_INPUT, "%s:%zu:1: %s", path, line,
			    line == 1 ? "not a gpuci run's description (no \"gpuci-run 1\" line)"
			              : "a record gpuci cannot read");
			break;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (!rc && !line)
		rc = diag_set(d, DIAG_INPUT, "%s:1:1: empty: not a gpuci run's description", path);
	strbuf_release(&sb);
	if (rc) {
		report_runfile_free(f);
		return -1;
	}
	for (size_t i = 0; i < f->run.nattempts; i++)
		if (f->attempts[i].test >= f->run.ncases) {
			size_t test = f->attempts[i].test;
			report_runfile_free(f);
			return diag_set(d, DIAG_INPUT,
			                "%s: an attempt of test %zu, which it does not list", path,
			                test);
		}
	f->run.cases = f->cases;
	f->run.attempts = f->attempts;
	*out = f;
	return 0;
}

const struct report_run *report_runfile_run(const struct report_runfile *f)
{
	return &f->run;
}

void report_runfile_free(struct report_runfile *f)
{
	if (!f)
		return;
	arena_release(&f->a);
	free(f->cases);
	free(f->attempts);
	free(f);
}
