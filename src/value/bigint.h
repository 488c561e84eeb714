/*
 * bigint: Python's ints beyond 64 bits, exactly.
 *
 * An int value is V_INT while it fits in int64_t and V_BIGINT (a sign and
 * a magnitude in the arena) past that; every function here returns the
 * V_INT form whenever the result fits, so the two never overlap and a
 * V_BIGINT is never equal to a V_INT. V_BOOL counts as the int 0 or 1.
 *
 * Magnitudes are bounded by VINT_MAX_BITS: a result beyond it is refused
 * (VINT_TOO_BIG, "not supported"), never cut. The bound is below Python
 * 3.11's limit of VINT_MAX_STR_DIGITS decimal digits for str(), so every
 * int there is prints.
 */
#ifndef GPUCI_VALUE_BIGINT_H
#define GPUCI_VALUE_BIGINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/strbuf.h"
#include "value/value.h"

#define VINT_MAX_BITS       14000 /* 4215 digits: every such int prints in Python 3.11 */
#define VINT_MAX_STR_DIGITS 4300

enum vint_rc {
	VINT_OK = 0,
	VINT_TOO_BIG = -1,  /* beyond VINT_MAX_BITS: not supported */
	VINT_ZERODIV = -2,  /* division or modulo by zero */
	VINT_OVERFLOW = -3, /* a float conversion out of range (OverflowError) */
	VINT_INVALID = -4   /* not an int literal (ValueError) */
};

enum vint_op { VINT_ADD, VINT_SUB, VINT_MUL, VINT_FLOORDIV, VINT_MOD, VINT_POW };

/* V_INT, V_BIGINT or V_BOOL. */
bool vint_is(struct value v);

/* x op y for ints; VINT_POW needs y >= 0 (the caller makes a float otherwise). */
int vint_arith(struct arena *a, enum vint_op op, struct value x, struct value y, struct value *out);
struct value vint_neg(struct arena *a, struct value x);
/* -1, 0 or 1: the sign of x. */
int vint_sign(struct value x);
/* Compares two ints: -1, 0 or 1. */
int vint_cmp(struct value x, struct value y);

/*
 * Exact comparison of two numbers (ints, bools, floats), as Python compares
 * them: false when one is NaN (unordered), else *cmp is -1, 0 or 1.
 */
bool vnum_cmp(struct value x, struct value y, int *cmp);

/* int(f): truncates toward zero; VINT_OVERFLOW for NaN or an infinity. */
int vint_from_double(struct arena *a, double f, struct value *out);
/* float(x), correctly rounded; VINT_OVERFLOW when it is too large. */
int vint_to_double(struct value x, double *out);
/* x / y, correctly rounded as Python's int true division. */
int vint_truediv(struct value x, struct value y, double *out);

/*
 * Python's int(s, base) for s[0..len): surrounding whitespace, a sign,
 * underscores between digits, a 0x/0o/0b prefix for base 16/8/2 or 0.
 * VINT_INVALID when Python raises ValueError, VINT_TOO_BIG past the bound.
 */
int vint_parse(struct arena *a, const char *s, size_t len, int base, struct value *out);

/* str(x). */
void vint_to_str(struct value x, struct strbuf *out);
/* The magnitude of x in base 2, 8 or 16 (no sign, no prefix). */
void vint_mag_to_base(struct value x, int base, bool upper, struct strbuf *out);
/* x as int64_t when it fits. */
bool vint_to_i64(struct value x, int64_t *out);
/* A hash equal for equal ints (for dict keys). */
uint64_t vint_hash(struct value x);

#endif
