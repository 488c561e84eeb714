/*
 * Myers' O(ND) difference algorithm over lines, then hunks with context.
 * The texts are workflow files: thousands of lines at most.
 */
#include "base/diff.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

struct line {
	const char *s;
	size_t len; /* without the newline */
	uint64_t hash;
	bool eol; /* ends with a newline */
};

static size_t split(const char *t, size_t n, struct line **out)
{
	size_t cap = 64, k = 0;
	struct line *v = xmalloc(cap * sizeof(*v));
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(t + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (t + i)) : n - i;
		if (k == cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		uint64_t h = 1469598103934665603ULL;
		for (size_t j = 0; j < len; j++)
			h = (h ^ (unsigned char)t[i + j]) * 1099511628211ULL;
		v[k++] = (struct line){t + i, len, h, nl != NULL};
		i += len + (nl ? 1 : 0);
	}
	*out = v;
	return k;
}

static bool same(const struct line *x, const struct line *y)
{
	return x->hash == y->hash && x->len == y->len && x->eol == y->eol &&
	       !memcmp(x->s, y->s, x->len);
}

enum { KEEP, DEL, ADD };

/* The edit script as ops over a and b, by the greedy Myers algorithm. */
static size_t myers(const struct line *a, size_t n, const struct line *b, size_t m,
                    unsigned char **ops_out)
{
	size_t max = n + m;
	size_t off = max + 1;
	long *v = xcalloc(2 * max + 3, sizeof(*v));
	long **trace = xcalloc(max + 1, sizeof(*trace));
	size_t d;
	bool done = n == 0 && m == 0;
	for (d = 0; !done && d <= max; d++) {
		trace[d] = xmalloc((2 * max + 3) * sizeof(long));
		memcpy(trace[d], v, (2 * max + 3) * sizeof(long));
		for (long k = -(long)d; k <= (long)d; k += 2) {
			long x;
			if (k == -(long)d || (k != (long)d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			long y = x - k;
			while ((size_t)x < n && (size_t)y < m && same(&a[x], &b[y])) {
				x++;
				y++;
			}
			v[off + k] = x;
			if ((size_t)x >= n && (size_t)y >= m) {
				done = true;
				break;
			}
		}
	}
	/* Walk back through the trace to recover the script. */
	unsigned char *ops = xmalloc(n + m + 1);
	size_t nops = 0;
	long x = (long)n, y = (long)m;
	for (size_t dd = d; dd-- > 0;) {
		long *vv = trace[dd];
		long k = x - y;
		long pk;
		if (k == -(long)dd || (k != (long)dd && vv[off + k - 1] < vv[off + k + 1]))
			pk = k + 1;
		else
			pk = k - 1;
		long px = vv[off + pk], py = px - pk;
		while (x > px && y > py) {
			ops[nops++] = KEEP;
			x--;
			y--;
		}
		if (dd > 0) {
			if (x == px)
				ops[nops++] = ADD;
			else
				ops[nops++] = DEL;
		}
		x = px;
		y = py;
	}
	while (x > 0 && y > 0) {
		ops[nops++] = KEEP;
		x--;
		y--;
	}
	for (size_t i = 0; i < nops / 2; i++) {
		unsigned char t = ops[i];
		ops[i] = ops[nops - 1 - i];
		ops[nops - 1 - i] = t;
	}
	for (size_t i = 0; i <= max && trace[i]; i++)
		free(trace[i]);
	free(trace);
	free(v);
	*ops_out = ops;
	return nops;
}

static void put_line(struct strbuf *out, char mark, const struct line *l)
{
	strbuf_addch(out, mark);
	strbuf_add(out, l->s, l->len);
	strbuf_addch(out, '\n');
	if (!l->eol)
		strbuf_adds(out, "\\ No newline at end of file\n");
}

void diff_unified(struct strbuf *out, const char *a, size_t alen, const char *b, size_t blen,
                  const char *aname, const char *bname)
{
	struct line *la, *lb;
	size_t n = split(a, alen, &la), m = split(b, blen, &lb);
	unsigned char *ops;
	size_t nops = myers(la, n, lb, m, &ops);
	bool any = false;
	for (size_t i = 0; i < nops; i++)
		any |= ops[i] != KEEP;
	if (!any)
		goto out;
	strbuf_addf(out, "--- %s\n+++ %s\n", aname, bname);
	const size_t ctx = 3;
	size_t i = 0;
	while (i < nops) {
		while (i < nops && ops[i] == KEEP)
			i++;
		if (i >= nops)
			break;
		/* A hunk: from ctx lines before this change to ctx lines after the last
		 * change that is at most 2*ctx lines of context away. */
		size_t start = i >= ctx ? i - ctx : 0;
		size_t end = i;
		for (;;) {
			while (end < nops && ops[end] != KEEP)
				end++;
			size_t keep = 0;
			while (end + keep < nops && ops[end + keep] == KEEP)
				keep++;
			if (end + keep < nops && keep <= 2 * ctx) {
				end += keep;
				continue;
			}
			end += keep < ctx ? keep : ctx;
			break;
		}
		size_t ai = 0, bi = 0;
		for (size_t k = 0; k < start; k++) {
			ai += ops[k] != ADD;
			bi += ops[k] != DEL;
		}
		size_t ac = 0, bc = 0;
		for (size_t k = start; k < end; k++) {
			ac += ops[k] != ADD;
			bc += ops[k] != DEL;
		}
		strbuf_addf(out, "@@ -%zu", ac ? ai + 1 : ai);
		if (ac != 1)
			strbuf_addf(out, ",%zu", ac);
		strbuf_addf(out, " +%zu", bc ? bi + 1 : bi);
		if (bc != 1)
			strbuf_addf(out, ",%zu", bc);
		strbuf_adds(out, " @@\n");
		for (size_t k = start; k < end; k++) {
			if (ops[k] == KEEP) {
				put_line(out, ' ', &la[ai++]);
				bi++;
			} else if (ops[k] == DEL) {
				put_line(out, '-', &la[ai++]);
			} else {
				put_line(out, '+', &lb[bi++]);
			}
		}
		i = end;
	}
out:
	free(ops);
	free(la);
	free(lb);
}
