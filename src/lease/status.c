/* `gpuci lock status`: who holds which GPU, who waits, from /proc/locks. */
#include "lease/lease_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/banned.h"

/* An exclusive flock() granted (not waited for), as /proc/locks lists it. */
struct proc_lock {
	pid_t pid;
	unsigned maj, min;
	unsigned long ino;
};

static size_t read_proc_locks(struct proc_lock **out)
{
	*out = NULL;
	FILE *f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	size_t n = 0, cap = 0;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		/* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; "->" marks a waiter. */
		char type[16], adv[16], mode[16];
		int pid;
		unsigned maj, min;
		unsigned long ino;
		const char *p = strchr(line, ':');
		if (!p || strstr(line, "->"))
			continue;
		if (sscanf(p + 1, "%15s %15s %15s %d %x:%x:%lu", type, adv, mode, &pid, &maj, &min,
		           &ino) != 7)
			continue;
		if (strcmp(type, "FLOCK") != 0 || strcmp(mode, "WRITE") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[n++] = (struct proc_lock){pid, maj, min, ino};
	}
	fclose(f);
	return n;
}

static char *proc_cmdline(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0' || buf[i] == '\n')
			buf[i] = ' ';
	buf[n] = '\0';
	return xstrdup(buf);
}

/* Seconds since process pid started, or -1. */
static double proc_age(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: start after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long start = 0;
	int field = 2;
	for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
		if (++field == 22) {
			start = strtoull(tok, NULL, 10);
			break;
		}
	double up = -1;
	f = fopen("/proc/uptime", "re");
	if (f) {
		if (fscanf(f, "%lf", &up) != 1)
			up = -1;
		fclose(f);
	}
	long hz = sysconf(_SC_CLK_TCK);
	if (up < 0 || field != 22 || hz <= 0)
		return -1;
	return up - (double)start / (double)hz;
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/*
 * GPUs whose lock file and witness were both deleted under a job that still
 * holds the lock: /proc/locks lists the lock, the holder's descriptor reads
 * "P(N) (deleted)" and no name of its file is locked by it. Waiters are
 * skipped (their locks are their tickets and reservations, on files that
 * exist, or kept through their witness).
 */
static void find_lost(struct lease_status *st, const char *pattern, const struct proc_lock *locks,
                      size_t nlocks)
{
	pid_t *seen = xcalloc(nlocks ? nlocks : 1, sizeof(*seen));
	size_t nseen = 0;
	for (size_t k = 0; k < nlocks; k++) {
		pid_t pid = locks[k].pid;
		bool skip = false;
		for (size_t i = 0; i < st->nwaiters && !skip; i++)
			skip = st->waiters[i].pid == pid;
		for (size_t i = 0; i < nseen && !skip; i++)
			skip = seen[i] == pid;
		if (skip)
			continue;
		seen[nseen++] = pid;
		char dir[64];
		snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
		DIR *dh = opendir(dir);
		struct dirent *e;
		while (dh && (e = readdir(dh))) {
			char link[PATH_MAX + 16], path[PATH_MAX + 80];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			ssize_t n = readlink(path, link, sizeof(link) - 1);
			const char *tail = " (deleted)";
			size_t nt = strlen(tail);
			if (n <= (ssize_t)nt)
				continue;
			link[n] = '\0';
			if (strcmp(link + n - (ssize_t)nt, tail) != 0)
				continue;
			link[n - strlen(tail)] = '\0';
			for (size_t g = 0; g < st->ngpus; g++) {
				char *gp = gpu_path(pattern, (unsigned)g);
				bool hit = strcmp(gp, link) == 0;
				free(gp);
				struct lease_gpu_state *gs = &st->gpus[g];
				if (hit && !gs->lost_pid && !(gs->held && gs->pid == pid))
					gs->lost_pid = pid;
			}
		}
		if (dh)
			closedir(dh);
	}
	free(seen);
}

int lease_status_read(struct lease_status **out, const char *pattern, unsigned total,
                      struct diag *d)
{
	if (lease_check_pattern(pattern, d) < 0)
		return -1;
	struct lease_status *st = xcalloc(1, sizeof(*st));
	struct q_state q = {0};
	q_ticket_sweep(pattern);
	char *qpath = lease_path(pattern, "queue");
	int qfd = open(qpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(qpath);
	if (qfd >= 0) {
		struct stat sb;
		if (fstat(qfd, &sb) == 0 && S_ISREG(sb.st_mode))
			q_read(qfd, &q, d);
		close(qfd);
	}
	int64_t now = now_realtime_ns();

	/* Live waiters, oldest first. */
	st->waiters = xcalloc(q.nw ? q.nw : 1, sizeof(*st->waiters));
	for (size_t i = 0; i < q.nw; i++) {
		struct q_waiter *w = &q.w[i];
		if (!q_ticket_alive(pattern, w->seq))
			continue;
		struct lease_waiter_state *ws = &st->waiters[st->nwaiters++];
		ws->seq = w->seq;
		ws->pid = w->pid;
		ws->count = w->count;
		ws->devices = w->devices ? xstrdup(w->devices) : NULL;
		ws->waited = (double)(now - w->since_ns) / 1e9;
		ws->cmd = xstrdup(w->cmd);
	}

	/*
	 * Whether a GPU is held is asked of the lock itself (a shared lock that
	 * fails), and who holds it of /proc/locks. /proc/locks is read in pages,
	 * and entries can slip between two pages while locks come and go, so it
	 * is read again while a held GPU is missing from it.
	 */
	st->gpus = xcalloc(total ? total : 1, sizeof(*st->gpus));
	st->ngpus = total;
	struct stat *files = xcalloc(total ? total : 1, sizeof(*files));
	for (unsigned g = 0; g < total; g++) {
		struct lease_gpu_state *gs = &st->gpus[g];
		gs->gpu = g;
		gs->held_for = -1;
		char *path = gpu_path(pattern, g);
		int fd = -1;
		struct stat lst;
		if (lstat(path, &lst) == 0) {
			struct diag od = DIAG_INIT;
			if (lock_file_open(&fd, path, false, true, &od) < 0) {
				fd = -1;
				gs->unusable = true;
				gs->problem = xstrdup(od.msg.buf);
			}
			diag_release(&od);
		}
		free(path);
		if (fd >= 0) {
			gs->exists = fstat(fd, &files[g]) == 0;
			if (gs->exists && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
				gs->held = true;
			close(fd);
		}
		/* Held through its witness: the lock file was replaced under its holder. */
		struct stat wst;
		if (!gs->held && !gs->unusable &&
		    gpu_witness_held(pattern, g, gs->exists ? &files[g] : NULL, &wst)) {
			gs->held = gs->witness = true;
			files[g] = wst;
		}
	}
	struct proc_lock *locks = NULL;
	size_t nlocks = 0;
	for (int attempt = 0; attempt < 20; attempt++) {
		free(locks);
		nlocks = read_proc_locks(&locks);
		bool missing = false;
		for (unsigned g = 0; g < total; g++) {
			struct lease_gpu_state *gs = &st->gpus[g];
			if (!gs->held)
				continue;
			gs->pid = 0;
			for (size_t k = 0; k < nlocks && !gs->pid; k++)
				if (locks[k].ino == files[g].st_ino &&
				    locks[k].maj == major(files[g].st_dev) &&
				    locks[k].min == minor(files[g].st_dev))
					gs->pid = locks[k].pid;
			missing |= gs->pid == 0;
		}
		if (!missing)
			break;
	}
	free(files);
	find_lost(st, pattern, locks, nlocks);
	for (unsigned g = 0; g < total; g++) {
		struct lease_gpu_state *gs = &st->gpus[g];
		if (!gs->held || !gs->pid)
			continue;
		gs->pid_alive = pid_alive(gs->pid);
		for (size_t k = 0; k < st->nwaiters && !gs->waiter; k++)
			if (st->waiters[k].pid == gs->pid) {
				gs->waiter = (long)k + 1;
				gs->cmd = xstrdup(st->waiters[k].cmd);
			}
		for (size_t k = 0; k < q.nh && !gs->cmd; k++)
			if (q.h[k].gpu == g && q.h[k].pid == gs->pid) {
				gs->cmd = xstrdup(q.h[k].cmd);
				gs->held_for = (double)(now - q.h[k].since_ns) / 1e9;
			}
		if (!gs->cmd)
			gs->cmd = proc_cmdline(gs->pid);
		if (gs->held_for < 0 && gs->pid_alive)
			gs->held_for = proc_age(gs->pid);
	}
	free(locks);
	q_state_release(&q);
	*out = st;
	return 0;
}

void lease_status_free(struct lease_status *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->ngpus; i++) {
		free(st->gpus[i].cmd);
		free(st->gpus[i].problem);
	}
	for (size_t i = 0; i < st->nwaiters; i++) {
		free(st->waiters[i].devices);
		free(st->waiters[i].cmd);
	}
	free(st->gpus);
	free(st->waiters);
	free(st);
}
