/* pincer agent: the daemon's client (the API is in daemon/daemon.h).
 *
 *   pincer agent create NAME --policy FILE --user IDENTITY
 *                       [--restart always|on-failure|never] [--no-start] -- COMMAND...
 *   pincer agent ls [--json]
 *   pincer agent show NAME [--json]
 *   pincer agent start|stop|restart|rm NAME
 *   pincer agent logs NAME [-f]
 *   pincer agent exec NAME [-i] [-e NAME=VALUE]... -- COMMAND...
 *
 * Every command takes --socket PATH. Exit 0 done, 1 the daemon refused,
 * 2 bad usage or input, 125 no daemon reachable.
 */
#include "cli/cli.h"
#include "daemon/daemon.h"

#include <jansson.h>
#include <string.h>

#define POLICY_MAX (1u << 20)

enum {
	OPT_SOCKET = 1 << 0,
	OPT_JSON = 1 << 1,
	OPT_FOLLOW = 1 << 2,
	OPT_POLICY = 1 << 3,
	OPT_USER = 1 << 4,
	OPT_RESTART = 1 << 5,
	OPT_NO_START = 1 << 6,
	OPT_INTERACTIVE = 1 << 7,
	OPT_ENV = 1 << 8,
};

struct opts {
	char *socket; /* the default, or a copy of --socket */
	const char *policy, *user, *restart;
	bool json, follow, no_start, interactive;
	char **env; /* exec: -e NAME=VALUE */
	const char *name;
	char **command; /* after "--" (or the words after NAME, for create) */
	int n_command;
};

static void opts_free(struct opts *o)
{
	free(o->socket);
	pc_strv_free(o->env);
}

struct sub {
	const char *name;
	int (*fn)(const struct sub *s, const struct opts *o);
	unsigned opts;
	const char *synopsis; /* after "pincer agent " */
	const char *help;     /* what it does */
	const char *examples;
};

static void socket_note(FILE *out)
{
	_cleanup_free_ char *sock = daemon_default_socket();
	fprintf(out,
		"      --socket PATH   the daemon's socket (default here: %s;\n"
		"                      $PINCER_SOCKET, else /run/pincer/pincer.sock for\n"
		"                      root, $XDG_RUNTIME_DIR/pincer.sock for a user)\n",
		sock);
}

static void agent_usage(FILE *out)
{
	fprintf(out, "usage: pincer agent COMMAND [ARGS...] [--socket PATH]\n"
		     "\n"
		     "An agent is a program that 'pincer daemon' keeps running in a sandbox of\n"
		     "its own: a 'pincer run' of its command under its policy, for its user\n"
		     "(whose vault secrets it may use), its output kept in a log. When it\n"
		     "exits it is started again as its restart setting says, after 1 s, then\n"
		     "2, 4 ... up to 60 s; 5 exits within 60 s park it as failed until someone\n"
		     "starts it. These commands ask the daemon over its socket: admins create\n"
		     "and delete agents, and everyone else sees and steers only the agents\n"
		     "that are theirs.\n"
		     "\n"
		     "commands:\n"
		     "  create NAME --policy FILE --user IDENTITY [--restart R] [--no-start]\n"
		     "         -- COMMAND...   a new agent (admins), started at once\n"
		     "  ls                     the agents you may see, one line each\n"
		     "  show NAME              one agent in full: state, last exit, restarts\n"
		     "  start NAME             start it (a failed one too)\n"
		     "  stop NAME              SIGTERM, SIGKILL after 3 s; it stays stopped\n"
		     "  restart NAME           stop it, start it again\n"
		     "  rm NAME                stop it and delete it (admins)\n"
		     "  logs NAME [-f]         its output so far; -f keeps following it\n"
		     "  exec NAME -- CMD...    run CMD in its sandbox, beside the agent\n"
		     "\n"
		     "options (every command):\n");
	socket_note(out);
	fprintf(out,
		"\n"
		"exit status: 0 done, 1 the daemon refused (its reason is printed),\n"
		"2 bad usage or input, 125 no daemon reachable.\n"
		"\n"
		"examples:\n"
		"  pincer agent create crm-bot --policy crm.yaml --user alice -- python3 "
		"/srv/crm/bot.py\n"
		"  pincer agent ls\n"
		"  pincer agent logs crm-bot -f\n"
		"  pincer agent stop crm-bot\n"
		"  PINCER_SOCKET=/tmp/d/pincer.sock pincer agent ls --json | jq '.agents[].state'\n"
		"\n"
		"Run 'pincer agent COMMAND --help' for a command's options and examples.\n");
}

static void sub_help(const struct sub *s, FILE *out)
{
	fprintf(out, "usage: pincer agent %s\n\n%s\noptions:\n", s->synopsis, s->help);
	if (s->opts & OPT_POLICY)
		fprintf(out, "  -p, --policy FILE   its policy (checked as 'pincer policy check' "
			     "does);\n"
			     "                      the daemon keeps a copy of the text\n");
	if (s->opts & OPT_USER)
		fprintf(out, "  -u, --user ID       whose agent it is (an identity of the daemon's "
			     "config);\n"
			     "                      they may see and steer it\n");
	if (s->opts & OPT_RESTART)
		fprintf(out,
			"      --restart R     when it exits: always, on-failure (the default: "
			"not\n"
			"                      after exit status 0) or never\n");
	if (s->opts & OPT_NO_START)
		fprintf(out, "      --no-start      create it stopped\n");
	if (s->opts & OPT_INTERACTIVE)
		fprintf(out, "  -i, --interactive   pass your stdin on (else the command reads end "
			     "of file)\n");
	if (s->opts & OPT_ENV)
		fprintf(out, "  -e, --env N=V       set a variable for the command (repeatable); "
			     "it gets\n"
			     "                      the agent's environment otherwise\n");
	if (s->opts & OPT_JSON)
		fprintf(out, "      --json          print the daemon's answer as JSON\n");
	if (s->opts & OPT_FOLLOW)
		fprintf(out, "  -f, --follow        keep printing new output until Ctrl-C or the "
			     "daemon stops\n");
	socket_note(out);
	fprintf(out, "  -h, --help          this text\n\nexamples:\n%s", s->examples);
}

static int usage_error(const struct sub *s, const char *fmt, ...) _printf_(2, 3);

static int usage_error(const struct sub *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "pincer: agent%s%s: ", s ? " " : "", s ? s->name : "");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (s)
		fprintf(stderr,
			"\nusage: pincer agent %s\nRun 'pincer agent %s --help' for more.\n",
			s->synopsis, s->name);
	else
		fprintf(stderr, "\nRun 'pincer agent --help' for usage.\n");
	return PC_EXIT_USAGE;
}

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* ---- options --------------------------------------------------------------- */

static const struct opt_def {
	const char *lng, *shrt;
	unsigned bit;
	bool value;
} opt_defs[] = {
	{"--socket", NULL, OPT_SOCKET, true},	   {"--json", NULL, OPT_JSON, false},
	{"--follow", "-f", OPT_FOLLOW, false},	   {"--policy", "-p", OPT_POLICY, true},
	{"--user", "-u", OPT_USER, true},	   {"--restart", NULL, OPT_RESTART, true},
	{"--no-start", NULL, OPT_NO_START, false}, {"--interactive", "-i", OPT_INTERACTIVE, false},
	{"--env", "-e", OPT_ENV, true},
};

/* -1: go on; else the exit status (help printed, or a usage error). Options
 * may come before or after NAME; "--" ends them. For create, the words
 * after NAME that are not options start the command. */
static int parse_opts(const struct sub *s, int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			o->command = argv + i + 1;
			o->n_command = argc - i - 1;
			break;
		}
		if (a[0] == '-' && a[1]) {
			if (is_help(a)) {
				sub_help(s, stdout);
				return PC_EXIT_OK;
			}
			const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
			size_t klen = eq ? (size_t)(eq - a) : strlen(a);
			const struct opt_def *d = NULL;
			for (size_t k = 0; k < PC_ARRAY_SIZE(opt_defs); k++)
				if ((strlen(opt_defs[k].lng) == klen &&
				     strncmp(opt_defs[k].lng, a, klen) == 0) ||
				    (opt_defs[k].shrt && strcmp(opt_defs[k].shrt, a) == 0))
					d = &opt_defs[k];
			if (!d || !(s->opts & d->bit))
				return usage_error(s, "unknown option '%.*s'", (int)klen, a);
			const char *v = NULL;
			if (d->value) {
				if (eq)
					v = eq + 1;
				else if (i + 1 < argc)
					v = argv[++i];
				else
					return usage_error(s, "%s needs a value", d->lng);
			} else if (eq) {
				return usage_error(s, "%s takes no value", d->lng);
			}
			switch (d->bit) {
			case OPT_SOCKET:
				if (!*v)
					return usage_error(s, "--socket needs a path");
				free(o->socket);
				o->socket = pc_xstrdup(v);
				break;
			case OPT_JSON:
				o->json = true;
				break;
			case OPT_FOLLOW:
				o->follow = true;
				break;
			case OPT_POLICY:
				o->policy = v;
				break;
			case OPT_USER:
				o->user = v;
				break;
			case OPT_RESTART:
				o->restart = v;
				break;
			case OPT_NO_START:
				o->no_start = true;
				break;
			case OPT_INTERACTIVE:
				o->interactive = true;
				break;
			case OPT_ENV:
				if (!strchr(v, '=') || v[0] == '=')
					return usage_error(s, "--env takes NAME=VALUE, not '%s'", v);
				pc_strv_push(&o->env, v);
				break;
			default:
				break;
			}
			continue;
		}
		if (strcmp(s->name, "ls") != 0 && !o->name) {
			o->name = a;
			continue;
		}
		if (strcmp(s->name, "create") == 0 || strcmp(s->name, "exec") == 0) {
			o->command = argv + i;
			o->n_command = argc - i;
			break;
		}
		return usage_error(s, "unexpected argument '%s'", a);
	}
	if (strcmp(s->name, "ls") != 0 && !o->name)
		return usage_error(s, "which agent? (a NAME is missing)");
	bool takes_command = strcmp(s->name, "create") == 0 || strcmp(s->name, "exec") == 0;
	if (!takes_command && o->n_command > 0)
		return usage_error(s, "unexpected argument '%s'", o->command[0]);
	if (strcmp(s->name, "exec") == 0 && o->n_command == 0)
		return usage_error(s, "which command? (give it after --)");
	if (!o->socket)
		o->socket = daemon_default_socket();
	return -1;
}

/* ---- talking to the daemon ------------------------------------------------- */

static void api_reply_freep(struct api_reply *rep)
{
	pc_buf_free(&rep->body);
}

#define _cleanup_json_ _cleanup_(json_decrefp) /* jansson's own */

/* /v1/agents/NAME[suffix], NAME percent-encoded (the daemon judges it). */
static char *agent_path(const char *name, const char *suffix)
{
	_cleanup_buf_ struct pc_buf b = {0};
	pc_buf_puts(&b, "/v1/agents/");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
			pc_buf_append(&b, p, 1);
		else
			pc_buf_printf(&b, "%%%02X", *p);
	}
	pc_buf_puts(&b, suffix);
	return pc_steal_ptr(&b.data);
}

/* The daemon's refusal, as "pincer: <its error text>". */
static int print_refusal(const struct api_reply *rep)
{
	json_error_t jerr;
	json_t *j = json_loads(rep->body.data ? rep->body.data : "", 0, &jerr);
	const char *msg = json_string_value(json_object_get(j, "error"));
	if (msg)
		fprintf(stderr, "pincer: %s\n", msg);
	else
		fprintf(stderr, "pincer: the daemon answered %d: %.200s\n", rep->status,
			rep->body.data && *rep->body.data ? rep->body.data : "(no reason)");
	json_decref(j);
	return PC_EXIT_FAIL;
}

/* One request; on a 2xx answer 0 and *out its JSON (when out is not NULL),
 * else the exit status, with its reason printed. */
static int call(const struct opts *o, const char *method, const char *path, const char *body,
		json_t **out)
{
	struct api_request rq = {
		.socket = o->socket, .method = method, .path = path, .body = body, .stream_fd = -1};
	_cleanup_(api_reply_freep) struct api_reply rep = {0};
	struct pc_error err = {0};
	int r = api_call(&rq, &rep, &err);
	if (r < 0) {
		cli_print_error(&err);
		return PC_EXIT_SETUP;
	}
	if (rep.status < 200 || rep.status >= 300)
		return print_refusal(&rep);
	if (!out)
		return PC_EXIT_OK;
	json_error_t jerr;
	*out = json_loads(rep.body.data ? rep.body.data : "", 0, &jerr);
	if (!*out) {
		fprintf(stderr, "pincer: daemon at %s: its answer is not JSON (%s)\n", o->socket,
			jerr.text);
		return PC_EXIT_SETUP;
	}
	return PC_EXIT_OK;
}

/* ---- printing agents ------------------------------------------------------- */

static const char *str_or(const json_t *j, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s ? s : dflt;
}

/* The command as a shell would take it back. */
static void format_command(struct pc_buf *b, const json_t *cmd)
{
	size_t i;
	json_t *v;
	json_array_foreach(cmd, i, v)
	{
		const char *s = json_string_value(v);
		if (!s)
			s = "?";
		if (i)
			pc_buf_puts(b, " ");
		if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789_./=:,+@%-") == strlen(s)) {
			pc_buf_puts(b, s);
			continue;
		}
		pc_buf_puts(b, "'");
		for (; *s; s++)
			if (*s == '\'')
				pc_buf_puts(b, "'\\''");
			else
				pc_buf_append(b, s, 1);
		pc_buf_puts(b, "'");
	}
	pc_buf_append(b, "", 0);
}

/* "running, pid 42" / "failed: crash loop ..." / "backoff, 3 restarts". */
static void format_state(struct pc_buf *b, const json_t *a)
{
	const char *state = str_or(a, "state", "?");
	pc_buf_puts(b, state);
	json_t *pid = json_object_get(a, "pid");
	if (json_is_integer(pid))
		pc_buf_printf(b, ", pid %lld", (long long)json_integer_value(pid));
	const char *why = json_string_value(json_object_get(a, "failed_reason"));
	if (why)
		pc_buf_printf(b, ": %s", why);
	json_t *n = json_object_get(a, "restarts");
	if (json_is_integer(n) && json_integer_value(n) > 0)
		pc_buf_printf(b, " (%lld restart%s)", (long long)json_integer_value(n),
			      json_integer_value(n) == 1 ? "" : "s");
	pc_buf_append(b, "", 0);
}

static void format_exit(struct pc_buf *b, const json_t *e)
{
	json_t *sig = json_object_get(e, "signal");
	json_t *code = json_object_get(e, "code");
	if (json_is_integer(sig) && json_integer_value(sig) > 0) {
		int s = (int)json_integer_value(sig);
		const char *abbrev = s < 65 ? sigabbrev_np(s) : NULL;
		pc_buf_printf(b, "killed by signal %d%s%s", s, abbrev ? " SIG" : "",
			      abbrev ? abbrev : "");
	} else if (json_is_integer(code)) {
		pc_buf_printf(b, "exit status %lld", (long long)json_integer_value(code));
	} else {
		pc_buf_puts(b, "?");
	}
	if (json_is_true(json_object_get(e, "oom")))
		pc_buf_puts(b, ", out of memory");
	const char *at = str_or(e, "at", NULL);
	if (at)
		pc_buf_printf(b, " at %s", at);
	pc_buf_append(b, "", 0);
}

static void print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

/* "NAME: STATE" after an act on it. */
static void print_outcome(const json_t *a, const char *what)
{
	_cleanup_buf_ struct pc_buf st = {0};
	format_state(&st, a);
	printf("%s: %s%s%s\n", str_or(a, "name", "?"), what ? what : "", what ? ", " : "", st.data);
}

/* ---- the commands ---------------------------------------------------------- */

static int do_create(const struct sub *s, const struct opts *o)
{
	if (!o->policy)
		return usage_error(s, "--policy FILE is missing (see 'pincer policy check')");
	if (!o->user)
		return usage_error(s, "--user IDENTITY is missing (whose agent is it?)");
	if (o->n_command == 0)
		return usage_error(s, "the COMMAND is missing (after --)");
	if (o->restart && strcmp(o->restart, "always") != 0 &&
	    strcmp(o->restart, "on-failure") != 0 && strcmp(o->restart, "never") != 0)
		return usage_error(s, "--restart '%s': use always, on-failure or never",
				   o->restart);
	struct pc_error err = {0};
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (pc_read_file(o->policy, POLICY_MAX, &text, &len, &err) < 0) {
		fprintf(stderr, "pincer: agent create: policy: %s\n", err.msg);
		return PC_EXIT_USAGE;
	}
	_cleanup_json_ json_t *policy = strlen(text) == len ? json_stringn(text, len) : NULL;
	if (!policy) {
		fprintf(stderr, "pincer: agent create: policy %s is not UTF-8 text\n", o->policy);
		return PC_EXIT_USAGE;
	}
	_cleanup_json_ json_t *cmd = json_array();
	for (int i = 0; i < o->n_command; i++) {
		json_t *w = json_string(o->command[i]);
		if (!w) {
			fprintf(stderr, "pincer: agent create: command word %d is not UTF-8\n",
				i + 1);
			return PC_EXIT_USAGE;
		}
		json_array_append_new(cmd, w);
	}
	json_t *user = json_string(o->user), *name = json_string(o->name);
	if (!user || !name) {
		json_decref(user);
		json_decref(name);
		fprintf(stderr, "pincer: agent create: the name and user must be UTF-8\n");
		return PC_EXIT_USAGE;
	}
	_cleanup_json_ json_t *req = json_object();
	json_object_set_new(req, "name", name);
	json_object_set(req, "policy", policy);
	json_object_set_new(req, "user", user);
	json_object_set(req, "command", cmd);
	if (o->restart)
		json_object_set_new(req, "restart", json_string(o->restart));
	json_object_set_new(req, "start", json_boolean(!o->no_start));
	_cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);

	_cleanup_json_ json_t *a = NULL;
	int r = call(o, "POST", "/v1/agents", body, &a);
	if (r)
		return r;
	print_outcome(a, "created");
	return PC_EXIT_OK;
}

static int do_ls(const struct sub *s, const struct opts *o)
{
	(void)s;
	_cleanup_json_ json_t *j = NULL;
	int r = call(o, "GET", "/v1/agents", NULL, &j);
	if (r)
		return r;
	if (o->json) {
		print_json(j);
		return PC_EXIT_OK;
	}
	json_t *agents = json_object_get(j, "agents");
	size_t n = json_array_size(agents);
	_cleanup_strv_ char **cells = pc_xcalloc(n * 6 + 7, sizeof(char *));
	static const char *const head[6] = {"NAME", "USER", "STATE", "RESTARTS", "PID", "COMMAND"};
	int width[6] = {0};
	for (size_t i = 0; i <= n; i++) {
		char **row = cells + i * 6;
		if (i == 0) {
			for (int c = 0; c < 6; c++)
				row[c] = pc_xstrdup(head[c]);
		} else {
			json_t *a = json_array_get(agents, i - 1);
			json_t *pid = json_object_get(a, "pid");
			_cleanup_buf_ struct pc_buf cmd = {0};
			format_command(&cmd, json_object_get(a, "command"));
			row[0] = pc_xstrdup(str_or(a, "name", "?"));
			row[1] = pc_xstrdup(str_or(a, "user", "?"));
			row[2] = pc_xstrdup(str_or(a, "state", "?"));
			row[3] = pc_xasprintf("%lld", (long long)json_integer_value(
							      json_object_get(a, "restarts")));
			row[4] = json_is_integer(pid)
					 ? pc_xasprintf("%lld", (long long)json_integer_value(pid))
					 : pc_xstrdup("-");
			row[5] = pc_steal_ptr(&cmd.data);
			if (!row[5])
				row[5] = pc_xstrdup("");
		}
		for (int c = 0; c < 5; c++)
			if ((int)strlen(row[c]) > width[c])
				width[c] = (int)strlen(row[c]);
	}
	for (size_t i = 0; i <= n; i++) {
		char **row = cells + i * 6;
		printf("%-*s  %-*s  %-*s  %*s  %*s  %s\n", width[0], row[0], width[1], row[1],
		       width[2], row[2], width[3], row[3], width[4], row[4], row[5]);
	}
	return PC_EXIT_OK;
}

static int do_show(const struct sub *s, const struct opts *o)
{
	(void)s;
	_cleanup_free_ char *path = agent_path(o->name, "");
	_cleanup_json_ json_t *a = NULL;
	int r = call(o, "GET", path, NULL, &a);
	if (r)
		return r;
	if (o->json) {
		print_json(a);
		return PC_EXIT_OK;
	}
	static const char *const order[] = {
		"name",	    "user",	 "state",	  "pid",	   "command", "restart",
		"restarts", "last_exit", "failed_reason", "policy_sha256", "created", "started",
	};
	for (size_t k = 0; k < PC_ARRAY_SIZE(order); k++) {
		json_t *v = json_object_get(a, order[k]);
		if (!v)
			continue;
		_cleanup_buf_ struct pc_buf val = {0};
		if (strcmp(order[k], "command") == 0)
			format_command(&val, v);
		else if (strcmp(order[k], "last_exit") == 0 && json_is_object(v))
			format_exit(&val, v);
		else if (json_is_string(v))
			pc_buf_puts(&val, json_string_value(v));
		else if (json_is_null(v))
			pc_buf_puts(&val, "-");
		else {
			_cleanup_free_ char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			pc_buf_puts(&val, txt ? txt : "?");
		}
		char key[32];
		snprintf(key, sizeof(key), "%s:", order[k]);
		printf("%-14s %s\n", key, val.data ? val.data : "");
	}
	/* fields this client does not know yet, as JSON */
	const char *key;
	json_t *v;
	json_object_foreach(a, key, v)
	{
		bool known = false;
		for (size_t k = 0; k < PC_ARRAY_SIZE(order); k++)
			known |= strcmp(order[k], key) == 0;
		if (known)
			continue;
		_cleanup_free_ char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%s: %s\n", key, txt ? txt : "");
	}
	return PC_EXIT_OK;
}

/* start, stop, restart: POST /v1/agents/NAME/ACT */
static int do_act(const struct sub *s, const struct opts *o)
{
	_cleanup_free_ char *suffix = pc_xasprintf("/%s", s->name);
	_cleanup_free_ char *path = agent_path(o->name, suffix);
	_cleanup_json_ json_t *a = NULL;
	int r = call(o, "POST", path, NULL, &a);
	if (r)
		return r;
	print_outcome(a, strcmp(s->name, "revoke-network") == 0	 ? "network revoked"
			 : strcmp(s->name, "restore-network") == 0 ? "network restored"
								    : NULL);
	return PC_EXIT_OK;
}

static int do_rm(const struct sub *s, const struct opts *o)
{
	(void)s;
	_cleanup_free_ char *path = agent_path(o->name, "");
	_cleanup_json_ json_t *j = NULL;
	int r = call(o, "DELETE", path, NULL, &j);
	if (r)
		return r;
	printf("%s: deleted\n", str_or(j, "deleted", o->name));
	return PC_EXIT_OK;
}

static int do_logs(const struct sub *s, const struct opts *o)
{
	(void)s;
	_cleanup_free_ char *path = agent_path(o->name, o->follow ? "/logs?follow=1" : "/logs");
	fflush(stdout);
	struct api_request rq = {.socket = o->socket,
				 .method = "GET",
				 .path = path,
				 .stream_fd = STDOUT_FILENO,
				 .follow = o->follow};
	_cleanup_(api_reply_freep) struct api_reply rep = {0};
	struct pc_error err = {0};
	int r = api_call(&rq, &rep, &err);
	if (r == -ECONNRESET && o->follow && rep.status >= 200 && rep.status < 300) {
		/* following ends when the daemon goes away */
		fprintf(stderr, "pincer: agent %s: the log stream ended (the daemon stopped)\n",
			o->name);
		return PC_EXIT_OK;
	}
	if (r < 0) {
		cli_print_error(&err);
		return PC_EXIT_SETUP;
	}
	if (rep.status < 200 || rep.status >= 300)
		return print_refusal(&rep);
	return PC_EXIT_OK;
}

static int do_exec(const struct sub *s, const struct opts *o)
{
	(void)s;
	return agent_exec(o->socket, o->name, o->command, o->env, o->interactive);
}

static const struct sub subs[] = {
	{"create", do_create, OPT_SOCKET | OPT_POLICY | OPT_USER | OPT_RESTART | OPT_NO_START,
	 "create NAME --policy FILE --user IDENTITY [--restart always|on-failure|never]\n"
	 "                           [--no-start] [--socket PATH] -- COMMAND [ARGS...]",
	 "Create an agent (admins only) and start it: the daemon runs COMMAND as\n"
	 "'pincer run --policy FILE --as IDENTITY -- COMMAND' would (in the\n"
	 "daemon's folder, not yours: give paths in full), keeps it running as\n"
	 "--restart says, and sends its output to the agent's log. NAME is 1-64 of\n"
	 "a-z, 0-9 and '-', starting with a letter. The policy's text is sent to\n"
	 "the daemon, which checks it and keeps its own copy: later edits to FILE\n"
	 "change nothing.\n",
	 "  pincer agent create crm-bot --policy crm.yaml --user alice -- python3 /srv/crm/bot.py\n"
	 "  pincer agent create nightly -p job.yaml -u ops --restart never -- /srv/sync.sh\n"
	 "  pincer agent create spare -p bot.yaml -u bob --no-start -- node /srv/bot/agent.js\n"},
	{"ls", do_ls, OPT_SOCKET | OPT_JSON, "ls [--json] [--socket PATH]",
	 "List the agents you may see (all of them for an admin), sorted by name:\n"
	 "NAME USER STATE RESTARTS PID COMMAND. STATE is running, stopped, backoff\n"
	 "(exited; waiting to start again) or failed (parked after a crash loop:\n"
	 "'pincer agent show NAME' says why).\n",
	 "  pincer agent ls\n"
	 "  pincer agent ls --json | jq -r '.agents[] | select(.state == \"failed\") | .name'\n"},
	{"show", do_show, OPT_SOCKET | OPT_JSON, "show NAME [--json] [--socket PATH]",
	 "Show one agent in full, one 'key: value' line each: its state and pid,\n"
	 "command, restart setting and count, last exit, why it failed, its\n"
	 "policy's SHA-256, when it was created and last started.\n",
	 "  pincer agent show crm-bot\n"
	 "  pincer agent show crm-bot --json | jq .last_exit\n"},
	{"start", do_act, OPT_SOCKET, "start NAME [--socket PATH]",
	 "Start the agent (running already: nothing changes). A failed agent is\n"
	 "un-parked: its crash count starts again.\n",
	 "  pincer agent start crm-bot\n"},
	{"stop", do_act, OPT_SOCKET, "stop NAME [--socket PATH]",
	 "Stop the agent: SIGTERM, then SIGKILL after 3 s. It stays stopped, also\n"
	 "across daemon restarts, until it is started again.\n",
	 "  pincer agent stop crm-bot\n"},
	{"restart", do_act, OPT_SOCKET, "restart NAME [--socket PATH]",
	 "Stop the agent and start it again (a new sandbox, the same policy).\n",
	 "  pincer agent restart crm-bot\n"},
	{"revoke-network", do_act, OPT_SOCKET, "revoke-network NAME [--socket PATH]",
	 "Cut the agent's network at once: its run gets its policy without egress\n"
	 "allow rules (open connections close), across restarts, until\n"
	 "restore-network. The agent's user or an admin may; the audit log says\n"
	 "who did.\n",
	 "  pincer agent revoke-network crm-bot\n"},
	{"restore-network", do_act, OPT_SOCKET, "restore-network NAME [--socket PATH]",
	 "Give the agent its policy's egress rules back.\n",
	 "  pincer agent restore-network crm-bot\n"},
	{"rm", do_rm, OPT_SOCKET, "rm NAME [--socket PATH]",
	 "Stop the agent and delete it (admins only).\n", "  pincer agent rm crm-bot\n"},
	{"logs", do_logs, OPT_SOCKET | OPT_FOLLOW, "logs NAME [-f] [--socket PATH]",
	 "Print the agent's output so far (its stdout and stderr, as written). With\n"
	 "-f keep printing what it writes next, until Ctrl-C or until the daemon\n"
	 "stops.\n",
	 "  pincer agent logs crm-bot | tail -n 50\n"
	 "  pincer agent logs crm-bot -f\n"},
	{"exec", do_exec, OPT_SOCKET | OPT_INTERACTIVE | OPT_ENV,
	 "exec NAME [-i] [-e NAME=VALUE]... [--socket PATH] -- COMMAND [ARGS...]",
	 "Run COMMAND inside the running agent's sandbox, beside the agent: the same\n"
	 "filesystem view, network (through its gate), limits, Landlock rules and\n"
	 "seccomp filter, as uid 1000 without capabilities, in the agent's folder\n"
	 "and environment. Its output comes here; pincer exits with its status\n"
	 "(128+N if killed by signal N; 126/127 if it could not be run or found;\n"
	 "1 if the daemon refused). Ctrl-C is sent on to it. The agent's user\n"
	 "and admins may; the audit log records who ran what.\n",
	 "  pincer agent exec crm-bot -- ls -la /tmp\n"
	 "  pincer agent exec crm-bot -- curl -sI https://api.example.com\n"
	 "  tar c data | pincer agent exec -i crm-bot -- tar x -C /tmp\n"},
};

int cmd_agent(int argc, char **argv)
{
	if (argc < 2) {
		agent_usage(stderr);
		return PC_EXIT_USAGE;
	}
	/* `pincer agent --socket PATH CMD ...` too */
	const char *socket = NULL;
	int i = 1;
	while (i < argc && strncmp(argv[i], "--socket", 8) == 0 &&
	       (argv[i][8] == '\0' || argv[i][8] == '=')) {
		if (argv[i][8] == '=') {
			socket = argv[i] + 9;
			i++;
		} else if (i + 1 < argc) {
			socket = argv[i + 1];
			i += 2;
		} else {
			return usage_error(NULL, "--socket needs a value");
		}
	}
	if (i >= argc) {
		agent_usage(stderr);
		return PC_EXIT_USAGE;
	}
	const char *name = argv[i];
	if (is_help(name) || strcmp(name, "help") == 0) {
		agent_usage(stdout);
		return PC_EXIT_OK;
	}
	for (size_t k = 0; k < PC_ARRAY_SIZE(subs); k++) {
		const struct sub *s = &subs[k];
		if (strcmp(name, s->name) != 0)
			continue;
		_cleanup_(opts_free) struct opts o = {0};
		if (socket && *socket)
			o.socket = pc_xstrdup(socket);
		int r = parse_opts(s, argc - i, argv + i, &o);
		if (r >= 0)
			return r;
		return s->fn(s, &o);
	}
	return usage_error(NULL, "unknown command '%s'", name);
}
