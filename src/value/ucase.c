/* Python's full case mappings (CPython's unicodeobject.c, do_lower and friends). */
#include "value/ucase.h"

#include <stdlib.h>

#include "value/ucase_int.h"
#include "value/value.h"
#include "base/xalloc.h"
#include "base/banned.h"

enum { LOWER, UPPER, TITLE };

static bool in_ranges(const struct ucase_range *r, size_t n, uint32_t c)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c < r[mid].lo)
			hi = mid;
		else if (c > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool is_lower(uint32_t c)
{
	return in_ranges(ucase_prop_lower, ucase_nprop_lower, c);
}

static bool is_upper(uint32_t c)
{
	return in_ranges(ucase_prop_upper, ucase_nprop_upper, c);
}

static bool is_title(uint32_t c)
{
	return in_ranges(ucase_prop_title, ucase_nprop_title, c);
}

bool ucase_is_cased(uint32_t c)
{
	return is_lower(c) || is_upper(c) || is_title(c);
}

static bool is_ignorable(uint32_t c)
{
	return in_ranges(ucase_prop_ignorable, ucase_nprop_ignorable, c);
}

/*
 * The full mapping `how` of c into m (1 to 3 code points; returns how
 * many). The run holding c is the last one starting at or before it, or the
 * one before that (interleaved runs of upper and lower letters; the
 * generator checks that this finds every code point).
 */
static size_t map(uint32_t c, int how, uint32_t m[3])
{
	size_t lo = 0, hi = ucase_nruns;
	while (lo < hi) { /* the first run starting after c */
		size_t mid = lo + (hi - lo) / 2;
		if (ucase_runs[mid].first <= c)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = 0; k < 2 && lo > k; k++) {
		const struct ucase_run *r = &ucase_runs[lo - 1 - k];
		if (c > r->last || (c - r->first) % r->stride)
			continue;
		int32_t f = r->map[how];
		if (f >= UCASE_MULTI) { /* deltas are within ±0x10ffff */
			const uint32_t *x = ucase_multi[f - UCASE_MULTI];
			m[0] = x[0];
			m[1] = x[1];
			m[2] = x[2];
			return x[2] ? 3 : 2;
		}
		m[0] = (uint32_t)((int32_t)c + f);
		return 1;
	}
	m[0] = c;
	return 1;
}

/* The code points of s (a malloc'ed array; *n of them). */
static uint32_t *decode(const char *s, size_t len, size_t *n)
{
	uint32_t *cp = xmalloc((len ? len : 1) * sizeof(*cp));
	const char *p = s, *end = s + len;
	*n = 0;
	while (p < end)
		cp[(*n)++] = utf8_decode(&p, end);
	return cp;
}

static void put(struct strbuf *out, const uint32_t *m, size_t k)
{
	for (size_t i = 0; i < k; i++)
		utf8_put(out, m[i]);
}

/* CPython's handle_capital_sigma: σ, or ς at the end of a cased word. */
static uint32_t sigma(const uint32_t *cp, size_t n, size_t i)
{
	size_t j = i;
	while (j > 0 && is_ignorable(cp[j - 1]))
		j--;
	bool final = j > 0 && ucase_is_cased(cp[j - 1]);
	if (final && i + 1 < n) {
		j = i + 1;
		while (j < n && is_ignorable(cp[j]))
			j++;
		final = j == n || !ucase_is_cased(cp[j]);
	}
	return final ? 0x3c2 : 0x3c3;
}

static void lower_at(const uint32_t *cp, size_t n, size_t i, struct strbuf *out)
{
	uint32_t m[3];
	if (cp[i] == 0x3a3) {
		utf8_put(out, sigma(cp, n, i));
		return;
	}
	put(out, m, map(cp[i], LOWER, m));
}

void ucase_lower(const char *s, size_t len, struct strbuf *out)
{
	size_t n;
	uint32_t *cp = decode(s, len, &n);
	for (size_t i = 0; i < n; i++)
		lower_at(cp, n, i, out);
	free(cp);
}

void ucase_upper(const char *s, size_t len, struct strbuf *out)
{
	const char *p = s, *end = s + len;
	uint32_t m[3];
	while (p < end)
		put(out, m, map(utf8_decode(&p, end), UPPER, m));
}

void ucase_capitalize(const char *s, size_t len, struct strbuf *out)
{
	size_t n;
	uint32_t *cp = decode(s, len, &n);
	uint32_t m[3];
	for (size_t i = 0; i < n; i++) {
		if (i == 0)
			put(out, m, map(cp[0], TITLE, m));
		else
			lower_at(cp, n, i, out);
	}
	free(cp);
}

void ucase_title(const char *s, size_t len, struct strbuf *out)
{
	size_t n;
	uint32_t *cp = decode(s, len, &n);
	uint32_t m[3];
	bool prev_cased = false;
	for (size_t i = 0; i < n; i++) {
		if (prev_cased)
			lower_at(cp, n, i, out);
		else
			put(out, m, map(cp[i], TITLE, m));
		prev_cased = ucase_is_cased(cp[i]);
	}
	free(cp);
}

static bool all_cased(const char *s, size_t len, bool upper)
{
	const char *p = s, *end = s + len;
	bool cased = false;
	while (p < end) {
		uint32_t c = utf8_decode(&p, end);
		if ((upper ? is_lower(c) : is_upper(c)) || is_title(c))
			return false;
		cased |= upper ? is_upper(c) : is_lower(c);
	}
	return cased;
}

bool ucase_islower(const char *s, size_t len)
{
	return all_cased(s, len, false);
}

bool ucase_isupper(const char *s, size_t len)
{
	return all_cased(s, len, true);
}
