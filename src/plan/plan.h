/*
 * plan: which jobs of a workflow run for an event, with which matrix
 * entries, decided the way GitHub decides it: the `github` context built
 * for the event (PR labels, event name, inputs), each job's `if:` evaluated
 * in `needs` order (a job whose needed job is skipped is skipped unless its
 * `if` calls a status function such as always()), matrices expanded.
 *
 * What only a run can tell (another job's outputs) stays unknown: a job
 * whose `if` or matrix needs it is PLAN_UNKNOWN with the reason. With
 * `changed` set, the outputs of a change-detection job (one with a step
 * that runs `gpuci changed`, or the older grep for NUM_GPUS) are computed
 * in-process by vcs/changed.h.
 */
#ifndef GPUCI_PLAN_PLAN_H
#define GPUCI_PLAN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/diag.h"
#include "value/value.h"
#include "vcs/changed.h"
#include "wf/model.h"

struct plan_opts {
	const char *event; /* NULL: pull_request */
	const char *const *labels;
	size_t nlabels;
	/*
	 * A pull_request's github.event.action: NULL is "labeled" when added
	 * is set, else "synchronize" (a push to a PR carrying the labels).
	 * added: the label a labeled event adds (github.event.label.name); it
	 * is one of labels (plan adds it when missing).
	 */
	const char *action;
	const char *added;
	/* Mark the jobs a pull_request without labels runs too (plan_job.always). */
	bool mark_always;
	const char *run_id;        /* github.run_id; NULL: "1" (tell runs apart when comparing) */
	const char *const *inputs; /* "KEY=VALUE" for workflow_dispatch */
	size_t ninputs;
	bool changed;                     /* compute change-detection outputs */
	struct changed_opts changed_opts; /* for that; overrides what the step says */
};

enum plan_state { PLAN_RUNS, PLAN_SKIPPED, PLAN_UNKNOWN };

struct plan_job {
	const struct wf_job *job;
	enum plan_state state;
	const char *why;   /* skipped or unknown: the reason, one line */
	bool has_matrix;   /* the job has strategy.matrix */
	bool matrix_known; /* its entries are known (else why says what they need) */
	size_t nentries;
	struct value *entries; /* the matrix combinations, dicts in the workflow's key order */
	int64_t gpus;          /* over all entries (plan_entry_gpus) */
	const char *runs_on;   /* runs-on as text ("a, b" for a list) */
	bool always;           /* with mark_always: runs on a PR of no labels too */
	struct value ctx;      /* the contexts its expressions see (no matrix, env, secrets) */
};

struct plan {
	struct arena arena;
	const char *event;
	bool triggered; /* the workflow's `on:` lists the event */
	size_t njobs;
	struct plan_job *jobs; /* file order */
	bool changed_tried;    /* change detection was asked for (it may have failed) */
	bool changed_done;     /* change detection ran (opts.changed and a job asked) */
	struct changed_result changed;
};

/*
 * Fills p (release with plan_release, also after a failure). Fails with
 * DIAG_INPUT at the value's place (else the matrix's) for an entry whose
 * num_gpus is not a whole number from 0 to PLAN_MAX_GPUS.
 */
int plan_make(const struct wf *w, const struct plan_opts *o, struct plan *p, struct diag *d);
void plan_release(struct plan *p);

/*
 * The GPUs a matrix entry asks for: its `num_gpus`, or that of a mapping
 * one level down (vime's `matrix.info.num_gpus`); 0 when it names none.
 */
int64_t plan_entry_gpus(struct value entry);

/* The most GPUs an entry may ask for, where no machine is known. */
#define PLAN_MAX_GPUS 4096

/*
 * Whether an entry's num_gpus (plan_entry_fields) is absent or a whole
 * number from 0 to max: an int, or a string of digits (the Execute script
 * reads '4' as 4). Otherwise false, with the value in *bad: -1, 1.5, true,
 * 1e30, [1] or null would run as 0 GPUs, with no lease and every GPU
 * visible. plan_make() refuses such an entry (max PLAN_MAX_GPUS).
 */
bool plan_entry_gpus_valid(struct value entry, int64_t max, struct value *bad);

/* The mapping of an entry that holds key: the entry, or a mapping one level down. */
struct value plan_entry_fields(struct value entry, const char *key);

/*
 * The file an entry's test_file names, as the Execute step runs it:
 * tests/<f>, or f itself when it starts with tests/. Appends it to out;
 * false (and why in why) for an empty or absolute path, or one with a ".."
 * part: a path that would leave the repository.
 */
bool plan_test_path(const char *test_file, struct strbuf *out, struct strbuf *why);

/*
 * Why gpuci run does not run a job that runs: "no matrix" (a job of one
 * script, such as a pytest of a whole folder), "no test_file in its
 * matrix"; NULL when it runs its entries (or its matrix is not known yet).
 */
const char *plan_job_not_run(const struct plan_job *pj);

/*
 * The change detection a detect job's step asks for, read off its script
 * (the patterns of its `gpuci changed` or old `git diff` line, the defaults
 * when it names none, and whether they have git's meaning): false when the
 * job detects nothing. Strings live in a.
 */
bool plan_job_detect_opts(const struct wf_job *j, struct arena *a, struct changed_opts *o);

/* Whether a job detects changed tests (a step runs `gpuci changed`, or the old grep). */
bool plan_job_detects(const struct wf_job *j);

/*
 * A short description of an entry: "test_file test_args" when it has a
 * test_file (top level or one down), else its compact JSON.
 */
void plan_entry_describe(struct value entry, struct strbuf *out);

/* Compact JSON with keys in their order (not sorted), for matrix entries. */
void plan_json(struct value v, struct strbuf *out);

/*
 * An entry's identity: the whole entry (test_file, test_args and every
 * other key, at every level), so that two entries are the same test exactly
 * when their identities are equal. Appends canonical JSON: keys sorted,
 * test_file written as the path the Execute step runs (plan_test_path), so
 * "test_x.py" and "tests/test_x.py" are one test. History keys durations by
 * it; lint's duplicate-entry compares it.
 */
void plan_entry_identity(struct value entry, struct strbuf *out);

/*
 * What tells apart entries that share a description (plan_entry_describe:
 * test_file and test_args), such as one test file registered twice with
 * other use_deepep/use_fp8_rollout keys that reach the test through the
 * job's env. For each of entries[0..n) that shares its description with
 * another, suffix[i] is "[k=v k=v]" with the keys whose values differ in
 * that group ("[k=v; without k2]" for keys it lacks that others have;
 * "[#2]" for an exact copy); NULL for the others. Strings live in a.
 */
void plan_entry_variants(const struct value *entries, size_t n, struct arena *a,
                         const char **suffix);

#endif

/*
 * The label catalogue of a workflow: for each PR label, the jobs a
 * pull_request carrying only that label runs (or may run) and one without
 * labels does not; and the jobs every pull_request runs. Labels are found
 * by evaluation: each string literal of a job's `if:` is tried as a label.
 */
struct plan_label {
	const char *label;
	size_t njobs;
	const struct plan_job **jobs; /* in file order */
};

struct plan_catalogue {
	struct arena arena;
	size_t nlabels;
	struct plan_label *labels; /* in the order their first job appears */
	size_t nalways;
	const struct plan_job **always; /* run on every pull_request */
	struct plan base;               /* pull_request without labels */
	size_t nplans;
	struct plan *plans; /* one per label; the jobs point into them */
};

int plan_catalogue(const struct wf *w, struct plan_catalogue *c, struct diag *d);

/*
 * Whether the label is a string literal of the job's own `if:`: the job
 * is gated by it, not only reached through a job it needs.
 */
bool plan_label_gates(const struct wf_job *j, const char *label);
void plan_catalogue_release(struct plan_catalogue *c);
