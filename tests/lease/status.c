#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lease/lease.h"

static void status__shows_free_held_and_plain_flock_holders(void **state)
{
	char *dir = harness_tmpdir();
	char *pattern = harness_path(dir, "gpu_{gpu_id}.lock");
	struct diag d = DIAG_INIT;

	/* GPU 0: a lease of ours, recorded with its command. */
	struct lease_spec spec = {.pattern = pattern,
	                          .total = 3,
	                          .count = 1,
	                          .timeout = 1,
	                          .cancel_fd = -1,
	                          .what = "python tests/test_a.py"};
	struct lease *l;
	assert_int_equal(lease_acquire(&l, &spec, &d), 0);

	/* GPU 2: a child holding a plain flock(), like gpu_lock_exec.py. */
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	char *path2 = lease_path(pattern, "2");
	pid_t plain = fork();
	if (plain == 0) {
		int fd = open(path2, O_RDWR | O_CREAT, 0644);
		flock(fd, LOCK_EX);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	usleep(50000); /* let exec finish so the cmdline is sleep's */

	struct lease_status *st;
	assert_int_equal(lease_status_read(&st, pattern, 3, &d), 0);
	assert_int_equal(st->ngpus, 3);
	assert_true(st->gpus[0].held);
	assert_int_equal(st->gpus[0].pid, getpid());
	assert_true(st->gpus[0].pid_alive);
	assert_string_equal(st->gpus[0].cmd, "python tests/test_a.py");
	assert_true(st->gpus[0].held_for >= 0);
	assert_false(st->gpus[1].held);
	assert_true(st->gpus[2].held);
	assert_int_equal(st->gpus[2].pid, plain);
	assert_string_equal(st->gpus[2].cmd, "sleep 30");
	assert_int_equal(st->nwaiters, 0);
	lease_status_free(st);

	kill(plain, SIGKILL);
	waitpid(plain, NULL, 0);
	lease_free(l);
	assert_int_equal(lease_status_read(&st, pattern, 3, &d), 0);
	for (int i = 0; i < 3; i++)
		assert_false(st->gpus[i].held);
	lease_status_free(st);
	close(ready[0]);
	close(ready[1]);
	free(path2);
	free(pattern);
	harness_rmtree(dir);
}

static void status__pattern_without_placeholder_is_refused(void **state)
{
	struct lease_status *st;
	struct diag d = DIAG_INIT;
	assert_int_equal(lease_status_read(&st, "/tmp/nope.lock", 2, &d), -1);
	assert_int_equal(d.code, DIAG_USAGE);
	diag_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(status__shows_free_held_and_plain_flock_holders),
	    cmocka_unit_test(status__pattern_without_placeholder_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
