/* policy: a YAML policy file turned into a validated `struct policy`.
 *
 * The schema is ../../DESIGN.md section 5 (version 1). Every key is checked;
 * an unknown key, a wrong type, a bad size or duration, a relative path or a
 * granted path that does not exist is an error naming file:line:col, the key
 * and what would be accepted. Nothing starts on a policy that fails here.
 *
 * Paths in a loaded policy are absolute with "~" already expanded against
 * the invoking user's home. Sizes are bytes, durations milliseconds.
 */
#pragma once

#include "util/util.h"

#include <netinet/in.h>
#include <sys/socket.h>

#define PC_POLICY_VERSION    1
#define PC_GATE_PORT_DEFAULT 3128

/* Where a value stood in its file, for messages and audit reasons. */
struct pc_src {
	int line; /* 1-based; 0 when built in */
	int col;
};

enum pc_isolation { PC_ISOLATION_NAMESPACES, PC_ISOLATION_MICROVM };
#define PC_WARM_MAX 64
enum pc_landlock_mode { PC_LANDLOCK_BEST_EFFORT, PC_LANDLOCK_REQUIRED, PC_LANDLOCK_OFF };
enum pc_seccomp_mode { PC_SECCOMP_DEFAULT, PC_SECCOMP_OFF };
enum pc_on_oom { PC_ON_OOM_STOP, PC_ON_OOM_RESTART };
enum pc_enforcement { PC_ENFORCE, PC_ENFORCE_AUDIT_ONLY };
enum pc_act_as { PC_ACT_AS_AGENT, PC_ACT_AS_APPROVER };

/* One filesystem entry. `path` is absolute and expanded; `spec` is what the
 * file said ("~/docs"). */
struct pc_path {
	char *path;
	char *spec;
	struct pc_src at;
};

struct pc_fs_policy {
	struct pc_path *system; /* read-only; missing ones are skipped */
	size_t n_system;
	struct pc_path *read_only; /* must exist */
	size_t n_read_only;
	struct pc_path *read_write; /* must exist */
	size_t n_read_write;
	/* Masked even inside granted folders. Globs: "*" within one component,
	 * "**" across any number; "~" expanded. Need not exist. */
	struct pc_path *deny;
	size_t n_deny;
	char *scratch_path;    /* default "/tmp" */
	uint64_t scratch_size; /* bytes, default 256M */
};

/* network.egress.allow[] / deny[] entries. */
struct pc_net_rule {
	/* "api.example.com", "*.example.com" (subdomains only), or an IP
	 * literal ("10.0.0.1", IPv6 stored in canonical form: "fd00::1") */
	char *host;
	/* allow rules: default {80, 443}. deny rules without ports: any port,
	 * held as n_ports == 0 and ports == NULL. */
	uint16_t *ports;
	size_t n_ports;
	char **methods; /* NULL = any; upper case; access: read-only fills GET HEAD OPTIONS */
	char **paths;	/* NULL = any; globs with ** */
	enum pc_enforcement enforcement;
	struct pc_src at;
};

/* An address or network: network.egress.allow_private[]. `addr` holds the
 * network (host bits zero): 4 bytes for AF_INET, 16 for AF_INET6. */
struct pc_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix; /* 1-32 or 1-128; a bare address is /32 or /128 */
	char *spec;	/* as the file wrote it: "127.0.0.1", "fd00::/8" */
	struct pc_src at;
};

struct pc_net_policy {
	bool default_deny; /* default: deny (the only value version 1 accepts) */
	bool deny_private; /* default true */
	/* Private addresses admitted even so (a test's own upstream on
	 * loopback); consulted only when deny_private is true. */
	struct pc_cidr *allow_private;
	size_t n_allow_private;
	char *upstream_ca;  /* optional PEM bundle, absolute */
	uint16_t gate_port; /* default 3128 */
	enum pc_enforcement enforcement;
	struct pc_net_rule *allow;
	size_t n_allow;
	struct pc_net_rule *deny;
	size_t n_deny;
};

/* credentials[] */
struct pc_credential {
	char *name;	   /* vault secret name */
	char **hosts;	   /* where it may go ("host:" accepts one or a list) */
	char *header;	   /* e.g. "x-api-key", "Authorization"; NULL if query/basic */
	char *format;	   /* default "{secret}" */
	char *query;	   /* query parameter name, alternative to header */
	char *placeholder; /* env var name the agent gets */
	/* "group:NAME" whose secret is used, in this order, when the run's
	 * identity has none of its own; NULL: no fallback */
	char **fallback;
	struct pc_src at;
};

/* approvals[].match.json: a field of a JSON body and the scalar it must
 * equal. value holds the text: a string as is, a number as written,
 * "true"/"false", "null". */
enum pc_json_kind { PC_JSON_STRING, PC_JSON_NUMBER, PC_JSON_BOOL, PC_JSON_NULL };

/* approvals[] */
struct pc_approval_rule {
	char *host;
	char **methods;	 /* NULL = any */
	char **paths;	 /* NULL = any */
	char *json_path; /* "a.b[0].c"; NULL: no condition on the body */
	char *json_value;
	enum pc_json_kind json_kind;
	char **approvers; /* "alice", "group:sales-managers" */
	enum pc_act_as act_as;
	uint64_t timeout_ms; /* default 15m */
	uint64_t hold_ms;    /* default 60s */
	uint32_t count;	     /* approvals needed, default 1 */
	uint64_t body_max;   /* bytes of body held, default 1 MiB, at most 8 MiB */
	struct pc_src at;
};
#define PC_APPROVAL_BODY_DEFAULT ((uint64_t)1 << 20)
#define PC_APPROVAL_BODY_MOST	 ((uint64_t)8 << 20)

struct pc_env {
	char *name;
	char *value;
};

/* A limit of 0 means "not set". */
struct pc_limits {
	uint64_t memory;     /* bytes */
	uint32_t cpus_milli; /* 1.5 cpus = 1500 */
	uint32_t pids;
	uint32_t open_files;
	uint64_t file_size; /* bytes */
	uint64_t wall_time_ms;
};

struct pc_process_policy {
	struct pc_env *env; /* in file order; later entries win */
	size_t n_env;
	struct pc_limits limits;
	enum pc_on_oom on_oom;
	enum pc_seccomp_mode seccomp;
	char **seccomp_deny; /* extra syscall names to fail with EPERM */
	char **seccomp_log;  /* syscall names to log instead of deny */
	enum pc_landlock_mode landlock;
};

struct policy {
	char *file; /* absolute path, or "<built-in default>" */
	char *name; /* default: file name without extension */
	int version;
	char hash[65]; /* sha256 hex of the file's bytes (or the built-in text) */
	enum pc_isolation isolation;
	char *hostname; /* default "agent" */
	/* sandbox.warm: how many sandboxes of this policy the daemon keeps
	 * built and waiting, so that starting an agent takes one message
	 * (0: none; `pincer run` ignores it) */
	unsigned warm;
	struct pc_fs_policy fs;
	struct pc_net_policy net;
	struct pc_credential *credentials;
	size_t n_credentials;
	struct pc_approval_rule *approvals;
	size_t n_approvals;
	struct pc_process_policy process;
};

/* Load and validate a policy file. On error *out is untouched and err says
 * "FILE:LINE:COL: KEY: what is wrong (what would be accepted)". */
int policy_load(const char *file, struct policy **out, struct pc_error *err);
/* The same from a string already in memory (tests, the daemon's API). `file`
 * names it in messages. */
int policy_load_string(const char *text, size_t len, const char *file, struct policy **out,
		       struct pc_error *err);
/* The built-in default: no network, read-only system dirs, `cwd` read-write
 * (refused when cwd is / or a system directory), a private /tmp. */
int policy_default(const char *cwd, struct policy **out, struct pc_error *err);

/* The effective policy (defaults filled in) as YAML that policy_load accepts. */
void policy_emit_yaml(const struct policy *p, struct pc_buf *out);

void policy_free(struct policy *p);
static inline void policy_freep(struct policy **p)
{
	if (*p)
		policy_free(*p);
}
#define _cleanup_policy_ _cleanup_(policy_freep)

/* ---- egress decisions (policy_egress.c) -------------------------------- */

enum pc_egress_verdict { PC_EGRESS_DENY = 0, PC_EGRESS_ALLOW, PC_EGRESS_WOULD_DENY };

struct pc_egress_decision {
	enum pc_egress_verdict verdict;
	const struct pc_net_rule *rule; /* the rule that decided; NULL when none matched */
	bool by_deny_rule;		/* rule is from network.egress.deny */
	char rule_at[300];		/* "FILE:LINE" of the rule, or "no rule allows it" */
	char reason[400];		/* one line for humans and the audit log */
	/* the verdict rests on methods/paths a tunnel hides (an allow rule
	 * with them, or a deny rule with them): TLS interception can decide
	 * each request instead */
	bool l7_unseen;
};

/* Decide one connection or request against network.egress:
 *   1. the first deny rule matching host and port wins (a deny rule with
 *      methods/paths also matches a tunnel, whose requests cannot be seen);
 *   2. else the first allow rule matching host, port and, when it names
 *      them, method and path; a tunnel never satisfies methods/paths;
 *   3. else deny ("no rule allows it").
 * A denial under `enforcement: audit` (the deciding rule's, or the
 * policy's when no rule matched) is PC_EGRESS_WOULD_DENY: let through,
 * recorded, and the reason starts with "would deny: ".
 * host: a name (matched case-insensitively, one trailing dot ignored) or
 * an IP literal (IPv6 with or without brackets; IPv4 in any form the
 * resolver reads, "127.1" is 127.0.0.1). method and path are NULL when
 * not known (CONNECT tunnel, SOCKS5, TLS capture); path may carry a query,
 * which is not matched. */
void policy_egress_decide(const struct policy *p, const char *host, uint16_t port,
			  const char *method, const char *path, struct pc_egress_decision *d);
/* The same, the request's method overrides (policy_request_methods'
 * list past its first) in `also`: a deny rule whose methods name one of
 * them denies it. Deny rules fold the case of methods and paths; allow
 * rules compare them exactly. */
void policy_egress_decide_req(const struct policy *p, const char *host, uint16_t port,
			      const char *method, char *const *also, const char *path,
			      struct pc_egress_decision *d);
/* Does host (as policy_egress_decide reads it) match a rule's host
 * pattern ("api.example.com", "*.example.com", an IP literal)? */
bool policy_host_match(const char *pattern, const char *host);
/* Do requests to host:port need to be seen to be decided: an allow or
 * deny rule matching them names methods or paths, or an approval rule
 * names the host? */
bool policy_egress_needs_l7(const struct policy *p, const char *host, uint16_t port);
/* Does anything in the policy need TLS interception: credentials, any
 * egress rule with methods or paths, or approval rules? */
bool policy_intercepts(const struct policy *p);

/* ---- approvals (policy_egress.c, policy_rules.c) ---------------------- */

/* The methods a request may be read as: its own first ("" if NULL), then
 * each a method override names: X-HTTP-Method-Override, X-HTTP-Method,
 * X-Method-Override (each item of a list), _method= in the query and in a
 * urlencoded form body; "*" (any) for a multipart body with a _method
 * field, or a form body not read yet (body NULL). headers: the request's
 * header lines "name: value\n", names in lower case (as the approval
 * digest binds them). Free with pc_strv_free. */
char **policy_request_methods(const char *method, const char *headers, const char *path,
			      const char *body, size_t len);
/* The first approval rule, from index `from` on, whose host, methods and
 * paths the request meets; -1 when none. methods: policy_request_methods'
 * list (any of them meets a rule's; NULL: not known, meets every rule's),
 * compared case-insensitively; paths too, ASCII folded (a path a server
 * may read as another one meets every rule's paths: the safe side; the
 * query is not matched). Its match.json is the caller's to check. */
int policy_approval_match(const struct policy *p, size_t from, const char *host,
			  char *const *methods, const char *path);
/* Does an approval rule name host? (Its requests must be seen.) */
bool policy_approval_host(const struct policy *p, const char *host);
/* Do the two rules ask the same (all but where they stand in the file)? */
bool policy_approval_same(const struct pc_approval_rule *a, const struct pc_approval_rule *b);
/* Is the body JSON by its Content-Type: one, application/json or +json
 * (headers as for policy_request_methods)? */
bool policy_approval_json_body(const char *headers);
/* Does the rule's match.json hold the request to be held? true when the
 * rule has none, or when the body (body[0..len), not empty) may say yes:
 * unless its Content-Type (one, in headers as for
 * policy_request_methods) is application/json or +json, it parses, and
 * no value at the rule's path equals the rule's (keys folded; a string
 * folded and trimmed; a number, or a string spelling one, equal as a
 * double; every member of a repeated key). An empty body: false. */
bool policy_approval_json_match(const struct pc_approval_rule *r, const char *headers,
				const char *body, size_t len);

/* deny_private exceptions: is this resolved address admitted by
 * network.egress.allow_private? (IPv4-mapped IPv6 counts as IPv4.) */
bool policy_private_allowed(const struct policy *p, const struct sockaddr *sa);

/* ---- suggestions from denials (policy_suggest.c) ----------------------- */

/* One denied egress attempt, as an audit record tells it. Strings may be
 * NULL when the record did not have them; port 0 when unknown. */
struct pc_egress_denial {
	const char *host;
	uint16_t port;
	const char *method; /* plain HTTP only */
	const char *path;
	const char *proto; /* "http", "connect", "socks5", "capture-http", "capture-tls" */
	const char *why;   /* "not-allowed" (fixable), "deny-rule", "private-address", ... */
	const char *rule;  /* "FILE:LINE" or "no rule allows it" */
	const char *reason;
	bool would_deny; /* decision "would-deny" (enforcement: audit) */
};

struct policy_suggest;
struct policy_suggest *policy_suggest_new(void);
void policy_suggest_free(struct policy_suggest *s);
static inline void policy_suggest_freep(struct policy_suggest **s)
{
	if (*s)
		policy_suggest_free(*s);
}
#define _cleanup_policy_suggest_ _cleanup_(policy_suggest_freep)
/* Take one denial in (everything is copied). */
void policy_suggest_add(struct policy_suggest *s, const struct pc_egress_denial *d);
/* Denials taken in so far; and how many of them an allow entry can fix. */
size_t policy_suggest_count(const struct policy_suggest *s, size_t *fixable);
/* The allow entries that would admit the fixable denials, as YAML list
 * items indented to sit under network.egress.allow (one entry per host
 * and kind: tunnels get host and ports, plain HTTP also methods and
 * paths, many paths under one folder collapsed into one glob for the
 * folder and everything under it), each
 * with a comment saying what it covers; then the denials no allow entry
 * can fix, as comments with their reason. Nothing taken from a record
 * reaches the output unquoted or outside a comment. */
void policy_suggest_emit(const struct policy_suggest *s, struct pc_buf *out);

/* Glob match used for deny paths and egress paths: "*" matches within one
 * '/'-separated component, "**" matches across components (including none). */
bool policy_glob_match(const char *pattern, const char *path);
