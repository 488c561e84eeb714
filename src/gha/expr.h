/*
 * gha: GitHub Actions expressions (`${{ ... }}` and `if:` conditions), as
 * GitHub's documentation defines them: literals, ( ) [ ] . ! < <= > >= ==
 * != && ||, property dereference with `*` object filters, loose equality
 * and coercions, case-insensitive string comparison, && and || returning an
 * operand, and the functions contains, startsWith, endsWith, format, join,
 * toJSON, fromJSON, hashFiles (unsupported: an error), success, failure,
 * always, cancelled.
 *
 * Values are the shared value model (value/value.h): null is V_NONE, a
 * number is V_INT when integral and within +-2^53 and V_FLOAT otherwise,
 * arrays are V_LIST, objects V_DICT. V_UNDEF in a context means "not known
 * until the workflow runs" (e.g. another job's output): it propagates
 * through every operation whose result depends on it, carrying its hint.
 */
#ifndef GPUCI_GHA_EXPR_H
#define GPUCI_GHA_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"
#include "value/value.h"

struct gha_expr;

enum gha_status { GHA_SUCCESS, GHA_FAILURE, GHA_CANCELLED };

struct gha_ctx {
	struct value contexts; /* V_DICT: github, env, matrix, needs, inputs, ... */
	enum gha_status status; /* what success()/failure()/cancelled() see */
};

/*
 * Parses one expression (without ${{ }}). `where` is the place of src[0]
 * (may be NULL): errors carry it with the column of the fault added.
 */
struct gha_expr *gha_parse(struct arena *a, const char *src, size_t len,
                           const struct srcloc *where, struct diag *d);
/* Whether the expression calls success(), failure(), always() or cancelled(). */
bool gha_uses_status(const struct gha_expr *e);
int gha_eval(const struct gha_expr *e, const struct gha_ctx *ctx, struct arena *a,
             struct value *out, struct diag *d);

/*
 * An `if:` condition as GitHub runs it: with or without ${{ }}, with
 * `success() && (...)` implied when no status function appears. *out is
 * the truthiness; *unknown is set (and *out false) when it depends on a
 * V_UNDEF, whose hint is then in *hint.
 */
int gha_eval_if(const char *src, size_t len, const struct srcloc *where,
                const struct gha_ctx *ctx, struct arena *a, bool *out, bool *unknown,
                const char **hint, struct diag *d);

/*
 * A string with ${{ }} parts, as GitHub expands a workflow value: a string
 * that is exactly one `${{ expr }}` gives that value itself (so a matrix
 * can be an array); otherwise the parts are coerced to strings and spliced.
 * A string without ${{ gives itself.
 */
int gha_interp(const char *src, size_t len, const struct srcloc *where,
               const struct gha_ctx *ctx, struct arena *a, struct value *out, struct diag *d);

#endif
