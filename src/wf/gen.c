/* wf/gen: see gen.h. */
#include "wf/gen.h"

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

char *wf_gen_output_path(const char *tpl_path)
{
	size_t n = strlen(tpl_path);
	if (n > 3 && !strcmp(tpl_path + n - 3, ".j2"))
		n -= 3;
	return xstrndup(tpl_path, n);
}
