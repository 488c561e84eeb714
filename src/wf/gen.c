/* wf/gen: see gen.h. */
#include "wf/gen.h"

#include <string.h>

#include "tpl/tpl.h"
#include "wf/wf.h"
#include "base/xalloc.h"
#include "base/banned.h"

#define HEADER_RULE                                                                                \
	"################################################################################\n"

const char wf_gen_header[] = HEADER_RULE "# This file is auto-generated from the .j2 file via "
                                         "gpuci render. Do not edit manually.\n" HEADER_RULE;

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

int wf_gen_file(const char *src, size_t len, const char *tpl_name, const char *out_name,
                struct strbuf *out, struct diag *d)
{
	size_t start = out->len;
	strbuf_adds(out, wf_gen_header);
	if (wf_gen_body(src, len, tpl_name, out, d) < 0)
		return -1;
	return wf_check_yaml(out->buf + start, out->len - start, out_name, d);
}

char *wf_gen_output_path(const char *tpl_path)
{
	size_t n = strlen(tpl_path);
	if (n > 3 && !strcmp(tpl_path + n - 3, ".j2"))
		n -= 3;
	return xstrndup(tpl_path, n);
}
