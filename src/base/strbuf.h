/*
 * strbuf: the one growable string type of gpuci.
 *
 * Invariants: `buf` is never NULL and always NUL-terminated, so a strbuf can
 * be printed at any time; `len` excludes the terminator. A strbuf made with
 * STRBUF_INIT points at a shared empty string until the first append.
 *
 * Growth has a ceiling (`max`, 0 = STRBUF_DEFAULT_MAX). An append that would
 * pass it sets `failed`, leaves the contents as they were, and makes every
 * later append a no-op: build everything, then check strbuf_failed() once.
 */
#ifndef GPUCI_BASE_STRBUF_H
#define GPUCI_BASE_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t alloc; /* 0 while buf points at the shared empty string */
	size_t max;   /* ceiling on len; 0 means STRBUF_DEFAULT_MAX */
	bool failed;
};

#define STRBUF_DEFAULT_MAX ((size_t)1 << 30)

extern char strbuf_empty[];
#define STRBUF_INIT                                                                                \
	{                                                                                          \
		.buf = strbuf_empty                                                                \
	}

void strbuf_init(struct strbuf *sb, size_t max);
/* Frees the contents; the strbuf is left as after STRBUF_INIT. */
void strbuf_release(struct strbuf *sb);
/* Empties the contents, keeps the memory, clears `failed`. */
void strbuf_reset(struct strbuf *sb);
/* Returns the string, which the caller now owns, and resets sb. */
char *strbuf_detach(struct strbuf *sb, size_t *len);

void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_adds(struct strbuf *sb, const char *s);
void strbuf_addch_slow(struct strbuf *sb, char c);
/* Appends one byte; inline, as text is often built a byte at a time. */
static inline void strbuf_addch(struct strbuf *sb, char c)
{
	if (sb->len + 1 < sb->alloc && !sb->failed) {
		sb->buf[sb->len++] = c;
		sb->buf[sb->len] = '\0';
		return;
	}
	strbuf_addch_slow(sb, c);
}
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/*
 * Appends s as a JSON string literal, quotes included, that is valid JSON
 * and valid Unicode whatever bytes s holds: '"', '\\' and control
 * characters (< 0x20, 0x7f) escaped, valid UTF-8 copied as is, and each
 * byte that is not part of valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF) written as \ufffd. Returns false when
 * it replaced any byte.
 */
bool strbuf_add_json_str(struct strbuf *sb, const char *s);
/*
 * The length of the valid UTF-8 character at p (RFC 3629; 1 for ASCII), or
 * 0 when the byte there does not start one. Reads no further than a NUL.
 */
size_t strbuf_utf8_len(const unsigned char *p);
/*
 * Appends s for a person to read on a terminal or in a CI log: valid UTF-8
 * as is, every control character (C0, DEL, C1), and every byte that is not
 * UTF-8, as a C escape (\n, \r, \t, else \ooo in octal per byte). What it
 * appends is one line that holds no escape sequence, so data printed with it
 * can neither start a GitHub workflow command ("::warning ...") on a line of
 * its own nor move a terminal's cursor. Returns true when nothing was
 * escaped. Every name and message gpuci prints goes through this or
 * strbuf_add_quoted().
 */
bool strbuf_add_shown(struct strbuf *sb, const char *s);
/*
 * Appends a name (a path, a label) as git quotes paths with
 * core.quotePath=false: as is, unless it holds what strbuf_add_shown()
 * escapes, '"' or '\'; then in double quotes with those escapes and \" and
 * \\, so that the quoted form is unambiguous.
 */
void strbuf_add_quoted(struct strbuf *sb, const char *s);
/* Makes room for extra more bytes without changing the contents. */
void strbuf_grow(struct strbuf *sb, size_t extra);
/* Shortens to len bytes (len <= sb->len). */
void strbuf_setlen(struct strbuf *sb, size_t len);

static inline bool strbuf_failed(const struct strbuf *sb)
{
	return sb->failed;
}

#endif
