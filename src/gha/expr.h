/*
 * gha: GitHub Actions expressions (`${{ ... }}` and `if:` conditions), as
 * GitHub's documentation defines them and, where it is silent, as GitHub's
 * runner evaluates them (actions/runner, src/Sdk/DTExpressions2):
 * literals, ( ) [ ] . ! < <= > >= == != && ||, property dereference with
 * `*` object filters, loose equality and coercions, case-insensitive
 * string comparison, && and || returning an operand, and the functions
 * contains, startsWith, endsWith, format, join, toJSON, fromJSON, case,
 * hashFiles (unsupported: an error), success, failure, always, cancelled.
 *
 * Values are the shared value model (value/value.h): null is V_NONE, a
 * number is V_INT when integral and within +-2^53 and V_FLOAT otherwise,
 * arrays are V_LIST, objects V_DICT. V_UNDEF in a context means "not known
 * until the workflow runs" (e.g. another job's output): it propagates
 * through every operation whose result depends on it, carrying its hint
 * (value.str.s), while results known without it stay known (`false && x`
 * is false). Object keys are looked up ignoring case; a missing key of a
 * known object is null, not unknown. A context GitHub defines (github,
 * env, vars, job, jobs, steps, runner, secrets, strategy, matrix, needs,
 * inputs) that is missing from gha_ctx.contexts is unknown; any other
 * name is an error ("unrecognized named-value").
 *
 * Conversions to string are GitHub's: null '', booleans 'true'/'false',
 * numbers as .NET's "G15" prints them (15 significant digits: 1, 1.5,
 * 0.3 for 0.1 + 0.2, 1E+15, 1E-05, NaN, Infinity), arrays 'Array' and
 * objects 'Object'.
 *
 * Limits, as GitHub's: an expression of at most 21000 bytes, a tree at
 * most 50 nodes deep; and gpuci's own: 200 levels of parentheses, 200
 * levels of JSON, 8 MiB built per evaluation. Past them: an error.
 *
 * Errors are DIAG_INPUT diags placed at the fault: line where->line,
 * column where->col + the fault's byte offset (without `where`: line 1,
 * column offset + 1, no file). Expressions, values and hints live in the
 * arena passed in; `where->file` must outlive the expression.
 */
#ifndef GPUCI_GHA_EXPR_H
#define GPUCI_GHA_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"
#include "value/value.h"

struct gha_expr;

/*
 * What the status functions see. GHA_SKIPPED: a job this one needs was
 * skipped, so success(), failure() and cancelled() are all false.
 */
enum gha_status { GHA_SUCCESS, GHA_FAILURE, GHA_CANCELLED, GHA_SKIPPED };

struct gha_ctx {
	struct value contexts;  /* V_DICT: github, env, matrix, needs, inputs, ... */
	enum gha_status status; /* what success()/failure()/cancelled() see */
};

/*
 * Parses one expression (without ${{ }}). `where` is the place of src[0]
 * (may be NULL): errors carry it with the column of the fault added.
 * Unknown functions and wrong numbers of arguments are parse errors;
 * unknown context names are found by gha_eval.
 */
struct gha_expr *gha_parse(struct arena *a, const char *src, size_t len, const struct srcloc *where,
                           struct diag *d);
/* Whether the expression calls success(), failure(), always() or cancelled(). */
bool gha_uses_status(const struct gha_expr *e);
/*
 * Evaluates e. *out may be V_UNDEF (unknown); it may borrow from the
 * contexts and from the arena e was parsed in.
 * Fails on what GitHub fails on at run time: a bad format() string,
 * fromJSON() of what is not JSON, a non-boolean case() predicate,
 * hashFiles(), an unrecognized context name.
 */
int gha_eval(const struct gha_expr *e, const struct gha_ctx *ctx, struct arena *a,
             struct value *out, struct diag *d);

/*
 * An `if:` condition as GitHub runs it: with or without ${{ }}, with
 * `success() && (...)` implied when no status function appears (so after
 * a failure the condition is not evaluated at all); empty means
 * success(). *out is the truthiness; *unknown is set (and *out false)
 * when it depends on a V_UNDEF, whose hint is then in *hint (may be NULL).
 * && || and ! use three-valued logic here: `unknown || true` is true.
 *
 * Text with ${{ }} in parts only (`${{ a }} == 'x'`) is what GitHub makes
 * of it: a string with the parts spliced in, true unless empty -- almost
 * always true, as on GitHub.
 */
int gha_eval_if(const char *src, size_t len, const struct srcloc *where, const struct gha_ctx *ctx,
                struct arena *a, bool *out, bool *unknown, const char **hint, struct diag *d);

/*
 * A string with ${{ }} parts, as GitHub expands a workflow value: a string
 * that is exactly one `${{ expr }}` gives that value itself (so a matrix
 * can be an array); otherwise the parts are converted to strings (see
 * above: arrays 'Array', objects 'Object') and spliced, and the result is
 * unknown if any part is. A string without ${{ gives itself. An
 * expression ends at the first }} outside a string literal.
 */
int gha_interp(const char *src, size_t len, const struct srcloc *where, const struct gha_ctx *ctx,
               struct arena *a, struct value *out, struct diag *d);

/* Appends v converted to a string as GitHub does (V_UNDEF: nothing). */
void gha_to_str(struct value v, struct strbuf *out);
/* GitHub's truthiness: false for false, 0, -0, NaN, '' and null (and V_UNDEF). */
bool gha_truthy(struct value v);

#endif
