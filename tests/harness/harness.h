/*
 * Fixtures shared by the unit tests, around cmocka: temporary directories
 * and the includes every test needs.
 */
#ifndef GPUCI_TESTS_HARNESS_H
#define GPUCI_TESTS_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Makes a fresh directory under $TMPDIR (or /tmp); the caller frees the path. */
char *harness_tmpdir(void);
/* Removes a directory tree made by harness_tmpdir() and frees the path. */
void harness_rmtree(char *path);
/* Joins dir and name into a new string. */
char *harness_path(const char *dir, const char *name);

#endif
