/* One connection of the load client: connect, CONNECT, TLS, requests and
 * their checked responses, as a state machine that never blocks. */
#include "loadgen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

static void conn_drive(struct conn *c);

/* ---- bookkeeping ------------------------------------------------------- */

static void record(struct worker *w, uint64_t ns)
{
	if (w->nlat == w->caplat) {
		w->caplat = w->caplat ? w->caplat * 2 : 65536;
		w->lat = pc_xrealloc(w->lat, w->caplat * sizeof(*w->lat));
	}
	w->lat[w->nlat++] = ns;
}

static void set_events(struct conn *c, uint32_t ev)
{
	if (c->events == ev)
		return;
	struct epoll_event e = {.events = ev, .data.ptr = c};
	if (epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

void conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd); /* leaves the epoll set with it */
		c->fd = -1;
	}
	c->st = S_OFF;
}

/* Whether this worker may begin another request now. */
static bool may_issue(struct worker *w)
{
	if (pc_now_ns() >= w->deadline)
		return false;
	return !w->quota || w->issued < w->quota;
}

_printf_(2, 3) static void conn_fail(struct conn *c, const char *fmt, ...)
{
	struct worker *w = c->w;
	w->errors++;
	c->resend = false; /* a failed request is not sent again */
	if (!w->first_error[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
		va_end(ap);
	}
	conn_close(c);
	if (w->o->mode == M_IDLE)
		return;
	/* A short pause keeps a refused connect from spinning the loop. */
	c->st = S_WAIT;
	c->retry_at = pc_now_ns() + 10 * 1000000ULL;
}

/* ---- I/O: plain or TLS, never blocking ---------------------------------- */

/* > 0 bytes moved, 0 at EOF, -EAGAIN with the interest set, -EIO. */
static ssize_t io_read(struct conn *c, void *buf, size_t n)
{
	if (!c->ssl) {
		ssize_t r = read(c->fd, buf, n);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EINTR) {
			set_events(c, EPOLLIN);
			return -EAGAIN;
		}
		return -EIO;
	}
	int r = SSL_read(c->ssl, buf, (int)n);
	if (r > 0)
		return r;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		set_events(c, EPOLLIN);
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		set_events(c, EPOLLOUT);
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		return -EIO;
	}
}

static ssize_t io_write(struct conn *c, const void *buf, size_t n)
{
	if (!c->ssl) {
		ssize_t r = write(c->fd, buf, n);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EINTR) {
			set_events(c, EPOLLOUT);
			return -EAGAIN;
		}
		return -EIO;
	}
	int r = SSL_write(c->ssl, buf, (int)n);
	if (r > 0)
		return r;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		set_events(c, EPOLLIN);
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		set_events(c, EPOLLOUT);
		return -EAGAIN;
	default:
		ERR_clear_error();
		return -EIO;
	}
}

/* Send what is left of c->out; true when all of it is gone. */
static bool flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t r = io_write(c, c->out + c->out_off, c->out_len - c->out_off);
		if (r == -EAGAIN)
			return false;
		if (r <= 0) {
			conn_fail(c, "write failed");
			return false;
		}
		c->out_off += (size_t)r;
	}
	return true;
}

static void begin_send(struct conn *c, const char *msg, size_t len, enum state next)
{
	c->out = msg;
	c->out_len = len;
	c->out_off = 0;
	c->in_len = 0;
	c->body_left = -1;
	c->st = next;
	c->t_op = pc_now_ns();
}

/* ---- HTTP response heads ------------------------------------------------ */

/* The head in c->in[0..head_len): the status and the framing we rely on.
 * Returns the status, or -1 for a head we cannot frame. */
static int parse_head(struct conn *c, size_t head_len, bool want_body)
{
	char *line = c->in;
	c->in[head_len - 2] = '\0'; /* the final CRLF of the head */
	char *eol = strstr(line, "\r\n");
	if (eol)
		*eol = '\0';
	int minor, status;
	if (sscanf(line, "HTTP/1.%d %3d", &minor, &status) != 2)
		return -1;
	c->close_after = minor == 0;
	c->body_len = -1;
	for (char *h = eol ? eol + 2 : NULL; h && *h; h = eol ? eol + 2 : NULL) {
		eol = strstr(h, "\r\n");
		if (eol)
			*eol = '\0';
		char *colon = strchr(h, ':');
		if (!colon)
			return -1;
		*colon = '\0';
		char *v = colon + 1 + strspn(colon + 1, " \t");
		if (!strcasecmp(h, "content-length")) {
			char *end;
			long n = strtol(v, &end, 10);
			if (c->body_len >= 0 || end == v || *end || n < 0)
				return -1; /* duplicate or malformed */
			c->body_len = n;
		} else if (!strcasecmp(h, "transfer-encoding")) {
			return -1; /* the bench's upstream always sends a length */
		} else if (!strcasecmp(h, "connection")) {
			if (strcasestr(v, "close"))
				c->close_after = true;
			else if (strcasestr(v, "keep-alive"))
				c->close_after = false;
		}
	}
	if (want_body && c->body_len < 0)
		return -1;
	return status;
}

/* A reused connection the server closed before answering: send the
 * request again on a new one. */
static void retry(struct conn *c)
{
	c->w->retries++;
	conn_close(c);
	c->resend = true;
	conn_start(c);
}

/* Read into c->in until the head is complete; its length, 0 for not yet,
 * -1 after a failure or a retry (the connection is then closed). */
static long read_head(struct conn *c)
{
	for (;;) {
		c->in[c->in_len] = '\0';
		char *end = strstr(c->in, "\r\n\r\n");
		if (end)
			return end + 4 - c->in;
		if (c->in_len >= IN_MAX - 1) {
			conn_fail(c, "response head over %d bytes", IN_MAX);
			return -1;
		}
		ssize_t r = io_read(c, c->in + c->in_len, IN_MAX - 1 - c->in_len);
		if (r == -EAGAIN)
			return 0;
		if (r <= 0 && c->st == S_RECV && c->served && !c->in_len) {
			retry(c);
			return -1;
		}
		if (r <= 0) {
			conn_fail(c, "%s before the response head",
				  r == 0 ? "connection closed" : "read failed");
			return -1;
		}
		c->in_len += (size_t)r;
	}
}

/* ---- the state machine -------------------------------------------------- */

/* Send the request on a ready connection. With --new the latency clock kept
 * running from connect(); on a reused connection it starts now. */
static void start_request(struct conn *c)
{
	struct worker *w = c->w;
	if (c->resend) {
		c->resend = false;
		uint64_t t = c->t_start;
		begin_send(c, w->o->request, w->o->request_len, S_SEND);
		c->t_start = t;
		return;
	}
	if (!may_issue(w)) {
		conn_close(c);
		return;
	}
	w->issued++;
	begin_send(c, w->o->request, w->o->request_len, S_SEND);
	if (!w->o->newconn)
		c->t_start = c->t_op;
}

static void next_request(struct conn *c)
{
	if (c->w->o->newconn || c->close_after) {
		conn_close(c);
		if (may_issue(c->w))
			conn_start(c);
		return;
	}
	start_request(c);
}

static void response_done(struct conn *c)
{
	struct worker *w = c->w;
	record(w, pc_now_ns() - c->t_start);
	c->served++;
	next_request(c);
}

static void on_recv(struct conn *c)
{
	const struct opts *o = c->w->o;
	if (c->body_left < 0) {
		long head = read_head(c);
		if (head <= 0)
			return;
		int status = parse_head(c, (size_t)head, true);
		if (status < 0) {
			conn_fail(c, "response head without Content-Length framing");
			return;
		}
		if (status != 200) {
			conn_fail(c, "response status %d", status);
			return;
		}
		if (o->expect_body >= 0 && c->body_len != o->expect_body) {
			conn_fail(c, "body of %ld bytes, expected %ld", c->body_len,
				  o->expect_body);
			return;
		}
		long extra = (long)c->in_len - head;
		if (extra > c->body_len) {
			conn_fail(c, "bytes after the response body");
			return;
		}
		c->body_left = c->body_len - extra;
	}
	char sink[IN_MAX];
	while (c->body_left > 0) {
		ssize_t r = io_read(c, sink, sizeof(sink));
		if (r == -EAGAIN)
			return;
		if (r <= 0) {
			conn_fail(c, "%s in the response body",
				  r == 0 ? "connection closed" : "read failed");
			return;
		}
		if (r > c->body_left) {
			conn_fail(c, "bytes after the response body");
			return;
		}
		c->body_left -= r;
	}
	response_done(c);
}

static void on_tunnel_recv(struct conn *c)
{
	const struct opts *o = c->w->o;
	long head = read_head(c);
	if (head <= 0)
		return;
	int status = parse_head(c, (size_t)head, false);
	if (status < 200 || status > 299) {
		conn_fail(c, "CONNECT answered %d", status);
		return;
	}
	if ((long)c->in_len != head) {
		conn_fail(c, "bytes after the CONNECT answer");
		return;
	}
	c->in_len = 0;
	if (o->mode == M_IDLE) {
		c->st = S_IDLE;
		set_events(c, EPOLLIN);
		record(c->w, pc_now_ns() - c->t_start);
		return;
	}
	c->st = S_TLS;
}

static void on_tls(struct conn *c)
{
	const struct opts *o = c->w->o;
	if (!c->ssl) {
		c->ssl = SSL_new(o->ssl_ctx);
		SSL_set_fd(c->ssl, c->fd);
		struct in_addr a4;
		struct in6_addr a6;
		bool literal = inet_pton(AF_INET, o->host, &a4) == 1 ||
			       inet_pton(AF_INET6, o->host, &a6) == 1;
		if (literal) {
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), o->host);
		} else {
			SSL_set_tlsext_host_name(c->ssl, o->host);
			SSL_set1_host(c->ssl, o->host);
		}
		SSL_set_connect_state(c->ssl);
	}
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		start_request(c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		set_events(c, EPOLLIN);
		return;
	case SSL_ERROR_WANT_WRITE:
		set_events(c, EPOLLOUT);
		return;
	default: {
		unsigned long e = ERR_get_error();
		char msg[160];
		ERR_error_string_n(e, msg, sizeof(msg));
		ERR_clear_error();
		conn_fail(c, "TLS handshake: %s", e ? msg : "connection closed");
	}
	}
}

/* The TCP connect finished: what comes next depends on the mode. */
static void on_connected(struct conn *c)
{
	const struct opts *o = c->w->o;
	int soerr = 0;
	socklen_t l = sizeof(soerr);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
	if (soerr) {
		conn_fail(c, "connect: %s", strerror(soerr));
		return;
	}
	c->w->connects++;
	if (o->mode == M_CONNECT || o->mode == M_IDLE) {
		begin_send(c, o->tunnel_request, o->tunnel_request_len, S_TUNNEL_SEND);
	} else if (o->tls) {
		c->st = S_TLS;
	} else {
		start_request(c);
	}
}

/* Run the connection's state machine until it waits for the socket. */
static void conn_drive(struct conn *c)
{
	for (;;) {
		enum state before = c->st;
		switch (c->st) {
		case S_TCP:
			on_connected(c);
			break;
		case S_TUNNEL_SEND:
		case S_SEND:
			if (!flush_out(c))
				return;
			/* The answer cannot be there yet: wait for it. */
			c->st = c->st == S_SEND ? S_RECV : S_TUNNEL_RECV;
			set_events(c, EPOLLIN);
			return;
		case S_TUNNEL_RECV:
			on_tunnel_recv(c);
			break;
		case S_TLS:
			on_tls(c);
			break;
		case S_RECV:
			on_recv(c);
			break;
		case S_IDLE: {
			char b[64];
			ssize_t r = io_read(c, b, sizeof(b));
			if (r != -EAGAIN)
				conn_fail(c, "idle tunnel %s", r > 0 ? "got data" : "closed");
			return;
		}
		case S_OFF:
		case S_WAIT:
		default:
			return;
		}
		/* A state that did not move is waiting for its socket. */
		if (c->st == before)
			return;
	}
}

void conn_start(struct conn *c)
{
	struct worker *w = c->w;
	const struct opts *o = w->o;
	c->fd = socket(o->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(c, "socket: %m");
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->t_op = pc_now_ns();
	if (!c->resend)
		c->t_start = c->t_op;
	c->served = 0;
	c->close_after = false;
	c->in_len = 0;
	c->st = S_TCP;
	c->events = EPOLLOUT;
	struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &e) < 0) {
		conn_fail(c, "epoll_ctl: %m");
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&o->dst, o->dst_len) < 0 && errno != EINPROGRESS) {
		conn_fail(c, "connect: %m");
		return;
	}
}

/* ---- the loop ---------------------------------------------------------- */

void loop_once(struct worker *w, int ms)
{
	struct epoll_event ev[256];
	int n = epoll_wait(w->ep, ev, PC_ARRAY_SIZE(ev), ms);
	for (int i = 0; i < n; i++)
		conn_drive(ev[i].data.ptr);
	uint64_t now = pc_now_ns();
	uint64_t tmo = (uint64_t)(w->o->timeout * 1e9);
	for (int i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->st == S_WAIT && now >= c->retry_at) {
			if (may_issue(w))
				conn_start(c);
			else
				c->st = S_OFF;
		} else if (c->st != S_OFF && c->st != S_WAIT && c->st != S_IDLE &&
			   now - c->t_op > tmo)
			conn_fail(c, "no progress for %.1f s", w->o->timeout);
	}
}
