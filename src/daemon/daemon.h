/* daemon: many agents, one per person, kept alive, observed and steerable.
 * `pincer daemon` runs pincer-daemon (this part) in the foreground; the
 * `pincer agent ...` commands are its clients (src/cli/cmd_agent.c).
 *
 * ---- files ----------------------------------------------------------------
 *
 *   socket  --socket PATH, else $PINCER_SOCKET, else /run/pincer/pincer.sock
 *           (root) or $XDG_RUNTIME_DIR/pincer.sock (a user; without
 *           XDG_RUNTIME_DIR: /tmp/pincer-UID/pincer.sock). Mode 0666 as
 *           root (who may do what is decided per request, from the peer's
 *           credentials), 0600 for a user's daemon.
 *   state   --state DIR, else /var/lib/pincer/daemon (root) or
 *           $XDG_STATE_HOME/pincer/daemon: state.db (SQLite, WAL,
 *           synchronous=FULL: a kill -9 at any moment loses nothing
 *           committed), agents/NAME/policy.yaml, agents/NAME/log (the
 *           agent's stdout and stderr, appended), agents/NAME/stats (its
 *           run's gate numbers, gate/stats.h), agents/NAME/ooms (its OOM
 *           kills so far, a number).
 *   config  --config FILE, else /etc/pincer/daemon.yaml (root) or
 *           $XDG_CONFIG_HOME/pincer/daemon.yaml; missing: the defaults.
 *             admins: [root, alice]   # may create and delete agents
 *                                     # (default: the daemon's own user)
 *             users: {1001: alice}    # peer uid -> identity (default:
 *                                     # the uid's user name)
 *             backoff: 1s             # first wait before a restart
 *             groups:                 # who approves for a group:NAME
 *               sales-managers: [bob, carol]
 *   audit   the daemon's audit log (--audit FILE, else the default of
 *           `pincer run`): every agent's run records, plus "api" records
 *           for refused acts.
 *
 * ---- API: HTTP/1.1 + JSON on the socket, paths under /v1 -----------------
 *
 * Every answer is JSON (except logs) with Content-Length. Errors:
 *   {"error": "one line a person can act on"} with 400 (bad JSON, unknown
 *   field, wrong type, invalid policy: the policy checker's message), 403
 *   (not allowed for this identity; also an audit record), 404 (no such
 *   agent, or one the caller may not see: the same answer, no probing),
 *   405 (method), 409 (exists / state conflict), 500.
 *
 * The caller's identity: the peer's uid (SO_PEERCRED) mapped by the
 * config. Admins see and steer every agent; anyone else only agents whose
 * user is their identity.
 *
 *   GET    /v1/health                -> 200 {"ok": true, "version": "0.1.0",
 *                                        "identity": "<caller>", "admin": bool}
 *   GET    /v1/agents                -> 200 {"agents": [AGENT, ...]} (sorted by name)
 *   POST   /v1/agents  CREATE        -> 201 AGENT   (admins only; 409 if it exists)
 *   GET    /v1/agents/NAME           -> 200 AGENT
 *   POST   /v1/agents/NAME/start     -> 200 AGENT   (running already: 200, unchanged)
 *   POST   /v1/agents/NAME/stop      -> 200 AGENT   (SIGTERM, 3 s, SIGKILL; state stopped;
 *                                        no restart until started again)
 *   POST   /v1/agents/NAME/restart   -> 200 AGENT
 *   DELETE /v1/agents/NAME           -> 200 {"deleted": "NAME"} (admins only; stops it)
 *   GET    /v1/agents/NAME/logs      -> 200 text/plain: the log so far;
 *          ?follow=1                    chunked, then new output as it comes
 *                                       until the client goes away
 *
 * CREATE: {"name": "crm-bot", "policy": "<YAML text>", "user": "alice",
 *          "command": ["python3", "bot.py"], "restart": "on-failure",
 *          "start": true}
 *   name: 1-64 of [a-z0-9-], starting with a letter; policy: validated as
 *   `pincer policy check` would (its message on failure); user: an
 *   identity; command: a non-empty list of strings; restart: "always",
 *   "on-failure" (default) or "never"; start: default true. Unknown
 *   fields are refused.
 *
 * AGENT: {"name", "user", "command": [..], "restart", "policy_sha256",
 *         "state": "stopped" | "running" | "backoff" | "failed",
 *         "pid": N or null (the agent's pincer run), "restarts": N,
 *         "last_exit": null or {"code": N, "signal": N, "oom": bool,
 *                               "at": "ISO-8601"},
 *         "failed_reason": null or "crash loop: 5 exits within 60 s",
 *         "created": "ISO-8601", "started": "ISO-8601" or null}
 *
 * Lifecycle: each running agent is one `pincer run --survive-parent`
 * child (its own gate and sandbox; started in /, stdin /dev/null, stdout
 * and stderr to its log) watched by pidfd. When it exits: "never" ->
 * stopped; "on-failure" and a clean exit (0) -> stopped; otherwise
 * backoff (the config's backoff, 1 s by default, doubling to 60 s, reset
 * after 60 s of running) then started again; 5 exits within 60 s ->
 * failed with the reason (parked until started again). Every transition
 * is committed to state.db before it is answered. last_exit.code is the
 * run's status (the agent's code, 128+N for signal N; -1 unknown: a run
 * adopted from an earlier daemon). An agent killed for lack of memory
 * (last_exit.oom, told by the run's --status-file) is started again at
 * once when its policy says on_oom: restart (a clean copy: every start
 * is a new sandbox), else stopped. A stopped agent keeps its pid until
 * its run has ended (3 s grace). A daemon killed leaves the runs going;
 * the next one adopts them (same pid and start time).
 *
 * Also: GET /metrics (Prometheus text); PUT /v1/agents/NAME/policy
 * {"policy": TEXT} (admins only: a policy is the agent's whole power)
 * -> {"agent", "policy_sha256", "changed": [top-level sections that
 * differ], "reloaded": bool, "restart_needed": bool, and, once a running
 * agent's run has taken the new policy (SIGHUP; the answer waits up to
 * 5 s for its word, box/reload.c): "applied": [parts taken at once:
 * "network", "credentials", "approvals", "process.limits" (in place in
 * the cgroup), "process.on_oom"], "restart_for": [parts only a restart
 * gives: "filesystem", "process.env", "process.limits" (a limit the
 * cgroup could not take), "credentials" (a run started without TLS
 * interception), "network.ports", ...], "not_applied": [refused, the old
 * kept: "credentials" when the vault cannot give their secrets], "notes":
 * [a sentence each: what and why]}. restart_needed is true only when
 * restart_for is not empty; a run that is not running takes everything at
 * its next start (reloaded false, restart_needed false); a run that
 * refused the file says why in "error_reloading" (reloaded false).
 * POST /v1/agents/NAME/revoke-network (the agent's user or an admin) and
 * /restore-network (admins only); all audited with who.
 *
 * ---- warm pool ---------------------------------------------------------
 *
 * For each policy with `sandbox.warm: N` (N <= 64) that some agent uses,
 * the daemon keeps N `pincer run --warm` children (box/control.h, "warm
 * runs") built up to the agent's exec: cgroup, namespaces, mounts, gate,
 * PID 1 under Landlock and seccomp. Starting an agent of that policy (not
 * while its network is revoked: its policy then differs) hands one of them
 * the command, identity and log in one message on its control socket; a
 * new one is made after the answer has gone. None ready: a cold start, as
 * without a pool. The pool's policy text is STATE/pool/SHA256.yaml, its
 * runs' sockets STATE/pool/ID.sock, their output before they are claimed
 * STATE/pool/log. Three runs in a row that end before they are ready
 * pause the pool for a minute (a warning says where to look). A pool run
 * ends with its daemon unless claimed; a claimed one is an ordinary
 * agent's run (adopted by the next daemon like any other).
 *
 * ---- metrics: GET /metrics, Prometheus text (version 0.0.4) ------------
 *
 * On the API socket, GET /metrics shows what GET /v1/agents would: the
 * caller's own agents (admins: every agent), pincer_agents{state} counting
 * only those. With --metrics ADDRESS:PORT (numeric, e.g. 127.0.0.1:9464 or
 * [::1]:9464) the daemon also serves GET /metrics on that TCP address,
 * without identities: every agent's numbers (names and the hosts they
 * reach) to whoever can connect, so bind it where only the monitoring can;
 * anything else there is 404 (405 for another method on /metrics).
 *
 *   pincer_agents{state}                    gauge
 *   pincer_agent_restarts_total{agent}      counter
 *   pincer_agent_up{agent}                  gauge: its run is running
 *   pincer_agent_memory_bytes{agent}        gauge: RSS of its run and sandbox
 *   pincer_agent_cpu_seconds{agent}         gauge: their CPU time
 *   pincer_agent_ooms_total{agent}          counter: runs ended by an OOM
 *                                           kill, since the agent was
 *                                           created (agents/NAME/ooms:
 *                                           kept across daemon restarts)
 *   pincer_egress_total{agent,host,decision="allow"|"deny"}   counter
 *   pincer_egress_bytes_total{agent,direction="up"|"down"}   counter
 *   pincer_gate_latency_seconds{agent}      histogram, le 0.0001 ... 1
 *   pincer_audit_records_total{agent}       counter
 *
 * The last four are the run's own (gate/stats.h says what each counts):
 * each run is started with --stats agents/NAME/stats, which it resets and
 * the gate counts into in shared memory; the daemon reads the file on
 * every /metrics (checked, as untrusted: a damaged one gives no numbers
 * for that agent). So they survive a daemon restart (an adopted run keeps
 * counting), start from zero with each new run (a counter reset, which
 * Prometheus expects), and a stopped agent shows its last run's until it
 * starts again. A run's first 64 hosts are a series each, later ones
 * "_other". Label values are escaped (\\, \", \n; other bytes outside
 * printable ASCII as the text \xNN): nothing an agent sends can add a
 * line or a label.
 *
 * ---- approvals (issue 7) -------------------------------------------------
 *
 * The run's gate holds a request an `approvals:` rule matches and tells
 * whoever subscribed on its control socket (box/control.h, "approvals").
 * The daemon subscribes to the run of every running agent whose policy
 * has approval rules (again after it restarts: the run sends its pending
 * ones anew), keeps each approval in state.db, and decides for the people
 * who approve:
 *
 *   GET  /v1/approvals            -> 200 {"approvals": [APPROVAL, ...]}: the
 *        pending ones the caller may decide or whose agent is theirs (an
 *        admin: all); ?all=1 also the decided ones (newest first, 200 at most)
 *   GET  /v1/approvals/ID         -> 200 APPROVAL (404: none the caller may see)
 *   POST /v1/approvals/ID/approve -> 200 APPROVAL
 *   POST /v1/approvals/ID/reject  {"reason": "..."} -> 200 APPROVAL
 *
 * APPROVAL: {"id", "agent", "user" (whom the agent works for), "rule",
 *   "digest", "summary", "method", "host", "path", "approvers" (the
 *   rule's), "count", "act_as", "created", "expires",
 *   "state": "pending" | "approved" | "executed" | "failed" | "rejected" |
 *   "expired", "approved_by": [identities], "rejected_by", "reason",
 *   "decided", "status" (executed: the upstream's), "ended"}
 *
 * How each ended is the run's word (its "ended" records, also those sent
 * anew when the daemon subscribes again after a restart): executed with
 * the upstream's status, failed (act_as: approver and no secret of the
 * approver...), rejected (by a person, or by a policy reload), expired.
 *
 * May decide: an identity the rule names, or a member of a group it names
 * (the config's groups: {sales-managers: [bob, carol]}). Refused with 403
 * and an "api" record: anyone else, the agent's own name as an identity,
 * the same person twice toward a two-person rule; 409: already decided,
 * expired. Each approve is recorded ("approval": who, the digest); once
 * `count` distinct people have approved, the decision goes to the run,
 * which executes the request once (with the approver's secret under
 * act_as: approver) and records the upstream's status. A run that ends
 * with approvals pending: they expire ("the agent's run ended").
 *
 * ---- exec: a new process in a running agent's sandbox -------------------
 *
 * `pincer agent exec` does not go through HTTP: it hands the daemon three
 * pipes, which HTTP cannot carry. Beside the API socket, at the same path
 * plus ".exec" (/run/pincer/pincer.sock.exec), the daemon listens on a unix
 * SOCK_SEQPACKET socket with the API socket's mode; the caller is known the
 * same way (SO_PEERCRED). Records are JSON objects (at most 64 KiB), file
 * descriptors ride as SCM_RIGHTS: the protocol of src/box/control.h with
 * the agent named:
 *
 *   -> {"op": "exec", "agent": "crm-bot", "argv": [...], "env": ["K=V"]}
 *                                              + 3 pipes: stdin, stdout, stderr
 *   <- {"started": PID} ... {"exited": {"code": N}} | {"exited": {"signal": N}}
 *   <- {"error": "...", "status": 400|403|404|409}    nothing ran; closed
 *   -> {"op": "signal", "signal": N}   (while it runs; closing kills it)
 *
 * Who may: the agent's user and admins (anyone else: 404 and an "api"
 * record, as for the HTTP API). The agent must be running (409). The
 * daemon checks the pipes (only FIFOs), then forwards the request to the
 * run's control socket (STATE/agents/NAME/control.sock) with "by": the
 * caller's identity, and relays records both ways until either side
 * closes. The run records each exec in the audit log ("exec": argv, by,
 * pid, then its end).
 *
 * Limits: headers 16 KiB, bodies 1 MiB, 10 s to send a request; out of
 * fds, accepting pauses for a second; a followed log queues at most 1 MiB
 * for a slow reader; a log answer is its last 8 MiB. The socket's folder
 * must be the daemon user's and writable by no one else; clients talk
 * only to a daemon run by root or by themselves (SO_PEERCRED).
 */
#pragma once

#include "util/util.h"

#define DAEMON_API_VERSION "v1"
#define DAEMON_NAME_MAX	   64

/* Defaults for the socket, state folder and config file (caller frees). */
char *daemon_default_socket(void);
char *daemon_default_state(void);
char *daemon_default_config(void);
