/*
 * libFuzzer target: arbitrary bytes as a Python module, read for its
 * top-level NUM_GPUS (and x, a name random inputs hit more often) and for
 * its top-level defs and __main__ block. Any crash, leak, sanitizer report
 * or hang is a bug; errors are fine, but must be well formed, and the two
 * functions, which share one walk, must fail alike.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "py/pyread.h"

/* Lines in the input, as the reader counts them (CRLF and CR are one end). */
static unsigned count_lines(const char *src, size_t size)
{
	unsigned n = 1;
	for (size_t i = 0; i < size; i++)
		n += src[i] == '\n' || (src[i] == '\r' && (i + 1 == size || src[i + 1] != '\n'));
	return n;
}

/* Reads name from src and checks what comes back; returns py_top_int()'s result. */
static int check_int(const char *src, size_t size, const char *name, unsigned lines, struct diag *d)
{
	struct py_int_assign a;
	int r = py_top_int(src, size, "f.py", name, &a, d);
	if (r) {
		CHECK(r == -1 && d->code == DIAG_INPUT && d->msg.len > 0);
		CHECK(d->loc.line >= 1 && d->loc.line <= lines + 1 && d->loc.col >= 1);
		CHECK(a.kind == PY_INT_ABSENT);
	} else if (a.kind == PY_INT_ABSENT) {
		CHECK(a.line == 0 && a.col == 0 && a.value == 0);
	} else {
		CHECK(a.line >= 1 && a.line <= lines && a.col >= 1);
		CHECK(a.value >= 0 && (a.kind == PY_INT_LITERAL || a.value == 0));
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *src = (const char *)data;
	unsigned lines = count_lines(src, size);
	struct diag first = DIAG_INIT, d = DIAG_INIT;
	struct py_top top;

	/* Whatever the name, the walk fails alike, in the same place. */
	int r1 = check_int(src, size, "NUM_GPUS", lines, &first);
	int r2 = check_int(src, size, "x", lines, &d);
	CHECK(r1 == r2);
	CHECK(!r1 || (d.loc.line == first.loc.line && d.loc.col == first.loc.col));
	diag_release(&d);

	int r = py_top_names(src, size, "f.py", &top, &d);
	CHECK(r == r1);
	if (r) {
		CHECK(d.loc.line == first.loc.line && d.loc.col == first.loc.col);
		CHECK(top.ndefs == 0 && !top.has_main_block);
	} else {
		CHECK(top.ndefs <= PY_TOP_MAX_DEFS);
		CHECK(top.has_main_block == (top.main_line != 0));
		for (size_t i = 0; i < top.ndefs; i++) {
			const struct py_top_def *def = &top.defs[i];
			CHECK(def->name >= src && def->len > 0 &&
			      def->name + def->len <= src + size);
			CHECK(def->line >= 1 && def->line <= lines);
			CHECK(i == 0 || def->line > top.defs[i - 1].line);
		}
	}
	diag_release(&first);
	diag_release(&d);
	return 0;
}
