/* The child side of sandbox_start: in the new namespaces, in the order of
 * DESIGN.md section 4 (steps 3 to 5); PID 1 (pid1.c) takes over after. */
#include "sandbox/internal.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

_noreturn_ void child_fail(int ctl, const struct pc_error *err)
{
	struct ctl_msg m = {.type = CTL_SETUP_FAILED, .code = err->code};
	snprintf(m.text, sizeof(m.text), "%s", err->msg);
	(void)send(ctl, &m, sizeof(m), MSG_NOSIGNAL);
	_exit(125);
}

/* Dying with the parent: PDEATHSIG is cleared by every credential change,
 * so it is set after the last one, and a parent already gone is caught by
 * the control socket having hung up. */
static void die_with_parent(int ctl)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct pollfd p = {.fd = ctl, .events = 0};
	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
		_exit(125);
}

static int int_cmp(const void *x, const void *y)
{
	return *(const int *)x - *(const int *)y;
}

/* PID 1 keeps nothing of pincer's but the control socket and the agent's
 * stdio: not the audit log, not the signalfd, not the grants' fds. */
static void close_all_but(int *keep, size_t n)
{
	qsort(keep, n, sizeof(*keep), int_cmp);
	unsigned lo = 0;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0 || (unsigned)keep[i] < lo)
			continue;
		if ((unsigned)keep[i] > lo)
			syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0U);
		lo = (unsigned)keep[i] + 1;
	}
	syscall(SYS_close_range, lo, ~0U, 0U);
}

_noreturn_ void sandbox_child_main(struct child_args *a)
{
	struct pc_error err = {0};
	const struct policy *p = a->cfg->policy;

	/* This process is a copy of pincer's: the secrets and keys pincer
	 * holds are wiped from it before anything else. */
	if (a->cfg->forget)
		a->cfg->forget(a->cfg->forget_arg);

	/* Step 3: the network namespace has only lo: up, a local default
	 * route on it, and the gate's sockets, made while this process holds
	 * the namespace's capabilities and handed to pincer at once. */
	if (net_setup(a->ctl, p, &err) < 0)
		child_fail(a->ctl, &err);

	/* The parent writes our uid/gid maps; nothing that creates files can
	 * happen before. */
	struct ctl_msg m;
	ssize_t n;
	n = pc_recv(a->ctl, &m, sizeof(m), 0);
	if (n <= 0 || m.type != CTL_GO)
		_exit(125);
	/* On cgroup v1 the parent moved us into our cgroup just now: root the
	 * cgroup namespace there, so the sandbox sees itself at "/". */
	if (a->late_cgroupns && unshare(CLONE_NEWCGROUP) < 0) {
		pc_error_errno(&err, errno, "cgroup namespace");
		child_fail(a->ctl, &err);
	}

	/* Become the agent's ids now. Our ids were unmapped until the maps
	 * were written, so this change keeps the namespace's capabilities for
	 * the setup below; they are dropped before the agent runs. */
	if (setresgid(SANDBOX_AGENT_GID, SANDBOX_AGENT_GID, SANDBOX_AGENT_GID) < 0 ||
	    setresuid(SANDBOX_AGENT_UID, SANDBOX_AGENT_UID, SANDBOX_AGENT_UID) < 0) {
		pc_error_errno(&err, errno, "become uid %d", SANDBOX_AGENT_UID);
		child_fail(a->ctl, &err);
	}
	die_with_parent(a->ctl);

	/* Step 4: the filesystem. */
	if (rootfs_build(a, &err) < 0)
		child_fail(a->ctl, &err);

	/* Step 5 begins: the hostname. */
	if (sethostname(p->hostname, strlen(p->hostname)) < 0) {
		pc_error_errno(&err, errno, "sethostname %s", p->hostname);
		child_fail(a->ctl, &err);
	}
	if (!a->cfg->cwd || chdir(a->cfg->cwd) < 0)
		if (!a->home || chdir(a->home) < 0)
			(void)!chdir("/");

	int keep[] = {0, 1, 2, a->ctl, a->cfg->stdio[0], a->cfg->stdio[1], a->cfg->stdio[2]};
	close_all_but(keep, PC_ARRAY_SIZE(keep));
	pid1_run(a);
}
