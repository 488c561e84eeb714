/*
 * Sleeping in the kernel: blocking flock() calls in waiter threads, reported
 * on an eventfd the caller polls with its cancel descriptor and deadline.
 */
#include "lease/lease_int.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/banned.h"

double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A waitset sleeps in blocking flock() calls, one thread per lock, and
 * reports each success on an eventfd the caller polls along with its own
 * cancel descriptor and deadline. Stopping interrupts the flock() calls with
 * SIGUSR2 (handler installed without SA_RESTART): a thread checks `stop`
 * before each flock(), and the signal is re-sent until every thread is out,
 * which closes the window between that check and the flock() call.
 */
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

int waitset_start(struct waitset *ws, const int *fds, const int *ops, size_t n, struct diag *d)
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
		s->op = ops[i];
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
void waitset_stop(struct waitset *ws)
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

void waitset_release(struct waitset *ws)
{
	if (ws->efd >= 0)
		close(ws->efd);
	free(ws->slots);
	*ws = (struct waitset){.efd = -1};
}

/* Sleeps until a thread reports, the deadline, cancel_fd, or a safety tick. */
enum wait_result wait_event(int efd, int cancel_fd, double deadline, int tick_ms, int note_fd)
{
	for (;;) {
		int ms = tick_ms;
		if (deadline > 0) {
			double left = deadline - mono_now();
			if (left <= 0)
				return WAIT_TIMEOUT;
			if (left * 1000 < ms)
				ms = (int)(left * 1000) + 1;
		}
		/* A descriptor of -1 is ignored by poll(). */
		struct pollfd p[3] = {{.fd = efd, .events = POLLIN},
		                      {.fd = cancel_fd, .events = POLLIN},
		                      {.fd = note_fd, .events = POLLIN}};
		int r = poll(p, 3, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return WAIT_ERROR;
		if (cancel_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			return WAIT_CANCELED;
		if (note_fd >= 0 && (p[2].revents & POLLIN)) {
			char buf[1024];
			while (read(note_fd, buf, sizeof(buf)) > 0)
				;
			return WAIT_RECHECK;
		}
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
