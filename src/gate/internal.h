/* Private to src/gate: one gate, its connections and the steps they share.
 *
 * A connection (struct gconn) goes through phases:
 *
 *   DETECT -> (SOCKS_GREET -> SOCKS_REQ | HEAD | SNI) -> WAIT -> HTTP | TUNNEL
 *
 * DETECT looks at the first byte (proxy listener) or at the destination and
 * the first bytes (capture listener). WAIT is the upstream being resolved,
 * checked and connected (upstream.c) with the client's reads paused; then a
 * plain-HTTP connection goes back and forth between HEAD and HTTP (one
 * request at a time, pipelined ones wait in the client's buffer), and
 * everything else becomes a byte TUNNEL.
 */
#pragma once

#include "gate/gate.h"
#include "gate/proto.h"
#include "gate/stats.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

/* How much a peer may have queued in the other's output before we stop
 * reading it, and where reading resumes. */
#define GATE_HIGH_WATER (1024 * 1024)
#define GATE_LOW_WATER	(256 * 1024)
/* The most either peer may have waiting unread in the gate (a pipelined
 * flood, an upstream talking out of turn): reading stops there. */
#define GATE_READ_MAX (256 * 1024)

#define GATE_HEAD_TIMEOUT_S	120 /* an idle keep-alive client, a slow head */
#define GATE_CONNECT_TIMEOUT_S	10
#define GATE_RESPONSE_TIMEOUT_S 120
#define GATE_CAPTURE_FIRST_MS	300  /* server-speaks-first protocols on a capture */
#define GATE_FINISH_TIMEOUT_S	30   /* for the last answer to be read */
#define GATE_HELLO_TIMEOUT_S	10   /* a ClientHello that has begun, to complete */
#define GATE_MAX_CONNS		8192 /* one agent's open connections through the gate */
#define GATE_ACCEPT_PAUSE_MS	500  /* out of fds: stop accepting this long */
#define GATE_SYNC_MS		50   /* audit records made durable within this */
#define GATE_DENIAL_KEYS	16   /* distinct destinations in the exit summary */
#define GATE_SCAN_WHOLE		(64 * 1024) /* bodies searched whole before sending */
#define GATE_SCAN_WAIT_MS	1000	    /* for a chunked one to end */
#define GATE_STATS_INDEX	128	    /* slots of the host -> stats row index */

enum gconn_proto {
	GP_UNKNOWN = 0,
	GP_HTTP,	 /* absolute-form forward proxying */
	GP_CONNECT,	 /* HTTP CONNECT tunnel */
	GP_SOCKS5,	 /* SOCKS5 CONNECT */
	GP_CAPTURE_HTTP, /* plain HTTP on a captured connection */
	GP_CAPTURE_TLS,	 /* TLS on a captured connection, named by SNI */
	GP_CAPTURE_RAW,	 /* anything else on a captured connection */
	GP_HTTPS,	 /* TLS intercepted (CONNECT or capture): requests seen */
};

enum gconn_phase {
	PH_DETECT,
	PH_SOCKS_GREET,
	PH_SOCKS_REQ,
	PH_SNI,
	PH_HEAD,
	PH_BODY_WAIT, /* a small body, searched whole before the request goes */
	PH_WAIT,
	PH_HTTP,
	PH_TUNNEL,
	PH_CLOSING,  /* the last answer is being written; then close */
	PH_APPROVAL, /* the body of a request an approval may hold is coming */
	PH_HELD,     /* the request waits for its approval's decision */
};

/* The body of a message being streamed, request or response. */
struct body_state {
	enum pc_http_body kind;
	uint64_t remaining; /* LENGTH */
	struct pc_chunked ck;
	bool done;
};

struct gate;
struct gconn;
struct tls_side;
struct pc_tls_ops;
struct pc_tls;
struct vault;

/* One credential of the run (creds.c). */
#define GATE_CRED_FORMS 12
struct gate_cred {
	char *name;   /* the vault secret's name */
	char *var;    /* the environment variable holding the placeholder */
	char **hosts; /* where the secret may go */
	char **fallback; /* groups whose secret stands in ("group:sales") */
	char *header, *format, *query;
	size_t at;    /* its index in the policy's credentials[] */
	/* removed (or its secret replaced) by a policy reload: hosts NULL, so
	 * injected nowhere; its placeholder (NULL when a successor took it
	 * over) and its secrets stay refused everywhere and redacted */
	bool retired;
	char *placeholder; /* what the agent holds: as long as the secret */
	size_t ph_len;
	char *owner; /* whose secret it is (the identity, or a group) */
	uint8_t *secret, *previous; /* previous: the value before a rotation, while kept */
	size_t len, prev_len;
	struct {
		uint8_t *p;
		size_t n;
	} forms[GATE_CRED_FORMS]; /* encoded spellings, redacted too (creds.c) */
	size_t n_forms;
};

struct gate_creds {
	const struct pc_tls_ops *ops;
	char *identity;
	struct vault *v; /* open (no lock held) to notice a rotation */
	struct gate_cred *c;
	size_t n;
	size_t max_pat; /* the longest value searched for */
};

/* A value searched for in what passes, and what it is. */
struct cred_value {
	const uint8_t *p;
	size_t n;
	const char *what; /* "placeholder", "secret value", "previous secret value" */
	const struct gate_cred *cred;
};
/* The values one search looks for: on the stack up to this many (always,
 * but for policies with dozens of credentials or runs that acted for many
 * approvers), else on the heap; none is ever left out. */
#define GATE_CRED_VALUES_LOCAL 256
struct cred_values {
	struct cred_value *v;
	size_t n, max_pat;
	struct cred_value local[GATE_CRED_VALUES_LOCAL];
};

/* What approval.c knows of c's current request, once an approval rule
 * matched it or it named an approval (X-Pincer-Approval); from its head
 * until the next request. The head and body wait in c's input until the
 * outcome: then the head is parsed again (reparse) and the request goes on
 * as if new, or is answered. */
struct gconn_approval {
	uint32_t head_len;
	enum pc_http_body body;
	uint64_t length;
	struct pc_chunked ck;
	size_t walked;	    /* chunked: raw body bytes decoded so far */
	struct pc_buf data; /* chunked: the body, decoded */
	char *content_type; /* NULL: none */
	/* the request's end-to-end headers as the digest binds them, one
	 * "name: value\n" each in the order sent (names in lower case); not
	 * bound: framing and hop-by-hop ones, Host (in the URL), Expect,
	 * X-Pincer-Approval */
	char *headers;
	size_t buffered; /* its share of what waiting requests may hold */
	size_t body_max; /* the most body it may have (its rules' body_max) */
	char id[17];	    /* what X-Pincer-Approval named */
	bool has_id;
	bool reparse;	  /* the head is being parsed again, the outcome known */
	bool pass;	  /* no rule holds it: it goes on as it is */
	bool for_deny;	  /* read only for a deny rule's sake (no approval rule met) */
	bool sent;	  /* carrying out go: its head went upstream */
	uint64_t discard; /* refused (why): bytes of it still to read and drop */
	char *why;
	struct gate_approval *held; /* the decision it waits for */
	struct gate_approval *go;   /* the approved one it carries out */
	struct gate_creds *creds;   /* act_as approver: injected instead of the run's */
};

struct dns_ticket {
	struct gconn *c; /* NULL once the connection is gone */
};

struct gconn {
	struct gate *g;
	struct gconn *prev, *next;
	uint64_t id;
	bool capture; /* accepted on a capture listener */
	enum gconn_proto proto;
	enum gconn_phase phase;
	struct bufferevent *c, *u;   /* client (agent) side, upstream side */
	struct sockaddr_storage dst; /* capture: where the agent connected */
	const struct policy *policy; /* the one that decided (kept alive by the box) */
	/* the request's method and the ones its head says a server may read
	 * instead (policy_request_methods; NULL: none), for deny rules naming
	 * the address it resolves to */
	char **overrides;
	uint64_t start_ns;
	uint64_t lat_ns; /* arrival of the request not yet answered or sent on (0: none) */

	/* the current destination and request, for decisions and records */
	char host[PC_HTTP_HOST_MAX + 1];
	uint16_t port;
	char *method, *path;		     /* plain HTTP only, else NULL */
	char *dst_name;			     /* capture: the name a synthetic address stood for */
	struct pc_egress_decision *decision; /* allow / would-deny awaiting the record */
	bool decided;			     /* at least one decision recorded */
	bool opened;			     /* c->u is connected: its release gets a record */
	char addr[64];			     /* upstream address connected to ("1.2.3.4:443") */
	/* the open upstream: where it goes, whether it takes another request,
	 * the policy it was checked under, when it opened */
	char up_host[PC_HTTP_HOST_MAX + 1];
	uint16_t up_port;
	bool up_reusable;
	const struct policy *up_policy;
	uint64_t up_start_ns;
	struct sockaddr_storage up_sa; /* the address it is connected to */

	/* upstream being opened */
	struct evdns_getaddrinfo_request *dnsreq;
	struct dns_ticket *ticket;
	struct evutil_addrinfo *ai, *ai_next;
	void (*on_open)(struct gconn *c, int status);
	const char *refusal; /* static text for the agent when status is 403 */

	/* HTTP */
	struct pc_http_request *req;   /* only while a head is parsed */
	struct pc_http_response *resp; /* only while a head is parsed */
	struct pc_buf head_out;	       /* the rewritten request head, until sent */
	struct body_state req_body, resp_body;
	bool req_done, resp_done, resp_started;
	bool keep_alive;      /* both sides agreed the connection carries another request */
	bool req_head_method; /* the request was HEAD */
	unsigned version_minor;

	/* tunnel */
	bool eof_c, eof_u;
	bool shut_c, shut_u;	       /* write side of this peer shut after its output drains */
	uint64_t bytes_up, bytes_down; /* of the open upstream */
	struct event *timer;	       /* capture first-byte wait; a chunked body's wait */
	bool hello_wait;	       /* the timer now waits for a ClientHello to end */

	/* TLS interception (gate_tls.c): c->c and c->u are then filters */
	bool intercept;
	struct tls_side *tls_c, *tls_u;
	char injected[160]; /* credentials injected into the current request */
	char injected_owner[140];
	bool redacted; /* the current answer had a secret taken out (recorded once) */
	bool want_identity; /* the answer is searched: asked for, and must be, unencoded */
	const struct gate_cred *unsafe; /* the secret that could not go in a header */
	/* a body being searched (exfiltration) or redacted: decoded chunked
	 * data waits here; the last max_pat-1 bytes are always held back */
	struct evbuffer *scan, *rscan; /* request's, response's */
	struct gconn_approval *ap;     /* approval.c: NULL for most requests */
};

struct gate_denial {
	char key[PC_HTTP_HOST_MAX + 8];
	char why[96];
	unsigned count;
};

struct gate {
	struct event_base *base;
	struct evdns_base *dns;
	const struct policy *policy;
	struct audit_log *log;
	const char *agent, *run;
	struct evconnlistener **listeners;
	size_t n_listeners;
	struct event **udp;
	size_t n_udp;
	struct pc_dns_map *map;
	struct event *sync_timer;
	struct gconn *conns;
	size_t n_conns;
	struct event *accept_pause; /* re-enables the listeners */
	bool warned_full;
	bool dns_full_recorded;
	uint64_t next_id;
	const struct pc_tls_ops *tls_ops; /* NULL: no interception in this run */
	struct pc_tls *tls;
	struct gate_creds *creds; /* NULL: no credentials */
	struct gate_denial denials[GATE_DENIAL_KEYS];
	size_t n_denials;
	unsigned long denied, denied_other;
	/* the numbers (stats.h): the run's file, else own_stats; the host
	 * rows found through an index of our own, never read back from it */
	struct gate_stats *stats, *own_stats;
	uint32_t stats_hash[GATE_STATS_INDEX];
	uint8_t stats_row[GATE_STATS_INDEX]; /* 1 + row, 0: free */
	char *stats_names[GATE_STATS_HOSTS];
	uint32_t stats_n_hosts;
	struct gate_approvals *approvals; /* approval.c; NULL until one is needed */
};

/* gate.c */
struct gconn *gconn_new(struct gate *g, evutil_socket_t fd, bool capture);
void gconn_free(struct gconn *c);
/* Write what is queued to the client, then close. */
void gconn_finish(struct gconn *c);
/* The audit record of a decision about c's current destination. kind names
 * why for denials ("not-allowed", "deny-rule", "private-address",
 * "bad-request", "upstream"); NULL for allow. */
bool gate_record(struct gconn *c, enum audit_decision d, const char *kind, const char *rule,
		 const char *reason);
/* The policy's verdict for c->host/port/method/path; a denial is recorded,
 * counted and returns false; allow and would-deny keep the decision in c
 * for upstream_open's record and return true. */
bool gate_decide(struct gconn *c);
/* "198.18.0.7" -> the name it stands for, in place; false for an unknown
 * synthetic address (recorded and denied by the caller). */
bool gate_unsynthesize(struct gate *g, char *host, size_t cap);
const char *gate_proto_name(enum gconn_proto p);
/* The fields every record about c's current destination starts with
 * (host, port, method, path, proto); f has room for 5. */
size_t gate_fields(const struct gconn *c, struct audit_field *f);
/* Count a denial for the exit summary. */
void gate_count_denial(struct gate *g, const char *host, uint16_t port, const char *why);
/* Write b's output now instead of on the loop's next turn (saves a round
 * through epoll and two epoll_ctl per message); what the socket does not
 * take is left to libevent, with EV_WRITE enabled until it is out. */
void gate_send(struct bufferevent *b);
/* TCP_NODELAY on a socket of the gate's. */
void gate_nodelay(evutil_socket_t fd);
/* The same for a TLS filter's socket: its ciphertext out now. */
void gate_send_socket(struct bufferevent *sock);
/* Resume reading b (a TLS filter also decrypts what already came). */
void gate_read_on(struct bufferevent *b);
/* b's input length; for a TLS filter whose plaintext ran out, what its
 * socket already brought is decrypted first (a filter stopped at its
 * watermark hears of no more bytes otherwise). */
size_t gate_refill(struct bufferevent *b);
/* stats.c: counting into g->stats */
void gate_stats_decision(struct gate *g, const char *host, bool allowed);
/* c's pending request or connection was sent on or answered: its latency
 * (from c->lat_ns), once. */
void gate_stats_latency(struct gconn *c);
static inline void gate_count_bytes(struct gconn *c, bool up, uint64_t n)
{
	if (up) {
		c->bytes_up += n;
		gate_stats_add(&c->g->stats->bytes_up, n);
	} else {
		c->bytes_down += n;
		gate_stats_add(&c->g->stats->bytes_down, n);
	}
}
/* Moving bytes between the two sides with back-pressure (and sending). */
void gate_pump(struct gconn *c, struct bufferevent *from, struct bufferevent *to, size_t n);

/* upstream.c: resolve c->host, refuse private addresses (recorded), record
 * the decision, connect; then on_open(c, 0), or on_open(c, status) with the
 * HTTP status that fits (403 private, 502 unreachable, 504 timeout) after
 * the reason has been recorded. */
void upstream_open(struct gconn *c, void (*on_open)(struct gconn *c, int status));
void upstream_cancel(struct gconn *c);
/* Close the upstream (if any); an opened one gets its close record with
 * the bytes each way. */
void upstream_release(struct gconn *c);
/* The open upstream may serve this request too: its address passes the
 * private-address and deny-by-address checks for this request (else the
 * denial is recorded, c->refusal set, and false). */
bool upstream_reuse_allowed(struct gconn *c);
/* The allow (or would-deny) record of the decision gate_decide() kept.
 * false when it could not be written: then nothing may be forwarded. */
bool upstream_record_decision(struct gconn *c);
#define GATE_AUDIT_DOWN "the audit log cannot be written: nothing is forwarded"
/* A refusal's text for the agent, by status. */
const char *gate_refusal(const struct gconn *c, int status);
/* Is this an address deny_private refuses? */
bool gate_addr_private(const struct sockaddr *sa);

/* http.c side of the gate (gate_http.c) */
void http_start(struct gconn *c); /* the client's first bytes are an HTTP head */
void http_client_readable(struct gconn *c);
void http_upstream_readable(struct gconn *c);
void http_upstream_eof(struct gconn *c);
/* An error answer and close: status, reason phrase, X-Pincer-Denied text. */
void http_reply_error(struct gconn *c, int status, const char *denied);
void http_free_state(struct gconn *c);

/* gate_tls.c */
/* Is c's host one whose TLS the gate must see into? */
bool gate_intercepts(const struct gconn *c);
/* The agent's TLS ends here from now on: c->c becomes a TLS filter and
 * the connection carries origin-form HTTP requests for c->host. false:
 * recorded and c freed. */
bool intercept_start(struct gconn *c);
/* c->u just connected: wrap it in TLS toward c->host; the outcome comes
 * through upstream_tls_done. false: could not start (nothing recorded). */
bool intercept_upstream(struct gconn *c);
void tls_let_go(struct tls_side *t); /* the connection no longer hears of it */
void tls_close_notify(struct tls_side *t);
struct bufferevent *tls_socket(const struct tls_side *t);
/* gate.c / upstream.c: (re)attach the callbacks to a new c->c / c->u */
void gate_client_callbacks(struct gconn *c);
void upstream_callbacks(struct gconn *c);
/* upstream.c: the upstream's TLS handshake finished (error NULL) or failed */
void upstream_tls_done(struct gconn *c, const char *error);

/* inject.c: credentials in HTTP (c->g->creds is set for all of these) */
/* The request head buf[0..head_len) (its first line_len bytes the
 * request line): false when it carries a credential's placeholder or
 * secret toward a host the credential does not name (recorded as
 * exfiltration, refused; c may be gone), or a placeholder over plain HTTP. */
bool inject_check_head(struct gconn *c, const char *buf, size_t line_len, size_t head_len);
/* Does a credential go into this (intercepted) request? */
bool inject_applies(const struct gconn *c);
/* The request target with placeholders swapped and query credentials set. */
void inject_target(struct gconn *c, struct pc_buf *b, const char *path);
/* One header, placeholders swapped; the credential's own header dropped. */
bool inject_header(struct gconn *c, struct pc_buf *b, const char *name, size_t nlen,
		   const char *value, size_t vlen);
/* The credentials' headers; false: refused (recorded, answered). */
bool inject_headers(struct gconn *c, struct pc_buf *b);
void note_injected(struct gconn *c, const struct gate_cred *cr);
/* Request body bytes in[0..n) about to go upstream (last: the body ends
 * with them): false when a foreign value is among them (recorded,
 * refused, c may be gone); else *ok is how many may go now. */
bool scan_request(struct gconn *c, struct evbuffer *in, size_t n, bool last, size_t *ok);
/* Answer bytes in[0..n): secrets replaced in place; returns how many may
 * go to the agent now. */
size_t redact(struct gconn *c, struct evbuffer *in, size_t n, bool last);
void redact_mem(struct gconn *c, char *p, size_t n);
void redacted_note(struct gconn *c, const struct cred_value *v);

/* creds.c */
void gate_creds_refresh(struct gate_creds *cs, struct gate *g);
bool cred_for_host(const struct gate_cred *cr, const char *host);
/* The values that must not go to host: placeholders and secrets of every
 * credential that does not name it. out NULL: only counted. */
size_t creds_foreign_values(const struct gate_creds *cs, const char *host, struct cred_value *out);
/* Every secret value (for redacting answers). out NULL: only counted. */
size_t creds_secret_values(const struct gate_creds *cs, struct cred_value *out);

/* approval.c (box/control.h, "approvals") */
/* For every HTTP request on_request decided: true when it goes on now;
 * false when it waits for its body or its approval, or was refused
 * (answered and recorded; c may be gone). */
bool approval_check(struct gconn *c, const char *buf);
void approval_readable(struct gconn *c); /* PH_APPROVAL: more of the body came */
/* The request carrying out an approval: its head went upstream; the
 * upstream's answer began (status); the gate answered it itself. */
void approval_sent(struct gconn *c);
void approval_executed(struct gconn *c, int status);
void approval_answered(struct gconn *c, int status, const char *why);
void approval_conn_gone(struct gconn *c); /* gconn_free */
/* Every approver's secret this run acted with (kept to its end): redacted
 * from every answer, refused in every request; *max_pat: the longest. */
size_t approval_secret_values(const struct gate *g, struct cred_value *out, size_t *max_pat);
/* A tunnel to a host whose requests approvals must see, which the gate
 * does not see into: refused (recorded); true when so. */
bool approval_tunnel_refused(struct gconn *c);
/* A reload: approvals whose rule is gone or changed are rejected. */
void approvals_set_policy(struct gate *g, const struct policy *p);
void approvals_free(struct gate *g);
static inline bool approval_header(const char *buf, const struct pc_http_header *h)
{
	return h->name.len == 17 && strncasecmp(buf + h->name.off, "X-Pincer-Approval", 17) == 0;
}
/* The credentials injected into c's request: an approver's while it
 * carries out an approval that acts as the approver, else the run's. */
static inline const struct gate_creds *gconn_creds(const struct gconn *c)
{
	return c->ap && c->ap->creds ? c->ap->creds : c->g->creds;
}

/* gate_tunnel.c */
void socks_readable(struct gconn *c);
void capture_start(struct gconn *c);
void capture_readable(struct gconn *c);
void capture_timeout(struct gconn *c);
void tunnel_start(struct gconn *c); /* both sides connected: move bytes */
void tunnel_readable(struct gconn *c, bool from_client);
void tunnel_eof(struct gconn *c, bool client_side);
void tunnel_drained(struct gconn *c, bool client_side);
