/* The exec socket (daemon.h, "exec"): `pincer agent exec` hands the daemon
 * three pipes and a command; the daemon decides whether the caller may,
 * then forwards them to the agent's run (its control socket, box/control.h)
 * and relays the records both ways. The pipes go to the run as they came:
 * the daemon never reads the exec'd process's input or output. */
#include "daemon/internal.h"
#include "box/control.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define EXEC_FIRST_S	   5   /* to send the request after connecting */
#define EXEC_CONNS_MAX	   512 /* relayed at once, daemon-wide */
#define EXEC_CONNS_PER_UID 16  /* and per caller: one user cannot starve others */

struct exec_conn {
	struct exec_server *srv;
	uid_t uid;
	int client, run;
	struct event *ev_client, *ev_run, *ev_timeout;
	struct exec_conn *prev, *next;
};

struct exec_server {
	struct daemon *d;
	char *path;
	struct evconnlistener *listener;
	struct exec_conn *conns;
	size_t n_conns;
	uint64_t refused_ns; /* the last busy refusal recorded */
};

static void conn_free(struct exec_conn *c)
{
	struct exec_server *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	if (c->ev_client)
		event_free(c->ev_client);
	if (c->ev_run)
		event_free(c->ev_run);
	if (c->ev_timeout)
		event_free(c->ev_timeout);
	if (c->client >= 0)
		close(c->client);
	/* the run kills the process when its connection closes */
	if (c->run >= 0)
		close(c->run);
	free(c);
}

static void send_json(int fd, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text)
		(void)send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
	free(text);
}

/* Refuse and close: {"error": ..., "status": N}. */
_printf_(3, 4) static void refuse(struct exec_conn *c, int status, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_json(c->client, json_pack("{s:s, s:i}", "error", msg, "status", status));
	conn_free(c);
}

/* run -> client: each record as it came (the run speaks the contract). */
static void on_run(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct exec_conn *c = arg;
	char buf[CONTROL_MSG_MAX];
	ssize_t n = pc_recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	if (send(c->client, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		conn_free(c); /* a client that does not read loses its exec */
}

/* client -> run: only {"op": "signal", "signal": N} while it runs. */
static void on_client(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct exec_conn *c = arg;
	char buf[1024];
	int fds[8];
	size_t nfd = PC_ARRAY_SIZE(fds);
	ssize_t n = pc_recv_fds(fd, buf, sizeof(buf) - 1, fds, &nfd);
	for (size_t i = 0; i < nfd; i++)
		close(fds[i]);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		conn_free(c); /* closing kills the exec'd process */
		return;
	}
	buf[n] = '\0';
	json_error_t je;
	json_t *j = json_loads(buf, JSON_REJECT_DUPLICATES, &je);
	json_int_t sig = 0;
	const char *op = NULL;
	bool ok = j && json_unpack(j, "{s:s, s:I !}", "op", &op, "signal", &sig) == 0 &&
		  strcmp(op, "signal") == 0 && sig > 0 && sig < 65 && nfd == 0;
	json_decref(j);
	if (!ok) {
		refuse(c, 400,
		       "while the command runs only {\"op\": \"signal\", \"signal\": N} may be "
		       "sent");
		return;
	}
	send_json(c->run, json_pack("{s:s, s:I}", "op", "signal", "signal", sig));
}

/* The run's control socket; its path may be longer than a sockaddr_un
 * holds (state folder + a 64-byte name): reached through its folder's fd. */
int daemon_connect_run(const struct agent *a, struct pc_error *err)
{
	_cleanup_free_ char *dir = agent_dir(a);
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return pc_error_errno(err, -errno, "agent %s: its folder", a->name);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/control.sock", dfd);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pc_error_errno(err, -errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return pc_error_errno(err, -errno, "agent %s: its run's control socket", a->name);
	/* it must be the run we started (our uid), not a socket put there */
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.uid != geteuid() ||
	    cr.pid != a->pid)
		return pc_error(err, -EPERM, "agent %s: its control socket is not its run's",
				a->name);
	return pc_steal_fd(&fd);
}

static bool strings(const json_t *arr, bool may_be_empty)
{
	if (!json_is_array(arr) || (!may_be_empty && json_array_size(arr) == 0))
		return false;
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) if (!json_is_string(v)) return false;
	return true;
}

static void on_request(evutil_socket_t fd, short what, void *arg)
{
	struct exec_conn *c = arg;
	struct daemon *d = c->srv->d;
	if (what & EV_TIMEOUT) {
		refuse(c, 400, "no request within %d s", EXEC_FIRST_S);
		return;
	}
	/* one byte more than a record may hold: a longer one shows as too long */
	_cleanup_free_ char *buf = pc_xmalloc(CONTROL_MSG_MAX + 2);
	int fds[8];
	size_t nfd = PC_ARRAY_SIZE(fds);
	ssize_t n = pc_recv_fds(fd, buf, CONTROL_MSG_MAX + 1, fds, &nfd);
	if (n == -EAGAIN)
		return;
	int io[3] = {-1, -1, -1};
	for (size_t i = 0; i < nfd; i++) {
		if (i < 3)
			io[i] = fds[i];
		else
			close(fds[i]);
	}
	if (n <= 0) {
		for (int i = 0; i < 3; i++)
			if (io[i] >= 0)
				close(io[i]);
		conn_free(c);
		return;
	}
	buf[n] = '\0';
	event_free(c->ev_client);
	c->ev_client = NULL;

	struct ucred cr;
	socklen_t cl = sizeof(cr);
	_cleanup_free_ char *identity = NULL;
	const char *why = NULL, *name = NULL;
	int status = 400;
	json_error_t je;
	json_t *j = NULL, *argv = NULL, *env = NULL;
	const char *op = NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
		why = "who is calling cannot be told (no peer credentials)";
		status = 403;
	} else if (!daemon_peer_local(fd)) {
		_cleanup_free_ char *who = daemon_identity(d, cr.uid);
		daemon_audit_refusal(d, who, cr.uid, "use the daemon from inside a sandbox", NULL,
				     "exec");
		why = "the daemon does not answer callers inside a sandbox (another user "
		      "namespace)";
		status = 403;
	} else if (n > CONTROL_MSG_MAX || memchr(buf, '\0', (size_t)n)) {
		why = "the request is too long (64 KiB at most) or not text";
	} else if (!(j = json_loads(buf, JSON_REJECT_DUPLICATES, &je)) || !json_is_object(j)) {
		why = "the request is not a JSON object";
	} else if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s, s:s, s:o, s?o}", "op", &op, "agent",
				  &name, "argv", &argv, "env", &env) < 0) {
		why = je.text[0] ? je.text : "bad request";
	} else if (strcmp(op, "exec") != 0) {
		why = "unknown op (only \"exec\" starts a request)";
	} else if (!strings(argv, false)) {
		why = "argv must be a non-empty list of strings";
	} else if (env && !strings(env, true)) {
		why = "env must be a list of \"NAME=value\" strings";
	} else if (nfd != 3) {
		why = "exec takes three pipes (stdin, stdout, stderr) with the request";
	}
	if (!why)
		identity = daemon_identity(d, cr.uid);
	for (int i = 0; !why && i < 3; i++) {
		struct stat st;
		if (fstat(io[i], &st) < 0 || !pc_fd_is_anon_pipe(io[i])) {
			why = "only pipes may be given as stdin, stdout and stderr (no terminal, "
			      "file, socket or named FIFO enters a sandbox)";
			daemon_audit_refusal(d, identity, cr.uid,
					     "exec with a descriptor that is not a pipe", name,
					     "exec");
		}
	}
	char je_text[sizeof(je.text) + 64];
	if (why == je.text) {
		snprintf(je_text, sizeof(je_text), "bad request: %s", je.text);
		why = je_text;
	}
	struct agent *a = NULL;
	bool admin = false;
	if (!why) {
		admin = daemon_is_admin(d, identity);
		a = agent_find(d, name);
		if (!a || !daemon_may_steer(a, identity, admin)) {
			if (a) /* someone else's: the same answer, but recorded */
				daemon_audit_refusal(d, identity, cr.uid, "exec in another's agent",
						     name, "exec");
			why = "no such agent";
			status = 404;
		} else if (a->state != AG_RUNNING || !a->pid) {
			why = "the agent is not running (start it first)";
			status = 409;
		}
	}
	struct pc_error err = {0};
	if (!why && (c->run = daemon_connect_run(a, &err)) < 0) {
		why = err.code == -ENOENT || err.code == -ECONNREFUSED
			      ? "the agent's sandbox is still starting; try again"
			      : err.msg;
		status = 409;
	}
	if (!why) {
		json_t *fwd =
			json_pack("{s:s, s:O, s:s}", "op", "exec", "argv", argv, "by", identity);
		if (env)
			json_object_set(fwd, "env", env);
		char *text = json_dumps(fwd, JSON_COMPACT);
		json_decref(fwd);
		int r = text ? pc_send_fds(c->run, text, strlen(text), io, 3) : -ENOMEM;
		free(text);
		if (r < 0) {
			why = "the agent's run did not take the request";
			status = 409;
		}
	}
	json_decref(j);
	for (int i = 0; i < 3; i++)
		if (io[i] >= 0)
			close(io[i]);
	if (why) {
		refuse(c, status, "%s", why);
		return;
	}
	event_del(c->ev_timeout);
	c->ev_run = event_new(d->base, c->run, EV_READ | EV_PERSIST, on_run, c);
	c->ev_client = event_new(d->base, c->client, EV_READ | EV_PERSIST, on_client, c);
	event_add(c->ev_run, NULL);
	event_add(c->ev_client, NULL);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	(void)l;
	(void)sa;
	(void)len;
	struct exec_server *s = arg;
	struct ucred cr = {.uid = (uid_t)-1};
	socklen_t cl = sizeof(cr);
	size_t mine = 0;
	bool known = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0;
	for (struct exec_conn *o = s->conns; known && o; o = o->next)
		mine += o->uid == cr.uid;
	if (!known || s->n_conns >= EXEC_CONNS_MAX || mine >= EXEC_CONNS_PER_UID) {
		static const char busy[] = "{\"error\":\"too many exec connections at once; try "
					   "again\",\"status\":409}";
		(void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		/* at most one record a second: a flood must not flood the log */
		uint64_t now = pc_now_ns();
		if (known && mine >= EXEC_CONNS_PER_UID && now - s->refused_ns > 1000000000ULL) {
			s->refused_ns = now;
			_cleanup_free_ char *who = daemon_identity(s->d, cr.uid);
			daemon_audit_refusal(s->d, who, cr.uid,
					     "hold more than 16 exec connections at once", NULL,
					     "exec");
		}
		return;
	}
	struct exec_conn *c = pc_xcalloc(1, sizeof(*c));
	c->srv = s;
	c->uid = cr.uid;
	c->client = fd;
	c->run = -1;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	c->ev_client = event_new(s->d->base, fd, EV_READ | EV_PERSIST, on_request, c);
	c->ev_timeout = evtimer_new(s->d->base, on_request, c); /* what: EV_TIMEOUT */
	struct timeval tv = {EXEC_FIRST_S, 0};
	event_add(c->ev_client, NULL);
	event_add(c->ev_timeout, &tv);
}

int exec_start(struct daemon *d, struct pc_error *err)
{
	struct exec_server *s = pc_xcalloc(1, sizeof(*s));
	s->d = d;
	s->path = pc_xasprintf("%s.exec", d->socket);
	int fd = daemon_listen(s->path, SOCK_SEQPACKET, err);
	if (fd < 0) {
		free(s->path);
		free(s);
		return fd;
	}
	s->listener = evconnlistener_new(d->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!s->listener) {
		close(fd);
		int r = pc_error(err, -ENOMEM, "listen on %s", s->path);
		free(s->path);
		free(s);
		return r;
	}
	evconnlistener_set_error_cb(s->listener, daemon_accept_error);
	d->exec = s;
	return 0;
}

void exec_stop(struct daemon *d)
{
	struct exec_server *s = d->exec;
	if (!s)
		return;
	while (s->conns)
		conn_free(s->conns);
	evconnlistener_free(s->listener);
	unlink(s->path);
	free(s->path);
	free(s);
	d->exec = NULL;
}
