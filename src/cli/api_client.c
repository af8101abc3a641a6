/* api_client: the `pincer agent ...` side of the daemon's API (daemon.h).
 *
 * A tiny blocking HTTP/1.1 client over the unix socket: one request per
 * connection ("Connection: close"), its JSON body sent with Content-Length;
 * the answer's status line, headers, and a body framed by Content-Length,
 * chunked, or read to the end. Every read and write gives up after 30 s,
 * except the reads of an answer that is followed (`agent logs -f`), which
 * last until the daemon closes the stream.
 */
#include "cli/cli.h"

#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#define API_TIMEOUT_S 30
#define API_LINE_MAX  8192
#define API_BODY_MAX  (64u << 20) /* an answer kept in memory */

struct reader {
	int fd;
	const char *socket;
	char buf[16384];
	size_t pos, len;
	int out_fd;	     /* >= 0: the body goes here as it arrives */
	struct pc_buf *body; /* else: kept here */
};

/* 1 more bytes are buffered, 0 end of stream, < 0 an error. */
static int rd_fill(struct reader *r, struct pc_error *err)
{
	if (r->pos < r->len)
		return 1;
	for (;;) {
		ssize_t n = read(r->fd, r->buf, sizeof(r->buf));
		if (n > 0) {
			r->pos = 0;
			r->len = (size_t)n;
			return 1;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return pc_error(err, ETIMEDOUT, "daemon at %s: no answer within %d s",
					r->socket, API_TIMEOUT_S);
		return pc_error_errno(err, errno, "daemon at %s: reading its answer", r->socket);
	}
}

static int cut_short(const struct reader *r, struct pc_error *err)
{
	return pc_error(err, ECONNRESET,
			"daemon at %s: the connection closed in the middle of "
			"the answer (did the daemon stop?)",
			r->socket);
}

/* One header or chunk-size line, without its CRLF, into line. */
static int rd_line(struct reader *r, struct pc_buf *line, struct pc_error *err)
{
	pc_buf_reset(line);
	pc_buf_append(line, "", 0);
	for (;;) {
		int k = rd_fill(r, err);
		if (k < 0)
			return k;
		if (k == 0)
			return cut_short(r, err);
		char *p = r->buf + r->pos;
		size_t avail = r->len - r->pos;
		char *nl = memchr(p, '\n', avail);
		size_t take = nl ? (size_t)(nl - p) + 1 : avail;
		if (line->len + take > API_LINE_MAX)
			return pc_error(err, EPROTO,
					"daemon at %s: a line of its answer is too long",
					r->socket);
		pc_buf_append(line, p, take);
		r->pos += take;
		if (nl)
			break;
	}
	while (line->len &&
	       (line->data[line->len - 1] == '\n' || line->data[line->len - 1] == '\r'))
		line->data[--line->len] = '\0';
	return 0;
}

static int put_body(struct reader *r, const char *p, size_t n, struct pc_error *err)
{
	if (r->out_fd >= 0) {
		if (pc_write_all(r->out_fd, p, n) < 0)
			return pc_error_errno(err, errno, "writing the answer");
		return 0;
	}
	if (r->body->len + n > API_BODY_MAX)
		return pc_error(err, EFBIG, "daemon at %s: its answer is larger than %u bytes",
				r->socket, API_BODY_MAX);
	pc_buf_append(r->body, p, n);
	return 0;
}

/* n bytes of body (n == SIZE_MAX: up to the end of the stream). */
static int rd_body(struct reader *r, size_t n, struct pc_error *err)
{
	while (n > 0) {
		int k = rd_fill(r, err);
		if (k < 0)
			return k;
		if (k == 0)
			return n == SIZE_MAX ? 0 : cut_short(r, err);
		size_t take = r->len - r->pos < n ? r->len - r->pos : n;
		int w = put_body(r, r->buf + r->pos, take, err);
		if (w < 0)
			return w;
		r->pos += take;
		if (n != SIZE_MAX)
			n -= take;
	}
	return 0;
}

static int rd_chunked(struct reader *r, struct pc_error *err)
{
	_cleanup_buf_ struct pc_buf line = {0};
	for (;;) {
		int k = rd_line(r, &line, err);
		if (k < 0)
			return k;
		char *end;
		errno = 0;
		unsigned long long size = strtoull(line.data, &end, 16);
		if (end == line.data || errno || (*end && *end != ';' && *end != ' ') ||
		    size >= API_BODY_MAX)
			return pc_error(err, EPROTO, "daemon at %s: a bad chunk size '%.40s'",
					r->socket, line.data);
		if (size == 0)
			break;
		k = rd_body(r, (size_t)size, err);
		if (k == 0)
			k = rd_line(r, &line, err); /* the CRLF after the chunk */
		if (k < 0)
			return k;
	}
	/* trailers, up to the empty line */
	do {
		int k = rd_line(r, &line, err);
		if (k < 0)
			return k;
	} while (line.len);
	return 0;
}

static int send_all(int fd, const char *p, size_t n, const char *socket, struct pc_error *err)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return pc_error(err, ETIMEDOUT,
					"daemon at %s: not taking requests within %d s", socket,
					API_TIMEOUT_S);
		if (w < 0)
			return pc_error_errno(err, errno, "daemon at %s: sending the request",
					      socket);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int api_dial(const char *path, int type, bool follow, struct pc_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return pc_error(err, ENAMETOOLONG, "socket path %s is too long (at most %zu bytes)",
				path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pc_error_errno(err, errno, "socket");
	struct timeval tv = {.tv_sec = API_TIMEOUT_S};
	/* on a unix socket, SO_SNDTIMEO also bounds connect() */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    (!follow && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0))
		return pc_error_errno(err, errno, "setsockopt");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno == EAGAIN ? ETIMEDOUT : errno;
		return pc_error(err, e, "no daemon at %s: %s (start one with 'pincer daemon')",
				path, strerror(e));
	}
	/* only root's daemon or our own may hear our policies: a socket in a
	 * folder someone else could write may have been swapped for theirs */
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0)
		return pc_error_errno(err, errno, "daemon at %s: who serves it", path);
	if (cr.uid != 0 && cr.uid != geteuid())
		return pc_error(err, EPERM,
				"%s is served by uid %u, neither root nor you: not talking to it",
				path, (unsigned)cr.uid);
	return pc_steal_fd(&fd);
}

static int api_connect(const struct api_request *rq, struct pc_error *err)
{
	return api_dial(rq->socket, SOCK_STREAM, rq->follow, err);
}

int api_call(const struct api_request *rq, struct api_reply *rep, struct pc_error *err)
{
	rep->status = 0;
	pc_buf_reset(&rep->body);
	_cleanup_close_ int fd = api_connect(rq, err);
	if (fd < 0)
		return fd;

	_cleanup_buf_ struct pc_buf req = {0};
	size_t blen = rq->body ? strlen(rq->body) : 0;
	pc_buf_printf(&req,
		      "%s %s HTTP/1.1\r\nHost: pincer\r\nConnection: close\r\n"
		      "Accept: application/json\r\n",
		      rq->method, rq->path);
	if (rq->body)
		pc_buf_printf(&req, "Content-Type: application/json\r\n");
	pc_buf_printf(&req, "Content-Length: %zu\r\n\r\n", blen);
	if (rq->body)
		pc_buf_append(&req, rq->body, blen);
	int r = send_all(fd, req.data, req.len, rq->socket, err);
	if (r < 0)
		return r;

	struct reader rd = {.fd = fd, .socket = rq->socket, .out_fd = -1, .body = &rep->body};
	_cleanup_buf_ struct pc_buf line = {0};
	int major, minor;
	/* the status line (an interim 1xx answer is skipped) */
	do {
		r = rd_line(&rd, &line, err);
		if (r < 0)
			return r;
		if (sscanf(line.data, "HTTP/%d.%d %d", &major, &minor, &rep->status) != 3 ||
		    rep->status < 100 || rep->status > 999)
			return pc_error(err, EPROTO, "daemon at %s: not an HTTP answer: '%.60s'",
					rq->socket, line.data);
		if (rep->status < 200)
			do {
				r = rd_line(&rd, &line, err);
				if (r < 0)
					return r;
			} while (line.len);
	} while (rep->status < 200);

	bool chunked = false;
	size_t length = SIZE_MAX;
	for (;;) {
		r = rd_line(&rd, &line, err);
		if (r < 0)
			return r;
		if (!line.len)
			break;
		char *colon = strchr(line.data, ':');
		if (!colon)
			continue;
		*colon = '\0';
		const char *v = colon + 1 + strspn(colon + 1, " \t");
		if (strcasecmp(line.data, "Transfer-Encoding") == 0 && strcasestr(v, "chunked")) {
			chunked = true;
		} else if (strcasecmp(line.data, "Content-Length") == 0) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(v, &end, 10);
			if (errno || end == v || *end || n > API_BODY_MAX * 16ULL)
				return pc_error(err, EPROTO,
						"daemon at %s: a bad Content-Length '%.40s'",
						rq->socket, v);
			length = (size_t)n;
		}
	}
	if (rq->stream_fd >= 0 && rep->status >= 200 && rep->status < 300)
		rd.out_fd = rq->stream_fd;
	r = chunked ? rd_chunked(&rd, err) : rd_body(&rd, length, err);
	if (r < 0)
		return r;
	pc_buf_append(&rep->body, "", 0);
	return 0;
}
