/* gate: the egress proxy of one box. Every byte the agent sends out passes
 * here; see ../../DESIGN.md section 2.
 *
 * The sockets are made inside the sandbox's network namespace (sandbox.h)
 * and served here, on the host side, from the box's libevent loop:
 *
 *   proxy listener (127.0.0.1:gate_port inside): HTTP/1.1 forward proxying
 *     (absolute-form requests, CONNECT) and SOCKS5, told apart by the first
 *     byte;
 *   capture listeners (one per captured port): connections of programs that
 *     ignore the proxy variables, delivered by the sandbox's `local` default
 *     route; getsockname() is the original destination, a synthetic address
 *     from the DNS responder maps back to the name, TLS is named by its SNI,
 *     plain HTTP by its Host;
 *   DNS socket (127.0.0.1:53 inside, UDP): answers every name with a stable
 *     synthetic address, so the name reaches the gate with the connection.
 *
 * For each connection attempt and each plain-HTTP request the gate decides
 * with policy_egress_decide(), resolves the name itself, refuses private
 * addresses (deny_private) on the address it is about to connect to, writes
 * one audit record and only then forwards. Denials get a readable answer:
 * 403 with X-Pincer-Denied, a SOCKS5 "not allowed", or a closed capture.
 */
#pragma once

#include "audit/audit.h"
#include "policy/policy.h"

struct event_base;
struct gate;
struct gate_creds;
struct gate_stats;
struct pc_tls_ops;
struct pc_tls;

enum gate_listener_kind {
	GATE_LISTEN_PROXY,   /* explicit proxy: HTTP forward + SOCKS5 */
	GATE_LISTEN_CAPTURE, /* transparent: original destination from getsockname */
	GATE_LISTEN_DNS,     /* UDP DNS responder */
};

struct gate_config {
	struct event_base *base;
	const struct policy *policy;
	struct audit_log *log;
	const char *agent, *run; /* for audit records; must outlive the gate */
	/* TLS interception (NULL: none; CONNECT to a host whose rules name
	 * methods or paths is then denied) and the run's credentials (NULL:
	 * none); both must outlive the gate */
	const struct pc_tls_ops *tls_ops;
	struct pc_tls *tls;
	struct gate_creds *creds;
	/* where to count requests, bytes, latency (gate/stats.h); NULL: only
	 * in memory. Must outlive the gate. */
	struct gate_stats *stats;
};

int gate_new(const struct gate_config *cfg, struct gate **out, struct pc_error *err);
/* Serve a socket made in the sandbox (listening, or bound UDP for DNS).
 * The gate owns fd from here on, also on failure. */
int gate_add_listener(struct gate *g, enum gate_listener_kind kind, int fd, uint16_t port,
		      struct pc_error *err);
/* Decide with p from the next request and the next connection on; open
 * connections p no longer allows are closed now (each recorded as
 * "revoked"). p must outlive the gate (connections in flight may still
 * name its rules). */
void gate_set_policy(struct gate *g, const struct policy *p);
/* A warm run's start (box/control.h): whom the records name from now on,
 * and where the numbers go from now on (NULL: only in memory; what was
 * counted so far is carried over); both must outlive the gate. */
void gate_set_agent(struct gate *g, const char *agent);
void gate_set_stats(struct gate *g, struct gate_stats *stats);
/* Stop everything now: close every connection (each gets its close
 * record) and the listeners. */
void gate_shutdown(struct gate *g);
/* The denials so far, one line for stderr ("" when none):
 * "gate denied 3 connections: evil.example:443 x2 (no rule allows it), ..." */
void gate_summary(const struct gate *g, struct pc_buf *out);

/* ---- credentials (creds.c) ----------------------------------------------
 *
 * The secrets of p's credentials for identity, read from the vault through
 * pincer-tls.so, and a placeholder for each: as long as the secret, with
 * its prefix ("sk-ant-api03-", "ghp_") and its alphabet, random otherwise,
 * new for every run. A secret missing from the vault is an error naming
 * the command that adds it. */
int gate_creds_open(const struct policy *p, const struct pc_tls_ops *ops, const char *identity,
		    struct gate_creds **out, struct pc_error *err);
/* (At start; after a reload, credentials it retired count too.) */
size_t gate_creds_count(const struct gate_creds *cs);
/* Credential i's environment variable and the placeholder it holds. */
void gate_creds_env(const struct gate_creds *cs, size_t i, const char **var,
		    const char **placeholder);
/* "credential anthropic: the secret of alice, for api.anthropic.com" */
const char *gate_creds_describe(const struct gate_creds *cs, size_t i, char *buf, size_t n);
void gate_creds_free(struct gate_creds *cs);
/* An empty set (nothing read), for a policy reload to fill. */
struct gate_creds *gate_creds_new(const struct pc_tls_ops *ops, const char *identity);
/* A reloaded policy's credentials, from the next request on; all or
 * nothing: on failure err says why and the credentials in force stay.
 * A credential is known across reloads by its placeholder variable: one
 * kept keeps its placeholder (the agent holds it) and its secret (re-read
 * when its name or fallback changed); a new one gets a placeholder the
 * running agent has no variable for; one removed is retired: injected
 * nowhere, its placeholder and secrets refused everywhere (exfiltration)
 * and redacted, for the rest of the run. The vault is read (every
 * credential, as at start) only when a secret not in hand is needed.
 * notes gets a sentence per change ("; " between them); *restart is set
 * when one works only from the next start (a new credential without
 * header: or query: is swapped only where the agent puts its placeholder,
 * which the running agent does not have). */
int gate_creds_reload(struct gate_creds *cs, const struct policy *p, struct pc_buf *notes,
		      bool *restart, struct pc_error *err);
/* Inject cs's credentials from the next request on (cs outlives the gate). */
void gate_set_creds(struct gate *g, struct gate_creds *cs);
/* A placeholder for a secret of len bytes into out (len + 1 bytes); false
 * when none can differ from the secret (nothing to draw afresh). */
bool gate_placeholder(const uint8_t *secret, size_t len, char *out);

/* ---- approvals (approval.c) ------------------------------------------------
 *
 * What they are, and the run's side of them: box/control.h. The gate holds
 * a request an approval rule matches, keeps the run's approvals in memory
 * and carries out the approved ones; whoever decides reaches it through
 * gate_approval_decide (the box, from its control socket). */
#define GATE_APPROVALS_MAX     256	 /* waiting ones per run (pending or approved) */
#define GATE_APPROVAL_BODY_MAX (1 << 20) /* control.h's APPROVAL_BODY_MAX */

enum gate_approval_state {
	GATE_APPROVAL_PENDING,
	GATE_APPROVAL_APPROVED,	 /* not carried out yet: held, or the retry is awaited */
	GATE_APPROVAL_EXECUTING, /* its request is on its way */
	GATE_APPROVAL_EXECUTED,
	GATE_APPROVAL_REJECTED,
	GATE_APPROVAL_EXPIRED,
	GATE_APPROVAL_FAILED, /* act_as: approver without the approver's secret */
};
const char *gate_approval_state_name(enum gate_approval_state s);

/* One approval; read-only outside approval.c. */
struct gate_approval {
	char id[17];	 /* 16 hex */
	char digest[65]; /* sha256 hex of the request (control.h) */
	char *method, *host, *path, *url;
	uint16_t port;
	char *identity; /* whom the run works for */
	char *summary; /* the request line, the bound headers, the body's excerpt */
	const struct policy *policy; /* its rule: policy->approvals[rule] */
	size_t rule;
	uint64_t created_ms, expires_ms; /* CLOCK_REALTIME */
	enum gate_approval_state state;
	char **approvers; /* who approved (or rejected: one) */
	char *reason;	  /* how it ended */
	int status;	  /* executed: the upstream's status (0: none came) */
	/* private */
	struct gate *g;
	struct gconn *conn; /* the agent's connection while it is held */
	struct event *hold_ev, *timer;
	struct gate_creds *creds; /* act_as approver: the approver's secrets */
	struct gate_approval *prev, *next;
};

struct gate_approval_hooks {
	void *arg;
	/* whom the run works for now ("-" when unknown) */
	const char *(*identity)(void *arg);
	/* the readable summary of a new approval, from its body (malloc'd;
	 * NULL: the gate's own, without the body) */
	char *(*summary)(void *arg, const struct gate_approval *a, const char *body, size_t len);
	/* a new approval (pending), or one that ended (executed, rejected,
	 * expired, failed) */
	void (*changed)(void *arg, const struct gate_approval *a);
};
void gate_set_approval_hooks(struct gate *g, const struct gate_approval_hooks *h);
/* The pending approvals, oldest first, into out (at most cap); valid until
 * the loop runs again. Returns how many there are. */
size_t gate_approvals_pending(struct gate *g, const struct gate_approval **out, size_t cap);
/* The same for the ended ones still kept (APPROVALS_KEEP_MS). */
size_t gate_approvals_ended(struct gate *g, const struct gate_approval **out, size_t cap);
/* A decision. approve: approvers (distinct, at least the rule's count; the
 * first one's secrets with act_as: approver); else by and reason. 0: taken;
 * <0: refused, or the approval failed (err says why). */
int gate_approval_decide(struct gate *g, const char *id, bool approve, char *const *approvers,
			 const char *by, const char *reason, struct pc_error *err);
/* CLOCK_REALTIME ms as "2026-11-24T03:25:32Z". */
void gate_approval_time(uint64_t ms, char out[32]);

void gate_free(struct gate *g);
static inline void gate_freep(struct gate **g)
{
	if (*g)
		gate_free(*g);
}
#define _cleanup_gate_ _cleanup_(gate_freep)
