/*
 * wf/gen: a workflow rendered from its template (NAME.yml.j2 -> NAME.yml)
 * exactly as `gpuci render` writes it: the 3-line header saying it is
 * generated, then the template's rendered body, checked to parse as YAML.
 * render, new-test and lint all go through here, so they agree on what
 * "current" means.
 */
#ifndef GPUCI_WF_GEN_H
#define GPUCI_WF_GEN_H

#include <stddef.h>

#include "base/diag.h"
#include "base/strbuf.h"

/* The header at the top of every rendered workflow. */
extern const char wf_gen_header[];

/*
 * Renders the template text src[0..len) (tpl_name names it in errors) and
 * appends the body alone to out.
 */
int wf_gen_body(const char *src, size_t len, const char *tpl_name, struct strbuf *out,
                struct diag *d);

/*
 * Appends what `gpuci render` writes for a template: header and body,
 * checked as YAML (errors name out_name, the rendered file).
 */
int wf_gen_file(const char *src, size_t len, const char *tpl_name, const char *out_name,
                struct strbuf *out, struct diag *d);

/* The rendered file's path for a template path: without the ".j2". */
char *wf_gen_output_path(const char *tpl_path);

#endif
