#include "harness.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lease/lease_int.h"

static void lease_path__replaces_every_placeholder(void **state)
{
	char *p = lease_path("/x/{gpu_id}/l_{gpu_id}.lock", "7");
	assert_string_equal(p, "/x/7/l_7.lock");
	free(p);
	p = lease_path("/dev/shm/custom_gpu_lock_{gpu_id}.lock", "queue");
	assert_string_equal(p, "/dev/shm/custom_gpu_lock_queue.lock");
	free(p);
}

static void lease_check_pattern__requires_placeholder(void **state)
{
	struct diag d = DIAG_INIT;
	assert_int_equal(lease_check_pattern("/tmp/l_{i}.lock", &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	assert_non_null(strstr(d.msg.buf, "{gpu_id}"));
	assert_int_equal(lease_check_pattern("/tmp/l_{gpu_id}.lock", &d), 0);
	diag_release(&d);
}

static void q_state__round_trips_and_ignores_unknown_lines(void **state)
{
	struct q_state st;
	q_state_parse(&st, "gpuci-lease-queue 1\nnext 12\n"
	                   "w 10 100 8 - 1000 python tests/test a.py\n"
	                   "future line we do not know\n"
	                   "w 11 101 2 0,2 2000 x\n"
	                   "h 3 99 500 sleep 1\n");
	assert_int_equal(st.next, 12);
	assert_int_equal(st.nw, 2);
	assert_int_equal(st.w[0].seq, 10);
	assert_int_equal(st.w[0].pid, 100);
	assert_int_equal(st.w[0].count, 8);
	assert_null(st.w[0].devices);
	assert_string_equal(st.w[0].cmd, "python tests/test a.py");
	assert_string_equal(st.w[1].devices, "0,2");
	assert_int_equal(st.nh, 1);
	assert_int_equal(st.h[0].gpu, 3);
	assert_string_equal(st.h[0].cmd, "sleep 1");

	q_state_remove_waiter(&st, 0);
	struct q_waiter w = {.seq = 12, .pid = 7, .count = 1, .since_ns = 5, .cmd = "a\nb"};
	q_state_add_waiter(&st, &w);
	q_state_set_holder(&st, 3, 42, 600, "new holder");
	struct strbuf out = STRBUF_INIT;
	q_state_format(&st, &out);
	assert_string_equal(out.buf, "gpuci-lease-queue 2\nnext 00000000000000000012\n"
	                             "first 00000000000000000073\n"
	                             "w 11 101 2 0,2 2000 x\n"
	                             "w 12 7 1 - 5 a b\n"
	                             "h 3 42 600 new holder\n");
	struct q_state again;
	q_state_parse(&again, out.buf);
	assert_int_equal(again.nw, 2);
	assert_int_equal(again.w[1].seq, 12);
	q_state_release(&again);
	q_state_release(&st);
	strbuf_release(&out);
}

static void lock_file_open__creates_a_file_every_user_can_share(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "l_0.lock");
	struct diag d = DIAG_INIT;
	int fd;
	mode_t old = umask(077);
	assert_int_equal(lock_file_open(&fd, path, true, true, &d), 0);
	umask(old);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0666);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	free(path);
	harness_rmtree(dir);
}

static void lock_file_open__refuses_a_symlink_and_writes_nothing_through_it(void **state)
{
	char *dir = harness_tmpdir();
	char *target = harness_path(dir, "victim");
	char *link = harness_path(dir, "l_0.lock");
	assert_int_equal(symlink(target, link), 0);
	struct diag d = DIAG_INIT;
	int fd;
	assert_int_equal(lock_file_open(&fd, link, true, true, &d), -1);
	assert_int_equal(d.code, DIAG_INPUT);
	assert_non_null(strstr(d.msg.buf, "symbolic link"));
	assert_int_equal(access(target, F_OK), -1); /* nothing created through it */
	diag_release(&d);
	free(target);
	free(link);
	harness_rmtree(dir);
}

static void lock_file_open__refuses_what_is_not_a_regular_file(void **state)
{
	char *dir = harness_tmpdir();
	char *fifo = harness_path(dir, "fifo");
	char *sub = harness_path(dir, "sub");
	assert_int_equal(mkfifo(fifo, 0666), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	struct diag d = DIAG_INIT;
	int fd;
	assert_int_equal(lock_file_open(&fd, fifo, true, true, &d), -1); /* and did not block */
	assert_non_null(strstr(d.msg.buf, "not a regular file"));
	assert_int_equal(lock_file_open(&fd, sub, true, true, &d), -1);
	assert_int_equal(d.code, DIAG_SYSTEM); /* a directory cannot be opened read-write */
	diag_release(&d);
	free(fifo);
	free(sub);
	harness_rmtree(dir);
}

static void lock_file_open__another_users_read_only_file_is_still_lockable(void **state)
{
	char *dir = harness_tmpdir();
	char *path = harness_path(dir, "l_0.lock");
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	chmod(dir, 0755);
	chmod(path, 0444);
	pid_t pid = fork();
	if (pid == 0) {
		/* As root, become nobody so the file is really not ours to write. */
		if (getuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(3);
		struct diag d = DIAG_INIT;
		int lfd;
		if (lock_file_open(&lfd, path, true, true, &d) < 0)
			_exit(1);
		if ((fcntl(lfd, F_GETFL) & O_ACCMODE) != O_RDONLY)
			_exit(4);
		_exit(flock(lfd, LOCK_EX | LOCK_NB) == 0 ? 0 : 2);
	}
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	free(path);
	harness_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(lease_path__replaces_every_placeholder),
	    cmocka_unit_test(lease_check_pattern__requires_placeholder),
	    cmocka_unit_test(q_state__round_trips_and_ignores_unknown_lines),
	    cmocka_unit_test(lock_file_open__creates_a_file_every_user_can_share),
	    cmocka_unit_test(lock_file_open__refuses_a_symlink_and_writes_nothing_through_it),
	    cmocka_unit_test(lock_file_open__refuses_what_is_not_a_regular_file),
	    cmocka_unit_test(lock_file_open__another_users_read_only_file_is_still_lockable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
