/* The daemon's API: HTTP/1.1 + JSON on a unix socket (libevent's evhttp),
 * the caller known by its peer credentials. The contract is daemon.h. */
#include "daemon/internal.h"
#include "vault/vault.h"
#include "audit/audit.h"
#include "policy/policy.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/queue.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define API_BODY_MAX	(1 << 20)
#define API_HEADERS_MAX 16384
#define API_TIMEOUT_S	10
#define LOG_FOLLOW_MS	200
#define LOG_CHUNK	65536
#define LOG_QUEUE_MAX	(1 << 20) /* a follower's unsent bytes */
#define LOG_REPLY_MAX	(8 << 20) /* a log answer: its last 8 MiB */

struct caller {
	uid_t uid;
	char *identity;
	bool admin;
};

void api_reply_json(struct evhttp_request *req, int code, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, text, strlen(text));
	evbuffer_add(b, "\n", 1);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	static const struct {
		int code;
		const char *text;
	} reasons[] = {{200, "OK"},
		       {201, "Created"},
		       {400, "Bad Request"},
		       {403, "Forbidden"},
		       {404, "Not Found"},
		       {405, "Method Not Allowed"},
		       {409, "Conflict"},
		       {413, "Content Too Large"},
		       {429, "Too Many Requests"},
		       {500, "Internal Server Error"},
		       {503, "Service Unavailable"}};
	const char *reason = "Error";
	for (size_t i = 0; i < PC_ARRAY_SIZE(reasons); i++)
		if (reasons[i].code == code)
			reason = reasons[i].text;
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

void api_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_reply_json(req, code, json_pack("{s:s}", "error", msg));
}

void daemon_audit_refusal(struct daemon *d, const char *identity, uid_t uid, const char *what,
			  const char *agent, const char *path)
{
	char reason[400];
	snprintf(reason, sizeof(reason), "api: %s refused to %s (uid %u)", identity, what,
		 (unsigned)uid);
	struct pc_error err = {0};
	const struct audit_field f[] = {AUDIT_STR("identity", identity), AUDIT_NUM("uid", uid),
					AUDIT_STR("path", path)};
	if (audit_write(d->log, AUDIT_API, agent ? agent : "-", "-", AUDIT_DENY, reason, f,
			PC_ARRAY_SIZE(f), &err) < 0)
		pc_warn("audit: %s", err.msg);
}

static void audit_refusal(struct daemon *d, struct evhttp_request *req, const struct caller *c,
			  const char *what, const char *agent)
{
	daemon_audit_refusal(d, c->identity, c->uid, what, agent, evhttp_request_get_uri(req));
}

/* A refusal is an audit record too. */
static void forbidden(struct daemon *d, struct evhttp_request *req, const struct caller *c,
		      const char *what, const char *agent)
{
	audit_refusal(d, req, c, what, agent);
	api_reply_error(req, 403, "%s may not %s (admins: the daemon's config)", c->identity, what);
}

static json_t *agent_json(const struct agent *a)
{
	json_t *cmd = json_array();
	for (size_t i = 0; a->command[i]; i++)
		json_array_append_new(cmd, json_string(a->command[i]));
	json_t *j =
		json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:I, s:s}", "name", a->name, "user",
			  a->user, "command", cmd, "restart", agent_restart_name(a->restart),
			  "policy_sha256", a->policy_sha256, "state", agent_state_name(a->state),
			  "restarts", (json_int_t)a->restarts, "created", a->created);
	json_object_set_new(j, "pid", a->pid ? json_integer(a->pid) : json_null());
	json_object_set_new(j, "network_revoked", json_boolean(a->revoked));
	json_object_set_new(j, "started", a->started[0] ? json_string(a->started) : json_null());
	json_object_set_new(j, "failed_reason",
			    a->failed_reason ? json_string(a->failed_reason) : json_null());
	json_object_set_new(j, "last_exit",
			    a->has_exit ? json_pack("{s:i, s:i, s:b, s:s}", "code", a->exit_code,
						    "signal", a->exit_signal, "oom", a->exit_oom,
						    "at", a->exit_at)
					: json_null());
	return j;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef PIDFD_GET_USER_NAMESPACE
#define PIDFD_GET_USER_NAMESPACE _IO(0xFF, 9)
#endif

/* Is the peer in our user namespace? A sandbox is not: it has one of its
 * own, where its uid may well be ours (a user's daemon runs its agents as
 * that user), and it must never speak to the daemon as that user. By the
 * peer's pidfd where the kernel has it (no pid reuse race), else by
 * /proc/PID/ns/user; anything that cannot be told is refused. */
bool daemon_peer_local(int fd)
{
	struct stat mine, theirs;
	if (stat("/proc/self/ns/user", &mine) < 0)
		return false;
	int pidfd = -1;
	socklen_t l = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &l) == 0 && pidfd >= 0) {
		int ns = ioctl(pidfd, PIDFD_GET_USER_NAMESPACE, 0);
		close(pidfd);
		if (ns >= 0) {
			int r = fstat(ns, &theirs);
			close(ns);
			return r == 0 && theirs.st_ino == mine.st_ino &&
			       theirs.st_dev == mine.st_dev;
		}
	}
	struct ucred cr;
	l = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 || cr.pid <= 0)
		return false;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/user", cr.pid);
	return stat(path, &theirs) == 0 && theirs.st_ino == mine.st_ino &&
	       theirs.st_dev == mine.st_dev;
}

bool daemon_may_steer(const struct agent *a, const char *identity, bool admin)
{
	return admin || strcmp(a->user, identity) == 0;
}

static bool may_see(const struct caller *c, const struct agent *a)
{
	return daemon_may_steer(a, c->identity, c->admin);
}

/* ---- create ------------------------------------------------------------- */

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= DAEMON_NAME_MAX && s[0] >= 'a' && s[0] <= 'z' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static void create(struct daemon *d, struct evhttp_request *req, const struct caller *c)
{
	if (!c->admin) {
		forbidden(d, req, c, "create agents", NULL);
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *j = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, 0, &jerr);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		api_reply_error(req, 400, "the body is not a JSON object: %s",
				j ? "another JSON value" : jerr.text);
		return;
	}
	static const char *const known[] = {"name",    "policy", "user", "command",
					    "restart", "start",	 NULL};
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v)
	{
		bool ok = false;
		for (size_t i = 0; known[i]; i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok) {
			api_reply_error(
				req, 400,
				"unknown field '%.60s' (name, policy, user, command, restart, "
				"start)",
				key);
			json_decref(j);
			return;
		}
	}
	json_t *name = json_object_get(j, "name"), *pol = json_object_get(j, "policy"),
	       *user = json_object_get(j, "user"), *cmd = json_object_get(j, "command"),
	       *restart = json_object_get(j, "restart"), *start = json_object_get(j, "start");
	const char *bad = NULL;
	enum agent_restart rs = RS_ON_FAILURE;
	if (!json_is_string(name) || !valid_name(json_string_value(name)))
		bad = "name: a string of 1-64 [a-z0-9-], starting with a letter";
	else if (!json_is_string(pol))
		bad = "policy: the policy file's text, a string";
	else if (!json_is_string(user) || !vault_valid_identity(json_string_value(user)))
		bad = "user: an identity (a user name, letters, digits, ._@-)";
	else if (!json_is_array(cmd) || json_array_size(cmd) == 0)
		bad = "command: a non-empty list of strings";
	else if (restart && (!json_is_string(restart) ||
			     agent_restart_parse(json_string_value(restart), &rs) < 0))
		bad = "restart: \"always\", \"on-failure\" or \"never\"";
	else if (start && !json_is_boolean(start))
		bad = "start: true or false";
	size_t i;
	json_array_foreach(cmd, i, v) if (!bad && (!json_is_string(v) || !*json_string_value(v)))
		bad = "command: a non-empty list of non-empty strings";
	if (bad) {
		api_reply_error(req, 400, "%s", bad);
		json_decref(j);
		return;
	}
	const char *nm = json_string_value(name);
	if (agent_find(d, nm)) {
		api_reply_error(req, 409, "agent %s exists already (rm it first)", nm);
		json_decref(j);
		return;
	}
	struct pc_error err = {0};
	struct policy *p = NULL;
	_cleanup_free_ char *label = pc_xasprintf("<policy of agent %s>", nm);
	if (policy_load_string(json_string_value(pol), json_string_length(pol), label, &p, &err) <
	    0) {
		api_reply_error(req, 400, "%s", err.msg);
		json_decref(j);
		return;
	}
	struct agent *a = pc_xcalloc(1, sizeof(*a));
	a->d = d;
	a->pidfd = -1;
	a->name = pc_xstrdup(nm);
	a->user = pc_xstrdup(json_string_value(user));
	a->policy = pc_xstrdup(json_string_value(pol));
	a->policy_sha256 = pc_xstrdup(p->hash);
	policy_free(p);
	a->command_json = json_dumps(cmd, JSON_COMPACT);
	json_array_foreach(cmd, i, v) pc_strv_push(&a->command, json_string_value(v));
	a->restart = rs;
	daemon_now_iso(a->created);
	bool go = !start || json_is_true(start);
	json_decref(j);
	if (state_save(d, a, &err) < 0) {
		agent_free(a);
		api_reply_error(req, 500, "%s", err.msg);
		return;
	}
	d->agents = pc_xrealloc(d->agents, (d->n_agents + 1) * sizeof(*d->agents));
	d->agents[d->n_agents++] = a;
	if (go && agent_start(a, &err) < 0) {
		api_reply_error(req, 500, "%s", err.msg);
		return;
	}
	api_reply_json(req, 201, agent_json(a));
}

/* ---- logs --------------------------------------------------------------- */

/* A followed log holds a connection and the log's fd for as long as the
 * caller likes: one user may not hold them all (fds are the daemon's). */
#define FOLLOWERS_MAX	  512
#define FOLLOWERS_PER_UID 16

struct follower {
	struct daemon *d;
	struct evhttp_request *req;
	struct event *timer;
	int fd;
	uid_t uid;
	struct follower *prev, *next;
};

static void follower_free(struct follower *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		f->d->followers = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->d->n_followers--;
	event_free(f->timer);
	close(f->fd);
	free(f);
}

/* May c follow one more log? If not: answered 429, and recorded (at most
 * once a second: a flood must not flood the log). */
static bool may_follow(struct daemon *d, struct evhttp_request *req, const struct caller *c,
		       const char *agent)
{
	size_t mine = 0;
	for (const struct follower *f = d->followers; f; f = f->next)
		mine += f->uid == c->uid;
	if (mine < FOLLOWERS_PER_UID && d->n_followers < FOLLOWERS_MAX)
		return true;
	uint64_t now = pc_now_ns();
	if (now - d->follow_refused_ns > 1000000000ULL) {
		d->follow_refused_ns = now;
		audit_refusal(d, req, c,
			      mine >= FOLLOWERS_PER_UID ? "follow more than 16 logs at once"
							: "follow a log while 512 are followed",
			      agent);
	}
	api_reply_error(req, 429,
			"too many logs followed at once (%d per caller, %d in all): stop one "
			"first",
			FOLLOWERS_PER_UID, FOLLOWERS_MAX);
	return false;
}

static bool send_new(struct follower *f)
{
	char buf[LOG_CHUNK];
	ssize_t n;
	struct bufferevent *bev =
		evhttp_connection_get_bufferevent(evhttp_request_get_connection(f->req));
	/* a client that does not read gets no more queued for it: the log
	 * waits on disk, not in the daemon's memory */
	while (evbuffer_get_length(bufferevent_get_output(bev)) < LOG_QUEUE_MAX &&
	       (n = read(f->fd, buf, sizeof(buf))) > 0) {
		struct evbuffer *b = evbuffer_new();
		evbuffer_add(b, buf, (size_t)n);
		evhttp_send_reply_chunk(f->req, b);
		evbuffer_free(b);
	}
	return true;
}

static void follow_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct follower *f = arg;
	send_new(f);
	struct timeval tv = {0, LOG_FOLLOW_MS * 1000};
	evtimer_add(f->timer, &tv);
}

static void follow_closed(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	follower_free(arg);
}

static void logs(struct daemon *d, struct evhttp_request *req, const struct caller *c,
		 struct agent *a, bool follow)
{
	if (follow && !may_follow(d, req, c, a->name))
		return;
	_cleanup_free_ char *path = pc_xasprintf("%s/agents/%s/log", d->state_dir, a->name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT) {
		api_reply_error(req, 500, "agent %s: its log: %s", a->name, strerror(errno));
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; charset=utf-8");
	if (!follow) {
		struct evbuffer *b = evbuffer_new();
		char buf[LOG_CHUNK];
		ssize_t n;
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > LOG_REPLY_MAX)
			lseek(fd, st.st_size - LOG_REPLY_MAX, SEEK_SET);
		while (fd >= 0 && evbuffer_get_length(b) < LOG_REPLY_MAX &&
		       (n = read(fd, buf, sizeof(buf))) > 0)
			evbuffer_add(b, buf, (size_t)n);
		if (fd >= 0)
			close(fd);
		evhttp_send_reply(req, 200, "OK", b);
		evbuffer_free(b);
		return;
	}
	if (fd < 0)
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* nothing yet: until it starts */
	struct follower *f = pc_xcalloc(1, sizeof(*f));
	f->d = d;
	f->req = req;
	f->fd = fd;
	f->uid = c->uid;
	f->next = d->followers;
	if (f->next)
		f->next->prev = f;
	d->followers = f;
	d->n_followers++;
	f->timer = evtimer_new(d->base, follow_tick, f);
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), follow_closed, f);
	follow_tick(-1, 0, f);
}

/* ---- policy apply ------------------------------------------------------- */

/* The effective policy as top-level sections ("network:\n  ...") for a
 * diff; the egress rules are the one part a running agent takes at once. */
static char *section(const char *yaml, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = yaml; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) != 0 || p[kl] != ':')
			continue;
		const char *end = p + kl;
		while ((end = strchr(end, '\n')) && end[1] && (end[1] == ' ' || end[1] == '-'))
			end++;
		return pc_xstrndup(p, end ? (size_t)(end - p) : strlen(p));
	}
	return pc_xstrdup("");
}

/* The run says what a reload applied in agents/NAME/status.reload (its
 * --status-file plus ".reload", box/reload.c): the answer waits for it, the
 * file's policy_sha256 naming the policy file just written. */
#define RELOAD_WAIT_MS 5000
#define RELOAD_POLL_MS 20

struct reload_wait {
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct event *timer;
	char *file, *want;
	json_t *out; /* the answer, completed from the run's report */
	uint64_t deadline_ns;
};

static void reload_wait_free(struct reload_wait *w)
{
	if (w->timer)
		event_free(w->timer);
	free(w->file);
	free(w->want);
	json_decref(w->out);
	free(w);
}

static void reload_closed(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	reload_wait_free(arg); /* the client went: nobody to answer */
}

static void set_list(json_t *out, const char *key, json_t *from)
{
	json_object_set_new(out, key, json_is_array(from) ? json_incref(from) : json_array());
}

/* The run's report into the answer; false while there is none for this
 * policy yet. */
static bool reload_merge(struct reload_wait *w)
{
	json_t *j = json_load_file(w->file, 0, NULL);
	const char *h = json_string_value(json_object_get(j, "policy_sha256"));
	const char *outcome = json_string_value(json_object_get(j, "outcome"));
	if (!h || !outcome || strcmp(h, w->want) != 0) {
		json_decref(j);
		return false;
	}
	json_t *later = json_object_get(j, "restart_needed");
	set_list(w->out, "applied", json_object_get(j, "applied"));
	set_list(w->out, "restart_for", later);
	set_list(w->out, "not_applied", json_object_get(j, "not_applied"));
	set_list(w->out, "notes", json_object_get(j, "notes"));
	json_object_set_new(w->out, "reloaded", json_boolean(strcmp(outcome, "rejected") != 0));
	json_object_set_new(w->out, "restart_needed", json_boolean(json_array_size(later) > 0));
	json_t *e = json_object_get(j, "error");
	if (json_is_string(e))
		json_object_set(w->out, "error_reloading", e);
	json_decref(j);
	return true;
}

static void reload_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct reload_wait *w = arg;
	bool done = reload_merge(w);
	if (!done && pc_now_ns() < w->deadline_ns) {
		struct timeval tv = {0, RELOAD_POLL_MS * 1000};
		evtimer_add(w->timer, &tv);
		return;
	}
	if (!done)
		json_object_set_new(w->out, "notes",
				    json_pack("[s]", "the run did not say what it applied within "
						     "5 s: restart_needed is the daemon's guess"));
	/* before the answer: sending it may free the connection */
	evhttp_connection_set_closecb(w->conn, NULL, NULL);
	api_reply_json(w->req, 200, json_incref(w->out));
	reload_wait_free(w);
}

/* Answer out once the run has reloaded the policy file the daemon wrote. */
static void reload_answer(struct daemon *d, struct evhttp_request *req, struct agent *a,
			  json_t *out)
{
	_cleanup_free_ char *dir = agent_dir(a);
	_cleanup_free_ char *policy = pc_xasprintf("%s/policy.yaml", dir), *text = NULL;
	size_t len = 0;
	char hash[65];
	if (pc_read_file(policy, 1 << 20, &text, &len, NULL) < 0) {
		api_reply_json(req, 200, out);
		return;
	}
	pc_sha256_hex(text, len, hash);
	struct reload_wait *w = pc_xcalloc(1, sizeof(*w));
	w->req = req;
	w->conn = evhttp_request_get_connection(req);
	w->file = pc_xasprintf("%s/status.reload", dir);
	w->want = pc_xstrdup(hash);
	w->out = out;
	w->deadline_ns = pc_now_ns() + RELOAD_WAIT_MS * 1000000ull;
	w->timer = evtimer_new(d->base, reload_tick, w);
	evhttp_connection_set_closecb(w->conn, reload_closed, w);
	reload_tick(-1, 0, w);
}

static void apply_policy(struct daemon *d, struct evhttp_request *req, struct agent *a,
			 const struct caller *c)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *j = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, 0, &jerr);
	json_t *pol = j ? json_object_get(j, "policy") : NULL;
	if (!json_is_object(j) || !json_is_string(pol) || json_object_size(j) != 1) {
		json_decref(j);
		api_reply_error(req, 400, "the body must be {\"policy\": \"<YAML text>\"}");
		return;
	}
	struct pc_error err = {0};
	_cleanup_free_ char *label = pc_xasprintf("<policy of agent %s>", a->name);
	struct policy *newp = NULL, *oldp = NULL;
	if (policy_load_string(json_string_value(pol), json_string_length(pol), label, &newp,
			       &err) < 0) {
		json_decref(j);
		api_reply_error(req, 400, "%s", err.msg);
		return;
	}
	policy_load_string(a->policy, strlen(a->policy), label, &oldp, &err);
	_cleanup_buf_ struct pc_buf ny = {0}, oy = {0};
	policy_emit_yaml(newp, &ny);
	pc_buf_append(&ny, "", 0);
	if (oldp) {
		policy_emit_yaml(oldp, &oy);
		pc_buf_append(&oy, "", 0);
	}
	static const char *const parts[] = {"name",	   "sandbox",	"filesystem", "network",
					    "credentials", "approvals", "process"};
	json_t *changed = json_array();
	bool restart_needed = false;
	for (size_t i = 0; i < PC_ARRAY_SIZE(parts); i++) {
		_cleanup_free_ char *n = section(ny.data, parts[i]);
		_cleanup_free_ char *o = oldp ? section(oy.data, parts[i]) : pc_xstrdup("?");
		if (strcmp(n, o) == 0)
			continue;
		json_array_append_new(changed, json_string(parts[i]));
		/* the guess when the run does not say (reload_merge): egress,
		 * credentials and approvals reload in place (SIGHUP) */
		if (strcmp(parts[i], "network") != 0 && strcmp(parts[i], "name") != 0 &&
		    strcmp(parts[i], "credentials") != 0 && strcmp(parts[i], "approvals") != 0)
			restart_needed = true;
	}
	char reason[300];
	snprintf(reason, sizeof(reason), "policy of agent %s set by %s (%.12s -> %.12s)", a->name,
		 c->identity, a->policy_sha256, newp->hash);
	const struct audit_field af[] = {AUDIT_STR("identity", c->identity),
					 AUDIT_NUM("uid", c->uid),
					 AUDIT_STR("previous_sha256", a->policy_sha256),
					 AUDIT_STR("policy_sha256", newp->hash)};
	if (audit_write(d->log, AUDIT_POLICY, a->name, "-", AUDIT_NONE, reason, af,
			PC_ARRAY_SIZE(af), &err) < 0)
		pc_warn("audit: %s", err.msg);
	free(a->policy);
	a->policy = pc_xstrdup(json_string_value(pol));
	free(a->policy_sha256);
	a->policy_sha256 = pc_xstrdup(newp->hash);
	policy_free(newp);
	if (oldp)
		policy_free(oldp);
	json_decref(j);
	if (state_save(d, a, &err) < 0) {
		json_decref(changed);
		api_reply_error(req, 500, "%s", err.msg);
		return;
	}
	bool reloaded = false;
	if (a->pid && json_array_size(changed)) {
		_cleanup_free_ char *dir = agent_dir(a);
		_cleanup_free_ char *report = pc_xasprintf("%s/status.reload", dir);
		unlink(report);					   /* the run writes the next one */
		reloaded = agent_write_policy(a, true, &err) == 0; /* pincer run re-reads it */
	}
	json_t *out = json_pack("{s:s, s:o, s:b, s:b, s:s}", "agent", a->name, "changed", changed,
				"reloaded", reloaded, "restart_needed", restart_needed && a->pid,
				"policy_sha256", a->policy_sha256);
	if (reloaded)
		reload_answer(d, req, a, out);
	else
		api_reply_json(req, 200, out);
}

/* ---- network revocation ------------------------------------------------- */

static void set_network(struct daemon *d, struct evhttp_request *req, struct agent *a,
			const struct caller *c, bool on)
{
	struct pc_error err = {0};
	a->revoked = on;
	int r = state_save(d, a, &err);
	if (r == 0)
		r = agent_write_policy(a, true, &err); /* the run drops open tunnels at once */
	if (r < 0) {
		api_reply_error(req, 500, "%s", err.msg);
		return;
	}
	char reason[300];
	snprintf(reason, sizeof(reason), "network of agent %s %s by %s", a->name,
		 on ? "revoked" : "restored", c->identity);
	const struct audit_field f[] = {AUDIT_STR("identity", c->identity),
					AUDIT_NUM("uid", c->uid)};
	if (audit_write(d->log, AUDIT_POLICY, a->name, "-", on ? AUDIT_DENY : AUDIT_ALLOW, reason,
			f, PC_ARRAY_SIZE(f), &err) < 0)
		pc_warn("audit: %s", err.msg);
	api_reply_json(req, 200, agent_json(a));
}

/* ---- metrics ------------------------------------------------------------ */

static void metrics(struct daemon *d, struct evhttp_request *req, const struct caller *c)
{
	/* the caller's agents only (admins: all), as GET /v1/agents */
	daemon_metrics_reply(d, req, c->identity, c->admin);
}

/* ---- routing ------------------------------------------------------------ */

static void route(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;
	struct caller c = {.uid = (uid_t)-1};
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	struct bufferevent *bev =
		evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
	if (getsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
		api_reply_error(req, 403, "who is calling cannot be told (no peer credentials)");
		return;
	}
	c.uid = cr.uid;
	c.identity = daemon_identity(d, cr.uid);
	c.admin = daemon_is_admin(d, c.identity);
	if (!daemon_peer_local(bufferevent_getfd(bev))) {
		daemon_audit_refusal(d, c.identity, c.uid, "use the daemon from inside a sandbox",
				     NULL, evhttp_request_get_uri(req));
		api_reply_error(req, 403,
				"the daemon does not answer callers inside a sandbox (another user "
				"namespace)");
		free(c.identity);
		return;
	}

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	char name[DAEMON_NAME_MAX + 2] = "", action[16] = "";
	if (!path)
		path = "/";

	if (strcmp(path, "/metrics") == 0 && m == EVHTTP_REQ_GET) {
		metrics(d, req, &c);
	} else if (strncmp(path, "/v1/approvals", 13) == 0 &&
		   (path[13] == '\0' || path[13] == '/')) {
		approvals_route(d, req, path, c.identity, c.uid, c.admin);
	} else if (strcmp(path, "/v1/health") == 0) {
		api_reply_json(req, 200,
			       json_pack("{s:b, s:s, s:s, s:b}", "ok", 1, "version", "0.1.0",
					 "identity", c.identity, "admin", c.admin));
	} else if (strcmp(path, "/v1/agents") == 0) {
		if (m == EVHTTP_REQ_POST) {
			create(d, req, &c);
		} else if (m == EVHTTP_REQ_GET) {
			json_t *list = json_array();
			for (size_t i = 0; i < d->n_agents; i++)
				if (may_see(&c, d->agents[i]))
					json_array_append_new(list, agent_json(d->agents[i]));
			api_reply_json(req, 200, json_pack("{s:o}", "agents", list));
		} else {
			api_reply_error(req, 405, "GET or POST /v1/agents");
		}
	} else if (sscanf(path, "/v1/agents/%65[a-z0-9-]/%15[a-z-]", name, action) >= 1 &&
		   strlen(name) <= DAEMON_NAME_MAX &&
		   strlen(path) == strlen("/v1/agents/") + strlen(name) +
					   (action[0] ? strlen(action) + 1 : 0)) {
		struct agent *a = agent_find(d, name);
		if (!a || !may_see(&c, a)) {
			if (a) /* someone else's: the same answer, but recorded */
				audit_refusal(d, req, &c, "reach another's agent", name);
			api_reply_error(req, 404, "agent %s: no such agent", name);
		} else if (!action[0] && m == EVHTTP_REQ_GET) {
			api_reply_json(req, 200, agent_json(a));
		} else if (!action[0] && m == EVHTTP_REQ_DELETE) {
			struct pc_error err = {0};
			if (!c.admin)
				forbidden(d, req, &c, "delete agents", name);
			else if (agent_remove(a, &err) < 0)
				api_reply_error(req, 500, "%s", err.msg);
			else
				api_reply_json(req, 200, json_pack("{s:s}", "deleted", name));
		} else if (strcmp(action, "policy") == 0 && m == EVHTTP_REQ_PUT) {
			/* a policy is the agent's whole power (folders, seccomp,
			 * credentials): only admins set it */
			if (!c.admin)
				forbidden(d, req, &c, "change policies", name);
			else
				apply_policy(d, req, a, &c);
		} else if (m == EVHTTP_REQ_POST && (strcmp(action, "revoke-network") == 0 ||
						    strcmp(action, "restore-network") == 0)) {
			bool on = strcmp(action, "revoke-network") == 0;
			/* anyone who may steer it may cut its network; only an
			 * admin gives it back */
			if (!on && !c.admin)
				forbidden(d, req, &c, "restore an agent's network", name);
			else
				set_network(d, req, a, &c, on);
		} else if (strcmp(action, "logs") == 0 && m == EVHTTP_REQ_GET) {
			struct evkeyvalq q = {0};
			if (query)
				evhttp_parse_query_str(query, &q);
			const char *fl = evhttp_find_header(&q, "follow");
			logs(d, req, &c, a, fl && strcmp(fl, "0") != 0);
			evhttp_clear_headers(&q);
		} else if (m == EVHTTP_REQ_POST &&
			   (strcmp(action, "start") == 0 || strcmp(action, "stop") == 0 ||
			    strcmp(action, "restart") == 0)) {
			struct pc_error err = {0};
			int r = 0;
			d->save_error[0] = '\0';
			if (strcmp(action, "stop") == 0)
				agent_stop(a);
			else if (strcmp(action, "restart") == 0)
				agent_restart(a, &err); /* the new run once the old has ended */
			else
				r = agent_start(a, &err);
			if (!r && err.code)
				r = -1;
			if (r < 0)
				api_reply_error(req, 500, "%s", err.msg);
			else if (d->save_error[0])
				api_reply_error(
					req, 500,
					"done, but not recorded in the state (a daemon restart "
					"would forget it): %s",
					d->save_error);
			else
				api_reply_json(req, 200, agent_json(a));
		} else {
			api_reply_error(req, 405, "%s %s: no such operation",
					evhttp_request_get_uri(req),
					m == EVHTTP_REQ_GET ? "GET" : "with this method");
		}
	} else {
		api_reply_error(req, 404, "%s: no such path (see /v1/health, /v1/agents)", path);
	}
	free(c.identity);
	/* agents or policies may have changed: the warm pools follow, once
	 * the answer is out */
	if (m == EVHTTP_REQ_POST ? strcmp(path, "/v1/agents") == 0
				 : m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_DELETE)
		pool_sync(d);
}

/* ---- the socket --------------------------------------------------------- */

/* Out of fds (a flood of connections): stop accepting for a moment instead
 * of spinning on a listener that stays readable. */
static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

void daemon_accept_error(struct evconnlistener *l, void *arg)
{
	(void)arg;
	evconnlistener_disable(l);
	struct timeval tv = {1, 0};
	event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, accept_resume, l, &tv);
}

int daemon_listen(const char *path, int type, struct pc_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return pc_error(err, -ENAMETOOLONG, "socket path %s is too long", path);
	strcpy(sa.sun_path, path);
	_cleanup_free_ char *dir = pc_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		int r = pc_mkdir_p(dir, geteuid() == 0 ? 0755 : 0700, err);
		if (r < 0)
			return r;
		/* the folder must be ours and writable by no one else: whoever
		 * can write it can swap the socket for their own */
		struct stat ds;
		if (lstat(dir, &ds) < 0 || !S_ISDIR(ds.st_mode) || ds.st_uid != geteuid() ||
		    (ds.st_mode & 022))
			return pc_error(err, -EACCES,
					"%s: the socket's folder must be a directory of yours that "
					"only you can write (chmod go-w, or choose --socket)",
					dir);
	}
	_cleanup_close_ int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pc_error_errno(err, -errno, "socket");
	/* a socket file left by a daemon that died goes; a live one stays */
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return pc_error(err, -EEXIST, "%s exists and is not a socket", path);
		_cleanup_close_ int probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return pc_error(err, -EADDRINUSE, "a daemon already listens on %s", path);
		unlink(path);
	}
	/* the mode comes with the bind (no chmod by path afterwards): 0666
	 * as root (each request is checked by its peer), 0600 for a user */
	mode_t old = umask(geteuid() == 0 ? 0111 : 0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return pc_error_errno(err, -errno, "bind %s", path);
	if (listen(fd, 128) < 0)
		return pc_error_errno(err, -errno, "listen on %s", path);
	return pc_steal_fd(&fd);
}

int api_start(struct daemon *d, struct pc_error *err)
{
	_cleanup_close_ int fd = daemon_listen(d->socket, SOCK_STREAM, err);
	if (fd < 0)
		return fd;
	struct evconnlistener *l =
		evconnlistener_new(d->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!l)
		return pc_error(err, -ENOMEM, "listen on %s", d->socket);
	pc_steal_fd(&fd);
	evconnlistener_set_error_cb(l, daemon_accept_error);
	d->http = evhttp_new(d->base);
	evhttp_set_max_body_size(d->http, API_BODY_MAX);
	/* a client that sends slowly or too much is dropped, not served */
	evhttp_set_max_headers_size(d->http, API_HEADERS_MAX);
	evhttp_set_timeout(d->http, API_TIMEOUT_S);
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_PUT);
	evhttp_set_gencb(d->http, route, d);
	if (!evhttp_bind_listener(d->http, l))
		return pc_error(err, -ENOMEM, "serve %s", d->socket);
	return 0;
}

void api_stop(struct daemon *d)
{
	if (d->http)
		evhttp_free(d->http);
	d->http = NULL;
	unlink(d->socket);
}
