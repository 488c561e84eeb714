/* newtest: see newtest.h. */
#include "scaffold/newtest.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "plan/plan.h"
#include "py/pyread.h"
#include "scaffold/registry.h"
#include "tpl/tpl.h"
#include "value/value.h"
#include "wf/gen.h"
#include "wf/model.h"
#include "base/banned.h"

#define USER_TEMPLATE "tests/ci/test_template.py"

const char newtest_default_template[] =
    "\"\"\"TODO: what << name >> checks<< ', with ' ~ model if model >>.\n"
    "\n"
    "<% if job %>CI: job << job >><< ' (label ' ~ label ~ ')' if label >>. Here, as CI runs it:\n"
    "    gpuci run --job << job >> --test << name >>.py\n"
    "<% else %>CI: run-ci-changed, until it is registered in a job\n"
    "(gpuci new-test << name >> --existing --job JOB). Here, as CI runs it:\n"
    "    gpuci run --changed --test << name >>.py\n"
    "<% endif %>\"\"\"\n"
    "import os\n"
    "import sys\n"
    "\n"
    "MODEL_NAME = << model | tojson if model else 'None  # TODO: the model it trains' >>\n"
    "NUM_GPUS = << num_gpus >>\n"
    "\n"
    "\n"
    "def prepare():\n"
    "    \"\"\"Fetch what the test needs (model, datasets); runs before execute().\"\"\"\n"
    "    # U.exec_command(f\"hf download Qwen/{MODEL_NAME} --local-dir "
    "/root/models/{MODEL_NAME}\")\n"
    "    pass\n"
    "\n"
    "\n"
    "def execute():\n"
    "    \"\"\"Train or evaluate; the CI entry's test_args are in sys.argv[1:].\"\"\"\n"
    "    args = sys.argv[1:]\n"
    "    # Build the training command line and call U.execute_train(...).\n"
    "    raise NotImplementedError(f\"{__file__}: write execute() (test_args: {args})\")\n"
    "\n"
    "\n"
    "if __name__ == \"__main__\":\n"
    "    prepare()\n"
    "    for proxy_var in (\"http_proxy\", \"https_proxy\", \"HTTP_PROXY\", \"HTTPS_PROXY\"):\n"
    "        os.environ.pop(proxy_var, None)\n"
    "    execute()\n";

static const char *astrf(struct arena *a, const struct strbuf *s)
{
	return arena_strndup(a, s->buf, s->len);
}

/*
 * Why byte c may not be in a test's name, NULL when it may. A name must be
 * safe as a file name, inside the entry's quoted Python string in the
 * template (and the YAML and JSON rendered from it), and as one shell word
 * (CI runs `python3 tests/FILE`, gpuci run takes it as a --test glob).
 */
static const char *refused(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    strchr("_.-+@=,%/", c))
		return NULL;
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return "whitespace ends a shell word";
	if (c < 0x20 || c == 0x7f)
		return "a control character";
	if (c == '\'' || c == '"')
		return "a quote ends the entry's string in the template";
	if (c == '\\')
		return "a backslash is an escape in Python, YAML and the shell (and a Windows path "
		       "separator: folders are separated by /)";
	if (c >= 0x80)
		return "only ASCII: other characters may look alike, or be spaces";
	if (strchr("*?[]", c))
		return "a glob in the shell and in gpuci run --test";
	if (c == ':')
		return "Windows file names cannot have it";
	return "special to the shell";
}

/* Appends name to sb, control and non-ASCII bytes as \xNN. */
static void add_printable(struct strbuf *sb, const char *name)
{
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		if (*c < 0x20 || *c >= 0x7f)
			strbuf_addf(sb, "\\x%02x", *c);
		else
			strbuf_addch(sb, (char)*c);
}

static int name_error(struct diag *d, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A DIAG_USAGE "test name 'NAME': ..." error; returns -1. */
static int name_error(struct diag *d, const char *name, const char *fmt, ...)
{
	diag_set(d, DIAG_USAGE, "test name '");
	add_printable(&d->msg, name);
	strbuf_adds(&d->msg, "': ");
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&d->msg, fmt, ap);
	va_end(ap);
	return -1;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && !memcmp(s + n - k, suffix, k);
}

/*
 * NAME to tests/[dir/]test_NAME.py and the entry's spelling
 * ([dir/]test_NAME.py). A bare NAME (no '/') and a path whose last part has
 * no .py are completed: test_ in front unless there, .py after. A path to
 * a file ([tests/]dir/test_x.py) is taken as it is, and must be test_*.py.
 */
static int normalize(struct newtest *t, const char *name, struct diag *d)
{
	const char *s = name;
	for (const char *c = s; *c; c++) {
		const char *why = refused((unsigned char)*c);
		if (!why)
			continue;
		size_t at = (size_t)(c - s) + 1;
		unsigned char b = (unsigned char)*c;
		if (b == ' ')
			return name_error(d, name, "a space (character %zu) is refused: %s", at,
			                  why);
		if (b > 0x20 && b < 0x7f)
			return name_error(d, name,
			                  b == '\'' ? "\"%c\" (character %zu) is refused: %s"
			                            : "'%c' (character %zu) is refused: %s",
			                  b, at, why);
		return name_error(d, name, "byte 0x%02x (at %zu) is refused: %s", b, at, why);
	}
	if (!*s)
		return name_error(d, name, "the name is empty");
	if (!strncmp(s, "./", 2))
		s += 2;
	if (*s == '/')
		return name_error(d, name,
		                  "give the path from the repository's top directory (tests/...), "
		                  "not an absolute path");
	bool path = strchr(s, '/') != NULL;
	if (!strncmp(s, "tests/", 6))
		s += 6;
	size_t n = strlen(s);
	if (!n || s[n - 1] == '/')
		return name_error(d, name, "that is a folder: name the test in it");
	for (const char *c = s; *c;) {
		size_t k = strcspn(c, "/");
		if (k == 0)
			return name_error(d, name, "an empty folder name (//)");
		if ((k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.'))
			return name_error(d, name,
			                  "'%.*s' is refused: a test is a file under tests/, named "
			                  "from there down",
			                  (int)k, c);
		c += k + (c[k] == '/');
	}
	const char *base = strrchr(s, '/') ? strrchr(s, '/') + 1 : s;
	size_t dir = (size_t)(base - s), blen = n - dir;
	struct strbuf rel = STRBUF_INIT;
	strbuf_add(&rel, s, dir);
	if (path && ends_with(base, blen, ".py")) {
		/* A file: as it is. */
		if (strncmp(base, "test_", 5) != 0 || blen <= 8) {
			strbuf_release(&rel);
			return name_error(d, name,
			                  "not a test file: gpuci runs files named test_*.py (give "
			                  "NAME for test_NAME.py)");
		}
		strbuf_add(&rel, base, blen);
	} else {
		if (ends_with(base, blen, ".py"))
			blen -= 3;
		if (strncmp(base, "test_", 5) != 0)
			strbuf_adds(&rel, "test_");
		else if (blen == 5)
			blen = 0;
		if (blen == 0) {
			strbuf_release(&rel);
			return name_error(d, name, "the name after test_ is empty");
		}
		strbuf_add(&rel, base, blen);
		strbuf_adds(&rel, ".py");
	}
	int rc = 0;
	t->test_file = astrf(&t->arena, &rel);
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "tests/%s", rel.buf);
	t->test_path = astrf(&t->arena, &p);
	strbuf_release(&p);
	const char *slash = strrchr(t->test_path, '/');
	struct strbuf folder = STRBUF_INIT;
	strbuf_add(&folder, t->test_path, (size_t)(slash - t->test_path));
	struct stat st;
	if (stat(folder.buf, &st) < 0 || !S_ISDIR(st.st_mode))
		rc = diag_set(d, DIAG_USAGE,
		              "%s/ is not a folder here: run gpuci new-test from the "
		              "repository's top directory",
		              folder.buf);
	strbuf_release(&folder);
	strbuf_release(&rel);
	return rc;
}

static void set_str(struct arena *a, struct value vars, const char *k, const char *v)
{
	vdict_set(a, vars.dict, value_str_static(k),
	          v ? value_str(a, v, strlen(v)) : value_str_static(""));
}

/* The test file's text, checked to be a module that sets NUM_GPUS = gpus. */
static int render_test(struct newtest *t, const struct newtest_opts *o, const char *label,
                       struct diag *d)
{
	struct strbuf src = STRBUF_INIT;
	struct diag ud = DIAG_INIT;
	const char *name = "the built-in test template";
	if (access(USER_TEMPLATE, F_OK) == 0) {
		if (fs_read_all(USER_TEMPLATE, &src, d) < 0) {
			strbuf_release(&src);
			diag_release(&ud);
			return -1;
		}
		name = USER_TEMPLATE;
		t->template_from = USER_TEMPLATE;
	} else {
		strbuf_adds(&src, newtest_default_template);
	}
	diag_release(&ud);
	struct arena a = ARENA_INIT;
	struct value vars = value_dict(&a);
	const char *base = strrchr(t->test_path, '/') + 1;
	struct strbuf stem = STRBUF_INIT;
	strbuf_add(&stem, base, strlen(base) - 3);
	set_str(&a, vars, "name", stem.buf);
	set_str(&a, vars, "path", t->test_path);
	vdict_set(&a, vars.dict, value_str_static("num_gpus"), value_int(t->gpus));
	set_str(&a, vars, "model", o->model);
	set_str(&a, vars, "job", o->job);
	set_str(&a, vars, "label", label);
	set_str(&a, vars, "args", o->args);
	struct tpl *tp = NULL;
	int rc = -1;
	if (tpl_compile(&tp, src.buf, src.len, name, NULL, d) == 0 &&
	    tpl_render_vars(tp, vars.dict, &t->test_text, d) == 0)
		rc = 0;
	tpl_free(tp);
	/* Jinja drops the template's last newline; a file ends with one. */
	if (rc == 0 && (!t->test_text.len || t->test_text.buf[t->test_text.len - 1] != '\n'))
		strbuf_addch(&t->test_text, '\n');
	struct py_int_assign g;
	if (rc == 0 &&
	    py_top_int(t->test_text.buf, t->test_text.len, t->test_path, "NUM_GPUS", &g, d) < 0) {
		struct strbuf m = STRBUF_INIT;
		diag_format(d, &m);
		diag_set(d, DIAG_INPUT, "%s makes a file Python cannot import: %s", name, m.buf);
		strbuf_release(&m);
		rc = -1;
	} else if (rc == 0 && (g.kind != PY_INT_LITERAL || g.value != t->gpus)) {
		rc = diag_set(d, DIAG_INPUT,
		              "%s makes a file without a top-level NUM_GPUS = %lld (use "
		              "<< num_gpus >>)",
		              name, (long long)t->gpus);
	}
	strbuf_release(&stem);
	strbuf_release(&src);
	arena_release(&a);
	return rc;
}

/* ---- the registry edit, checked through the rendered workflow ----------- */

/* The static matrix entries of a job, as compact JSON strings of their test fields. */
static size_t job_entries(const struct wf_job *j, struct arena *a, char ***out)
{
	*out = NULL;
	struct value list;
	if (!wf_job_static_matrix(j, a, &list))
		return 0;
	*out = arena_alloc(a, (list.list->n + 1) * sizeof(**out));
	for (size_t i = 0; i < list.list->n; i++) {
		struct strbuf s = STRBUF_INIT;
		plan_json(plan_entry_fields(list.list->items[i], "test_file"), &s);
		(*out)[i] = arena_strndup(a, s.buf, s.len);
		strbuf_release(&s);
	}
	return list.list->n;
}

/* Whether compact JSON holds `key` (with its "": and value) followed by , or }. */
static bool has_member(const char *json, const char *member)
{
	size_t n = strlen(member);
	for (const char *p = json; (p = strstr(p, member)); p++)
		if (p[n] == ',' || p[n] == '}')
			return true;
	return false;
}

/* Whether an entry's compact JSON is the new entry {test_file, num_gpus, test_args}. */
static bool entry_is(const char *json, const struct newtest *t, const char *args)
{
	struct strbuf want_file = STRBUF_INIT, want_args = STRBUF_INIT, gpus = STRBUF_INIT;
	strbuf_adds(&want_file, "\"test_file\":");
	strbuf_add_json_str(&want_file, t->test_file);
	strbuf_addf(&gpus, "\"num_gpus\":%lld", (long long)t->gpus);
	strbuf_adds(&want_args, "\"test_args\":");
	if (args && *args)
		strbuf_add_json_str(&want_args, args);
	bool ok = json && has_member(json, want_file.buf) && has_member(json, gpus.buf) &&
	          (args && *args ? has_member(json, want_args.buf)
	                         : strstr(json, "\"test_args\":") == NULL);
	strbuf_release(&want_file);
	strbuf_release(&want_args);
	strbuf_release(&gpus);
	return ok;
}

static int compare_workflows(struct newtest *t, const struct wf *old, const struct wf *nw,
                             const char *job, const char *args, struct diag *d)
{
	struct arena *a = &t->arena;
	if (wf_njobs(old) != wf_njobs(nw))
		return diag_set(d, DIAG_INPUT,
		                "the edit changed the workflow's jobs; nothing written");
	t->jobs = arena_alloc(a, (wf_njobs(nw) + 1) * sizeof(*t->jobs));
	bool target = false;
	for (size_t i = 0; i < wf_njobs(nw); i++) {
		const struct wf_job *nj = wf_job_at(nw, i), *oj = wf_job_find(old, nj->id);
		if (!oj)
			return diag_set(d, DIAG_INPUT,
			                "the edit changed job %s's name; nothing written", nj->id);
		char **ov, **nv;
		size_t on = job_entries(oj, a, &ov), nn = job_entries(nj, a, &nv);
		/* Every old entry is still there; what is left over is gained. */
		bool *used = arena_alloc(a, nn + 1);
		memset(used, 0, nn + 1);
		for (size_t k = 0; k < on; k++) {
			size_t m = 0;
			while (m < nn && (used[m] || strcmp(nv[m], ov[k]) != 0))
				m++;
			if (m == nn)
				return diag_set(
				    d, DIAG_INPUT,
				    "the edit would take %s out of job %s; nothing written", ov[k],
				    nj->id);
			used[m] = true;
		}
		size_t gained = nn - on;
		if (!gained)
			continue;
		const char *extra = NULL;
		for (size_t m = 0; m < nn; m++)
			if (!used[m])
				extra = nv[m];
		if (gained != 1 || !entry_is(extra, t, args))
			return diag_set(d, DIAG_INPUT,
			                "the edit would add %s to job %s, not the one entry asked "
			                "for; nothing written",
			                extra, nj->id);
		bool is_target = !strcmp(nj->id, job);
		const char *id = arena_strndup(a, nj->id, strlen(nj->id)); /* nw dies first */
		target |= is_target;
		/* The named job first, then the others in file order. */
		if (is_target && t->njobs) {
			memmove(t->jobs + 1, t->jobs, t->njobs * sizeof(*t->jobs));
			t->jobs[0] = (struct newtest_job){.id = id};
		} else {
			t->jobs[t->njobs] = (struct newtest_job){.id = id};
		}
		t->njobs++;
	}
	if (!target)
		return diag_set(
		    d, DIAG_INPUT,
		    "after the edit, job %s of the rendered workflow does not run the new "
		    "entry; nothing written",
		    job);
	return 0;
}

static void find_labels(struct newtest *t, const struct wf *w)
{
	struct plan_catalogue c;
	struct diag d = DIAG_INIT;
	if (plan_catalogue(w, &c, &d) == 0)
		for (size_t k = 0; k < t->njobs; k++) {
			const struct wf_job *j = wf_job_find(w, t->jobs[k].id);
			for (size_t i = 0; i < c.nlabels && j && !t->jobs[k].label; i++)
				if (plan_label_gates(j, c.labels[i].label))
					t->jobs[k].label =
					    arena_strndup(&t->arena, c.labels[i].label,
					                  strlen(c.labels[i].label));
		}
	plan_catalogue_release(&c);
	diag_release(&d);
}

static int edit_registry(struct newtest *t, const struct newtest_opts *o, struct diag *d)
{
	struct arena *a = &t->arena;
	struct strbuf p = STRBUF_INIT, src = STRBUF_INIT, old_yml = STRBUF_INIT, cur = STRBUF_INIT;
	strbuf_addf(&p, "%s.j2", o->workflow);
	t->tpl_path = astrf(a, &p);
	t->yml_path = arena_strndup(a, o->workflow, strlen(o->workflow));
	struct reg r = {0};
	struct wf *ow = NULL, *nw = NULL;
	int rc = -1;
	if (access(t->tpl_path, F_OK) < 0) {
		diag_set(d, DIAG_INPUT,
		         "no template %s: --job registers the test in the workflow's template",
		         t->tpl_path);
		goto out;
	}
	if (fs_read_all(t->tpl_path, &src, d) < 0 ||
	    reg_scan(src.buf, src.len, t->tpl_path, &r, d) < 0)
		goto out;
	if (!reg_job_find(&r, o->job)) {
		diag_set(d, DIAG_INPUT,
		         "%s: no job %s in the template's test registry (a `set` dict of jobs "
		         "with a 'tests' list)%s",
		         t->tpl_path, o->job, r.njobs ? "; its jobs:" : "");
		for (size_t i = 0; i < r.njobs; i++)
			strbuf_addf(&d->msg, " %s", r.jobs[i].id);
		goto out;
	}
	/* The entry is spelled as the job's last entry spells them: with tests/ or not. */
	const struct reg_job *rj = reg_job_find(&r, o->job);
	const char *spelling = t->test_file;
	if (rj->nlists && rj->lists[0]->n) {
		const struct reg_list *l = rj->lists[0];
		const char *last = l->entries[l->n - 1].test_file;
		if (last && !strncmp(last, "tests/", 6))
			spelling = t->test_path;
	}
	t->test_file = spelling;
	struct reg_new e = {.test_file = spelling, .num_gpus = t->gpus, .test_args = o->args};
	struct reg_added added;
	if (reg_add(&r, src.buf, src.len, o->job, &e, &t->tpl_text, &added, d) < 0)
		goto out;
	t->added_line = added.line;
	t->added_text = arena_strndup(a, added.text, strlen(added.text));
	t->list_name =
	    added.list_name ? arena_strndup(a, added.list_name, strlen(added.list_name)) : NULL;
	/* Both renderings keep the workflow's header, as `gpuci render` does. */
	struct diag cd = DIAG_INIT;
	bool have = fs_read_all(t->yml_path, &cur, &cd) == 0, current = false;
	diag_release(&cd);
	struct wf_gen_in in = {.tpl = src.buf,
	                       .tpl_len = src.len,
	                       .tpl_name = t->tpl_path,
	                       .old = have ? cur.buf : NULL,
	                       .old_len = cur.len,
	                       .out_name = t->yml_path};
	if (wf_gen_update(&in, &old_yml, &current, d) < 0) {
		struct strbuf m = STRBUF_INIT;
		diag_format(d, &m);
		diag_set(d, DIAG_INPUT, "the template does not render as it is: %s", m.buf);
		strbuf_release(&m);
		goto out;
	}
	/* A workflow not current before the edit gets the template's other changes too. */
	t->yml_was_stale = !current;
	in.tpl = t->tpl_text.buf;
	in.tpl_len = t->tpl_text.len;
	if (wf_gen_update(&in, &t->yml_text, NULL, d) < 0 ||
	    wf_parse(old_yml.buf, old_yml.len, t->yml_path, &ow, d) < 0 ||
	    wf_parse(t->yml_text.buf, t->yml_text.len, t->yml_path, &nw, d) < 0 ||
	    compare_workflows(t, ow, nw, o->job, o->args, d) < 0)
		goto out;
	find_labels(t, nw);
	rc = 0;
out:
	wf_free(ow);
	wf_free(nw);
	reg_release(&r);
	strbuf_release(&p);
	strbuf_release(&src);
	strbuf_release(&old_yml);
	strbuf_release(&cur);
	return rc;
}

int newtest_prepare(const struct newtest_opts *o, struct newtest *t, struct diag *d)
{
	memset(t, 0, sizeof(*t));
	t->test_text = (struct strbuf)STRBUF_INIT;
	t->tpl_text = (struct strbuf)STRBUF_INIT;
	t->yml_text = (struct strbuf)STRBUF_INIT;
	if (normalize(t, o->name, d) < 0)
		return -1;
	const char *texts[2] = {o->model, o->args};
	for (int i = 0; i < 2; i++)
		for (const char *c = texts[i]; c && *c; c++)
			if ((unsigned char)*c < 0x20)
				return diag_set(d, DIAG_USAGE,
				                "--%s: no control characters (newlines, "
				                "tabs) please",
				                i ? "args" : "model");
	bool exists = access(t->test_path, F_OK) == 0;
	t->gpus = o->gpus;
	if (o->existing) {
		if (!exists)
			return diag_set(d, DIAG_USAGE, "--existing: %s does not exist",
			                t->test_path);
		if (!o->job)
			return diag_set(d, DIAG_USAGE,
			                "--existing registers a file: name the job (--job JOB)");
		struct strbuf src = STRBUF_INIT;
		struct py_int_assign g = {0};
		int rc = fs_read_all(t->test_path, &src, d);
		if (rc == 0)
			rc = py_top_int(src.buf, src.len, t->test_path, "NUM_GPUS", &g, d);
		strbuf_release(&src);
		if (rc < 0)
			return -1;
		if (g.kind != PY_INT_LITERAL && !o->gpus_given)
			return diag_set(
			    d, DIAG_USAGE,
			    "%s has no literal NUM_GPUS: give --gpus N (and set NUM_GPUS = N "
			    "in the file)",
			    t->test_path);
		if (g.kind == PY_INT_LITERAL && o->gpus_given && g.value != o->gpus)
			return diag_set(
			    d, DIAG_USAGE, "%s:%u sets NUM_GPUS = %lld, not %lld: make them agree",
			    t->test_path, g.line, (long long)g.value, (long long)o->gpus);
		if (g.kind == PY_INT_LITERAL)
			t->gpus = g.value;
	} else {
		if (!o->gpus_given)
			return diag_set(d, DIAG_USAGE,
			                "--gpus N: the GPUs the test needs (0: none)");
		if (exists)
			return diag_set(
			    d, DIAG_INPUT,
			    "%s exists: gpuci new-test never overwrites a file (--existing "
			    "registers it in a job)",
			    t->test_path);
		t->write_test = true;
	}
	if (o->job) {
		t->edit = true;
		if (edit_registry(t, o, d) < 0)
			return -1;
	}
	if (t->write_test)
		return render_test(t, o, t->njobs ? t->jobs[0].label : NULL, d);
	return 0;
}

int newtest_apply(const struct newtest *t, struct diag *d)
{
	if (t->write_test && fs_create_new(t->test_path, t->test_text.buf, t->test_text.len, d) < 0)
		return -1;
	if (!t->edit)
		return 0;
	struct strbuf old = STRBUF_INIT;
	int rc = fs_read_all(t->tpl_path, &old, d);
	if (rc == 0)
		rc = fs_write_atomic(t->tpl_path, t->tpl_text.buf, t->tpl_text.len, d);
	if (rc == 0 && fs_write_atomic(t->yml_path, t->yml_text.buf, t->yml_text.len, d) < 0) {
		struct diag ud = DIAG_INIT; /* put the template back: both or neither */
		(void)fs_write_atomic(t->tpl_path, old.buf, old.len, &ud);
		diag_release(&ud);
		rc = -1;
	}
	if (rc < 0 && t->write_test)
		unlink(t->test_path);
	strbuf_release(&old);
	return rc;
}

void newtest_release(struct newtest *t)
{
	strbuf_release(&t->test_text);
	strbuf_release(&t->tpl_text);
	strbuf_release(&t->yml_text);
	arena_release(&t->arena);
}
