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

/* ---- approvals (issue 7; the run's side) -----------------------------------
 *
 * A request that matches a policy `approvals:` rule (host, methods, paths,
 * and optionally a JSON body field: match.json: {path: "a.b[0].c", value:
 * V}) is held at the gate, whether plain HTTP or HTTPS: a host an approval
 * rule names is always intercepted (any port), and a tunnel to it the gate
 * cannot look into (SOCKS5, a capture that is not TLS, a run without
 * interception) is denied ("approval-unseen"). Matching is on the safe
 * side: a path a server may read as another (dot segments, escapes) meets
 * the rule's paths; for match.json every member of a repeated key counts,
 * a number also matches its string spelling, and a non-empty body that is
 * not JSON is held. Its whole body is buffered (at most the rule's
 * body_max decoded, APPROVAL_BODY_MAX unless it says, 8 MiB at most;
 * larger is refused 413 with the reason, after reading it; all held
 * requests of a run share 32 MiB, beyond which 503), a digest is taken
 * (sha256 over the method, the full URL scheme://host:port/path?query,
 * the Content-Type, every end-to-end header but framing, Host, Expect and
 * X-Pincer-Approval, and the body with any chunked framing undone, all as
 * the agent sent them, before credentials are put in), and an approval is
 * created: id (16 hex), agent, the identity the run works for (--as, else
 * the caller), rule index, digest, a summary (method, host, path, the
 * bound headers, and the JSON body pretty-printed, cut at 2 KiB), created,
 * expires (now + rule timeout). At most
 * GATE_APPROVALS_MAX (256) wait per run (pending or approved, not yet
 * carried out); more are refused 429.
 * The agent's connection waits up to the rule's `hold` (a person's time is
 * not counted as the gate's latency); then the agent gets
 * 202 {"approval": ID, "status": "pending"} (also in the header
 * X-Pincer-Approval) and may send the same request again with
 * `X-Pincer-Approval: ID`: still pending, it waits again; approved, it
 * goes. Any other request with that header, or a different digest, is
 * denied 403 ("tampered"). A connection the agent closes while it waits
 * leaves the approval pending. Each approval is carried out at most once;
 * one the gate itself answered before sending it (the upstream could not
 * be reached, the egress policy now denies it, the agent went away) stays
 * approved for the retry. The header never goes upstream. Refusals are
 * 403 {"approval": ID, "status": STATE, "reason": ...} with the reason in
 * X-Pincer-Denied too. Ended approvals are kept 15 minutes for the
 * retry's answer, then forgotten (a retry then names no approval).
 * Every step is an "approval" audit record (field step: hold (decision
 * hold), approve (allow), reject, expire, fail (deny), execute (allow,
 * with the upstream's status), tampered and retry (deny: a retry refused),
 * refuse (deny: too large, too many), not-sent), naming agent, identity,
 * approver(s) (field approvers, or rejected_by), rule ("approvals[N]
 * (FILE:LINE)"), digest, method, host, port, path, conn. The request
 * carried out gets its own egress record, whose credential owner is the
 * approver for act_as: approver.
 *
 * Who decides is outside the run: a client of the control socket (the
 * daemon) subscribes and is told of each approval; it answers with a
 * decision. The run keeps its approvals in memory; a subscriber that
 * connects later (a restarted daemon) is sent every pending one again.
 * Approval records and replies share the connection, which stays open;
 * a subscriber that does not read loses records (it subscribes again).
 *
 *   -> {"op": "subscribe"}
 *   <- {"subscribed": N}                                 then N of:
 *   <- {"approval": {"id", "agent", "identity", "rule": N, "digest",
 *        "summary", "method", "host", "port": N, "path", "approvers": [...],
 *        "count": N, "act_as": "approver"|"agent",
 *        "created": ISO-8601, "expires": ISO-8601}}      one per pending
 *   <- {"ended": ...} (below) for each that ended in the last 15 minutes
 *      (what happened while it was away)
 *   and from then on, on that connection: an {"approval": ...} for each new
 *   one, and when one ends
 *   <- {"ended": {"id", "state": "executed"|"rejected"|"expired"|"failed",
 *        "reason", "status": N (executed: the upstream's), "approvers"}}
 *   -> {"op": "decide", "id": ID, "approve": true, "approvers": ["bob"]}
 *   -> {"op": "decide", "id": ID, "approve": false, "by": "bob",
 *       "reason": "..."}                  (reason optional, at most 1000 bytes)
 *   <- {"decided": ID} or {"error": "..."} (unknown, expired or decided
 *      id, too few approvers, ...): the connection stays open; a malformed
 *      record gets {"error"} and is closed, as above.
 *
 * The run trusts the subscriber (same uid: the daemon) to have checked
 * who may approve (identities, groups, two distinct people for count 2,
 * not the agent's own identity); it checks only that len(approvers) >=
 * count, that they are distinct and that each is a person's name (not
 * group:). With act_as: approver the run reads the first approver's
 * secret for each credential of the host from the vault (all or nothing,
 * as at start) and injects it instead of the agent's, in the place of the
 * agent's placeholders; answers are redacted of it too. None (or no
 * credential names the host): the approval fails: the decide gets
 * {"error": why}, the agent 403, the reason recorded. Approved while held:
 * the request goes upstream at once; approved after the 202: the retry
 * with the header goes. Rejected: 403. Expired (pending, or approved and
 * not sent again within the timeout): 403, recorded. A policy reload
 * rejects ("policy changed") the pending and approved approvals whose
 * rule is gone or asks otherwise now.
 */
#define APPROVAL_BODY_MAX (1 << 20)
