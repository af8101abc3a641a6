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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
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

enum gconn_proto {
	GP_UNKNOWN = 0,
	GP_HTTP,	 /* absolute-form forward proxying */
	GP_CONNECT,	 /* HTTP CONNECT tunnel */
	GP_SOCKS5,	 /* SOCKS5 CONNECT */
	GP_CAPTURE_HTTP, /* plain HTTP on a captured connection */
	GP_CAPTURE_TLS,	 /* TLS on a captured connection, named by SNI */
	GP_CAPTURE_RAW,	 /* anything else on a captured connection */
};

enum gconn_phase {
	PH_DETECT,
	PH_SOCKS_GREET,
	PH_SOCKS_REQ,
	PH_SNI,
	PH_HEAD,
	PH_WAIT,
	PH_HTTP,
	PH_TUNNEL,
	PH_CLOSING, /* the last answer is being written; then close */
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
	uint64_t start_ns;

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
	struct event *timer;	       /* capture first-byte wait */
	bool hello_wait;	       /* the timer now waits for a ClientHello to end */
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
	struct gate_denial denials[GATE_DENIAL_KEYS];
	size_t n_denials;
	unsigned long denied, denied_other;
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
/* Write b's output now instead of on the loop's next turn (saves a round
 * through epoll and two epoll_ctl per message); what the socket does not
 * take is left to libevent, with EV_WRITE enabled until it is out. */
void gate_send(struct bufferevent *b);
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

/* gate_tunnel.c */
void socks_readable(struct gconn *c);
void capture_start(struct gconn *c);
void capture_readable(struct gconn *c);
void capture_timeout(struct gconn *c);
void tunnel_start(struct gconn *c); /* both sides connected: move bytes */
void tunnel_readable(struct gconn *c, bool from_client);
void tunnel_eof(struct gconn *c, bool client_side);
void tunnel_drained(struct gconn *c, bool client_side);
