/* The run's control socket (box/control.h): `pincer run --control PATH`
 * serves it from the box's event loop and starts the processes asked for
 * in the sandbox (sandbox_exec), one per connection; a warm run's agent
 * too, when its start comes (sandbox_start_agent).
 *
 * Nothing from the socket is trusted: the peer's uid is checked, every
 * record parsed strictly, every string checked for length and NUL bytes,
 * every descriptor checked to be a pipe. What reaches the sandbox are the
 * three pipes and the strings, nothing else.
 */
#include "box/control.h"
#include "box/internal.h"
#include "gate/gate.h"
#include "gate/stats.h"
#include "sandbox/sandbox.h"
#include "vault/vault.h"

#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

_Static_assert(CONTROL_MAX_EXECS <= SANDBOX_MAX_EXECS, "the sandbox tracks fewer execs");

#define CONTROL_CONNS_MAX  (2 * CONTROL_MAX_EXECS) /* connections open at once */
#define CONTROL_BY_MAX	   256			   /* bytes of "by" */
#define CONTROL_NAME_MAX   256			   /* bytes of a start's "agent" */
#define CONTROL_POLICY_MAX (4 << 20)		   /* a start's policy_file, read */

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

/* A warm run's start (control.h, "warm runs"): what it gave, kept for the
 * rest of the run (the run's configuration points here). */
struct control_start {
	bool taken;		   /* one start only: the next is refused */
	struct control_conn *conn; /* waiting for PID 1's word, until answered */
	bool finished;		   /* what could wait for PID 1's word is done */
	char *agent, *identity, *status_file, *policy_file, *stats_file;
	char *control, *cmd; /* until finished */
	struct gate_stats *stats;
	struct audit_log *log; /* counting into stats */
	char **roots;	       /* what the policy shows the agent (host paths) */
};

struct control {
	int fd;	   /* listening */
	int dirfd; /* O_PATH of the socket's folder */
	char *name;
	dev_t dev; /* the socket file we made: removed at the end if still it */
	ino_t ino;
	uid_t uid;	    /* the run's: the only peer let in */
	struct box_loop *L; /* while attached */
	bool detaching;
	struct control_start start;
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
	struct control_start *w = &c->start;
	if (w->stats) {
		audit_count_into(w->log, NULL);
		gate_stats_close(w->stats);
	}
	free(w->agent);
	free(w->identity);
	free(w->status_file);
	free(w->policy_file);
	free(w->stats_file);
	free(w->control);
	free(w->cmd);
	pc_strv_free(w->roots);
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
	if (c->start.conn == k)
		c->start.conn = NULL;
	box_approvals_gone(c->L, k->fd);
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
	/* an unclaimed warm run whose daemon is gone (its last connection
	 * closed): the sandbox ends, and the run with it */
	if (c->L && !c->detaching && c->L->claim && !c->start.taken && !c->n_conns)
		sandbox_kill(c->L->sb);
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

static void on_agent(struct control *c, const struct sandbox_exec_report *rep);

static void on_exec(const struct sandbox_exec_report *rep, void *arg)
{
	struct control *c = arg;
	if (rep->id == SANDBOX_AGENT_ID) {
		on_agent(c, rep);
		return;
	}
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
	if (c->L->claim && !c->L->claimed) {
		refuse(k, NULL, NULL, true, "the agent has not started");
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
		if (fstat(fds[i], &st) < 0 || !pc_fd_is_anon_pipe(fds[i])) {
			refuse(k, argv_text, by, true,
			       "%s is %s: only pipes may be stdin, stdout and stderr (no terminal, "
			       "file, directory, socket or named FIFO enters the sandbox)",
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
	if (!k->x) {
		refuse(k, NULL, NULL, false, "no process to signal: it has not started");
		return;
	}
	/* by its id, also before its start was reported here: PID 1 reads
	 * the exec and then the signal from one socket, in that order, and
	 * knows the process by then (the process may well have written to
	 * its client already: a signal refused then was lost) */
	sandbox_exec_signal(k->c->L->sb, k->x->id, (int)sig);
}

/* ---- a warm run's start ---------------------------------------------------- */

/* A string field of the start: absent is fine unless required; else
 * 1..max bytes, no NUL, and a path must be absolute. */
static bool start_string(json_t *v, const char *key, bool path, size_t max, const char **out,
			 char *why, size_t n)
{
	*out = NULL;
	if (!v)
		return true;
	const char *s = plain_string(v);
	if (!s || !*s || strlen(s) > max || (path && s[0] != '/')) {
		snprintf(why, n, "%s must be %s (1 to %zu bytes, no NUL)", key,
			 path ? "an absolute path" : "a string", max);
		return false;
	}
	*out = s;
	return true;
}

/* Host paths the policy shows the agent: its grants as they resolve, and
 * the system folders as named (grants.c looks at them the same way). */
static char **agent_roots(const struct policy *p)
{
	char **roots = NULL;
	const struct pc_path *lists[] = {p->fs.read_write, p->fs.read_only};
	const size_t counts[] = {p->fs.n_read_write, p->fs.n_read_only};
	for (size_t l = 0; l < PC_ARRAY_SIZE(lists); l++)
		for (size_t i = 0; i < counts[l]; i++) {
			_cleanup_free_ char *r = realpath(lists[l][i].path, NULL);
			if (r)
				pc_strv_push(&roots, r);
		}
	for (size_t i = 0; i < p->fs.n_system; i++)
		pc_strv_push(&roots, p->fs.system[i].path);
	return roots;
}

/* Is path (its folder resolved) in the agent's view? A cold run hides its
 * stats file and control socket from the sandbox; a warm one learns them
 * only now, so a policy that would show them is refused here. */
static const char *in_view(const struct control *c, const char *path)
{
	_cleanup_free_ char *dir = pc_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	_cleanup_free_ char *real = realpath(dir, NULL);
	if (!real)
		return NULL; /* nothing can be made there either */
	for (char **r = c->start.roots; r && *r; r++) {
		size_t n = strlen(*r);
		if (strcmp(*r, "/") == 0 ||
		    (strncmp(real, *r, n) == 0 && (real[n] == '\0' || real[n] == '/')))
			return *r;
	}
	return NULL;
}

/* The control socket, renamed to path (the same filesystem): removed from
 * there at the end. */
static int control_move(struct control *c, const char *path, struct pc_error *err)
{
	_cleanup_free_ char *dir = pc_xstrdup(path);
	char *slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	const char *name = path + (slash - dir) + 1;
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return pc_error(err, EINVAL, "control %s: not a file name", path);
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return pc_error_errno(err, errno, "control %s: its folder", path);
	if (renameat(c->dirfd, c->name, dfd, name) < 0) {
		int e = errno;
		close(dfd);
		return pc_error_errno(err, e, "control %s: rename the socket there", path);
	}
	close(c->dirfd);
	c->dirfd = dfd;
	free(c->name);
	c->name = pc_xstrdup(name);
	return 0;
}

/* The start refused: said, recorded, and (unless a start was taken
 * before) the warm run ends. */
_printf_(4, 5) static void start_refuse(struct control_conn *k, const char *agent, const char *argv,
					const char *fmt, ...)
{
	struct control *c = k->c;
	char why[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	send_json(k->fd, json_pack("{s:s}", "error", why));
	bool ends = c->L->claim && !c->start.taken; /* else: changes nothing */
	_cleanup_free_ char *reason =
		pc_xasprintf("start refused: %s%s", why, ends ? "; the warm run ends" : "");
	const struct audit_field f[] = {AUDIT_STR("argv", argv ? argv : "-")};
	struct pc_error err = {0};
	if (audit_write(c->L->log, AUDIT_EXEC, agent ? agent : c->L->agent, c->L->run, AUDIT_DENY,
			reason, f, argv ? 1 : 0, &err) < 0)
		pc_warn("audit: %s", err.msg);
	conn_close(k);
	if (ends) {
		c->start.taken = true;
		c->L->start_failed = true;
		sandbox_kill(c->L->sb);
	}
}

/* The part of a start that can wait until PID 1 has its request (the
 * CPU is PID 1's meanwhile): the stats file, the socket's new place, the
 * wall time, the deferred records. */
static void start_finish(struct control *c)
{
	struct box_loop *L = c->L;
	struct control_start *st = &c->start;
	const struct policy *p = L->bc->policy;
	struct pc_error err = {0};
	if (st->finished)
		return;
	st->finished = true;
	if (st->stats_file) {
		if (gate_stats_open(st->stats_file, &st->stats, &err) < 0) {
			pc_warn("%s", err.msg);
		} else {
			st->log = L->log;
			audit_count_into(L->log, &st->stats->audit_records);
			gate_set_stats(L->gate, st->stats);
			L->stats = st->stats;
		}
	}
	if (st->control && control_move(c, st->control, &err) < 0)
		pc_warn("%s", err.msg);
	L->start_ns = pc_now_ns();
	if (L->wall_ms) {
		struct timeval tv = {(time_t)(L->wall_ms / 1000),
				     (suseconds_t)(L->wall_ms % 1000) * 1000};
		evtimer_add(L->ev_term, &tv);
	}
	if (box_record_start(L->log, L->agent, L->run, p,
			     st->policy_file ? st->policy_file : p->file, st->cmd, st->identity,
			     L->icpt->creds, &err) < 0)
		pc_warn("audit: %s", err.msg);
	box_record_notes(L->log, L->agent, L->run, L->sb);
}

/* PID 1's word on the agent asked for by the start. */
static void on_agent(struct control *c, const struct sandbox_exec_report *rep)
{
	struct control_conn *k = c->start.conn;
	c->start.conn = NULL;
	start_finish(c);
	if (rep->event == SANDBOX_EXEC_STARTED) {
		if (k) {
			send_json(k->fd, json_pack("{s:i}", "started", (int)rep->pid));
			conn_close(k);
		}
		return;
	}
	if (rep->event != SANDBOX_EXEC_REFUSED)
		return;
	/* PID 1 ends the sandbox; run.end follows with the status */
	_cleanup_free_ char *reason = pc_xasprintf("the agent did not start: %s", rep->why);
	struct pc_error err = {0};
	if (audit_write(c->L->log, AUDIT_EXEC, c->L->agent, c->L->run, AUDIT_DENY, reason, NULL, 0,
			&err) < 0)
		pc_warn("audit: %s", err.msg);
	pc_warn("%s", reason);
	if (k) {
		send_json(k->fd, json_pack("{s:s}", "error", rep->why));
		conn_close(k);
	}
}

static void op_start(struct control_conn *k, json_t *j, const int *fds, size_t nfd)
{
	struct control *c = k->c;
	struct box_loop *L = c->L;
	struct control_start *st = &c->start;
	if (!L->claim || st->taken) {
		start_refuse(k, NULL, NULL, "%s",
			     L->claim ? "the agent has started already (one start per run)"
				      : "not a warm run (pincer run --warm): its agent started "
					"with it");
		return;
	}
	json_t *argv_j = NULL, *env_j = NULL, *v[6] = {NULL};
	const char *op;
	json_error_t je;
	if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s, s:o, s?o, s:o, s?o, s?o, s?o, s?o, s?o}",
			   "op", &op, "argv", &argv_j, "env", &env_j, "agent", &v[0], "as", &v[1],
			   "status_file", &v[2], "policy_file", &v[3], "control", &v[4], "stats",
			   &v[5]) < 0) {
		start_refuse(k, NULL, NULL, "bad start request: %s", je.text);
		return;
	}
	const char *agent, *as, *status_file, *policy_file, *control, *stats;
	char why[600];
	if (!start_string(v[0], "agent", false, CONTROL_NAME_MAX, &agent, why, sizeof(why)) ||
	    !start_string(v[1], "as", false, CONTROL_NAME_MAX, &as, why, sizeof(why)) ||
	    !start_string(v[2], "status_file", true, PATH_MAX, &status_file, why, sizeof(why)) ||
	    !start_string(v[3], "policy_file", true, PATH_MAX, &policy_file, why, sizeof(why)) ||
	    !start_string(v[4], "control", true, PATH_MAX, &control, why, sizeof(why)) ||
	    !start_string(v[5], "stats", true, PATH_MAX, &stats, why, sizeof(why))) {
		start_refuse(k, NULL, NULL, "%s", why);
		return;
	}
	_cleanup_free_ char *argv_text = json_dumps(argv_j, JSON_COMPACT | JSON_ENCODE_ANY);
	_cleanup_free_ char **argv = string_list(argv_j, "argv", false, why, sizeof(why));
	_cleanup_free_ char **env = NULL;
	if (argv && (!argv[0] || !argv[0][0]))
		snprintf(why, sizeof(why), "argv must be a non-empty list, argv[0] not empty");
	if (!argv || !argv[0] || !argv[0][0] ||
	    (env_j && !(env = string_list(env_j, "env", true, why, sizeof(why))))) {
		start_refuse(k, agent, argv_text, "%s", why);
		return;
	}
	if (as && !vault_valid_identity(as)) {
		start_refuse(k, agent, argv_text,
			     "as %s: not an identity (a user name, group:NAME or agent:NAME)", as);
		return;
	}
	if (nfd != 3) {
		start_refuse(k, agent, argv_text,
			     "start takes three descriptors (stdin, stdout, stderr), not %zu", nfd);
		return;
	}
	/* the file reloads will read must be the policy this run was built for */
	const struct policy *p = L->bc->policy;
	if (policy_file) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		char hash[65];
		struct pc_error err = {0};
		if (pc_read_file(policy_file, CONTROL_POLICY_MAX, &text, &len, &err) < 0) {
			start_refuse(k, agent, argv_text, "policy_file: %s", err.msg);
			return;
		}
		pc_sha256_hex(text, len, hash);
		if (strcmp(hash, p->hash) != 0) {
			start_refuse(k, agent, argv_text,
				     "policy_file %s has sha256 %.12s, the run was warmed with "
				     "policy sha256 %.12s",
				     policy_file, hash, p->hash);
			return;
		}
	}
	const char *paths[] = {control, stats}, *keys[] = {"control", "stats"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(paths); i++) {
		const char *root = paths[i] ? in_view(c, paths[i]) : NULL;
		if (root) {
			start_refuse(k, agent, argv_text,
				     "%s %s would be in the agent's view (the policy shows it %s): "
				     "pincer's own state must not be",
				     keys[i], paths[i], root);
			return;
		}
	}
	/* the secrets of whom the agent works for: all or nothing */
	struct pc_error err = {0};
	if (box_intercept_creds(L->icpt, p, as, &err) < 0) {
		start_refuse(k, agent, argv_text, "%s", err.msg);
		return;
	}
	if (L->icpt->creds)
		gate_set_creds(L->gate, L->icpt->creds);
	_cleanup_strv_ char **envp = box_environment(p, env, false);
	box_intercept_env(L->icpt, &envp);
	if (sandbox_start_agent(L->sb, argv, envp, fds, &err) < 0) {
		start_refuse(k, agent, argv_text, "%s", err.msg);
		return;
	}

	/* Asked for: from here on it is an ordinary run. The agent's output
	 * is ours too. */
	st->taken = true;
	st->conn = k;
	L->claimed = true;
	if (!L->claim->die_with_parent) { /* --survive-parent: from now on */
		prctl(PR_SET_PDEATHSIG, 0);
		L->parent = 0;
	}
	(void)dup2(fds[1], STDOUT_FILENO);
	(void)dup2(fds[2], STDERR_FILENO);
	st->agent = pc_xstrdup(agent);
	st->identity = as ? pc_xstrdup(as) : NULL;
	st->status_file = status_file ? pc_xstrdup(status_file) : NULL;
	st->policy_file = policy_file ? pc_xstrdup(policy_file) : NULL;
	st->stats_file = stats ? pc_xstrdup(stats) : NULL;
	struct box_config *bc = L->claim;
	bc->agent = L->agent = st->agent;
	bc->identity = st->identity;
	bc->status_file = st->status_file;
	bc->stats_file = st->stats_file;
	if (st->policy_file)
		bc->policy_file = st->policy_file;
	gate_set_agent(L->gate, st->agent);
	st->control = control ? pc_xstrdup(control) : NULL;
	st->cmd = box_join_argv(argv);
	/* the rest once PID 1 has answered (on_agent) */
}

/* approvals (control.h): subscribe and decide, answered by approvals.c;
 * the connection stays open for the next record. */
static void op_approvals(struct control_conn *k, json_t *j, size_t nfd)
{
	char why[600];
	if (nfd)
		refuse(k, NULL, NULL, false, "subscribe and decide take no descriptors");
	else if (box_approvals_op(k->c->L, k->fd, j, why, sizeof(why)) < 0)
		refuse(k, NULL, NULL, false, "%s", why);
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
	else if (strcmp(op, "start") == 0)
		op_start(k, j, fds, nfd);
	else if (strcmp(op, "subscribe") == 0 || strcmp(op, "decide") == 0)
		op_approvals(k, j, nfd);
	else
		refuse(k, NULL, NULL, true,
		       "unknown op (\"exec\", \"signal\", \"start\", \"subscribe\" or "
		       "\"decide\")");
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
	if (L->claim && !c->start.roots) {
		/* now, not on the start's path: what the policy shows the
		 * agent, and jansson's hash seed (it reads /dev/urandom) */
		c->start.roots = agent_roots(L->bc->policy);
		json_object_seed(0);
	}
	event_add(c->ev_accept, NULL);
	return 0;
}

void control_detach(struct control *c)
{
	if (!c->L)
		return;
	if (c->start.taken && c->L->claimed)
		start_finish(c); /* the sandbox ended before PID 1 answered */
	c->detaching = true;
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
	c->detaching = false;
}
