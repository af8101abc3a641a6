/* PID 1 inside the sandbox (DESIGN.md section 4, steps 5 and 8).
 *
 * It drops every privilege the setup needed, starts the agent with a vfork
 * (no page tables copied), then reaps whatever the agent leaves behind and
 * forwards the signals pincer sends it. When the agent exits, PID 1 reports
 * how and exits too, which ends every process left in the sandbox.
 */
#include "sandbox/internal.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* Runs in the vfork child: only async-signal-safe calls, then execve. */
static int agent_exec(void *arg)
{
	struct exec_args *x = arg;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A session of its own: a terminal outside is not its controlling one,
	 * so TIOCSTI cannot reach it; the pty, when there is one, is. */
	setsid();
	if (x->pty_slave >= 0)
		ioctl(x->pty_slave, TIOCSCTTY, 0);
	if (x->memory_rlimit) {
		struct rlimit rl = {.rlim_cur = x->memory_rlimit, .rlim_max = x->memory_rlimit};
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			goto fail;
	}
	int high[3];
	for (int i = 0; i < 3; i++)
		high[i] = fcntl(x->fds[i], F_DUPFD_CLOEXEC, 10);
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

_noreturn_ void pid1_run(const struct child_args *a)
{
	const struct sandbox_config *cfg = a->cfg;
	int ctl = a->ctl;
	prctl(PR_SET_NAME, "pincer-init", 0, 0, 0);

	struct exec_args x = {.argv = cfg->argv, .envp = cfg->envp, .pty_slave = -1};
	if (a->rlimit_fallback)
		x.memory_rlimit = cfg->policy->process.limits.memory;
	struct rlimit nofile;
	x.max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 65536
			   ? (int)nofile.rlim_cur
			   : 65536;
	if (cfg->pty) {
		int r = open_pty(ctl, &x.pty_slave);
		if (r < 0)
			pid1_fail(ctl, -r, "open a terminal", cfg->argv[0]);
	}
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 3; i++) {
		x.fds[i] = cfg->stdio[i];
		if (x.fds[i] < 0)
			x.fds[i] = x.pty_slave >= 0 ? x.pty_slave : devnull;
	}

	int perr;
	_cleanup_free_ char *prog = resolve_program(cfg->argv[0], cfg->envp, &perr);
	if (!prog) {
		struct ctl_msg m = {.type = CTL_EXEC_FAILED, .code = perr};
		snprintf(m.text, sizeof(m.text), "%s", cfg->argv[0]);
		(void)send(ctl, &m, sizeof(m), MSG_NOSIGNAL);
		_exit(perr == ENOENT ? 127 : 126);
	}
	x.path = prog;

	/* Every signal back to its default; the ones we handle, blocked and
	 * taken with sigwaitinfo (PID 1 receives only what it blocks or
	 * handles). */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < PC_ARRAY_SIZE(forwarded); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);

	/* Out of pincer's session: keys typed at pincer's terminal signal
	 * pincer, which forwards them; they never reach the sandbox twice. */
	setsid();
	int r = apply_rlimits(a);
	if (r < 0)
		pid1_fail(ctl, -r, "set resource limits", cfg->argv[0]);
	r = drop_privileges();
	if (r < 0)
		pid1_fail(ctl, -r, "drop privileges", cfg->argv[0]);

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

	char stack[32 * 1024] __attribute__((aligned(16)));
	pid_t agent =
		clone(agent_exec, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &x);
	if (agent < 0 || x.exec_errno) {
		int e = agent < 0 ? errno : x.exec_errno;
		struct ctl_msg m = {.type = CTL_EXEC_FAILED, .code = e};
		snprintf(m.text, sizeof(m.text), "%s", cfg->argv[0]);
		(void)send(ctl, &m, sizeof(m), MSG_NOSIGNAL);
		_exit(e == ENOENT ? 127 : 126);
	}
	if (x.pty_slave >= 0)
		close(x.pty_slave);
	struct ctl_msg started = {.type = CTL_STARTED, .code = agent};
	(void)send(ctl, &started, sizeof(started), MSG_NOSIGNAL);

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(agent, sig);
			continue;
		}
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == agent)
				report_exit(ctl, status);
	}
}
