/* The control socket of a run: how the daemon (and only it) reaches into a
 * running `pincer run` to start another process in the same sandbox
 * (`pincer agent exec`).
 *
 * `pincer run --control PATH` listens on PATH: a unix SOCK_SEQPACKET
 * socket, mode 0600, made before the agent starts and removed when the run
 * ends (a stale socket file at PATH is replaced; anything else there is an
 * error). The folder is the caller's to protect (the daemon's state folder).
 * A peer whose uid (SO_PEERCRED) is not the run's own is closed at once.
 *
 * Every message is one SOCK_SEQPACKET record holding one JSON object (at
 * most CONTROL_MSG_MAX bytes, no NUL); file descriptors ride on a record
 * as SCM_RIGHTS. A record that is not valid JSON, names an unknown "op",
 * has unknown fields or wrong types gets {"error": "..."} and the
 * connection is closed.
 *
 * exec: run a new process in the sandbox, next to the agent:
 *
 *   -> {"op": "exec", "argv": ["sh", "-c", "ls"], "env": ["K=V", ...],
 *       "by": "alice"}                       + 3 fds: stdin, stdout, stderr
 *
 *   argv: non-empty list of strings, argv[0] looked up in the agent's PATH
 *   inside. env (optional): "NAME=value" strings laid over the agent's own
 *   environment (the one the run gave the agent: placeholders included,
 *   never a secret); a NAME that is not [A-Za-z_][A-Za-z0-9_]* is refused.
 *   by: who asked (the daemon's identity of its caller), for the audit
 *   record; "-" when unknown. The three fds must each be a pipe (FIFO):
 *   anything else (a tty, a socket, a file, a directory) is refused, so no
 *   descriptor of the host's filesystem or terminal enters the sandbox
 *   (a terminal would allow TIOCSTI into the caller's session).
 *
 *   The process is a child of the sandbox's PID 1, so it is in every
 *   namespace and the cgroup of the agent, under the same Landlock rules,
 *   seccomp filter, rlimits, uid 1000, no capabilities, no_new_privs, in a
 *   session of its own, in the agent's working directory.
 *
 *   <- {"started": PID}           its pid inside the sandbox
 *   <- {"exited": {"code": N}}    or {"exited": {"signal": N}}: the last
 *                                 record; the run closes the connection
 *   <- {"error": "cannot run 'nosuch': No such file or directory"}
 *                                 instead of started: nothing runs; closed
 *
 *   While it runs, the client may send:
 *   -> {"op": "signal", "signal": 15}   delivered to its process group
 *   Closing the connection kills its process group (SIGKILL). When the
 *   agent itself ends, the sandbox ends, and every exec'd process with it:
 *   {"exited": {"signal": 9}}.
 *
 *   Audit: one "exec" record when it starts (decision allow; fields argv,
 *   by, pid) and one when it ends (code or signal); a refused exec (bad
 *   fds, bad env, cannot run) is recorded with decision deny and why.
 *
 * At most CONTROL_MAX_EXECS exec'd processes run at once per sandbox; more
 * get {"error": "too many exec'd processes (N)"}.
 */
#pragma once

#define CONTROL_MSG_MAX	  65536
#define CONTROL_MAX_EXECS 64

/* ---- warm runs (the daemon's pool) -----------------------------------------
 *
 * `pincer run --warm --control PATH --policy FILE [--survive-parent] ...`
 * with no COMMAND builds the whole sandbox (cgroup, namespaces, mounts, CA
 * bundle, gate listening, PID 1 under Landlock and seccomp) and stops just
 * before the agent's exec. Its control socket is made only once that is
 * done: a connect that succeeds means ready. PID 1 then waits for the one
 * message that starts the agent:
 *
 *   -> {"op": "start", "argv": [...], "env": ["K=V", ...], "agent": "crm-bot",
 *       "as": "alice", "status_file": "/var/lib/.../status",
 *       "policy_file": "/var/lib/.../agents/crm-bot/policy.yaml",
 *       "control": "/var/lib/.../agents/crm-bot/control.sock",
 *       "stats": "/var/lib/.../agents/crm-bot/stats"}
 *                                        + 3 fds: stdin, stdout, stderr
 *
 *   argv: the agent's command. env: as --setenv (over the policy's
 *   process.env). agent, as, status_file: what --agent, --as and
 *   --status-file would have said (as and status_file optional).
 *   policy_file (optional): the file reloads (SIGHUP) read from now on;
 *   its content must have the sha256 of the policy the run was warmed
 *   with, else the start is refused. control (optional): the run's
 *   control socket is renamed there (same filesystem), and removed from
 *   there at the end. stats (optional): what --stats would have said
 *   (the gate's counters, gate/stats.h), made at the start. The
 *   fds need not be pipes here (the daemon gives the agent's log file);
 *   the run also takes them as its own stdout and stderr from now on.
 *   The run loads the credentials of `as` (the vault; all or nothing),
 *   builds the agent's environment (placeholders included), writes its
 *   deferred records (run.start, the sandbox's layers) with the agent's
 *   name, and has PID 1 exec the agent: from here on it is an ordinary run.
 *
 *   <- {"started": PID}                 the agent's pid inside
 *   <- {"error": "..."}                 nothing started; the run ends
 *
 * Only one start is taken, and only from a warm run; exec (above) is
 * refused until the agent has started. An unclaimed warm run ends when the
 * last connection to its control socket closes after one was made (the
 * daemon that made it is gone), so a pool never outlives its daemon.
 */
