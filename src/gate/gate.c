/* The gate: listeners, connections, decisions and their records. */
#include "gate/internal.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <string.h>

static const char *const proto_names[] = {
	[GP_UNKNOWN] = "-",
	[GP_HTTP] = "http",
	[GP_CONNECT] = "connect",
	[GP_SOCKS5] = "socks5",
	[GP_CAPTURE_HTTP] = "capture-http",
	[GP_CAPTURE_TLS] = "capture-tls",
	[GP_CAPTURE_RAW] = "capture-raw",
	[GP_HTTPS] = "https",
};

const char *gate_proto_name(enum gconn_proto p)
{
	return (unsigned)p < PC_ARRAY_SIZE(proto_names) ? proto_names[p] : "-";
}

/* ---- records ------------------------------------------------------------ */

static void sync_soon(void *arg)
{
	struct gate *g = arg;
	if (!evtimer_pending(g->sync_timer, NULL)) {
		struct timeval tv = {0, GATE_SYNC_MS * 1000};
		evtimer_add(g->sync_timer, &tv);
	}
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct gate *g = arg;
	struct pc_error err = {0};
	if (audit_sync(g->log, &err) < 0)
		pc_warn("audit: %s", err.msg);
}

void gate_count_denial(struct gate *g, const char *host, uint16_t port, const char *why)
{
	char key[sizeof(g->denials[0].key)];
	if (host[0])
		snprintf(key, sizeof(key), "%s:%u", host, port);
	else
		snprintf(key, sizeof(key), "(malformed)");
	g->denied++;
	for (size_t i = 0; i < g->n_denials; i++) {
		if (strcmp(g->denials[i].key, key) == 0) {
			g->denials[i].count++;
			return;
		}
	}
	if (g->n_denials == GATE_DENIAL_KEYS) {
		g->denied_other++;
		return;
	}
	struct gate_denial *d = &g->denials[g->n_denials++];
	snprintf(d->key, sizeof(d->key), "%s", key);
	snprintf(d->why, sizeof(d->why), "%s", why);
	d->count = 1;
}

size_t gate_fields(const struct gconn *c, struct audit_field *f)
{
	size_t n = 0;
	f[n++] = AUDIT_STR("host", c->host[0] ? c->host : "-");
	f[n++] = AUDIT_NUM("port", c->port);
	if (c->method)
		f[n++] = AUDIT_STR("method", c->method);
	if (c->path)
		f[n++] = AUDIT_STR("path", c->path);
	f[n++] = AUDIT_STR("proto", gate_proto_name(c->proto));
	return n;
}

bool gate_record(struct gconn *c, enum audit_decision d, const char *kind, const char *rule,
		 const char *reason)
{
	struct gate *g = c->g;
	struct audit_field f[14];
	size_t n = gate_fields(c, f);
	if (rule)
		f[n++] = AUDIT_STR("rule", rule);
	if (kind)
		f[n++] = AUDIT_STR("why", kind);
	/* the address only when it is this destination's: being opened, or
	 * the open upstream of the same host and port */
	bool same = c->u && c->up_port == c->port && strcmp(c->up_host, c->host) == 0;
	if (c->addr[0] && (c->on_open || same))
		f[n++] = AUDIT_STR("addr", c->addr);
	if (c->dst_name)
		f[n++] = AUDIT_STR("dns_name", c->dst_name);
	if (c->injected[0] && (d == AUDIT_ALLOW || d == AUDIT_WOULD_DENY)) {
		f[n++] = AUDIT_STR("credential", c->injected);
		f[n++] = AUDIT_STR("owner", c->injected_owner);
	}
	f[n++] = AUDIT_NUM("conn", c->id);
	struct pc_error err = {0};
	bool ok = audit_write(g->log, AUDIT_EGRESS, g->agent, g->run, d, reason, f, n, &err) >= 0;
	if (!ok)
		pc_warn("audit: %s", err.msg);
	/* an allow that could not be written forwards nothing: not counted */
	if (d == AUDIT_DENY || (ok && (d == AUDIT_ALLOW || d == AUDIT_WOULD_DENY)))
		gate_stats_decision(g, c->host, d != AUDIT_DENY);
	if (d == AUDIT_DENY)
		gate_stats_latency(c); /* answered (or closed) now */
	if (d != AUDIT_NONE)
		c->decided = true;
	if (d == AUDIT_DENY) {
		/* the exit summary names the short reason */
		const char *why = kind && strcmp(kind, "not-allowed") == 0 ? "no rule allows it"
				  : kind && strcmp(kind, "private-address") == 0 ? "private address"
				  : kind && strcmp(kind, "deny-rule") == 0	 ? "deny rule"
				  : kind					 ? kind
										 : "denied";
		char narrow[96];
		if (kind && strcmp(kind, "not-allowed") == 0 && rule &&
		    strcmp(rule, "no rule allows it") != 0) {
			/* a rule names the host but not this method, path or port */
			const char *base = strrchr(rule, '/');
			snprintf(narrow, sizeof(narrow), "outside the rule at %s",
				 base ? base + 1 : rule);
			why = narrow;
		}
		gate_count_denial(g, c->host, c->port, why);
	}
	return ok;
}

bool gate_decide(struct gconn *c)
{
	/* "2130706433", "0x7f.1": an IPv4 address in a spelling resolvers
	 * differ on; decided, recorded and connected to as 127.0.0.1 */
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, c->host, &a4) != 1 && inet_pton(AF_INET6, c->host, &a6) != 1 &&
	    inet_aton(c->host, &a4) == 1)
		inet_ntop(AF_INET, &a4, c->host, sizeof(c->host));
	struct pc_egress_decision d;
	c->policy = c->g->policy;
	policy_egress_decide(c->policy, c->host, c->port, c->method, c->path, &d);
	if (c->intercept && !c->method) {
		/* the connection of an intercepted host: its requests are
		 * decided (and recorded) one by one, methods and paths seen */
		if (d.verdict != PC_EGRESS_DENY || d.l7_unseen)
			return true;
	}
	if (!c->method && !c->intercept && d.verdict != PC_EGRESS_DENY && c->policy->n_approvals &&
	    approval_tunnel_refused(c))
		return false; /* approvals must see its requests */
	if (d.verdict == PC_EGRESS_DENY) {
		gate_record(c, AUDIT_DENY, d.by_deny_rule ? "deny-rule" : "not-allowed", d.rule_at,
			    d.reason);
		return false;
	}
	free(c->decision);
	c->decision = pc_xmalloc(sizeof(d));
	*c->decision = d;
	return true;
}

bool gate_unsynthesize(struct gate *g, char *host, size_t cap)
{
	struct in_addr a;
	if (inet_pton(AF_INET, host, &a) != 1 || !pc_dns_is_synthetic(a))
		return true;
	const char *name = pc_dns_map_lookup(g->map, a);
	if (!name)
		return false;
	snprintf(host, cap, "%s", name);
	return true;
}

/* ---- connections -------------------------------------------------------- */

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);

void gate_nodelay(evutil_socket_t fd)
{
	/* messages are written whole and at once (gate_send): Nagle would
	 * hold a second one back until the peer's delayed ACK, 40 ms */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct gconn *gconn_new(struct gate *g, evutil_socket_t fd, bool capture)
{
	gate_nodelay(fd);
	struct bufferevent *bev = bufferevent_socket_new(g->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return NULL;
	}
	struct gconn *c = pc_xcalloc(1, sizeof(*c));
	g->n_conns++;
	c->g = g;
	c->id = ++g->next_id;
	c->c = bev;
	c->capture = capture;
	c->phase = PH_DETECT;
	c->start_ns = pc_now_ns();
	c->next = g->conns;
	if (g->conns)
		g->conns->prev = c;
	g->conns = c;
	gate_client_callbacks(c);
	bufferevent_setwatermark(bev, EV_READ, 0, GATE_READ_MAX);
	struct timeval tv = {GATE_HEAD_TIMEOUT_S, 0};
	bufferevent_set_timeouts(bev, &tv, NULL);
	/* writes go out at once (gate_send); libevent writes only a rest */
	bufferevent_disable(bev, EV_WRITE); /* on by default in libevent */
	bufferevent_enable(bev, EV_READ);
	return c;
}

void gate_client_callbacks(struct gconn *c)
{
	bufferevent_setcb(c->c, client_read_cb, client_write_cb, client_event_cb, c);
}

void gconn_free(struct gconn *c)
{
	struct gate *g = c->g;
	if (!c->decided && c->capture) {
		/* a captured attempt that ended before the gate could decide */
		c->proto = c->proto ? c->proto : GP_CAPTURE_RAW;
		gate_record(c, AUDIT_NONE, NULL, NULL,
			    c->decision ? "captured connection closed by the agent before its "
					  "request was sent (nothing forwarded)"
					: "captured connection closed before it could be decided "
					  "(nothing forwarded)");
	}
	approval_conn_gone(c);
	pc_strv_free(c->overrides);
	upstream_release(c);
	upstream_cancel(c);
	http_free_state(c);
	if (c->timer)
		event_free(c->timer);
	if (c->scan)
		evbuffer_free(c->scan);
	if (c->rscan)
		evbuffer_free(c->rscan);
	tls_let_go(c->tls_c);
	if (c->c)
		bufferevent_free(c->c);
	free(c->method);
	free(c->path);
	free(c->dst_name);
	free(c->decision);
	g->n_conns--;
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* A socket bufferevent's output is frozen at its start (only libevent's
 * own write callback may drain it): thawed for the write, as libevent
 * does. -1 for an error other than "try later". */
static int write_now(struct evbuffer *out, evutil_socket_t fd)
{
	evbuffer_unfreeze(out, 1);
	int n = evbuffer_write(out, fd);
	evbuffer_freeze(out, 1);
	return n < 0 && errno != EAGAIN && errno != EINTR ? -1 : 0;
}

void gate_send(struct bufferevent *b)
{
	struct bufferevent *sock = bufferevent_get_underlying(b);
	if (sock) {
		/* a TLS filter: what waits is encrypted in one go (writes to it
		 * only queue while its EV_WRITE is off: one record, not one per
		 * add), then the socket is written now */
		struct evbuffer *plain = bufferevent_get_output(b);
		if (evbuffer_get_length(plain)) {
			bufferevent_enable(b, EV_WRITE);
			bufferevent_flush(b, EV_WRITE, BEV_NORMAL);
			if (!evbuffer_get_length(plain))
				bufferevent_disable(b, EV_WRITE);
		}
		gate_send_socket(sock);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(b);
	if (!evbuffer_get_length(out) || (bufferevent_get_enabled(b) & EV_WRITE))
		return; /* nothing to say, or libevent is already writing */
	if (write_now(out, bufferevent_getfd(b)) < 0) {
		/* let libevent meet the error and report it through the event cb */
		bufferevent_enable(b, EV_WRITE);
		return;
	}
	if (evbuffer_get_length(out))
		bufferevent_enable(b, EV_WRITE); /* the rest when the socket takes it */
}

void gate_send_socket(struct bufferevent *sock)
{
	struct evbuffer *out = bufferevent_get_output(sock);
	if (evbuffer_get_length(out) && write_now(out, bufferevent_getfd(sock)) < 0) {
		bufferevent_enable(sock, EV_WRITE); /* libevent meets the error */
		return;
	}
	/* EV_WRITE on only while a rest waits: libevent re-arms the write
	 * event on every add while it is on (two epoll_ctl per message) */
	if (evbuffer_get_length(out))
		bufferevent_enable(sock, EV_WRITE);
	else if (bufferevent_get_enabled(sock) & EV_WRITE)
		bufferevent_disable(sock, EV_WRITE);
}

/* The write callback: the output fell to its low watermark. */
static bool write_done(struct bufferevent *b)
{
	if (evbuffer_get_length(bufferevent_get_output(b)))
		return false;
	bufferevent_disable(b, EV_WRITE);
	return true;
}

size_t gate_refill(struct bufferevent *b)
{
	struct evbuffer *in = bufferevent_get_input(b);
	struct bufferevent *sock;
	if (!evbuffer_get_length(in) && (sock = bufferevent_get_underlying(b)) &&
	    evbuffer_get_length(bufferevent_get_input(sock)))
		bufferevent_flush(b, EV_READ, BEV_NORMAL);
	return evbuffer_get_length(in);
}

void gate_read_on(struct bufferevent *b)
{
	bufferevent_enable(b, EV_READ);
	/* a filter decrypts what its socket holds only when asked: bytes read
	 * while it was paused would otherwise wait for the next ones */
	if (bufferevent_get_underlying(b))
		bufferevent_flush(b, EV_READ, BEV_NORMAL);
}

/* An intercepted client's last answer: through the TLS session with a
 * close_notify, then the socket is watched until it has sent it all. */
static void closing_write_cb(struct bufferevent *sock, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(sock)) == 0)
		gconn_free(arg);
}

static void closing_event_cb(struct bufferevent *sock, short what, void *arg)
{
	(void)sock;
	(void)what;
	gconn_free(arg);
}

static void finish_tls(struct gconn *c, const struct timeval *tv)
{
	/* from here the socket's callbacks decide; the filter only encrypts
	 * what is left (its own callbacks would free c under us) */
	bufferevent_setcb(c->c, NULL, NULL, NULL, NULL);
	bufferevent_enable(c->c, EV_WRITE);
	bufferevent_flush(c->c, EV_WRITE, BEV_FLUSH);
	tls_close_notify(c->tls_c);
	struct bufferevent *sock = tls_socket(c->tls_c);
	bufferevent_setcb(sock, NULL, closing_write_cb, closing_event_cb, c);
	bufferevent_setwatermark(sock, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(sock, NULL, tv);
	bufferevent_disable(sock, EV_READ);
	bufferevent_enable(sock, EV_WRITE);
	struct evbuffer *out = bufferevent_get_output(sock);
	if (evbuffer_get_length(out))
		write_now(out, bufferevent_getfd(sock));
	if (evbuffer_get_length(out) == 0)
		gconn_free(c);
}

void gconn_finish(struct gconn *c)
{
	c->phase = PH_CLOSING;
	bufferevent_disable(c->c, EV_READ);
	upstream_release(c);
	/* a client that never reads its last answer does not keep the
	 * connection (and its fd) forever */
	struct timeval tv = {GATE_FINISH_TIMEOUT_S, 0};
	if (c->tls_c) {
		finish_tls(c, &tv);
		return;
	}
	bufferevent_set_timeouts(c->c, NULL, &tv);
	gate_send(c->c);
	if (evbuffer_get_length(bufferevent_get_output(c->c)) == 0)
		gconn_free(c);
	/* else client_write_cb frees once the answer is out */
}

void gate_pump(struct gconn *c, struct bufferevent *from, struct bufferevent *to, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(from);
	struct evbuffer *out = bufferevent_get_output(to);
	if (n == SIZE_MAX)
		n = evbuffer_get_length(in);
	if (n)
		evbuffer_remove_buffer(in, out, n);
	gate_count_bytes(c, from == c->c, n);
	gate_send(to);
	if (evbuffer_get_length(out) >= GATE_HIGH_WATER) {
		/* the other side is slow: stop reading until it drains */
		bufferevent_disable(from, EV_READ);
		bufferevent_setwatermark(to, EV_WRITE, GATE_LOW_WATER, 0);
	}
}

static void detect(struct gconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->c);
	uint8_t b;
	if (evbuffer_copyout(in, &b, 1) != 1)
		return;
	c->lat_ns = pc_now_ns(); /* its request has begun to arrive */
	if (c->capture) {
		capture_readable(c);
		return;
	}
	switch (pc_proto_detect(b)) {
	case PC_PROTO_SOCKS5:
		c->proto = GP_SOCKS5;
		c->phase = PH_SOCKS_GREET;
		socks_readable(c);
		return;
	case PC_PROTO_HTTP:
		c->proto = GP_HTTP;
		http_start(c);
		return;
	case PC_PROTO_SOCKS4:
	case PC_PROTO_TLS:
	case PC_PROTO_UNKNOWN:
	default:
		/* nothing we speak: say so in the log, not on the wire */
		gate_record(c, AUDIT_DENY, "bad-request", NULL,
			    b == 4	? "egress denied: SOCKS4 is not supported (use SOCKS5)"
			    : b == 0x16 ? "egress denied: TLS sent to the proxy port (use CONNECT)"
					: "egress denied: not HTTP or SOCKS5 on the proxy port");
		gconn_free(c);
		return;
	}
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct gconn *c = arg;
	switch (c->phase) {
	case PH_DETECT:
		detect(c);
		return;
	case PH_SOCKS_GREET:
	case PH_SOCKS_REQ:
		socks_readable(c);
		return;
	case PH_SNI:
		capture_readable(c);
		return;
	case PH_HEAD:
	case PH_BODY_WAIT:
	case PH_HTTP:
	case PH_APPROVAL:
		http_client_readable(c);
		return;
	case PH_TUNNEL:
		tunnel_readable(c, true);
		return;
	case PH_WAIT:
	case PH_CLOSING:
	case PH_HELD: /* what comes waits for the decision */
	default:
		return;
	}
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct gconn *c = arg;
	bool empty = write_done(bev);
	if (c->phase == PH_CLOSING) {
		if (empty)
			gconn_free(c);
		return;
	}
	tunnel_drained(c, true);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct gconn *c = arg;
	if ((what & BEV_EVENT_EOF) && c->phase == PH_TUNNEL) {
		tunnel_eof(c, true);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) &&
	    (c->phase == PH_HTTP || c->phase == PH_WAIT || c->phase == PH_HELD)) {
		/* a client waiting for a long answer (or a decision) is not idle */
		gate_read_on(bev);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    (c->phase == PH_WAIT || (c->phase == PH_HTTP && c->req_done))) {
		/* a half-close after a whole request: it still gets its answer
		 * (then the connection ends), a tunnel its half-close */
		c->eof_c = true;
		c->keep_alive = false;
		return;
	}
	/* EOF, error or an idle timeout: nothing more will come */
	gconn_free(c);
}

/* ---- listeners ---------------------------------------------------------- */

/* Too many connections, or no fd left: one agent must not starve pincer.
 * The listeners pause (the kernel's backlog holds new ones) and resume. */
static void pause_accepting(struct gate *g, const char *why)
{
	for (size_t i = 0; i < g->n_listeners; i++)
		evconnlistener_disable(g->listeners[i]);
	struct timeval tv = {0, GATE_ACCEPT_PAUSE_MS * 1000};
	evtimer_add(g->accept_pause, &tv);
	if (!g->warned_full) {
		g->warned_full = true;
		pc_warn("gate: %s: not accepting for a while", why);
		struct pc_error err = {0};
		if (audit_write(g->log, AUDIT_LIMIT, g->agent, g->run, AUDIT_DENY, why, NULL, 0,
				&err) < 0)
			pc_warn("audit: %s", err.msg);
	}
}

static void resume_accepting(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct gate *g = arg;
	for (size_t i = 0; i < g->n_listeners; i++)
		evconnlistener_enable(g->listeners[i]);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	char why[160];
	snprintf(why, sizeof(why), "gate cannot accept connections: %s",
		 strerror(EVUTIL_SOCKET_ERROR()));
	pause_accepting(arg, why);
}

static bool room_for_one(struct gate *g, evutil_socket_t fd)
{
	if (g->n_conns < GATE_MAX_CONNS)
		return true;
	close(fd);
	char why[120];
	snprintf(why, sizeof(why),
		 "the agent has %d connections open through the gate, the most "
		 "allowed",
		 GATE_MAX_CONNS);
	pause_accepting(g, why);
	return false;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	(void)l;
	(void)sa;
	(void)len;
	if (room_for_one(arg, fd))
		gconn_new(arg, fd, false); /* on failure the fd is closed: a reset */
}

static void accept_capture_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int len, void *arg)
{
	(void)l;
	(void)sa;
	(void)len;
	struct gate *g = arg;
	if (!room_for_one(g, fd))
		return;
	struct gconn *c = gconn_new(g, fd, true);
	if (!c)
		return;
	socklen_t sl = sizeof(c->dst);
	if (getsockname(fd, (struct sockaddr *)&c->dst, &sl) < 0) {
		gconn_free(c);
		return;
	}
	capture_start(c);
}

static void dns_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct gate *g = arg;
	for (int i = 0; i < 64; i++) {
		uint8_t q[1500], out[512];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			return;
		size_t olen = 0;
		char qname[256];
		uint16_t qtype = 0;
		if (pc_dns_answer(g->map, q, (size_t)n, out, sizeof(out), &olen, qname, &qtype) < 0)
			continue;
		if ((out[3] & 0x0f) == PC_DNS_SERVFAIL && !g->dns_full_recorded) {
			/* the run's names are used up: new ones fail, and that is said */
			g->dns_full_recorded = true;
			char why[400];
			snprintf(why, sizeof(why),
				 "DNS responder: %zu names given out, the most for one run; new "
				 "names get SERVFAIL (first refused: %s)",
				 pc_dns_map_count(g->map), qname);
			pc_warn("gate: %s", why);
			struct pc_error err = {0};
			if (audit_write(g->log, AUDIT_LIMIT, g->agent, g->run, AUDIT_DENY, why,
					NULL, 0, &err) < 0)
				pc_warn("audit: %s", err.msg);
		}
		(void)sendto(fd, out, olen, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
	}
}

int gate_add_listener(struct gate *g, enum gate_listener_kind kind, int fd, uint16_t port,
		      struct pc_error *err)
{
	(void)port;
	evutil_make_socket_nonblocking(fd);
	if (kind == GATE_LISTEN_DNS) {
		struct event *ev = event_new(g->base, fd, EV_READ | EV_PERSIST, dns_cb, g);
		if (!ev || event_add(ev, NULL) < 0) {
			close(fd);
			return pc_error(err, ENOMEM, "gate: cannot watch the DNS socket");
		}
		g->udp = pc_xrealloc(g->udp, (g->n_udp + 1) * sizeof(*g->udp));
		g->udp[g->n_udp++] = ev;
		return 0;
	}
	/* backlog 0: the sandbox made it listening already */
	struct evconnlistener *l = evconnlistener_new(
		g->base, kind == GATE_LISTEN_CAPTURE ? accept_capture_cb : accept_cb, g,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!l) {
		close(fd);
		return pc_error(err, ENOMEM, "gate: cannot serve the listener for port %u", port);
	}
	evconnlistener_set_error_cb(l, accept_error_cb);
	g->listeners = pc_xrealloc(g->listeners, (g->n_listeners + 1) * sizeof(*g->listeners));
	g->listeners[g->n_listeners++] = l;
	return 0;
}

/* ---- the gate ----------------------------------------------------------- */

int gate_new(const struct gate_config *cfg, struct gate **out, struct pc_error *err)
{
	struct gate *g = pc_xcalloc(1, sizeof(*g));
	g->base = cfg->base;
	g->policy = cfg->policy;
	g->log = cfg->log;
	g->agent = cfg->agent;
	g->run = cfg->run;
	g->tls_ops = cfg->tls ? cfg->tls_ops : NULL;
	g->tls = cfg->tls;
	g->creds = cfg->creds;
	g->stats = cfg->stats ? cfg->stats : (g->own_stats = pc_xcalloc(1, sizeof(*g->stats)));
	/* the host's resolv.conf and hosts file; a machine without either
	 * still starts (names then fail to resolve, and that is recorded) */
	g->dns = evdns_base_new(g->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
						 EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!g->dns)
		g->dns = evdns_base_new(g->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	g->map = pc_dns_map_new(65536);
	g->sync_timer = evtimer_new(g->base, sync_cb, g);
	g->accept_pause = evtimer_new(g->base, resume_accepting, g);
	if (!g->dns || !g->map || !g->sync_timer || !g->accept_pause) {
		gate_free(g);
		return pc_error(err, ENOMEM, "gate: cannot set up its resolver");
	}
	audit_defer_sync(g->log, sync_soon, g);
	*out = g;
	return 0;
}

void gate_set_agent(struct gate *g, const char *agent)
{
	g->agent = agent;
}

void gate_set_stats(struct gate *g, struct gate_stats *stats)
{
	if (!g->own_stats && !stats)
		g->own_stats = pc_xcalloc(1, sizeof(*g->stats));
	if (!stats)
		stats = g->own_stats;
	struct gate_stats *was = g->stats;
	if (was == stats)
		return;
	/* what the agent did meanwhile moves along; the rows keep their
	 * numbers (the gate's index names them), their names before n_hosts */
	stats->allowed = was->allowed;
	stats->denied = was->denied;
	stats->bytes_up = was->bytes_up;
	stats->bytes_down = was->bytes_down;
	memcpy(stats->latency, was->latency, sizeof(stats->latency));
	stats->latency_sum_ns = was->latency_sum_ns;
	stats->other = was->other;
	memcpy(stats->hosts, was->hosts, was->n_hosts * sizeof(stats->hosts[0]));
	__atomic_store_n(&stats->n_hosts, was->n_hosts, __ATOMIC_RELEASE);
	g->stats = stats;
}

void gate_set_policy(struct gate *g, const struct policy *p)
{
	g->policy = p;
	approvals_set_policy(g, p); /* those whose rule went are rejected */
	/* what the new rules no longer allow is cut now, open tunnels and
	 * kept-alive upstreams included (revocation must not wait for the
	 * agent to hang up); intercepted ones keep being decided request by
	 * request, so only their host is asked about here */
	for (struct gconn *c = g->conns, *next; c; c = next) {
		next = c->next;
		if (!c->u || !c->opened || !c->up_host[0])
			continue;
		struct pc_egress_decision d;
		policy_egress_decide(p, c->up_host, c->up_port, NULL, NULL, &d);
		if (d.verdict != PC_EGRESS_DENY || (d.l7_unseen && c->intercept))
			continue;
		char reason[1100];
		snprintf(reason, sizeof(reason),
			 "egress denied: open connection to %s:%u closed: the reloaded policy no "
			 "longer allows it (%.400s)",
			 c->up_host, c->up_port, d.reason);
		if (c->phase == PH_HEAD) {
			/* between requests: the upstream goes, the agent's
			 * connection stays and its next request is decided anew */
			upstream_release(c);
			continue;
		}
		snprintf(c->host, sizeof(c->host), "%s", c->up_host);
		c->port = c->up_port;
		gate_record(c, AUDIT_DENY, "revoked", d.rule_at, reason);
		gconn_free(c);
	}
}

void gate_shutdown(struct gate *g)
{
	while (g->conns)
		gconn_free(g->conns);
	for (size_t i = 0; i < g->n_listeners; i++)
		evconnlistener_free(g->listeners[i]);
	g->n_listeners = 0;
	for (size_t i = 0; i < g->n_udp; i++) {
		evutil_socket_t fd = event_get_fd(g->udp[i]);
		event_free(g->udp[i]);
		close(fd);
	}
	g->n_udp = 0;
}

void gate_summary(const struct gate *g, struct pc_buf *out)
{
	if (!g->denied)
		return;
	pc_buf_printf(out, "the gate denied %lu connection%s or request%s: ", g->denied,
		      g->denied == 1 ? "" : "s", g->denied == 1 ? "" : "s");
	for (size_t i = 0; i < g->n_denials; i++) {
		const struct gate_denial *d = &g->denials[i];
		pc_buf_printf(out, "%s%s", i ? ", " : "", d->key);
		if (d->count > 1)
			pc_buf_printf(out, " x%u", d->count);
		pc_buf_printf(out, " (%s)", d->why);
	}
	if (g->denied_other)
		pc_buf_printf(out, ", and %lu more", g->denied_other);
}

void gate_free(struct gate *g)
{
	gate_shutdown(g);
	free(g->listeners);
	free(g->udp);
	if (g->sync_timer)
		event_free(g->sync_timer);
	if (g->accept_pause)
		event_free(g->accept_pause);
	if (g->dns)
		evdns_base_free(g->dns, 1); /* pending lookups call back and free their tickets */
	if (g->map)
		pc_dns_map_free(g->map);
	for (size_t i = 0; i < g->stats_n_hosts; i++)
		free(g->stats_names[i]);
	free(g->own_stats);
	approvals_free(g);
	if (g->log) {
		struct pc_error err = {0};
		if (audit_sync(g->log, &err) < 0)
			pc_warn("audit: %s", err.msg);
		audit_defer_sync(g->log, NULL, NULL);
	}
	free(g);
}
