/*
 * libFuzzer target: compiles and renders arbitrary bytes as a template.
 * Any crash, leak, sanitizer report or hang is a bug; errors are fine.
 * Limits keep each input to a bounded amount of work.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"
#include "tpl/tpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tpl *t;
	struct diag d = DIAG_INIT;
	if (tpl_compile(&t, (const char *)data, size, "fuzz.j2", NULL, &d) == 0) {
		struct strbuf out = STRBUF_INIT;
		tpl_set_limits(t, (size_t)1 << 20, 200000);
		tpl_render(t, &out, &d);
		strbuf_release(&out);
		tpl_free(t);
	}
	diag_release(&d);
	return 0;
}
