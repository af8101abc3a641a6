/* The run's control socket (box/control.h): `pincer run --control PATH`
 * serves it from the box's event loop and starts the processes asked for
 * in the sandbox (sandbox_exec), one per connection.
 *
 * Nothing from the socket is trusted: the peer's uid is checked, every
 * record parsed strictly, every string checked for length and NUL bytes,
 * every descriptor checked to be a pipe. What reaches the sandbox are the
 * three pipes and the strings, nothing else.
 */
#include "box/control.h"
#include "box/internal.h"
#include "sandbox/sandbox.h"

#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

_Static_assert(CONTROL_MAX_EXECS <= SANDBOX_MAX_EXECS, "the sandbox tracks fewer execs");

#define CONTROL_CONNS_MAX (2 * CONTROL_MAX_EXECS) /* connections open at once */
#define CONTROL_BY_MAX	  256			  /* bytes of "by" */

struct control_conn;

/* One exec, from the request until its end is reported (id 0: a free slot). */
struct control_exec {
	uint32_t id;
	pid_t pid;		   /* inside; 0 until started */
	char *argv;		   /* JSON text, for the audit records */
	char *by;		   /* who asked */
	struct control_conn *conn; /* NULL once its client has gone */
	bool abandoned;		   /* its client closed the connection: killed */
};

struct control_conn {
	struct control *c;
	int fd;
	struct event *ev;
	struct control_exec *x; /* its exec, once asked for */
	struct control_conn *prev, *next;
};

struct control {
	int fd;	   /* listening */
	int dirfd; /* O_PATH of the socket's folder */
	char *name;
	dev_t dev; /* the socket file we made: removed at the end if still it */
	ino_t ino;
	uid_t uid;	    /* the run's: the only peer let in */
	struct box_loop *L; /* while attached */
	struct event *ev_accept, *ev_pause;
	struct control_conn *conns;
	size_t n_conns;
	uint32_t last_id;
	struct control_exec execs[CONTROL_MAX_EXECS];
	char buf[CONTROL_MSG_MAX + 1]; /* one byte more: a longer record shows */
};

/* ---- the socket ---------------------------------------------------------- */

/* PATH may be longer than a sockaddr_un holds: it is reached through its
 * folder's fd. */
static int socket_addr(const struct control *c, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", c->dirfd,
			 c->name);
	return n > 0 && (size_t)n < sizeof(sa->sun_path) ? 0 : -ENAMETOOLONG;
}

int control_open(const char *path, struct control **out, struct pc_error *err)
{
	_cleanup_(control_freep) struct control *c = pc_xcalloc(1, sizeof(*c));
	c->fd = c->dirfd = -1;
	c->uid = geteuid();
	_cleanup_free_ char *dir = pc_xstrdup(path);
	char *slash = strrchr(dir, '/');
	c->name = pc_xstrdup(slash ? slash + 1 : path);
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	if (!*c->name || strcmp(c->name, ".") == 0 || strcmp(c->name, "..") == 0)
		return pc_error(err, EINVAL, "--control %s: not a file name", path);
	c->dirfd = open(slash ? dir : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0)
		return pc_error_errno(err, errno, "--control %s: its folder", path);
	struct sockaddr_un sa;
	if (socket_addr(c, &sa) < 0)
		return pc_error(err, ENAMETOOLONG, "--control %s: the name is too long", path);

	/* a socket left by a run that died is replaced; a live one stays */
	struct stat st;
	if (fstatat(c->dirfd, c->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return pc_error(err, EEXIST, "--control %s exists and is not a socket",
					path);
		_cleanup_close_ int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return pc_error(err, EADDRINUSE, "--control %s: a run listens there", path);
		if (unlinkat(c->dirfd, c->name, 0) < 0 && errno != ENOENT)
			return pc_error_errno(err, errno, "--control %s: remove the old socket",
					      path);
	}
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return pc_error_errno(err, errno, "socket");
	/* the mode comes with the bind: never a moment others could connect */
	mode_t old = umask(0177);
	int r = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return pc_error_errno(err, errno, "--control %s: bind", path);
	if (fstatat(c->dirfd, c->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	if (listen(c->fd, 16) < 0)
		return pc_error_errno(err, errno, "--control %s: listen", path);
	*out = pc_steal_ptr(&c);
	return 0;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	if (c->L)
		control_detach(c);
	struct stat st;
	if (c->fd >= 0 && c->ino && fstatat(c->dirfd, c->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == c->dev && st.st_ino == c->ino)
		unlinkat(c->dirfd, c->name, 0);
	if (c->fd >= 0)
		close(c->fd);
	if (c->dirfd >= 0)
		close(c->dirfd);
	free(c->name);
	free(c);
}

/* ---- records and audit ----------------------------------------------------- */

static void send_json(int fd, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text)
		(void)send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
	free(text);
}

static void audit_exec(struct control *c, enum audit_decision d, const char *reason,
		       const char *argv, const char *by, pid_t pid, const char *end_key, int end)
{
	struct audit_field f[4];
	size_t n = 0;
	if (argv)
		f[n++] = AUDIT_STR("argv", argv);
	f[n++] = AUDIT_STR("by", by ? by : "-");
	if (pid)
		f[n++] = AUDIT_NUM("pid", pid);
	if (end_key)
		f[n++] = AUDIT_NUM(end_key, end);
	struct pc_error err = {0};
	if (audit_write(c->L->log, AUDIT_EXEC, c->L->agent, c->L->run, d, reason, f, n, &err) < 0)
		pc_warn("audit: %s", err.msg);
}

static void exec_forget(struct control_exec *x)
{
	if (x->conn)
		x->conn->x = NULL;
	free(x->argv);
	free(x->by);
	*x = (struct control_exec){0};
}

/* Read what the client sent and we will not serve: a socket closed with
 * records unread makes the client see a reset before our last record. */
static void drain(struct control *c, int fd)
{
	for (int i = 0; i < 16; i++) {
		int fds[8];
		size_t nfd = PC_ARRAY_SIZE(fds);
		ssize_t n = pc_recv_fds(fd, c->buf, sizeof(c->buf), fds, &nfd);
		for (size_t j = 0; j < nfd; j++)
			close(fds[j]);
		if (n <= 0)
			return;
	}
}

static void conn_close(struct control_conn *k)
{
	struct control *c = k->c;
	struct control_exec *x = k->x;
	if (x) {
		/* closing kills its process group: at once if it runs, as soon
		 * as it starts otherwise */
		x->conn = NULL;
		x->abandoned = true;
		if (x->pid)
			sandbox_exec_signal(c->L->sb, x->id, SIGKILL);
	}
	if (k->prev)
		k->prev->next = k->next;
	else
		c->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	c->n_conns--;
	event_free(k->ev);
	drain(c, k->fd);
	close(k->fd);
	free(k);
}

/* {"error": why}, recorded, and the connection closed. */
_printf_(5, 6) static void refuse(struct control_conn *k, const char *argv, const char *by,
				  bool record, const char *fmt, ...)
{
	char why[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	send_json(k->fd, json_pack("{s:s}", "error", why));
	if (record) {
		_cleanup_free_ char *reason = pc_xasprintf("exec refused: %s", why);
		audit_exec(k->c, AUDIT_DENY, reason, argv, by, 0, NULL, 0);
	}
	conn_close(k);
}

/* ---- the sandbox's reports --------------------------------------------------- */

static void on_exec(const struct sandbox_exec_report *rep, void *arg)
{
	struct control *c = arg;
	struct control_exec *x = NULL;
	for (size_t i = 0; !x && i < PC_ARRAY_SIZE(c->execs); i++)
		if (c->execs[i].id == rep->id)
			x = &c->execs[i];
	if (!x)
		return;
	struct control_conn *k = x->conn;
	switch (rep->event) {
	case SANDBOX_EXEC_STARTED: {
		x->pid = rep->pid;
		audit_exec(c, AUDIT_ALLOW, "exec started", x->argv, x->by, x->pid, NULL, 0);
		if (k)
			send_json(k->fd, json_pack("{s:i}", "started", (int)x->pid));
		else if (x->abandoned)
			sandbox_exec_signal(c->L->sb, x->id, SIGKILL);
		return;
	}
	case SANDBOX_EXEC_REFUSED: {
		_cleanup_free_ char *reason = pc_xasprintf("exec refused: %s", rep->why);
		audit_exec(c, AUDIT_DENY, reason, x->argv, x->by, 0, NULL, 0);
		if (k)
			send_json(k->fd, json_pack("{s:s}", "error", rep->why));
		break;
	}
	case SANDBOX_EXEC_EXITED:
	default: {
		const char *key = rep->signaled ? "signal" : "code";
		_cleanup_free_ char *reason =
			rep->signaled
				? pc_xasprintf("exec killed by signal %d (%s)%s", rep->code,
					       sigabbrev_np(rep->code) ? sigabbrev_np(rep->code)
								       : "?",
					       x->abandoned ? "; its client went away" : "")
				: pc_xasprintf("exec exited with %d", rep->code);
		audit_exec(c, AUDIT_NONE, reason, x->argv, x->by, x->pid, key, rep->code);
		if (k)
			send_json(k->fd, json_pack("{s:{s:i}}", "exited", key, rep->code));
		break;
	}
	}
	exec_forget(x); /* the last record: the run closes the connection */
	if (k)
		conn_close(k);
}

/* ---- requests ---------------------------------------------------------------- */

static bool valid_env_name(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return true;
}

/* A JSON string with no NUL in it (jansson allows \u0000). */
static const char *plain_string(const json_t *v)
{
	const char *s = json_string_value(v);
	return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* The list of strings arr as a NULL-terminated vector (pointing into arr),
 * or NULL with why. */
static char **string_list(const json_t *arr, const char *what, bool env, char *why, size_t n)
{
	if (!json_is_array(arr)) {
		snprintf(why, n, "%s must be a list of strings", what);
		return NULL;
	}
	size_t len = json_array_size(arr);
	_cleanup_free_ char **v = pc_xcalloc(len + 1, sizeof(*v));
	for (size_t i = 0; i < len; i++) {
		const char *s = plain_string(json_array_get(arr, i));
		if (!s) {
			snprintf(why, n, "%s[%zu] must be a string without NUL bytes", what, i);
			return NULL;
		}
		const char *eq = env ? strchr(s, '=') : NULL;
		if (env && (!eq || !valid_env_name(s, (size_t)(eq - s)))) {
			snprintf(why, n,
				 "env[%zu] must be NAME=value with NAME made of letters, digits "
				 "and _ (not starting with a digit)",
				 i);
			return NULL;
		}
		v[i] = (char *)s;
	}
	return pc_steal_ptr(&v);
}

static const char *fd_kind(int fd, const struct stat *st)
{
	if (S_ISCHR(st->st_mode))
		return isatty(fd) ? "a terminal" : "a character device";
	if (S_ISSOCK(st->st_mode))
		return "a socket";
	if (S_ISREG(st->st_mode))
		return "a regular file";
	if (S_ISDIR(st->st_mode))
		return "a directory";
	if (S_ISBLK(st->st_mode))
		return "a block device";
	return "not a pipe";
}

static void op_exec(struct control_conn *k, json_t *j, const int *fds, size_t nfd)
{
	struct control *c = k->c;
	json_t *argv_j = NULL, *env_j = NULL, *by_j = NULL;
	const char *op;
	json_error_t je;
	if (k->x) {
		refuse(k, NULL, NULL, true, "one exec per connection");
		return;
	}
	if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s, s:o, s?o, s?o}", "op", &op, "argv", &argv_j,
			   "env", &env_j, "by", &by_j) < 0) {
		refuse(k, NULL, NULL, true, "bad exec request: %s", je.text);
		return;
	}
	const char *by = by_j ? plain_string(by_j) : "-";
	if (!by || !*by || strlen(by) > CONTROL_BY_MAX) {
		refuse(k, NULL, NULL, true, "by must be a name (1 to %d bytes, no NUL)",
		       CONTROL_BY_MAX);
		return;
	}
	_cleanup_free_ char *argv_text = json_dumps(argv_j, JSON_COMPACT | JSON_ENCODE_ANY);
	char why[300];
	_cleanup_free_ char **argv = string_list(argv_j, "argv", false, why, sizeof(why));
	if (!argv) {
		refuse(k, argv_text, by, true, "%s", why);
		return;
	}
	if (!argv[0] || !argv[0][0]) {
		refuse(k, argv_text, by, true, "argv must be a non-empty list, argv[0] not empty");
		return;
	}
	_cleanup_free_ char **env = NULL;
	if (env_j && !(env = string_list(env_j, "env", true, why, sizeof(why)))) {
		refuse(k, argv_text, by, true, "%s", why);
		return;
	}
	if (nfd != 3) {
		refuse(k, argv_text, by, true,
		       "exec takes three pipes (stdin, stdout, stderr) with the request, not %zu "
		       "descriptors",
		       nfd);
		return;
	}
	static const char *const names[] = {"stdin", "stdout", "stderr"};
	for (int i = 0; i < 3; i++) {
		struct stat st;
		if (fstat(fds[i], &st) < 0 || !S_ISFIFO(st.st_mode)) {
			refuse(k, argv_text, by, true,
			       "%s is %s: only pipes may be stdin, stdout and stderr (no terminal, "
			       "file, directory or socket enters the sandbox)",
			       names[i], fd_kind(fds[i], &st));
			return;
		}
	}
	struct control_exec *x = NULL;
	for (size_t i = 0; !x && i < PC_ARRAY_SIZE(c->execs); i++)
		if (!c->execs[i].id)
			x = &c->execs[i];
	if (!x) {
		refuse(k, argv_text, by, true, "too many exec'd processes (%d)", CONTROL_MAX_EXECS);
		return;
	}
	if (++c->last_id == 0)
		c->last_id = 1;
	struct pc_error err = {0};
	if (sandbox_exec(c->L->sb, c->last_id, argv, env, fds, &err) < 0) {
		refuse(k, argv_text, by, true, "%s", err.msg);
		return;
	}
	*x = (struct control_exec){.id = c->last_id,
				   .argv = pc_steal_ptr(&argv_text),
				   .by = pc_xstrdup(by),
				   .conn = k};
	k->x = x;
}

static void op_signal(struct control_conn *k, json_t *j, size_t nfd)
{
	json_int_t sig = 0;
	const char *op;
	json_error_t je;
	if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s, s:I}", "op", &op, "signal", &sig) < 0) {
		refuse(k, NULL, NULL, false, "bad signal request: %s", je.text);
		return;
	}
	if (nfd) {
		refuse(k, NULL, NULL, false, "a signal request takes no descriptors");
		return;
	}
	if (sig < 1 || sig >= NSIG) {
		refuse(k, NULL, NULL, false, "signal %lld is not a signal (1-%d)", (long long)sig,
		       NSIG - 1);
		return;
	}
	if (!k->x || !k->x->pid) {
		refuse(k, NULL, NULL, false, "no process to signal: it has not started");
		return;
	}
	sandbox_exec_signal(k->c->L->sb, k->x->id, (int)sig);
}

static void on_record(struct control_conn *k, size_t n, const int *fds, size_t nfd)
{
	const char *buf = k->c->buf;
	if (n > CONTROL_MSG_MAX) {
		refuse(k, NULL, NULL, true, "a record holds at most %d bytes", CONTROL_MSG_MAX);
		return;
	}
	if (memchr(buf, '\0', n)) {
		refuse(k, NULL, NULL, true, "a record is JSON text, without NUL bytes");
		return;
	}
	json_error_t je;
	json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
	const char *op = json_string_value(json_object_get(j, "op"));
	if (!j || !json_is_object(j))
		refuse(k, NULL, NULL, true, "not a JSON object%s%s", j ? "" : ": ",
		       j ? "" : je.text);
	else if (!op)
		refuse(k, NULL, NULL, true, "the record names no \"op\" (a string)");
	else if (strcmp(op, "exec") == 0)
		op_exec(k, j, fds, nfd);
	else if (strcmp(op, "signal") == 0)
		op_signal(k, j, nfd);
	else
		refuse(k, NULL, NULL, true, "unknown op (\"exec\" or \"signal\")");
	json_decref(j);
}

static void on_conn(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct control_conn *k = arg;
	int fds[8]; /* pc_recv_fds's most */
	size_t nfd = PC_ARRAY_SIZE(fds);
	ssize_t n = pc_recv_fds(fd, k->c->buf, sizeof(k->c->buf), fds, &nfd);
	if (n == -EAGAIN)
		return;
	if (n <= 0)
		conn_close(k); /* the client went away: so does its process */
	else
		on_record(k, (size_t)n, fds, nfd);
	/* the sandbox has its own copies */
	for (size_t i = 0; i < nfd; i++)
		close(fds[i]);
}

static void on_pause_end(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_add(((struct control *)arg)->ev_accept, NULL);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	struct control *c = arg;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* out of fds: pause a second rather than spin */
				struct timeval tv = {1, 0};
				event_del(c->ev_accept);
				event_add(c->ev_pause, &tv);
			}
			return;
		}
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.uid != c->uid) {
			/* root included: only the run's own user steers it */
			send_json(fd, json_pack("{s:s}", "error",
						"only the user the run belongs to may use its "
						"control socket"));
			char why[160];
			snprintf(why, sizeof(why),
				 "control socket: a peer of uid %lld refused (the run is uid %u)",
				 cl == sizeof(cr) ? (long long)cr.uid : -1LL, c->uid);
			struct pc_error err = {0};
			const struct audit_field f[] = {
				AUDIT_NUM("uid", cl == sizeof(cr) ? (long long)cr.uid : -1LL)};
			if (audit_write(c->L->log, AUDIT_EXEC, c->L->agent, c->L->run, AUDIT_DENY,
					why, f, 1, &err) < 0)
				pc_warn("audit: %s", err.msg);
			drain(c, fd);
			close(fd);
			continue;
		}
		if (c->n_conns >= CONTROL_CONNS_MAX) {
			send_json(fd, json_pack("{s:s}", "error", "too many connections"));
			close(fd);
			continue;
		}
		struct control_conn *k = pc_xcalloc(1, sizeof(*k));
		k->c = c;
		k->fd = fd;
		k->ev = event_new(c->L->base, fd, EV_READ | EV_PERSIST, on_conn, k);
		k->next = c->conns;
		if (c->conns)
			c->conns->prev = k;
		c->conns = k;
		c->n_conns++;
		event_add(k->ev, NULL);
	}
}

int control_attach(struct control *c, struct box_loop *L, struct pc_error *err)
{
	c->L = L;
	c->ev_accept = event_new(L->base, c->fd, EV_READ | EV_PERSIST, on_accept, c);
	c->ev_pause = evtimer_new(L->base, on_pause_end, c);
	if (!c->ev_accept || !c->ev_pause) {
		control_detach(c);
		return pc_error(err, ENOMEM, "cannot serve the control socket");
	}
	sandbox_on_exec(L->sb, on_exec, c);
	event_add(c->ev_accept, NULL);
	return 0;
}

void control_detach(struct control *c)
{
	if (!c->L)
		return;
	sandbox_on_exec(c->L->sb, NULL, NULL);
	while (c->conns)
		conn_close(c->conns);
	for (size_t i = 0; i < PC_ARRAY_SIZE(c->execs); i++)
		if (c->execs[i].id)
			exec_forget(&c->execs[i]);
	if (c->ev_accept)
		event_free(c->ev_accept);
	if (c->ev_pause)
		event_free(c->ev_pause);
	c->ev_accept = c->ev_pause = NULL;
	c->L = NULL;
}
