/*
 * wf/gen: a workflow rendered from its template (NAME.yml.j2 -> NAME.yml)
 * exactly as `gpuci render` writes it: a 3-line header saying it is
 * generated, then the template's rendered body, checked to parse as YAML.
 * render, new-test and lint all go through here, so they agree on what
 * "current" means.
 *
 * The header. A text "has a generated header" when its first three lines
 * are: a rule of exactly WF_GEN_RULE_LEN (80) '#' characters, a line that
 * starts with '#', the same rule again, each ended by "\n". That is what
 * gpuci and the Python generate_github_workflows.py of slime and vime both
 * write; their middle lines differ ("... via gpuci render ..." and "... via
 * generate_github_workflows.py ..."), so the middle line is not compared.
 * A rule of another length (or a "\r\n" line end) is not a header: such a
 * file is stale, and render gives it gpuci's default header.
 *
 * Rendering keeps the header of the file already there, byte for byte,
 * whatever its comment says; gpuci's default header (wf_gen_header) goes
 * only on a new file or one without a generated header, unless a header
 * line is asked for (`render --header TEXT`).
 */
#ifndef GPUCI_WF_GEN_H
#define GPUCI_WF_GEN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/diag.h"
#include "base/strbuf.h"

/* The length of a header rule: a line of this many '#'. */
#define WF_GEN_RULE_LEN 80
/* A header is always this many lines: body line n is file line n + 3. */
#define WF_GEN_HEADER_LINES 3

/* gpuci's default header, for a new workflow. */
extern const char wf_gen_header[];

/*
 * The length in bytes of the generated header at the start of
 * text[0..len) (its three lines with their "\n"), or 0 when text does not
 * start with one (see the rule above).
 */
size_t wf_gen_header_len(const char *text, size_t len);

/*
 * Renders the template text src[0..len) (tpl_name names it in errors) and
 * appends the body alone to out.
 */
int wf_gen_body(const char *src, size_t len, const char *tpl_name, struct strbuf *out,
                struct diag *d);

/* A template and the workflow file rendered from it, as they are now. */
struct wf_gen_in {
	const char *tpl; /* the template's text, tpl[0..tpl_len) */
	size_t tpl_len;
	const char *tpl_name; /* names the template in errors */
	const char *old;      /* the workflow file's text now; NULL: no such file */
	size_t old_len;
	const char *out_name; /* names the workflow in YAML errors */
	/*
	 * NULL: keep old's header when it has one, else gpuci's default.
	 * Else the header is the rule, "# " header "\n", the rule (one line of
	 * text: a "\n" or "\r" in it fails with DIAG_USAGE).
	 */
	const char *header;
};

/*
 * Appends to out the file `gpuci render` writes for in: the header (as the
 * comment of struct wf_gen_in says) and the rendered body, the whole
 * checked to parse as YAML. *current (when current is not NULL) is set to
 * whether in->old is exactly that file: it has a generated header (the
 * asked-for one when in->header is set) and its body is byte-equal to the
 * rendering; a missing file is never current. Writes nothing to disk.
 *
 * Errors: the template's (tpl_name:line), the YAML check's (out_name:line:
 * col), DIAG_USAGE for a bad in->header. out then holds what was appended
 * so far; *current is false.
 */
int wf_gen_update(const struct wf_gen_in *in, struct strbuf *out, bool *current, struct diag *d);

/*
 * Appends what `gpuci render` writes for a template when there is no
 * workflow file yet: gpuci's default header and the body, checked as YAML
 * (errors name out_name, the rendered file). wf_gen_update() with old and
 * header NULL.
 */
int wf_gen_file(const char *src, size_t len, const char *tpl_name, const char *out_name,
                struct strbuf *out, struct diag *d);

/*
 * Where each byte of a generated workflow came from in its template, so
 * that a tool reporting a place in the workflow (lint) can name the
 * template line to edit instead. Exact, made while rendering (tpl.h says
 * what maps where: copied text byte for byte, an expression's output to
 * the expression, a macro's text into the macro's body).
 */
struct wf_gen_srcmap;

/*
 * Renders the template src[0..len) as wf_gen_body() does, keeping the
 * map. *out is the caller's, to free with wf_gen_srcmap_free(); NULL on
 * failure (the template's error in d).
 */
int wf_gen_srcmap_new(const char *src, size_t len, const char *tpl_name, struct wf_gen_srcmap **out,
                      struct diag *d);

/*
 * The template place (*tpl_line, *tpl_col, from 1, the column in bytes)
 * of line:col of the generated workflow as render writes it: the 3 header
 * lines, then the body, so the body's line 1 is the workflow's line 4.
 * col counts bytes from 1 (libyaml's columns count characters: the same
 * on ASCII lines); col 0 means the whole line: the place of its first byte
 * is given, with *tpl_col 0. A line's "\n" is at col (its length + 1).
 *
 * False, leaving the outputs alone, for a header line and for a place
 * past the body or past the end of its line. The map is of the rendering,
 * so it names the right template places for a workflow file that is
 * current (wf_gen_update); for a stale one the lines may have moved.
 */
bool wf_gen_srcmap_find(const struct wf_gen_srcmap *m, unsigned line, unsigned col,
                        unsigned *tpl_line, unsigned *tpl_col);

/* The body that was rendered (what wf_gen_body appends); lives as long as m. */
const char *wf_gen_srcmap_body(const struct wf_gen_srcmap *m, size_t *len);

void wf_gen_srcmap_free(struct wf_gen_srcmap *m);

/* The rendered file's path for a template path: without the ".j2". */
char *wf_gen_output_path(const char *tpl_path);

#endif
