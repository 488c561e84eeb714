/*
 * Private to src/lease/ and its tests: the queue file and lock file helpers.
 *
 * The queue file is text, changed only under its own flock():
 *   gpuci-lease-queue 2
 *   next NNNNNNNNNNNNNNNNNNNN                 20 digits: rewritten in place
 *   first NNNNNNNNNNNNNNNNNNNN                offset before which all is dead
 *   w SEQ PID COUNT DEVICES SINCE_NS CMD     a waiter (DEVICES "-" for any)
 *   - ...                                    a waiter that left (its 'w'
 *                                            overwritten in place)
 *   h GPU PID SINCE_NS CMD                   who took a GPU, and when (the
 *                                            last line of a GPU wins)
 * A waiter joins by appending its line and leaves by overwriting its first
 * byte, so neither costs more with a longer queue; whoever leaves a file
 * mostly dead rewrites it whole (compaction). SINCE_NS is CLOCK_REALTIME
 * in nanoseconds; waiters are in the order of SINCE_NS. CMD runs to the end
 * of the line (newlines in it are replaced by spaces). Unknown lines are
 * ignored, so a newer gpuci can add lines without breaking an older one.
 */
#ifndef GPUCI_LEASE_INT_H
#define GPUCI_LEASE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "base/strbuf.h"
#include "lease/lease.h"

struct q_waiter {
	unsigned long seq;
	pid_t pid;
	unsigned count;
	char *devices; /* NULL for "-" */
	int64_t since_ns;
	char *cmd;
};

struct q_holder {
	unsigned gpu;
	pid_t pid;
	int64_t since_ns;
	char *cmd;
};

struct q_state {
	unsigned long next;
	size_t nw, aw;
	struct q_waiter *w;
	size_t nh, ah;
	struct q_holder *h;
};

#define Q_MAGIC    "gpuci-lease-queue 2"
#define Q_HDR_FMT  Q_MAGIC "\nnext %020lu\nfirst %020lu\n"
#define Q_HDR_LEN  73 /* strlen of Q_HDR_FMT once formatted */
#define Q_NEXT_AT  25 /* offset of next's digits */
#define Q_FIRST_AT 52 /* offset of first's digits */

void q_state_parse(struct q_state *st, const char *text);
/* One line of the file, as q_state_format() writes it. */
void q_line_waiter(const struct q_waiter *w, struct strbuf *out);
void q_line_holder(unsigned gpu, pid_t pid, int64_t since_ns, const char *cmd, struct strbuf *out);
/* The fixed-width header; false when buf does not start with one. */
bool q_header_parse(const char *buf, size_t len, unsigned long *next, unsigned long *first);
/* Rewrites one of its fields (at Q_NEXT_AT or Q_FIRST_AT) in place. */
int q_header_set(int fd, size_t at, unsigned long v);
void q_state_format(const struct q_state *st, struct strbuf *out);
void q_state_release(struct q_state *st);
void q_state_add_waiter(struct q_state *st, const struct q_waiter *w); /* copies strings */
void q_state_remove_waiter(struct q_state *st, size_t i);
/* Inserts a copy of w before entry i (i == st->nw appends). */
void q_state_insert_waiter(struct q_state *st, size_t i, const struct q_waiter *w);
void q_state_set_holder(struct q_state *st, unsigned gpu, pid_t pid, int64_t since_ns,
                        const char *cmd);

/* Reads the whole file from offset 0; *st is valid (maybe empty) either way. */
int q_read(int fd, struct q_state *st, struct diag *d);
/* Replaces the file's contents. */
int q_write(int fd, const struct q_state *st, struct diag *d);

/*
 * Opens a lock file safely: never through a symlink, only a regular file,
 * created (mode 0666, so other users can share it) when missing; read-write
 * when allowed, read-only otherwise (flock needs no write access).
 * cloexec chooses FD_CLOEXEC. Fails with DIAG_INPUT for a symlink or a
 * non-regular file, DIAG_SYSTEM otherwise.
 */
int lock_file_open(int *out, const char *path, bool create, bool cloexec, struct diag *d);

/* Whether the ticket of waiter seq is still locked by a live waiter. */
bool q_ticket_alive(const char *pattern, unsigned long seq);
char *q_ticket_path(const char *pattern, unsigned long seq);

int64_t now_realtime_ns(void);

/* ---- sleeping in the kernel (wait.c) ---------------------------------- */

/*
 * A waitset sleeps in blocking flock() calls, one thread per lock (ops[i] is
 * LOCK_EX or LOCK_SH), and reports each success on an eventfd the caller
 * polls along with its own cancel descriptor and deadline. Stopping
 * interrupts the flock() calls with SIGUSR2 (handler installed without
 * SA_RESTART): a thread checks `stop` before each flock(), and the signal is
 * re-sent until every thread is out, which closes the window between that
 * check and the flock() call.
 */
enum slot_state { SLOT_WAITING, SLOT_LOCKED, SLOT_FAILED, SLOT_STOPPED };

struct slot {
	pthread_t th;
	int fd, op;
	atomic_int state;
	int err;
	atomic_bool *stop;
	int efd;
};

struct waitset {
	int efd;
	atomic_bool stop;
	size_t n;
	struct slot *slots;
};

enum wait_result { WAIT_EVENT, WAIT_TIMEOUT, WAIT_CANCELED, WAIT_RECHECK, WAIT_ERROR };

int waitset_start(struct waitset *ws, const int *fds, const int *ops, size_t n, struct diag *d);
/* Stops and joins every thread; slot states stay readable until release. */
void waitset_stop(struct waitset *ws);
void waitset_release(struct waitset *ws);
/*
 * Sleeps until a thread reports, the deadline, cancel_fd, or tick_ms pass;
 * note_fd (non-blocking inotify, or -1) readable is drained and reported as
 * WAIT_RECHECK.
 */
enum wait_result wait_event(int efd, int cancel_fd, double deadline, int tick_ms, int note_fd);
double mono_now(void);

/* ---- GPU lock files and their witnesses (gpufile.c) -------------------- */

char *gpu_path(const char *pattern, unsigned gpu);
/* P(GPU-held): a second name of the inode that GPU's holder locked. */
char *gpu_witness_path(const char *pattern, unsigned gpu);
bool same_file(const struct stat *a, const struct stat *b);

enum claim {
	CLAIM_OK,     /* fd's lock is the GPU's lock, and its witness names it */
	CLAIM_RETRY,  /* the path no longer names fd's file: unlock, open again */
	CLAIM_ORPHAN, /* someone holds the GPU through its witness: wait on it */
};
/*
 * Called with LOCK_EX held on fd, opened from P(gpu): checks that the path
 * still names fd's file and that no one holds the GPU through its witness,
 * and makes the witness a link to fd's file. On CLAIM_ORPHAN *orphan_fd is
 * the witness, open, for a shared flock() that returns when its holder ends.
 */
enum claim gpu_claim(const char *pattern, unsigned gpu, int fd, int *orphan_fd);
/* Before a holder lets go: removes the witness if it still names fd's file. */
void gpu_unclaim(const char *pattern, unsigned gpu, int fd);
/*
 * Whether fd, the lock a holder of GPU gpu holds, still keeps others out:
 * the path or the witness still names its file.
 */
bool gpu_still_named(const char *pattern, unsigned gpu, int fd, bool *path_ok);

/*
 * Whether someone holds GPU gpu through its witness: the witness names a
 * file other than path_st (the lock file's, NULL when there is none) and
 * that file is locked. *wst is the witness's file.
 */
bool gpu_witness_held(const char *pattern, unsigned gpu, const struct stat *path_st,
                      struct stat *wst);

/*
 * Removes ticket files that no live waiter locks (older than 0.2 s, so a
 * ticket being made is never taken for a dead one). Only for patterns whose
 * {gpu_id} is in the file name. Returns how many it removed.
 */
size_t q_ticket_sweep(const char *pattern);

/* ---- one acquisition (lease.c) and its place in the queue (waitq.c) -- */

struct acq {
	const struct lease_spec *spec;
	struct diag *d;
	double start, deadline;
	size_t ncand;
	unsigned *cand; /* candidate GPUs, in the order they are tried */
	int *fds;       /* one per candidate, -1 until opened */
	int *orphan;    /* the witness of a GPU held through it, or -1 */
	bool *held;
	bool *unusable; /* its lock file cannot be used: out of service */
	size_t nheld, need, nunusable;
	bool told; /* on_wait was called */
	char *qpath;
	int qfd; /* queue file, or -1 when the queue cannot be used */
	int tfd; /* our ticket, or -1 */
	/*
	 * inotify: our queue file and our ticket losing a name or being touched
	 * (IN_ATTRIB). A waiter that joins again ahead of others touches the
	 * ticket of the one just behind it, so that it looks again at once.
	 */
	int note_fd;
	bool note_tried; /* q_note_fd() tried to make note_fd */
	unsigned long seq;
	size_t qoff; /* where our line was in the queue file, 0: unknown */
	int64_t since_ns;
	struct strbuf warn; /* warnings, "; " between them */
};

int acq_fail_wait(struct acq *a, enum wait_result r);
void acq_warn(struct acq *a, const char *msg);

void q_devices_string(const struct lease_spec *spec, struct strbuf *sb);
/* Joins the queue: a sequence number, a locked ticket, a line. */
int q_enqueue(struct acq *a);
/* Leaves it; when granted, records what we hold. */
int q_dequeue(struct acq *a, bool granted, struct diag *d);
/*
 * Finds the live waiter just ahead of us (*pred, 0 when we are the head)
 * and how many are ahead, dropping dead entries on the way. Joins the queue
 * again, in arrival order, when our line is gone from it (the file was
 * deleted or replaced, or our ticket was).
 */
int q_predecessor(struct acq *a, unsigned long *pred, size_t *ahead);
/* Watches our current queue file and ticket on a->note_fd, once there is one. */
void q_watch(struct acq *a);
/*
 * a->note_fd, made (and watching) on the first call: only a request that
 * sleeps pays for an inotify instance.
 */
int q_note_fd(struct acq *a);
/* Sleeps until waiter pred leaves the queue, or a slow safety tick. */
int q_wait_predecessor(struct acq *a, unsigned long pred);

#endif
