/* Approvals (daemon.h, "approvals"): the daemon subscribes to the run of
 * every running agent whose policy has approval rules (box/control.h,
 * "approvals"), keeps each approval the run reports in state.db, lets the
 * people a rule names approve or reject it through the API, and tells the
 * run once enough of them have. */
#include "daemon/internal.h"
#include "audit/audit.h"
#include "policy/policy.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SUB_TRY_MS    50 /* the run's control socket, tried until it listens */
#define SUB_TRY_MAX_S 60
#define LIST_MAX      200 /* approvals in one ?all=1 answer */

struct approval_sub {
	struct agent *a;
	int fd;
	uint64_t since_ns;
	struct event *ev, *ev_try;
};

/* ---- the store: one JSON document per approval --------------------------- */

static json_t *find(struct daemon *d, const char *id)
{
	for (size_t i = d->n_approvals; i-- > 0;)
		if (strcmp(json_string_value(json_object_get(d->approvals[i], "id")), id) == 0)
			return d->approvals[i];
	return NULL;
}

static const char *str(const json_t *ap, const char *key)
{
	const char *v = json_string_value(json_object_get(ap, key));
	return v ? v : "";
}

static void add(struct daemon *d, json_t *ap)
{
	d->approvals = pc_xrealloc(d->approvals, (d->n_approvals + 1) * sizeof(*d->approvals));
	d->approvals[d->n_approvals++] = ap;
}

static void load_one(struct daemon *d, const char *doc)
{
	json_t *ap = json_loads(doc, 0, NULL);
	if (ap && json_is_string(json_object_get(ap, "id")) && !find(d, str(ap, "id")))
		add(d, ap);
	else
		json_decref(ap);
}

static int save(struct daemon *d, json_t *ap, struct pc_error *err)
{
	char *text = json_dumps(ap, JSON_COMPACT | JSON_SORT_KEYS);
	int r = state_approval_put(d, str(ap, "id"), str(ap, "agent"), text, err);
	free(text);
	return r;
}

/* "2026-11-24T13:00:00Z" (or with fractions) -> seconds; 0 when unreadable */
static time_t iso_time(const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	return end ? timegm(&tm) : 0;
}

/* Pending past its expiry, or (why: its run ended) pending or approved
 * and not carried out: expired now (said once, recorded). */
static bool expire_if_due(struct daemon *d, json_t *ap, const char *why)
{
	if (strcmp(str(ap, "state"), "pending") != 0 &&
	    !(why && strcmp(str(ap, "state"), "approved") == 0))
		return false;
	time_t exp = iso_time(str(ap, "expires"));
	if (!why && (!exp || time(NULL) <= exp))
		return false;
	char now[32];
	daemon_now_iso(now);
	json_object_set_new(ap, "state", json_string("expired"));
	if (!json_is_string(json_object_get(ap, "decided")))
		json_object_set_new(ap, "decided", json_string(now));
	json_object_set_new(ap, "reason",
			    json_string(why ? why : "expired before enough approvals"));
	struct pc_error err = {0};
	if (save(d, ap, &err) < 0)
		pc_warn("%s", err.msg);
	return true;
}

static void record(struct daemon *d, const json_t *ap, enum audit_decision dec, const char *who,
		   const char *reason)
{
	struct pc_error err = {0};
	json_int_t status = json_integer_value(json_object_get(ap, "status"));
	struct audit_field f[7] = {
		AUDIT_STR("approval", str(ap, "id")),
		AUDIT_STR("digest", str(ap, "digest")),
		AUDIT_STR("by", who),
		AUDIT_STR("identity", str(ap, "user")),
		AUDIT_NUM("rule", json_integer_value(json_object_get(ap, "rule"))),
		AUDIT_STR("state", str(ap, "state"))};
	size_t n = 6;
	if (status)
		f[n++] = AUDIT_NUM("status", status);
	if (audit_write(d->log, AUDIT_APPROVAL, str(ap, "agent"), "-", dec, reason, f, n, &err) < 0)
		pc_warn("audit: %s", err.msg);
}

/* ---- talking to the runs --------------------------------------------------- */

static void send_json(int fd, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text && send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		pc_warn("approvals: telling a run: %s", strerror(errno));
	free(text);
}

/* A decided approval goes to its agent's run, if we hear from it now;
 * otherwise when it subscribes again and reports the approval anew. */
static void deliver(struct daemon *d, json_t *ap)
{
	struct agent *a = agent_find(d, str(ap, "agent"));
	if (!a || !a->sub || a->sub->fd < 0)
		return;
	const char *state = str(ap, "state");
	if (strcmp(state, "approved") == 0)
		send_json(a->sub->fd,
			  json_pack("{s:s, s:s, s:b, s:O}", "op", "decide", "id", str(ap, "id"),
				    "approve", 1, "approvers", json_object_get(ap, "approved_by")));
	else if (strcmp(state, "rejected") == 0)
		send_json(a->sub->fd,
			  json_pack("{s:s, s:s, s:b, s:s, s:s}", "op", "decide", "id",
				    str(ap, "id"), "approve", 0, "by", str(ap, "rejected_by"),
				    "reason", str(ap, "reason")));
}

/* {"approval": {...}} from a run: new ones are kept; ones we decided while
 * the run could not hear are told again. */
static void on_report(struct agent *a, json_t *rec)
{
	struct daemon *d = a->d;
	json_t *in = json_object_get(rec, "approval");
	const char *id = json_string_value(json_object_get(in, "id"));
	if (!json_is_object(in) || !id || strlen(id) > 64)
		return;
	json_t *ap = find(d, id);
	if (ap) {
		if (strcmp(str(ap, "agent"), a->name) == 0)
			deliver(d, ap);
		return;
	}
	/* the run's own fields, and ours: the agent and its user are what
	 * the daemon knows, not what the run says */
	ap = json_deep_copy(in);
	json_object_set_new(ap, "agent", json_string(a->name));
	json_object_set_new(ap, "user", json_string(a->user));
	json_object_set_new(ap, "state", json_string("pending"));
	json_object_set_new(ap, "approved_by", json_array());
	if (!json_is_array(json_object_get(ap, "approvers")))
		json_object_set_new(ap, "approvers", json_array());
	if (json_integer_value(json_object_get(ap, "count")) < 1)
		json_object_set_new(ap, "count", json_integer(1));
	add(d, ap);
	struct pc_error err = {0};
	if (save(d, ap, &err) < 0)
		pc_warn("%s", err.msg);
}

/* The people an approval went to: the run's list, else ours. */
static char *who_of(const json_t *ap, const json_t *ran)
{
	const json_t *v = json_array_size(ran) ? ran : json_object_get(ap, "approved_by");
	_cleanup_buf_ struct pc_buf b = {0};
	size_t i;
	const json_t *x;
	json_array_foreach(v, i, x) if (json_is_string(x))
		pc_buf_printf(&b, "%s%.256s", b.len ? "," : "", json_string_value(x));
	if (!b.len)
		pc_buf_puts(&b, *str(ap, "rejected_by") ? str(ap, "rejected_by") : "-");
	return pc_steal_ptr(&b.data);
}

/* {"ended": {"id", "state", "reason", "status", "approvers"}} from a run:
 * how the gate finished an approval (carried out, with the upstream's
 * status; failed; rejected by a policy reload; expired) is its final state
 * here too, so that the list says what happened and nobody approves what
 * is over. The gate is the truth: it is what the agent got. */
static void on_ended(struct agent *a, json_t *rec)
{
	struct daemon *d = a->d;
	json_t *in = json_object_get(rec, "ended");
	const char *id = json_string_value(json_object_get(in, "id"));
	const char *state = json_string_value(json_object_get(in, "state"));
	const char *why = json_string_value(json_object_get(in, "reason"));
	json_t *ap = id ? find(d, id) : NULL;
	if (!ap || strcmp(str(ap, "agent"), a->name) != 0 || !state ||
	    strcmp(str(ap, "state"), state) == 0) /* the daemon's own rejection or expiry */
		return;
	static const char *const final[] = {"executed", "failed", "rejected", "expired"};
	size_t k = 0;
	while (k < PC_ARRAY_SIZE(final) && strcmp(state, final[k]) != 0)
		k++;
	if (k == PC_ARRAY_SIZE(final))
		return;
	char now[32];
	daemon_now_iso(now);
	json_object_set_new(ap, "state", json_string(final[k]));
	json_object_set_new(
		ap, "reason",
		json_stringn(why ? why : state, why ? strnlen(why, 2000) : strlen(state)));
	json_int_t status = json_integer_value(json_object_get(in, "status"));
	if (k == 0 && status > 0 && status < 1000)
		json_object_set_new(ap, "status", json_integer(status));
	if (!json_is_string(json_object_get(ap, "decided")))
		json_object_set_new(ap, "decided", json_string(now));
	json_object_set_new(ap, "ended", json_string(now));
	struct pc_error err = {0};
	if (save(d, ap, &err) < 0)
		pc_warn("%s", err.msg);
	_cleanup_free_ char *who = who_of(ap, json_object_get(in, "approvers"));
	_cleanup_free_ char *reason =
		pc_xasprintf("approval %s %s at the gate: %s", id, final[k], str(ap, "reason"));
	record(d, ap, k == 0 ? AUDIT_ALLOW : AUDIT_DENY, who, reason);
}

/* One record from a run's control socket. */
static void on_record(struct agent *a, const char *buf)
{
	json_t *rec = json_loads(buf, 0, NULL);
	if (json_is_object(rec) && json_object_get(rec, "approval"))
		on_report(a, rec);
	else if (json_is_object(rec) && json_object_get(rec, "ended"))
		on_ended(a, rec);
	else if (json_is_object(rec) && json_object_get(rec, "error"))
		pc_warn("agent %s: its run on approvals: %s", a->name,
			json_string_value(json_object_get(rec, "error")));
	json_decref(rec);
}

static void sub_close(struct approval_sub *s)
{
	if (s->ev)
		event_free(s->ev);
	s->ev = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static void on_sub(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct approval_sub *s = arg;
	char buf[65536];
	ssize_t n = pc_recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		sub_close(s); /* the run ended: child_exited expires the rest */
		return;
	}
	buf[n] = '\0';
	on_record(s->a, buf);
}

static void on_try(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct approval_sub *s = arg;
	struct pc_error err = {0};
	int c = daemon_connect_run(s->a, &err);
	if (c >= 0) {
		s->fd = c;
		s->ev = event_new(s->a->d->base, c, EV_READ | EV_PERSIST, on_sub, s);
		event_add(s->ev, NULL);
		send_json(c, json_pack("{s:s}", "op", "subscribe"));
		return;
	}
	if (pc_now_ns() - s->since_ns > SUB_TRY_MAX_S * 1000000000ULL) {
		pc_warn("agent %s: approvals: %s; its held requests cannot be decided", s->a->name,
			err.msg);
		return;
	}
	struct timeval tv = {0, SUB_TRY_MS * 1000};
	evtimer_add(s->ev_try, &tv);
}

void approvals_watch(struct agent *a)
{
	if (a->sub || !a->pid)
		return;
	struct policy *p = NULL;
	struct pc_error err = {0};
	bool has = policy_load_string(a->policy, strlen(a->policy), a->name, &p, &err) == 0 &&
		   p->n_approvals > 0;
	if (p)
		policy_free(p);
	if (!has)
		return;
	struct approval_sub *s = pc_xcalloc(1, sizeof(*s));
	s->a = a;
	s->fd = -1;
	s->since_ns = pc_now_ns();
	s->ev_try = evtimer_new(a->d->base, on_try, s);
	a->sub = s;
	on_try(-1, 0, s);
}

void approvals_unwatch(struct agent *a, const char *why)
{
	struct approval_sub *s = a->sub;
	if (s) {
		/* what the run said before it ended (how approvals ended) first */
		char buf[65536];
		ssize_t n;
		while (why && s->fd >= 0 &&
		       (n = pc_recv(s->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
			buf[n] = '\0';
			on_record(a, buf);
		}
		sub_close(s);
		event_free(s->ev_try);
		free(s);
		a->sub = NULL;
	}
	if (!why)
		return;
	/* its held requests went with its run */
	for (size_t i = 0; i < a->d->n_approvals; i++) {
		json_t *ap = a->d->approvals[i];
		if (strcmp(str(ap, "agent"), a->name) == 0 && expire_if_due(a->d, ap, why))
			record(a->d, ap, AUDIT_DENY, "-", why);
	}
}

int approvals_load(struct daemon *d, struct pc_error *err)
{
	return state_approvals_load(d, load_one, err);
}

void approvals_free(struct daemon *d)
{
	for (size_t i = 0; i < d->n_approvals; i++)
		json_decref(d->approvals[i]);
	free(d->approvals);
	d->approvals = NULL;
	d->n_approvals = 0;
}

/* ---- the API ----------------------------------------------------------------- */

/* May identity decide ap? A rule's approver by name or group, never the
 * agent itself. */
static bool may_decide(struct daemon *d, const json_t *ap, const char *identity)
{
	if (strcmp(identity, str(ap, "agent")) == 0)
		return false;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(ap, "approvers"), i, v)
	{
		const char *who = json_string_value(v);
		if (!who)
			continue;
		if (strncmp(who, "group:", 6) == 0 ? daemon_in_group(d, identity, who + 6)
						   : strcmp(who, identity) == 0)
			return true;
	}
	return false;
}

static bool may_see(struct daemon *d, const json_t *ap, const char *identity, bool admin)
{
	if (admin || may_decide(d, ap, identity))
		return true;
	struct agent *a = agent_find(d, str(ap, "agent"));
	return a && daemon_may_steer(a, identity, false);
}

static void list(struct daemon *d, struct evhttp_request *req, const char *identity, bool admin,
		 bool all)
{
	json_t *out = json_array();
	size_t n = 0;
	for (size_t i = d->n_approvals; i-- > 0 && n < LIST_MAX;) {
		json_t *ap = d->approvals[i];
		expire_if_due(d, ap, NULL);
		if (!may_see(d, ap, identity, admin) ||
		    (!all && strcmp(str(ap, "state"), "pending") != 0))
			continue;
		json_array_append(out, ap);
		n++;
	}
	api_reply_json(req, 200, json_pack("{s:o}", "approvals", out));
}

static void decide(struct daemon *d, struct evhttp_request *req, json_t *ap, const char *identity,
		   uid_t uid, bool approve)
{
	const char *id = str(ap, "id");
	char what[160];
	snprintf(what, sizeof(what), "%s approval %s", approve ? "approve" : "reject", id);
	if (!may_decide(d, ap, identity)) {
		daemon_audit_refusal(d, identity, uid, what, str(ap, "agent"),
				     evhttp_request_get_uri(req));
		api_reply_error(
			req, 403,
			strcmp(identity, str(ap, "agent")) == 0
				? "%s is the agent itself: an agent never approves its own "
				  "actions"
				: "%s may not decide approval %s: its rule names other approvers",
			identity, id);
		return;
	}
	if (expire_if_due(d, ap, NULL)) {
		record(d, ap, AUDIT_DENY, identity, "expired before enough approvals");
		api_reply_error(req, 409, "approval %s expired at %s", id, str(ap, "expires"));
		return;
	}
	if (strcmp(str(ap, "state"), "pending") != 0) {
		const char *why = str(ap, "reason");
		api_reply_error(req, 409, "approval %s is already %s%s%s", id, str(ap, "state"),
				*why ? ": " : "", why);
		return;
	}
	json_t *by = json_object_get(ap, "approved_by");
	size_t i;
	json_t *v;
	json_array_foreach(by, i, v) if (strcmp(json_string_value(v), identity) == 0)
	{
		daemon_audit_refusal(d, identity, uid, "approve twice toward a two-person rule",
				     str(ap, "agent"), evhttp_request_get_uri(req));
		api_reply_error(req, 403,
				"%s approved %s already: the rest must come from other people",
				identity, id);
		return;
	}
	char now[32];
	daemon_now_iso(now);
	_cleanup_free_ char *reason = NULL;
	if (approve) {
		json_array_append_new(by, json_string(identity));
		json_int_t need = json_integer_value(json_object_get(ap, "count"));
		if ((json_int_t)json_array_size(by) >= need) {
			json_object_set_new(ap, "state", json_string("approved"));
			json_object_set_new(ap, "decided", json_string(now));
		}
		reason = pc_xasprintf("approval %s: approved by %s (%zu of %lld)", id, identity,
				      json_array_size(by), (long long)need);
	} else {
		struct evbuffer *b = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(b);
		_cleanup_free_ char *body =
			len ? pc_xstrndup((const char *)evbuffer_pullup(b, -1), len) : NULL;
		json_t *j = len ? json_loads(body, 0, NULL) : json_object();
		const char *why = NULL;
		if (!j || !json_is_object(j) || json_unpack(j, "{s?s !}", "reason", &why) < 0 ||
		    (why && strlen(why) > 1000)) {
			json_decref(j);
			api_reply_error(req, 400,
					"reject takes {\"reason\": \"...\"} (at most 1000 "
					"characters)");
			return;
		}
		json_object_set_new(ap, "state", json_string("rejected"));
		json_object_set_new(ap, "rejected_by", json_string(identity));
		json_object_set_new(ap, "reason", json_string(why ? why : "rejected"));
		json_object_set_new(ap, "decided", json_string(now));
		json_decref(j);
		reason = pc_xasprintf("approval %s: rejected by %s: %s", id, identity,
				      str(ap, "reason"));
	}
	struct pc_error err = {0};
	if (save(d, ap, &err) < 0) {
		api_reply_error(req, 500, "%s", err.msg);
		return;
	}
	record(d, ap, approve ? AUDIT_ALLOW : AUDIT_DENY, identity, reason);
	deliver(d, ap);
	api_reply_json(req, 200, json_incref(ap));
}

void approvals_route(struct daemon *d, struct evhttp_request *req, const char *path,
		     const char *identity, uid_t uid, bool admin)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (strcmp(path, "/v1/approvals") == 0) {
		if (m != EVHTTP_REQ_GET) {
			api_reply_error(req, 405, "GET /v1/approvals");
			return;
		}
		list(d, req, identity, admin, q && strstr(q, "all=1"));
		return;
	}
	char id[72] = "", action[16] = "";
	if (sscanf(path, "/v1/approvals/%70[0-9a-f]/%15[a-z]", id, action) < 1 ||
	    strlen(path) !=
		    strlen("/v1/approvals/") + strlen(id) + (action[0] ? strlen(action) + 1 : 0)) {
		api_reply_error(req, 404, "%s: no such path (see /v1/approvals)", path);
		return;
	}
	json_t *ap = find(d, id);
	if (!ap || !may_see(d, ap, identity, admin)) {
		if (ap) /* someone else's: the same answer, but recorded */
			daemon_audit_refusal(d, identity, uid, "see another's approval",
					     str(ap, "agent"), evhttp_request_get_uri(req));
		api_reply_error(req, 404, "no such approval");
		return;
	}
	if (!action[0] && m == EVHTTP_REQ_GET) {
		expire_if_due(d, ap, NULL);
		api_reply_json(req, 200, json_incref(ap));
	} else if (m == EVHTTP_REQ_POST && strcmp(action, "approve") == 0) {
		decide(d, req, ap, identity, uid, true);
	} else if (m == EVHTTP_REQ_POST && strcmp(action, "reject") == 0) {
		decide(d, req, ap, identity, uid, false);
	} else {
		api_reply_error(req, 405, "GET /v1/approvals/ID, POST .../approve or .../reject");
	}
}
