/* Acquiring and releasing leases; the design is in lease.h. */
#include "lease/lease_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/banned.h"

/* How often a sleeping waiter checks that its lock files were not replaced. */
#define SAFETY_RECHECK_MS 10000

struct lease {
	size_t n;
	unsigned *gpus;
	int *fds; /* held locks, no FD_CLOEXEC: see lease.h */
	double waited;
	char *warning;
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

static char *gpu_path(const char *pattern, unsigned gpu)
{
	char id[16];
	snprintf(id, sizeof(id), "%u", gpu);
	return lease_path(pattern, id);
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* ---- waiter threads ---------------------------------------------------- */

/*
 * A waitset sleeps in blocking flock() calls, one thread per lock, and
 * reports each success on an eventfd the caller polls along with its own
 * cancel descriptor and deadline. Stopping interrupts the flock() calls with
 * SIGUSR2 (handler installed without SA_RESTART): a thread checks `stop`
 * before each flock(), and the signal is re-sent until every thread is out,
 * which closes the window between that check and the flock() call.
 */
enum slot_state { SLOT_WAITING, SLOT_LOCKED, SLOT_FAILED, SLOT_STOPPED };

struct slot {
	pthread_t th;
	int fd, op;
	atomic_int state;
	int err;
	atomic_bool *stop;
	int efd;
};

struct waitset {
	int efd;
	atomic_bool stop;
	size_t n;
	struct slot *slots;
};

static void wake_noop(int sig)
{
	(void)sig;
}

static void *slot_main(void *arg)
{
	struct slot *s = arg;
	int result = SLOT_STOPPED;
	while (!atomic_load(s->stop)) {
		if (flock(s->fd, s->op) == 0) {
			result = SLOT_LOCKED;
			break;
		}
		if (errno != EINTR) {
			s->err = errno;
			result = SLOT_FAILED;
			break;
		}
	}
	atomic_store(&s->state, result);
	uint64_t one = 1;
	ssize_t w = write(s->efd, &one, sizeof(one));
	(void)w;
	return NULL;
}

static int waitset_start(struct waitset *ws, const int *fds, size_t n, int op, struct diag *d)
{
	static atomic_bool installed;
	if (!atomic_exchange(&installed, true)) {
		struct sigaction sa = {.sa_handler = wake_noop};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR2, &sa, NULL);
	}
	ws->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ws->efd < 0)
		return diag_errno(d, "eventfd");
	atomic_store(&ws->stop, false);
	ws->n = 0;
	ws->slots = xcalloc(n, sizeof(*ws->slots));

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, (size_t)64 * 1024);
	/* Waiter threads take SIGUSR2 only; the caller's signals stay with it. */
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGUSR2);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct slot *s = &ws->slots[i];
		s->fd = fds[i];
		s->op = op;
		s->stop = &ws->stop;
		s->efd = ws->efd;
		atomic_store(&s->state, SLOT_WAITING);
		int e = pthread_create(&s->th, &attr, slot_main, s);
		if (e) {
			errno = e;
			rc = diag_errno(d, "cannot start a waiter thread");
			break;
		}
		ws->n++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc;
}

/* Stops and joins every thread; slot states stay readable until release. */
static void waitset_stop(struct waitset *ws)
{
	atomic_store(&ws->stop, true);
	for (size_t i = 0; i < ws->n; i++) {
		struct slot *s = &ws->slots[i];
		while (atomic_load(&s->state) == SLOT_WAITING) {
			pthread_kill(s->th, SIGUSR2);
			struct timespec ts = {0, 50000};
			nanosleep(&ts, NULL);
		}
		pthread_join(s->th, NULL);
	}
}

static void waitset_release(struct waitset *ws)
{
	if (ws->efd >= 0)
		close(ws->efd);
	free(ws->slots);
	*ws = (struct waitset){.efd = -1};
}

enum wait_result { WAIT_EVENT, WAIT_TIMEOUT, WAIT_CANCELED, WAIT_RECHECK, WAIT_ERROR };

/* Sleeps until a thread reports, the deadline, cancel_fd, or a safety tick. */
static enum wait_result wait_event(int efd, int cancel_fd, double deadline)
{
	for (;;) {
		int ms = SAFETY_RECHECK_MS;
		if (deadline > 0) {
			double left = deadline - mono_now();
			if (left <= 0)
				return WAIT_TIMEOUT;
			if (left * 1000 < ms)
				ms = (int)(left * 1000) + 1;
		}
		struct pollfd p[2] = {{.fd = efd, .events = POLLIN},
		                      {.fd = cancel_fd, .events = POLLIN}};
		int r = poll(p, cancel_fd >= 0 ? 2 : 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return WAIT_ERROR;
		if (cancel_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			return WAIT_CANCELED;
		if (p[0].revents & POLLIN) {
			uint64_t v;
			ssize_t n = read(efd, &v, sizeof(v));
			(void)n;
			return WAIT_EVENT;
		}
		if (r == 0) {
			if (deadline > 0 && mono_now() >= deadline)
				return WAIT_TIMEOUT;
			return WAIT_RECHECK;
		}
	}
}

/* ---- acquisition ------------------------------------------------------- */

struct acq {
	const struct lease_spec *spec;
	struct diag *d;
	double start, deadline;
	size_t ncand;
	unsigned *cand; /* candidate GPUs, in the order they are tried */
	int *fds;       /* one per candidate, -1 until opened */
	bool *held;
	size_t nheld, need;
	bool told; /* on_wait was called */
	int qfd;   /* queue file, or -1 when the queue cannot be used */
	int tfd;   /* our ticket, or -1 */
	unsigned long seq;
	char *warning;
};

static int fail_wait(struct acq *a, enum wait_result r);

/*
 * Locks the queue file. Holders keep it for microseconds, so a few quick
 * tries come first; past them (its holder was stopped with SIGSTOP, say) we
 * sleep in the kernel like any other wait, so that --timeout and signals
 * still end the wait. The lock belongs to the open file description, so a
 * waiter thread can take it for us.
 */
static int queue_lock(struct acq *a, double deadline, struct diag *d)
{
	for (int i = 0; i < 3; i++) {
		if (flock(a->qfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return diag_errno(d, "cannot lock the lock queue");
		sched_yield();
	}
	struct waitset ws = {.efd = -1};
	int rc = waitset_start(&ws, &a->qfd, 1, LOCK_EX, d);
	enum wait_result r = WAIT_RECHECK;
	while (rc == 0 && r == WAIT_RECHECK)
		r = wait_event(ws.efd, a->spec->cancel_fd, deadline);
	waitset_stop(&ws);
	if (rc == 0 && atomic_load(&ws.slots[0].state) != SLOT_LOCKED) {
		if (atomic_load(&ws.slots[0].state) == SLOT_FAILED) {
			errno = ws.slots[0].err;
			rc = diag_errno(d, "cannot lock the lock queue");
		} else {
			struct diag *keep = a->d;
			a->d = d;
			rc = fail_wait(a, r);
			a->d = keep;
		}
	}
	waitset_release(&ws);
	return rc;
}

static void queue_unlock(struct acq *a)
{
	flock(a->qfd, LOCK_UN);
}

static void devices_string(const struct lease_spec *spec, struct strbuf *sb)
{
	for (size_t i = 0; i < spec->ndevices; i++)
		strbuf_addf(sb, "%s%u", i ? "," : "", spec->devices[i]);
}

/* Joins the queue: takes a sequence number and a locked ticket. */
static int enqueue(struct acq *a)
{
	const char *pattern = a->spec->pattern;
	char *qpath = lease_path(pattern, "queue");
	struct diag qd = DIAG_INIT;
	if (lock_file_open(&a->qfd, qpath, true, true, &qd) < 0) {
		a->qfd = -1;
		if (qd.code == DIAG_INPUT) {
			diag_set(a->d, DIAG_INPUT, "%s", qd.msg.buf);
			diag_release(&qd);
			free(qpath);
			return -1;
		}
		struct strbuf w = STRBUF_INIT;
		strbuf_addf(&w, "%s; waiting without a queue (no fair order)", qd.msg.buf);
		a->warning = strbuf_detach(&w, NULL);
		diag_release(&qd);
		free(qpath);
		return 0;
	}
	diag_release(&qd);
	if (fcntl(a->qfd, F_GETFL) >= 0 && (fcntl(a->qfd, F_GETFL) & O_ACCMODE) == O_RDONLY) {
		struct strbuf w = STRBUF_INIT;
		strbuf_addf(&w, "%s is not writable; waiting without a queue (no fair order)",
		            qpath);
		a->warning = strbuf_detach(&w, NULL);
		close(a->qfd);
		a->qfd = -1;
		free(qpath);
		return 0;
	}
	free(qpath);

	if (queue_lock(a, a->deadline, a->d) < 0)
		return -1;
	struct q_state st;
	int rc = q_read(a->qfd, &st, a->d);
	if (rc == 0) {
		/* A stale ticket of a queue file made anew can hold a number: skip it. */
		for (;;) {
			a->seq = st.next++;
			char *tpath = q_ticket_path(pattern, a->seq);
			a->tfd =
			    open(tpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
			int err = errno;
			free(tpath);
			if (a->tfd >= 0)
				break;
			if (err != EEXIST) {
				errno = err;
				rc = diag_errno(a->d, "cannot create a ticket in the lock queue");
				break;
			}
		}
	}
	if (rc == 0 && flock(a->tfd, LOCK_EX | LOCK_NB) < 0)
		rc = diag_errno(a->d, "cannot lock a ticket of the lock queue");
	if (rc == 0) {
		struct strbuf devs = STRBUF_INIT;
		devices_string(a->spec, &devs);
		struct q_waiter w = {
		    .seq = a->seq,
		    .pid = getpid(),
		    .count = (unsigned)a->need,
		    .devices = a->spec->devices ? devs.buf : NULL,
		    .since_ns = now_realtime_ns(),
		    .cmd = (char *)a->spec->what, /* copied by add_waiter */
		};
		q_state_add_waiter(&st, &w);
		strbuf_release(&devs);
		rc = q_write(a->qfd, &st, a->d);
	}
	q_state_release(&st);
	queue_unlock(a);
	return rc;
}

/* Removes our entry (and, when granted, records what we hold) and our ticket. */
static int dequeue(struct acq *a, bool granted, struct diag *d)
{
	if (a->qfd < 0)
		return 0;
	if (a->tfd < 0) { /* never joined */
		close(a->qfd);
		a->qfd = -1;
		return 0;
	}
	/*
	 * Leaving is bounded on its own, as our deadline may have passed. A
	 * waiter that gives up need not wait long: its closed ticket marks its
	 * entry dead whether or not the entry is removed.
	 */
	int rc = queue_lock(a, mono_now() + (granted ? 10 : 0.2), d);
	if (rc == 0) {
		struct q_state st;
		rc = q_read(a->qfd, &st, d);
		if (rc == 0) {
			for (size_t i = 0; i < st.nw; i++)
				if (st.w[i].seq == a->seq) {
					q_state_remove_waiter(&st, i);
					break;
				}
			int64_t now = now_realtime_ns();
			for (size_t i = 0; granted && i < a->ncand; i++)
				if (a->held[i])
					q_state_set_holder(&st, a->cand[i], getpid(), now,
					                   a->spec->what);
			rc = q_write(a->qfd, &st, d);
			q_state_release(&st);
		}
	}
	queue_unlock(a);
	close(a->qfd);
	a->qfd = -1;
	if (a->tfd >= 0) {
		char *tpath = q_ticket_path(a->spec->pattern, a->seq);
		unlink(tpath);
		free(tpath);
		close(a->tfd); /* this wakes our successor, who finds us gone */
		a->tfd = -1;
	}
	return rc;
}

/*
 * Finds the live waiter just ahead of us, dropping dead entries on the way.
 * Stores 0 when we are the head.
 */
static int find_predecessor(struct acq *a, unsigned long *pred, size_t *ahead)
{
	*pred = 0;
	*ahead = 0;
	if (queue_lock(a, a->deadline, a->d) < 0)
		return -1;
	struct q_state st;
	int rc = q_read(a->qfd, &st, a->d);
	bool changed = false;
	if (rc == 0) {
		size_t i = st.nw;
		while (i-- > 0) {
			if (st.w[i].seq >= a->seq)
				continue;
			if (q_ticket_alive(a->spec->pattern, st.w[i].seq)) {
				*pred = st.w[i].seq;
				/* Those further ahead are counted, not checked. */
				for (size_t k = 0; k <= i; k++)
					*ahead += st.w[k].seq < a->seq;
				break;
			}
			char *tpath = q_ticket_path(a->spec->pattern, st.w[i].seq);
			unlink(tpath);
			free(tpath);
			q_state_remove_waiter(&st, i);
			changed = true;
		}
		if (changed)
			rc = q_write(a->qfd, &st, a->d);
	}
	q_state_release(&st);
	queue_unlock(a);
	return rc;
}

static int fail_wait(struct acq *a, enum wait_result r)
{
	switch (r) {
	case WAIT_TIMEOUT:
		if (a->spec->devices) {
			struct strbuf devs = STRBUF_INIT;
			devices_string(a->spec, &devs);
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

/* Sleeps until the waiter `pred` leaves the queue. */
static int wait_for_predecessor(struct acq *a, unsigned long pred)
{
	char *tpath = q_ticket_path(a->spec->pattern, pred);
	int fd = open(tpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(tpath);
	if (fd < 0)
		return 0; /* gone already */
	struct waitset ws = {.efd = -1};
	int rc = waitset_start(&ws, &fd, 1, LOCK_SH, a->d);
	enum wait_result r = WAIT_EVENT;
	if (rc == 0) {
		r = wait_event(ws.efd, a->spec->cancel_fd, a->deadline);
	}
	waitset_stop(&ws);
	waitset_release(&ws);
	close(fd);
	if (rc < 0)
		return rc;
	if (r == WAIT_EVENT || r == WAIT_RECHECK)
		return 0;
	return fail_wait(a, r);
}

/* Whether the lock file of candidate i was replaced since we opened it. */
static bool lock_file_replaced(struct acq *a, size_t i)
{
	char *path = gpu_path(a->spec->pattern, a->cand[i]);
	struct stat now, ours;
	bool replaced = lstat(path, &now) < 0 || fstat(a->fds[i], &ours) < 0 ||
	                now.st_ino != ours.st_ino || now.st_dev != ours.st_dev;
	free(path);
	return replaced;
}

/* Opens candidate i's lock file (again, if it was replaced). */
static int open_candidate(struct acq *a, size_t i)
{
	if (a->fds[i] >= 0) {
		if (!lock_file_replaced(a, i))
			return 0;
		close(a->fds[i]);
		a->fds[i] = -1;
	}
	char *path = gpu_path(a->spec->pattern, a->cand[i]);
	int rc = lock_file_open(&a->fds[i], path, true, true, a->d);
	free(path);
	return rc;
}

static void tell_waiting(struct acq *a, size_t ahead)
{
	if (a->told || !a->spec->on_wait)
		return;
	a->told = true;
	a->spec->on_wait(a->spec->on_wait_arg, ahead, a->nheld);
}

/* Takes, without waiting, every candidate we still need that is free. */
static int take_free(struct acq *a)
{
	for (size_t i = 0; i < a->ncand && a->nheld < a->need; i++) {
		if (a->held[i])
			continue;
		if (open_candidate(a, i) < 0)
			return -1;
		if (flock(a->fds[i], LOCK_EX | LOCK_NB) == 0) {
			a->held[i] = true;
			a->nheld++;
		} else if (errno != EWOULDBLOCK) {
			return diag_errno(a->d, "cannot lock GPU %u", a->cand[i]);
		}
	}
	return 0;
}

/* As the head: holds what is free and sleeps on the rest until we have all. */
static int wait_for_gpus(struct acq *a)
{
	int *fds = xmalloc(a->ncand * sizeof(*fds));
	size_t *idx = xmalloc(a->ncand * sizeof(*idx));
	int rc = 0;
	while (rc == 0) {
		rc = take_free(a);
		if (rc < 0 || a->nheld >= a->need)
			break;
		size_t n = 0;
		for (size_t i = 0; i < a->ncand; i++)
			if (!a->held[i]) {
				fds[n] = a->fds[i];
				idx[n++] = i;
			}
		tell_waiting(a, 0);
		struct waitset ws = {.efd = -1};
		rc = waitset_start(&ws, fds, n, LOCK_EX, a->d);
		enum wait_result r = WAIT_ERROR;
		while (rc == 0) {
			r = wait_event(ws.efd, a->spec->cancel_fd, a->deadline);
			if (r == WAIT_EVENT) {
				size_t got = 0, failed = 0;
				for (size_t k = 0; k < n; k++) {
					int st = atomic_load(&ws.slots[k].state);
					got += st == SLOT_LOCKED;
					failed += st == SLOT_FAILED;
				}
				if (failed || a->nheld + got >= a->need)
					break;
				continue;
			}
			if (r == WAIT_RECHECK) {
				bool replaced = false;
				for (size_t k = 0; k < n; k++)
					replaced |= lock_file_replaced(a, idx[k]);
				if (!replaced)
					continue;
			}
			break;
		}
		waitset_stop(&ws);
		/* Keep what the threads took, up to what we need; give back the rest. */
		for (size_t k = 0; k < ws.n; k++) {
			struct slot *s = &ws.slots[k];
			if (atomic_load(&s->state) == SLOT_LOCKED) {
				if (a->nheld < a->need && (r == WAIT_EVENT || r == WAIT_RECHECK)) {
					a->held[idx[k]] = true;
					a->nheld++;
				} else {
					flock(s->fd, LOCK_UN);
				}
			} else if (atomic_load(&s->state) == SLOT_FAILED && rc == 0) {
				errno = s->err;
				rc = diag_errno(a->d, "cannot lock GPU %u", a->cand[idx[k]]);
			}
		}
		waitset_release(&ws);
		if (rc == 0 && r != WAIT_EVENT && r != WAIT_RECHECK)
			rc = fail_wait(a, r);
	}
	free(fds);
	free(idx);
	return rc;
}

static void acq_release(struct acq *a, bool keep_held)
{
	for (size_t i = 0; i < a->ncand; i++) {
		if (a->fds[i] < 0 || (keep_held && a->held[i]))
			continue;
		close(a->fds[i]);
		a->fds[i] = -1;
	}
	free(a->cand);
	free(a->fds);
	free(a->held);
}

int lease_acquire(struct lease **out, const struct lease_spec *spec, struct diag *d)
{
	*out = NULL;
	if (lease_check_pattern(spec->pattern, d) < 0)
		return -1;
	struct acq a = {.spec = spec, .d = d, .qfd = -1, .tfd = -1};
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
	a.held = xcalloc(a.ncand, sizeof(*a.held));
	for (size_t i = 0; i < a.ncand; i++)
		a.fds[i] = -1;
	a.start = mono_now();
	a.deadline = spec->timeout >= 0 ? a.start + spec->timeout : 0;
	make_parent_dirs(spec->pattern);

	int rc = enqueue(&a);
	while (rc == 0 && a.qfd >= 0) {
		unsigned long pred;
		size_t ahead;
		rc = find_predecessor(&a, &pred, &ahead);
		if (rc < 0 || pred == 0)
			break;
		tell_waiting(&a, ahead);
		rc = wait_for_predecessor(&a, pred);
	}
	if (rc == 0)
		rc = wait_for_gpus(&a);
	if (rc < 0) {
		struct diag ignore = DIAG_INIT;
		dequeue(&a, false, &ignore);
		diag_release(&ignore);
		for (size_t i = 0; i < a.ncand; i++)
			if (a.held[i])
				flock(a.fds[i], LOCK_UN);
		acq_release(&a, false);
		free(a.warning);
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
	if (dequeue(&a, true, &qd) < 0 && !a.warning)
		a.warning = xstrdup(qd.msg.buf);
	diag_release(&qd);
	acq_release(&a, true);
	l->waited = mono_now() - a.start;
	l->warning = a.warning;
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

void lease_free(struct lease *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		close(l->fds[i]);
	free(l->gpus);
	free(l->fds);
	free(l->warning);
	free(l);
}

int lease_probe_free(unsigned **out, size_t *n, const char *pattern, unsigned total, struct diag *d)
{
	if (lease_check_pattern(pattern, d) < 0)
		return -1;
	make_parent_dirs(pattern);
	unsigned *free_gpus = xmalloc((total ? total : 1) * sizeof(*free_gpus));
	size_t k = 0;
	for (unsigned g = 0; g < total; g++) {
		char *path = gpu_path(pattern, g);
		int fd;
		int rc = lock_file_open(&fd, path, true, true, d);
		free(path);
		if (rc < 0) {
			free(free_gpus);
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			free_gpus[k++] = g;
		close(fd);
	}
	*out = free_gpus;
	*n = k;
	return 0;
}
