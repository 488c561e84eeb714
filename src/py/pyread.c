/*
 * The reader, in two layers.
 *
 * The scanner turns bytes into tokens as CPython 3.11's Parser/tokenizer.c
 * does, wherever that decides where a token, a logical line or a block
 * begins and ends: string prefixes and quotes, escapes, comments, numbers
 * and their errors, brackets, backslash continuations, NEWLINE, INDENT and
 * DEDENT with tabs to multiples of 8 checked against tabs as one column.
 * Line ends are translated as CPython translates them (CRLF and a lone CR
 * are one '\n'), and a missing newline at the end is supplied.
 *
 * The walk gathers the tokens of each logical line and keeps a stack of
 * blocks, each knowing whether a name bound in it is a module global bound
 * on import always, maybe (under if/for/try/...), or never (def and class
 * bodies, the __main__ guard). Each logical line is a compound statement's
 * header, with perhaps a body after its colon, or simple statements split
 * at ';'; the statements that can bind a name are picked apart from their
 * tokens. The walk reports what both public functions need, so issue 6's
 * questions (top-level defs, the __main__ block) share one pass.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "py/pyread.h"
#include "py/nfkc.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "base/banned.h"

/* CPython's limits: MAXINDENT nested blocks, MAXLEVEL nested brackets. */
#define MAX_INDENT 100
#define MAX_LEVEL  200
#define TABSIZE    8
#define NO_CHAR    (-1) /* what peekc() and nextc() give at the end */

enum tok_kind {
	T_NAME, /* identifiers and keywords alike */
	T_NUMBER,
	T_STRING, /* prefix and quotes included */
	T_OP,     /* operators and brackets */
	T_NEWLINE,
	T_INDENT,
	T_DEDENT,
	T_END,
};

struct tok {
	enum tok_kind kind;
	const char *p; /* the text, in src */
	size_t n;
	unsigned line, col;
};

struct scan {
	const char *src;
	size_t len, pos;
	bool add_nl;       /* a '\n' still to come after the last byte */
	unsigned line;     /* the line of src[pos] */
	size_t line_start; /* offset of its first byte */
	/* Column cache: col_at is the column of col_pos on the line at col_base. */
	size_t col_base, col_pos;
	unsigned col_at;
	bool atbol;                    /* at the start of a physical line: indentation next */
	int pendin;                    /* INDENT (> 0) or DEDENT (< 0) tokens still to return */
	int indent;                    /* the innermost block's index in indstack */
	unsigned indstack[MAX_INDENT]; /* its column, tabs to multiples of 8 */
	unsigned altstack[MAX_INDENT]; /* the same with tabs as one column */
	int level;                     /* brackets open */
	struct {
		char c;
		unsigned line, col;
	} paren[MAX_LEVEL];
	const char *file;
	struct diag *d;
};

static int scan_fail(struct scan *s, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int scan_fail(struct scan *s, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	s->d->code = DIAG_INPUT;
	strbuf_reset(&s->d->msg);
	va_start(ap, fmt);
	strbuf_vaddf(&s->d->msg, fmt, ap);
	va_end(ap);
	s->d->loc = (struct srcloc){s->file, line, col};
	return -1;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_xdigit(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* CPython's is_potential_identifier_start/char: any byte >= 128 counts. */
static bool is_id_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 128;
}

static bool is_id_char(int c)
{
	return is_id_start(c) || is_digit(c);
}

/* The next character, line ends translated, without taking it. */
static int peekc(const struct scan *s)
{
	if (s->pos < s->len) {
		unsigned char c = (unsigned char)s->src[s->pos];
		return c == '\r' ? '\n' : c;
	}
	return s->add_nl ? '\n' : NO_CHAR;
}

/* The raw byte k places ahead, for lookahead within a line. */
static int peek_at(const struct scan *s, size_t k)
{
	return s->len - s->pos > k ? (unsigned char)s->src[s->pos + k] : NO_CHAR;
}

static int nextc(struct scan *s)
{
	int c;
	if (s->pos < s->len) {
		c = (unsigned char)s->src[s->pos++];
		if (c == '\r') {
			if (s->pos < s->len && s->src[s->pos] == '\n')
				s->pos++;
			c = '\n';
		}
	} else if (s->add_nl) {
		s->add_nl = false;
		c = '\n';
	} else {
		return NO_CHAR;
	}
	if (c == '\n') {
		s->line++;
		s->line_start = s->pos;
	}
	return c;
}

/* The column of pos, which is on the current line; amortized O(1). */
static unsigned col_of(struct scan *s, size_t pos)
{
	if (s->col_base != s->line_start || pos < s->col_pos) {
		s->col_base = s->col_pos = s->line_start;
		s->col_at = 1;
	}
	for (; s->col_pos < pos; s->col_pos++)
		s->col_at += ((unsigned char)s->src[s->col_pos] & 0xc0) != 0x80;
	return s->col_at;
}

/* Whether the bytes ahead spell kw, not followed by an identifier character. */
static bool ahead(const struct scan *s, const char *kw)
{
	size_t n = strlen(kw);
	return s->len - s->pos >= n && !memcmp(s->src + s->pos, kw, n) &&
	       !is_id_char(peek_at(s, n));
}

/*
 * CPython's verify_end_of_number(): a number may not run into a name, but
 * `1if x else 2` and the like (a keyword that can follow a number) pass.
 */
static int end_of_number(struct scan *s, const struct tok *t, const char *kind)
{
	int c = peekc(s), c1 = peek_at(s, 1);
	bool kw = (c == 'a' && ahead(s, "and")) || (c == 'e' && ahead(s, "else")) ||
	          (c == 'f' && ahead(s, "for")) || (c == 'o' && ahead(s, "or")) ||
	          (c == 'n' && ahead(s, "not")) ||
	          (c == 'i' && (c1 == 'f' || c1 == 'n' || c1 == 's'));
	if (!kw && is_id_char(c))
		return scan_fail(s, t->line, t->col, "invalid %s literal", kind);
	return 0;
}

/* Digits with single underscores between them (CPython's tok_decimal_tail). */
static int decimal_tail(struct scan *s, const struct tok *t)
{
	for (;;) {
		while (is_digit(peekc(s)))
			nextc(s);
		if (peekc(s) != '_')
			return 0;
		nextc(s);
		if (!is_digit(peekc(s)))
			return scan_fail(s, t->line, t->col, "invalid decimal literal");
	}
}

/* Hex, octal or binary digits after the prefix: `_` only between digits. */
static int radix_digits(struct scan *s, const struct tok *t, int radix, const char *kind)
{
	do {
		if (peekc(s) == '_')
			nextc(s);
		int c = peekc(s);
		bool ok = radix == 16 ? is_xdigit(c) : c >= '0' && c < '0' + radix;
		if (!ok) {
			if (radix < 10 && is_digit(c))
				return scan_fail(s, t->line, t->col,
				                 "invalid digit '%c' in %s literal", c, kind);
			return scan_fail(s, t->line, t->col, "invalid %s literal", kind);
		}
		while (radix == 16 ? is_xdigit(peekc(s))
		                   : peekc(s) >= '0' && peekc(s) < '0' + radix)
			nextc(s);
	} while (peekc(s) == '_');
	if (radix < 10 && is_digit(peekc(s)))
		return scan_fail(s, t->line, t->col, "invalid digit '%c' in %s literal", peekc(s),
		                 kind);
	return end_of_number(s, t, kind);
}

/*
 * A number, at a digit or at a '.' before one, with CPython's checks; the
 * stages (integer part, fraction, exponent, imaginary suffix) in its order.
 */
static int scan_number(struct scan *s, const struct tok *t)
{
	bool fraction = false;
	int c = peekc(s);
	if (c == '.') {
		nextc(s);
		fraction = true;
	} else if (c == '0') {
		nextc(s);
		c = peekc(s);
		if (c == 'x' || c == 'X' || c == 'o' || c == 'O' || c == 'b' || c == 'B') {
			nextc(s);
			if (c == 'x' || c == 'X')
				return radix_digits(s, t, 16, "hexadecimal");
			if (c == 'o' || c == 'O')
				return radix_digits(s, t, 8, "octal");
			return radix_digits(s, t, 2, "binary");
		}
		/* Zeros, maybe an old-style octal, which is refused. */
		bool nonzero = false;
		for (;;) {
			if (peekc(s) == '_') {
				nextc(s);
				if (!is_digit(peekc(s)))
					return scan_fail(s, t->line, t->col,
					                 "invalid decimal literal");
			}
			if (peekc(s) != '0')
				break;
			nextc(s);
		}
		if (is_digit(peekc(s))) {
			nonzero = true;
			if (decimal_tail(s, t))
				return -1;
		}
		c = peekc(s);
		if (c == '.') {
			nextc(s);
			fraction = true;
		} else if (c != 'e' && c != 'E' && c != 'j' && c != 'J') {
			if (nonzero)
				return scan_fail(
				    s, t->line, t->col,
				    "leading zeros in decimal integer literals are not "
				    "permitted; use an 0o prefix for octal integers");
			return end_of_number(s, t, "decimal");
		}
	} else {
		if (decimal_tail(s, t))
			return -1;
		if (peekc(s) == '.') {
			nextc(s);
			fraction = true;
		}
	}
	if (fraction && is_digit(peekc(s)) && decimal_tail(s, t))
		return -1;
	c = peekc(s);
	if (c == 'e' || c == 'E') {
		int c1 = peek_at(s, 1);
		if (c1 == '+' || c1 == '-') {
			nextc(s);
			nextc(s);
			if (!is_digit(peekc(s)))
				return scan_fail(s, t->line, t->col, "invalid decimal literal");
		} else if (!is_digit(c1)) {
			/* The number ends before the 'e': `1else` passes, `1ex` fails. */
			return end_of_number(s, t, "decimal");
		} else {
			nextc(s);
		}
		if (decimal_tail(s, t))
			return -1;
		c = peekc(s);
	}
	if (c == 'j' || c == 'J') {
		nextc(s);
		return end_of_number(s, t, "imaginary");
	}
	return end_of_number(s, t, "decimal");
}

/*
 * A string from its (already taken) prefix to its closing quote. A
 * backslash takes the next character, even in a raw string (r"\" is
 * unterminated) and even a newline.
 */
static int scan_string(struct scan *s, const struct tok *t)
{
	int quote = nextc(s), size = 1, ends = 0;
	if (peekc(s) == quote) {
		nextc(s);
		if (peekc(s) == quote) {
			nextc(s);
			size = 3;
		} else {
			ends = 1; /* the empty string */
		}
	}
	while (ends != size) {
		int c = nextc(s);
		if (c == NO_CHAR || (size == 1 && c == '\n')) {
			/* The end of a line or of the input was taken: report it on its line. */
			unsigned at = s->line > t->line ? s->line - 1 : t->line;
			if (size == 3)
				return scan_fail(
				    s, t->line, t->col,
				    "unterminated triple-quoted string literal (detected at "
				    "line %u)",
				    at);
			return scan_fail(s, t->line, t->col,
			                 "unterminated string literal (detected at line %u)", at);
		}
		if (c == quote) {
			ends++;
		} else {
			ends = 0;
			if (c == '\\')
				nextc(s);
		}
	}
	return 0;
}

/* At the start of a line: its indentation, into INDENT or DEDENT tokens. */
static int scan_indent(struct scan *s, bool *blank)
{
	unsigned col = 0, altcol = 0;
	for (;;) {
		int c = peekc(s);
		if (c == ' ') {
			col++;
			altcol++;
		} else if (c == '\t') {
			col = (col / TABSIZE + 1) * TABSIZE;
			altcol++;
		} else if (c == '\f') {
			col = altcol = 0; /* a form feed resets the count, as for Emacs users */
		} else {
			break;
		}
		nextc(s);
	}
	int c = peekc(s);
	/* Blank and comment-only lines neither indent nor end a statement. */
	*blank = c == '#' || c == '\n';
	if (*blank || s->level)
		return 0;
	unsigned line = s->line, at = col_of(s, s->pos);
	int i = s->indent;
	if (col == s->indstack[i]) {
		if (altcol != s->altstack[i])
			goto tabs;
	} else if (col > s->indstack[i]) {
		if (i + 1 >= MAX_INDENT)
			return scan_fail(s, line, at, "too many levels of indentation");
		if (altcol <= s->altstack[i])
			goto tabs;
		s->pendin++;
		s->indent = ++i;
		s->indstack[i] = col;
		s->altstack[i] = altcol;
	} else {
		while (i > 0 && col < s->indstack[i]) {
			s->pendin--;
			i--;
		}
		s->indent = i;
		if (col != s->indstack[i])
			return scan_fail(s, line, at,
			                 "unindent does not match any outer indentation level");
		if (altcol != s->altstack[i])
			goto tabs;
	}
	return 0;
tabs:
	return scan_fail(s, line, at, "inconsistent use of tabs and spaces in indentation");
}

/* A bracket: kept on the stack, or checked against its opener. */
static int scan_bracket(struct scan *s, const struct tok *t, int c)
{
	if (c == '(' || c == '[' || c == '{') {
		if (s->level >= MAX_LEVEL)
			return scan_fail(s, t->line, t->col, "too many nested parentheses");
		s->paren[s->level].c = (char)c;
		s->paren[s->level].line = t->line;
		s->paren[s->level].col = t->col;
		s->level++;
		return 0;
	}
	if (!s->level)
		return scan_fail(s, t->line, t->col, "unmatched '%c'", c);
	s->level--;
	int open = (unsigned char)s->paren[s->level].c;
	if ((open == '(' && c == ')') || (open == '[' && c == ']') || (open == '{' && c == '}'))
		return 0;
	if (s->paren[s->level].line != t->line)
		return scan_fail(s, t->line, t->col,
		                 "closing parenthesis '%c' does not match opening parenthesis '%c' "
		                 "on line %u",
		                 c, open, s->paren[s->level].line);
	return scan_fail(s, t->line, t->col,
	                 "closing parenthesis '%c' does not match opening parenthesis '%c'", c,
	                 open);
}

/* Length of the operator at pos: CPython's three-, two- and one-char tables. */
static size_t op_len(const struct scan *s)
{
	static const char *const three[] = {"**=", "//=", "<<=", ">>=", "..."};
	static const char *const two[] = {"!=", "%=", "&=", "**", "*=", "+=", "-=",
	                                  "->", "//", "/=", ":=", "<<", "<=", "<>",
	                                  "==", ">=", ">>", "@=", "^=", "|="};
	size_t left = s->len - s->pos;
	for (size_t i = 0; i < sizeof(three) / sizeof(*three); i++)
		if (left >= 3 && !memcmp(s->src + s->pos, three[i], 3))
			return 3;
	for (size_t i = 0; i < sizeof(two) / sizeof(*two); i++)
		if (left >= 2 && !memcmp(s->src + s->pos, two[i], 2))
			return 2;
	return 1;
}

/* The next token into t (its text points into src). */
static int scan_next(struct scan *s, struct tok *t)
{
	int c;
	/* One physical line a turn, until a token: blank lines make none. */
	for (;;) {
		bool blank = false;
		if (s->atbol) {
			s->atbol = false;
			if (scan_indent(s, &blank))
				return -1;
		}
		if (s->pendin) {
			*t = (struct tok){s->pendin > 0 ? T_INDENT : T_DEDENT, s->src + s->pos, 0,
			                  s->line, col_of(s, s->pos)};
			s->pendin += s->pendin > 0 ? -1 : 1;
			return 0;
		}
		for (;;) {
			while ((c = peekc(s)) == ' ' || c == '\t' || c == '\f')
				nextc(s);
			*t = (struct tok){T_OP, s->src + s->pos, 0, s->line, col_of(s, s->pos)};
			if (c == '#') {
				while ((c = peekc(s)) != '\n' && c != NO_CHAR)
					nextc(s);
			}
			if (c != '\\')
				break;
			/* A backslash continuation joins the next line, indentation and all. */
			nextc(s);
			if (peekc(s) != '\n')
				return scan_fail(
				    s, t->line, t->col + 1,
				    "unexpected character after line continuation character");
			nextc(s);
			if (peekc(s) == NO_CHAR)
				return scan_fail(s, t->line, t->col + 1,
				                 "unexpected EOF while parsing");
		}
		if (c == NO_CHAR) {
			if (s->level) {
				int i = s->level - 1;
				return scan_fail(s, s->paren[i].line, s->paren[i].col,
				                 "'%c' was never closed", s->paren[i].c);
			}
			t->kind = T_END;
			return 0;
		}
		if (c != '\n')
			break;
		nextc(s);
		s->atbol = true;
		/* Inside brackets, or after a blank line, there is no NEWLINE. */
		if (!blank && !s->level) {
			t->kind = T_NEWLINE;
			return 0;
		}
	}
	size_t start = s->pos;
	if (is_id_start(c)) {
		/* The prefixes CPython takes: b, r, u, f, and br, rb, fr, rf in any case. */
		bool saw_b = false, saw_r = false, saw_u = false, saw_f = false;
		for (;;) {
			c = peekc(s);
			if (!(saw_b || saw_u || saw_f) && (c == 'b' || c == 'B'))
				saw_b = true;
			else if (!(saw_b || saw_u || saw_r || saw_f) && (c == 'u' || c == 'U'))
				saw_u = true;
			else if (!(saw_r || saw_u) && (c == 'r' || c == 'R'))
				saw_r = true;
			else if (!(saw_f || saw_b || saw_u) && (c == 'f' || c == 'F'))
				saw_f = true;
			else
				break;
			nextc(s);
			if (peekc(s) == '"' || peekc(s) == '\'') {
				t->kind = T_STRING;
				if (scan_string(s, t))
					return -1;
				goto done;
			}
		}
		while (is_id_char(peekc(s)))
			nextc(s);
		t->kind = T_NAME;
	} else if (is_digit(c) || (c == '.' && is_digit(peek_at(s, 1)))) {
		t->kind = T_NUMBER;
		if (scan_number(s, t))
			return -1;
	} else if (c == '"' || c == '\'') {
		t->kind = T_STRING;
		if (scan_string(s, t))
			return -1;
	} else if (c == '(' || c == '[' || c == '{' || c == ')' || c == ']' || c == '}') {
		nextc(s);
		if (scan_bracket(s, t, c))
			return -1;
	} else if (c == '.') {
		/* "..." is one token, ".." two. */
		s->pos += peek_at(s, 1) == '.' && peek_at(s, 2) == '.' ? 3 : 1;
	} else {
		/* Any other byte is an operator of its own; the parser would refuse some. */
		s->pos += op_len(s);
	}
done:
	t->n = s->pos - start;
	return 0;
}

/* Token tests. */

static bool tok_is(const struct tok *t, enum tok_kind kind, const char *text)
{
	size_t n = strlen(text);
	return t->kind == kind && t->n == n && !memcmp(t->p, text, n);
}

static bool is_op(const struct tok *t, const char *op)
{
	return tok_is(t, T_OP, op);
}

static bool is_kw(const struct tok *t, const char *kw)
{
	return tok_is(t, T_NAME, kw);
}

/* +1 for an opening bracket, -1 for a closing one, else 0. */
static int nesting(const struct tok *t)
{
	if (t->kind != T_OP || t->n != 1)
		return 0;
	switch (t->p[0]) {
	case '(':
	case '[':
	case '{':
		return 1;
	case ')':
	case ']':
	case '}':
		return -1;
	default:
		return 0;
	}
}

/* The index of the bracket closing t[i], n if none in t[0..n). */
static size_t match_close(const struct tok *t, size_t n, size_t i)
{
	int d = 0;
	for (size_t j = i; j < n; j++) {
		d += nesting(&t[j]);
		if (d <= 0)
			return d == 0 ? j : n;
	}
	return n;
}

/* Drops parentheses around the whole of t[0..n): `((4))` is `4`. */
static void strip_parens(const struct tok **t, size_t *n)
{
	while (*n >= 2 && is_op(*t, "(") && match_close(*t, *n, 0) == *n - 1) {
		(*t)++;
		*n -= 2;
	}
}

/*
 * The index just past the lambda at t[i]: its parameters up to its colon,
 * then its body up to a comma, colon, `for` or closing bracket at its own
 * depth. Lambdas inside it are counted, not recursed into.
 */
static size_t skip_lambda(const struct tok *t, size_t n, size_t i)
{
	int d = 0;
	unsigned colons = 1; /* lambdas whose colon is still to come */
	for (size_t j = i + 1; j < n; j++) {
		int nd = nesting(&t[j]);
		if (d == 0) {
			if (nd < 0)
				return j;
			if (is_kw(&t[j], "lambda")) {
				colons++;
			} else if (is_op(&t[j], ":")) {
				if (!colons)
					return j;
				colons--;
			} else if (!colons && (is_op(&t[j], ",") || is_op(&t[j], ";") ||
			                       is_kw(&t[j], "for") || is_kw(&t[j], "async"))) {
				return j;
			}
		}
		d += nd;
	}
	return n;
}

/* The index of the first depth-0 `:` at or after i that is not a lambda's, n if none. */
static size_t find_colon(const struct tok *t, size_t n, size_t i)
{
	int d = 0;
	for (; i < n; i++) {
		if (d == 0 && is_kw(&t[i], "lambda")) {
			i = skip_lambda(t, n, i);
			if (i >= n)
				return n;
		}
		if (d == 0 && is_op(&t[i], ":"))
			return i;
		d += nesting(&t[i]);
	}
	return n;
}

/* The walk. */

/* Whether a name bound by a statement of a block is a module global bound on import. */
enum run {
	RUN_ALWAYS, /* the top level */
	RUN_MAYBE,  /* under a compound statement: maybe */
	RUN_NEVER,  /* def and class bodies, the __main__ guard: never */
};

struct block {
	enum run run;
	bool match_body; /* the body of a match: its lines are case clauses */
};

enum kw {
	KW_NONE, /* a simple statement */
	KW_IF,
	KW_ELIF,
	KW_WHILE,
	KW_FOR,
	KW_WITH,
	KW_EXCEPT,
	KW_MATCH,
	KW_CASE,
	KW_DEF,
	KW_CLASS,
	KW_OTHER, /* else, try, finally, and lines ending in ':' that start with none */
};

struct walk {
	struct scan s;
	struct tok *v; /* the logical line being gathered */
	size_t n, cap;
	struct block blocks[MAX_INDENT];
	int depth;          /* index of the current block; the scanner's indent */
	bool expect_indent; /* the last line ended in ':': next, an INDENT */
	struct block next;  /* the block that INDENT opens */
	struct tok colon;   /* that ':', where a missing block is reported at the end */
	/* What the walk reports: either may be NULL. */
	const char *name; /* py_top_int(): the name asked for */
	size_t name_len;
	struct py_int_assign *assign;
	struct py_top *top;
};

static bool fold_name(const char *p, size_t n, struct strbuf *out);

/*
 * Whether the identifier p[0..n) is name to Python, which NFKC-normalises
 * identifiers: `ＮＵＭ_GPUS` is NUM_GPUS.
 */
static bool name_equals(const char *p, size_t n, const char *name, size_t name_len)
{
	if (n == name_len && !memcmp(p, name, n))
		return true;
	bool ascii = true;
	for (size_t i = 0; i < n && ascii; i++)
		ascii = !((unsigned char)p[i] & 0x80);
	if (ascii)
		return false;
	struct strbuf sb = STRBUF_INIT;
	bool eq = py_name_fold(p, n, &sb) && sb.len == name_len && !memcmp(sb.buf, name, name_len);
	strbuf_release(&sb);
	return eq;
}

static bool is_name(const struct walk *w, const struct tok *t)
{
	return w->name && t->kind == T_NAME && name_equals(t->p, t->n, w->name, w->name_len);
}

bool py_name_fold(const char *p, size_t n, struct strbuf *out)
{
	/* strbuf_utf8_len() reads up to a NUL: the name, terminated, not the source after it. */
	struct strbuf name = STRBUF_INIT;
	strbuf_add(&name, p, n);
	bool ok = !strbuf_failed(&name) && fold_name(name.buf ? name.buf : "", n, out);
	strbuf_release(&name);
	return ok;
}

static bool fold_name(const char *p, size_t n, struct strbuf *out)
{
	const unsigned char *s = (const unsigned char *)p, *end = s + n;
	while (s < end) {
		if (*s < 0x80) {
			strbuf_addch(out, (char)*s++);
			continue;
		}
		size_t k = strbuf_utf8_len(s);
		if (!k || s + k > end)
			return false;
		uint32_t cp = k == 2 ? (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f)
		              : k == 3
		                  ? (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
		                        (s[2] & 0x3f)
		                  : (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
		                        (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
		size_t lo = 0, hi = py_nfkc_ascii_n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (py_nfkc_ascii[mid].cp < cp)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == py_nfkc_ascii_n || py_nfkc_ascii[lo].cp != cp)
			return false;
		strbuf_adds(out, py_nfkc_ascii[lo].ascii);
		s += k;
	}
	return true;
}

/*
 * Records that the statement starting at stmt binds the name (the token
 * at) on import, under run: the latest such record is the answer.
 */
static void note(struct walk *w, enum run run, enum py_int_kind kind, int64_t value,
                 const struct tok *stmt, const struct tok *at)
{
	if (run == RUN_NEVER || !w->assign)
		return;
	if (run == RUN_MAYBE)
		kind = PY_INT_CONDITIONAL;
	*w->assign = (struct py_int_assign){
	    .kind = kind,
	    .value = kind == PY_INT_LITERAL ? value : 0,
	    .line = stmt->line,
	    .col = at->col,
	};
}

/* The value of an int literal (any base, underscores); false if none or above INT64_MAX. */
static bool int_literal(const struct tok *t, int64_t *out)
{
	const char *p = t->p, *end = t->p + t->n;
	uint64_t base = 10, v = 0;
	if (t->kind != T_NUMBER)
		return false;
	if (t->n > 2 && p[0] == '0') {
		char x = p[1] | 0x20;
		base = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 10;
		if (base != 10)
			p += 2;
	}
	for (; p < end; p++) {
		char c = *p;
		uint64_t dv;
		if (c == '_')
			continue;
		if (is_digit(c))
			dv = (uint64_t)(c - '0');
		else if (base == 16 && is_xdigit(c))
			dv = (uint64_t)(unsigned char)(c | 0x20) - 'a' + 10;
		else
			return false; /* a float or imaginary number: '.', 'e', 'j' */
		if (v > (INT64_MAX - dv) / base)
			return false;
		v = v * base + dv;
	}
	*out = (int64_t)v;
	return true;
}

enum bind {
	BIND_NO,
	BIND_PLAIN,  /* the target is the name, maybe in parentheses */
	BIND_NESTED, /* the name is an element of a tuple or list target, maybe starred */
};

/*
 * Whether the target t[0..n) binds the name (sets *at). An element binds
 * when it stands alone between separators, inside brackets that group
 * (not ones that call, subscript or make a dict): `N, x`, `[x, (N, y)]`,
 * `*N, x` do; `N.a`, `N[0]`, `x[N]`, `f(N)` do not.
 */
static enum bind target_binds(const struct walk *w, const struct tok *t, size_t n,
                              const struct tok **at)
{
	bool group[MAX_LEVEL];
	int d = 0, calls = 0;
	strip_parens(&t, &n);
	if (n == 1) {
		*at = t;
		return is_name(w, t) ? BIND_PLAIN : BIND_NO;
	}
	for (size_t i = 0; i < n; i++) {
		const struct tok *prev = i ? &t[i - 1] : NULL;
		bool after_sep = !prev || is_op(prev, "(") || is_op(prev, "[") ||
		                 is_op(prev, ",") || is_op(prev, "*");
		int nd = nesting(&t[i]);
		if (nd > 0) {
			if (d >= MAX_LEVEL)
				return BIND_NO;
			group[d] = after_sep && !is_op(&t[i], "{");
			calls += !group[d++];
		} else if (nd < 0) {
			if (d > 0)
				calls -= !group[--d];
		} else if (!calls && is_name(w, &t[i]) && after_sep &&
		           (i + 1 == n || is_op(&t[i + 1], ",") || is_op(&t[i + 1], ")") ||
		            is_op(&t[i + 1], "]"))) {
			*at = &t[i];
			return BIND_NESTED;
		}
	}
	return BIND_NO;
}

/* A walrus `name :=` in t[0..n), outside lambdas; its name token or NULL. */
static const struct tok *find_walrus(const struct walk *w, const struct tok *t, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (is_kw(&t[i], "lambda")) {
			/* Stops on the token that ends the lambda: look at it again. */
			size_t j = skip_lambda(t, n, i);
			if (j >= n)
				return NULL;
			i = j - 1;
		} else if (is_name(w, &t[i]) && is_op(&t[i + 1], ":=")) {
			return &t[i];
		}
	}
	return NULL;
}

/* `import a.b as N`, `import N.sub`, `from m import (x, N)`: names bound. */
static void import_stmt(struct walk *w, const struct tok *t, size_t n, enum run run)
{
	size_t i = 0;
	if (is_kw(t, "from")) {
		while (i < n && !is_kw(&t[i], "import"))
			i++;
		if (i + 1 < n && is_op(&t[i + 1], "(")) {
			i++;
			if (is_op(&t[n - 1], ")"))
				n--;
		}
	}
	for (i++; i < n; i++) {
		size_t j = i;
		while (j < n && !is_op(&t[j], ","))
			j++;
		const struct tok *bound = &t[i];
		if (j - i >= 3 && is_kw(&t[j - 2], "as"))
			bound = &t[j - 1];
		if (j > i && is_name(w, bound))
			note(w, run, PY_INT_NONLITERAL, 0, t, bound);
		i = j;
	}
}

/* Whether the string tokens t[0..n) make the text want (no escapes, no b or f prefix). */
static bool strings_equal(const struct tok *t, size_t n, const char *want)
{
	size_t wn = strlen(want), off = 0;
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *p = t[i].p;
		size_t plen = 0, q;
		bool raw = false;
		if (t[i].kind != T_STRING)
			return false;
		while (plen < t[i].n && p[plen] != '"' && p[plen] != '\'') {
			char c = p[plen++] | 0x20;
			if (c == 'r')
				raw = true;
			else if (c != 'u')
				return false;
		}
		size_t rest = t[i].n - plen;
		q = rest >= 6 && p[plen + 1] == p[plen] && p[plen + 2] == p[plen] ? 3 : 1;
		if (rest < 2 * q)
			return false;
		const char *body = p + plen + q;
		size_t blen = rest - 2 * q;
		if ((!raw && memchr(body, '\\', blen)) || blen > wn - off ||
		    memcmp(body, want + off, blen) != 0)
			return false;
		off += blen;
	}
	return off == wn;
}

/* Whether t[0..n) is `__name__ == "__main__"`, either way round, parentheses allowed. */
static bool is_main_guard(const struct tok *t, size_t n)
{
	strip_parens(&t, &n);
	size_t eq = n;
	int d = 0;
	for (size_t i = 0; i < n; i++) {
		d += nesting(&t[i]);
		if (d == 0 && is_op(&t[i], "==")) {
			if (eq != n)
				return false; /* a chain: a == b == c */
			eq = i;
		}
	}
	if (eq == n)
		return false;
	const struct tok *l = t, *r = t + eq + 1;
	size_t ln = eq, rn = n - eq - 1;
	strip_parens(&l, &ln);
	strip_parens(&r, &rn);
	return (ln == 1 && is_kw(l, "__name__") && strings_equal(r, rn, "__main__")) ||
	       (rn == 1 && is_kw(r, "__name__") && strings_equal(l, ln, "__main__"));
}

/* The first depth-0 token in t[i..n) that is one of the ops (a NULL-ended list), n if none. */
static size_t find_op(const struct tok *t, size_t n, size_t i, const char *const *ops)
{
	int d = 0;
	for (; i < n; i++) {
		if (d == 0 && t[i].kind == T_OP)
			for (const char *const *op = ops; *op; op++)
				if (is_op(&t[i], *op))
					return i;
		if (d == 0 && is_kw(&t[i], "lambda"))
			return n;
		d += nesting(&t[i]);
	}
	return n;
}

static bool is_augassign(const struct tok *t)
{
	return t->kind == T_OP && t->n >= 2 && t->p[t->n - 1] == '=' && !is_op(t, "==") &&
	       !is_op(t, "!=") && !is_op(t, "<=") && !is_op(t, ">=");
}

/* One simple statement t[0..n), under run. */
static void simple_stmt(struct walk *w, const struct tok *t, size_t n, enum run run)
{
	static const char *const eq[] = {"=", NULL};
	static const char *const assign_ops[] = {"=",  ":",  "+=", "-=", "*=",  "/=",  "//=", "%=",
	                                         "@=", "&=", "|=", "^=", ">>=", "<<=", "**=", NULL};
	const struct tok *at = NULL, *walrus;
	enum bind bind = BIND_NO;
	size_t value = n;
	if (!n)
		return;
	if (is_kw(t, "import") || is_kw(t, "from")) {
		import_stmt(w, t, n, run);
		return;
	}
	if (is_kw(t, "del")) {
		if (target_binds(w, t + 1, n - 1, &at) != BIND_NO)
			note(w, run, PY_INT_NONLITERAL, 0, t, at);
		return;
	}
	if (n >= 3 && is_kw(t, "type") && t[1].kind == T_NAME &&
	    (is_op(&t[2], "=") || is_op(&t[2], "["))) {
		/* 3.12's `type N = ...` binds N to a TypeAliasType. */
		if (is_name(w, &t[1]))
			note(w, run, PY_INT_NONLITERAL, 0, t, &t[1]);
		return;
	}
	size_t op = find_op(t, n, 0, assign_ops);
	if (op < n && is_op(&t[op], ":")) {
		/* An annotated assignment; without a value it binds nothing. */
		size_t e = find_op(t, n, op + 1, eq);
		if (e < n) {
			bind = target_binds(w, t, op, &at);
			value = e + 1;
		}
	} else if (op < n && is_augassign(&t[op])) {
		if (target_binds(w, t, op, &at) != BIND_NO)
			bind = BIND_NESTED; /* never a literal */
	} else if (op < n) {
		/* Targets, each followed by '=', then the value: `A = N = 4`. */
		size_t from = 0;
		for (size_t e = op; e < n; e = find_op(t, n, e + 1, eq)) {
			const struct tok *tat = NULL;
			enum bind b = target_binds(w, t + from, e - from, &tat);
			if (b != BIND_NO && bind != BIND_NESTED) {
				bind = b;
				at = tat;
			}
			from = e + 1;
		}
		value = from;
	}
	if (bind != BIND_NO) {
		const struct tok *v = t + value;
		size_t vn = n - value;
		int64_t num;
		strip_parens(&v, &vn);
		if (bind == BIND_PLAIN && vn == 1 && int_literal(v, &num))
			note(w, run, PY_INT_LITERAL, num, t, at);
		else
			note(w, run, PY_INT_NONLITERAL, 0, t, at);
	} else if ((walrus = find_walrus(w, t, n))) {
		note(w, run, PY_INT_NONLITERAL, 0, t, walrus);
	}
}

/* Simple statements separated by ';' (which never nests), under run. */
static void simple_stmts(struct walk *w, const struct tok *t, size_t n, enum run run)
{
	if (run == RUN_NEVER || !w->assign)
		return;
	size_t i = 0;
	for (size_t j = 0; j <= n; j++) {
		if (j == n || is_op(&t[j], ";")) {
			simple_stmt(w, t + i, j - i, run);
			i = j + 1;
		}
	}
}

/* The keyword of a compound statement's header, after `async` (*k: its index). */
static enum kw header_keyword(const struct tok *t, size_t n, bool match_body, size_t *k)
{
	static const struct {
		const char *word;
		enum kw kw;
	} words[] = {
	    {"if", KW_IF},      {"elif", KW_ELIF},     {"while", KW_WHILE},   {"for", KW_FOR},
	    {"with", KW_WITH},  {"except", KW_EXCEPT}, {"def", KW_DEF},       {"class", KW_CLASS},
	    {"else", KW_OTHER}, {"try", KW_OTHER},     {"finally", KW_OTHER},
	};
	*k = n > 1 && is_kw(t, "async") &&
	     (is_kw(&t[1], "def") || is_kw(&t[1], "for") || is_kw(&t[1], "with"));
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (is_kw(&t[*k], words[i].word))
			return words[i].kw;
	/* Soft keywords: `match` only heads a line ending in ':', `case` a line in a match. */
	if (match_body && is_kw(t, "case"))
		return KW_CASE;
	if (n > 2 && is_kw(t, "match") && is_op(&t[n - 1], ":"))
		return KW_MATCH;
	return is_op(&t[n - 1], ":") ? KW_OTHER : KW_NONE;
}

/* Names a compound header t[0..colon) binds itself: `for N in`, `as N`, case captures. */
static void header_binds(struct walk *w, const struct tok *t, size_t colon, size_t k, enum kw kw)
{
	const struct tok *at = NULL;
	if (kw == KW_FOR) {
		int d = 0;
		size_t i = k + 1;
		for (; i < colon && !(d == 0 && is_kw(&t[i], "in")); i++)
			d += nesting(&t[i]);
		if (target_binds(w, t + k + 1, i - k - 1, &at) != BIND_NO)
			note(w, RUN_MAYBE, PY_INT_NONLITERAL, 0, t, at);
	} else if (kw == KW_WITH || kw == KW_EXCEPT) {
		for (size_t i = k + 1; i + 1 < colon; i++) {
			if (!is_kw(&t[i], "as"))
				continue;
			const struct tok *x = &t[i + 1];
			size_t end = i + 2;
			if (nesting(x) > 0)
				end = match_close(t, colon, i + 1) + 1;
			else if (end < colon && (is_op(&t[end], ".") || nesting(&t[end]) > 0))
				continue; /* an attribute or subscript */
			if (end <= colon && target_binds(w, x, end - i - 1, &at) != BIND_NO)
				note(w, RUN_MAYBE, PY_INT_NONLITERAL, 0, t, at);
		}
	} else if (kw == KW_CASE) {
		/* A capture: a name not dotted, called (a class) or a keyword of one. */
		int d = 0;
		for (size_t i = k + 1; i < colon; i++) {
			if (d == 0 && is_kw(&t[i], "if"))
				break; /* the guard */
			d += nesting(&t[i]);
			if (is_name(w, &t[i]) && !is_op(&t[i - 1], ".") &&
			    (i + 1 == colon || (!is_op(&t[i + 1], ".") && !is_op(&t[i + 1], "(") &&
			                        !is_op(&t[i + 1], "="))))
				note(w, RUN_MAYBE, PY_INT_NONLITERAL, 0, t, &t[i]);
		}
	}
	const struct tok *walrus = find_walrus(w, t + k + 1, colon - k - 1);
	if (walrus)
		note(w, RUN_MAYBE, PY_INT_NONLITERAL, 0, t, walrus);
}

/* One logical line t[0..n) (no NEWLINE) in the current block. */
static void visit_line(struct walk *w, const struct tok *t, size_t n)
{
	const struct block *b = &w->blocks[w->depth];
	size_t k, colon;
	if (!n)
		return;
	if (is_op(t, "@")) {
		/* A decorator: what it binds does not count. */
		if (is_op(&t[n - 1], ":")) {
			w->expect_indent = true;
			w->next = (struct block){.run = RUN_NEVER};
			w->colon = t[n - 1];
		}
		return;
	}
	enum kw kw = header_keyword(t, n, b->match_body, &k);
	if (kw == KW_NONE) {
		simple_stmts(w, t, n, b->run);
		return;
	}
	colon = find_colon(t, n, k + 1);
	struct block body = {.run = b->run == RUN_NEVER ? RUN_NEVER : RUN_MAYBE,
	                     .match_body = kw == KW_MATCH};
	if (kw == KW_DEF || kw == KW_CLASS) {
		const struct tok *name = k + 1 < n && t[k + 1].kind == T_NAME ? &t[k + 1] : NULL;
		body.run = RUN_NEVER;
		if (name && is_name(w, name))
			note(w, b->run, PY_INT_NONLITERAL, 0, t, name);
		if (name && kw == KW_DEF && w->depth == 0 && w->top) {
			struct py_top *top = w->top;
			if (top->ndefs < PY_TOP_MAX_DEFS)
				top->defs[top->ndefs++] =
				    (struct py_top_def){name->p, name->n, t[0].line};
			else
				top->defs_truncated = true;
		}
	} else {
		if ((kw == KW_IF || kw == KW_ELIF) && is_main_guard(t + 1, colon - 1)) {
			/* The body runs only when the module is the program. */
			body.run = RUN_NEVER;
			if (w->depth == 0 && w->top && !w->top->has_main_block) {
				w->top->has_main_block = true;
				w->top->main_line = t[0].line;
			}
		}
		if (b->run != RUN_NEVER && w->assign)
			header_binds(w, t, colon, k, kw);
	}
	if (colon + 1 < n) {
		simple_stmts(w, t + colon + 1, n - colon - 1, body.run);
	} else if (colon + 1 == n) {
		w->expect_indent = true;
		w->next = body;
		w->colon = t[colon];
	}
}

static int walk_fail(struct walk *w, const struct tok *t, const char *msg)
{
	return scan_fail(&w->s, t->line, t->col, "%s", msg);
}

/* Reads the whole module: tokens into logical lines, INDENT and DEDENT into blocks. */
static int walk_module(struct walk *w, const char *src, size_t len, const char *file,
                       struct diag *d)
{
	struct scan *s = &w->s;
	struct tok t;
	int ret = -1;
	if (!len)
		src = ""; /* src may be NULL then; it is never read */
	*s = (struct scan){.src = src, .len = len, .line = 1, .atbol = true, .file = file, .d = d};
	s->col_base = (size_t)-1;
	const char *nul = len ? memchr(src, '\0', len) : NULL;
	if (len >= 3 && !memcmp(src, "\xef\xbb\xbf", 3))
		s->pos = s->line_start = 3; /* the BOM takes no column */
	/*
	 * CPython's translate_newlines() ends the source with a newline where
	 * none is, and (by a quirk) adds one after a final CRLF: a last line
	 * "\\\r\n" then continues into an empty line instead of failing.
	 */
	s->add_nl =
	    len > s->pos && ((src[len - 1] != '\n' && src[len - 1] != '\r') ||
	                     (len - s->pos >= 2 && src[len - 2] == '\r' && src[len - 1] == '\n'));
	if (nul) {
		/* CPython refuses the whole file: report where the NUL is. */
		const char *p = src + s->pos;
		while (p < nul) {
			nextc(s);
			p = src + s->pos;
		}
		return scan_fail(s, s->line, col_of(s, s->pos),
		                 "source code cannot contain null bytes");
	}
	w->blocks[0] = (struct block){.run = RUN_ALWAYS};
	for (;;) {
		if (scan_next(s, &t))
			goto out;
		if (t.kind == T_INDENT) {
			if (!w->expect_indent) {
				walk_fail(w, &t, "unexpected indent");
				goto out;
			}
			w->expect_indent = false;
			w->blocks[++w->depth] = w->next;
			continue;
		}
		if (w->expect_indent) {
			/* At the end, CPython points just past the colon. */
			if (t.kind == T_END) {
				t = w->colon;
				t.col++;
			}
			walk_fail(w, &t, "expected an indented block");
			goto out;
		}
		if (t.kind == T_DEDENT) {
			if (w->depth > 0)
				w->depth--;
		} else if (t.kind == T_NEWLINE) {
			visit_line(w, w->v, w->n);
			w->n = 0;
		} else if (t.kind == T_END) {
			break;
		} else {
			if (w->n == w->cap) {
				w->cap = w->cap ? w->cap * 2 : 64;
				w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
			}
			w->v[w->n++] = t;
		}
	}
	ret = 0;
out:
	free(w->v);
	w->v = NULL;
	return ret;
}

int py_top_int(const char *src, size_t len, const char *file, const char *name,
               struct py_int_assign *out, struct diag *d)
{
	struct walk *w = xcalloc(1, sizeof(*w));
	*out = (struct py_int_assign){.kind = PY_INT_ABSENT};
	w->name = name;
	w->name_len = strlen(name);
	w->assign = out;
	int ret = walk_module(w, src, len, file, d);
	if (ret)
		*out = (struct py_int_assign){.kind = PY_INT_ABSENT};
	free(w);
	return ret;
}

int py_top_names(const char *src, size_t len, const char *file, struct py_top *out, struct diag *d)
{
	struct walk *w = xcalloc(1, sizeof(*w));
	memset(out, 0, sizeof(*out));
	w->top = out;
	int ret = walk_module(w, src, len, file, d);
	if (ret)
		memset(out, 0, sizeof(*out));
	free(w);
	return ret;
}

bool py_top_has_def(const struct py_top *top, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < top->ndefs; i++)
		if (top->defs[i].len == n && !memcmp(top->defs[i].name, name, n))
			return true;
	return false;
}
