/*
 * dl: loading an optional library at run time (SQLite), so the
 * commands that do not need it start without it.
 */
#ifndef GPUCI_BASE_DL_H
#define GPUCI_BASE_DL_H

#include <stddef.h>

/*
 * dlopen()s the library named by the environment variable env_var when it
 * is set and not empty (another build, or a path to test a failure with),
 * else the first of names[0..n) that loads. On failure returns NULL with
 * why in err (for a list, the first name's error: the versioned soname is
 * the one wanted).
 */
void *dl_open_first(const char *env_var, const char *const *names, size_t n, char *err,
                    size_t errlen);

#endif
