/* The command table: the one list of gpuci's subcommands. */
#include <string.h>

#include "cli/cli.h"
#include "base/banned.h"

const struct cli_command cli_commands[] = {
    {"lock", cmd_lock, "run a command on GPUs leased fairly from a shared machine"},
    {"render", cmd_render, "render workflow templates (*.yml.j2) as Jinja2 would"},
    {"changed", cmd_changed, "list the test files a branch adds or changes, with their GPU counts"},
    {"run", cmd_run, "run a label's suite on this machine as CI would, packed onto its GPUs"},
    {"history", cmd_history, "show past test results: recent, slowest, flaky"},
    {"report", cmd_report,
     "write a run's HTML report (GPU timeline) again, or the history's trends"},
    {"plan", cmd_plan, "show which jobs and tests a workflow runs for an event and PR labels"},
    {"labels", cmd_labels, "list the PR labels of a workflow with their jobs and GPU cost"},
    {"new-test", cmd_new_test,
     "write a test file in the standard pattern and register it in a job"},
    {"lint", cmd_lint,
     "check the test registry, the test files and the workflow against each other"},
    {"help", cmd_help, "show help for gpuci or one of its commands"},
    {"version", cmd_version, "print gpuci's version"},
    {NULL, NULL, NULL},
};

const struct cli_command *cli_find(const char *name)
{
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}
