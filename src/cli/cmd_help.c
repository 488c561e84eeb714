/* gpuci help [CMD], gpuci version. */
#include <string.h>

#include "cli/cli.h"
#include "base/banned.h"

#include "gpuci_commit.h" /* GPUCI_COMMIT, written at build time by cmake/commit.cmake */

#ifndef GPUCI_VERSION
#define GPUCI_VERSION "0.0.0-dev"
#endif

/* "gpuci 0.1.0 (commit 0123456789ab)": the version from CMakeLists.txt, the commit from git. */
int cmd_version(int argc, char **argv, struct gpuci_ctx *ctx)
{
	(void)argc;
	(void)argv;
	if (*GPUCI_COMMIT)
		fprintf(ctx->out, "gpuci %s (commit %s)\n", GPUCI_VERSION, GPUCI_COMMIT);
	else
		fprintf(ctx->out, "gpuci %s\n", GPUCI_VERSION);
	return EXIT_OK;
}

int cmd_help(int argc, char **argv, struct gpuci_ctx *ctx)
{
	if (argc >= 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0) {
		const struct cli_command *cmd = cli_find(argv[1]);
		if (!cmd) {
			fprintf(ctx->err, "gpuci help: no command '%s'. See 'gpuci help'.\n",
			        argv[1]);
			return EXIT_USAGE;
		}
		/* A command's help is its --help, so the two never drift apart. */
		char *sub[] = {(char *)cmd->name, "--help", NULL};
		return cmd->fn(2, sub, ctx);
	}
	FILE *f = ctx->out;
	fprintf(f, "usage: gpuci <command> [options] [args]\n\n"
	           "gpuci runs the GPU CI of a machine-learning repository: label-gated test\n"
	           "suites, fair GPU locks on shared runners, and local runs of any suite as CI\n"
	           "would run it.\n\n"
	           "Commands:\n");
	for (const struct cli_command *c = cli_commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nGlobal options:\n"
	           "  -h, --help      show this help\n"
	           "  -V, --version   print the version and the git commit\n\n"
	           "Run 'gpuci help <command>' or 'gpuci <command> --help' for a command's\n"
	           "options, and the README for a tour.\n");
	return EXIT_OK;
}
