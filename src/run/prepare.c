/* The tests of a suite from a plan; see prepare.h. */
#include "run/prepare.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "docker/dockerrun.h"
#include "gha/expr.h"
#include "plan/plan.h"
#include "report/report.h"
#include "base/banned.h"

extern char **environ;

static bool test_selected(const struct run_prepare_opts *o, const char *test_file)
{
	if (!o->ntests)
		return true;
	const char *bare = strncmp(test_file, "tests/", 6) ? test_file : test_file + 6;
	for (size_t i = 0; i < o->ntests; i++)
		if (!fnmatch(o->tests[i], test_file, 0) || !fnmatch(o->tests[i], bare, 0))
			return true;
	return false;
}

static bool job_selected(const struct run_prepare_opts *o, const char *id)
{
	if (!o->njobs)
		return true;
	for (size_t i = 0; i < o->njobs; i++)
		if (!strcmp(o->jobs[i], id))
			return true;
	return false;
}

/* plan_test_path(), also refused when a symlink leads out of the repository. */
static char *test_path(const char *root, const char *f, struct strbuf *why)
{
	struct strbuf p = STRBUF_INIT;
	if (!plan_test_path(f, &p, why)) {
		strbuf_release(&p);
		return NULL;
	}
	struct strbuf full = STRBUF_INIT;
	strbuf_addf(&full, "%s/%s", root, p.buf);
	char *real = realpath(full.buf, NULL);
	strbuf_release(&full);
	if (real) {
		size_t rl = strlen(root);
		if (strncmp(real, root, rl) != 0 || real[rl] != '/') {
			strbuf_addf(why, "test_file '%s' leads out of the repository (a symlink)",
			            f);
			free(real);
			strbuf_release(&p);
			return NULL;
		}
		free(real);
	}
	return strbuf_detach(&p, NULL);
}

/*
 * The job's env for one entry: workflow env, then the job's, evaluated;
 * appended to envs as NUL-terminated "NAME=VALUE" strings, *count of them.
 */
static int job_env(const struct wf *w, const struct plan_job *pj, struct value entry,
                   struct value secrets, struct arena *a, struct strbuf *envs, size_t *count,
                   struct diag *d)
{
	struct value ctx = value_dict_sized(a, pj->ctx.dict->n + 4);
	for (size_t i = 0; i < pj->ctx.dict->n; i++)
		vdict_set(a, ctx.dict, pj->ctx.dict->keys[i], pj->ctx.dict->vals[i]);
	vdict_set(a, ctx.dict, value_str_static("matrix"), entry);
	vdict_set(a, ctx.dict, value_str_static("secrets"), secrets);
	struct value env = value_dict(a);
	vdict_set(a, ctx.dict, value_str_static("env"), env);
	const struct wf_node *levels[2] = {wf_env(w), pj->job->env};
	for (int l = 0; l < 2; l++) {
		const struct wf_node *m = levels[l];
		if (!m || m->kind != WF_MAP)
			continue;
		for (size_t i = 0; i < m->len; i++) {
			const struct wf_node *k = m->kv[2 * i], *v = m->kv[2 * i + 1];
			struct gha_ctx g = {.contexts = ctx, .status = GHA_SUCCESS};
			struct value val;
			if (v->kind != WF_SCALAR)
				continue;
			if (gha_interp(v->s, v->len, &v->loc, &g, a, &val, d) < 0)
				return -1;
			struct strbuf s = STRBUF_INIT;
			if (val.kind != V_STR || val.str.s != v->s)
				gha_to_str(val, &s);
			else
				strbuf_add(&s, v->s, v->len);
			vdict_set(a, env.dict, value_str_static(k->s), value_strbuf(a, &s));
			strbuf_addf(envs, "%s=%s", k->s, s.buf);
			strbuf_addch(envs, '\0');
			(*count)++;
			strbuf_release(&s);
		}
	}
	return 0;
}

/* Splits s on blanks, like bash's read -r -a, into a NULL-terminated array. */
static char **split_words(struct arena *a, const char *s)
{
	char **v = arena_alloc(a, (strlen(s) / 2 + 2) * sizeof(*v));
	size_t n = 0;
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		const char *b = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n')
			s++;
		if (s > b)
			v[n++] = arena_strndup(a, b, (size_t)(s - b));
	}
	v[n] = NULL;
	return v;
}

/* Refuses t with the printf-style reason, after "--docker job: ". */
__attribute__((format(printf, 2, 3))) static int refuse(struct run_test *t, const char *fmt, ...)
{
	struct strbuf m = STRBUF_INIT;
	strbuf_adds(&m, "--docker job: ");
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&m, fmt, ap);
	va_end(ap);
	t->status = REPORT_NOT_RUNNABLE;
	t->message = strbuf_detach(&m, NULL);
	return -1;
}

/* The step of job whose run: holds `docker run` (the Execute step); NULL: none, *many: several. */
static const struct wf_step *execute_step(const struct wf_job *job, bool *many)
{
	const struct wf_step *found = NULL;
	*many = false;
	for (size_t i = 0; i < job->nsteps; i++) {
		const char *r = wf_str(job->steps[i].run);
		if (!r || (!strstr(r, "docker run") && !strstr(r, "docker container run")))
			continue;
		if (found)
			*many = true;
		found = &job->steps[i];
	}
	return found;
}

/* Where a run: scalar's text starts: the next line for a block scalar. */
static void script_place(const char *file, const struct wf_node *n, unsigned *line, unsigned *col)
{
	*line = n->loc.line;
	*col = n->loc.col;
	if (n->plain || !n->len || n->s[n->len - 1] != '\n')
		return; /* a one-line scalar: its text is where the node is */
	struct strbuf text = STRBUF_INIT;
	struct diag ignore = DIAG_INIT;
	if (fs_read_all(file, &text, &ignore) == 0) {
		const char *s = text.buf;
		for (unsigned l = 1; s && l <= n->loc.line; l++) {
			s = strchr(s, '\n');
			s = s ? s + 1 : NULL;
		}
		if (s) {
			*line = n->loc.line + 1;
			/* The block's indent: that of its first line that is not blank. */
			while (s[strspn(s, " ")] == '\n')
				s += strspn(s, " ") + 1;
			*col = (unsigned)strspn(s, " ") + 1;
		}
	}
	strbuf_release(&text);
	diag_release(&ignore);
}

/* "file:line:col", col less the block's indent on the lines after the first. */
static void add_place(struct strbuf *m, const char *file, unsigned l, unsigned c, unsigned first,
                      unsigned indent)
{
	strbuf_addf(m, "%s:%u:%u", file, l, c + (l > first ? indent : 0));
}

/*
 * value with $GITHUB_WORKSPACE / ${GITHUB_WORKSPACE} as root, in a; NULL when
 * another expansion remains.
 */
static char *workspace_subst(const char *value, const char *root, struct arena *a)
{
	struct strbuf b = STRBUF_INIT;
	for (const char *v = value; *v;) {
		if (!strncmp(v, "${GITHUB_WORKSPACE}", 19)) {
			strbuf_adds(&b, root);
			v += 19;
		} else if (!strncmp(v, "$GITHUB_WORKSPACE", 17) &&
		           !(isalnum((unsigned char)v[17]) || v[17] == '_')) {
			strbuf_adds(&b, root);
			v += 17;
		} else if (*v == '$' || *v == '`') {
			strbuf_release(&b);
			return NULL;
		} else {
			strbuf_addch(&b, *v++);
		}
	}
	char *r = arena_strndup(a, b.buf ? b.buf : "", b.len);
	strbuf_release(&b);
	return r;
}

/*
 * --docker job without container: the image, options and setup of the
 * Execute step's `docker run` (docker/dockerrun.h), as run_prepare() says.
 */
static int from_execute_step(struct run_test *t, const struct wf *w, const struct wf_job *job,
                             const struct run_prepare_opts *o, struct arena *a)
{
	bool many;
	const struct wf_step *st = execute_step(job, &many);
	if (!st)
		return refuse(t, "job '%s' names no container image and no step runs `docker run`",
		              job->id);
	if (many)
		return refuse(t,
		              "job '%s': more than one step runs `docker run`; which one runs the "
		              "test cannot be told",
		              job->id);
	const char *file = wf_name(w);
	unsigned line, col;
	script_place(file, st->run, &line, &col);
	struct dockerrun *dr;
	struct diag d = DIAG_INIT;
	if (dockerrun_read(st->run->s, st->run->len, file, line, col, &dr, &d) < 0) {
		struct strbuf at = STRBUF_INIT;
		strbuf_addf(&at, "%s:%u:%u", d.loc.file ? d.loc.file : file, d.loc.line, d.loc.col);
		refuse(t, "%s: %s", at.buf, d.msg.buf ? d.msg.buf : "");
		strbuf_release(&at);
		diag_release(&d);
		return -1;
	}
	diag_release(&d);
	int rc = 0;
	struct strbuf m = STRBUF_INIT;
	/* dockerrun counts columns of later lines in the text: a block's indent is stripped. */
	unsigned indent = line > st->run->loc.line ? col - 1 : 0;
	add_place(&m, file, dr->image_line, dr->image_col, line, indent);
	t->docker_image = arena_strndup(a, dr->image, strlen(dr->image));
	t->docker_image_from = arena_strndup(a, m.buf, m.len);
	char **opts = arena_alloc(a, (dr->nkeep + 1) * sizeof(*opts));
	char **from = arena_alloc(a, (dr->nkeep + 1) * sizeof(*from));
	size_t k = 0;
	for (size_t i = 0; i < dr->nkeep && !rc; i++) {
		const struct dr_opt *op = &dr->keep[i];
		strbuf_reset(&m);
		add_place(&m, file, op->line, op->col, line, indent);
		if (op->flags & DR_MATRIX)
			continue; /* gpuci sets the test's own variables itself */
		char *v = NULL;
		if (op->value) {
			v = op->flags & DR_GHA ? NULL : workspace_subst(op->value, o->root, a);
			if (!v) {
				rc = refuse(t, "%s: %s: a %s that gpuci cannot know before the run",
				            m.buf, op->value,
				            op->flags & DR_GHA ? "GitHub expression"
				                               : "shell expansion");
				break;
			}
			/* gpuci mounts the repository and works in it itself. */
			struct strbuf rr = STRBUF_INIT;
			strbuf_addf(&rr, "%s:%s", o->root, o->root);
			bool dup = (!strcmp(op->name, "--volume") && !strcmp(v, rr.buf)) ||
			           (!strcmp(op->name, "--workdir") && !strcmp(v, o->root));
			strbuf_release(&rr);
			if (dup)
				continue;
		}
		struct strbuf word = STRBUF_INIT;
		strbuf_adds(&word, op->name);
		if (v)
			strbuf_addf(&word, "=%s", v);
		opts[k] = arena_strndup(a, word.buf, word.len);
		from[k++] = arena_strndup(a, m.buf, m.len);
		strbuf_release(&word);
	}
	opts[k] = from[k] = NULL;
	t->docker_opts = opts;
	t->docker_opts_from = from;
	if (!rc && !o->docker_setup) {
		char **setup = arena_alloc(a, (dr->nsetup + 1) * sizeof(*setup));
		for (size_t i = 0; i < dr->nsetup && !rc; i++) {
			if (strstr(dr->setup[i].text, "${{")) {
				strbuf_reset(&m);
				add_place(&m, file, dr->setup[i].line, dr->setup[i].col, line,
				          indent);
				rc =
				    refuse(t,
				           "%s: setup command '%s' holds a GitHub expression; give "
				           "--docker-setup CMD",
				           m.buf, dr->setup[i].text);
			}
			setup[i] = arena_strndup(a, dr->setup[i].text, strlen(dr->setup[i].text));
		}
		setup[dr->nsetup] = NULL;
		t->docker_setup = setup;
	}
	strbuf_release(&m);
	dockerrun_free(dr);
	return rc;
}

/* Appends opt with its origin to t's options (NULL-terminated, in a). */
static void add_docker_opt(struct run_test *t, const char *opt, const char *from, struct arena *a)
{
	size_t n = 0;
	while (t->docker_opts && t->docker_opts[n])
		n++;
	char **opts = arena_alloc(a, (n + 2) * sizeof(*opts));
	char **froms = arena_alloc(a, (n + 2) * sizeof(*froms));
	for (size_t j = 0; j < n; j++) {
		opts[j] = t->docker_opts[j];
		froms[j] = t->docker_opts_from ? t->docker_opts_from[j] : (char *)"";
	}
	opts[n] = arena_strndup(a, opt, strlen(opt));
	froms[n] = arena_strndup(a, from, strlen(from));
	opts[n + 1] = froms[n + 1] = NULL;
	t->docker_opts = opts;
	t->docker_opts_from = froms;
}

/* The job's container: options, less --gpus (gpuci names the leased devices). */
static void container_opts(struct run_test *t, const struct wf *w, const struct wf_job *job,
                           struct arena *a)
{
	const struct wf_node *c = wf_get(job->node, "container");
	const struct wf_node *on = wf_get(c, "options");
	const char *opts = wf_str(on);
	struct strbuf m = STRBUF_INIT;
	strbuf_addf(&m, "%s:%u:%u", wf_name(w), c ? c->loc.line : 0, c ? c->loc.col : 0);
	t->docker_image_from = arena_strndup(a, m.buf, m.len);
	strbuf_reset(&m);
	if (on)
		strbuf_addf(&m, "%s:%u:%u container options", wf_name(w), on->loc.line,
		            on->loc.col);
	char **words = split_words(a, opts ? opts : "");
	for (size_t j = 0; words[j]; j++) {
		if (!strcmp(words[j], "--gpus")) {
			j += words[j + 1] != NULL;
			continue;
		}
		if (!strncmp(words[j], "--gpus=", 7))
			continue;
		add_docker_opt(t, words[j], m.buf, a);
	}
	strbuf_release(&m);
}

/* Whether some option of t is name=value (or name value), value matched by prefix. */
static bool has_opt(const struct run_test *t, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	for (size_t j = 0; t->docker_opts && t->docker_opts[j]; j++) {
		const char *o = t->docker_opts[j];
		if (!strncmp(o, name, nl) && o[nl] == '=' && !strncmp(o + nl + 1, value, vl))
			return true;
		if (!strcmp(o, name) && t->docker_opts[j + 1] &&
		    !strncmp(t->docker_opts[j + 1], value, vl))
			return true;
	}
	return false;
}

/*
 * The lock files' folder, seen inside at the same path, so that gpuci
 * lock in the container and gpuci outside exclude each other: --ipc=host
 * shows the host's /dev/shm; any other folder is mounted.
 */
static void lock_mount(struct run_test *t, const char *dir, struct arena *a)
{
	bool shm = !strncmp(dir, "/dev/shm", 8) && (!dir[8] || dir[8] == '/');
	if (shm && has_opt(t, "--ipc", "host"))
		return;
	for (size_t j = 0; t->docker_opts && t->docker_opts[j]; j++) {
		const char *o = t->docker_opts[j], *v = NULL;
		if (!strncmp(o, "--volume=", 9))
			v = o + 9;
		else if ((!strcmp(o, "-v") || !strcmp(o, "--volume")) && t->docker_opts[j + 1])
			v = t->docker_opts[j + 1];
		const char *dst = v ? strchr(v, ':') : NULL;
		size_t dl = strlen(dir);
		/* Mounted at that place already (by the job or a --docker-opt). */
		if (dst && !strncmp(dst + 1, dir, dl) && (!dst[1 + dl] || dst[1 + dl] == ':'))
			return;
	}
	struct strbuf v = STRBUF_INIT;
	strbuf_addf(&v, "--volume=%s:%s", dir, dir);
	add_docker_opt(t, v.buf, "gpuci: the lock files' folder", a);
	strbuf_release(&v);
}

/*
 * Docker mode for one test, the image and options from the first of:
 * --docker IMAGE; the job's container: (image, options without --gpus);
 * the job's Execute step (from_execute_step). Then each --docker-opt, the
 * lock files' folder where it is not visible, the setup, and the job
 * env's names (jobenv[0..cnt)) to pass with -e.
 */
static int docker_setup(struct run_test *t, const struct wf *w, const struct wf_job *job,
                        const struct run_prepare_opts *o, char *const *jobenv, size_t cnt,
                        struct arena *a)
{
	t->docker_opts = t->docker_opts_from = NULL;
	if (strcmp(o->docker, "job") != 0) {
		t->docker_image = o->docker;
		t->docker_image_from = "--docker";
	} else if (wf_str(job->image)) {
		t->docker_image = wf_str(job->image);
		container_opts(t, w, job, a);
	} else if (from_execute_step(t, w, job, o, a) < 0) {
		return -1;
	}
	if (o->ndocker_opts) {
		struct dockerrun *dr;
		struct diag d = DIAG_INIT;
		if (dockerrun_read_opts(o->docker_opts, o->ndocker_opts, "--docker-opt", &dr, &d) <
		    0) {
			int rc = refuse(t, "%s", d.msg.buf ? d.msg.buf : "");
			diag_release(&d);
			return rc;
		}
		for (size_t i = 0; i < dr->nkeep; i++) {
			struct strbuf word = STRBUF_INIT;
			strbuf_adds(&word, dr->keep[i].name);
			if (dr->keep[i].value)
				strbuf_addf(&word, "=%s", dr->keep[i].value);
			add_docker_opt(t, word.buf, "--docker-opt", a);
			strbuf_release(&word);
		}
		dockerrun_free(dr);
	}
	if (o->lock_dir)
		lock_mount(t, o->lock_dir, a);
	if (o->docker_setup) {
		char **setup = arena_alloc(a, 2 * sizeof(*setup));
		setup[0] = *o->docker_setup ? (char *)o->docker_setup : NULL;
		setup[1] = NULL;
		t->docker_setup = setup;
	}
	char **names = arena_alloc(a, (cnt + 1) * sizeof(*names));
	for (size_t c = 0; c < cnt; c++)
		names[c] = arena_strndup(a, jobenv[c], strcspn(jobenv[c], "="));
	names[cnt] = NULL;
	t->docker_env = names;
	return 0;
}

const char *run_find_python(const char *path)
{
	for (const char *s = path; s && *s;) {
		const char *e = strchr(s, ':');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		struct strbuf c = STRBUF_INIT;
		strbuf_addf(&c, "%.*s/python", (int)len, s);
		bool ok = access(c.buf, X_OK) == 0;
		strbuf_release(&c);
		if (ok)
			return "python";
		s += len + (e ? 1 : 0);
	}
	return "python3";
}

/*
 * The changed-tests matrix is JSON, which cannot hold a path that is not
 * UTF-8: its test_file has U+FFFD for the bad bytes. The test is given
 * the real path: the changed file whose JSON is the entry's (with or
 * without "tests/", as the legacy detector wrote it). NULL when none is;
 * *ambiguous when more than one is.
 */
const char *run_changed_real_path(const struct plan *p, const char *test_file, bool *ambiguous)
{
	*ambiguous = false;
	if (!p->changed_done || !strstr(test_file, "\xEF\xBF\xBD"))
		return NULL;
	struct strbuf got = STRBUF_INIT;
	size_t wlen = strlen(test_file);
	const char *found = NULL;
	for (size_t i = 0; i < p->changed.n; i++) {
		const char *path = p->changed.tests[i].path;
		if (!path || !p->changed.tests[i].path_not_utf8)
			continue;
		for (int strip = 0; strip < 2; strip++) {
			const char *q =
			    strip ? (strncmp(path, "tests/", 6) == 0 ? path + 6 : NULL) : path;
			if (!q)
				continue;
			/* What the JSON reads as: U+FFFD for each byte not UTF-8. */
			strbuf_reset(&got);
			for (const unsigned char *c = (const unsigned char *)q; *c;) {
				size_t n = strbuf_utf8_len(c);
				strbuf_add(&got, n ? (const char *)c : "\xEF\xBF\xBD", n ? n : 3);
				c += n ? n : 1;
			}
			if (got.len == wlen && !memcmp(got.buf, test_file, wlen)) {
				if (found && found != q)
					*ambiguous = true;
				found = q;
			}
		}
	}
	strbuf_release(&got);
	return *ambiguous ? NULL : found;
}

/* NAME's value in env, or NULL. */
static const char *env_get(char *const *env, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, len) && env[i][len] == '=')
			return env[i] + len + 1;
	return NULL;
}

/* base, then jobenv[0..cnt) each replacing an inherited variable of its name. */
static char **merge_env(struct arena *a, char *const *base, char *const *jobenv, size_t cnt)
{
	size_t m = 0;
	while (base && base[m])
		m++;
	char **env = arena_alloc(a, (m + cnt + 1) * sizeof(*env));
	for (size_t q = 0; q < m; q++)
		env[q] = base[q];
	for (size_t c = 0; c < cnt; c++) {
		const char *kv = jobenv[c];
		size_t klen = strcspn(kv, "="), q = 0;
		for (; q < m; q++)
			if (!strncmp(env[q], kv, klen) && env[q][klen] == '=')
				break;
		env[q] = (char *)kv;
		m += q == m;
	}
	env[m] = NULL;
	return env;
}

/* One entry as a test of out, unless the selection leaves it out; -1: its env failed. */
static int entry_test(struct run_prepared *out, const struct wf *w, const struct plan *p,
                      const struct plan_job *pj, struct value e, const char *variant,
                      const struct run_prepare_opts *o, const char *python, struct value secrets,
                      size_t *cap, struct diag *d)
{
	struct arena *a = &out->arena;
	char *const *base = o->env ? o->env : environ;
	struct value f = plan_entry_fields(e, "test_file");
	struct value *tf =
	    f.kind == V_DICT ? vdict_get(f.dict, value_str_static("test_file")) : NULL;
	if (!tf || tf->kind != V_STR || !test_selected(o, tf->str.s))
		return 0;
	if (out->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		out->tests = xrealloc(out->tests, *cap * sizeof(*out->tests));
	}
	struct run_test *t = &out->tests[out->n++];
	memset(t, 0, sizeof(*t));
	t->job = pj->job->id;
	t->test_file = tf->str.s;
	bool ambiguous;
	const char *real = run_changed_real_path(p, t->test_file, &ambiguous);
	if (real)
		t->test_file = real;
	struct value *ta = vdict_get(f.dict, value_str_static("test_args"));
	struct strbuf args = STRBUF_INIT;
	if (ta && ta->kind != V_NONE)
		value_str_into(*ta, &args);
	t->test_args = arena_strndup(a, args.buf ? args.buf : "", args.len);
	strbuf_release(&args);
	t->gpus = (unsigned)plan_entry_gpus(e);
	struct strbuf disp = STRBUF_INIT;
	plan_entry_describe(e, &disp);
	t->variant = variant;
	if (t->variant)
		strbuf_addf(&disp, " %s", t->variant);
	/* Shown in every line and report: one line, whatever it holds. */
	struct strbuf shown = STRBUF_INIT;
	strbuf_add_shown(&shown, disp.buf ? disp.buf : "");
	t->display = arena_strndup(a, shown.buf, shown.len);
	strbuf_release(&shown);
	strbuf_reset(&disp);
	plan_entry_identity(e, &disp);
	t->identity = arena_strndup(a, disp.buf, disp.len);
	strbuf_release(&disp);
	/* argv: python path args..., args split on blanks (read -r -a). */
	struct strbuf why = STRBUF_INIT;
	char *path = test_path(o->root, t->test_file, &why);
	char **words = split_words(a, t->test_args);
	size_t nw = 0;
	while (words[nw])
		nw++;
	char **av = arena_alloc(a, (nw + 3) * sizeof(*av));
	av[0] = (char *)python;
	av[1] = path ? arena_strndup(a, path, strlen(path)) : NULL;
	free(path);
	memcpy(av + 2, words, (nw + 1) * sizeof(*av));
	t->argv = av;
	if (ambiguous) {
		strbuf_reset(&why);
		strbuf_addf(&why,
		            "test_file '%s': more than one changed file is not UTF-8 and reads "
		            "so; which one is meant cannot be told",
		            t->test_file);
		av[1] = NULL;
	}
	if (!av[1]) {
		t->status = REPORT_NOT_RUNNABLE;
		t->message = strbuf_detach(&why, NULL);
		t->argv = NULL;
		return 0;
	}
	strbuf_release(&why);
	/* env: the base, then the job's evaluated for this entry. */
	strbuf_reset(&out->envs);
	size_t cnt = 0;
	if (job_env(w, pj, e, secrets, a, &out->envs, &cnt, d) < 0)
		return -1;
	char **jobenv = arena_alloc(a, (cnt + 1) * sizeof(*jobenv));
	const char *kv = out->envs.buf;
	for (size_t c = 0; c < cnt; c++) {
		size_t len = strlen(kv);
		jobenv[c] = arena_strndup(a, kv, len);
		kv += len + 1;
	}
	jobenv[cnt] = NULL;
	t->env = merge_env(a, base, jobenv, cnt);
	if (o->docker && docker_setup(t, w, pj->job, o, jobenv, cnt, a) < 0)
		t->argv = NULL; /* refused: its message says why */
	return 0;
}

int run_prepare(struct run_prepared *out, const struct wf *w, const struct plan *p,
                const struct run_prepare_opts *o, struct diag *d)
{
	*out =
	    (struct run_prepared){.not_run = STRBUF_INIT, .arena = ARENA_INIT, .envs = STRBUF_INIT};
	struct arena *a = &out->arena;
	char *const *base = o->env ? o->env : environ;
	struct value secrets = value_dict(a);
	for (size_t i = 0; i < o->nsecrets; i++) {
		const char *v = env_get(base, o->secrets[i]);
		if (v)
			vdict_set(a, secrets.dict, value_str_static(o->secrets[i]),
			          value_str(a, v, strlen(v)));
	}
	const char *python = o->python ? o->python : run_find_python(env_get(base, "PATH"));
	size_t cap = 0;
	/* Every entry with a test_file of every selected job that runs. */
	for (size_t ji = 0; ji < p->njobs; ji++) {
		const struct plan_job *pj = &p->jobs[ji];
		if (pj->state != PLAN_RUNS || !job_selected(o, pj->job->id))
			continue;
		if (o->changed &&
		    !(pj->job->nneeds && plan_job_detects(wf_job_find(w, pj->job->needs[0]))))
			continue;
		if (pj->always)
			continue; /* always on, left out */
		/* Jobs that run but that gpuci run cannot run: said, not dropped. */
		const char *cannot = !pj->matrix_known ? pj->why : plan_job_not_run(pj);
		if (cannot && !plan_job_detects(pj->job))
			strbuf_addf(&out->not_run, "  %-22s not run by gpuci run: %s\n",
			            pj->job->id, cannot);
		if (cannot)
			continue;
		const char **variant = arena_alloc(a, (pj->nentries + 1) * sizeof(*variant));
		plan_entry_variants(pj->entries, pj->nentries, a, variant);
		for (size_t k = 0; k < pj->nentries; k++)
			if (entry_test(out, w, p, pj, pj->entries[k], variant[k], o, python,
			               secrets, &cap, d) < 0)
				return -1;
	}
	return 0;
}

void run_prepared_release(struct run_prepared *pr)
{
	for (size_t i = 0; i < pr->n; i++)
		run_test_release(&pr->tests[i]);
	free(pr->tests);
	pr->tests = NULL;
	pr->n = 0;
	strbuf_release(&pr->not_run);
	strbuf_release(&pr->envs);
	arena_release(&pr->arena);
}
