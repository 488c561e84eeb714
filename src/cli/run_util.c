/* The parts of gpuci run around the run itself; see run_util.h. */
#include "cli/run_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "run/recover.h"
#include "base/banned.h"

/* mkdir that says which folder could not be made and why. */
int run_make_dir(const char *path, struct diag *d)
{
	struct stat sb;
	if (mkdir(path, 0755) == 0)
		return 0;
	int e = errno;
	if (e == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return 0;
	errno = e == EEXIST ? ENOTDIR : e;
	return diag_errno(d, "cannot create %s", path);
}

/* make_dir for path and every missing folder above it. */
int run_make_dirs(const char *path, struct diag *d)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_adds(&p, path);
	int rc = 0;
	for (size_t i = 1; i <= p.len && rc == 0; i++) {
		if (i < p.len && p.buf[i] != '/')
			continue;
		char c = p.buf[i];
		p.buf[i] = '\0';
		struct stat sb;
		if (stat(p.buf, &sb) < 0 || !S_ISDIR(sb.st_mode))
			rc = run_make_dir(p.buf, d);
		p.buf[i] = c;
	}
	strbuf_release(&p);
	return rc;
}

/*
 * Whether a report can be written at path, before anything runs: the
 * temporary file report_junit_write() renames into place, made and removed.
 */
int run_check_writable(const char *path, struct diag *d)
{
	struct stat sb;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		errno = EISDIR;
		return diag_errno(d, "cannot write %s", path);
	}
	struct strbuf tmp = STRBUF_INIT;
	strbuf_addf(&tmp, "%s.tmp-XXXXXX", path);
	int fd = mkostemp(tmp.buf, O_CLOEXEC);
	int rc = 0;
	if (fd < 0)
		rc = diag_errno(d, "cannot write %s", path);
	else {
		close(fd);
		unlink(tmp.buf);
	}
	strbuf_release(&tmp);
	return rc;
}

/* The cases as reports take them, every string masked (secrets). */
void run_mask_case(struct report_case *c, const struct report_mask *m, struct arena *a)
{
	const char **f[] = {&c->job,     &c->test_file, &c->test_args, &c->variant,
	                    &c->gpu_ids, &c->log_path,  &c->message};
	for (size_t i = 0; i < sizeof(f) / sizeof(*f); i++) {
		if (!*f[i])
			continue;
		char *s = report_mask_dup(m, *f[i]);
		*f[i] = arena_strndup(a, s, strlen(s));
		free(s);
	}
}

/*
 * A run killed before it could end its tests (its keepers too) left them
 * running on their GPUs: end them now, and say so (recover.h).
 */
void run_recover_crashed(struct gpuci_ctx *ctx, const char *dir, double kill_after)
{
	struct run_crashed *c;
	size_t n;
	struct diag d = DIAG_INIT;
	if (run_recover(dir, kill_after, &c, &n, &d) < 0) {
		fprintf(ctx->err, "gpuci run: warning: %s\n", d.msg.buf);
		diag_release(&d);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		fprintf(ctx->err,
		        "gpuci run: run %s (pid %d, in %s) was killed before it ended its tests; "
		        "%zu of its processes were still running:\n",
		        c[i].run_id, (int)c[i].pid, c[i].root, c[i].nleft);
		for (size_t k = 0; k < c[i].nleft; k++) {
			const struct run_leftover *l = &c[i].left[k];
			fprintf(ctx->err, "  pid %d %s: %s%s%s\n", (int)l->pid,
			        l->how == RUN_LEFT_ENDED    ? "ended (SIGTERM)"
			        : l->how == RUN_LEFT_KILLED ? "killed (SIGKILL)"
			                                    : "could not be ended",
			        l->how == RUN_LEFT_CANNOT ? strerror(l->err) : "",
			        l->how == RUN_LEFT_CANNOT ? "; " : "", l->cmd);
		}
	}
	run_crashed_free(c, n);
	diag_release(&d);
}
