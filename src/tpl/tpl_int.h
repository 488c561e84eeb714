/*
 * Private to src/tpl/ and its tests: tokens, the syntax tree, and the
 * pieces the renderer and the filters share.
 */
#ifndef GPUCI_TPL_INT_H
#define GPUCI_TPL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "tpl/tpl.h"
#include "value/value.h"

/* ---- tokens (lex.c) ---- */

enum tok_kind {
	T_EOF,
	T_DATA,
	T_VAR_BEGIN,
	T_VAR_END,
	T_BLOCK_BEGIN,
	T_BLOCK_END,
	T_NAME,
	T_STRING,
	T_INT,
	T_FLOAT,
	T_OP,
};

enum op {
	OP_ADD = 1,
	OP_SUB,
	OP_DIV,
	OP_FLOORDIV,
	OP_MUL,
	OP_MOD,
	OP_POW,
	OP_TILDE,
	OP_LBRACKET,
	OP_RBRACKET,
	OP_LPAREN,
	OP_RPAREN,
	OP_LBRACE,
	OP_RBRACE,
	OP_EQ,
	OP_NE,
	OP_GT,
	OP_GTEQ,
	OP_LT,
	OP_LTEQ,
	OP_ASSIGN,
	OP_DOT,
	OP_COLON,
	OP_PIPE,
	OP_COMMA,
	OP_SEMICOLON,
	/* not tokens: operators of the tree */
	OP_AND,
	OP_OR,
	OP_NOT,
	OP_NEG,
	OP_POS,
	OP_IN,
	OP_NOTIN,
};

/* 32 bytes: a template has about one token per 4 bytes of text. */
struct token {
	uint8_t kind; /* enum tok_kind */
	uint8_t op;   /* enum op, for T_OP */
	unsigned line;
	/* Of s; T_INT, T_FLOAT: of the literal's text (s is NULL). */
	uint32_t len;
	/*
	 * Byte offset of its first byte in the normalized text (newlines made
	 * "\n"; a tag's begin: of its delimiter). Its text ends at off + len,
	 * a T_STRING's at off + srclen.
	 */
	uint32_t off;
	const char *s; /* T_DATA, T_NAME, T_STRING, T_OP: text (NUL-terminated) */
	union {
		int64_t i;       /* T_INT */
		double f;        /* T_FLOAT */
		uint32_t srclen; /* T_STRING: the literal's length in the text, quotes included */
	};
};

struct tokens {
	size_t n;
	struct token *v;
	const char *src; /* the normalized text the offsets count in (in the arena) */
	size_t len;
};

/*
 * Lexes src[0..len) into out (strings in a). Fails on text Jinja2's lexer
 * refuses, leaving in out the tokens before that place; out->v is the
 * caller's to free either way. A template that ends inside a tag ends
 * with T_EOF right after the tag's tokens: the parser reports it.
 */
int tpl_lex(struct tokens *out, struct arena *a, const char *src, size_t len,
            const struct tpl_syntax *syn, const char *name, struct diag *d);

/* ---- the tree (parse.c) ---- */

enum node_kind {
	/* statements */
	N_TEXT,
	N_OUTPUT,      /* a: expression */
	N_IF,          /* a: test; body; orelse */
	N_FOR,         /* target; a: iterable; b: filter condition or NULL; body; orelse */
	N_SET,         /* target; a: value */
	N_SETBLOCK,    /* target; body; b: filter chain (on E_BLOCKVAL) or NULL */
	N_MACRO,       /* name; params; defaults; body */
	N_FILTERBLOCK, /* b: filter chain on E_BLOCKVAL; body */
	/* expressions */
	E_CONST,    /* val */
	E_NAME,     /* name */
	E_LIST,     /* kids */
	E_TUPLE,    /* kids */
	E_DICT,     /* kids: key, value, key, value, ... */
	E_GETATTR,  /* a . name */
	E_GETITEM,  /* a [ b ] */
	E_CALL,     /* a ( kids, kw ) */
	E_FILTER,   /* a | name ( kids, kw ); a NULL inside a filter block chain */
	E_TEST,     /* a is [not] name ( kids, kw ) */
	E_UNARY,    /* op a */
	E_BINARY,   /* a op b */
	E_COMPARE,  /* a (ops[i] kids[i])... */
	E_COND,     /* b if a else c */
	E_BLOCKVAL, /* the rendered body of a filter block or block set */
	E_SLICE,    /* a : b : c inside [ ], each NULL where left out; only as E_GETITEM's b */
};

struct node {
	uint8_t kind;   /* enum node_kind */
	uint8_t op;     /* enum op: E_UNARY, E_BINARY */
	bool negated;   /* E_TEST */
	bool uses_loop; /* N_FOR: its body has the name `loop` */
	unsigned line;
	/*
	 * Offset in the normalized text (struct tpl's src) of the token the node
	 * was made at: N_TEXT, its first byte; N_OUTPUT, the expression's first
	 * token; statements, the token after the tag's name. For source maps.
	 */
	uint32_t off;
	const char *name;
	struct node *a, *b, *c;
	/* Each kind uses one member of this union (see enum node_kind). */
	union {
		struct value val; /* E_CONST, N_TEXT; E_NAME: the name as a string */
		struct {          /* lists, calls, filters, tests, comparisons */
			struct node **kids;
			enum op *ops; /* E_COMPARE, one per kid */
			const char **kwnames;
			struct node **kwvals;
			size_t nkids, nkw;
		};
		struct { /* statements with bodies */
			struct node *target;
			struct node **body, **orelse;
			const char **params;    /* N_MACRO */
			struct node **defaults; /* N_MACRO: one per param, NULL where none */
			uint32_t nbody, norelse, nparams;
		};
	};
};

struct tpl {
	struct arena arena;
	const char *name;
	const char *src; /* the normalized text (newlines made "\n", the last one dropped) */
	size_t len;
	struct node **body;
	uint32_t nbody;
	size_t max_bytes;
	unsigned long long max_steps;
};

int tpl_parse(struct tpl *t, const struct tokens *toks, struct diag *d);

/* ---- rendering (render.c, filters.c) ---- */

struct frame;
struct tpl_mapper;
struct rctx {
	struct arena *a;
	const struct tpl *t;
	struct diag *d;
	unsigned line;            /* of what runs now, for runtime errors */
	int depth;                /* of macro calls, bounded */
	int eval_depth;           /* of expression evaluation, bounded */
	unsigned long long steps; /* evaluations so far, bounded by t->max_steps */
	bool oversize;            /* a string hit t->max_bytes and was cut: the render fails */
	bool unprintable;         /* a generator was printed: the render fails (not supported) */
	const void *last_chunk;   /* the arena's newest chunk when last looked at */
	size_t chunks;            /* arena chunks seen so far (memory, bounded) */
	struct tpl_mapper *map;   /* NULL unless a source map is being made (map.c) */
	uintptr_t stack_base;     /* the C stack where the render began, and how */
	size_t stack_budget;      /* much of it the render may use (render.c) */
};

/* Renders t into out, recording a source map in m when m is not NULL. */
int tpl_render_into(const struct tpl *t, const struct vdict *vars, struct strbuf *out,
                    struct tpl_mapper *m, struct diag *d);

/*
 * ---- the source map (map.c) ----
 *
 * While rendering with a map, every append the renderer makes to an output
 * buffer (the template's output, or the body of a macro, set block or
 * filter block) is noted with where it came from. The notes of a body are
 * kept with the string value made of it, so that printing that value
 * elsewhere (`<< m() >>`, `<< block_var >>`) carries them along.
 */
/* out[at..out->len) was copied from the template's text at src. */
void tpl_map_text(struct tpl_mapper *m, const struct strbuf *out, size_t at, uint32_t src);
/*
 * out[at..out->len) is v, printed by the node at src: v's own notes when v
 * is a string made by tpl_map_body_end and printed unchanged, else src for
 * every byte.
 */
void tpl_map_value(struct tpl_mapper *m, const struct strbuf *out, size_t at, struct value v,
                   uint32_t src);
/* A body is rendered into sb from now on; returns what tpl_map_body_end restores. */
void *tpl_map_body_begin(struct tpl_mapper *m, const struct strbuf *sb);
/* The body is done and became the string v (V_NONE when it failed). */
void tpl_map_body_end(struct tpl_mapper *m, void *saved, struct value v);

/*
 * Strings built while rendering are bounded by the template's max_bytes:
 * made with TPL_STRBUF(r) and turned into values by tpl_strval(), which
 * notes a string that hit the bound so that the render fails (at the end of
 * the statement) instead of going on with a cut string.
 */
#define TPL_STRBUF(r)                                                                              \
	{                                                                                          \
		.buf = strbuf_empty, .max = (r)->t->max_bytes                                      \
	}
struct value tpl_strval(struct rctx *r, const struct strbuf *sb);

/*
 * A runtime error at the current line; tpl_fail() evaluates to -1. The
 * constant is in the macro, not returned by the (variadic, so never
 * inlined by the static analyzer) function, so that the analyzer sees
 * that a failing call returns -1 and leaves its out-parameters unused.
 */
void tpl_failf(struct rctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define tpl_fail(...) (tpl_failf(__VA_ARGS__), -1)
/* The error a use of an undefined value raises; returns -1. */
static inline int tpl_fail_undefined(struct rctx *r, struct value v)
{
	return tpl_fail(r, "%s", v.str.s ? v.str.s : "value is undefined");
}

struct args {
	size_t n;
	struct value *v;
	size_t nkw;
	const char **kwnames;
	struct value *kwvals;
};

/* Known filter and test names, checked when a template is compiled. */
bool tpl_filter_exists(const char *name);
bool tpl_test_exists(const char *name);
int tpl_apply_filter(struct rctx *r, const char *name, struct value subject,
                     const struct args *args, struct value *out);
int tpl_apply_test(struct rctx *r, const char *name, struct value subject, const struct args *args,
                   bool *out);

/*
 * str(v) (repr: repr(v)) appended to sb; notes a generator printed (Python
 * shows its address), which fails the render at the end of the statement.
 */
void tpl_str_into(struct rctx *r, struct value v, struct strbuf *sb, bool repr);
/* str(v) as a new string value (Markup stays Markup). */
struct value tpl_to_str(struct rctx *r, struct value v);
/* Python's getattr-then-getitem for `v.name` (Jinja's environment.getattr). */
int tpl_getattr(struct rctx *r, struct value v, const char *name, struct value *out);
/* Python's getitem-then-getattr for `v[key]`. */
int tpl_getitem(struct rctx *r, struct value v, struct value key, struct value *out);
/* v[sl[0]:sl[1]:sl[2]] as Python slices (none where left out); Undefined where Jinja2 gives it. */
int tpl_slice(struct rctx *r, struct value v, const struct value sl[3], struct value *out);
/* Iterates v as Python would (a dict yields keys, a str its characters). */
int tpl_iterate(struct rctx *r, struct value v, struct value *list_out);
/* Calls a callable value. */
int tpl_call(struct rctx *r, struct value fn, const struct args *args, struct value *out);
/* Markup's escape of str(v). */
struct value tpl_escape(struct rctx *r, struct value v);
/* Calls the Python method `name` of a str or dict value. */
int tpl_call_method(struct rctx *r, struct value self, const char *name, const struct args *a,
                    struct value *out);
/* Binary arithmetic shared by + and the sum filter. */
int tpl_binop(struct rctx *r, enum op op, struct value x, struct value y, struct value *out);

#endif
