#include "base/diag.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include "base/banned.h"

void diag_init(struct diag *d)
{
	*d = (struct diag)DIAG_INIT;
}

void diag_release(struct diag *d)
{
	strbuf_release(&d->msg);
	d->code = DIAG_OK;
	d->loc = (struct srcloc){0};
}

int diag_set(struct diag *d, enum diag_code code, const char *fmt, ...)
{
	va_list ap;
	d->code = code;
	strbuf_reset(&d->msg);
	va_start(ap, fmt);
	strbuf_vaddf(&d->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int diag_errno(struct diag *d, const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	d->code = DIAG_SYSTEM;
	strbuf_reset(&d->msg);
	va_start(ap, fmt);
	strbuf_vaddf(&d->msg, fmt, ap);
	va_end(ap);
	strbuf_addf(&d->msg, ": %s", strerror(err));
	return -1;
}

void diag_format(const struct diag *d, struct strbuf *out)
{
	if (d->loc.file) {
		strbuf_add_shown(out, d->loc.file);
		if (d->loc.line) {
			strbuf_addf(out, ":%u:", d->loc.line);
			if (d->loc.col)
				strbuf_addf(out, "%u:", d->loc.col);
		} else {
			strbuf_addch(out, ':');
		}
		strbuf_addch(out, ' ');
	}
	strbuf_add_shown(out, d->msg.buf ? d->msg.buf : "");
}
