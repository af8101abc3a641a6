/* Approvals at the gate (box/control.h, "approvals"): a request an approval
 * rule matches waits for a person's decision, and what runs afterwards is
 * exactly what was approved, once.
 *
 * The request is not taken apart: its head and body stay in the agent's
 * connection's input (the read limit raised to hold a whole body) while
 * the body arrives and while a decision is awaited. Once the outcome is
 * known the head is parsed again (reparse) and the request goes the
 * ordinary way, with the outcome in c->ap: let through untouched, carried
 * out for an approval (with the approver's secrets for act_as: approver),
 * or answered here. So an approved request meets every check the gate
 * makes, the egress decision included, at the moment it is sent.
 *
 * Nothing waits in a blocking way: the hold and the expiry are timers of
 * the loop; a held connection whose agent goes away leaves its approval
 * pending, for the retry with X-Pincer-Approval.
 */
#include "gate/internal.h"
#include "tls/tls.h"
#include "vault/vault.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#define APPROVALS_KEEP_MS    (15 * 60 * 1000) /* an ended one, for the retry's answer */
#define APPROVALS_ENDED_MAX  1024	      /* ended ones kept at most */
#define APPROVAL_SUMMARY_MAX 2048
#define APPROVAL_NAME_MAX    256 /* bytes of an approver's name */
/* chunked framing may double a body (and more with tiny chunks): the raw
 * bytes a held request may take in the input, beyond its head */
static size_t raw_max(const struct gconn_approval *ap)
{
	return 2 * ap->body_max + 65536;
}
/* a body refused for its size is read and dropped up to 16 times the most
 * it may have, so that the agent, still sending it, reads the refusal
 * rather than a reset */
#define APPROVAL_DISCARD_TIMES 16

/* The approvers' secrets this run opened, kept until it ends: an upstream
 * may hand one back later (its answer to any request is redacted of them)
 * and the agent may never send one (every request is searched for them).
 * Approvals and connections borrow them. */
#define APPROVER_SECRETS_MAX 64
/* What all requests held for approval (or still sending their bodies) may
 * hold at once in pincer's memory, outside the sandbox's memory limit. */
#define APPROVALS_BUFFER_MAX ((size_t)32 << 20)

struct gate_approvals {
	struct gate_approval_hooks hooks;
	struct gate_approval *head, *tail; /* oldest first */
	size_t n_live, n_ended;
	size_t buffered; /* bytes the connections waiting here may hold (budget) */
	struct gate_creds *seen[APPROVER_SECRETS_MAX];
	size_t n_seen;
	size_t seen_max_pat; /* the longest value among them */
};

static const char *const state_names[] = {
	[GATE_APPROVAL_PENDING] = "pending",	 [GATE_APPROVAL_APPROVED] = "approved",
	[GATE_APPROVAL_EXECUTING] = "executing", [GATE_APPROVAL_EXECUTED] = "executed",
	[GATE_APPROVAL_REJECTED] = "rejected",	 [GATE_APPROVAL_EXPIRED] = "expired",
	[GATE_APPROVAL_FAILED] = "failed",
};

const char *gate_approval_state_name(enum gate_approval_state s)
{
	return (unsigned)s < PC_ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

static bool live(const struct gate_approval *a)
{
	return a->state == GATE_APPROVAL_PENDING || a->state == GATE_APPROVAL_APPROVED ||
	       a->state == GATE_APPROVAL_EXECUTING;
}

void gate_approval_time(uint64_t ms, char out[32])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static uint64_t now_ms(void)
{
	return pc_realtime_ns() / 1000000;
}

static struct gate_approvals *table(struct gate *g)
{
	if (!g->approvals)
		g->approvals = pc_xcalloc(1, sizeof(*g->approvals));
	return g->approvals;
}

void gate_set_approval_hooks(struct gate *g, const struct gate_approval_hooks *h)
{
	table(g)->hooks = h ? *h : (struct gate_approval_hooks){0};
}

static const struct pc_approval_rule *rule_of(const struct gate_approval *a)
{
	return &a->policy->approvals[a->rule];
}

static struct gate_approval *find(struct gate *g, const char *id)
{
	for (struct gate_approval *a = g->approvals ? g->approvals->head : NULL; a; a = a->next)
		if (strcmp(a->id, id) == 0)
			return a;
	return NULL;
}

static void approval_free(struct gate_approval *a)
{
	struct gate_approvals *t = a->g->approvals;
	if (a->prev)
		a->prev->next = a->next;
	else
		t->head = a->next;
	if (a->next)
		a->next->prev = a->prev;
	else
		t->tail = a->prev;
	if (live(a))
		t->n_live--;
	else
		t->n_ended--;
	if (a->hold_ev)
		event_free(a->hold_ev);
	if (a->timer)
		event_free(a->timer);
	a->creds = NULL; /* borrowed from seen */
	free(a->method);
	free(a->host);
	free(a->path);
	free(a->url);
	free(a->identity);
	free(a->summary);
	free(a->reason);
	pc_strv_free(a->approvers);
	free(a);
}

void approvals_free(struct gate *g)
{
	if (!g->approvals)
		return;
	while (g->approvals->head)
		approval_free(g->approvals->head);
	for (size_t i = 0; i < g->approvals->n_seen; i++)
		gate_creds_free(g->approvals->seen[i]);
	free(g->approvals);
	g->approvals = NULL;
}

/* ---- records ------------------------------------------------------------- */

static void rule_at(const struct gate_approval *a, char *out, size_t n)
{
	const char *f = a->policy->file ? a->policy->file : "-";
	const char *base = strrchr(f, '/');
	snprintf(out, n, "approvals[%zu] (%s:%d)", a->rule, base ? base + 1 : f,
		 rule_of(a)->at.line);
}

static void joined(char *const *v, char *out, size_t n)
{
	size_t l = 0;
	out[0] = '\0';
	for (size_t i = 0; v && v[i] && l < n; i++)
		l += (size_t)snprintf(out + l, n - l, "%s%s", i ? "," : "", v[i]);
}

/* One "approval" record: a step of a (NULL: a request refused before it
 * had one, described by c). */
static void record(struct gate *g, const struct gate_approval *a, struct gconn *c,
		   enum audit_decision d, const char *step, const char *reason, int status)
{
	struct audit_field f[16];
	size_t n = 0;
	char rule[300], who[600];
	if (a) {
		f[n++] = AUDIT_STR("approval", a->id);
		f[n++] = AUDIT_STR("step", step);
		f[n++] = AUDIT_STR("host", a->host);
		f[n++] = AUDIT_NUM("port", a->port);
		f[n++] = AUDIT_STR("method", a->method);
		f[n++] = AUDIT_STR("path", a->path);
		f[n++] = AUDIT_STR("identity", a->identity);
		rule_at(a, rule, sizeof(rule));
		f[n++] = AUDIT_STR("rule", rule);
		f[n++] = AUDIT_STR("digest", a->digest);
		if (a->approvers) {
			joined(a->approvers, who, sizeof(who));
			f[n++] = AUDIT_STR(a->state == GATE_APPROVAL_REJECTED ? "rejected_by"
									      : "approvers",
					   who);
		}
	} else {
		n = gate_fields(c, f);
		f[n++] = AUDIT_STR("step", step);
		const char *id = g->approvals && g->approvals->hooks.identity
					 ? g->approvals->hooks.identity(g->approvals->hooks.arg)
					 : NULL;
		f[n++] = AUDIT_STR("identity", id ? id : "-");
	}
	if (status)
		f[n++] = AUDIT_NUM("status", status);
	if (c)
		f[n++] = AUDIT_NUM("conn", c->id);
	struct pc_error err = {0};
	if (audit_write(g->log, AUDIT_APPROVAL, g->agent, g->run, d, reason, f, n, &err) < 0)
		pc_warn("audit: %s", err.msg);
	if (c && d != AUDIT_NONE)
		c->decided = true;
	if (d == AUDIT_DENY)
		gate_count_denial(g, a ? a->host : c->host, a ? a->port : c->port, "approval");
}

/* ---- answers --------------------------------------------------------------- */

static void ap_free(struct gconn *c)
{
	struct gconn_approval *ap = c->ap;
	if (!ap)
		return;
	ap->creds = NULL; /* borrowed from seen */
	if (ap->buffered)
		c->g->approvals->buffered -= ap->buffered;
	if (ap->data.data)
		explicit_bzero(ap->data.data, ap->data.cap);
	pc_buf_free(&ap->data);
	free(ap->content_type);
	free(ap->headers);
	free(ap->why);
	free(ap);
	c->ap = NULL;
}

static void read_limit(struct gconn *c, size_t max)
{
	bufferevent_setwatermark(c->c, EV_READ, 0, max);
}

/* An answer of the gate's own about an approval: a JSON body, the id in
 * X-Pincer-Approval, and (for a refusal) X-Pincer-Denied; then close. */
static void answer(struct gconn *c, int status, const char *id, const char *state,
		   const char *reason)
{
	gate_stats_latency(c);
	_cleanup_buf_ struct pc_buf body = {0}, head = {0};
	pc_buf_puts(&body, "{\"approval\":");
	pc_buf_json_string(&body, id);
	pc_buf_puts(&body, ",\"status\":");
	pc_buf_json_string(&body, state);
	if (reason) {
		pc_buf_puts(&body, ",\"reason\":");
		pc_buf_json_string(&body, reason);
	}
	pc_buf_puts(&body, "}\n");
	pc_buf_printf(&head,
		      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		      "X-Pincer-Approval: %s\r\n",
		      status, status == 202 ? "Accepted" : "Forbidden", id);
	if (reason) {
		pc_buf_puts(&head, "X-Pincer-Denied: ");
		for (const char *s = reason; *s && s - reason < 400; s++)
			pc_buf_append(&head, (*s >= 0x20 && *s < 0x7f) ? s : " ", 1);
		pc_buf_puts(&head, "\r\n");
	}
	pc_buf_printf(&head, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body.len);
	struct evbuffer *out = bufferevent_get_output(c->c);
	evbuffer_add(out, head.data, head.len);
	evbuffer_add(out, body.data, body.len);
	read_limit(c, GATE_READ_MAX);
	gconn_finish(c);
}

/* A request refused before (or without) an approval of its own. */
static void refuse(struct gconn *c, int status, const struct gate_approval *a, const char *step,
		   const char *reason)
{
	record(c->g, a, c, AUDIT_DENY, step, reason, 0);
	if (a) {
		answer(c, 403, a->id, gate_approval_state_name(a->state), reason);
		return;
	}
	read_limit(c, GATE_READ_MAX);
	http_reply_error(c, status, reason);
}

/* Parse the head again, the outcome in c->ap: the request goes on as if
 * it had just come. */
static void reparse(struct gconn *c)
{
	c->ap->reparse = true;
	read_limit(c, GATE_READ_MAX);
	c->phase = PH_HEAD;
	http_client_readable(c);
}

/* ---- ends ------------------------------------------------------------------ */

static void forget_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	approval_free(arg);
}

static void release(struct gate_approval *a)
{
	if (a->hold_ev)
		event_del(a->hold_ev);
	if (a->conn && a->conn->ap)
		a->conn->ap->held = NULL;
	a->conn = NULL;
}

/* a ended (state and reason set, recorded): told, kept a while for the
 * retry's answer, then forgotten. */
static void ended(struct gate_approval *a)
{
	struct gate *g = a->g;
	struct gate_approvals *t = g->approvals;
	t->n_live--;
	t->n_ended++;
	a->creds = NULL; /* borrowed: seen keeps them to the run's end */
	if (t->hooks.changed)
		t->hooks.changed(t->hooks.arg, a);
	event_del(a->timer);
	event_assign(a->timer, g->base, -1, 0, forget_cb, a);
	struct timeval tv = {APPROVALS_KEEP_MS / 1000, 0};
	evtimer_add(a->timer, &tv);
	while (t->n_ended > APPROVALS_ENDED_MAX) {
		struct gate_approval *old = t->head;
		while (old && live(old))
			old = old->next;
		if (!old || old == a)
			break;
		approval_free(old);
	}
}

/* End a: recorded, its held request (if any) refused. */
static void finish(struct gate_approval *a, enum gate_approval_state st, const char *step,
		   const char *reason)
{
	struct gconn *c = a->conn;
	release(a);
	a->state = st;
	free(a->reason);
	a->reason = pc_xstrdup(reason);
	record(a->g, a, c, AUDIT_DENY, step, reason, 0);
	if (c)
		answer(c, 403, a->id, gate_approval_state_name(st), reason);
	ended(a);
}

static void expire_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct gate_approval *a = arg;
	char t[32], why[200];
	pc_format_duration(rule_of(a)->timeout_ms, t, sizeof(t));
	snprintf(why, sizeof(why),
		 a->state == GATE_APPROVAL_PENDING ? "approval expired: no decision within %s"
						   : "approval expired: approved, but the request "
						     "was not sent again within %s",
		 t);
	finish(a, GATE_APPROVAL_EXPIRED, "expire", why);
}

/* ---- carrying out ------------------------------------------------------------ */

/* Has the agent closed its side of c, its end-of-stream still unread?
 * (A decision and the close can come in the same turn of the loop.) */
static bool agent_left(struct gconn *c)
{
	struct bufferevent *b = c->c, *under;
	while ((under = bufferevent_get_underlying(b)))
		b = under;
	evutil_socket_t fd = bufferevent_getfd(b);
	char x;
	ssize_t n = fd < 0 ? 0 : recv(fd, &x, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* c's request (the one a was made for) goes now, for a. */
static void execute(struct gconn *c, struct gate_approval *a)
{
	release(a);
	event_del(a->timer); /* it is carried out now, or back to approved */
	a->state = GATE_APPROVAL_EXECUTING;
	c->ap->go = a;
	c->ap->sent = false;
	c->ap->creds = pc_steal_ptr(&a->creds);
	reparse(c);
}

void approval_sent(struct gconn *c)
{
	c->ap->sent = true;
}

void approval_executed(struct gconn *c, int status)
{
	struct gate_approval *a = c->ap->go;
	c->ap->go = NULL;
	a->state = GATE_APPROVAL_EXECUTED;
	a->status = status;
	char why[200];
	snprintf(why, sizeof(why), "approved request carried out: the upstream answered %d",
		 status);
	free(a->reason);
	a->reason = pc_xstrdup(why);
	record(c->g, a, c, AUDIT_ALLOW, "execute", why, status);
	ended(a);
}

/* Not sent after all: approved still (the retry may carry it out), its
 * secrets back with it. */
static void not_sent(struct gconn *c, const char *why)
{
	struct gate_approval *a = c->ap->go;
	c->ap->go = NULL;
	a->state = GATE_APPROVAL_APPROVED;
	a->creds = pc_steal_ptr(&c->ap->creds);
	uint64_t now = now_ms(), left = a->expires_ms > now ? a->expires_ms - now : 0;
	struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	evtimer_add(a->timer, &tv);
	char reason[600];
	snprintf(reason, sizeof(reason),
		 "approved request not sent: %.400s; it stays approved (until it expires) for "
		 "the agent to send again with X-Pincer-Approval: %s",
		 why, a->id);
	record(c->g, a, c, AUDIT_NONE, "not-sent", reason, 0);
}

void approval_answered(struct gconn *c, int status, const char *why)
{
	struct gate_approval *a = c->ap->go;
	if (!c->ap->sent) {
		not_sent(c, why ? why : "the gate answered it itself");
		return;
	}
	c->ap->go = NULL;
	a->state = GATE_APPROVAL_EXECUTED;
	a->status = 0;
	char reason[600];
	snprintf(reason, sizeof(reason),
		 "approved request sent, but no answer came: %.400s (the agent got %d)",
		 why ? why : "-", status);
	free(a->reason);
	a->reason = pc_xstrdup(reason);
	record(c->g, a, c, AUDIT_ALLOW, "execute", reason, 0);
	ended(a);
}

void approval_conn_gone(struct gconn *c)
{
	struct gconn_approval *ap = c->ap;
	if (!ap)
		return;
	if (ap->held) /* stays pending: the retry may come */
		release(ap->held);
	if (ap->go) {
		if (ap->sent) {
			approval_answered(c, 0, "the agent's connection closed");
		} else {
			not_sent(c, "the agent's connection closed first");
		}
	}
	ap_free(c);
}

/* ---- holding ------------------------------------------------------------------ */

static void hold_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct gate_approval *a = arg;
	struct gconn *c = a->conn;
	release(a);
	if (c)
		answer(c, 202, a->id, "pending", NULL);
}

/* c waits for a's decision, up to the rule's hold. */
static void hold(struct gconn *c, struct gate_approval *a)
{
	if (a->conn) /* an earlier wait for it: answered now, this one waits */
		hold_cb(-1, 0, a);
	uint64_t ms = rule_of(a)->hold_ms;
	if (!ms) {
		answer(c, 202, a->id, "pending", NULL);
		return;
	}
	c->ap->held = a;
	a->conn = c;
	c->phase = PH_HELD;
	/* what it holds stays; more from the agent waits in its socket (read
	 * on a little, so that its going away is seen) */
	read_limit(c, evbuffer_get_length(bufferevent_get_input(c->c)) + 65536);
	c->lat_ns = 0; /* a person's time is not the gate's latency */
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(a->hold_ev, &tv);
}

/* The readable summary without the box's help. */
static char *plain_summary(const struct gate_approval *a, size_t body_len)
{
	return pc_xasprintf("%s %s %s (%zu bytes of body)", a->method, a->host, a->path, body_len);
}

#define SUMMARY_HEADERS_MAX 4096

/* The summary's first line (the request line), then the headers the
 * digest binds (what the approver approves is all of it), then the rest. */
static void with_headers(struct gate_approval *a, const char *headers)
{
	if (!headers || !*headers)
		return;
	size_t first = strcspn(a->summary, "\n");
	_cleanup_buf_ struct pc_buf b = {0};
	pc_buf_append(&b, a->summary, first);
	/* a method override first: it says what the request does, and a long
	 * list is cut at the end */
	_cleanup_buf_ struct pc_buf ordered = {0};
	for (int pass = 0; pass < 2; pass++)
		for (const char *h = headers; *h;) {
			size_t n = strcspn(h, "\n");
			bool ov = strncmp(h, "x-http-method", 13) == 0 ||
				  strncmp(h, "x-method-override:", 18) == 0;
			if (ov == (pass == 0)) {
				pc_buf_append(&ordered, h, n);
				pc_buf_puts(&ordered, "\n");
			}
			h += n + (h[n] == '\n');
		}
	pc_buf_append(&ordered, "", 1);
	for (const char *h = ordered.data; *h;) {
		size_t n = strcspn(h, "\n");
		if (b.len + n > SUMMARY_HEADERS_MAX) { /* the control message's room */
			pc_buf_printf(&b, "\n  ...(%zu more bytes of headers, bound too)",
				      strlen(h));
			break;
		}
		pc_buf_puts(&b, "\n  ");
		/* printable ASCII as it is, any other byte as \xNN: the
		 * summary is JSON text (UTF-8) and is read on terminals */
		for (size_t k = 0; k < n; k++) {
			unsigned char ch = (unsigned char)h[k];
			if (ch >= 0x20 && ch < 0x7f && ch != '\\')
				pc_buf_append(&b, &h[k], 1);
			else
				pc_buf_printf(&b, "\\x%02x", ch);
		}
		h += n + (h[n] == '\n');
	}
	pc_buf_puts(&b, a->summary + first);
	pc_buf_append(&b, "", 1);
	free(a->summary);
	a->summary = pc_steal_ptr(&b.data);
}

static void create(struct gconn *c, size_t rule, const char *digest, const char *body, size_t len)
{
	struct gate *g = c->g;
	struct gate_approvals *t = table(g);
	if (t->n_live >= GATE_APPROVALS_MAX) {
		char why[200];
		snprintf(why, sizeof(why),
			 "approval needed, but %d approvals wait already in this run (the most): "
			 "refused",
			 GATE_APPROVALS_MAX);
		refuse(c, 429, NULL, "refuse", why);
		return;
	}
	struct gate_approval *a = pc_xcalloc(1, sizeof(*a));
	uint8_t rnd[8];
	pc_random(rnd, sizeof(rnd));
	pc_hex(rnd, sizeof(rnd), a->id);
	memcpy(a->digest, digest, sizeof(a->digest));
	a->g = g;
	a->method = pc_xstrdup(c->method);
	a->host = pc_xstrdup(c->host);
	a->port = c->port;
	a->path = pc_xstrdup(c->path);
	a->policy = g->policy;
	a->rule = rule;
	const struct pc_approval_rule *r = rule_of(a);
	a->created_ms = now_ms();
	a->expires_ms = a->created_ms + r->timeout_ms;
	const char *id = t->hooks.identity ? t->hooks.identity(t->hooks.arg) : NULL;
	a->identity = pc_xstrdup(id ? id : "-");
	a->state = GATE_APPROVAL_PENDING;
	a->hold_ev = evtimer_new(g->base, hold_cb, a);
	a->timer = evtimer_new(g->base, expire_cb, a);
	a->prev = t->tail;
	if (t->tail)
		t->tail->next = a;
	else
		t->head = a;
	t->tail = a;
	t->n_live++;
	if (!a->hold_ev || !a->timer) {
		approval_free(a);
		refuse(c, 503, NULL, "refuse", "approval needed, but out of memory: refused");
		return;
	}
	struct timeval tv = {(time_t)(r->timeout_ms / 1000),
			     (suseconds_t)(r->timeout_ms % 1000) * 1000};
	evtimer_add(a->timer, &tv);
	a->summary = t->hooks.summary ? t->hooks.summary(t->hooks.arg, a, body, len) : NULL;
	if (!a->summary)
		a->summary = plain_summary(a, len);
	with_headers(a, c->ap->headers);
	char rat[300], who[600], exp[32], held[32];
	rule_at(a, rat, sizeof(rat));
	joined(r->approvers, who, sizeof(who));
	gate_approval_time(a->expires_ms, exp);
	pc_format_duration(r->hold_ms, held, sizeof(held));
	_cleanup_free_ char *why = pc_xasprintf(
		"held for approval: %.20s %.200s%.400s matches %s; approvers %s, %u needed, acting "
		"as the %s; expires %s; the agent waits up to %s",
		a->method, a->host, a->path, rat, who, (unsigned)r->count,
		r->act_as == PC_ACT_AS_APPROVER ? "approver" : "agent", exp, held);
	record(g, a, c, AUDIT_HOLD, "hold", why, 0);
	if (t->hooks.changed)
		t->hooks.changed(t->hooks.arg, a);
	hold(c, a);
}

/* The retry of a request with X-Pincer-Approval: ID. */
static void retry(struct gconn *c, const char *digest)
{
	struct gconn_approval *ap = c->ap;
	struct gate_approval *a = find(c->g, ap->id);
	char why[1000];
	if (!a) {
		snprintf(why, sizeof(why),
			 "X-Pincer-Approval: %s names no approval of this run (or one long ended)",
			 ap->id);
		refuse(c, 403, NULL, "retry", why);
		return;
	}
	if (strcmp(a->digest, digest) != 0) {
		snprintf(why, sizeof(why),
			 "X-Pincer-Approval: %s was given for another request: the method, URL, "
			 "headers or body differ from what was approved (%.20s %.200s%.300s)",
			 a->id, a->method, a->host, a->path);
		refuse(c, 403, a, "tampered", why);
		return;
	}
	switch (a->state) {
	case GATE_APPROVAL_PENDING:
		hold(c, a);
		return;
	case GATE_APPROVAL_APPROVED:
		execute(c, a);
		return;
	case GATE_APPROVAL_EXECUTING:
	case GATE_APPROVAL_EXECUTED:
		snprintf(why, sizeof(why),
			 "approval %s was carried out already: each approval is carried out once",
			 a->id);
		break;
	case GATE_APPROVAL_REJECTED:
	case GATE_APPROVAL_EXPIRED:
	case GATE_APPROVAL_FAILED:
	default:
		snprintf(why, sizeof(why), "approval %s %s: %.400s", a->id,
			 gate_approval_state_name(a->state), a->reason ? a->reason : "-");
		break;
	}
	refuse(c, 403, a, "retry", why);
}

/* The request's digest (box/control.h): method, full URL, Content-Type and
 * the body as the agent sent them (chunked framing undone). */
static void digest_of(const struct gconn *c, const char *body, size_t len, char out[65])
{
	struct pc_sha256 h;
	uint8_t d[32];
	bool v6 = strchr(c->host, ':') != NULL;
	_cleanup_free_ char *url =
		pc_xasprintf("%s://%s%s%s:%u%s", c->intercept ? "https" : "http", v6 ? "[" : "",
			     c->host, v6 ? "]" : "", c->port, c->path);
	const char *ct = c->ap->content_type ? c->ap->content_type : "";
	pc_sha256_init(&h);
	pc_sha256_update(&h, "pincer-approval/1\n", 18);
	pc_sha256_update(&h, c->method, strlen(c->method) + 1);
	pc_sha256_update(&h, url, strlen(url) + 1);
	pc_sha256_update(&h, ct, strlen(ct) + 1);
	const char *hd = c->ap->headers ? c->ap->headers : "";
	pc_sha256_update(&h, hd, strlen(hd) + 1);
	char n[24];
	snprintf(n, sizeof(n), "%zu\n", len);
	pc_sha256_update(&h, n, strlen(n));
	pc_sha256_update(&h, body, len);
	pc_sha256_final(&h, d);
	pc_hex(d, sizeof(d), out);
}

/* The whole body is in: decide what becomes of the request. */
/* Does the query name the first key of r's json path? (Rails and Laravel
 * merge the query into the input a JSON body gives: ?stage=won is a body
 * saying so.) A key with a %-escape may be it: yes. */
static bool query_names(const char *path, const struct pc_approval_rule *r)
{
	const char *q = r->json_path ? strchr(path, '?') : NULL;
	size_t kl = r->json_path ? strcspn(r->json_path, ".[") : 0;
	for (const char *a = q ? q + 1 : ""; kl && *a;) {
		size_t n = strcspn(a, "&;"), k = strcspn(a, "=[&;");
		k = k < n ? k : n;
		if ((k == kl && strncasecmp(a, r->json_path, kl) == 0) || memchr(a, '%', k))
			return true;
		a += n + (a[n] != '\0');
	}
	return false;
}

static void body_complete(struct gconn *c, const char *body, size_t len)
{
	char digest[65];
	digest_of(c, body, len, digest);
	if (c->ap->has_id) {
		retry(c, digest);
		return;
	}
	const struct policy *p = c->g->policy;
	/* its method as a server may read it: overrides, _method in the body */
	_cleanup_strv_ char **m =
		policy_request_methods(c->method, c->ap->headers, c->path, body, len);
	for (int i = policy_approval_match(p, 0, c->host, m, c->path); i >= 0;
	     i = policy_approval_match(p, (size_t)i + 1, c->host, m, c->path)) {
		if (policy_approval_json_match(&p->approvals[i], c->ap->headers, body, len) ||
		    query_names(c->path, &p->approvals[i])) {
			create(c, (size_t)i, digest, body, len);
			return;
		}
	}
	struct pc_egress_decision d = {0};
	if (m[1]) /* a deny rule may name the method its form body gives */
		policy_egress_decide_req(p, c->host, c->port, c->method, m + 1, c->path, &d);
	if (m[1] && d.verdict == PC_EGRESS_DENY && d.by_deny_rule) {
		read_limit(c, GATE_READ_MAX);
		gate_record(c, AUDIT_DENY, "deny-rule", d.rule_at, d.reason);
		http_reply_error(c, 403, d.reason);
		return;
	}
	c->ap->pass = true; /* its JSON does not ask for an approval */
	reparse(c);
}

static bool chunked_more(struct gconn *c, const struct evbuffer_iovec *iov, int k);

/* Why a body too long to hold is refused (length 0: chunked, not known). */
static void too_long(const struct gconn *c, uint64_t length, char *why, size_t n)
{
	const struct gconn_approval *ap = c->ap;
	char size[64] = "";
	if (length)
		snprintf(size, sizeof(size), " (%llu bytes)", (unsigned long long)length);
	if (ap->for_deny)
		snprintf(why, n,
			 "egress denied: a deny rule names methods for %.200s and the body may "
			 "name one (_method in a form, multipart or JSON body); it is read whole "
			 "first, and the body%s is larger than %zu bytes",
			 c->host, size, ap->body_max);
	else
		snprintf(why, n,
			 "approval needed, but the body%s is larger than the %zu bytes a request "
			 "held for approval may have (the rule's body_max): refused",
			 size, ap->body_max);
}

void approval_readable(struct gconn *c)
{
	struct gconn_approval *ap = c->ap;
	struct evbuffer *in = bufferevent_get_input(c->c);
	size_t have = gate_refill(c->c);
	if (ap->discard) {
		size_t n = have < ap->discard ? have : (size_t)ap->discard;
		evbuffer_drain(in, n);
		if ((ap->discard -= n) == 0)
			refuse(c, 413, NULL, "refuse", ap->why);
		return;
	}
	if (ap->body == PC_HTTP_BODY_NONE) {
		body_complete(c, "", 0);
		return;
	}
	if (ap->body == PC_HTTP_BODY_LENGTH) {
		if (have < ap->head_len + ap->length)
			return; /* the rest is coming */
		const char *all =
			(const char *)evbuffer_pullup(in, (ssize_t)(ap->head_len + ap->length));
		body_complete(c, all + ap->head_len, (size_t)ap->length);
		return;
	}
	/* chunked: decoded as it comes, from where the last read stopped */
	for (;;) {
		struct evbuffer_ptr at;
		struct evbuffer_iovec iov[16];
		if (evbuffer_ptr_set(in, &at, ap->head_len + ap->walked, EVBUFFER_PTR_SET) < 0)
			return;
		int k = evbuffer_peek(in, -1, &at, iov, 16);
		if (k <= 0)
			return;
		if (chunked_more(c, iov, k < 16 ? k : 16) || k <= 16)
			return;
	}
}

/* Feed iov[0..k) to the chunked decoder: true when that settled the
 * request (c may be gone), false for more to come. */
static bool chunked_more(struct gconn *c, const struct evbuffer_iovec *iov, int k)
{
	struct gconn_approval *ap = c->ap;
	for (int i = 0; i < k; i++) {
		const char *p = iov[i].iov_base;
		size_t n = iov[i].iov_len, off = 0;
		while (off < n) {
			size_t used = 0, dlen = 0;
			const char *d = NULL;
			enum pc_chunked_result r =
				pc_chunked_feed(&ap->ck, p + off, n - off, &used, &d, &dlen);
			off += used;
			ap->walked += used;
			if (r == PC_CHUNKED_ERROR) {
				char why[300];
				snprintf(why, sizeof(why),
					 "egress denied: malformed request body: %s",
					 ap->ck.reason ? ap->ck.reason : "bad chunked framing");
				gate_record(c, AUDIT_DENY, "bad-request", NULL, why);
				read_limit(c, GATE_READ_MAX);
				http_reply_error(c, 400,
						 ap->ck.reason ? ap->ck.reason
							       : "bad chunked framing");
				return true;
			}
			if (r == PC_CHUNKED_DATA && dlen)
				pc_buf_append(&ap->data, d, dlen);
			if (ap->data.len > ap->body_max ||
			    ap->walked >= raw_max(ap)) { /* the input holds no more */
				char why[400];
				too_long(c, 0, why, sizeof(why));
				refuse(c, 413, NULL, "refuse", why);
				return true;
			}
			if (r == PC_CHUNKED_DONE) {
				body_complete(c, ap->data.data ? ap->data.data : "", ap->data.len);
				return true;
			}
			if (r == PC_CHUNKED_MORE)
				break;
		}
	}
	return false;
}

/* Headers that say nothing of what the request does: framing (the body is
 * bound whole), hop-by-hop ones (marked by the parser), the host (in the
 * URL), and ours. Every other header is bound: a retry that adds or changes
 * one (a method override, a tenant, an encoding) is another request. */
static bool unbound_header(const char *buf, const struct pc_http_header *h)
{
	static const char *const names[] = {"Content-Length", "Transfer-Encoding", "Host",
					    "Expect", "Connection", "Keep-Alive",
					    "Proxy-Connection", "Proxy-Authorization", "TE",
					    "Trailer", "Upgrade"};
	if (h->hop || approval_header(buf, h))
		return true;
	for (size_t i = 0; i < PC_ARRAY_SIZE(names); i++)
		if (h->name.len == strlen(names[i]) &&
		    strncasecmp(buf + h->name.off, names[i], h->name.len) == 0)
			return true;
	return false;
}

static char *bound_headers(const struct pc_http_head *hd, const char *buf)
{
	_cleanup_buf_ struct pc_buf b = {0};
	for (unsigned i = 0; i < hd->nheaders; i++) {
		const struct pc_http_header *h = &hd->headers[i];
		if (unbound_header(buf, h))
			continue;
		for (uint32_t k = 0; k < h->name.len; k++) {
			char ch = (char)tolower((unsigned char)buf[h->name.off + k]);
			pc_buf_append(&b, &ch, 1);
		}
		pc_buf_puts(&b, ": ");
		pc_buf_append(&b, buf + h->value.off, h->value.len);
		pc_buf_puts(&b, "\n");
	}
	pc_buf_append(&b, "", 1);
	return pc_steal_ptr(&b.data);
}

/* The most body c's request may have held: the largest body_max of the
 * rules it may meet; of all rules when it meets none by its head (a retry
 * naming its approval, a form body read for a deny rule's sake). */
static size_t body_max_for(const struct gconn *c, char *const *methods)
{
	const struct policy *p = c->g->policy;
	uint64_t m = 0;
	for (int i = policy_approval_match(p, 0, c->host, methods, c->path); i >= 0;
	     i = policy_approval_match(p, (size_t)i + 1, c->host, methods, c->path))
		m = p->approvals[i].body_max > m ? p->approvals[i].body_max : m;
	bool met = m != 0;
	for (size_t i = 0; !met && i < p->n_approvals; i++)
		m = p->approvals[i].body_max > m ? p->approvals[i].body_max : m;
	return (size_t)(m ? m : PC_APPROVAL_BODY_DEFAULT);
}

/* c's request will wait here, whole: its share of the run's budget
 * (sized: as sent; chunked: the raw input and the decoded copy at most).
 * false: refused, the budget is spent (answered, recorded). */
static bool budget(struct gconn *c)
{
	struct gconn_approval *ap = c->ap;
	struct gate_approvals *t = table(c->g);
	size_t need = ap->head_len;
	if (ap->body == PC_HTTP_BODY_LENGTH && ap->length <= ap->body_max)
		need += (size_t)ap->length;
	else if (ap->body == PC_HTTP_BODY_CHUNKED)
		need += raw_max(ap) + ap->body_max;
	if (t->buffered + need > APPROVALS_BUFFER_MAX) {
		char why[300];
		snprintf(why, sizeof(why),
			 "%s, but the requests read whole in this run (for approvals, or for "
			 "a deny rule naming methods) may hold %zu MiB already (the most): "
			 "refused, send it again later",
			 ap->for_deny ? "the body is read whole first (a deny rule names methods)"
				      : "approval needed",
			 APPROVALS_BUFFER_MAX >> 20);
		refuse(c, 503, NULL, "refuse", why);
		return false;
	}
	ap->buffered = need;
	t->buffered += need;
	return true;
}

bool approval_check(struct gconn *c, const char *buf)
{
	struct gconn_approval *ap = c->ap;
	if (ap && ap->reparse) {
		ap->reparse = false;
		if (ap->go)
			return true; /* carried out for its approval */
		if (ap->pass) {
			ap_free(c);
			return true;
		}
	}
	ap_free(c); /* the last request's: its answer is over */
	const struct pc_http_request *r = c->req;
	int hi = -1;
	for (unsigned i = 0; i < r->h.nheaders; i++) {
		if (!approval_header(buf, &r->h.headers[i]))
			continue;
		if (hi >= 0) {
			gate_record(c, AUDIT_DENY, "bad-request", NULL,
				    "egress denied: X-Pincer-Approval sent twice");
			http_reply_error(c, 400, "X-Pincer-Approval sent twice");
			return false;
		}
		hi = (int)i;
	}
	const struct policy *p = c->g->policy;
	/* the common case, without an allocation: no deny rule naming methods
	 * for this host, no approval rule its host and path meet whatever the
	 * method (an override can change only that) */
	bool deny_methods = false;
	for (size_t i = 0; i < p->net.n_deny && !deny_methods; i++) {
		const struct pc_net_rule *dr = &p->net.deny[i];
		/* an address applies to names resolving to it: any name */
		deny_methods = dr->methods && (policy_host_match(dr->host, c->host) ||
					       strchr(dr->host, ':') ||
					       strspn(dr->host, "0123456789.") == strlen(dr->host));
	}
	pc_strv_free(c->overrides);
	c->overrides = NULL;
	if (hi < 0 && !deny_methods &&
	    (!p->n_approvals || policy_approval_match(p, 0, c->host, NULL, c->path) < 0))
		return true;
	/* the methods a server may read it as (a method override): a deny
	 * rule naming one denies it, an approval rule holds it; a form body
	 * may name one too ("*" until it is read) */
	_cleanup_free_ char *hd = bound_headers(&r->h, buf);
	_cleanup_strv_ char **seen = policy_request_methods(c->method, hd, c->path, "", 0);
	_cleanup_strv_ char **all = policy_request_methods(
		c->method, hd, c->path, r->h.body == PC_HTTP_BODY_NONE ? "" : NULL, 0);
	struct pc_egress_decision d = {0};
	if (seen[1])
		policy_egress_decide_req(p, c->host, c->port, c->method, seen + 1, c->path, &d);
	if (seen[1] && d.verdict == PC_EGRESS_DENY && d.by_deny_rule) {
		gate_record(c, AUDIT_DENY, "deny-rule", d.rule_at, d.reason);
		http_reply_error(c, 403, d.reason);
		return false;
	}
	/* the overrides its head names, for a deny rule naming the address
	 * its name resolves to (upstream.c) */
	if (seen[1])
		c->overrides = pc_steal_ptr(&seen);
	/* a deny rule may name the method a body's _method gives (a form, a
	 * multipart part, a JSON key: Rails and Laravel read all three): such
	 * a body is read whole first, up to body_max */
	bool unread = false;
	if (pc_strv_contains(all, "*")) {
		policy_egress_decide_req(p, c->host, c->port, c->method, all + 1, c->path, &d);
		unread = d.verdict == PC_EGRESS_DENY && d.by_deny_rule;
	}
	bool for_approval =
		hi >= 0 || (p->n_approvals && policy_approval_match(p, 0, c->host, all, c->path) >= 0);
	if (!for_approval && !unread)
		return true; /* nothing to do with approvals */

	ap = c->ap = pc_xcalloc(1, sizeof(*ap));
	ap->head_len = r->h.head_len;
	ap->body = r->h.body;
	ap->length = r->h.content_length;
	pc_chunked_init(&ap->ck, 0, 0);
	int ct = pc_http_find_header(&r->h, buf, "Content-Type");
	if (ct >= 0)
		ap->content_type =
			pc_xstrndup(buf + r->h.headers[ct].value.off, r->h.headers[ct].value.len);
	ap->headers = pc_steal_ptr(&hd);
	ap->body_max = body_max_for(c, all);
	ap->for_deny = !for_approval;
	if (!budget(c))
		return false;
	if (hi >= 0) {
		const struct pc_http_span v = r->h.headers[hi].value;
		bool ok = v.len == 16;
		for (uint32_t i = 0; ok && i < v.len; i++)
			ok = isxdigit((unsigned char)buf[v.off + i]) &&
			     !isupper((unsigned char)buf[v.off + i]);
		if (!ok) {
			refuse(c, 403, NULL, "retry",
			       "X-Pincer-Approval must be an approval id (16 lower-case hex "
			       "characters, as the 202 gave it)");
			return false;
		}
		memcpy(ap->id, buf + v.off, 16);
		ap->has_id = true;
	}
	bool expect = r->h.expect_continue;
	if (ap->body == PC_HTTP_BODY_LENGTH && ap->length > ap->body_max) {
		char why[400];
		too_long(c, ap->length, why, sizeof(why));
		if (expect || ap->length > APPROVAL_DISCARD_TIMES * (uint64_t)ap->body_max) {
			refuse(c, 413, NULL, "refuse", why); /* the rest may meet a reset */
			return false;
		}
		ap->why = pc_xstrdup(why);
		ap->discard = ap->head_len + ap->length;
		free(c->req);
		c->req = NULL;
		c->phase = PH_APPROVAL;
		approval_readable(c);
		return false;
	}
	/* the head and body wait in the input, whole: parsed again later */
	free(c->req);
	c->req = NULL;
	c->phase = PH_APPROVAL;
	read_limit(c, ap->head_len + raw_max(ap));
	if (expect && ap->body != PC_HTTP_BODY_NONE) {
		/* the body is needed before anything goes upstream */
		evbuffer_add_printf(bufferevent_get_output(c->c), "HTTP/1.1 100 Continue\r\n\r\n");
		gate_send(c->c);
	}
	gate_read_on(c->c);
	approval_readable(c);
	return false;
}

/* ---- tunnels ---------------------------------------------------------------- */

bool approval_tunnel_refused(struct gconn *c)
{
	if (!policy_approval_host(c->policy, c->host))
		return false;
	char why[600];
	snprintf(why, sizeof(why),
		 "egress denied: requests to %.256s need approval (an approvals rule names it) "
		 "and a %s connection cannot be looked into%s",
		 c->host, gate_proto_name(c->proto),
		 c->g->tls ? ": use the HTTP proxy (HTTPS_PROXY) or connect directly"
			   : " (this run has no TLS interception: a restart gives it one)");
	free(c->decision);
	c->decision = NULL;
	gate_record(c, AUDIT_DENY, "approval-unseen", NULL, why);
	return true;
}

/* ---- the box's side ----------------------------------------------------------- */

static size_t approvals_where(struct gate *g, bool ended, const struct gate_approval **out,
			      size_t cap)
{
	size_t n = 0;
	for (struct gate_approval *a = g->approvals ? g->approvals->head : NULL; a; a = a->next)
		if (ended ? !live(a) : a->state == GATE_APPROVAL_PENDING) {
			if (n < cap)
				out[n] = a;
			n++;
		}
	return n;
}

size_t gate_approvals_pending(struct gate *g, const struct gate_approval **out, size_t cap)
{
	return approvals_where(g, false, out, cap);
}

size_t gate_approvals_ended(struct gate *g, const struct gate_approval **out, size_t cap)
{
	return approvals_where(g, true, out, cap);
}

/* The approver's secrets for the credentials of a's host, with the agent's
 * placeholders (those are in the request). */
static bool same_secrets(const struct gate_creds *x, const struct gate_creds *y)
{
	if (x->n != y->n || strcmp(x->identity ? x->identity : "", y->identity ? y->identity : ""))
		return false;
	for (size_t i = 0; i < x->n; i++) {
		const struct gate_cred *a = &x->c[i], *b = &y->c[i];
		if (a->len != b->len || (a->len && memcmp(a->secret, b->secret, a->len) != 0) ||
		    a->ph_len != b->ph_len ||
		    (a->ph_len && memcmp(a->placeholder, b->placeholder, a->ph_len) != 0) ||
		    strcmp(a->var, b->var) != 0)
			return false;
	}
	return true;
}

/* *cs (just opened, placeholders set) into the run's seen set; *cs then
 * borrows from it (an identical set there already replaces it). -1: full,
 * *cs freed. */
static int keep_seen(struct gate *g, struct gate_creds **cs)
{
	struct gate_approvals *t = table(g);
	for (size_t i = 0; i < t->n_seen; i++)
		if (same_secrets(t->seen[i], *cs)) {
			gate_creds_free(*cs);
			*cs = t->seen[i];
			return 0;
		}
	if (t->n_seen == APPROVER_SECRETS_MAX) {
		gate_creds_free(*cs);
		*cs = NULL;
		return -1;
	}
	t->seen[t->n_seen++] = *cs;
	if ((*cs)->max_pat > t->seen_max_pat)
		t->seen_max_pat = (*cs)->max_pat;
	return 0;
}

size_t approval_secret_values(const struct gate *g, struct cred_value *out, size_t *max_pat)
{
	size_t k = 0;
	const struct gate_approvals *t = g->approvals;
	for (size_t i = 0; t && i < t->n_seen; i++)
		k += creds_secret_values(t->seen[i], out ? out + k : NULL);
	if (max_pat)
		*max_pat = t ? t->seen_max_pat : 0;
	return k;
}

static int approver_creds(struct gate *g, struct gate_approval *a, const char *who,
			  struct pc_error *err)
{
	const struct policy *p = a->policy;
	struct policy only = {0};
	only.credentials = pc_xcalloc(p->n_credentials + 1, sizeof(*only.credentials));
	for (size_t i = 0; i < p->n_credentials; i++)
		for (size_t h = 0; p->credentials[i].hosts && p->credentials[i].hosts[h]; h++)
			if (policy_host_match(p->credentials[i].hosts[h], a->host)) {
				only.credentials[only.n_credentials++] = p->credentials[i];
				break;
			}
	int r;
	if (!only.n_credentials)
		r = pc_error(err, ENOENT,
			     "act_as: approver, but no credential of the policy names %s: there is "
			     "no secret of %s to act with",
			     a->host, who);
	else if (!g->tls_ops)
		r = pc_error(err, ENOTSUP,
			     "act_as: approver, but this run has no TLS interception to put %s's "
			     "secret in",
			     who);
	else
		r = gate_creds_open(&only, g->tls_ops, who, &a->creds, err);
	free(only.credentials);
	if (r < 0)
		return pc_error_prefix(err, "the approver's secret");
	/* the request carries the agent's placeholders: they stand for the
	 * approver's secrets now */
	struct gate_creds *cs = a->creds;
	for (size_t i = 0; i < cs->n; i++) {
		struct gate_cred *cr = &cs->c[i];
		for (size_t j = 0; g->creds && j < g->creds->n; j++) {
			const struct gate_cred *mine = &g->creds->c[j];
			if (mine->retired || !mine->placeholder || strcmp(mine->var, cr->var) != 0)
				continue;
			cs->ops->vault_wipe(cr->placeholder, cr->ph_len);
			free(cr->placeholder);
			cr->placeholder = pc_xstrndup(mine->placeholder, mine->ph_len);
			cr->ph_len = mine->ph_len;
		}
	}
	if (keep_seen(g, &a->creds) < 0)
		return pc_error(err, EMFILE,
				"this run has acted with %d sets of approvers' secrets already (the "
				"most): no more",
				APPROVER_SECRETS_MAX);
	return 0;
}

int gate_approval_decide(struct gate *g, const char *id, bool approve, char *const *approvers,
			 const char *by, const char *reason, struct pc_error *err)
{
	struct gate_approval *a = find(g, id);
	if (!a)
		return pc_error(err, ENOENT, "no approval %s in this run (or one long ended)", id);
	if (a->state != GATE_APPROVAL_PENDING)
		return pc_error(err, EALREADY, "approval %s is %s%s%s", id,
				gate_approval_state_name(a->state), a->reason ? ": " : "",
				a->reason ? a->reason : "");
	const struct pc_approval_rule *r = rule_of(a);
	if (!approve) {
		if (!by || !*by)
			return pc_error(err, EINVAL, "a rejection names who rejected (by)");
		char why[700];
		snprintf(why, sizeof(why), "approval rejected by %.100s: %.500s", by,
			 reason && *reason ? reason : "no reason given");
		pc_strv_push(&a->approvers, by);
		a->state = GATE_APPROVAL_REJECTED; /* for the record's field name */
		finish(a, GATE_APPROVAL_REJECTED, "reject", why);
		return 0;
	}
	size_t n = pc_strv_len(approvers);
	for (size_t i = 0; i < n; i++) {
		if (!vault_valid_identity(approvers[i]) ||
		    strncmp(approvers[i], "group:", 6) == 0 ||
		    strlen(approvers[i]) > APPROVAL_NAME_MAX)
			return pc_error(
				err, EINVAL,
				"approvers[%zu] '%.100s' is not a person's name (groups are "
				"resolved by whoever decides)",
				i, approvers[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(approvers[i], approvers[j]) == 0)
				return pc_error(err, EINVAL,
						"approvers: %s is named twice (the approvals must "
						"come from distinct people)",
						approvers[i]);
	}
	if (n < r->count)
		return pc_error(err, EINVAL, "approval %s needs %u distinct approvers, %zu given",
				id, (unsigned)r->count, n);
	for (size_t i = 0; i < n; i++)
		pc_strv_push(&a->approvers, approvers[i]);
	if (r->act_as == PC_ACT_AS_APPROVER) {
		struct pc_error cerr = {0};
		if (approver_creds(g, a, approvers[0], &cerr) < 0) {
			char why[900];
			snprintf(why, sizeof(why), "approval failed: approved by %.200s, %.600s",
				 approvers[0], cerr.msg);
			finish(a, GATE_APPROVAL_FAILED, "fail", why);
			return pc_error(err, EPERM, "%s", why);
		}
	}
	char who[600], why[800];
	joined(a->approvers, who, sizeof(who));
	snprintf(why, sizeof(why), "approved by %s%s", who,
		 r->act_as == PC_ACT_AS_APPROVER ? "; it runs with their secrets" : "");
	a->state = GATE_APPROVAL_APPROVED;
	free(a->reason);
	a->reason = pc_xstrdup(why);
	record(g, a, a->conn, AUDIT_ALLOW, "approve", why, 0);
	if (a->conn && agent_left(a->conn)) {
		/* its close not yet read (the decision came first): nothing
		 * runs for nobody; approved still, for the agent's retry */
		struct gconn *c = a->conn;
		release(a);
		record(g, a, c, AUDIT_NONE, "not-sent",
		       "approved request not sent: the agent's connection had closed; it stays "
		       "approved (until it expires) for the agent to send again with "
		       "X-Pincer-Approval",
		       0);
	} else if (a->conn) {
		execute(a->conn, a);
	}
	return 0;
}

void approvals_set_policy(struct gate *g, const struct policy *p)
{
	if (!g->approvals)
		return;
	for (struct gate_approval *a = g->approvals->head, *next; a; a = next) {
		next = a->next;
		if (a->state != GATE_APPROVAL_PENDING && a->state != GATE_APPROVAL_APPROVED)
			continue;
		const struct pc_approval_rule *was = rule_of(a);
		bool kept = false;
		for (size_t i = 0; i < p->n_approvals && !kept; i++)
			if (policy_approval_same(was, &p->approvals[i])) {
				a->policy = p;
				a->rule = i;
				kept = true;
			}
		if (kept)
			continue;
		char rat[300], why[500];
		rule_at(a, rat, sizeof(rat));
		snprintf(why, sizeof(why),
			 "approval rejected: policy changed (its rule %s is gone or asks otherwise "
			 "now)",
			 rat);
		finish(a, GATE_APPROVAL_REJECTED, "reject", why);
	}
}
