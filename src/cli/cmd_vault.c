/* pincer vault: secrets kept encrypted for the gate to inject.
 *
 *   pincer vault set NAME [--owner ID] [--from-file FILE]   (value on stdin)
 *   pincer vault get NAME --reveal [--owner ID]
 *   pincer vault list [--owner ID]
 *   pincer vault rm NAME [--owner ID]
 *   pincer vault rotate NAME [--owner ID] [--keep DUR] [--from-file FILE]
 *
 * A value never comes from the command line (every user sees argv in ps and
 * /proc, and shells keep it in history), is never printed but by get
 * --reveal, and never reaches an error message or the audit log.
 */
#include "cli/cli.h"
#include "audit/audit.h"
#include "vault/vault.h"

#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <time.h>

static const char *default_vault_text(void)
{
	return geteuid() == 0 ? "/var/lib/pincer/vault.db" : "$XDG_STATE_HOME/pincer/vault.db";
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pincer vault set NAME [--owner ID] [--from-file FILE]  < value\n"
		"       pincer vault get NAME --reveal [--owner ID]\n"
		"       pincer vault list [--owner ID]\n"
		"       pincer vault rm NAME [--owner ID]\n"
		"       pincer vault rotate NAME [--owner ID] [--keep DUR] [--from-file FILE]  < "
		"value\n"
		"\n"
		"The vault keeps the secrets (API keys, tokens) that the gate adds to an\n"
		"agent's requests, so the agent itself never holds them. Each value is\n"
		"encrypted with AES-256-GCM and bound to its name and owner; the whole\n"
		"file is authenticated, so a wrong key or a changed byte is an error.\n"
		"\n"
		"A secret belongs to an owner identity: a person (alice, the default is\n"
		"you), a group (group:sales) or an agent's service identity (agent:crm-bot).\n"
		"\n"
		"commands:\n"
		"  set      store a secret read from stdin (or --from-file); one trailing\n"
		"           newline is dropped. Replaces an existing value at once\n"
		"  get      print a secret; only with --reveal, and recorded in the audit log\n"
		"  list     names, owners, created and rotated times (never values)\n"
		"  rm       delete a secret\n"
		"  rotate   replace a secret's value; the old one still works for --keep\n"
		"           (default 10m) so calls in flight finish, then it is purged\n"
		"\n"
		"options:\n"
		"      --owner ID        the identity the secret belongs to (default: you)\n"
		"      --from-file FILE  read the value from FILE instead of stdin\n"
		"      --keep DUR        rotate: how long the old value stays valid (10m,\n"
		"                        1h, 30s; 0 drops it now)\n"
		"      --reveal          get: yes, print the secret\n"
		"      --vault FILE      the store (default: $PINCER_VAULT_FILE, else %s)\n"
		"      --audit FILE      the audit log (default: the one pincer run writes)\n"
		"  -h, --help            this text\n"
		"\n"
		"The key is $PINCER_VAULT_KEY_FILE, else STORE.key, made (32 random bytes,\n"
		"mode 0600) by the first 'set'. Store and key must be yours and mode 0600:\n"
		"anything else is refused. Keep a copy of the key: without it the\n"
		"secrets are gone.\n"
		"\n"
		"exit status: 0 ok, 1 no such secret, 2 bad usage, refused or corrupt.\n"
		"\n"
		"examples:\n"
		"  pincer vault set anthropic < ~/keys/anthropic.txt\n"
		"  printf %%s \"$TOKEN\" | pincer vault set github --owner group:sales\n"
		"  pincer vault set crm --owner agent:crm-bot --from-file crm.key\n"
		"  pincer vault list\n"
		"  pincer vault rotate anthropic --keep 30m < new-key.txt\n"
		"  pincer vault get anthropic --reveal | wc -c\n"
		"  pincer vault rm github --owner group:sales\n",
		default_vault_text());
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "pincer: vault: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'pincer vault --help' for usage.\n");
	return PC_EXIT_USAGE;
}

/* The error's exit status: not found is 1, everything else refused (2). */
static int fail(const struct pc_error *err)
{
	cli_print_error(err);
	return err->code == ENOENT ? PC_EXIT_FAIL : PC_EXIT_USAGE;
}

/* ---- arguments -------------------------------------------------------------- */

struct args {
	const char *cmd;
	const char *name;
	const char *owner, *from_file, *keep, *vault, *audit;
	bool reveal;
	bool extra; /* a second positional argument: never shown, may be a secret */
};

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Options are parsed here, not by getopt: an unknown "--value=sk-..." must
 * not be echoed whole. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct {
		const char *name;
		size_t off;
	} valued[] = {
		{"--owner", offsetof(struct args, owner)},
		{"--from-file", offsetof(struct args, from_file)},
		{"--keep", offsetof(struct args, keep)},
		{"--vault", offsetof(struct args, vault)},
		{"--audit", offsetof(struct args, audit)},
	};
	bool dashdash = false;
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		if (dashdash || s[0] != '-' || s[1] == '\0') {
			if (a->name)
				a->extra = true;
			else
				a->name = s;
			continue;
		}
		if (strcmp(s, "--") == 0) {
			dashdash = true;
			continue;
		}
		if (strcmp(s, "--reveal") == 0) {
			a->reveal = true;
			continue;
		}
		const char *eq = strchr(s, '=');
		size_t klen = eq ? (size_t)(eq - s) : strlen(s);
		bool found = false;
		for (size_t k = 0; k < PC_ARRAY_SIZE(valued); k++) {
			if (strlen(valued[k].name) != klen || strncmp(s, valued[k].name, klen) != 0)
				continue;
			const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!val)
				return usage_error("%s: %s needs a value", a->cmd, valued[k].name);
			*(const char **)((char *)a + valued[k].off) = val;
			found = true;
		}
		if (found)
			continue;
		if (klen >= 3 &&
		    (strncmp(s, "--value", klen) == 0 || strncmp(s, "--secret", klen) == 0))
			a->extra = true; /* refused below with the argv explanation */
		else
			return usage_error("%s: unknown option '%.*s'", a->cmd, (int)klen, s);
	}
	return 0;
}

/* ---- reading a value ------------------------------------------------------------ */

/* Read a value from fd into a buffer the caller wipes. A terminal is read
 * with echo off, one line. One trailing newline is dropped. */
static int read_value(int fd, const char *what, const char *name, uint8_t **out, size_t *len)
{
	const size_t cap = VAULT_VALUE_MAX + 2;
	uint8_t *buf = pc_xmalloc(cap);
	size_t got = 0;
	struct termios saved, quiet;
	bool tty = isatty(fd) && tcgetattr(fd, &saved) == 0;
	if (tty) {
		fprintf(stderr, "value for secret %s (input hidden, then Enter): ", name);
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	int e = 0;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (tty && buf[got - 1] == '\n')
			break;
	}
	if (tty) {
		tcsetattr(fd, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	int r = 0;
	if (e)
		r = fprintf(stderr, "pincer: vault: cannot read the value for %s from %s: %s\n",
			    name, what, strerror(e));
	else if (got == 0)
		r = fprintf(stderr,
			    "pincer: vault: the value for %s from %s is empty: give it on stdin, "
			    "e.g. pincer vault set %s < key.txt\n",
			    name, what, name);
	else if (got > VAULT_VALUE_MAX)
		r = fprintf(stderr, "pincer: vault: the value for %s from %s is over %d bytes\n",
			    name, what, VAULT_VALUE_MAX);
	if (r) {
		vault_wipe(buf, cap);
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*len = got;
	return 0;
}

static int get_value(const struct args *a, uint8_t **out, size_t *len)
{
	if (!a->from_file || strcmp(a->from_file, "-") == 0)
		return read_value(STDIN_FILENO, "stdin", a->name, out, len);
	_cleanup_close_ int fd = open(a->from_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "pincer: vault: cannot read %s: %s\n", a->from_file,
			strerror(errno));
		return -errno;
	}
	return read_value(fd, a->from_file, a->name, out, len);
}

/* ---- audit -------------------------------------------------------------------- */

/* Records name the secret, its owner and who acted: never the value. */
static int record(struct audit_log *log, const char *action, const char *name, const char *owner,
		  const char *reason, struct pc_error *err)
{
	_cleanup_free_ char *me = vault_default_identity();
	_cleanup_free_ char *why =
		pc_xasprintf("secret %s (owner %s) %s by %s", name, owner, reason, me);
	struct audit_field f[] = {
		AUDIT_STR("action", action),
		AUDIT_STR("secret", name),
		AUDIT_STR("owner", owner),
		AUDIT_STR("user", me),
	};
	int r = audit_write(log, AUDIT_VAULT, "-", "-", AUDIT_ALLOW, why, f, PC_ARRAY_SIZE(f), err);
	return r < 0 ? pc_error_prefix(err, "audit log %s", audit_path(log)) : 0;
}

/* ---- commands ------------------------------------------------------------------- */

static void fmt_time(uint64_t secs, char *out, size_t n)
{
	if (!secs) {
		snprintf(out, n, "-");
		return;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static int do_list(const struct args *a, struct vault *v)
{
	size_t shown = 0;
	for (size_t i = 0; i < vault_count(v); i++) {
		struct vault_info in;
		vault_info(v, i, &in);
		if (a->owner && strcmp(a->owner, in.owner) != 0)
			continue;
		if (shown++ == 0)
			printf("%-24s %-20s %-21s %-21s %s\n", "NAME", "OWNER", "CREATED",
			       "ROTATED", "PREVIOUS KEPT UNTIL");
		char c[32], r[32], p[32];
		fmt_time(in.created_s, c, sizeof(c));
		fmt_time(in.rotated_s, r, sizeof(r));
		fmt_time(in.previous_until_ms / 1000, p, sizeof(p));
		printf("%-24s %-20s %-21s %-21s %s\n", in.name, in.owner, c, r, p);
	}
	if (!shown)
		printf("no secrets%s%s in %s\n", a->owner ? " for " : "", a->owner ? a->owner : "",
		       vault_path(v));
	return PC_EXIT_OK;
}

static int do_get(const struct args *a, struct vault **vp, struct audit_log *log)
{
	struct pc_error err = {0};
	struct vault_secret s = {0};
	if (vault_get(*vp, a->name, a->owner, &s, &err) < 0)
		return fail(&err);
	/* Recorded before it is shown: a reveal the log cannot hold is refused. */
	int r = record(log, "reveal", a->name, a->owner, "revealed", &err);
	if (r == 0)
		r = vault_commit(*vp, &err); /* a purge that was due */
	/* the store's lock is not held while stdout may block */
	vault_close(*vp);
	*vp = NULL;
	if (r < 0) {
		vault_secret_wipe(&s);
		return fail(&err);
	}
	bool ok = fwrite(s.value, 1, s.len, stdout) == s.len && fputc('\n', stdout) != EOF &&
		  fflush(stdout) == 0;
	vault_secret_wipe(&s);
	return ok ? PC_EXIT_OK : PC_EXIT_USAGE;
}

/* How long a rotated-out value stays valid: "0" ends it at once. */
#define VAULT_KEEP_MAX_MS (7ULL * 24 * 3600 * 1000)
static int parse_keep(const char *s, uint64_t *ms)
{
	if (!s) {
		*ms = 10 * 60 * 1000;
		return 0;
	}
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (pc_parse_duration(s, ms) < 0)
		return usage_error("rotate: --keep %s is not a duration (10m, 1h, 30s, 0)", s);
	if (*ms > VAULT_KEEP_MAX_MS)
		return usage_error("rotate: --keep %s is longer than 7 days: an old value should "
				   "not outlive its replacement by that much",
				   s);
	return 0;
}

/* The value comes in before the store is opened: its lock is never held
 * while someone types, or while a pipe waits. */
static int do_change(const struct args *a, struct vault *v, struct audit_log *log, uint8_t *val,
		     size_t len, uint64_t keep_ms)
{
	struct pc_error err = {0};
	int r;
	const char *action = a->cmd, *what;
	if (strcmp(a->cmd, "rm") == 0) {
		r = vault_remove(v, a->name, a->owner, &err);
		what = "removed";
	} else {
		if (strcmp(a->cmd, "set") == 0) {
			r = vault_set(v, a->name, a->owner, val, len, &err);
			what = r == 1 ? "replaced" : "stored";
		} else {
			r = vault_rotate(v, a->name, a->owner, val, len, keep_ms, &err);
			what = "rotated";
		}
	}
	if (r < 0)
		return fail(&err);
	if (vault_commit(v, &err) < 0)
		return fail(&err);
	if (record(log, action, a->name, a->owner, what, &err) < 0) {
		fprintf(stderr, "pincer: vault: secret %s (owner %s) %s, but not recorded: %s\n",
			a->name, a->owner, what, err.msg);
		return PC_EXIT_USAGE;
	}
	printf("secret %s (owner %s) %s in %s\n", a->name, a->owner, what, vault_path(v));
	return PC_EXIT_OK;
}

int cmd_vault(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return PC_EXIT_USAGE;
	}
	if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return PC_EXIT_OK;
	}
	for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (is_help(argv[i])) {
			usage(stdout);
			return PC_EXIT_OK;
		}
	struct args a = {.cmd = argv[1]};
	static const char *const cmds[] = {"set", "get", "list", "rm", "rotate"};
	bool known = false;
	for (size_t i = 0; i < PC_ARRAY_SIZE(cmds); i++)
		known = known || strcmp(a.cmd, cmds[i]) == 0;
	if (!known && a.cmd[0] == '-')
		return usage_error("a command comes first: set, get, list, rm or rotate");
	if (!known)
		return usage_error("unknown command '%s' (set, get, list, rm, rotate)", a.cmd);
	int r = parse_args(argc, argv, &a);
	if (r)
		return r;
	bool takes_value = strcmp(a.cmd, "set") == 0 || strcmp(a.cmd, "rotate") == 0;
	bool is_list = strcmp(a.cmd, "list") == 0;
	if (a.extra && takes_value)
		return usage_error(
			"%s: refusing a secret on the command line (every user can read it in "
			"ps and /proc, and your shell keeps it in its history); give the value on "
			"stdin or with --from-file: pincer vault %s %s < key.txt",
			a.cmd, a.cmd, a.name ? a.name : "NAME");
	if (a.extra)
		return usage_error("%s: one NAME only (the extra argument is not shown)", a.cmd);
	if (is_list && a.name)
		return usage_error("list takes no NAME (use --owner to filter)");
	if (!is_list && !a.name)
		return usage_error("%s: which secret? (pincer vault %s NAME)", a.cmd, a.cmd);
	if (!takes_value && a.from_file)
		return usage_error("%s: --from-file is for set and rotate", a.cmd);
	if (a.keep && strcmp(a.cmd, "rotate") != 0)
		return usage_error("%s: --keep is for rotate", a.cmd);
	if (a.reveal && strcmp(a.cmd, "get") != 0)
		return usage_error("%s: --reveal is for get", a.cmd);
	if (a.name && !vault_valid_name(a.name))
		return usage_error("'%s' is not a secret name (1-%d of A-Z a-z 0-9 . _ @ -)",
				   a.name, VAULT_NAME_MAX);
	if (a.owner && !vault_valid_identity(a.owner))
		return usage_error("--owner '%s' is not an identity (a user name, group:NAME or "
				   "agent:NAME)",
				   a.owner);
	if (strcmp(a.cmd, "get") == 0 && !a.reveal)
		return usage_error(
			"get: refusing to print secret %s without --reveal: it would "
			"land on your screen, in scrollback and in logs, and every reveal "
			"is recorded in the audit log (pincer vault get %s --reveal)",
			a.name, a.name);
	_cleanup_free_ char *me = vault_default_identity();
	if (!a.owner && !is_list)
		a.owner = me;

	struct pc_error err = {0};
	/* The audit log is opened before anything changes, so a log that
	 * cannot be written stops the change rather than following it. */
	_cleanup_audit_ struct audit_log *log = NULL;
	if (!is_list && audit_open(a.audit, &log, &err) < 0)
		return fail(&err);
	uint64_t keep_ms = 0;
	uint8_t *val = NULL;
	size_t len = 0;
	if (takes_value) {
		if (strcmp(a.cmd, "rotate") == 0 && (r = parse_keep(a.keep, &keep_ms)) != 0)
			return r;
		if (get_value(&a, &val, &len) < 0)
			return PC_EXIT_USAGE;
	}
	struct vault_options o = {
		.path = a.vault, .write = true, .create = strcmp(a.cmd, "set") == 0};
	_cleanup_vault_ struct vault *v = NULL;
	r = vault_open(&o, &v, &err);
	if (r < 0 && val) {
		vault_wipe(val, VAULT_VALUE_MAX + 2);
		free(val);
	}
	if (r == -ENOENT && is_list && !strstr(err.msg, "key")) {
		printf("no secrets (%s)\n", err.msg);
		return PC_EXIT_OK;
	}
	if (r < 0)
		return fail(&err);
	if (is_list) {
		r = do_list(&a, v);
		if (vault_commit(v, &err) < 0) /* a purge that was due */
			return fail(&err);
		return r;
	}
	if (strcmp(a.cmd, "get") == 0)
		return do_get(&a, &v, log);
	r = do_change(&a, v, log, val, len, keep_ms);
	if (val) {
		vault_wipe(val, VAULT_VALUE_MAX + 2);
		free(val);
	}
	return r;
}
