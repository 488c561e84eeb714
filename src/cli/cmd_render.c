/*
 * gpuci render: workflow templates (*.yml.j2) to workflows, as the Python
 * generator did it, with --check for CI and pre-commit.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "base/diff.h"
#include "base/fs.h"
#include "wf/gen.h"
#include "base/xalloc.h"
#include "base/banned.h"

static const char render_usage[] = "usage: gpuci render [--check] [DIR]\n"
                                   "       gpuci render --stdout FILE.j2\n";

static const char render_description[] =
    "Renders every *.yml.j2 directly inside DIR (default .github/workflows) to the\n"
    "same name without .j2, as the Python generate_github_workflows.py did with\n"
    "Jinja2: statements <% %>, expressions << >>, comments {# #}, everything else\n"
    "Jinja2's defaults, byte for byte the same output. Each file starts with a\n"
    "3-line header saying it is generated. Files are replaced atomically and only\n"
    "when their content changes; a template that fails leaves its old output as\n"
    "it was. Every rendered file must parse as YAML.\n"
    "\n"
    "--check writes nothing: it prints a unified diff for each output that is\n"
    "stale or missing and exits 1, or exits 0 when all are current. Run it in CI\n"
    "and as a pre-commit hook.\n"
    "\n"
    "--stdout FILE.j2 prints the rendered body of one template, without header.\n"
    "\n"
    "Errors name the template and the line Jinja2 would report:\n"
    "  gpuci render: .github/workflows/pr-test.yml.j2:12: unexpected '}'\n"
    "A Jinja2 feature gpuci does not implement (block, extends, include, import,\n"
    "call, some filters) is an error saying \"not supported\", never a different\n"
    "output.\n"
    "\n"
    "Exit status: 0 done (or current, with --check); 1 an error, or stale files\n"
    "with --check; 2 usage errors.\n"
    "\n"
    "Examples:\n"
    "  gpuci render                          # after editing pr-test.yml.j2\n"
    "  gpuci render --check                  # in CI: fail when someone forgot\n"
    "  gpuci render --stdout pr-test.yml.j2 | less\n";

/* Renders one template; body only, or the whole file (out_name set). Errors are printed. */
static int render_one(struct gpuci_ctx *ctx, const char *path, const char *out_name,
                      struct strbuf *out)
{
	struct strbuf src = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	int rc = fs_read_all(path, &src, &d);
	if (rc == 0)
		rc = out_name ? wf_gen_file(src.buf, src.len, path, out_name, out, &d)
		              : wf_gen_body(src.buf, src.len, path, out, &d);
	if (rc < 0)
		cli_error(ctx, "render", &d);
	strbuf_release(&src);
	diag_release(&d);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.yml.j2 names directly inside dir, sorted. */
static int list_templates(struct gpuci_ctx *ctx, const char *dir, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(ctx->err, "gpuci render: cannot read directory %s: %s\n", dir,
		        strerror(errno));
		return -1;
	}
	size_t cap = 8;
	*n = 0;
	*out = xmalloc(cap * sizeof(**out));
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len <= 7 || strcmp(e->d_name + len - 7, ".yml.j2") != 0)
			continue;
		if (*n == cap)
			*out = xrealloc(*out, (cap *= 2) * sizeof(**out));
		(*out)[(*n)++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(*out, *n, sizeof(**out), cmp_str);
	return 0;
}

static int render_dir(struct gpuci_ctx *ctx, const char *dir, bool check)
{
	char **names;
	size_t n;
	if (list_templates(ctx, dir, &names, &n) < 0)
		return EXIT_FAILED;
	if (n == 0) {
		fprintf(ctx->err, "gpuci render: no *.yml.j2 template in %s\n", dir);
		free(names);
		return EXIT_FAILED;
	}
	int rc = EXIT_OK;
	size_t stale = 0, failed = 0, written = 0;
	for (size_t i = 0; i < n; i++) {
		struct strbuf tpath = STRBUF_INIT, opath = STRBUF_INIT, text = STRBUF_INIT;
		strbuf_addf(&tpath, "%s/%s", dir, names[i]);
		strbuf_addf(&opath, "%s/%.*s", dir, (int)(strlen(names[i]) - 3), names[i]);
		struct diag d = DIAG_INIT;
		if (render_one(ctx, tpath.buf, opath.buf, &text) < 0) {
			failed++;
		} else {
			struct strbuf old = STRBUF_INIT;
			struct diag rd = DIAG_INIT;
			bool exists = fs_read_all(opath.buf, &old, &rd) == 0;
			bool current =
			    exists && old.len == text.len && !memcmp(old.buf, text.buf, text.len);
			if (check && !current) {
				struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
				strbuf_addf(&a, exists ? "a/%s" : "/dev/null", opath.buf);
				strbuf_addf(&b, "b/%s", opath.buf);
				struct strbuf diff = STRBUF_INIT;
				diff_unified(&diff, old.buf, old.len, text.buf, text.len, a.buf,
				             b.buf);
				fputs(diff.buf, ctx->out);
				strbuf_release(&diff);
				strbuf_release(&a);
				strbuf_release(&b);
				fprintf(ctx->err, "gpuci render: %s is %s\n", opath.buf,
				        exists ? "stale" : "missing");
				stale++;
			} else if (!check && !current) {
				if (fs_write_atomic(opath.buf, text.buf, text.len, &d) < 0) {
					cli_error(ctx, "render", &d);
					failed++;
				} else {
					fprintf(ctx->err, "gpuci render: wrote %s\n", opath.buf);
					written++;
				}
			}
			strbuf_release(&old);
			diag_release(&rd);
		}
		diag_release(&d);
		strbuf_release(&tpath);
		strbuf_release(&opath);
		strbuf_release(&text);
		free(names[i]);
	}
	free(names);
	if (failed)
		rc = EXIT_FAILED;
	if (check && stale) {
		fprintf(
		    ctx->err,
		    "gpuci render: %zu of %zu workflow%s not current; run 'gpuci render%s%s' and "
		    "commit the result\n",
		    stale, n, n == 1 ? " is" : "s are",
		    strcmp(dir, ".github/workflows") != 0 ? " " : "",
		    strcmp(dir, ".github/workflows") != 0 ? dir : "");
		rc = EXIT_FAILED;
	}
	if (!check && !failed && !written)
		fprintf(ctx->err, "gpuci render: %zu workflow%s already current\n", n,
		        n == 1 ? "" : "s");
	return rc;
}

int cmd_render(int argc, char **argv, struct gpuci_ctx *ctx)
{
	bool check = false;
	const char *stdout_file = NULL;
	const struct cli_option opts[] = {
	    {"check", 0, CLI_OPT_FLAG, &check, NULL,
	     "write nothing; print diffs and exit 1 when a workflow is stale", NULL},
	    {"stdout", 0, CLI_OPT_STRING, &stdout_file, "FILE.j2",
	     "print one template's rendered body (no header)", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	const char *dir = NULL;
	bool help = false;
	/* Options and one DIR, in any order. */
	char **args = argv;
	int nargs = argc;
	for (;;) {
		int rest;
		bool h;
		if (cli_parse(nargs, args, opts, true, &rest, &h, &d) < 0) {
			int rc = cli_usage_error(ctx, "render", &d);
			diag_release(&d);
			return rc;
		}
		help |= h;
		if (rest >= nargs)
			break;
		if (dir) {
			diag_set(&d, DIAG_USAGE, "unexpected argument '%s' (one DIR at most)",
			         args[rest]);
			int rc = cli_usage_error(ctx, "render", &d);
			diag_release(&d);
			return rc;
		}
		dir = args[rest];
		args += rest;
		nargs -= rest;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", render_usage, render_description);
		cli_print_options(ctx->out, opts);
		return EXIT_OK;
	}
	if (stdout_file) {
		if (dir || check) {
			diag_set(&d, DIAG_USAGE,
			         "--stdout takes one template and no DIR or --check");
			int rc = cli_usage_error(ctx, "render", &d);
			diag_release(&d);
			return rc;
		}
		struct strbuf out = STRBUF_INIT;
		int rc = render_one(ctx, stdout_file, NULL, &out) < 0 ? EXIT_FAILED : EXIT_OK;
		if (rc == EXIT_OK)
			fwrite(out.buf, 1, out.len, ctx->out); /* main reports a write error */
		strbuf_release(&out);
		return rc;
	}
	return render_dir(ctx, dir ? dir : ".github/workflows", check);
}
