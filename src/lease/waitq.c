/*
 * A waiter's place in the queue file: joining, finding who is ahead,
 * leaving, and joining again when the file was deleted or replaced.
 */
#include "lease/lease_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/banned.h"

/* How often a waiter behind another checks that its queue file is still the queue. */
#define PRED_RECHECK_MS 10000

/*
 * Locks the queue file. Holders keep it for microseconds, so a few quick
 * tries come first; past them (its holder was stopped with SIGSTOP, say) we
 * sleep in the kernel like any other wait, so that --timeout and signals
 * still end the wait. The lock belongs to the open file description, so a
 * waiter thread can take it for us.
 */
static int queue_flock(struct acq *a, double deadline, struct diag *d)
{
	for (int i = 0; i < 3; i++) {
		if (flock(a->qfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return diag_errno(d, "cannot lock the lock queue");
		sched_yield();
	}
	struct waitset ws = {.efd = -1};
	int op = LOCK_EX;
	int rc = waitset_start(&ws, &a->qfd, &op, 1, d);
	enum wait_result r = WAIT_RECHECK;
	while (rc == 0 && r == WAIT_RECHECK)
		r = wait_event(ws.efd, a->spec->cancel_fd, deadline, 10000, -1);
	waitset_stop(&ws);
	if (rc == 0 && atomic_load(&ws.slots[0].state) != SLOT_LOCKED) {
		if (atomic_load(&ws.slots[0].state) == SLOT_FAILED) {
			errno = ws.slots[0].err;
			rc = diag_errno(d, "cannot lock the lock queue");
		} else {
			struct diag *keep = a->d;
			a->d = d;
			rc = acq_fail_wait(a, r);
			a->d = keep;
		}
	}
	waitset_release(&ws);
	return rc;
}

/*
 * Locks the file the queue's path names now. A lock on a file that was
 * deleted or replaced is nobody's queue: such a file is let go and the path
 * opened again (made anew when missing). A queue file found empty is new:
 * the tickets of waiters of an older one that died are removed then.
 */
static int queue_lock(struct acq *a, double deadline, struct diag *d)
{
	for (int round = 0; round < 100; round++) {
		int rc = queue_flock(a, deadline, d);
		if (rc < 0)
			return rc;
		struct stat mine, now;
		if (fstat(a->qfd, &mine) == 0 && lstat(a->qpath, &now) == 0 &&
		    same_file(&mine, &now)) {
			if (mine.st_size == 0)
				q_ticket_sweep(a->spec->pattern);
			return 0;
		}
		flock(a->qfd, LOCK_UN);
		close(a->qfd);
		a->qfd = -1;
		struct diag od = DIAG_INIT;
		rc = lock_file_open(&a->qfd, a->qpath, true, true, &od);
		if (rc < 0) {
			a->qfd = -1;
			diag_set(d, od.code, "the lock queue was replaced: %s", od.msg.buf);
			diag_release(&od);
			return -1;
		}
		diag_release(&od);
		if (a->tfd >= 0)
			q_watch(a);
	}
	return diag_set(d, DIAG_SYSTEM, "%s: replaced again and again; giving up", a->qpath);
}

static void queue_unlock(struct acq *a)
{
	if (a->qfd >= 0)
		flock(a->qfd, LOCK_UN);
}

void q_devices_string(const struct lease_spec *spec, struct strbuf *sb)
{
	for (size_t i = 0; i < spec->ndevices; i++)
		strbuf_addf(sb, "%s%u", i ? "," : "", spec->devices[i]);
}

static int read_all(int fd, struct strbuf *sb, struct diag *d)
{
	strbuf_reset(sb);
	char buf[16384];
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return diag_errno(d, "cannot read the lock queue");
		if (n == 0)
			return 0;
		strbuf_add(sb, buf, (size_t)n);
		off += n;
	}
}

static int pwrite_all(int fd, const char *buf, size_t len, size_t at)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, (off_t)(at + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* The offset of our line in buf (where we left it, or looked for), or 0. */
static size_t find_ours(const struct acq *a, const char *buf, size_t len)
{
	char key[64];
	int k = snprintf(key, sizeof(key), "\nw %lu %d ", a->seq, (int)getpid());
	if (a->qoff > Q_HDR_LEN && a->qoff + (size_t)k <= len + 1 &&
	    !memcmp(buf + a->qoff - 1, key, (size_t)k))
		return a->qoff;
	const char *p = len > Q_HDR_LEN ? strstr(buf + Q_HDR_LEN - 1, key) : NULL;
	return p ? (size_t)(p - buf) + 1 : 0;
}

/* Reads the file again into *sb and finds our line in it. */
static int locate(struct acq *a, struct strbuf *sb)
{
	a->qoff = 0;
	int rc = read_all(a->qfd, sb, a->d);
	if (rc == 0)
		a->qoff = find_ours(a, sb->buf, sb->len);
	return rc;
}

/* Whether our ticket still has its name. */
static bool ticket_named(const struct acq *a)
{
	char *tpath = q_ticket_path(a->spec->pattern, a->seq);
	struct stat mine, now;
	bool named = fstat(a->tfd, &mine) == 0 && lstat(tpath, &now) == 0 && same_file(&mine, &now);
	free(tpath);
	return named;
}

/*
 * Makes and locks a new ticket. Its number is never that of a ticket that
 * existed before, even across queue files made anew (which restart `next`):
 * it is at least the time in microseconds, so a waiter that looks up its
 * predecessor's ticket by number never finds a newcomer's instead.
 */
static int make_ticket(struct acq *a, struct q_state *st, unsigned long *seq, int *fd)
{
	unsigned long now_us = (unsigned long)(now_realtime_ns() / 1000);
	if (st->next < now_us)
		st->next = now_us;
	for (;;) {
		*seq = st->next++;
		char *tpath = q_ticket_path(a->spec->pattern, *seq);
		*fd = open(tpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		int err = errno;
		free(tpath);
		if (*fd >= 0)
			break;
		if (err != EEXIST) {
			errno = err;
			return diag_errno(a->d, "cannot create a ticket in the lock queue");
		}
	}
	(void)fchmod(*fd, 0666); /* so that any user's waiter can touch it (our_entry()) */
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		int rc = diag_errno(a->d, "cannot lock a ticket of the lock queue");
		close(*fd);
		*fd = -1;
		return rc;
	}
	return 0;
}

static void our_line(const struct acq *a, struct q_waiter *w, struct strbuf *devs)
{
	q_devices_string(a->spec, devs);
	*w = (struct q_waiter){
	    .seq = a->seq,
	    .pid = getpid(),
	    .count = (unsigned)a->need,
	    .devices = a->spec->devices ? devs->buf : NULL,
	    .since_ns = a->since_ns,
	    .cmd = (char *)a->spec->what, /* copied by add_waiter */
	};
}

/*
 * Our entry in st: found, or put back where our arrival time says, with a
 * new ticket if ours no longer has its name. Sets *changed when st must be
 * written. Returns its index, or -1 (a ticket could not be made).
 */
static long our_entry(struct acq *a, struct q_state *st, bool *changed)
{
	char *tpath = q_ticket_path(a->spec->pattern, a->seq);
	struct stat mine, now;
	bool named = fstat(a->tfd, &mine) == 0 && lstat(tpath, &now) == 0 && same_file(&mine, &now);
	free(tpath);
	size_t i = 0;
	while (i < st->nw && !(st->w[i].seq == a->seq && st->w[i].pid == getpid()))
		i++;
	if (named && i < st->nw)
		return (long)i;
	if (i < st->nw)
		q_state_remove_waiter(st, i);
	if (st->next <= a->seq)
		st->next = a->seq + 1;
	if (!named) {
		unsigned long seq;
		int fd;
		if (make_ticket(a, st, &seq, &fd) < 0)
			return -1;
		close(a->tfd); /* its name is gone: nobody can wait on it any more */
		a->tfd = fd;
		a->seq = seq;
	}
	i = 0;
	while (i < st->nw && st->w[i].since_ns <= a->since_ns)
		i++;
	struct strbuf devs = STRBUF_INIT;
	struct q_waiter w;
	our_line(a, &w, &devs);
	q_state_insert_waiter(st, i, &w);
	strbuf_release(&devs);
	*changed = true;
	/* Whoever is just behind us now may be the head, or wait on one ahead of us. */
	if (i + 1 < st->nw) {
		char *next = q_ticket_path(a->spec->pattern, st->w[i + 1].seq);
		(void)utimensat(AT_FDCWD, next, NULL, AT_SYMLINK_NOFOLLOW);
		free(next);
	}
	q_watch(a);
	return (long)i;
}

int q_note_fd(struct acq *a)
{
	if (a->note_fd < 0 && !a->note_tried) {
		a->note_tried = true;
		a->note_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		q_watch(a);
	}
	return a->note_fd;
}

void q_watch(struct acq *a)
{
	/* Made on the first sleep only (q_note_fd): a request granted at once needs none. */
	if (a->note_fd < 0)
		return;
	int fds[2] = {a->qfd, a->tfd};
	for (int k = 0; k < 2; k++) {
		char path[64];
		if (fds[k] < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[k]);
		(void)inotify_add_watch(a->note_fd, path,
		                        IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
	}
}

int q_enqueue(struct acq *a)
{
	a->qpath = lease_path(a->spec->pattern, "queue");
	struct diag qd = DIAG_INIT;
	if (lock_file_open(&a->qfd, a->qpath, true, true, &qd) < 0) {
		a->qfd = -1;
		if (qd.code == DIAG_INPUT) {
			diag_set(a->d, DIAG_INPUT, "%s", qd.msg.buf);
			diag_release(&qd);
			return -1;
		}
		struct strbuf w = STRBUF_INIT;
		strbuf_addf(&w, "%s; waiting without a queue (no fair order)", qd.msg.buf);
		acq_warn(a, w.buf);
		strbuf_release(&w);
		diag_release(&qd);
		return 0;
	}
	diag_release(&qd);
	if (fcntl(a->qfd, F_GETFL) >= 0 && (fcntl(a->qfd, F_GETFL) & O_ACCMODE) == O_RDONLY) {
		struct strbuf w = STRBUF_INIT;
		strbuf_addf(&w, "%s is not writable; waiting without a queue (no fair order)",
		            a->qpath);
		acq_warn(a, w.buf);
		strbuf_release(&w);
		close(a->qfd);
		a->qfd = -1;
		return 0;
	}
	if (queue_lock(a, a->deadline, a->d) < 0)
		return -1;
	struct strbuf sb = STRBUF_INIT;
	unsigned long next, first;
	int rc = read_all(a->qfd, &sb, a->d);
	a->since_ns = now_realtime_ns();
	if (rc == 0 && q_header_parse(sb.buf, sb.len, &next, &first) &&
	    sb.buf[sb.len - 1] == '\n') {
		/* The usual way: one line appended, one field rewritten in place. */
		struct q_state tmp = {.next = next};
		rc = make_ticket(a, &tmp, &a->seq, &a->tfd);
		if (rc == 0) {
			struct strbuf line = STRBUF_INIT, devs = STRBUF_INIT;
			struct q_waiter w;
			our_line(a, &w, &devs);
			q_line_waiter(&w, &line);
			if (pwrite_all(a->qfd, line.buf, line.len, sb.len) < 0 ||
			    q_header_set(a->qfd, Q_NEXT_AT, tmp.next) < 0)
				rc = diag_errno(a->d, "cannot write the lock queue");
			a->qoff = sb.len;
			strbuf_release(&line);
			strbuf_release(&devs);
		}
	} else if (rc == 0) {
		/* A new file, or one of an older format: written whole. */
		struct q_state st;
		q_state_parse(&st, sb.buf);
		rc = make_ticket(a, &st, &a->seq, &a->tfd);
		if (rc == 0) {
			struct strbuf devs = STRBUF_INIT;
			struct q_waiter w;
			our_line(a, &w, &devs);
			q_state_add_waiter(&st, &w);
			strbuf_release(&devs);
			rc = q_write(a->qfd, &st, a->d);
		}
		q_state_release(&st);
		if (rc == 0)
			rc = locate(a, &sb);
	}
	strbuf_release(&sb);
	queue_unlock(a);
	if (rc == 0)
		q_watch(a);
	return rc;
}

int q_dequeue(struct acq *a, bool granted, struct diag *d)
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
	struct strbuf sb = STRBUF_INIT;
	unsigned long next, first;
	if (rc == 0)
		rc = read_all(a->qfd, &sb, d);
	if (rc == 0 && q_header_parse(sb.buf, sb.len, &next, &first) &&
	    sb.buf[sb.len - 1] == '\n') {
		size_t off = find_ours(a, sb.buf, sb.len);
		if (off && pwrite_all(a->qfd, "-", 1, off) < 0)
			rc = diag_errno(d, "cannot write the lock queue");
		if (off)
			sb.buf[off] = '-';
		struct strbuf h = STRBUF_INIT;
		int64_t now = now_realtime_ns();
		for (size_t i = 0; granted && i < a->ncand; i++)
			if (a->held[i])
				q_line_holder(a->cand[i], getpid(), now, a->spec->what, &h);
		if (rc == 0 && h.len && pwrite_all(a->qfd, h.buf, h.len, sb.len) < 0)
			rc = diag_errno(d, "cannot write the lock queue");
		size_t size = sb.len + h.len;
		strbuf_release(&h);
		bool idle = !strstr(sb.buf + first - 1, "\nw ");
		/* Mostly dead lines: whoever leaves rewrites it whole, rarely. */
		if (rc == 0 && (size > 65536 && first > size / 2)) {
			struct q_state st;
			rc = q_read(a->qfd, &st, d);
			if (rc == 0)
				rc = q_write(a->qfd, &st, d);
			q_state_release(&st);
		}
		/* The last to leave tidies up after waiters that were killed. */
		if (rc == 0 && idle)
			q_ticket_sweep(a->spec->pattern);
	} else if (rc == 0) {
		struct q_state st;
		q_state_parse(&st, sb.buf);
		for (size_t i = 0; i < st.nw; i++)
			if (st.w[i].seq == a->seq && st.w[i].pid == getpid()) {
				q_state_remove_waiter(&st, i);
				break;
			}
		int64_t now = now_realtime_ns();
		for (size_t i = 0; granted && i < a->ncand; i++)
			if (a->held[i])
				q_state_set_holder(&st, a->cand[i], getpid(), now, a->spec->what);
		rc = q_write(a->qfd, &st, d);
		if (rc == 0 && st.nw == 0)
			q_ticket_sweep(a->spec->pattern);
		q_state_release(&st);
	}
	strbuf_release(&sb);
	queue_unlock(a);
	if (a->qfd >= 0)
		close(a->qfd);
	a->qfd = -1;
	char *tpath = q_ticket_path(a->spec->pattern, a->seq);
	struct stat mine, now;
	if (fstat(a->tfd, &mine) == 0 && lstat(tpath, &now) == 0 && same_file(&mine, &now))
		unlink(tpath);
	free(tpath);
	close(a->tfd); /* this wakes our successor, who finds us gone */
	a->tfd = -1;
	return rc;
}

/*
 * The slow way, when our line is not where we left it (the file was made
 * anew, rewritten, or our line or ticket is gone): the file is read and
 * written whole, with our line put back where our arrival time says.
 */
static int rejoin(struct acq *a, struct strbuf *sb)
{
	struct q_state st;
	q_state_parse(&st, sb->buf);
	bool changed = false;
	int rc = our_entry(a, &st, &changed) < 0 ? -1 : 0;
	if (rc == 0)
		rc = q_write(a->qfd, &st, a->d);
	q_state_release(&st);
	if (rc == 0)
		rc = locate(a, sb);
	return rc;
}

int q_predecessor(struct acq *a, unsigned long *pred, size_t *ahead)
{
	*pred = 0;
	*ahead = 0;
	if (a->qfd < 0)
		return 0;
	if (queue_lock(a, a->deadline, a->d) < 0)
		return -1;
	struct strbuf sb = STRBUF_INIT;
	unsigned long next, first = 0;
	int rc = read_all(a->qfd, &sb, a->d);
	size_t off = 0;
	if (rc == 0 && q_header_parse(sb.buf, sb.len, &next, &first) && ticket_named(a))
		off = find_ours(a, sb.buf, sb.len);
	if (rc == 0 && !off) {
		rc = rejoin(a, &sb);
		off = a->qoff;
		if (rc == 0 && !q_header_parse(sb.buf, sb.len, &next, &first))
			rc = diag_set(a->d, DIAG_SYSTEM, "%s: cannot read back the lock queue",
			              a->qpath);
	}
	if (rc == 0 && off) {
		/* Back from our line, over those that left, to the first live one. */
		size_t end = off, pred_at = 0;
		while (end > first) {
			size_t start = end - 1;
			while (start > first && sb.buf[start - 1] != '\n')
				start--;
			if (sb.buf[start] == 'w' && sb.buf[start + 1] == ' ') {
				unsigned long seq = strtoul(sb.buf + start + 2, NULL, 10);
				if (q_ticket_alive(a->spec->pattern, seq)) {
					*pred = seq;
					pred_at = start;
					break;
				}
				char *tpath = q_ticket_path(a->spec->pattern, seq);
				unlink(tpath);
				free(tpath);
				if (pwrite_all(a->qfd, "-", 1, start) < 0)
					rc = diag_errno(a->d, "cannot write the lock queue");
				sb.buf[start] = '-';
			}
			end = start;
		}
		if (*pred) { /* those further ahead are counted, not checked */
			*ahead = 1;
			for (const char *p = sb.buf + first - 1;
			     (p = strstr(p, "\nw ")) && (size_t)(p - sb.buf) + 1 < pred_at; p++)
				(*ahead)++;
		} else if (rc == 0 && first < off && q_header_set(a->qfd, Q_FIRST_AT, off) < 0) {
			rc = diag_errno(a->d, "cannot write the lock queue");
		}
	}
	strbuf_release(&sb);
	queue_unlock(a);
	return rc;
}

int q_wait_predecessor(struct acq *a, unsigned long pred)
{
	char *tpath = q_ticket_path(a->spec->pattern, pred);
	int fd = open(tpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(tpath);
	if (fd < 0)
		return 0; /* gone already */
	struct waitset ws = {.efd = -1};
	int op = LOCK_SH;
	int rc = waitset_start(&ws, &fd, &op, 1, a->d);
	enum wait_result r = WAIT_EVENT;
	if (rc == 0)
		r = wait_event(ws.efd, a->spec->cancel_fd, a->deadline, PRED_RECHECK_MS,
		               q_note_fd(a));
	waitset_stop(&ws);
	waitset_release(&ws);
	close(fd);
	if (rc < 0)
		return rc;
	if (r == WAIT_EVENT || r == WAIT_RECHECK)
		return 0;
	return acq_fail_wait(a, r);
}
