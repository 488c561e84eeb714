/*
 * The parser: Jinja2's grammar (jinja2/parser.py) over the tokens of
 * lex.c, building the tree of tpl_int.h in the template's arena.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpl/tpl_int.h"
#include "value/bigint.h"
#include "base/xalloc.h"
#include "base/banned.h"

struct parser {
	struct tpl *t;
	struct arena *a;
	const struct tokens *toks;
	size_t pos;
	struct diag *d;
	/* the block tags open around the current position, innermost last */
	const char *stack[256];
	size_t depth;
	unsigned nest; /* expression nesting, bounded to keep the C stack small */
};

#define MAX_NEST 200

static const struct token *cur(struct parser *p)
{
	return &p->toks->v[p->pos];
}

static const struct token *peek(struct parser *p, size_t ahead)
{
	size_t i = p->pos + ahead;
	return &p->toks->v[i < p->toks->n ? i : p->toks->n - 1];
}

static const struct token *advance(struct parser *p)
{
	const struct token *t = cur(p);
	if (t->kind != T_EOF)
		p->pos++;
	return t;
}

static int pfail(struct parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int pfail(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	p->d->code = DIAG_INPUT;
	strbuf_reset(&p->d->msg);
	va_start(ap, fmt);
	strbuf_vaddf(&p->d->msg, fmt, ap);
	va_end(ap);
	p->d->loc = (struct srcloc){p->t->name, line, 0};
	return -1;
}

/* How Jinja2 names a token in messages. */
static void describe(const struct token *t, struct strbuf *sb)
{
	switch (t->kind) {
	case T_EOF:
		strbuf_adds(sb, "end of template");
		break;
	case T_DATA:
		strbuf_adds(sb, "template data / text");
		break;
	case T_VAR_BEGIN:
		strbuf_adds(sb, "begin of print statement");
		break;
	case T_VAR_END:
		strbuf_adds(sb, "end of print statement");
		break;
	case T_BLOCK_BEGIN:
		strbuf_adds(sb, "begin of statement block");
		break;
	case T_BLOCK_END:
		strbuf_adds(sb, "end of statement block");
		break;
	case T_NAME:
	case T_OP:
		strbuf_adds(sb, t->s);
		break;
	case T_STRING:
		strbuf_adds(sb, "string");
		break;
	case T_INT:
		strbuf_adds(sb, "integer");
		break;
	case T_FLOAT:
		strbuf_adds(sb, "float");
		break;
	}
}

static int unexpected(struct parser *p, const struct token *t)
{
	struct strbuf sb = STRBUF_INIT;
	describe(t, &sb);
	int rc;
	if (t->kind == T_EOF && p->depth)
		rc = pfail(p, t->line,
		           "Unexpected end of template. The innermost block that needs to be "
		           "closed is '%s'.",
		           p->stack[p->depth - 1]);
	else
		rc = pfail(p, t->line, "unexpected '%s'", sb.buf);
	strbuf_release(&sb);
	return rc;
}

static bool is_op(const struct token *t, enum op op)
{
	return t->kind == T_OP && t->op == op;
}

static bool is_name(const struct token *t, const char *name)
{
	return t->kind == T_NAME && !strcmp(t->s, name);
}

static int expect_op(struct parser *p, enum op op, const char *what)
{
	const struct token *t = cur(p);
	if (is_op(t, op)) {
		advance(p);
		return 0;
	}
	if (t->kind == T_EOF)
		return unexpected(p, t);
	struct strbuf sb = STRBUF_INIT;
	describe(t, &sb);
	int rc = pfail(p, t->line, "expected token '%s', got '%s'", what, sb.buf);
	strbuf_release(&sb);
	return rc;
}

static int expect_kind(struct parser *p, enum tok_kind kind, const char *what)
{
	const struct token *t = cur(p);
	if (t->kind == kind) {
		advance(p);
		return 0;
	}
	if (t->kind == T_EOF)
		return unexpected(p, t);
	struct strbuf sb = STRBUF_INIT;
	describe(t, &sb);
	int rc = pfail(p, t->line, "expected token '%s', got '%s'", what, sb.buf);
	strbuf_release(&sb);
	return rc;
}

static struct node *mk(struct parser *p, enum node_kind kind, unsigned line)
{
	struct node *n = arena_alloc(p->a, sizeof(*n));
	n->kind = kind;
	n->line = line;
	n->off = cur(p)->off;
	return n;
}

/* A growable array of node pointers, copied into the arena when done. */
struct nvec {
	struct node **v;
	size_t n, cap;
};

static void nvec_push(struct nvec *v, struct node *n)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->v = xrealloc(v->v, v->cap * sizeof(struct node *));
	}
	v->v[v->n++] = n;
}

static struct node **nvec_finish(struct parser *p, struct nvec *v, size_t *n)
{
	*n = v->n;
	struct node **out = arena_alloc(p->a, (v->n ? v->n : 1) * sizeof(struct node *));
	if (v->n)
		memcpy(out, v->v, v->n * sizeof(struct node *));
	free(v->v);
	*v = (struct nvec){0};
	return out;
}

static struct node *parse_expression(struct parser *p, bool with_condexpr);
static struct node *parse_tuple(struct parser *p, bool simplified, bool with_condexpr,
                                const char *const *extra_end, bool explicit_parens);
static struct node *parse_unary(struct parser *p, bool with_filter);
static struct node *parse_primary(struct parser *p);
static struct node *parse_postfix(struct parser *p, struct node *n);
static struct node *parse_filter_expr(struct parser *p, struct node *n);

/* Call arguments after '(': positional, then name=value (the '(' is current). */
static int parse_call_args(struct parser *p, struct node *n)
{
	if (expect_op(p, OP_LPAREN, "(") < 0)
		return -1;
	struct nvec args = {0}, kwvals = {0};
	const char **kwnames = NULL;
	size_t nkw = 0, kwcap = 0;
	bool first = true;
	while (!is_op(cur(p), OP_RPAREN)) {
		if (!first && expect_op(p, OP_COMMA, ",") < 0)
			goto fail;
		if (is_op(cur(p), OP_RPAREN))
			break;
		first = false;
		if (is_op(cur(p), OP_MUL) || is_op(cur(p), OP_POW)) {
			pfail(p, cur(p)->line, "*args and **kwargs in calls are not supported");
			goto fail;
		}
		if (cur(p)->kind == T_NAME && is_op(peek(p, 1), OP_ASSIGN)) {
			const char *key = advance(p)->s;
			advance(p);
			struct node *v = parse_expression(p, true);
			if (!v)
				goto fail;
			if (nkw == kwcap) {
				kwcap = kwcap ? kwcap * 2 : 4;
				kwnames = xrealloc(kwnames, kwcap * sizeof(*kwnames));
			}
			kwnames[nkw++] = key;
			nvec_push(&kwvals, v);
		} else {
			if (nkw) {
				pfail(p, cur(p)->line,
				      "Invalid argument syntax: positional argument "
				      "follows keyword argument");
				goto fail;
			}
			struct node *v = parse_expression(p, true);
			if (!v)
				goto fail;
			nvec_push(&args, v);
		}
	}
	advance(p);
	n->kids = nvec_finish(p, &args, &n->nkids);
	size_t nk;
	n->kwvals = nvec_finish(p, &kwvals, &nk);
	n->nkw = nkw;
	n->kwnames = arena_alloc(p->a, (nkw ? nkw : 1) * sizeof(*n->kwnames));
	if (nkw)
		memcpy(n->kwnames, kwnames, nkw * sizeof(*kwnames));
	free(kwnames);
	return 0;
fail:
	free(args.v);
	free(kwvals.v);
	free(kwnames);
	return -1;
}

/* A dotted name after '|' or 'is': foo or foo.bar */
static const char *parse_dotted_name(struct parser *p)
{
	const struct token *t = cur(p);
	if (t->kind != T_NAME) {
		expect_kind(p, T_NAME, "name");
		return NULL;
	}
	advance(p);
	if (!is_op(cur(p), OP_DOT))
		return t->s;
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, t->s);
	while (is_op(cur(p), OP_DOT)) {
		advance(p);
		if (cur(p)->kind != T_NAME) {
			strbuf_release(&sb);
			expect_kind(p, T_NAME, "name");
			return NULL;
		}
		strbuf_addf(&sb, ".%s", advance(p)->s);
	}
	const char *name = arena_strndup(p->a, sb.buf, sb.len);
	strbuf_release(&sb);
	return name;
}

static struct node *parse_filter(struct parser *p, struct node *subject, bool start_inline)
{
	if (!start_inline)
		advance(p); /* '|' */
	unsigned line = cur(p)->line;
	const char *name = parse_dotted_name(p);
	if (!name)
		return NULL;
	if (!tpl_filter_exists(name)) {
		pfail(p, line, "No filter named '%s'.", name);
		return NULL;
	}
	struct node *n = mk(p, E_FILTER, line);
	n->name = name;
	n->a = subject;
	if (is_op(cur(p), OP_LPAREN) && parse_call_args(p, n) < 0)
		return NULL;
	return n;
}

static struct node *parse_test(struct parser *p, struct node *subject)
{
	unsigned line = advance(p)->line; /* 'is' */
	bool negated = false;
	if (is_name(cur(p), "not")) {
		advance(p);
		negated = true;
	}
	unsigned nline = cur(p)->line;
	const char *name = parse_dotted_name(p);
	if (!name)
		return NULL;
	struct node *n = mk(p, E_TEST, line);
	n->name = name;
	n->a = subject;
	n->negated = negated;
	const struct token *t = cur(p);
	if (is_op(t, OP_LPAREN)) {
		if (parse_call_args(p, n) < 0)
			return NULL;
	} else if ((t->kind == T_NAME || t->kind == T_STRING || t->kind == T_INT ||
	            t->kind == T_FLOAT || is_op(t, OP_LPAREN) || is_op(t, OP_LBRACKET) ||
	            is_op(t, OP_LBRACE)) &&
	           !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
		if (is_name(t, "is")) {
			pfail(p, t->line, "You cannot chain multiple tests with is");
			return NULL;
		}
		struct node *arg = parse_primary(p);
		if (!arg || !(arg = parse_postfix(p, arg)))
			return NULL;
		n->kids = arena_alloc(p->a, sizeof(struct node *));
		n->kids[0] = arg;
		n->nkids = 1;
	}
	if (!tpl_test_exists(name)) {
		pfail(p, nline, "No test named '%s'.", name);
		return NULL;
	}
	return n;
}

static struct node *parse_filter_expr(struct parser *p, struct node *n)
{
	for (;;) {
		const struct token *t = cur(p);
		if (is_op(t, OP_PIPE))
			n = parse_filter(p, n, false);
		else if (is_name(t, "is"))
			n = parse_test(p, n);
		else if (is_op(t, OP_LPAREN)) {
			struct node *c = mk(p, E_CALL, t->line);
			c->a = n;
			n = parse_call_args(p, c) < 0 ? NULL : c;
		} else
			break;
		if (!n)
			return NULL;
	}
	return n;
}

/* Jinja2's parse_subscribed: an expression, or a slice [a]:[b][:[c]]. */
static struct node *parse_subscribed(struct parser *p)
{
	unsigned line = cur(p)->line;
	struct node *parts[3] = {NULL, NULL, NULL};
	if (!is_op(cur(p), OP_COLON)) {
		struct node *e = parse_expression(p, true);
		if (!e || !is_op(cur(p), OP_COLON))
			return e;
		parts[0] = e;
	}
	advance(p); /* the first ':' */
	if (!is_op(cur(p), OP_COLON) && !is_op(cur(p), OP_RBRACKET) && !is_op(cur(p), OP_COMMA) &&
	    !(parts[1] = parse_expression(p, true)))
		return NULL;
	if (is_op(cur(p), OP_COLON)) {
		advance(p);
		if (!is_op(cur(p), OP_RBRACKET) && !is_op(cur(p), OP_COMMA) &&
		    !(parts[2] = parse_expression(p, true)))
			return NULL;
	}
	struct node *n = mk(p, E_SLICE, line);
	n->a = parts[0];
	n->b = parts[1];
	n->c = parts[2];
	return n;
}

static struct node *parse_subscript(struct parser *p, struct node *subject)
{
	const struct token *t = advance(p);
	if (t->op == OP_DOT) {
		const struct token *attr = cur(p);
		if (attr->kind == T_NAME) {
			advance(p);
			struct node *n = mk(p, E_GETATTR, t->line);
			n->a = subject;
			n->name = attr->s;
			return n;
		}
		if (attr->kind == T_INT) {
			advance(p);
			struct node *n = mk(p, E_GETITEM, t->line);
			n->a = subject;
			n->b = mk(p, E_CONST, attr->line);
			n->b->val = value_int(attr->i);
			if (attr->s &&
			    vint_parse(p->a, attr->s, attr->len, 0, &n->b->val) != VINT_OK)
				return pfail(p, attr->line,
				             "integer literal beyond %d bits is not supported",
				             VINT_MAX_BITS),
				       NULL;
			return n;
		}
		expect_kind(p, T_NAME, "name");
		return NULL;
	}
	/* '[' */
	struct nvec items = {0};
	bool sliced = false;
	/* As Jinja2: `x[]` is x[()], and a trailing comma is a syntax error. */
	while (!is_op(cur(p), OP_RBRACKET) && cur(p)->kind != T_EOF) {
		if (items.n && expect_op(p, OP_COMMA, ",") < 0)
			goto fail;
		struct node *e = parse_subscribed(p);
		if (!e)
			goto fail;
		sliced |= e->kind == E_SLICE;
		nvec_push(&items, e);
	}
	if (expect_op(p, OP_RBRACKET, "]") < 0)
		goto fail;
	if (sliced && items.n != 1) {
		pfail(p, t->line, "a subscript of several slices is not supported");
		goto fail;
	}
	struct node *n = mk(p, E_GETITEM, t->line);
	n->a = subject;
	if (items.n == 1) {
		n->b = items.v[0];
		free(items.v);
	} else {
		struct node *tup = mk(p, E_TUPLE, t->line);
		tup->kids = nvec_finish(p, &items, &tup->nkids);
		n->b = tup;
	}
	return n;
fail:
	free(items.v);
	return NULL;
}

static struct node *parse_postfix(struct parser *p, struct node *n)
{
	for (;;) {
		const struct token *t = cur(p);
		if (is_op(t, OP_DOT) || is_op(t, OP_LBRACKET))
			n = parse_subscript(p, n);
		else if (is_op(t, OP_LPAREN)) {
			struct node *c = mk(p, E_CALL, t->line);
			c->a = n;
			n = parse_call_args(p, c) < 0 ? NULL : c;
		} else
			break;
		if (!n)
			return NULL;
	}
	return n;
}

static struct node *parse_list(struct parser *p)
{
	unsigned line = advance(p)->line;
	struct nvec items = {0};
	while (!is_op(cur(p), OP_RBRACKET)) {
		if (items.n && expect_op(p, OP_COMMA, ",") < 0)
			goto fail;
		if (is_op(cur(p), OP_RBRACKET))
			break;
		struct node *e = parse_expression(p, true);
		if (!e)
			goto fail;
		nvec_push(&items, e);
	}
	if (expect_op(p, OP_RBRACKET, "]") < 0)
		goto fail;
	struct node *n = mk(p, E_LIST, line);
	n->kids = nvec_finish(p, &items, &n->nkids);
	return n;
fail:
	free(items.v);
	return NULL;
}

static struct node *parse_dict(struct parser *p)
{
	unsigned line = advance(p)->line;
	struct nvec items = {0};
	while (!is_op(cur(p), OP_RBRACE)) {
		if (items.n && expect_op(p, OP_COMMA, ",") < 0)
			goto fail;
		if (is_op(cur(p), OP_RBRACE))
			break;
		struct node *k = parse_expression(p, true);
		if (!k || expect_op(p, OP_COLON, ":") < 0)
			goto fail;
		struct node *v = parse_expression(p, true);
		if (!v)
			goto fail;
		nvec_push(&items, k);
		nvec_push(&items, v);
	}
	if (expect_op(p, OP_RBRACE, "}") < 0)
		goto fail;
	struct node *n = mk(p, E_DICT, line);
	n->kids = nvec_finish(p, &items, &n->nkids);
	return n;
fail:
	free(items.v);
	return NULL;
}

static struct node *parse_primary(struct parser *p)
{
	const struct token *t = cur(p);
	struct node *n;
	switch (t->kind) {
	case T_NAME:
		advance(p);
		n = mk(p, E_CONST, t->line);
		if (!strcmp(t->s, "true") || !strcmp(t->s, "True"))
			n->val = value_bool(true);
		else if (!strcmp(t->s, "false") || !strcmp(t->s, "False"))
			n->val = value_bool(false);
		else if (!strcmp(t->s, "none") || !strcmp(t->s, "None"))
			n->val = value_none();
		else {
			n->kind = E_NAME;
			n->name = t->s;
			/* The name as a string value, made once for every lookup. */
			n->val.kind = V_STR;
			n->val.str.s = t->s;
			n->val.str.len = t->len;
		}
		return n;
	case T_STRING: {
		advance(p);
		n = mk(p, E_CONST, t->line);
		if (cur(p)->kind != T_STRING) {
			n->val.kind = V_STR;
			n->val.str.s = t->s;
			n->val.str.len = t->len;
			return n;
		}
		/* Adjacent string literals are one string, as in Python. */
		struct strbuf sb = STRBUF_INIT;
		strbuf_add(&sb, t->s, t->len);
		while (cur(p)->kind == T_STRING) {
			const struct token *s = advance(p);
			strbuf_add(&sb, s->s, s->len);
		}
		n->val = value_strbuf(p->a, &sb);
		strbuf_release(&sb);
		return n;
	}
	case T_INT:
		advance(p);
		n = mk(p, E_CONST, t->line);
		n->val = value_int(t->i);
		if (t->s && vint_parse(p->a, t->s, t->len, 0, &n->val) != VINT_OK) {
			pfail(p, t->line, "integer literal beyond %d bits is not supported",
			      VINT_MAX_BITS);
			return NULL;
		}
		return n;
	case T_FLOAT:
		advance(p);
		n = mk(p, E_CONST, t->line);
		n->val = value_float(t->f);
		return n;
	case T_OP:
		if (t->op == OP_LPAREN) {
			advance(p);
			n = parse_tuple(p, false, true, NULL, true);
			if (!n || expect_op(p, OP_RPAREN, ")") < 0)
				return NULL;
			return n;
		}
		if (t->op == OP_LBRACKET)
			return parse_list(p);
		if (t->op == OP_LBRACE)
			return parse_dict(p);
		/* fallthrough */
	default:
		unexpected(p, t);
		return NULL;
	}
}

static struct node *parse_unary(struct parser *p, bool with_filter)
{
	const struct token *t = cur(p);
	struct node *n;
	if (is_op(t, OP_SUB) || is_op(t, OP_ADD)) {
		advance(p);
		if (p->nest >= MAX_NEST) {
			pfail(p, t->line, "expression nested more than %d deep", MAX_NEST);
			return NULL;
		}
		p->nest++;
		struct node *operand = parse_unary(p, false);
		p->nest--;
		if (!operand)
			return NULL;
		n = mk(p, E_UNARY, t->line);
		n->op = t->op == OP_SUB ? OP_NEG : OP_POS;
		n->a = operand;
	} else {
		n = parse_primary(p);
	}
	if (!n || !(n = parse_postfix(p, n)))
		return NULL;
	if (with_filter)
		n = parse_filter_expr(p, n);
	return n;
}

static struct node *binary(struct parser *p, enum op op, struct node *a, struct node *b,
                           unsigned line)
{
	struct node *n = mk(p, E_BINARY, line);
	n->op = op;
	n->a = a;
	n->b = b;
	return n;
}

static struct node *parse_pow(struct parser *p)
{
	unsigned line = cur(p)->line;
	struct node *l = parse_unary(p, true);
	while (l && is_op(cur(p), OP_POW)) {
		advance(p);
		struct node *r = parse_unary(p, true);
		l = r ? binary(p, OP_POW, l, r, line) : NULL;
	}
	return l;
}

static struct node *parse_math2(struct parser *p)
{
	unsigned line = cur(p)->line;
	struct node *l = parse_pow(p);
	while (l) {
		const struct token *t = cur(p);
		if (!(is_op(t, OP_MUL) || is_op(t, OP_DIV) || is_op(t, OP_FLOORDIV) ||
		      is_op(t, OP_MOD)))
			break;
		advance(p);
		struct node *r = parse_pow(p);
		l = r ? binary(p, t->op, l, r, line) : NULL;
	}
	return l;
}

static struct node *parse_concat(struct parser *p)
{
	unsigned line = cur(p)->line;
	struct node *l = parse_math2(p);
	while (l && is_op(cur(p), OP_TILDE)) {
		advance(p);
		struct node *r = parse_math2(p);
		l = r ? binary(p, OP_TILDE, l, r, line) : NULL;
	}
	return l;
}

static struct node *parse_math1(struct parser *p)
{
	unsigned line = cur(p)->line;
	struct node *l = parse_concat(p);
	while (l && (is_op(cur(p), OP_ADD) || is_op(cur(p), OP_SUB))) {
		enum op op = advance(p)->op;
		struct node *r = parse_concat(p);
		l = r ? binary(p, op, l, r, line) : NULL;
	}
	return l;
}

static struct node *parse_compare(struct parser *p)
{
	unsigned line = cur(p)->line;
	struct node *expr = parse_math1(p);
	if (!expr)
		return NULL;
	struct nvec operands = {0};
	enum op ops[64];
	size_t nops = 0;
	for (;;) {
		const struct token *t = cur(p);
		enum op op;
		if (t->kind == T_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == OP_LT ||
		                        t->op == OP_LTEQ || t->op == OP_GT || t->op == OP_GTEQ)) {
			op = t->op;
			advance(p);
		} else if (is_name(t, "in")) {
			op = OP_IN;
			advance(p);
		} else if (is_name(t, "not") && is_name(peek(p, 1), "in")) {
			op = OP_NOTIN;
			advance(p);
			advance(p);
		} else {
			break;
		}
		if (nops == sizeof(ops) / sizeof(*ops)) {
			free(operands.v);
			pfail(p, t->line, "comparison chain too long");
			return NULL;
		}
		struct node *r = parse_math1(p);
		if (!r) {
			free(operands.v);
			return NULL;
		}
		ops[nops++] = op;
		nvec_push(&operands, r);
	}
	if (!nops)
		return expr;
	struct node *n = mk(p, E_COMPARE, line);
	n->a = expr;
	n->kids = nvec_finish(p, &operands, &n->nkids);
	n->ops = arena_alloc(p->a, nops * sizeof(*n->ops));
	memcpy(n->ops, ops, nops * sizeof(*ops));
	return n;
}

static struct node *parse_not(struct parser *p)
{
	const struct token *t = cur(p);
	if (is_name(t, "not")) {
		advance(p);
		if (p->nest >= MAX_NEST) {
			pfail(p, t->line, "expression nested more than %d deep", MAX_NEST);
			return NULL;
		}
		p->nest++;
		struct node *operand = parse_not(p);
		p->nest--;
		if (!operand)
			return NULL;
		struct node *n = mk(p, E_UNARY, t->line);
		n->op = OP_NOT;
		n->a = operand;
		return n;
	}
	return parse_compare(p);
}

static struct node *parse_and(struct parser *p)
{
	unsigned line = cur(p)->line;
	struct node *l = parse_not(p);
	while (l && is_name(cur(p), "and")) {
		advance(p);
		struct node *r = parse_not(p);
		l = r ? binary(p, OP_AND, l, r, line) : NULL;
	}
	return l;
}

static struct node *parse_or(struct parser *p)
{
	unsigned line = cur(p)->line;
	struct node *l = parse_and(p);
	while (l && is_name(cur(p), "or")) {
		advance(p);
		struct node *r = parse_and(p);
		l = r ? binary(p, OP_OR, l, r, line) : NULL;
	}
	return l;
}

static struct node *parse_condexpr(struct parser *p)
{
	unsigned line = cur(p)->line;
	struct node *expr1 = parse_or(p);
	if (!expr1)
		return NULL;
	while (is_name(cur(p), "if")) {
		advance(p);
		struct node *expr2 = parse_or(p);
		if (!expr2)
			return NULL;
		struct node *expr3 = NULL;
		if (is_name(cur(p), "else")) {
			advance(p);
			expr3 = parse_expression(p, true); /* counts the nesting */
			if (!expr3)
				return NULL;
		}
		struct node *n = mk(p, E_COND, line);
		n->a = expr2;
		n->b = expr1;
		n->c = expr3;
		expr1 = n;
	}
	return expr1;
}

static struct node *parse_expression(struct parser *p, bool with_condexpr)
{
	if (p->nest >= MAX_NEST) {
		pfail(p, cur(p)->line, "expression nested more than %d deep", MAX_NEST);
		return NULL;
	}
	p->nest++;
	struct node *n = with_condexpr ? parse_condexpr(p) : parse_or(p);
	p->nest--;
	return n;
}

static bool is_tuple_end(struct parser *p, const char *const *extra_end)
{
	const struct token *t = cur(p);
	if (t->kind == T_VAR_END || t->kind == T_BLOCK_END || t->kind == T_EOF ||
	    is_op(t, OP_RPAREN))
		return true;
	for (; extra_end && *extra_end; extra_end++)
		if (is_name(t, *extra_end) || (t->kind == T_OP && !strcmp(t->s, *extra_end)))
			return true;
	return false;
}

/* Jinja2's parse_tuple: an expression, or several separated by commas. */
static struct node *parse_tuple(struct parser *p, bool simplified, bool with_condexpr,
                                const char *const *extra_end, bool explicit_parens)
{
	unsigned line = cur(p)->line;
	struct nvec items = {0};
	bool is_tuple = false;
	for (;;) {
		if (items.n) {
			if (expect_op(p, OP_COMMA, ",") < 0)
				goto fail;
		}
		if (is_tuple_end(p, extra_end))
			break;
		struct node *e;
		if (simplified) {
			e = parse_primary(p);
		} else {
			e = parse_expression(p, with_condexpr);
		}
		if (!e)
			goto fail;
		nvec_push(&items, e);
		if (is_op(cur(p), OP_COMMA))
			is_tuple = true;
		else
			break;
	}
	if (!is_tuple) {
		if (items.n) {
			struct node *n = items.v[0];
			free(items.v);
			return n;
		}
		/* An empty tuple is only allowed with explicit parentheses. */
		if (!explicit_parens) {
			unexpected(p, cur(p));
			goto fail;
		}
	}
	struct node *n = mk(p, E_TUPLE, line);
	n->kids = nvec_finish(p, &items, &n->nkids);
	return n;
fail:
	free(items.v);
	return NULL;
}

/* An assignment target: a name, or names separated by commas. */
static struct node *parse_assign_target(struct parser *p, const char *const *extra_end)
{
	unsigned line = cur(p)->line;
	struct node *target = parse_tuple(p, true, true, extra_end, false);
	if (!target)
		return NULL;
	bool ok = target->kind == E_NAME;
	if (target->kind == E_TUPLE) {
		ok = true;
		for (size_t i = 0; i < target->nkids; i++)
			ok &= target->kids[i]->kind == E_NAME;
	}
	if (!ok) {
		pfail(p, line, "can't assign to '%s'",
		      target->kind == E_CONST ? "const" : "expression");
		return NULL;
	}
	for (size_t i = 0; target->kind == E_NAME && i < 1; i++)
		if (!strcmp(target->name, "loop")) {
			pfail(p, line, "Can't assign to special loop variable in for-loop target");
			return NULL;
		}
	return target;
}

/* ---- statements ---- */

static int subparse(struct parser *p, const char *const *end_tokens, struct node ***body,
                    uint32_t *nbody);

static int expect_block_end(struct parser *p)
{
	return expect_kind(p, T_BLOCK_END, "end of statement block");
}

static bool at_end_token(struct parser *p, const char *const *end)
{
	for (; end && *end; end++)
		if (is_name(cur(p), *end))
			return true;
	return false;
}

static void push_tag(struct parser *p, const char *tag)
{
	if (p->depth < sizeof(p->stack) / sizeof(*p->stack))
		p->stack[p->depth] = tag;
	p->depth++;
}

static void pop_tag(struct parser *p)
{
	p->depth--;
}

static struct node *parse_for(struct parser *p)
{
	static const char *const in_end[] = {"in", NULL};
	unsigned line = advance(p)->line;
	struct node *n = mk(p, N_FOR, line);
	n->target = parse_assign_target(p, in_end);
	if (!n->target)
		return NULL;
	if (!is_name(cur(p), "in")) {
		if (cur(p)->kind == T_EOF) {
			unexpected(p, cur(p));
		} else {
			struct strbuf sb = STRBUF_INIT;
			describe(cur(p), &sb);
			pfail(p, cur(p)->line, "expected token 'in', got '%s'", sb.buf);
			strbuf_release(&sb);
		}
		return NULL;
	}
	advance(p);
	static const char *const iter_end[] = {"recursive", NULL};
	n->a = parse_tuple(p, false, false, iter_end, false);
	if (!n->a)
		return NULL;
	if (is_name(cur(p), "if")) {
		advance(p);
		n->b = parse_expression(p, true);
		if (!n->b)
			return NULL;
	}
	if (is_name(cur(p), "recursive")) {
		pfail(p, cur(p)->line, "recursive for loops are not supported");
		return NULL;
	}
	if (expect_block_end(p) < 0)
		return NULL;
	static const char *const body_end[] = {"endfor", "else", NULL};
	size_t body_from = p->pos;
	if (subparse(p, body_end, &n->body, &n->nbody) < 0)
		return NULL;
	/* The body names `loop` (its own or an inner one's): else no loop object is made. */
	for (size_t i = body_from; i < p->pos && !n->uses_loop; i++)
		n->uses_loop = p->toks->v[i].kind == T_NAME && !strcmp(p->toks->v[i].s, "loop");
	if (is_name(advance(p), "else")) {
		if (expect_block_end(p) < 0)
			return NULL;
		static const char *const else_end[] = {"endfor", NULL};
		if (subparse(p, else_end, &n->orelse, &n->norelse) < 0)
			return NULL;
		advance(p);
	}
	return n;
}

static struct node *parse_if(struct parser *p)
{
	unsigned line = advance(p)->line;
	struct node *n = mk(p, N_IF, line), *top = n;
	static const char *const end[] = {"elif", "else", "endif", NULL};
	static const char *const else_end[] = {"endif", NULL};
	for (;;) {
		n->a = parse_tuple(p, false, false, NULL, false);
		if (!n->a || expect_block_end(p) < 0)
			return NULL;
		if (subparse(p, end, &n->body, &n->nbody) < 0)
			return NULL;
		const struct token *t = advance(p);
		if (is_name(t, "elif")) {
			struct node *elif = mk(p, N_IF, t->line);
			n->orelse = arena_alloc(p->a, sizeof(struct node *));
			n->orelse[0] = elif;
			n->norelse = 1;
			n = elif;
			continue;
		}
		if (is_name(t, "else")) {
			if (expect_block_end(p) < 0)
				return NULL;
			if (subparse(p, else_end, &n->orelse, &n->norelse) < 0)
				return NULL;
			advance(p);
		}
		break;
	}
	return top;
}

static struct node *parse_set(struct parser *p)
{
	unsigned line = advance(p)->line;
	static const char *const no_end[] = {NULL};
	struct node *target = parse_assign_target(p, no_end);
	if (!target)
		return NULL;
	if (is_op(cur(p), OP_ASSIGN)) {
		advance(p);
		struct node *n = mk(p, N_SET, line);
		n->target = target;
		n->a = parse_tuple(p, false, true, NULL, false);
		return n->a ? n : NULL;
	}
	if (target->kind != E_NAME) {
		expect_op(p, OP_ASSIGN, "=");
		return NULL;
	}
	struct node *n = mk(p, N_SETBLOCK, line);
	n->target = target;
	if (is_op(cur(p), OP_PIPE)) {
		struct node *chain = mk(p, E_BLOCKVAL, line);
		while (is_op(cur(p), OP_PIPE))
			if (!(chain = parse_filter(p, chain, false)))
				return NULL;
		n->b = chain;
	}
	if (expect_block_end(p) < 0)
		return NULL;
	static const char *const end[] = {"endset", NULL};
	if (subparse(p, end, &n->body, &n->nbody) < 0)
		return NULL;
	advance(p);
	return n;
}

static struct node *parse_macro(struct parser *p)
{
	unsigned line = advance(p)->line;
	struct node *n = mk(p, N_MACRO, line);
	if (cur(p)->kind != T_NAME) {
		expect_kind(p, T_NAME, "name");
		return NULL;
	}
	n->name = advance(p)->s;
	if (expect_op(p, OP_LPAREN, "(") < 0)
		return NULL;
	const char *params[256];
	struct node *defaults[256];
	size_t np = 0;
	while (!is_op(cur(p), OP_RPAREN)) {
		if (np && expect_op(p, OP_COMMA, ",") < 0)
			return NULL;
		if (is_op(cur(p), OP_RPAREN))
			break;
		const struct token *t = cur(p);
		if (t->kind != T_NAME) {
			expect_kind(p, T_NAME, "name");
			return NULL;
		}
		if (np == 256) {
			pfail(p, t->line, "too many macro parameters");
			return NULL;
		}
		advance(p);
		params[np] = t->s;
		defaults[np] = NULL;
		if (is_op(cur(p), OP_ASSIGN)) {
			advance(p);
			if (!(defaults[np] = parse_expression(p, true)))
				return NULL;
		} else if (np && defaults[np - 1]) {
			pfail(p, t->line, "non-default argument follows default argument");
			return NULL;
		}
		np++;
	}
	advance(p);
	n->nparams = (uint32_t)np;
	n->params = arena_alloc(p->a, (np ? np : 1) * sizeof(*n->params));
	n->defaults = arena_alloc(p->a, (np ? np : 1) * sizeof(struct node *));
	if (np) {
		memcpy(n->params, params, np * sizeof(*params));
		memcpy(n->defaults, defaults, np * sizeof(struct node *));
	}
	if (expect_block_end(p) < 0)
		return NULL;
	static const char *const end[] = {"endmacro", NULL};
	if (subparse(p, end, &n->body, &n->nbody) < 0)
		return NULL;
	advance(p);
	return n;
}

static struct node *parse_filter_block(struct parser *p)
{
	unsigned line = advance(p)->line;
	struct node *n = mk(p, N_FILTERBLOCK, line);
	struct node *chain = parse_filter(p, mk(p, E_BLOCKVAL, line), true);
	while (chain && is_op(cur(p), OP_PIPE))
		chain = parse_filter(p, chain, false);
	if (!chain || expect_block_end(p) < 0)
		return NULL;
	n->b = chain;
	static const char *const end[] = {"endfilter", NULL};
	if (subparse(p, end, &n->body, &n->nbody) < 0)
		return NULL;
	advance(p);
	return n;
}

static struct node *parse_print(struct parser *p)
{
	unsigned line = advance(p)->line;
	struct node *n = mk(p, N_OUTPUT, line);
	n->a = parse_tuple(p, false, true, NULL, false);
	return n->a ? n : NULL;
}

static struct node *parse_statement(struct parser *p, const char *const *end_tokens)
{
	const struct token *t = cur(p);
	if (t->kind != T_NAME) {
		pfail(p, t->line, "tag name expected");
		return NULL;
	}
	struct node *n;
	const char *name = t->s;
	static const char *const unsupported[] = {
	    "block", "extends", "include", "import", "from", "call", "with", "autoescape", NULL};
	for (const char *const *u = unsupported; *u; u++)
		if (!strcmp(name, *u)) {
			pfail(p, t->line, "the '%s' tag is not supported by gpuci render", name);
			return NULL;
		}
	if (p->depth >= sizeof(p->stack) / sizeof(*p->stack)) {
		pfail(p, t->line, "blocks nested more than %zu deep",
		      sizeof(p->stack) / sizeof(*p->stack));
		return NULL;
	}
	push_tag(p, name);
	if (!strcmp(name, "for"))
		n = parse_for(p);
	else if (!strcmp(name, "if"))
		n = parse_if(p);
	else if (!strcmp(name, "set"))
		n = parse_set(p);
	else if (!strcmp(name, "macro"))
		n = parse_macro(p);
	else if (!strcmp(name, "filter"))
		n = parse_filter_block(p);
	else if (!strcmp(name, "print"))
		n = parse_print(p);
	else {
		pop_tag(p);
		struct strbuf sb = STRBUF_INIT;
		strbuf_addf(&sb, "Encountered unknown tag '%s'.", name);
		if (end_tokens && *end_tokens) {
			strbuf_adds(&sb, " Jinja was looking for the following tags: ");
			for (const char *const *e = end_tokens; *e; e++)
				strbuf_addf(&sb, "%s'%s'",
				            e == end_tokens ? ""
				            : e[1]          ? ", "
				                            : " or ",
				            *e);
			strbuf_addch(&sb, '.');
		}
		if (p->depth)
			strbuf_addf(&sb, " The innermost block that needs to be closed is '%s'.",
			            p->stack[p->depth - 1]);
		pfail(p, t->line, "%s", sb.buf);
		strbuf_release(&sb);
		return NULL;
	}
	if (n)
		pop_tag(p);
	return n;
}

static int subparse(struct parser *p, const char *const *end_tokens, struct node ***body,
                    uint32_t *nbody)
{
	struct nvec v = {0};
	for (;;) {
		const struct token *t = cur(p);
		if (t->kind == T_EOF) {
			if (end_tokens) {
				struct strbuf sb = STRBUF_INIT;
				strbuf_adds(&sb,
				            "Unexpected end of template. Jinja was looking for "
				            "the following tags: ");
				for (const char *const *e = end_tokens; *e; e++)
					strbuf_addf(&sb, "%s'%s'",
					            e == end_tokens ? ""
					            : e[1]          ? ", "
					                            : " or ",
					            *e);
				strbuf_addf(&sb,
				            ". The innermost block that needs to be closed is "
				            "'%s'.",
				            p->depth ? p->stack[p->depth - 1] : "?");
				pfail(p, t->line, "%s", sb.buf);
				strbuf_release(&sb);
				goto fail;
			}
			break;
		}
		if (t->kind == T_DATA) {
			advance(p);
			struct node *n = mk(p, N_TEXT, t->line);
			n->off = t->off;
			n->val.kind = V_STR;
			n->val.str.s = t->s;
			n->val.str.len = t->len;
			nvec_push(&v, n);
		} else if (t->kind == T_VAR_BEGIN) {
			advance(p);
			struct node *n = mk(p, N_OUTPUT, cur(p)->line);
			n->a = parse_tuple(p, false, true, NULL, false);
			if (!n->a || expect_kind(p, T_VAR_END, "end of print statement") < 0)
				goto fail;
			nvec_push(&v, n);
		} else if (t->kind == T_BLOCK_BEGIN) {
			advance(p);
			if (end_tokens && at_end_token(p, end_tokens))
				break; /* the caller consumes the end tag */
			struct node *n = parse_statement(p, end_tokens);
			if (!n || expect_block_end(p) < 0)
				goto fail;
			nvec_push(&v, n);
		} else {
			unexpected(p, t);
			goto fail;
		}
	}
	size_t n;
	*body = nvec_finish(p, &v, &n);
	*nbody = (uint32_t)n;
	return 0;
fail:
	free(v.v);
	return -1;
}

int tpl_parse(struct tpl *t, const struct tokens *toks, struct diag *d)
{
	struct parser p = {.t = t, .a = &t->arena, .toks = toks, .d = d};
	if (subparse(&p, NULL, &t->body, &t->nbody) < 0)
		return -1;
	return 0;
}
