/* Acquiring and releasing leases; the design is in lease.h. */
#include "lease/lease_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/banned.h"

/*
 * How often the head checks that it is still the head and that the lock
 * files it sleeps on were not replaced (a queue file deleted under waiters
 * can leave two heads for that long).
 */
#define HEAD_RECHECK_MS 1000

struct lease {
	size_t n;
	unsigned *gpus;
	int *fds; /* held locks, no FD_CLOEXEC: see lease.h */
	double waited;
	char *warning;
	char *pattern;
	int watch_fd; /* inotify, or -1 */
	int note_fd;  /* the wait's inotify, closed after the locks (it is slow) */
};

int lease_check_pattern(const char *pattern, struct diag *d)
{
	if (!pattern || !strstr(pattern, LEASE_PLACEHOLDER))
		return diag_set(d, DIAG_USAGE, "--lock-path-pattern must contain %s: '%s'",
		                LEASE_PLACEHOLDER, pattern ? pattern : "");
	return 0;
}

char *lease_path(const char *pattern, const char *id)
{
	struct strbuf sb = STRBUF_INIT;
	size_t plen = strlen(LEASE_PLACEHOLDER);
	const char *p = pattern, *hit;
	while ((hit = strstr(p, LEASE_PLACEHOLDER))) {
		strbuf_add(&sb, p, (size_t)(hit - p));
		strbuf_adds(&sb, id);
		p = hit + plen;
	}
	strbuf_adds(&sb, p);
	return strbuf_detach(&sb, NULL);
}

/* Creates the pattern's directory like the Python script does (mkdir -p). */
static void make_parent_dirs(const char *pattern)
{
	char *dir = xstrdup(pattern);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		for (char *p = dir + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			(void)mkdir(dir, 0777);
			*p = '/';
		}
		(void)mkdir(dir, 0777);
	}
	free(dir);
}

/* ---- acquisition ------------------------------------------------------- */

void acq_warn(struct acq *a, const char *msg)
{
	if (a->warn.len)
		strbuf_adds(&a->warn, "; ");
	strbuf_adds(&a->warn, msg);
}

int acq_fail_wait(struct acq *a, enum wait_result r)
{
	switch (r) {
	case WAIT_TIMEOUT:
		if (a->spec->devices) {
			struct strbuf devs = STRBUF_INIT;
			q_devices_string(a->spec, &devs);
			diag_set(a->d, DIAG_TIMEOUT, "timed out after %gs waiting for GPUs %s",
			         a->spec->timeout, devs.buf);
			strbuf_release(&devs);
		} else {
			diag_set(a->d, DIAG_TIMEOUT,
			         "timed out after %gs waiting for %zu of %u GPUs", a->spec->timeout,
			         a->need, a->spec->total);
		}
		return -1;
	case WAIT_CANCELED:
		return diag_set(a->d, DIAG_CANCELED, "interrupted while waiting for GPUs");
	default:
		return diag_errno(a->d, "waiting for GPUs failed");
	}
}

/* Whether the lock file of candidate i was replaced since we opened it. */
static bool lock_file_replaced(struct acq *a, size_t i)
{
	char *path = gpu_path(a->spec->pattern, a->cand[i]);
	struct stat now, ours;
	bool replaced =
	    lstat(path, &now) < 0 || fstat(a->fds[i], &ours) < 0 || !same_file(&now, &ours);
	free(path);
	return replaced;
}

/*
 * Takes candidate i out of service: its lock file cannot be used. A request
 * for exactly that GPU fails; a count request goes on with the others while
 * enough remain.
 */
static int out_of_service(struct acq *a, size_t i, struct diag *why)
{
	a->unusable[i] = true;
	a->nunusable++;
	struct strbuf w = STRBUF_INIT;
	strbuf_addf(&w, "GPU %u is out of service: %s", a->cand[i], why->msg.buf);
	int rc = 0;
	if (a->spec->devices) {
		rc = diag_set(a->d, why->code == DIAG_INPUT ? DIAG_INPUT : DIAG_SYSTEM, "%s",
		              why->msg.buf);
	} else {
		acq_warn(a, w.buf);
		if (a->ncand - a->nunusable < a->need)
			rc = diag_set(a->d, DIAG_INPUT,
			              "cannot take %zu GPUs: only %zu of %zu can be used (%s)",
			              a->need, a->ncand - a->nunusable, a->ncand, a->warn.buf);
	}
	strbuf_release(&w);
	return rc;
}

/* Opens candidate i's lock file (again, if it was replaced). 1: out of service. */
static int open_candidate(struct acq *a, size_t i)
{
	if (a->fds[i] >= 0) {
		if (!lock_file_replaced(a, i))
			return 0;
		close(a->fds[i]);
		a->fds[i] = -1;
	}
	char *path = gpu_path(a->spec->pattern, a->cand[i]);
	struct diag od = DIAG_INIT;
	int rc = lock_file_open(&a->fds[i], path, true, true, &od);
	free(path);
	if (rc < 0) {
		a->fds[i] = -1;
		rc = out_of_service(a, i, &od) < 0 ? -1 : 1;
	}
	diag_release(&od);
	return rc;
}

static void tell_waiting(struct acq *a, size_t ahead)
{
	if (a->told || !a->spec->on_wait)
		return;
	a->told = true;
	a->spec->on_wait(a->spec->on_wait_arg, ahead, a->nheld);
}

/*
 * We hold LOCK_EX on candidate i's file: it is ours if the path still names
 * it and no one holds the GPU through its witness (gpu_claim()).
 */
static void claim(struct acq *a, size_t i)
{
	int ofd;
	switch (gpu_claim(a->spec->pattern, a->cand[i], a->fds[i], &ofd)) {
	case CLAIM_OK:
		a->held[i] = true;
		a->nheld++;
		break;
	case CLAIM_RETRY:
		flock(a->fds[i], LOCK_UN);
		close(a->fds[i]);
		a->fds[i] = -1;
		break;
	case CLAIM_ORPHAN:
		flock(a->fds[i], LOCK_UN);
		a->orphan[i] = ofd;
		break;
	}
}

static void let_go(struct acq *a, size_t i)
{
	gpu_unclaim(a->spec->pattern, a->cand[i], a->fds[i]);
	flock(a->fds[i], LOCK_UN);
	a->held[i] = false;
	a->nheld--;
}

/* Takes candidate i if it is free, without waiting. */
static int take_one(struct acq *a, size_t i)
{
	for (int tries = 0; tries < 4 && !a->held[i] && !a->unusable[i] && a->orphan[i] < 0;
	     tries++) {
		int rc = open_candidate(a, i);
		if (rc < 0)
			return -1;
		if (rc > 0)
			break;
		if (flock(a->fds[i], LOCK_EX | LOCK_NB) == 0) {
			claim(a, i);
		} else {
			if (errno != EWOULDBLOCK)
				return diag_errno(a->d, "cannot lock GPU %u", a->cand[i]);
			break;
		}
	}
	return 0;
}

/* Takes, without waiting, every candidate we still need that is free. */
static int take_free(struct acq *a)
{
	for (size_t i = 0; i < a->ncand && a->nheld < a->need; i++)
		if (take_one(a, i) < 0)
			return -1;
	return 0;
}

/* Whether we are still the head of the queue the path names now. */
static int still_head(struct acq *a, bool *head)
{
	unsigned long pred;
	size_t ahead;
	int rc = q_predecessor(a, &pred, &ahead);
	*head = pred == 0;
	return rc;
}

/*
 * As the head: holds what is free and sleeps on the rest until we have all.
 * Returns 1 when we turned out not to be the head (a waiter that was ahead
 * of us joined the queue again after its file was replaced): the
 * reservation is given back and we wait in line again.
 */
static int wait_for_gpus(struct acq *a)
{
	int *fds = xmalloc(a->ncand * sizeof(*fds));
	int *ops = xmalloc(a->ncand * sizeof(*ops));
	size_t *idx = xmalloc(a->ncand * sizeof(*idx));
	int rc = 0;
	bool lost = false;
	while (rc == 0 && !lost) {
		rc = take_free(a);
		if (rc < 0 || a->nheld >= a->need)
			break;
		size_t n = 0;
		for (size_t i = 0; i < a->ncand; i++) {
			if (a->held[i] || a->unusable[i])
				continue;
			if (a->orphan[i] < 0 && a->fds[i] < 0)
				continue; /* replaced just now: opened again by take_free() */
			fds[n] = a->orphan[i] >= 0 ? a->orphan[i] : a->fds[i];
			ops[n] = a->orphan[i] >= 0 ? LOCK_SH : LOCK_EX;
			idx[n++] = i;
		}
		if (n == 0)
			continue;
		tell_waiting(a, 0);
		struct waitset ws = {.efd = -1};
		rc = waitset_start(&ws, fds, ops, n, a->d);
		enum wait_result r = WAIT_ERROR;
		while (rc == 0) {
			r = wait_event(ws.efd, a->spec->cancel_fd, a->deadline, HEAD_RECHECK_MS,
			               q_note_fd(a));
			if (r == WAIT_EVENT) {
				size_t got = 0, other = 0;
				for (size_t k = 0; k < n; k++) {
					int st = atomic_load(&ws.slots[k].state);
					got += st == SLOT_LOCKED && ops[k] == LOCK_EX;
					other += st == SLOT_FAILED ||
					         (st == SLOT_LOCKED && ops[k] == LOCK_SH);
				}
				if (other || a->nheld + got >= a->need)
					break;
				continue;
			}
			if (r == WAIT_RECHECK) {
				bool replaced = false, head = true;
				for (size_t k = 0; k < n; k++)
					replaced |=
					    ops[k] == LOCK_EX && lock_file_replaced(a, idx[k]);
				if (replaced)
					break;
				rc = still_head(a, &head);
				if (rc == 0 && head)
					continue;
				lost = !head;
			}
			break;
		}
		waitset_stop(&ws);
		bool keep = rc == 0 && !lost && (r == WAIT_EVENT || r == WAIT_RECHECK);
		for (size_t k = 0; k < ws.n; k++) {
			struct slot *s = &ws.slots[k];
			size_t i = idx[k];
			if (atomic_load(&s->state) == SLOT_LOCKED) {
				if (ops[k] == LOCK_SH) { /* the GPU's orphaned holder is gone */
					close(a->orphan[i]);
					a->orphan[i] = -1;
				} else if (keep && a->nheld < a->need) {
					claim(a, i);
				} else {
					flock(s->fd, LOCK_UN);
				}
			} else if (atomic_load(&s->state) == SLOT_FAILED && rc == 0) {
				errno = s->err;
				rc = diag_errno(a->d, "cannot lock GPU %u", a->cand[i]);
			}
		}
		waitset_release(&ws);
		if (rc == 0 && !lost && r != WAIT_EVENT && r != WAIT_RECHECK)
			rc = acq_fail_wait(a, r);
	}
	if (lost) {
		for (size_t i = 0; i < a->ncand; i++)
			if (a->held[i])
				let_go(a, i);
		rc = 1;
	}
	free(fds);
	free(ops);
	free(idx);
	return rc;
}

/* ---- readiness: a GPU won is handed out once nothing runs on it -------- */

/* How often a GPU that is still busy is asked again (NVML has no event). */
#define IDLE_POLL_MS 250

struct ready {
	double start;
	uint64_t *said; /* per candidate: the holders last told (holders_sig), 0: none */
	bool *unknown;  /* per candidate: NVML could not tell (warned once) */
	bool *busy;     /* per candidate: found busy in this round */
};

/* Who is on a GPU, whatever their order, so that each change is told once. */
static uint64_t holders_sig(const struct gpu_usage *u)
{
	uint64_t sig = (uint64_t)u->nproc * 0x9e3779b97f4a7c15ULL + 1;
	size_t n = u->nproc < GPU_USAGE_MAXPROCS ? u->nproc : GPU_USAGE_MAXPROCS;
	for (size_t i = 0; i < n; i++)
		sig ^= ((uint64_t)u->procs[i].pid + 1) * 0xff51afd7ed558ccdULL;
	return sig;
}

/*
 * Whether candidate i (held) is busy now. A GPU NVML cannot ask about counts
 * as idle, with a warning.
 */
static bool check_busy(struct acq *a, struct ready *r, size_t i, struct gpu_usage *u)
{
	struct diag d = DIAG_INIT;
	if (gpu_usage(a->spec->nvml, a->cand[i], u, &d) < 0) {
		if (!r->unknown[i]) {
			r->unknown[i] = true;
			struct strbuf w = STRBUF_INIT;
			strbuf_addf(&w, "GPU %u handed out without a readiness check: %s",
			            a->cand[i], d.msg.buf);
			acq_warn(a, w.buf);
			strbuf_release(&w);
		}
		diag_release(&d);
		return false;
	}
	return gpu_usage_busy(u, a->spec->idle_bytes);
}

/* Busy candidate i is waited for: tells spec->on_busy when who holds it changed. */
static void tell_busy(struct acq *a, struct ready *r, size_t i, const struct gpu_usage *u)
{
	uint64_t sig = holders_sig(u);
	if (r->said[i] != sig && a->spec->on_busy)
		a->spec->on_busy(a->spec->on_busy_arg, a->cand[i], u);
	r->said[i] = sig;
}

/*
 * A count request trades busy candidate i for a free one that is idle, when
 * there is one: 1 when it did.
 */
static int trade(struct acq *a, struct ready *r, size_t i)
{
	for (size_t j = 0; j < a->ncand; j++) {
		if (a->held[j] || a->unusable[j] || a->orphan[j] >= 0 || r->busy[j])
			continue;
		if (take_one(a, j) < 0)
			return -1;
		if (!a->held[j])
			continue;
		struct gpu_usage u;
		if (check_busy(a, r, j, &u)) {
			r->busy[j] = true;
			let_go(a, j);
			continue;
		}
		let_go(a, i);
		return 1;
	}
	return 0;
}

/* The wait is over and GPUs are still busy: --busy=fail or warn. */
static int still_busy(struct acq *a, struct ready *r)
{
	struct strbuf msg = STRBUF_INIT;
	double waited = mono_now() - r->start;
	for (size_t i = 0; i < a->ncand; i++) {
		if (!a->held[i] || !r->busy[i])
			continue;
		struct gpu_usage u;
		struct diag d = DIAG_INIT;
		if (msg.len)
			strbuf_adds(&msg, "; ");
		strbuf_addf(&msg, "GPU %u is still busy after %.0fs: ", a->cand[i], waited);
		if (gpu_usage(a->spec->nvml, a->cand[i], &u, &d) == 0)
			gpu_usage_describe(&u, &msg);
		else
			strbuf_adds(&msg, d.msg.buf);
		diag_release(&d);
	}
	int rc = 0;
	if (a->spec->busy_warn) {
		strbuf_adds(&msg, " (handed out anyway: --busy=warn)");
		acq_warn(a, msg.buf);
	} else {
		rc = diag_set(a->d, DIAG_TIMEOUT, "%s (waited for it to be idle: --wait-idle)",
		              msg.buf);
	}
	strbuf_release(&msg);
	return rc;
}

/*
 * We hold every GPU we need. Hands them out only when NVML shows nothing on
 * them (no process, at most idle_bytes used), asking every IDLE_POLL_MS for
 * up to wait_idle seconds (and never past the request's timeout), still
 * holding their locks and our place at the head. A count request trades a
 * busy GPU for an idle free one when it can. doc/DESIGN.md has why holding
 * cannot deadlock.
 */
static int wait_idle(struct acq *a)
{
	const struct lease_spec *s = a->spec;
	if (!s->nvml || s->wait_idle <= 0)
		return 0;
	struct ready r = {.start = mono_now()};
	r.said = xcalloc(a->ncand, sizeof(*r.said));
	r.unknown = xcalloc(a->ncand, sizeof(*r.unknown));
	r.busy = xcalloc(a->ncand, sizeof(*r.busy));
	double end = r.start + s->wait_idle;
	if (a->deadline > 0 && a->deadline < end)
		end = a->deadline;
	int rc = 0;
	for (;;) {
		size_t nbusy = 0;
		memset(r.busy, 0, a->ncand * sizeof(*r.busy));
		for (size_t i = 0; i < a->ncand && rc == 0; i++) {
			struct gpu_usage u;
			if (!a->held[i] || !check_busy(a, &r, i, &u))
				continue;
			r.busy[i] = true;
			int traded = s->devices ? 0 : trade(a, &r, i);
			if (traded < 0)
				rc = -1;
			if (traded == 0) {
				tell_busy(a, &r, i, &u);
				nbusy++;
			}
		}
		if (rc < 0 || nbusy == 0)
			break;
		if (mono_now() >= end) {
			rc = still_busy(a, &r);
			break;
		}
		enum wait_result w = wait_event(-1, s->cancel_fd, end, IDLE_POLL_MS, -1);
		if (w == WAIT_CANCELED || w == WAIT_ERROR) {
			rc = acq_fail_wait(a, w);
			break;
		}
	}
	free(r.said);
	free(r.unknown);
	free(r.busy);
	return rc;
}

static void acq_release(struct acq *a, bool keep_held)
{
	for (size_t i = 0; i < a->ncand; i++) {
		if (a->orphan[i] >= 0)
			close(a->orphan[i]);
		if (a->fds[i] < 0 || (keep_held && a->held[i]))
			continue;
		close(a->fds[i]);
		a->fds[i] = -1;
	}
	free(a->cand);
	free(a->fds);
	free(a->orphan);
	free(a->held);
	free(a->unusable);
	free(a->qpath);
	if (a->note_fd >= 0)
		close(a->note_fd);
}

/* Watches the held files for losing a name (IN_ATTRIB: the link count changed). */
static int watch_held(const struct lease *l)
{
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", l->fds[i]);
		(void)inotify_add_watch(fd, path, IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
	}
	return fd;
}

int lease_acquire(struct lease **out, const struct lease_spec *spec, struct diag *d)
{
	*out = NULL;
	if (lease_check_pattern(spec->pattern, d) < 0)
		return -1;
	struct acq a = {
	    .spec = spec, .d = d, .qfd = -1, .tfd = -1, .note_fd = -1, .warn = STRBUF_INIT};
	if (spec->devices) {
		if (spec->ndevices == 0)
			return diag_set(d, DIAG_USAGE, "no GPUs given");
		a.ncand = a.need = spec->ndevices;
		a.cand = xmalloc(a.ncand * sizeof(*a.cand));
		memcpy(a.cand, spec->devices, a.ncand * sizeof(*a.cand));
	} else {
		if (spec->count == 0)
			return diag_set(d, DIAG_USAGE, "--count must be at least 1");
		if (spec->count > spec->total)
			return diag_set(d, DIAG_USAGE,
			                "--count %u is more than the %u GPUs of this machine",
			                spec->count, spec->total);
		a.ncand = spec->total;
		a.need = spec->count;
		a.cand = xmalloc(a.ncand * sizeof(*a.cand));
		for (size_t i = 0; i < a.ncand; i++)
			a.cand[i] = (unsigned)i;
	}
	a.fds = xmalloc(a.ncand * sizeof(*a.fds));
	a.orphan = xmalloc(a.ncand * sizeof(*a.orphan));
	a.held = xcalloc(a.ncand, sizeof(*a.held));
	a.unusable = xcalloc(a.ncand, sizeof(*a.unusable));
	for (size_t i = 0; i < a.ncand; i++)
		a.fds[i] = a.orphan[i] = -1;
	a.start = mono_now();
	a.deadline = spec->timeout >= 0 ? a.start + spec->timeout : 0;
	make_parent_dirs(spec->pattern);

	int rc = q_enqueue(&a);
	do {
		rc = rc == 1 ? 0 : rc; /* not the head after all: wait in line again */
		while (rc == 0) {
			unsigned long pred;
			size_t ahead;
			rc = q_predecessor(&a, &pred, &ahead);
			if (rc < 0 || pred == 0)
				break;
			tell_waiting(&a, ahead);
			rc = q_wait_predecessor(&a, pred);
		}
		if (rc == 0)
			rc = wait_for_gpus(&a);
	} while (rc == 1);
	if (rc == 0)
		rc = wait_idle(&a);
	if (rc < 0) {
		struct diag ignore = DIAG_INIT;
		q_dequeue(&a, false, &ignore);
		diag_release(&ignore);
		for (size_t i = 0; i < a.ncand; i++)
			if (a.held[i])
				let_go(&a, i);
		acq_release(&a, false);
		strbuf_release(&a.warn);
		return -1;
	}

	struct lease *l = xcalloc(1, sizeof(*l));
	l->gpus = xmalloc(a.nheld * sizeof(*l->gpus));
	l->fds = xmalloc(a.nheld * sizeof(*l->fds));
	for (size_t i = 0; i < a.ncand; i++) {
		if (!a.held[i])
			continue;
		/* Held locks go to the command: clear FD_CLOEXEC (see lease.h). */
		fcntl(a.fds[i], F_SETFD, 0);
		l->gpus[l->n] = a.cand[i];
		l->fds[l->n++] = a.fds[i];
	}
	/* Sort ascending (the order of --devices need not be). */
	for (size_t i = 1; i < l->n; i++)
		for (size_t j = i; j > 0 && l->gpus[j - 1] > l->gpus[j]; j--) {
			unsigned g = l->gpus[j];
			l->gpus[j] = l->gpus[j - 1];
			l->gpus[j - 1] = g;
			int f = l->fds[j];
			l->fds[j] = l->fds[j - 1];
			l->fds[j - 1] = f;
		}
	struct diag qd = DIAG_INIT;
	if (q_dequeue(&a, true, &qd) < 0)
		acq_warn(&a, qd.msg.buf);
	diag_release(&qd);
	/* The wait's inotify goes with the lease: closing it now would delay the grant. */
	l->note_fd = a.note_fd;
	a.note_fd = -1;
	acq_release(&a, true);
	l->waited = mono_now() - a.start;
	l->warning = a.warn.len ? strbuf_detach(&a.warn, NULL) : NULL;
	strbuf_release(&a.warn);
	l->pattern = xstrdup(spec->pattern);
	l->watch_fd = spec->watch ? watch_held(l) : -1;
	*out = l;
	return 0;
}

size_t lease_gpus(const struct lease *l, const unsigned **gpus)
{
	*gpus = l->gpus;
	return l->n;
}

size_t lease_fds(const struct lease *l, const int **fds)
{
	*fds = l->fds;
	return l->n;
}

double lease_waited(const struct lease *l)
{
	return l->waited;
}

const char *lease_warning(const struct lease *l)
{
	return l->warning;
}

int lease_watch_fd(const struct lease *l)
{
	return l->watch_fd;
}

size_t lease_check(const struct lease *l, struct strbuf *why)
{
	if (l->watch_fd >= 0) { /* what woke the caller has been seen */
		char buf[4096];
		while (read(l->watch_fd, buf, sizeof(buf)) > 0)
			;
	}
	size_t lost = 0;
	for (size_t i = 0; i < l->n; i++) {
		bool path_ok;
		if (gpu_still_named(l->pattern, l->gpus[i], l->fds[i], &path_ok)) {
			if (!path_ok)
				strbuf_addf(why,
				            "%sthe lock file of GPU %u was deleted or replaced; "
				            "its witness still keeps other requests out",
				            why->len ? "; " : "", l->gpus[i]);
			continue;
		}
		lost++;
		strbuf_addf(why,
		            "%sthe lock file of GPU %u and its witness were deleted or replaced "
		            "while this job holds it: another job may be given GPU %u",
		            why->len ? "; " : "", l->gpus[i], l->gpus[i]);
	}
	return lost;
}

void lease_free(struct lease *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		gpu_unclaim(l->pattern, l->gpus[i], l->fds[i]);
		close(l->fds[i]);
	}
	/* Last: closing an inotify instance waits for an RCU grace period. */
	if (l->watch_fd >= 0)
		close(l->watch_fd);
	if (l->note_fd >= 0)
		close(l->note_fd);
	free(l->gpus);
	free(l->fds);
	free(l->warning);
	free(l->pattern);
	free(l);
}

int lease_probe_free(unsigned **out, size_t *n, const char *pattern, unsigned total,
                     struct strbuf *warn, struct diag *d)
{
	if (lease_check_pattern(pattern, d) < 0)
		return -1;
	make_parent_dirs(pattern);
	unsigned *free_gpus = xmalloc((total ? total : 1) * sizeof(*free_gpus));
	size_t k = 0;
	for (unsigned g = 0; g < total; g++) {
		char *path = gpu_path(pattern, g);
		int fd;
		struct diag od = DIAG_INIT;
		int rc = lock_file_open(&fd, path, true, true, &od);
		free(path);
		if (rc < 0) {
			strbuf_addf(warn, "%sGPU %u is out of service: %s", warn->len ? "; " : "",
			            g, od.msg.buf);
			diag_release(&od);
			continue;
		}
		diag_release(&od);
		struct stat st, wst;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
		    !gpu_witness_held(pattern, g, &st, &wst))
			free_gpus[k++] = g;
		close(fd);
	}
	*out = free_gpus;
	*n = k;
	return 0;
}
