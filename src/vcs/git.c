/*
 * vcs/git: git's plumbing behind a small API (see git.h).
 *
 * gpuci once loaded libgit2 with dlopen; CI images often carry another
 * ABI of it or none, while the git command is present wherever a checkout
 * was made and its plumbing output is a stable contract. So every answer
 * here comes from a git process: started without a shell (posix_spawnp),
 * stdin and stdout on one socket (MSG_NOSIGNAL: a git that dies never
 * SIGPIPEs gpuci), stderr into a memfd read back only to report a failure,
 * every other descriptor close-on-exec, and every child reaped.
 */
#include "vcs/git.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
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
#include "vcs/git_int.h"
#include "base/banned.h"

extern char **environ;

/* A running git: its pid, the socket to its stdin and stdout, its stderr. */
struct git_child {
	pid_t pid;
	int fd;
	int err;
};

/* The `git cat-file --batch` of a repository and what it sent that is not read yet. */
struct git_batch {
	struct git_child c; /* pid 0: not running */
	size_t start, end;
	char buf[65536];
};

struct vcs_repo {
	const char *git; /* the executable: $GPUCI_GIT or "git" */
	char *dir_opt;   /* "--git-dir=/abs/path/.git" */
	char **env;      /* the children's environment */
	bool shallow;
	struct git_batch batch;
	int batch_status;        /* how the last batch that failed ended */
	struct strbuf batch_msg; /* and what it said on stderr (one line) */
};

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
static char **child_env(bool explicit)
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

static void env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* Why git could not be started: what was tried, and how to get it. */
static int spawn_fail(struct diag *d, const char *git, int err)
{
	bool from_env = getenv("GPUCI_GIT") && *getenv("GPUCI_GIT");
	const char *hint = "gpuci reads git through the git command: apt-get install -y git";
	if (err == ENOENT && !strchr(git, '/')) {
		const char *path = getenv("PATH");
		return diag_set(
		    d, DIAG_SYSTEM, "cannot run git: '%s'%s was not found on PATH (PATH=%s); %s",
		    git, from_env ? " (from $GPUCI_GIT)" : "", path ? path : "(unset)", hint);
	}
	return diag_set(d, DIAG_SYSTEM, "cannot run git: '%s'%s: %s; %s", git,
	                from_env ? " (from $GPUCI_GIT)" : "", strerror(err), hint);
}

/* Starts argv (argv[0]: the executable, searched on PATH) with env. */
static int child_start(const char *const *argv, char *const *env, struct git_child *c,
                       struct diag *d)
{
	*c = (struct git_child){.fd = -1, .err = -1};
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return diag_errno(d, "cannot run git: socketpair");
	int err = memfd_create("gpuci-git-stderr", MFD_CLOEXEC);
	if (err < 0) {
		close(sv[0]);
		close(sv[1]);
		return diag_errno(d, "cannot run git: memfd_create");
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err, 2);
	posix_spawnattr_init(&at);
	/* Signals as a fresh process has them: gpuci ignores SIGPIPE, may block others. */
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	static const int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&dfl, sigs[i]);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid = 0;
	int rc = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		close(err);
		return spawn_fail(d, argv[0], rc);
	}
	*c = (struct git_child){.pid = pid, .fd = sv[0], .err = err};
	return 0;
}

/* Closes c's socket and waits for it; returns its wait status. */
static int child_finish(struct git_child *c)
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
 * "error: " dropped, lines joined with a space, blanks trimmed.
 */
static void child_stderr(const struct git_child *c, off_t from, struct strbuf *out)
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
			strbuf_addch(out, ' ');
		strbuf_add(out, line, len);
	}
}

/* The end of c's stderr so far: where the next failure's message starts. */
static off_t child_stderr_end(const struct git_child *c)
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
static int git_run(const char *git, char *const *env, const char *const *args, struct strbuf *out,
                   int *status, struct strbuf *err, struct diag *d)
{
	size_t n = 0;
	while (args[n])
		n++;
	const char **argv = xcalloc(n + 2, sizeof(*argv));
	argv[0] = git;
	memcpy(argv + 1, args, n * sizeof(*argv));
	struct git_child c;
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
static int git_status_fail(struct diag *d, const char *what, int status, const struct strbuf *err)
{
	struct strbuf sb = STRBUF_INIT;
	describe_status(status, &sb);
	diag_set(d, DIAG_SYSTEM, "git %s %s%s%s", what, sb.buf, err->len ? ": " : "", err->buf);
	strbuf_release(&sb);
	return -1;
}

/* git_run() for `git --git-dir=DIR ARGS...`. */
static int repo_run(struct vcs_repo *r, const char *const *args, struct strbuf *out, int *status,
                    struct strbuf *err, struct diag *d)
{
	size_t n = 0;
	while (args[n])
		n++;
	const char **v = xcalloc(n + 2, sizeof(*v));
	v[0] = r->dir_opt;
	memcpy(v + 1, args, n * sizeof(*v));
	int rc = git_run(r->git, r->env, v, out, status, err, d);
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
static bool oid_parse(const char *s, size_t n, struct vcs_oid *out)
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

void vcs_oid_hex(const struct vcs_oid *id, char hex[VCS_OID_HEXSZ])
{
	static const char digits[] = "0123456789abcdef";
	size_t len = id->len <= sizeof(id->id) ? id->len : sizeof(id->id);
	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[id->id[i] >> 4];
		hex[2 * i + 1] = digits[id->id[i] & 0xf];
	}
	hex[2 * len] = '\0';
}

/* ---- opening --------------------------------------------------------------- */

int vcs_repo_open(struct vcs_repo **out, const char *path, struct diag *d)
{
	*out = NULL;
	const char *git = getenv("GPUCI_GIT");
	if (!git || !*git)
		git = "git";
	char **env = child_env(path != NULL);
	const char *args[] = {
	    "-C", path ? path : ".", "rev-parse", "--absolute-git-dir", "--is-shallow-repository",
	    NULL};
	struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
	int status = 0;
	/* path NULL: the current directory, as git itself would (GIT_DIR honoured). */
	if (git_run(git, env, path ? args : args + 2, &sb, &status, &err, d) < 0)
		goto fail;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 128 &&
		    (strstr(err.buf, "not a git repository") ||
		     strstr(err.buf, "cannot change to")))
			diag_set(d, DIAG_USAGE,
			         "not a git repository: '%s' (nor any parent folder)",
			         path ? path : ".");
		else
			diag_set(d, DIAG_SYSTEM, "cannot open the git repository at '%s': %s",
			         path ? path : ".", err.len ? err.buf : "git gave no reason");
		goto fail;
	}
	char *nl = strchr(sb.buf, '\n');
	if (!nl || sb.buf[0] != '/' || !nl[1]) {
		diag_set(d, DIAG_SYSTEM, "git rev-parse --absolute-git-dir printed no folder");
		goto fail;
	}
	*nl = '\0';
	struct vcs_repo *r = xcalloc(1, sizeof(*r));
	r->git = git;
	r->env = env;
	r->shallow = !strncmp(nl + 1, "true", 4);
	struct strbuf opt = STRBUF_INIT;
	strbuf_addf(&opt, "--git-dir=%s", sb.buf);
	r->dir_opt = strbuf_detach(&opt, NULL);
	r->batch.c = (struct git_child){.fd = -1, .err = -1};
	r->batch_msg = (struct strbuf)STRBUF_INIT;
	strbuf_release(&sb);
	strbuf_release(&err);
	*out = r;
	return 0;
fail:
	strbuf_release(&sb);
	strbuf_release(&err);
	env_free(env);
	return -1;
}

/* Ends the cat-file process, if any; returns its wait status. */
static int batch_stop(struct vcs_repo *r)
{
	struct git_batch *b = &r->batch;
	int status = child_finish(&b->c);
	if (b->c.err >= 0)
		close(b->c.err);
	b->c.err = -1;
	b->start = b->end = 0;
	return status;
}

void vcs_repo_free(struct vcs_repo *r)
{
	if (!r)
		return;
	batch_stop(r);
	strbuf_release(&r->batch_msg);
	free(r->dir_opt);
	env_free(r->env);
	free(r);
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
	r->batch_status = batch_stop(r);
	struct git_child tmp = {.err = err};
	strbuf_reset(&r->batch_msg);
	child_stderr(&tmp, errpos, &r->batch_msg);
	if (err >= 0)
		close(err);
	describe_status(r->batch_status, &how);
	diag_set(d, DIAG_SYSTEM, "git cat-file --batch %s while %s (%s)%s%s", why, what, how.buf,
	         r->batch_msg.len ? ": " : "", r->batch_msg.buf);
	strbuf_release(&how);
	return -1;
}

/* Fills the read buffer; 0 on end of stream; -1 errno. */
static ssize_t batch_fill(struct git_batch *b)
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
static int batch_line(struct git_batch *b, struct strbuf *line)
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
static int batch_bytes(struct git_batch *b, uint64_t n, struct strbuf *out)
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

/* What cat-file said about one object. */
struct batch_obj {
	bool found;     /* false: "missing" or "ambiguous" */
	bool too_large; /* found, but its content would not fit in the body: drained */
	bool ambiguous; /* not found because a short id names several objects */
	char type[16];  /* "commit", "tree", "blob", "tag" */
	uint64_t size;  /* of the content */
	struct vcs_oid oid;
};

/*
 * Asks cat-file for name and reads its answer: the header, then the
 * content into body (NULL: drained; a body that fails, for being too
 * large, is drained too and left failed). The stream stays in step
 * whatever the object. Fails (DIAG_SYSTEM) only when git fails.
 */
static int batch_get(struct vcs_repo *r, const char *name, struct batch_obj *o, struct strbuf *body,
                     struct diag *d)
{
	*o = (struct batch_obj){0};
	r->batch_status = 0;
	strbuf_reset(&r->batch_msg);
	if (batch_start(r, d) < 0)
		return -1;
	struct git_batch *b = &r->batch;
	off_t errpos = child_stderr_end(&b->c);
	struct strbuf q = STRBUF_INIT, line = STRBUF_INIT;
	strbuf_addf(&q, "%s\n", name);
	int rc = 0;
	for (size_t done = 0; done < q.len;) {
		ssize_t n = send(b->c.fd, q.buf + done, q.len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = batch_fail(r, errpos, "reading objects", "ended", d);
			goto out;
		}
		done += (size_t)n;
	}
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
	if (sp2) {
		errno = 0;
		size = strtoull(sp2 + 1, &end, 10);
	}
	if (!sp2 || !oid_parse(line.buf, (size_t)(sp1 - line.buf), &o->oid) ||
	    (size_t)(sp2 - sp1 - 1) >= sizeof(o->type) || sp2 == sp1 + 1 || !end || *end ||
	    end == sp2 + 1 || errno) {
		struct strbuf why = STRBUF_INIT;
		why.max = 200;
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
	char lf = 0;
	struct strbuf tail = STRBUF_INIT;
	if (batch_bytes(b, size, body) < 0 || batch_bytes(b, 1, &tail) < 0) {
		rc = batch_fail(r, errpos, "reading objects", "ended", d);
	} else if ((lf = tail.len ? tail.buf[0] : 0) != '\n') {
		rc = batch_fail(r, errpos, "reading objects", "lost step (no LF after an object)",
		                d);
	}
	strbuf_release(&tail);
out:
	strbuf_release(&q);
	strbuf_release(&line);
	return rc;
}

/* ---- revisions -------------------------------------------------------------- */

int vcs_resolve_commit(struct vcs_repo *r, const char *rev, struct vcs_oid *out, struct diag *d)
{
	if (strchr(rev, '\n'))
		return diag_set(d, DIAG_USAGE,
		                "unknown revision '%s': a revision cannot hold a newline", rev);
	struct strbuf q = STRBUF_INIT;
	struct batch_obj o;
	strbuf_addf(&q, "%s^{commit}", rev);
	int rc = batch_get(r, q.buf, &o, NULL, d);
	strbuf_release(&q);
	if (rc < 0) {
		/*
		 * git dies on some names (e.g. @{upstream} without one) with its
		 * reason and status 128: a bad revision, not a broken git.
		 */
		int st = r->batch_status;
		if (r->batch.c.pid == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 128 &&
		    r->batch_msg.len)
			diag_set(d, DIAG_USAGE, "unknown revision '%s': %s", rev, r->batch_msg.buf);
		return -1;
	}
	if (o.found) {
		if (strcmp(o.type, "commit") != 0)
			return diag_set(d, DIAG_SYSTEM, "git cat-file gave a %s for '%s^{commit}'",
			                o.type, rev);
		*out = o.oid;
		return 0;
	}
	if (o.ambiguous)
		return diag_set(d, DIAG_USAGE, "unknown revision '%s': the short id is ambiguous",
		                rev);
	/* Something that is not a commit, or nothing at all? */
	if (batch_get(r, rev, &o, NULL, d) < 0)
		return -1;
	if (o.found)
		return diag_set(d, DIAG_USAGE, "'%s' does not name a commit (it names a %s)", rev,
		                o.type);
	if (strstr(rev, "@{-"))
		return diag_set(d, DIAG_USAGE,
		                "unknown revision '%s': HEAD's reflog records no such "
		                "earlier checkout (@{-N} is the N-th branch checked out "
		                "before this one; a fresh clone has none)",
		                rev);
	return diag_set(d, DIAG_USAGE, "unknown revision '%s'", rev);
}

int vcs_merge_base(struct vcs_repo *r, const struct vcs_oid *a, const struct vcs_oid *b,
                   struct vcs_oid *out, struct diag *d)
{
	char ha[VCS_OID_HEXSZ], hb[VCS_OID_HEXSZ];
	vcs_oid_hex(a, ha);
	vcs_oid_hex(b, hb);
	const char *args[] = {"merge-base", ha, hb, NULL};
	struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
	int status = 0, rc = -1;
	if (repo_run(r, args, &sb, &status, &err, d) < 0)
		goto out;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && !sb.len && !err.len) {
		/* Most often a shallow clone, whose history stops before the branch point. */
		if (r->shallow)
			diag_set(d, DIAG_USAGE,
			         "cannot find the merge base of %.12s and %.12s in this shallow "
			         "clone (fetch the history, e.g. actions/checkout with "
			         "fetch-depth: 0)",
			         ha, hb);
		else
			diag_set(d, DIAG_USAGE, "commits %.12s and %.12s have no common ancestor",
			         ha, hb);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		git_status_fail(d, "merge-base", status, &err);
		goto out;
	}
	if (!sb.len || sb.buf[sb.len - 1] != '\n' || !oid_parse(sb.buf, sb.len - 1, out)) {
		struct strbuf shown = STRBUF_INIT;
		shown.max = 200;
		strbuf_add_quoted(&shown, sb.buf);
		diag_set(d, DIAG_SYSTEM, "git merge-base printed %s, not an object id", shown.buf);
		strbuf_release(&shown);
		goto out;
	}
	rc = 0;
out:
	strbuf_release(&sb);
	strbuf_release(&err);
	return rc;
}

/* ---- contents ---------------------------------------------------------------- */

int vcs_blob_read(struct vcs_repo *r, const struct vcs_oid *id, struct strbuf *out, struct diag *d)
{
	char hex[VCS_OID_HEXSZ];
	vcs_oid_hex(id, hex);
	struct batch_obj o;
	size_t before = out->len;
	if (batch_get(r, hex, &o, out, d) < 0) {
		strbuf_setlen(out, before);
		return -1;
	}
	if (!o.found)
		return diag_set(d, DIAG_INPUT, "cannot read blob %.12s: no such object", hex);
	if (strcmp(o.type, "blob") != 0) {
		strbuf_setlen(out, before);
		return diag_set(d, DIAG_INPUT, "cannot read blob %.12s: it is a %s", hex, o.type);
	}
	if (o.too_large || strbuf_failed(out) || out->len != before + o.size)
		return diag_set(d, DIAG_INPUT, "file too large (%llu bytes)",
		                (unsigned long long)o.size);
	return 0;
}

/*
 * Whether the entry `name` of the tree `tree` (raw: "<mode> <name>\0<id>"
 * entries) is a submodule.
 */
static bool tree_has_gitlink(const struct strbuf *tree, size_t idlen, const char *name)
{
	const char *p = tree->buf, *end = tree->buf + tree->len;
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *nul = sp ? memchr(sp, '\0', (size_t)(end - sp)) : NULL;
		if (!nul || (size_t)(end - nul - 1) < idlen)
			return false;
		if (!strcmp(sp + 1, name))
			return sp - p == 6 && !memcmp(p, "160000", 6);
		p = nul + 1 + idlen;
	}
	return false;
}

int vcs_read_file(struct vcs_repo *r, const struct vcs_oid *commit, const char *path,
                  struct strbuf *out, struct diag *d)
{
	char hex[VCS_OID_HEXSZ];
	vcs_oid_hex(commit, hex);
	if (strchr(path, '\n'))
		return diag_set(d, DIAG_INPUT,
		                "no file '%s' in commit %.12s: a path git can be "
		                "asked for cannot hold a newline",
		                path, hex);
	struct strbuf q = STRBUF_INIT;
	struct batch_obj o;
	size_t before = out->len;
	int rc = -1;
	strbuf_addf(&q, "%s:%s", hex, path);
	if (batch_get(r, q.buf, &o, out, d) < 0) {
		strbuf_setlen(out, before);
		goto out;
	}
	if (o.found && strcmp(o.type, "blob") != 0) {
		strbuf_setlen(out, before);
		diag_set(d, DIAG_INPUT, "'%s' is not a file (a %s)", path, o.type);
	} else if (o.found && (o.too_large || strbuf_failed(out))) {
		diag_set(d, DIAG_INPUT, "file too large (%llu bytes)", (unsigned long long)o.size);
	} else if (o.found) {
		rc = 0;
	} else {
		/* Not there, or a submodule (whose commit this repository lacks)? */
		const char *slash = strrchr(path, '/');
		struct strbuf tree = STRBUF_INIT;
		strbuf_reset(&q);
		if (slash)
			strbuf_addf(&q, "%s:%.*s", hex, (int)(slash - path), path);
		else
			strbuf_addf(&q, "%s^{tree}", hex);
		if (batch_get(r, q.buf, &o, &tree, d) == 0) {
			if (o.found && !strcmp(o.type, "tree") &&
			    tree_has_gitlink(&tree, commit->len, slash ? slash + 1 : path))
				diag_set(d, DIAG_INPUT, "'%s' is not a file (a submodule)", path);
			else
				diag_set(d, DIAG_INPUT, "no file '%s' in commit %.12s", path, hex);
		}
		strbuf_release(&tree);
	}
out:
	strbuf_release(&q);
	return rc;
}

/* ---- diffs --------------------------------------------------------------------- */

/* One record of `git diff-tree -z --raw`. */
struct raw_delta {
	char status;
	unsigned old_mode, new_mode;
	struct vcs_oid old_oid, new_oid;
	const char *path;
	bool renamed; /* 'D' paired with an 'A' */
};

/* Parses the 6 octal digits at s. */
static bool mode_parse(const char *s, unsigned *out)
{
	*out = 0;
	for (size_t i = 0; i < 6; i++) {
		if (s[i] < '0' || s[i] > '7')
			return false;
		*out = *out << 3 | (unsigned)(s[i] - '0');
	}
	return true;
}

/*
 * Parses the -z raw records of diff-tree: ":OLDMODE NEWMODE OLDID NEWID
 * STATUS\0PATH\0" each. On a malformed one returns -1 with *bad_at its offset.
 */
static int raw_parse(const struct strbuf *sb, struct raw_delta **out, size_t *n, size_t *bad_at)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	for (size_t at = 0; at < sb->len;) {
		const char *p = sb->buf + at, *end = sb->buf + sb->len;
		const char *meta_end = memchr(p, '\0', (size_t)(end - p));
		*bad_at = at;
		if (!meta_end || meta_end + 1 >= end || *p != ':')
			return -1;
		const char *path = meta_end + 1;
		const char *path_end = memchr(path, '\0', (size_t)(end - path));
		if (!path_end || path_end == path)
			return -1;
		struct raw_delta rd = {.path = path};
		size_t mlen = (size_t)(meta_end - p);
		const char *f = p + 1;
		/* ":" 6 " " 6 " " H " " H " " S: H is 40 or 64 */
		size_t hl = mlen == 1 + 7 + 7 + 41 + 41 + 1   ? 40
		            : mlen == 1 + 7 + 7 + 65 + 65 + 1 ? 64
		                                              : 0;
		if (!hl || !mode_parse(f, &rd.old_mode) || f[6] != ' ' ||
		    !mode_parse(f + 7, &rd.new_mode) || f[13] != ' ' ||
		    !oid_parse(f + 14, hl, &rd.old_oid) || f[14 + hl] != ' ' ||
		    !oid_parse(f + 15 + hl, hl, &rd.new_oid) || f[15 + 2 * hl] != ' ' ||
		    !f[16 + 2 * hl] || !strchr("ADMTUX", f[16 + 2 * hl]))
			return -1;
		rd.status = f[16 + 2 * hl];
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[(*n)++] = rd;
		at = (size_t)(path_end + 1 - sb->buf);
	}
	return 0;
}

/* The rename detector's blob reader: the batch; a failing git stops the diff. */
struct rn_read_ctx {
	struct vcs_repo *r;
	struct diag *d; /* set when git failed */
	bool failed;
};

static int rn_read(void *ctx, const struct vcs_oid *id, struct strbuf *out)
{
	struct rn_read_ctx *c = ctx;
	if (c->failed)
		return -1;
	char hex[VCS_OID_HEXSZ];
	vcs_oid_hex(id, hex);
	struct batch_obj o;
	if (batch_get(c->r, hex, &o, out, c->d) < 0) {
		c->failed = true;
		return -1;
	}
	return o.found && !o.too_large && !strcmp(o.type, "blob") && !strbuf_failed(out) ? 0 : -1;
}

/* git's order: by path, byte by byte (tree order is the same for whole paths). */
static int cmp_delta(const void *a, const void *b)
{
	const struct vcs_delta *x = a, *y = b;
	return strcmp(x->path, y->path);
}

static int cmp_rn_file(const void *a, const void *b)
{
	const struct vcs_rn_file *x = a, *y = b;
	return strcmp(x->path, y->path);
}

/* The diff-tree argv: options, the two commits, then each pattern at the top, never magic. */
static const char **diff_args(const char *from, const char *to, const char *const *pathspec,
                              size_t n, struct strbuf *specs)
{
	static const char *const opts[] = {"diff-tree",
	                                   "-r",
	                                   "-z",
	                                   "--raw",
	                                   "--no-renames",
	                                   "--no-abbrev",
	                                   "--ignore-submodules=none"};
	size_t nopts = sizeof(opts) / sizeof(opts[0]);
	const char **v = xcalloc(nopts + 4 + n, sizeof(*v));
	memcpy(v, opts, sizeof(opts));
	size_t k = nopts;
	v[k++] = from;
	v[k++] = to;
	v[k++] = "--";
	/* ":(top)": from the top whatever the current directory, and what
	   follows is the pattern even if it starts with ':'; git's default
	   glob meaning stays. One trailing '/' dropped, as libgit2 did. */
	size_t *offs = xcalloc(n ? n : 1, sizeof(*offs));
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(pathspec[i]);
		if (len > 1 && pathspec[i][len - 1] == '/')
			len--;
		offs[i] = specs->len;
		strbuf_addf(specs, ":(top)%.*s", (int)len, pathspec[i]);
		strbuf_addch(specs, '\0');
	}
	for (size_t i = 0; i < n; i++)
		v[k++] = specs->buf + offs[i];
	free(offs);
	return v;
}

int vcs_diff(struct vcs_repo *r, const struct vcs_oid *from, const struct vcs_oid *to,
             const char *const *pathspec, size_t npathspec, struct arena *a, struct vcs_delta **out,
             size_t *n, struct diag *d)
{
	char hf[VCS_OID_HEXSZ], ht[VCS_OID_HEXSZ];
	struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT, specs = STRBUF_INIT;
	struct raw_delta *raw = NULL;
	struct vcs_rn_file *src = NULL, *dst = NULL;
	size_t nraw = 0, nsrc = 0, ndst = 0, bad_at = 0;
	int status = 0, rc = -1;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < npathspec; i++)
		if (strchr(pathspec[i], '\n') || !*pathspec[i])
			return diag_set(d, DIAG_USAGE,
			                "pattern '%s': a pattern cannot be empty or "
			                "hold a newline",
			                pathspec[i]);
	vcs_oid_hex(from, hf);
	vcs_oid_hex(to, ht);
	const char **args = diff_args(hf, ht, pathspec, npathspec, &specs);
	if (repo_run(r, args, &sb, &status, &err, d) < 0)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		git_status_fail(d, "diff-tree", status, &err);
		d->code = DIAG_INPUT;
		goto out;
	}
	if (raw_parse(&sb, &raw, &nraw, &bad_at) < 0) {
		struct strbuf shown = STRBUF_INIT;
		shown.max = 200;
		for (size_t i = bad_at; i < sb.len && i < bad_at + 160; i++)
			strbuf_addch(&shown, sb.buf[i] ? sb.buf[i] : '\n');
		struct strbuf q = STRBUF_INIT;
		strbuf_add_quoted(&q, shown.buf);
		diag_set(
		    d, DIAG_SYSTEM,
		    "git diff-tree -z --raw printed a record gpuci cannot read at byte %zu: %s",
		    bad_at, q.buf);
		strbuf_release(&q);
		strbuf_release(&shown);
		goto out;
	}
	if (nraw) {
		src = xcalloc(nraw, sizeof(*src));
		dst = xcalloc(nraw, sizeof(*dst));
	}
	for (size_t i = 0; i < nraw; i++) {
		if (raw[i].status == 'D')
			src[nsrc++] = (struct vcs_rn_file){
			    .path = raw[i].path, .mode = raw[i].old_mode, .oid = raw[i].old_oid};
		else if (raw[i].status == 'A')
			dst[ndst++] = (struct vcs_rn_file){
			    .path = raw[i].path, .mode = raw[i].new_mode, .oid = raw[i].new_oid};
	}
	if (nsrc > 1)
		qsort(src, nsrc, sizeof(*src), cmp_rn_file);
	if (ndst > 1)
		qsort(dst, ndst, sizeof(*dst), cmp_rn_file);
	struct rn_read_ctx ctx = {.r = r, .d = d};
	vcs_rename_detect(src, nsrc, dst, ndst, rn_read, &ctx);
	if (ctx.failed)
		goto out;

	struct vcs_delta *v = nraw ? arena_alloc(a, nraw * sizeof(*v)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < nraw; i++) {
		const struct raw_delta *g = &raw[i];
		if (g->status == 'A')
			continue; /* additions below, with their renames */
		if (g->status == 'D') {
			const struct vcs_rn_file key = {.path = g->path};
			const struct vcs_rn_file *s =
			    nsrc ? bsearch(&key, src, nsrc, sizeof(*src), cmp_rn_file) : NULL;
			if (s && s->paired)
				continue; /* renamed: listed under its new name */
		}
		struct vcs_delta *e = &v[k++];
		*e = (struct vcs_delta){.status = g->status,
		                        .path = arena_strndup(a, g->path, strlen(g->path))};
		if (g->status != 'D') {
			e->blob = g->new_oid;
			e->mode = g->new_mode;
		}
	}
	for (size_t i = 0; i < ndst; i++) {
		struct vcs_delta *e = &v[k++];
		*e = (struct vcs_delta){.status = dst[i].paired ? 'R' : 'A',
		                        .path = arena_strndup(a, dst[i].path, strlen(dst[i].path)),
		                        .blob = dst[i].oid,
		                        .mode = dst[i].mode};
		if (dst[i].paired) {
			const char *old = src[dst[i].src].path;
			e->old_path = arena_strndup(a, old, strlen(old));
			e->similarity = dst[i].score * 100 / VCS_RN_MAX_SCORE;
		}
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_delta);
	*out = v;
	*n = k;
	rc = 0;
out:
	vcs_rename_release(src, nsrc);
	vcs_rename_release(dst, ndst);
	free(src);
	free(dst);
	free(raw);
	free(args);
	strbuf_release(&sb);
	strbuf_release(&err);
	strbuf_release(&specs);
	return rc;
}
