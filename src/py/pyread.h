/*
 * pyread: what Python would see at the top level of a module after import,
 * read from the source without running it.
 *
 * The reader tokenizes the module as Python's tokenizer does (strings with
 * every prefix, triple quotes across lines, comments, backslash
 * continuations, brackets spanning lines, tabs, CRLF and CR line ends, a
 * UTF-8 BOM) and looks only at top-level statements: code in functions,
 * classes, strings, docstrings and comments never counts.
 *
 * The tokenizer follows CPython 3.11's (Parser/tokenizer.c). Bytes that
 * are not valid UTF-8 are read as opaque identifier characters; a coding
 * cookie is not honoured. An f-string is one string token, as in 3.11: a
 * 3.12 f-string that nests its own quote (f"{d["k"]}") reads as adjacent
 * strings and names, which changes nothing unless its quotes do not pair
 * up.
 *
 * Errors are those that stop Python from importing the module before any
 * code runs, and only where the tokenizer (or the indentation check) finds
 * them: an unterminated string or triple-quoted string (reported at its
 * first line), a bracket never closed, a closing bracket that matches none,
 * a malformed number (`04`, `1_`, `0x`), a character after a line
 * continuation, bad indentation (unexpected indent, a missing indented
 * block, an unindent matching no outer level, tabs and spaces mixed
 * inconsistently, more than 100 levels), more than 200 nested brackets, a
 * NUL byte. Other syntax errors are not reported: the statement is read as
 * well as it can be.
 *
 * Lines are 1-based; columns are 1-based and counted in characters (UTF-8
 * code points), a tab being one; the BOM takes no column.
 */
#ifndef GPUCI_PY_PYREAD_H
#define GPUCI_PY_PYREAD_H

#include <stdbool.h>
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
	int64_t value; /* PY_INT_LITERAL: the int, >= 0 */
	unsigned line; /* of the deciding statement (1-based), 0 when absent */
	unsigned col;  /* of the name in it (1-based, in characters), 0 when absent */
};

/*
 * Finds the value of the top-level name `name` (e.g. "NUM_GPUS") in the
 * module src[0..len): the last top-level statement in source order that
 * binds the name decides. On failure *out is PY_INT_ABSENT.
 *
 * PY_INT_LITERAL: an assignment of one int literal, in any base, with
 * underscores, in any number of parentheses, as the only or one of several
 * plain targets: `N = 4`, `N: int = 4`, `N = (4)`, `N = ((4))`, `(N) = 4`,
 * `A = N = 4`, `N=4  # c`, `N = 4_0`, `0x8`, `0o10`, `0b1`. A value above
 * INT64_MAX is PY_INT_NONLITERAL.
 *
 * PY_INT_NONLITERAL, at the line of the statement: any other value of an
 * assignment (`int(os.environ.get("N", 4))`, `X`, `-1` and `+4`, which are
 * expressions and not valid counts, `4.0`, `4j`, `True`, a string, `4, 5`);
 * the name as one element of a tuple or list target (`N, X = 4, 5`);
 * `N += 1` and every augmented assignment; a walrus `(N := 4)` anywhere in
 * a top-level statement outside a lambda; `import x as N`, `import N`,
 * `import N.sub`, `from m import N`; `del N`; `def N` and `class N` at top
 * level; 3.12's `type N = ...`.
 *
 * PY_INT_CONDITIONAL, at the line of the statement: any of the above in
 * the body of a compound statement (if, elif, else, try, except, finally,
 * for, while, with, match/case, their async forms), at any depth, the
 * body on the header's line included (`if x: N = 4`), and a name the
 * header binds itself (`for N in ...`, `with ... as N`, `except E as N`,
 * a capture in a case pattern, a walrus in the condition).
 *
 * Never counted: the body of `if __name__ == "__main__":` (either operand
 * order, any quotes and u/r prefixes, implicit concatenation, with or
 * without parentheses; also as an elif), which does not run on import (its
 * `else:` does, and is conditional); anything in a def or class body, in a
 * decorator, a parameter default, a class's bases, or a lambda; a bare
 * annotation `N: int`; `N.attr = 4`, `N[0] = 4`; `global N`; `from m
 * import *` (which could bind anything).
 *
 * Known misses, all rare in test files: a guard string written with
 * escapes ("__main_\x5f") is not recognized (its body is conditional); a
 * walrus inside an f-string's braces (f"{(N := 4)}") is not seen; a name
 * bound through globals() or exec() is not seen.
 *
 * Fails (DIAG_INPUT, with line:col in d->loc, the file named `file`) only
 * as the top of this header says.
 */
int py_top_int(const char *src, size_t len, const char *file, const char *name,
               struct py_int_assign *out, struct diag *d);

/* How many top-level defs struct py_top lists. */
#define PY_TOP_MAX_DEFS 64

struct py_top_def {
	const char *name; /* borrowed: points into src, not NUL-terminated */
	size_t len;
	unsigned line; /* of the `def` (of `async` for an async def) */
};

struct py_top {
	bool has_main_block; /* an `if __name__ == "__main__":` at top level */
	unsigned main_line;  /* the line of the first one, 0 without */
	size_t ndefs;        /* entries of defs[], in source order */
	bool defs_truncated; /* there were more than PY_TOP_MAX_DEFS */
	struct py_top_def defs[PY_TOP_MAX_DEFS];
};

/*
 * Reads what a test runner needs to know of the module src[0..len),
 * tokenized as py_top_int() does: the functions defined at top level
 * (`def NAME` and `async def NAME` starting at column 0; not those under an
 * if or try, nor methods) and whether the module has an
 * `if __name__ == "__main__":` block at top level (an `elif` with that test
 * counts too). The names in out point into src, which must outlive out.
 * Fails as py_top_int() does; out is then zeroed.
 */
int py_top_names(const char *src, size_t len, const char *file, struct py_top *out, struct diag *d);

/* Whether out lists a top-level `def name`. */
bool py_top_has_def(const struct py_top *top, const char *name);

#endif
