/*
 * tpl_sets(): the `set NAME = ...` statements of a template, read with the
 * engine's lexer (lex.c), for tools that edit templates (see tpl.h).
 */
#include <stdlib.h>
#include <string.h>

#include "tpl/tpl_int.h"
#include "base/banned.h"

/*
 * Maps offsets in the lexer's normalized text (each "\r\n" made one "\n")
 * back to src; offsets asked for must not decrease.
 */
struct srcmap {
	const char *src;
	size_t len;
	size_t i, j; /* normalized byte j came from src[i] */
};

static size_t src_off(struct srcmap *m, size_t off)
{
	while (m->j < off && m->i < m->len) {
		if (m->src[m->i] == '\r' && m->i + 1 < m->len && m->src[m->i + 1] == '\n')
			m->i++;
		m->i++;
		m->j++;
	}
	return m->i;
}

/* The token at v[k] starts a `set NAME =` statement. */
static bool is_set(const struct token *v, size_t n, size_t k)
{
	return k + 3 < n && v[k].kind == T_BLOCK_BEGIN && v[k + 1].kind == T_NAME &&
	       !strcmp(v[k + 1].s, "set") && v[k + 2].kind == T_NAME && v[k + 3].kind == T_OP &&
	       v[k + 3].op == OP_ASSIGN;
}

static void make_tok(struct tpl_set_tok *o, const struct token *t, struct srcmap *m)
{
	static const enum tpl_tok_kind kinds[] = {[T_NAME] = TPL_TOK_NAME,
	                                          [T_STRING] = TPL_TOK_STRING,
	                                          [T_INT] = TPL_TOK_INT,
	                                          [T_FLOAT] = TPL_TOK_FLOAT,
	                                          [T_OP] = TPL_TOK_OP};
	*o = (struct tpl_set_tok){
	    .kind = kinds[t->kind],
	    .line = t->line,
	    .s = t->s,
	    .len = t->s ? t->len : 0,
	    .i = t->kind == T_INT ? t->i : 0,
	    .f = t->kind == T_FLOAT ? t->f : 0,
	};
	o->start = src_off(m, t->off);
	o->end = src_off(m, (size_t)t->off + (t->kind == T_STRING ? t->srclen : t->len));
}

int tpl_sets(const char *src, size_t len, const char *name, const struct tpl_syntax *syntax,
             struct arena *a, struct tpl_set **out, size_t *n, struct diag *d)
{
	struct tpl_syntax def;
	if (!syntax) {
		tpl_syntax_default(&def);
		syntax = &def;
	}
	*out = NULL;
	*n = 0;
	if (len > UINT32_MAX) { /* token offsets are 32 bits */
		d->loc = (struct srcloc){name, 0, 0};
		return diag_set(d, DIAG_INPUT, "template too large (over 4 GiB)");
	}
	struct tokens toks;
	int rc = tpl_lex(&toks, a, src ? src : "", src ? len : 0, syntax, name, d);
	const struct token *v = toks.v;
	size_t count = 0;
	for (size_t k = 0; k < toks.n; k++)
		count += is_set(v, toks.n, k);
	if (count)
		*out = arena_alloc(a, count * sizeof(**out));
	struct srcmap m = {.src = src, .len = src ? len : 0};
	for (size_t k = 0; k < toks.n; k++) {
		if (!is_set(v, toks.n, k))
			continue;
		size_t first = k + 4, e = first;
		while (e < toks.n && v[e].kind != T_BLOCK_END && v[e].kind != T_EOF)
			e++;
		struct tpl_set *s = &(*out)[(*n)++];
		s->name = v[k + 2].s;
		s->line = v[k + 2].line;
		s->name_at = src_off(&m, v[k + 2].off);
		s->ntoks = e - first;
		s->cut = e >= toks.n || v[e].kind == T_EOF;
		if (s->ntoks)
			s->toks = arena_alloc(a, s->ntoks * sizeof(*s->toks));
		for (size_t t = 0; t < s->ntoks; t++)
			make_tok(&s->toks[t], &v[first + t], &m);
		if (s->cut && rc == 0) { /* the lexer leaves an unclosed tag to the parser */
			d->loc = (struct srcloc){name, v[k].line, 0};
			rc = diag_set(d, DIAG_INPUT, "the `%s` tag of `set %s` is not closed",
			              syntax->block_start, s->name);
		}
		k = e;
	}
	free(toks.v);
	return rc;
}
