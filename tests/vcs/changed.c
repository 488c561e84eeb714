/*
 * Unit tests of vcs/changed and vcs/git: on a repository each run builds
 * with the git command (fork and exec), and on hand-made results for the
 * JSON and the diff filter.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vcs/changed.h"
#include "vcs/git.h"

/* ---- building a repository with git ------------------------------------ */

/* Runs `git ARGS...` in dir without the user's configuration; returns its status. */
static int git_in(const char *dir, const char *const *args)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
		setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
		setenv("GIT_AUTHOR_NAME", "t", 1);
		setenv("GIT_AUTHOR_EMAIL", "t@example.com", 1);
		setenv("GIT_COMMITTER_NAME", "t", 1);
		setenv("GIT_COMMITTER_EMAIL", "t@example.com", 1);
		unsetenv("GIT_DIR");
		unsetenv("GIT_WORK_TREE");
		if (chdir(dir) < 0)
			_exit(126);
		const char *argv[32] = {"git"};
		for (size_t i = 0; args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		execvp("git", (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define GIT(dir, ...) assert_int_equal(git_in(dir, (const char *const[]){__VA_ARGS__, NULL}), 0)

/* Writes text to dir/rel, making the folders on the way. */
static void put(const char *dir, const char *rel, const char *text)
{
	char *path = harness_path(dir, rel);
	for (char *p = path + strlen(dir) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static void rm(const char *dir, const char *rel)
{
	char *path = harness_path(dir, rel);
	assert_int_equal(unlink(path), 0);
	free(path);
}

/* Enough lines that a rename stays far above 50% similar. */
static const char body[] = "def a():\n    return 1\n\ndef b():\n    return 2\n\n"
                           "def c():\n    return 3\n\ndef d():\n    return 4\n";

/*
 * main: a base commit; pr: adds, modifies, deletes and renames tests, and
 * touches files outside the patterns; main then gains a test of its own,
 * which three dots must not see.
 */
static int repo_setup(void **state)
{
	if (git_in("/", (const char *const[]){"--version", NULL}) != 0) {
		fprintf(stderr, "git is not installed\n");
		return -1;
	}
	char *dir = harness_tmpdir();
	GIT(dir, "init", "-q", "-b", "main");
	put(dir, "tests/test_keep.py", "NUM_GPUS = 1\n");
	put(dir, "tests/test_mod.py", "NUM_GPUS = 2\n");
	put(dir, "tests/test_del.py", "NUM_GPUS = 2\n# to be deleted, quite unlike the others\n");
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "NUM_GPUS = 2\n%s", body);
	put(dir, "tests/test_ren.py", sb.buf);
	put(dir, "src/x.py", "x = 1\n");
	GIT(dir, "add", "-A");
	GIT(dir, "commit", "-q", "-m", "base");

	GIT(dir, "checkout", "-q", "-b", "pr");
	put(dir, "tests/test_mod.py", "NUM_GPUS = 3\n");
	put(dir, "tests/test_new.py", "\"\"\"New.\"\"\"\nNUM_GPUS = 4\n");
	put(dir, "tests/test_absent.py", "def execute():\n    pass\n");
	put(dir, "tests/plugin_contracts/test_c.py", "NUM_GPUS = 0\n");
	put(dir, "tests/sub/test_s.py", "NUM_GPUS = 1\n");
	put(dir, "src/test_y.py", "NUM_GPUS = 1\n");
	rm(dir, "tests/test_del.py");
	GIT(dir, "mv", "tests/test_ren.py", "tests/test_ren2.py");
	GIT(dir, "add", "-A");
	GIT(dir, "commit", "-q", "-m", "pr");

	GIT(dir, "checkout", "-q", "main");
	put(dir, "tests/test_mainonly.py", "NUM_GPUS = 1\n");
	GIT(dir, "add", "-A");
	GIT(dir, "commit", "-q", "-m", "main moves on");
	strbuf_release(&sb);
	*state = dir;
	return 0;
}

static int repo_teardown(void **state)
{
	harness_rmtree(*state);
	return 0;
}

/* changed_detect() of main...pr with the given filter and patterns. */
static int detect(const char *dir, const char *filter, const char *const *patterns, size_t n,
                  struct changed_result *r, struct diag *d)
{
	struct changed_opts o = {.repo = dir,
	                         .base = "main",
	                         .head = "pr",
	                         .patterns = patterns,
	                         .npatterns = n,
	                         .diff_filter = filter,
	                         .default_gpus = 8};
	return changed_detect(&o, r, d);
}

/* ---- detection ----------------------------------------------------------- */

static void changed_detect__lists_added_modified_renamed_tests_since_the_branch_point(void **state)
{
	struct changed_result r;
	struct diag d = DIAG_INIT;
	assert_int_equal(detect(*state, NULL, NULL, 0, &r, &d), 0);
	assert_int_equal(r.n, 5);
	static const struct {
		const char *path;
		int64_t gpus;
		char status;
		bool defaulted;
	} want[] = {
	    {"tests/plugin_contracts/test_c.py", 0, 'A', false},
	    {"tests/test_absent.py", 8, 'A', true},
	    {"tests/test_mod.py", 3, 'M', false},
	    {"tests/test_new.py", 4, 'A', false},
	    {"tests/test_ren2.py", 2, 'R', false},
	};
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(r.tests[i].path, want[i].path);
		assert_int_equal(r.tests[i].status, want[i].status);
		assert_int_equal(r.tests[i].num_gpus, want[i].gpus);
		assert_int_equal(r.tests[i].defaulted, want[i].defaulted);
	}
	assert_string_equal(r.tests[4].old_path, "tests/test_ren.py");
	assert_int_equal(r.tests[4].similarity, 100);
	assert_null(r.tests[2].old_path);
	assert_int_equal(r.tests[3].gpus_line, 2);
	/* The one file without a literal NUM_GPUS says so. */
	assert_int_equal(r.nwarnings, 1);
	assert_string_equal(r.warnings[0], "tests/test_absent.py: no top-level NUM_GPUS; using 8");
	assert_ptr_equal(r.tests[1].warning, r.warnings[0]);
	assert_int_equal(strlen(r.merge_base_id), 40);
	assert_string_not_equal(r.merge_base_id, r.base_id);
	changed_result_release(&r);
	diag_release(&d);
}

static void changed_detect__diff_filter_am_leaves_renames_out(void **state)
{
	struct changed_result r;
	struct diag d = DIAG_INIT;
	assert_int_equal(detect(*state, "AM", NULL, 0, &r, &d), 0);
	assert_int_equal(r.n, 4);
	for (size_t i = 0; i < r.n; i++)
		assert_int_not_equal(r.tests[i].status, 'R');
	changed_result_release(&r);
	/* Lowercase excludes, as in git: everything but added. */
	assert_int_equal(detect(*state, "a", NULL, 0, &r, &d), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.tests[0].path, "tests/test_mod.py");
	assert_string_equal(r.tests[1].path, "tests/test_ren2.py");
	changed_result_release(&r);
	diag_release(&d);
}

static void changed_detect__patterns_replace_the_defaults(void **state)
{
	struct changed_result r;
	struct diag d = DIAG_INIT;
	const char *const pats[] = {"./tests/sub/*.py", "src/test_*.py"};
	assert_int_equal(detect(*state, NULL, pats, 2, &r, &d), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.tests[0].path, "src/test_y.py");
	assert_string_equal(r.tests[1].path, "tests/sub/test_s.py");
	changed_result_release(&r);
	/* git's pathspec `*` also matches '/'. */
	const char *const star[] = {"tests/*.py"};
	assert_int_equal(detect(*state, "A", star, 1, &r, &d), 0);
	assert_int_equal(r.n, 4);
	changed_result_release(&r);
	diag_release(&d);
}

static void changed_detect__bad_input_is_a_usage_error_with_one_line(void **state)
{
	struct changed_result r;
	struct diag d = DIAG_INIT;
	struct changed_opts o = {.repo = *state, .base = "nope", .head = "pr", .default_gpus = 8};
	assert_int_equal(changed_detect(&o, &r, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	assert_non_null(strstr(d.msg.buf, "unknown revision 'nope'"));
	assert_null(strchr(d.msg.buf, '\n'));
	changed_result_release(&r);

	o.base = NULL; /* origin/main: there is no remote here */
	assert_int_equal(changed_detect(&o, &r, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	assert_non_null(strstr(d.msg.buf, "git fetch origin main"));
	changed_result_release(&r);

	char *empty = harness_tmpdir();
	o = (struct changed_opts){.repo = empty, .base = "main", .default_gpus = 8};
	assert_int_equal(changed_detect(&o, &r, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	assert_non_null(strstr(d.msg.buf, "not a git repository"));
	changed_result_release(&r);
	harness_rmtree(empty);

	const char *const bad[] = {":(exclude)tests"};
	assert_int_equal(detect(*state, NULL, bad, 1, &r, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	changed_result_release(&r);
	assert_int_equal(detect(*state, "MD", NULL, 0, &r, &d), -1);
	assert_non_null(strstr(d.msg.buf, "deleted"));
	changed_result_release(&r);
	diag_release(&d);
}

static void vcs__reads_files_at_a_commit_and_finds_the_merge_base(void **state)
{
	struct vcs_repo *repo;
	struct diag d = DIAG_INIT;
	assert_int_equal(vcs_repo_open(&repo, *state, &d), 0);
	struct vcs_oid pr, main_tip, main_before, mb;
	assert_int_equal(vcs_resolve_commit(repo, "pr", &pr, &d), 0);
	assert_int_equal(vcs_resolve_commit(repo, "main", &main_tip, &d), 0);
	assert_int_equal(vcs_resolve_commit(repo, "main~1", &main_before, &d), 0);
	assert_int_equal(vcs_merge_base(repo, &main_tip, &pr, &mb, &d), 0);
	assert_memory_equal(mb.id, main_before.id, sizeof(mb.id));

	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(vcs_read_file(repo, &pr, "tests/test_mod.py", &sb, &d), 0);
	assert_string_equal(sb.buf, "NUM_GPUS = 3\n");
	strbuf_reset(&sb);
	assert_int_equal(vcs_read_file(repo, &main_tip, "tests/test_mod.py", &sb, &d), 0);
	assert_string_equal(sb.buf, "NUM_GPUS = 2\n");
	assert_int_equal(vcs_read_file(repo, &pr, "tests/nope.py", &sb, &d), -1);
	assert_int_equal(d.code, DIAG_INPUT);
	assert_int_equal(vcs_read_file(repo, &pr, "tests", &sb, &d), -1);
	assert_non_null(strstr(d.msg.buf, "not a file"));

	/* The raw diff: deletions too, and the rename found by content. */
	struct arena a = ARENA_INIT;
	struct vcs_delta *v;
	size_t n;
	assert_int_equal(vcs_diff(repo, &mb, &pr, NULL, 0, &a, &v, &n, &d), 0);
	const char *want[] = {"src/test_y.py",       "tests/plugin_contracts/test_c.py",
	                      "tests/sub/test_s.py", "tests/test_absent.py",
	                      "tests/test_del.py",   "tests/test_mod.py",
	                      "tests/test_new.py",   "tests/test_ren2.py"};
	const char status[] = "AAAADMAR";
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(v[i].path, want[i]);
		assert_int_equal(v[i].status, status[i]);
	}
	assert_int_equal(v[4].mode, 0);
	assert_int_equal(v[5].mode, 0100644);
	arena_release(&a);

	char hex[VCS_OID_HEXSZ];
	vcs_oid_hex(&pr, hex);
	assert_int_equal(strlen(hex), 40);
	struct vcs_oid again;
	assert_int_equal(vcs_resolve_commit(repo, hex, &again, &d), 0);
	assert_memory_equal(again.id, pr.id, sizeof(pr.id));
	strbuf_release(&sb);
	vcs_repo_free(repo);
	diag_release(&d);
}

/* A repository of two commits, c1 and c2 (HEAD): c2 adds odd names and a submodule. */
static char *odd_repo(const char *object_format)
{
	char *dir = harness_tmpdir();
	if (git_in(dir, (const char *const[]){"init", "-q", "-b", "main", object_format, NULL}) !=
	    0) {
		harness_rmtree(dir);
		return NULL;
	}
	put(dir, "keep.py", "x = 1\n");
	put(dir, "tests/test_old.py", body);
	GIT(dir, "add", "-A");
	GIT(dir, "commit", "-q", "-m", "c1");
	put(dir, ":odd.py", "NUM_GPUS = 1\n");
	put(dir, "tests/test_a.py", "NUM_GPUS = 2\n");
	put(dir, "x/:y.py", "NUM_GPUS = 3\n");
	GIT(dir, "mv", "tests/test_old.py", "tests/test_new.py");
	GIT(dir, "add", "-A");
	GIT(dir, "commit", "-q", "-m", "c2");
	return dir;
}

/* The paths vcs_diff(HEAD~1, HEAD, pattern) lists, joined by ' '. */
static void diff_paths(struct vcs_repo *repo, const char *pattern, struct strbuf *out)
{
	struct diag d = DIAG_INIT;
	struct vcs_oid c1, c2;
	assert_int_equal(vcs_resolve_commit(repo, "HEAD~1", &c1, &d), 0);
	assert_int_equal(vcs_resolve_commit(repo, "HEAD", &c2, &d), 0);
	struct arena a = ARENA_INIT;
	struct vcs_delta *v;
	size_t n;
	const char *const spec[] = {pattern};
	assert_int_equal(vcs_diff(repo, &c1, &c2, spec, 1, &a, &v, &n, &d), 0);
	strbuf_reset(out);
	for (size_t i = 0; i < n; i++)
		strbuf_addf(out, "%s%c%s", i ? " " : "", v[i].status, v[i].path);
	arena_release(&a);
	diag_release(&d);
}

/* How many descriptors this process has open. */
static size_t open_fds(void)
{
	size_t n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

static void vcs__patterns_and_revisions_are_never_magic_nor_options(void **state)
{
	(void)state;
	size_t fds = open_fds();
	char *dir = odd_repo("--object-format=sha1");
	assert_non_null(dir);
	struct vcs_repo *repo;
	struct diag d = DIAG_INIT;
	assert_int_equal(vcs_repo_open(&repo, dir, &d), 0);
	struct strbuf sb = STRBUF_INIT;
	/* ":*" would be magic for everything; here it names paths starting with ':'. */
	diff_paths(repo, ":*", &sb);
	assert_string_equal(sb.buf, "A:odd.py");
	diff_paths(repo, ":(exclude)tests", &sb);
	assert_string_equal(sb.buf, "");
	/* git's default glob: '*' crosses '/'; a name reaches a folder; one '/' dropped. */
	diff_paths(repo, "*.py", &sb);
	assert_string_equal(sb.buf, "A:odd.py Atests/test_a.py Rtests/test_new.py Ax/:y.py");
	diff_paths(repo, "tests", &sb);
	assert_string_equal(sb.buf, "Atests/test_a.py Rtests/test_new.py");
	diff_paths(repo, "tests/", &sb);
	assert_string_equal(sb.buf, "Atests/test_a.py Rtests/test_new.py");
	/* A rename from outside the pathspec is an addition, as in git. */
	diff_paths(repo, "tests/test_new.py", &sb);
	assert_string_equal(sb.buf, "Atests/test_new.py");
	diff_paths(repo, "x/:y.py/", &sb);
	assert_string_equal(sb.buf, "Ax/:y.py");

	struct vcs_oid id;
	const char *const revs[] = {"--all", "-h", "--output=/dev/null", "-"};
	for (size_t i = 0; i < sizeof(revs) / sizeof(revs[0]); i++) {
		assert_int_equal(vcs_resolve_commit(repo, revs[i], &id, &d), -1);
		assert_int_equal(d.code, DIAG_USAGE);
		assert_non_null(strstr(d.msg.buf, "unknown revision"));
	}
	assert_int_equal(vcs_resolve_commit(repo, "HEAD\nHEAD", &id, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	assert_non_null(strstr(d.msg.buf, "newline"));
	assert_int_equal(vcs_resolve_commit(repo, "HEAD^{tree}", &id, &d), -1);
	assert_non_null(strstr(d.msg.buf, "does not name a commit"));
	/* The batch stays in step after all that. */
	assert_int_equal(vcs_resolve_commit(repo, "HEAD", &id, &d), 0);
	strbuf_reset(&sb);
	assert_int_equal(vcs_read_file(repo, &id, ":odd.py", &sb, &d), 0);
	assert_string_equal(sb.buf, "NUM_GPUS = 1\n");
	strbuf_reset(&sb);
	assert_int_equal(vcs_read_file(repo, &id, "x/:y.py", &sb, &d), 0);
	assert_string_equal(sb.buf, "NUM_GPUS = 3\n");
	strbuf_reset(&sb);
	assert_int_equal(vcs_read_file(repo, &id, "x/\n", &sb, &d), -1);
	assert_int_equal(d.code, DIAG_INPUT);
	assert_non_null(strstr(d.msg.buf, "newline"));
	const char *const bad[] = {"a\nb"};
	struct arena a = ARENA_INIT;
	struct vcs_delta *v;
	size_t n;
	assert_int_equal(vcs_diff(repo, &id, &id, bad, 1, &a, &v, &n, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	arena_release(&a);
	vcs_repo_free(repo);

	/* From a subfolder and without a path: patterns stay relative to the top. */
	char *cwd = getcwd(NULL, 0);
	char *sub = harness_path(dir, "tests");
	assert_int_equal(chdir(sub), 0);
	assert_int_equal(vcs_repo_open(&repo, NULL, &d), 0);
	diff_paths(repo, "tests/test_a.py", &sb);
	assert_string_equal(sb.buf, "Atests/test_a.py");
	vcs_repo_free(repo);
	assert_int_equal(chdir(cwd), 0);
	free(sub);
	free(cwd);
	strbuf_release(&sb);
	diag_release(&d);
	harness_rmtree(dir);
	/* Every socket and memfd closed, every child reaped. */
	assert_int_equal(open_fds(), fds);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void vcs__reads_a_sha256_repository(void **state)
{
	(void)state;
	char *dir = odd_repo("--object-format=sha256");
	if (!dir)
		skip(); /* a git older than 2.29 */
	struct vcs_repo *repo;
	struct diag d = DIAG_INIT;
	assert_int_equal(vcs_repo_open(&repo, dir, &d), 0);
	struct vcs_oid c1, c2, mb, again;
	assert_int_equal(vcs_resolve_commit(repo, "HEAD~1", &c1, &d), 0);
	assert_int_equal(vcs_resolve_commit(repo, "HEAD", &c2, &d), 0);
	assert_int_equal(c2.len, 32);
	char hex[VCS_OID_HEXSZ];
	vcs_oid_hex(&c2, hex);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(vcs_resolve_commit(repo, hex, &again, &d), 0);
	assert_memory_equal(&again, &c2, sizeof(again));
	assert_int_equal(vcs_merge_base(repo, &c1, &c2, &mb, &d), 0);
	assert_memory_equal(&mb, &c1, sizeof(mb));
	struct strbuf sb = STRBUF_INIT;
	diff_paths(repo, "tests", &sb);
	assert_string_equal(sb.buf, "Atests/test_a.py Rtests/test_new.py");
	strbuf_reset(&sb);
	assert_int_equal(vcs_read_file(repo, &c2, "tests/test_a.py", &sb, &d), 0);
	assert_string_equal(sb.buf, "NUM_GPUS = 2\n");
	vcs_repo_free(repo);

	struct changed_result r;
	struct changed_opts o = {.repo = dir, .base = "HEAD~1", .head = "HEAD", .default_gpus = 8};
	assert_int_equal(changed_detect(&o, &r, &d), 0);
	assert_int_equal(strlen(r.merge_base_id), 64);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.tests[1].path, "tests/test_new.py");
	assert_int_equal(r.tests[1].status, 'R');
	changed_result_release(&r);
	strbuf_release(&sb);
	diag_release(&d);
	harness_rmtree(dir);
}

static void vcs__submodules_are_not_files(void **state)
{
	(void)state;
	char *dir = odd_repo("--object-format=sha1");
	assert_non_null(dir);
	GIT(dir, "update-index", "--add", "--cacheinfo",
	    "160000,1111111111111111111111111111111111111111,tests/sub");
	GIT(dir, "commit", "-q", "-m", "c3");
	struct vcs_repo *repo;
	struct diag d = DIAG_INIT;
	assert_int_equal(vcs_repo_open(&repo, dir, &d), 0);
	struct vcs_oid head;
	assert_int_equal(vcs_resolve_commit(repo, "HEAD", &head, &d), 0);
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(vcs_read_file(repo, &head, "tests/sub", &sb, &d), -1);
	assert_int_equal(d.code, DIAG_INPUT);
	assert_non_null(strstr(d.msg.buf, "not a file (a submodule)"));
	assert_int_equal(vcs_read_file(repo, &head, "tests/nope", &sb, &d), -1);
	assert_non_null(strstr(d.msg.buf, "no file 'tests/nope'"));
	assert_int_equal(vcs_read_file(repo, &head, "nope/x", &sb, &d), -1);
	assert_non_null(strstr(d.msg.buf, "no file 'nope/x'"));
	assert_int_equal(vcs_read_file(repo, &head, "tests/test_a.py", &sb, &d), 0);
	assert_string_equal(sb.buf, "NUM_GPUS = 2\n");

	/* Many blobs at once, more than one round: the one that fails is named. */
	struct arena a = ARENA_INIT;
	struct vcs_delta *v;
	size_t n;
	struct vcs_oid c1;
	assert_int_equal(vcs_resolve_commit(repo, "HEAD~2", &c1, &d), 0);
	assert_int_equal(vcs_diff(repo, &c1, &head, NULL, 0, &a, &v, &n, &d), 0);
	assert_string_equal(v[0].path, ":odd.py");
	struct vcs_oid ids[150];
	struct strbuf out[150];
	for (size_t i = 0; i < 150; i++) {
		ids[i] = v[0].blob;
		out[i] = (struct strbuf)STRBUF_INIT;
	}
	assert_int_equal(vcs_blobs_read(repo, ids, 150, out, NULL, &d), 0);
	assert_string_equal(out[149].buf, "NUM_GPUS = 1\n");
	memset(ids[130].id, 0x11, ids[130].len);
	size_t failed = 0;
	assert_int_equal(vcs_blobs_read(repo, ids, 150, out, &failed, &d), -1);
	assert_int_equal(failed, 130);
	assert_int_equal(d.code, DIAG_INPUT);
	assert_non_null(strstr(d.msg.buf, "cannot read blob 111111111111: no such object"));
	assert_string_equal(out[0].buf, "NUM_GPUS = 1\nNUM_GPUS = 1\n");
	for (size_t i = 0; i < 150; i++)
		strbuf_release(&out[i]);
	arena_release(&a);
	vcs_repo_free(repo);
	strbuf_release(&sb);
	diag_release(&d);
	harness_rmtree(dir);
}

/*
 * A cat-file that answers one question and ends: the next question meets a
 * closed socket (EPIPE, never SIGPIPE: this process does not ignore it),
 * fails cleanly, and the one after starts a new cat-file.
 */
static void vcs__git_ending_between_questions_is_an_error_not_a_sigpipe(void **state)
{
	char *dir = harness_tmpdir();
	char *wrapper = harness_path(dir, "one-answer-git");
	FILE *f = fopen(wrapper, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\n"
	      "case \" $* \" in *\" cat-file \"*) head -n 1 | git \"$@\"; exit 0;; esac\n"
	      "exec git \"$@\"\n",
	      f);
	fclose(f);
	assert_int_equal(chmod(wrapper, 0755), 0);
	setenv("GPUCI_GIT", wrapper, 1);
	struct vcs_repo *repo;
	struct diag d = DIAG_INIT;
	assert_int_equal(vcs_repo_open(&repo, *state, &d), 0);
	struct vcs_oid pr, main_tip;
	assert_int_equal(vcs_resolve_commit(repo, "pr", &pr, &d), 0);
	usleep(300 * 1000); /* long enough for it to end */
	assert_int_equal(vcs_resolve_commit(repo, "main", &main_tip, &d), -1);
	assert_int_equal(d.code, DIAG_SYSTEM);
	assert_non_null(strstr(d.msg.buf, "git cat-file --batch ended while reading objects"));
	assert_null(strchr(d.msg.buf, '\n'));
	assert_int_equal(vcs_resolve_commit(repo, "main", &main_tip, &d), 0);
	vcs_repo_free(repo);
	unsetenv("GPUCI_GIT");
	/* Every child was reaped. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	free(wrapper);
	diag_release(&d);
	harness_rmtree(dir);
}

static void vcs_repo_open__says_what_was_tried_when_git_cannot_run(void **state)
{
	struct vcs_repo *repo = NULL;
	struct diag d = DIAG_INIT;
	setenv("GPUCI_GIT", "/nonexistent/git", 1);
	assert_int_equal(vcs_repo_open(&repo, *state, &d), -1);
	unsetenv("GPUCI_GIT");
	assert_null(repo);
	assert_int_equal(d.code, DIAG_SYSTEM);
	assert_non_null(strstr(d.msg.buf, "cannot run git: '/nonexistent/git' (from $GPUCI_GIT)"));
	assert_non_null(strstr(d.msg.buf, "apt-get install -y git"));
	diag_release(&d);
}

/* ---- the diff filter ------------------------------------------------------ */

static void changed_filter_parse__follows_git_letters(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
	    {"AMR", "AMR"},   {"RMA", "AMR"},   {"AM", "AM"},  {"a", "CMRTUXB"},
	    {"am", "CRTUXB"}, {"AMa", "M"},     {"AMd", "AM"}, {"MRTUXB", "MRTUXB"},
	    {"T", "T"},       {"b", "ACMRTUX"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char out[CHANGED_FILTER_MAX];
		struct diag d = DIAG_INIT;
		assert_int_equal(changed_filter_parse(ok[i].in, out, &d), 0);
		assert_string_equal(out, ok[i].out);
		diag_release(&d);
	}
	static const char *const bad[] = {"", "D", "AD", "Z", "*", "A1", "é"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[CHANGED_FILTER_MAX];
		struct diag d = DIAG_INIT;
		assert_int_equal(changed_filter_parse(bad[i], out, &d), -1);
		assert_int_equal(d.code, DIAG_USAGE);
		diag_release(&d);
	}
	char out[CHANGED_FILTER_MAX];
	struct diag d = DIAG_INIT;
	changed_filter_parse("Q", out, &d);
	assert_string_equal(d.msg.buf, "unknown change class 'Q' in --diff-filter=Q (known: "
	                               "ACDMRTUXB, lowercase to exclude)");
	diag_release(&d);
}

/* ---- the matching rule ----------------------------------------------------- */

#define NONE  CHANGED_MATCH_NONE
#define CROSS CHANGED_MATCH_CROSSING
#define NAME  CHANGED_MATCH

static const struct {
	const char *pattern, *path;
	enum changed_match want;
} match_cases[] = {
    /* The default patterns: depth 1, depth 2 and more, helpers. */
    {"tests/test_*.py", "tests/test_x.py", NAME},
    {"tests/test_*.py", "tests/test_agent/test_adapters.py", NAME},
    {"tests/test_*.py", "tests/test_agent/sub/test_deep.py", NAME},
    {"tests/test_*.py", "tests/test_agent/__init__.py", CROSS},
    {"tests/test_*.py", "tests/test_agent/_fakes.py", CROSS},
    {"tests/test_*.py", "tests/test_agent/_dump_helpers.py", CROSS},
    {"tests/test_*.py", "tests/test_agent/sub/conftest.py", CROSS},
    {"tests/test_*.py", "tests/test_x.py/helper.py", CROSS},
    {"tests/test_*.py", "tests/sub/test_x.py", NONE}, /* not tests/test_ */
    {"tests/test_*.py", "tests/test_x.txt", NONE},
    {"tests/test_*.py", "src/tests/test_x.py", NONE},
    {"tests/test_*.py", "tests/plugin_contracts/test_c.py", NONE},
    {"tests/plugin_contracts/test_*.py", "tests/plugin_contracts/test_c.py", NAME},
    {"tests/plugin_contracts/test_*.py", "tests/plugin_contracts/test_d/_h.py", CROSS},
    /* A leading "./", on the pattern or the path. */
    {"./tests/test_*.py", "tests/test_agent/_fakes.py", CROSS},
    {"./tests/test_*.py", "tests/test_x.py", NAME},
    {"tests/test_*.py", "./tests/test_x.py", NAME},
    /* No '/': anchored at the top, its whole text the last component. */
    {"test_*.py", "test_a.py", NAME},
    {"test_*.py", "test_dir/test_b.py", NAME},
    {"test_*.py", "test_dir/helper.py", CROSS},
    {"test_*.py", "tests/test_a.py", NONE},
    {"*.py", "a/b/c.py", NAME},
    {"*", "a/b/c", NAME},
    {"*_test.py", "a/b_test.py", NAME},
    {"*_test.py", "a_test.py/x.py", NONE}, /* the whole path must end so */
    {"test_*", "test_dir/helper", CROSS},
    /* No wildcard at all: that file, or every file under that folder. */
    {"tests/test_a.py", "tests/test_a.py", NAME},
    {"tests/test_a.py", "tests/test_a.pyc", NONE},
    {"tests/test_a.py", "tests/test_a.py/x.py", NAME},
    {"tests/plugin_contracts", "tests/plugin_contracts/a/b.py", NAME},
    {"tests/plugin_contracts/", "tests/plugin_contracts/test_c.py", NAME},
    {"tests/plugin", "tests/plugin_contracts/test_c.py", NONE},
    /* A last component without wildcards, a folder part with one. */
    {"tests/*/conftest.py", "tests/a/b/conftest.py", NAME},
    {"tests/*/conftest.py", "tests/a/conftest.py.bak", NONE},
    {"tests/**/test_*.py", "tests/a/b/test_x.py", NAME},
    {"tests/**/test_*.py", "tests/a/test_b/helper.py", CROSS},
    {"tests/*/", "tests/a/b.py", NAME},
    /* '?' and [...] cross '/' in git's meaning too; not in a name. */
    {"tests/test?x.py", "tests/test/x.py", CROSS},
    {"tests/test?x.py", "tests/test_x.py", NAME},
    {"tests/test[/_]x.py", "tests/test/x.py", CROSS},
    {"tests/test_[ab].py", "tests/test_a.py", NAME},
    {"tests/test_[ab].py", "tests/test_c.py", NONE},
    {"tests/test_[!a].py", "tests/test_a.py", NONE},
    {"tests/test_[^a].py", "tests/test_b.py", NAME},
    {"tests/test_[]x].py", "tests/test_].py", NAME},
    {"tests/test_[a-c]*.py", "tests/test_b2.py", NAME},
    {"tests/test_[a-c]*.py", "tests/test_d.py", NONE},
    {"tests/test_[[:digit:]].py", "tests/test_7.py", NAME},
    {"tests/test_[[:digit:]].py", "tests/test_x.py", NONE},
    {"tests/test_[[:nope:]].py", "tests/test_x.py", NONE}, /* unknown class */
    {"tests/test_[ab.py", "tests/test_a.py", NONE},        /* never closed */
    /* A backslash makes the next byte plain. */
    {"tests/test\\*.py", "tests/test*.py", NAME},
    {"tests/test\\*.py", "tests/testx.py", NONE},
    {"tests/test\\ x.py", "tests/test x.py", NAME},
    /* Bytes, not characters: any byte a name may hold. */
    {"tests/test_*.py", "tests/test_\xff.py", NAME},
    {"tests/test_*.py", "tests/test_a/\n.py", CROSS},
    /* Patterns changed_detect() refuses reach nothing. */
    {"!tests/test_x.py", "tests/test_x.py", NONE},
    {"#tests", "#tests", NONE},
    {"", "tests/test_x.py", NONE},
    {"/tests/test_x.py", "tests/test_x.py", NONE},
    {":(glob)tests/test_*.py", "tests/test_x.py", NONE},
    {"tests/test_x.py ", "tests/test_x.py", NONE},
    {"tests/test_\n.py", "tests/test_\n.py", NONE},
    {".", "a/b.py", NONE},
    {"tests/./test_x.py", "tests/test_x.py", NONE},
    {"tests//test_x.py", "tests/test_x.py", NONE},
    {"tests/../tests/test_x.py", "tests/test_x.py", NONE},
};

static void changed_pattern_match__names_must_match_the_last_component(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		enum changed_match got =
		    changed_pattern_match(match_cases[i].pattern, match_cases[i].path);
		if (got != match_cases[i].want)
			fail_msg("'%s' on '%s': %d, want %d", match_cases[i].pattern,
			         match_cases[i].path, got, match_cases[i].want);
		bool listed = match_cases[i].want == NAME;
		bool listed_by_git = match_cases[i].want != NONE;
		assert_int_equal(
		    changed_pattern_matches(match_cases[i].pattern, match_cases[i].path, false),
		    listed);
		assert_int_equal(
		    changed_pattern_matches(match_cases[i].pattern, match_cases[i].path, true),
		    listed_by_git);
	}
}

static void changed_pattern_check__refuses_what_reads_differently_elsewhere(void **state)
{
	(void)state;
	static const struct {
		const char *pattern, *msg;
	} bad[] = {
	    {"", "--pattern '' matches nothing useful: give a glob such as 'tests/test_*.py'"},
	    {"./", "--pattern './' matches nothing useful: give a glob such as 'tests/test_*.py'"},
	    {"!tests/x.py", "--pattern '!tests/x.py': a leading '!' is an exclusion in a "
	                    ".gitignore and a name to git; write '\\!' for the name"},
	    {"#x", "--pattern '#x': a leading '#' is a comment in a .gitignore and a name to git; "
	           "write '\\#' for the name"},
	    {"/tests", "--pattern '/tests': patterns are relative to the top of the repository"},
	    {":(exclude)x", "--pattern ':(exclude)x': pathspec magic (':(...)') is not "
	                    "supported; give plain globs"},
	    {"a\tb", "--pattern: control character \\011 in a pattern (a pattern is a path to "
	             "type: write a ? to match it)"},
	    {"a ", "--pattern 'a ': a trailing blank (most likely a typo: git would keep it)"},
	    {".", "--pattern '.': an empty, '.' or '..' part (git resolves them, gpuci's name "
	          "rule does not); write the path without it"},
	    {"a//b", NULL},
	    {"a/./b", NULL},
	    {"a/..", NULL},
	    {"../a", NULL},
	    {"a/../", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct diag d = DIAG_INIT;
		assert_int_equal(changed_pattern_check(bad[i].pattern, &d), -1);
		assert_int_equal(d.code, DIAG_USAGE);
		if (bad[i].msg)
			assert_string_equal(d.msg.buf, bad[i].msg);
		diag_release(&d);
	}
	static const char *const good[] = {
	    "tests/test_*.py", "./tests",    "\\!x",     "\\#x", "a b", "*",
	    "tests/",          ".x/..y/...", "tests/a.b"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct diag d = DIAG_INIT;
		assert_int_equal(changed_pattern_check(good[i], &d), 0);
		diag_release(&d);
	}
}

/*
 * A branch shaped like THUDM/slime's tests/test_agent/: a package of tests
 * with its __init__.py and helpers under tests/, which 'tests/test_*.py'
 * reaches in git's meaning; and names that try the rule's corners.
 */
static const char *const agent_files[] = {
    "tests/test_agent/__init__.py",
    "tests/test_agent/_fakes.py",
    "tests/test_agent/test_x.py",
    "tests/test_agent/sub/test_deep.py",
    "tests/test_y.py",
    "tests/test/x.py",
    "tests/test*.py",
    "tests/test_[x].py",
    "tests/a b/test_s.py",
    "tests/plugin_contracts/test_c.py",
    "tests/plugin_contracts/test_d/_h.py",
    "test_top.py",
    "test_dir/helper.py",
    "test_dir/test_b.py",
    "src/test_z.py",
    "tests/test_agent/_dump_helpers.py",
    "tests/test_agent/sub/conftest.py",
    "tests/test_x.txt",
    "src/tests/test_x.py",
    "tests/test_].py",
    "tests/test_7.py",
    "tests/test x.py",
    "tests/test_\xff.py",
    "tests/a/b/conftest.py",
    "tests/a/test_b/helper.py",
    "test_a.py",
    "a_test/b_test.py",
    "tests/test_b2.py",
};

static int agent_setup(void **state)
{
	char *dir = harness_tmpdir();
	GIT(dir, "init", "-q", "-b", "main");
	put(dir, "README.md", "hi\n");
	put(dir, "tests/test_y.py", "NUM_GPUS = 1\n");
	GIT(dir, "add", "-A");
	GIT(dir, "commit", "-q", "-m", "base");
	GIT(dir, "checkout", "-q", "-b", "pr");
	for (size_t i = 0; i < sizeof(agent_files) / sizeof(agent_files[0]); i++)
		put(dir, agent_files[i],
		    strcmp(agent_files[i], "tests/test_agent/test_x.py") ? "x = 1\n"
		                                                         : "NUM_GPUS = 2\n");
	GIT(dir, "add", "-A");
	GIT(dir, "commit", "-q", "-m", "pr");
	*state = dir;
	return 0;
}

static void changed_detect__leaves_out_what_only_git_s_star_reaches(void **state)
{
	struct changed_result r;
	struct diag d = DIAG_INIT;
	assert_int_equal(detect(*state, NULL, NULL, 0, &r, &d), 0);
	/* In git's order, bytes unsigned: '7' '[' ']' 'a' 'b' 'y' 0xff. */
	static const char *const listed[] = {"tests/plugin_contracts/test_c.py",
	                                     "tests/test_7.py",
	                                     "tests/test_[x].py",
	                                     "tests/test_].py",
	                                     "tests/test_agent/sub/test_deep.py",
	                                     "tests/test_agent/test_x.py",
	                                     "tests/test_b2.py",
	                                     "tests/test_y.py",
	                                     "tests/test_\xff.py"};
	static const char *const left_out[] = {
	    "tests/plugin_contracts/test_d/_h.py", "tests/test_agent/__init__.py",
	    "tests/test_agent/_dump_helpers.py", "tests/test_agent/_fakes.py",
	    "tests/test_agent/sub/conftest.py"};
	assert_int_equal(r.n, 9);
	for (size_t i = 0; i < r.n; i++)
		assert_string_equal(r.tests[i].path, listed[i]);
	assert_int_equal(r.tests[5].num_gpus, 2);
	assert_int_equal(r.tests[7].status, 'M');
	assert_int_equal(r.nleft_out, 5);
	for (size_t i = 0; i < r.nleft_out; i++)
		assert_string_equal(r.left_out[i].path, left_out[i]);
	assert_string_equal(r.left_out[0].pattern, "tests/plugin_contracts/test_*.py");
	assert_int_equal(r.left_out[3].status, 'A');
	assert_string_equal(r.left_out[3].pattern, "tests/test_*.py");
	assert_string_equal(r.left_out[3].reason, "'tests/test_*.py' matches it only because "
	                                          "git's * crosses '/'; its name is not test_*.py");
	for (size_t i = 0; i < r.nwarnings; i++)
		assert_null(strstr(r.warnings[i], "listed as a test"));
	struct strbuf sb = STRBUF_INIT;
	changed_json(&r, &sb);
	assert_non_null(strstr(sb.buf, "{\"file\":\"tests/test_agent/__init__.py\","
	                               "\"pattern\":\"tests/test_*.py\",\"reason\":\"'tests/"));
	assert_non_null(strstr(sb.buf, "\"num_gpus\":8}],\"left_out\":[{\"file\":"));
	strbuf_reset(&sb);
	changed_matrix_json(&r, &sb); /* the matrix has no left_out */
	assert_null(strstr(sb.buf, "left_out"));
	strbuf_release(&sb);
	changed_result_release(&r);

	/* git's meaning: all of them, each helper with a warning saying so. */
	struct changed_opts o = {
	    .repo = *state, .base = "main", .head = "pr", .default_gpus = 8, .git_pathspec = true};
	assert_int_equal(changed_detect(&o, &r, &d), 0);
	assert_int_equal(r.n, 14);
	assert_int_equal(r.nleft_out, 0);
	assert_string_equal(r.tests[7].path, "tests/test_agent/_fakes.py");
	assert_string_equal(r.tests[7].crossing, "tests/test_*.py");
	assert_null(r.tests[9].crossing);
	size_t crossing = 0;
	for (size_t i = 0; i < r.nwarnings; i++)
		if (strstr(r.warnings[i], "listed as a test"))
			crossing++;
	assert_int_equal(crossing, 5);
	bool found = false;
	for (size_t i = 0; i < r.nwarnings; i++)
		found |= !strcmp(r.warnings[i],
		                 "tests/test_agent/_fakes.py: listed as a test (8 GPUs), but "
		                 "'tests/test_*.py' matches it only because git's * crosses '/'; "
		                 "its name is not test_*.py (gpuci changed without --git-pathspec "
		                 "leaves it out)");
	assert_true(found);
	changed_result_release(&r);
	diag_release(&d);
}

/* changed_pattern_matches() against what git's diff itself picks, pattern by pattern. */
static void changed_pattern_matches__agrees_with_the_diff(void **state)
{
	struct vcs_repo *repo;
	struct diag d = DIAG_INIT;
	struct vcs_oid main_id, pr;
	assert_int_equal(vcs_repo_open(&repo, *state, &d), 0);
	assert_int_equal(vcs_resolve_commit(repo, "main", &main_id, &d), 0);
	assert_int_equal(vcs_resolve_commit(repo, "pr", &pr, &d), 0);
	struct arena a = ARENA_INIT;
	struct vcs_delta *all;
	size_t nall;
	assert_int_equal(vcs_diff(repo, &main_id, &pr, NULL, 0, &a, &all, &nall, &d), 0);
	assert_int_equal(nall, sizeof(agent_files) / sizeof(agent_files[0]));
	size_t tried = 0;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const char *pat = match_cases[i].pattern;
		if (changed_pattern_check(pat, &d) < 0)
			continue;
		tried++;
		for (int git_pathspec = 0; git_pathspec < 2; git_pathspec++) {
			struct changed_result r;
			struct changed_opts o = {.repo = *state,
			                         .base = "main",
			                         .head = "pr",
			                         .patterns = &pat,
			                         .npatterns = 1,
			                         .default_gpus = 8,
			                         .git_pathspec = git_pathspec};
			assert_int_equal(changed_detect(&o, &r, &d), 0);
			size_t k = 0, l = 0;
			for (size_t j = 0; j < nall; j++) {
				bool in = k < r.n && !strcmp(r.tests[k].path, all[j].path);
				bool out =
				    l < r.nleft_out && !strcmp(r.left_out[l].path, all[j].path);
				k += in;
				l += out;
				if (in != changed_pattern_matches(pat, all[j].path, git_pathspec) ||
				    out != (changed_pattern_match(pat, all[j].path) ==
				                CHANGED_MATCH_CROSSING &&
				            !git_pathspec))
					fail_msg("'%s' on '%s' (git_pathspec %d): the diff %s", pat,
					         all[j].path, git_pathspec,
					         in    ? "lists it"
					         : out ? "leaves it out"
					               : "has it not");
			}
			assert_int_equal(k, r.n);
			assert_int_equal(l, r.nleft_out);
			changed_result_release(&r);
		}
	}
	assert_true(tried > 40);
	arena_release(&a);
	vcs_repo_free(repo);
	diag_release(&d);
}

/* ---- JSON and quoting ------------------------------------------------------ */

static void json_of(const char *s, const char *want, bool exact)
{
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(changed_json_str(&sb, s), exact);
	assert_string_equal(sb.buf, want);
	strbuf_release(&sb);
}

static void changed_json_str__escapes_every_byte_a_path_may_hold(void **state)
{
	json_of("tests/test_x.py", "\"tests/test_x.py\"", true);
	json_of("a\"b\\c", "\"a\\\"b\\\\c\"", true);
	json_of("n\nt\tr\r", "\"n\\nt\\tr\\r\"", true);
	json_of("\x01\x1b\x7f", "\"\\u0001\\u001b\\u007f\"", true);
	json_of("ünï €𝄞", "\"ünï €𝄞\"", true);
	/* Not UTF-8: each bad byte is U+FFFD. */
	json_of("a\xff"
	        "b",
	        "\"a\\ufffdb\"", false);
	json_of("\xc0\x80", "\"\\ufffd\\ufffd\"", false);                       /* overlong */
	json_of("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"", false);            /* a surrogate */
	json_of("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", false); /* > U+10FFFF */
	json_of("\xe2\x82", "\"\\ufffd\\ufffd\"", false);                       /* cut short */
	json_of("\xe2\x82\xac", "\"€\"", true);
}

static void changed_matrix_json__keys_in_order_no_spaces(void **state)
{
	struct changed_result r = {0};
	struct strbuf sb = STRBUF_INIT;
	changed_matrix_json(&r, &sb);
	assert_string_equal(sb.buf, "{\"info\":[]}");
	struct changed_test t[2] = {
	    {.path = "tests/test_a.py", .num_gpus = 4},
	    {.path = "tests/plugin_contracts/test_\"b\".py", .num_gpus = 0}};
	r.tests = t;
	r.n = 2;
	strbuf_reset(&sb);
	changed_matrix_json(&r, &sb);
	assert_string_equal(sb.buf, "{\"info\":[{\"test_file\":\"tests/test_a.py\",\"num_gpus\":4},"
	                            "{\"test_file\":\"tests/plugin_contracts/test_\\\"b\\\".py\","
	                            "\"num_gpus\":0}]}");
	strbuf_release(&sb);
}

static void changed_default_patterns__are_the_old_detectors(void **state)
{
	assert_int_equal(changed_default_npatterns, 2);
	assert_string_equal(changed_default_patterns[0], "tests/test_*.py");
	assert_string_equal(changed_default_patterns[1], "tests/plugin_contracts/test_*.py");
}

int main(void)
{
	const struct CMUnitTest repo_tests[] = {
	    cmocka_unit_test(
	        changed_detect__lists_added_modified_renamed_tests_since_the_branch_point),
	    cmocka_unit_test(changed_detect__diff_filter_am_leaves_renames_out),
	    cmocka_unit_test(changed_detect__patterns_replace_the_defaults),
	    cmocka_unit_test(changed_detect__bad_input_is_a_usage_error_with_one_line),
	    cmocka_unit_test(vcs__reads_files_at_a_commit_and_finds_the_merge_base),
	    cmocka_unit_test(vcs__patterns_and_revisions_are_never_magic_nor_options),
	    cmocka_unit_test(vcs__reads_a_sha256_repository),
	    cmocka_unit_test(vcs__submodules_are_not_files),
	    cmocka_unit_test(vcs_repo_open__says_what_was_tried_when_git_cannot_run),
	    cmocka_unit_test(vcs__git_ending_between_questions_is_an_error_not_a_sigpipe),
	};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(changed_pattern_match__names_must_match_the_last_component),
	    cmocka_unit_test(changed_pattern_check__refuses_what_reads_differently_elsewhere),
	    cmocka_unit_test(changed_filter_parse__follows_git_letters),
	    cmocka_unit_test(changed_json_str__escapes_every_byte_a_path_may_hold),
	    cmocka_unit_test(changed_matrix_json__keys_in_order_no_spaces),
	    cmocka_unit_test(changed_default_patterns__are_the_old_detectors),
	};
	const struct CMUnitTest agent_tests[] = {
	    cmocka_unit_test(changed_detect__leaves_out_what_only_git_s_star_reaches),
	    cmocka_unit_test(changed_pattern_matches__agrees_with_the_diff),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	failed += cmocka_run_group_tests(agent_tests, agent_setup, repo_teardown);
	return failed + cmocka_run_group_tests(repo_tests, repo_setup, repo_teardown);
}
