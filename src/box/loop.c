/* The foreground event loop of one box: the sandbox's control socket and
 * pidfd, signals, the wall-time limit, the terminal relay, the gate and
 * policy reloads, all on one libevent base.
 */
#include "box/internal.h"
#include "gate/gate.h"
#include "sandbox/sandbox.h"

#include <event2/event.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

/* Grace between SIGTERM and SIGKILL when the wall time runs out. */
#define WALL_TIME_GRACE_MS 3000

static void wall_time_reached(struct box_loop *L)
{
	char limit[32], reason[160];
	pc_format_duration(L->wall_ms, limit, sizeof(limit));
	snprintf(reason, sizeof(reason), "wall time %s reached: SIGTERM now, SIGKILL after %d s",
		 limit, WALL_TIME_GRACE_MS / 1000);
	struct pc_error aerr = {0};
	const struct audit_field f[] = {AUDIT_NUM("wall_time_ms", L->wall_ms)};
	if (audit_write(L->log, AUDIT_LIMIT, L->agent, L->run, AUDIT_DENY, reason, f, 1, &aerr) < 0)
		pc_warn("audit: %s", aerr.msg);
	pc_info("%s", reason);
	L->timed_out = true;
	sandbox_signal(L->sb, SIGTERM);
}

static void on_term_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct box_loop *L = arg;
	wall_time_reached(L);
	struct timeval tv = {WALL_TIME_GRACE_MS / 1000, (WALL_TIME_GRACE_MS % 1000) * 1000};
	evtimer_add(L->ev_kill, &tv);
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sandbox_kill(((struct box_loop *)arg)->sb);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct box_loop *L = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGWINCH) {
			if (L->relaying)
				tty_relay_resize(&L->relay);
		} else if (L->parent && getppid() != L->parent) {
			/* PDEATHSIG: whoever started us is gone. */
			L->orphaned = true;
			sandbox_kill(L->sb);
		} else if (si.ssi_signo == SIGHUP) {
			/* a warm run's policy is its pool's until the start */
			if (!L->claim || L->claimed)
				box_reload(L, "SIGHUP");
		} else {
			sandbox_signal(L->sb, (int)si.ssi_signo);
		}
	}
}

static void on_control(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct box_loop *L = arg;
	struct pc_error err = {0};
	int c = sandbox_handle_control(L->sb, L->ex, &err);
	if (c < 0 && c != -EPIPE)
		pc_warn("%s", err.msg);
	if (c != 0)
		event_del(L->ev_ctl); /* PID 1 is done talking; the pidfd says the rest */
}

static void on_pidfd(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct box_loop *L = arg;
	sandbox_reap(L->sb, L->ex);
	L->reaped = true;
	event_base_loopbreak(L->base);
}

static enum gate_listener_kind gate_kind(enum sandbox_listener_kind k)
{
	switch (k) {
	case SANDBOX_LISTEN_CAPTURE:
		return GATE_LISTEN_CAPTURE;
	case SANDBOX_LISTEN_DNS:
		return GATE_LISTEN_DNS;
	case SANDBOX_LISTEN_PROXY:
	default:
		return GATE_LISTEN_PROXY;
	}
}

static int start_gate(struct box_loop *L, struct pc_error *err)
{
	struct gate_config gc = {
		.base = L->base,
		.policy = L->current,
		.log = L->log,
		.agent = L->agent,
		.run = L->run,
		.tls_ops = L->icpt ? L->icpt->ops : NULL,
		.tls = L->icpt ? L->icpt->tls : NULL,
		.creds = L->icpt ? L->icpt->creds : NULL,
		.stats = L->stats,
	};
	int r = gate_new(&gc, &L->gate, err);
	if (r < 0)
		return r;
	box_approvals_attach(L);
	struct sandbox_listener *ls = NULL;
	size_t n = sandbox_take_listeners(L->sb, &ls);
	for (size_t i = 0; i < n; i++) {
		if (r >= 0)
			r = gate_add_listener(L->gate, gate_kind(ls[i].kind), ls[i].fd, ls[i].port,
					      err);
		else
			close(ls[i].fd);
	}
	free(ls);
	return r;
}

int box_loop_run(struct box_loop *L, struct pc_error *err)
{
	int r = 0;
	/* a peer of the gate that hung up must not kill pincer; the sandbox
	 * is already running (its PID 1 resets every signal anyway) */
	signal(SIGPIPE, SIG_IGN);
	/* two fds per gate connection: take the hard limit (the sandbox has
	 * its own, set by PID 1) */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	L->base = event_base_new();
	if (!L->base)
		return pc_error(err, ENOMEM, "cannot create the event loop");
	L->ev_sig = event_new(L->base, L->sigfd, EV_READ | EV_PERSIST, on_signal, L);
	L->ev_ctl =
		event_new(L->base, sandbox_control_fd(L->sb), EV_READ | EV_PERSIST, on_control, L);
	L->ev_pid = event_new(L->base, sandbox_pidfd(L->sb), EV_READ, on_pidfd, L);
	L->ev_term = evtimer_new(L->base, on_term_timer, L);
	L->ev_kill = evtimer_new(L->base, on_kill_timer, L);
	if (!L->ev_sig || !L->ev_ctl || !L->ev_pid || !L->ev_term || !L->ev_kill) {
		r = pc_error(err, ENOMEM, "cannot set up the event loop");
		goto out;
	}
	event_add(L->ev_sig, NULL);
	event_add(L->ev_ctl, NULL);
	event_add(L->ev_pid, NULL);
	L->start_ns = pc_now_ns();     /* a reloaded wall time counts from here too */
	if (L->wall_ms && !L->claim) { /* a warm run's counts from its start */
		struct timeval tv = {(time_t)(L->wall_ms / 1000),
				     (suseconds_t)(L->wall_ms % 1000) * 1000};
		evtimer_add(L->ev_term, &tv);
	}
	r = start_gate(L, err);
	if (r < 0) {
		/* no gate, no network: the agent cannot run as the policy says */
		sandbox_kill(L->sb);
		sandbox_reap(L->sb, L->ex);
		goto out;
	}
	if (L->control && (r = control_attach(L->control, L, err)) < 0) {
		sandbox_kill(L->sb);
		sandbox_reap(L->sb, L->ex);
		goto out;
	}
	if (L->bc->watch)
		box_watch_start(L);
	L->relaying = sandbox_pty_master(L->sb) >= 0;
	if (L->relaying) {
		tty_relay_start(&L->relay, sandbox_pty_master(L->sb));
		tty_relay_attach(&L->relay, L->base);
	}
	while (!L->reaped) {
		if (event_base_dispatch(L->base) < 0) {
			r = pc_error(err, EIO, "the event loop failed");
			sandbox_kill(L->sb);
			sandbox_reap(L->sb, L->ex);
			break;
		}
	}
	if (L->relaying)
		tty_relay_finish(&L->relay);
	box_approvals_detach(L); /* nobody is told of what the shutdown ends */
	if (L->gate) {
		gate_shutdown(L->gate);
		gate_summary(L->gate, &L->summary);
		/* callbacks libevent deferred (TLS filters) hold the last
		 * references to what the shutdown freed: let them run */
		event_base_loop(L->base, EVLOOP_NONBLOCK);
	}
out:
	if (L->control)
		control_detach(L->control); /* the sandbox has ended: so have its execs */
	box_watch_stop(L);
	box_approvals_detach(L);
	if (L->gate)
		gate_free(L->gate);
	L->gate = NULL;
	struct event **evs[] = {&L->ev_sig, &L->ev_ctl, &L->ev_pid, &L->ev_term, &L->ev_kill};
	for (size_t i = 0; i < PC_ARRAY_SIZE(evs); i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	event_base_free(L->base);
	L->base = NULL;
	return r;
}
