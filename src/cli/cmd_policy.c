/* pincer policy: check a policy file and print the effective policy. */
#include "cli/cli.h"
#include "policy/policy.h"

#include <getopt.h>
#include <limits.h>
#include <string.h>

static void usage_policy(FILE *out)
{
	fprintf(out,
		"usage: pincer policy check [-q] [FILE]\n"
		"       pincer policy check --default\n\n"
		"A policy file says what an agent's sandbox may see and reach: folders, hosts,\n"
		"credentials, approvals and limits (YAML, version 1).\n\n"
		"subcommands:\n"
		"  check    validate a policy and print the effective policy (every default\n"
		"           filled in) as YAML; exit 0 when valid, 2 when not\n\n"
		"examples:\n"
		"  pincer policy check examples/policies/coder.yaml\n"
		"  pincer policy check --default      # what 'pincer run' uses without --policy\n"
		"  pincer policy check -q my.yaml && pincer run -p my.yaml -- ./agent\n\n"
		"Run 'pincer policy check --help' for its options.\n");
}

static void usage_check(FILE *out)
{
	fprintf(out,
		"usage: pincer policy check [-q] [FILE]\n"
		"       pincer policy check --default\n\n"
		"Validate FILE and print the effective policy, with every default filled in, as\n"
		"YAML that 'pincer run --policy' accepts. Errors name the place and the key:\n"
		"  pincer: /srv/p.yaml:14:7: network.egress.allow[2].ports[0]: 70000 is not a\n"
		"  port (1-65535)\n\n"
		"options:\n"
		"  --default   print the built-in default policy for the current folder (no\n"
		"              network, this folder read-write); also when FILE is left out\n"
		"  -q, --quiet validate only; print nothing when the policy is valid\n"
		"  -h, --help  show this help\n\n"
		"exit status: 0 valid, 2 invalid or bad usage\n\n"
		"examples:\n"
		"  pincer policy check examples/policies/offline.yaml\n"
		"  cd ~/work/project && pincer policy check --default\n"
		"  pincer policy check coder.yaml > effective.yaml\n");
}

static int policy_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"default", no_argument, NULL, 'd'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool use_default = false, quiet = false;
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			use_default = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage_check(stdout);
			return PC_EXIT_OK;
		case '?':
		default:
			fprintf(stderr, "pincer: policy check: unknown option '%s'\n\n",
				argv[optind - 1]);
			usage_check(stderr);
			return PC_EXIT_USAGE;
		}
	}
	if (argc - optind > 1 || (use_default && argc - optind == 1)) {
		fprintf(stderr, "pincer: policy check: give one FILE or --default\n\n");
		usage_check(stderr);
		return PC_EXIT_USAGE;
	}
	struct pc_error err = {0};
	_cleanup_policy_ struct policy *p = NULL;
	int r;
	if (argc - optind == 1) {
		r = policy_load(argv[optind], &p, &err);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			r = pc_error_errno(&err, errno, "cannot tell the current folder");
		else
			r = policy_default(cwd, &p, &err);
	}
	if (r < 0) {
		cli_print_error(&err);
		return PC_EXIT_USAGE;
	}
	if (quiet)
		return PC_EXIT_OK;
	_cleanup_buf_ struct pc_buf out = {0};
	policy_emit_yaml(p, &out);
	r = pc_write_all(STDOUT_FILENO, out.data, out.len);
	if (r < 0) {
		fprintf(stderr, "pincer: policy check: cannot write the policy: %s\n",
			strerror(-r));
		return PC_EXIT_USAGE;
	}
	return PC_EXIT_OK;
}

int cmd_policy(int argc, char **argv)
{
	if (argc < 2) {
		usage_policy(stderr);
		return PC_EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		usage_policy(stdout);
		return PC_EXIT_OK;
	}
	if (strcmp(sub, "check") == 0)
		return policy_check(argc - 1, argv + 1);
	fprintf(stderr, "pincer: policy: unknown subcommand '%s'\n\n", sub);
	usage_policy(stderr);
	return PC_EXIT_USAGE;
}
