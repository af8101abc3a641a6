/* pincer: run AI agents in sandboxes whose every outbound byte passes a gate. */
#include "cli/cli.h"

#include <string.h>

static int run_vault(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"run", cmd_run, "run a command in a new sandbox"},
	{"policy", cmd_policy, "check a policy file and print the effective policy"},
	{"audit", cmd_audit, "verify or read the audit log"},
	{"vault", run_vault, "keep the secrets the gate adds to an agent's requests"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: pincer COMMAND [ARGS...]\n\n"
		     "pincer runs a program (an AI agent, a script, a shell) in a sandbox of its\n"
		     "own: its own filesystem view, no network but what its policy allows, no\n"
		     "credentials it can see, and every decision written to an audit log.\n\n"
		     "commands:\n");
	for (size_t i = 0; i < PC_ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n"
		     "examples:\n"
		     "  pincer run -- python3 job.py            # default policy: no network,\n"
		     "                                          # this folder read-write\n"
		     "  pincer run -p examples/policies/offline.yaml -- bash\n"
		     "  pincer policy check my-agent.yaml\n"
		     "  pincer audit verify\n\n"
		     "Run 'pincer COMMAND --help' for a command's options.\n");
}

/* `pincer vault ...`: the vault's program, beside this one. */
static int run_vault(int argc, char **argv)
{
	(void)argc;
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		fprintf(stderr, "pincer: vault: cannot find pincer's own folder: %s\n",
			strerror(errno));
		return PC_EXIT_SETUP;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	_cleanup_free_ char *prog = pc_xasprintf(
		"%.*s/pincer-vault", slash ? (int)(slash - self) : 1, slash ? self : ".");
	execv(prog, argv);
	fprintf(stderr,
		"pincer: vault: cannot run %s: %s (the vault's commands are a program of their "
		"own, so that 'pincer run' never loads libcrypto; install it beside pincer)\n",
		prog, strerror(errno));
	return PC_EXIT_SETUP;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return PC_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return PC_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0) {
		printf("pincer 0.1.0\n");
		return PC_EXIT_OK;
	}
	for (size_t i = 0; i < PC_ARRAY_SIZE(commands); i++)
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "pincer: unknown command '%s'\n\n", name);
	usage(stderr);
	return PC_EXIT_USAGE;
}
