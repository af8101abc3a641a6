/* TLS interception: for hosts a credential names or whose rules name
 * methods or paths, the agent's TLS ends here (a leaf for the host, signed
 * by the run's CA) and the gate opens its own, verified TLS to the
 * upstream. In between, the requests are plain HTTP again and go through
 * gate_http.c like any other: decided one by one, credentials injected,
 * exfiltration looked for, answers redacted.
 *
 * Each side is a libevent filter bufferevent over the socket's: the filter
 * feeds ciphertext to a pincer-tls.so session (memory only) and hands the
 * plaintext on, so the HTTP code sees an ordinary bufferevent. libevent's
 * filters ignore a filter's error and never call back on their own, so a
 * failure or a finished handshake is reported on the loop's next turn by
 * an event of our own.
 */
#include "gate/internal.h"
#include "tls/tls.h"

#include <string.h>

#define TLS_CHUNK 16384

struct tls_side {
	struct gconn *c; /* NULL once the connection has let go of it */
	const struct pc_tls_ops *ops;
	struct pc_tls_conn *s;
	struct bufferevent *under; /* the socket's bufferevent */
	struct event *ev;	   /* a finished handshake or a failure, told */
	bool upstream;
	bool ready_told, failed;
};

static void tell(struct tls_side *t)
{
	if (t->c && t->ev)
		event_active(t->ev, EV_TIMEOUT, 0);
}

/* The session's bytes for the peer go to the socket's output. */
static void move_out(struct tls_side *t, struct evbuffer *dst)
{
	for (;;) {
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(dst, TLS_CHUNK + 1024, &v, 1) < 1)
			return;
		size_t n = t->ops->conn_take(t->s, v.iov_base, v.iov_len);
		v.iov_len = n;
		evbuffer_commit_space(dst, &v, n ? 1 : 0);
		if (!n)
			return;
	}
}

static void fail(struct tls_side *t)
{
	if (!t->failed) {
		t->failed = true;
		move_out(t, bufferevent_get_output(t->under)); /* the alert, if any */
		gate_send_socket(t->under);
		tell(t);
	}
}

static enum bufferevent_filter_result tls_in(struct evbuffer *src, struct evbuffer *dst,
					     ev_ssize_t limit, enum bufferevent_flush_mode mode,
					     void *ctx)
{
	(void)limit; /* everything fed is decrypted: nothing may wait inside the
		      * session, where no callback would ever find it */
	(void)mode;
	struct tls_side *t = ctx;
	if (t->failed)
		return BEV_ERROR;
	bool got = false;
	for (;;) {
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(dst, TLS_CHUNK, &v, 1) < 1) {
			fail(t);
			return BEV_ERROR;
		}
		long r = t->ops->conn_read(t->s, v.iov_base, v.iov_len);
		if (r > 0) {
			v.iov_len = (size_t)r;
			evbuffer_commit_space(dst, &v, 1);
			got = true;
			continue;
		}
		evbuffer_commit_space(dst, &v, 0);
		if (r == PC_TLS_ERROR) {
			fail(t);
			return BEV_ERROR;
		}
		if (r == PC_TLS_CLOSED)
			break; /* the TCP close follows; it ends the connection */
		/* more input needed: feed what the socket brought. Bounded by
		 * the length, not by peek's count: peek counts empty chains too,
		 * and a buffer of nothing but empty chains spun here for ever */
		size_t have = evbuffer_get_length(src);
		if (!have)
			break;
		struct evbuffer_iovec in[4];
		int k = evbuffer_peek(src, (ev_ssize_t)(have < 4 * TLS_CHUNK ? have : 4 * TLS_CHUNK),
				      NULL, in, 4);
		size_t fed = 0;
		for (int i = 0; i < k && i < 4; i++) {
			t->ops->conn_feed(t->s, in[i].iov_base, in[i].iov_len);
			fed += in[i].iov_len;
		}
		if (!fed)
			break;
		evbuffer_drain(src, fed);
	}
	move_out(t, bufferevent_get_output(t->under));
	gate_send_socket(t->under); /* handshake messages, tickets */
	if (!t->ready_told && t->ops->conn_ready(t->s)) {
		t->ready_told = true;
		tell(t);
	}
	return got ? BEV_OK : BEV_NEED_MORE;
}

static enum bufferevent_filter_result tls_out(struct evbuffer *src, struct evbuffer *dst,
					      ev_ssize_t limit, enum bufferevent_flush_mode mode,
					      void *ctx)
{
	(void)mode;
	struct tls_side *t = ctx;
	if (t->failed)
		return BEV_ERROR;
	if (!t->ops->conn_ready(t->s))
		return BEV_NEED_MORE; /* kept until the handshake is done */
	size_t moved = 0;
	while (evbuffer_get_length(src) && (limit < 0 || moved < (size_t)limit)) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(src, TLS_CHUNK, NULL, &v, 1) < 1)
			break;
		size_t n = v.iov_len < TLS_CHUNK ? v.iov_len : TLS_CHUNK;
		long w = t->ops->conn_write(t->s, v.iov_base, n);
		if (w < 0) {
			fail(t);
			return BEV_ERROR;
		}
		if (w == 0)
			break;
		evbuffer_drain(src, (size_t)w);
		size_t before = evbuffer_get_length(dst);
		move_out(t, dst);
		moved += evbuffer_get_length(dst) - before;
	}
	return moved ? BEV_OK : BEV_NEED_MORE;
}

static void side_free(void *ctx)
{
	struct tls_side *t = ctx;
	if (t->ev)
		event_free(t->ev);
	t->ops->conn_free(t->s);
	free(t);
}

static void told(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct tls_side *t = arg;
	struct gconn *c = t->c;
	if (!c)
		return;
	if (t->upstream) {
		if (c->on_open) { /* still being opened */
			upstream_tls_done(c, t->failed ? t->ops->conn_error(t->s) : NULL);
			return;
		}
		if (t->failed && c->tls_u == t) {
			/* broken in mid-exchange: as if it had closed */
			char why[400];
			snprintf(why, sizeof(why), "upstream %s: TLS failed: %s", c->addr,
				 t->ops->conn_error(t->s));
			gate_record(c, AUDIT_NONE, "upstream", NULL, why);
			if (c->phase == PH_HTTP || c->phase == PH_HEAD)
				http_upstream_eof(c);
			else
				gconn_free(c);
		}
		return;
	}
	if (t->failed) {
		char why[400];
		snprintf(why, sizeof(why),
			 "the agent's TLS with the gate failed: %s (does it trust the run's CA? "
			 "pincer sets SSL_CERT_FILE and the like)",
			 t->ops->conn_error(t->s));
		gate_record(c, AUDIT_NONE, "agent-tls", NULL, why);
		gconn_free(c);
	}
}

/* Wrap *bev (a socket bufferevent) in a TLS filter running session s. */
static struct tls_side *wrap(struct gconn *c, struct bufferevent **bev, struct pc_tls_conn *s,
			     bool upstream)
{
	struct tls_side *t = pc_xcalloc(1, sizeof(*t));
	t->c = c;
	t->ops = c->g->tls_ops;
	t->s = s;
	t->upstream = upstream;
	t->under = *bev;
	t->ev = event_new(c->g->base, -1, 0, told, t);
	/* Deferred callbacks: a flush (gate_read_on, gate_send) must never
	 * run the gate's callbacks from inside the code that asked for it
	 * (they may end the exchange and free the connection under it). */
	struct bufferevent *f = bufferevent_filter_new(
		*bev, tls_in, tls_out, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, side_free, t);
	if (!f || !t->ev) {
		if (t->ev)
			event_free(t->ev);
		t->ops->conn_free(s);
		free(t);
		return NULL;
	}
	/* back-pressure: ciphertext waits in the filter's output (where
	 * gate_pump sees it) once the socket's output holds this much */
	bufferevent_setwatermark(*bev, EV_WRITE, 0, GATE_HIGH_WATER);
	/* plaintext waiting for the gate is capped like a socket's input:
	 * past it the filter stops decrypting, the socket's input fills and
	 * the socket stops being read (gate_refill resumes it) */
	bufferevent_setwatermark(f, EV_READ, 0, GATE_READ_MAX);
	bufferevent_set_timeouts(*bev, NULL, NULL);
	bufferevent_disable(*bev, EV_WRITE); /* gate_send_socket writes */
	*bev = f;
	return t;
}

bool gate_intercepts(const struct gconn *c)
{
	const struct gate *g = c->g;
	if (!g->tls)
		return false;
	for (size_t i = 0; g->creds && i < g->creds->n; i++)
		if (cred_for_host(&g->creds->c[i], c->host))
			return true;
	return policy_egress_needs_l7(g->policy, c->host, c->port);
}

bool intercept_start(struct gconn *c)
{
	struct pc_error err = {0};
	struct pc_tls_conn *s = c->g->tls_ops->server_new(c->g->tls, c->host, &err);
	struct tls_side *t = s ? wrap(c, &c->c, s, false) : NULL;
	if (!t) {
		char why[400];
		snprintf(why, sizeof(why), "TLS interception could not start: %.300s",
			 s ? "out of memory" : err.msg);
		gate_record(c, AUDIT_NONE, "agent-tls", NULL, why);
		gconn_free(c);
		return false;
	}
	c->tls_c = t;
	c->intercept = true;
	c->proto = GP_HTTPS;
	gate_client_callbacks(c);
	struct timeval tv = {GATE_HEAD_TIMEOUT_S, 0};
	bufferevent_set_timeouts(c->c, &tv, NULL);
	c->phase = PH_HEAD;
	/* what the agent sent already (its ClientHello, on a capture) */
	bufferevent_enable(c->c, EV_READ);
	bufferevent_flush(c->c, EV_READ, BEV_NORMAL);
	if (evbuffer_get_length(bufferevent_get_input(c->c)))
		http_client_readable(c);
	return true;
}

bool intercept_upstream(struct gconn *c)
{
	struct pc_error err = {0};
	struct pc_tls_conn *s = c->g->tls_ops->client_new(c->g->tls, c->host, &err);
	struct tls_side *t = s ? wrap(c, &c->u, s, true) : NULL;
	if (!t)
		return false;
	c->tls_u = t;
	upstream_callbacks(c);
	bufferevent_enable(c->u, EV_READ);
	/* the ClientHello */
	char none[1];
	if (t->ops->conn_read(s, none, 0) == PC_TLS_ERROR) {
		fail(t);
		return true;
	}
	move_out(t, bufferevent_get_output(t->under));
	gate_send_socket(t->under);
	return true;
}

void tls_let_go(struct tls_side *t)
{
	if (!t)
		return;
	t->c = NULL;
	if (t->ev)
		event_del(t->ev);
}

void tls_close_notify(struct tls_side *t)
{
	if (!t || t->failed || !t->ops->conn_ready(t->s))
		return;
	t->ops->conn_close(t->s);
	move_out(t, bufferevent_get_output(t->under));
}

struct bufferevent *tls_socket(const struct tls_side *t)
{
	return t->under;
}
