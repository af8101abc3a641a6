/* loadgen: the load client of bench/gate. N keep-alive (or one-shot)
 * connections driven by epoll on one thread per core at most, straight to an
 * origin or through an HTTP proxy (absolute-form requests or CONNECT
 * tunnels, with TLS inside the tunnel). Every response is checked (status
 * 200, Content-Length framing, expected body size); a failed one counts as
 * an error, never as a fast result. Prints one line:
 *
 *   requests=N seconds=S rps=R p50_us=A p99_us=B errors=E connects=C retries=T
 *
 * A keep-alive connection closed before any byte of the next response is
 * retried once on a new connection, as HTTP clients do (RFC 9112 9.3.1), and
 * counted in retries; the latency clock keeps running.
 * `idle` mode opens tunnels and holds them, printing "ready connections=N"
 * at each step, so a script can read the proxy's memory meanwhile.
 */
#pragma once

#include "util/util.h"

#include <pthread.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

enum mode { M_DIRECT, M_PROXY, M_CONNECT, M_IDLE };

struct opts {
	enum mode mode;
	bool tls;     /* TLS to the origin (inside the tunnel for connect) */
	bool newconn; /* a new connection (and handshake) per request */
	int conns, threads, warm;
	double duration, hold, timeout;
	uint64_t count;
	long expect_body; /* -1: any size */
	char *host, *port, *path, *cafile;
	struct sockaddr_storage dst; /* where the sockets connect */
	socklen_t dst_len;
	SSL_CTX *ssl_ctx;
	char *request, *tunnel_request;
	size_t request_len, tunnel_request_len;
};

enum state { S_OFF, S_WAIT, S_TCP, S_TUNNEL_SEND, S_TUNNEL_RECV, S_TLS, S_SEND, S_RECV, S_IDLE };

#define IN_MAX 16384

struct worker;

struct conn {
	struct worker *w;
	int fd;
	SSL *ssl;
	enum state st;
	uint32_t events;   /* epoll interest now registered */
	uint64_t t_start;  /* the latency clock: request (or connection) start */
	uint64_t t_op;	   /* when the current state began, for timeouts */
	uint64_t retry_at; /* S_WAIT: reconnect after a failure */
	const char *out;
	size_t out_len, out_off;
	size_t in_len;
	long body_left; /* -1 while the head is not complete */
	long body_len;
	bool close_after;
	bool resend;	 /* the request is sent again on a fresh connection */
	uint64_t served; /* responses on this connection */
	char in[IN_MAX];
};

struct worker {
	const struct opts *o;
	pthread_t thread;
	int ep;
	struct conn *conns;
	int nconns;
	uint64_t quota, issued; /* -n: requests this worker may start */
	uint64_t deadline;
	/* results */
	uint64_t *lat; /* ns, one per completed request */
	size_t nlat, caplat;
	uint64_t errors, connects, retries;
	char first_error[256];
	uint64_t t_end;
};

/* conn.c: one connection's state machine, driven by epoll events. */
void conn_start(struct conn *c);
void conn_close(struct conn *c);
/* Wait up to ms for events on w's connections and drive them; then time out
 * stuck ones and restart those that waited out a failure. */
void loop_once(struct worker *w, int ms);
