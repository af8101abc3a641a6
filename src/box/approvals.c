/* Approvals, the run's side (box/control.h, "approvals"): the gate holds
 * the requests and keeps the approvals; this tells the control socket's
 * subscribers (the daemon) of each one, takes their decisions to the gate,
 * and gives the gate what it needs from the box: whom the run works for
 * and a readable summary of a request (its JSON body pretty-printed).
 *
 * The subscriber is trusted (the run's own uid: control.c checks) to have
 * checked who may approve; what is checked here is only the form of what
 * it sends.
 */
#include "box/control.h"
#include "box/internal.h"
#include "gate/gate.h"
#include "vault/vault.h"

#include <jansson.h>
#include <string.h>
#include <sys/socket.h>

_Static_assert(APPROVAL_BODY_MAX == GATE_APPROVAL_BODY_MAX, "control.h and the gate differ");

#define SUMMARY_MAX   2048 /* bytes of a summary */
#define SUBS_MAX      16   /* subscribed connections at once */
#define DECIDE_REASON 1000 /* bytes of a rejection's reason */
#define DECIDE_NAME   256  /* bytes of an approver's name */

struct box_approvals {
	struct box_loop *L;
	int subs[SUBS_MAX];
	size_t n_subs;
	char *me; /* whom the run works for when it names nobody */
};

static void send_json(int fd, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text && strlen(text) <= CONTROL_MSG_MAX)
		(void)send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
	free(text);
}

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* s with every byte outside printable ASCII as '?': what JSON and a
 * terminal take (paths are percent-encoded ASCII anyway). */
static char *ascii(const char *s)
{
	char *t = pc_xstrdup(s ? s : "");
	for (char *q = t; *q; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
			*q = '?';
	return t;
}

static json_t *approval_json(const struct box_approvals *B, const struct gate_approval *a)
{
	_cleanup_free_ char *path = ascii(a->path);
	const struct pc_approval_rule *r = &a->policy->approvals[a->rule];
	char created[32], expires[32];
	gate_approval_time(a->created_ms, created);
	gate_approval_time(a->expires_ms, expires);
	/* strings from the agent's request may be any bytes: made valid UTF-8 */
	return json_pack("{s:{s:s, s:s, s:s, s:i, s:s, s:s?, s:s?, s:s?, s:i, s:s?, s:o, s:i, "
			 "s:s, s:s, s:s}}",
			 "approval", "id", a->id, "agent", B->L->agent ? B->L->agent : "-",
			 "identity", a->identity, "rule", (int)a->rule, "digest", a->digest,
			 "summary", a->summary, "method", a->method, "host", a->host, "port",
			 (int)a->port, "path", path, "approvers", strv_json(r->approvers), "count",
			 (int)r->count, "act_as",
			 r->act_as == PC_ACT_AS_APPROVER ? "approver" : "agent", "created", created,
			 "expires", expires);
}

static json_t *ended_json(const struct gate_approval *a)
{
	json_t *e = json_pack("{s:s, s:s, s:s?}", "id", a->id, "state",
			      gate_approval_state_name(a->state), "reason", a->reason);
	if (e && a->state == GATE_APPROVAL_EXECUTED && a->status)
		json_object_set_new(e, "status", json_integer(a->status));
	if (e && a->approvers)
		json_object_set_new(e, "approvers", strv_json(a->approvers));
	return e ? json_pack("{s:o}", "ended", e) : NULL;
}

/* ---- the gate's hooks ----------------------------------------------------- */

static const char *identity(void *arg)
{
	struct box_approvals *B = arg;
	if (B->L->bc->identity)
		return B->L->bc->identity;
	if (!B->me)
		B->me = vault_default_identity();
	return B->me ? B->me : "-";
}

/* text cut to at most max bytes, at a character's start */
static void cut_utf8(struct pc_buf *b, const char *text, size_t len, size_t max)
{
	if (len > max) {
		while (max && ((unsigned char)text[max] & 0xc0) == 0x80)
			max--;
		pc_buf_append(b, text, max);
		pc_buf_puts(b, "\n...(cut)");
		return;
	}
	pc_buf_append(b, text, len);
}

/* JSON text as jansson writes it (valid UTF-8, C0 escaped) with the
 * characters that are valid but act on a terminal or hide text written as
 * \uXXXX too: DEL, C1 (U+0080..U+009F, e.g. U+009B, CSI), the zero-width
 * and bidirectional controls (U+200B..U+200F, U+2028..U+202E,
 * U+2060..U+206F) and U+FEFF. They occur only inside strings, where the
 * escape means the same: the summary stays JSON, and shows what is asked. */
static void quiet_json(struct pc_buf *b, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		unsigned cp = 0, n = 0;
		if (p[0] == 0x7f)
			cp = 0x7f, n = 1;
		else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			cp = p[1], n = 2;
		else if (p[0] == 0xe2 && (p[1] == 0x80 || p[1] == 0x81) && p[2]) {
			cp = 0x2000u | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
			n = (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
				    (cp >= 0x2060 && cp <= 0x206f)
				    ? 3
				    : 0;
		} else if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
			cp = 0xfeff, n = 3;
		if (!n) {
			pc_buf_append(b, p, 1);
			continue;
		}
		pc_buf_printf(b, "\\u%04x", cp);
		p += n - 1;
	}
}

static char *summary(void *arg, const struct gate_approval *a, const char *body, size_t len)
{
	(void)arg;
	_cleanup_buf_ struct pc_buf b = {0};
	_cleanup_free_ char *path = ascii(a->path);
	pc_buf_printf(&b, "%s %s%s", a->method, a->host, path);
	json_t *j = len ? json_loadb(body, len, JSON_DECODE_ANY, NULL) : NULL;
	if (j) {
		char *pretty =
			json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		json_decref(j);
		if (pretty) {
			_cleanup_buf_ struct pc_buf q = {0};
			quiet_json(&q, pretty);
			free(pretty);
			pc_buf_puts(&b, "\n");
			cut_utf8(&b, q.data ? q.data : "", q.len,
				 SUMMARY_MAX > b.len ? SUMMARY_MAX - b.len - 10 : 0);
		}
	} else if (len) {
		pc_buf_printf(&b, "\n(%zu bytes, not JSON)", len);
	}
	pc_buf_append(&b, "", 1);
	return pc_steal_ptr(&b.data);
}

static void changed(void *arg, const struct gate_approval *a)
{
	struct box_approvals *B = arg;
	for (size_t i = 0; i < B->n_subs; i++)
		send_json(B->subs[i],
			  a->state == GATE_APPROVAL_PENDING ? approval_json(B, a) : ended_json(a));
}

void box_approvals_attach(struct box_loop *L)
{
	struct box_approvals *B = pc_xcalloc(1, sizeof(*B));
	B->L = L;
	L->approvals = B;
	const struct gate_approval_hooks h = {
		.arg = B, .identity = identity, .summary = summary, .changed = changed};
	gate_set_approval_hooks(L->gate, &h);
}

void box_approvals_detach(struct box_loop *L)
{
	struct box_approvals *B = L->approvals;
	if (!B)
		return;
	if (L->gate)
		gate_set_approval_hooks(L->gate, NULL);
	free(B->me);
	free(B);
	L->approvals = NULL;
}

void box_approvals_gone(struct box_loop *L, int fd)
{
	struct box_approvals *B = L ? L->approvals : NULL;
	for (size_t i = 0; B && i < B->n_subs; i++)
		if (B->subs[i] == fd) {
			B->subs[i] = B->subs[--B->n_subs];
			return;
		}
}

/* ---- the control socket's ops --------------------------------------------- */

static int subscribe(struct box_approvals *B, int fd, json_t *j, char *why, size_t n)
{
	const char *op;
	json_error_t je;
	if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s}", "op", &op) < 0) {
		snprintf(why, n, "bad subscribe request: %s", je.text);
		return -EINVAL;
	}
	bool known = false;
	for (size_t i = 0; i < B->n_subs; i++)
		known |= B->subs[i] == fd;
	if (!known) {
		if (B->n_subs == SUBS_MAX) {
			snprintf(why, n, "too many subscribers (%d)", SUBS_MAX);
			return -EBUSY;
		}
		B->subs[B->n_subs++] = fd;
	}
	const struct gate_approval *p[GATE_APPROVALS_MAX];
	size_t k = gate_approvals_pending(B->L->gate, p, PC_ARRAY_SIZE(p));
	k = k < PC_ARRAY_SIZE(p) ? k : PC_ARRAY_SIZE(p);
	send_json(fd, json_pack("{s:i}", "subscribed", (int)k));
	for (size_t i = 0; i < k; i++)
		send_json(fd, approval_json(B, p[i]));
	/* and how the recent ones ended: a subscriber that was away (the
	 * daemon restarting) would otherwise keep them as it last knew them */
	static const struct gate_approval *e[1024];
	k = gate_approvals_ended(B->L->gate, e, PC_ARRAY_SIZE(e));
	for (size_t i = 0; i < k && i < PC_ARRAY_SIZE(e); i++)
		send_json(fd, ended_json(e[i]));
	return 0;
}

/* A JSON string with no NUL in it, 1..max bytes. */
static const char *name_of(const json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	return s && *s && strlen(s) == json_string_length(v) && strlen(s) <= max ? s : NULL;
}

static int decide(struct box_approvals *B, int fd, json_t *j, char *why, size_t n)
{
	const char *op, *id;
	int approve;
	json_t *approvers_j = NULL, *by_j = NULL, *reason_j = NULL;
	json_error_t je;
	if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s, s:s, s:b, s?o, s?o, s?o}", "op", &op, "id",
			   &id, "approve", &approve, "approvers", &approvers_j, "by", &by_j,
			   "reason", &reason_j) < 0) {
		snprintf(why, n, "bad decide request: %s", je.text);
		return -EINVAL;
	}
	const char *by = NULL, *reason = NULL;
	_cleanup_free_ char **approvers = NULL;
	if (approve) {
		if (by_j || reason_j || !json_is_array(approvers_j) ||
		    !json_array_size(approvers_j)) {
			snprintf(why, n,
				 "an approval names its approvers: {\"op\": \"decide\", \"id\": "
				 "ID, \"approve\": true, \"approvers\": [\"bob\"]}");
			return -EINVAL;
		}
		size_t k = json_array_size(approvers_j);
		approvers = pc_xcalloc(k + 1, sizeof(*approvers));
		for (size_t i = 0; i < k; i++)
			if (!(approvers[i] = (char *)name_of(json_array_get(approvers_j, i),
							     DECIDE_NAME))) {
				snprintf(why, n,
					 "approvers[%zu] must be a name (1 to %d bytes, no NUL)", i,
					 DECIDE_NAME);
				return -EINVAL;
			}
	} else {
		by = by_j ? name_of(by_j, DECIDE_NAME) : NULL;
		reason = reason_j ? json_string_value(reason_j) : NULL;
		if (approvers_j || !by ||
		    (reason_j && (!reason || strlen(reason) != json_string_length(reason_j) ||
				  strlen(reason) > DECIDE_REASON))) {
			snprintf(why, n,
				 "a rejection names who rejected and may say why: {\"op\": "
				 "\"decide\", \"id\": ID, \"approve\": false, \"by\": "
				 "\"bob\", \"reason\": \"...\"} (reason: at most %d bytes)",
				 DECIDE_REASON);
			return -EINVAL;
		}
	}
	struct pc_error err = {0};
	_cleanup_free_ char *idc = pc_xstrdup(id); /* the gate may answer the request now */
	if (gate_approval_decide(B->L->gate, idc, approve, approvers, by, reason, &err) < 0)
		send_json(fd, json_pack("{s:s}", "error", err.msg));
	else
		send_json(fd, json_pack("{s:s}", "decided", idc));
	return 0;
}

int box_approvals_op(struct box_loop *L, int fd, struct json_t *j, char *why, size_t n)
{
	struct box_approvals *B = L->approvals;
	const char *op = json_string_value(json_object_get(j, "op"));
	if (!B || !L->gate) {
		snprintf(why, n, "this run has no gate");
		return -ENOTSUP;
	}
	if (strcmp(op, "subscribe") == 0)
		return subscribe(B, fd, j, why, n);
	return decide(B, fd, j, why, n);
}
