#include "base/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

char strbuf_empty[1];

static size_t ceiling(const struct strbuf *sb)
{
	return sb->max ? sb->max : STRBUF_DEFAULT_MAX;
}

void strbuf_init(struct strbuf *sb, size_t max)
{
	*sb = (struct strbuf)STRBUF_INIT;
	sb->max = max;
}

void strbuf_release(struct strbuf *sb)
{
	size_t max = sb->max;
	if (sb->alloc)
		free(sb->buf);
	strbuf_init(sb, max);
}

void strbuf_reset(struct strbuf *sb)
{
	sb->failed = false;
	strbuf_setlen(sb, 0);
}

char *strbuf_detach(struct strbuf *sb, size_t *len)
{
	char *s = sb->alloc ? sb->buf : xstrdup("");
	if (len)
		*len = sb->len;
	strbuf_init(sb, sb->max);
	return s;
}

/* Makes room for `extra` more bytes; false (and failed set) past the ceiling. */
static bool grow(struct strbuf *sb, size_t extra)
{
	if (sb->failed)
		return false;
	if (extra > ceiling(sb) || sb->len > ceiling(sb) - extra) {
		sb->failed = true;
		return false;
	}
	size_t need = sb->len + extra + 1;
	if (need <= sb->alloc)
		return true;
	size_t n = sb->alloc ? sb->alloc : 64;
	while (n < need)
		n *= 2;
	if (sb->alloc) {
		sb->buf = xrealloc(sb->buf, n);
	} else {
		sb->buf = xmalloc(n);
		sb->buf[0] = '\0';
	}
	sb->alloc = n;
	return true;
}

void strbuf_grow(struct strbuf *sb, size_t extra)
{
	grow(sb, extra);
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
	if (!grow(sb, len))
		return;
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void strbuf_adds(struct strbuf *sb, const char *s)
{
	strbuf_add(sb, s, strlen(s));
}

void strbuf_addch_slow(struct strbuf *sb, char c)
{
	strbuf_add(sb, &c, 1);
}

void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || !grow(sb, (size_t)n)) {
		sb->failed = true;
		return;
	}
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(sb, fmt, ap);
	va_end(ap);
}

size_t strbuf_utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
	} else {
		return 0;
	}
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
	return n;
}

/* The length of the printable character at p, or 0 when it needs an escape. */
static size_t shown_len(const unsigned char *p)
{
	size_t n = strbuf_utf8_len(p);
	if (n == 1 && (*p < 0x20 || *p == 0x7f))
		return 0;
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0; /* U+0080..U+009F: C1 controls, CSI among them */
	return n;
}

static void add_escaped(struct strbuf *sb, const unsigned char *p, bool quoting)
{
	while (*p) {
		size_t n = shown_len(p);
		if (n && !(quoting && (*p == '"' || *p == '\\'))) {
			strbuf_add(sb, p, n);
			p += n;
			continue;
		}
		/* Bytes of a C1 control are escaped one by one, as invalid ones. */
		switch (*p) {
		case '\n':
			strbuf_adds(sb, "\\n");
			break;
		case '\r':
			strbuf_adds(sb, "\\r");
			break;
		case '\t':
			strbuf_adds(sb, "\\t");
			break;
		case '"':
		case '\\':
			strbuf_addch(sb, '\\');
			strbuf_addch(sb, (char)*p);
			break;
		default:
			strbuf_addf(sb, "\\%03o", *p);
		}
		p++;
	}
}

bool strbuf_add_shown(struct strbuf *sb, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	bool plain = true;
	for (const unsigned char *q = p; *q && plain;) {
		size_t n = shown_len(q);
		plain = n != 0;
		q += n;
	}
	if (plain)
		strbuf_adds(sb, s);
	else
		add_escaped(sb, p, false);
	return plain;
}

void strbuf_add_quoted(struct strbuf *sb, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	bool plain = true;
	for (const unsigned char *q = p; *q && plain;) {
		size_t n = shown_len(q);
		plain = n && *q != '"' && *q != '\\';
		q += n ? n : 1;
	}
	if (plain) {
		strbuf_adds(sb, s);
		return;
	}
	strbuf_addch(sb, '"');
	add_escaped(sb, p, true);
	strbuf_addch(sb, '"');
}

bool strbuf_add_json_str(struct strbuf *sb, const char *s)
{
	bool exact = true;
	strbuf_addch(sb, '"');
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned char c = *p;
		if (c >= 0x80) {
			size_t n = strbuf_utf8_len(p);
			if (n) {
				strbuf_add(sb, p, n);
				p += n;
			} else {
				strbuf_adds(sb, "\\ufffd");
				exact = false;
				p++;
			}
			continue;
		}
		switch (c) {
		case '"':
			strbuf_adds(sb, "\\\"");
			break;
		case '\\':
			strbuf_adds(sb, "\\\\");
			break;
		case '\n':
			strbuf_adds(sb, "\\n");
			break;
		case '\r':
			strbuf_adds(sb, "\\r");
			break;
		case '\t':
			strbuf_adds(sb, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				strbuf_addf(sb, "\\u%04x", c);
			else
				strbuf_addch(sb, (char)c);
		}
		p++;
	}
	strbuf_addch(sb, '"');
	return exact;
}

void strbuf_setlen(struct strbuf *sb, size_t len)
{
	if (len > sb->len)
		BUG("strbuf_setlen(%zu) beyond length %zu", len, sb->len);
	if (!sb->alloc)
		return;
	sb->len = len;
	sb->buf[len] = '\0';
}
