/* diff: a unified diff of two texts, line by line (for render --check). */
#ifndef GPUCI_BASE_DIFF_H
#define GPUCI_BASE_DIFF_H

#include <stddef.h>

#include "base/strbuf.h"

/*
 * Appends to out the unified diff (3 lines of context, "--- a" / "+++ b"
 * headers) that turns a into b; nothing when they are equal. A missing last
 * newline is marked "\ No newline at end of file", as git does.
 */
void diff_unified(struct strbuf *out, const char *a, size_t alen, const char *b, size_t blen,
                  const char *aname, const char *bname);

#endif
