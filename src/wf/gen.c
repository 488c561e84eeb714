/* wf/gen: see gen.h. */
#include "wf/gen.h"

#include <stdlib.h>
#include <string.h>

#include "tpl/tpl.h"
#include "wf/wf.h"
#include "base/xalloc.h"
#include "base/banned.h"

#define HEADER_RULE                                                                                \
	"################################################################################\n"

_Static_assert(sizeof(HEADER_RULE) == WF_GEN_RULE_LEN + 2, "a rule is 80 '#' and a newline");

const char wf_gen_header[] = HEADER_RULE "# This file is auto-generated from the .j2 file via "
                                         "gpuci render. Do not edit manually.\n" HEADER_RULE;

/* Whether text[0..len) starts with a rule line, "\n" included. */
static bool is_rule(const char *text, size_t len)
{
	return len > WF_GEN_RULE_LEN && !memcmp(text, HEADER_RULE, WF_GEN_RULE_LEN + 1);
}

size_t wf_gen_header_len(const char *text, size_t len)
{
	const size_t rule = WF_GEN_RULE_LEN + 1;
	if (!text || !is_rule(text, len) || len == rule || text[rule] != '#')
		return 0;
	const char *nl = memchr(text + rule, '\n', len - rule);
	if (!nl)
		return 0;
	size_t third = (size_t)(nl + 1 - text);
	return is_rule(text + third, len - third) ? third + rule : 0;
}

int wf_gen_body(const char *src, size_t len, const char *tpl_name, struct strbuf *out,
                struct diag *d)
{
	struct tpl *t = NULL;
	int rc = -1;
	if (tpl_compile(&t, src, len, tpl_name, NULL, d) == 0 && tpl_render(t, out, d) == 0)
		rc = 0;
	tpl_free(t);
	return rc;
}

int wf_gen_update(const struct wf_gen_in *in, struct strbuf *out, bool *current, struct diag *d)
{
	if (current)
		*current = false;
	size_t start = out->len;
	size_t kept = in->header ? 0 : wf_gen_header_len(in->old, in->old ? in->old_len : 0);
	if (in->header && strpbrk(in->header, "\r\n"))
		return diag_set(d, DIAG_USAGE, "the header text must be one line");
	if (in->header)
		strbuf_addf(out, HEADER_RULE "#%s%s\n" HEADER_RULE, *in->header ? " " : "",
		            in->header);
	else if (kept)
		strbuf_add(out, in->old, kept);
	else
		strbuf_adds(out, wf_gen_header);
	if (wf_gen_body(in->tpl, in->tpl_len, in->tpl_name, out, d) < 0 ||
	    wf_check_yaml(out->buf + start, out->len - start, in->out_name, d) < 0)
		return -1;
	if (current)
		*current = in->old && in->old_len == out->len - start &&
		           !memcmp(in->old, out->buf + start, in->old_len);
	return 0;
}

int wf_gen_file(const char *src, size_t len, const char *tpl_name, const char *out_name,
                struct strbuf *out, struct diag *d)
{
	const struct wf_gen_in in = {
	    .tpl = src, .tpl_len = len, .tpl_name = tpl_name, .out_name = out_name};
	return wf_gen_update(&in, out, NULL, d);
}

struct wf_gen_srcmap {
	struct strbuf body;
	struct tpl_map *map;
	size_t *lines; /* where each body line starts */
	size_t nlines;
};

int wf_gen_srcmap_new(const char *src, size_t len, const char *tpl_name, struct wf_gen_srcmap **out,
                      struct diag *d)
{
	*out = NULL;
	struct wf_gen_srcmap *m = xcalloc(1, sizeof(*m));
	m->body = (struct strbuf)STRBUF_INIT;
	struct tpl *t = NULL;
	int rc = -1;
	if (tpl_compile(&t, src, len, tpl_name, NULL, d) == 0 &&
	    tpl_render_map(t, NULL, &m->body, &m->map, d) == 0)
		rc = 0;
	tpl_free(t);
	if (rc < 0) {
		wf_gen_srcmap_free(m);
		return -1;
	}
	size_t n = 1;
	for (size_t i = 0; i < m->body.len; i++)
		n += m->body.buf[i] == '\n';
	m->lines = xmalloc(n * sizeof(*m->lines));
	m->lines[m->nlines++] = 0;
	for (size_t i = 0; i < m->body.len; i++)
		if (m->body.buf[i] == '\n')
			m->lines[m->nlines++] = i + 1;
	*out = m;
	return 0;
}

bool wf_gen_srcmap_find(const struct wf_gen_srcmap *m, unsigned line, unsigned col,
                        unsigned *tpl_line, unsigned *tpl_col)
{
	if (line <= WF_GEN_HEADER_LINES || line - WF_GEN_HEADER_LINES > m->nlines)
		return false;
	size_t i = line - WF_GEN_HEADER_LINES - 1;
	size_t start = m->lines[i];
	size_t end = i + 1 < m->nlines ? m->lines[i + 1] : m->body.len; /* past its "\n" */
	size_t at = start + (col ? col - 1 : 0);
	unsigned l, c;
	if (at >= end || !tpl_map_find(m->map, at, &l, &c))
		return false;
	*tpl_line = l;
	*tpl_col = col ? c : 0;
	return true;
}

const char *wf_gen_srcmap_body(const struct wf_gen_srcmap *m, size_t *len)
{
	*len = m->body.len;
	return m->body.buf;
}

void wf_gen_srcmap_free(struct wf_gen_srcmap *m)
{
	if (!m)
		return;
	strbuf_release(&m->body);
	tpl_map_free(m->map);
	free(m->lines);
	free(m);
}

char *wf_gen_output_path(const char *tpl_path)
{
	size_t n = strlen(tpl_path);
	if (n > 3 && !strcmp(tpl_path + n - 3, ".j2"))
		n -= 3;
	return xstrndup(tpl_path, n);
}
