/*
 * Private to src/lease/ and its tests: the queue file and lock file helpers.
 *
 * The queue file is text, rewritten whole under its own flock():
 *   gpuci-lease-queue 1
 *   next SEQ
 *   w SEQ PID COUNT DEVICES SINCE_NS CMD     a waiter (DEVICES "-" for any)
 *   h GPU PID SINCE_NS CMD                   who took a GPU, and when
 * SINCE_NS is CLOCK_REALTIME in nanoseconds. CMD runs to the end of the line
 * (newlines in it are replaced by spaces). Unknown lines are ignored, so a
 * newer gpuci can add lines without breaking an older one.
 */
#ifndef GPUCI_LEASE_INT_H
#define GPUCI_LEASE_INT_H

#include <stdint.h>

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

void q_state_parse(struct q_state *st, const char *text);
void q_state_format(const struct q_state *st, struct strbuf *out);
void q_state_release(struct q_state *st);
void q_state_add_waiter(struct q_state *st, const struct q_waiter *w); /* copies strings */
void q_state_remove_waiter(struct q_state *st, size_t i);
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

#endif
