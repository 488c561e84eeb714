/* Python ints beyond 64 bits: sign and magnitude, 32-bit limbs, little end first. */
#include "value/bigint.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

struct bigint {
	bool neg;
	uint32_t n;    /* limbs; d[n - 1] != 0; the value is beyond int64_t */
	uint32_t d[1]; /* n of them */
};

/* An int as a magnitude: either borrowed from a bigint or held in small. */
struct num {
	bool neg;
	size_t n;
	const uint32_t *d;
	uint32_t small[2];
};

bool vint_is(struct value v)
{
	return v.kind == V_INT || v.kind == V_BIGINT || v.kind == V_BOOL;
}

static void load(struct value v, struct num *x)
{
	if (v.kind == V_BIGINT) {
		x->neg = v.big->neg;
		x->n = v.big->n;
		x->d = v.big->d;
		return;
	}
	int64_t i = v.kind == V_INT ? v.i : (int64_t)v.b;
	uint64_t m = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
	x->neg = i < 0;
	x->small[0] = (uint32_t)m;
	x->small[1] = (uint32_t)(m >> 32);
	x->n = m == 0 ? 0 : x->small[1] ? 2 : 1;
	x->d = x->small;
}

static size_t trim(const uint32_t *d, size_t n)
{
	while (n && !d[n - 1])
		n--;
	return n;
}

static size_t bitlen(const uint32_t *d, size_t n)
{
	n = trim(d, n);
	return n ? (n - 1) * 32 + (size_t)(32 - __builtin_clz(d[n - 1])) : 0;
}

/* The value of sign and magnitude d[0..n): V_INT when it fits. */
static struct value finish(struct arena *a, bool neg, const uint32_t *d, size_t n)
{
	n = trim(d, n);
	if (n <= 2) {
		uint64_t m = n ? d[0] : 0;
		if (n == 2)
			m |= (uint64_t)d[1] << 32;
		if (m <= (uint64_t)INT64_MAX)
			return value_int(neg ? -(int64_t)m : (int64_t)m);
		if (neg && m == (uint64_t)1 << 63)
			return value_int(INT64_MIN);
	}
	struct bigint *b = arena_alloc(a, sizeof(*b) + n * sizeof(uint32_t));
	b->neg = neg;
	b->n = (uint32_t)n;
	memcpy(b->d, d, n * sizeof(uint32_t));
	return (struct value){.kind = V_BIGINT, .big = b};
}

static int mag_cmp(const uint32_t *a, size_t an, const uint32_t *b, size_t bn)
{
	an = trim(a, an);
	bn = trim(b, bn);
	if (an != bn)
		return an < bn ? -1 : 1;
	for (size_t i = an; i-- > 0;)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

/* r[0..max(an,bn)+1) = a + b */
static void mag_add(const uint32_t *a, size_t an, const uint32_t *b, size_t bn, uint32_t *r)
{
	if (an < bn) {
		const uint32_t *t = a;
		a = b;
		b = t;
		size_t tn = an;
		an = bn;
		bn = tn;
	}
	uint64_t c = 0;
	for (size_t i = 0; i < an; i++) {
		c += (uint64_t)a[i] + (i < bn ? b[i] : 0);
		r[i] = (uint32_t)c;
		c >>= 32;
	}
	r[an] = (uint32_t)c;
}

/* r[0..an) = a - b, a >= b */
static void mag_sub(const uint32_t *a, size_t an, const uint32_t *b, size_t bn, uint32_t *r)
{
	int64_t br = 0;
	for (size_t i = 0; i < an; i++) {
		int64_t t = (int64_t)a[i] - (i < bn ? b[i] : 0) - br;
		br = t < 0;
		r[i] = (uint32_t)(t + (br ? ((int64_t)1 << 32) : 0));
	}
}

/* r[0..an+bn) = a * b */
static void mag_mul(const uint32_t *a, size_t an, const uint32_t *b, size_t bn, uint32_t *r)
{
	memset(r, 0, (an + bn) * sizeof(uint32_t));
	for (size_t i = 0; i < an; i++) {
		uint64_t c = 0;
		for (size_t j = 0; j < bn; j++) {
			c += (uint64_t)a[i] * b[j] + r[i + j];
			r[i + j] = (uint32_t)c;
			c >>= 32;
		}
		r[i + bn] = (uint32_t)c;
	}
}

/*
 * Knuth's algorithm D (after Hacker's Delight's divmnu): q[0..m-n+1) and
 * r[0..n) of u[0..m) / v[0..n), m >= n >= 1, v[n-1] != 0.
 */
static void mag_divmod(const uint32_t *u, size_t m, const uint32_t *v, size_t n, uint32_t *q,
                       uint32_t *r)
{
	if (n == 1) {
		uint64_t k = 0;
		for (size_t j = m; j-- > 0;) {
			uint64_t t = (k << 32) | u[j];
			q[j] = (uint32_t)(t / v[0]);
			k = t - (uint64_t)q[j] * v[0];
		}
		r[0] = (uint32_t)k;
		return;
	}
	int s = __builtin_clz(v[n - 1]);
	uint32_t *vn = xmalloc(n * sizeof(uint32_t));
	uint32_t *un = xmalloc((m + 1) * sizeof(uint32_t));
	for (size_t i = n - 1; i > 0; i--)
		vn[i] = (v[i] << s) | (s ? v[i - 1] >> (32 - s) : 0);
	vn[0] = v[0] << s;
	un[m] = s ? u[m - 1] >> (32 - s) : 0;
	for (size_t i = m - 1; i > 0; i--)
		un[i] = (u[i] << s) | (s ? u[i - 1] >> (32 - s) : 0);
	un[0] = u[0] << s;
	const uint64_t b = (uint64_t)1 << 32;
	for (size_t j = m - n + 1; j-- > 0;) {
		uint64_t num = ((uint64_t)un[j + n] << 32) | un[j + n - 1];
		uint64_t qhat = num / vn[n - 1];
		uint64_t rhat = num - qhat * vn[n - 1];
		while (qhat >= b || qhat * vn[n - 2] > ((rhat << 32) | un[j + n - 2])) {
			qhat--;
			rhat += vn[n - 1];
			if (rhat >= b)
				break;
		}
		int64_t k = 0, t;
		for (size_t i = 0; i < n; i++) {
			uint64_t p = qhat * vn[i];
			t = (int64_t)un[i + j] - k - (int64_t)(p & 0xffffffffu);
			un[i + j] = (uint32_t)t;
			k = (int64_t)(p >> 32) - (t >> 32);
		}
		t = (int64_t)un[j + n] - k;
		un[j + n] = (uint32_t)t;
		q[j] = (uint32_t)qhat;
		if (t < 0) {
			q[j]--;
			k = 0;
			for (size_t i = 0; i < n; i++) {
				t = (int64_t)un[i + j] + vn[i] + k;
				un[i + j] = (uint32_t)t;
				k = t >> 32;
			}
			un[j + n] += (uint32_t)k;
		}
	}
	for (size_t i = 0; i + 1 < n; i++)
		r[i] = (un[i] >> s) | (s ? un[i + 1] << (32 - s) : 0);
	r[n - 1] = un[n - 1] >> s;
	free(vn);
	free(un);
}

static bool too_big(const uint32_t *d, size_t n)
{
	return bitlen(d, n) > VINT_MAX_BITS;
}

/* Python's floor divmod of signed magnitudes; q and r are malloc'ed. */
static void floor_divmod(const struct num *x, const struct num *y, uint32_t **q, size_t *qn,
                         bool *qneg, uint32_t **r, size_t *rn, bool *rneg)
{
	size_t m = x->n, n = trim(y->d, y->n);
	if (m < n) {
		*q = xcalloc(1, sizeof(uint32_t));
		*qn = 0;
		*r = xmalloc((m ? m : 1) * sizeof(uint32_t));
		if (m)
			memcpy(*r, x->d, m * sizeof(uint32_t));
		*rn = m;
	} else {
		*qn = m - n + 1;
		*q = xcalloc(*qn + 1, sizeof(uint32_t));
		*r = xcalloc(n, sizeof(uint32_t));
		*rn = n;
		mag_divmod(x->d, m, y->d, n, *q, *r);
	}
	*qneg = x->neg != y->neg;
	*rneg = y->neg;
	if (*qneg && trim(*r, *rn)) {
		/* q = -(|q| + 1), r = |y| - |r| */
		uint32_t one = 1;
		uint32_t *q2 = xcalloc(*qn + 2, sizeof(uint32_t));
		mag_add(*q, *qn, &one, 1, q2);
		free(*q);
		*q = q2;
		*qn += 1;
		uint32_t *r2 = xcalloc(n, sizeof(uint32_t));
		mag_sub(y->d, n, *r, *rn, r2);
		free(*r);
		*r = r2;
		*rn = n;
	}
}

static int add_signed(struct arena *a, const struct num *x, bool yneg, const struct num *y,
                      struct value *out)
{
	size_t n = (x->n > y->n ? x->n : y->n) + 1;
	uint32_t *r = xcalloc(n, sizeof(uint32_t));
	bool neg;
	if (x->neg == yneg) {
		mag_add(x->d, x->n, y->d, y->n, r);
		neg = x->neg;
	} else if (mag_cmp(x->d, x->n, y->d, y->n) >= 0) {
		mag_sub(x->d, x->n, y->d, y->n, r);
		neg = x->neg;
	} else {
		mag_sub(y->d, y->n, x->d, x->n, r);
		neg = yneg;
	}
	int rc = too_big(r, n) ? VINT_TOO_BIG : VINT_OK;
	if (!rc)
		*out = finish(a, neg, r, n);
	free(r);
	return rc;
}

static int power(struct arena *a, const struct num *x, struct value y, struct value *out)
{
	int64_t e = 0;
	size_t xb = bitlen(x->d, x->n);
	bool odd = y.kind == V_BIGINT ? (y.big->d[0] & 1) : vint_to_i64(y, &e) && (e & 1);
	if (xb <= 1) { /* 0, 1, -1 */
		bool zero_exp = vint_sign(y) == 0;
		if (xb == 0)
			*out = value_int(zero_exp ? 1 : 0);
		else
			*out = value_int(x->neg && odd ? -1 : 1);
		return VINT_OK;
	}
	if (!vint_to_i64(y, &e) || (uint64_t)e * (xb - 1) > VINT_MAX_BITS)
		return VINT_TOO_BIG;
	/* room for the result and for base itself, squared as far as e needs */
	size_t cap = (size_t)e * xb / 32 + x->n + 2;
	uint32_t *acc = xcalloc(cap * 2, sizeof(uint32_t)), *tmp = xcalloc(cap * 2, 4);
	uint32_t *base = xcalloc(cap * 2, sizeof(uint32_t));
	size_t an = 1, bn = x->n;
	acc[0] = 1;
	memcpy(base, x->d, x->n * sizeof(uint32_t));
	for (int64_t k = e; k; k >>= 1) {
		if (k & 1) {
			mag_mul(acc, an, base, bn, tmp);
			an = trim(tmp, an + bn);
			memcpy(acc, tmp, an * sizeof(uint32_t));
		}
		if (k > 1) {
			mag_mul(base, bn, base, bn, tmp);
			bn = trim(tmp, bn * 2);
			memcpy(base, tmp, bn * sizeof(uint32_t));
		}
	}
	*out = finish(a, x->neg && odd, acc, an);
	free(acc);
	free(tmp);
	free(base);
	return VINT_OK;
}

int vint_arith(struct arena *a, enum vint_op op, struct value xv, struct value yv,
               struct value *out)
{
	struct num x, y;
	load(xv, &x);
	load(yv, &y);
	switch (op) {
	case VINT_ADD:
		return add_signed(a, &x, y.neg, &y, out);
	case VINT_SUB:
		return add_signed(a, &x, !y.neg && y.n, &y, out);
	case VINT_MUL: {
		size_t n = x.n + y.n;
		if (!x.n || !y.n) {
			*out = value_int(0);
			return VINT_OK;
		}
		if (bitlen(x.d, x.n) + bitlen(y.d, y.n) > VINT_MAX_BITS + 1)
			return VINT_TOO_BIG;
		uint32_t *r = xcalloc(n, sizeof(uint32_t));
		mag_mul(x.d, x.n, y.d, y.n, r);
		int rc = too_big(r, n) ? VINT_TOO_BIG : VINT_OK;
		if (!rc)
			*out = finish(a, x.neg != y.neg, r, n);
		free(r);
		return rc;
	}
	case VINT_FLOORDIV:
	case VINT_MOD: {
		if (!y.n)
			return VINT_ZERODIV;
		uint32_t *q, *r;
		size_t qn, rn;
		bool qneg, rneg;
		floor_divmod(&x, &y, &q, &qn, &qneg, &r, &rn, &rneg);
		*out = op == VINT_MOD ? finish(a, rneg, r, rn) : finish(a, qneg, q, qn);
		free(q);
		free(r);
		return VINT_OK;
	}
	case VINT_POW:
		return power(a, &x, yv, out);
	}
	return VINT_TOO_BIG;
}

struct value vint_neg(struct arena *a, struct value x)
{
	struct num n;
	load(x, &n);
	return finish(a, !n.neg && n.n, n.d, n.n);
}

int vint_sign(struct value x)
{
	struct num n;
	load(x, &n);
	return n.n == 0 ? 0 : n.neg ? -1 : 1;
}

static int num_cmp(const struct num *x, const struct num *y)
{
	bool xz = !trim(x->d, x->n), yz = !trim(y->d, y->n);
	bool xn = x->neg && !xz, yn = y->neg && !yz;
	if (xn != yn)
		return xn ? -1 : 1;
	int c = mag_cmp(x->d, x->n, y->d, y->n);
	return xn ? -c : c;
}

int vint_cmp(struct value xv, struct value yv)
{
	struct num x, y;
	load(xv, &x);
	load(yv, &y);
	return num_cmp(&x, &y);
}

/* The magnitude of an integral double |f| < 2^1024 in d[0..34). */
static size_t double_mag(double f, uint32_t *d)
{
	f = __builtin_fabs(f);
	memset(d, 0, 34 * sizeof(uint32_t));
	if (f < 1)
		return 0;
	uint64_t bits;
	memcpy(&bits, &f, sizeof(bits));
	int exp = (int)((bits >> 52) & 0x7ff) - 1075;
	uint64_t mant = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1 << 52);
	if (exp < 0) {
		mant >>= -exp;
		exp = 0;
	}
	size_t limb = (size_t)exp / 32, sh = (size_t)exp % 32;
	d[limb] = (uint32_t)(mant << sh);
	d[limb + 1] = (uint32_t)((mant << sh) >> 32);
	d[limb + 2] = sh ? (uint32_t)(mant >> (64 - sh)) : 0;
	return trim(d, limb + 3);
}

static double trunc_double(double f)
{
	if (__builtin_fabs(f) >= 0x1p52)
		return f;
	return (double)(int64_t)f;
}

bool vnum_cmp(struct value x, struct value y, int *cmp)
{
	if (vint_is(x) && vint_is(y)) {
		*cmp = vint_cmp(x, y);
		return true;
	}
	if (x.kind == V_FLOAT && y.kind == V_FLOAT) {
		if (x.f != x.f || y.f != y.f)
			return false;
		*cmp = (x.f > y.f) - (x.f < y.f);
		return true;
	}
	bool flip = x.kind == V_FLOAT;
	struct value i = flip ? y : x;
	double f = flip ? x.f : y.f;
	if (f != f)
		return false;
	int c;
	if (f - f != 0) {
		c = f > 0 ? -1 : 1;
	} else {
		double t = trunc_double(f);
		uint32_t d[34];
		struct num fn = {.neg = t < 0, .d = d};
		fn.n = double_mag(t, d);
		struct num in;
		load(i, &in);
		c = num_cmp(&in, &fn);
		if (c == 0)
			c = f > t ? -1 : f < t ? 1 : 0;
	}
	*cmp = flip ? -c : c;
	return true;
}

int vint_from_double(struct arena *a, double f, struct value *out)
{
	if (f != f || f - f != 0)
		return VINT_OVERFLOW;
	double t = trunc_double(f);
	if (__builtin_fabs(t) < 0x1p63) {
		*out = value_int((int64_t)t);
		return VINT_OK;
	}
	uint32_t d[34];
	size_t n = double_mag(t, d);
	*out = finish(a, t < 0, d, n);
	return VINT_OK;
}

/* m * 2^e, m an integer below 2^64 (exact scaling; inf past the range). */
static double scale(double m, long e)
{
	while (e >= 60) {
		m *= 0x1p60;
		e -= 60;
	}
	while (e <= -60) {
		m *= 0x1p-60;
		e += 60;
	}
	return e >= 0 ? m * (double)((uint64_t)1 << e) : m / (double)((uint64_t)1 << -e);
}

/* |d[0..n)| correctly rounded, as m * 2^*e; sticky: some lower bit was cut. */
static double mag_round(const uint32_t *d, size_t n, bool sticky, long *e)
{
	size_t L = bitlen(d, n);
	if (L < 64 || (L == 64 && !sticky)) {
		uint64_t m = 0;
		for (size_t i = (L + 31) / 32; i-- > 0;)
			m = (m << 32) | d[i];
		*e = 0;
		if (sticky) { /* a bit below the units: keep it below the rounding bit */
			*e = -1;
			return (double)((m << 1) | 1);
		}
		return (double)m;
	}
	size_t shift = L > 64 ? L - 64 : 0;
	uint64_t top = 0;
	for (int b = 63; b >= 0; b--) {
		size_t bit = shift + (size_t)b;
		top = (top << 1) | ((d[bit / 32] >> (bit % 32)) & 1);
	}
	for (size_t i = 0; i < shift / 32 && !sticky; i++)
		sticky = d[i] != 0;
	if (!sticky && shift % 32)
		sticky = (d[shift / 32] & ((1u << (shift % 32)) - 1)) != 0;
	*e = (long)shift;
	return (double)(top | (sticky ? 1 : 0));
}

int vint_to_double(struct value x, double *out)
{
	struct num n;
	load(x, &n);
	long e;
	double m = mag_round(n.d, n.n, false, &e);
	double f = scale(m, e);
	if (f - f != 0)
		return VINT_OVERFLOW;
	*out = n.neg ? -f : f;
	return VINT_OK;
}

static uint32_t *shifted(const struct num *x, size_t sh, size_t *n)
{
	*n = x->n + sh / 32 + 1;
	uint32_t *r = xcalloc(*n, sizeof(uint32_t));
	for (size_t i = 0; i < x->n; i++) {
		uint64_t v = (uint64_t)x->d[i] << (sh % 32);
		r[i + sh / 32] |= (uint32_t)v;
		r[i + sh / 32 + 1] |= (uint32_t)(v >> 32);
	}
	return r;
}

int vint_truediv(struct value xv, struct value yv, double *out)
{
	struct num x, y;
	load(xv, &x);
	load(yv, &y);
	if (!y.n)
		return VINT_ZERODIV;
	bool neg = x.neg != y.neg;
	size_t xb = bitlen(x.d, x.n), yb = bitlen(y.d, y.n);
	if (xb <= 53 && yb <= 53) {
		double a = 0, b = 1;
		vint_to_double(xv, &a);
		vint_to_double(yv, &b);
		*out = a / b;
		return VINT_OK;
	}
	if (!xb) {
		*out = neg ? -0.0 : 0.0;
		return VINT_OK;
	}
	long sh = 66 - ((long)xb - (long)yb);
	if (sh > 1000)
		return VINT_TOO_BIG; /* a result near the subnormals: not rounded twice */
	size_t un, vn;
	uint32_t *u = shifted(&x, sh > 0 ? (size_t)sh : 0, &un);
	uint32_t *v = shifted(&y, sh < 0 ? (size_t)-sh : 0, &vn);
	vn = trim(v, vn);
	un = trim(u, un);
	uint32_t *q = xcalloc(un - vn + 2, sizeof(uint32_t)), *r = xcalloc(vn, sizeof(uint32_t));
	mag_divmod(u, un, v, vn, q, r);
	bool sticky = trim(r, vn) != 0;
	long e;
	double m = mag_round(q, un - vn + 1, sticky, &e);
	double f = scale(m, e - sh);
	free(u);
	free(v);
	free(q);
	free(r);
	if (f - f != 0)
		return VINT_OVERFLOW;
	*out = neg ? -f : f;
	return VINT_OK;
}

static bool py_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
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

int vint_parse(struct arena *a, const char *s, size_t len, int base, struct value *out)
{
	const char *p = s, *end = s + len;
	while (p < end && py_space(*p))
		p++;
	while (end > p && py_space(end[-1]))
		end--;
	bool neg = false;
	if (p < end && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	if (base != 0 && (base < 2 || base > 36))
		return VINT_INVALID;
	bool prefixed = false;
	if (end - p >= 2 && p[0] == '0') {
		char c = (char)(p[1] | 0x20);
		int pb = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 0;
		if (pb && (base == 0 || base == pb)) {
			base = pb;
			p += 2;
			prefixed = true;
		}
	}
	bool octal_zero = false;
	if (base == 0) {
		base = 10;
		octal_zero = p < end && *p == '0';
	}
	/* Digits with single underscores between them (one may follow a prefix). */
	size_t ndig = 0, cap = (size_t)(end - p) / 9 + 2;
	if (prefixed && p < end && *p == '_')
		p++;
	if (p >= end || *p == '_')
		return VINT_INVALID;
	uint32_t *d = xcalloc(cap * 4 + 4, sizeof(uint32_t));
	size_t n = 0;
	bool nonzero = false;
	int rc = VINT_INVALID;
	for (; p < end; p++) {
		if (*p == '_') {
			if (p + 1 >= end || p[1] == '_')
				goto invalid;
			continue;
		}
		int v = digit_value(*p);
		if (v >= base)
			goto invalid;
		nonzero |= v != 0;
		ndig++;
		if (rc == VINT_TOO_BIG)
			continue; /* past the bound: only check that the rest are digits */
		uint64_t c = (uint64_t)v;
		for (size_t i = 0; i < n; i++) {
			c += (uint64_t)d[i] * (uint64_t)base;
			d[i] = (uint32_t)c;
			c >>= 32;
		}
		if (c)
			d[n++] = (uint32_t)c;
		if (n > VINT_MAX_BITS / 32 + 1)
			rc = VINT_TOO_BIG; /* the rest must still be digits */
	}
	if (octal_zero && nonzero)
		goto bad;
	if (rc == VINT_TOO_BIG || too_big(d, n) ||
	    ((base & (base - 1)) && ndig > VINT_MAX_STR_DIGITS)) {
		rc = VINT_TOO_BIG;
		goto bad;
	}
	*out = finish(a, neg, d, n);
	free(d);
	return VINT_OK;
bad:
	free(d);
	return rc;
invalid:
	free(d);
	return VINT_INVALID;
}

void vint_to_str(struct value x, struct strbuf *out)
{
	struct num n;
	load(x, &n);
	size_t len = n.n;
	uint32_t *d = xmalloc((len ? len : 1) * sizeof(uint32_t));
	if (len)
		memcpy(d, n.d, len * sizeof(uint32_t));
	struct strbuf rev = STRBUF_INIT;
	while ((len = trim(d, len))) {
		uint64_t k = 0;
		for (size_t j = len; j-- > 0;) {
			uint64_t t = (k << 32) | d[j];
			d[j] = (uint32_t)(t / 1000000000u);
			k = t % 1000000000u;
		}
		bool last = trim(d, len) == 0;
		for (int i = 0; i < 9 && (!last || k); i++, k /= 10)
			strbuf_addch(&rev, (char)('0' + k % 10));
	}
	free(d);
	if (n.neg && rev.len)
		strbuf_addch(out, '-');
	if (!rev.len)
		strbuf_addch(out, '0');
	for (size_t i = rev.len; i-- > 0;)
		strbuf_addch(out, rev.buf[i]);
	strbuf_release(&rev);
}

void vint_mag_to_base(struct value x, int base, bool upper, struct strbuf *out)
{
	struct num n;
	load(x, &n);
	int bits = base == 2 ? 1 : base == 8 ? 3 : 4;
	size_t L = bitlen(n.d, n.n);
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	if (!L) {
		strbuf_addch(out, '0');
		return;
	}
	size_t nd = (L + (size_t)bits - 1) / (size_t)bits;
	for (size_t i = nd; i-- > 0;) {
		unsigned v = 0;
		for (int b = bits - 1; b >= 0; b--) {
			size_t bit = i * (size_t)bits + (size_t)b;
			v = (v << 1) | (bit < n.n * 32 ? (n.d[bit / 32] >> (bit % 32)) & 1 : 0);
		}
		strbuf_addch(out, digits[v]);
	}
}

bool vint_to_i64(struct value x, int64_t *out)
{
	if (x.kind == V_BIGINT)
		return false;
	*out = x.kind == V_INT ? x.i : (int64_t)x.b;
	return true;
}

uint64_t vint_hash(struct value x)
{
	const uint64_t prime = 1099511628211ULL;
	if (x.kind != V_BIGINT) {
		/* The digits load() would give, without the array. */
		int64_t i = x.kind == V_INT ? x.i : (int64_t)x.b;
		uint64_t m = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
		uint64_t h = i < 0 ? 0x9e3779b97f4a7c15ULL : 0;
		if (m)
			h = (h ^ (uint32_t)m) * prime;
		if (m >> 32)
			h = (h ^ (uint32_t)(m >> 32)) * prime;
		return h;
	}
	uint64_t h = x.big->neg ? 0x9e3779b97f4a7c15ULL : 0;
	size_t len = trim(x.big->d, x.big->n);
	for (size_t i = 0; i < len; i++)
		h = (h ^ x.big->d[i]) * prime;
	return h;
}
