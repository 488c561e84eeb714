/*
 * GitHub Actions expressions. The reference is the evaluator GitHub runs
 * (actions/runner, src/Sdk/DTExpressions2), where its documentation is
 * silent: the lexer's token boundaries, the coercions of EvaluationResult,
 * numbers printed with .NET's "G15", the depth and length limits, the
 * format() grammar and toJSON's layout all follow it.
 *
 * Layout of this file: numbers and strings as GitHub converts them, the
 * lexer, the parser (one node per operator, as GitHub's tree, so that its
 * depth limit means the same), the evaluator with the functions, JSON in
 * and out, then the ${{ }} scanning behind gha_interp and gha_eval_if.
 *
 * Unknown values (V_UNDEF) propagate: every operation that meets one
 * returns it (hint included) unless its result is known without it, as in
 * `false && x`. The `if:` evaluator goes further with three-valued logic,
 * so that `x || true` is known true even when x is not.
 */
#include "gha/expr.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/xalloc.h"
#include "base/banned.h"

#define MAX_LENGTH     21000 /* GitHub's ExpressionConstants.MaxLength */
#define MAX_DEPTH      50    /* GitHub's ExpressionConstants.MaxDepth: nodes, root to leaf */
#define MAX_NEST       200   /* parentheses and the like, which make no node: bounds recursion */
#define MAX_JSON_DEPTH 200
#define MAX_MEMORY     ((size_t)8 << 20) /* bytes one evaluation may build (gpuci's own limit) */
#define MAX_ARGS       255               /* GitHub's Byte.MaxValue */

/* ---- Numbers and strings as GitHub converts them ---- */

/* The length of the JavaScript whitespace character at s[0..n), or 0. */
static size_t space_at(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	if (!n)
		return 0;
	if (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r'))
		return 1;
	if (n >= 2 && u[0] == 0xc2 && u[1] == 0xa0)
		return 2; /* U+00A0 */
	if (n < 3)
		return 0;
	if (u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf)
		return 3; /* U+FEFF */
	if (u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80)
		return 3; /* U+1680 */
	if (u[0] == 0xe2 && u[1] == 0x80 &&
	    (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf) && u[2] >= 0x80)
		return 3; /* U+2000..200A, U+2028, U+2029, U+202F */
	if (u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f)
		return 3; /* U+205F */
	if (u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80)
		return 3; /* U+3000 */
	return 0;
}

/* The length of the whitespace character that ends s[0..n), or 0. */
static size_t space_before(const char *s, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++)
		if (space_at(s + n - k, k) == k)
			return k;
	return 0;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * A string as a number, by JavaScript's Number(): surrounding whitespace
 * ignored, '' is 0, decimal with optional sign and exponent, 0x / 0o / 0b
 * integers, [+-]Infinity; anything else NaN. GitHub's runner documents
 * the same rules (ExpressionUtility.ParseNumber).
 */
static double parse_number(const char *s, size_t n)
{
	size_t k;
	while ((k = space_at(s, n)) != 0) {
		s += k;
		n -= k;
	}
	while ((k = space_before(s, n)) != 0)
		n -= k;
	if (!n)
		return 0;
	char x = (char)(n > 2 ? s[1] | 0x20 : 0);
	if (s[0] == '0' && (x == 'x' || x == 'o' || x == 'b')) {
		int base = x == 'x' ? 16 : x == 'o' ? 8 : 2;
		double v = 0;
		for (size_t i = 2; i < n; i++) {
			int d = digit_value(s[i]);
			if (d >= base)
				return NAN;
			v = v * base + d;
		}
		return v;
	}
	size_t i = 0;
	bool neg = false;
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		i++;
	}
	if (n - i == 8 && !memcmp(s + i, "Infinity", 8))
		return neg ? -INFINITY : INFINITY;
	size_t digits = 0;
	while (i < n && is_digit(s[i])) {
		i++;
		digits++;
	}
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && is_digit(s[i])) {
			i++;
			digits++;
		}
	}
	if (!digits)
		return NAN;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			return NAN;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i != n)
		return NAN;
	/* Valid syntax: strtod does the rounding (the C locale is never changed). */
	char small[64];
	char *buf = n < sizeof(small) ? small : xmalloc(n + 1);
	memcpy(buf, s, n);
	buf[n] = '\0';
	double v = strtod(buf, NULL);
	if (buf != small)
		free(buf);
	return v;
}

/*
 * A number as GitHub prints it: .NET's ToString("G15"), so 15 significant
 * digits, trailing zeros dropped, and an exponent ("1E+15", "1E-05") when
 * the decimal exponent is below -4 or above 14. Zero is "0" whatever its
 * sign, as in GitHub's own TypeScript evaluator.
 */
static void num_str(double f, struct strbuf *out)
{
	if (isnan(f)) {
		strbuf_adds(out, "NaN");
		return;
	}
	if (isinf(f)) {
		strbuf_adds(out, f < 0 ? "-Infinity" : "Infinity");
		return;
	}
	if (f == 0) {
		strbuf_addch(out, '0');
		return;
	}
	char buf[40], digits[20] = "0";
	snprintf(buf, sizeof(buf), "%.14e", f < 0 ? -f : f); /* d.dddddddddddddde[+-]x */
	size_t nd = 0;
	const char *q = buf;
	while (*q && *q != 'e' && nd < sizeof(digits)) {
		if (*q != '.')
			digits[nd++] = *q;
		q++;
	}
	int exp = *q == 'e' ? (int)strtol(q + 1, NULL, 10) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (f < 0)
		strbuf_addch(out, '-');
	if (exp < -4 || exp >= 15) {
		strbuf_addch(out, digits[0]);
		if (nd > 1) {
			strbuf_addch(out, '.');
			strbuf_add(out, digits + 1, nd - 1);
		}
		strbuf_addf(out, "E%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	} else if (exp >= 0) {
		for (size_t i = 0; i <= (size_t)exp; i++)
			strbuf_addch(out, i < nd ? digits[i] : '0');
		if (nd > (size_t)exp + 1) {
			strbuf_addch(out, '.');
			strbuf_add(out, digits + exp + 1, nd - (size_t)exp - 1);
		}
	} else {
		strbuf_adds(out, "0.");
		for (int i = 0; i < -exp - 1; i++)
			strbuf_addch(out, '0');
		strbuf_add(out, digits, nd);
	}
}

/* Whether f is an integer within +-2^53 (libm is not linked: no floor()). */
static bool is_small_int(double f)
{
	return f >= -9007199254740992.0 && f <= 9007199254740992.0 && f == (double)(int64_t)f;
}

/* A number as a value: V_INT when integral within +-2^53, else V_FLOAT. */
static struct value num_value(double f)
{
	return is_small_int(f) ? value_int((int64_t)f) : value_float(f);
}

/* GitHub's kinds of value; V_FUNC (never in contexts) counts as null. */
enum gkind { G_NULL, G_BOOL, G_NUM, G_STR, G_ARR, G_OBJ };

static enum gkind gkind(struct value v)
{
	switch (v.kind) {
	case V_BOOL:
		return G_BOOL;
	case V_INT:
	case V_FLOAT:
		return G_NUM;
	case V_STR:
		return G_STR;
	case V_LIST:
		return G_ARR;
	case V_DICT:
		return G_OBJ;
	default:
		return G_NULL;
	}
}

static const char *gkind_name(enum gkind k)
{
	static const char *const names[] = {"Null",   "Boolean", "Number",
	                                    "String", "Array",   "Object"};
	return names[k];
}

static bool is_primitive(struct value v)
{
	return gkind(v) <= G_STR;
}

/* A value as a number: null 0, booleans 1 and 0, strings by parse_number. */
static double num_of(struct value v)
{
	switch (v.kind) {
	case V_BOOL:
		return v.b ? 1 : 0;
	case V_INT:
		return (double)v.i;
	case V_FLOAT:
		return v.f;
	case V_STR:
		return parse_number(v.str.s, v.str.len);
	case V_LIST:
	case V_DICT:
		return NAN;
	default:
		return 0;
	}
}

void gha_to_str(struct value v, struct strbuf *out)
{
	switch (v.kind) {
	case V_BOOL:
		strbuf_adds(out, v.b ? "true" : "false");
		break;
	case V_INT:
	case V_FLOAT:
		num_str(num_of(v), out);
		break;
	case V_STR:
		strbuf_add(out, v.str.s, v.str.len);
		break;
	case V_LIST:
		strbuf_adds(out, "Array");
		break;
	case V_DICT:
		strbuf_adds(out, "Object");
		break;
	default:
		break;
	}
}

bool gha_truthy(struct value v)
{
	switch (v.kind) {
	case V_BOOL:
		return v.b;
	case V_INT:
		return v.i != 0;
	case V_FLOAT:
		return v.f != 0 && !isnan(v.f);
	case V_STR:
		return v.str.len != 0;
	case V_LIST:
	case V_DICT:
		return true;
	default:
		return false;
	}
}

/*
 * Simple uppercase of a code point, as .NET's OrdinalIgnoreCase compares:
 * ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic. The dotted and
 * dotless i (U+0130, U+0131) stay as they are, as in GitHub's evaluators.
 */
static uint32_t upper(uint32_t c)
{
	if (c < 0x80)
		return c >= 'a' && c <= 'z' ? c - 32 : c;
	if (c < 0x100) {
		if (c >= 0xe0 && c != 0xf7 && c != 0xff)
			return c - 32;
		return c == 0xff ? 0x178 : c == 0xb5 ? 0x39c : c;
	}
	if (c < 0x180) {
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c >= 0x17f)
			return c;
		/* Pairs: upper then lower, except 0x139-0x148 and 0x179-0x17e. */
		bool odd_lower = c < 0x138 || (c >= 0x14a && c < 0x178);
		bool odd = (c & 1) != 0;
		if (c == 0x178 || odd != odd_lower)
			return c;
		return c - 1;
	}
	if (c >= 0x3b1 && c <= 0x3cb)
		return c == 0x3c2 ? 0x3a3 : c - 32;
	if (c == 0x3ac)
		return 0x386;
	if (c >= 0x3ad && c <= 0x3af)
		return c - 37;
	if (c == 0x3cc)
		return 0x38c;
	if (c == 0x3cd || c == 0x3ce)
		return c - 63;
	if (c >= 0x430 && c <= 0x44f)
		return c - 32;
	if (c >= 0x450 && c <= 0x45f)
		return c - 80;
	return c;
}

/* Compares two strings ignoring case: <0, 0 or >0. */
static int ci_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *p = a, *pe = a + alen, *q = b, *qe = b + blen;
	while (p < pe && q < qe) {
		uint32_t x = upper(utf8_decode(&p, pe)), y = upper(utf8_decode(&q, qe));
		if (x != y)
			return x < y ? -1 : 1;
	}
	return (p < pe) - (q < qe);
}

/* Appends s uppercased, for substring tests that ignore case. */
static void upper_into(const char *s, size_t len, struct strbuf *out)
{
	const char *p = s, *end = s + len;
	while (p < end) {
		const char *start = p;
		uint32_t c = utf8_decode(&p, end);
		uint32_t u = upper(c);
		if (u == c)
			strbuf_add(out, start, (size_t)(p - start));
		else
			utf8_put(out, u);
	}
}

/* ---- Lexer: GitHub's tokens and token boundaries ---- */

enum tok {
	T_NONE, /* before the first token */
	T_EOF,
	T_BAD,
	T_LPAREN,
	T_RPAREN,
	T_LBRACK,
	T_RBRACK,
	T_COMMA,
	T_DOT,
	T_STAR,
	T_NOT,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_AND,
	T_OR,
	T_NUM,
	T_STR,
	T_TRUE,
	T_FALSE,
	T_NULL,
	T_WORD, /* a named value, a function name or (after '.') a property name */
};

struct token {
	enum tok kind;
	size_t off, len;
	double num;
};

struct lexer {
	const char *s;
	size_t len, pos;
	enum tok prev;
};

static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The characters that end a number or a keyword (LexicalAnalyzer.TestTokenBoundary). */
static bool is_boundary(char c)
{
	switch (c) {
	case '(':
	case '[':
	case ')':
	case ']':
	case ',':
	case '.':
	case '!':
	case '>':
	case '<':
	case '=':
	case '&':
	case '|':
		return true;
	default:
		return is_space(c);
	}
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Letters, digits, '_' and '-', starting with a letter or '_'. */
static bool is_legal_word(const char *s, size_t n)
{
	if (!n || !(is_alpha(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && !memcmp(s, w, n);
}

/* A word not after '.': a literal keyword (case-sensitive) or T_WORD. */
static enum tok keyword(const char *w, size_t n, double *num)
{
	if (word_is(w, n, "null"))
		return T_NULL;
	if (word_is(w, n, "true"))
		return T_TRUE;
	if (word_is(w, n, "false"))
		return T_FALSE;
	if (word_is(w, n, "NaN") || word_is(w, n, "Infinity")) {
		*num = w[0] == 'N' ? NAN : INFINITY;
		return T_NUM;
	}
	return T_WORD;
}

/* After these a '.' starts a number rather than a dereference. */
static bool prev_wants_operand(enum tok t)
{
	switch (t) {
	case T_NONE:
	case T_COMMA:
	case T_LPAREN:
	case T_LBRACK:
	case T_NOT:
	case T_EQ:
	case T_NE:
	case T_LT:
	case T_LE:
	case T_GT:
	case T_GE:
	case T_AND:
	case T_OR:
		return true;
	default:
		return false;
	}
}

/* Reads up to the next boundary (a '.' too when dot is set). */
static void lex_span(struct lexer *lx, bool dot)
{
	while (lx->pos < lx->len &&
	       (!is_boundary(lx->s[lx->pos]) || (dot && lx->s[lx->pos] == '.')))
		lx->pos++;
}

static struct token lex_next(struct lexer *lx)
{
	while (lx->pos < lx->len && is_space(lx->s[lx->pos]))
		lx->pos++;
	struct token t = {.kind = T_EOF, .off = lx->pos};
	if (lx->pos >= lx->len) {
		lx->prev = T_EOF;
		return t;
	}
	const char *s = lx->s;
	char c = s[lx->pos++];
	char next = lx->pos < lx->len ? s[lx->pos] : '\0';
	switch (c) {
	case '(':
		t.kind = T_LPAREN;
		break;
	case ')':
		t.kind = T_RPAREN;
		break;
	case '[':
		t.kind = T_LBRACK;
		break;
	case ']':
		t.kind = T_RBRACK;
		break;
	case ',':
		t.kind = T_COMMA;
		break;
	case '*':
		t.kind = T_STAR;
		break;
	case '\'':
		t.kind = T_BAD; /* until the closing quote */
		while (lx->pos < lx->len) {
			if (s[lx->pos++] != '\'')
				continue;
			if (lx->pos < lx->len && s[lx->pos] == '\'') {
				lx->pos++;
				continue;
			}
			t.kind = T_STR;
			break;
		}
		break;
	case '!':
	case '<':
	case '>':
		if (next == '=') {
			lx->pos++;
			t.kind = c == '!' ? T_NE : c == '<' ? T_LE : T_GE;
		} else {
			t.kind = c == '!' ? T_NOT : c == '<' ? T_LT : T_GT;
		}
		break;
	case '=':
	case '&':
	case '|':
		if (next == c) {
			lx->pos++;
			t.kind = c == '=' ? T_EQ : c == '&' ? T_AND : T_OR;
		} else {
			t.kind = T_BAD;
			lex_span(lx, false);
		}
		break;
	default:
		if ((c == '.' && prev_wants_operand(lx->prev)) || c == '-' || c == '+' ||
		    is_digit(c)) {
			lex_span(lx, true);
			t.num = parse_number(s + t.off, lx->pos - t.off);
			t.kind = isnan(t.num) ? T_BAD : T_NUM;
		} else if (c == '.') {
			t.kind = T_DOT;
		} else {
			lex_span(lx, false);
			const char *w = s + t.off;
			size_t n = lx->pos - t.off;
			if (!is_legal_word(w, n))
				t.kind = T_BAD;
			else
				t.kind = lx->prev == T_DOT ? T_WORD : keyword(w, n, &t.num);
		}
		break;
	}
	t.len = lx->pos - t.off;
	lx->prev = t.kind;
	return t;
}

/* ---- Parser ---- */

enum nkind { N_LIT, N_CTX, N_STAR, N_INDEX, N_NOT, N_CMP, N_AND, N_OR, N_CALL };

enum func {
	F_CONTAINS,
	F_STARTSWITH,
	F_ENDSWITH,
	F_FORMAT,
	F_JOIN,
	F_TOJSON,
	F_FROMJSON,
	F_HASHFILES,
	F_CASE,
	F_SUCCESS,
	F_FAILURE,
	F_ALWAYS,
	F_CANCELLED,
};

/* The functions, by name (case-insensitive) and number of arguments. */
static const struct {
	const char *name;
	unsigned min, max;
} funcs[] = {
    [F_CONTAINS] = {"contains", 2, 2},   [F_STARTSWITH] = {"startsWith", 2, 2},
    [F_ENDSWITH] = {"endsWith", 2, 2},   [F_FORMAT] = {"format", 1, MAX_ARGS},
    [F_JOIN] = {"join", 1, 2},           [F_TOJSON] = {"toJSON", 1, 1},
    [F_FROMJSON] = {"fromJSON", 1, 1},   [F_HASHFILES] = {"hashFiles", 1, MAX_ARGS},
    [F_CASE] = {"case", 3, MAX_ARGS},    [F_SUCCESS] = {"success", 0, 0},
    [F_FAILURE] = {"failure", 0, 0},     [F_ALWAYS] = {"always", 0, 0},
    [F_CANCELLED] = {"cancelled", 0, 0},
};

struct node {
	enum nkind kind;
	enum tok op;      /* N_CMP: the operator */
	enum func fn;     /* N_CALL */
	unsigned height;  /* nodes on the longest path down, this one included */
	size_t off;       /* where in the source, for messages */
	struct value val; /* N_LIT: the literal; N_CTX: the name */
	struct node **kids;
	size_t n, cap;
};

struct gha_expr {
	struct node *root;
	struct srcloc where; /* of src[0] */
	bool uses_status;
};

struct parser {
	struct lexer lx;
	struct token tok; /* the lookahead */
	struct arena *a;
	struct diag *d;
	struct srcloc where;
	unsigned nest;
	bool uses_status;
};

/* The place of byte off of an expression whose first byte is at where. */
static struct srcloc loc_at(const struct srcloc *where, size_t off)
{
	size_t col = (size_t)where->col + off;
	return (struct srcloc){where->file, where->line,
	                       col > UINT32_MAX ? UINT32_MAX : (unsigned)col};
}

/* where, or line 1 column 1 of no file. */
static struct srcloc loc_or_start(const struct srcloc *where)
{
	return where ? *where : (struct srcloc){NULL, 1, 1};
}

static void set_error(struct diag *d, const struct srcloc *where, size_t off, const char *fmt,
                      va_list ap) __attribute__((format(printf, 4, 0)));

static void set_error(struct diag *d, const struct srcloc *where, size_t off, const char *fmt,
                      va_list ap)
{
	d->code = DIAG_INPUT;
	strbuf_reset(&d->msg);
	strbuf_vaddf(&d->msg, fmt, ap);
	d->loc = loc_at(where, off);
}

static struct node *perr(struct parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct node *perr(struct parser *p, size_t off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(p->d, &p->where, off, fmt, ap);
	va_end(ap);
	return NULL;
}

/* The error for a token the grammar does not allow here. */
static struct node *unexpected(struct parser *p, const struct token *t)
{
	if (t->kind == T_EOF)
		return perr(p, t->off, "unexpected end of expression");
	int n = t->len > 60 ? 60 : (int)t->len;
	return perr(p, t->off, "unexpected symbol: '%.*s%s'", n, p->lx.s + t->off,
	            t->len > 60 ? "..." : "");
}

static void advance(struct parser *p)
{
	p->tok = lex_next(&p->lx);
}

static struct node *mknode(struct parser *p, enum nkind kind, size_t off)
{
	struct node *n = arena_alloc(p->a, sizeof(*n));
	n->kind = kind;
	n->off = off;
	n->height = 1;
	return n;
}

/* Appends kid to n, keeping GitHub's depth limit. */
static bool add_kid(struct parser *p, struct node *n, struct node *kid)
{
	if (n->n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 2;
		size_t ptr = sizeof(struct node *[1]); /* a pointer; sizeof(*k) upsets clang-tidy */
		struct node **k = arena_alloc(p->a, cap * ptr);
		if (n->n)
			memcpy(k, n->kids, n->n * ptr);
		n->kids = k;
		n->cap = cap;
	}
	n->kids[n->n++] = kid;
	if (kid->height + 1 > n->height)
		n->height = kid->height + 1;
	if (n->height > MAX_DEPTH) {
		perr(p, n->off, "exceeded max expression depth %d", MAX_DEPTH);
		return false;
	}
	return true;
}

/* Adds an operand to && or ||, flattening a nested one as GitHub does. */
static bool add_logical(struct parser *p, struct node *n, struct node *kid)
{
	if (kid->kind != n->kind)
		return add_kid(p, n, kid);
	for (size_t i = 0; i < kid->n; i++)
		if (!add_kid(p, n, kid->kids[i]))
			return false;
	return true;
}

static bool enter(struct parser *p, size_t off)
{
	if (++p->nest > MAX_NEST) {
		perr(p, off, "expression nested deeper than %d levels", MAX_NEST);
		return false;
	}
	return true;
}

static struct node *parse_expr(struct parser *p);

/* Looks up a function by name, ignoring case; -1 when there is none. */
static int find_func(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		if (strlen(funcs[i].name) == n && !ci_cmp(funcs[i].name, n, s, n))
			return (int)i;
	return -1;
}

static bool is_status_func(enum func f)
{
	return f == F_SUCCESS || f == F_FAILURE || f == F_ALWAYS || f == F_CANCELLED;
}

/* NAME ( args ), the name already read. */
static struct node *parse_call(struct parser *p, const struct token *name)
{
	const char *s = p->lx.s + name->off;
	int f = find_func(s, name->len);
	if (f < 0)
		return perr(p, name->off, "unrecognized function: '%.*s'", (int)name->len, s);
	struct node *n = mknode(p, N_CALL, name->off);
	n->fn = (enum func)f;
	if (is_status_func(n->fn))
		p->uses_status = true;
	if (!enter(p, name->off))
		return NULL;
	advance(p); /* ( */
	if (p->tok.kind == T_RPAREN) {
		advance(p);
	} else {
		for (;;) {
			struct node *arg = parse_expr(p);
			if (!arg || !add_kid(p, n, arg))
				return NULL;
			if (n->n > MAX_ARGS)
				break;
			if (p->tok.kind == T_RPAREN) {
				advance(p);
				break;
			}
			if (p->tok.kind != T_COMMA)
				return unexpected(p, &p->tok);
			advance(p);
		}
	}
	p->nest--;
	const char *fname = funcs[f].name;
	if (n->n < funcs[f].min)
		return perr(p, name->off, "too few parameters supplied to %s() (%u expected)",
		            fname, funcs[f].min);
	if (n->n > funcs[f].max)
		return perr(p, name->off, "too many parameters supplied to %s() (%u at most)",
		            fname, funcs[f].max);
	if (n->fn == F_CASE && n->n % 2 == 0)
		return perr(p, name->off, "case() needs an odd number of parameters");
	return n;
}

/* The value of a string literal: the text between the quotes, '' made '. */
static struct value string_literal(struct parser *p, const struct token *t)
{
	const char *s = p->lx.s + t->off + 1;
	size_t n = t->len - 2, k = 0;
	char *buf = arena_alloc(p->a, n + 1);
	for (size_t i = 0; i < n; i++) {
		buf[k++] = s[i];
		if (s[i] == '\'')
			i++;
	}
	buf[k] = '\0';
	struct value v = {.kind = V_STR};
	v.str.s = buf;
	v.str.len = k;
	return v;
}

/*
 * A literal, a group, a call or a named value. *chain is set for the
 * last three, which alone may be followed by . and [ ] (GitHub's lexer
 * allows those only after ")", "]", "*", a property or a named value).
 */
static struct node *parse_primary(struct parser *p, bool *chain)
{
	struct token t = p->tok;
	struct node *n;
	*chain = false;
	switch (t.kind) {
	case T_NUM:
	case T_STR:
	case T_TRUE:
	case T_FALSE:
	case T_NULL:
		n = mknode(p, N_LIT, t.off);
		n->val = t.kind == T_NUM    ? num_value(t.num)
		         : t.kind == T_STR  ? string_literal(p, &t)
		         : t.kind == T_NULL ? value_none()
		                            : value_bool(t.kind == T_TRUE);
		advance(p);
		return n;
	case T_LPAREN:
		if (!enter(p, t.off))
			return NULL;
		advance(p);
		n = parse_expr(p);
		if (!n)
			return NULL;
		if (p->tok.kind != T_RPAREN)
			return unexpected(p, &p->tok);
		advance(p);
		p->nest--;
		*chain = true;
		return n; /* a group makes no node, as in GitHub's tree */
	case T_WORD:
		advance(p);
		*chain = true;
		if (p->tok.kind == T_LPAREN)
			return parse_call(p, &t);
		n = mknode(p, N_CTX, t.off);
		n->val = value_str(p->a, p->lx.s + t.off, t.len);
		return n;
	default:
		return unexpected(p, &t);
	}
}

/* primary followed by .name, .*, [expr] and [*]. */
static struct node *parse_postfix(struct parser *p)
{
	bool chain;
	struct node *n = parse_primary(p, &chain);
	while (n && chain && (p->tok.kind == T_DOT || p->tok.kind == T_LBRACK)) {
		struct node *idx = mknode(p, N_INDEX, p->tok.off), *key;
		bool dot = p->tok.kind == T_DOT;
		advance(p);
		if (p->tok.kind == T_STAR) {
			key = mknode(p, N_STAR, p->tok.off);
			advance(p);
		} else if (dot && p->tok.kind == T_WORD) {
			key = mknode(p, N_LIT, p->tok.off);
			key->val = value_str(p->a, p->lx.s + p->tok.off, p->tok.len);
			advance(p);
		} else if (dot) {
			return unexpected(p, &p->tok);
		} else {
			if (!enter(p, idx->off))
				return NULL;
			key = parse_expr(p);
			if (!key)
				return NULL;
			p->nest--;
		}
		if (!dot) {
			if (p->tok.kind != T_RBRACK)
				return unexpected(p, &p->tok);
			advance(p);
		}
		if (!add_kid(p, idx, n) || !add_kid(p, idx, key))
			return NULL;
		n = idx;
	}
	return n;
}

static struct node *parse_unary(struct parser *p)
{
	if (p->tok.kind != T_NOT)
		return parse_postfix(p);
	struct node *n = mknode(p, N_NOT, p->tok.off);
	if (!enter(p, n->off))
		return NULL;
	advance(p);
	struct node *kid = parse_unary(p);
	if (!kid || !add_kid(p, n, kid))
		return NULL;
	p->nest--;
	return n;
}

/* Left-associative binary operators of one precedence level. */
static struct node *parse_binary(struct parser *p, int level)
{
	struct node *l = level == 0 ? parse_unary(p) : parse_binary(p, level - 1);
	while (l) {
		enum tok op = p->tok.kind;
		bool match = level == 0 ? op == T_LT || op == T_LE || op == T_GT || op == T_GE
		                        : op == T_EQ || op == T_NE;
		if (!match)
			break;
		struct node *n = mknode(p, N_CMP, p->tok.off);
		n->op = op;
		advance(p);
		struct node *r = level == 0 ? parse_unary(p) : parse_binary(p, level - 1);
		if (!r || !add_kid(p, n, l) || !add_kid(p, n, r))
			return NULL;
		l = n;
	}
	return l;
}

/* a && b && ... (kind N_AND) or a || b || ... (N_OR), as one node. */
static struct node *parse_logical(struct parser *p, enum nkind kind)
{
	enum tok op = kind == N_AND ? T_AND : T_OR;
	struct node *first = kind == N_AND ? parse_binary(p, 1) : parse_logical(p, N_AND);
	if (!first || p->tok.kind != op)
		return first;
	struct node *n = mknode(p, kind, p->tok.off);
	if (!add_logical(p, n, first))
		return NULL;
	while (p->tok.kind == op) {
		advance(p);
		struct node *kid = kind == N_AND ? parse_binary(p, 1) : parse_logical(p, N_AND);
		if (!kid || !add_logical(p, n, kid))
			return NULL;
	}
	return n;
}

static struct node *parse_expr(struct parser *p)
{
	return parse_logical(p, N_OR);
}

struct gha_expr *gha_parse(struct arena *a, const char *src, size_t len, const struct srcloc *where,
                           struct diag *d)
{
	struct parser p = {.lx = {.s = src, .len = len, .prev = T_NONE},
	                   .a = a,
	                   .d = d,
	                   .where = loc_or_start(where)};
	if (len > MAX_LENGTH) {
		perr(&p, 0, "exceeded max expression length %d", MAX_LENGTH);
		return NULL;
	}
	advance(&p);
	if (p.tok.kind == T_EOF) {
		perr(&p, p.tok.off, "an expression was expected");
		return NULL;
	}
	struct node *root = parse_expr(&p);
	if (root && p.tok.kind != T_EOF)
		root = unexpected(&p, &p.tok);
	if (!root)
		return NULL;
	struct gha_expr *e = arena_alloc(a, sizeof(*e));
	e->root = root;
	e->where = p.where;
	e->uses_status = p.uses_status;
	return e;
}

bool gha_uses_status(const struct gha_expr *e)
{
	return e && e->uses_status;
}

/* ---- Evaluation ---- */

struct ev {
	const struct gha_expr *e;
	const struct gha_ctx *ctx;
	struct arena *a;
	struct diag *d;
	size_t mem; /* bytes built so far, against MAX_MEMORY */
};

static int everr(struct ev *ev, const struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int everr(struct ev *ev, const struct node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(ev->d, &ev->e->where, n->off, fmt, ap);
	va_end(ap);
	return -1;
}

/* Counts bytes the evaluation builds; fails past MAX_MEMORY. */
static int charge(struct ev *ev, const struct node *n, size_t bytes)
{
	ev->mem += bytes;
	if (ev->mem > MAX_MEMORY || bytes > MAX_MEMORY)
		return everr(ev, n, "expression needs more than %zu MiB of memory",
		             MAX_MEMORY >> 20);
	return 0;
}

static void sb_init(struct strbuf *sb)
{
	strbuf_init(sb, MAX_MEMORY);
}

/* Makes a string value of sb (released), charging its size. */
static int sb_value(struct ev *ev, const struct node *n, struct strbuf *sb, struct value *out)
{
	int rc = strbuf_failed(sb) ? charge(ev, n, MAX_MEMORY + 1) : charge(ev, n, sb->len);
	if (!rc)
		*out = value_strbuf(ev->a, sb);
	strbuf_release(sb);
	return rc;
}

/* A growable array of values in the arena (old blocks are left behind). */
struct vec {
	struct value *v;
	size_t n, cap;
};

static int vec_push(struct ev *ev, const struct node *n, struct vec *vec, struct value x)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 8;
		if (charge(ev, n, cap * sizeof(struct value)))
			return -1;
		struct value *v = arena_alloc(ev->a, cap * sizeof(*v));
		if (vec->n)
			memcpy(v, vec->v, vec->n * sizeof(*v));
		vec->v = v;
		vec->cap = cap;
	}
	vec->v[vec->n++] = x;
	return 0;
}

static struct value vec_value(struct ev *ev, struct vec *vec)
{
	struct value l = value_list(ev->a, 0);
	if (vec->n) {
		l.list->items = vec->v;
		l.list->n = vec->n;
	}
	return l;
}

/* The value of key in an object, ignoring case; NULL when missing. */
static struct value *dict_find(const struct vdict *d, const char *s, size_t len)
{
	struct value k = {.kind = V_STR};
	k.str.s = s;
	k.str.len = len;
	struct value *v = vdict_get(d, k);
	if (v)
		return v;
	for (size_t i = 0; i < d->n; i++) {
		struct value key = d->keys[i];
		if (key.kind == V_STR) {
			if (!ci_cmp(key.str.s, key.str.len, s, len))
				return &d->vals[i];
		} else if (is_primitive(key)) {
			struct strbuf sb = STRBUF_INIT;
			gha_to_str(key, &sb);
			bool eq = !ci_cmp(sb.buf, sb.len, s, len);
			strbuf_release(&sb);
			if (eq)
				return &d->vals[i];
		}
	}
	return NULL;
}

/* Loose comparison (EvaluationResult.CoerceTypes): a kind and a number. */
struct cv {
	enum gkind k;
	double n;
	struct value v;
};

static struct cv cv_of(struct value v)
{
	struct cv c = {.k = gkind(v), .v = v};
	if (c.k == G_NUM)
		c.n = num_of(v);
	return c;
}

static void to_num(struct cv *c)
{
	c->n = num_of(c->v);
	c->k = G_NUM;
}

/* Brings two values to one kind as GitHub does; objects are never converted. */
static void coerce(struct cv *l, struct cv *r)
{
	/* In GitHub's order: number-string, string-number, then booleans and nulls. */
	while (l->k != r->k) {
		if ((l->k == G_STR && r->k == G_NUM) || l->k == G_BOOL || l->k == G_NULL)
			to_num(l);
		else if ((l->k == G_NUM && r->k == G_STR) || r->k == G_BOOL || r->k == G_NULL)
			to_num(r);
		else
			return;
	}
}

static bool loose_equal(struct value a, struct value b)
{
	struct cv l = cv_of(a), r = cv_of(b);
	coerce(&l, &r);
	if (l.k != r.k)
		return false;
	switch (l.k) {
	case G_NULL:
		return true;
	case G_BOOL:
		return l.v.b == r.v.b;
	case G_NUM:
		return !isnan(l.n) && !isnan(r.n) && l.n == r.n;
	case G_STR:
		return !ci_cmp(l.v.str.s, l.v.str.len, r.v.str.s, r.v.str.len);
	case G_ARR:
		return l.v.list == r.v.list; /* identity, as GitHub compares objects */
	case G_OBJ:
		return l.v.dict == r.v.dict;
	}
	return false;
}

/* a > b (greater) or a < b, loosely; false for what cannot be ordered. */
static bool loose_order(struct value a, struct value b, bool greater)
{
	struct cv l = cv_of(a), r = cv_of(b);
	coerce(&l, &r);
	if (l.k != r.k)
		return false;
	if (!greater) {
		struct cv t = l;
		l = r;
		r = t;
	}
	switch (l.k) {
	case G_BOOL:
		return l.v.b && !r.v.b;
	case G_NUM:
		return !isnan(l.n) && !isnan(r.n) && l.n > r.n;
	case G_STR:
		return ci_cmp(l.v.str.s, l.v.str.len, r.v.str.s, r.v.str.len) > 0;
	default:
		return false;
	}
}

static bool compare(enum tok op, struct value l, struct value r)
{
	switch (op) {
	case T_EQ:
		return loose_equal(l, r);
	case T_NE:
		return !loose_equal(l, r);
	case T_GT:
		return loose_order(l, r, true);
	case T_LT:
		return loose_order(l, r, false);
	case T_GE:
		return loose_equal(l, r) || loose_order(l, r, true);
	case T_LE:
		return loose_equal(l, r) || loose_order(l, r, false);
	default:
		return false;
	}
}

static int eval(struct ev *ev, const struct node *n, struct value *out, bool *filtered);

/* The contexts GitHub defines: missing ones are unknown, not errors. */
static bool is_known_context(const char *s, size_t n)
{
	static const char *const names[] = {"github",   "env",    "vars",   "job",
	                                    "jobs",     "steps",  "runner", "secrets",
	                                    "strategy", "matrix", "needs",  "inputs"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && !ci_cmp(names[i], n, s, n))
			return true;
	return false;
}

static int eval_context(struct ev *ev, const struct node *n, struct value *out)
{
	const struct value *name = &n->val;
	const struct value *c = ev->ctx ? &ev->ctx->contexts : NULL;
	struct value *v =
	    c && c->kind == V_DICT ? dict_find(c->dict, name->str.s, name->str.len) : NULL;
	if (v) {
		*out = *v;
		return 0;
	}
	if (!is_known_context(name->str.s, name->str.len))
		return everr(ev, n, "unrecognized named-value: '%s'", name->str.s);
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "the %s context is not known here", name->str.s);
	*out = value_undef(arena_strndup(ev->a, sb.buf, sb.len));
	strbuf_release(&sb);
	return 0;
}

/* obj[key] for a primitive key, as a string ignoring case; NULL when missing. */
static struct value *key_find(const struct vdict *d, struct value key)
{
	if (key.kind == V_STR)
		return dict_find(d, key.str.s, key.str.len);
	if (!is_primitive(key))
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	gha_to_str(key, &sb);
	struct value *v = dict_find(d, sb.buf, sb.len);
	strbuf_release(&sb);
	return v;
}

/* A non-negative integer index (floor of the number), or -1 for none. */
static int64_t int_index(struct value key)
{
	double f = num_of(key);
	if (isnan(f) || f < 0)
		return -1;
	return f >= 2147483648.0 ? -1 : (int64_t)f; /* truncation floors what is >= 0 */
}

/* One step of an object filter: item[key] added to vec when it exists. */
static int filter_step(struct ev *ev, const struct node *n, struct vec *vec, struct value item,
                       const struct value *key)
{
	if (item.kind == V_DICT) {
		if (!key) {
			for (size_t i = 0; i < item.dict->n; i++)
				if (vec_push(ev, n, vec, item.dict->vals[i]))
					return -1;
		} else {
			struct value *v = key_find(item.dict, *key);
			if (v && vec_push(ev, n, vec, *v))
				return -1;
		}
	} else if (item.kind == V_LIST) {
		if (!key) {
			for (size_t i = 0; i < item.list->n; i++)
				if (vec_push(ev, n, vec, item.list->items[i]))
					return -1;
		} else {
			int64_t i = int_index(*key);
			if (i >= 0 && (size_t)i < item.list->n &&
			    vec_push(ev, n, vec, item.list->items[i]))
				return -1;
		}
	}
	return 0;
}

/*
 * obj[key], obj.key, obj.* and obj[*] (Operators/Index.cs): a missing
 * key or an index out of range gives null, as does indexing what is not
 * an object or array; * makes a "filtered array", to which a further
 * index applies item by item.
 */
static int eval_index(struct ev *ev, const struct node *n, struct value *out, bool *filtered)
{
	struct value obj = value_none(), key = value_none();
	bool objf = false;
	if (eval(ev, n->kids[0], &obj, &objf))
		return -1;
	if (obj.kind == V_UNDEF) {
		*out = obj;
		return 0;
	}
	bool star = n->kids[1]->kind == N_STAR;
	if (obj.kind != V_LIST && obj.kind != V_DICT) {
		*out = star ? value_list(ev->a, 0) : value_none();
		*filtered = star;
		return 0;
	}
	if (!star) {
		if (eval(ev, n->kids[1], &key, NULL))
			return -1;
		if (key.kind == V_UNDEF) {
			*out = key;
			return 0;
		}
	}
	const struct value *k = star ? NULL : &key;
	struct vec vec = {0};
	if (objf) {
		for (size_t i = 0; i < obj.list->n; i++) {
			struct value item = obj.list->items[i];
			if (item.kind == V_UNDEF) {
				*out = item;
				return 0;
			}
			if (filter_step(ev, n, &vec, item, k))
				return -1;
		}
	} else if (star) {
		if (filter_step(ev, n, &vec, obj, NULL))
			return -1;
	} else if (obj.kind == V_DICT) {
		struct value *v = key_find(obj.dict, key);
		*out = v ? *v : value_none();
		return 0;
	} else {
		int64_t i = int_index(key);
		*out = i >= 0 && (size_t)i < obj.list->n ? obj.list->items[i] : value_none();
		return 0;
	}
	*out = vec_value(ev, &vec);
	*filtered = true;
	return 0;
}

/* ---- JSON ---- */

/* Appends s as a JSON string as GitHub (Newtonsoft's JsonConvert) writes it. */
static void json_str(const char *s, size_t len, struct strbuf *out)
{
	strbuf_addch(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		switch (c) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\b':
			esc = "\\b";
			break;
		case '\f':
			esc = "\\f";
			break;
		default:
			break;
		}
		if (esc) {
			strbuf_adds(out, esc);
		} else if (c < 0x20) {
			strbuf_addf(out, "\\u%04x", c);
		} else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] == 0x85) {
			strbuf_adds(out, "\\u0085");
			i++;
		} else if (c == 0xe2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
		           ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
			strbuf_addf(out, "\\u202%c", s[i + 2] == (char)0xa8 ? '8' : '9');
			i += 2;
		} else {
			strbuf_addch(out, (char)c);
		}
	}
	strbuf_addch(out, '"');
}

static void json_indent(struct strbuf *out, int level)
{
	strbuf_addch(out, '\n');
	for (int i = 0; i < level * 2; i++)
		strbuf_addch(out, ' ');
}

/*
 * toJSON's layout (Functions/ToJson.cs): two spaces per level, ": "
 * after keys, [] and {} when empty. Returns 1 and sets *undef on
 * meeting an unknown value, -1 past MAX_JSON_DEPTH.
 */
static int json_write(struct value v, int level, struct strbuf *out, struct value *undef)
{
	if (level > MAX_JSON_DEPTH)
		return -1;
	switch (v.kind) {
	case V_UNDEF:
		*undef = v;
		return 1;
	case V_LIST:
		if (!v.list->n) {
			strbuf_adds(out, "[]");
			return 0;
		}
		strbuf_addch(out, '[');
		for (size_t i = 0; i < v.list->n; i++) {
			if (i)
				strbuf_addch(out, ',');
			json_indent(out, level + 1);
			int rc = json_write(v.list->items[i], level + 1, out, undef);
			if (rc)
				return rc;
		}
		json_indent(out, level);
		strbuf_addch(out, ']');
		return 0;
	case V_DICT:
		if (!v.dict->n) {
			strbuf_adds(out, "{}");
			return 0;
		}
		strbuf_addch(out, '{');
		for (size_t i = 0; i < v.dict->n; i++) {
			if (i)
				strbuf_addch(out, ',');
			json_indent(out, level + 1);
			struct value k = v.dict->keys[i];
			if (k.kind == V_STR) {
				json_str(k.str.s, k.str.len, out);
			} else {
				struct strbuf ks = STRBUF_INIT;
				gha_to_str(k, &ks);
				json_str(ks.buf, ks.len, out);
				strbuf_release(&ks);
			}
			strbuf_adds(out, ": ");
			int rc = json_write(v.dict->vals[i], level + 1, out, undef);
			if (rc)
				return rc;
		}
		json_indent(out, level);
		strbuf_addch(out, '}');
		return 0;
	case V_STR:
		json_str(v.str.s, v.str.len, out);
		return 0;
	case V_BOOL:
	case V_INT:
	case V_FLOAT:
		gha_to_str(v, out);
		return 0;
	default:
		strbuf_adds(out, "null");
		return 0;
	}
}

/* A JSON reader for fromJSON: RFC 8259, plus NaN and [-]Infinity as toJSON writes. */
struct jp {
	struct ev *ev;
	const struct node *n;
	const char *s;
	size_t len, pos;
	int depth;
};

static int jp_err(struct jp *j, const char *what)
{
	return everr(j->ev, j->n, "fromJSON: %s at offset %zu", what, j->pos);
}

static void jp_ws(struct jp *j)
{
	while (j->pos < j->len && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' ||
	                           j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
		j->pos++;
}

static bool jp_word(struct jp *j, const char *w)
{
	size_t n = strlen(w);
	if (j->len - j->pos < n || memcmp(j->s + j->pos, w, n) != 0)
		return false;
	j->pos += n;
	return true;
}

static int jp_hex4(struct jp *j, uint32_t *out)
{
	if (j->len - j->pos < 4)
		return jp_err(j, "bad \\u escape");
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int d = digit_value(j->s[j->pos + i]);
		if (d > 15)
			return jp_err(j, "bad \\u escape");
		v = v * 16 + (uint32_t)d;
	}
	j->pos += 4;
	*out = v;
	return 0;
}

static int jp_string(struct jp *j, struct value *out)
{
	struct strbuf sb;
	sb_init(&sb);
	j->pos++; /* " */
	for (;;) {
		if (j->pos >= j->len) {
			strbuf_release(&sb);
			return jp_err(j, "unterminated string");
		}
		char c = j->s[j->pos++];
		if (c == '"')
			break;
		if (c != '\\') {
			strbuf_addch(&sb, c);
			continue;
		}
		char e = j->pos < j->len ? j->s[j->pos++] : '\0';
		uint32_t u = 0, lo = 0;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			strbuf_addch(&sb, e);
			break;
		case 'b':
			strbuf_addch(&sb, '\b');
			break;
		case 'f':
			strbuf_addch(&sb, '\f');
			break;
		case 'n':
			strbuf_addch(&sb, '\n');
			break;
		case 'r':
			strbuf_addch(&sb, '\r');
			break;
		case 't':
			strbuf_addch(&sb, '\t');
			break;
		case 'u':
			if (jp_hex4(j, &u)) {
				strbuf_release(&sb);
				return -1;
			}
			if (u >= 0xd800 && u < 0xdc00 && j->len - j->pos >= 6 &&
			    j->s[j->pos] == '\\' && j->s[j->pos + 1] == 'u') {
				size_t save = j->pos;
				j->pos += 2;
				if (jp_hex4(j, &lo)) {
					strbuf_release(&sb);
					return -1;
				}
				if (lo >= 0xdc00 && lo < 0xe000)
					u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				else
					j->pos = save;
			}
			utf8_put(&sb, u >= 0xd800 && u < 0xe000 ? 0xfffd : u);
			break;
		default:
			strbuf_release(&sb);
			j->pos--;
			return jp_err(j, "bad escape");
		}
	}
	return sb_value(j->ev, j->n, &sb, out);
}

static int jp_number(struct jp *j, struct value *out)
{
	size_t start = j->pos;
	if (j->s[j->pos] == '-')
		j->pos++;
	if (jp_word(j, "Infinity")) {
		*out = value_float(j->s[start] == '-' ? -INFINITY : INFINITY);
		return 0;
	}
	if (j->pos >= j->len || !is_digit(j->s[j->pos]))
		return jp_err(j, "bad number");
	if (j->s[j->pos] == '0')
		j->pos++;
	else
		while (j->pos < j->len && is_digit(j->s[j->pos]))
			j->pos++;
	if (j->pos < j->len && j->s[j->pos] == '.') {
		j->pos++;
		if (j->pos >= j->len || !is_digit(j->s[j->pos]))
			return jp_err(j, "bad number");
		while (j->pos < j->len && is_digit(j->s[j->pos]))
			j->pos++;
	}
	if (j->pos < j->len && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
		j->pos++;
		if (j->pos < j->len && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
			j->pos++;
		if (j->pos >= j->len || !is_digit(j->s[j->pos]))
			return jp_err(j, "bad number");
		while (j->pos < j->len && is_digit(j->s[j->pos]))
			j->pos++;
	}
	*out = num_value(parse_number(j->s + start, j->pos - start));
	return 0;
}

static int jp_value(struct jp *j, struct value *out);

static int jp_array(struct jp *j, struct value *out)
{
	struct vec vec = {0};
	j->pos++; /* [ */
	jp_ws(j);
	if (j->pos < j->len && j->s[j->pos] == ']') {
		j->pos++;
		*out = value_list(j->ev->a, 0);
		return charge(j->ev, j->n, sizeof(struct vlist));
	}
	for (;;) {
		struct value item;
		if (jp_value(j, &item) || vec_push(j->ev, j->n, &vec, item))
			return -1;
		jp_ws(j);
		if (j->pos < j->len && j->s[j->pos] == ',') {
			j->pos++;
			continue;
		}
		if (j->pos < j->len && j->s[j->pos] == ']') {
			j->pos++;
			break;
		}
		return jp_err(j, "expected ',' or ']'");
	}
	*out = vec_value(j->ev, &vec);
	return charge(j->ev, j->n, sizeof(struct vlist));
}

static int jp_object(struct jp *j, struct value *out)
{
	*out = value_dict(j->ev->a);
	j->pos++; /* { */
	jp_ws(j);
	if (j->pos < j->len && j->s[j->pos] == '}') {
		j->pos++;
		return charge(j->ev, j->n, sizeof(struct vdict));
	}
	for (;;) {
		struct value key = value_none(), val = value_none();
		jp_ws(j);
		if (j->pos >= j->len || j->s[j->pos] != '"')
			return jp_err(j, "expected a string key");
		if (jp_string(j, &key))
			return -1;
		jp_ws(j);
		if (j->pos >= j->len || j->s[j->pos] != ':')
			return jp_err(j, "expected ':'");
		j->pos++;
		if (jp_value(j, &val))
			return -1;
		if (charge(j->ev, j->n, 4 * sizeof(struct value)))
			return -1;
		vdict_set(j->ev->a, out->dict, key, val);
		jp_ws(j);
		if (j->pos < j->len && j->s[j->pos] == ',') {
			j->pos++;
			continue;
		}
		if (j->pos < j->len && j->s[j->pos] == '}') {
			j->pos++;
			return charge(j->ev, j->n, sizeof(struct vdict));
		}
		return jp_err(j, "expected ',' or '}'");
	}
}

static int jp_value(struct jp *j, struct value *out)
{
	jp_ws(j);
	if (j->pos >= j->len)
		return jp_err(j, "unexpected end of input");
	char c = j->s[j->pos];
	int rc;
	switch (c) {
	case '{':
	case '[':
		if (++j->depth > MAX_JSON_DEPTH)
			return jp_err(j, "nested too deep");
		rc = c == '{' ? jp_object(j, out) : jp_array(j, out);
		j->depth--;
		return rc;
	case '"':
		return jp_string(j, out);
	case 't':
	case 'f':
	case 'n':
	case 'N':
		if (jp_word(j, "true") || jp_word(j, "false")) {
			*out = value_bool(c == 't');
			return 0;
		}
		if (jp_word(j, "null")) {
			*out = value_none();
			return 0;
		}
		if (jp_word(j, "NaN")) {
			*out = value_float(NAN);
			return 0;
		}
		return jp_err(j, "unexpected character");
	default:
		if (c == '-' || c == 'I' || is_digit(c))
			return jp_number(j, out);
		return jp_err(j, "unexpected character");
	}
}

/* ---- Functions ---- */

/* contains, startsWith and endsWith on two primitives, ignoring case. */
static bool str_match(enum func f, struct value hay, struct value needle)
{
	struct strbuf h = STRBUF_INIT, n = STRBUF_INIT, t = STRBUF_INIT;
	gha_to_str(hay, &t);
	upper_into(t.buf, t.len, &h);
	strbuf_reset(&t);
	gha_to_str(needle, &t);
	upper_into(t.buf, t.len, &n);
	bool r;
	if (f == F_CONTAINS)
		r = !n.len || memmem(h.buf, h.len, n.buf, n.len);
	else if (n.len > h.len)
		r = false;
	else if (f == F_STARTSWITH)
		r = !memcmp(h.buf, n.buf, n.len);
	else
		r = !memcmp(h.buf + h.len - n.len, n.buf, n.len);
	strbuf_release(&h);
	strbuf_release(&n);
	strbuf_release(&t);
	return r;
}

/*
 * contains(search, item), startsWith(s, prefix), endsWith(s, suffix).
 * For an array, contains is true when an item equals item loosely; an
 * unknown item makes a false answer unknown.
 */
static int fn_match(struct ev *ev, const struct node *n, struct value *out)
{
	struct value a, b;
	if (eval(ev, n->kids[0], &a, NULL))
		return -1;
	if (a.kind == V_UNDEF) {
		*out = a;
		return 0;
	}
	bool array = a.kind == V_LIST && n->fn == F_CONTAINS;
	*out = value_bool(false);
	if (!is_primitive(a) && !array)
		return 0;
	if (eval(ev, n->kids[1], &b, NULL))
		return -1;
	if (b.kind == V_UNDEF) {
		*out = b;
		return 0;
	}
	if (!array) {
		*out = value_bool(is_primitive(b) && str_match(n->fn, a, b));
		return 0;
	}
	for (size_t i = 0; i < a.list->n; i++) {
		struct value item = a.list->items[i];
		if (item.kind == V_UNDEF) {
			if (out->kind != V_UNDEF)
				*out = item;
		} else if (loose_equal(item, b)) {
			*out = value_bool(true);
			return 0;
		}
	}
	return 0;
}

/* A {N} or {N:spec} reference of a format string. */
struct fmt_ref {
	unsigned arg;
	size_t spec_start, spec_len;
};

/*
 * Reads the argument reference at fmt[lbrace] (Format.cs): digits making
 * a byte, then '}' or ':' and specifiers up to an unescaped '}'. Returns
 * the offset of the closing brace, or 0 when it is no reference.
 */
static size_t fmt_read_ref(const char *fmt, size_t len, size_t lbrace, struct fmt_ref *ref)
{
	size_t i = lbrace + 1, nd = 0;
	unsigned v = 0;
	while (i < len && is_digit(fmt[i])) {
		v = v * 10 + (unsigned)(fmt[i] - '0');
		if (v > 255)
			return 0;
		i++;
		nd++;
	}
	if (!nd || i >= len)
		return 0;
	ref->arg = v;
	ref->spec_len = 0;
	if (fmt[i] == '}')
		return i;
	if (fmt[i] != ':')
		return 0;
	ref->spec_start = ++i;
	for (; i < len; i++) {
		if (fmt[i] != '}')
			continue;
		if (i + 1 < len && fmt[i + 1] == '}') {
			i++;
			continue;
		}
		ref->spec_len = i - ref->spec_start;
		return i;
	}
	return 0;
}

/* What format() builds in its second pass. */
struct fmt_out {
	struct strbuf sb;
	struct value *args; /* evaluated on first reference */
	bool *have;
	struct value unknown; /* the first unknown argument referenced */
};

static int fmt_error(struct ev *ev, const struct node *n, const char *what, const char *fmt,
                     size_t len)
{
	int shown = len > 100 ? 100 : (int)len;
	return everr(ev, n, "%s: '%.*s%s'", what, shown, fmt, len > 100 ? "..." : "");
}

/* Appends argument ref->arg, evaluating it the first time. */
static int fmt_arg(struct ev *ev, const struct node *n, const char *fmt, const struct fmt_ref *ref,
                   struct fmt_out *o)
{
	if (!o->have[ref->arg]) {
		if (eval(ev, n->kids[ref->arg + 1], &o->args[ref->arg], NULL))
			return -1;
		o->have[ref->arg] = true;
	}
	struct value a = o->args[ref->arg];
	if (ref->spec_len) {
		/* GitHub knows specifiers for dates only, which expressions never make. */
		struct strbuf spec = STRBUF_INIT;
		for (size_t i = 0; i < ref->spec_len; i++) {
			char c = fmt[ref->spec_start + i];
			strbuf_addch(&spec, c);
			if (c == '}')
				i++;
		}
		everr(ev, n, "format specifiers '%s' are not valid for a %s", spec.buf,
		      gkind_name(gkind(a)));
		strbuf_release(&spec);
		return -1;
	}
	if (a.kind == V_UNDEF && o->unknown.kind != V_UNDEF)
		o->unknown = a;
	gha_to_str(a, &o->sb);
	return 0;
}

/*
 * Walks a format string as Format.cs does. Without o it only checks the
 * string; with o it splices the text and the arguments into o->sb.
 */
static int fmt_walk(struct ev *ev, const struct node *n, const char *fmt, size_t len,
                    struct fmt_out *o)
{
	size_t index = 0;
	while (index < len) {
		const char *lp = memchr(fmt + index, '{', len - index);
		const char *rp = memchr(fmt + index, '}', len - index);
		size_t lb = lp ? (size_t)(lp - fmt) : len, rb = rp ? (size_t)(rp - fmt) : len;
		if (lp && (!rp || rb > lb)) {
			if (lb + 1 < len && fmt[lb + 1] == '{') { /* {{ */
				if (o)
					strbuf_add(&o->sb, fmt + index, lb - index + 1);
				index = lb + 2;
				continue;
			}
			struct fmt_ref ref;
			size_t end = rp && rb > lb + 1 ? fmt_read_ref(fmt, len, lb, &ref) : 0;
			if (!end)
				return fmt_error(ev, n, "invalid format string", fmt, len);
			if (ref.arg + 2 > n->n)
				return fmt_error(
				    ev, n,
				    "format string references more arguments than were "
				    "supplied",
				    fmt, len);
			if (o) {
				strbuf_add(&o->sb, fmt + index, lb - index);
				if (fmt_arg(ev, n, fmt, &ref, o))
					return -1;
			}
			index = end + 1;
		} else if (rp) {
			if (rb + 1 >= len || fmt[rb + 1] != '}')
				return fmt_error(ev, n, "invalid format string", fmt, len);
			if (o)
				strbuf_add(&o->sb, fmt + index, rb - index + 1); /* }} */
			index = rb + 2;
		} else {
			break;
		}
	}
	if (o)
		strbuf_add(&o->sb, fmt + index, len - index);
	return 0;
}

/*
 * format(fmt, args...): {N} is argument N as a string, {{ and }} are
 * braces. The string is checked whole before any argument is evaluated,
 * and arguments are evaluated only when referenced, as GitHub does.
 */
static int fn_format(struct ev *ev, const struct node *n, struct value *out)
{
	struct value fv;
	if (eval(ev, n->kids[0], &fv, NULL))
		return -1;
	if (fv.kind == V_UNDEF) {
		*out = fv;
		return 0;
	}
	struct strbuf fs = STRBUF_INIT;
	gha_to_str(fv, &fs);
	size_t nargs = n->n - 1 ? n->n - 1 : 1;
	struct fmt_out o = {.args = arena_alloc(ev->a, nargs * sizeof(*o.args)),
	                    .have = arena_alloc(ev->a, nargs * sizeof(*o.have)),
	                    .unknown = value_none()};
	sb_init(&o.sb);
	int rc = fmt_walk(ev, n, fs.buf, fs.len, NULL);
	if (!rc)
		rc = fmt_walk(ev, n, fs.buf, fs.len, &o);
	strbuf_release(&fs);
	if (!rc && o.unknown.kind == V_UNDEF) {
		*out = o.unknown;
		strbuf_release(&o.sb);
		return 0;
	}
	if (rc) {
		strbuf_release(&o.sb);
		return rc;
	}
	return sb_value(ev, n, &o.sb, out);
}

/* join(array, separator = ','); a primitive gives its string, others ''. */
static int fn_join(struct ev *ev, const struct node *n, struct value *out)
{
	struct value a, sep = value_str_static(",");
	if (eval(ev, n->kids[0], &a, NULL))
		return -1;
	if (a.kind == V_UNDEF) {
		*out = a;
		return 0;
	}
	struct strbuf sb;
	sb_init(&sb);
	if (a.kind == V_LIST && a.list->n) {
		for (size_t i = 0; i < a.list->n; i++) {
			if (a.list->items[i].kind == V_UNDEF) {
				strbuf_release(&sb);
				*out = a.list->items[i];
				return 0;
			}
		}
		if (a.list->n > 1 && n->n > 1) {
			struct value s;
			if (eval(ev, n->kids[1], &s, NULL)) {
				strbuf_release(&sb);
				return -1;
			}
			if (s.kind == V_UNDEF) {
				strbuf_release(&sb);
				*out = s;
				return 0;
			}
			if (is_primitive(s))
				sep = s;
		}
		for (size_t i = 0; i < a.list->n; i++) {
			if (i)
				gha_to_str(sep, &sb);
			gha_to_str(a.list->items[i], &sb);
		}
	} else if (is_primitive(a)) {
		gha_to_str(a, &sb);
	}
	return sb_value(ev, n, &sb, out);
}

static int fn_tojson(struct ev *ev, const struct node *n, struct value *out)
{
	struct value a, undef;
	if (eval(ev, n->kids[0], &a, NULL))
		return -1;
	struct strbuf sb;
	sb_init(&sb);
	int rc = json_write(a, 0, &sb, &undef);
	if (rc) {
		strbuf_release(&sb);
		if (rc < 0)
			return everr(ev, n, "toJSON: value nested deeper than %d levels",
			             MAX_JSON_DEPTH);
		*out = undef;
		return 0;
	}
	return sb_value(ev, n, &sb, out);
}

static int fn_fromjson(struct ev *ev, const struct node *n, struct value *out)
{
	struct value a;
	if (eval(ev, n->kids[0], &a, NULL))
		return -1;
	if (a.kind == V_UNDEF) {
		*out = a;
		return 0;
	}
	struct strbuf sb = STRBUF_INIT;
	gha_to_str(a, &sb);
	struct jp j = {.ev = ev, .n = n, .s = sb.buf, .len = sb.len};
	int rc = jp_value(&j, out);
	if (!rc) {
		jp_ws(&j);
		if (j.pos != j.len)
			rc = jp_err(&j, "unexpected data after the JSON value");
	}
	strbuf_release(&sb);
	return rc;
}

/* case(pred1, val1, ..., default): predicates must be booleans. */
static int fn_case(struct ev *ev, const struct node *n, struct value *out)
{
	for (size_t i = 0; i + 1 < n->n; i += 2) {
		struct value p;
		if (eval(ev, n->kids[i], &p, NULL))
			return -1;
		if (p.kind == V_UNDEF) {
			*out = p;
			return 0;
		}
		if (p.kind != V_BOOL)
			return everr(ev, n->kids[i], "case() predicate must evaluate to a boolean");
		if (p.b)
			return eval(ev, n->kids[i + 1], out, NULL);
	}
	return eval(ev, n->kids[n->n - 1], out, NULL);
}

static int eval_call(struct ev *ev, const struct node *n, struct value *out)
{
	enum gha_status st = ev->ctx ? ev->ctx->status : GHA_SUCCESS;
	switch (n->fn) {
	case F_CONTAINS:
	case F_STARTSWITH:
	case F_ENDSWITH:
		return fn_match(ev, n, out);
	case F_FORMAT:
		return fn_format(ev, n, out);
	case F_JOIN:
		return fn_join(ev, n, out);
	case F_TOJSON:
		return fn_tojson(ev, n, out);
	case F_FROMJSON:
		return fn_fromjson(ev, n, out);
	case F_CASE:
		return fn_case(ev, n, out);
	case F_HASHFILES:
		return everr(ev, n,
		             "hashFiles() is not supported: gpuci evaluates expressions "
		             "without the job's files");
	case F_SUCCESS:
		*out = value_bool(st == GHA_SUCCESS);
		return 0;
	case F_FAILURE:
		*out = value_bool(st == GHA_FAILURE);
		return 0;
	case F_CANCELLED:
		*out = value_bool(st == GHA_CANCELLED);
		return 0;
	case F_ALWAYS:
		*out = value_bool(true);
		return 0;
	}
	return everr(ev, n, "unknown function");
}

/*
 * The value of n. *filtered (may be NULL) is set when the value is a
 * filtered array, made by a * index, to which a further index applies
 * item by item.
 */
static int eval(struct ev *ev, const struct node *n, struct value *out, bool *filtered)
{
	bool dummy = false;
	if (!filtered)
		filtered = &dummy;
	*filtered = false;
	switch (n->kind) {
	case N_LIT:
		*out = n->val;
		return 0;
	case N_CTX:
		return eval_context(ev, n, out);
	case N_STAR:
		return everr(ev, n, "'*' outside an index");
	case N_INDEX:
		return eval_index(ev, n, out, filtered);
	case N_NOT:
		if (eval(ev, n->kids[0], out, NULL))
			return -1;
		if (out->kind != V_UNDEF)
			*out = value_bool(!gha_truthy(*out));
		return 0;
	case N_CMP: {
		struct value l = value_none(), r = value_none();
		if (eval(ev, n->kids[0], &l, NULL) || eval(ev, n->kids[1], &r, NULL))
			return -1;
		if (l.kind == V_UNDEF || r.kind == V_UNDEF)
			*out = l.kind == V_UNDEF ? l : r;
		else
			*out = value_bool(compare(n->op, l, r));
		return 0;
	}
	case N_AND:
	case N_OR:
		/* Each operand in turn; the first that decides is the result. */
		for (size_t i = 0; i < n->n; i++) {
			if (eval(ev, n->kids[i], out, filtered))
				return -1;
			if (out->kind == V_UNDEF || gha_truthy(*out) == (n->kind == N_OR))
				return 0;
		}
		return 0;
	case N_CALL:
		return eval_call(ev, n, out);
	}
	return everr(ev, n, "unknown node");
}

int gha_eval(const struct gha_expr *e, const struct gha_ctx *ctx, struct arena *a,
             struct value *out, struct diag *d)
{
	if (!e)
		BUG("gha_eval() without an expression");
	struct ev ev = {.e = e, .ctx = ctx, .a = a, .d = d};
	return eval(&ev, e->root, out, NULL);
}

/* Three-valued truth, for if: conditions. */
enum tri { TRI_FALSE, TRI_TRUE, TRI_UNKNOWN };

/*
 * The truth of n: && || and ! by Kleene's logic, so `unknown || true`
 * is true and `unknown && false` false, where plain evaluation could say
 * only "unknown". Operands run left to right and stop where GitHub's
 * short-circuit would. *hint takes the first unknown's hint.
 */
static int eval_truth(struct ev *ev, const struct node *n, enum tri *out, struct value *hint)
{
	if (n->kind == N_NOT) {
		if (eval_truth(ev, n->kids[0], out, hint))
			return -1;
		if (*out != TRI_UNKNOWN)
			*out = *out == TRI_TRUE ? TRI_FALSE : TRI_TRUE;
		return 0;
	}
	if (n->kind == N_AND || n->kind == N_OR) {
		enum tri stop = n->kind == N_OR ? TRI_TRUE : TRI_FALSE;
		bool unknown = false;
		for (size_t i = 0; i < n->n; i++) {
			enum tri t;
			if (eval_truth(ev, n->kids[i], &t, hint))
				return -1;
			if (t == stop) {
				*out = stop;
				return 0;
			}
			unknown |= t == TRI_UNKNOWN;
		}
		*out = unknown ? TRI_UNKNOWN : stop == TRI_TRUE ? TRI_FALSE : TRI_TRUE;
		return 0;
	}
	struct value v = value_none();
	if (eval(ev, n, &v, NULL))
		return -1;
	if (v.kind == V_UNDEF) {
		if (hint->kind != V_UNDEF)
			*hint = v;
		*out = TRI_UNKNOWN;
	} else {
		*out = gha_truthy(v) ? TRI_TRUE : TRI_FALSE;
	}
	return 0;
}

/* ---- ${{ }} in strings ---- */

/*
 * The offset of the "}}" that closes an expression starting at from,
 * skipping string literals (so '}}' inside quotes does not close it), as
 * GitHub's template reader scans; len when there is none.
 */
static size_t expr_end(const char *s, size_t len, size_t from)
{
	bool in_str = false;
	for (size_t i = from; i < len; i++) {
		if (s[i] == '\'')
			in_str = !in_str;
		else if (!in_str && s[i] == '}' && i + 1 < len && s[i + 1] == '}')
			return i;
	}
	return len;
}

static const char *find_open(const char *s, size_t len, size_t from)
{
	return from < len ? memmem(s + from, len - from, "${{", 3) : NULL;
}

/*
 * gha_interp's work. With run false it only parses, to learn whether a
 * status function appears (*uses_status).
 */
static int interp(const char *src, size_t len, const struct srcloc *where,
                  const struct gha_ctx *ctx, struct arena *a, bool run, bool *uses_status,
                  struct value *out, struct diag *d)
{
	struct srcloc start = loc_or_start(where);
	const char *open = find_open(src, len, 0);
	*uses_status = false;
	if (!open) {
		*out = value_str(a, src, len);
		return 0;
	}
	struct strbuf sb;
	sb_init(&sb);
	struct value unknown = {.kind = V_NONE};
	size_t pos = 0;
	int rc = 0;
	for (; open; open = find_open(src, len, pos)) {
		size_t at = (size_t)(open - src), in = at + 3, end = expr_end(src, len, in);
		strbuf_add(&sb, src + pos, at - pos);
		if (end == len) {
			struct srcloc l = loc_at(&start, at);
			diag_set(d, DIAG_INPUT,
			         "expression not closed: '${{' without a matching '}}'");
			d->loc = l;
			rc = -1;
			break;
		}
		struct srcloc l = loc_at(&start, in);
		struct gha_expr *e = gha_parse(a, src + in, end - in, &l, d);
		if (!e) {
			rc = -1;
			break;
		}
		*uses_status |= e->uses_status;
		pos = end + 2;
		if (!run)
			continue;
		struct value v;
		if (gha_eval(e, ctx, a, &v, d)) {
			rc = -1;
			break;
		}
		if (at == 0 && pos == len) {
			*out = v; /* exactly one expression: its value itself */
			strbuf_release(&sb);
			return 0;
		}
		if (v.kind == V_UNDEF && unknown.kind != V_UNDEF)
			unknown = v;
		gha_to_str(v, &sb);
	}
	if (!rc && run) {
		strbuf_add(&sb, src + pos, len - pos);
		if (unknown.kind == V_UNDEF) {
			*out = unknown;
		} else if (strbuf_failed(&sb)) {
			diag_set(d, DIAG_INPUT, "interpolated string longer than %zu MiB",
			         MAX_MEMORY >> 20);
			d->loc = start;
			rc = -1;
		} else {
			*out = value_strbuf(a, &sb);
		}
	}
	strbuf_release(&sb);
	return rc;
}

int gha_interp(const char *src, size_t len, const struct srcloc *where, const struct gha_ctx *ctx,
               struct arena *a, struct value *out, struct diag *d)
{
	bool uses;
	return interp(src, len, where, ctx, a, true, &uses, out, d);
}

/*
 * The truth of an if: condition, trimmed to src[b..e) (not empty): a bare
 * expression, one ${{ }} around it, or text with ${{ }} in parts, which
 * GitHub turns into a string (true unless empty). Without a status
 * function GitHub runs `success() && (cond)`, so cond is not evaluated
 * after a failure.
 */
static int if_truth(const char *src, size_t len, size_t b, size_t e, const struct srcloc *start,
                    const struct gha_ctx *ctx, struct arena *a, enum tri *out, struct value *hint,
                    struct diag *d)
{
	bool success = !ctx || ctx->status == GHA_SUCCESS, uses;
	struct gha_expr *x = NULL;
	size_t from = b, to = e;
	if (e - b >= 5 && !memcmp(src + b, "${{", 3) && expr_end(src, e, b + 3) == e - 2) {
		from = b + 3;
		to = e - 2;
	}
	if (from == b && find_open(src + b, e - b, 0)) {
		struct value v;
		if (interp(src, len, start, ctx, a, false, &uses, &v, d))
			return -1;
		*out = TRI_FALSE;
		if (!uses && !success)
			return 0;
		if (interp(src, len, start, ctx, a, true, &uses, &v, d))
			return -1;
		if (v.kind == V_UNDEF)
			*hint = v;
		*out = v.kind == V_UNDEF ? TRI_UNKNOWN : gha_truthy(v) ? TRI_TRUE : TRI_FALSE;
		return 0;
	}
	struct srcloc l = loc_at(start, from);
	x = gha_parse(a, src + from, to - from, &l, d);
	if (!x)
		return -1;
	*out = TRI_FALSE;
	if (!x->uses_status && !success)
		return 0;
	struct ev ev = {.e = x, .ctx = ctx, .a = a, .d = d};
	return eval_truth(&ev, x->root, out, hint);
}

int gha_eval_if(const char *src, size_t len, const struct srcloc *where, const struct gha_ctx *ctx,
                struct arena *a, bool *out, bool *unknown, const char **hint, struct diag *d)
{
	struct srcloc start = loc_or_start(where);
	struct value h = value_none();
	size_t b = 0, e = len, k;
	*out = false;
	if (unknown)
		*unknown = false;
	if (hint)
		*hint = NULL;
	while (b < e && (k = space_at(src + b, e - b)) != 0)
		b += k;
	while (b < e && (k = space_before(src + b, e - b)) != 0)
		e -= k;
	enum tri t = !ctx || ctx->status == GHA_SUCCESS ? TRI_TRUE : TRI_FALSE; /* if: '' */
	if (b < e && if_truth(src, len, b, e, &start, ctx, a, &t, &h, d))
		return -1;
	*out = t == TRI_TRUE;
	if (t == TRI_UNKNOWN) {
		if (unknown)
			*unknown = true;
		if (hint)
			*hint = h.kind == V_UNDEF ? h.str.s : NULL;
	}
	return 0;
}
