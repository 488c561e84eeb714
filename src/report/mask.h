/*
 * mask: secrets kept out of everything gpuci writes, as GitHub Actions
 * keeps them out of a job's log: each occurrence of a value becomes "***".
 *
 * report_mask_add() takes a value (an empty one is ignored; a multi-line
 * one is masked whole and line by line, as GitHub masks it). Matching is
 * leftmost, longest value first. A stream (report_mask_stream_*) masks
 * text that comes in pieces, a value split between two pieces too: it
 * holds back a piece's end while it may be the start of a value, and
 * gives it out with the next piece or at eof. report_mask_file() is a
 * FILE that masks what is written to it and passes it on to another.
 */
#ifndef GPUCI_REPORT_MASK_H
#define GPUCI_REPORT_MASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/strbuf.h"

struct report_mask;
struct report_mask_stream;

struct report_mask *report_mask_new(void);
void report_mask_free(struct report_mask *m);
void report_mask_add(struct report_mask *m, const char *value);
/* How many values it masks (0: it changes nothing). */
size_t report_mask_count(const struct report_mask *m);

/* Appends s[0..n) to out, masked. m may be NULL (nothing masked). */
void report_mask_apply(const struct report_mask *m, const char *s, size_t n, struct strbuf *out);
/* The same into a new string (free it). */
char *report_mask_dup(const struct report_mask *m, const char *s);

struct report_mask_stream *report_mask_stream_new(const struct report_mask *m);
void report_mask_stream_free(struct report_mask_stream *s);
/* Appends to out what of the text so far can be given out; eof: all of it. */
void report_mask_stream_write(struct report_mask_stream *s, const char *buf, size_t n, bool eof,
                              struct strbuf *out);
/* report_mask_stream_write() as a proc_output filter (arg: the stream). */
void report_mask_filter(void *arg, const char *buf, size_t n, bool eof, struct strbuf *out);

/*
 * A FILE whose writes reach `under` masked (flushed with each write);
 * fclose() gives out what it held back and flushes `under`, which stays
 * open. NULL when the FILE cannot be made.
 */
FILE *report_mask_file(const struct report_mask *m, FILE *under);

/*
 * Under GitHub Actions: `::add-mask::VALUE` for each value (each line of
 * a multi-line one), so that the runner masks them in the job's log too.
 */
void report_gh_add_mask(FILE *f, const struct report_mask *m);

#endif
