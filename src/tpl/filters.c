/*
 * Filters, tests and the Python methods templates call, each following
 * jinja2/filters.py, jinja2/tests.py and Python's str and dict.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpl/tpl_int.h"
#include "value/bigint.h"
#include "value/ucase.h"
#include "value/pymath.h"
#include "base/xalloc.h"
#include "base/banned.h"

/* ---- argument binding ---- */

#define MAXP 8

/*
 * Binds args to the named parameters (positional first, then by name).
 * Missing ones are left with kind V_UNDEF and have[i] false.
 */
static int bind_args(struct rctx *r, const char *what, const struct args *a,
                     const char *const *names, struct value *slot, bool *have)
{
	size_t np = 0;
	while (names[np])
		np++;
	for (size_t i = 0; i < np; i++) {
		slot[i] = value_undef(NULL);
		have[i] = false;
	}
	if (a->n > np)
		return tpl_fail(r, "%s() takes at most %zu argument%s (%zu given)", what, np + 1,
		                np + 1 == 1 ? "" : "s", a->n + 1);
	for (size_t i = 0; i < a->n; i++) {
		slot[i] = a->v[i];
		have[i] = true;
	}
	for (size_t k = 0; k < a->nkw; k++) {
		size_t i;
		for (i = 0; i < np; i++)
			if (!strcmp(names[i], a->kwnames[k]))
				break;
		if (i == np)
			return tpl_fail(r, "%s() got an unexpected keyword argument '%s'", what,
			                a->kwnames[k]);
		if (have[i])
			return tpl_fail(r, "%s() got multiple values for argument '%s'", what,
			                names[i]);
		slot[i] = a->kwvals[k];
		have[i] = true;
	}
	return 0;
}

static const struct args no_args = {0};

static bool is_int(struct value v)
{
	return v.kind == V_INT || v.kind == V_BOOL;
}

static int64_t as_i(struct value v)
{
	return v.kind == V_INT ? v.i : (int64_t)v.b;
}

static int need_int(struct rctx *r, struct value v, const char *what, int64_t *out)
{
	if (v.kind == V_UNDEF)
		return tpl_fail_undefined(r, v);
	if (v.kind == V_BIGINT)
		return tpl_fail(r, "%s: an int beyond 64 bits is not supported here", what);
	if (!is_int(v))
		return tpl_fail(r, "%s: '%s' object cannot be interpreted as an integer", what,
		                value_type_name(v));
	*out = as_i(v);
	return 0;
}

static int need_str(struct rctx *r, struct value v, const char *what)
{
	if (v.kind == V_UNDEF)
		return tpl_fail_undefined(r, v);
	if (v.kind != V_STR)
		return tpl_fail(r, "%s: expected a string, got '%s'", what, value_type_name(v));
	return 0;
}

static struct value mkstr(struct rctx *r, struct strbuf *sb, bool safe)
{
	struct value v = tpl_strval(r, sb);
	v.safe = safe;
	strbuf_release(sb);
	return v;
}

/* ---- UTF-8 and case ---- */

/* Case mapping for ASCII, Latin-1, Greek and Cyrillic; the rest stays. */
static uint32_t to_upper(uint32_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 0xe0 && c <= 0xfe && c != 0xf7) ||
	    (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) || (c >= 0x430 && c <= 0x44f))
		return c - 32;
	if (c >= 0x450 && c <= 0x45f)
		return c - 80;
	if (c == 0xff)
		return 0x178;
	return c;
}

static uint32_t to_lower(uint32_t c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7) ||
	    (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) || (c >= 0x410 && c <= 0x42f))
		return c + 32;
	if (c >= 0x400 && c <= 0x40f)
		return c + 80;
	if (c == 0x178)
		return 0xff;
	return c;
}

static bool is_cased_upper(uint32_t c)
{
	return to_lower(c) != c;
}

static bool is_cased_lower(uint32_t c)
{
	return to_upper(c) != c || c == 0xdf;
}

static bool is_alnum_cp(uint32_t c)
{
	return (c < 0x80 && isalnum((int)c)) || is_cased_upper(c) || is_cased_lower(c) ||
	       (c >= 0xaa && c != 0xd7 && c != 0xf7 && c >= 0xc0);
}

static bool is_space_cp(uint32_t c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == 0x85 ||
	       c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
	       c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

enum casing { UPPER, LOWER, CAPITALIZE, TITLE };

/* Python's str.upper(), lower(), capitalize(), title(): full Unicode mappings. */
static struct value recase(struct rctx *r, struct value s, enum casing how)
{
	struct strbuf sb = TPL_STRBUF(r);
	(how == UPPER        ? ucase_upper
	 : how == LOWER      ? ucase_lower
	 : how == CAPITALIZE ? ucase_capitalize
	                     : ucase_title)(s.str.s, s.str.len, &sb);
	return mkstr(r, &sb, s.safe);
}

static bool title_sep(uint32_t c)
{
	return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_space_cp(c);
}

/* Jinja's title: split before runs of [-\s({\[<]; item[0].upper() + item[1:].lower(). */
static struct value do_title(struct rctx *r, struct value s)
{
	struct strbuf sb = TPL_STRBUF(r);
	const char *p = s.str.s, *end = p + s.str.len;
	while (p < end) {
		const char *q = p;
		bool sep = title_sep(utf8_decode(&q, end));
		while (q < end) { /* the item: a run of separators or of the rest */
			const char *n = q;
			if (title_sep(utf8_decode(&n, end)) != sep)
				break;
			q = n;
		}
		size_t first = utf8_step(p, end);
		ucase_upper(p, first, &sb);
		ucase_lower(p + first, (size_t)(q - p) - first, &sb);
		p = q;
	}
	return mkstr(r, &sb, s.safe);
}

/* ---- helpers shared by filters ---- */

/* Jinja's make_attrgetter: "a.b.0" walks attributes and items. */
static int attr_path(struct rctx *r, struct value v, struct value attr, struct value *out)
{
	if (attr.kind == V_INT) {
		return tpl_getitem(r, v, attr, out);
	}
	if (attr.kind != V_STR)
		return tpl_getitem(r, v, attr, out);
	const char *p = attr.str.s;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		char *part = arena_strndup(r->a, p, len);
		bool digits = len > 0;
		for (size_t i = 0; i < len; i++)
			digits &= part[i] >= '0' && part[i] <= '9';
		struct value key =
		    digits ? value_int(strtoll(part, NULL, 10)) : value_str_static(part);
		if (tpl_getitem(r, v, key, &v) < 0)
			return -1;
		if (!dot)
			break;
		p = dot + 1;
	}
	*out = v;
	return 0;
}

static int list_of(struct rctx *r, struct value v, struct value *out)
{
	return tpl_iterate(r, v, out);
}

/* Stable merge sort of values by key, Python's sorted(). */
struct sort_item {
	struct value key, val;
};

static int sort_items(struct rctx *r, struct sort_item *v, size_t n, bool fold, bool reverse)
{
	struct sort_item *tmp = xmalloc((n ? n : 1) * sizeof(*tmp));
	int rc = 0;
	for (size_t width = 1; width < n && rc == 0; width *= 2) {
		for (size_t lo = 0; lo < n && rc == 0; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi) {
				int cmp;
				if (!value_compare(v[j].key, v[i].key, fold, &cmp)) {
					rc = tpl_fail(r,
					              "'<' not supported between instances of '%s' "
					              "and '%s'",
					              value_type_name(v[j].key),
					              value_type_name(v[i].key));
					break;
				}
				if (cmp == 2) { /* timsort's order among NaNs is its own */
					rc = tpl_fail(r, "sorting with a NaN is not supported");
					break;
				}
				bool take_right = reverse ? cmp > 0 : cmp < 0;
				tmp[k++] = take_right ? v[j++] : v[i++];
			}
			if (rc)
				break;
			while (i < mid)
				tmp[k++] = v[i++];
			while (j < hi)
				tmp[k++] = v[j++];
			memcpy(v + lo, tmp + lo, (hi - lo) * sizeof(*v));
		}
	}
	free(tmp);
	return rc;
}

/* Jinja's ignore_case: lowercases strings for comparison. */
static struct value case_key(struct rctx *r, struct value v, bool case_sensitive)
{
	if (case_sensitive || v.kind != V_STR)
		return v;
	return recase(r, v, LOWER);
}

/* Python's str.splitlines() boundaries. */
static size_t line_break_at(const char *p, const char *end)
{
	unsigned char c = (unsigned char)*p;
	if (c == '\r')
		return p + 1 < end && p[1] == '\n' ? 2 : 1;
	if (c == '\n' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e))
		return 1;
	if (c == 0xc2 && p + 1 < end && (unsigned char)p[1] == 0x85)
		return 2;
	if (c == 0xe2 && p + 2 < end && (unsigned char)p[1] == 0x80 &&
	    ((unsigned char)p[2] == 0xa8 || (unsigned char)p[2] == 0xa9))
		return 3;
	return 0;
}

/* Splits s into lines as str.splitlines(); returns the count. */
static size_t split_lines(struct rctx *r, const char *s, size_t len, struct value **out)
{
	size_t cap = 16, n = 0;
	struct value *v = xmalloc(cap * sizeof(*v));
	const char *p = s, *end = s + len, *start = s;
	while (p < end) {
		size_t w = line_break_at(p, end);
		if (!w) {
			p++;
			continue;
		}
		if (n == cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = value_str(r->a, start, (size_t)(p - start));
		p += w;
		start = p;
	}
	if (start < end) {
		if (n == cap)
			v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = value_str(r->a, start, (size_t)(end - start));
	}
	*out = v;
	return n;
}

/* ---- filters ---- */

static int f_indent(struct rctx *r, struct value s, const struct args *a, struct value *out)
{
	static const char *const names[] = {"width", "first", "blank", NULL};
	struct value p[3];
	bool have[3];
	if (bind_args(r, "do_indent", a, names, p, have) < 0)
		return -1;
	struct strbuf ind = TPL_STRBUF(r);
	if (have[0] && p[0].kind == V_STR) {
		strbuf_add(&ind, p[0].str.s, p[0].str.len);
	} else {
		int64_t w = 4;
		if (have[0] && need_int(r, p[0], "indent", &w) < 0) {
			strbuf_release(&ind);
			return -1;
		}
		for (int64_t i = 0; i < w && i < 4096; i++)
			strbuf_addch(&ind, ' ');
	}
	bool first = have[1] && value_truthy(p[1]);
	bool blank = have[2] && value_truthy(p[2]);
	struct value str = tpl_to_str(r, s);
	/* s += "\n", then splitlines(): the quirk Jinja2 relies on. */
	struct strbuf src = TPL_STRBUF(r);
	strbuf_add(&src, str.str.s, str.str.len);
	strbuf_addch(&src, '\n');
	struct value *lines;
	size_t n = split_lines(r, src.buf, src.len, &lines);
	strbuf_release(&src);
	struct strbuf sb = TPL_STRBUF(r);
	if (first)
		strbuf_add(&sb, ind.buf, ind.len);
	for (size_t i = 0; i < n; i++) {
		if (i) {
			strbuf_addch(&sb, '\n');
			if (blank || lines[i].str.len)
				strbuf_add(&sb, ind.buf, ind.len);
		}
		strbuf_add(&sb, lines[i].str.s, lines[i].str.len);
	}
	free(lines);
	strbuf_release(&ind);
	*out = mkstr(r, &sb, str.safe);
	return 0;
}

static int f_tojson(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"indent", NULL};
	struct value p[1];
	bool have[1];
	if (bind_args(r, "do_tojson", a, names, p, have) < 0)
		return -1;
	int64_t indent = -1;
	if (have[0] && p[0].kind != V_NONE) {
		if (need_int(r, p[0], "tojson", &indent) < 0)
			return -1;
		if (indent < 0)
			indent = 0;
	}
	if (v.kind == V_UNDEF)
		return tpl_fail(r, "Object of type Undefined is not JSON serializable");
	struct strbuf js = TPL_STRBUF(r), err = STRBUF_INIT;
	if (!value_to_json(v, (int)indent, &js, &err)) {
		int rc = tpl_fail(r, "%s", err.buf);
		strbuf_release(&js);
		strbuf_release(&err);
		return rc;
	}
	strbuf_release(&err);
	r->oversize |= strbuf_failed(&js);
	/* htmlsafe_json_dumps */
	struct strbuf sb = TPL_STRBUF(r);
	for (size_t i = 0; i < js.len; i++) {
		switch (js.buf[i]) {
		case '<':
			strbuf_adds(&sb, "\\u003c");
			break;
		case '>':
			strbuf_adds(&sb, "\\u003e");
			break;
		case '&':
			strbuf_adds(&sb, "\\u0026");
			break;
		case '\'':
			strbuf_adds(&sb, "\\u0027");
			break;
		default:
			strbuf_addch(&sb, js.buf[i]);
		}
	}
	strbuf_release(&js);
	*out = mkstr(r, &sb, true);
	return 0;
}

static int f_join(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"d", "attribute", NULL};
	struct value p[2];
	bool have[2];
	if (bind_args(r, "do_join", a, names, p, have) < 0)
		return -1;
	struct value items;
	if (list_of(r, v, &items) < 0)
		return -1;
	struct strbuf sb = TPL_STRBUF(r);
	struct value sep = have[0] ? tpl_to_str(r, p[0]) : value_str_static("");
	for (size_t i = 0; i < items.list->n; i++) {
		struct value it = items.list->items[i];
		if (have[1] && p[1].kind != V_NONE && attr_path(r, it, p[1], &it) < 0) {
			strbuf_release(&sb);
			return -1;
		}
		if (i)
			strbuf_add(&sb, sep.str.s, sep.str.len);
		value_str_into(it, &sb);
	}
	*out = mkstr(r, &sb, false);
	return 0;
}

static int f_default(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"default_value", "boolean", NULL};
	struct value p[2];
	bool have[2];
	if (bind_args(r, "do_default", a, names, p, have) < 0)
		return -1;
	struct value dflt = have[0] ? p[0] : value_str_static("");
	bool boolean = have[1] && value_truthy(p[1]);
	if (v.kind == V_UNDEF || (boolean && !value_truthy(v)))
		*out = dflt;
	else
		*out = v;
	return 0;
}

static int f_replace(struct rctx *r, struct value v, struct value old, struct value new,
                     int64_t count, struct value *out)
{
	struct value s = tpl_to_str(r, v);
	if (need_str(r, old, "replace") < 0)
		return -1;
	struct value n = tpl_to_str(r, new);
	struct strbuf sb = TPL_STRBUF(r);
	const char *p = s.str.s, *end = p + s.str.len;
	int64_t done = 0;
	if (old.str.len == 0) {
		/* Python inserts `new` between characters and at both ends. */
		while (count < 0 || done < count) {
			strbuf_add(&sb, n.str.s, n.str.len);
			done++;
			if (p >= end)
				break;
			const char *q = p;
			utf8_decode(&q, end);
			strbuf_add(&sb, p, (size_t)(q - p));
			p = q;
		}
		strbuf_add(&sb, p, (size_t)(end - p));
	} else {
		while (p < end && (count < 0 || done < count)) {
			const char *hit = memmem(p, (size_t)(end - p), old.str.s, old.str.len);
			if (!hit)
				break;
			strbuf_add(&sb, p, (size_t)(hit - p));
			strbuf_add(&sb, n.str.s, n.str.len);
			p = hit + old.str.len;
			done++;
		}
		strbuf_add(&sb, p, (size_t)(end - p));
	}
	*out = mkstr(r, &sb, s.safe);
	return 0;
}

/* Python's str.strip/lstrip/rstrip with optional chars. */
static struct value strip(struct rctx *r, struct value s, struct value chars, bool left, bool right)
{
	const char *p = s.str.s, *end = p + s.str.len;
	bool ws = chars.kind != V_STR;
	for (;;) {
		if (!left || p >= end)
			break;
		const char *q = p;
		uint32_t c = utf8_decode(&q, end);
		bool hit = ws ? is_space_cp(c) : false;
		if (!ws) {
			const char *cp = chars.str.s, *ce = cp + chars.str.len;
			while (cp < ce && !hit)
				hit = utf8_decode(&cp, ce) == c;
		}
		if (!hit)
			break;
		p = q;
	}
	while (right && end > p) {
		const char *q = end - 1;
		while (q > p && ((unsigned char)*q & 0xc0) == 0x80)
			q--;
		const char *t = q;
		uint32_t c = utf8_decode(&t, end);
		bool hit = ws ? is_space_cp(c) : false;
		if (!ws) {
			const char *cp = chars.str.s, *ce = cp + chars.str.len;
			while (cp < ce && !hit)
				hit = utf8_decode(&cp, ce) == c;
		}
		if (!hit)
			break;
		end = q;
	}
	struct value out = value_str(r->a, p, (size_t)(end - p));
	out.safe = s.safe;
	return out;
}

/* Python's round(int, n): exact, halves to even, for n < 0. */
static int round_int(struct rctx *r, struct value v, int64_t prec, struct value *out)
{
	if (v.kind == V_BOOL)
		v = value_int(v.b);
	if (prec >= 0 || vint_sign(v) == 0) {
		*out = v;
		return 0;
	}
	if (prec < -4300) { /* 10**-prec is beyond any int here */
		*out = value_int(0);
		return 0;
	}
	struct value p, m, q, twice, pq;
	if (vint_arith(r->a, VINT_POW, value_int(10), value_int(-prec), &p) != VINT_OK) {
		*out = value_int(0);
		return 0;
	}
	vint_arith(r->a, VINT_MOD, v, p, &m);
	vint_arith(r->a, VINT_SUB, v, m, &q); /* a multiple of p at or below v */
	vint_arith(r->a, VINT_ADD, m, m, &twice);
	int c = vint_cmp(twice, p);
	vint_arith(r->a, VINT_FLOORDIV, q, p, &pq);
	vint_arith(r->a, VINT_MOD, pq, value_int(2), &pq);
	if (c > 0 || (c == 0 && vint_sign(pq) != 0)) {
		if (vint_arith(r->a, VINT_ADD, q, p, &q))
			return tpl_fail(r, "an int beyond %d bits is not supported", VINT_MAX_BITS);
	}
	*out = q;
	return 0;
}

static int f_round(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"precision", "method", NULL};
	struct value p[2];
	bool have[2];
	if (bind_args(r, "do_round", a, names, p, have) < 0)
		return -1;
	int64_t prec = 0;
	if (have[0] && need_int(r, p[0], "round", &prec) < 0)
		return -1;
	const char *method = "common";
	if (have[1]) {
		if (need_str(r, p[1], "round") < 0)
			return -1;
		method = p[1].str.s;
	}
	if (strcmp(method, "common") != 0 && strcmp(method, "ceil") != 0 &&
	    strcmp(method, "floor") != 0)
		return tpl_fail(r, "method must be common, ceil or floor");
	if (v.kind == V_UNDEF)
		return tpl_fail_undefined(r, v);
	if (!vint_is(v) && v.kind != V_FLOAT)
		return tpl_fail(r, "type %s doesn't define __round__ method", value_type_name(v));
	if (!strcmp(method, "common")) {
		if (v.kind != V_FLOAT)
			return round_int(r, v, prec, out); /* round(int, n) stays an int */
		/* CPython's bounds: past them nothing changes, or all is rounded away. */
		if (prec > 323 || isnan(v.f) || isinf(v.f)) {
			*out = v;
			return 0;
		}
		if (prec < -308) {
			*out = value_float(0.0 * v.f);
			return 0;
		}
		if (prec < 0) {
			double m = py_pow(10, (double)-prec);
			double q = v.f / m;
			double rq = py_nearbyint(q); /* half to even, as Python */
			*out = value_float(rq * m);
			return 0;
		}
		/* Correctly rounded decimal, ties to even: what printf and Python do. */
		char buf[720]; /* 309 digits, a point, 323 decimals */
		snprintf(buf, sizeof(buf), "%.*f", (int)prec, v.f);
		*out = value_float(strtod(buf, NULL));
		return 0;
	}
	if (v.kind != V_FLOAT && prec >= 0) {
		/* math.floor(value * 10**prec) / 10**prec: ints all the way, one rounding. */
		struct value p10, x;
		double q;
		if (vint_arith(r->a, VINT_POW, value_int(10), value_int(prec), &p10) ||
		    vint_arith(r->a, VINT_MUL, v, p10, &x))
			return tpl_fail(r, "an int beyond %d bits is not supported", VINT_MAX_BITS);
		if (vint_truediv(x, p10, &q))
			return tpl_fail(r, "integer division result too large for a float");
		*out = value_float(q);
		return 0;
	}
	double m = py_pow(10, (double)prec), fv = v.f;
	if (v.kind != V_FLOAT && vint_to_double(v, &fv))
		return tpl_fail(r, "int too large to convert to float");
	double x = fv * m;
	if (x != x)
		return tpl_fail(r, "cannot convert float NaN to integer");
	if (x - x != 0)
		return tpl_fail(r, "cannot convert float infinity to integer");
	double y = !strcmp(method, "ceil") ? py_ceil(x) : py_floor(x);
	/* math.floor and math.ceil return ints: no negative zero survives them. */
	if (y == 0)
		y = 0;
	*out = value_float(y / m);
	return 0;
}

/*
 * Python's float(str): surrounding space, a decimal number (underscores
 * only between digits), inf, infinity or nan; not C's hexadecimal floats.
 */
static bool parse_py_float(const char *s, size_t len, double *out)
{
	if (memchr(s, '\0', len)) /* C would stop there; Python does not */
		return false;
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	struct strbuf sb = STRBUF_INIT;
	bool ok = *s != '\0';
	for (const char *p = s; *p && ok; p++) {
		if (*p == '_')
			ok = p > s && isdigit((unsigned char)p[-1]) && isdigit((unsigned char)p[1]);
		else if (strchr("xXpP(", *p))
			ok = false;
		else
			strbuf_addch(&sb, *p);
	}
	double v = ok ? strtod(sb.buf, &end) : 0;
	ok = ok && end != sb.buf;
	while (ok && isspace((unsigned char)*end))
		end++;
	ok = ok && !*end;
	if (ok)
		*out = v;
	strbuf_release(&sb);
	return ok;
}

static int f_int(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"default", "base", NULL};
	struct value p[2];
	bool have[2];
	if (bind_args(r, "do_int", a, names, p, have) < 0)
		return -1;
	struct value dflt = have[0] ? p[0] : value_int(0);
	int64_t base = 10;
	if (v.kind == V_UNDEF) /* Undefined's __int__ raises */
		return tpl_fail_undefined(r, v);
	/* int(str, base) with a base that is no int: a TypeError, so int(float(value)). */
	bool bad_base = have[1] && (!vint_is(p[1]) || !vint_to_i64(p[1], &base));
	if (vint_is(v)) {
		*out = v.kind == V_BOOL ? value_int(v.b) : v;
		return 0;
	}
	/* int(value, base), then int(float(value)) on ValueError, as Jinja2's do_int. */
	double f;
	if (v.kind == V_STR && bad_base) {
		if (!parse_py_float(v.str.s, v.str.len, &f)) {
			*out = dflt;
			return 0;
		}
	} else if (v.kind == V_STR) {
		int rc = vint_parse(r->a, v.str.s, v.str.len,
		                    base < 0 || base > 36 ? 99 : (int)base, out);
		if (rc == VINT_OK)
			return 0;
		if (rc == VINT_TOO_BIG)
			return tpl_fail(r, "int: an int beyond %d bits is not supported",
			                VINT_MAX_BITS);
		if (!parse_py_float(v.str.s, v.str.len, &f)) {
			*out = dflt;
			return 0;
		}
	} else if (v.kind == V_FLOAT) {
		f = v.f;
	} else {
		*out = dflt;
		return 0;
	}
	if (f != f) { /* int(nan): ValueError, the default */
		*out = dflt;
		return 0;
	}
	if (vint_from_double(r->a, f, out))
		return tpl_fail(r, "cannot convert float infinity to integer");
	return 0;
}

static int f_float(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"default", NULL};
	struct value p[1];
	bool have[1];
	if (bind_args(r, "do_float", a, names, p, have) < 0)
		return -1;
	struct value dflt = have[0] ? p[0] : value_float(0.0);
	double f;
	if (v.kind == V_UNDEF) /* Undefined's __float__ raises */
		return tpl_fail_undefined(r, v);
	if (vint_is(v)) {
		if (vint_to_double(v, &f))
			return tpl_fail(r, "int too large to convert to float");
		*out = value_float(f);
	} else if (v.kind == V_FLOAT)
		*out = v;
	else if (v.kind == V_STR && parse_py_float(v.str.s, v.str.len, &f))
		*out = value_float(f);
	else
		*out = dflt;
	return 0;
}

static int f_sort(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"reverse", "case_sensitive", "attribute", NULL};
	struct value p[3];
	bool have[3];
	if (bind_args(r, "do_sort", a, names, p, have) < 0)
		return -1;
	struct value items;
	if (list_of(r, v, &items) < 0)
		return -1;
	size_t n = items.list->n;
	struct sort_item *si = xmalloc((n ? n : 1) * sizeof(*si));
	for (size_t i = 0; i < n; i++) {
		si[i].val = items.list->items[i];
		si[i].key = si[i].val;
		if (have[2] && p[2].kind != V_NONE &&
		    attr_path(r, si[i].val, p[2], &si[i].key) < 0) {
			free(si);
			return -1;
		}
		si[i].key = case_key(r, si[i].key, have[1] && value_truthy(p[1]));
	}
	int rc = sort_items(r, si, n, false, have[0] && value_truthy(p[0]));
	if (rc == 0) {
		struct value l = value_list(r->a, n);
		for (size_t i = 0; i < n; i++)
			l.list->items[i] = si[i].val;
		*out = l;
	}
	free(si);
	return rc;
}

static int f_unique(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"case_sensitive", "attribute", NULL};
	struct value p[2];
	bool have[2];
	if (bind_args(r, "do_unique", a, names, p, have) < 0)
		return -1;
	struct value items;
	if (list_of(r, v, &items) < 0)
		return -1;
	size_t n = items.list->n, k = 0;
	struct value l = value_list(r->a, n);
	struct value *keys = xmalloc((n ? n : 1) * sizeof(*keys));
	for (size_t i = 0; i < n; i++) {
		struct value key = items.list->items[i];
		if (have[1] && p[1].kind != V_NONE && attr_path(r, key, p[1], &key) < 0) {
			free(keys);
			return -1;
		}
		key = case_key(r, key, have[0] && value_truthy(p[0]));
		bool seen = false;
		for (size_t j = 0; j < k && !seen; j++)
			seen = value_equal(keys[j], key);
		if (!seen) {
			keys[k] = key;
			l.list->items[k++] = items.list->items[i];
		}
	}
	free(keys);
	l.list->n = k;
	*out = l;
	return 0;
}

static int f_minmax(struct rctx *r, struct value v, const struct args *a, bool max,
                    struct value *out)
{
	static const char *const names[] = {"case_sensitive", "attribute", NULL};
	struct value p[2];
	bool have[2];
	if (bind_args(r, max ? "do_max" : "do_min", a, names, p, have) < 0)
		return -1;
	struct value items;
	if (list_of(r, v, &items) < 0)
		return -1;
	if (items.list->n == 0) {
		*out = value_undef("No aggregated item, sequence was empty.");
		return 0;
	}
	struct value best = items.list->items[0], bestkey = best;
	for (size_t i = 0; i < items.list->n; i++) {
		struct value it = items.list->items[i], key = it;
		if (have[1] && p[1].kind != V_NONE && attr_path(r, it, p[1], &key) < 0)
			return -1;
		key = case_key(r, key, have[0] && value_truthy(p[0]));
		if (i == 0) {
			bestkey = key;
			continue;
		}
		int cmp;
		if (!value_compare(key, bestkey, false, &cmp))
			return tpl_fail(r, "'%s' not supported between instances of '%s' and '%s'",
			                max ? ">" : "<", value_type_name(key),
			                value_type_name(bestkey));
		if (cmp != 2 && (max ? cmp > 0 : cmp < 0)) { /* a NaN never wins, nor loses */
			best = it;
			bestkey = key;
		}
	}
	*out = best;
	return 0;
}

static int f_sum(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"attribute", "start", NULL};
	struct value p[2];
	bool have[2];
	if (bind_args(r, "do_sum", a, names, p, have) < 0)
		return -1;
	struct value items;
	if (list_of(r, v, &items) < 0)
		return -1;
	struct value acc = have[1] ? p[1] : value_int(0);
	for (size_t i = 0; i < items.list->n; i++) {
		struct value it = items.list->items[i];
		if (have[0] && p[0].kind != V_NONE && attr_path(r, it, p[0], &it) < 0)
			return -1;
		if (acc.kind == V_STR || it.kind == V_STR)
			return tpl_fail(r, "unsupported operand type(s) for +: '%s' and '%s'",
			                value_type_name(acc), value_type_name(it));
		if (tpl_binop(r, OP_ADD, acc, it, &acc) < 0)
			return -1;
	}
	*out = acc;
	return 0;
}

static int f_batch(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"linecount", "fill_with", NULL};
	struct value p[2];
	bool have[2];
	if (bind_args(r, "do_batch", a, names, p, have) < 0)
		return -1;
	int64_t size;
	if (!have[0])
		return tpl_fail(r,
		                "do_batch() missing 1 required positional argument: 'linecount'");
	if (need_int(r, p[0], "batch", &size) < 0)
		return -1;
	if (size <= 0)
		return tpl_fail(r, "batch size must be positive");
	struct value items;
	if (list_of(r, v, &items) < 0)
		return -1;
	size_t n = items.list->n, nb = (n + (size_t)size - 1) / (size_t)size;
	struct value l = value_list(r->a, nb);
	for (size_t b = 0; b < nb; b++) {
		size_t from = b * (size_t)size;
		size_t len = n - from < (size_t)size ? n - from : (size_t)size;
		bool fill = len < (size_t)size && have[1] && p[1].kind != V_NONE;
		struct value row = value_list(r->a, fill ? (size_t)size : len);
		for (size_t i = 0; i < row.list->n; i++)
			row.list->items[i] = i < len ? items.list->items[from + i] : p[1];
		l.list->items[b] = row;
	}
	*out = l;
	return 0;
}

static int f_dictsort(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	static const char *const names[] = {"case_sensitive", "by", "reverse", NULL};
	struct value p[3];
	bool have[3];
	if (bind_args(r, "do_dictsort", a, names, p, have) < 0)
		return -1;
	if (v.kind != V_DICT)
		return tpl_fail(r, "'%s' object has no attribute 'items'", value_type_name(v));
	int pos = 0;
	if (have[1]) {
		if (need_str(r, p[1], "dictsort") < 0)
			return -1;
		if (!strcmp(p[1].str.s, "value"))
			pos = 1;
		else if (strcmp(p[1].str.s, "key") != 0)
			return tpl_fail(r, "You can only sort by either \"key\" or \"value\"");
	}
	size_t n = v.dict->n;
	struct sort_item *si = xmalloc((n ? n : 1) * sizeof(*si));
	for (size_t i = 0; i < n; i++) {
		struct value pair = value_list(r->a, 2);
		pair.tuple = true;
		pair.list->items[0] = v.dict->keys[i];
		pair.list->items[1] = v.dict->vals[i];
		si[i].val = pair;
		si[i].key = case_key(r, pair.list->items[pos], have[0] && value_truthy(p[0]));
	}
	int rc = sort_items(r, si, n, false, have[2] && value_truthy(p[2]));
	if (rc == 0) {
		struct value l = value_list(r->a, n);
		for (size_t i = 0; i < n; i++)
			l.list->items[i] = si[i].val;
		*out = l;
	}
	free(si);
	return rc;
}

static int f_select(struct rctx *r, struct value v, const struct args *a, bool attr, bool keep,
                    struct value *out)
{
	if (a->nkw)
		return tpl_fail(r, "keyword arguments to select filters are not supported");
	struct value items;
	if (list_of(r, v, &items) < 0)
		return -1;
	size_t first_test = attr ? 1 : 0;
	if (attr && a->n < 1)
		return tpl_fail(r, "Missing parameter for attribute name");
	const char *test = NULL;
	if (a->n > first_test) {
		if (need_str(r, a->v[first_test], "select") < 0)
			return -1;
		test = a->v[first_test].str.s;
		if (!tpl_test_exists(test))
			return tpl_fail(r, "No test named '%s'.", test);
	}
	struct args targs = {.n = a->n > first_test + 1 ? a->n - first_test - 1 : 0,
	                     .v = a->v + first_test + 1};
	struct value l = value_list(r->a, items.list->n);
	size_t k = 0;
	for (size_t i = 0; i < items.list->n; i++) {
		struct value it = items.list->items[i], subject = it;
		if (attr && attr_path(r, it, a->v[0], &subject) < 0)
			return -1;
		bool res;
		if (test) {
			if (tpl_apply_test(r, test, subject, &targs, &res) < 0)
				return -1;
		} else {
			res = value_truthy(subject);
		}
		if (res == keep)
			l.list->items[k++] = it;
	}
	l.list->n = k;
	*out = l;
	return 0;
}

static int f_map(struct rctx *r, struct value v, const struct args *a, struct value *out)
{
	struct value items;
	if (list_of(r, v, &items) < 0)
		return -1;
	struct value l = value_list(r->a, items.list->n);
	if (a->n == 0 && a->nkw) {
		struct value attr = value_undef(NULL), dflt = value_undef(NULL);
		bool have_default = false;
		for (size_t k = 0; k < a->nkw; k++) {
			if (!strcmp(a->kwnames[k], "attribute"))
				attr = a->kwvals[k];
			else if (!strcmp(a->kwnames[k], "default")) {
				dflt = a->kwvals[k];
				have_default = true;
			} else
				return tpl_fail(r, "Unexpected keyword argument '%s'",
				                a->kwnames[k]);
		}
		if (attr.kind == V_UNDEF)
			return tpl_fail(r, "map requires a filter argument");
		for (size_t i = 0; i < items.list->n; i++) {
			if (attr_path(r, items.list->items[i], attr, &l.list->items[i]) < 0)
				return -1;
			if (have_default && l.list->items[i].kind == V_UNDEF)
				l.list->items[i] = dflt;
		}
		*out = l;
		return 0;
	}
	if (a->n == 0)
		return tpl_fail(r, "map requires a filter argument");
	if (need_str(r, a->v[0], "map") < 0)
		return -1;
	const char *name = a->v[0].str.s;
	if (!tpl_filter_exists(name))
		return tpl_fail(r, "No filter named '%s'.", name);
	struct args fargs = {.n = a->n - 1,
	                     .v = a->v + 1,
	                     .nkw = a->nkw,
	                     .kwnames = a->kwnames,
	                     .kwvals = a->kwvals};
	for (size_t i = 0; i < items.list->n; i++)
		if (tpl_apply_filter(r, name, items.list->items[i], &fargs, &l.list->items[i]) < 0)
			return -1;
	*out = l;
	return 0;
}

static int f_first_last(struct rctx *r, struct value v, bool last, struct value *out)
{
	struct value items;
	if (v.kind == V_DICT || v.kind == V_STR || v.kind == V_LIST || v.kind == V_UNDEF) {
		if (list_of(r, v, &items) < 0)
			return -1;
	} else {
		return tpl_fail(r, "'%s' object is not iterable", value_type_name(v));
	}
	if (items.list->n == 0) {
		*out = value_undef(last ? "No last item, sequence was empty."
		                        : "No first item, sequence was empty.");
		return 0;
	}
	*out = items.list->items[last ? items.list->n - 1 : 0];
	return 0;
}

struct filter_def {
	const char *name;
	bool supported;
};

static const char *const all_filters[] = {
    "abs",    "attr",       "batch",       "capitalize", "center",   "count",
    "d",      "default",    "dictsort",    "e",          "escape",   "filesizeformat",
    "first",  "float",      "forceescape", "format",     "groupby",  "indent",
    "int",    "items",      "join",        "last",       "length",   "list",
    "lower",  "map",        "max",         "min",        "pprint",   "random",
    "reject", "rejectattr", "replace",     "reverse",    "round",    "safe",
    "select", "selectattr", "slice",       "sort",       "string",   "striptags",
    "sum",    "title",      "tojson",      "trim",       "truncate", "unique",
    "upper",  "urlencode",  "urlize",      "wordcount",  "wordwrap", "xmlattr",
    NULL};

bool tpl_filter_exists(const char *name)
{
	for (const char *const *f = all_filters; *f; f++)
		if (!strcmp(*f, name))
			return true;
	return false;
}

static int no_args_allowed(struct rctx *r, const char *name, const struct args *a)
{
	if (a->n || a->nkw)
		return tpl_fail(r, "do_%s() takes 1 positional argument but %zu were given", name,
		                a->n + a->nkw + 1);
	return 0;
}

static int apply_filter(struct rctx *r, const char *name, struct value v, const struct args *a,
                        struct value *out);

/* Jinja2's filters that return generators, as generator functions do even for Undefined. */
static const char *const generator_filters[] = {
    "batch", "map", "select", "reject", "selectattr", "rejectattr", "unique", "items", NULL};

int tpl_apply_filter(struct rctx *r, const char *name, struct value v, const struct args *a,
                     struct value *out)
{
	bool gen = false;
	for (const char *const *g = generator_filters; *g && !gen; g++)
		gen = !strcmp(name, *g);
	if (apply_filter(r, name, v, a, out) < 0) {
		/* A generator fails only when used: Jinja2 may never see this error. */
		if (gen && r->d->msg.len && !strstr(r->d->msg.buf, "not supported"))
			strbuf_addf(&r->d->msg,
			            " (|%s failing before its generator is used is not supported)",
			            name);
		return -1;
	}
	/* reversed() of a list, range or dict is an iterator; of a generator, a list. */
	if (!strcmp(name, "reverse"))
		gen = (v.kind == V_LIST && v.lazy != VL_GEN) || v.kind == V_DICT;
	if (out->kind == V_LIST) {
		out->lazy = gen ? VL_GEN : VL_NONE;
		if (gen) {
			out->tuple = false;
			out->range = false;
		}
	}
	return 0;
}

static int apply_filter(struct rctx *r, const char *name, struct value v, const struct args *a,
                        struct value *out)
{
	size_t n;
	if (!strcmp(name, "default") || !strcmp(name, "d"))
		return f_default(r, v, a, out);
	if (!strcmp(name, "tojson"))
		return f_tojson(r, v, a, out);
	if (!strcmp(name, "indent"))
		return f_indent(r, v, a, out);
	if (!strcmp(name, "join"))
		return f_join(r, v, a, out);
	if (!strcmp(name, "length") || !strcmp(name, "count")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		if (!value_length(v, &n) || (v.kind == V_LIST && v.lazy == VL_GEN))
			return tpl_fail(r, "object of type '%s' has no len()", value_type_name(v));
		*out = value_int((int64_t)n);
		return 0;
	}
	if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "capitalize") ||
	    !strcmp(name, "title")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		struct value s = tpl_to_str(r, v);
		*out = !strcmp(name, "upper")        ? recase(r, s, UPPER)
		       : !strcmp(name, "lower")      ? recase(r, s, LOWER)
		       : !strcmp(name, "capitalize") ? recase(r, s, CAPITALIZE)
		                                     : do_title(r, s);
		return 0;
	}
	if (!strcmp(name, "replace")) {
		static const char *const names[] = {"old", "new", "count", NULL};
		struct value p[3];
		bool have[3];
		if (bind_args(r, "do_replace", a, names, p, have) < 0)
			return -1;
		if (!have[0] || !have[1])
			return tpl_fail(r, "do_replace() missing required arguments");
		int64_t count = -1;
		if (have[2] && p[2].kind != V_NONE && need_int(r, p[2], "replace", &count) < 0)
			return -1;
		/* Jinja2's do_replace: str(s).replace(str(old), str(new), count) */
		return f_replace(r, v, tpl_to_str(r, p[0]), tpl_to_str(r, p[1]), count, out);
	}
	if (!strcmp(name, "trim")) {
		static const char *const names[] = {"chars", NULL};
		struct value p[1];
		bool have[1];
		if (bind_args(r, "do_trim", a, names, p, have) < 0)
			return -1;
		*out = strip(r, tpl_to_str(r, v), have[0] ? p[0] : value_none(), true, true);
		return 0;
	}
	if (!strcmp(name, "first") || !strcmp(name, "last")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		if (!strcmp(name, "last") && v.kind == V_LIST && v.lazy)
			return tpl_fail(r, "'%s' object is not reversible", value_type_name(v));
		return f_first_last(r, v, !strcmp(name, "last"), out);
	}
	if (!strcmp(name, "list")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		if (list_of(r, v, out) < 0)
			return -1;
		struct value copy = value_list(r->a, out->list->n);
		memcpy(copy.list->items, out->list->items, out->list->n * sizeof(struct value));
		*out = copy;
		return 0;
	}
	if (!strcmp(name, "sort"))
		return f_sort(r, v, a, out);
	if (!strcmp(name, "unique"))
		return f_unique(r, v, a, out);
	if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr"))
		return f_select(r, v, a, true, !strcmp(name, "selectattr"), out);
	if (!strcmp(name, "select") || !strcmp(name, "reject"))
		return f_select(r, v, a, false, !strcmp(name, "select"), out);
	if (!strcmp(name, "map"))
		return f_map(r, v, a, out);
	if (!strcmp(name, "dictsort"))
		return f_dictsort(r, v, a, out);
	if (!strcmp(name, "string")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		*out = tpl_to_str(r, v);
		return 0;
	}
	if (!strcmp(name, "int"))
		return f_int(r, v, a, out);
	if (!strcmp(name, "float"))
		return f_float(r, v, a, out);
	if (!strcmp(name, "abs")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		if (vint_is(v)) {
			*out = vint_sign(v) < 0 ? vint_neg(r->a, v)
			                        : vint_neg(r->a, vint_neg(r->a, v));
		} else if (v.kind == V_FLOAT) {
			*out = value_float(__builtin_fabs(v.f));
		} else if (v.kind == V_UNDEF) {
			return tpl_fail_undefined(r, v);
		} else {
			return tpl_fail(r, "bad operand type for abs(): '%s'", value_type_name(v));
		}
		return 0;
	}
	if (!strcmp(name, "round"))
		return f_round(r, v, a, out);
	if (!strcmp(name, "min") || !strcmp(name, "max"))
		return f_minmax(r, v, a, !strcmp(name, "max"), out);
	if (!strcmp(name, "sum"))
		return f_sum(r, v, a, out);
	if (!strcmp(name, "batch"))
		return f_batch(r, v, a, out);
	if (!strcmp(name, "e") || !strcmp(name, "escape")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		*out = tpl_escape(r, v);
		return 0;
	}
	if (!strcmp(name, "safe")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		*out = tpl_to_str(r, v);
		out->safe = true;
		return 0;
	}
	if (!strcmp(name, "reverse")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		if (v.kind == V_STR) {
			struct value chars;
			if (list_of(r, v, &chars) < 0)
				return -1;
			struct strbuf sb = TPL_STRBUF(r);
			for (size_t i = chars.list->n; i-- > 0;)
				strbuf_add(&sb, chars.list->items[i].str.s,
				           chars.list->items[i].str.len);
			*out = mkstr(r, &sb, v.safe);
			return 0;
		}
		struct value items;
		if (list_of(r, v, &items) < 0)
			return -1;
		struct value l = value_list(r->a, items.list->n);
		for (size_t i = 0; i < items.list->n; i++)
			l.list->items[i] = items.list->items[items.list->n - 1 - i];
		*out = l;
		return 0;
	}
	if (!strcmp(name, "items")) {
		if (no_args_allowed(r, name, a) < 0)
			return -1;
		if (v.kind == V_UNDEF) {
			*out = value_list(r->a, 0);
			return 0;
		}
		return tpl_call_method(r, v, "items", &no_args, out);
	}
	if (!strcmp(name, "wordcount")) {
		struct value s = tpl_to_str(r, v);
		int64_t words = 0;
		bool in = false;
		for (size_t i = 0; i < s.str.len; i++) {
			bool w = isalnum((unsigned char)s.str.s[i]) || s.str.s[i] == '_' ||
			         ((unsigned char)s.str.s[i] & 0x80);
			if (w && !in)
				words++;
			in = w;
		}
		*out = value_int(words);
		return 0;
	}
	return tpl_fail(r, "the '%s' filter is not supported by gpuci render", name);
}

/* ---- tests ---- */

static const char *const all_tests[] = {
    "boolean", "callable", "defined",  "divisibleby", "eq",       "equalto",     "escaped",
    "even",    "false",    "filter",   "float",       "ge",       "greaterthan", "gt",
    "in",      "integer",  "iterable", "le",          "lessthan", "lower",       "lt",
    "mapping", "ne",       "none",     "number",      "odd",      "sameas",      "sequence",
    "string",  "test",     "true",     "undefined",   "upper",    "==",          "!=",
    ">",       ">=",       "<",        "<=",          NULL};

bool tpl_test_exists(const char *name)
{
	for (const char *const *t = all_tests; *t; t++)
		if (!strcmp(*t, name))
			return true;
	return false;
}

static int test_compare(struct rctx *r, const char *name, struct value x, const struct args *a,
                        bool *out)
{
	if (a->n != 1)
		return tpl_fail(r, "test '%s' takes exactly one argument", name);
	struct value y = a->v[0];
	if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==")) {
		*out = value_equal(x, y);
		return 0;
	}
	if (!strcmp(name, "ne") || !strcmp(name, "!=")) {
		*out = !value_equal(x, y);
		return 0;
	}
	if (x.kind == V_UNDEF)
		return tpl_fail_undefined(r, x);
	int cmp;
	if (!value_compare(x, y, false, &cmp))
		return tpl_fail(r, "comparison not supported between instances of '%s' and '%s'",
		                value_type_name(x), value_type_name(y));
	if (!strcmp(name, "gt") || !strcmp(name, "greaterthan") || !strcmp(name, ">"))
		*out = cmp > 0;
	else if (!strcmp(name, "ge") || !strcmp(name, ">="))
		*out = cmp >= 0;
	else if (!strcmp(name, "lt") || !strcmp(name, "lessthan") || !strcmp(name, "<"))
		*out = cmp < 0;
	else
		*out = cmp <= 0;
	return 0;
}

static bool all_cased(struct value s, bool upper)
{
	return upper ? ucase_isupper(s.str.s, s.str.len) : ucase_islower(s.str.s, s.str.len);
}

/* Jinja2's tests that take the value alone: test_odd(value), and so on. */
static const char *const unary_tests[] = {"odd",      "even",     "defined",  "undefined", "none",
                                          "boolean",  "false",    "true",     "integer",   "float",
                                          "lower",    "upper",    "string",   "mapping",   "number",
                                          "sequence", "iterable", "callable", "escaped",   NULL};

int tpl_apply_test(struct rctx *r, const char *name, struct value v, const struct args *a,
                   bool *out)
{
	for (const char *const *t = unary_tests; *t; t++)
		if (!strcmp(name, *t) && (a->n || a->nkw))
			return tpl_fail(r,
			                "test_%s() takes 1 positional argument but %zu were given",
			                name, 1 + a->n + a->nkw);
	if (!strcmp(name, "defined") || !strcmp(name, "undefined")) {
		*out = (v.kind != V_UNDEF) == !strcmp(name, "defined");
		return 0;
	}
	/* Tests that only ask for the value's kind. */
#define K(kind) (1u << (kind))
	static const struct {
		const char *name;
		unsigned kinds;
	} by_kind[] = {
	    {"none", K(V_NONE)},
	    {"string", K(V_STR)},
	    {"number", K(V_INT) | K(V_BIGINT) | K(V_FLOAT) | K(V_BOOL)},
	    {"integer", K(V_INT) | K(V_BIGINT)},
	    {"float", K(V_FLOAT)},
	    {"boolean", K(V_BOOL)},
	    {"mapping", K(V_DICT)},
	    /* Undefined has __len__ and __getitem__, so Jinja2 calls it a sequence. */
	    {"sequence", K(V_STR) | K(V_LIST) | K(V_DICT) | K(V_UNDEF)},
	    {"iterable", K(V_STR) | K(V_LIST) | K(V_DICT) | K(V_UNDEF)},
	    {"callable", K(V_FUNC)},
	};
	for (size_t i = 0; i < sizeof(by_kind) / sizeof(*by_kind); i++)
		if (!strcmp(name, by_kind[i].name)) {
			*out = (by_kind[i].kinds & K(v.kind)) != 0;
			/* generators and dict views have no __getitem__ */
			if (!strcmp(name, "sequence") && v.kind == V_LIST && v.lazy)
				*out = false;
			return 0;
		}
#undef K
	if (!strcmp(name, "true") || !strcmp(name, "false")) {
		*out = v.kind == V_BOOL && v.b == !strcmp(name, "true");
		return 0;
	}
	if (!strcmp(name, "escaped")) {
		*out = v.kind == V_STR && v.safe;
		return 0;
	}
	if (!strcmp(name, "even") || !strcmp(name, "odd") || !strcmp(name, "divisibleby")) {
		struct value d = value_int(2), m;
		bool div = !strcmp(name, "divisibleby");
		if (div && a->n != 1)
			return tpl_fail(r, "test 'divisibleby' takes one argument");
		if (div)
			d = a->v[0];
		/* Jinja2: value % 2 == 0, value % 2 == 1, value % num == 0 (floats too). */
		if (tpl_binop(r, OP_MOD, v, d, &m) < 0)
			return -1;
		*out = value_equal(m, value_int(!strcmp(name, "odd")));
		return 0;
	}
	if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
		struct value s = tpl_to_str(r, v);
		*out = all_cased(s, !strcmp(name, "upper"));
		return 0;
	}
	if (!strcmp(name, "in")) {
		if (a->n != 1)
			return tpl_fail(r, "test 'in' takes one argument");
		struct value seq = a->v[0];
		bool found = false;
		if (seq.kind == V_STR) {
			if (v.kind != V_STR)
				return tpl_fail(
				    r, "'in <string>' requires string as left operand, not %s",
				    value_type_name(v));
			found =
			    v.str.len == 0 || memmem(seq.str.s, seq.str.len, v.str.s, v.str.len);
		} else if (seq.kind == V_LIST) {
			for (size_t i = 0; i < seq.list->n && !found; i++)
				found = value_equal(v, seq.list->items[i]);
		} else if (seq.kind == V_DICT) {
			found = vdict_get(seq.dict, v) != NULL;
		} else if (seq.kind != V_UNDEF) {
			return tpl_fail(r, "argument of type '%s' is not iterable",
			                value_type_name(seq));
		}
		*out = found;
		return 0;
	}
	if (!strcmp(name, "sameas")) {
		if (a->n != 1)
			return tpl_fail(r, "test 'sameas' takes one argument");
		struct value y = a->v[0];
		*out = v.kind == y.kind &&
		       (v.kind == V_NONE || v.kind == V_UNDEF || (v.kind == V_BOOL && v.b == y.b) ||
		        (v.kind == V_INT && v.i == y.i && v.i >= -5 && v.i <= 256));
		return 0;
	}
	if (!strcmp(name, "filter") || !strcmp(name, "test")) {
		if (a->n != 1 || a->v[0].kind != V_STR)
			return tpl_fail(r, "test '%s' takes one string argument", name);
		*out = v.kind == V_STR && (!strcmp(name, "filter") ? tpl_filter_exists(v.str.s)
		                                                   : tpl_test_exists(v.str.s));
		return 0;
	}
	return test_compare(r, name, v, a, out);
}

/* ---- Python methods ---- */

static void reverse_values(struct value *v, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		struct value t = v[i];
		v[i] = v[n - 1 - i];
		v[n - 1 - i] = t;
	}
}

static int m_split(struct rctx *r, struct value s, const struct args *a, bool from_right,
                   struct value *out)
{
	static const char *const names[] = {"sep", "maxsplit", NULL};
	struct value p[2];
	bool have[2];
	if (bind_args(r, "split", a, names, p, have) < 0)
		return -1;
	int64_t maxsplit = -1;
	if (have[1] && need_int(r, p[1], "split", &maxsplit) < 0)
		return -1;
	struct value parts[4096];
	size_t n = 0, cap = sizeof(parts) / sizeof(*parts);
	struct value *v = parts;
	bool heap = false;
	const char *str = s.str.s, *end = str + s.str.len;
#define PUSH(from, to)                                                                             \
	do {                                                                                       \
		if (n == cap) {                                                                    \
			struct value *nv = xmalloc(cap * 2 * sizeof(*nv));                         \
			memcpy(nv, v, n * sizeof(*nv));                                            \
			if (heap)                                                                  \
				free(v);                                                           \
			v = nv;                                                                    \
			heap = true;                                                               \
			cap *= 2;                                                                  \
		}                                                                                  \
		v[n++] = value_str(r->a, (from), (size_t)((to) - (from)));                         \
	} while (0)
	if (!have[0] || p[0].kind == V_NONE) {
		/* Runs of whitespace; no empty strings. */
		if (from_right) {
			const char *q = end;
			int64_t done = 0;
			while (q > str) {
				while (q > str && isspace((unsigned char)q[-1]))
					q--;
				if (q == str)
					break;
				const char *e = q;
				if (maxsplit >= 0 && done == maxsplit) {
					PUSH(str, e);
					break;
				}
				while (q > str && !isspace((unsigned char)q[-1]))
					q--;
				PUSH(q, e);
				done++;
			}
			reverse_values(v, n);
		} else {
			const char *q = str;
			int64_t done = 0;
			while (q < end) {
				while (q < end && isspace((unsigned char)*q))
					q++;
				if (q == end)
					break;
				if (maxsplit >= 0 && done == maxsplit) {
					const char *e = end;
					while (e > q && isspace((unsigned char)e[-1]))
						e--;
					PUSH(q, e);
					break;
				}
				const char *b = q;
				while (q < end && !isspace((unsigned char)*q))
					q++;
				PUSH(b, q);
				done++;
			}
		}
	} else {
		if (need_str(r, p[0], "split") < 0)
			return -1;
		if (p[0].str.len == 0)
			return tpl_fail(r, "empty separator");
		const char *sep = p[0].str.s;
		size_t sl = p[0].str.len;
		if (from_right && maxsplit >= 0) {
			/* The parts from the right, then reversed. */
			const char *q = end;
			int64_t done = 0;
			while (done < maxsplit) {
				const char *hit = NULL;
				for (const char *t = q; (size_t)(t - str) >= sl; t--)
					if (!memcmp(t - sl, sep, sl)) {
						hit = t - sl;
						break;
					}
				if (!hit)
					break;
				PUSH(hit + sl, q);
				q = hit;
				done++;
			}
			PUSH(str, q);
			reverse_values(v, n);
		} else {
			const char *b = str;
			int64_t done = 0;
			for (;;) {
				const char *hit = maxsplit >= 0 && done == maxsplit
				                      ? NULL
				                      : memmem(b, (size_t)(end - b), sep, sl);
				if (!hit) {
					PUSH(b, end);
					break;
				}
				PUSH(b, hit);
				b = hit + sl;
				done++;
			}
		}
	}
#undef PUSH
	struct value l = value_list(r->a, n);
	memcpy(l.list->items, v, n * sizeof(*v));
	if (heap)
		free(v);
	*out = l;
	return 0;
}

static int m_format(struct rctx *r, struct value s, const struct args *a, struct value *out)
{
	struct strbuf sb = TPL_STRBUF(r);
	size_t auto_idx = 0;
	bool used_auto = false, used_manual = false;
	const char *p = s.str.s, *end = p + s.str.len;
	while (p < end) {
		if (*p == '{' && p + 1 < end && p[1] == '{') {
			strbuf_addch(&sb, '{');
			p += 2;
			continue;
		}
		if (*p == '}' && p + 1 < end && p[1] == '}') {
			strbuf_addch(&sb, '}');
			p += 2;
			continue;
		}
		if (*p == '}') {
			strbuf_release(&sb);
			return tpl_fail(r, "Single '}' encountered in format string");
		}
		if (*p != '{') {
			strbuf_addch(&sb, *p++);
			continue;
		}
		const char *close = memchr(p, '}', (size_t)(end - p));
		if (!close) {
			strbuf_release(&sb);
			return tpl_fail(r, "Single '{' encountered in format string");
		}
		const char *field = p + 1;
		size_t flen = (size_t)(close - field);
		if (memchr(field, ':', flen) || memchr(field, '!', flen) ||
		    memchr(field, '.', flen) || memchr(field, '[', flen)) {
			strbuf_release(&sb);
			return tpl_fail(r, "format specs and conversions in str.format are not "
			                   "supported");
		}
		struct value arg;
		if (flen == 0) {
			if (used_manual) {
				strbuf_release(&sb);
				return tpl_fail(r,
				                "cannot switch from manual field specification to "
				                "automatic field numbering");
			}
			used_auto = true;
			if (auto_idx >= a->n) {
				strbuf_release(&sb);
				return tpl_fail(r,
				                "Replacement index %zu out of range for positional "
				                "args tuple",
				                auto_idx);
			}
			arg = a->v[auto_idx++];
		} else if (field[0] >= '0' && field[0] <= '9') {
			if (used_auto) {
				strbuf_release(&sb);
				return tpl_fail(r,
				                "cannot switch from automatic field numbering to "
				                "manual field specification");
			}
			used_manual = true;
			size_t idx = (size_t)strtoul(field, NULL, 10);
			if (idx >= a->n) {
				strbuf_release(&sb);
				return tpl_fail(r,
				                "Replacement index %zu out of range for positional "
				                "args tuple",
				                idx);
			}
			arg = a->v[idx];
		} else {
			bool found = false;
			for (size_t k = 0; k < a->nkw && !found; k++)
				if (strlen(a->kwnames[k]) == flen &&
				    !memcmp(a->kwnames[k], field, flen)) {
					arg = a->kwvals[k];
					found = true;
				}
			if (!found) {
				int rc = tpl_fail(r, "'%.*s'", (int)flen, field);
				strbuf_release(&sb);
				return rc;
			}
		}
		value_str_into(arg, &sb);
		p = close + 1;
	}
	*out = mkstr(r, &sb, false);
	return 0;
}

static int m_affix(struct rctx *r, struct value s, const struct args *a, bool start, bool *res)
{
	if (a->n < 1 || a->nkw)
		return tpl_fail(r, "%s() takes at least 1 argument",
		                start ? "startswith" : "endswith");
	struct value x = a->v[0];
	struct value *alts = &x;
	size_t nalts = 1;
	if (x.kind == V_LIST && x.tuple) {
		alts = x.list->items;
		nalts = x.list->n;
	}
	*res = false;
	for (size_t i = 0; i < nalts; i++) {
		if (alts[i].kind != V_STR)
			return tpl_fail(r, "%s first arg must be str or a tuple of str, not %s",
			                start ? "startswith" : "endswith",
			                value_type_name(alts[i]));
		size_t n = alts[i].str.len;
		if (n <= s.str.len &&
		    !memcmp(start ? s.str.s : s.str.s + s.str.len - n, alts[i].str.s, n))
			*res = true;
	}
	return 0;
}

int tpl_call_method(struct rctx *r, struct value self, const char *name, const struct args *a,
                    struct value *out)
{
	if (self.kind == V_DICT) {
		if (!strcmp(name, "get")) {
			if (a->nkw || a->n < 1 || a->n > 2)
				return tpl_fail(r, "get expected 1 or 2 arguments");
			struct value *v = vdict_get(self.dict, a->v[0]);
			*out = v ? *v : a->n == 2 ? a->v[1] : value_none();
			return 0;
		}
		if (a->n || a->nkw)
			return tpl_fail(r, "%s() takes no arguments", name);
		size_t n = self.dict->n;
		struct value l = value_list(r->a, n);
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(name, "keys")) {
				l.list->items[i] = self.dict->keys[i];
			} else if (!strcmp(name, "values")) {
				l.list->items[i] = self.dict->vals[i];
			} else {
				struct value pair = value_list(r->a, 2);
				pair.tuple = true;
				pair.list->items[0] = self.dict->keys[i];
				pair.list->items[1] = self.dict->vals[i];
				l.list->items[i] = pair;
			}
		}
		l.lazy = !strcmp(name, "keys")     ? VL_KEYS
		         : !strcmp(name, "values") ? VL_VALUES
		                                   : VL_ITEMS;
		*out = l;
		return 0;
	}
	/* str methods */
	if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
		bool res = false;
		if (m_affix(r, self, a, name[0] == 's', &res) < 0)
			return -1;
		*out = value_bool(res);
		return 0;
	}
	if (!strcmp(name, "split") || !strcmp(name, "rsplit"))
		return m_split(r, self, a, name[0] == 'r', out);
	if (!strcmp(name, "format"))
		return m_format(r, self, a, out);
	if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
		if (a->nkw || a->n > 1)
			return tpl_fail(r, "%s() takes at most 1 argument", name);
		struct value chars = a->n ? a->v[0] : value_none();
		if (chars.kind != V_NONE && chars.kind != V_STR)
			return tpl_fail(r, "%s arg must be None or str", name);
		*out = strip(r, self, chars, name[0] != 'r', name[0] != 'l');
		out->safe = false;
		return 0;
	}
	if (!strcmp(name, "replace")) {
		if (a->nkw || a->n < 2 || a->n > 3)
			return tpl_fail(r, "replace expected 2 or 3 arguments");
		if (a->v[1].kind != V_STR)
			return tpl_fail(r, "replace() argument 2 must be str, not %s",
			                value_type_name(a->v[1]));
		int64_t count = -1;
		if (a->n == 3 && need_int(r, a->v[2], "replace", &count) < 0)
			return -1;
		return f_replace(r, self, a->v[0], a->v[1], count, out);
	}
	if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "capitalize") ||
	    !strcmp(name, "title")) {
		if (a->n || a->nkw)
			return tpl_fail(r, "%s() takes no arguments", name);
		if (!strcmp(name, "title")) {
			*out = recase(r, self, TITLE);
			return 0;
		}
		*out = recase(r, self,
		              !strcmp(name, "upper")   ? UPPER
		              : !strcmp(name, "lower") ? LOWER
		                                       : CAPITALIZE);
		return 0;
	}
	if (!strcmp(name, "join")) {
		if (a->n != 1 || a->nkw)
			return tpl_fail(r, "join() takes exactly one argument");
		struct value items;
		if (list_of(r, a->v[0], &items) < 0)
			return -1;
		struct strbuf sb = TPL_STRBUF(r);
		for (size_t i = 0; i < items.list->n; i++) {
			if (items.list->items[i].kind != V_STR) {
				strbuf_release(&sb);
				return tpl_fail(
				    r, "sequence item %zu: expected str instance, %s found", i,
				    value_type_name(items.list->items[i]));
			}
			if (i)
				strbuf_add(&sb, self.str.s, self.str.len);
			strbuf_add(&sb, items.list->items[i].str.s, items.list->items[i].str.len);
		}
		*out = mkstr(r, &sb, false);
		return 0;
	}
	if (!strcmp(name, "count") || !strcmp(name, "find")) {
		if (a->n != 1 || a->nkw || a->v[0].kind != V_STR)
			return tpl_fail(r, "%s() takes one string argument here", name);
		struct value sub = a->v[0];
		if (!strcmp(name, "find")) {
			const char *hit =
			    sub.str.len ? memmem(self.str.s, self.str.len, sub.str.s, sub.str.len)
			                : self.str.s;
			int64_t idx = -1;
			if (hit) {
				idx = 0;
				for (const char *q = self.str.s; q < hit; q++)
					idx += ((unsigned char)*q & 0xc0) != 0x80;
			}
			*out = value_int(idx);
			return 0;
		}
		int64_t count = 0;
		if (sub.str.len == 0) {
			size_t n;
			value_length(self, &n);
			count = (int64_t)n + 1;
		} else {
			const char *q = self.str.s, *end = q + self.str.len;
			const char *hit;
			while ((hit = memmem(q, (size_t)(end - q), sub.str.s, sub.str.len))) {
				count++;
				q = hit + sub.str.len;
			}
		}
		*out = value_int(count);
		return 0;
	}
	if (!strncmp(name, "is", 2)) {
		if (a->n || a->nkw)
			return tpl_fail(r, "%s() takes no arguments", name);
		if (!strcmp(name, "islower") || !strcmp(name, "isupper")) {
			*out = value_bool(all_cased(self, !strcmp(name, "isupper")));
			return 0;
		}
		bool ok = self.str.len > 0;
		const char *p = self.str.s, *end = p + self.str.len;
		while (p < end && ok) {
			uint32_t c = utf8_decode(&p, end);
			if (!strcmp(name, "isdigit"))
				ok = c >= '0' && c <= '9';
			else if (!strcmp(name, "isalpha"))
				ok = (c < 0x80 && isalpha((int)c)) || (c >= 0x80 && is_alnum_cp(c));
			else if (!strcmp(name, "isalnum"))
				ok = is_alnum_cp(c);
			else
				ok = is_space_cp(c);
		}
		*out = value_bool(ok);
		return 0;
	}
	if (!strcmp(name, "splitlines")) {
		if (a->n || a->nkw)
			return tpl_fail(r, "splitlines() with arguments is not supported");
		struct value *lines;
		size_t n = split_lines(r, self.str.s, self.str.len, &lines);
		struct value l = value_list(r->a, n);
		memcpy(l.list->items, lines, n * sizeof(*lines));
		free(lines);
		*out = l;
		return 0;
	}
	if (!strcmp(name, "zfill")) {
		int64_t w;
		if (a->n != 1 || a->nkw)
			return tpl_fail(r, "zfill() takes exactly one argument");
		if (need_int(r, a->v[0], "zfill", &w) < 0)
			return -1;
		size_t n;
		value_length(self, &n);
		struct strbuf sb = TPL_STRBUF(r);
		const char *p = self.str.s;
		size_t len = self.str.len;
		if (len && (*p == '-' || *p == '+')) {
			strbuf_addch(&sb, *p);
			p++;
			len--;
		}
		for (int64_t i = (int64_t)n; i < w; i++)
			strbuf_addch(&sb, '0');
		strbuf_add(&sb, p, len);
		*out = mkstr(r, &sb, false);
		return 0;
	}
	return tpl_fail(r, "the '%s' method is not supported by gpuci render", name);
}
