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
			"usage: pincer approvals [--all] [--json] [--socket PATH]\n"
			"       pincer approvals show ID [--json] [--socket PATH]\n\n"
			"The requests agents wait on that you may decide (and those of your own\n"
			"agents): ID, AGENT, USER (whom the agent works for), EXPIRES, the approvals\n"
			"so far and needed, then what the request is: method, host, path and the\n"
			"first lines of its body (what is cut is said so: 'show ID' prints all of\n"
			"it, and every field). Decide with 'pincer approve ID' or 'pincer reject ID'.\n"
			"Characters a terminal would act on are shown escaped (\\xNN, \\u{NN}).\n\n"
			"options:\n"
			"  --all          the decided and expired ones too (newest first)\n"
			"  --json         the daemon's answer as JSON\n"
			"  --socket PATH  the daemon's socket (default: $PINCER_SOCKET or the usual)\n"
			"  -h, --help     this text\n\n"
			"examples:\n"
			"  pincer approvals\n"
			"  pincer approvals show 3f2a9c0d11e84b7a\n"
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

/* ---- what reaches the terminal ------------------------------------------------ */

#define LIST_LINES 12  /* of a summary, in the list */
#define LIST_COLS  100 /* characters of a summary's line, in the list */

/* pre, s made safe, post. */
static void print_safe(const char *pre, const char *s, const char *post)
{
	_cleanup_buf_ struct pc_buf b = {0};
	cli_put_safe(&b, s, strlen(s), SIZE_MAX);
	pc_buf_append(&b, "", 1);
	printf("%s%s%s", pre, b.data, post);
}

static int refusal(const struct api_reply *rep)
{
	json_t *j = json_loads(rep->body.data ? rep->body.data : "", 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));
	fflush(stdout);
	_cleanup_buf_ struct pc_buf b = {0};
	msg = msg ? msg : "the daemon refused";
	cli_put_safe(&b, msg, strlen(msg), SIZE_MAX);
	pc_buf_append(&b, "", 1);
	fprintf(stderr, "pincer: %s\n", b.data);
	json_decref(j);
	return PC_EXIT_FAIL;
}

static const char *s_of(const json_t *j, const char *k)
{
	const char *v = json_string_value(json_object_get(j, k));
	return v ? v : "-";
}

/* The people in a's array k, "a, b" (or "-"). */
static char *names(const json_t *ap, const char *k)
{
	_cleanup_buf_ struct pc_buf b = {0};
	size_t i;
	const json_t *v;
	json_array_foreach(json_object_get(ap, k), i, v) if (json_is_string(v))
		pc_buf_printf(&b, "%s%s", b.len ? ", " : "", json_string_value(v));
	pc_buf_puts(&b, b.len ? "" : "-");
	return pc_steal_ptr(&b.data);
}

/* The summary's lines, "    | " each: at most lines of at most cols
 * characters, what is cut said so. */
static void print_summary(const json_t *ap, size_t lines, size_t cols)
{
	const char *summary = json_string_value(json_object_get(ap, "summary"));
	size_t shown = 0, total = 0;
	for (const char *p = summary; p && *p; total++) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (shown < lines) {
			_cleanup_buf_ struct pc_buf b = {0};
			size_t took = cli_put_safe(&b, p, n, cols);
			if (took < n) { /* the rest of the line, in characters */
				size_t left = 0;
				for (size_t i = took; i < n; i++)
					left += ((unsigned char)p[i] & 0xc0) != 0x80;
				pc_buf_printf(&b, " …(%zu more cut)", left);
			}
			pc_buf_append(&b, "", 1);
			printf("    | %s\n", b.data);
			shown++;
		}
		p += n + (nl ? 1 : 0);
	}
	if (total > shown)
		printf("    … %zu more line%s cut: `pincer approvals show %s` or `pincer approvals "
		       "--json`\n",
		       total - shown, total - shown == 1 ? "" : "s", s_of(ap, "id"));
}

static void print_one(const json_t *ap)
{
	_cleanup_buf_ struct pc_buf b = {0};
	pc_buf_printf(&b, "%-16s %-14s %-10s %-9s %zu/%lld  %s", s_of(ap, "id"), s_of(ap, "agent"),
		      s_of(ap, "user"), s_of(ap, "state"),
		      json_array_size(json_object_get(ap, "approved_by")),
		      (long long)json_integer_value(json_object_get(ap, "count")),
		      s_of(ap, "expires"));
	pc_buf_append(&b, "", 1);
	print_safe("", b.data, "\n");
	_cleanup_free_ char *what =
		pc_xasprintf("%s %s%s", s_of(ap, "method"), s_of(ap, "host"), s_of(ap, "path"));
	print_safe("    ", what, "\n");
	print_summary(ap, LIST_LINES, LIST_COLS);
	json_int_t status = json_integer_value(json_object_get(ap, "status"));
	if (status)
		printf("    upstream answered %lld\n", (long long)status);
	const char *reason = json_string_value(json_object_get(ap, "reason"));
	if (reason)
		print_safe("    reason: ", reason, "\n");
}

/* `pincer approvals show ID`: every field, and all of the summary. */
static void print_all(const json_t *ap)
{
	_cleanup_free_ char *approvers = names(ap, "approvers"),
			    *by = names(ap, "approved_by");
	print_safe("approval ", s_of(ap, "id"), "\n");
	print_safe("  agent      ", s_of(ap, "agent"), "\n");
	print_safe("  user       ", s_of(ap, "user"), " (whom the agent works for)\n");
	print_safe("  state      ", s_of(ap, "state"), "\n");
	_cleanup_free_ char *need =
		pc_xasprintf("%zu of %lld: %s", json_array_size(json_object_get(ap, "approved_by")),
			     (long long)json_integer_value(json_object_get(ap, "count")), by);
	print_safe("  approved   ", need, "\n");
	if (json_is_string(json_object_get(ap, "rejected_by")))
		print_safe("  rejected   by ", s_of(ap, "rejected_by"), "\n");
	print_safe("  approvers  ", approvers, "\n");
	print_safe("  act as     ", s_of(ap, "act_as"), "\n");
	printf("  rule       approvals[%lld]\n",
	       (long long)json_integer_value(json_object_get(ap, "rule")));
	_cleanup_free_ char *what = pc_xasprintf(
		"%s %s:%lld%s", s_of(ap, "method"), s_of(ap, "host"),
		(long long)json_integer_value(json_object_get(ap, "port")), s_of(ap, "path"));
	print_safe("  request    ", what, "\n");
	print_safe("  digest     ", s_of(ap, "digest"), "\n");
	static const char *const times[] = {"created", "expires", "decided", "ended"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(times); i++)
		if (json_is_string(json_object_get(ap, times[i]))) {
			printf("  %-10s ", times[i]);
			print_safe("", s_of(ap, times[i]), "\n");
		}
	json_int_t status = json_integer_value(json_object_get(ap, "status"));
	if (status)
		printf("  upstream   answered %lld\n", (long long)status);
	if (json_is_string(json_object_get(ap, "reason")))
		print_safe("  reason     ", s_of(ap, "reason"), "\n");
	printf("  summary:\n");
	print_summary(ap, SIZE_MAX, SIZE_MAX);
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
	/* approvals show ID (or approvals ID): one, whole */
	if (listing && optind < argc && strcmp(argv[optind], "show") == 0)
		optind++;
	bool show = listing && optind < argc;
	if (listing && !show ? optind != argc : optind != argc - 1) {
		fprintf(stderr, "pincer: %s: %s\n\n", cmd,
			listing && optind == argc ? "show which approval? (give its ID)"
			: listing		  ? "takes at most 'show ID'"
						  : "which approval? (give its ID)");
		usage(stderr, cmd);
		return PC_EXIT_USAGE;
	}
	const char *id = listing && !show ? NULL : argv[optind];
	if (id && (strlen(id) > 64 || strspn(id, "0123456789abcdef") != strlen(id) || !*id)) {
		fprintf(stderr, "pincer: %s: that is not an approval ID (hex, as 'pincer "
				"approvals' shows)\n",
			cmd);
		return PC_EXIT_USAGE;
	}
	_cleanup_free_ char *path =
		show	  ? pc_xasprintf("/v1/approvals/%s", id)
		: listing ? pc_xstrdup(all ? "/v1/approvals?all=1" : "/v1/approvals")
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
	} else if (show) {
		print_all(j);
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
		else if (strcmp(state, "approved") == 0)
			printf("approval %s: approved; the request goes now ('pincer approvals "
			       "show %s' tells how it ended)\n",
			       id, id);
		else {
			printf("approval %s: ", id);
			print_safe("", state, "\n");
		}
	}
	json_decref(j);
	pc_buf_free(&rep.body);
	return status;
}
