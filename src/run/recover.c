/* What a crashed run left running: its record, and ending it. See recover.h. */
#include "run/recover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "run/executor.h"
#include "base/banned.h"

extern char **environ;

#define RECORD_PREFIX "gpuci-run-"
#define RECORD_SUFFIX ".run"

struct run_record {
	int fd;
	char *path;
};

char *run_record_dir(const char *lock_pattern)
{
	const char *ph = strstr(lock_pattern, "{gpu_id}");
	size_t n = ph ? (size_t)(ph - lock_pattern) : strlen(lock_pattern);
	while (n > 0 && lock_pattern[n - 1] != '/')
		n--;
	if (n == 0)
		return xstrdup(".");
	if (n == 1)
		return xstrdup("/");
	struct strbuf s = STRBUF_INIT;
	strbuf_add(&s, lock_pattern, n - 1);
	return strbuf_detach(&s, NULL);
}

int run_record_create(struct run_record **out, const char *dir, const struct run_record_info *info,
                      struct diag *d)
{
	const char *run_id = info->run_id, *root = info->root, *executor = info->executor;
	*out = NULL;
	struct strbuf tmp = STRBUF_INIT, path = STRBUF_INIT, text = STRBUF_INIT;
	strbuf_addf(&tmp, "%s/." RECORD_PREFIX "%s.tmp", dir, run_id);
	strbuf_addf(&path, "%s/" RECORD_PREFIX "%s" RECORD_SUFFIX, dir, run_id);
	strbuf_addf(&text, "gpuci-run-record 1\nrun_id %s\npid %d\nroot %s\n", run_id,
	            (int)getpid(), root);
	if (info->run_dir && !strchr(info->run_dir, '\n'))
		strbuf_addf(&text, "run_dir %s\n", info->run_dir);
	if (executor && strcmp(executor, "local") != 0) {
		strbuf_addf(&text, "executor %s\n", executor);
		const char *host = getenv("DOCKER_HOST"), *conf = getenv("SLURM_CONF");
		if (host && !strchr(host, '\n'))
			strbuf_addf(&text, "docker_host %s\n", host);
		if (conf && !strchr(conf, '\n'))
			strbuf_addf(&text, "slurm_conf %s\n", conf);
	}
	int rc = 0;
	/* Locked before it has its name, so no one takes it for a crashed run's. */
	int fd = open(tmp.buf, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		/* The lock files' folder, made as lease makes it (mkdir -p). */
		struct strbuf p = STRBUF_INIT;
		strbuf_adds(&p, dir);
		for (size_t i = 1; i <= p.len; i++)
			if (i == p.len || p.buf[i] == '/') {
				char c = p.buf[i];
				p.buf[i] = '\0';
				(void)mkdir(p.buf, 0777);
				p.buf[i] = c;
			}
		strbuf_release(&p);
		fd = open(tmp.buf, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		rc = diag_errno(d, "cannot write the run record %s", tmp.buf);
	else if (flock(fd, LOCK_EX | LOCK_NB) < 0 ||
	         write(fd, text.buf, text.len) != (ssize_t)text.len ||
	         rename(tmp.buf, path.buf) < 0) {
		rc = diag_errno(d, "cannot write the run record %s", path.buf);
		close(fd);
		unlink(tmp.buf);
	}
	if (rc == 0) {
		struct run_record *r = xcalloc(1, sizeof(*r));
		r->fd = fd;
		r->path = strbuf_detach(&path, NULL);
		*out = r;
	}
	strbuf_release(&tmp);
	strbuf_release(&path);
	strbuf_release(&text);
	return rc;
}

void run_record_remove(struct run_record *r)
{
	if (!r)
		return;
	unlink(r->path);
	close(r->fd);
	free(r->path);
	free(r);
}

/* ---- finding and ending ------------------------------------------------- */

static bool pid_alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Reads /proc/PID/FILE whole; false when it cannot. */
static bool read_proc(pid_t pid, const char *file, struct strbuf *out)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	struct diag d = DIAG_INIT;
	bool ok = fs_read_all(path, out, &d) == 0;
	diag_release(&d);
	return ok;
}

static bool has_entry(const struct strbuf *env, const char *want, size_t wlen)
{
	for (size_t i = 0; i < env->len;) {
		const char *e = env->buf + i;
		size_t n = strnlen(e, env->len - i);
		if (n == wlen && !memcmp(e, want, wlen))
			return true;
		i += n + 1;
	}
	return false;
}

/* Every other process whose environment has GPUCI_RUN_ID=run_id. */
static void find_marked(const char *run_id, struct run_crashed *c)
{
	DIR *dir = opendir("/proc");
	if (!dir)
		return;
	struct strbuf want = STRBUF_INIT, env = STRBUF_INIT;
	strbuf_addf(&want, "GPUCI_RUN_ID=%s", run_id);
	pid_t self = getpid();
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
		strbuf_reset(&env);
		if (pid == self || !read_proc(pid, "environ", &env) ||
		    !has_entry(&env, want.buf, want.len) || !pid_alive(pid))
			continue;
		struct strbuf cmd = STRBUF_INIT;
		if (read_proc(pid, "cmdline", &cmd))
			for (size_t i = 0; i < cmd.len; i++)
				if (cmd.buf[i] == '\0' || cmd.buf[i] == '\n')
					cmd.buf[i] = i + 1 == cmd.len ? '\0' : ' ';
		if (c->nleft == cap) {
			cap = cap ? cap * 2 : 8;
			c->left = xrealloc(c->left, cap * sizeof(*c->left));
		}
		c->left[c->nleft++] = (struct run_leftover){
		    .pid = pid, .cmd = xstrdup(cmd.len ? cmd.buf : "?"), .how = RUN_LEFT_ENDED};
		strbuf_release(&cmd);
	}
	closedir(dir);
	strbuf_release(&want);
	strbuf_release(&env);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until every leftover not marked CANNOT is gone, or until `until`. */
static bool wait_gone(struct run_crashed *c, double until)
{
	for (;;) {
		bool any = false;
		for (size_t i = 0; i < c->nleft; i++)
			any |= c->left[i].how != RUN_LEFT_CANNOT && pid_alive(c->left[i].pid);
		if (!any)
			return true;
		if (mono() >= until)
			return false;
		struct timespec ts = {0, 20L * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void end_leftovers(struct run_crashed *c, double kill_after)
{
	for (size_t i = 0; i < c->nleft; i++)
		if (kill(c->left[i].pid, SIGTERM) < 0 && errno != ESRCH) {
			c->left[i].how = RUN_LEFT_CANNOT;
			c->left[i].err = errno;
		}
	if (wait_gone(c, mono() + kill_after))
		return;
	for (size_t i = 0; i < c->nleft; i++) {
		struct run_leftover *l = &c->left[i];
		if (l->how == RUN_LEFT_CANNOT || !pid_alive(l->pid))
			continue;
		l->how = RUN_LEFT_KILLED;
		if (kill(l->pid, SIGKILL) < 0 && errno != ESRCH) {
			l->how = RUN_LEFT_CANNOT;
			l->err = errno;
		}
	}
	wait_gone(c, mono() + 2);
	for (size_t i = 0; i < c->nleft; i++)
		if (c->left[i].how != RUN_LEFT_CANNOT && pid_alive(c->left[i].pid)) {
			c->left[i].how = RUN_LEFT_CANNOT;
			c->left[i].err = ETIMEDOUT;
		}
}

/*
 * What the crashed run's executor left outside its processes (containers
 * in Created state, those whose processes were ended above; a cluster's
 * jobs): its sweep, with the DOCKER_HOST and SLURM_CONF the run had. -1:
 * it could not look (sweep_error).
 */
static int sweep(struct run_crashed *c)
{
	static const struct run_executor *const all[] = {&run_exec_docker, &run_exec_slurm};
	const struct run_executor *ex = NULL;
	for (size_t i = 0; c->executor && i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(c->executor, all[i]->name))
			ex = all[i];
	if (!ex || !ex->sweep)
		return 0;
	c->leftover = ex->leftover;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = xcalloc(n + 3, sizeof(*env));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "DOCKER_HOST=", 12) != 0 &&
		    strncmp(environ[i], "SLURM_CONF=", 11) != 0)
			env[k++] = environ[i];
	struct strbuf host = STRBUF_INIT, conf = STRBUF_INIT;
	if (c->docker_host) {
		strbuf_addf(&host, "DOCKER_HOST=%s", c->docker_host);
		env[k++] = host.buf;
	}
	if (c->slurm_conf) {
		strbuf_addf(&conf, "SLURM_CONF=%s", c->slurm_conf);
		env[k++] = conf.buf;
	} else if (getenv("SLURM_CONF")) {
		strbuf_addf(&conf, "SLURM_CONF=%s", getenv("SLURM_CONF"));
		env[k++] = conf.buf;
	}
	struct run_sweep s = {.run_id = c->run_id, .run_dir = c->run_dir, .env = env};
	struct diag d = DIAG_INIT;
	int rc = ex->sweep(&s, &c->removed, &d);
	if (rc < 0)
		c->sweep_error = xstrdup(d.msg.buf ? d.msg.buf : "failed");
	diag_release(&d);
	strbuf_release(&host);
	strbuf_release(&conf);
	free(env);
	return rc;
}

static void crashed_release(struct run_crashed *c)
{
	for (size_t k = 0; k < c->nleft; k++)
		free(c->left[k].cmd);
	free(c->left);
	free(c->run_id);
	free(c->root);
	free(c->executor);
	free(c->docker_host);
	free(c->slurm_conf);
	free(c->run_dir);
	free(c->sweep_error);
}

/* Parses a record's text; false when it is not one. */
static bool parse_record(char *text, struct run_crashed *c)
{
	if (strncmp(text, "gpuci-run-record 1\n", 19) != 0)
		return false;
	for (char *line = strtok(text + 19, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "run_id ", 7))
			c->run_id = xstrdup(line + 7);
		else if (!strncmp(line, "pid ", 4))
			c->pid = (pid_t)atoi(line + 4);
		else if (!strncmp(line, "root ", 5))
			c->root = xstrdup(line + 5);
		else if (!strncmp(line, "executor ", 9))
			c->executor = xstrdup(line + 9);
		else if (!strncmp(line, "run_dir ", 8))
			c->run_dir = xstrdup(line + 8);
		else if (!strncmp(line, "docker_host ", 12))
			c->docker_host = xstrdup(line + 12);
		else if (!strncmp(line, "slurm_conf ", 11))
			c->slurm_conf = xstrdup(line + 11);
	}
	return c->run_id && c->root;
}

int run_recover(const char *dir, double kill_after, struct run_crashed **out, size_t *n,
                struct diag *d)
{
	*out = NULL;
	*n = 0;
	DIR *dh = opendir(dir);
	if (!dh)
		return errno == ENOENT ? 0 : diag_errno(d, "cannot read %s", dir);
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(dh))) {
		size_t len = strlen(e->d_name), pl = strlen(RECORD_PREFIX),
		       sl = strlen(RECORD_SUFFIX);
		if (len <= pl + sl || strncmp(e->d_name, RECORD_PREFIX, pl) != 0 ||
		    strcmp(e->d_name + len - sl, RECORD_SUFFIX) != 0)
			continue;
		struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;
		strbuf_addf(&path, "%s/%s", dir, e->d_name);
		int fd = open(path.buf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat sb;
		/* Locked: its run is still going. */
		if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
		    flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (fd >= 0)
				close(fd);
			strbuf_release(&path);
			continue;
		}
		struct run_crashed c = {0};
		struct diag rd = DIAG_INIT;
		bool ok = fs_read_all(path.buf, &text, &rd) == 0 && parse_record(text.buf, &c) &&
		          len == pl + strlen(c.run_id) + sl &&
		          !strncmp(e->d_name + pl, c.run_id, strlen(c.run_id));
		diag_release(&rd);
		if (ok) {
			find_marked(c.run_id, &c);
			end_leftovers(&c, kill_after);
		}
		bool keep = ok && sweep(&c) < 0;
		for (size_t i = 0; i < c.nleft; i++)
			keep |= c.left[i].how == RUN_LEFT_CANNOT;
		if (ok && !keep)
			unlink(path.buf);
		close(fd);
		if (ok && (c.nleft || c.removed || c.sweep_error)) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 4;
				*out = xrealloc(*out, cap * sizeof(**out));
			}
			(*out)[(*n)++] = c;
		} else {
			crashed_release(&c);
		}
		strbuf_release(&path);
		strbuf_release(&text);
	}
	closedir(dh);
	return 0;
}

void run_crashed_free(struct run_crashed *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		crashed_release(&v[i]);
	free(v);
}
