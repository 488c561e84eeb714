/*
 * diag: an error a fallible function hands back to its caller.
 *
 * Every fallible function returns int (0 success, negative failure) and
 * fills a caller-owned struct diag. Callers pass it up unchanged; only cli/
 * prints it. There is no global "last error".
 */
#ifndef GPUCI_BASE_DIAG_H
#define GPUCI_BASE_DIAG_H

#include "base/strbuf.h"

enum diag_code {
	DIAG_OK = 0,
	DIAG_USAGE,   /* bad flags or arguments: exit 2 */
	DIAG_INPUT,   /* bad input file or value */
	DIAG_SYSTEM,  /* a system call failed */
	DIAG_TIMEOUT, /* waited past a deadline */
	DIAG_CANCELED /* interrupted by a signal */
};

/* A place in a file. line 0 means "no place"; col 0 means "whole line". */
struct srcloc {
	const char *file;
	unsigned line, col;
};

struct diag {
	enum diag_code code;
	struct srcloc loc;
	struct strbuf msg;
};

#define DIAG_INIT                                                                                  \
	{                                                                                          \
		.code = DIAG_OK, .msg = STRBUF_INIT                                                \
	}

void diag_init(struct diag *d);
void diag_release(struct diag *d);
/* Sets code and message; returns -1 so callers can `return diag_set(...)`. */
int diag_set(struct diag *d, enum diag_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As diag_set, with ": strerror(errno)" appended (errno read on entry). */
int diag_errno(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Formats "file:line:col: msg" (or just "msg" without a place) into out,
 * file and msg through strbuf_add_shown(): one line, whatever they hold.
 */
void diag_format(const struct diag *d, struct strbuf *out);

#endif
