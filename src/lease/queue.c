/* The queue file and the lock file helpers shared by lease.c and status.c. */
#include "lease/lease_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/banned.h"

int64_t now_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *one_line(const char *s)
{
	char *c = xstrdup(s ? s : "");
	for (char *p = c; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return c;
}

void q_state_add_waiter(struct q_state *st, const struct q_waiter *w)
{
	if (st->nw == st->aw) {
		st->aw = st->aw ? st->aw * 2 : 8;
		st->w = xrealloc(st->w, st->aw * sizeof(*st->w));
	}
	struct q_waiter *n = &st->w[st->nw++];
	*n = *w;
	n->devices = w->devices ? xstrdup(w->devices) : NULL;
	n->cmd = one_line(w->cmd);
}

void q_state_insert_waiter(struct q_state *st, size_t i, const struct q_waiter *w)
{
	q_state_add_waiter(st, w);
	struct q_waiter last = st->w[st->nw - 1];
	memmove(&st->w[i + 1], &st->w[i], (st->nw - 1 - i) * sizeof(*st->w));
	st->w[i] = last;
}

void q_state_remove_waiter(struct q_state *st, size_t i)
{
	free(st->w[i].devices);
	free(st->w[i].cmd);
	memmove(&st->w[i], &st->w[i + 1], (st->nw - i - 1) * sizeof(*st->w));
	st->nw--;
}

void q_state_set_holder(struct q_state *st, unsigned gpu, pid_t pid, int64_t since_ns,
                        const char *cmd)
{
	struct q_holder *h = NULL;
	for (size_t i = 0; i < st->nh; i++)
		if (st->h[i].gpu == gpu)
			h = &st->h[i];
	if (!h) {
		if (st->nh == st->ah) {
			st->ah = st->ah ? st->ah * 2 : 8;
			st->h = xrealloc(st->h, st->ah * sizeof(*st->h));
		}
		h = &st->h[st->nh++];
	} else {
		free(h->cmd);
	}
	h->gpu = gpu;
	h->pid = pid;
	h->since_ns = since_ns;
	h->cmd = one_line(cmd);
}

void q_state_release(struct q_state *st)
{
	for (size_t i = 0; i < st->nw; i++) {
		free(st->w[i].devices);
		free(st->w[i].cmd);
	}
	for (size_t i = 0; i < st->nh; i++)
		free(st->h[i].cmd);
	free(st->w);
	free(st->h);
	*st = (struct q_state){0};
}

/* Splits off the next space-separated field of *p; NULL at the end. */
static char *field(char **p)
{
	char *s = *p;
	while (*s == ' ')
		s++;
	if (!*s)
		return NULL;
	char *e = strchr(s, ' ');
	if (e) {
		*e = '\0';
		*p = e + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

void q_state_parse(struct q_state *st, const char *text)
{
	*st = (struct q_state){.next = 1};
	char *copy = xstrdup(text);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line;
		char *kind = field(&p);
		if (!kind)
			continue;
		if (!strcmp(kind, "next")) {
			char *v = field(&p);
			if (v)
				st->next = strtoul(v, NULL, 10);
		} else if (!strcmp(kind, "w")) {
			char *seq = field(&p), *pid = field(&p), *count = field(&p);
			char *devs = field(&p), *since = field(&p);
			if (!since)
				continue;
			struct q_waiter w = {
			    .seq = strtoul(seq, NULL, 10),
			    .pid = (pid_t)strtol(pid, NULL, 10),
			    .count = (unsigned)strtoul(count, NULL, 10),
			    .devices = strcmp(devs, "-") ? devs : NULL,
			    .since_ns = strtoll(since, NULL, 10),
			    .cmd = p,
			};
			q_state_add_waiter(st, &w);
		} else if (!strcmp(kind, "h")) {
			char *gpu = field(&p), *pid = field(&p), *since = field(&p);
			if (!since)
				continue;
			q_state_set_holder(st, (unsigned)strtoul(gpu, NULL, 10),
			                   (pid_t)strtol(pid, NULL, 10), strtoll(since, NULL, 10),
			                   p);
		}
	}
	free(copy);
}

void q_line_waiter(const struct q_waiter *w, struct strbuf *out)
{
	char *cmd = one_line(w->cmd);
	strbuf_addf(out, "w %lu %d %u %s %" PRId64 " %s\n", w->seq, (int)w->pid, w->count,
	            w->devices ? w->devices : "-", w->since_ns, cmd);
	free(cmd);
}

void q_line_holder(unsigned gpu, pid_t pid, int64_t since_ns, const char *cmd, struct strbuf *out)
{
	char *c = one_line(cmd);
	strbuf_addf(out, "h %u %d %" PRId64 " %s\n", gpu, (int)pid, since_ns, c);
	free(c);
}

bool q_header_parse(const char *buf, size_t len, unsigned long *next, unsigned long *first)
{
	if (len < Q_HDR_LEN || memcmp(buf, Q_MAGIC "\nnext ", 25) != 0 ||
	    memcmp(buf + 45, "\nfirst ", 7) != 0 || buf[Q_HDR_LEN - 1] != '\n')
		return false;
	char digits[21];
	memcpy(digits, buf + Q_NEXT_AT, 20);
	digits[20] = '\0';
	*next = strtoul(digits, NULL, 10);
	memcpy(digits, buf + Q_FIRST_AT, 20);
	*first = strtoul(digits, NULL, 10);
	return *first >= Q_HDR_LEN && *first <= len;
}

int q_header_set(int fd, size_t at, unsigned long v)
{
	char digits[24];
	snprintf(digits, sizeof(digits), "%020lu", v);
	return pwrite(fd, digits, 20, (off_t)at) == 20 ? 0 : -1;
}

void q_state_format(const struct q_state *st, struct strbuf *out)
{
	strbuf_addf(out, Q_HDR_FMT, st->next, (unsigned long)Q_HDR_LEN);
	for (size_t i = 0; i < st->nw; i++) {
		const struct q_waiter *w = &st->w[i];
		strbuf_addf(out, "w %lu %d %u %s %" PRId64 " %s\n", w->seq, (int)w->pid, w->count,
		            w->devices ? w->devices : "-", w->since_ns, w->cmd);
	}
	for (size_t i = 0; i < st->nh; i++) {
		const struct q_holder *h = &st->h[i];
		strbuf_addf(out, "h %u %d %" PRId64 " %s\n", h->gpu, (int)h->pid, h->since_ns,
		            h->cmd);
	}
}

int q_read(int fd, struct q_state *st, struct diag *d)
{
	*st = (struct q_state){.next = 1}; /* releasable even when reading fails */
	struct strbuf sb = STRBUF_INIT;
	char buf[8192];
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			strbuf_release(&sb);
			return diag_errno(d, "cannot read the lock queue");
		}
		if (n == 0)
			break;
		strbuf_add(&sb, buf, (size_t)n);
		off += n;
	}
	q_state_parse(st, sb.buf);
	strbuf_release(&sb);
	return 0;
}

int q_write(int fd, const struct q_state *st, struct diag *d)
{
	struct strbuf sb = STRBUF_INIT;
	q_state_format(st, &sb);
	size_t done = 0;
	while (done < sb.len) {
		ssize_t n = pwrite(fd, sb.buf + done, sb.len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			strbuf_release(&sb);
			return diag_errno(d, "cannot write the lock queue");
		}
		done += (size_t)n;
	}
	int rc = 0;
	if (ftruncate(fd, (off_t)sb.len) < 0)
		rc = diag_errno(d, "cannot write the lock queue");
	strbuf_release(&sb);
	return rc;
}

int lock_file_open(int *out, const char *path, bool create, bool cloexec, struct diag *d)
{
	/*
	 * O_NOFOLLOW refuses a planted symlink; O_NONBLOCK keeps a planted FIFO
	 * from blocking the open (it has no effect on flock of a regular file).
	 * The file is opened before it is created: a world-writable sticky
	 * directory with protected_regular refuses O_CREAT on another user's
	 * existing file, which is exactly the case we must accept.
	 */
	int base = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | (cloexec ? O_CLOEXEC : 0);
	int fd;
	for (int tries = 0;; tries++) {
		fd = open(path, O_RDWR | base);
		if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS))
			fd = open(path, O_RDONLY | base);
		if (fd >= 0 || errno != ENOENT || !create || tries > 8)
			break;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | base, 0666);
		if (fd >= 0) {
			/* Share with other users whatever our umask says. */
			(void)fchmod(fd, 0666);
			break;
		}
		if (errno != EEXIST)
			break;
	}
	if (fd < 0) {
		if (errno == ELOOP)
			return diag_set(d, DIAG_INPUT, "%s: is a symbolic link; refusing to use it",
			                path);
		return diag_errno(d, "cannot open %s", path);
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int rc = diag_errno(d, "cannot stat %s", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return diag_set(d, DIAG_INPUT, "%s: not a regular file; refusing to use it", path);
	}
	*out = fd;
	return 0;
}

char *q_ticket_path(const char *pattern, unsigned long seq)
{
	char id[32];
	snprintf(id, sizeof(id), "ticket-%lu", seq);
	return lease_path(pattern, id);
}

bool q_ticket_alive(const char *pattern, unsigned long seq)
{
	char *path = q_ticket_path(pattern, seq);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return errno != ENOENT && errno != ELOOP;
	bool alive = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return alive;
}
