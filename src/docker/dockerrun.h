/*
 * dockerrun: the `docker run ... IMAGE CMD` of a workflow's Execute step,
 * read as the docker executor needs it (issue 14): the image, the options
 * to keep and to drop, each with its place, and the setup commands of the
 * inner `bash -lc '...'` script that come before the test.
 *
 * The script is given as the workflow holds it, GitHub expressions `${{ }}`
 * left in place (gpuci knows the matrix values but sets the test's own
 * variables itself): a word that holds one is flagged DR_GHA, one that holds
 * a shell expansion ($GITHUB_WORKSPACE) DR_EXPAND; their text is as written,
 * for the executor to substitute what it knows or refuse. An image that is
 * either is refused (only known at run time). A caller that substituted the
 * expressions first gets the same result without the flags.
 *
 * Options are docker 20.10's `docker run --help` list: an option that takes
 * a value takes it (inline or the next word), so a value is never taken for
 * the image; an option not in that list is refused.
 */
#ifndef GPUCI_DOCKER_DOCKERRUN_H
#define GPUCI_DOCKER_DOCKERRUN_H

#include <stddef.h>

#include "base/diag.h"
#include "base/shwords.h"
#include "base/strbuf.h"

enum dr_flag {
	DR_EXPAND = 1 << 0, /* the value holds a shell expansion ($X, $(...)) */
	DR_GHA = 1 << 1,    /* the value holds a GitHub expression */
	DR_MATRIX = 1 << 2  /* an -e NAME=VALUE whose value is ${{ matrix... }}: gpuci sets it */
};

struct dr_opt {
	const char *name;     /* the long name: "--volume", "--privileged" */
	const char *value;    /* NULL for a flag without one */
	const char *env_name; /* --env: the variable's name; else NULL */
	const char *why;      /* dropped: the reason; kept: NULL */
	unsigned line, col;   /* where the option is in the script */
	unsigned flags;       /* enum dr_flag */
};

struct dr_setup {
	const char *text; /* the command as written in the inner script */
	unsigned line, col;
};

struct dockerrun {
	const char *image;
	unsigned line, col; /* of the `docker` word */
	unsigned image_line, image_col;
	struct dr_opt *keep, *drop; /* in the order written */
	size_t nkeep, ndrop;
	const struct sh_word *cmd; /* the words after the image */
	size_t ncmd;
	/*
	 * When cmd is `SHELL [opts] -c SCRIPT` (bash, sh, dash; -c, -lc,
	 * -euc, ...): the script, placed where its first byte is.
	 */
	const char *inner;
	unsigned inner_line, inner_col;
	/*
	 * The inner script's commands before the test, to run before it: each
	 * top-level command before the first that is nested (if, while, ...)
	 * or runs python, python3, pytest, torchrun or gpu_lock_exec, less
	 * `set` lines and bare assignments (they serve the test line that
	 * gpuci writes itself).
	 */
	struct dr_setup *setup;
	size_t nsetup;
	const char *test; /* that first test command, or NULL */
	unsigned test_line, test_col;

	struct sh_script *outer_, *inner_; /* owned */
	struct arena arena_;
};

/*
 * Finds the one `docker run` (or `docker container run`) command of the
 * step script text[0..len), placed in name at line:col (the first byte of
 * the run: block), and reads it. Refuses, with DIAG_INPUT, the place and the
 * reason: a script that does not parse, no docker run, several, an option
 * docker does not know or without its value, no image, an image that is an
 * expression.
 */
int dockerrun_read(const char *text, size_t len, const char *name, unsigned line, unsigned col,
                   struct dockerrun **out, struct diag *d);
void dockerrun_free(struct dockerrun *dr);

/*
 * Reads docker run options given one argument each (gpuci run
 * --docker-opt ARG, name "--docker-opt"), as dockerrun_read reads those of
 * a step: the kept ones in (*out)->keep, their col the argument's number.
 * Refuses with DIAG_USAGE ("--docker-opt 'ARG': why"): an option docker
 * does not know or without its value, a word that is not an option, one
 * gpuci gives itself (--gpus, --rm, --name: the reason), a $ expansion.
 */
int dockerrun_read_opts(const char *const *args, size_t n, const char *name, struct dockerrun **out,
                        struct diag *d);

/*
 * Appends the value of --gpus for these device indices, "device=0,1",
 * double quotes included: docker's CLI reads the value as CSV, so without
 * them it splits at the comma and asks for device 0 only. Appends nothing
 * when n is 0 (no --gpus at all then).
 */
void dockerrun_gpus_arg(const unsigned *gpus, size_t n, struct strbuf *out);

#endif
