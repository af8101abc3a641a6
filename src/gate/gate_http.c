/* Plain HTTP through the gate: absolute-form requests on the proxy port and
 * origin-form requests on a captured port 80, one request at a time.
 *
 * Each request is decided on its own (method and path are known here), its
 * head is rewritten (request line in origin-form, a Host from the target,
 * hop-by-hop headers dropped) and its body streamed as framed; the answer's
 * head is rewritten the same way and its body streamed back. Pipelined
 * requests wait in the client's buffer until the previous answer is done.
 * CONNECT starts here too and becomes a tunnel (gate_tunnel.c).
 */
#include "gate/internal.h"

#include <arpa/inet.h>
#include <string.h>

static const char *status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

void http_free_state(struct gconn *c)
{
	free(c->req);
	c->req = NULL;
	free(c->resp);
	c->resp = NULL;
	if (c->head_out.data)
		explicit_bzero(c->head_out.data, c->head_out.cap);
	pc_buf_free(&c->head_out);
}

void http_reply_error(struct gconn *c, int status, const char *denied)
{
	if (c->ap && c->ap->go)
		approval_answered(c, status, denied);
	gate_stats_latency(c); /* answered by the gate itself */
	struct evbuffer *out = bufferevent_get_output(c->c);
	/* a header value is one line of visible text */
	char clean[400];
	size_t n = 0;
	for (const char *s = denied ? denied : status_text(status); *s && n < sizeof(clean) - 1;
	     s++)
		clean[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : ' ';
	clean[n] = '\0';
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\n"
			    "Content-Type: text/plain; charset=utf-8\r\n"
			    "X-Pincer-Denied: %s\r\n"
			    "Content-Length: %zu\r\n"
			    "Connection: close\r\n\r\n"
			    "pincer: %s\n",
			    status, status_text(status), clean, n + 9, clean);
	gconn_finish(c);
}

/* ---- the request -------------------------------------------------------- */

static void forward_request_body(struct gconn *c);
static void response_done(struct gconn *c);
static void dispatch(struct gconn *c);
static void body_wait(struct gconn *c);
static void body_wait_over(evutil_socket_t fd, short what, void *arg);

static void send_request(struct gconn *c)
{
	c->phase = PH_HTTP;
	evbuffer_add(bufferevent_get_output(c->u), c->head_out.data, c->head_out.len);
	gate_count_bytes(c, true, c->head_out.len);
	if (c->ap && c->ap->go)
		approval_sent(c);
	if (c->injected[0])
		explicit_bzero(c->head_out.data, c->head_out.cap); /* it held a secret */
	pc_buf_free(&c->head_out);
	c->resp_done = c->resp_started = false;
	if (!c->eof_c)
		gate_read_on(c->c);
	gate_read_on(c->u);
	gate_send(c->u);
	gate_stats_latency(c); /* its first byte went upstream */
	forward_request_body(c);
}

static void http_opened(struct gconn *c, int status)
{
	if (status) {
		http_reply_error(c, status, gate_refusal(c, status));
		return;
	}
	send_request(c);
}

static void connect_opened(struct gconn *c, int status)
{
	if (status) {
		http_reply_error(c, status, gate_refusal(c, status));
		return;
	}
	evbuffer_add_printf(bufferevent_get_output(c->c),
			    "HTTP/1.1 200 Connection established\r\n\r\n");
	tunnel_start(c);
}

static char *span_dup(const char *buf, struct pc_http_span s)
{
	return pc_xstrndup(buf + s.off, s.len);
}

/* The head the upstream gets: origin-form target, our Host, the client's
 * end-to-end headers; for an intercepted host a credential names, the
 * credentials put in. false: refused (recorded and answered). */
static bool rewrite_request(struct gconn *c, const char *buf)
{
	const struct pc_http_request *r = c->req;
	struct pc_buf *b = &c->head_out;
	bool inj = inject_applies(c);
	/* every answer in a run with secrets is searched for them (an
	 * upstream may hand back what it once got, on any port): it must come
	 * whole and as sent, so the agent's Accept-Encoding gives way to
	 * identity and its Range goes (halves of a secret match nothing) */
	c->want_identity = c->g->creds != NULL;
	if (inj)
		gate_creds_refresh(c->g->creds, c->g); /* a rotation applies from now */
	pc_buf_reset(b);
	pc_buf_printf(b, "%s ", c->method);
	_cleanup_free_ char *slashed = c->path[0] == '/' ? NULL : pc_xasprintf("/%s", c->path);
	const char *target = slashed ? slashed : c->path;
	if (inj)
		inject_target(c, b, target);
	else
		pc_buf_puts(b, target);
	pc_buf_printf(b, " HTTP/1.%u\r\n", r->h.version_minor);
	bool v6 = strchr(c->host, ':') != NULL;
	pc_buf_printf(b, "Host: %s%s%s", v6 ? "[" : "", c->host, v6 ? "]" : "");
	if (c->port != (c->intercept ? 443 : 80))
		pc_buf_printf(b, ":%u", c->port);
	pc_buf_puts(b, "\r\n");
	for (unsigned i = 0; i < r->h.nheaders; i++) {
		const struct pc_http_header *h = &r->h.headers[i];
		if (h->hop || (int)i == r->h.host_header || approval_header(buf, h))
			continue; /* (an approval's id is the gate's, not the upstream's) */
		if (c->want_identity && (pc_http_span_eq(buf, h->name, "accept-encoding") ||
					 pc_http_span_eq(buf, h->name, "range") ||
					 pc_http_span_eq(buf, h->name, "if-range")))
			continue;
		if (inj) {
			if (!inject_header(c, b, buf + h->name.off, h->name.len,
					   buf + h->value.off, h->value.len))
				return false; /* refused, answered */
			continue;
		}
		pc_buf_append(b, buf + h->name.off, h->name.len);
		pc_buf_puts(b, ": ");
		pc_buf_append(b, buf + h->value.off, h->value.len);
		pc_buf_puts(b, "\r\n");
	}
	if (inj && !inject_headers(c, b))
		return false;
	if (c->want_identity)
		pc_buf_puts(b, "Accept-Encoding: identity\r\n");
	if (!r->h.keep_alive)
		pc_buf_puts(b, "Connection: close\r\n");
	else if (r->h.version_minor == 0)
		pc_buf_puts(b, "Connection: keep-alive\r\n");
	pc_buf_puts(b, "\r\n");
	return true;
}

/* A request inside an intercepted TLS connection: for its host only. */
static bool intercepted_target(struct gconn *c, const struct pc_http_request *r)
{
	const char *bad = NULL;
	if (r->is_connect || r->form != PC_HTTP_FORM_ORIGIN)
		bad = "requests inside an intercepted TLS connection are origin-form "
		      "(GET /path)";
	else if (r->host[0] && strcasecmp(r->host, c->host) != 0)
		bad = "Host does not match the name the TLS connection was made for";
	if (!bad)
		return true;
	char reason[700];
	snprintf(reason, sizeof(reason), "egress denied: %s (Host %s, connection to %s)", bad,
		 r->host[0] ? r->host : "-", c->host);
	gate_record(c, AUDIT_DENY, "bad-request", NULL, reason);
	http_reply_error(c, 400, bad);
	return false;
}

/* Where a captured request goes: the name its address was resolved for,
 * else the Host it names, else the address itself. */
static bool capture_target(struct gconn *c, const struct pc_http_request *r)
{
	if (c->dst_name) {
		if (r->host[0] && strcmp(r->host, c->dst_name) != 0) {
			char reason[700];
			snprintf(reason, sizeof(reason),
				 "egress denied: request for Host %s on a connection to the "
				 "address given out for %s",
				 r->host, c->dst_name);
			gate_record(c, AUDIT_DENY, "bad-request", NULL, reason);
			http_reply_error(c, 400, "Host does not match the connection's name");
			return false;
		}
		return true; /* c->host is the name already */
	}
	if (r->host[0])
		snprintf(c->host, sizeof(c->host), "%s", r->host);
	return true;
}

static void on_request(struct gconn *c, const char *buf)
{
	struct pc_http_request *r = c->req;
	free(c->method);
	free(c->path);
	c->method = span_dup(buf, r->method);
	c->path = r->is_connect ? NULL : span_dup(buf, r->path);
	if (c->path && c->path[0] != '/') {
		char *p = pc_xasprintf("/%s", c->path);
		free(c->path);
		c->path = p;
	}
	c->injected[0] = c->injected_owner[0] = '\0';
	c->redacted = false;
	if (c->intercept) {
		if (!intercepted_target(c, r))
			return;
	} else if (c->capture) {
		c->proto = GP_CAPTURE_HTTP;
		if (r->is_connect || r->form == PC_HTTP_FORM_AUTHORITY) {
			gate_record(c, AUDIT_DENY, "bad-request", NULL,
				    "egress denied: CONNECT on a captured connection");
			http_reply_error(c, 400, "CONNECT is for the proxy port");
			return;
		}
		if (!capture_target(c, r))
			return;
	} else {
		c->proto = r->is_connect ? GP_CONNECT : GP_HTTP;
		if (r->form == PC_HTTP_FORM_ORIGIN) {
			snprintf(c->host, sizeof(c->host), "%s", r->host);
			c->port = r->port;
			gate_record(c, AUDIT_DENY, "bad-request", NULL,
				    "egress denied: origin-form request on the proxy port (send "
				    "http://host/path, or CONNECT host:port)");
			http_reply_error(c, 400,
					 "this is a proxy: request http://host/path or CONNECT");
			return;
		}
		snprintf(c->host, sizeof(c->host), "%s", r->host);
		c->port = r->port;
		if (!gate_unsynthesize(c->g, c->host, sizeof(c->host))) {
			gate_record(c, AUDIT_DENY, "bad-request", NULL,
				    "egress denied: a synthetic address no name was given for");
			http_reply_error(c, 400, "unknown synthetic address");
			return;
		}
	}
	if (r->is_connect) {
		free(c->method);
		c->method = NULL;
		c->intercept = gate_intercepts(c);
	}
	if (!gate_decide(c)) {
		char why[300];
		snprintf(why, sizeof(why), "%s:%u is not allowed by the policy", c->host, c->port);
		http_reply_error(c, 403, why);
		return;
	}
	uint32_t head_len = r->h.head_len;
	if (r->is_connect) {
		evbuffer_drain(bufferevent_get_input(c->c), head_len);
		http_free_state(c);
		if (c->intercept) {
			/* the agent's TLS ends here; each request inside is
			 * decided, and recorded, on its own */
			evbuffer_add_printf(bufferevent_get_output(c->c),
					    "HTTP/1.1 200 Connection established\r\n\r\n");
			gate_send(c->c);
			gate_stats_latency(c);
			intercept_start(c);
			return;
		}
		upstream_open(c, connect_opened);
		return;
	}
	if (c->g->creds) {
		const char *eol = memchr(buf, '\n', head_len);
		if (!inject_check_head(c, buf, eol ? (size_t)(eol - buf) : head_len, head_len))
			return;
	}
	if (!approval_check(c, buf))
		return; /* held, waiting for its body, or refused */
	if (!rewrite_request(c, buf))
		return;
	c->req_body = (struct body_state){.kind = r->h.body, .remaining = r->h.content_length};
	if (r->h.body == PC_HTTP_BODY_CHUNKED)
		pc_chunked_init(&c->req_body.ck, 0, 0);
	c->req_done = r->h.body == PC_HTTP_BODY_NONE ||
		      (r->h.body == PC_HTTP_BODY_LENGTH && r->h.content_length == 0);
	c->keep_alive = r->h.keep_alive;
	c->req_head_method = r->is_head;
	c->version_minor = r->h.version_minor;
	evbuffer_drain(bufferevent_get_input(c->c), head_len);
	/* (a client waiting for 100 Continue sends no body until it hears
	 * from the upstream: its body streams, searched as it goes) */
	bool small = !r->h.expect_continue &&
		     (r->h.body == PC_HTTP_BODY_CHUNKED ||
		      (r->h.body == PC_HTTP_BODY_LENGTH && r->h.content_length &&
		       r->h.content_length <= GATE_SCAN_WHOLE));
	free(c->req);
	c->req = NULL;
	if (c->g->creds && small) {
		/* a body this small is searched whole before anything of the
		 * request leaves: an exfiltration attempt reaches nobody. A
		 * chunked one that has not ended within a moment (a stream)
		 * goes on searched as it flows. */
		c->phase = PH_BODY_WAIT;
		if (c->req_body.kind == PC_HTTP_BODY_CHUNKED && !c->timer &&
		    (c->timer = evtimer_new(c->g->base, body_wait_over, c))) {
			struct timeval tv = {0, GATE_SCAN_WAIT_MS * 1000};
			evtimer_add(c->timer, &tv);
		}
		body_wait(c);
		return;
	}
	dispatch(c);
}

/* The request, decided and rewritten, goes to its upstream: the open one
 * when it may serve it, else a new one. */
static void dispatch(struct gconn *c)
{
	if (c->u && c->up_reusable && c->up_port == c->port && c->up_policy == c->g->policy &&
	    strcmp(c->up_host, c->host) == 0) {
		/* the open upstream serves this one too: same destination, the
		 * address already checked */
		if (!upstream_reuse_allowed(c)) {
			free(c->decision);
			c->decision = NULL;
			http_reply_error(c, 403, c->refusal);
			return;
		}
		if (!upstream_record_decision(c)) {
			http_reply_error(c, 503, GATE_AUDIT_DOWN);
			return;
		}
		send_request(c);
		return;
	}
	upstream_open(c, http_opened);
}

/* A chunked body at the front of in, decoded into out without consuming
 * in: 1 whole, 0 not yet, -1 broken or longer than GATE_SCAN_WHOLE. */
static int chunked_peek(const struct body_state *b, struct evbuffer *in, struct evbuffer *out)
{
	size_t len = evbuffer_get_length(in), off = 0;
	const char *data = (const char *)evbuffer_pullup(in, (ssize_t)len);
	struct pc_chunked ck = b->ck; /* a copy: the real walk comes later */
	while (off < len) {
		size_t used = 0, dlen = 0;
		const char *d = NULL;
		enum pc_chunked_result cr = pc_chunked_feed(&ck, data + off, len - off, &used, &d, &dlen);
		off += used;
		if (cr == PC_CHUNKED_ERROR)
			return -1;
		if (cr == PC_CHUNKED_DATA && dlen)
			evbuffer_add(out, d, dlen);
		if (evbuffer_get_length(out) > GATE_SCAN_WHOLE)
			return -1;
		if (cr == PC_CHUNKED_DONE)
			return 1;
		if (cr == PC_CHUNKED_MORE)
			break;
	}
	return 0;
}

static void body_wait_done(struct gconn *c)
{
	if (c->timer) {
		event_free(c->timer);
		c->timer = NULL;
	}
	dispatch(c);
}

static void body_wait_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct gconn *c = arg;
	if (c->phase == PH_BODY_WAIT)
		body_wait_done(c);
}

static void body_wait(struct gconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->c);
	size_t ok;
	if (c->req_body.kind == PC_HTTP_BODY_LENGTH) {
		size_t n = (size_t)c->req_body.remaining;
		if (evbuffer_get_length(in) < n)
			return; /* the rest is coming */
		if (!scan_request(c, in, n, true, &ok))
			return; /* refused and recorded */
		body_wait_done(c);
		return;
	}
	/* chunked: searched whole if it ends within GATE_SCAN_WHOLE bytes of
	 * data; a longer (or broken) one streams, searched as it goes */
	struct evbuffer *whole = evbuffer_new();
	int r = whole ? chunked_peek(&c->req_body, in, whole) : -1;
	bool refused = r > 0 && !scan_request(c, whole, evbuffer_get_length(whole), true, &ok);
	if (whole)
		evbuffer_free(whole);
	if (r != 0 && !refused)
		body_wait_done(c);
}

static void parse_head(struct gconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->c);
	size_t len = evbuffer_get_length(in);
	if (!len)
		return;
	if (!c->lat_ns)
		c->lat_ns = pc_now_ns(); /* a further request on a kept-alive connection */
	if (!c->req) {
		c->req = pc_xmalloc(sizeof(*c->req));
		pc_http_request_init(c->req);
	}
	size_t take = len < PC_HTTP_MAX_HEAD_DEFAULT + 1 ? len : PC_HTTP_MAX_HEAD_DEFAULT + 1;
	const char *buf = (const char *)evbuffer_pullup(in, (ssize_t)take);
	enum pc_http_result res = pc_http_request_parse(c->req, buf, take, NULL);
	if (res == PC_HTTP_NEED_MORE)
		return;
	if (res == PC_HTTP_ERROR) {
		char reason[300];
		int status = c->req->h.status ? c->req->h.status : 400;
		snprintf(reason, sizeof(reason), "egress denied: malformed request: %s",
			 c->req->h.reason ? c->req->h.reason : "?");
		if (!c->proto)
			c->proto = c->capture ? GP_CAPTURE_HTTP : GP_HTTP;
		gate_record(c, AUDIT_DENY, "bad-request", NULL, reason);
		http_reply_error(c, status, c->req->h.reason);
		return;
	}
	on_request(c, buf);
}

void http_start(struct gconn *c)
{
	c->phase = PH_HEAD;
	parse_head(c);
}

/* The exchange cannot go on: what the agent already has on its way goes
 * out (a truncated answer looks truncated), then the connection closes. */
static void abort_conn(struct gconn *c, const char *why)
{
	gate_record(c, AUDIT_NONE, "upstream", NULL, why);
	gconn_finish(c);
}

/* Walk the chunked body at the front of `in` (up to 64 KiB of it), and
 * with `reframe` write the data there as canonical chunks (raw: the data
 * alone, no framing). *off: the bytes of `in` consumed. 1 at the body's
 * end, 0 for more to come, -1 broken. */
static int chunked_walk(struct body_state *b, struct evbuffer *in, struct evbuffer *reframe,
			bool raw, size_t *off)
{
	size_t len = evbuffer_get_length(in);
	size_t take = len < 65536 ? len : 65536;
	const char *data = (const char *)evbuffer_pullup(in, (ssize_t)take);
	while (*off < take) {
		size_t used = 0, dlen = 0;
		const char *d = NULL;
		enum pc_chunked_result cr =
			pc_chunked_feed(&b->ck, data + *off, take - *off, &used, &d, &dlen);
		*off += used;
		if (cr == PC_CHUNKED_ERROR)
			return -1;
		if (reframe && cr == PC_CHUNKED_DATA && dlen) {
			if (!raw)
				evbuffer_add_printf(reframe, "%zx\r\n", dlen);
			evbuffer_add(reframe, d, dlen);
			if (!raw)
				evbuffer_add(reframe, "\r\n", 2);
		}
		if (cr == PC_CHUNKED_DONE) {
			if (reframe && !raw)
				evbuffer_add(reframe, "0\r\n\r\n", 5);
			return 1;
		}
		if (cr == PC_CHUNKED_MORE)
			break;
	}
	return 0;
}

/* A chunked body that breaks its framing: the head has gone upstream, so
 * that exchange is abandoned; the agent gets its 400 unless an answer had
 * already begun. */
static void bad_request_body(struct gconn *c, const char *what)
{
	char why[300];
	snprintf(why, sizeof(why), "egress denied: malformed request body: %s",
		 what ? what : "bad chunked framing");
	gate_record(c, AUDIT_DENY, "bad-request", NULL, why);
	if (c->resp_started) {
		gconn_free(c);
		return;
	}
	http_reply_error(c, 400, what ? what : "bad chunked framing");
}

/* Decoded data waiting in c->scan goes out as one canonical chunk: all of
 * it once the body has ended (then the last chunk), else what the search
 * lets go. */
static void emit_scanned(struct gconn *c, struct evbuffer *out, size_t n, bool end)
{
	if (n) {
		evbuffer_add_printf(out, "%zx\r\n", n);
		evbuffer_remove_buffer(c->scan, out, n);
		evbuffer_add(out, "\r\n", 2);
	}
	if (end)
		evbuffer_add(out, "0\r\n\r\n", 5);
}

static void forward_request_body(struct gconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->c);
	struct body_state *b = &c->req_body;
	bool search = c->g->creds != NULL;
	while (!c->req_done && gate_refill(c->c)) {
		if (!(bufferevent_get_enabled(c->c) & EV_READ))
			return; /* paused by back-pressure */
		size_t len = evbuffer_get_length(in);
		if (b->kind == PC_HTTP_BODY_LENGTH) {
			size_t n = len < b->remaining ? len : (size_t)b->remaining;
			if (search) {
				size_t ok;
				if (!scan_request(c, in, n, n == b->remaining, &ok))
					return; /* refused: nothing of it went */
				if (!ok)
					return; /* held back: the rest of a value may follow */
				n = ok;
			}
			gate_pump(c, c->c, c->u, n);
			b->remaining -= n;
			c->req_done = b->remaining == 0;
			continue;
		}
		/* Re-framed, not passed through: the upstream sees plain
		 * canonical chunks (no extensions, no odd sizes, no trailers),
		 * so no quirk of its chunk parser can split one request in two. */
		struct evbuffer *out = bufferevent_get_output(c->u);
		size_t before = evbuffer_get_length(out), off = 0;
		if (search && !c->scan)
			c->scan = evbuffer_new();
		int cr = chunked_walk(b, in, search ? c->scan : out, search, &off);
		if (cr < 0) {
			bad_request_body(c, b->ck.reason);
			return;
		}
		evbuffer_drain(in, off);
		if (search) {
			size_t n = evbuffer_get_length(c->scan), ok;
			if (!scan_request(c, c->scan, n, cr > 0, &ok))
				return;
			emit_scanned(c, out, ok, cr > 0);
		}
		c->req_done = cr > 0;
		gate_count_bytes(c, true, evbuffer_get_length(out) - before);
		gate_pump(c, c->c, c->u, 0); /* send, and pause the client if it is ahead */
		if (!off)
			break;
	}
	if (c->req_done && c->resp_done)
		response_done(c);
}

void http_client_readable(struct gconn *c)
{
	if (c->phase == PH_HEAD)
		parse_head(c);
	else if (c->phase == PH_BODY_WAIT)
		body_wait(c);
	else if (c->phase == PH_APPROVAL)
		approval_readable(c);
	else if (c->phase == PH_HTTP && !c->req_done)
		forward_request_body(c);
	/* else: a pipelined request waits for the answer to the last one */
}

/* ---- the response ------------------------------------------------------- */

static void response_done(struct gconn *c)
{
	c->resp_done = true;
	if (!c->req_done)
		return; /* the request body is still coming: forward_request_body ends it */
	if (!c->keep_alive) {
		gconn_finish(c);
		return;
	}
	if (c->u && !c->up_reusable)
		upstream_release(c); /* it said it takes no more */
	else if (c->u && evbuffer_get_length(bufferevent_get_input(c->u))) {
		/* more than its answer came: those bytes would answer the next
		 * request, so this upstream serves no other */
		gate_record(c, AUDIT_NONE, "upstream", NULL,
			    "upstream sent more than its answer: not reused");
		upstream_release(c);
	}
	/* timeouts stay as they are: changing them costs epoll_ctl calls, and
	 * an idle upstream timing out is simply closed */
	c->phase = PH_HEAD;
	gate_read_on(c->c);
	parse_head(c); /* a pipelined request may be waiting */
}

static void rewrite_response(struct gconn *c, const char *buf)
{
	const struct pc_http_response *r = c->resp;
	_cleanup_buf_ struct pc_buf b = {0};
	/* our own version (RFC 9110 section 6.2: an intermediary sends its
	 * own), the status and reason as sent, then the end-to-end headers */
	const char *eol = memchr(buf, '\r', r->h.head_len);
	const char *sp = eol ? memchr(buf, ' ', (size_t)(eol - buf)) : NULL;
	pc_buf_printf(&b, "HTTP/1.%u", c->version_minor);
	if (sp)
		pc_buf_append(&b, sp, (size_t)(eol - sp));
	pc_buf_puts(&b, "\r\n");
	for (unsigned i = 0; i < r->h.nheaders; i++) {
		const struct pc_http_header *h = &r->h.headers[i];
		if (h->hop)
			continue;
		pc_buf_append(&b, buf + h->name.off, h->name.len);
		pc_buf_puts(&b, ": ");
		pc_buf_append(&b, buf + h->value.off, h->value.len);
		pc_buf_puts(&b, "\r\n");
	}
	if (r->interim)
		;
	else if (!c->keep_alive)
		pc_buf_puts(&b, "Connection: close\r\n");
	else if (c->version_minor == 0)
		pc_buf_puts(&b, "Connection: keep-alive\r\n");
	pc_buf_puts(&b, "\r\n");
	if (c->g->creds)
		redact_mem(c, b.data, b.len);
	evbuffer_add(bufferevent_get_output(c->c), b.data, b.len);
}

/* An answer's body that is not the whole representation as sent: in a
 * coding other than identity (Content-Encoding, a transfer coding besides
 * chunked) or a part of it (206, Content-Range): what it is, else NULL.
 * Redaction finds whole values in bytes as sent, so such a body could
 * carry a secret past it (compressed, or in halves). */
static const char *encoded_answer(const struct pc_http_response *r, const char *buf)
{
	if (r->h.te_other)
		return "a Transfer-Encoding other than chunked";
	if (r->status_code == 206)
		return "206 Partial Content";
	for (unsigned i = 0; i < r->h.nheaders; i++) {
		const struct pc_http_header *h = &r->h.headers[i];
		if (pc_http_span_eq(buf, h->name, "content-encoding") &&
		    !pc_http_span_eq(buf, h->value, "identity") && h->value.len)
			return "a Content-Encoding";
		if (pc_http_span_eq(buf, h->name, "content-range"))
			return "a Content-Range";
	}
	return NULL;
}

/* Returns true when a whole head was handled. */
static bool parse_response_head(struct gconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->u);
	size_t len = evbuffer_get_length(in);
	if (!len)
		return false;
	if (!c->resp) {
		c->resp = pc_xmalloc(sizeof(*c->resp));
		pc_http_response_init(c->resp);
	}
	size_t take = len < PC_HTTP_MAX_HEAD_DEFAULT + 1 ? len : PC_HTTP_MAX_HEAD_DEFAULT + 1;
	const char *buf = (const char *)evbuffer_pullup(in, (ssize_t)take);
	enum pc_http_result res =
		pc_http_response_parse(c->resp, buf, take, NULL, c->req_head_method, false);
	if (res == PC_HTTP_NEED_MORE)
		return false;
	if (res == PC_HTTP_ERROR) {
		char why[300];
		snprintf(why, sizeof(why), "upstream %s sent a malformed response: %s", c->addr,
			 c->resp->h.reason ? c->resp->h.reason : "?");
		gate_record(c, AUDIT_NONE, "upstream", NULL, why);
		http_reply_error(c, 502, "malformed response from upstream");
		return false;
	}
	struct pc_http_response *r = c->resp;
	const char *coding = NULL;
	if (c->want_identity && !r->interim && r->h.body != PC_HTTP_BODY_NONE &&
	    (coding = encoded_answer(r, buf))) {
		char why[300];
		snprintf(why, sizeof(why),
			 "upstream %s answered with %s though asked for the whole answer as "
			 "is: such an answer cannot be searched for secrets, so it is not passed "
			 "on",
			 c->addr, coding);
		gate_record(c, AUDIT_NONE, "upstream", NULL, why);
		c->up_reusable = false;
		http_reply_error(c, 502, "upstream answered with an encoding pincer cannot search");
		return false;
	}
	if (!r->interim) {
		/* a body that ends at close ends the client's connection too;
		 * an upstream that only will not take another request is left
		 * (the next request gets a new one) */
		if (r->h.body == PC_HTTP_BODY_CLOSE)
			c->keep_alive = false;
		c->resp_body =
			(struct body_state){.kind = r->h.body, .remaining = r->h.content_length};
		if (r->h.body == PC_HTTP_BODY_CHUNKED)
			pc_chunked_init(&c->resp_body.ck, 0, 0);
		c->resp_started = true;
		if (!r->h.keep_alive)
			c->up_reusable = false;
		if (c->ap && c->ap->go) {
			/* a connection that carried an approver's secret serves
			 * nothing else: an upstream may tie who it is to it */
			if (c->ap->creds)
				c->up_reusable = false;
			approval_executed(c, (int)r->status_code);
		}
	}
	rewrite_response(c, buf);
	gate_count_bytes(c, false, r->h.head_len);
	evbuffer_drain(in, r->h.head_len);
	gate_send(c->c);
	free(c->resp);
	c->resp = NULL;
	return true;
}

void http_upstream_readable(struct gconn *c)
{
	if (c->phase == PH_HEAD) {
		/* an idle upstream talking out of turn: its bytes would answer
		 * the next request; it is dropped */
		upstream_release(c);
		return;
	}
	if (c->phase != PH_HTTP)
		return;
	if (c->resp_done) {
		abort_conn(c, "upstream sent more than its answer while the request body was "
			      "still being sent");
		return;
	}
	struct evbuffer *in = bufferevent_get_input(c->u);
	while (!c->resp_started) {
		if (!parse_response_head(c))
			return;
		if (c->phase != PH_HTTP)
			return;
	}
	struct body_state *b = &c->resp_body;
	bool search = c->g->creds != NULL;
	while (!c->resp_done) {
		size_t len = gate_refill(c->u);
		if (b->kind == PC_HTTP_BODY_NONE ||
		    (b->kind == PC_HTTP_BODY_LENGTH && !b->remaining))
			break;
		if (!len || !(bufferevent_get_enabled(c->u) & EV_READ))
			return;
		if (b->kind == PC_HTTP_BODY_CLOSE) {
			size_t n = search ? redact(c, in, len, false) : len;
			if (!n)
				return; /* held back until more comes, or the close */
			gate_pump(c, c->u, c->c, n);
			continue;
		}
		if (b->kind == PC_HTTP_BODY_LENGTH) {
			size_t n = len < b->remaining ? len : (size_t)b->remaining;
			if (search && !(n = redact(c, in, n, n == b->remaining)))
				return;
			gate_pump(c, c->u, c->c, n);
			b->remaining -= n;
			continue;
		}
		size_t off = 0;
		if (search && !c->rscan)
			c->rscan = evbuffer_new();
		int cr = chunked_walk(b, in, search ? c->rscan : NULL, search, &off);
		if (cr < 0) {
			abort_conn(c, "upstream response body: bad chunked framing");
			return;
		}
		if (search) {
			/* decoded, searched, and sent on as canonical chunks */
			struct evbuffer *out = bufferevent_get_output(c->c);
			size_t n = redact(c, c->rscan, evbuffer_get_length(c->rscan), cr > 0);
			if (n) {
				evbuffer_add_printf(out, "%zx\r\n", n);
				evbuffer_remove_buffer(c->rscan, out, n);
				evbuffer_add(out, "\r\n", 2);
			}
			if (cr > 0)
				evbuffer_add(out, "0\r\n\r\n", 5);
			evbuffer_drain(in, off);
			gate_count_bytes(c, false, off);
			gate_pump(c, c->u, c->c, 0);
		} else {
			gate_pump(c, c->u, c->c, off);
		}
		if (cr > 0)
			break;
		if (!off)
			return;
	}
	if (c->resp_done)
		return;
	response_done(c);
}

void http_upstream_eof(struct gconn *c)
{
	if (c->phase == PH_HEAD) {
		/* an idle kept-alive upstream went away: fine */
		upstream_release(c);
		return;
	}
	if (c->resp_started && c->resp_body.kind == PC_HTTP_BODY_CLOSE) {
		/* the body ran until close: it is complete (and what was held
		 * back for the search goes now) */
		struct evbuffer *in = bufferevent_get_input(c->u);
		size_t len = evbuffer_get_length(in);
		if (len && c->g->creds)
			gate_pump(c, c->u, c->c, redact(c, in, len, true));
		c->keep_alive = false;
		upstream_release(c);
		c->resp_done = true;
		gconn_finish(c);
		return;
	}
	if (!c->resp_started) {
		char why[300];
		snprintf(why, sizeof(why), "upstream %s closed the connection before answering",
			 c->addr);
		gate_record(c, AUDIT_NONE, "upstream", NULL, why);
		http_reply_error(c, 502, "upstream closed the connection before answering");
		return;
	}
	abort_conn(c, "upstream closed the connection in the middle of the response body");
}
