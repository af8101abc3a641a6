/* sandbox: one program in namespaces of its own, set up in the order of
 * DESIGN.md section 4.
 *
 *   parent (host)                          child (new user, mount, pid, net,
 *                                                 ipc, uts, cgroup namespaces)
 *   sandbox_start():
 *     idmapped trees for grants (as root)
 *     clone3(CLONE_PIDFD | CLONE_NEW*)  ->  lo up, local default routes,
 *                                          the gate's sockets made
 *                                     <-  the gate's sockets (fds)
 *     uid/gid maps, setgroups deny           wait for the maps
 *     "go"                              ->  uid 1000, mounts, pivot_root,
 *                                          hostname, caps dropped, NNP
 *                                     <-  pty master (when asked for)
 *                                          PID 1: vfork + exec the agent
 *                                     <-  started (or exec failed)
 *   (deferred: <- ready, and PID 1 waits; sandbox_start_agent() -> the
 *    agent's argv, environment and stdio -> vfork + exec; <- started)
 *   sandbox_wait() / the caller's loop     PID 1 reaps, forwards signals,
 *   sandbox_exec() (below)            ->  starts more processes beside the agent
 *                                     <-  exited (code or signal)
 *
 * Inside, the agent always runs as uid/gid 1000 ("agent"). Outside it is
 * the invoking user, or, when pincer runs as root, a fresh unused host uid;
 * never host root. The caller keeps the pidfd and the control socket and
 * may poll both; the sandbox dies with its PID 1, and PID 1 dies with the
 * parent (PDEATHSIG).
 */
#pragma once

#include "policy/policy.h"

#define SANDBOX_AGENT_UID 1000
#define SANDBOX_AGENT_GID 1000

struct sandbox_config {
	const struct policy *policy;
	char *const *argv; /* the command; argv[0] looked up in PATH inside */
	char *const *envp; /* the whole environment the agent gets */
	const char *cwd;   /* working directory inside; falls back to HOME, then / */
	bool pty;	   /* give the agent a pseudo-terminal (the caller relays) */
	int stdio[3];	   /* the agent's stdin/out/err; -1 = the pty (or /dev/null) */
	/* Host paths the agent must never reach (pincer's own audit log and
	 * state): a grant or system dir containing one is refused. */
	char *const *hidden;
	const char *name; /* names the sandbox's cgroup ("pincer-<run id>") */
	/* PEM trusted inside (TLS interception: the system roots plus the
	 * run's CA), written to SANDBOX_CA_BUNDLE and laid over the usual
	 * bundle paths that exist; NULL: none */
	const char *ca_bundle;
	/* Run first in the sandbox's own process (a copy of the caller's
	 * memory): wipe what the caller holds that PID 1 must not keep, such
	 * as secrets and keys. NULL: nothing. */
	void (*forget)(void *arg);
	void *forget_arg;
	/* Build everything but start no agent (a warm run): sandbox_start
	 * returns once PID 1 waits, under Landlock and seccomp, for
	 * sandbox_start_agent. argv, pty and stdio are unused; of envp only
	 * HOME counts (the home made at setup). */
	bool deferred;
};

#define SANDBOX_CA_BUNDLE "/.pincer/ca-bundle.pem"

/* How the agent ended. */
struct sandbox_exit {
	bool signaled;
	int code;		   /* exit code, or the signal number when signaled */
	uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC */
	bool oom;		   /* the kernel killed a process in it for lack of memory */
};

struct sandbox;

/* Build and start the sandbox; returns when the agent has been exec'd (or
 * setup failed, with err naming the step: "mount /home/x: ..."). A setup
 * failure is -errno; an agent that could not be exec'd is -ENOENT/-EACCES
 * with err "cannot run 'prog': ...". Deferred: returns when PID 1 waits
 * for the agent. */
int sandbox_start(const struct sandbox_config *cfg, struct sandbox **out, struct pc_error *err);
/* The agent of a deferred sandbox: PID 1 starts argv (argv[0] looked up in
 * envp's PATH) with envp as its whole environment and fds as its stdin,
 * stdout and stderr (any kind of fd; the sandbox sends copies). Returns 0
 * once asked, or -errno: -EALREADY asked before (or not deferred), -ESRCH
 * the sandbox has ended, -E2BIG as sandbox_exec. The answer goes to the
 * sandbox_on_exec callback as the exec SANDBOX_AGENT_ID: STARTED (its pid
 * inside), or REFUSED (why; PID 1 then exits 127 for ENOENT, else 126, and
 * the sandbox ends). From here on it is the agent as if sandbox_start had
 * started it: its exit ends the sandbox (sandbox_exit counts its time from
 * this call), execs lay their env over envp. Before, execs are refused. */
#define SANDBOX_AGENT_ID 0
int sandbox_start_agent(struct sandbox *sb, char *const *argv, char *const *envp, const int fds[3],
			struct pc_error *err);

/* fds the caller's event loop watches: the pidfd of PID 1 (readable when it
 * exits) and the control socket (readable when PID 1 reports). */
int sandbox_pidfd(const struct sandbox *sb);
int sandbox_control_fd(const struct sandbox *sb);
/* The pty master for the caller to relay, or -1. Owned by the sandbox. */
int sandbox_pty_master(const struct sandbox *sb);
/* What each hardening layer did, one line each, for the audit log
 * ("seccomp: deny-list loaded (...)", "landlock: ABI 7 applied ..."). */
char *const *sandbox_notes(const struct sandbox *sb);
/* Host pid of PID 1 and the host uid the agent runs as. */
pid_t sandbox_pid(const struct sandbox *sb);
uid_t sandbox_host_uid(const struct sandbox *sb);

/* Forward a signal to the agent (through PID 1). */
int sandbox_signal(struct sandbox *sb, int sig);
/* Read PID 1's report after the control fd polled readable (an exec's
 * report goes to the sandbox_on_exec callback). Returns 1 once the agent's
 * exit is known (filled into *ex), 0 for nothing final yet, -EPIPE once
 * PID 1 closed its end (stop polling; the pidfd tells the rest). */
int sandbox_handle_control(struct sandbox *sb, struct sandbox_exit *ex, struct pc_error *err);
/* ---- processes started next to the agent (exec) --------------------------
 *
 *   caller                        parent                     PID 1
 *   sandbox_exec(id, argv, ...) -> CTL_EXEC + stdio + blob -> resolve, vfork,
 *                                                             exec as the agent
 *   callback STARTED (pid)     <- CTL_EXEC_STARTED        <-
 *        or REFUSED (why)      <- CTL_EXEC_REFUSED        <- (nothing runs)
 *   sandbox_exec_signal(id, s) -> CTL_EXEC_SIGNAL         -> kill(-pgid, s)
 *   callback EXITED            <- CTL_EXEC_EXITED         <- reaped; what is
 *                                                             left of its group
 *                                                             is SIGKILLed
 *
 * The process is PID 1's child: every namespace, the cgroup, Landlock,
 * seccomp, rlimits, uid 1000, no capabilities and no_new_privs of the
 * agent, a session (and process group) of its own, the agent's working
 * directory, and the agent's environment with env_overlay laid over it.
 * argv[0] is looked up in the agent's PATH. The callbacks run from
 * sandbox_handle_control and sandbox_reap; when the sandbox ends, every
 * exec still tracked is reported there too: EXITED with SIGKILL if it had
 * started, else REFUSED. */
#define SANDBOX_MAX_EXECS	 64	     /* tracked at once */
#define SANDBOX_EXEC_MAX_ARGS	 (256 << 10) /* argv and env: bytes, NULs included */
#define SANDBOX_EXEC_MAX_STRINGS 4096	     /* argv and env: strings */

enum sandbox_exec_event { SANDBOX_EXEC_STARTED, SANDBOX_EXEC_REFUSED, SANDBOX_EXEC_EXITED };

struct sandbox_exec_report {
	enum sandbox_exec_event event;
	uint32_t id;
	pid_t pid;	 /* STARTED: its pid inside the sandbox */
	int error;	 /* REFUSED: a positive errno */
	const char *why; /* REFUSED: "cannot run 'x': No such file or directory" */
	bool signaled;	 /* EXITED: killed by signal `code` */
	int code;	 /* EXITED: exit code, or the signal number */
};

typedef void (*sandbox_exec_cb)(const struct sandbox_exec_report *r, void *arg);
/* Who hears about execs (one listener; NULL: nobody). */
void sandbox_on_exec(struct sandbox *sb, sandbox_exec_cb cb, void *arg);
/* Ask PID 1 to start argv with fds as its stdin, stdout and stderr (the
 * sandbox sends copies; the caller keeps and closes its own). id names the
 * exec in reports and must not be one still tracked. Returns 0 once asked
 * (STARTED or REFUSED follows), or -errno: -ESRCH the sandbox has ended
 * (or, deferred, its agent was not asked for yet), -EAGAIN
 * SANDBOX_MAX_EXECS are tracked, -E2BIG the arguments exceed
 * SANDBOX_EXEC_MAX_ARGS or _STRINGS, -EEXIST id in use, -EINVAL argv empty
 * or id SANDBOX_AGENT_ID. */
int sandbox_exec(struct sandbox *sb, uint32_t id, char *const *argv, char *const *env_overlay,
		 const int fds[3], struct pc_error *err);
/* Send sig (1..64) to the process group of exec id: -ESRCH when it is not
 * running (not started, or already reported ended). */
int sandbox_exec_signal(struct sandbox *sb, uint32_t id, int sig);

/* Reap PID 1 once the pidfd is readable; fills *ex if the report was lost
 * (PID 1 killed from outside). */
int sandbox_reap(struct sandbox *sb, struct sandbox_exit *ex);
/* Kill the whole sandbox now (SIGKILL to PID 1 takes every process). */
void sandbox_kill(struct sandbox *sb);

/* The limits a running sandbox can take in place (a policy reload). */
#define SANDBOX_LIMIT_MEMORY 1u
#define SANDBOX_LIMIT_PIDS   2u
#define SANDBOX_LIMIT_CPU    4u
/* Set the limits named in `which` to l's (0: no limit) in the running
 * sandbox's cgroup (cgroup.c). Returns those set. For each of the others
 * *report (caller frees; NULL when all were set) has a sentence "memory:
 * why": no cgroup of its own (cgroups were not available at start: its
 * limits are rlimits, which cannot change for processes already running;
 * or, on cgroup v1, the run started without that limit), memory in use
 * above a lower limit (v1: the kernel could not reclaim it, EBUSY; v2: not
 * tried, the kernel would OOM-kill the sandbox), a write refused. */
unsigned sandbox_set_limits(struct sandbox *sb, const struct pc_limits *l, unsigned which,
			    char **report);

/* ---- the gate's sockets ------------------------------------------------
 *
 * The sandbox's network namespace holds only `lo`, with a `local` default
 * route on it (IPv4 and, where the kernel has it, IPv6): every TCP connect
 * and UDP send to any address is delivered inside the namespace. Before the
 * agent starts, the child makes these sockets there and hands them over;
 * PID 1 keeps none of them:
 *
 *   PROXY    TCP 127.0.0.1:gate_port, listening (explicit proxy)
 *   CAPTURE  TCP [::]:port with IPV6_V6ONLY off, listening, one per captured
 *            port (IPv4 clients arrive as ::ffff:a.b.c.d); 0.0.0.0:port
 *            when the namespace has no IPv6. getsockname() on an accepted
 *            connection is the address the agent meant (93.184.216.34:443).
 *   DNS      UDP 127.0.0.1:53, bound (the resolver /etc/resolv.conf names)
 *
 * All are blocking and close-on-exec; making them non-blocking is the
 * server's job. A TCP connect to a port without a listener is refused
 * (ECONNREFUSED), one to a port Landlock does not allow fails with EACCES;
 * a UDP datagram to anything but 127.0.0.1:53 reaches no socket. Nothing
 * leaves the namespace but through these sockets.
 */
enum sandbox_listener_kind { SANDBOX_LISTEN_PROXY, SANDBOX_LISTEN_CAPTURE, SANDBOX_LISTEN_DNS };

struct sandbox_listener {
	enum sandbox_listener_kind kind;
	uint16_t port;
	int fd;
};

/* At most this many captured ports; a policy naming more fails to start. */
#define SANDBOX_MAX_CAPTURE_PORTS 64

/* The captured ports of a policy: 80, 443 and every port named in
 * network.egress.allow[] and deny[], without duplicates, in ascending
 * order, leaving out the gate's port (its listener takes only 127.0.0.1).
 * Fills at most max; returns how many there are (may exceed max). These
 * are also the only ports Landlock lets the agent connect to, beside the
 * gate's. They are fixed for the sandbox's life: a reloaded policy that
 * names a new port is captured from the next run on. */
size_t sandbox_capture_ports(const struct policy *p, uint16_t *out, size_t max);

/* The gate's sockets made inside the sandbox (proxy first, then DNS, then
 * the captures by port). The caller takes ownership of the array (free())
 * and of every fd in it; the sandbox forgets them. Returns the count; 0 and
 * *out == NULL once taken. Sockets not taken are closed by sandbox_free. */
size_t sandbox_take_listeners(struct sandbox *sb, struct sandbox_listener **out);

void sandbox_free(struct sandbox *sb);
static inline void sandbox_freep(struct sandbox **sb)
{
	if (*sb)
		sandbox_free(*sb);
}
#define _cleanup_sandbox_ _cleanup_(sandbox_freep)
