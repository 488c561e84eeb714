/*
 * gpuci run: a label's suite (or the changed tests, or everything) on this
 * machine, exactly as CI runs it, packed onto its GPUs.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run_shard.h"
#include "cli/run_util.h"
#include "cli/run_view.h"
#include "db/history.h"
#include "lease/lease.h"
#include "report/mask.h"
#include "report/report.h"
#include "run/executor.h"
#include "run/recover.h"
#include "run/run.h"
#include "base/xalloc.h"
#include "gpu/gpu.h"
#include "base/banned.h"

extern char **environ;

#define DEFAULT_WORKFLOW ".github/workflows/pr-test.yml"

static const char run_usage[] =
    "usage: gpuci run (--label L... | --changed | --all | --job NAME...) [--test GLOB]...\n"
    "                 [--gpus N] [--cpu-jobs N] [--timeout S] [--retries K [--retry-on RE]]\n"
    "                 [--docker IMAGE | --slurm [--partition P]] [--shard K/N[@DIGEST]]\n"
    "                 [--junit FILE] [--history PATH] [--dry-run] [options]\n";

static const char run_description[] =
    "Runs the tests a workflow would run, on this machine, as its Execute step\n"
    "runs them: for each matrix entry with a test_file, `python tests/<test_file>\n"
    "<test_args>` (no tests/ added when the path has it; test_args split on\n"
    "whitespace, no quotes), from the repository root, with the job's env:\n"
    "evaluated for that entry (secrets empty unless --secret NAME passes one on),\n"
    "under a lease of num_gpus GPUs (the protocol of gpuci lock: runners and\n"
    "gpuci lock users on the machine are served fairly), CUDA_VISIBLE_DEVICES\n"
    "naming them and CUDA_DEVICE_ORDER=PCI_BUS_ID, as gpuci lock sets them.\n"
    "num_gpus 0 runs without a lease, with CUDA_VISIBLE_DEVICES set and empty\n"
    "(it sees no GPU). While a test waits for GPUs someone else holds, a WAIT\n"
    "line says who (pid, command, for how long). Won GPUs must be idle (NVML, as\n"
    "in gpuci lock): a busy one gets a BUSY line naming the pids and is waited for\n"
    "up to --wait-idle S; still busy, the test fails (--busy=fail) or runs with a\n"
    "warning (--busy=warn). --wait-idle 0, or no NVML: no check.\n"
    "\n"
    "Selection: --label L (the jobs a pull request with these labels runs, the\n"
    "always-on ones too unless --no-always), --changed (the changed-tests job,\n"
    "from git), --all (a workflow_dispatch), --job NAME; --test GLOB narrows.\n"
    "\n"
    "Scheduling: as many tests at once as the GPUs allow (CPU-only tests up to\n"
    "--cpu-jobs), longest expected first, expected = the median of the test's\n"
    "past durations in the history; a wide test that waits gets GPUs reserved.\n"
    "--gpus N simulates a machine of N GPUs (GPUCI_TOTAL_GPUS gives the count\n"
    "only where NVML and /proc/driver/nvidia/gpus find no GPU).\n"
    "\n"
    "Shards: --shard K/N runs shard K of N, a part of the selection for one of N\n"
    "machines (N GitHub runner hosts, one matrix job each). The N parts are cut\n"
    "so that each takes about as long on its machine (the makespan predicted by\n"
    "the scheduler on this machine's GPUs, from the history's durations); every\n"
    "test is in exactly one, a test wider than the machine in shard 1 (reported\n"
    "as not runnable). gpuci plan --shards N --gpus G --json writes them as a\n"
    "GitHub matrix of K/N@DIGEST values: the digest names the split, and a shard\n"
    "job whose split differs (another history, another G) fails before running\n"
    "anything, saying what differs. Every job of one workflow run must read the\n"
    "same history: restore exactly the plan job's cache key in each shard job,\n"
    "merge the shards' histories after with gpuci history --import (see\n"
    "gpuci-run(1), Shards).\n"
    "\n"
    "Each test's output goes to .gpuci/runs/RUN-ID/N-TEST.log (or --log-dir DIR;\n"
    "a log that cannot be written is reported, the test's result kept); a\n"
    "summary table ends the run; results go to the history (.gpuci/history.db,\n"
    "see gpuci history), to --junit FILE (checked before anything runs), to the\n"
    "run's report RUN-DIR/report.html (the GPU timeline: see gpuci report; its\n"
    "path is the run's last line), and to $GITHUB_STEP_SUMMARY when set (with\n"
    "the timeline as a Mermaid gantt). --secret values are masked (***) in all of\n"
    "them and in what gpuci prints (::add-mask:: first under GitHub Actions).\n"
    "A test owns every process it starts, double-forked or setsid() ones too:\n"
    "when it exits, what it left behind gets SIGTERM, then SIGKILL after\n"
    "--kill-after S, its result line says how many, and its GPUs go back only\n"
    "then. --timeout S ends a test the same way after S seconds; --retries K reruns\n"
    "a failure (only when its log matches --retry-on RE); a pass after a failure\n"
    "is flaky. Ctrl-C stops everything, kills every test and frees every GPU.\n"
    "A run killed with its keepers (SIGKILL) leaves its tests running: the next\n"
    "run on the same lock files ends them first and says which.\n"
    "\n"
    "Docker: --docker job runs each test in its job's image, as its Execute\n"
    "step's `docker run ... IMAGE bash -lc '...'` does (read with a shell-words\n"
    "parser: its mounts, --ipc, --shm-size, --ulimit, -e and other options kept;\n"
    "--gpus all, --rm, --name, --pull and the -e of matrix values left to gpuci;\n"
    "the inner script's commands before the test are the setup), or with the\n"
    "job's container: image and options; --docker IMAGE names one, with no\n"
    "options of the job's. --docker-opt ARG adds a docker argument, --docker-setup\n"
    "CMD replaces the setup ('': none). Each test gets --gpus \"device=IDS\" (its\n"
    "lease only), CUDA_VISIBLE_DEVICES=0..N-1 inside (the runtime renumbers;\n"
    "GPUCI_GPUS keeps the host's numbers), --init, the lock files' folder (so\n"
    "gpuci lock inside and gpuci outside exclude each other), and a label of the\n"
    "run: every container of the run is removed when it ends, however it ends;\n"
    "a killed client's before its GPUs go back; a crashed run's by the next run.\n"
    "--dry-run shows the image, options and setup, and the line each came from.\n"
    "\n"
    "Slurm: --slurm submits each test as a batch job instead (sbatch, from a login\n"
    "node; the repository on a file system the nodes share): --gres=gpu:N from\n"
    "num_gpus, --time from the history (its p90 x 1.5 + 5 min, 60 min without\n"
    "one, at most --timeout + 1 min), named gpuci.RUN-ID.N.ATTEMPT.TEST, in the\n"
    "repository's root with the test's environment, its output in the test's\n"
    "log; all submitted at once in gpuci's order, so Slurm's backfill places\n"
    "them. --partition P picks the partition, --slurm-opt ARG adds an sbatch\n"
    "argument (checked with sbatch --test-only before anything is submitted). A\n"
    "waiting test says why (Resources, Priority); timeouts, retries and reports\n"
    "are as for a local run; Ctrl-C, --timeout and SIGTERM cancel the run's jobs,\n"
    "and the next run cancels those of a run that was killed. --dry-run prints\n"
    "each sbatch line.\n"
    "\n"
    "Exit status: 0 every test passed (flaky ones too); 1 a test failed or could\n"
    "not run; 2 usage; 130/143 stopped by SIGINT/SIGTERM.\n"
    "\n"
    "Examples:\n"
    "  gpuci run --label run-ci-short --dry-run\n"
    "  gpuci run --label run-ci-short --gpus 8\n"
    "  gpuci run --changed --base main\n"
    "  gpuci run --all --test 'test_qwen*' --retries 1 --retry-on 'accuracy noise'\n"
    "  gpuci run --label run-ci-short --docker job --dry-run\n"
    "  gpuci run --label run-ci-image --shard 2/4 --dry-run\n"
    "  gpuci run --label run-ci-image --shard \"$SHARD\" --junit junit.xml  # SHARD=2/4@3fa2c1d0\n"
    "  gpuci run --job e2e-test-ckpt --docker job --docker-opt --shm-size=32g\n"
    "  gpuci run --label run-ci-image --slurm --partition gpu --slurm-opt=--qos=ci\n";

int cmd_run(int argc, char **argv, struct gpuci_ctx *ctx)
{
	struct run_cli_opts o = {.workflow = DEFAULT_WORKFLOW,
	                         .pattern = LEASE_DEFAULT_PATTERN,
	                         .kill_after = 10,
	                         .keep_days = HISTORY_KEEP_DAYS_DEFAULT,
	                         .wait_idle = LEASE_DEFAULT_WAIT_IDLE,
	                         .idle_mem = LEASE_DEFAULT_IDLE_MIB,
	                         .busy = "fail"};
	const struct cli_option opts[] = {
	    {"workflow", 'w', CLI_OPT_STRING, &o.workflow, "FILE",
	     "the workflow (default " DEFAULT_WORKFLOW ")", NULL},
	    {"label", 'l', CLI_OPT_LIST, &o.labels, "L",
	     "run what a PR with label L runs (repeatable)", NULL},
	    {"no-always", 0, CLI_OPT_FLAG, &o.no_always, NULL, "leave the always-on jobs out",
	     NULL},
	    {"changed", 0, CLI_OPT_FLAG, &o.changed, NULL,
	     "run the tests this branch adds or changes", NULL},
	    {"base", 0, CLI_OPT_STRING, &o.base, "REV", "with --changed: the base (origin/main)",
	     NULL},
	    {"head", 0, CLI_OPT_STRING, &o.head, "REV", "with --changed: the head (HEAD)", NULL},
	    {"all", 0, CLI_OPT_FLAG, &o.all, NULL, "run every job (a workflow_dispatch)", NULL},
	    {"job", 'j', CLI_OPT_LIST, &o.jobs, "NAME", "only this job (repeatable)", NULL},
	    {"test", 't', CLI_OPT_LIST, &o.tests, "GLOB", "only matching test files (repeatable)",
	     NULL},
	    {"shard", 0, CLI_OPT_STRING, &o.shard, "K/N[@DIGEST]",
	     "only shard K of N (gpuci plan --shards); fails if DIGEST differs", NULL},
	    {"dry-run", 'n', CLI_OPT_FLAG, &o.dry_run, NULL, "print what would run, run nothing",
	     NULL},
	    {"gpus", 0, CLI_OPT_UINT, &o.gpus, "N", "simulate a machine of N GPUs", &o.gpus_seen},
	    {"cpu-jobs", 0, CLI_OPT_UINT, &o.cpu_jobs, "N", "CPU-only tests at once (cores)",
	     &o.cpu_seen},
	    {"timeout", 0, CLI_OPT_SECS, &o.timeout, "S", "kill a test after S seconds", NULL},
	    {"retries", 0, CLI_OPT_UINT, &o.retries, "K", "rerun a failed test up to K times",
	     NULL},
	    {"retry-on", 0, CLI_OPT_STRING, &o.retry_on, "RE",
	     "retry only failures whose log matches RE", NULL},
	    {"kill-after", 0, CLI_OPT_SECS, &o.kill_after, "S",
	     "SIGTERM to SIGKILL for a test's leftovers (10)", NULL},
	    {"python", 0, CLI_OPT_STRING, &o.python, "PATH",
	     "the interpreter (python, else python3)", NULL},
	    {"secret", 0, CLI_OPT_LIST, &o.secrets, "NAME", "pass this secret from the environment",
	     NULL},
	    {"docker", 0, CLI_OPT_STRING, &o.docker, "IMAGE",
	     "run each test in IMAGE (job: the job's container or Execute step's)", NULL},
	    {"docker-opt", 0, CLI_OPT_LIST, &o.docker_opts, "ARG",
	     "one more docker run argument (repeatable)", NULL},
	    {"docker-setup", 0, CLI_OPT_STRING, &o.docker_setup, "CMD",
	     "run CMD in the container before the test ('': nothing)", NULL},
	    {"slurm", 0, CLI_OPT_FLAG, &o.slurm, NULL, "run each test as a Slurm batch job", NULL},
	    {"partition", 0, CLI_OPT_STRING, &o.partition, "P",
	     "with --slurm: the partition (the cluster's default)", NULL},
	    {"slurm-opt", 0, CLI_OPT_LIST, &o.slurm_opts, "ARG",
	     "with --slurm: one more sbatch argument (repeatable)", NULL},
	    {"junit", 0, CLI_OPT_STRING, &o.junit, "FILE", "write JUnit XML", NULL},
	    {"log-dir", 0, CLI_OPT_STRING, &o.log_dir, "DIR",
	     "the tests' logs go here (.gpuci/runs/RUN-ID)", NULL},
	    {"history", 0, CLI_OPT_STRING, &o.history, "PATH",
	     "the history database (.gpuci/history.db)", NULL},
	    {"history-keep-days", 0, CLI_OPT_UINT, &o.keep_days, "N",
	     "prune attempts older than N days now and then (90; 0 keeps all)", NULL},
	    {"wait-idle", 0, CLI_OPT_SECS, &o.wait_idle, "S",
	     "wait up to S seconds for a test's GPUs to be idle (NVML), 0: no check (default 120)",
	     NULL},
	    {"idle-mem", 0, CLI_OPT_UINT, &o.idle_mem, "MIB",
	     "a GPU with more MiB used is busy, as one with any process (default 256)", NULL},
	    {"busy", 0, CLI_OPT_STRING, &o.busy, "fail|warn",
	     "still busy after --wait-idle: the test fails, or runs with a warning (default fail)",
	     NULL},
	    {"lock-path-pattern", 0, CLI_OPT_STRING, &o.pattern, "P",
	     "lock files, {gpu_id} replaced (default " LEASE_DEFAULT_PATTERN ")", NULL},
	    {0},
	};
	struct run_cmd c = {
	    .ctx = ctx,
	    .o = &o,
	    .d = DIAG_INIT,
	    .a = ARENA_INIT,
	    .prep = {.not_run = STRBUF_INIT, .arena = ARENA_INIT, .envs = STRBUF_INIT}};
	int rest, rc = EXIT_OK;
	bool help;
	struct report_mask *mask = report_mask_new();
	struct run_record *record = NULL;
	struct run_shard_state shard = {0};
	struct gpuci_ctx mctx;
	FILE *tty_out = ctx->out, *masked_out = NULL, *masked_err = NULL;
	c.mask = mask;

	if (cli_parse(argc, argv, opts, false, &rest, &help, &c.d) < 0) {
		rc = cli_usage_error(ctx, "run", &c.d);
		goto out;
	}
	if (help) {
		fprintf(ctx->out, "%s\n%s\nOptions:\n", run_usage, run_description);
		cli_print_options(ctx->out, opts);
		goto out;
	}
	/*
	 * Secrets first: under GitHub Actions the runner learns them before
	 * anything else is printed, and all gpuci writes from here is masked.
	 */
	for (size_t i = 0; i < o.secrets.n; i++)
		report_mask_add(mask, getenv(o.secrets.items[i]));
	if (report_mask_count(mask)) {
		if (report_in_github_actions())
			report_gh_add_mask(ctx->out, mask);
		masked_out = report_mask_file(mask, ctx->out);
		masked_err = report_mask_file(mask, ctx->err);
		mctx = *ctx;
		if (masked_out)
			mctx.out = masked_out;
		if (masked_err)
			mctx.err = masked_err;
		ctx = &mctx;
	}
	c.ctx = ctx;
	if ((rc = run_cmd_check(&c)) || (rc = run_cmd_shard_check(&c, &shard)))
		goto out;
	if ((rc = run_cmd_select(&c)) || (rc = run_cmd_machine(&c)) ||
	    (rc = run_cmd_shard(&c, &shard)))
		goto out;
	if (o.dry_run) {
		run_cmd_shard_say(&c, &shard);
		run_cmd_dry_run(&c);
		goto out;
	}

	/* Run. */
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	snprintf(c.run_id, sizeof(c.run_id), "%04d%02d%02d-%02d%02d%02d-%d", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)getpid());
	if ((rc = run_cmd_outputs(&c)))
		goto out;
	struct run_view *view = run_view_new(report_in_github_actions() ? RUN_STYLE_GITHUB
	                                     : isatty(fileno(tty_out))  ? RUN_STYLE_TTY
	                                                                : RUN_STYLE_LINES,
	                                     ctx->out);
	struct run_listener listener = {.c = &c, .view = view};
	struct run_opts ro = {
	    .cwd = c.root,
	    .log_dir = c.log_dir,
	    .total_gpus = c.total,
	    .cpu_jobs = c.cpu ? c.cpu : 1,
	    .lock_pattern = o.pattern,
	    .timeout = o.timeout,
	    .retries = o.retries,
	    .retry_on = o.retry_on,
	    .kill_after = o.kill_after,
	    .run_id = c.run_id,
	    .mask = mask,
	    .executor = o.slurm    ? &run_exec_slurm
	                : o.docker ? &run_exec_docker
	                           : &run_exec_local,
	    .on_event = run_cmd_on_event,
	    .arg = &listener,
	    .idle_every = run_view_idle_every(view),
	    .nvml = cli_open_nvml("run", o.wait_idle, ctx),
	    .wait_idle = o.wait_idle,
	    .idle_bytes = (unsigned long long)o.idle_mem * 1024 * 1024,
	    .busy_warn = !strcmp(o.busy, "warn"),
	};
	/* Refused entries are not handed to the runner. */
	size_t nt = c.prep.n, nr = 0;
	struct run_test *tests = c.prep.tests, *runnable = xcalloc(nt, sizeof(*runnable));
	size_t *map = xcalloc(nt, sizeof(*map));
	for (size_t i = 0; i < nt; i++)
		if (tests[i].argv) {
			map[nr] = i;
			runnable[nr++] = tests[i];
		}
	listener.map = map;
	/* Before anything starts: what a crashed run left, then our own record. */
	run_recover_crashed(ctx, c.lock_dir, o.kill_after);
	struct run_record_info info = {.run_id = c.run_id,
	                               .root = c.root,
	                               .run_dir = c.log_dir,
	                               .executor = ro.executor->name};
	if (run_record_create(&record, c.lock_dir, &info, &c.d) < 0) {
		fprintf(ctx->err,
		        "gpuci run: warning: %s (were this run killed, the next could not end "
		        "what it left running)\n",
		        c.d.msg.buf);
		diag_release(&c.d);
		diag_init(&c.d);
	}
	run_cmd_shard_say(&c, &shard);
	if (*c.machine)
		fprintf(ctx->out, "gpuci run %s: %zu test%s on %s, logs in %s\n", c.run_id, nt,
		        nt == 1 ? "" : "s", c.machine, c.log_dir);
	else
		fprintf(ctx->out, "gpuci run %s: %zu test%s on %u GPU%s, logs in %s\n", c.run_id,
		        nt, nt == 1 ? "" : "s", c.total, c.total == 1 ? "" : "s", c.log_dir);
	if (c.prep.not_run.len)
		fprintf(ctx->out, "Not run:\n%s", c.prep.not_run.buf);
	run_report_begin(&c);
	int stopped = 0;
	int src = run_suite(&ro, runnable, nr, &stopped, &c.d);
	gpu_nvml_close(ro.nvml);
	/* Nothing of this run is left running: no record for the next to find. */
	run_record_remove(record);
	record = NULL;
	run_view_free(view);
	for (size_t k = 0; k < nr; k++)
		tests[map[k]] = runnable[k];
	free(runnable);
	free(map);
	if (src < 0) {
		cli_error(ctx, "run", &c.d);
		rc = c.d.code == DIAG_USAGE ? EXIT_USAGE : EXIT_FAILED;
		goto out;
	}
	rc = run_cmd_results(&c, stopped);
out:
	run_shard_state_release(&shard);
	run_cmd_release(&c);
	free(o.labels.items);
	free(o.jobs.items);
	free(o.tests.items);
	free(o.secrets.items);
	free(o.docker_opts.items);
	free(o.slurm_opts.items);
	run_record_remove(record);
	if (masked_out)
		fclose(masked_out);
	if (masked_err)
		fclose(masked_err);
	report_mask_free(mask);
	return rc;
}
