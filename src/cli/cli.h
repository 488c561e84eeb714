/*
 * cli: the only code that prints to the user or picks an exit status.
 *
 * A command is `int cmd_NAME(int argc, char **argv, struct gpuci_ctx *ctx)`
 * in cli/cmd_NAME.c, listed once in commands.c; argv[0] is the command's
 * name. It returns the process exit status.
 */
#ifndef GPUCI_CLI_CLI_H
#define GPUCI_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "base/diag.h"

/* Exit statuses; every command documents which it uses. */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,    /* a check or test failed */
	EXIT_USAGE = 2,     /* bad flags or arguments */
	EXIT_TEMPFAIL = 75, /* gave up waiting (sysexits EX_TEMPFAIL) */
};

/* Process-wide state, made in main() and passed down. */
struct gpuci_ctx {
	const char *progname;
	FILE *out, *err;
	bool sigpipe_ignored; /* gpuci was started with SIGPIPE ignored */
};

struct cli_command {
	const char *name;
	int (*fn)(int argc, char **argv, struct gpuci_ctx *ctx);
	const char *summary;
};

extern const struct cli_command cli_commands[];
const struct cli_command *cli_find(const char *name);

/* ---- options: a table next to each command ---------------------------- */

enum cli_opt_kind {
	CLI_OPT_FLAG,   /* bool */
	CLI_OPT_UINT,   /* unsigned, decimal */
	CLI_OPT_SECS,   /* double >= 0, seconds */
	CLI_OPT_STRING, /* const char * into argv */
	CLI_OPT_LIST,   /* repeatable string: struct cli_list (free items with free()) */
};

/* The values of a repeatable option, in the order given. */
struct cli_list {
	const char **items;
	size_t n;
};

struct cli_option {
	const char *name; /* long name, without "--" */
	char letter;      /* short letter, or 0 */
	enum cli_opt_kind kind;
	void *value;      /* bool *, unsigned *, double *, const char **, struct cli_list * */
	const char *arg;  /* placeholder in the usage, e.g. "N" */
	const char *help; /* one line */
	bool *seen;       /* set when given, may be NULL */
};

/*
 * Parses options from argv[1..] until "--" (skipped), or the first argument
 * that is not an option when stop_at_arg is set. Stores the index of the
 * first remaining argument in *rest. `--help`/`-h` sets *help. Returns 0 or
 * -1 with a usage message in d.
 */
int cli_parse(int argc, char **argv, const struct cli_option *opts, bool stop_at_arg, int *rest,
              bool *help, struct diag *d);

/* Prints the options of a table, aligned, one per line. */
void cli_print_options(FILE *f, const struct cli_option *opts);

/* Prints "gpuci CMD: message" and returns EXIT_USAGE with a hint at --help. */
int cli_usage_error(struct gpuci_ctx *ctx, const char *cmd, const struct diag *d);
/* Prints "gpuci CMD: file:line:col: message" (the place when d has one). */
void cli_error(struct gpuci_ctx *ctx, const char *cmd, const struct diag *d);
/*
 * s as strbuf_add_shown() writes it (one line, control characters escaped),
 * in sb, which it resets: for a name or message in a printf. The result
 * lives until sb's next use.
 */
const char *cli_shown(struct strbuf *sb, const char *s);

int cmd_help(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_version(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_lock(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_render(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_changed(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_run(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_history(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_report(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_plan(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_labels(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_new_test(int argc, char **argv, struct gpuci_ctx *ctx);
int cmd_lint(int argc, char **argv, struct gpuci_ctx *ctx);

/*
 * DIR/rel for the nearest DIR, here or above, where it exists (as git finds
 * .git), or NULL; the caller frees it (cmd_history.c).
 */
char *cli_find_above(const char *rel);
/*
 * The history `gpuci run` keeps: cli_find_above(".gpuci/history.db"), else
 * that path relative to here. The caller frees it.
 */
char *cli_find_history(void);

/*
 * NVML for the readiness check of `gpuci CMD` (lock, run), or NULL when
 * wait_idle is 0 or NVML cannot be loaded (then one debug line saying why
 * on ctx->err, under $GPUCI_DEBUG only). Close it with gpu_nvml_close().
 */
struct gpu_nvml;
struct gpu_nvml *cli_open_nvml(const char *cmd, double wait_idle, struct gpuci_ctx *ctx);

#endif
