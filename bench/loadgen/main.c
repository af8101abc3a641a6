/* loadgen's main: options, one worker thread per core at most, the idle
 * mode's steps, and the merged result line. */
#include "loadgen.h"

#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>

static bool worker_busy(struct worker *w)
{
	for (int i = 0; i < w->nconns; i++)
		if (w->conns[i].st != S_OFF)
			return true;
	return false;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->nconns; i++)
		conn_start(&w->conns[i]);
	while (pc_now_ns() < w->deadline && worker_busy(w))
		loop_once(w, 10);
	w->t_end = pc_now_ns();
	for (int i = 0; i < w->nconns; i++)
		conn_close(&w->conns[i]);
	return NULL;
}

static size_t count_state(struct worker *w, int from, int to, enum state st)
{
	size_t n = 0;
	for (int i = from; i < to; i++)
		n += w->conns[i].st == st;
	return n;
}

/* Open conns [from, to) and wait until each is an idle tunnel or failed. */
static void idle_open(struct worker *w, int from, int to)
{
	uint64_t give_up = pc_now_ns() + (uint64_t)(w->o->timeout * 1e9);
	for (int i = from; i < to; i++)
		conn_start(&w->conns[i]);
	while (pc_now_ns() < give_up &&
	       count_state(w, from, to, S_IDLE) + count_state(w, from, to, S_OFF) <
		       (size_t)(to - from))
		loop_once(w, 10);
}

static void idle_hold(struct worker *w, double secs)
{
	uint64_t until = pc_now_ns() + (uint64_t)(secs * 1e9);
	while (pc_now_ns() < until)
		loop_once(w, 50);
}

/* Idle: `warm` tunnels, then `conns` more, holding each step for `hold`
 * seconds after printing how many tunnels are open. */
static void idle_run(struct worker *w)
{
	const struct opts *o = w->o;
	idle_open(w, 0, o->warm);
	printf("ready connections=%zu\n", count_state(w, 0, w->nconns, S_IDLE));
	fflush(stdout);
	idle_hold(w, o->hold);
	idle_open(w, o->warm, w->nconns);
	printf("ready connections=%zu\n", count_state(w, 0, w->nconns, S_IDLE));
	fflush(stdout);
	idle_hold(w, o->hold);
	w->t_end = pc_now_ns();
	for (int i = 0; i < w->nconns; i++)
		conn_close(&w->conns[i]);
}

/* ---- set-up ------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* "host:port" (or "[v6]:port") resolved once, numerically where it can. */
static int resolve(const char *hostport, char **host, char **port, struct sockaddr_storage *ss,
		   socklen_t *len, struct pc_error *err)
{
	_cleanup_free_ char *s = pc_xstrdup(hostport);
	char *colon = strrchr(s, ':');
	if (!colon || colon == s || !colon[1])
		return pc_error(err, EINVAL, "%s: expected HOST:PORT", hostport);
	*colon = '\0';
	char *h = s;
	if (h[0] == '[' && colon[-1] == ']') {
		h++;
		colon[-1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int r = getaddrinfo(h, colon + 1, &hints, &ai);
	if (r)
		return pc_error(err, EINVAL, "%s: %s", hostport, gai_strerror(r));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	if (host)
		*host = pc_xstrdup(h);
	if (port)
		*port = pc_xstrdup(colon + 1);
	return 0;
}

static _noreturn_ void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: loadgen [OPTIONS] HOST:PORT [PATH]\n"
		"  -m MODE      direct | proxy | connect | connect-new | idle (default direct)\n"
		"  -x HOST:PORT the proxy (proxy, connect, connect-new, idle)\n"
		"  -c N         connections (default 10)\n"
		"  -t N         threads, at most one per core (default: cores)\n"
		"  -d SECS      duration (default 10)\n"
		"  -n N         stop after N requests (or at -d, whichever is first)\n"
		"  -b BYTES     expected body size; another size is an error\n"
		"  -s SECS      idle: how long to hold each step (default 5)\n"
		"  -w N         idle: tunnels opened before the N of -c (default 1)\n"
		"  -T SECS      a request making no progress this long fails (default 5)\n"
		"  --tls        TLS to the origin (implied by connect modes)\n"
		"  --new        a new connection per request (implied by connect-new)\n"
		"  --cafile F   verify the origin's certificate against F (else no check)\n");
	exit(code);
}

static int parse_args(int argc, char **argv, struct opts *o, struct pc_error *err)
{
	static const struct option lopts[] = {
		{"tls", no_argument, NULL, 'L'},
		{"new", no_argument, NULL, 'N'},
		{"cafile", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *proxy = NULL;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	*o = (struct opts){
		.conns = 10, .duration = 10, .hold = 5, .timeout = 5, .warm = 1, .expect_body = -1};
	int ch;
	while ((ch = getopt_long(argc, argv, "m:x:c:t:d:n:b:s:w:T:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			if (!strcmp(optarg, "direct"))
				o->mode = M_DIRECT;
			else if (!strcmp(optarg, "proxy"))
				o->mode = M_PROXY;
			else if (!strcmp(optarg, "connect"))
				o->mode = M_CONNECT, o->tls = true;
			else if (!strcmp(optarg, "connect-new"))
				o->mode = M_CONNECT, o->tls = true, o->newconn = true;
			else if (!strcmp(optarg, "idle"))
				o->mode = M_IDLE;
			else
				return pc_error(err, EINVAL, "unknown mode %s", optarg);
			break;
		case 'x':
			proxy = optarg;
			break;
		case 'c':
			o->conns = atoi(optarg);
			break;
		case 't':
			o->threads = atoi(optarg);
			break;
		case 'd':
			o->duration = atof(optarg);
			break;
		case 'n':
			o->count = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			o->expect_body = atol(optarg);
			break;
		case 's':
			o->hold = atof(optarg);
			break;
		case 'w':
			o->warm = atoi(optarg);
			break;
		case 'T':
			o->timeout = atof(optarg);
			break;
		case 'L':
			o->tls = true;
			break;
		case 'N':
			o->newconn = true;
			break;
		case 'C':
			o->cafile = optarg;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind >= argc || argc - optind > 2)
		usage(2);
	if (o->mode == M_IDLE)
		o->tls = false, o->newconn = false, o->threads = 1;
	if (o->conns < 0 || o->warm < 0 || (o->mode != M_IDLE && o->conns < 1) ||
	    o->duration <= 0 || o->timeout <= 0)
		return pc_error(err, EINVAL, "-c, -w, -d and -T must be positive");
	if (o->threads <= 0 || o->threads > cores)
		o->threads = (int)cores;
	if (o->threads > o->conns)
		o->threads = o->conns > 0 ? o->conns : 1;

	const char *target = argv[optind];
	o->path = pc_xstrdup(argc - optind == 2 ? argv[optind + 1] : "/");
	int r = resolve(target, &o->host, &o->port, &o->dst, &o->dst_len, err);
	if (r < 0)
		return r;
	if (o->mode != M_DIRECT) {
		if (!proxy)
			return pc_error(err, EINVAL, "mode needs a proxy (-x HOST:PORT)");
		r = resolve(proxy, NULL, NULL, &o->dst, &o->dst_len, err);
		if (r < 0)
			return r;
	}
	if (o->mode == M_PROXY && o->tls)
		return pc_error(err, EINVAL, "proxy mode is plain HTTP; use connect for TLS");

	/* One request for every connection: origin-form to the origin or in a
	 * tunnel, absolute-form to a proxy. */
	const char *scheme = o->tls ? "https" : "http";
	if (o->mode == M_PROXY)
		o->request = pc_xasprintf("GET %s://%s:%s%s HTTP/1.1\r\nHost: %s:%s\r\n"
					  "User-Agent: pincer-loadgen\r\n\r\n",
					  scheme, o->host, o->port, o->path, o->host, o->port);
	else
		o->request = pc_xasprintf("GET %s HTTP/1.1\r\nHost: %s:%s\r\n"
					  "User-Agent: pincer-loadgen\r\n\r\n",
					  o->path, o->host, o->port);
	o->request_len = strlen(o->request);
	o->tunnel_request = pc_xasprintf("CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s\r\n\r\n", o->host,
					 o->port, o->host, o->port);
	o->tunnel_request_len = strlen(o->tunnel_request);
	return 0;
}

static int tls_setup(struct opts *o, struct pc_error *err)
{
	o->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!o->ssl_ctx)
		return pc_error(err, ENOMEM, "SSL_CTX_new failed");
	/* Every new connection pays a full handshake, as a fresh client does. */
	SSL_CTX_set_session_cache_mode(o->ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(o->ssl_ctx, SSL_OP_NO_TICKET);
	if (o->cafile) {
		if (SSL_CTX_load_verify_locations(o->ssl_ctx, o->cafile, NULL) != 1)
			return pc_error(err, EINVAL, "%s: not a CA certificate file", o->cafile);
		SSL_CTX_set_verify(o->ssl_ctx, SSL_VERIFY_PEER, NULL);
	}
	return 0;
}

/* Room for a thousand or more sockets. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	struct pc_error err = {0};
	if (parse_args(argc, argv, &o, &err) < 0 || (o.tls && tls_setup(&o, &err) < 0)) {
		fprintf(stderr, "loadgen: %s\n", err.msg);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	int total = o.mode == M_IDLE ? o.warm + o.conns : o.conns;
	_cleanup_free_ struct worker *ws = pc_xcalloc((size_t)o.threads, sizeof(*ws));
	_cleanup_free_ struct conn *conns = pc_xcalloc((size_t)(total ? total : 1), sizeof(*conns));
	uint64_t start = pc_now_ns();
	for (int t = 0, next = 0; t < o.threads; t++) {
		struct worker *w = &ws[t];
		w->o = &o;
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		w->nconns = total / o.threads + (t < total % o.threads);
		w->conns = conns + next;
		next += w->nconns;
		w->deadline = start + (uint64_t)(o.duration * 1e9);
		if (o.mode == M_IDLE)
			w->deadline = UINT64_MAX;
		w->quota = o.count / (uint64_t)o.threads +
			   ((uint64_t)t < o.count % (uint64_t)o.threads);
		if (o.count && !w->quota)
			w->quota = 1; /* fewer requests than threads: one each */
		for (int i = 0; i < w->nconns; i++) {
			w->conns[i].w = w;
			w->conns[i].fd = -1;
		}
	}
	if (o.mode == M_IDLE) {
		idle_run(&ws[0]);
	} else {
		for (int t = 0; t < o.threads; t++)
			pthread_create(&ws[t].thread, NULL, worker_run, &ws[t]);
		for (int t = 0; t < o.threads; t++)
			pthread_join(ws[t].thread, NULL);
	}

	/* Merge: latencies, errors, the last worker's end. */
	uint64_t n = 0, errors = 0, connects = 0, retries = 0, end = start;
	for (int t = 0; t < o.threads; t++)
		n += ws[t].nlat;
	_cleanup_free_ uint64_t *lat = pc_xmalloc((n ? n : 1) * sizeof(*lat));
	n = 0;
	for (int t = 0; t < o.threads; t++) {
		struct worker *w = &ws[t];
		memcpy(lat + n, w->lat, w->nlat * sizeof(*lat));
		n += w->nlat;
		errors += w->errors;
		connects += w->connects;
		retries += w->retries;
		end = w->t_end > end ? w->t_end : end;
		if (w->errors)
			fprintf(stderr, "loadgen: %" PRIu64 " errors, the first: %s\n", w->errors,
				w->first_error);
		free(w->lat);
		close(w->ep);
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	double secs = (double)(end - start) / 1e9;
	double p50 = n ? (double)lat[(n - 1) * 50 / 100] / 1e3 : 0;
	double p99 = n ? (double)lat[(n - 1) * 99 / 100] / 1e3 : 0;
	printf("requests=%" PRIu64 " seconds=%.2f rps=%.1f p50_us=%.1f p99_us=%.1f errors=%" PRIu64
	       " connects=%" PRIu64 " retries=%" PRIu64 "\n",
	       n, secs, o.mode == M_IDLE ? 0 : (double)n / secs, p50, p99, errors, connects,
	       retries);
	if (o.ssl_ctx)
		SSL_CTX_free(o.ssl_ctx);
	return errors || !n ? 1 : 0;
}
