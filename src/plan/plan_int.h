/* plan_int.h: what the files of plan/ share. Not for other modules. */
#ifndef GPUCI_PLAN_PLAN_INT_H
#define GPUCI_PLAN_PLAN_INT_H

#include <string.h>

#include "plan/plan.h"

/* ---- small value helpers ----------------------------------------------- */

static inline struct value str_of(struct arena *a, const char *s)
{
	return value_str(a, s, strlen(s));
}

static inline void put(struct arena *a, struct value dict, const char *key, struct value v)
{
	vdict_set(a, dict.dict, value_str_static(key), v);
}

static inline struct value *get(struct value dict, const char *key)
{
	return dict.kind == V_DICT ? vdict_get(dict.dict, value_str_static(key)) : NULL;
}

/* The contexts every job-level expression sees, for the event of o (context.c). */
int plan__contexts(const struct wf *w, const struct plan_opts *o, struct arena *a,
                   struct value *out, struct diag *d);

#endif
