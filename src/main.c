/* gpuci: global options, the command table lookup, exit. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "base/banned.h"

int main(int argc, char **argv)
{
	struct gpuci_ctx ctx = {.progname = "gpuci", .out = stdout, .err = stderr};
	/*
	 * No setlocale(): gpuci's output must not depend on the user's locale
	 * (templates render as Python renders them, UTF-8 handled by hand), and
	 * loading the locale costs a tenth of a millisecond on every run.
	 */
	/*
	 * A closed pipe is an error to report where it happens, not a silent
	 * death. Commands gpuci runs get back the disposition gpuci was given.
	 */
	ctx.sigpipe_ignored = signal(SIGPIPE, SIG_IGN) == SIG_IGN;

	if (argc < 2) {
		char *help_argv[] = {"help", NULL};
		cmd_help(1, help_argv, &ctx);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--version") || !strcmp(name, "-V"))
		name = "version";
	else if (!strcmp(name, "--help") || !strcmp(name, "-h"))
		name = "help";
	const struct cli_command *cmd = cli_find(name);
	if (!cmd) {
		fprintf(ctx.err, "gpuci: '%s' is not a gpuci command. See 'gpuci help'.\n", name);
		return EXIT_USAGE;
	}
	int rc = cmd->fn(argc - 1, argv + 1, &ctx);
	if (fflush(ctx.out) != 0 && rc == EXIT_OK) {
		perror("gpuci: writing output");
		rc = EXIT_FAILED;
	}
	return rc;
}
