/* Masking secrets in what gpuci writes; see mask.h. */
#include "report/mask.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

struct report_mask {
	char **v; /* longest first */
	size_t *len;
	size_t n;
	bool first[256]; /* bytes some value starts with */
};

struct report_mask_stream {
	const struct report_mask *m;
	struct strbuf held;
};

struct report_mask *report_mask_new(void)
{
	return xcalloc(1, sizeof(struct report_mask));
}

void report_mask_free(struct report_mask *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
	free(m->len);
	free(m);
}

static void add_one(struct report_mask *m, const char *s, size_t n)
{
	if (!n)
		return;
	for (size_t i = 0; i < m->n; i++)
		if (m->len[i] == n && !memcmp(m->v[i], s, n))
			return;
	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->len = xrealloc(m->len, (m->n + 1) * sizeof(*m->len));
	size_t at = m->n;
	while (at > 0 && m->len[at - 1] < n) { /* keep longest first */
		m->v[at] = m->v[at - 1];
		m->len[at] = m->len[at - 1];
		at--;
	}
	char *c = xmalloc(n + 1);
	memcpy(c, s, n);
	c[n] = '\0';
	m->v[at] = c;
	m->len[at] = n;
	m->n++;
	m->first[(unsigned char)s[0]] = true;
}

void report_mask_add(struct report_mask *m, const char *value)
{
	if (!value || !*value)
		return;
	add_one(m, value, strlen(value));
	if (!strchr(value, '\n'))
		return;
	for (const char *p = value; *p;) {
		size_t n = strcspn(p, "\n");
		size_t k = n;
		if (k && p[k - 1] == '\r')
			k--;
		add_one(m, p, k);
		p += n + (p[n] == '\n');
	}
}

size_t report_mask_count(const struct report_mask *m)
{
	return m ? m->n : 0;
}

/*
 * Masks p[0..n) into out; returns how much it used: all of it at eof,
 * else up to where a value may begin that the text so far does not end.
 */
static size_t mask_run(const struct report_mask *m, const char *p, size_t n, bool eof,
                       struct strbuf *out)
{
	size_t i = 0, plain = 0;
	while (i < n) {
		if (!m->first[(unsigned char)p[i]]) {
			i++;
			continue;
		}
		size_t rest = n - i, hit = 0;
		bool hold = false;
		for (size_t k = 0; k < m->n; k++) {
			if (m->len[k] > rest) {
				if (!eof && !memcmp(p + i, m->v[k], rest)) {
					hold = true;
					break;
				}
				continue;
			}
			if (!memcmp(p + i, m->v[k], m->len[k])) {
				hit = m->len[k];
				break;
			}
		}
		if (!hold && !hit) {
			i++;
			continue;
		}
		strbuf_add(out, p + plain, i - plain);
		if (hold)
			return i;
		strbuf_adds(out, "***");
		i += hit;
		plain = i;
	}
	strbuf_add(out, p + plain, n - plain);
	return n;
}

void report_mask_apply(const struct report_mask *m, const char *s, size_t n, struct strbuf *out)
{
	if (!m || !m->n) {
		strbuf_add(out, s, n);
		return;
	}
	mask_run(m, s, n, true, out);
}

char *report_mask_dup(const struct report_mask *m, const char *s)
{
	if (!s)
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	report_mask_apply(m, s, strlen(s), &sb);
	return strbuf_detach(&sb, NULL);
}

struct report_mask_stream *report_mask_stream_new(const struct report_mask *m)
{
	struct report_mask_stream *s = xcalloc(1, sizeof(*s));
	s->m = m;
	strbuf_init(&s->held, 0);
	return s;
}

void report_mask_stream_free(struct report_mask_stream *s)
{
	if (!s)
		return;
	strbuf_release(&s->held);
	free(s);
}

void report_mask_stream_write(struct report_mask_stream *s, const char *buf, size_t n, bool eof,
                              struct strbuf *out)
{
	if (!s->m || !s->m->n) {
		strbuf_add(out, buf, n);
		return;
	}
	if (!s->held.len) {
		size_t used = mask_run(s->m, buf, n, eof, out);
		strbuf_add(&s->held, buf + used, n - used);
		return;
	}
	strbuf_add(&s->held, buf, n);
	size_t used = mask_run(s->m, s->held.buf, s->held.len, eof, out);
	memmove(s->held.buf, s->held.buf + used, s->held.len - used);
	strbuf_setlen(&s->held, s->held.len - used);
}

void report_mask_filter(void *arg, const char *buf, size_t n, bool eof, struct strbuf *out)
{
	report_mask_stream_write(arg, buf, n, eof, out);
}

/* ---- a masking FILE ------------------------------------------------------ */

struct mask_file {
	struct report_mask_stream *s;
	FILE *under;
	struct strbuf out;
};

static ssize_t mask_file_write(void *c, const char *buf, size_t n)
{
	struct mask_file *mf = c;
	strbuf_reset(&mf->out);
	report_mask_stream_write(mf->s, buf, n, false, &mf->out);
	if (mf->out.len && fwrite(mf->out.buf, 1, mf->out.len, mf->under) != mf->out.len)
		return -1;
	fflush(mf->under);
	return (ssize_t)n;
}

static int mask_file_close(void *c)
{
	struct mask_file *mf = c;
	strbuf_reset(&mf->out);
	report_mask_stream_write(mf->s, "", 0, true, &mf->out);
	int rc = 0;
	if (mf->out.len && fwrite(mf->out.buf, 1, mf->out.len, mf->under) != mf->out.len)
		rc = -1;
	if (fflush(mf->under) != 0)
		rc = -1;
	report_mask_stream_free(mf->s);
	strbuf_release(&mf->out);
	free(mf);
	return rc;
}

FILE *report_mask_file(const struct report_mask *m, FILE *under)
{
	struct mask_file *mf = xcalloc(1, sizeof(*mf));
	mf->s = report_mask_stream_new(m);
	mf->under = under;
	strbuf_init(&mf->out, 0);
	cookie_io_functions_t io = {.write = mask_file_write, .close = mask_file_close};
	FILE *f = fopencookie(mf, "w", io);
	if (!f) {
		report_mask_stream_free(mf->s);
		free(mf);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

void report_gh_add_mask(FILE *f, const struct report_mask *m)
{
	for (size_t i = 0; m && i < m->n; i++) {
		if (strchr(m->v[i], '\n'))
			continue; /* its lines are values of their own */
		fputs("::add-mask::", f);
		for (const char *p = m->v[i]; *p; p++) {
			if (*p == '%')
				fputs("%25", f);
			else if (*p == '\r')
				fputs("%0D", f);
			else
				fputc(*p, f);
		}
		fputc('\n', f);
	}
	fflush(f);
}
