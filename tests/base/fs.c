#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"

static void fs_write_atomic__replaces_and_keeps_the_mode(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "out.yml");
	struct diag d = DIAG_INIT;
	assert_int_equal(fs_write_atomic(path, "one\n", 4, &d), 0);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	chmod(path, 0600);
	assert_int_equal(fs_write_atomic(path, "two", 3, &d), 0);
	struct strbuf got = STRBUF_INIT;
	assert_int_equal(fs_read_all(path, &got, &d), 0);
	assert_string_equal(got.buf, "two");
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	strbuf_release(&got);
	free(path);
	harness_rmtree(dir);
}

static void fs_write_atomic__failure_leaves_the_old_file(void **state)
{
	char *dir = harness_tmpdir();
	char *sub = harness_path(dir, "sub");
	char *path = harness_path(sub, "out.yml");
	struct diag d = DIAG_INIT;
	assert_int_equal(fs_write_atomic(path, "x", 1, &d), -1); /* no such directory */
	assert_int_equal(d.code, DIAG_SYSTEM);
	assert_non_null(strstr(d.msg.buf, "out.yml"));
	diag_release(&d);
	free(path);
	free(sub);
	harness_rmtree(dir);
}

static void fs_create_new__never_over_a_file(void **state)
{
	(void)state;
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "new.py");
	struct diag d = DIAG_INIT;
	struct strbuf got = STRBUF_INIT;
	assert_int_equal(fs_create_new(path, "one\n", 4, &d), 0);
	assert_int_equal(fs_create_new(path, "two\n", 4, &d), -1);
	assert_int_equal(d.code, DIAG_SYSTEM);
	assert_non_null(strstr(d.msg.buf, "File exists"));
	assert_int_equal(fs_read_all(path, &got, &d), 0);
	assert_string_equal(got.buf, "one\n"); /* the first is kept */
	strbuf_release(&got);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

static void fs_read_all__names_the_missing_file(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	assert_int_equal(fs_read_all("/nonexistent/x.j2", &sb, &d), -1);
	assert_string_equal(d.msg.buf, "cannot read /nonexistent/x.j2: No such file or directory");
	diag_release(&d);
}

static void fs_read_all__refuses_a_fifo_without_blocking(void **state)
{
	(void)state;
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "pr-test.yml");
	assert_int_equal(mkfifo(path, 0600), 0);
	struct strbuf sb = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	alarm(10); /* a blocking open or read fails the test instead of hanging it */
	assert_int_equal(fs_read_all(path, &sb, &d), -1);
	alarm(0);
	assert_int_equal(d.code, DIAG_INPUT);
	assert_non_null(strstr(d.msg.buf, "not a regular file"));
	assert_non_null(strstr(d.msg.buf, "pr-test.yml"));
	assert_int_equal(sb.len, 0);
	diag_release(&d);
	diag_init(&d);
	assert_int_equal(fs_read_all(dir, &sb, &d), -1); /* a directory */
	assert_non_null(strstr(d.msg.buf, "not a regular file"));
	diag_release(&d);
	strbuf_release(&sb);
	free(path);
	harness_rmtree(dir);
}

static void fs_read_all__reads_whole_files_into_their_size(void **state)
{
	(void)state;
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "big.py");
	struct strbuf data = STRBUF_INIT;
	for (int i = 0; i < 20000; i++)
		strbuf_addf(&data, "%d\n", i);
	struct diag d = DIAG_INIT;
	assert_int_equal(fs_create_new(path, data.buf, data.len, &d), 0);
	struct strbuf got = STRBUF_INIT;
	assert_int_equal(fs_read_all(path, &got, &d), 0);
	assert_int_equal(got.len, data.len);
	assert_memory_equal(got.buf, data.buf, data.len);
	assert_true(got.alloc <= 2 * (data.len + 1)); /* not a 64 KiB chunk more */
	strbuf_release(&got);
	/* A small file costs little: lint holds thousands of them. */
	free(path);
	path = harness_path(dir, "small.py");
	assert_int_equal(fs_create_new(path, "NUM_GPUS = 1\n", 13, &d), 0);
	assert_int_equal(fs_read_all(path, &got, &d), 0);
	assert_string_equal(got.buf, "NUM_GPUS = 1\n");
	assert_true(got.alloc <= 64);
	strbuf_release(&got);
	/* A file whose size stat does not know (procfs) is read to its end. */
	assert_int_equal(fs_read_all("/proc/self/status", &got, &d), 0);
	assert_non_null(strstr(got.buf, "VmRSS"));
	strbuf_release(&got);
	strbuf_release(&data);
	diag_release(&d);
	free(path);
	harness_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fs_write_atomic__replaces_and_keeps_the_mode),
	    cmocka_unit_test(fs_write_atomic__failure_leaves_the_old_file),
	    cmocka_unit_test(fs_create_new__never_over_a_file),
	    cmocka_unit_test(fs_read_all__names_the_missing_file),
	    cmocka_unit_test(fs_read_all__refuses_a_fifo_without_blocking),
	    cmocka_unit_test(fs_read_all__reads_whole_files_into_their_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
