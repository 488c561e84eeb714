/*
 * The lexer: Jinja2's, for the default settings (see jinja2/lexer.py).
 * Newlines are normalized to \n and one trailing newline dropped before
 * anything else, as Jinja2 does; lines are counted from 1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpl/tpl_int.h"
#include "base/xalloc.h"
#include "base/banned.h"

struct lexer {
	struct arena *a;
	const struct tpl_syntax *syn;
	const char *src;
	size_t len, pos;
	unsigned line;
	struct tokens *out;
	size_t cap;
	const char *name;
	struct diag *d;
};

static int lex_fail(struct lexer *lx, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int lex_fail(struct lexer *lx, unsigned line, const char *fmt, ...)
{
	va_list ap;
	lx->d->code = DIAG_INPUT;
	strbuf_reset(&lx->d->msg);
	va_start(ap, fmt);
	strbuf_vaddf(&lx->d->msg, fmt, ap);
	va_end(ap);
	lx->d->loc = (struct srcloc){lx->name, line, 0};
	return -1;
}

static struct token *emit(struct lexer *lx, enum tok_kind kind, unsigned line, size_t off)
{
	struct tokens *t = lx->out;
	if (t->n == lx->cap) {
		lx->cap = lx->cap ? lx->cap * 2 : 256;
		t->v = xrealloc(t->v, lx->cap * sizeof(*t->v));
	}
	struct token *tok = &t->v[t->n++];
	*tok = (struct token){.kind = kind, .line = line, .off = (uint32_t)off};
	return tok;
}

static inline bool at(const struct lexer *lx, size_t pos, const char *s)
{
	/* The first byte rules out nearly every place, before strlen and memcmp. */
	if (pos >= lx->len || lx->src[pos] != s[0])
		return false;
	size_t n = strlen(s);
	return pos + n <= lx->len && !memcmp(lx->src + pos, s, n);
}

static unsigned count_lines(const char *s, size_t n)
{
	unsigned k = 0;
	for (size_t i = 0; i < n; i++)
		k += s[i] == '\n';
	return k;
}

/*
 * Length of the whitespace Python's \s matches at p (ASCII, \x1c-\x1f and
 * the Unicode spaces), 0 if none.
 */
static size_t space_at(const char *p, const char *end)
{
	unsigned char c = (unsigned char)*p;
	if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f))
		return 1;
	if (c == 0xc2 && p + 1 < end &&
	    ((unsigned char)p[1] == 0x85 || (unsigned char)p[1] == 0xa0))
		return 2;
	if (c == 0xe1 && p + 2 < end && (unsigned char)p[1] == 0x9a && (unsigned char)p[2] == 0x80)
		return 3;
	if (c == 0xe2 && p + 2 < end) {
		unsigned char b = (unsigned char)p[1], d = (unsigned char)p[2];
		if (b == 0x80 && (d <= 0x8a || d == 0xa8 || d == 0xa9 || d == 0xaf))
			return 3;
		if (b == 0x81 && d == 0x9f)
			return 3;
	}
	if (c == 0xe3 && p + 2 < end && (unsigned char)p[1] == 0x80 && (unsigned char)p[2] == 0x80)
		return 3;
	return 0;
}

/* Length of the trailing whitespace of s[0..n) (Python's str.rstrip()). */
static size_t trailing_space(const char *s, size_t n)
{
	size_t k = n;
	while (k > 0) {
		size_t back = 0;
		for (size_t w = 1; w <= 3 && w <= k; w++)
			if (space_at(s + k - w, s + n) == w) {
				back = w;
				break;
			}
		if (!back)
			break;
		k -= back;
	}
	return n - k;
}

static size_t skip_space(const struct lexer *lx, size_t pos)
{
	size_t w;
	while (pos < lx->len && (w = space_at(lx->src + pos, lx->src + lx->len)))
		pos += w;
	return pos;
}

static void emit_data(struct lexer *lx, size_t from, size_t to, unsigned line)
{
	if (to <= from)
		return;
	struct token *t = emit(lx, T_DATA, line, from);
	t->s = arena_strndup(lx->a, lx->src + from, to - from);
	t->len = (uint32_t)(to - from);
}

static const struct {
	const char *s;
	enum op op;
} operators[] = {
    /* longest first, as Jinja2 matches them */
    {"//", OP_FLOORDIV}, {"**", OP_POW},   {"==", OP_EQ},      {"!=", OP_NE},      {">=", OP_GTEQ},
    {"<=", OP_LTEQ},     {"+", OP_ADD},    {"-", OP_SUB},      {"/", OP_DIV},      {"*", OP_MUL},
    {"%", OP_MOD},       {"~", OP_TILDE},  {"[", OP_LBRACKET}, {"]", OP_RBRACKET}, {"(", OP_LPAREN},
    {")", OP_RPAREN},    {"{", OP_LBRACE}, {"}", OP_RBRACE},   {">", OP_GT},       {"<", OP_LT},
    {"=", OP_ASSIGN},    {".", OP_DOT},    {":", OP_COLON},    {"|", OP_PIPE},     {",", OP_COMMA},
    {";", OP_SEMICOLON},
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || is_digit(c);
}

/* Digits with single underscores between them ((\d+_)*\d+); returns the end. */
static size_t digits(const struct lexer *lx, size_t p)
{
	if (p >= lx->len || !is_digit(lx->src[p]))
		return 0;
	while (p < lx->len) {
		while (p < lx->len && is_digit(lx->src[p]))
			p++;
		if (p + 1 < lx->len && lx->src[p] == '_' && is_digit(lx->src[p + 1]))
			p++;
		else
			break;
	}
	return p;
}

/* Jinja's float_re at pos; returns its end, 0 when none. */
static size_t match_float(const struct lexer *lx, size_t pos)
{
	if (pos > 0 && lx->src[pos - 1] == '.')
		return 0;
	size_t p = digits(lx, pos);
	if (!p)
		return 0;
	size_t frac = 0;
	if (p < lx->len && lx->src[p] == '.')
		frac = digits(lx, p + 1);
	size_t q = frac ? frac : p;
	if (q < lx->len && (lx->src[q] == 'e' || lx->src[q] == 'E')) {
		size_t r = q + 1;
		if (r < lx->len && (lx->src[r] == '+' || lx->src[r] == '-'))
			r++;
		size_t e = digits(lx, r);
		if (e)
			return e;
	}
	return frac;
}

/* Jinja's integer_re at pos; returns its end, 0 when none. */
static size_t match_int(const struct lexer *lx, size_t pos, int *base)
{
	const char *s = lx->src;
	*base = 10;
	if (s[pos] == '0' && pos + 1 < lx->len) {
		char x = s[pos + 1] | 0x20;
		const char *set = x == 'b'   ? "01"
		                  : x == 'o' ? "01234567"
		                  : x == 'x' ? "0123456789abcdefABCDEF"
		                             : NULL;
		if (set) {
			size_t p = pos + 2, n = 0;
			for (;;) {
				size_t q = p;
				if (q < lx->len && s[q] == '_')
					q++;
				if (q < lx->len && strchr(set, s[q]) && s[q]) {
					p = q + 1;
					n++;
				} else {
					break;
				}
			}
			if (n) {
				*base = x == 'b' ? 2 : x == 'o' ? 8 : 16;
				return p;
			}
		}
	}
	if (s[pos] >= '1' && s[pos] <= '9') {
		size_t p = pos + 1;
		for (;;) {
			size_t q = p;
			if (q < lx->len && s[q] == '_')
				q++;
			if (q < lx->len && is_digit(s[q]))
				p = q + 1;
			else
				break;
		}
		return p;
	}
	if (s[pos] == '0') {
		size_t p = pos + 1;
		for (;;) {
			size_t q = p;
			if (q < lx->len && s[q] == '_')
				q++;
			if (q < lx->len && s[q] == '0')
				p = q + 1;
			else
				break;
		}
		return p;
	}
	return 0;
}

static int hexval(char c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Python's "unicode-escape" decoding of a string literal's body. */
static int unescape(struct lexer *lx, const char *s, size_t n, unsigned line, struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 >= n) {
			strbuf_addch(out, s[i]);
			continue;
		}
		char c = s[++i];
		switch (c) {
		case '\n':
			break;
		case '\\':
		case '\'':
		case '"':
			strbuf_addch(out, c);
			break;
		case 'a':
			strbuf_addch(out, '\a');
			break;
		case 'b':
			strbuf_addch(out, '\b');
			break;
		case 'f':
			strbuf_addch(out, '\f');
			break;
		case 'n':
			strbuf_addch(out, '\n');
			break;
		case 'r':
			strbuf_addch(out, '\r');
			break;
		case 't':
			strbuf_addch(out, '\t');
			break;
		case 'v':
			strbuf_addch(out, '\v');
			break;
		case 'x':
		case 'u':
		case 'U': {
			int want = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			uint32_t v = 0;
			for (int k = 0; k < want; k++) {
				int h = i + 1 + (size_t)k < n ? hexval(s[i + 1 + k]) : -1;
				if (h < 0)
					return lex_fail(lx, line,
					                "truncated \\%c escape in a string", c);
				v = v * 16 + (uint32_t)h;
			}
			if (v > 0x10ffff)
				return lex_fail(lx, line, "illegal Unicode character in a string");
			i += (size_t)want;
			utf8_put(out, v);
			break;
		}
		case 'N':
			return lex_fail(lx, line, "\\N{...} escapes are not supported");
		default:
			if (c >= '0' && c <= '7') {
				uint32_t v = (uint32_t)(c - '0');
				for (int k = 0;
				     k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
					v = v * 8 + (uint32_t)(s[++i] - '0');
				utf8_put(out, v);
			} else {
				strbuf_addch(out, '\\');
				strbuf_addch(out, c);
			}
		}
	}
	return 0;
}

/* Lexes inside a tag until its end; end is var_end or block_end. */
static int lex_tag(struct lexer *lx, bool block)
{
	const char *end = block ? lx->syn->block_end : lx->syn->var_end;
	size_t endlen = strlen(end);
	int balance = 0;
	for (;;) {
		if (lx->pos >= lx->len) {
			emit(lx, T_EOF, lx->out->v[lx->out->n - 1].line, lx->len);
			return 1; /* the parser reports the unclosed tag */
		}
		if (balance == 0) {
			if (block && lx->src[lx->pos] == '+' && at(lx, lx->pos + 1, end)) {
				emit(lx, T_BLOCK_END, lx->line, lx->pos);
				lx->pos += 1 + endlen;
				return 0;
			}
			if (lx->src[lx->pos] == '-' && at(lx, lx->pos + 1, end)) {
				emit(lx, block ? T_BLOCK_END : T_VAR_END, lx->line, lx->pos);
				size_t p = skip_space(lx, lx->pos + 1 + endlen);
				lx->line += count_lines(lx->src + lx->pos, p - lx->pos);
				lx->pos = p;
				return 0;
			}
			if (at(lx, lx->pos, end)) {
				emit(lx, block ? T_BLOCK_END : T_VAR_END, lx->line, lx->pos);
				lx->pos += endlen;
				return 0;
			}
		}
		const char *s = lx->src;
		size_t pos = lx->pos;
		if (space_at(s + pos, s + lx->len)) {
			size_t p = skip_space(lx, pos);
			lx->line += count_lines(s + pos, p - pos);
			lx->pos = p;
			continue;
		}
		size_t e;
		int base;
		if ((e = match_float(lx, pos))) {
			struct strbuf num = STRBUF_INIT;
			for (size_t k = pos; k < e; k++)
				if (s[k] != '_')
					strbuf_addch(&num, s[k]);
			struct token *t = emit(lx, T_FLOAT, lx->line, pos);
			t->f = strtod(num.buf, NULL);
			t->len = (uint32_t)(e - pos);
			strbuf_release(&num);
			lx->pos = e;
			continue;
		}
		if (is_digit(s[pos]) && (e = match_int(lx, pos, &base))) {
			struct strbuf num = STRBUF_INIT;
			for (size_t k = base == 10 ? pos : pos + 2; k < e; k++)
				if (s[k] != '_')
					strbuf_addch(&num, s[k]);
			errno = 0;
			unsigned long long v = strtoull(num.buf, NULL, base);
			strbuf_release(&num);
			struct token *t = emit(lx, T_INT, lx->line, pos);
			if (errno || v > INT64_MAX) /* beyond 64 bits: the parser makes a bigint */
				t->s = arena_strndup(lx->a, s + pos, e - pos);
			else
				t->i = (int64_t)v;
			t->len = (uint32_t)(e - pos);
			lx->pos = e;
			continue;
		}
		if (is_name_start(s[pos])) {
			size_t p = pos;
			while (p < lx->len && is_name_char(s[p]))
				p++;
			struct token *t = emit(lx, T_NAME, lx->line, pos);
			t->s = arena_strndup(lx->a, s + pos, p - pos);
			t->len = (uint32_t)(p - pos);
			lx->pos = p;
			continue;
		}
		if (s[pos] == '\'' || s[pos] == '"') {
			char q = s[pos];
			size_t p = pos + 1;
			while (p < lx->len && s[p] != q) {
				if (s[p] == '\\' && p + 1 < lx->len)
					p++;
				p++;
			}
			if (p >= lx->len) {
				/* Jinja2 finds no string here, then no rule for the quote. */
				return lex_fail(lx, lx->line, "unexpected char %s at %zu",
				                q == '\'' ? "\"'\"" : "'\"'", pos);
			}
			unsigned line = lx->line;
			struct strbuf sb = STRBUF_INIT;
			if (unescape(lx, s + pos + 1, p - pos - 1, line, &sb) < 0) {
				strbuf_release(&sb);
				return -1;
			}
			struct token *t = emit(lx, T_STRING, line, pos);
			t->s = arena_strndup(lx->a, sb.buf, sb.len);
			t->len = (uint32_t)sb.len;
			t->srclen = (uint32_t)(p + 1 - pos);
			strbuf_release(&sb);
			lx->line += count_lines(s + pos, p + 1 - pos);
			lx->pos = p + 1;
			continue;
		}
		bool found = false;
		for (size_t k = 0; k < sizeof(operators) / sizeof(*operators); k++) {
			if (operators[k].s[0] != s[pos] || !at(lx, pos, operators[k].s))
				continue;
			enum op op = operators[k].op;
			if (op == OP_LPAREN || op == OP_LBRACKET || op == OP_LBRACE)
				balance++;
			if (op == OP_RPAREN || op == OP_RBRACKET || op == OP_RBRACE) {
				if (balance == 0)
					return lex_fail(lx, lx->line, "unexpected '%s'",
					                operators[k].s);
				balance--;
			}
			struct token *t = emit(lx, T_OP, lx->line, pos);
			size_t oplen = strlen(operators[k].s);
			t->op = op;
			t->s = operators[k].s;
			t->len = (uint32_t)oplen;
			lx->pos += oplen;
			found = true;
			break;
		}
		if (!found)
			return lex_fail(lx, lx->line, "unexpected char '%c' at %zu", s[pos], pos);
	}
}

/* Finds "<%-? raw -?%>" at pos; returns its end or 0. */
static size_t match_raw_begin(struct lexer *lx, size_t pos, bool *strip_before)
{
	const struct tpl_syntax *syn = lx->syn;
	if (!at(lx, pos, syn->block_start))
		return 0;
	size_t p = pos + strlen(syn->block_start);
	*strip_before = p < lx->len && lx->src[p] == '-';
	if (p < lx->len && (lx->src[p] == '-' || lx->src[p] == '+'))
		p++;
	p = skip_space(lx, p);
	if (!at(lx, p, "raw"))
		return 0;
	p += 3;
	size_t q = skip_space(lx, p);
	if (q == p && q < lx->len && is_name_char(lx->src[q]))
		return 0;
	p = q;
	if (lx->src[p] == '-' && at(lx, p + 1, syn->block_end))
		return skip_space(lx, p + 1 + strlen(syn->block_end));
	if (at(lx, p, syn->block_end))
		return p + strlen(syn->block_end);
	return 0;
}

static int lex_raw(struct lexer *lx, size_t body, unsigned line)
{
	const struct tpl_syntax *syn = lx->syn;
	for (size_t p = body; p < lx->len; p++) {
		if (!at(lx, p, syn->block_start))
			continue;
		size_t q = p + strlen(syn->block_start);
		bool strip = q < lx->len && lx->src[q] == '-';
		if (q < lx->len && (lx->src[q] == '-' || lx->src[q] == '+'))
			q++;
		q = skip_space(lx, q);
		if (!at(lx, q, "endraw"))
			continue;
		q = skip_space(lx, q + 6);
		size_t end;
		if (lx->src[q] == '+' && at(lx, q + 1, syn->block_end))
			end = q + 1 + strlen(syn->block_end);
		else if (lx->src[q] == '-' && at(lx, q + 1, syn->block_end))
			end = skip_space(lx, q + 1 + strlen(syn->block_end));
		else if (at(lx, q, syn->block_end))
			end = q + strlen(syn->block_end);
		else
			continue;
		size_t data_end = p;
		if (strip)
			data_end -= trailing_space(lx->src + body, p - body);
		emit_data(lx, body, data_end, lx->line);
		lx->line += count_lines(lx->src + body, end - body);
		lx->pos = end;
		return 0;
	}
	return lex_fail(lx, line, "Missing end of raw directive");
}

int tpl_lex(struct tokens *out, struct arena *a, const char *src, size_t len,
            const struct tpl_syntax *syn, const char *name, struct diag *d)
{
	out->v = NULL;
	out->n = 0;
	out->src = NULL;
	out->len = 0;
	/* Python reads templates as UTF-8 and refuses anything else. */
	size_t bad;
	if (!utf8_valid(src, len, &bad)) {
		unsigned line = 1;
		for (size_t i = 0; i < bad; i++)
			line += src[i] == '\n';
		d->code = DIAG_INPUT;
		strbuf_reset(&d->msg);
		strbuf_addf(&d->msg, "not valid UTF-8 (byte 0x%02x at offset %zu)",
		            (unsigned char)src[bad], bad);
		d->loc = (struct srcloc){name, line, 0};
		return -1;
	}
	/* Normalize newlines and drop one trailing newline, as Jinja2 does. */
	char *norm = arena_alloc(a, len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (src[i] == '\r') {
			norm[n++] = '\n';
			if (i + 1 < len && src[i + 1] == '\n')
				i++;
		} else {
			norm[n++] = src[i];
		}
	}
	if (n > 0 && norm[n - 1] == '\n')
		n--;
	norm[n] = '\0';
	out->src = norm;
	out->len = n;

	struct lexer lx = {
	    .a = a, .syn = syn, .src = norm, .len = n, .line = 1, .out = out, .name = name, .d = d};
	/* About one token per 6 bytes; the array grows past that if need be. */
	lx.cap = n / 6 + 64;
	out->v = xmalloc(lx.cap * sizeof(*out->v));
	out->n = 0;
	const char *starts[3] = {syn->var_start, syn->comment_start, syn->block_start};
	size_t slen[3] = {strlen(starts[0]), strlen(starts[1]), strlen(starts[2])};
	bool first_char[256] = {false};
	for (int k = 0; k < 3; k++)
		first_char[(unsigned char)starts[k][0]] = true;
	while (lx.pos < lx.len) {
		/* The earliest tag; at one place the longest delimiter wins. */
		size_t p = lx.pos;
		int which = -1;
		size_t raw_end = 0;
		bool raw_strip = false;
		for (; p < lx.len; p++) {
			if (!first_char[(unsigned char)lx.src[p]])
				continue; /* no delimiter starts here */
			if ((raw_end = match_raw_begin(&lx, p, &raw_strip)))
				break;
			size_t best = 0;
			for (int k = 0; k < 3; k++)
				if (at(&lx, p, starts[k]) && slen[k] > best) {
					best = slen[k];
					which = k;
				}
			if (which >= 0)
				break;
		}
		size_t data_end = p;
		bool strip = false;
		size_t after = p;
		if (raw_end)
			strip = raw_strip;
		else if (which >= 0) {
			after = p + slen[which];
			if (after < lx.len && (lx.src[after] == '-' || lx.src[after] == '+')) {
				strip = lx.src[after] == '-';
				after++;
			}
		}
		if (strip)
			data_end -= trailing_space(lx.src + lx.pos, p - lx.pos);
		emit_data(&lx, lx.pos, data_end, lx.line);
		lx.line += count_lines(lx.src + lx.pos, p - lx.pos);
		if (p >= lx.len)
			break;
		if (raw_end) {
			unsigned line = lx.line;
			lx.line += count_lines(lx.src + p, raw_end - p);
			if (lex_raw(&lx, raw_end, line) < 0)
				goto fail;
			continue;
		}
		unsigned line = lx.line;
		lx.pos = after;
		if (which == 1) { /* comment */
			const char *cend = syn->comment_end;
			size_t clen = strlen(cend);
			size_t q = lx.pos;
			for (; q < lx.len; q++)
				if (((lx.src[q] == '+' || lx.src[q] == '-') &&
				     at(&lx, q + 1, cend)) ||
				    at(&lx, q, cend))
					break;
			if (q >= lx.len) {
				lex_fail(&lx, line, "Missing end of comment tag");
				goto fail;
			}
			size_t e;
			if (lx.src[q] == '-' && !at(&lx, q, cend))
				e = skip_space(&lx, q + 1 + clen);
			else if (lx.src[q] == '+' && !at(&lx, q, cend))
				e = q + 1 + clen;
			else
				e = q + clen;
			lx.line += count_lines(lx.src + lx.pos, e - lx.pos);
			lx.pos = e;
			continue;
		}
		emit(&lx, which == 0 ? T_VAR_BEGIN : T_BLOCK_BEGIN, line, p);
		int rc = lex_tag(&lx, which == 2);
		if (rc < 0)
			goto fail;
		if (rc > 0)
			return 0; /* ended inside a tag: T_EOF emitted */
	}
	/* Jinja2's end-of-template token carries the line of the token before it. */
	emit(&lx, T_EOF, out->n ? out->v[out->n - 1].line : 1, lx.len);
	return 0;
fail:
	return -1; /* the tokens before the error stay in out */
}
