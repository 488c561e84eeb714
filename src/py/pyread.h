/*
 * pyread: what Python would see at the top level of a module after import,
 * read from the source without running it.
 *
 * The reader tokenizes the module as Python's tokenizer does (strings with
 * every prefix, triple quotes across lines, comments, backslash
 * continuations, brackets spanning lines, tabs, CRLF and CR line ends, a
 * UTF-8 BOM) and looks only at top-level statements: code in functions,
 * classes, strings, docstrings and comments never counts.
 */
#ifndef GPUCI_PY_PYREAD_H
#define GPUCI_PY_PYREAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"

enum py_int_kind {
	PY_INT_ABSENT,      /* no top-level assignment to the name */
	PY_INT_LITERAL,     /* the last one assigns an int literal: value */
	PY_INT_NONLITERAL,  /* the last one assigns something else (a call, a name, -1 ...) */
	PY_INT_CONDITIONAL, /* the last one sits under a top-level if/try/for/while/with */
};

struct py_int_assign {
	enum py_int_kind kind;
	int64_t value;   /* PY_INT_LITERAL: the int, >= 0 */
	unsigned line;   /* of the deciding assignment (1-based), 0 when absent */
	unsigned col;    /* of the name in it (1-based, in characters) */
};

/*
 * Finds the value of the top-level name `name` (e.g. "NUM_GPUS") in the
 * module src[0..len): the last top-level assignment in source order wins
 * (`N = 4`, `N: int = 4`, `N = (4)`, `N = X = 4`, `N=4  # c`, `4_0`,
 * `0x8`); an assignment under `if __name__ == "__main__":` does not run on
 * import and is ignored. Fails (DIAG_INPUT, with line:col in d->loc, the
 * file named `file`) only where Python's tokenizer would: an unterminated
 * string or bracket, bad indentation.
 */
int py_top_int(const char *src, size_t len, const char *file, const char *name,
               struct py_int_assign *out, struct diag *d);

#endif
