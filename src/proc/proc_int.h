/* What the files of src/proc share; private to the folder. */
#ifndef GPUCI_PROC_PROC_INT_H
#define GPUCI_PROC_PROC_INT_H

#include <stddef.h>

/*
 * Closes every descriptor from lo up but those of keep[0..nkeep), with a
 * close_range() per gap between kept ones: no cost that grows with the
 * open-files limit. For a child between fork and exec.
 */
void proc_close_all_but(unsigned lo, const int *keep, size_t nkeep);

#endif
