/* One box in the foreground: what `pincer run` does from policy to exit. */
#include "box/internal.h"
#include "gate/gate.h"
#include "gate/stats.h"
#include "sandbox/sandbox.h"
#include "vault/vault.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/signalfd.h>

void box_new_run_id(char out[17])
{
	uint8_t r[8];
	pc_random(r, sizeof(r));
	pc_hex(r, sizeof(r), out);
}

char *box_join_argv(char *const *argv)
{
	_cleanup_buf_ struct pc_buf b = {0};
	for (size_t i = 0; argv && argv[i]; i++) {
		if (i)
			pc_buf_puts(&b, " ");
		bool plain = argv[i][0] && strpbrk(argv[i], " \t\n'\"\\$`") == NULL;
		if (plain) {
			pc_buf_puts(&b, argv[i]);
			continue;
		}
		pc_buf_puts(&b, "'");
		for (const char *c = argv[i]; *c; c++) {
			if (*c == '\'')
				pc_buf_puts(&b, "'\\''");
			else
				pc_buf_append(&b, c, 1);
		}
		pc_buf_puts(&b, "'");
	}
	pc_buf_append(&b, "", 0);
	return pc_steal_ptr(&b.data);
}

/* The agent starts where the user is, when that folder is in its view. */
static char *inside_cwd(const struct policy *p)
{
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	const struct pc_path *lists[] = {p->fs.read_write, p->fs.read_only, p->fs.system};
	const size_t counts[] = {p->fs.n_read_write, p->fs.n_read_only, p->fs.n_system};
	for (size_t l = 0; l < PC_ARRAY_SIZE(lists); l++) {
		for (size_t i = 0; i < counts[l]; i++) {
			const char *g = lists[l][i].path;
			size_t n = strlen(g);
			if (strncmp(cwd, g, n) == 0 && (cwd[n] == '\0' || cwd[n] == '/'))
				return pc_steal_ptr(&cwd);
		}
	}
	return NULL;
}

/* The audit log's real path (its folder resolved), which is what a grant
 * resolves to when it would contain it. */
static char *canonical_file(const char *path)
{
	_cleanup_free_ char *copy = pc_xstrdup(path);
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
	if (slash)
		*slash = '\0';
	_cleanup_free_ char *real = realpath(dir, NULL);
	if (!real)
		return pc_xstrdup(path);
	return pc_xasprintf("%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
}

static int start_status(int code)
{
	if (code == ENOENT)
		return 127;
	if (code == EACCES || code == ENOEXEC || code == EISDIR)
		return 126;
	return 125;
}

static void describe_exit(const struct sandbox_exit *ex, char *out, size_t n)
{
	uint64_t ms = (ex->end_ns - ex->start_ns) / 1000000;
	if (ex->signaled)
		snprintf(out, n, "killed by signal %d (%s) after %llu ms", ex->code,
			 sigabbrev_np(ex->code) ? sigabbrev_np(ex->code) : "?",
			 (unsigned long long)ms);
	else
		snprintf(out, n, "exited with %d after %llu ms", ex->code, (unsigned long long)ms);
}

int box_record_start(struct audit_log *log, const char *agent, const char *run,
		     const struct policy *p, const char *policy_file, const char *cmd,
		     const char *identity, const struct gate_creds *creds, struct pc_error *err)
{
	_cleanup_free_ char *start_reason = pc_xasprintf("run started: %s", cmd);
	struct audit_field f[] = {
		AUDIT_STR("policy", p->name),	     AUDIT_STR("policy_file", policy_file),
		AUDIT_STR("policy_sha256", p->hash), AUDIT_STR("command", cmd),
		AUDIT_NUM("uid", getuid()),	     AUDIT_STR("identity", identity),
	};
	int r = audit_write(log, AUDIT_RUN_START, agent, run, AUDIT_NONE, start_reason, f,
			    PC_ARRAY_SIZE(f) - !identity, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < gate_creds_count(creds); i++) {
		char what[600];
		struct pc_error aerr = {0};
		gate_creds_describe(creds, i, what, sizeof(what));
		if (audit_write(log, AUDIT_VAULT, agent, run, AUDIT_NONE, what, NULL, 0, &aerr) < 0)
			pc_warn("audit: %s", aerr.msg);
	}
	return 0;
}

void box_record_notes(struct audit_log *log, const char *agent, const char *run,
		      const struct sandbox *sb)
{
	for (char *const *n = sandbox_notes(sb); n && *n; n++) {
		struct pc_error aerr = {0};
		if (strstr(*n, "not available"))
			pc_warn("%s", *n); /* best effort fell short: say so */
		if (audit_write(log, AUDIT_SANDBOX, agent, run, AUDIT_NONE, *n, NULL, 0, &aerr) < 0)
			pc_warn("audit: %s", aerr.msg);
	}
}

int box_run(const struct box_config *bc, int *status, struct pc_error *err)
{
	/* a warm run: the start (control.c) completes this copy */
	struct box_config claim = *bc;
	if (bc->warm)
		bc = &claim;
	const struct policy *p = bc->policy;
	const char *agent = bc->agent ? bc->agent : "-";
	*status = 125;
	char run[17];
	box_new_run_id(run);

	_cleanup_audit_ struct audit_log *log = NULL;
	int r = audit_open(bc->audit_path, &log, err);
	if (r < 0)
		return r;
	/* unmapped before the log is closed (cleanups run in reverse): the
	 * log writes nothing more by then */
	_cleanup_gate_stats_ struct gate_stats *stats = NULL;
	if (bc->stats_file) {
		r = gate_stats_open(bc->stats_file, &stats, err);
		if (r < 0)
			return r;
		audit_count_into(log, &stats->audit_records);
	}

	/* --control: the socket exists before the agent does (a warm run's
	 * once the sandbox is ready: a connect then says so) */
	_cleanup_(control_freep) struct control *control = NULL;
	if (bc->control_path && !bc->warm) {
		r = control_open(bc->control_path, &control, err);
		if (r < 0)
			return r;
	}

	/* before the run starts: a missing secret or module stops it here */
	struct box_intercept icpt;
	r = box_intercept_open(bc, &icpt, err);
	if (r < 0) {
		box_intercept_close(&icpt);
		return r;
	}

	bool tty = !bc->warm &&
		   (isatty(STDIN_FILENO) || isatty(STDOUT_FILENO) || isatty(STDERR_FILENO));
	_cleanup_strv_ char **env = box_environment(p, bc->setenv, tty);
	box_intercept_env(&icpt, &env);
	_cleanup_free_ char *cwd = inside_cwd(p);
	_cleanup_free_ char *cmd = box_join_argv(bc->argv);
	_cleanup_free_ char *logpath = canonical_file(audit_path(log));
	_cleanup_free_ char *head = pc_xasprintf("%s.head", logpath);
	/* the vault's store, key and lock: an agent seeing them holds every
	 * secret, so no grant may contain them */
	_cleanup_free_ char *store = vault_store_file();
	_cleanup_free_ char *key = vault_key_file(store);
	_cleanup_free_ char *vault_store = canonical_file(store);
	_cleanup_free_ char *vault_key = canonical_file(key);
	_cleanup_free_ char *vault_lock = pc_xasprintf("%s.lock", vault_store);
	/* the agent must not write its own numbers */
	_cleanup_free_ char *stats_path = bc->stats_file ? canonical_file(bc->stats_file) : NULL;
	/* nor reach its run's control socket (it would steer its own run) */
	_cleanup_free_ char *control_canon =
		bc->control_path ? canonical_file(bc->control_path) : NULL;
	/* and what the caller names (the daemon: its sockets and state) */
	size_t n_hide = pc_strv_len(bc->hide);
	_cleanup_free_ char **hidden = pc_xcalloc(8 + n_hide, sizeof(*hidden));
	size_t n_hidden = 0;
	hidden[n_hidden++] = logpath;
	hidden[n_hidden++] = head;
	hidden[n_hidden++] = vault_store;
	hidden[n_hidden++] = vault_key;
	hidden[n_hidden++] = vault_lock;
	if (stats_path)
		hidden[n_hidden++] = stats_path;
	if (control_canon)
		hidden[n_hidden++] = control_canon;
	for (size_t i = 0; i < n_hide; i++)
		hidden[n_hidden++] = bc->hide[i];

	_cleanup_free_ char *cgname = pc_xasprintf("pincer-%s", run);
	struct sandbox_config cfg = {
		.name = cgname,
		.policy = p,
		.argv = bc->argv,
		.envp = env,
		.cwd = cwd,
		.pty = tty,
		.hidden = hidden,
		.ca_bundle = icpt.bundle,
		.forget = icpt.tls ? box_intercept_forget : NULL,
		.forget_arg = &icpt,
		.deferred = bc->warm,
	};
	for (int i = 0; i < 3; i++)
		cfg.stdio[i] = isatty(i) ? -1 : i;

	/* a warm run has no agent yet: its records wait for the start */
	r = bc->warm ? 0
		     : box_record_start(log, agent, run, p, p->file, cmd, NULL, icpt.creds, err);
	if (r < 0) {
		box_intercept_close(&icpt);
		return r;
	}

	/* Signals for the agent arrive here first and are passed on. */
	sigset_t set, old;
	sigemptyset(&set);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	for (size_t i = 0; i < PC_ARRAY_SIZE(sigs); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, &old);
	_cleanup_close_ int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

	pid_t parent = 0;
	if (bc->die_with_parent || bc->warm) { /* warm: until its start (control.c) */
		parent = getppid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			kill(getpid(), SIGTERM); /* it died before we asked: same path */
	}

	_cleanup_sandbox_ struct sandbox *sb = NULL;
	r = sandbox_start(&cfg, &sb, err);
	if (r < 0) {
		*status = start_status(-r);
		bool exec_failed = *status != 125;
		struct pc_error aerr = {0};
		audit_write(log, exec_failed ? AUDIT_RUN_END : AUDIT_MOUNT, agent, run,
			    exec_failed ? AUDIT_NONE : AUDIT_DENY, err->msg, NULL, 0, &aerr);
		if (!exec_failed && !bc->warm) {
			const struct audit_field f[] = {AUDIT_NUM("exit", *status)};
			audit_write(log, AUDIT_RUN_END, agent, run, AUDIT_NONE,
				    "run failed before the command started", f, 1, &aerr);
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		box_intercept_close(&icpt);
		return r;
	}

	if (!bc->warm)
		box_record_notes(log, agent, run, sb);
	else if ((r = control_open(bc->control_path, &control, err)) < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		box_intercept_close(&icpt);
		return r; /* the sandbox goes with sb */
	}

	struct sandbox_exit ex = {0};
	struct box_loop L = {.bc = bc,
			     .sb = sb,
			     .ex = &ex,
			     .log = log,
			     .agent = agent,
			     .run = run,
			     .sigfd = sigfd,
			     .parent = parent,
			     .wall_ms = p->process.limits.wall_time_ms,
			     .current = p,
			     .icpt = &icpt,
			     .control = control,
			     .stats = stats,
			     .claim = bc->warm ? &claim : NULL,
			     .inotify_fd = -1};
	/* the setup's garbage (policy, seccomp program, sandbox prep) goes
	 * back to the kernel: a daemon holds a thousand of these runs */
	malloc_trim(0);
	r = box_loop_run(&L, err);
	box_intercept_close(&icpt); /* the secrets, wiped */
	sigprocmask(SIG_SETMASK, &old, NULL);
	*status = ex.signaled ? 128 + ex.code : ex.code;
	if (L.summary.len && !bc->quiet)
		pc_info("%.*s", (int)L.summary.len, L.summary.data);
	pc_buf_free(&L.summary);
	for (size_t i = 0; i < L.n_policies; i++)
		policy_free(L.policies[i]);
	free(L.policies);
	if (L.claim && !L.claimed) {
		/* a warm run no agent took: nothing ran, nothing to record */
		*status = L.start_failed ? 125 : 0;
		return r;
	}
	agent = L.agent; /* a warm run's, from its start */

	if (ex.oom) {
		char limit[32] = "none";
		if (p->process.limits.memory)
			pc_format_size(p->process.limits.memory, limit, sizeof(limit));
		_cleanup_free_ char *why = pc_xasprintf("out of memory: the kernel killed a "
							"process of the sandbox (memory limit %s)",
							limit);
		struct pc_error aerr = {0};
		const struct audit_field f[] = {
			AUDIT_NUM("memory_limit", p->process.limits.memory)};
		if (audit_write(log, AUDIT_OOM, agent, run, AUDIT_DENY, why, f, 1, &aerr) < 0)
			pc_warn("audit: %s", aerr.msg);
		pc_warn("%s", why);
	}

	char reason[200];
	describe_exit(&ex, reason, sizeof(reason));
	size_t l = strlen(reason);
	if (L.orphaned)
		snprintf(reason + l, sizeof(reason) - l, " (pincer's parent died: sandbox killed)");
	else if (L.timed_out)
		snprintf(reason + l, sizeof(reason) - l, " (wall time limit reached)");
	else if (ex.oom)
		snprintf(reason + l, sizeof(reason) - l, " (out of memory)");
	const struct audit_field end_fields[] = {
		AUDIT_NUM("exit", *status),
		AUDIT_NUM("signal", ex.signaled ? ex.code : 0),
		AUDIT_NUM("duration_ms", (ex.end_ns - ex.start_ns) / 1000000),
	};
	struct pc_error aerr = {0};
	if (audit_write(log, AUDIT_RUN_END, agent, run, AUDIT_NONE, reason, end_fields,
			PC_ARRAY_SIZE(end_fields), &aerr) < 0)
		pc_warn("audit: %s", aerr.msg);
	if (bc->status_file) {
		char line[96];
		int n = snprintf(line, sizeof(line), "{\"exit\":%d,\"signal\":%d,\"oom\":%s}\n",
				 *status, ex.signaled ? ex.code : 0, ex.oom ? "true" : "false");
		_cleanup_close_ int fd = open(bc->status_file,
					      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || pc_write_all(fd, line, (size_t)n) < 0)
			pc_warn("status file %s: %s", bc->status_file, strerror(errno));
	}
	return r;
}
