/* Opening the upstream of an allowed destination: resolve the name here
 * (the agent's own lookups only ever saw synthetic addresses), refuse the
 * private addresses deny_private names on the very address about to be
 * connected to (so a name that rebinds between lookups gains nothing),
 * record the decision, connect.
 */
#include "gate/internal.h"

#include <arpa/inet.h>
#include <string.h>

static bool v4_private(uint32_t a)
{
	static const struct {
		uint32_t net;
		int bits;
	} nets[] = {
		{0x00000000, 8},  /* 0.0.0.0/8 "this network" */
		{0x0a000000, 8},  /* 10/8 */
		{0x64400000, 10}, /* 100.64/10 CGNAT */
		{0x7f000000, 8},  /* loopback */
		{0xa9fe0000, 16}, /* 169.254/16 link-local, cloud metadata */
		{0xac100000, 12}, /* 172.16/12 */
		{0xc0000000, 24}, /* 192.0.0/24 IETF protocol assignments */
		{0xc0a80000, 16}, /* 192.168/16 */
		{0xc6120000, 15}, /* 198.18/15 benchmarking (and our synthetic names) */
		{0xe0000000, 4},  /* multicast */
		{0xf0000000, 4},  /* reserved, broadcast */
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(nets); i++) {
		uint32_t mask = nets[i].bits ? ~0U << (32 - nets[i].bits) : 0;
		if ((a & mask) == nets[i].net)
			return true;
	}
	return false;
}

bool gate_addr_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return v4_private(ntohl(in->sin_addr.s_addr));
	}
	if (sa->sa_family != AF_INET6)
		return true;
	const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	static const uint8_t zero[16];
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
		return true; /* :: and ::1 */
	/* IPv4 inside IPv6: judge the IPv4 address */
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || memcmp(b, zero, 12) == 0)
		return v4_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
				  (uint32_t)b[14] << 8 | b[15]);
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 2002:V4ADDR::/48 */
		return v4_private((uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 |
				  (uint32_t)b[4] << 8 | b[5]);
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
		return true; /* 2001::/32 Teredo: an IPv4 address hides inside */
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1)
		return true; /* 64:ff9b:1::/48 local-use NAT64 */
	if ((b[0] & 0xfe) == 0xfc)
		return true; /* fc00::/7 unique local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return true; /* fe80::/10 link-local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return true; /* fec0::/10 old site-local */
	if (b[0] == 0xff)
		return true; /* multicast */
	return false;
}

static void format_addr(const struct sockaddr *sa, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
		snprintf(out, n, "%s:%u", ip, port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		snprintf(out, n, "[%s]:%u", ip, port);
	}
}

static void up_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct gconn *c = arg;
	if (c->phase == PH_TUNNEL)
		tunnel_readable(c, false);
	else if (c->phase == PH_HTTP || c->phase == PH_HEAD)
		http_upstream_readable(c);
}

static void up_write_cb(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE); /* gate_send writes the next */
	tunnel_drained(arg, false);
}

static void try_next(struct gconn *c);

static void finish(struct gconn *c, int status)
{
	if (c->ai) {
		evutil_freeaddrinfo(c->ai);
		c->ai = c->ai_next = NULL;
	}
	void (*cb)(struct gconn *, int) = c->on_open;
	c->on_open = NULL;
	if (cb)
		cb(c, status);
}

/* This address did not take: the next one, or the failure recorded. */
static void connect_failed(struct gconn *c, const char *what, int status)
{
	bufferevent_free(c->u);
	c->u = NULL;
	if (c->ai_next) {
		try_next(c);
		return;
	}
	char reason[400];
	snprintf(reason, sizeof(reason), "upstream %s (%s:%u) %s", c->addr, c->host, c->port, what);
	gate_record(c, AUDIT_NONE, "upstream", NULL, reason);
	finish(c, status);
}

static void up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct gconn *c = arg;
	if (c->on_open) { /* still connecting */
		if (c->tls_u) { /* the TLS handshake, after the TCP connect */
			upstream_tls_done(c, what & BEV_EVENT_TIMEOUT
						     ? "did not finish the TLS handshake in time"
						     : "closed the connection during the TLS handshake");
			return;
		}
		if (what & BEV_EVENT_CONNECTED) {
			c->opened = true;
			c->up_reusable = true;
			c->up_policy = c->policy;
			c->up_start_ns = pc_now_ns();
			c->bytes_up = c->bytes_down = 0;
			if (c->intercept) {
				if (!intercept_upstream(c)) {
					c->refusal = "TLS to the upstream could not start";
					finish(c, 502);
					return;
				}
				/* the handshake must end within the connect timeout */
				struct timeval tv = {GATE_CONNECT_TIMEOUT_S, 0};
				bufferevent_set_timeouts(c->u, &tv, NULL);
				return;
			}
			struct timeval tv = {GATE_RESPONSE_TIMEOUT_S, 0};
			bufferevent_set_timeouts(
				c->u,
				c->proto == GP_HTTP || c->proto == GP_CAPTURE_HTTP ? &tv : NULL,
				NULL);
			bufferevent_disable(c->u, EV_WRITE); /* gate_send writes */
			gate_read_on(c->u);
			finish(c, 0);
			return;
		}
		int e = EVUTIL_SOCKET_ERROR();
		bool timeout = what & BEV_EVENT_TIMEOUT;
		connect_failed(c,
			       timeout ? "did not answer in time" : strerror(e ? e : ECONNREFUSED),
			       timeout ? 504 : 502);
		return;
	}
	if ((what & BEV_EVENT_EOF) && c->phase == PH_TUNNEL) {
		tunnel_eof(c, false);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && c->phase == PH_HTTP && !c->req_done) {
		/* still sending it a long request body: it may wait for the end */
		gate_read_on(c->u);
		return;
	}
	if (c->phase == PH_HTTP || c->phase == PH_HEAD) {
		http_upstream_eof(c);
		return;
	}
	gconn_free(c);
}

void upstream_callbacks(struct gconn *c)
{
	bufferevent_setcb(c->u, up_read_cb, up_write_cb, up_event_cb, c);
}

void upstream_tls_done(struct gconn *c, const char *error)
{
	if (!c->on_open)
		return; /* told twice (a failure after the event that ended it) */
	if (error) {
		char reason[600];
		snprintf(reason, sizeof(reason), "egress denied: upstream %s (%s:%u): %s",
			 c->addr, c->host, c->port, error);
		gate_record(c, AUDIT_DENY, "upstream-tls", NULL, reason);
		c->refusal = "upstream TLS failed: its certificate or handshake was refused "
			     "(see the audit log)";
		c->keep_alive = false;
		finish(c, 502);
		return;
	}
	struct timeval tv = {GATE_RESPONSE_TIMEOUT_S, 0};
	bufferevent_set_timeouts(c->u, &tv, NULL);
	finish(c, 0);
}

static void try_next(struct gconn *c)
{
	struct evutil_addrinfo *ai = c->ai_next;
	c->ai_next = ai->ai_next;
	format_addr(ai->ai_addr, c->addr, sizeof(c->addr));
	memcpy(&c->up_sa, ai->ai_addr, ai->ai_addrlen);
	c->u = bufferevent_socket_new(c->g->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!c->u) {
		finish(c, 502);
		return;
	}
	upstream_callbacks(c);
	bufferevent_setwatermark(c->u, EV_READ, 0, GATE_READ_MAX);
	struct timeval tv = {GATE_CONNECT_TIMEOUT_S, 0};
	bufferevent_set_timeouts(c->u, NULL, &tv);
	if (bufferevent_socket_connect(c->u, ai->ai_addr, (int)ai->ai_addrlen) < 0) {
		connect_failed(c, "cannot be connected to", 502); /* no callback came */
		return;
	}
	gate_nodelay(bufferevent_getfd(c->u));
}

/* Nothing will be forwarded after all (no address, or only refused ones):
 * an allow is no longer the decision and is dropped, but a would-deny of
 * audit mode is still recorded, so `policy suggest` sees the attempt. */
static void note_would_deny(struct gconn *c)
{
	if (c->decision && c->decision->verdict == PC_EGRESS_WOULD_DENY) {
		upstream_record_decision(c);
		return;
	}
	free(c->decision);
	c->decision = NULL;
}

/* deny_private, less what allow_private admits. */
static bool private_refused(const struct policy *p, const struct sockaddr *sa)
{
	return p->net.deny_private && gate_addr_private(sa) && !policy_private_allowed(p, sa);
}

/* A decision's reason quoted inside another: without its own lead-in. */
static const char *unprefixed(const char *reason)
{
	static const char lead[] = "egress denied: ";
	return strncmp(reason, lead, sizeof(lead) - 1) == 0 ? reason + sizeof(lead) - 1 : reason;
}

/* A deny rule naming an address applies to a name that resolves to it. */
static bool deny_by_address(struct gconn *c, const struct sockaddr *sa,
			    struct pc_egress_decision *out)
{
	char ip[INET6_ADDRSTRLEN];
	const void *a = sa->sa_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!inet_ntop(sa->sa_family, a, ip, sizeof(ip)) || strcmp(ip, c->host) == 0)
		return false; /* a literal was decided as such already */
	struct pc_egress_decision d;
	policy_egress_decide_req(c->policy, ip, c->port, c->method,
				 c->overrides ? c->overrides + 1 : NULL, c->path, &d);
	if (d.verdict != PC_EGRESS_DENY || !d.by_deny_rule)
		return false;
	*out = d;
	return true;
}

/* The resolved list, private addresses taken out (and recorded when that
 * leaves nothing). */
static void resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	/* A cancelled lookup still calls back, later: the ticket outlives the
	 * connection and tells. */
	struct dns_ticket *t = arg;
	struct gconn *c = t->c;
	free(t);
	if (!c) {
		if (res)
			evutil_freeaddrinfo(res);
		return;
	}
	c->dnsreq = NULL;
	c->ticket = NULL;
	if (result != 0) {
		note_would_deny(c); /* so that policy suggest sees it */
		char reason[400];
		snprintf(reason, sizeof(reason), "egress failed: cannot resolve %s: %s", c->host,
			 evutil_gai_strerror(result));
		c->addr[0] = '\0';
		gate_record(c, AUDIT_NONE, "upstream", NULL, reason);
		finish(c, 502);
		return;
	}
	const struct policy *p = c->policy;
	struct evutil_addrinfo **link = &res;
	char first_private[64] = "";
	struct pc_egress_decision by_addr = {.verdict = PC_EGRESS_ALLOW};
	while (*link) {
		struct evutil_addrinfo *ai = *link;
		if (ai->ai_family == AF_INET)
			((struct sockaddr_in *)ai->ai_addr)->sin_port = htons(c->port);
		else if (ai->ai_family == AF_INET6)
			((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons(c->port);
		bool refuse = (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
			      private_refused(p, ai->ai_addr);
		if (!refuse && !deny_by_address(c, ai->ai_addr, &by_addr)) {
			link = &ai->ai_next;
			continue;
		}
		if (refuse && !first_private[0])
			format_addr(ai->ai_addr, first_private, sizeof(first_private));
		*link = ai->ai_next;
		ai->ai_next = NULL;
		evutil_freeaddrinfo(ai);
	}
	c->ai = c->ai_next = res;
	if (!res)
		note_would_deny(c); /* so that policy suggest sees it */
	if (!res && by_addr.verdict == PC_EGRESS_DENY) {
		char reason[800];
		snprintf(reason, sizeof(reason),
			 "egress denied: %s resolves to an address a deny rule names: %s", c->host,
			 unprefixed(by_addr.reason));
		gate_record(c, AUDIT_DENY, "deny-rule", by_addr.rule_at, reason);
		c->refusal = "the destination's address is denied by the policy";
		finish(c, 403);
		return;
	}
	if (!res) {
		char reason[400];
		snprintf(reason, sizeof(reason),
			 "egress denied: %s resolves to %s, a private address (deny_private; "
			 "network.egress.allow_private can admit it)",
			 c->host, first_private[0] ? first_private : "nothing usable");
		snprintf(c->addr, sizeof(c->addr), "%s", first_private);
		gate_record(c, AUDIT_DENY, "private-address", NULL, reason);
		c->refusal = "the destination is a private address";
		finish(c, 403);
		return;
	}
	/* the decision, now that the address is known */
	format_addr(res->ai_addr, c->addr, sizeof(c->addr));
	if (!upstream_record_decision(c)) {
		c->refusal = GATE_AUDIT_DOWN;
		finish(c, 503);
		return;
	}
	try_next(c);
}

void upstream_release(struct gconn *c)
{
	if (c->u && c->opened) {
		struct gate *g = c->g;
		char reason[200];
		uint64_t ms = (pc_now_ns() - c->up_start_ns) / 1000000;
		snprintf(reason, sizeof(reason),
			 "connection closed after %llu ms: %llu bytes out, %llu bytes in",
			 (unsigned long long)ms, (unsigned long long)c->bytes_up,
			 (unsigned long long)c->bytes_down);
		const struct audit_field f[] = {
			AUDIT_STR("host", c->up_host[0] ? c->up_host : "-"),
			AUDIT_NUM("port", c->up_port),
			AUDIT_STR("proto", gate_proto_name(c->proto)),
			AUDIT_STR("addr", c->addr),
			AUDIT_NUM("bytes_up", c->bytes_up),
			AUDIT_NUM("bytes_down", c->bytes_down),
			AUDIT_NUM("duration_ms", ms),
			AUDIT_NUM("conn", c->id),
		};
		struct pc_error err = {0};
		if (audit_write(g->log, AUDIT_EGRESS, g->agent, g->run, AUDIT_NONE, reason, f,
				PC_ARRAY_SIZE(f), &err) < 0)
			pc_warn("audit: %s", err.msg);
	}
	tls_let_go(c->tls_u);
	c->tls_u = NULL;
	if (c->u)
		bufferevent_free(c->u);
	c->u = NULL;
	c->opened = c->up_reusable = false;
	c->up_host[0] = '\0';
	c->up_port = 0;
	c->bytes_up = c->bytes_down = 0;
}

bool upstream_reuse_allowed(struct gconn *c)
{
	const struct sockaddr *sa = (const struct sockaddr *)&c->up_sa;
	const struct policy *p = c->policy;
	if (private_refused(p, sa)) {
		char reason[400];
		snprintf(reason, sizeof(reason),
			 "egress denied: %s is connected to %s, a private address (deny_private)",
			 c->host, c->addr);
		gate_record(c, AUDIT_DENY, "private-address", NULL, reason);
		c->refusal = "the destination is a private address";
		return false;
	}
	struct pc_egress_decision d;
	if (deny_by_address(c, sa, &d)) {
		char reason[800];
		snprintf(reason, sizeof(reason),
			 "egress denied: %s is connected to an address a deny rule names: %s",
			 c->host, unprefixed(d.reason));
		gate_record(c, AUDIT_DENY, "deny-rule", d.rule_at, reason);
		c->refusal = "the destination's address is denied by the policy";
		return false;
	}
	return true;
}

bool upstream_record_decision(struct gconn *c)
{
	struct pc_egress_decision *d = c->decision;
	if (!d)
		return true;
	bool would = d->verdict == PC_EGRESS_WOULD_DENY;
	bool ok = gate_record(c, would ? AUDIT_WOULD_DENY : AUDIT_ALLOW,
			      would ? (d->by_deny_rule ? "deny-rule" : "not-allowed") : NULL,
			      d->rule_at, d->reason);
	free(c->decision);
	c->decision = NULL;
	return ok;
}

const char *gate_refusal(const struct gconn *c, int status)
{
	if (c->refusal)
		return c->refusal;
	return status == 504 ? "upstream did not answer in time" : "upstream unreachable";
}

void upstream_open(struct gconn *c, void (*on_open)(struct gconn *c, int status))
{
	c->on_open = on_open;
	c->phase = PH_WAIT;
	bufferevent_disable(c->c, EV_READ);
	upstream_release(c);
	c->addr[0] = '\0';
	c->refusal = NULL;
	snprintf(c->up_host, sizeof(c->up_host), "%s", c->host);
	c->up_port = c->port;
	struct evutil_addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
	struct dns_ticket *t = pc_xmalloc(sizeof(*t));
	t->c = c;
	c->ticket = t;
	/* may answer at once (a literal, the hosts file): then resolved() has
	 * already run, c may be gone, and the request is NULL */
	struct evdns_getaddrinfo_request *r =
		evdns_getaddrinfo(c->g->dns, c->host, NULL, &hints, resolved, t);
	if (r)
		c->dnsreq = r;
}

void upstream_cancel(struct gconn *c)
{
	c->on_open = NULL;
	if (c->ticket) {
		c->ticket->c = NULL;
		c->ticket = NULL;
	}
	if (c->dnsreq) {
		struct evdns_getaddrinfo_request *r = c->dnsreq;
		c->dnsreq = NULL;
		evdns_getaddrinfo_cancel(r);
	}
	if (c->ai) {
		evutil_freeaddrinfo(c->ai);
		c->ai = c->ai_next = NULL;
	}
}
