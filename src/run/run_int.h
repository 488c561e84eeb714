/* The supervisor's state, shared by the files of src/run that run a suite; private. */
#ifndef GPUCI_RUN_RUN_INT_H
#define GPUCI_RUN_RUN_INT_H

#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"
#include "lease/lease.h"
#include "proc/proc.h"
#include "run/executor.h"
#include "run/run.h"
#include "sched/sched.h"

/* P_QUEUED: submitted to a cluster that places it (executor.h), not running yet. */
enum phase { P_PENDING, P_ACQUIRING, P_QUEUED, P_RUNNING, P_ENDING, P_DONE };

struct run_state {
	enum phase phase;
	struct run_exec *exec; /* the running attempt (run/executor.h), NULL: none */
	bool stop_due_sent;    /* exec's stop_due() was called for this stop */
	double poll_at;        /* an exec with no pid: when to ask its state again */
	struct lease *lease;
	double start;    /* monotonic */
	double deadline; /* monotonic, 0: none */
	double kill_at;  /* the keeper SIGKILLs what is left then; 0: not asked to stop */
	double force_at; /* a keeper still there then is SIGKILLed with its group */
	bool timed_out, stopped;
	bool ran;                    /* the attempt's STARTED was told */
	char why[128];               /* queued: the reason last told (WAITING) */
	char note[160];              /* the executor's word on its end (run_exec_result.note) */
	double queued_at;            /* monotonic: when it was submitted (P_QUEUED) */
	double ran_from, ran_to;     /* wall clock: the cluster's times of it, or 0 */
	int status;                  /* wait status of the test's main process */
	unsigned left;               /* processes it left behind, ended by the keeper */
	unsigned killed;             /* of those, how many needed SIGKILL */
	double log_at;               /* when to look at the log's size again (OUTPUT) */
	unsigned long long log_size; /* its size then */
	int log_errno;               /* why the keeper could not write the log, or 0 */
	unsigned long long log_lost; /* bytes of output that did not reach it */
};

/* A queued attempt's WAITING is told once it has waited this long (s). */
#define QUEUED_QUIET 2.0

/* A keeper that outlives its own SIGKILL deadline by this much is killed. */
#define KEEPER_GRACE 5.0

struct acquirer {
	pthread_t thread;
	bool busy;
	size_t index;
	struct lease_spec spec;
	struct lease *lease;
	struct diag d;
	int rc;
	int done_pipe[2];
	int wait_pipe[2]; /* written when the request has to sleep (lease's on_wait), or a GPU is
	                     busy */
	pthread_mutex_t busy_mu; /* guards busy_text */
	struct strbuf busy_text; /* on_busy's lines, '\n'-ended, not yet told (BUSY events) */
	int cancel_fd;           /* the read end of a pipe the main thread writes to stop it */
};

struct run {
	const struct run_opts *o;
	struct run_test *tests;
	size_t n;
	struct sched *sched;
	struct proc_signals sig;
	struct acquirer acq;
	int cancel_pipe[2];
	regex_t retry_re;
	bool have_re;
	int stopping;      /* the signal, or 0 */
	struct pollfd *pf; /* the loop's: 3 of its own, then one per executor descriptor */
	size_t done;
	double t0;
	bool places;   /* the executor's cluster places the attempts (executor.h) */
	size_t *order; /* then: the tests in the plan's start order (sched_start_order) */
	size_t norder;
};

double run__mono(void);
void run__set_str(char **dst, const char *s);
void run__emit(struct run *r, struct run_event *ev);
/* An event of test i, with what every test event carries. */
void run__emit_test(struct run *r, enum run_event_kind kind, size_t i, const char *text);
/* Starts attempt of test i (its lease in st->lease, if any). */
int run__spawn(struct run *r, size_t i, struct diag *d);

/* acquire.c: the one thread that waits for GPUs (lease_acquire). */
int run__acquire_start(struct run *r, size_t i, struct diag *d);
/* The acquirer is done: start the test on its GPUs, or say why not. */
int run__acquired(struct run *r, struct diag *d);
/* The acquirer's request sleeps: say who holds what it waits for; and what GPUs are busy. */
void run__say_who_holds(struct run *r);
/* Tells the BUSY lines the acquirer thread left (the main thread's part of on_busy). */
void run__say_busy(struct run *r);

#endif
