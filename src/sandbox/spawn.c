/* The parent side of a sandbox: clone3 into new namespaces, write the id
 * maps, then follow PID 1's reports (DESIGN.md section 4, steps 1, 2, 9). */
#include "sandbox/internal.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct sandbox {
	pid_t pid;
	int pidfd;
	int ctl;
	int pty_master;
	uid_t host_uid;
	bool reported;
	bool reaped;
	bool deferred;	    /* the agent waits for sandbox_start_agent */
	bool agent_asked;   /* deferred: sandbox_start_agent sent its request */
	bool agent_started; /* deferred: PID 1 said it runs */
	struct sandbox_exit exit;
	char **notes; /* what each hardening layer did */
	struct cgroup *cg;
	struct sandbox_listener *listeners; /* the gate's sockets, until taken */
	size_t n_listeners;
	/* the execs asked for and not yet reported ended */
	sandbox_exec_cb exec_cb;
	void *exec_arg;
	struct {
		uint32_t id;
		bool used, started;
	} execs[SANDBOX_MAX_EXECS];
};

/* Is id listed as a uid (field 3) or gid (field 3 of group) in the file? */
static bool id_listed(const char *file, unsigned id)
{
	_cleanup_free_ char *text = NULL;
	if (pc_read_file(file, 16 << 20, &text, NULL, NULL) < 0)
		return false;
	char needle[24];
	int n = snprintf(needle, sizeof(needle), ":%u:", id);
	for (const char *p = text; (p = strstr(p, needle)); p += n) {
		/* name:x:ID: -- the id is the third field */
		const char *bol = p;
		while (bol > text && bol[-1] != '\n')
			bol--;
		int colons = 0;
		for (const char *c = bol; c < p; c++)
			colons += *c == ':';
		if (colons == 1)
			return true;
	}
	return false;
}

/* As root, the agent gets a host uid nobody has: a fresh one per run from
 * a range no distribution allocates from (systemd's container range ends at
 * 0x6fffffff, its foreign range starts at 0x7ffe0000). The local files are checked, not NSS:
 * loading NSS modules would cost more than the whole sandbox setup. */
static uid_t pick_unused_uid(void)
{
	for (;;) {
		uint32_t r;
		pc_random(&r, sizeof(r));
		uid_t u = 0x70000000u + (r % 0x0ffe0000u); /* below systemd's 0x7ffe0000 */
		if (!id_listed("/etc/passwd", u) && !id_listed("/etc/group", u))
			return u;
	}
}

static int write_maps(pid_t pid, uid_t host_uid, gid_t host_gid, struct pc_error *err)
{
	char path[64], map[64];
	snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
	int r = pc_write_string(path, "deny", err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	snprintf(map, sizeof(map), "%d %u 1\n", SANDBOX_AGENT_UID, host_uid);
	if ((r = pc_write_string(path, map, err)) < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	snprintf(map, sizeof(map), "%d %u 1\n", SANDBOX_AGENT_GID, host_gid);
	return pc_write_string(path, map, err);
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/* CTL_NET: keep the gate's sockets, each with what it is. */
static int take_net(struct sandbox *sb, const struct ctl_msg *m, int *fds, size_t nfd)
{
	bool ok = m->a > 0 && (size_t)m->a == nfd && sb->n_listeners + nfd <= NET_MAX_LISTENERS;
	for (size_t i = 0; ok && i < nfd; i++)
		ok = m->net[i].kind <= SANDBOX_LISTEN_DNS;
	if (!ok) {
		for (size_t i = 0; i < nfd; i++)
			close(fds[i]);
		return -EPROTO;
	}
	sb->listeners =
		pc_xrealloc(sb->listeners, (sb->n_listeners + nfd) * sizeof(*sb->listeners));
	for (size_t i = 0; i < nfd; i++)
		sb->listeners[sb->n_listeners++] = (struct sandbox_listener){
			.kind = (enum sandbox_listener_kind)m->net[i].kind,
			.port = m->net[i].port,
			.fd = fds[i]};
	return 0;
}

static int recv_ctl(struct sandbox *sb, struct ctl_msg *m)
{
	int fds[CTL_MAX_FDS];
	size_t nfd = CTL_MAX_FDS;
	memset(m, 0, sizeof(*m)); /* a short message reads as zeros */
	ssize_t n = pc_recv_fds(sb->ctl, m, sizeof(*m), fds, &nfd);
	if (n <= 0)
		return n < 0 ? (int)n : -EPIPE;
	m->text[sizeof(m->text) - 1] = '\0';
	if (m->type == CTL_NET)
		return take_net(sb, m, fds, nfd);
	size_t used = 0;
	if (m->type == CTL_PTY && nfd >= 1) {
		if (sb->pty_master >= 0)
			close(sb->pty_master);
		sb->pty_master = fds[used++];
	}
	while (used < nfd)
		close(fds[used++]);
	return 0;
}

int sandbox_start(const struct sandbox_config *cfg, struct sandbox **out, struct pc_error *err)
{
	const bool as_root = geteuid() == 0;
	/* The gate's capture listeners have a fixed budget. */
	uint16_t ports[SANDBOX_MAX_CAPTURE_PORTS];
	size_t n_ports = sandbox_capture_ports(cfg->policy, ports, PC_ARRAY_SIZE(ports));
	if (n_ports > SANDBOX_MAX_CAPTURE_PORTS)
		return pc_error(err, E2BIG,
				"%s: network.egress names %zu distinct ports (with 80 and 443); "
				"a sandbox captures at most %d",
				cfg->policy->file, n_ports, SANDBOX_MAX_CAPTURE_PORTS);

	_cleanup_sandbox_ struct sandbox *sb = pc_xcalloc(1, sizeof(*sb));
	sb->pidfd = sb->ctl = sb->pty_master = -1;
	sb->deferred = cfg->deferred;
	gid_t host_gid;
	if (as_root) {
		sb->host_uid = pick_unused_uid();
		host_gid = (gid_t)sb->host_uid;
		/* Host root's supplementary groups must not follow the agent in:
		 * inside, setgroups is denied and they could not be dropped. */
		if (setgroups(0, NULL) < 0)
			return pc_error_errno(err, errno, "drop supplementary groups");
	} else {
		sb->host_uid = getuid();
		host_gid = getgid();
	}

	/* Step 1: the cgroup, before the child exists, so nothing it runs is
	 * ever outside it. Without one, the limits fall back to rlimits. */
	_cleanup_free_ char *why = NULL;
	int r = cgroup_create(&cfg->policy->process.limits, cfg->name ? cfg->name : "pincer",
			      &sb->cg, &why, err);
	if (r < 0)
		return r;
	if (!sb->cg && why) {
		_cleanup_free_ char *n = pc_xasprintf(
			"cgroups not available: %s; pids and memory are enforced with rlimits "
			"instead, the cpu quota is not enforced",
			why);
		pc_strv_push(&sb->notes, n);
	} else if (sb->cg) {
		_cleanup_free_ char *n = pc_xasprintf("cgroup: %s", cgroup_describe(sb->cg));
		pc_strv_push(&sb->notes, n);
	}

	struct grant_tree *grants = NULL;
	size_t n_grants = 0;
	r = grants_prepare(cfg, as_root, sb->host_uid, host_gid, &grants, &n_grants, err);
	if (r < 0) {
		sandbox_free(pc_steal_ptr(&sb));
		return r;
	}

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		grants_free(grants, n_grants);
		return pc_error_errno(err, errno, "socketpair");
	}
	struct child_args a = {.cfg = cfg,
			       .ctl = sv[1],
			       .as_root = as_root,
			       .grants = grants,
			       .n_grants = n_grants,
			       .home = env_get(cfg->envp, "HOME")};
	a.home_tmpfs = rootfs_home_needs_tmpfs(cfg->policy, a.home);
	a.rlimit_fallback = sb->cg == NULL;
	/* Denied paths resolved here, on the host: inside, host paths under
	 * /tmp are already covered by the staging root. */
	_cleanup_strv_ char **deny_real = NULL;
	for (size_t i = 0; i < cfg->policy->fs.n_deny; i++) {
		const char *d = cfg->policy->fs.deny[i].path;
		_cleanup_free_ char *rp = strpbrk(d, "*?[") ? NULL : realpath(d, NULL);
		pc_strv_push(&deny_real, rp ? rp : "");
	}
	a.deny_real = deny_real;

	struct clone_args ca = {
		.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
			 CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&sb->pidfd,
		.exit_signal = SIGCHLD,
	};
	int cgfd = sb->cg ? cgroup_clone_fd(sb->cg) : -1;
	if (cgfd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)cgfd;
	} else if (sb->cg) {
		ca.flags &= ~(uint64_t)CLONE_NEWCGROUP;
		a.late_cgroupns = true;
	}
	sb->exit.start_ns = pc_now_ns();
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(sv[0]);
		sandbox_child_main(&a);
	}
	int clone_errno = errno;
	close(sv[1]);
	grants_free(grants, n_grants);
	sb->ctl = sv[0];
	if (pid < 0) {
		close(pc_steal_fd(&sb->ctl));
		sandbox_free(pc_steal_ptr(&sb));
		if (clone_errno == EPERM || clone_errno == ENOSPC)
			return pc_error_errno(err, clone_errno,
					      "cannot create namespaces (are unprivileged user "
					      "namespaces enabled? see "
					      "/proc/sys/kernel/unprivileged_userns_clone and "
					      "/proc/sys/user/max_user_namespaces)");
		return pc_error_errno(err, clone_errno, "clone3");
	}
	sb->pid = (pid_t)pid;

	r = 0;
	if (sb->cg && cgfd < 0)
		r = cgroup_attach(sb->cg, sb->pid, err); /* v1: in before it runs anything */
	if (r == 0)
		r = write_maps(sb->pid, sb->host_uid, host_gid, err);
	/* A child that already gave up (a setup step failed, the command does
	 * not exist) has closed its end: a send may fail, and the reason is
	 * waiting in the socket for the loop below. */
	bool child_gone = false;
	if (r == 0) {
		struct ctl_msg go = {.type = CTL_GO};
		if (send(sb->ctl, &go, sizeof(go), MSG_NOSIGNAL) < 0)
			child_gone = true;
	}
	if (r == 0 && !child_gone) {
		/* While the child builds its filesystem, compile its filter. */
		int count = 0;
		struct pc_error serr = {0};
		_cleanup_close_ int prog = -1;
		int c = seccomp_compile(cfg->policy, &prog, &count, &serr);
		struct ctl_msg m = {.type = CTL_SECCOMP, .code = c < 0 ? -c : 0, .a = count};
		if (c < 0)
			snprintf(m.text, sizeof(m.text), "%s", serr.msg);
		(void)pc_send_fds(sb->ctl, &m, sizeof(m), &prog, prog >= 0 ? 1 : 0);
	}
	/* Wait until the agent runs, or the setup says why it cannot. */
	while (r == 0) {
		struct ctl_msg m;
		int c = recv_ctl(sb, &m);
		if (c == -EPROTO) {
			r = pc_error(err, EPROTO, "a malformed message about the gate's sockets");
			break;
		}
		if (c < 0) {
			r = pc_error(err, EIO, "the sandbox ended during setup");
			break;
		}
		if (m.type == CTL_PTY || m.type == CTL_NET)
			continue;
		if (m.type == CTL_LAYER) {
			pc_strv_push(&sb->notes, m.text);
			continue;
		}
		/* started (deferred: ready for the agent) */
		uint32_t done = sb->deferred ? CTL_READY : CTL_STARTED;
		if (m.type == done && sb->n_listeners < 2) /* proxy and DNS at least */
			r = pc_error(err, EPROTO, "the sandbox started without the gate's sockets");
		if (m.type == done)
			break;
		if (m.type == CTL_SETUP_FAILED)
			r = pc_error(err, m.code, "sandbox setup: %s", m.text);
		else if (m.type == CTL_EXEC_FAILED)
			r = pc_error_errno(err, m.code, "cannot run '%s'", m.text);
		else
			r = pc_error(err, EPROTO, "unexpected message %u from the sandbox", m.type);
	}
	if (r < 0) {
		sandbox_kill(sb);
		struct sandbox_exit ignored;
		sandbox_reap(sb, &ignored);
		sandbox_free(pc_steal_ptr(&sb));
		return r;
	}
	*out = pc_steal_ptr(&sb);
	return 0;
}

char *const *sandbox_notes(const struct sandbox *sb)
{
	return sb->notes;
}

int sandbox_pidfd(const struct sandbox *sb)
{
	return sb->pidfd;
}

int sandbox_control_fd(const struct sandbox *sb)
{
	return sb->ctl;
}

int sandbox_pty_master(const struct sandbox *sb)
{
	return sb->pty_master;
}

pid_t sandbox_pid(const struct sandbox *sb)
{
	return sb->pid;
}

uid_t sandbox_host_uid(const struct sandbox *sb)
{
	return sb->host_uid;
}

int sandbox_signal(struct sandbox *sb, int sig)
{
	if (sb->pidfd < 0 || sb->reaped)
		return -ESRCH;
	if (syscall(SYS_pidfd_send_signal, sb->pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* ---- execs --------------------------------------------------------------- */

static void exec_report(struct sandbox *sb, const struct sandbox_exec_report *rep)
{
	if (sb->exec_cb)
		sb->exec_cb(rep, sb->exec_arg);
}

static int exec_slot(const struct sandbox *sb, uint32_t id)
{
	for (size_t i = 0; i < PC_ARRAY_SIZE(sb->execs); i++)
		if (sb->execs[i].used && sb->execs[i].id == id)
			return (int)i;
	return -1;
}

/* The sandbox ended: every exec still tracked ended with it, and an agent
 * asked for and not started never will. */
static void execs_end(struct sandbox *sb)
{
	if (sb->agent_asked && !sb->agent_started) {
		sb->agent_started = true; /* reported: once */
		struct sandbox_exec_report rep = {
			.id = SANDBOX_AGENT_ID,
			.event = SANDBOX_EXEC_REFUSED,
			.error = ESRCH,
			.why = "the sandbox ended before the agent started"};
		exec_report(sb, &rep);
	}
	for (size_t i = 0; i < PC_ARRAY_SIZE(sb->execs); i++) {
		if (!sb->execs[i].used)
			continue;
		struct sandbox_exec_report rep = {.id = sb->execs[i].id};
		if (sb->execs[i].started) {
			rep.event = SANDBOX_EXEC_EXITED;
			rep.signaled = true;
			rep.code = SIGKILL;
		} else {
			rep.event = SANDBOX_EXEC_REFUSED;
			rep.error = ESRCH;
			rep.why = "the sandbox ended before it started";
		}
		sb->execs[i].used = false;
		exec_report(sb, &rep);
	}
}

/* CTL_EXEC_*: PID 1's word on an exec we asked for (anything else is
 * dropped). The slot is settled before the callback runs. */
static void exec_event(struct sandbox *sb, const struct ctl_msg *m)
{
	int i = exec_slot(sb, (uint32_t)m->a);
	if (i < 0)
		return;
	struct sandbox_exec_report rep = {.id = (uint32_t)m->a};
	switch (m->type) {
	case CTL_EXEC_STARTED:
		if (sb->execs[i].started || m->code <= 0)
			return;
		sb->execs[i].started = true;
		rep.event = SANDBOX_EXEC_STARTED;
		rep.pid = m->code;
		break;
	case CTL_EXEC_REFUSED:
		if (sb->execs[i].started)
			return;
		sb->execs[i].used = false;
		rep.event = SANDBOX_EXEC_REFUSED;
		rep.error = m->code > 0 ? m->code : EPROTO;
		rep.why = m->text;
		break;
	case CTL_EXEC_EXITED:
		if (!sb->execs[i].started)
			return;
		sb->execs[i].used = false;
		rep.event = SANDBOX_EXEC_EXITED;
		rep.signaled = m->b != 0;
		rep.code = m->code;
		break;
	default:
		return;
	}
	exec_report(sb, &rep);
}

void sandbox_on_exec(struct sandbox *sb, sandbox_exec_cb cb, void *arg)
{
	sb->exec_cb = cb;
	sb->exec_arg = arg;
}

/* argv and the overlay, NUL-terminated one after the other, in a sealed
 * memfd: more than a control message holds, and fixed once sent. */
static int exec_blob(char *const *argv, char *const *env, struct pc_error *err)
{
	_cleanup_buf_ struct pc_buf b = {0};
	size_t n = 0;
	char *const *lists[] = {argv, env};
	for (size_t l = 0; l < PC_ARRAY_SIZE(lists); l++)
		for (size_t i = 0; lists[l] && lists[l][i]; i++, n++)
			pc_buf_append(&b, lists[l][i], strlen(lists[l][i]) + 1);
	if (b.len > SANDBOX_EXEC_MAX_ARGS || n > SANDBOX_EXEC_MAX_STRINGS)
		return pc_error(err, E2BIG,
				"the command and its environment are too long (%zu strings, %zu "
				"bytes; at most %d and %d)",
				n, b.len, SANDBOX_EXEC_MAX_STRINGS, SANDBOX_EXEC_MAX_ARGS);
	_cleanup_close_ int fd = memfd_create("pincer-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return pc_error_errno(err, errno, "memfd_create");
	if (pc_write_all(fd, b.data, b.len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return pc_error_errno(err, errno, "write the command for the sandbox");
	return pc_steal_fd(&fd);
}

int sandbox_exec(struct sandbox *sb, uint32_t id, char *const *argv, char *const *env_overlay,
		 const int fds[3], struct pc_error *err)
{
	if (sb->reported || sb->reaped || sb->ctl < 0)
		return pc_error(err, ESRCH, "the sandbox has ended");
	if (sb->deferred && !sb->agent_asked)
		return pc_error(err, ESRCH, "the agent has not started");
	if (!argv || !argv[0])
		return pc_error(err, EINVAL, "no command");
	if (id == SANDBOX_AGENT_ID)
		return pc_error(err, EINVAL, "exec id %u is the agent's", id);
	if (exec_slot(sb, id) >= 0)
		return pc_error(err, EEXIST, "exec %u is already running", id);
	int slot = -1;
	for (size_t i = 0; slot < 0 && i < PC_ARRAY_SIZE(sb->execs); i++)
		if (!sb->execs[i].used)
			slot = (int)i;
	if (slot < 0)
		return pc_error(err, EAGAIN, "too many exec'd processes (%d)", SANDBOX_MAX_EXECS);
	_cleanup_close_ int blob = exec_blob(argv, env_overlay, err);
	if (blob < 0)
		return blob;
	struct ctl_msg m = {.type = CTL_EXEC, .a = (int32_t)id, .b = (int32_t)pc_strv_len(argv)};
	const int send[4] = {fds[0], fds[1], fds[2], blob};
	int r = pc_send_fds(sb->ctl, &m, sizeof(m), send, PC_ARRAY_SIZE(send));
	if (r < 0)
		return pc_error_errno(err, -r, "ask the sandbox to run %s", argv[0]);
	sb->execs[slot].id = id;
	sb->execs[slot].used = true;
	sb->execs[slot].started = false;
	return 0;
}

int sandbox_start_agent(struct sandbox *sb, char *const *argv, char *const *envp, const int fds[3],
			struct pc_error *err)
{
	if (!sb->deferred || sb->agent_asked)
		return pc_error(err, EALREADY, "the agent has started already");
	if (sb->reported || sb->reaped || sb->ctl < 0)
		return pc_error(err, ESRCH, "the sandbox has ended");
	if (!argv || !argv[0])
		return pc_error(err, EINVAL, "no command");
	_cleanup_close_ int blob = exec_blob(argv, envp, err);
	if (blob < 0)
		return blob;
	struct ctl_msg m = {.type = CTL_AGENT, .b = (int32_t)pc_strv_len(argv)};
	const int send[4] = {fds[0], fds[1], fds[2], blob};
	int r = pc_send_fds(sb->ctl, &m, sizeof(m), send, PC_ARRAY_SIZE(send));
	if (r < 0)
		return pc_error_errno(err, -r, "ask the sandbox to run %s", argv[0]);
	sb->agent_asked = true;
	sb->exit.start_ns = pc_now_ns(); /* the agent's time, not the warm wait */
	return 0;
}

/* A deferred agent's start: CTL_STARTED or CTL_EXEC_FAILED, once asked. */
static void agent_event(struct sandbox *sb, const struct ctl_msg *m)
{
	if (!sb->agent_asked || sb->agent_started)
		return;
	sb->agent_started = true;
	struct sandbox_exec_report rep = {.id = SANDBOX_AGENT_ID};
	if (m->type == CTL_STARTED && m->code > 0) {
		rep.event = SANDBOX_EXEC_STARTED;
		rep.pid = m->code;
	} else {
		rep.event = SANDBOX_EXEC_REFUSED;
		rep.error = m->type == CTL_EXEC_FAILED && m->code > 0 ? m->code : EPROTO;
		rep.why = m->type == CTL_EXEC_FAILED ? m->text : "a malformed answer";
	}
	exec_report(sb, &rep);
}

int sandbox_exec_signal(struct sandbox *sb, uint32_t id, int sig)
{
	/* not waiting for its start to be reported: PID 1 reads the exec and
	 * then this from one socket, in order, and knows the process by then
	 * (which may have written to its client already: a signal dropped
	 * here for want of the report was lost) */
	int i = exec_slot(sb, id);
	if (i < 0 || sb->reported || sb->reaped || sb->ctl < 0)
		return -ESRCH;
	if (sig < 1 || sig >= NSIG)
		return -EINVAL;
	struct ctl_msg m = {.type = CTL_EXEC_SIGNAL, .a = (int32_t)id, .code = sig};
	if (send(sb->ctl, &m, sizeof(m), MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

int sandbox_handle_control(struct sandbox *sb, struct sandbox_exit *ex, struct pc_error *err)
{
	struct ctl_msg m;
	int r = recv_ctl(sb, &m);
	if (r == -EPIPE || r == -ECONNRESET) {
		execs_end(sb);
		return -EPIPE; /* PID 1 gone: the pidfd says how */
	}
	if (r < 0)
		return pc_error_errno(err, -r, "read from the sandbox");
	if (m.type >= CTL_EXEC_STARTED && m.type <= CTL_EXEC_EXITED) {
		exec_event(sb, &m);
		return 0;
	}
	if (sb->deferred && (m.type == CTL_STARTED || m.type == CTL_EXEC_FAILED)) {
		agent_event(sb, &m);
		return 0;
	}
	if (m.type == CTL_EXITED) {
		sb->reported = true;
		sb->exit.signaled = m.a != 0;
		sb->exit.code = m.code;
		sb->exit.end_ns = pc_now_ns();
		*ex = sb->exit;
		execs_end(sb);
		return 1;
	}
	return 0;
}

int sandbox_reap(struct sandbox *sb, struct sandbox_exit *ex)
{
	if (sb->reaped) {
		*ex = sb->exit;
		return 0;
	}
	siginfo_t si = {0};
	int r;
	do
		r = (int)syscall(SYS_waitid, P_PIDFD, sb->pidfd, &si, WEXITED, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	sb->reaped = true;
	execs_end(sb);
	if (sb->cg) {
		/* The pid namespace is gone: the cgroup holds nothing any more. */
		sb->exit.oom = cgroup_oom_killed(sb->cg);
		cgroup_destroy(pc_steal_ptr(&sb->cg));
	}
	if (!sb->reported) {
		/* Killed from outside before it could report: its own status. */
		sb->exit.end_ns = pc_now_ns();
		sb->exit.signaled = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
		sb->exit.code = si.si_status;
		if (!sb->exit.signaled && sb->exit.code > 128) {
			sb->exit.signaled = true;
			sb->exit.code -= 128;
		}
	}
	*ex = sb->exit;
	return 0;
}

size_t sandbox_take_listeners(struct sandbox *sb, struct sandbox_listener **out)
{
	size_t n = sb->n_listeners;
	*out = pc_steal_ptr(&sb->listeners);
	sb->n_listeners = 0;
	return n;
}

void sandbox_kill(struct sandbox *sb)
{
	if (!sb->reaped)
		sandbox_signal(sb, SIGKILL);
}

void sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	if (!sb->reaped && sb->pidfd >= 0) {
		struct sandbox_exit ex;
		sandbox_kill(sb);
		sandbox_reap(sb, &ex);
	}
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	if (sb->ctl >= 0)
		close(sb->ctl);
	if (sb->pty_master >= 0)
		close(sb->pty_master);
	for (size_t i = 0; i < sb->n_listeners; i++)
		close(sb->listeners[i].fd);
	free(sb->listeners);
	pc_strv_free(sb->notes);
	if (sb->cg)
		cgroup_destroy(sb->cg);
	free(sb);
}
