/*
 * A GPU's lock file and its witness: what makes a lock on an inode a lock on
 * the GPU, when lock files can be deleted or replaced under their holders
 * (doc/DESIGN.md, section 5).
 */
#include "lease/lease_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/banned.h"

char *gpu_path(const char *pattern, unsigned gpu)
{
	char id[16];
	snprintf(id, sizeof(id), "%u", gpu);
	return lease_path(pattern, id);
}

char *gpu_witness_path(const char *pattern, unsigned gpu)
{
	char id[32];
	snprintf(id, sizeof(id), "%u-held", gpu);
	return lease_path(pattern, id);
}

bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}

/*
 * The order of events is what makes this safe. A holder H links the witness
 * to its file F only while the path still names F (the link goes through the
 * path and is checked afterwards), so it does so before F can be unlinked.
 * A requester R that locked a newer file F' of the same path did so after F
 * was unlinked, hence after H's link, and then finds the witness naming F,
 * locked: R does not take the GPU until H lets go of F.
 */
enum claim gpu_claim(const char *pattern, unsigned gpu, int fd, int *orphan_fd)
{
	*orphan_fd = -1;
	char *path = gpu_path(pattern, gpu);
	char *wpath = gpu_witness_path(pattern, gpu);
	enum claim r = CLAIM_RETRY;
	struct stat mine, st;
	if (fstat(fd, &mine) < 0 || lstat(path, &st) < 0 || !same_file(&mine, &st))
		goto out; /* our lock is on a file the path no longer names */
	r = CLAIM_OK;
	for (int tries = 0; tries < 8; tries++) {
		int wfd = open(wpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (wfd >= 0) {
			if (fstat(wfd, &st) < 0 || same_file(&st, &mine) || !S_ISREG(st.st_mode)) {
				close(wfd);
				goto out;
			}
			/*
			 * Exclusive, and kept until the unlink: two requesters that both
			 * find the witness stale must not both unlink "it", the second
			 * unlinking the witness the first has linked meanwhile. The
			 * other one waits as for a holder (its lock goes at once).
			 */
			if (flock(wfd, LOCK_EX | LOCK_NB) < 0) {
				if (errno == EWOULDBLOCK) {
					*orphan_fd = wfd;
					r = CLAIM_ORPHAN;
				} else {
					close(wfd);
				}
				goto out;
			}
			/* A stale witness: nobody holds its file any more. */
			struct stat now;
			if (lstat(wpath, &now) == 0 && same_file(&now, &st))
				(void)unlink(wpath);
			close(wfd);
		} else if (errno != ENOENT) {
			goto out; /* no usable witness (a symlink planted there, ...) */
		}
		if (link(path, wpath) == 0) {
			if (lstat(wpath, &st) < 0 || !same_file(&st, &mine))
				r = CLAIM_RETRY; /* the path was replaced meanwhile */
			goto out;
		}
		if (errno == ENOENT) {
			r = CLAIM_RETRY; /* the path was deleted since it was checked */
			goto out;
		}
		if (errno != EEXIST)
			goto out; /* cannot link (protected_hardlinks, ...): no witness */
	}
out:
	free(path);
	free(wpath);
	return r;
}

void gpu_unclaim(const char *pattern, unsigned gpu, int fd)
{
	char *wpath = gpu_witness_path(pattern, gpu);
	struct stat mine, st;
	if (fstat(fd, &mine) == 0 && lstat(wpath, &st) == 0 && same_file(&mine, &st))
		(void)unlink(wpath);
	free(wpath);
}

bool gpu_still_named(const char *pattern, unsigned gpu, int fd, bool *path_ok)
{
	char *path = gpu_path(pattern, gpu);
	char *wpath = gpu_witness_path(pattern, gpu);
	struct stat mine, st;
	bool have = fstat(fd, &mine) == 0;
	*path_ok = have && lstat(path, &st) == 0 && same_file(&mine, &st);
	bool wit = have && lstat(wpath, &st) == 0 && same_file(&mine, &st);
	free(path);
	free(wpath);
	return !have || *path_ok || wit;
}

size_t q_ticket_sweep(const char *pattern)
{
	const char *hole = strstr(pattern, LEASE_PLACEHOLDER);
	const char *slash = strrchr(pattern, '/');
	if (!hole || (slash && slash > hole))
		return 0;
	char *dir = slash ? xstrndup(pattern, slash == pattern ? 1 : (size_t)(slash - pattern))
	                  : xstrdup(".");
	const char *base = slash ? slash + 1 : pattern;
	size_t npre = (size_t)(hole - base);
	const char *suffix = hole + strlen(LEASE_PLACEHOLDER);
	size_t nsuf = strlen(suffix);
	DIR *dh = opendir(dir);
	size_t removed = 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct dirent *e;
	while (dh && (e = readdir(dh))) {
		size_t len = strlen(e->d_name);
		if (len < npre + nsuf + 7 || strncmp(e->d_name, base, npre) != 0 ||
		    strncmp(e->d_name + npre, "ticket-", 7) != 0 ||
		    strcmp(e->d_name + len - nsuf, suffix) != 0)
			continue;
		int fd =
		    openat(dirfd(dh), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st, again;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    (ts.tv_sec - st.st_ctim.tv_sec) * 1000000000L +
		            (ts.tv_nsec - st.st_ctim.tv_nsec) >
		        200000000L &&
		    flock(fd, LOCK_SH | LOCK_NB) == 0 &&
		    fstatat(dirfd(dh), e->d_name, &again, AT_SYMLINK_NOFOLLOW) == 0 &&
		    same_file(&st, &again) && unlinkat(dirfd(dh), e->d_name, 0) == 0)
			removed++;
		close(fd);
	}
	if (dh)
		closedir(dh);
	free(dir);
	return removed;
}

bool gpu_witness_held(const char *pattern, unsigned gpu, const struct stat *path_st,
                      struct stat *wst)
{
	char *wpath = gpu_witness_path(pattern, gpu);
	int wfd = open(wpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(wpath);
	if (wfd < 0)
		return false;
	bool held = fstat(wfd, wst) == 0 && S_ISREG(wst->st_mode) &&
	            (!path_st || !same_file(wst, path_st)) && flock(wfd, LOCK_SH | LOCK_NB) < 0 &&
	            errno == EWOULDBLOCK;
	close(wfd);
	return held;
}
