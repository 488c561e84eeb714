/* fs: whole-file reads and atomic writes. */
#ifndef GPUCI_BASE_FS_H
#define GPUCI_BASE_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/diag.h"
#include "base/strbuf.h"

/*
 * Appends the whole file to out. Fails with DIAG_SYSTEM naming the path,
 * or DIAG_INPUT "not a regular file" for a FIFO, a device or a directory
 * in its place (refused before any read, so a FIFO cannot block).
 */
int fs_read_all(const char *path, struct strbuf *out, struct diag *d);

/*
 * Replaces path with data atomically: writes a temporary file in the same
 * directory, fsyncs it, and renames it over path, so readers see the old
 * file or the new one, never a part. The mode of an existing file is kept
 * (0644 for a new one). On failure path is untouched and the temporary file
 * is removed.
 */
int fs_write_atomic(const char *path, const void *data, size_t len, struct diag *d);

/*
 * Creates path (mode 0644) with data, never over an existing file (fails
 * with DIAG_SYSTEM, EEXIST); a file that could not be written whole is
 * removed again.
 */
int fs_create_new(const char *path, const void *data, size_t len, struct diag *d);

#endif
