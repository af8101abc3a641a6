/* pincer approvals / approve / reject: the people a policy's approvals:
 * rule names decide on the requests the gate holds (daemon.h,
 * "approvals"). Exit 0 done, 1 the daemon refused (its reason printed), 2
 * bad usage, 125 no daemon reachable. */
#include "cli/cli.h"
#include "daemon/daemon.h"

#include <getopt.h>
#include <jansson.h>
#include <string.h>

static void usage(FILE *out, const char *cmd)
{
	if (strcmp(cmd, "approvals") == 0)
		fprintf(out,
			"usage: pincer approvals [--all] [--json] [--socket PATH]\n\n"
			"The requests agents wait on that you may decide (and those of your own\n"
			"agents): ID, AGENT, USER (whom the agent works for), EXPIRES, the approvals\n"
			"so far and needed, then what the request is: method, host, path and an\n"
			"excerpt of its body. Decide with 'pincer approve ID' or 'pincer reject ID'.\n\n"
			"options:\n"
			"  --all          the decided and expired ones too (newest first)\n"
			"  --json         the daemon's answer as JSON\n"
			"  --socket PATH  the daemon's socket (default: $PINCER_SOCKET or the usual)\n"
			"  -h, --help     this text\n\n"
			"examples:\n"
			"  pincer approvals\n"
			"  pincer approvals --json | jq -r '.approvals[].id'\n");
	else if (strcmp(cmd, "approve") == 0)
		fprintf(out,
			"usage: pincer approve ID [--socket PATH]\n\n"
			"Approve the held request ID as yourself. The request runs once enough\n"
			"distinct people have approved (a rule may need two); under act_as:\n"
			"approver it carries your own secret for its host. The audit log\n"
			"records who approved what.\n\n"
			"examples:\n"
			"  pincer approve 3f2a9c0d11e84b7a\n");
	else
		fprintf(out,
			"usage: pincer reject ID [--reason TEXT] [--socket PATH]\n\n"
			"Reject the held request ID: the agent gets 403 with the reason, the\n"
			"upstream nothing.\n\n"
			"examples:\n"
			"  pincer reject 3f2a9c0d11e84b7a --reason 'not this quarter'\n");
}

static int refusal(const struct api_reply *rep)
{
	json_t *j = json_loads(rep->body.data ? rep->body.data : "", 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));
	fprintf(stderr, "pincer: %s\n", msg ? msg : "the daemon refused");
	json_decref(j);
	return PC_EXIT_FAIL;
}

static const char *s_of(const json_t *j, const char *k)
{
	const char *v = json_string_value(json_object_get(j, k));
	return v ? v : "-";
}

static void print_one(const json_t *ap)
{
	printf("%-16s %-14s %-10s %-9s %zu/%lld  %s\n", s_of(ap, "id"), s_of(ap, "agent"),
	       s_of(ap, "user"), s_of(ap, "state"),
	       json_array_size(json_object_get(ap, "approved_by")),
	       (long long)json_integer_value(json_object_get(ap, "count")), s_of(ap, "expires"));
	printf("    %s %s%s\n", s_of(ap, "method"), s_of(ap, "host"), s_of(ap, "path"));
	const char *summary = json_string_value(json_object_get(ap, "summary"));
	if (summary && *summary) {
		/* the body's excerpt, indented, at most 12 lines here */
		int lines = 0;
		for (const char *p = summary; *p && lines < 12; lines++) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			printf("    | %.*s\n", (int)(n > 100 ? 100 : n), p);
			p += n + (nl ? 1 : 0);
		}
	}
	const char *reason = json_string_value(json_object_get(ap, "reason"));
	if (reason)
		printf("    reason: %s\n", reason);
}

int cmd_approvals(int argc, char **argv)
{
	const char *cmd = argv[0];
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'},
					     {"json", no_argument, NULL, 'j'},
					     {"reason", required_argument, NULL, 'r'},
					     {"socket", required_argument, NULL, 's'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	bool all = false, as_json = false;
	const char *reason = NULL;
	_cleanup_free_ char *sock = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		bool listing = strcmp(cmd, "approvals") == 0;
		if ((c == 'a' || c == 'j') && !listing)
			c = '?';
		if (c == 'r' && strcmp(cmd, "reject") != 0)
			c = '?';
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'j':
			as_json = true;
			break;
		case 'r':
			reason = optarg;
			break;
		case 's':
			free(sock);
			sock = pc_xstrdup(optarg);
			break;
		case 'h':
			usage(stdout, cmd);
			return PC_EXIT_OK;
		default:
			usage(stderr, cmd);
			return PC_EXIT_USAGE;
		}
	}
	if (!sock)
		sock = daemon_default_socket();
	bool listing = strcmp(cmd, "approvals") == 0;
	if (listing ? optind != argc : optind != argc - 1) {
		fprintf(stderr, "pincer: %s: %s\n\n", cmd,
			listing ? "takes no arguments" : "which approval? (give its ID)");
		usage(stderr, cmd);
		return PC_EXIT_USAGE;
	}
	const char *id = listing ? NULL : argv[optind];
	if (id && (strlen(id) > 64 || strspn(id, "0123456789abcdef") != strlen(id) || !*id)) {
		fprintf(stderr, "pincer: %s: '%s' is not an approval ID (hex, as 'pincer "
				"approvals' shows)\n",
			cmd, id);
		return PC_EXIT_USAGE;
	}
	_cleanup_free_ char *path =
		listing ? pc_xstrdup(all ? "/v1/approvals?all=1" : "/v1/approvals")
			: pc_xasprintf("/v1/approvals/%s/%s", id, cmd);
	_cleanup_free_ char *body = NULL;
	if (strcmp(cmd, "reject") == 0) {
		json_t *j = reason ? json_pack("{s:s}", "reason", reason) : json_object();
		body = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	}
	struct api_request rq = {.socket = sock,
				 .method = listing ? "GET" : "POST",
				 .path = path,
				 .body = body,
				 .stream_fd = -1};
	struct api_reply rep = {0};
	struct pc_error err = {0};
	int r = api_call(&rq, &rep, &err);
	if (r < 0) {
		cli_print_error(&err);
		pc_buf_free(&rep.body);
		return PC_EXIT_SETUP;
	}
	int status = PC_EXIT_OK;
	json_t *j = NULL;
	if (rep.status != 200) {
		status = refusal(&rep);
	} else if (!(j = json_loads(rep.body.data ? rep.body.data : "", 0, NULL))) {
		fprintf(stderr, "pincer: %s: the daemon's answer is not JSON\n", cmd);
		status = PC_EXIT_SETUP;
	} else if (as_json) {
		fputs(rep.body.data, stdout);
	} else if (listing) {
		size_t i;
		json_t *ap;
		json_t *list = json_object_get(j, "approvals");
		if (!json_array_size(list))
			printf("no approvals %s\n", all ? "" : "waiting for you");
		json_array_foreach(list, i, ap) print_one(ap);
	} else {
		const char *state = s_of(j, "state");
		if (strcmp(state, "pending") == 0)
			printf("approval %s: your approval is recorded; %zu of %lld so far\n", id,
			       json_array_size(json_object_get(j, "approved_by")),
			       (long long)json_integer_value(json_object_get(j, "count")));
		else
			printf("approval %s: %s\n", id, state);
	}
	json_decref(j);
	pc_buf_free(&rep.body);
	return status;
}
