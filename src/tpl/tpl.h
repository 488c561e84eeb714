/*
 * tpl: Jinja2 templates, rendered byte for byte as Python's Jinja2 3.1
 * renders them, for everything a workflow template plausibly uses.
 *
 * Semantics are Jinja2's defaults (no trim_blocks, no lstrip_blocks, a
 * single trailing newline of the template dropped, autoescape off, the
 * default Undefined) with configurable delimiters; gpuci's defaults are
 * those of the workflow generators it replaces: <% %>, << >>, {# #}.
 * A construct Jinja2 has and this engine does not is refused with a
 * "not supported" error naming its line, never rendered differently.
 *
 * Lifecycle: tpl_compile() once, tpl_render() any number of times,
 * tpl_free(). Errors come back in a diag whose place is the template's
 * name and the line Jinja2 would report.
 */
#ifndef GPUCI_TPL_TPL_H
#define GPUCI_TPL_TPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"

struct tpl_syntax {
	const char *block_start, *block_end;
	const char *var_start, *var_end;
	const char *comment_start, *comment_end;
};

/* <% %>, << >>, {# #}. */
void tpl_syntax_default(struct tpl_syntax *s);

struct tpl;

/*
 * Parses src[0..len) (UTF-8). `name` is used in messages and must outlive
 * the template. syntax NULL means tpl_syntax_default(). Fails with
 * DIAG_INPUT and the line of the error.
 */
int tpl_compile(struct tpl **out, const char *src, size_t len, const char *name,
                const struct tpl_syntax *syntax, struct diag *d);

/* Appends the rendered text to out. Runtime errors come with their line. */
int tpl_render(const struct tpl *t, struct strbuf *out, struct diag *d);

/*
 * The same with variables defined for the template (vars may be NULL):
 * names the template reads as it reads its own `set` variables. vars is
 * only read, and must outlive the call.
 */
struct vdict;
int tpl_render_vars(const struct tpl *t, const struct vdict *vars, struct strbuf *out,
                    struct diag *d);

/*
 * A source map of one render: for each byte of the output, the place in
 * the template that produced it. Text copied from the template keeps a
 * byte-for-byte correspondence: output byte k of a piece of text maps to
 * the template byte it is a copy of (whitespace control and raw blocks
 * included: what they strip is simply not in the output). Every byte that
 * `<< expr >>` (or `print expr`) prints maps to the expression's first
 * token. Loops map each iteration's text to the same template places.
 *
 * Macros, set blocks, filter blocks: the text a macro's body renders maps
 * into the macro's body, wherever the macro is called, as long as its
 * result is printed as it is (`<< m(x) >>`, or `set v = m(x)` then
 * `<< v >>`; the same goes for a block `set`). A call site has no bytes of
 * its own. When the result is changed before it is printed (a filter, `~`,
 * a method), the changed bytes map to the expression that printed them
 * (for a filter block, to its tag).
 */
struct tpl_map;

/*
 * tpl_render_vars() that also makes the map of what it appends to out
 * (*map, for tpl_map_find() and tpl_map_free(); the caller owns it; it
 * needs neither t nor out to live on). Offsets in the map count from the
 * first byte appended (out->len at the call). On failure *map is NULL.
 * Without a map, tpl_render_vars() pays one test of a NULL pointer per
 * append (bench/render: within 0.2% of the instructions).
 */
int tpl_render_map(const struct tpl *t, const struct vdict *vars, struct strbuf *out,
                   struct tpl_map **map, struct diag *d);

/*
 * The template place of output byte out_offset: line and column counted
 * from 1, the column in bytes within the line, as Jinja2 counts lines
 * (a "\r\n" or a lone "\r" ends a line). False when out_offset is not
 * in the output.
 */
bool tpl_map_find(const struct tpl_map *m, size_t out_offset, unsigned *line, unsigned *col);

void tpl_map_free(struct tpl_map *m);

/*
 * Bounds on one render, so that a hostile or mistaken template ends with an
 * error instead of running for hours or filling memory: the size of any
 * string built (the output included: max_bytes), the memory its values take
 * (TPL_MEMORY_FACTOR times max_bytes, at least TPL_MIN_MEMORY) and the
 * number of evaluation steps.
 * The defaults (TPL_DEFAULT_*) are far above any real workflow. Each bound
 * fails the render with an error at the template line that crossed it.
 */
#define TPL_DEFAULT_MAX_BYTES ((size_t)64 << 20)
#define TPL_DEFAULT_MAX_STEPS ((unsigned long long)1 << 32)
#define TPL_MEMORY_FACTOR     16
#define TPL_MIN_MEMORY        ((size_t)64 << 20) /* the memory bound is never below this */
void tpl_set_limits(struct tpl *t, size_t max_bytes, unsigned long long max_steps);

/*
 * The max_bytes templates compiled from now on start with (0: back to
 * TPL_DEFAULT_MAX_BYTES), for a command's option (gpuci render --max-output).
 * Process-wide; not for use from several threads.
 */
void tpl_set_default_max_bytes(size_t max_bytes);

void tpl_free(struct tpl *t);

/*
 * The `set NAME = <expression>` statements of a template, for tools that
 * read a template without rendering it. The tokens are those of the
 * engine's own lexer, so comments, raw blocks, whitespace control,
 * strings and line ends are what they are when the template renders;
 * nothing is parsed.
 */
enum tpl_tok_kind { TPL_TOK_NAME, TPL_TOK_STRING, TPL_TOK_INT, TPL_TOK_FLOAT, TPL_TOK_OP };

struct tpl_set_tok {
	enum tpl_tok_kind kind;
	unsigned line; /* of its first byte (1-based, as Jinja2 counts) */
	/*
	 * NAME: the name; STRING: its value, escapes decoded; OP: the operator
	 * ("[", "+", "//", ...); NULL for INT and FLOAT, except an INT beyond
	 * 64 bits: its text as written (i is 0 then). NUL-terminated.
	 */
	const char *s;
	size_t len;        /* of s */
	int64_t i;         /* INT */
	double f;          /* FLOAT */
	size_t start, end; /* its text is src[start..end), a string's quotes included */
};

struct tpl_set {
	const char *name;
	unsigned line;  /* of the name */
	size_t name_at; /* offset of the name in src */
	size_t ntoks;
	struct tpl_set_tok *toks; /* of the expression: from after `=` to the tag's end */
	bool cut;                 /* the tag does not end: toks stop where lexing stopped */
};

/*
 * Gives in *out the n `set NAME = ...` statements of src[0..len), in the
 * template's order (block sets and `set a.b = ...` are not among them);
 * everything lives in a. `name` is used in messages and must outlive a;
 * syntax NULL means tpl_syntax_default().
 *
 * Fails (DIAG_INPUT, name:line) where tpl_compile's lexer fails (text that
 * is not UTF-8: n is 0; text it cannot tokenize), and when the template
 * ends inside a `set` tag; *out and *n then hold the statements before that
 * place, and the one it is in, if any, with cut set.
 */
int tpl_sets(const char *src, size_t len, const char *name, const struct tpl_syntax *syntax,
             struct arena *a, struct tpl_set **out, size_t *n, struct diag *d);

#endif
