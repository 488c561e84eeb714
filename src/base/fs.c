#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/banned.h"

int fs_read_all(const char *path, struct strbuf *out, struct diag *d)
{
	/* O_NONBLOCK: a FIFO or a device in the file's place must not hang the read. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return diag_errno(d, "cannot read %s", path);
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int rc = diag_errno(d, "cannot read %s", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return diag_set(d, DIAG_INPUT, "cannot read %s: not a regular file", path);
	}
	/*
	 * Read straight into the buffer, sized from fstat; the end is found
	 * with a small read on the side, so a file costs its size, not a
	 * chunk more (lint keeps thousands of them).
	 */
	size_t chunk = sb.st_size > 0 ? (size_t)sb.st_size : 0;
	char probe[4096];
	for (;;) {
		char *dst = probe;
		size_t want = sizeof(probe);
		size_t old = out->len;
		if (chunk) {
			strbuf_grow(out, chunk);
			if (strbuf_failed(out))
				break;
			dst = out->buf + old;
			want = chunk;
		}
		ssize_t n = read(fd, dst, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = diag_errno(d, "cannot read %s", path);
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		if (chunk) {
			out->len = old + (size_t)n;
			out->buf[out->len] = '\0';
		} else {
			strbuf_add(out, probe, (size_t)n); /* the file grew since fstat */
			if (strbuf_failed(out))
				break;
		}
		if (chunk)
			chunk -= (size_t)n; /* then probe for the end */
	}
	close(fd);
	if (strbuf_failed(out))
		return diag_set(d, DIAG_INPUT, "%s: too large", path);
	return 0;
}

/* Writes all of data to fd; -1 with errno set on failure. */
static int write_all(int fd, const char *p, size_t left)
{
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

int fs_create_new(const char *path, const void *data, size_t len, struct diag *d)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return diag_errno(d, "cannot create %s", path);
	int rc = write_all(fd, data, len) < 0 || fsync(fd) < 0 ? -1 : 0;
	if (rc < 0)
		diag_errno(d, "cannot write %s", path);
	if (close(fd) < 0 && rc == 0)
		rc = diag_errno(d, "cannot write %s", path);
	if (rc < 0)
		unlink(path);
	return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t len, struct diag *d)
{
	struct strbuf tmp = STRBUF_INIT;
	strbuf_addf(&tmp, "%s.tmp-XXXXXX", path);
	int fd = mkostemp(tmp.buf, O_CLOEXEC);
	if (fd < 0) {
		int rc = diag_errno(d, "cannot write %s", path);
		strbuf_release(&tmp);
		return rc;
	}
	struct stat sb;
	mode_t mode = stat(path, &sb) == 0 ? sb.st_mode & 07777 : 0644;
	int rc = 0;
	if (write_all(fd, data, len) < 0)
		rc = diag_errno(d, "cannot write %s", path);
	if (rc == 0 && fchmod(fd, mode) < 0)
		rc = diag_errno(d, "cannot write %s", path);
	if (rc == 0 && fsync(fd) < 0)
		rc = diag_errno(d, "cannot write %s", path);
	if (close(fd) < 0 && rc == 0)
		rc = diag_errno(d, "cannot write %s", path);
	if (rc == 0 && rename(tmp.buf, path) < 0)
		rc = diag_errno(d, "cannot replace %s", path);
	if (rc < 0)
		unlink(tmp.buf);
	strbuf_release(&tmp);
	return rc;
}
