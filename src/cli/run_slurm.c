/*
 * gpuci run --slurm: what a run on a Slurm cluster needs beyond a local
 * one (run_util.h): its options checked, the cluster asked, each test's
 * sbatch options and time limit, and the dry run's sbatch lines.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "cli/run_util.h"
#include "db/history.h"
#include "run/executor.h"
#include "base/banned.h"

/* Time limits: the test's p90 x LIMIT_FACTOR + LIMIT_MARGIN, else LIMIT_DEFAULT. */
#define LIMIT_FACTOR  1.5
#define LIMIT_MARGIN  300.0
#define LIMIT_DEFAULT 60u /* minutes */

/* The sbatch options gpuci gives each job itself, and why. */
static const struct {
	const char *name;
	char letter;
	const char *why;
} own[] = {
    {"job-name", 'J',
     "the job's name is gpuci's (gpuci.RUN-ID.N.ATTEMPT.TEST: it finds the run's jobs by it)"},
    {"chdir", 'D', "the job runs in the repository's root"},
    {"output", 'o', "the job's output is the test's log"},
    {"error", 'e', "the job's output is the test's log"},
    {"open-mode", 0, "the job's output is the test's log"},
    {"gres", 0, "each job asks for its test's GPUs (--gres=gpu:N from num_gpus)"},
    {"gpus", 'G', "each job asks for its test's GPUs (--gres=gpu:N from num_gpus)"},
    {"gpus-per-node", 0, "each job asks for its test's GPUs (--gres=gpu:N from num_gpus)"},
    {"gpus-per-task", 0, "each job asks for its test's GPUs (--gres=gpu:N from num_gpus)"},
    {"partition", 'p', "give --partition P"},
    {"parsable", 0, "gpuci reads the job id itself"},
    {"wrap", 0, "gpuci writes the job's script"},
    {"test-only", 0, "gpuci submits the jobs"},
    {"export", 0, "the job gets the test's environment (sbatch's --export=ALL)"},
    {"requeue", 0, "a job ends its attempt; --retries runs it again"},
};

int run_slurm_check(struct run_cmd *c)
{
	const struct run_cli_opts *o = c->o;
	if (!o->slurm) {
		if (o->partition || o->slurm_opts.n) {
			diag_set(&c->d, DIAG_USAGE, "%s is for Slurm: give --slurm",
			         o->partition ? "--partition" : "--slurm-opt");
			return cli_usage_error(c->ctx, "run", &c->d);
		}
		return EXIT_OK;
	}
	if (o->docker) {
		diag_set(
		    &c->d, DIAG_USAGE,
		    "--slurm and --docker: one at a time (a Slurm job runs the test on its node "
		    "as it is; a container there is the cluster's own setting)");
		return cli_usage_error(c->ctx, "run", &c->d);
	}
	if (o->gpus_seen) {
		diag_set(&c->d, DIAG_USAGE,
		         "--gpus simulates a machine; with --slurm the cluster's nodes decide");
		return cli_usage_error(c->ctx, "run", &c->d);
	}
	if (o->partition && !*o->partition) {
		diag_set(&c->d, DIAG_USAGE, "--partition needs a partition's name");
		return cli_usage_error(c->ctx, "run", &c->d);
	}
	for (size_t i = 0; i < o->slurm_opts.n; i++) {
		const char *a = o->slurm_opts.items[i];
		for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++) {
			size_t len = strlen(own[k].name);
			bool lng = !strncmp(a, "--", 2) && !strncmp(a + 2, own[k].name, len) &&
			           (a[2 + len] == '\0' || a[2 + len] == '=');
			bool shrt = own[k].letter && a[0] == '-' && a[1] == own[k].letter;
			if (lng || shrt) {
				diag_set(&c->d, DIAG_USAGE, "--slurm-opt '%s': %s", a, own[k].why);
				return cli_usage_error(c->ctx, "run", &c->d);
			}
		}
		if (a[0] != '-') {
			diag_set(
			    &c->d, DIAG_USAGE,
			    "--slurm-opt '%s': one sbatch option a time (--slurm-opt=--qos=ci, or "
			    "--slurm-opt=-q --slurm-opt=ci)",
			    a);
			if (i == 0 || o->slurm_opts.items[i - 1][0] != '-' ||
			    strchr(o->slurm_opts.items[i - 1], '='))
				return cli_usage_error(c->ctx, "run", &c->d);
			diag_release(&c->d);
			diag_init(&c->d);
		}
	}
	return EXIT_OK;
}

/* The options each job gets from the command line: --partition, then the --slurm-opt ones. */
static char **job_opts(struct run_cmd *c)
{
	const struct run_cli_opts *o = c->o;
	char **v = arena_alloc(&c->a, (o->slurm_opts.n + 2) * sizeof(*v));
	size_t k = 0;
	if (o->partition) {
		struct strbuf p = STRBUF_INIT;
		strbuf_addf(&p, "--partition=%s", o->partition);
		v[k++] = arena_strndup(&c->a, p.buf, p.len);
		strbuf_release(&p);
	}
	for (size_t i = 0; i < o->slurm_opts.n; i++)
		v[k++] = (char *)o->slurm_opts.items[i];
	v[k] = NULL;
	return v;
}

int run_slurm_machine(struct run_cmd *c)
{
	const struct run_cli_opts *o = c->o;
	unsigned nodes;
	if (run_exec_slurm_probe(o->partition, &c->total, &nodes, &c->d) < 0) {
		if (c->d.code == DIAG_USAGE)
			return cli_usage_error(c->ctx, "run", &c->d);
		cli_error(c->ctx, "run", &c->d);
		return EXIT_FAILED;
	}
	c->slurm_opts = job_opts(c);
	if (run_exec_slurm_check(c->slurm_opts, &c->d) < 0)
		return cli_usage_error(c->ctx, "run", &c->d);
	snprintf(c->machine, sizeof(c->machine), "Slurm %s%s%s, %u node%s of up to %u GPU%s",
	         o->partition ? "partition " : "", o->partition ? o->partition : "",
	         o->partition ? "" : "(its default partition)", nodes, nodes == 1 ? "" : "s",
	         c->total, c->total == 1 ? "" : "s");
	c->cpu = 1;
	return EXIT_OK;
}

/* Minutes, rounded up, at least 1. */
static unsigned minutes(double secs)
{
	double m = ceil(secs / 60.0);
	return m < 1 ? 1 : m > 1e6 ? 1000000u : (unsigned)m;
}

void run_slurm_limits(struct run_cmd *c)
{
	const struct run_cli_opts *o = c->o;
	/* gpuci's own --timeout comes first: Slurm's limit is a minute after it. */
	unsigned cap = o->timeout > 0 ? minutes(o->timeout) + 1 : 0;
	for (size_t i = 0; i < c->prep.n; i++) {
		struct run_test *t = &c->prep.tests[i];
		double p90 = 0;
		bool found = false;
		if (c->hist && history_p90(c->hist, t->identity, t->test_file, t->test_args, &p90,
		                           &found, &c->d) < 0) {
			diag_release(&c->d);
			diag_init(&c->d);
			found = false;
		}
		unsigned m = found ? minutes(p90 * LIMIT_FACTOR + LIMIT_MARGIN) : LIMIT_DEFAULT;
		if (cap && (m > cap || !found))
			m = cap;
		t->time_limit = m;
		t->slurm_opts = c->slurm_opts;
	}
}

void run_slurm_dry_run(struct run_cmd *c, size_t i)
{
	const struct run_test *t = &c->prep.tests[i];
	if (!t->argv)
		return;
	struct strbuf s = STRBUF_INIT;
	run_exec_slurm_describe(t, i, "RUN-ID", c->root, ".gpuci/runs/RUN-ID", &s);
	for (char *line = s.buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		fprintf(c->ctx->out, "      %s\n", line);
	}
	strbuf_release(&s);
}
