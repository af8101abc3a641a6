/* One agent's lifecycle: its `pincer run` child started, watched by pidfd,
 * restarted by its policy with backoff, parked when it loops, stopped. */
#include "daemon/internal.h"
#include "policy/policy.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const state_names[] = {"stopped", "running", "backoff", "failed"};
static const char *const restart_names[] = {"on-failure", "always", "never"};

const char *agent_state_name(enum agent_state s)
{
	return state_names[s];
}

const char *agent_restart_name(enum agent_restart r)
{
	return restart_names[r];
}

int agent_restart_parse(const char *s, enum agent_restart *out)
{
	for (size_t i = 0; s && i < PC_ARRAY_SIZE(restart_names); i++)
		if (strcmp(s, restart_names[i]) == 0) {
			*out = (enum agent_restart)i;
			return 0;
		}
	return -EINVAL;
}

void daemon_now_iso(char out[32])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct agent *agent_find(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_agents; i++)
		if (strcmp(d->agents[i]->name, name) == 0)
			return d->agents[i];
	return NULL;
}

static void drop_events(struct agent *a)
{
	if (a->ev_exit)
		event_free(a->ev_exit);
	if (a->ev_timer)
		event_free(a->ev_timer);
	a->ev_exit = a->ev_timer = NULL;
	if (a->pidfd >= 0)
		close(a->pidfd);
	a->pidfd = -1;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	approvals_unwatch(a, NULL);
	drop_events(a);
	free(a->name);
	free(a->user);
	free(a->policy);
	free(a->policy_sha256);
	free(a->command_json);
	pc_strv_free(a->command);
	free(a->failed_reason);
	free(a);
}

/* When the process started (0: no such), and its name. */
static uint64_t start_time(pid_t pid, char comm[32])
{
	struct proc_stat ps;
	if (!proc_stat(pid, &ps))
		return 0;
	if (comm)
		snprintf(comm, 32, "%s", ps.comm);
	return ps.start;
}

int agent_signal(struct agent *a, int sig)
{
	/* by pidfd: an adopted run is not our child, and its pid could be
	 * someone else's by the time we signal it */
	if (a->pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, a->pidfd, sig, NULL, 0);
	errno = ESRCH;
	return -1;
}

/* A transition that could not be committed is said, and kept for the API
 * request that caused it: its answer must not claim a change the state
 * file does not hold. */
static void save(struct agent *a)
{
	struct pc_error err = {0};
	if (state_save(a->d, a, &err) < 0) {
		pc_warn("%s", err.msg);
		snprintf(a->d->save_error, sizeof(a->d->save_error), "%.200s", err.msg);
	}
}

static void child_exited(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);

/* The agent's folder in the state: its policy file and its log. */
char *agent_dir(const struct agent *a)
{
	return pc_xasprintf("%s/agents/%s", a->d->state_dir, a->name);
}

int agent_write_policy(struct agent *a, bool reload, struct pc_error *err)
{
	_cleanup_free_ char *dir = agent_dir(a);
	int r = pc_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	_cleanup_buf_ struct pc_buf b = {0};
	const char *text = a->policy;
	if (a->revoked) {
		/* the same policy with no way out: the effective policy, its
		 * egress allow rules left out */
		struct policy *p = NULL;
		_cleanup_free_ char *label = pc_xasprintf("<policy of agent %s>", a->name);
		r = policy_load_string(a->policy, strlen(a->policy), label, &p, err);
		if (r < 0)
			return r;
		size_t n = p->net.n_allow;
		p->net.n_allow = 0;
		pc_buf_puts(&b, "# network revoked by the daemon: no egress allow rules\n");
		policy_emit_yaml(p, &b);
		pc_buf_append(&b, "", 0);
		p->net.n_allow = n;
		policy_free(p);
		text = b.data;
	}
	_cleanup_free_ char *policy = pc_xasprintf("%s/policy.yaml", dir);
	/* the same text there already (every start of an unchanged agent):
	 * nothing to write, no fsync on the way to the agent's start */
	_cleanup_free_ char *have = NULL;
	size_t have_len = 0;
	struct pc_error ignored = {0};
	if (!reload && pc_read_file(policy, strlen(text) + 1, &have, &have_len, &ignored) == 0 &&
	    have_len == strlen(text) && memcmp(have, text, have_len) == 0)
		return 0;
	_cleanup_free_ char *tmp = pc_xasprintf("%s/.policy.yaml.new", dir);
	_cleanup_close_ int pfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (pfd < 0 || pc_write_all(pfd, text, strlen(text)) < 0 || fsync(pfd) < 0 ||
	    rename(tmp, policy) < 0)
		return pc_error_errno(err, -errno, "agent %s: write %s", a->name, policy);
	if (reload && a->pid && agent_signal(a, SIGHUP) < 0)
		return pc_error_errno(err, -errno, "agent %s: tell its run", a->name);
	return 0;
}

static int agent_attach(struct agent *a, pid_t pid, int pidfd);

void daemon_hide_args(const struct daemon *d, char ***argv)
{
	/* an agent reaching the daemon's sockets would speak as the daemon's
	 * user (its uid, for a user's daemon), and the state holds every
	 * agent's log, policy and control socket */
	_cleanup_free_ char *exec = pc_xasprintf("%s.exec", d->socket);
	const char *paths[] = {d->socket, exec, d->state_dir};
	for (size_t i = 0; i < PC_ARRAY_SIZE(paths); i++) {
		pc_strv_push(argv, "--hide");
		pc_strv_push(argv, paths[i]);
	}
}

int daemon_spawn(const char *what, char **argv, const int io[3], pid_t *pid, int *pidfd,
		 struct pc_error *err)
{
	*pid = fork();
	if (*pid < 0)
		return pc_error_errno(err, -errno, "%s: fork", what);
	if (*pid == 0) {
		/* its own session (no terminal signals of ours), nothing else
		 * of the daemon's */
		setsid();
		if (dup2(io[0], 0) < 0 || dup2(io[1], 1) < 0 || dup2(io[2], 2) < 0 ||
		    chdir("/") < 0)
			_exit(125);
		syscall(SYS_close_range, 3U, ~0U, 0U);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		_exit(127);
	}
	*pidfd = (int)syscall(SYS_pidfd_open, *pid, 0);
	if (*pidfd < 0) {
		int e = errno;
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		return pc_error_errno(err, -e, "%s: pidfd_open", what);
	}
	return 0;
}

int agent_start(struct agent *a, struct pc_error *err)
{
	if (a->pid)
		return 0;
	struct daemon *d = a->d;
	if (a->ev_timer)
		event_del(a->ev_timer);
	int r = agent_write_policy(a, false, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = agent_dir(a);
	_cleanup_free_ char *policy = pc_xasprintf("%s/policy.yaml", dir);
	_cleanup_free_ char *logpath = pc_xasprintf("%s/log", dir);
	_cleanup_close_ int logfd =
		open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (logfd < 0)
		return pc_error_errno(err, -errno, "agent %s: open %s", a->name, logpath);

	_cleanup_free_ char *status = pc_xasprintf("%s/status", dir);
	unlink(status);
	/* a warm sandbox of its policy, if one is ready: one message */
	_cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int io[3] = {null, logfd, logfd};
	pid_t pid;
	int pidfd;
	if (null >= 0 && pool_claim(a, io, status, &pid, &pidfd) == 1)
		return agent_attach(a, pid, pidfd);

	char **argv = NULL;
	pc_strv_push(&argv, d->pincer);
	pc_strv_push(&argv, "run");
	pc_strv_push(&argv, "--quiet");
	pc_strv_push(&argv, "--survive-parent"); /* a daemon restart adopts it */
	daemon_hide_args(d, &argv);
	pc_strv_push(&argv, "--status-file"); /* tells an OOM kill from a crash */
	pc_strv_push(&argv, status);
	/* the gate's numbers, for /metrics (gate/stats.h); reset by each run */
	_cleanup_free_ char *stats = pc_xasprintf("%s/stats", dir);
	pc_strv_push(&argv, "--stats");
	pc_strv_push(&argv, stats);
	/* `pincer agent exec` reaches the sandbox through it (box/control.h) */
	_cleanup_free_ char *control = pc_xasprintf("%s/control.sock", dir);
	pc_strv_push(&argv, "--control");
	pc_strv_push(&argv, control);
	pc_strv_push(&argv, "--agent");
	pc_strv_push(&argv, a->name);
	pc_strv_push(&argv, "--as");
	pc_strv_push(&argv, a->user);
	if (d->audit_path) {
		pc_strv_push(&argv, "--audit");
		pc_strv_push(&argv, d->audit_path);
	}
	pc_strv_push(&argv, "--policy");
	pc_strv_push(&argv, policy);
	pc_strv_push(&argv, "--");
	for (size_t i = 0; a->command[i]; i++)
		pc_strv_push(&argv, a->command[i]);

	_cleanup_free_ char *what = pc_xasprintf("agent %s", a->name);
	r = daemon_spawn(what, argv, io, &pid, &pidfd, err);
	pc_strv_free(argv);
	if (r < 0)
		return r;
	return agent_attach(a, pid, pidfd);
}

/* pid (a child of ours, watched by pidfd) is the agent's run now. */
static int agent_attach(struct agent *a, pid_t pid, int pidfd)
{
	struct daemon *d = a->d;
	a->pid = pid;
	a->pid_start = start_time(pid, NULL);
	a->pidfd = pidfd;
	a->adopted = false;
	a->ev_exit = event_new(d->base, pidfd, EV_READ, child_exited, a);
	if (!a->ev_timer)
		a->ev_timer = evtimer_new(d->base, on_timer, a);
	event_add(a->ev_exit, NULL);
	a->want = true;
	a->stopping = false;
	a->state = AG_RUNNING;
	free(a->failed_reason);
	a->failed_reason = NULL;
	daemon_now_iso(a->started);
	a->started_ns = pc_now_ns();
	save(a);
	approvals_watch(a);
	return 0;
}

/* Exits within the window, this one included. */
static unsigned recent_exits(struct agent *a, uint64_t now)
{
	memmove(a->exits_ns + 1, a->exits_ns, (DAEMON_LOOP_EXITS - 1) * sizeof(a->exits_ns[0]));
	a->exits_ns[0] = now;
	unsigned n = 0;
	for (size_t i = 0; i < DAEMON_LOOP_EXITS; i++)
		if (a->exits_ns[i] && now - a->exits_ns[i] <= DAEMON_LOOP_WINDOW_S * 1000000000ULL)
			n++;
	return n;
}

static void child_exited(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct agent *a = arg;
	siginfo_t si = {0};
	bool known = waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED) == 0;
	if (!known && !a->adopted)
		return;
	event_free(a->ev_exit);
	a->ev_exit = NULL;
	close(a->pidfd);
	a->pidfd = -1;
	a->pid = 0;
	approvals_unwatch(a, "the agent's run ended");
	event_del(a->ev_timer);
	a->has_exit = true;
	/* pincer run exits with the agent's code, 128+N for signal N; one
	 * adopted from an earlier daemon is not our child: its status is lost */
	int code = !known ? -1 : si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
	a->pid_start = 0;
	a->adopted = false;
	a->exit_code = code;
	a->exit_signal = code > 128 && code < 128 + 65 ? code - 128 : 0;
	/* the run's own word on how the agent ended (an adopted one's too) */
	_cleanup_free_ char *dir = agent_dir(a);
	_cleanup_free_ char *status = pc_xasprintf("%s/status", dir), *text = NULL;
	struct pc_error ignored = {0};
	size_t len = 0;
	a->exit_oom = false;
	if (pc_read_file(status, 256, &text, &len, &ignored) == 0) {
		int ex = 0, sig = 0;
		if (sscanf(text, "{\"exit\":%d,\"signal\":%d", &ex, &sig) == 2) {
			a->exit_code = code = ex;
			a->exit_signal = sig;
		}
		a->exit_oom = strstr(text, "\"oom\":true") != NULL;
	}
	if (a->exit_oom)
		agent_count_oom(a);
	daemon_now_iso(a->exit_at);
	uint64_t now = pc_now_ns();
	if (a->restart_pending) { /* a restart asked for: the new one now */
		struct pc_error err = {0};
		a->restart_pending = a->stopping = false;
		a->restarts++;
		if (agent_start(a, &err) < 0) {
			pc_warn("%s", err.msg);
			a->state = AG_FAILED;
			free(a->failed_reason);
			a->failed_reason = pc_xstrdup(err.msg);
			save(a);
		}
		return;
	}
	if (!a->want || a->stopping) {
		a->state = AG_STOPPED;
		save(a);
		return;
	}
	/* out of memory: the policy's on_oom says; restart is a clean new
	 * copy (every start is a fresh sandbox: new scratch, new processes) */
	bool oom_restart = false;
	if (a->exit_oom) {
		struct policy *p = NULL;
		struct pc_error perr = {0};
		if (policy_load_string(a->policy, strlen(a->policy), a->name, &p, &perr) == 0) {
			oom_restart = p->process.on_oom == PC_ON_OOM_RESTART;
			policy_free(p);
		}
		if (!oom_restart) {
			a->want = false;
			a->state = AG_STOPPED;
			save(a);
			return;
		}
	}
	if (!oom_restart &&
	    (a->restart == RS_NEVER || (a->restart == RS_ON_FAILURE && code == 0))) {
		a->want = false;
		a->state = AG_STOPPED;
		save(a);
		return;
	}
	if (recent_exits(a, now) >= DAEMON_LOOP_EXITS) {
		a->want = false;
		a->state = AG_FAILED;
		free(a->failed_reason);
		a->failed_reason = pc_xasprintf("crash loop: %d exits within %d s (last: exit %d)",
						DAEMON_LOOP_EXITS, DAEMON_LOOP_WINDOW_S, code);
		memset(a->exits_ns, 0, sizeof(a->exits_ns));
		save(a);
		return;
	}
	/* backoff: 1 s doubling to 60 s, back to 1 s after a minute's run;
	 * an OOM restart goes at once */
	if (oom_restart)
		a->backoff_ms = 1;
	else if (!a->backoff_ms || now - a->started_ns > DAEMON_LOOP_WINDOW_S * 1000000000ULL)
		a->backoff_ms = a->d->cfg.backoff_ms;
	else if ((a->backoff_ms *= 2) > DAEMON_BACKOFF_MAX_MS)
		a->backoff_ms = DAEMON_BACKOFF_MAX_MS;
	a->state = AG_BACKOFF;
	save(a);
	struct timeval tv = {a->backoff_ms / 1000, (a->backoff_ms % 1000) * 1000};
	evtimer_add(a->ev_timer, &tv);
	if (oom_restart)
		a->backoff_ms = 0; /* a crash after it starts its backoff afresh */
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct agent *a = arg;
	if (a->pid && a->stopping) { /* the grace time is over */
		agent_signal(a, SIGKILL);
		return;
	}
	if (a->state == AG_BACKOFF && a->want) {
		struct pc_error err = {0};
		a->restarts++;
		if (agent_start(a, &err) < 0) {
			pc_warn("%s", err.msg);
			a->state = AG_FAILED;
			a->want = false;
			free(a->failed_reason);
			a->failed_reason = pc_xstrdup(err.msg);
			save(a);
		}
	}
}

bool agent_adopt(struct agent *a)
{
	char comm[32] = "";
	pid_t pid = a->pid;
	a->pid = 0;
	/* the pidfd first: checked after it is held, the process cannot
	 * change under the check */
	int pidfd = pid ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (pidfd < 0)
		return false;
	if (!a->pid_start || start_time(pid, comm) != a->pid_start || strcmp(comm, "pincer") != 0) {
		close(pidfd);
		return false; /* gone, or the number now names another process */
	}
	a->pid = pid;
	a->pidfd = pidfd;
	a->adopted = true;
	a->ev_exit = event_new(a->d->base, pidfd, EV_READ, child_exited, a);
	a->ev_timer = evtimer_new(a->d->base, on_timer, a);
	event_add(a->ev_exit, NULL);
	a->started_ns = pc_now_ns();
	approvals_watch(a);
	return true;
}

void agent_restart(struct agent *a, struct pc_error *err)
{
	if (!a->pid) {
		a->restarts++;
		agent_start(a, err);
		return;
	}
	agent_stop(a); /* SIGTERM, SIGKILL after the grace time */
	a->restart_pending = true;
	a->want = true;
	save(a);
}

void agent_stop(struct agent *a)
{
	a->want = false;
	if (a->state != AG_FAILED || a->pid)
		a->state = AG_STOPPED;
	if (a->ev_timer)
		event_del(a->ev_timer);
	if (a->pid && !a->stopping) {
		a->stopping = true;
		agent_signal(a, SIGTERM); /* pincer run passes it on, then SIGKILL */
		struct timeval tv = {DAEMON_STOP_GRACE_MS / 1000, 0};
		evtimer_add(a->ev_timer, &tv);
	}
	save(a);
}

int agent_remove(struct agent *a, struct pc_error *err)
{
	struct daemon *d = a->d;
	if (a->pid) {
		agent_signal(a, SIGKILL);
		siginfo_t si;
		waitid((idtype_t)P_PIDFD, (id_t)a->pidfd, &si, WEXITED);
	}
	int r = state_delete(d, a->name, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = agent_dir(a);
	static const char *const files[] = {"policy.yaml", "log", "status", "status.reload", "stats",
					    "ooms"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *f = pc_xasprintf("%s/%s", dir, files[i]);
		unlink(f);
	}
	rmdir(dir);
	for (size_t i = 0; i < d->n_agents; i++)
		if (d->agents[i] == a) {
			memmove(&d->agents[i], &d->agents[i + 1],
				(d->n_agents - i - 1) * sizeof(*d->agents));
			d->n_agents--;
			break;
		}
	agent_free(a);
	return 0;
}
