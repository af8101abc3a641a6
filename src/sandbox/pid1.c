/* PID 1 inside the sandbox (DESIGN.md section 4, steps 5 and 8).
 *
 * It drops every privilege the setup needed, starts the agent with a vfork
 * (no page tables copied), then reaps whatever the agent leaves behind,
 * forwards the signals pincer sends it, and starts the processes pincer
 * asks for beside the agent (CTL_EXEC: sandbox.h, "exec"). When the agent
 * exits, PID 1 reports how and exits too, which ends every process left in
 * the sandbox.
 *
 * Everything it starts inherits what PID 1 applied to itself: Landlock,
 * seccomp, rlimits, no capabilities, no_new_privs. It listens to nothing
 * but the control socket from pincer.
 */
#include "sandbox/internal.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* Signals PID 1 takes and passes on to the agent. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT};

struct exec_args {
	const char *path;
	char *const *argv;
	char *const *envp;
	int fds[3];
	int pty_slave;
	uint64_t memory_rlimit; /* RLIMIT_AS for the agent alone, 0 = none */
	int max_fd;		/* RLIMIT_NOFILE, for the close fallback */
	int exec_errno;		/* written by the vfork child, which shares our memory */
};

static _noreturn_ void pid1_fail(int ctl, int code, const char *what, const char *prog)
{
	struct pc_error err = {0};
	pc_error_errno(&err, code, "%s for %s", what, prog);
	child_fail(ctl, &err);
}

/* argv[0] looked up in the agent's PATH, inside the new root. */
static char *resolve_program(const char *prog, char *const *envp, int *err)
{
	*err = ENOENT;
	if (strchr(prog, '/'))
		return pc_xstrdup(prog);
	const char *path = "/usr/local/bin:/usr/bin:/bin";
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	_cleanup_free_ char *copy = pc_xstrdup(path);
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *cand = pc_xasprintf("%s/%s", *d ? d : ".", prog);
		struct stat st;
		if (stat(cand, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (access(cand, X_OK) == 0)
			return pc_steal_ptr(&cand);
		*err = EACCES;
	}
	return NULL;
}

static int open_pty(int ctl, int *slave)
{
	_cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return -errno;
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return -errno;
	/* TIOCGPTPEER opens the peer of this very master: no path lookup. */
	*slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		return -errno;
	struct ctl_msg m = {.type = CTL_PTY};
	return pc_send_fds(ctl, &m, sizeof(m), &master, 1);
}

/* After this, PID 1 and everything it starts hold no capability, can gain
 * none (no setuid, no file caps, no ambient), and cannot be ptraced. */
static int drop_privileges(void)
{
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
					     SECBIT_NO_SETUID_FIXUP_LOCKED |
					     SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
					     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) < 0)
		return -errno;
	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -errno;
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* The filter the parent compiled meanwhile; loaded here, the last step
 * before exec. Returns the number of rules, 0 when seccomp is off. */
static int receive_seccomp(int ctl, struct pc_error *err)
{
	struct ctl_msg m;
	int fd = -1;
	size_t nfd = 1;
	ssize_t n = pc_recv_fds(ctl, &m, sizeof(m), &fd, &nfd);
	if (n <= 0 || m.type != CTL_SECCOMP)
		return pc_error(err, EPROTO, "seccomp: no filter from pincer");
	_cleanup_close_ int prog = nfd ? fd : -1;
	if (m.code) {
		m.text[sizeof(m.text) - 1] = '\0';
		return pc_error(err, m.code, "%s", m.text);
	}
	if (prog < 0)
		return 0;
	int r = seccomp_load_program(prog, err);
	return r < 0 ? r : m.a;
}

static void note(int ctl, const char *text)
{
	struct ctl_msg m = {.type = CTL_LAYER};
	snprintf(m.text, sizeof(m.text), "%s", text);
	(void)send(ctl, &m, sizeof(m), MSG_NOSIGNAL);
}

static int set_limit(int resource, uint64_t value)
{
	struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
	return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

/* Step 5: rlimits. No core dumps ever (they would carry the agent's memory
 * out); open files and file size from the policy; and, where no cgroup
 * could be had, pids as RLIMIT_NPROC (counted per user namespace, so for
 * this sandbox only). The memory fallback, RLIMIT_AS, is set in the agent
 * alone (agent_exec): PID 1 keeps its own small footprint unconstrained. */
static int apply_rlimits(const struct child_args *a)
{
	const struct pc_limits *l = &a->cfg->policy->process.limits;
	int r = set_limit(RLIMIT_CORE, 0);
	if (r == 0 && l->open_files)
		r = set_limit(RLIMIT_NOFILE, l->open_files);
	if (r == 0 && l->file_size)
		r = set_limit(RLIMIT_FSIZE, l->file_size);
	if (r == 0 && a->rlimit_fallback && l->pids)
		r = set_limit(RLIMIT_NPROC, l->pids);
	return r;
}

/* The signals PID 1 handles: the forwarded ones and SIGCHLD. */
static void handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	for (size_t i = 0; i < PC_ARRAY_SIZE(forwarded); i++)
		sigaddset(set, forwarded[i]);
}

/* Runs in the vfork child (the agent's or an exec's): only
 * async-signal-safe calls, then execve. */
static int agent_exec(void *arg)
{
	struct exec_args *x = arg;
	/* PID 1's handlers would run on its memory: the defaults first (this
	 * child has its own copy of the handler table), then unblock. */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigaction(SIGCHLD, &dfl, NULL);
	for (size_t i = 0; i < PC_ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A session of its own: a terminal outside is not its controlling one,
	 * so TIOCSTI cannot reach it; the pty, when there is one, is. It is
	 * also the process group an exec's signals go to. */
	setsid();
	if (x->pty_slave >= 0)
		ioctl(x->pty_slave, TIOCSCTTY, 0);
	if (x->memory_rlimit) {
		struct rlimit rl = {.rlim_cur = x->memory_rlimit, .rlim_max = x->memory_rlimit};
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			goto fail;
	}
	/* copies above 0-2 first (the lowest free: a small open_files fits) */
	int high[3];
	for (int i = 0; i < 3; i++)
		high[i] = fcntl(x->fds[i], F_DUPFD_CLOEXEC, 3);
	for (int i = 0; i < 3; i++)
		if (high[i] < 0 || dup2(high[i], i) < 0)
			goto fail;
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
		for (int fd = 3; fd < x->max_fd; fd++)
			close(fd); /* no close_range (kernel < 5.9): one by one */
	execve(x->path, x->argv, x->envp);
fail:
	x->exec_errno = errno;
	_exit(127);
}

/* The vfork child's stack: mapped once, apart from PID 1's own (a child
 * that execs never returns through its frames, which a sanitizer build
 * would otherwise find poisoned in PID 1's stack at the next spawn). */
#define SPAWN_STACK (64 * 1024)

/* vfork + exec: 0 and *pid, or the errno why nothing runs (a child that
 * failed has exited; the reaper collects it). */
static int spawn(struct exec_args *x, char *stack, pid_t *pid)
{
	x->exec_errno = 0;
	pid_t p = clone(agent_exec, stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, x);
	if (p < 0)
		return errno;
	if (x->exec_errno)
		return x->exec_errno;
	*pid = p;
	return 0;
}

static void report_exit(int ctl, int status)
{
	struct ctl_msg m = {.type = CTL_EXITED};
	if (WIFSIGNALED(status)) {
		m.a = 1;
		m.code = WTERMSIG(status);
	} else {
		m.code = WEXITSTATUS(status);
	}
	(void)send(ctl, &m, sizeof(m), MSG_NOSIGNAL);
	_exit(m.a ? 128 + m.code : m.code);
}

/* ---- the loop ------------------------------------------------------------ */

/* Set by the handler, taken by the loop: a handler has no other way to
 * speak, so this is PID 1's one piece of global state. The signals are
 * blocked but inside ppoll, so the two never race. */
static volatile sig_atomic_t pending[NSIG];

static void on_signal(int sig)
{
	if (sig > 0 && sig < NSIG)
		pending[sig] = 1;
}

struct pid1_exec {
	uint32_t id;
	pid_t pid; /* 0: a free slot */
};

struct pid1 {
	const struct child_args *a;
	char *stack;	       /* SPAWN_STACK bytes */
	int ctl;	       /* -1 once pincer's end is gone */
	pid_t agent;	       /* 0: deferred, not started yet */
	char *const *envp;     /* the agent's environment, under every exec's */
	struct exec_args tmpl; /* what every exec shares with the agent */
	struct pid1_exec execs[SANDBOX_MAX_EXECS];
	/* deferred: the agent's request, kept for its environment */
	char *agent_blob;
	char **agent_strs;
};

static struct pid1_exec *exec_find(struct pid1 *P, uint32_t id, pid_t pid)
{
	for (size_t i = 0; i < PC_ARRAY_SIZE(P->execs); i++)
		if (P->execs[i].pid && (pid ? P->execs[i].pid == pid : P->execs[i].id == id))
			return &P->execs[i];
	return NULL;
}

static void send_ctl(struct pid1 *P, struct ctl_msg *m)
{
	if (P->ctl >= 0)
		(void)send(P->ctl, m, sizeof(*m), MSG_NOSIGNAL);
}

_printf_(4, 5) static void exec_refuse(struct ctl_msg *reply, uint32_t id, int code,
				       const char *fmt, ...)
{
	*reply = (struct ctl_msg){.type = CTL_EXEC_REFUSED, .a = (int32_t)id, .code = code};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reply->text, sizeof(reply->text), fmt, ap);
	va_end(ap);
}

/* The sealed memfd with the strings: read whole, every length checked. */
static int read_blob(int fd, char **out, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 1 ||
	    st.st_size > SANDBOX_EXEC_MAX_ARGS)
		return EPROTO;
	int seals = fcntl(fd, F_GET_SEALS);
	int need = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
	if (seals < 0 || (seals & need) != need)
		return EPROTO; /* it could change under us */
	size_t n = (size_t)st.st_size;
	_cleanup_free_ char *buf = pc_xmalloc(n);
	for (size_t got = 0; got < n;) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
		if (r <= 0)
			return r < 0 ? errno : EPROTO;
		got += (size_t)r;
	}
	if (buf[n - 1] != '\0')
		return EPROTO;
	*out = pc_steal_ptr(&buf);
	*len = n;
	return 0;
}

static size_t name_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : 0;
}

/* The agent's environment with the overlay laid over it: an agent's
 * variable the overlay names is left out, and of an overlay's repeated
 * name the last one counts. The strings stay where they are. */
static char **merge_env(char *const *base, char **overlay, size_t n_overlay)
{
	size_t n_base = pc_strv_len(base);
	char **env = pc_xcalloc(n_base + n_overlay + 1, sizeof(*env));
	size_t k = 0;
	for (size_t i = 0; i < n_base; i++) {
		size_t l = name_len(base[i]);
		bool over = false;
		for (size_t j = 0; !over && l && j < n_overlay; j++)
			over = name_len(overlay[j]) == l &&
			       strncmp(base[i], overlay[j], l + 1) == 0;
		if (!over)
			env[k++] = base[i];
	}
	for (size_t j = 0; j < n_overlay; j++) {
		size_t l = name_len(overlay[j]);
		bool later = false;
		for (size_t i = j + 1; !later && i < n_overlay; i++)
			later = name_len(overlay[i]) == l &&
				strncmp(overlay[j], overlay[i], l + 1) == 0;
		if (!later)
			env[k++] = overlay[j];
	}
	return env;
}

/* The strings of a CTL_EXEC or CTL_AGENT request (fds: stdin, stdout,
 * stderr and the memfd): *strs is argv, NULL-terminated at m->b, then the
 * other strings, NULL-terminated too (*n_rest of them, each NAME=value);
 * they point into *blob. 0, or the errno with why. */
static int request_strings(const struct ctl_msg *m, const int *fds, size_t nfd, char **blob_out,
			   char ***strs_out, size_t *n_rest, char *why, size_t why_len)
{
	if (nfd != 4) {
		snprintf(why, why_len, "malformed request (%zu fds)", nfd);
		return EPROTO;
	}
	_cleanup_free_ char *blob = NULL;
	size_t len = 0;
	int e = read_blob(fds[3], &blob, &len);
	if (e) {
		snprintf(why, why_len, "malformed request (its arguments)");
		return e;
	}
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += blob[i] == '\0';
	if (m->b < 1 || (size_t)m->b > n || n > SANDBOX_EXEC_MAX_STRINGS) {
		snprintf(why, why_len, "malformed request (%d of %zu strings)", m->b, n);
		return EPROTO;
	}
	size_t argc = (size_t)m->b;
	_cleanup_free_ char **strs = pc_xcalloc(n + 2, sizeof(*strs));
	for (size_t i = 0, off = 0; i < n; i++) {
		strs[i < argc ? i : i + 1] = blob + off; /* argv NULL-terminated at argc */
		off += strlen(blob + off) + 1;
	}
	for (size_t i = argc + 1; i < n + 1; i++)
		if (name_len(strs[i]) == 0) {
			snprintf(why, why_len, "malformed request (env)");
			return EINVAL;
		}
	*blob_out = pc_steal_ptr(&blob);
	*strs_out = pc_steal_ptr(&strs);
	*n_rest = n - argc;
	return 0;
}

/* CTL_EXEC: fds are stdin, stdout, stderr and the memfd. The answer,
 * STARTED or REFUSED, goes into reply: the caller closes the fds first, so
 * that once pincer hears of the process PID 1 holds none of its pipes. */
static void exec_start(struct pid1 *P, const struct ctl_msg *m, const int *fds, size_t nfd,
		       struct ctl_msg *reply)
{
	uint32_t id = (uint32_t)m->a;
	if (!P->agent) {
		exec_refuse(reply, id, ESRCH, "the agent has not started");
		return;
	}
	if (exec_find(P, id, 0)) {
		exec_refuse(reply, id, EEXIST, "exec %u is already running", id);
		return;
	}
	struct pid1_exec *slot = NULL;
	for (size_t i = 0; !slot && i < PC_ARRAY_SIZE(P->execs); i++)
		if (!P->execs[i].pid)
			slot = &P->execs[i];
	if (!slot) {
		exec_refuse(reply, id, EAGAIN, "too many exec'd processes (%d)", SANDBOX_MAX_EXECS);
		return;
	}

	_cleanup_free_ char *blob = NULL;
	_cleanup_free_ char **strs = NULL;
	size_t n_overlay = 0;
	char why[128];
	int e = request_strings(m, fds, nfd, &blob, &strs, &n_overlay, why, sizeof(why));
	if (e) {
		exec_refuse(reply, id, e, "%s", why);
		return;
	}
	char **argv = strs, **overlay = strs + m->b + 1;

	int perr;
	_cleanup_free_ char *prog = resolve_program(argv[0], P->envp, &perr);
	if (!prog) {
		exec_refuse(reply, id, perr, "cannot run '%s': %s", argv[0], strerror(perr));
		return;
	}
	_cleanup_free_ char **envp = merge_env(P->envp, overlay, n_overlay);
	struct exec_args x = P->tmpl;
	x.path = prog;
	x.argv = argv;
	x.envp = envp;
	x.pty_slave = -1;
	for (int i = 0; i < 3; i++)
		x.fds[i] = fds[i];
	pid_t pid = 0;
	e = spawn(&x, P->stack, &pid);
	if (e) {
		exec_refuse(reply, id, e, "cannot run '%s': %s", argv[0], strerror(e));
		return;
	}
	*slot = (struct pid1_exec){.id = id, .pid = pid};
	*reply = (struct ctl_msg){.type = CTL_EXEC_STARTED, .a = (int32_t)id, .code = pid};
}

/* CTL_AGENT, in a deferred sandbox: the agent now, as pid1_run would have
 * started it. The answer goes into reply; *failed: PID 1 exits once it is
 * sent (with the agent's exit status 127 or 126). */
static void agent_start(struct pid1 *P, const struct ctl_msg *m, const int *fds, size_t nfd,
			struct ctl_msg *reply, int *failed)
{
	char why[sizeof(reply->text)];
	_cleanup_free_ char *blob = NULL;
	_cleanup_free_ char **strs = NULL;
	size_t n_env = 0;
	int e = request_strings(m, fds, nfd, &blob, &strs, &n_env, why, sizeof(why));
	char **argv = strs, **envp = e ? NULL : strs + m->b + 1;
	_cleanup_free_ char *prog = NULL;
	int perr = 0;
	if (!e && !(prog = resolve_program(argv[0], envp, &perr))) {
		e = perr;
		snprintf(why, sizeof(why), "cannot run '%s': %s", argv[0], strerror(e));
	}
	pid_t pid = 0;
	if (!e) {
		struct exec_args x = P->tmpl;
		x.path = prog;
		x.argv = argv;
		x.envp = envp;
		for (int i = 0; i < 3; i++)
			x.fds[i] = fds[i];
		if ((e = spawn(&x, P->stack, &pid)))
			snprintf(why, sizeof(why), "cannot run '%s': %s", argv[0], strerror(e));
	}
	if (e) {
		*reply = (struct ctl_msg){.type = CTL_EXEC_FAILED, .code = e};
		snprintf(reply->text, sizeof(reply->text), "%s", why);
		*failed = e == ENOENT ? 127 : 126;
		return;
	}
	P->agent = pid;
	P->envp = envp;
	P->agent_blob = pc_steal_ptr(&blob);
	P->agent_strs = pc_steal_ptr(&strs);
	*reply = (struct ctl_msg){.type = CTL_STARTED, .code = pid};
}

static void on_ctl(struct pid1 *P)
{
	struct ctl_msg m;
	memset(&m, 0, sizeof(m));
	int fds[CTL_MAX_FDS];
	size_t nfd = CTL_MAX_FDS;
	ssize_t n = pc_recv_fds(P->ctl, &m, sizeof(m), fds, &nfd);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		P->ctl = -1; /* pincer is gone; PDEATHSIG follows */
		return;
	}
	struct ctl_msg reply = {0};
	int failed = 0;
	if ((size_t)n == sizeof(m) && m.type == CTL_EXEC) {
		exec_start(P, &m, fds, nfd, &reply);
	} else if ((size_t)n == sizeof(m) && m.type == CTL_AGENT && P->a->cfg->deferred &&
		   !P->agent) {
		agent_start(P, &m, fds, nfd, &reply, &failed);
	} else if ((size_t)n == sizeof(m) && m.type == CTL_EXEC_SIGNAL) {
		struct pid1_exec *e = exec_find(P, (uint32_t)m.a, 0);
		if (e && m.code > 0 && m.code < NSIG)
			kill(-e->pid, m.code);
	}
	for (size_t i = 0; i < nfd; i++)
		close(fds[i]);
	if (reply.type)
		send_ctl(P, &reply);
	if (failed)
		_exit(failed); /* no agent: the sandbox ends */
}

/* Reap every child that ended. An exec's leftovers in its process group
 * are killed while its zombie still holds the group's number. */
static void reap(struct pid1 *P)
{
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			return;
		pid_t pid = si.si_pid;
		struct pid1_exec *e = pid == P->agent ? NULL : exec_find(P, 0, pid);
		if (e)
			kill(-pid, SIGKILL);
		int status;
		if (waitpid(pid, &status, 0) < 0)
			return;
		if (pid == P->agent)
			report_exit(P->ctl, status);
		if (!e)
			continue;
		struct ctl_msg m = {.type = CTL_EXEC_EXITED, .a = (int32_t)e->id};
		m.b = WIFSIGNALED(status);
		m.code = m.b ? WTERMSIG(status) : WEXITSTATUS(status);
		send_ctl(P, &m);
		*e = (struct pid1_exec){0};
	}
}

_noreturn_ void pid1_run(const struct child_args *a)
{
	const struct sandbox_config *cfg = a->cfg;
	int ctl = a->ctl;
	/* deferred: no command yet, its part (terminal, stdio, lookup) waits */
	const char *what = cfg->deferred ? "the agent" : cfg->argv[0];
	prctl(PR_SET_NAME, "pincer-init", 0, 0, 0);

	struct exec_args x = {.argv = cfg->argv, .envp = cfg->envp, .pty_slave = -1};
	if (a->rlimit_fallback)
		x.memory_rlimit = cfg->policy->process.limits.memory;
	struct rlimit nofile;
	x.max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 65536
			   ? (int)nofile.rlim_cur
			   : 65536;
	if (cfg->pty && !cfg->deferred) {
		int r = open_pty(ctl, &x.pty_slave);
		if (r < 0)
			pid1_fail(ctl, -r, "open a terminal", what);
	}
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 3; i++) {
		x.fds[i] = cfg->deferred ? -1 : cfg->stdio[i];
		if (x.fds[i] < 0)
			x.fds[i] = x.pty_slave >= 0 ? x.pty_slave : devnull;
		/* a warm PID 1 keeps nothing of pincer's (the pool's log) */
		if (cfg->deferred && devnull >= 0)
			dup2(devnull, i);
	}

	int perr = 0;
	_cleanup_free_ char *prog =
		cfg->deferred ? NULL : resolve_program(cfg->argv[0], cfg->envp, &perr);
	if (!prog && !cfg->deferred) {
		struct ctl_msg m = {.type = CTL_EXEC_FAILED, .code = perr};
		snprintf(m.text, sizeof(m.text), "%s", cfg->argv[0]);
		(void)send(ctl, &m, sizeof(m), MSG_NOSIGNAL);
		_exit(perr == ENOENT ? 127 : 126);
	}
	x.path = prog;

	/* Every signal back to its default; the ones we handle blocked, and
	 * let in only while the loop waits in ppoll (PID 1 receives only what
	 * it blocks or handles). No signalfd: PID 1 keeps its fds few. */
	sigset_t set;
	handled_signals(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	struct sigaction on = {.sa_handler = on_signal, .sa_flags = SA_NOCLDSTOP};
	sigfillset(&on.sa_mask);
	sigaction(SIGCHLD, &on, NULL);
	for (size_t i = 0; i < PC_ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &on, NULL);

	/* Out of pincer's session: keys typed at pincer's terminal signal
	 * pincer, which forwards them; they never reach the sandbox twice. */
	setsid();
	int r = apply_rlimits(a);
	if (r < 0)
		pid1_fail(ctl, -r, "set resource limits", what);
	r = drop_privileges();
	if (r < 0)
		pid1_fail(ctl, -r, "drop privileges", what);

	/* Step 6 and 7: Landlock, then seccomp, the last thing before exec. */
	struct pc_error err = {0};
	char text[512];
	r = landlock_apply(a, text, sizeof(text), &err);
	if (r < 0)
		child_fail(ctl, &err);
	note(ctl, text);
	r = receive_seccomp(ctl, &err);
	if (r < 0)
		child_fail(ctl, &err);
	if (r > 0)
		snprintf(text, sizeof(text),
			 "seccomp: deny-list loaded (%d rules; denied calls fail with EPERM)", r);
	else
		snprintf(text, sizeof(text), "seccomp: off by policy");
	note(ctl, text);

	char *stack = mmap(NULL, SPAWN_STACK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		pid1_fail(ctl, errno, "map a stack", what);
	pid_t agent = 0;
	int e = 0;
	if (cfg->deferred) {
		/* everything is in place: the agent comes with CTL_AGENT */
		struct ctl_msg ready = {.type = CTL_READY};
		(void)send(ctl, &ready, sizeof(ready), MSG_NOSIGNAL);
	} else if ((e = spawn(&x, stack, &agent))) {
		struct ctl_msg m = {.type = CTL_EXEC_FAILED, .code = e};
		snprintf(m.text, sizeof(m.text), "%s", cfg->argv[0]);
		(void)send(ctl, &m, sizeof(m), MSG_NOSIGNAL);
		_exit(e == ENOENT ? 127 : 126);
	}
	if (x.pty_slave >= 0)
		close(x.pty_slave);
	if (!cfg->deferred) {
		struct ctl_msg started = {.type = CTL_STARTED, .code = agent};
		(void)send(ctl, &started, sizeof(started), MSG_NOSIGNAL);
	}

	/* PID 1's own memory is small: the loop's state lives on its stack. */
	struct pid1 P = {.a = a,
			 .stack = stack,
			 .ctl = ctl,
			 .agent = agent,
			 .envp = cfg->deferred ? NULL : cfg->envp,
			 .tmpl = x};
	P.tmpl.pty_slave = -1;
	P.tmpl.fds[0] = P.tmpl.fds[1] = P.tmpl.fds[2] = -1;
	sigset_t waiting;
	sigprocmask(SIG_SETMASK, NULL, &waiting);
	for (size_t i = 0; i < PC_ARRAY_SIZE(forwarded); i++)
		sigdelset(&waiting, forwarded[i]);
	sigdelset(&waiting, SIGCHLD);
	for (;;) {
		struct pollfd pfd = {.fd = P.ctl, .events = POLLIN};
		int n = ppoll(&pfd, 1, NULL, &waiting);
		for (size_t i = 0; i < PC_ARRAY_SIZE(forwarded); i++) {
			int sig = forwarded[i];
			if (!pending[sig])
				continue;
			pending[sig] = 0;
			if (P.agent)
				kill(P.agent, sig);
			else if (sig != SIGCONT)
				_exit(128 + sig); /* deferred, no agent yet: ended */
		}
		if (pending[SIGCHLD]) {
			pending[SIGCHLD] = 0;
			reap(&P);
		}
		if (n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
			on_ctl(&P);
	}
}
