/* pincer run: one command in a new sandbox, in the foreground. */
#include "cli/cli.h"
#include "box/box.h"
#include "policy/policy.h"
#include "audit/audit.h"
#include "vault/vault.h"

#include <getopt.h>
#include <string.h>

static void usage(FILE *out)
{
	_cleanup_free_ char *me = vault_default_identity();
	fprintf(out,
		"usage: pincer run [OPTIONS] [--] COMMAND [ARGS...]\n"
		"       pincer run --warm --control PATH [OPTIONS]\n"
		"\n"
		"Run COMMAND in a new sandbox and exit with its status (128+N if it was\n"
		"killed by signal N; 125 if pincer could not start it; 126 or 127 if the\n"
		"command could not be executed or found).\n"
		"\n"
		"Without --policy the built-in default applies: no network, read-only\n"
		"system directories, the current directory read-write, a private /tmp,\n"
		"your ~/.ssh, ~/.aws and similar hidden. See it with\n"
		"'pincer policy check --default'.\n"
		"\n"
		"options:\n"
		"  -p, --policy FILE   the policy to apply (see examples/policies/)\n"
		"  -e, --setenv N=V    set an environment variable inside (repeatable)\n"
		"      --audit FILE    the audit log to write (default: %s)\n"
		"      --agent NAME    who this run is for, as the audit log names it\n"
		"      --as IDENTITY   whose vault secrets the policy's credentials inject\n"
		"                      (default: you, %s)\n"
		"  -w, --watch         re-read the policy file when it changes (as on SIGHUP);\n"
		"                      egress rules apply to the next request\n"
		"  -q, --quiet         no summary on stderr (e.g. of what the gate denied)\n"
		"      --survive-parent  keep running when pincer's parent dies (the daemon\n"
		"                      uses it, and adopts the run again when it restarts)\n"
		"      --status-file F  at the end, write {\"exit\":N,\"signal\":N,\"oom\":B} to F\n"
		"      --control PATH  listen on PATH (a unix socket, yours only) for requests\n"
		"                      to start more processes in the sandbox (the daemon's\n"
		"                      'pincer agent exec'; protocol: src/box/control.h)\n"
		"      --stats FILE    keep the gate's numbers in FILE, live (requests allowed\n"
		"                      and denied by host, bytes, latency, audit records; the\n"
		"                      daemon's /metrics reads it; layout: src/gate/stats.h)\n"
		"      --warm          with no COMMAND: build the sandbox and wait on --control\n"
		"                      for the agent (the daemon's warm pool)\n"
		"      --hide PATH     refuse any grant that would show PATH inside (the\n"
		"                      daemon hides its sockets and state; repeatable)\n"
		"  -h, --help          this text\n"
		"\n"
		"The agent reaches the network only through the gate: HTTP_PROXY and\n"
		"friends point at it, and connections that ignore them are captured.\n"
		"Every connection and request is allowed or denied by the policy's\n"
		"network.egress rules and recorded in the audit log; kill -HUP the\n"
		"pincer process to reload them.\n"
		"\n"
		"Credentials: for each entry of the policy's credentials: the agent gets\n"
		"a placeholder in the variable it names, shaped like the secret but\n"
		"useless; the gate puts the real secret (from 'pincer vault') into\n"
		"HTTPS requests to the entry's hosts only, blocks any request taking the\n"
		"placeholder or the secret elsewhere, and takes the secret out of\n"
		"answers. TLS to those hosts (and to hosts with method/path rules) ends\n"
		"at the gate, with a CA made for the run that the sandbox trusts.\n"
		"\n"
		"examples:\n"
		"  pincer run -- python3 job.py\n"
		"  pincer run -p examples/policies/offline.yaml -- bash\n"
		"  pincer run -e DEBUG=1 -- make test\n"
		"  pincer run -p examples/policies/claude.yaml --as alice -- claude\n",
		geteuid() == 0 ? "/var/lib/pincer/audit.jsonl"
			       : "$XDG_STATE_HOME/pincer/audit.jsonl",
		me ? me : "?");
}

/* A policy that fails validation starts nothing and is recorded. */
static void record_rejected(const char *audit_file, const char *agent, const char *policy_file,
			    const struct pc_error *why)
{
	struct pc_error err = {0};
	_cleanup_audit_ struct audit_log *log = NULL;
	if (audit_open(audit_file, &log, &err) < 0) {
		pc_warn("audit: %s", err.msg);
		return;
	}
	char run[17];
	box_new_run_id(run);
	_cleanup_free_ char *reason = pc_xasprintf("policy rejected: %s", why->msg);
	const struct audit_field f[] = {AUDIT_STR("policy_file", policy_file)};
	if (audit_write(log, AUDIT_POLICY, agent, run, AUDIT_DENY, reason, f, 1, &err) < 0)
		pc_warn("audit: %s", err.msg);
}

static bool valid_setenv(const char *s)
{
	const char *eq = strchr(s, '=');
	if (!eq || eq == s)
		return false;
	for (const char *c = s; c < eq; c++) {
		bool ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == '_' ||
			  (c > s && *c >= '0' && *c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'}, {"setenv", required_argument, NULL, 'e'},
		{"audit", required_argument, NULL, 'A'},  {"agent", required_argument, NULL, 'a'},
		{"quiet", no_argument, NULL, 'q'},	  {"watch", no_argument, NULL, 'w'},
		{"as", required_argument, NULL, 'I'},
		{"survive-parent", no_argument, NULL, 'K'},
		{"status-file", required_argument, NULL, 'F'},
		{"control", required_argument, NULL, 'C'},
		{"stats", required_argument, NULL, 'S'},
		{"warm", no_argument, NULL, 'W'},
		{"hide", required_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0},
	};
	const char *policy_file = NULL, *audit_file = NULL, *agent = "-", *identity = NULL;
	const char *control_path = NULL;
	const char *status_file = NULL, *stats_file = NULL;
	_cleanup_strv_ char **setenv = NULL, **hide = NULL;
	bool quiet = false, watch = false, survive = false, warm = false;
	int c;
	optind = 1;
	/* '+': options end at the command, whose own options are its own. */
	while ((c = getopt_long(argc, argv, "+p:e:qwh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_file = optarg;
			break;
		case 'e':
			if (!valid_setenv(optarg)) {
				fprintf(stderr,
					"pincer: --setenv %s: expected NAME=VALUE with NAME made "
					"of letters, digits and _\n",
					optarg);
				return PC_EXIT_USAGE;
			}
			pc_strv_push(&setenv, optarg);
			break;
		case 'A':
			audit_file = optarg;
			break;
		case 'a':
			agent = optarg;
			break;
		case 'K':
			survive = true;
			break;
		case 'F':
			status_file = optarg;
			break;
		case 'C':
			control_path = optarg;
			break;
		case 'S':
			stats_file = optarg;
			break;
		case 'I':
			if (!vault_valid_identity(optarg)) {
				fprintf(stderr,
					"pincer: --as %s: not an identity (a user name, group:NAME "
					"or agent:NAME; letters, digits, '.', '_', '@', '-')\n",
					optarg);
				return PC_EXIT_USAGE;
			}
			identity = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'W':
			warm = true;
			break;
		case 'H': {
			/* canonical, so that a grant reaching it by another
			 * spelling is still caught */
			_cleanup_free_ char *real = realpath(optarg, NULL);
			if (!real || optarg[0] != '/') {
				fprintf(stderr, "pincer: --hide %s: %s\n", optarg,
					optarg[0] != '/' ? "give an absolute path"
							 : strerror(errno));
				return PC_EXIT_USAGE;
			}
			pc_strv_push(&hide, real);
			break;
		}
		case 'w':
			watch = true;
			break;
		case 'h':
			usage(stdout);
			return PC_EXIT_OK;
		default:
			usage(stderr);
			return PC_EXIT_USAGE;
		}
	}
	if (warm) {
		/* the agent's part comes with the start (box/control.h) */
		const char *given = optind < argc	      ? "COMMAND"
				    : setenv		      ? "--setenv"
				    : strcmp(agent, "-") != 0 ? "--agent"
				    : identity		      ? "--as"
				    : status_file	      ? "--status-file"
				    : stats_file	      ? "--stats"
				    : watch		      ? "--watch"
							      : NULL;
		if (given) {
			fprintf(stderr,
				"pincer: run: --warm takes no %s: the agent's command, "
				"environment, name, identity, status and stats files come with "
				"the start on the control socket (src/box/control.h)\n",
				given);
			return PC_EXIT_USAGE;
		}
		if (!control_path) {
			fprintf(stderr, "pincer: run: --warm needs --control PATH (where the "
					"start comes from)\n");
			return PC_EXIT_USAGE;
		}
	} else if (optind >= argc) {
		fprintf(stderr, "pincer: run: no command given\n\n");
		usage(stderr);
		return PC_EXIT_USAGE;
	}
	if (watch && !policy_file) {
		fprintf(stderr, "pincer: run: --watch needs --policy FILE (the built-in default "
				"has no file to watch)\n");
		return PC_EXIT_USAGE;
	}
	pc_log_set_quiet(quiet);

	struct pc_error err = {0};
	_cleanup_policy_ struct policy *policy = NULL;
	int r;
	if (policy_file) {
		r = policy_load(policy_file, &policy, &err);
	} else {
		_cleanup_free_ char *cwd = getcwd(NULL, 0);
		r = cwd ? policy_default(cwd, &policy, &err)
			: pc_error_errno(&err, errno, "cannot read the current directory");
	}
	if (r < 0) {
		cli_print_error(&err);
		record_rejected(audit_file, agent, policy_file ? policy_file : "<built-in default>",
				&err);
		return PC_EXIT_USAGE;
	}

	if (watch) {
		_cleanup_free_ char *why = box_policy_writable_by_agent(policy, policy->file);
		if (why) {
			fprintf(stderr,
				"pincer: run: --watch refused: %s; keep the policy outside "
				"the agent's writable folders\n",
				why);
			return PC_EXIT_USAGE;
		}
	}

	struct box_config bc = {
		.policy = policy,
		.argv = argv + optind,
		.setenv = setenv,
		.audit_path = audit_file,
		.agent = agent,
		.identity = identity,
		.status_file = status_file,
		.hide = hide,
		.control_path = control_path,
		.stats_file = stats_file,
		.quiet = quiet,
		.watch = watch,
		.policy_file = policy_file,
		.die_with_parent = !survive,
		.warm = warm,
	};
	int status;
	if (box_run(&bc, &status, &err) < 0)
		cli_print_error(&err);
	return status;
}
