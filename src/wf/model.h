/*
 * wf/model: a GitHub Actions workflow file as data.
 *
 * The YAML is loaded once (libyaml, anchors resolved) into a tree of nodes
 * that keep their place in the file, and the parts gpuci reasons about are
 * picked out of it: the events in `on:`, and each job's `if`, `needs`,
 * `runs-on`, `outputs`, `env`, `strategy.matrix`, container image and
 * steps. Values stay as the file spells them; expressions (${{ }}) are
 * evaluated later by the planner, which knows the contexts.
 *
 * Everything lives in the struct wf and dies with wf_free().
 */
#ifndef GPUCI_WF_MODEL_H
#define GPUCI_WF_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"
#include "value/value.h"

enum wf_node_kind { WF_SCALAR, WF_SEQ, WF_MAP };

struct wf_node {
	enum wf_node_kind kind;
	struct srcloc loc;   /* where the node starts */
	bool plain;          /* scalar: unquoted, so `true`, `4` and `null` are typed */
	const char *s;       /* scalar: its text, NUL-terminated */
	size_t len;          /* scalar: bytes; seq: items; map: pairs */
	struct wf_node **kv; /* seq: items; map: key, value, key, value, ... */
};

struct wf_step {
	const char *name; /* name:, or NULL */
	const char *id;   /* id:, or NULL */
	const struct wf_node *node, *run, *if_;
};

struct wf_job {
	const char *id;    /* its key under jobs: */
	struct srcloc loc; /* of that key */
	const struct wf_node *node;
	const struct wf_node *name, *if_, *runs_on, *outputs, *env, *strategy, *matrix, *image;
	size_t nneeds;
	const char **needs;
	const struct wf_node **needs_nodes;
	size_t nsteps;
	struct wf_step *steps;
};

struct wf;

/* Loads a workflow file. Errors name file:line:col. */
int wf_load(const char *path, struct wf **out, struct diag *d);
/* The same from text; name is the file name errors carry (kept, not copied). */
int wf_parse(const char *text, size_t len, const char *name, struct wf **out, struct diag *d);
/*
 * Any YAML file (a tool's settings, say) as placed nodes, read as
 * workflows are: wf_root() is its top node, and it has no jobs.
 */
int wf_parse_yaml(const char *text, size_t len, const char *name, struct wf **out, struct diag *d);
void wf_free(struct wf *w);

const char *wf_name(const struct wf *w); /* the file */
const struct wf_node *wf_root(const struct wf *w);
/* The workflow's own env: mapping, or NULL. */
const struct wf_node *wf_env(const struct wf *w);
/* Whether `on:` lists the event; *config gets its settings node (may be NULL). */
bool wf_on(const struct wf *w, const char *event, const struct wf_node **config);

size_t wf_njobs(const struct wf *w);
/* Jobs in file order. */
const struct wf_job *wf_job_at(const struct wf *w, size_t i);
const struct wf_job *wf_job_find(const struct wf *w, const char *id);
/*
 * Jobs in an order where each comes after the jobs it needs (file order
 * otherwise): n indexes into wf_job_at.
 */
const size_t *wf_job_order(const struct wf *w);

/* A mapping's value for key, or NULL (also when m is no mapping). */
const struct wf_node *wf_get(const struct wf_node *m, const char *key);
/* A scalar's text, or NULL when n is absent or no scalar. */
const char *wf_str(const struct wf_node *n);

/*
 * A node as a value: mappings to dicts (file order), sequences to lists,
 * quoted scalars to strings, plain scalars typed as YAML 1.2's core schema
 * (null ~ true false, ints, floats; everything else a string).
 */
struct value wf_value(const struct wf_node *n, struct arena *a);

/*
 * Expands a matrix (a dict, as GitHub reads strategy.matrix after its
 * expressions are evaluated) into its combinations, GitHub's way: the
 * cartesian product of the list-valued keys in key order (first key
 * outermost), minus each `exclude` that matches (all its keys equal),
 * then each `include` merged into every combination whose original values
 * it does not contradict (added keys may be overwritten, original ones not),
 * or appended as a new combination when it fits none. *entries is a list
 * of dicts. Fails with DIAG_INPUT (place: at) when a key is not a list or
 * include/exclude is not a list of mappings.
 */
int wf_matrix_expand(struct value matrix, struct arena *a, const struct srcloc *at,
                     struct value *entries, struct diag *d);

/*
 * The combinations of a job's matrix as the file spells it, without
 * evaluating expressions (for lint and new-test, which read the registry
 * a workflow writes out): false when the job has no matrix, its matrix is
 * an expression (known only at run time), or it does not expand (plan
 * reports why).
 */
bool wf_job_static_matrix(const struct wf_job *j, struct arena *a, struct value *entries);

#endif
