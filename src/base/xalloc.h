/*
 * xalloc: allocation that cannot fail.
 *
 * Running out of memory is not an input error gpuci can report in a useful
 * place, so these wrappers abort with a message instead of returning NULL.
 */
#ifndef GPUCI_BASE_XALLOC_H
#define GPUCI_BASE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* BUG(): a programmer mistake, never bad input. Aborts with the place. */
_Noreturn void bug_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define BUG(...) bug_at(__FILE__, __LINE__, __VA_ARGS__)

#endif
