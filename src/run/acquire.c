/*
 * run/acquire: the one thread of a suite that waits for GPUs (it blocks
 * in lease_acquire() for the next test that needs some), and what the
 * supervisor does with its answer. See run.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "report/report.h"
#include "run/run_int.h"
#include "base/banned.h"

/* ---- the acquirer thread ------------------------------------------------ */

static void *acquire_main(void *arg)
{
	struct acquirer *a = arg;
	a->rc = lease_acquire(&a->lease, &a->spec, &a->d);
	char c = 1;
	while (write(a->done_pipe[1], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* In the acquirer thread: the request sleeps; the main thread says for whom. */
static void acquire_waits(void *arg, size_t ahead, size_t reserved)
{
	struct acquirer *a = arg;
	char c = 1;
	(void)ahead;
	(void)reserved;
	while (write(a->wait_pipe[1], &c, 1) < 0 && errno == EINTR)
		;
}

/*
 * In the acquirer thread: a GPU won is busy. Nothing is printed here (the
 * cli prints): the line is left for the main thread, woken by a 2 on the
 * wait pipe, to tell as a BUSY event.
 */
static void acquire_busy(void *arg, unsigned gpu, const struct gpu_usage *u)
{
	struct acquirer *a = arg;
	struct strbuf m = STRBUF_INIT;
	gpu_usage_describe(u, &m);
	pthread_mutex_lock(&a->busy_mu);
	strbuf_addf(&a->busy_text,
	            "GPU %u is busy: %s; waiting up to %gs for it to be idle (--wait-idle)\n", gpu,
	            m.buf, a->spec.wait_idle);
	pthread_mutex_unlock(&a->busy_mu);
	strbuf_release(&m);
	char c = 2;
	while (write(a->wait_pipe[1], &c, 1) < 0 && errno == EINTR)
		;
}

int run__acquire_start(struct run *r, size_t i, struct diag *d)
{
	struct acquirer *a = &r->acq;
	a->busy = true;
	a->index = i;
	a->lease = NULL;
	a->rc = 0;
	diag_release(&a->d);
	diag_init(&a->d);
	a->spec = (struct lease_spec){
	    .pattern = r->o->lock_pattern,
	    .total = r->o->total_gpus,
	    .count = r->tests[i].gpus,
	    .timeout = -1,
	    .cancel_fd = r->cancel_pipe[0],
	    .what = r->tests[i].display,
	    .on_wait = acquire_waits,
	    .on_wait_arg = a,
	    .nvml = r->o->nvml,
	    .wait_idle = r->o->wait_idle,
	    .idle_bytes = r->o->idle_bytes,
	    .busy_warn = r->o->busy_warn,
	    .on_busy = acquire_busy,
	    .on_busy_arg = a,
	};
	int e = pthread_create(&a->thread, NULL, acquire_main, a);
	if (e) {
		a->busy = false;
		errno = e;
		return diag_errno(d, "cannot start a thread");
	}
	return 0;
}

/* An attempt of test i that never started (kind: its END), then its FINISHED. */
static void not_started(struct run *r, size_t i, enum run_event_kind kind, const char *text)
{
	const struct run_test *t = &r->tests[i];
	struct run_event ev = {.kind = kind,
	                       .test = t,
	                       .index = i,
	                       .attempt = t->attempts,
	                       .gpu_ids = "",
	                       .text = text};
	run__emit(r, &ev);
	ev.kind = RUN_EV_FINISHED;
	run__emit(r, &ev);
}

int run__acquired(struct run *r, struct diag *d)
{
	struct acquirer *a = &r->acq;
	char c;
	while (read(a->done_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	pthread_join(a->thread, NULL);
	run__say_busy(r); /* what it found busy first, then what came of it */
	a->busy = false;
	struct run_test *t = &r->tests[a->index];
	if (a->rc < 0) {
		sched_done(r->sched, a->index, run__mono() - r->t0);
		t->st->phase = P_DONE;
		r->done++;
		if (a->d.code == DIAG_CANCELED || r->stopping) {
			t->status = REPORT_CANCELED;
			run__set_str(&t->message, "stopped while waiting for GPUs");
			not_started(r, a->index, RUN_EV_CANCELED, t->message);
			return 0;
		}
		t->status = a->d.code == DIAG_USAGE ? REPORT_NOT_RUNNABLE : REPORT_FAILED;
		run__set_str(&t->message, a->d.msg.buf);
		not_started(r, a->index, RUN_EV_FAILED, t->message);
		return 0;
	}
	if (r->stopping) {
		lease_free(a->lease);
		sched_done(r->sched, a->index, run__mono() - r->t0);
		t->st->phase = P_DONE;
		t->status = REPORT_CANCELED;
		r->done++;
		not_started(r, a->index, RUN_EV_CANCELED, NULL);
		return 0;
	}
	/* Handed out still busy (--busy=warn), or unchecked: said before it starts. */
	const char *w = lease_warning(a->lease);
	if (w && *w) {
		struct run_event ev = {.kind = RUN_EV_BUSY,
		                       .test = t,
		                       .index = a->index,
		                       .attempt = t->attempts,
		                       .gpu_ids = "",
		                       .text = w,
		                       .serious = true};
		run__emit(r, &ev);
	}
	t->st->lease = a->lease;
	a->lease = NULL;
	return run__spawn(r, a->index, d);
}

/*
 * The acquirer's request sleeps: when what it waits for is held or asked
 * for by someone other than this run (another runner, gpuci lock, a test
 * of an earlier run that escaped), say who, as `gpuci lock status` would.
 */
void run__say_busy(struct run *r)
{
	struct acquirer *a = &r->acq;
	pthread_mutex_lock(&a->busy_mu);
	char *text = a->busy_text.len ? strbuf_detach(&a->busy_text, NULL) : NULL;
	pthread_mutex_unlock(&a->busy_mu);
	if (!text)
		return;
	for (char *p = text, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		if (a->busy)
			run__emit_test(r, RUN_EV_BUSY, a->index, p);
	}
	free(text);
}

void run__say_who_holds(struct run *r)
{
	char c;
	bool waits = false, busy = false;
	while (read(r->acq.wait_pipe[0], &c, 1) > 0) {
		waits |= c == 1;
		busy |= c == 2;
	}
	if (busy)
		run__say_busy(r);
	if (!r->acq.busy || !waits)
		return;
	struct lease_status *ls;
	struct diag d = DIAG_INIT;
	if (lease_status_read(&ls, r->o->lock_pattern, r->o->total_gpus, &d) < 0) {
		diag_release(&d);
		return;
	}
	pid_t self = getpid();
	struct strbuf m = STRBUF_INIT;
	size_t shown = 0, more = 0;
	for (size_t i = 0; i < ls->ngpus; i++) {
		const struct lease_gpu_state *g = &ls->gpus[i];
		if (!g->held || g->pid == self)
			continue;
		if (shown == 4) {
			more++;
			continue;
		}
		strbuf_addf(&m, "%sGPU %u held", shown ? "; " : "", g->gpu);
		if (g->pid > 0)
			strbuf_addf(&m, " by pid %d%s", (int)g->pid,
			            g->pid_alive ? ""
			                         : " (gone; a process it started keeps the lock)");
		else
			strbuf_adds(&m, " by a process gpuci cannot see");
		if (g->held_for >= 0) {
			strbuf_adds(&m, " for ");
			report_add_duration(&m, g->held_for);
		}
		if (g->cmd && *g->cmd)
			strbuf_addf(&m, ": %s", g->cmd);
		shown++;
	}
	if (more)
		strbuf_addf(&m, "; %zu more GPU%s held", more, more == 1 ? "" : "s");
	size_t ahead = 0;
	for (size_t i = 0; i < ls->nwaiters; i++)
		ahead += ls->waiters[i].pid != self;
	if (ahead)
		strbuf_addf(&m, "%s%zu other request%s waiting", m.len ? "; " : "", ahead,
		            ahead == 1 ? "" : "s");
	if (m.len) {
		strbuf_adds(&m, " (gpuci lock status)");
		run__emit_test(r, RUN_EV_WAITING, r->acq.index, m.buf);
	}
	strbuf_release(&m);
	lease_status_free(ls);
	diag_release(&d);
}
