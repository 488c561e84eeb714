/*
 * gpuci lock: run a command on GPUs leased from a shared machine; a drop-in
 * for gpu_lock_exec.py with the same flags, defaults and lock files.
 * gpuci lock status: who holds and who waits.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gpu/gpu.h"
#include "lease/lease.h"
#include "proc/proc.h"
#include "base/xalloc.h"
#include "base/banned.h"

struct lock_opts {
	unsigned count;
	const char *devices;
	unsigned total;
	bool total_given, count_given;
	double timeout;
	const char *env_name;
	const char *pattern;
	double kill_after;
	bool print_only, quiet, json;
	double wait_idle;  /* readiness: seconds a busy GPU is waited for, 0: no check */
	unsigned idle_mem; /* MiB used above which a GPU is busy */
	const char *busy;  /* "fail" or "warn" */
};

static const char lock_usage[] =
    "usage: gpuci lock [--count N | --devices 0,2] [options] -- CMD [ARGS...]\n"
    "       gpuci lock --print-only [--total-gpus N] [--lock-path-pattern P]\n"
    "       gpuci lock status [--json] [--total-gpus N] [--lock-path-pattern P]\n";

static const char lock_description[] =
    "Waits for GPUs, runs CMD with CUDA_VISIBLE_DEVICES set to them, and frees\n"
    "them when CMD and every process it started are gone. A drop-in for\n"
    "tests/ci/gpu_lock_exec.py: the same flags, defaults and lock files (one\n"
    "exclusive flock() per GPU on the files of --lock-path-pattern), so gpuci and\n"
    "the script keep out of each other's GPUs on one machine.\n"
    "\n"
    "Fair order: requests are served first come, first served among gpuci\n"
    "waiters on the same lock files. The oldest waiter takes every GPU it can use\n"
    "as soon as it is free and holds it as a reservation until it has all it\n"
    "asked for, so a request for 8 GPUs is never starved by a stream of 1-GPU\n"
    "jobs; later requests wait behind it even when a GPU is free meanwhile.\n"
    "Holders of gpu_lock_exec.py are not in the queue: they take free GPUs when\n"
    "they find them. A waiter sleeps in the kernel and is woken within\n"
    "milliseconds of the release it waits for, also when the holder is killed;\n"
    "no waiter polls.\n"
    "\n"
    "Lifetime: CMD runs in gpuci's process group, not through a shell. When CMD\n"
    "exits, every process it left behind gets SIGTERM, then SIGKILL after\n"
    "--kill-after seconds, and only then are the GPUs freed. SIGINT, SIGTERM and\n"
    "SIGHUP sent to gpuci go to the whole job, which then has --kill-after\n"
    "seconds to end. The lock descriptors are left open in the job, so if gpuci\n"
    "itself is killed with SIGKILL, the kernel keeps the GPUs locked while any\n"
    "process of the job that kept them still runs.\n"
    "\n"
    "Readiness: a free lock is not a free GPU (a previous test's server still\n"
    "holding 156 GB, a container still torn down: OOM, CUDA error 802). Once the\n"
    "locks are won, NVML is asked: a GPU with any process, or more than --idle-mem\n"
    "MiB used, is busy. gpuci names the pids and their memory and asks again every\n"
    "250 ms for up to --wait-idle seconds, HOLDING the locks and its place in the\n"
    "queue so that nobody else gets the GPU meanwhile; a --count request takes an\n"
    "idle free GPU instead when there is one. Still busy: --busy=fail exits 75,\n"
    "--busy=warn runs CMD with a warning. --wait-idle 0, or no NVML: no check\n"
    "(GPUCI_DEBUG=1 says why).\n"
    "\n"
    "GPU count (for --count): --total-gpus, else NVML (libnvidia-ml.so.1, or\n"
    "$GPUCI_NVML), else the entries of /proc/driver/nvidia/gpus, else\n"
    "GPUCI_TOTAL_GPUS, else 8 with a warning. CMD also gets\n"
    "CUDA_DEVICE_ORDER=PCI_BUS_ID so that GPU numbers mean what NVML and\n"
    "nvidia-smi say.\n"
    "\n"
    "Files: besides the per-GPU files, the pattern with {gpu_id} = 'queue' holds\n"
    "the waiting queue, {gpu_id} = 'ticket-N' one file per live waiter, and\n"
    "{gpu_id} = 'N-held' a second name (witness) of held GPU N's lock file, so\n"
    "that deleting a lock file never gives its GPU to a second job. A lock file\n"
    "that cannot be used (symlink, FIFO, directory, unreadable) takes only its\n"
    "GPU out of service, with a warning.\n"
    "\n"
    "Exit status: CMD's own; 128+N when CMD or gpuci was killed by signal N;\n"
    "75 when --timeout passed while waiting or a GPU stayed busy (--busy=fail);\n"
    "127 when CMD was not found, 126 when it could not be run; 2 for usage\n"
    "errors; 1 for other errors.\n"
    "\n"
    "status shows each GPU free or held (by which pid, running what, for how\n"
    "long; holders of gpu_lock_exec.py included, from /proc/locks), then the\n"
    "waiters in order with the GPUs they want and how long they have waited.\n"
    "\n"
    "Examples:\n"
    "  gpuci lock --count 4 -- python tests/test_qwen.py\n"
    "  gpuci lock --devices 0,1 --timeout 600 -- ./bench.sh\n"
    "  gpuci lock --count 8 --wait-idle 300 --busy=warn -- ./serve_and_test.sh\n"
    "  GPUCI_TOTAL_GPUS=8 gpuci lock --count 2 --lock-path-pattern /tmp/l/{gpu_id} -- true\n"
    "  gpuci lock status --json\n";

static void print_help(struct gpuci_ctx *ctx, const struct cli_option *opts)
{
	fprintf(ctx->out, "%s\n%s\nOptions:\n", lock_usage, lock_description);
	cli_print_options(ctx->out, opts);
}

/* Parses "0,2,5" into unique GPU numbers, in the order given; no empty items. */
static int parse_devices_list(const char *s, unsigned **out, size_t *n, struct diag *d)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	const char *p = s;
	for (;;) {
		while (*p == ' ')
			p++;
		char *end;
		errno = 0;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p || errno || v >= LEASE_MAX_GPUS || *p < '0' || *p > '9')
			return diag_set(
			    d, DIAG_USAGE,
			    "--devices expects GPU numbers separated by commas, not '%s'", s);
		for (size_t i = 0; i < *n; i++)
			if ((*out)[i] == v)
				return diag_set(d, DIAG_USAGE, "--devices names GPU %lu twice", v);
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[(*n)++] = (unsigned)v;
		p = end;
		while (*p == ' ')
			p++;
		if (!*p)
			return 0;
		if (*p != ',')
			return diag_set(
			    d, DIAG_USAGE,
			    "--devices expects GPU numbers separated by commas, not '%s'", s);
		p++;
	}
}

static int parse_devices(const char *s, unsigned **out, size_t *n, struct diag *d)
{
	int rc = parse_devices_list(s, out, n, d);
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/*
 * --total-gpus, or discovery; warns when it had to guess, unless *guessed is
 * given: then it says so there instead.
 */
static int resolve_total_src(struct lock_opts *o, struct gpuci_ctx *ctx, bool *guessed)
{
	if (o->total_given) {
		if (o->total < 1 || o->total > LEASE_MAX_GPUS) {
			fprintf(ctx->err, "gpuci lock: --total-gpus must be from 1 to %d\n",
			        LEASE_MAX_GPUS);
			return EXIT_USAGE;
		}
		return EXIT_OK;
	}
	struct gpu_probe probe;
	gpu_probe_default(&probe);
	enum gpu_source src;
	struct diag d = DIAG_INIT;
	if (gpu_count(&o->total, &src, &probe, &d) < 0) {
		int rc = cli_usage_error(ctx, "lock", &d);
		diag_release(&d);
		return rc;
	}
	if (guessed)
		*guessed = src == GPU_SOURCE_FALLBACK;
	else if (src == GPU_SOURCE_FALLBACK)
		fprintf(ctx->err,
		        "gpuci lock: warning: no GPU found (no NVML, no /proc/driver/nvidia/gpus, "
		        "GPUCI_TOTAL_GPUS unset); assuming %u\n",
		        o->total);
	return EXIT_OK;
}

static int resolve_total(struct lock_opts *o, struct gpuci_ctx *ctx)
{
	return resolve_total_src(o, ctx, NULL);
}

static void join_gpus(struct strbuf *sb, const unsigned *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		strbuf_addf(sb, "%s%u", i ? "," : "", g[i]);
}

static void human_duration(struct strbuf *sb, double s)
{
	if (s < 0)
		strbuf_adds(sb, "?");
	else if (s < 60)
		strbuf_addf(sb, "%.1fs", s);
	else if (s < 3600)
		strbuf_addf(sb, "%dm%02ds", (int)s / 60, (int)s % 60);
	else
		strbuf_addf(sb, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static int print_only(struct lock_opts *o, struct gpuci_ctx *ctx)
{
	unsigned *gpus;
	size_t n;
	struct diag d = DIAG_INIT;
	struct strbuf sb = STRBUF_INIT;
	if (lease_probe_free(&gpus, &n, o->pattern, o->total, &sb, &d) < 0) {
		cli_error(ctx, "lock", &d);
		diag_release(&d);
		strbuf_release(&sb);
		return EXIT_FAILED;
	}
	if (sb.len)
		fprintf(ctx->err, "gpuci lock: warning: %s\n", sb.buf);
	strbuf_reset(&sb);
	join_gpus(&sb, gpus, n);
	/* Exactly the script's print("Free GPUs:", ",".join(...)). */
	fprintf(ctx->out, "Free GPUs: %s\n", sb.buf);
	strbuf_release(&sb);
	free(gpus);
	return EXIT_OK;
}

static void status_json(FILE *f, const struct lock_opts *o, const struct lease_status *st)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "{\"pattern\":");
	strbuf_add_json_str(&sb, o->pattern);
	strbuf_addf(&sb, ",\"total_gpus\":%u,\"gpus\":[", o->total);
	for (size_t i = 0; i < st->ngpus; i++) {
		const struct lease_gpu_state *g = &st->gpus[i];
		const char *state = g->unusable ? "unusable"
		                    : !g->held  ? "free"
		                    : g->waiter ? "reserved"
		                                : "held";
		strbuf_addf(&sb, "%s{\"gpu\":%u,\"state\":\"%s\"", i ? "," : "", g->gpu, state);
		if (g->problem) {
			strbuf_adds(&sb, ",\"problem\":");
			strbuf_add_json_str(&sb, g->problem);
		}
		if (g->witness)
			strbuf_adds(&sb, ",\"lock_file_replaced\":true");
		if (g->lost_pid)
			strbuf_addf(&sb, ",\"lost_holder\":%d", (int)g->lost_pid);
		if (g->held) {
			strbuf_addf(&sb, ",\"pid\":%d,\"pid_alive\":%s", (int)g->pid,
			            g->pid_alive ? "true" : "false");
			if (g->held_for >= 0)
				strbuf_addf(&sb, ",\"held_for\":%.3f", g->held_for);
			if (g->waiter)
				strbuf_addf(&sb, ",\"waiter\":%ld", g->waiter);
			strbuf_adds(&sb, ",\"command\":");
			if (g->cmd)
				strbuf_add_json_str(&sb, g->cmd);
			else
				strbuf_adds(&sb, "null");
		}
		strbuf_addch(&sb, '}');
	}
	strbuf_adds(&sb, "],\"waiters\":[");
	for (size_t i = 0; i < st->nwaiters; i++) {
		const struct lease_waiter_state *w = &st->waiters[i];
		strbuf_addf(&sb, "%s{\"position\":%zu,\"pid\":%d,\"count\":%u,\"devices\":",
		            i ? "," : "", i + 1, (int)w->pid, w->count);
		if (w->devices)
			strbuf_add_json_str(&sb, w->devices);
		else
			strbuf_adds(&sb, "null");
		strbuf_addf(&sb, ",\"waited\":%.3f,\"command\":", w->waited);
		strbuf_add_json_str(&sb, w->cmd);
		strbuf_addch(&sb, '}');
	}
	strbuf_adds(&sb, "]}\n");
	fputs(sb.buf, f);
	strbuf_release(&sb);
}

/*
 * A command line for a terminal: valid UTF-8 as is, control characters and
 * bytes that are not UTF-8 as \xNN, so a job's name can
 * never send escape sequences to whoever runs status.
 */
static const char *shown(struct strbuf *sb, const char *s)
{
	strbuf_reset(sb);
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	while (*p) {
		size_t n = strbuf_utf8_len(p);
		if (n == 0 || *p < 0x20 || *p == 0x7f || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			for (size_t k = 0; k < (n ? n : 1); k++)
				strbuf_addf(sb, "\\x%02x", p[k]);
			p += n ? n : 1;
		} else {
			strbuf_add(sb, p, n);
			p += n;
		}
	}
	return sb->buf;
}

static void status_text(FILE *f, const struct lease_status *st)
{
	struct strbuf sb = STRBUF_INIT, esc = STRBUF_INIT;
	size_t nfree = 0, nout = 0;
	for (size_t i = 0; i < st->ngpus; i++) {
		nfree += !st->gpus[i].held && !st->gpus[i].unusable;
		nout += st->gpus[i].unusable;
	}
	fprintf(f, "%zu of %zu GPUs free, %zu waiting", nfree, st->ngpus, st->nwaiters);
	if (nout)
		fprintf(f, ", %zu out of service", nout);
	fprintf(f, "\n");
	fprintf(f, "GPU  STATE     PID      FOR       COMMAND\n");
	for (size_t i = 0; i < st->ngpus; i++) {
		const struct lease_gpu_state *g = &st->gpus[i];
		if (g->unusable) {
			fprintf(f, "%-4u unusable  (out of service: %s)\n", g->gpu,
			        shown(&esc, g->problem));
			continue;
		}
		if (g->lost_pid)
			fprintf(
			    f,
			    "%-4u WARNING: pid %d holds a lock on its deleted lock file (and its "
			    "witness is gone): this GPU may be given to two jobs\n",
			    g->gpu, (int)g->lost_pid);
		if (!g->held) {
			fprintf(f, "%-4u free\n", g->gpu);
			continue;
		}
		strbuf_reset(&sb);
		human_duration(&sb, g->held_for);
		const char *state = g->waiter ? "reserved" : "held";
		fprintf(f, "%-4u %-9s %-8d %-9s ", g->gpu, state, (int)g->pid, sb.buf);
		if (g->waiter)
			fprintf(f, "(for waiter %ld) ", g->waiter);
		else if (!g->pid_alive)
			fprintf(f, "(pid gone, its job still holds it) ");
		if (g->witness)
			fprintf(f, "(its lock file was replaced; held through its witness) ");
		fprintf(f, "%s\n", shown(&esc, g->cmd));
	}
	if (st->nwaiters) {
		fprintf(f, "\nWaiting, oldest first:\n");
		fprintf(f, "#    PID      WANTS        WAITED    COMMAND\n");
	}
	for (size_t i = 0; i < st->nwaiters; i++) {
		const struct lease_waiter_state *w = &st->waiters[i];
		char wants[64];
		if (w->devices)
			snprintf(wants, sizeof(wants), "GPUs %s", w->devices);
		else
			snprintf(wants, sizeof(wants), "%u GPU%s", w->count,
			         w->count == 1 ? "" : "s");
		strbuf_reset(&sb);
		human_duration(&sb, w->waited);
		fprintf(f, "%-4zu %-8d %-12s %-9s %s\n", i + 1, (int)w->pid, wants, sb.buf,
		        shown(&esc, w->cmd));
	}
	strbuf_release(&sb);
	strbuf_release(&esc);
}

static int lock_status(int argc, char **argv, struct gpuci_ctx *ctx, struct lock_opts *o)
{
	const struct cli_option opts[] = {
	    {"json", 0, CLI_OPT_FLAG, &o->json, NULL, "print JSON for machines", NULL},
	    {"total-gpus", 0, CLI_OPT_UINT, &o->total, "N", "GPUs to show (default: discovered)",
	     &o->total_given},
	    {"lock-path-pattern", 0, CLI_OPT_STRING, &o->pattern, "P",
	     "lock files, {gpu_id} replaced (default " LEASE_DEFAULT_PATTERN ")", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	int rest;
	bool help;
	if (cli_parse(argc, argv, opts, false, &rest, &help, &d) < 0) {
		int rc = cli_usage_error(ctx, "lock status", &d);
		diag_release(&d);
		return rc;
	}
	if (help) {
		fprintf(ctx->out, "usage: gpuci lock status [--json] [--total-gpus N] "
		                  "[--lock-path-pattern P]\n\n"
		                  "Shows each GPU free or held (pid, command, for how long), then\n"
		                  "the waiters in order. See 'gpuci lock --help'.\n\nOptions:\n");
		cli_print_options(ctx->out, opts);
		return EXIT_OK;
	}
	if (rest < argc) {
		diag_set(&d, DIAG_USAGE, "unexpected argument '%s'", argv[rest]);
		int rc = cli_usage_error(ctx, "lock status", &d);
		diag_release(&d);
		return rc;
	}
	if (lease_check_pattern(o->pattern, &d) < 0) {
		int rc = cli_usage_error(ctx, "lock status", &d);
		diag_release(&d);
		return rc;
	}
	int rc = resolve_total(o, ctx);
	if (rc != EXIT_OK)
		return rc;
	struct lease_status *st;
	if (lease_status_read(&st, o->pattern, o->total, &d) < 0) {
		cli_error(ctx, "lock status", &d);
		diag_release(&d);
		return EXIT_FAILED;
	}
	if (o->json)
		status_json(ctx->out, o, st);
	else
		status_text(ctx->out, st);
	lease_status_free(st);
	return EXIT_OK;
}

/* The command line as one string, for status. */
static char *join_argv(char **argv, int argc)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < argc; i++) {
		if (i)
			strbuf_addch(&sb, ' ');
		strbuf_adds(&sb, argv[i]);
		if (sb.len > 400)
			break;
	}
	return strbuf_detach(&sb, NULL);
}

struct wait_note {
	struct gpuci_ctx *ctx;
	const struct lease_spec *spec;
};

/* Says why gpuci sleeps, once, so a waiting job does not look hung. */
static void note_waiting(void *arg, size_t ahead, size_t reserved)
{
	struct wait_note *n = arg;
	const struct lease_spec *spec = n->spec;
	FILE *f = n->ctx->err;
	fprintf(f, "gpuci lock: waiting for ");
	if (spec->devices) {
		fprintf(f, "GPUs ");
		for (size_t i = 0; i < spec->ndevices; i++)
			fprintf(f, "%s%u", i ? "," : "", spec->devices[i]);
	} else {
		fprintf(f, "%u of %u GPUs", spec->count, spec->total);
	}
	if (ahead)
		fprintf(f, ", behind %zu earlier request%s", ahead, ahead == 1 ? "" : "s");
	else
		fprintf(f, ", first in line, %zu reserved so far", reserved);
	fprintf(f, " (see 'gpuci lock status')\n");
}

struct busy_note {
	struct gpuci_ctx *ctx;
	double wait_idle;
};

/* A GPU won is still busy: who holds what, each time that changes. */
static void note_busy(void *arg, unsigned gpu, const struct gpu_usage *u)
{
	struct busy_note *n = arg;
	struct strbuf sb = STRBUF_INIT;
	gpu_usage_describe(u, &sb);
	fprintf(n->ctx->err,
	        "gpuci lock: GPU %u is busy: %s; waiting up to %gs for it to be idle "
	        "(--wait-idle)\n",
	        gpu, sb.buf, n->wait_idle);
	fflush(n->ctx->err);
	strbuf_release(&sb);
}

/*
 * While the job runs, a thread watches its lock files: if one is deleted or
 * replaced it says so on stderr, loudly when the GPU is no longer kept from
 * other requests (lease_check()). It checks once more at release.
 */
struct guard {
	pthread_t th;
	bool started;
	int stop; /* eventfd */
	const struct lease *lease;
	FILE *err;
	char *said; /* the last report, so that each is said once */
};

static void guard_check(struct guard *g)
{
	struct strbuf why = STRBUF_INIT;
	size_t lost = lease_check(g->lease, &why);
	if (why.len && (!g->said || strcmp(g->said, why.buf) != 0)) {
		fprintf(g->err, "gpuci lock: %s: %s\n", lost ? "WARNING" : "warning", why.buf);
		fflush(g->err);
		free(g->said);
		g->said = strbuf_detach(&why, NULL);
	}
	strbuf_release(&why);
}

static void *guard_main(void *arg)
{
	struct guard *g = arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = g->stop, .events = POLLIN},
		                      {.fd = lease_watch_fd(g->lease), .events = POLLIN}};
		int r = poll(p, p[1].fd >= 0 ? 2 : 1, 10000);
		if (r < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		guard_check(g);
	}
	return NULL;
}

static void guard_start(struct guard *g, const struct lease *l, FILE *err)
{
	*g = (struct guard){.lease = l, .err = err};
	g->stop = eventfd(0, EFD_CLOEXEC);
	if (g->stop < 0)
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	g->started = pthread_create(&g->th, NULL, guard_main, g) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void guard_stop(struct guard *g)
{
	if (g->started) {
		uint64_t one = 1;
		ssize_t w = write(g->stop, &one, sizeof(one));
		(void)w;
		pthread_join(g->th, NULL);
	}
	if (g->stop >= 0)
		close(g->stop);
	guard_check(g); /* at release */
	free(g->said);
}

static int run_locked(struct lock_opts *o, unsigned *devices, size_t ndevices, int argc,
                      char **argv, struct gpuci_ctx *ctx)
{
	struct proc_signals ps;
	struct diag d = DIAG_INIT;
	if (proc_signals_open(&ps, &d) < 0) {
		cli_error(ctx, "lock", &d);
		diag_release(&d);
		return EXIT_FAILED;
	}
	char *what = join_argv(argv, argc);
	struct lease_spec spec = {
	    .pattern = o->pattern,
	    .total = o->total,
	    .count = devices ? 0 : o->count,
	    .devices = devices,
	    .ndevices = ndevices,
	    .timeout = o->timeout,
	    .cancel_fd = ps.fd,
	    .what = what,
	    .watch = true, /* the holder says at once when its files lose a name */
	};
	struct wait_note note = {ctx, &spec};
	struct busy_note bnote = {ctx, o->wait_idle};
	if (!o->quiet) {
		spec.on_wait = note_waiting;
		spec.on_wait_arg = &note;
		spec.on_busy = note_busy;
		spec.on_busy_arg = &bnote;
	}
	spec.nvml = cli_open_nvml("lock", o->wait_idle, ctx);
	spec.wait_idle = o->wait_idle;
	spec.idle_bytes = (unsigned long long)o->idle_mem * 1024 * 1024;
	spec.busy_warn = !strcmp(o->busy, "warn");
	struct lease *lease;
	int rc = EXIT_OK;
	int arc = lease_acquire(&lease, &spec, &d);
	gpu_nvml_close(spec.nvml);
	if (arc < 0) {
		if (d.code == DIAG_CANCELED) {
			int sig = proc_signals_take(&ps);
			rc = 128 + (sig ? sig : ps.received);
		} else {
			cli_error(ctx, "lock", &d);
			rc = d.code == DIAG_TIMEOUT ? EXIT_TEMPFAIL
			     : d.code == DIAG_USAGE ? EXIT_USAGE
			                            : EXIT_FAILED;
		}
		diag_release(&d);
		free(what);
		proc_signals_close(&ps);
		return rc;
	}
	if (lease_warning(lease))
		fprintf(ctx->err, "gpuci lock: warning: %s\n", lease_warning(lease));

	const unsigned *gpus;
	size_t n = lease_gpus(lease, &gpus);
	struct strbuf list = STRBUF_INIT, env_buf = STRBUF_INIT;
	join_gpus(&list, gpus, n);
	const char *genv[GPU_ENV_N];
	gpu_env(&env_buf, o->env_name, gpus, n, genv);
	char *setenv_list[GPU_ENV_N + 1] = {(char *)genv[0], (char *)genv[1], NULL};
	if (!o->quiet)
		fprintf(ctx->err, "gpuci lock: acquired GPUs %s after %.3fs (%s)\n", list.buf,
		        lease_waited(lease), genv[0]);

	struct proc_job job = {.argv = argv,
	                       .setenv = setenv_list,
	                       .kill_after = o->kill_after,
	                       .ignore_sigpipe = ctx->sigpipe_ignored};
	struct proc_result res;
	struct guard guard;
	guard_start(&guard, lease, ctx->err);
	int prc = proc_run(&res, &job, &ps, &d);
	guard_stop(&guard);
	if (prc < 0) {
		cli_error(ctx, "lock", &d);
		rc = EXIT_FAILED;
	} else {
		if (!res.started)
			fprintf(ctx->err, "gpuci lock: cannot run '%s': %s\n", argv[0],
			        strerror(res.exec_errno));
		if (!o->quiet && (res.ended || res.killed))
			fprintf(
			    ctx->err,
			    "gpuci lock: ended %u process(es) the command left behind (%u needed "
			    "SIGKILL)\n",
			    res.ended > res.killed ? res.ended : res.killed, res.killed);
		rc = proc_exit_code(&res);
	}
	/* Every process of the job is gone: now the GPUs may go to the next. */
	lease_free(lease);
	strbuf_release(&list);
	strbuf_release(&env_buf);
	diag_release(&d);
	free(what);
	proc_signals_close(&ps);
	return rc;
}

int cmd_lock(int argc, char **argv, struct gpuci_ctx *ctx)
{
	struct lock_opts o = {
	    .timeout = 86400,
	    .env_name = GPU_ENV_DEFAULT_VAR,
	    .pattern = LEASE_DEFAULT_PATTERN,
	    .kill_after = 10,
	    .wait_idle = LEASE_DEFAULT_WAIT_IDLE,
	    .idle_mem = LEASE_DEFAULT_IDLE_MIB,
	    .busy = "fail",
	};
	if (argc >= 2 && !strcmp(argv[1], "status"))
		return lock_status(argc - 1, argv + 1, ctx, &o);

	const struct cli_option opts[] = {
	    {"count", 0, CLI_OPT_UINT, &o.count, "N", "take any N free GPUs", &o.count_given},
	    {"devices", 0, CLI_OPT_STRING, &o.devices, "LIST", "take exactly these GPUs, e.g. 0,2",
	     NULL},
	    {"total-gpus", 0, CLI_OPT_UINT, &o.total, "N",
	     "GPUs on this machine (default: discovered)", &o.total_given},
	    {"timeout", 0, CLI_OPT_SECS, &o.timeout, "S",
	     "give up waiting after S seconds, exit 75 (default 86400)", NULL},
	    {"target-env-name", 0, CLI_OPT_STRING, &o.env_name, "NAME",
	     "variable that gets the GPU list (default CUDA_VISIBLE_DEVICES)", NULL},
	    {"lock-path-pattern", 0, CLI_OPT_STRING, &o.pattern, "P",
	     "lock files, {gpu_id} replaced (default " LEASE_DEFAULT_PATTERN ")", NULL},
	    {"kill-after", 0, CLI_OPT_SECS, &o.kill_after, "S",
	     "SIGKILL what is left S seconds after SIGTERM (default 10)", NULL},
	    {"wait-idle", 0, CLI_OPT_SECS, &o.wait_idle, "S",
	     "wait up to S seconds for a GPU won to be idle (NVML), 0: no check (default 120)",
	     NULL},
	    {"idle-mem", 0, CLI_OPT_UINT, &o.idle_mem, "MIB",
	     "a GPU with more MiB used is busy, as one with any process (default 256)", NULL},
	    {"busy", 0, CLI_OPT_STRING, &o.busy, "fail|warn",
	     "still busy after --wait-idle: exit 75, or run CMD with a warning (default fail)",
	     NULL},
	    {"print-only", 0, CLI_OPT_FLAG, &o.print_only, NULL,
	     "print 'Free GPUs: 0,3,...' and exit, holding nothing", NULL},
	    {"quiet", 'q', CLI_OPT_FLAG, &o.quiet, NULL, "print nothing of gpuci's own", NULL},
	    {0},
	};
	struct diag d = DIAG_INIT;
	int rest;
	bool help;
	int rc = EXIT_OK;
	unsigned *devices = NULL;
	size_t ndevices = 0;
	if (cli_parse(argc, argv, opts, true, &rest, &help, &d) < 0)
		goto usage;
	if (help) {
		print_help(ctx, opts);
		return EXIT_OK;
	}
	if (lease_check_pattern(o.pattern, &d) < 0)
		goto usage;
	if (!*o.env_name || strchr(o.env_name, '=')) {
		diag_set(&d, DIAG_USAGE, "--target-env-name must be a variable name, not '%s'",
		         o.env_name);
		goto usage;
	}
	if (strcmp(o.busy, "fail") != 0 && strcmp(o.busy, "warn") != 0) {
		diag_set(&d, DIAG_USAGE, "--busy expects fail or warn, not '%s'", o.busy);
		goto usage;
	}
	if (o.print_only) {
		if (rest < argc) {
			diag_set(&d, DIAG_USAGE, "--print-only takes no command");
			goto usage;
		}
		rc = resolve_total(&o, ctx);
		return rc != EXIT_OK ? rc : print_only(&o, ctx);
	}
	if (o.devices && o.count_given) {
		diag_set(&d, DIAG_USAGE, "give --count or --devices, not both");
		goto usage;
	}
	if (!o.devices && !o.count_given) {
		diag_set(&d, DIAG_USAGE,
		         "say how many GPUs with --count N, or which with --devices");
		goto usage;
	}
	if (o.count_given && o.count == 0) {
		diag_set(&d, DIAG_USAGE, "--count must be at least 1");
		goto usage;
	}
	if (rest >= argc) {
		diag_set(&d, DIAG_USAGE, "no command to run; put it after '--'");
		goto usage;
	}
	if (o.devices && parse_devices(o.devices, &devices, &ndevices, &d) < 0)
		goto usage;
	/* GPU ids are 0..total-1; only a guessed total cannot rule one out. */
	bool guessed = false;
	rc = resolve_total_src(&o, ctx, o.devices ? &guessed : NULL);
	if (rc != EXIT_OK) {
		free(devices);
		return rc;
	}
	if (o.count_given && o.count > o.total) {
		diag_set(&d, DIAG_USAGE, "--count %u is more than the %u GPUs of this machine",
		         o.count, o.total);
		goto usage;
	}
	for (size_t i = 0; !guessed && i < ndevices; i++)
		if (devices[i] >= o.total) {
			diag_set(&d, DIAG_USAGE, "--devices names GPU %u, but there are only %u",
			         devices[i], o.total);
			goto usage;
		}
	rc = run_locked(&o, devices, ndevices, argc - rest, argv + rest, ctx);
	free(devices);
	return rc;
usage:
	rc = cli_usage_error(ctx, "lock", &d);
	diag_release(&d);
	free(devices);
	return rc;
}
