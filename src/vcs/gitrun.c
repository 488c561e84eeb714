/*
 * vcs/gitrun: the git processes behind vcs/git.c: started without a shell
 * (proc_spawn: a posix_spawnp), stdin and stdout on one socket (sent to with
 * MSG_NOSIGNAL: a git that dies never SIGPIPEs gpuci), stderr into a memfd
 * read back only to report a failure, every other descriptor close-on-exec,
 * every child reaped; and the `git cat-file --batch` of each repository.
 */
#include "vcs/git_int.h"

#include "proc/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/banned.h"

extern char **environ;

/* ---- processes ------------------------------------------------------------ */

/* Whether environment entry e is NAME=... for one of names. */
static bool env_named(const char *e, const char *const *names)
{
	for (size_t i = 0; names[i]; i++) {
		size_t n = strlen(names[i]);
		if (!strncmp(e, names[i], n) && e[n] == '=')
			return true;
	}
	return false;
}

/*
 * The caller's environment, less what we set and (explicit: the repository
 * was named by path) what would point git elsewhere, plus our settings.
 */
char **vcs_git_env(bool explicit)
{
	/* Ours, and those that would change what a pathspec means. */
	static const char *const ours[] = {"LC_ALL",
	                                   "GIT_TERMINAL_PROMPT",
	                                   "GIT_OPTIONAL_LOCKS",
	                                   "GIT_LITERAL_PATHSPECS",
	                                   "GIT_GLOB_PATHSPECS",
	                                   "GIT_NOGLOB_PATHSPECS",
	                                   "GIT_ICASE_PATHSPECS",
	                                   NULL};
	static const char *const located[] = {"GIT_DIR",
	                                      "GIT_WORK_TREE",
	                                      "GIT_INDEX_FILE",
	                                      "GIT_COMMON_DIR",
	                                      "GIT_OBJECT_DIRECTORY",
	                                      "GIT_ALTERNATE_OBJECT_DIRECTORIES",
	                                      NULL};
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = xcalloc(n + 4, sizeof(*env));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!env_named(environ[i], ours) && !(explicit && env_named(environ[i], located)))
			env[k++] = xstrdup(environ[i]);
	env[k++] = xstrdup("LC_ALL=C");
	env[k++] = xstrdup("GIT_TERMINAL_PROMPT=0");
	env[k++] = xstrdup("GIT_OPTIONAL_LOCKS=0");
	env[k] = NULL;
	return env;
}

void vcs_git_env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* Why git could not be started: what was tried, and how to get it. */
static int spawn_fail(struct diag *d, const char *git, int err)
{
	const char *env_git = getenv("GPUCI_GIT");
	bool from_env = env_git && *env_git;
	const char *hint = "gpuci reads git through the git command: apt-get install -y git";
	/* A name is searched on PATH: a folder there that refuses us gives EACCES. */
	if ((err == ENOENT || err == EACCES) && !strchr(git, '/')) {
		const char *path = getenv("PATH");
		return diag_set(
		    d, DIAG_SYSTEM, "cannot run git: '%s'%s was not found on PATH (PATH=%s)%s; %s",
		    git, from_env ? " (from $GPUCI_GIT)" : "", path ? path : "(unset)",
		    err == EACCES ? " (a folder on PATH, or a git in it, refused access)" : "",
		    hint);
	}
	return diag_set(d, DIAG_SYSTEM, "cannot run git: '%s'%s: %s; %s", git,
	                from_env ? " (from $GPUCI_GIT)" : "", strerror(err), hint);
}

/* Starts argv (argv[0]: the executable, searched on PATH) with env. */
static int child_start(const char *const *argv, char *const *env, struct vcs_git_child *c,
                       struct diag *d)
{
	*c = (struct vcs_git_child){.fd = -1, .err = -1};
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return diag_errno(d, "cannot run git: socketpair");
	int err = memfd_create("gpuci-git-stderr", MFD_CLOEXEC);
	if (err < 0) {
		close(sv[0]);
		close(sv[1]);
		return diag_errno(d, "cannot run git: memfd_create");
	}
	/* Signals as a fresh process has them: gpuci ignores SIGPIPE, may block others. */
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	static const int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&dfl, sigs[i]);
	const struct proc_fd_map fds[] = {{sv[1], 0}, {sv[1], 1}, {err, 2}};
	struct proc_spawn_opts o = {.argv = (char *const *)argv,
	                            .env = env,
	                            .fds = fds,
	                            .nfds = 3,
	                            .mask = &none,
	                            .sigdefault = &dfl};
	pid_t pid = 0;
	struct diag ignore = DIAG_INIT;
	int rc = proc_spawn(&o, &pid, &ignore) < 0 ? errno : 0;
	diag_release(&ignore);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		close(err);
		return spawn_fail(d, argv[0], rc);
	}
	*c = (struct vcs_git_child){.pid = pid, .fd = sv[0], .err = err};
	return 0;
}

/* Closes c's socket and waits for it; returns its wait status. */
static int child_finish(struct vcs_git_child *c)
{
	int status = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	while (c->pid > 0 && waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = 0;
	return status;
}

/*
 * What git wrote on stderr from offset `from`, one line: "fatal: " and
 * "error: " dropped, blanks trimmed, lines joined with "; " (a space after
 * one that ends with ':').
 */
static void child_stderr(const struct vcs_git_child *c, off_t from, struct strbuf *out)
{
	char buf[4096];
	ssize_t n;
	while ((n = pread(c->err, buf, sizeof(buf) - 1, from)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (const char *const *p = (const char *const[]){"fatal: ", "error: ", NULL}; *p;
		     p++)
			if (!strncmp(line, *p, strlen(*p)))
				line += strlen(*p);
		while (*line == ' ' || *line == '\t')
			line++;
		size_t len = strlen(line);
		while (len &&
		       (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
			len--;
		if (!len)
			continue;
		if (out->len)
			strbuf_adds(out, out->buf[out->len - 1] == ':' ? " " : "; ");
		strbuf_add(out, line, len);
	}
}

/* The end of c's stderr so far: where the next failure's message starts. */
static off_t child_stderr_end(const struct vcs_git_child *c)
{
	struct stat st;
	return fstat(c->err, &st) == 0 ? st.st_size : 0;
}

/* "exited with status N" / "was killed by signal N (NAME)" */
static void describe_status(int status, struct strbuf *out)
{
	if (WIFEXITED(status))
		strbuf_addf(out, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		strbuf_addf(out, "was killed by signal %d (%s)", WTERMSIG(status),
		            strsignal(WTERMSIG(status)));
	else
		strbuf_addf(out, "ended with wait status %d", status);
}

/*
 * Runs git with args (argv without the executable) to its end: its stdout
 * into out, its wait status in *status, its stderr (one line) in err when
 * it did not exit 0. Fails only when it cannot be run or read.
 */
int vcs_git_run(const char *git, char *const *env, const char *const *args, struct strbuf *out,
                int *status, struct strbuf *err, struct diag *d)
{
	size_t n = 0;
	while (args[n])
		n++;
	const char **argv = xcalloc(n + 2, sizeof(*argv));
	argv[0] = git;
	memcpy(argv + 1, args, n * sizeof(*argv));
	struct vcs_git_child c;
	int rc = child_start(argv, env, &c, d);
	free(argv);
	if (rc < 0)
		return -1;
	shutdown(c.fd, SHUT_WR); /* its stdin: nothing */
	char buf[16384];
	int read_errno = 0;
	for (;;) {
		ssize_t got = read(c.fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			read_errno = errno;
		if (got <= 0)
			break;
		strbuf_add(out, buf, (size_t)got);
	}
	*status = child_finish(&c);
	if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
		child_stderr(&c, 0, err);
	close(c.err);
	if (read_errno) {
		errno = read_errno;
		return diag_errno(d, "cannot read what git %s printed", args[0]);
	}
	if (strbuf_failed(out))
		return diag_set(d, DIAG_SYSTEM, "git %s printed too much", args[0]);
	return 0;
}

/* DIAG_SYSTEM: "git WHAT exited with status 128: <git's message>". */
int vcs_git_status_fail(struct diag *d, const char *what, int status, const struct strbuf *err)
{
	struct strbuf sb = STRBUF_INIT;
	describe_status(status, &sb);
	diag_set(d, DIAG_SYSTEM, "git %s %s%s%s", what, sb.buf, err->len ? ": " : "", err->buf);
	strbuf_release(&sb);
	return -1;
}

/* vcs_git_run() for `git --git-dir=DIR ARGS...`. */
int vcs_repo_run(struct vcs_repo *r, const char *const *args, struct strbuf *out, int *status,
                 struct strbuf *err, struct diag *d)
{
	size_t n = 0;
	while (args[n])
		n++;
	const char **v = xcalloc(n + 2, sizeof(*v));
	v[0] = r->dir_opt;
	memcpy(v + 1, args, n * sizeof(*v));
	int rc = vcs_git_run(r->git, r->env, v, out, status, err, d);
	free(v);
	return rc;
}

/* ---- object ids ----------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parses the n hex digits at s (40 or 64) into out; false when they are not that. */
bool vcs_oid_parse(const char *s, size_t n, struct vcs_oid *out)
{
	if (n != 40 && n != 64)
		return false;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out->id[i] = (unsigned char)(hi << 4 | lo);
	}
	out->len = (unsigned char)(n / 2);
	return true;
}

/* Ends the cat-file process, if any; returns its wait status. */
int vcs_batch_stop(struct vcs_repo *r)
{
	struct vcs_git_batch *b = &r->batch;
	int status = child_finish(&b->c);
	if (b->c.err >= 0)
		close(b->c.err);
	b->c.err = -1;
	b->start = b->end = 0;
	return status;
}

/* ---- git cat-file --batch -------------------------------------------------- */

static int batch_start(struct vcs_repo *r, struct diag *d)
{
	if (r->batch.c.pid > 0)
		return 0;
	const char *argv[] = {r->git, r->dir_opt, "cat-file", "--batch", NULL};
	r->batch.start = r->batch.end = 0;
	return child_start(argv, r->env, &r->batch.c, d);
}

/*
 * The batch process failed us while `what`: it is ended (the next query
 * starts another) and d says how it went, with git's message.
 */
static int batch_fail(struct vcs_repo *r, off_t errpos, const char *what, const char *why,
                      struct diag *d)
{
	struct strbuf how = STRBUF_INIT;
	int err = r->batch.c.err;
	r->batch.c.err = -1;
	r->batch_status = vcs_batch_stop(r);
	struct vcs_git_child tmp = {.err = err};
	strbuf_reset(&r->batch_msg);
	child_stderr(&tmp, errpos, &r->batch_msg);
	if (err >= 0)
		close(err);
	describe_status(r->batch_status, &how);
	diag_set(d, DIAG_SYSTEM, "git cat-file --batch %s while %s; it %s%s%s", why, what, how.buf,
	         r->batch_msg.len ? ": " : "", r->batch_msg.buf);
	strbuf_release(&how);
	return -1;
}

/* Fills the read buffer; 0 on end of stream; -1 errno. */
static ssize_t batch_fill(struct vcs_git_batch *b)
{
	if (b->start == b->end)
		b->start = b->end = 0;
	ssize_t n;
	while ((n = read(b->c.fd, b->buf + b->end, sizeof(b->buf) - b->end)) < 0 && errno == EINTR)
		;
	if (n > 0)
		b->end += (size_t)n;
	return n;
}

/* Reads one line (without its LF) into line; -1 at the end of the stream. */
static int batch_line(struct vcs_git_batch *b, struct strbuf *line)
{
	for (;;) {
		char *nl = memchr(b->buf + b->start, '\n', b->end - b->start);
		if (nl) {
			strbuf_add(line, b->buf + b->start, (size_t)(nl - (b->buf + b->start)));
			b->start = (size_t)(nl - b->buf) + 1;
			return 0;
		}
		strbuf_add(line, b->buf + b->start, b->end - b->start);
		b->start = b->end = 0;
		if (line->len > 4096 || batch_fill(b) <= 0)
			return -1;
	}
}

/* Reads n bytes into out (NULL, or out failed: dropped); -1 at the end of the stream. */
static int batch_bytes(struct vcs_git_batch *b, uint64_t n, struct strbuf *out)
{
	while (n) {
		if (b->start == b->end && batch_fill(b) <= 0)
			return -1;
		size_t take = b->end - b->start;
		if (take > n)
			take = (size_t)n;
		if (out && !strbuf_failed(out))
			strbuf_add(out, b->buf + b->start, take);
		b->start += take;
		n -= take;
	}
	return 0;
}

/* Sends the questions in q (one per line) to r's cat-file. */
static int batch_send(struct vcs_repo *r, const struct strbuf *q, off_t errpos, struct diag *d)
{
	for (size_t done = 0; done < q->len;) {
		ssize_t n = send(r->batch.c.fd, q->buf + done, q->len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return batch_fail(r, errpos, "reading objects", "ended", d);
		done += (size_t)n;
	}
	return 0;
}

/* Reads the answer to the question `name` (see vcs_batch_get()). */
static int batch_recv(struct vcs_repo *r, const char *name, struct vcs_batch_obj *o,
                      struct strbuf *body, off_t errpos, struct diag *d)
{
	struct vcs_git_batch *b = &r->batch;
	struct strbuf line = STRBUF_INIT;
	int rc = 0;
	*o = (struct vcs_batch_obj){0};
	if (batch_line(b, &line) < 0) {
		rc = batch_fail(r, errpos, "reading objects", "ended", d);
		goto out;
	}
	/* "<name> missing" / "<name> ambiguous": the name may hold blanks itself. */
	size_t nl = strlen(name);
	if (line.len == nl + 8 && !memcmp(line.buf, name, nl) && !strcmp(line.buf + nl, " missing"))
		goto out;
	if (line.len == nl + 10 && !memcmp(line.buf, name, nl) &&
	    !strcmp(line.buf + nl, " ambiguous")) {
		o->ambiguous = true;
		goto out;
	}
	/* "<oid> <type> <size>" */
	char *sp1 = strchr(line.buf, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	char *end = NULL;
	unsigned long long size = 0;
	if (sp2 && sp2[1] >= '0' && sp2[1] <= '9') {
		errno = 0;
		size = strtoull(sp2 + 1, &end, 10);
	}
	if (!sp2 || !vcs_oid_parse(line.buf, (size_t)(sp1 - line.buf), &o->oid) ||
	    (size_t)(sp2 - sp1 - 1) >= sizeof(o->type) || sp2 == sp1 + 1 || !end || *end ||
	    end == sp2 + 1 || errno) {
		struct strbuf why = STRBUF_INIT;
		if (line.len > 160)
			strbuf_setlen(&line, 160);
		strbuf_add_quoted(&why, line.buf);
		batch_fail(r, errpos, "reading objects",
		           "gave an answer that is not <oid> <type> <size>", d);
		strbuf_addf(&d->msg, "; it said: %s", why.buf);
		strbuf_release(&why);
		rc = -1;
		goto out;
	}
	memcpy(o->type, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	o->size = size;
	o->found = true;
	size_t room = body ? (body->max ? body->max : STRBUF_DEFAULT_MAX) : 0;
	if (body && (strbuf_failed(body) || body->len > room || size > room - body->len)) {
		o->too_large = true;
		body = NULL;
	}
	struct strbuf tail = STRBUF_INIT;
	if (batch_bytes(b, size, body) < 0 || batch_bytes(b, 1, &tail) < 0)
		rc = batch_fail(r, errpos, "reading objects", "ended", d);
	else if (tail.len != 1 || tail.buf[0] != '\n')
		rc = batch_fail(r, errpos, "reading objects", "lost step (no LF after an object)",
		                d);
	strbuf_release(&tail);
out:
	strbuf_release(&line);
	return rc;
}

/* See git_int.h. */
int vcs_batch_get_many(struct vcs_repo *r, const char *const *names, size_t n,
                       struct vcs_batch_obj *objs, struct strbuf *bodies, struct diag *d)
{
	r->batch_status = 0;
	strbuf_reset(&r->batch_msg);
	if (batch_start(r, d) < 0)
		return -1;
	off_t errpos = child_stderr_end(&r->batch.c);
	struct strbuf q = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&q, "%s\n", names[i]);
	int rc = batch_send(r, &q, errpos, d);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = batch_recv(r, names[i], &objs[i], bodies ? &bodies[i] : NULL, errpos, d);
	strbuf_release(&q);
	return rc;
}

/* See git_int.h. */
int vcs_batch_get(struct vcs_repo *r, const char *name, struct vcs_batch_obj *o,
                  struct strbuf *body, struct diag *d)
{
	*o = (struct vcs_batch_obj){0};
	return vcs_batch_get_many(r, &name, 1, o, body, d);
}
