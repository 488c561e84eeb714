/*
 * The Slurm executor: each attempt is one batch job, placed by Slurm; see
 * executor.h.
 *
 * start() writes RUN_DIR/NAME.sbatch (for a test of no GPU an empty
 * CUDA_VISIBLE_DEVICES, GPUCI_GPUS, then `exec ARGV`) and submits it:
 *
 *   sbatch --parsable --job-name=NAME --chdir=CWD --output=LOG
 *          --open-mode=append --no-requeue [--gres=gpu:N] [--time=M]
 *          OPTS RUN_DIR/NAME.sbatch
 *
 * in the test's environment (sbatch exports it to the job). NAME is
 * gpuci.RUN_ID.N.ATTEMPT.TEST: the run and the test, and what sweep()
 * looks for. A job Slurm refuses (sbatch fails) is an attempt that ended
 * before it ran, its message sbatch's. With secrets to mask, Slurm writes
 * RUN_DIR/NAME.out and each look copies what is new into the log,
 * masked; else Slurm writes the log itself.
 *
 * One `squeue -h -t all -j ID,...` a second at most tells every job of the
 * run its state, reason and node; `scontrol -d show job ID` gives a job's
 * GPU indices when it starts and its end (JobState, ExitCode) when it
 * ends; `sacct` answers where scontrol no longer knows the job (after
 * MinJobAge) and accounting is on. A Slurm that does not answer for
 * LOST_AFTER seconds ends the attempts with a message saying so.
 *
 * signal() is `scancel --full --signal=SIG` (--full: the batch script's
 * processes, the test, not only the job's steps), or `scancel` for a job
 * still pending; stop_due() `scancel` (Slurm's own SIGTERM, KillWait, then
 * SIGKILL); kill() `scancel --full --signal=KILL`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/shwords.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "report/mask.h"
#include "run/exec_int.h"
#include "run/run_int.h"
#include "base/banned.h"

extern char **environ;

#define POLL_EVERY 1.0   /* seconds between two squeue */
#define LOST_AFTER 120.0 /* a Slurm that does not answer this long: the jobs are lost */
#define CMD_SECS   30.0  /* the most one Slurm command may take */

/* SJ_RUNNING covers COMPLETING: the test is over, but Slurm still holds its GPUs. */
enum sjob { SJ_REFUSED, SJ_PENDING, SJ_RUNNING, SJ_FINAL };

struct slurm_exec {
	struct run_exec h;
	char job[32];
	char *name;
	enum sjob st;
	bool ran, resolved, seen;
	char node[64], gpus[128], why[128];
	int status;
	bool timed_out;
	char note[160];
	double started_at, ended_at; /* Slurm's StartTime and EndTime, or 0 */
	char **env;                  /* the job's environment (SLURM_CONF), for every command */
	const sigset_t *mask;        /* children's signal mask */
	/* With secrets: Slurm's output (raw), copied into log_fd through ms. */
	char *raw;
	int log_fd;
	off_t raw_off;
	struct report_mask_stream *ms;
	int log_errno;
	unsigned long long log_lost;
};

/* The run's live jobs, asked about in one squeue. */
static struct slurm_exec **live;
static size_t nlive, live_cap;
static double polled_at, failing_since;

static void live_add(struct slurm_exec *x)
{
	if (nlive == live_cap) {
		live_cap = live_cap ? 2 * live_cap : 16;
		live = xrealloc(live, live_cap * sizeof(struct slurm_exec *));
	}
	live[nlive++] = x;
}

static void live_remove(struct slurm_exec *x)
{
	for (size_t i = 0; i < nlive; i++)
		if (live[i] == x) {
			live[i] = live[--nlive];
			break;
		}
	if (!nlive) {
		free(live);
		live = NULL;
		live_cap = 0;
	}
}

/* env less the variables of an enclosing allocation (a new job, not a step of it). */
static char **own_env(char *const *env)
{
	size_t n = 0;
	while (env && env[n])
		n++;
	char **out = xcalloc(n + 1, sizeof(*out));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], "SLURM_JOB_ID=", 13) != 0 &&
		    strncmp(env[i], "SLURM_JOBID=", 12) != 0)
			out[k++] = xstrdup(env[i]);
	return out;
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* The last non-empty line of s, at most n-1 bytes, into buf. */
static void last_line(const char *s, char *buf, size_t n)
{
	const char *end = s + strlen(s);
	while (end > s && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > s && start[-1] != '\n')
		start--;
	snprintf(buf, n, "%.*s", (int)(end - start), start);
}

/* Runs argv; 0 when it exited 0, its stderr's last line in why (n bytes) else. */
static int slurm_cmd(char *const *argv, char *const *env, const sigset_t *mask, struct strbuf *out,
                     char *why, size_t n)
{
	struct strbuf err = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	int rc = run__command(argv, env, mask, CMD_SECS, out, &err, &d);
	int ok = rc == 0 ? 0 : -1;
	if (ok < 0 && why) {
		char line[256] = "";
		last_line(err.buf ? err.buf : "", line, sizeof(line));
		if (rc < 0)
			snprintf(why, n, "%s: %s", argv[0], d.msg.buf ? d.msg.buf : "cannot run");
		else if (WIFEXITED(rc))
			snprintf(why, n, "%s: %s", argv[0], *line ? line : "failed");
		else
			snprintf(why, n, "%s: killed (it took over %.0f s)", argv[0], CMD_SECS);
	}
	strbuf_release(&err);
	diag_release(&d);
	return ok;
}

/* The value of KEY= in scontrol's output (words separated by blanks), into buf. */
static bool field(const char *text, const char *key, char *buf, size_t n)
{
	size_t kl = strlen(key);
	for (const char *p = text; (p = strstr(p, key)); p += kl) {
		if ((p != text && p[-1] != ' ' && p[-1] != '\n') || p[kl] != '=')
			continue;
		const char *v = p + kl + 1;
		size_t len = strcspn(v, " \n");
		snprintf(buf, n, "%.*s", (int)len, v);
		return true;
	}
	return false;
}

/* "0-1,4" (Slurm's IDX) as "0,1,4", into out. */
static void expand_ids(const char *idx, struct strbuf *out)
{
	for (const char *p = idx; *p;) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;
		if (end == p)
			break;
		if (*end == '-') {
			const char *q = end + 1;
			b = strtoul(q, &end, 10);
			if (end == q || b < a || b - a > 4096)
				b = a;
		}
		for (unsigned long g = a; g <= b; g++)
			strbuf_addf(out, "%s%lu", out->len ? "," : "", g);
		p = *end == ',' ? end + 1 : end;
		if (*end != ',' && *end)
			break;
	}
}

/* The GPU indices of a running job on its (first) node: scontrol -d's GRES=gpu...(IDX:...). */
static void read_gpus(struct slurm_exec *x, const char *text)
{
	const char *p = strstr(text, "(IDX:");
	if (!p)
		return;
	p += 5;
	char idx[128];
	snprintf(idx, sizeof(idx), "%.*s", (int)strcspn(p, ")"), p);
	struct strbuf ids = STRBUF_INIT;
	expand_ids(idx, &ids);
	snprintf(x->gpus, sizeof(x->gpus), "%s", ids.buf ? ids.buf : "");
	strbuf_release(&ids);
}

static void show_job(struct slurm_exec *x, struct strbuf *out, char *why, size_t n, bool *ok)
{
	char *argv[] = {"scontrol", "-d", "show", "job", x->job, NULL};
	*ok = slurm_cmd(argv, x->env, x->mask, out, why, n) == 0 && out->buf;
}

/*
 * The end of a job that left the queue, from Slurm's words: the test's
 * wait status (ExitCode=EXIT:SIGNAL), timed out, a note when Slurm ended
 * it itself (its state) or when nothing knows the job any more.
 */
static void end_from(struct slurm_exec *x, const char *state, const char *reason, const char *code)
{
	unsigned long ex = 0, sig = 0;
	char *end;
	ex = strtoul(code, &end, 10);
	if (*end == ':')
		sig = strtoul(end + 1, NULL, 10);
	x->status = sig ? (int)(sig & 0x7f) : (int)((ex & 0xff) << 8);
	x->resolved = true;
	if (!strncmp(state, "TIMEOUT", 7)) {
		x->timed_out = true;
		snprintf(x->note, sizeof(x->note), "Slurm ended job %s at its time limit", x->job);
	} else if (strncmp(state, "COMPLETED", 9) != 0 && strncmp(state, "FAILED", 6) != 0) {
		/* CANCELLED by someone else, NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, BOOT_FAIL... */
		bool why = reason && *reason && strcmp(reason, "None") != 0;
		snprintf(x->note, sizeof(x->note), "Slurm job %s: %s%s%s", x->job, state,
		         why ? ", " : "", why ? reason : "");
		if (!sig && !ex)
			x->status = 1 << 8; /* it did not pass: Slurm ended it */
	}
}

/* scontrol's 2026-12-02T13:35:43 (local time) as seconds since the epoch; 0: not a time. */
static double slurm_time(const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || *end)
		return 0;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	return t < 0 ? 0 : (double)t;
}

/* Whether a job in this state has left the queue for good (its end is known). */
static bool final_state(const char *state)
{
	static const char *const done[] = {"COMPLETED", "FAILED",       "CANCELLED",     "TIMEOUT",
	                                   "NODE_FAIL", "PREEMPTED",    "BOOT_FAIL",     "DEADLINE",
	                                   "REVOKED",   "SPECIAL_EXIT", "OUT_OF_MEMORY", NULL};
	for (size_t i = 0; done[i]; i++)
		if (!strcmp(state, done[i]))
			return true;
	return false;
}

/*
 * A job squeue says is over, or no longer shows: its end from scontrol,
 * else sacct. One scontrol still calls live (a squeue that missed it) is
 * left running, to be asked again.
 */
static void resolve(struct slurm_exec *x)
{
	if (x->resolved)
		return;
	struct strbuf out = STRBUF_INIT;
	char why[160] = "", state[64] = "", reason[64] = "", code[32] = "";
	bool ok;
	show_job(x, &out, why, sizeof(why), &ok);
	if (ok && field(out.buf, "JobState", state, sizeof(state)) && !final_state(state)) {
		x->st = x->ran || !strcmp(state, "RUNNING") || !strcmp(state, "COMPLETING")
		            ? SJ_RUNNING
		            : SJ_PENDING;
		strbuf_release(&out);
		return;
	}
	if (ok && *state && field(out.buf, "ExitCode", code, sizeof(code))) {
		field(out.buf, "Reason", reason, sizeof(reason));
		if (!*x->gpus)
			read_gpus(x, out.buf);
		char t0[32] = "", t1[32] = "";
		if (field(out.buf, "StartTime", t0, sizeof(t0)) &&
		    field(out.buf, "EndTime", t1, sizeof(t1)) && x->ran) {
			x->started_at = slurm_time(t0);
			x->ended_at = slurm_time(t1);
		}
		end_from(x, state, reason, code);
		strbuf_release(&out);
		return;
	}
	strbuf_reset(&out);
	char *argv[] = {"sacct", "-n", "-P", "-X", "-j", x->job, "-o", "State,ExitCode", NULL};
	char why2[160] = "";
	if (slurm_cmd(argv, x->env, x->mask, &out, why2, sizeof(why2)) == 0 && out.buf &&
	    strchr(out.buf, '|')) {
		char line[160];
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(out.buf, "\n"), out.buf);
		char *bar = strchr(line, '|');
		*bar = '\0';
		line[strcspn(line, " ")] = '\0'; /* "CANCELLED by 0" */
		end_from(x, line, NULL, bar + 1);
	} else {
		x->status = 1 << 8;
		x->resolved = true;
		snprintf(x->note, sizeof(x->note),
		         "the end of Slurm job %s is unknown: scontrol no longer has it and %.64s",
		         x->job, *why2 ? why2 : "sacct does not either");
	}
	strbuf_release(&out);
}

/* What squeue said of x: its state word, reason and node. */
static void update(struct slurm_exec *x, const char *state, const char *reason, const char *nodes)
{
	bool has_node = *nodes && strcmp(nodes, "(null)") != 0;
	if (!strcmp(state, "PENDING") || !strcmp(state, "CONFIGURING") ||
	    !strncmp(state, "REQUEUE", 7) || !strcmp(state, "RESV_DEL_HOLD")) {
		x->st = SJ_PENDING;
		snprintf(x->why, sizeof(x->why), "%s",
		         !strcmp(state, "CONFIGURING") ? "its node is being configured" : reason);
		return;
	}
	if (has_node && !*x->node)
		snprintf(x->node, sizeof(x->node), "%s", nodes);
	if (!final_state(state)) {
		/* RUNNING, COMPLETING, SUSPENDED, SIGNALING, STAGE_OUT...: on its node. */
		if (!x->ran) {
			x->ran = true;
			struct strbuf out = STRBUF_INIT;
			bool ok;
			show_job(x, &out, NULL, 0, &ok);
			if (ok)
				read_gpus(x, out.buf);
			strbuf_release(&out);
		}
		x->st = SJ_RUNNING;
		return;
	}
	/* Over: it ran if it had a node. */
	x->ran = x->ran || has_node;
	x->st = SJ_FINAL;
	resolve(x);
}

/* Asks squeue about every live job, at most once a POLL_EVERY. */
static void refresh(void)
{
	double now = run__mono();
	if (now - polled_at < POLL_EVERY)
		return;
	polled_at = now;
	struct strbuf ids = STRBUF_INIT, out = STRBUF_INIT;
	struct slurm_exec *any = NULL;
	for (size_t i = 0; i < nlive; i++)
		if (live[i]->st != SJ_FINAL && live[i]->st != SJ_REFUSED) {
			strbuf_addf(&ids, "%s%s", ids.len ? "," : "", live[i]->job);
			live[i]->seen = false;
			any = live[i];
		}
	if (!any) {
		strbuf_release(&ids);
		return;
	}
	char *argv[] = {"squeue", "-h", "-t", "all", "-j", ids.buf, "-o", "%i|%T|%r|%N", NULL};
	char why[160] = "";
	if (slurm_cmd(argv, any->env, any->mask, &out, why, sizeof(why)) < 0) {
		if (!failing_since)
			failing_since = now;
		for (size_t i = 0; now - failing_since >= LOST_AFTER && i < nlive; i++) {
			struct slurm_exec *x = live[i];
			if (x->st == SJ_FINAL || x->st == SJ_REFUSED)
				continue;
			x->st = SJ_FINAL;
			x->resolved = true;
			x->status = 1 << 8;
			snprintf(x->note, sizeof(x->note),
			         "Slurm did not answer for %.0f s (%.64s): job %s may still run",
			         LOST_AFTER, why, x->job);
		}
		strbuf_release(&ids);
		strbuf_release(&out);
		return;
	}
	failing_since = 0;
	for (char *line = out.buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *f[4] = {line, NULL, NULL, NULL};
		for (int k = 1; k < 4; k++) {
			f[k] = f[k - 1] ? strchr(f[k - 1], '|') : NULL;
			if (f[k])
				*f[k]++ = '\0';
		}
		if (!f[3])
			continue;
		for (size_t i = 0; i < nlive; i++)
			if (!strcmp(live[i]->job, f[0]) && live[i]->st != SJ_FINAL) {
				live[i]->seen = true;
				update(live[i], f[1], f[2], f[3]);
			}
	}
	/* Gone from the queue's view (MinJobAge past): over. */
	for (size_t i = 0; i < nlive; i++) {
		struct slurm_exec *x = live[i];
		if (x->st != SJ_FINAL && x->st != SJ_REFUSED && !x->seen) {
			x->st = SJ_FINAL;
			resolve(x);
		}
	}
	strbuf_release(&ids);
	strbuf_release(&out);
}

/* With secrets: what Slurm wrote since the last look, masked into the log. */
static void copy_output(struct slurm_exec *x, bool eof)
{
	if (!x->raw)
		return;
	int fd = open(x->raw, O_RDONLY | O_CLOEXEC);
	struct strbuf masked = STRBUF_INIT;
	char buf[65536];
	ssize_t n = 0;
	while (fd >= 0 && (n = pread(fd, buf, sizeof(buf), x->raw_off)) > 0) {
		x->raw_off += n;
		report_mask_filter(x->ms, buf, (size_t)n, false, &masked);
	}
	if (fd >= 0)
		close(fd);
	if (eof)
		report_mask_filter(x->ms, "", 0, true, &masked);
	for (size_t off = 0; off < masked.len;) {
		ssize_t w = write(x->log_fd, masked.buf + off, masked.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			x->log_errno = w < 0 ? errno : EIO;
			x->log_lost += masked.len - off;
			break;
		}
		off += (size_t)w;
	}
	strbuf_release(&masked);
}

/* The batch script: the GPU variables of a test of none, GPUCI_GPUS, the test. */
static void script_text(const struct run_test *t, const char *run_id, struct strbuf *out)
{
	strbuf_addf(out, "#!/bin/bash\n# gpuci run %s: %s\n", run_id ? run_id : "", t->display);
	if (t->gpus)
		strbuf_adds(out,
		            "export GPUCI_GPUS=\"${SLURM_JOB_GPUS:-${CUDA_VISIBLE_DEVICES:-}}\"\n");
	else
		strbuf_adds(out, "export CUDA_VISIBLE_DEVICES= GPUCI_GPUS=\n");
	strbuf_adds(out, "exec");
	for (size_t j = 0; t->argv && t->argv[j]; j++) {
		strbuf_addch(out, ' ');
		sh_quote(out, t->argv[j]);
	}
	strbuf_addch(out, '\n');
}

/* gpuci.RUN_ID.N.ATTEMPT.TEST, TEST the test file's name less .py. */
static void job_name(const struct run_test *t, size_t index, unsigned attempt, const char *run_id,
                     struct strbuf *out)
{
	strbuf_addf(out, "gpuci.%s.%zu.%u.", run_id ? run_id : "run", index + 1, attempt);
	const char *base = strrchr(t->test_file, '/');
	base = base ? base + 1 : t->test_file;
	size_t len = strlen(base);
	if (len > 3 && !strcmp(base + len - 3, ".py"))
		len -= 3;
	for (size_t i = 0; i < len && i < 64; i++) {
		char c = base[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
		strbuf_addch(out, ok ? c : '_');
	}
}

/* sbatch's arguments (the strings in bufs, released by the caller). */
static char **sbatch_argv(const struct run_test *t, const char *name, const char *cwd,
                          const char *output, const char *script, struct strbuf bufs[5])
{
	size_t no = 0;
	while (t->slurm_opts && t->slurm_opts[no])
		no++;
	char **argv = xcalloc(12 + no, sizeof(*argv));
	size_t k = 0;
	strbuf_addf(&bufs[0], "--job-name=%s", name);
	strbuf_addf(&bufs[1], "--chdir=%s", cwd);
	strbuf_addf(&bufs[2], "--output=%s", output);
	argv[k++] = "sbatch";
	argv[k++] = "--parsable";
	argv[k++] = bufs[0].buf;
	argv[k++] = bufs[1].buf;
	argv[k++] = bufs[2].buf;
	argv[k++] = "--open-mode=append";
	argv[k++] = "--no-requeue";
	if (t->gpus) {
		strbuf_addf(&bufs[3], "--gres=gpu:%u", t->gpus);
		argv[k++] = bufs[3].buf;
	}
	if (t->time_limit) {
		strbuf_addf(&bufs[4], "--time=%u", t->time_limit);
		argv[k++] = bufs[4].buf;
	}
	for (size_t j = 0; j < no; j++)
		argv[k++] = t->slurm_opts[j];
	argv[k++] = (char *)script;
	argv[k] = NULL;
	return argv;
}

void run_exec_slurm_describe(const struct run_test *t, size_t index, const char *run_id,
                             const char *cwd, const char *run_dir, struct strbuf *out)
{
	struct strbuf name = STRBUF_INIT, script = STRBUF_INIT, bufs[5];
	for (int k = 0; k < 5; k++)
		bufs[k] = (struct strbuf)STRBUF_INIT;
	job_name(t, index, 1, run_id, &name);
	strbuf_addf(&script, "%s/%s.sbatch", run_dir, name.buf);
	char *log = run_log_path(run_dir, index, t->test_file, 1);
	char **argv = sbatch_argv(t, name.buf, cwd, log, script.buf, bufs);
	free(log);
	for (size_t j = 0; argv[j]; j++) {
		if (j)
			strbuf_addch(out, ' ');
		sh_quote(out, argv[j]);
	}
	strbuf_adds(out, "\n");
	strbuf_reset(&script);
	script_text(t, run_id, &script);
	strbuf_addf(out, "%s", strstr(script.buf, "\nexport") + 1);
	free(argv);
	for (int k = 0; k < 5; k++)
		strbuf_release(&bufs[k]);
	strbuf_release(&name);
	strbuf_release(&script);
}

static int write_file(const char *path, const char *text, struct diag *d)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0)
		return diag_errno(d, "cannot create %s", path);
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len;
	if (close(fd) < 0 || !ok)
		return diag_errno(d, "cannot write %s", path);
	return 0;
}

static int slurm_start(const struct run_exec_job *job, struct run_exec **out, struct diag *d)
{
	const struct run_test *t = job->test;
	const char *dir = job->run_dir ? job->run_dir : job->cwd;
	struct strbuf name = STRBUF_INIT, script = STRBUF_INIT, path = STRBUF_INIT,
	              output = STRBUF_INIT, res = STRBUF_INIT, bufs[5];
	for (int k = 0; k < 5; k++)
		bufs[k] = (struct strbuf)STRBUF_INIT;
	job_name(t, job->index, t->attempts, job->run_id, &name);
	script_text(t, job->run_id, &script);
	strbuf_addf(&path, "%s/%s.sbatch", dir, name.buf);
	if (write_file(path.buf, script.buf, d) < 0) {
		strbuf_release(&name);
		strbuf_release(&script);
		strbuf_release(&path);
		return -1;
	}
	struct slurm_exec *x = xcalloc(1, sizeof(*x));
	x->h =
	    (struct run_exec){.ex = &run_exec_slurm, .pid = -1, .fd = -1, .poll_every = POLL_EVERY};
	x->name = strbuf_detach(&name, NULL);
	x->env = own_env(job->env);
	x->mask = job->mask;
	x->log_fd = -1;
	x->st = SJ_PENDING;
	if (report_mask_count(job->secrets)) {
		/* Slurm writes beside the log; the log gets it masked (copy_output). */
		strbuf_addf(&output, "%s/%s.out", dir, x->name);
		x->raw = xstrdup(output.buf);
		(void)unlink(x->raw);
		x->ms = report_mask_stream_new(job->secrets);
		x->log_fd = fcntl(job->log_fd, F_DUPFD_CLOEXEC, 3);
	} else {
		strbuf_adds(&output, t->log_path);
	}
	char **argv = sbatch_argv(t, x->name, job->cwd, output.buf, path.buf, bufs);
	char why[160] = "";
	if (slurm_cmd(argv, x->env, x->mask, &res, why, sizeof(why)) < 0 || !res.buf ||
	    !strtoul(res.buf, NULL, 10)) {
		/* Refused (a bad option, a request no node can meet): this attempt only. */
		x->st = SJ_REFUSED;
		x->resolved = true;
		x->status = 1 << 8;
		snprintf(x->note, sizeof(x->note), "%s", *why ? why : "sbatch: no job id");
		dprintf(job->log_fd, "gpuci: %s\n", x->note);
	} else {
		snprintf(x->job, sizeof(x->job), "%.*s", (int)strspn(res.buf, "0123456789"),
		         res.buf);
		live_add(x);
	}
	free(argv);
	for (int k = 0; k < 5; k++)
		strbuf_release(&bufs[k]);
	strbuf_release(&script);
	strbuf_release(&path);
	strbuf_release(&output);
	strbuf_release(&res);
	*out = &x->h;
	return 0;
}

static void slurm_reaped(struct run_exec *h, int wait_status)
{
	(void)h;
	(void)wait_status; /* no local process */
}

static enum run_exec_state slurm_state(struct run_exec *h)
{
	struct slurm_exec *x = (struct slurm_exec *)h;
	if (x->st != SJ_REFUSED && x->st != SJ_FINAL)
		refresh();
	copy_output(x, false);
	switch (x->st) {
	case SJ_PENDING:
		return RUN_EXEC_QUEUED;
	case SJ_RUNNING:
		return RUN_EXEC_RUNNING;
	case SJ_REFUSED:
	case SJ_FINAL:
		break;
	}
	return RUN_EXEC_DONE;
}

static void scancel(struct slurm_exec *x, const char *sig)
{
	if (x->st == SJ_REFUSED || x->st == SJ_FINAL)
		return;
	char arg[32];
	snprintf(arg, sizeof(arg), "--signal=%s", sig ? sig : "");
	char *with[] = {"scancel", "--full", arg, x->job, NULL};
	char *plain[] = {"scancel", x->job, NULL};
	(void)slurm_cmd(sig ? with : plain, x->env, x->mask, NULL, NULL, 0);
	polled_at = 0; /* look again at the next state() */
}

static void slurm_signal(struct run_exec *h, int sig)
{
	struct slurm_exec *x = (struct slurm_exec *)h;
	char num[16];
	snprintf(num, sizeof(num), "%d", sig);
	scancel(x, x->st == SJ_PENDING ? NULL : num);
}

static void slurm_stop_due(struct run_exec *h)
{
	scancel((struct slurm_exec *)h, NULL);
}

static void slurm_kill(struct run_exec *h)
{
	scancel((struct slurm_exec *)h, "KILL");
}

static void slurm_result(struct run_exec *h, struct run_exec_result *out)
{
	struct slurm_exec *x = (struct slurm_exec *)h;
	resolve(x);
	*out = (struct run_exec_result){
	    .status = x->status,
	    .log_errno = x->log_errno,
	    .log_lost = x->log_lost,
	    .timed_out = x->timed_out,
	    .started_at = x->started_at,
	    .ended_at = x->ended_at,
	};
	snprintf(out->note, sizeof(out->note), "%s", x->note);
}

static void slurm_where(struct run_exec *h, struct run_exec_place *out)
{
	const struct slurm_exec *x = (const struct slurm_exec *)h;
	*out = (struct run_exec_place){.ran = x->ran};
	snprintf(out->node, sizeof(out->node), "%s", x->node);
	snprintf(out->gpu_ids, sizeof(out->gpu_ids), "%s", x->gpus);
	snprintf(out->job, sizeof(out->job), "%s", x->job);
	snprintf(out->why, sizeof(out->why), "%s", x->why);
}

static void slurm_release(struct run_exec *h)
{
	struct slurm_exec *x = (struct slurm_exec *)h;
	live_remove(x);
	if (x->raw) {
		copy_output(x, true);
		(void)unlink(x->raw);
		free(x->raw);
	}
	if (x->log_fd >= 0)
		close(x->log_fd);
	report_mask_stream_free(x->ms);
	free_env(x->env);
	free(x->name);
	free(x);
}

/* Cancels the jobs still queued or running whose name is the run's (gpuci.RUN_ID.). */
static int slurm_sweep(const struct run_sweep *s, size_t *removed, struct diag *d)
{
	*removed = 0;
	char uid[32], why[160] = "";
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	char **env = s->env ? own_env(s->env) : NULL;
	char *argv[] = {"squeue", "-h", "-u", uid, "-o", "%i|%j", NULL};
	struct strbuf out = STRBUF_INIT, prefix = STRBUF_INIT, ids = STRBUF_INIT;
	strbuf_addf(&prefix, "gpuci.%s.", s->run_id);
	int rc = 0;
	if (slurm_cmd(argv, env, s->mask, &out, why, sizeof(why)) < 0) {
		rc = diag_set(d, DIAG_SYSTEM, "%s", why);
		goto out;
	}
	size_t n = 0;
	for (char *line = out.buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *bar = strchr(line, '|');
		if (!bar || strncmp(bar + 1, prefix.buf, prefix.len) != 0)
			continue;
		*bar = '\0';
		strbuf_addf(&ids, "%s%s", n++ ? "," : "", line);
	}
	if (n) {
		char **cancel = xcalloc(n + 2, sizeof(*cancel));
		size_t k = 0;
		cancel[k++] = "scancel";
		for (char *id = ids.buf, *comma; id && *id; id = comma) {
			comma = strchr(id, ',');
			if (comma)
				*comma++ = '\0';
			cancel[k++] = id;
		}
		if (slurm_cmd(cancel, env, s->mask, NULL, why, sizeof(why)) == 0)
			*removed = n;
		else
			rc = diag_set(d, DIAG_SYSTEM, "%s", why);
		free(cancel);
	}
out:
	free_env(env);
	strbuf_release(&out);
	strbuf_release(&prefix);
	strbuf_release(&ids);
	return rc;
}

/* The GPUs of one sinfo Gres field: "gpu:8", "gpu:a100:4(S:0-1),gpu:v100:2", "(null)". */
static unsigned gres_gpus(const char *gres)
{
	unsigned n = 0;
	for (const char *p = gres; (p = strstr(p, "gpu:")); p += 4) {
		if (p != gres && p[-1] != ',')
			continue;
		const char *v = p + 4, *colon = v + strcspn(v, ":,(");
		if (*colon == ':')
			v = colon + 1; /* gpu:TYPE:N */
		n += (unsigned)strtoul(v, NULL, 10);
	}
	return n;
}

int run_exec_slurm_probe(const char *partition, unsigned *gpus, unsigned *nodes, struct diag *d)
{
	*gpus = *nodes = 0;
	char *argv[] = {"sinfo", "-h", "-o", "%P|%G|%D", NULL};
	struct strbuf out = STRBUF_INIT;
	char why[200] = "";
	char **env = own_env(environ);
	int rc = slurm_cmd(argv, env, NULL, &out, why, sizeof(why));
	free_env(env);
	if (rc < 0) {
		strbuf_release(&out);
		return diag_set(d, DIAG_SYSTEM, "cannot ask Slurm for its nodes: %s", why);
	}
	bool found = false;
	for (char *line = out.buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *g = strchr(line, '|'), *n = g ? strchr(g + 1, '|') : NULL;
		if (!n)
			continue;
		*g++ = '\0';
		*n++ = '\0';
		size_t len = strlen(line);
		bool dflt = len && line[len - 1] == '*';
		if (dflt)
			line[--len] = '\0';
		if (partition ? strcmp(line, partition) != 0 : !dflt)
			continue;
		found = true;
		unsigned gg = gres_gpus(g);
		if (gg > *gpus)
			*gpus = gg;
		*nodes += (unsigned)strtoul(n, NULL, 10);
	}
	strbuf_release(&out);
	if (!found)
		return diag_set(d, DIAG_USAGE,
		                partition ? "Slurm has no partition '%s' (sinfo lists them)"
		                          : "Slurm has no default partition: give --partition P%s",
		                partition ? partition : "");
	return 0;
}

int run_exec_slurm_check(char *const *opts, struct diag *d)
{
	size_t n = 0;
	while (opts && opts[n])
		n++;
	char **argv = xcalloc(n + 5, sizeof(*argv));
	size_t k = 0;
	argv[k++] = "sbatch";
	argv[k++] = "--test-only";
	for (size_t i = 0; i < n; i++)
		argv[k++] = opts[i];
	argv[k++] = "--output=/dev/null";
	argv[k++] = "--wrap=true";
	char why[200] = "";
	char **env = own_env(environ);
	int rc = slurm_cmd(argv, env, NULL, NULL, why, sizeof(why));
	free_env(env);
	free(argv);
	if (rc < 0)
		return diag_set(d, DIAG_USAGE, "sbatch refuses the job's options: %s", why);
	return 0;
}

const struct run_executor run_exec_slurm = {
    .name = "slurm",
    .places = true,
    .leftover = "job",
    .start = slurm_start,
    .reaped = slurm_reaped,
    .state = slurm_state,
    .signal = slurm_signal,
    .stop_due = slurm_stop_due,
    .kill = slurm_kill,
    .result = slurm_result,
    .release = slurm_release,
    .sweep = slurm_sweep,
    .where = slurm_where,
};
