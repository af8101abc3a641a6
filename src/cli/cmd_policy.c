/* pincer policy: check a policy file and print the effective policy;
 * suggest allow entries from the egress denials in an audit log; apply a
 * new policy to a daemon's agent. */
#include "cli/cli.h"
#include "audit/audit.h"
#include "daemon/daemon.h"
#include "policy/policy.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <string.h>

static void usage_policy(FILE *out)
{
	fprintf(out,
		"usage: pincer policy check [-q] [FILE]\n"
		"       pincer policy check --default\n"
		"       pincer policy suggest AUDITFILE [--run RUNID] [--agent NAME]\n"
		"       pincer policy apply AGENT FILE [--socket PATH]\n\n"
		"A policy file says what an agent's sandbox may see and reach: folders, hosts,\n"
		"credentials, approvals and limits (YAML, version 1).\n\n"
		"subcommands:\n"
		"  check    validate a policy and print the effective policy (every default\n"
		"           filled in) as YAML; exit 0 when valid, 2 when not\n"
		"  suggest  turn the egress denials in an audit log into the allow entries\n"
		"           that would admit them, for you to review and paste\n"
		"  apply    give a daemon's agent a new policy: checked, the changed sections\n"
		"           named; the running agent takes egress rules, credentials and\n"
		"           approvals at once, memory/pids/cpu limits in place; what needs a\n"
		"           restart (filesystem, environment, seccomp...) is said, with why\n\n"
		"examples:\n"
		"  pincer policy check examples/policies/coder.yaml\n"
		"  pincer policy check --default      # what 'pincer run' uses without --policy\n"
		"  pincer policy check -q my.yaml && pincer run -p my.yaml -- ./agent\n"
		"  pincer policy suggest ~/.local/state/pincer/audit.jsonl --run 3f2a91c0\n"
		"  pincer policy apply crm-bot crm.yaml\n\n"
		"Run 'pincer policy check --help' or 'pincer policy suggest --help' for their\n"
		"options.\n");
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

/* ---- suggest ------------------------------------------------------------ */

static void usage_suggest(FILE *out)
{
	fprintf(out,
		"usage: pincer policy suggest AUDITFILE [--run RUNID] [--agent NAME]\n\n"
		"Read the egress records of an audit log and print, as YAML to paste under\n"
		"network.egress.allow, the allow entries that would admit what was denied\n"
		"(decision deny or would-deny): one entry per host with the ports seen, and\n"
		"for plain HTTP the methods and paths seen, many paths under one folder\n"
		"collapsed into FOLDER/**. A comment on each entry says how many requests it\n"
		"covers. Denials an allow entry cannot fix (a deny rule, a private address,\n"
		"a malformed request, an upstream failure) are listed as comments.\n\n"
		"The quickest way to write a policy for a new agent: run it once under\n"
		"'enforcement: audit', which lets everything through and records what would\n"
		"have been denied, then review the suggestion. Review every entry: each one\n"
		"widens what the agent may reach, and the hosts and paths are the agent's.\n\n"
		"options:\n"
		"  --run RUNID    only this run (a prefix of its id is enough)\n"
		"  --agent NAME   only this agent\n"
		"  -h, --help     show this help\n\n"
		"exit status: 0 done (also when nothing was denied), 2 the log cannot be read,\n"
		"is not an audit log, or bad usage\n\n"
		"example:\n"
		"  pincer run -p draft.yaml -- ./agent        # draft.yaml: enforcement: audit\n"
		"  pincer audit tail --type run -n 2          # the run's id\n"
		"  pincer policy suggest ~/.local/state/pincer/audit.jsonl --run 3f2a91c0\n"
		"      - host: api.example.com  # 12 denied connections (connect)\n"
		"        ports: [443]\n"
		"      - host: crm.example.com  # 5 denied plain HTTP requests on 4 paths\n"
		"        ports: [80]\n"
		"        methods: [GET, POST]\n"
		"        paths: [/api/deals, \"/api/users/**\"]\n");
}

static const char *field_str(const struct audit_record *rec, const char *key)
{
	for (size_t i = 0; i < rec->n_fields; i++)
		if (strcmp(rec->fields[i].key, key) == 0 && !rec->fields[i].is_num)
			return rec->fields[i].value;
	return NULL;
}

static uint16_t field_port(const struct audit_record *rec)
{
	for (size_t i = 0; i < rec->n_fields; i++)
		if (strcmp(rec->fields[i].key, "port") == 0 && rec->fields[i].is_num &&
		    rec->fields[i].num > 0 && rec->fields[i].num <= 65535)
			return (uint16_t)rec->fields[i].num;
	return 0;
}

struct suggest_scan {
	const char *run, *agent;
	uint64_t records, egress, would_deny, skipped;
	char **runs; /* runs the denials came from */
};

/* Take one parsed record in, when it is a denial that passes the filters. */
static void scan_record(struct suggest_scan *sc, struct policy_suggest *s,
			const struct audit_record *rec)
{
	sc->records++;
	if (strcmp(rec->type, "egress") != 0)
		return;
	if (sc->run && strncmp(rec->run, sc->run, strlen(sc->run)) != 0)
		return;
	if (sc->agent && strcmp(rec->agent, sc->agent) != 0)
		return;
	bool would = strcmp(rec->decision, "would-deny") == 0;
	if (!would && strcmp(rec->decision, "deny") != 0)
		return;
	sc->egress++;
	sc->would_deny += would;
	if (!pc_strv_contains(sc->runs, rec->run))
		pc_strv_push(&sc->runs, rec->run);
	struct pc_egress_denial d = {
		.host = field_str(rec, "host"),
		.port = field_port(rec),
		.method = field_str(rec, "method"),
		.path = field_str(rec, "path"),
		.proto = field_str(rec, "proto"),
		.why = field_str(rec, "why"),
		.rule = field_str(rec, "rule"),
		.reason = rec->reason,
		.would_deny = would,
	};
	policy_suggest_add(s, &d);
}

static int policy_suggest(int argc, char **argv)
{
	static const struct option opts[] = {
		{"run", required_argument, NULL, 'r'},
		{"agent", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct suggest_scan sc = {0};
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			sc.run = optarg;
			break;
		case 'a':
			sc.agent = optarg;
			break;
		case 'h':
			usage_suggest(stdout);
			return PC_EXIT_OK;
		case ':':
			fprintf(stderr, "pincer: policy suggest: %s needs a value\n\n",
				argv[optind - 1]);
			usage_suggest(stderr);
			return PC_EXIT_USAGE;
		case '?':
		default:
			fprintf(stderr, "pincer: policy suggest: unknown option '%s'\n\n",
				argv[optind - 1]);
			usage_suggest(stderr);
			return PC_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "pincer: policy suggest: give one AUDITFILE\n\n");
		usage_suggest(stderr);
		return PC_EXIT_USAGE;
	}
	if ((sc.run && !*sc.run) || (sc.agent && !*sc.agent)) {
		fprintf(stderr, "pincer: policy suggest: --run and --agent need a value\n");
		return PC_EXIT_USAGE;
	}
	const char *path = argv[optind];
	struct pc_error err = {0};
	_cleanup_audit_reader_ struct audit_reader *rd = NULL;
	if (audit_reader_open(path, &rd, &err) < 0) {
		cli_print_error(&err);
		return PC_EXIT_USAGE;
	}
	_cleanup_policy_suggest_ struct policy_suggest *s = policy_suggest_new();
	const char *line;
	size_t len;
	uint64_t lineno = 0;
	int r;
	while ((r = audit_reader_next(rd, &line, &len, &lineno, &err)) > 0) {
		struct audit_record rec;
		struct pc_error perr = {0};
		if (audit_record_parse(line, len, &rec, &perr) < 0) {
			if (sc.records == 0) {
				/* the first line decides: this is not an audit log */
				fprintf(stderr, "pincer: %s is not an audit log (line %llu: %s)\n",
					path, (unsigned long long)lineno, perr.msg);
				pc_strv_free(sc.runs);
				return PC_EXIT_USAGE;
			}
			fprintf(stderr,
				"pincer: %s line %llu: not a valid record, skipped (%s); run "
				"'pincer audit verify'\n",
				path, (unsigned long long)lineno, perr.msg);
			sc.skipped++;
			continue;
		}
		scan_record(&sc, s, &rec);
		audit_record_free(&rec);
	}
	_cleanup_strv_ char **runs = sc.runs;
	if (r < 0) {
		cli_print_error(&err);
		return PC_EXIT_USAGE;
	}
	if (sc.records == 0) {
		fprintf(stderr, "pincer: %s holds no audit records: nothing to suggest\n", path);
		return PC_EXIT_OK;
	}
	char scope[256] = "";
	if (sc.run || sc.agent)
		snprintf(scope, sizeof(scope), " for%s%s%s%s", sc.run ? " run " : "",
			 sc.run ? sc.run : "", sc.agent ? " agent " : "", sc.agent ? sc.agent : "");
	if (sc.egress == 0) {
		fprintf(stderr,
			"pincer: no denied egress in %s%s (%llu records read): nothing to "
			"suggest\n",
			path, scope, (unsigned long long)sc.records);
		return PC_EXIT_OK;
	}
	size_t fixable = 0;
	policy_suggest_count(s, &fixable);
	_cleanup_buf_ struct pc_buf out = {0};
	/* the path and the filters may hold anything: one comment line each */
	_cleanup_free_ char *shown = pc_xasprintf("%s%s", path, scope);
	for (char *q = shown; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	pc_buf_printf(&out, "# Suggested by 'pincer policy suggest' from %s:\n", shown);
	pc_buf_printf(&out, "# %llu denied egress attempt%s", (unsigned long long)sc.egress,
		      sc.egress == 1 ? "" : "s");
	if (sc.would_deny)
		pc_buf_printf(&out, ", %llu would-deny (enforcement: audit)",
			      (unsigned long long)sc.would_deny);
	if (!sc.run && pc_strv_len(runs) > 1)
		pc_buf_printf(&out, ", from %zu runs (--run RUNID for one)", pc_strv_len(runs));
	pc_buf_printf(&out, ".\n# The entries below would admit %zu of them.", fixable);
	if (fixable)
		pc_buf_puts(&out, " Review each before pasting it under\n"
				  "# network.egress.allow: every one widens what the agent may "
				  "reach.");
	pc_buf_puts(&out, "\n");
	policy_suggest_emit(s, &out);
	r = pc_write_all(STDOUT_FILENO, out.data, out.len);
	if (r < 0) {
		fprintf(stderr, "pincer: policy suggest: cannot write: %s\n", strerror(-r));
		return PC_EXIT_USAGE;
	}
	return PC_EXIT_OK;
}

static void print_list(const char *head, json_t *list, const char *tail)
{
	if (!json_array_size(list))
		return;
	printf("  %s:", head);
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) printf("%s %s", i ? "," : "", json_string_value(v));
	printf("%s\n", tail);
}

/* The daemon's answer (daemon.h, PUT .../policy), for people. */
static void print_applied(const char *agent, json_t *j)
{
	json_t *changed = json_object_get(j, "changed");
	json_t *applied = json_object_get(j, "applied");
	bool reloaded = json_is_true(json_object_get(j, "reloaded"));
	printf("%s: ", agent);
	if (!json_array_size(changed)) {
		printf("no change\n");
		return;
	}
	printf("changed:");
	size_t i;
	json_t *v;
	json_array_foreach(changed, i, v) printf(" %s", json_string_value(v));
	if (!reloaded) {
		const char *e = json_string_value(json_object_get(j, "error_reloading"));
		if (e)
			printf("\n  the running agent refused it: %s\n", e);
		else
			printf("; not running: the new policy applies at its next start\n");
		return;
	}
	if (!json_is_array(applied)) { /* the run did not say: the daemon's guess */
		bool net = false;
		json_array_foreach(changed, i, v)
			net |= strcmp(json_string_value(v), "network") == 0;
		printf("%s%s\n", net ? "; egress rules reloaded now" : "",
		       json_is_true(json_object_get(j, "restart_needed"))
			       ? "; the rest applies at its next start (pincer agent restart)"
			       : "");
	} else {
		printf("\n");
		bool net = false;
		json_array_foreach(applied, i, v)
			net |= strcmp(json_string_value(v), "network") == 0;
		if (!json_array_size(applied))
			printf("  applied now: nothing\n");
		print_list("applied now", applied, net ? " (egress rules reloaded now)" : "");
		_cleanup_free_ char *tail =
			pc_xasprintf(" (at its next start: pincer agent restart %s)", agent);
		print_list("needs a restart", json_object_get(j, "restart_for"), tail);
		print_list("not applied", json_object_get(j, "not_applied"), "");
	}
	json_array_foreach(json_object_get(j, "notes"), i, v)
		printf("  - %s\n", json_string_value(v));
}

/* `pincer policy apply AGENT FILE`: PUT /v1/agents/AGENT/policy. */
static int policy_apply(int argc, char **argv)
{
	const char *socket_opt = NULL, *args[2] = {NULL, NULL};
	size_t n = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			socket_opt = argv[++i];
		else if (strncmp(argv[i], "--socket=", 9) == 0)
			socket_opt = argv[i] + 9;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage_policy(stdout);
			return PC_EXIT_OK;
		} else if (argv[i][0] != '-' && n < 2)
			args[n++] = argv[i];
		else {
			fprintf(stderr, "pincer: policy apply: unexpected '%s'\n\n", argv[i]);
			usage_policy(stderr);
			return PC_EXIT_USAGE;
		}
	}
	if (n != 2) {
		fprintf(stderr, "pincer: policy apply: needs AGENT and FILE\n\n");
		usage_policy(stderr);
		return PC_EXIT_USAGE;
	}
	struct pc_error err = {0};
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (pc_read_file(args[1], 1 << 20, &text, &len, &err) < 0) {
		cli_print_error(&err);
		return PC_EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s%}", "policy", text, len);
	if (!body) {
		fprintf(stderr, "pincer: policy apply: %s is not UTF-8 text\n", args[1]);
		return PC_EXIT_USAGE;
	}
	_cleanup_free_ char *json = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	_cleanup_free_ char *sock = socket_opt ? pc_xstrdup(socket_opt) : daemon_default_socket();
	_cleanup_free_ char *path = pc_xasprintf("/v1/agents/%s/policy", args[0]);
	struct api_request rq = {.socket = sock, .method = "PUT", .path = path, .body = json,
				 .stream_fd = -1};
	struct api_reply rep = {0};
	int r = api_call(&rq, &rep, &err);
	if (r < 0) {
		cli_print_error(&err);
		pc_buf_free(&rep.body);
		return PC_EXIT_SETUP;
	}
	json_t *j = json_loads(rep.body.data ? rep.body.data : "", 0, NULL);
	pc_buf_free(&rep.body);
	if (rep.status != 200) {
		const char *e = json_string_value(json_object_get(j, "error"));
		fprintf(stderr, "pincer: %s\n", e ? e : "the daemon refused");
		json_decref(j);
		return PC_EXIT_FAIL;
	}
	print_applied(args[0], j);
	json_decref(j);
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
	if (strcmp(sub, "suggest") == 0)
		return policy_suggest(argc - 1, argv + 1);
	if (strcmp(sub, "apply") == 0)
		return policy_apply(argc - 1, argv + 1);
	fprintf(stderr, "pincer: policy: unknown subcommand '%s'\n\n", sub);
	usage_policy(stderr);
	return PC_EXIT_USAGE;
}
