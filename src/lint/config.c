/*
 * lint/config: what a repository says of lint's rules, in .github/gpuci.yml
 * (read with libyaml through wf/model.h) and in `# gpuci: disable=RULE`
 * comments of the files findings point at.
 *
 *   lint:
 *     disable: [one-job-per-label]           # off for the whole repository
 *     ignore:                                 # off for some files
 *       - files: ['tests/test_agent/test_*.py']
 *         rules: [test-pattern]
 *     severity: {unregistered-test: error}   # error or warning
 *     prepare-execute: auto                  # auto, always or never
 */
#include "lint/lint_int.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "base/banned.h"

static int config_error(struct diag *d, const struct wf_node *n, const char *file, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
static int config_error(struct diag *d, const struct wf_node *n, const char *file, const char *fmt,
                        ...)
{
	struct strbuf m = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&m, fmt, ap);
	va_end(ap);
	diag_set(d, DIAG_INPUT, "%s", m.buf);
	strbuf_release(&m);
	d->loc = n ? n->loc : (struct srcloc){file, 0, 0};
	d->loc.file = file;
	return -1;
}

/* A list of rule names (a sequence of strings, or one string), each checked. */
static int rule_list(struct lctx *c, const struct wf_node *n, const char *what, const char ***out,
                     size_t *nout, struct diag *d)
{
	const char *file = c->cfg.path;
	size_t len = n->kind == WF_SCALAR ? 1 : n->kind == WF_SEQ ? n->len : 0;
	if (n->kind == WF_MAP)
		return config_error(d, n, file, "lint.%s: a list of rule names", what);
	const char **v = arena_alloc(c->a, (len + 1) * sizeof(*v));
	for (size_t i = 0; i < len; i++) {
		const struct wf_node *item = n->kind == WF_SCALAR ? n : n->kv[i];
		const char *name = wf_str(item);
		if (!name)
			return config_error(d, item, file, "lint.%s: a list of rule names", what);
		if (!lint_rule_find(name))
			return config_error(d, item, file,
			                    "lint.%s: no rule '%s' (gpuci lint --list-rules)", what,
			                    name);
		v[i] = name;
	}
	*out = v;
	*nout = len;
	return 0;
}

static int string_list(struct lctx *c, const struct wf_node *n, const char *what, const char ***out,
                       size_t *nout, struct diag *d)
{
	size_t len = n->kind == WF_SCALAR ? 1 : n->kind == WF_SEQ ? n->len : 0;
	if (n->kind == WF_MAP)
		return config_error(d, n, c->cfg.path, "lint.%s: a list of globs", what);
	const char **v = arena_alloc(c->a, (len + 1) * sizeof(*v));
	for (size_t i = 0; i < len; i++) {
		const struct wf_node *item = n->kind == WF_SCALAR ? n : n->kv[i];
		if (!wf_str(item) || !*wf_str(item))
			return config_error(d, item, c->cfg.path, "lint.%s: a list of globs", what);
		v[i] = wf_str(item);
	}
	*out = v;
	*nout = len;
	return 0;
}

static int read_ignores(struct lctx *c, const struct wf_node *n, struct diag *d)
{
	const char *file = c->cfg.path;
	if (n->kind != WF_SEQ)
		return config_error(d, n, file,
		                    "lint.ignore: a list of {files: [GLOB...], rules: [RULE...]}");
	c->cfg.ignores = arena_alloc(c->a, (n->len + 1) * sizeof(*c->cfg.ignores));
	for (size_t i = 0; i < n->len; i++) {
		const struct wf_node *item = n->kv[i];
		struct config_ignore *ig = &c->cfg.ignores[c->cfg.nignores++];
		*ig = (struct config_ignore){0};
		const struct wf_node *files = wf_get(item, "files"), *rules = wf_get(item, "rules");
		if (item->kind != WF_MAP || !files)
			return config_error(
			    d, item, file,
			    "lint.ignore: each item has files: [GLOB...] and rules: "
			    "[RULE...] (all rules when it has none)");
		for (size_t k = 0; k < item->len; k++) {
			const char *key = wf_str(item->kv[2 * k]);
			if (key && strcmp(key, "files") != 0 && strcmp(key, "rules") != 0)
				return config_error(d, item->kv[2 * k], file,
				                    "lint.ignore: unknown key '%s' (files, rules)",
				                    key);
		}
		if (string_list(c, files, "ignore.files", &ig->files, &ig->nfiles, d) < 0 ||
		    (rules && rule_list(c, rules, "ignore.rules", &ig->rules, &ig->nrules, d) < 0))
			return -1;
	}
	return 0;
}

static int read_severity(struct lctx *c, const struct wf_node *n, struct diag *d)
{
	const char *file = c->cfg.path;
	if (n->kind != WF_MAP)
		return config_error(d, n, file, "lint.severity: a mapping of RULE: error|warning");
	c->cfg.severity = arena_alloc(c->a, (n->len + 1) * sizeof(*c->cfg.severity));
	for (size_t i = 0; i < n->len; i++) {
		const char *rule = wf_str(n->kv[2 * i]), *sev = wf_str(n->kv[2 * i + 1]);
		if (!rule || !lint_rule_find(rule))
			return config_error(d, n->kv[2 * i], file,
			                    "lint.severity: no rule '%s' (gpuci lint --list-rules)",
			                    rule ? rule : "");
		if (!sev || (strcmp(sev, "error") != 0 && strcmp(sev, "warning") != 0))
			return config_error(d, n->kv[2 * i + 1], file,
			                    "lint.severity: %s is error or warning, not '%s'", rule,
			                    sev ? sev : "");
		c->cfg.severity[c->cfg.nseverity++] = (struct config_severity){
		    rule, !strcmp(sev, "error") ? LINT_ERROR : LINT_WARNING};
	}
	return 0;
}

/* Whether text holds nothing but blanks and comments: an empty file of settings. */
static bool no_yaml(const struct strbuf *text)
{
	for (const char *s = text->buf; *s;) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '#')
			s += strcspn(s, "\n");
		if (*s && *s != '\n')
			return false;
		s += *s == '\n';
	}
	return true;
}

int lint__config_load(struct lctx *c, struct diag *d)
{
	struct strbuf p = STRBUF_INIT, text = STRBUF_INIT;
	struct diag rd = DIAG_INIT;
	lint__full_path(c, CONFIG_FILE, &p);
	int rc = 0;
	if (fs_read_all(p.buf, &text, &rd) < 0) {
		/* None: the defaults. One that cannot be read: say so. */
		if (access(p.buf, F_OK) == 0)
			rc = diag_set(d, DIAG_INPUT, "%s", rd.msg.buf);
		goto out;
	}
	c->cfg.path = CONFIG_FILE;
	if (no_yaml(&text))
		goto out;
	struct wf *w;
	if (wf_parse_yaml(text.buf, text.len, c->cfg.path, &w, d) < 0) {
		rc = -1;
		goto out;
	}
	/* Strings are copied into the report's arena: w goes at the end. */
	const struct wf_node *root = wf_root(w);
	const struct wf_node *lint = wf_get(root, "lint");
	if (root->kind != WF_MAP) {
		rc = config_error(d, root, c->cfg.path, "a mapping of settings (lint: ...)");
	} else if (lint && lint->kind != WF_MAP) {
		rc = config_error(d, lint, c->cfg.path,
		                  "lint: a mapping (disable, ignore, severity, prepare-execute)");
	}
	for (size_t i = 0; rc == 0 && lint && i < lint->len; i++) {
		const struct wf_node *k = lint->kv[2 * i], *v = lint->kv[2 * i + 1];
		const char *key = wf_str(k);
		if (!key)
			rc = config_error(d, k, c->cfg.path, "lint: keys are names");
		else if (!strcmp(key, "disable"))
			rc = rule_list(c, v, "disable", &c->cfg.disabled, &c->cfg.ndisabled, d);
		else if (!strcmp(key, "ignore"))
			rc = read_ignores(c, v, d);
		else if (!strcmp(key, "severity"))
			rc = read_severity(c, v, d);
		else if (!strcmp(key, "prepare-execute")) {
			const char *m = wf_str(v);
			if (m && !strcmp(m, "auto"))
				c->cfg.prepare_execute = PREP_EXEC_AUTO;
			else if (m && !strcmp(m, "always"))
				c->cfg.prepare_execute = PREP_EXEC_ALWAYS;
			else if (m && !strcmp(m, "never"))
				c->cfg.prepare_execute = PREP_EXEC_NEVER;
			else
				rc =
				    config_error(d, v, c->cfg.path,
				                 "lint.prepare-execute: auto, always or never, not "
				                 "'%s'",
				                 m ? m : "");
		} else {
			rc = config_error(d, k, c->cfg.path,
			                  "lint: unknown key '%s' (disable, ignore, severity, "
			                  "prepare-execute)",
			                  key);
		}
	}
	/* The names point into w: copy what stays. */
	for (size_t i = 0; rc == 0 && i < c->cfg.ndisabled; i++)
		c->cfg.disabled[i] = lint_rule_find(c->cfg.disabled[i])->name;
	for (size_t i = 0; rc == 0 && i < c->cfg.nignores; i++) {
		struct config_ignore *ig = &c->cfg.ignores[i];
		for (size_t k = 0; k < ig->nfiles; k++)
			ig->files[k] = lint__astr(c, ig->files[k]);
		for (size_t k = 0; k < ig->nrules; k++)
			ig->rules[k] = lint_rule_find(ig->rules[k])->name;
	}
	for (size_t i = 0; rc == 0 && i < c->cfg.nseverity; i++)
		c->cfg.severity[i].rule = lint_rule_find(c->cfg.severity[i].rule)->name;
	if (rc < 0 && d->loc.file == c->cfg.path)
		d->loc.file = CONFIG_FILE; /* a static string: outlives w */
	wf_free(w);
out:
	diag_release(&rd);
	strbuf_release(&p);
	strbuf_release(&text);
	return rc;
}

void lint__config_release(struct lctx *c)
{
	for (size_t i = 0; i < c->ndisables; i++)
		free(c->disables[i].v);
	free(c->disables);
	c->disables = NULL;
	c->ndisables = c->capdisables = 0;
	strmap_release(&c->disable_index);
}

bool lint__glob(const char *glob, const char *path)
{
	if (!strstr(glob, "**"))
		return fnmatch(glob, path, FNM_PATHNAME) == 0;
	/* `**` crosses folders: fnmatch without FNM_PATHNAME, where * does too. */
	return fnmatch(glob, path, 0) == 0;
}

/* A new, empty entry of file in c->disables. */
static struct disables *new_disables(struct lctx *c, const char *file)
{
	if (c->ndisables == c->capdisables)
		c->disables = xrealloc(c->disables,
		                       (c->capdisables = c->capdisables ? 2 * c->capdisables : 16) *
		                           sizeof(*c->disables));
	struct disables *ds = &c->disables[c->ndisables++];
	*ds = (struct disables){.file = lint__astr(c, file)};
	/* Indexed by file (its index, in the arena), as lint asks once per finding. */
	size_t *at = arena_alloc(c->a, sizeof(*at));
	*at = c->ndisables - 1;
	strmap_put(&c->disable_index, ds->file, strlen(ds->file), at);
	return ds;
}

void lint__read_disables(struct lctx *c, const char *file, const struct strbuf *text)
{
	if (strmap_get(&c->disable_index, file, strlen(file)))
		return;
	struct disables *ds = new_disables(c, file);
	size_t cap = 0;
	unsigned line = 1;
	for (const char *s = text->buf; s && *s; line++) {
		size_t len = strcspn(s, "\n");
		const char *tag = memmem(s, len, "gpuci: disable=", 15);
		const char *hash = tag;
		while (hash && hash > s && hash[-1] != '#')
			hash--;
		if (tag && hash > s && hash[-1] == '#') {
			/* Only blanks before the #: the whole file. */
			const char *b = s;
			while (b < hash - 1 && isspace((unsigned char)*b))
				b++;
			unsigned at = b == hash - 1 ? 0 : line;
			const char *r = tag + 15, *end = s + len;
			while (r < end) {
				size_t n = strcspn(r, ", \t\r\n");
				if (r + n > end)
					n = (size_t)(end - r);
				if (n) {
					if (ds->n == cap)
						ds->v = xrealloc(ds->v, (cap = cap ? 2 * cap : 4) *
						                            sizeof(*ds->v));
					ds->v[ds->n++] =
					    (struct disable){at, arena_strndup(c->a, r, n)};
				}
				r += n;
				if (r < end && *r != ',')
					break;
				r++;
			}
		}
		s += len + (s[len] == '\n');
	}
}

/* The `# gpuci: disable=RULE[,RULE...]` comments of a file, read once. */
static const struct disables *file_disables(struct lctx *c, const char *file)
{
	const size_t *at = strmap_get(&c->disable_index, file, strlen(file));
	if (at)
		return &c->disables[*at];
	struct strbuf p = STRBUF_INIT, text = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	lint__full_path(c, file, &p);
	if (fs_read_all(p.buf, &text, &d) == 0)
		lint__read_disables(c, file, &text);
	else
		new_disables(c, file);
	diag_release(&d);
	strbuf_release(&p);
	strbuf_release(&text);
	at = strmap_get(&c->disable_index, file, strlen(file));
	return &c->disables[*at];
}

bool lint__suppressed(struct lctx *c, const char *file, unsigned line, const char *rule)
{
	for (size_t i = 0; i < c->cfg.ndisabled; i++)
		if (!strcmp(c->cfg.disabled[i], rule))
			return true;
	for (size_t i = 0; i < c->cfg.nignores; i++) {
		const struct config_ignore *ig = &c->cfg.ignores[i];
		bool rule_hit = !ig->nrules;
		for (size_t k = 0; k < ig->nrules && !rule_hit; k++)
			rule_hit = !strcmp(ig->rules[k], rule);
		for (size_t k = 0; rule_hit && k < ig->nfiles; k++)
			if (lint__glob(ig->files[k], file))
				return true;
	}
	const struct disables *ds = file_disables(c, file);
	for (size_t i = 0; i < ds->n; i++)
		if ((!ds->v[i].line || (line && ds->v[i].line == line)) &&
		    (!strcmp(ds->v[i].rule, rule) || !strcmp(ds->v[i].rule, "all")))
			return true;
	return false;
}

enum lint_severity lint__severity(const struct lctx *c, const char *rule, enum lint_severity def)
{
	for (size_t i = 0; i < c->cfg.nseverity; i++)
		if (!strcmp(c->cfg.severity[i].rule, rule))
			return c->cfg.severity[i].severity;
	return def;
}
