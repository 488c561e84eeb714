/* Python's seq[start:stop:step] for lists, tuples, ranges and strings. */
#include <stdlib.h>
#include <string.h>

#include "tpl/tpl_int.h"
#include "value/bigint.h"
#include "base/xalloc.h"
#include "base/banned.h"

#define CLAMP ((int64_t)1 << 62) /* far past any length, far from overflow */

/* A slice index: None, or an int (a big one clamped, as Python clamps it). */
static bool index_of(struct value v, bool *none, int64_t *out)
{
	*none = v.kind == V_NONE;
	if (*none)
		return true;
	if (!vint_is(v))
		return false;
	int64_t i;
	if (!vint_to_i64(v, &i))
		i = vint_sign(v) < 0 ? -CLAMP : CLAMP;
	*out = i < -CLAMP ? -CLAMP : i > CLAMP ? CLAMP : i;
	return true;
}

/* PySlice_AdjustIndices: start, stop and the number of items, for a length n. */
static void adjust(int64_t n, bool sn, int64_t start, bool en, int64_t stop, int64_t step,
                   int64_t *first, int64_t *last, int64_t *count)
{
	if (sn) {
		start = step < 0 ? n - 1 : 0;
	} else if (start < 0) {
		start += n;
		if (start < 0)
			start = step < 0 ? -1 : 0;
	} else if (start >= n) {
		start = step < 0 ? n - 1 : n;
	}
	if (en) {
		stop = step < 0 ? -1 : n;
	} else if (stop < 0) {
		stop += n;
		if (stop < 0)
			stop = step < 0 ? -1 : 0;
	} else if (stop >= n) {
		stop = step < 0 ? n - 1 : n;
	}
	*first = start;
	*last = stop;
	if (step < 0)
		*count = stop < start ? (start - stop - 1) / -step + 1 : 0;
	else
		*count = start < stop ? (stop - start - 1) / step + 1 : 0;
}

int tpl_slice(struct rctx *r, struct value v, const struct value sl[3], struct value *out)
{
	if (v.kind == V_UNDEF)
		return tpl_fail_undefined(r, v);
	bool sn, en, stn;
	int64_t start = 0, stop = 0, step = 1;
	if (!index_of(sl[0], &sn, &start) || !index_of(sl[1], &en, &stop) ||
	    !index_of(sl[2], &stn, &step) || (v.kind != V_LIST && v.kind != V_STR) ||
	    (v.kind == V_LIST && v.lazy)) {
		/*
		 * A TypeError in Python; Jinja2 raises it, or gives Undefined where
		 * its optimizer folded the expression as a constant: refused.
		 */
		return tpl_fail(r,
		                "slicing a %s (or with indices that are not ints) is not supported",
		                value_type_name(v));
	}
	if (stn)
		step = 1;
	if (step == 0)
		return tpl_fail(r, "slice step cannot be zero");
	size_t len;
	value_length(v, &len);
	int64_t first, last, count;
	adjust((int64_t)len, sn, start, en, stop, step, &first, &last, &count);
	if (v.kind == V_LIST) {
		struct value l = value_list(r->a, (size_t)count);
		for (int64_t k = 0; k < count; k++)
			l.list->items[k] = v.list->items[first + k * step];
		l.tuple = v.tuple;
		if (v.range) {
			/* range(a, b, s)[i:j:k] is range(a + i*s, a + j*s, s*k), i and j adjusted.
			 */
			int64_t s = v.list->step, a = v.list->start, nstep, nstart, nstop, j = last;
			if (__builtin_mul_overflow(s, step, &nstep) ||
			    __builtin_mul_overflow(first, s, &nstart) ||
			    __builtin_add_overflow(nstart, a, &nstart) ||
			    __builtin_mul_overflow(j, s, &nstop) ||
			    __builtin_add_overflow(nstop, a, &nstop))
				return tpl_fail(
				    r, "a slice of a range beyond 64 bits is not supported");
			l.range = true;
			l.list->start = nstart;
			l.list->stop = nstop;
			l.list->step = nstep;
		}
		*out = l;
		return 0;
	}
	/* A string: code point k starts at byte at[k]. */
	size_t *at = xmalloc((len + 1) * sizeof(*at));
	const char *p = v.str.s, *end = p + v.str.len;
	for (size_t k = 0; k < len; k++) {
		at[k] = (size_t)(p - v.str.s);
		p += utf8_step(p, end);
	}
	at[len] = v.str.len;
	struct strbuf sb = TPL_STRBUF(r);
	if (step == 1 && count > 0) {
		strbuf_add(&sb, v.str.s + at[first], at[first + count] - at[first]);
	} else {
		for (int64_t k = 0; k < count; k++) {
			size_t i = (size_t)(first + k * step);
			strbuf_add(&sb, v.str.s + at[i], at[i + 1] - at[i]);
		}
	}
	free(at);
	*out = tpl_strval(r, &sb);
	out->safe = v.safe;
	strbuf_release(&sb);
	return 0;
}
