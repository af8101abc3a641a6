/* Connections that become byte tunnels once decided: SOCKS5, and captured
 * connections that are TLS (named by SNI) or anything else (named by the
 * address the agent dialled). CONNECT arrives here from gate_http.c.
 */
#include "gate/internal.h"

#include <arpa/inet.h>
#include <string.h>

/* ---- the tunnel --------------------------------------------------------- */

void tunnel_start(struct gconn *c)
{
	gate_stats_latency(c); /* connected, and the agent told (or a capture let through) */
	c->phase = PH_TUNNEL;
	/* long-lived by nature (a TLS session, a websocket): no idle limit */
	bufferevent_set_timeouts(c->c, NULL, NULL);
	bufferevent_set_timeouts(c->u, NULL, NULL);
	if (!c->eof_c)
		gate_read_on(c->c);
	gate_read_on(c->u);
	/* what the client sent ahead (a ClientHello) goes first */
	tunnel_readable(c, true);
	tunnel_readable(c, false);
	if (c->eof_c)
		tunnel_eof(c, true); /* it half-closed while we connected */
}

void tunnel_readable(struct gconn *c, bool from_client)
{
	struct bufferevent *from = from_client ? c->c : c->u;
	struct bufferevent *to = from_client ? c->u : c->c;
	bool eof = from_client ? c->eof_c : c->eof_u;
	if (!(bufferevent_get_enabled(from) & EV_READ) && !eof)
		return; /* paused by back-pressure */
	gate_pump(c, from, to, SIZE_MAX);
}

static bool flushed(struct bufferevent *b)
{
	return evbuffer_get_length(bufferevent_get_output(b)) == 0;
}

/* Half-close: once one side has said all it will say and that has reached
 * the other side, the other side's write half is shut. Both done: free. */
static void maybe_shut(struct gconn *c)
{
	if (c->shut_u && c->u && flushed(c->u)) {
		shutdown(bufferevent_getfd(c->u), SHUT_WR);
		c->shut_u = false;
	}
	if (c->shut_c && flushed(c->c)) {
		shutdown(bufferevent_getfd(c->c), SHUT_WR);
		c->shut_c = false;
	}
	if (c->eof_c && c->eof_u && flushed(c->c) && (!c->u || flushed(c->u)))
		gconn_free(c);
}

void tunnel_eof(struct gconn *c, bool client_side)
{
	if (client_side) {
		c->eof_c = true;
		c->shut_u = true;
		bufferevent_setwatermark(c->u, EV_WRITE, 0, 0);
	} else {
		c->eof_u = true;
		c->shut_c = true;
		bufferevent_setwatermark(c->c, EV_WRITE, 0, 0);
	}
	maybe_shut(c);
}

void tunnel_drained(struct gconn *c, bool client_side)
{
	/* the side that was written to drained: resume reading the other one */
	struct bufferevent *to = client_side ? c->c : c->u;
	struct bufferevent *from = client_side ? c->u : c->c;
	if (!to || !from)
		return;
	bool paused = !(bufferevent_get_enabled(from) & EV_READ);
	bool from_eof = client_side ? c->eof_u : c->eof_c;
	if (paused && !from_eof && (c->phase == PH_TUNNEL || c->phase == PH_HTTP)) {
		bufferevent_setwatermark(to, EV_WRITE, 0, 0);
		gate_read_on(from);
		if (c->phase == PH_HTTP) {
			/* may finish the exchange and free c: nothing after */
			if (client_side)
				http_upstream_readable(c);
			else
				http_client_readable(c);
			return;
		}
		tunnel_readable(c, !client_side);
	}
	if (c->phase == PH_TUNNEL)
		maybe_shut(c);
}

/* ---- SOCKS5 ------------------------------------------------------------- */

static void socks_reply(struct gconn *c, uint8_t rep)
{
	gate_stats_latency(c);
	uint8_t out[PC_SOCKS5_REPLY_MAX];
	size_t n;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (rep == PC_SOCKS5_OK && c->u &&
	    getsockname(bufferevent_getfd(c->u), (struct sockaddr *)&ss, &sl) == 0 &&
	    ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		n = pc_socks5_reply(out, rep, AF_INET, &in->sin_addr, ntohs(in->sin_port));
	} else {
		n = pc_socks5_reply(out, rep, 0, NULL, 0);
	}
	evbuffer_add(bufferevent_get_output(c->c), out, n);
	gate_send(c->c);
}

static void socks_opened(struct gconn *c, int status)
{
	if (status) {
		socks_reply(c, status == 403   ? PC_SOCKS5_NOT_ALLOWED
			       : status == 504 ? PC_SOCKS5_TTL_EXPIRED
					       : PC_SOCKS5_HOST_UNREACHABLE);
		gconn_finish(c);
		return;
	}
	socks_reply(c, PC_SOCKS5_OK);
	tunnel_start(c);
}

void socks_readable(struct gconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->c);
	for (;;) {
		size_t len = evbuffer_get_length(in);
		if (!len)
			return;
		size_t take = len < 600 ? len : 600;
		const uint8_t *buf = evbuffer_pullup(in, (ssize_t)take);
		if (c->phase == PH_SOCKS_GREET) {
			struct pc_socks5_greeting gr = {0};
			enum pc_socks_result r = pc_socks5_greeting_parse(buf, take, &gr);
			if (r == PC_SOCKS_NEED_MORE)
				return;
			if (r != PC_SOCKS_DONE) {
				char why[200];
				snprintf(why, sizeof(why), "egress denied: bad SOCKS5 greeting: %s",
					 gr.reason ? gr.reason : "?");
				gate_record(c, AUDIT_DENY, "bad-request", NULL, why);
				gconn_free(c);
				return;
			}
			uint8_t rep[2];
			evbuffer_add(bufferevent_get_output(c->c), rep,
				     pc_socks5_method_reply(rep, gr.method));
			gate_send(c->c);
			evbuffer_drain(in, gr.len);
			if (gr.method == PC_SOCKS5_NO_ACCEPTABLE) {
				gate_record(c, AUDIT_DENY, "bad-request", NULL,
					    "egress denied: the SOCKS5 client offers no method the "
					    "gate accepts (no authentication)");
				gconn_finish(c);
				return;
			}
			c->phase = PH_SOCKS_REQ;
			continue;
		}
		struct pc_socks5_request rq = {0};
		enum pc_socks_result r = pc_socks5_request_parse(buf, take, &rq);
		if (r == PC_SOCKS_NEED_MORE)
			return;
		if (r != PC_SOCKS_DONE) {
			char why[200];
			snprintf(why, sizeof(why), "egress denied: bad SOCKS5 request: %s",
				 rq.reason ? rq.reason : "?");
			gate_record(c, AUDIT_DENY, "bad-request", NULL, why);
			socks_reply(c, rq.reply ? rq.reply : PC_SOCKS5_GENERAL_FAILURE);
			gconn_finish(c);
			return;
		}
		evbuffer_drain(in, rq.len);
		snprintf(c->host, sizeof(c->host), "%s", rq.host);
		c->port = rq.port;
		if (!gate_unsynthesize(c->g, c->host, sizeof(c->host))) {
			gate_record(c, AUDIT_DENY, "bad-request", NULL,
				    "egress denied: a synthetic address no name was given for");
			socks_reply(c, PC_SOCKS5_HOST_UNREACHABLE);
			gconn_finish(c);
			return;
		}
		if (!gate_decide(c)) {
			socks_reply(c, PC_SOCKS5_NOT_ALLOWED);
			gconn_finish(c);
			return;
		}
		if (gate_intercepts(c)) {
			/* its TLS must end at the gate, and SOCKS5 gives no way
			 * to say so: the HTTP proxy (or a direct connection) does */
			char why[600];
			snprintf(why, sizeof(why),
				 "egress denied: %.256s is inspected by the gate (a credential "
				 "names it) and a SOCKS5 tunnel cannot be: use the HTTP proxy "
				 "(HTTPS_PROXY) or connect directly",
				 c->host);
			free(c->decision);
			c->decision = NULL;
			gate_record(c, AUDIT_DENY, "not-inspectable", NULL, why);
			socks_reply(c, PC_SOCKS5_NOT_ALLOWED);
			gconn_finish(c);
			return;
		}
		upstream_open(c, socks_opened);
		return;
	}
}

/* ---- capture ------------------------------------------------------------ */

static void capture_opened(struct gconn *c, int status)
{
	if (status) {
		gconn_free(c); /* the agent sees its connection closed */
		return;
	}
	tunnel_start(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	capture_timeout(arg);
}

void capture_start(struct gconn *c)
{
	c->lat_ns = c->start_ns; /* a captured connection is its request */
	char ip[INET6_ADDRSTRLEN] = "";
	struct sockaddr_storage *d = &c->dst;
	if (d->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)d;
		c->port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, ip, sizeof(ip));
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)d;
		c->port = ntohs(in->sin_port);
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
	}
	snprintf(c->host, sizeof(c->host), "%s", ip);
	if (!gate_unsynthesize(c->g, c->host, sizeof(c->host))) {
		c->proto = GP_CAPTURE_RAW;
		gate_record(c, AUDIT_DENY, "bad-request", NULL,
			    "egress denied: a synthetic address no name was given for");
		gconn_free(c);
		return;
	}
	if (strcmp(c->host, ip) != 0)
		c->dst_name = pc_xstrdup(c->host);
	c->phase = PH_SNI;
	c->timer = evtimer_new(c->g->base, timer_cb, c);
	struct timeval tv = {0, GATE_CAPTURE_FIRST_MS * 1000};
	if (c->timer)
		evtimer_add(c->timer, &tv);
}

/* Decide on what is known and tunnel. */
static void capture_go(struct gconn *c)
{
	if (c->timer) {
		event_free(c->timer);
		c->timer = NULL;
	}
	/* TLS to a host the gate must see into ends here (gate_tls.c) */
	c->intercept = c->proto == GP_CAPTURE_TLS && gate_intercepts(c);
	if (!gate_decide(c)) {
		gconn_free(c);
		return;
	}
	if (c->intercept) {
		gate_stats_latency(c); /* the gate answers its TLS itself */
		intercept_start(c);
		return;
	}
	upstream_open(c, capture_opened);
}

void capture_timeout(struct gconn *c)
{
	if (c->phase != PH_SNI)
		return;
	if (evbuffer_get_length(bufferevent_get_input(c->c)) == 0) {
		c->proto = GP_CAPTURE_RAW; /* the other end speaks first (SSH, SMTP) */
		capture_go(c);
		return;
	}
	/* a ClientHello has begun: its name decides, however slowly it comes */
	if (!c->hello_wait) {
		c->hello_wait = true;
		struct timeval tv = {GATE_HELLO_TIMEOUT_S, 0};
		evtimer_add(c->timer, &tv);
		return;
	}
	gate_record(c, AUDIT_DENY, "bad-request", NULL,
		    "egress denied: the TLS ClientHello did not complete in time");
	gconn_free(c);
}

void capture_readable(struct gconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->c);
	size_t len = evbuffer_get_length(in);
	if (!len || c->phase != PH_SNI)
		return;
	uint8_t first;
	evbuffer_copyout(in, &first, 1);
	enum pc_proto p = pc_proto_detect(first);
	if (p == PC_PROTO_HTTP) {
		if (c->timer) {
			event_free(c->timer);
			c->timer = NULL;
		}
		c->proto = GP_CAPTURE_HTTP;
		http_start(c);
		return;
	}
	if (p != PC_PROTO_TLS) {
		c->proto = GP_CAPTURE_RAW;
		capture_go(c);
		return;
	}
	c->proto = GP_CAPTURE_TLS;
	size_t take = len < PC_TLS_SNI_INPUT_MAX ? len : PC_TLS_SNI_INPUT_MAX;
	const uint8_t *buf = evbuffer_pullup(in, (ssize_t)take);
	char sni[PC_HTTP_HOST_MAX + 1];
	const char *reason = NULL;
	enum pc_sni_result r = pc_tls_sni_parse(buf, take, sni, &reason);
	if (r == PC_SNI_NEED_MORE && take < PC_TLS_SNI_INPUT_MAX)
		return;
	if (r == PC_SNI_ERROR || r == PC_SNI_NEED_MORE) {
		char why[300];
		snprintf(why, sizeof(why), "egress denied: malformed TLS ClientHello: %s",
			 reason ? reason : "too long");
		gate_record(c, AUDIT_DENY, "bad-request", NULL, why);
		gconn_free(c);
		return;
	}
	if (r == PC_SNI_FOUND) {
		if (c->dst_name && strcmp(sni, c->dst_name) != 0) {
			char why[700];
			snprintf(why, sizeof(why),
				 "egress denied: TLS names %s on a connection to the address given "
				 "out for %s",
				 sni, c->dst_name);
			gate_record(c, AUDIT_DENY, "bad-request", NULL, why);
			gconn_free(c);
			return;
		}
		/* dialled by address: the name is what is checked, and what is
		 * connected to */
		snprintf(c->host, sizeof(c->host), "%s", sni);
	}
	capture_go(c);
}
