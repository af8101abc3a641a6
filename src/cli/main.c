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
	{"daemon", cmd_daemon, "keep many agents running, one sandbox each"},
	{"agent", cmd_agent, "create, list, start, stop and read agents of the daemon"},
	{"top", cmd_top, "the daemon's agents live: state, memory, CPU"},
	{"approvals", cmd_approvals, "the requests agents wait on that you may decide"},
	{"approve", cmd_approvals, "approve a held request (as yourself)"},
	{"reject", cmd_approvals, "reject a held request, with a reason"},
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
	fprintf(out,
		"\n"
		"examples:\n"
		"  pincer run -- python3 job.py            # default policy: no network,\n"
		"                                          # this folder read-write\n"
		"  pincer run -p examples/policies/offline.yaml -- bash\n"
		"  pincer policy check my-agent.yaml\n"
		"  pincer audit verify\n"
		"  pincer daemon &                         # then, as an admin:\n"
		"  pincer agent create bot --policy bot.yaml --user alice -- python3 /srv/bot.py\n"
		"  pincer agent ls\n\n"
		"Run 'pincer COMMAND --help' for a command's options.\n");
}

/* Replace this process with the program `prog` beside pincer (argv as is:
 * argv[0] is the command's name). Returns only on failure; why says why
 * the command is a program of its own. */
static int exec_sibling(const char *cmd, const char *prog, const char *why, char **argv)
{
	_cleanup_free_ char *path = pc_sibling_path(prog);
	if (!path) {
		fprintf(stderr, "pincer: %s: cannot find pincer's own folder: %s\n", cmd,
			strerror(errno));
		return PC_EXIT_SETUP;
	}
	execv(path, argv);
	fprintf(stderr, "pincer: %s: cannot run %s: %s (%s; install it beside pincer)\n", cmd, path,
		strerror(errno), why);
	return PC_EXIT_SETUP;
}

/* `pincer vault ...`: the vault's program, beside this one. */
static int run_vault(int argc, char **argv)
{
	(void)argc;
	return exec_sibling("vault", "pincer-vault",
			    "the vault's commands are a program of their own, so that "
			    "'pincer run' never loads libcrypto",
			    argv);
}

/* `pincer daemon ...`: the daemon's program, beside this one. */
int cmd_daemon(int argc, char **argv)
{
	(void)argc;
	return exec_sibling("daemon", "pincer-daemon",
			    "the daemon is a program of its own, so that 'pincer run' never "
			    "loads SQLite",
			    argv);
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
