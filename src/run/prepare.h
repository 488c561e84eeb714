/*
 * run/prepare: the tests of a suite, from a plan (plan/plan.h) and what
 * the user selected, ready for run_suite() (run/run.h).
 *
 * For each matrix entry with a test_file of every selected job that runs,
 * one struct run_test:
 *   - argv: PYTHON tests/<test_file> <test_args split on blanks> (bash's
 *     read -r -a: no quotes), the path checked by plan_test_path() and
 *     refused when a symlink leads out of the repository;
 *   - env: the base environment, then the workflow's and the job's env:
 *     evaluated for that entry (matrix, secrets: only those named, read
 *     from the base environment), a job variable replacing an inherited
 *     one of the same name;
 *   - identity (plan_entry_identity), variant (plan_entry_variants),
 *     display, GPUs (plan_entry_gpus);
 *   - with docker set, the image and options from the first of: docker
 *     an image (no options); docker = "job" and the job has a container:
 *     its image and options without --gpus; the job's Execute step (below).
 *     Then each docker_opts (checked by dockerrun_read_opts()), a mount of
 *     lock_dir unless it is visible already (mounted there, or /dev/shm and
 *     --ipc=host), and the names of the job env, for the docker executor
 *     (run/executor.h). Each option's origin is in docker_opts_from;
 *   - docker = "job" and the job has no container: the image, the options
 *     and the setup commands of the job's Execute step (the one step whose
 *     run: holds `docker run`), read by dockerrun_read(): its dropped
 *     options left out, $GITHUB_WORKSPACE as the root, the -e of matrix
 *     values left to gpuci (it writes the test line itself), its mount and
 *     -w of the workspace left to the executor; another expansion or GitHub
 *     expression in a value refuses the test with its file:line:col. Each
 *     option's and the image's place is in docker_opts_from and
 *     docker_image_from, for --dry-run;
 *   - docker_setup given: that one command ("" none) instead.
 * An entry that cannot run (a bad path, --docker job with no image) is
 * kept with status REPORT_NOT_RUNNABLE, argv NULL and a message saying
 * why, so reports list it. A job that runs but gpuci run cannot run (its
 * matrix unknown) is a line of not_run.
 */
#ifndef GPUCI_RUN_PREPARE_H
#define GPUCI_RUN_PREPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/strbuf.h"
#include "run/run.h"

/*
 * Declared, not included: plan/plan.h declares its catalogue after its
 * include guard, so a second inclusion does not compile.
 */
struct plan;
struct wf;

struct run_prepare_opts {
	const char *root; /* the repository root (a real path): the tests' cwd */
	/* --job NAME: only these (none: every job). */
	const char *const *jobs;
	size_t njobs;
	/* --test GLOB: only entries whose test_file matches, with or without tests/. */
	const char *const *tests;
	size_t ntests;
	/* --changed: only the jobs that take the tests of a change-detection job. */
	bool changed;
	const char *python; /* the interpreter; NULL: run_find_python() */
	const char *docker; /* an image, "job" (the job's), or NULL: no docker */
	/* --docker-setup CMD: the one setup command ("": none); NULL: the default. */
	const char *docker_setup;
	/* --docker-opt ARG: docker run options, one argument each, after the job's. */
	const char *const *docker_opts;
	size_t ndocker_opts;
	/* The lock files' folder (run_record_dir()): made visible in containers; NULL: not. */
	const char *lock_dir;
	/* --secret NAME: their values (from env) are the secrets context. */
	const char *const *secrets;
	size_t nsecrets;
	/* The environment the tests inherit and secrets come from; NULL: environ. */
	char *const *env;
};

struct run_prepared {
	struct run_test *tests; /* free with run_prepared_release */
	size_t n;
	/* "  JOB  not run by gpuci run: WHY\n" for each job that runs but cannot here. */
	struct strbuf not_run;
	/* Internal: what the tests' strings live in. */
	struct arena arena;
	struct strbuf envs;
};

/*
 * Fills out (release with run_prepared_release, also after a failure).
 * Fails only when a job's env cannot be evaluated (DIAG_INPUT at its
 * place); refused entries are tests that say why, as above.
 */
int run_prepare(struct run_prepared *out, const struct wf *w, const struct plan *p,
                const struct run_prepare_opts *o, struct diag *d);
void run_prepared_release(struct run_prepared *pr);

/* "python" when PATH (a colon list; NULL: none) has an executable python, else "python3". */
const char *run_find_python(const char *path);

/*
 * The real path of a changed test whose test_file the JSON matrix shows
 * with U+FFFD; NULL when it is not one (*ambiguous: more than one reads so).
 */
const char *run_changed_real_path(const struct plan *p, const char *test_file, bool *ambiguous);

#endif
