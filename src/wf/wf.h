/*
 * wf: workflow files, the only user of libyaml. For now: checking that a
 * text parses as YAML, with the place of the first error.
 */
#ifndef GPUCI_WF_WF_H
#define GPUCI_WF_WF_H

#include <stddef.h>

#include "base/diag.h"

/*
 * Parses text[0..len) as a YAML stream. Fails with DIAG_INPUT, the place
 * (name, line and column counted from 1) and libyaml's problem.
 */
int wf_check_yaml(const char *text, size_t len, const char *name, struct diag *d);

#endif
