/* Credentials in the HTTP that passes the gate: injected into requests to
 * the hosts a credential names, looked for in every other request (an
 * exfiltration attempt), and taken out of every answer.
 *
 * Only intercepted HTTPS gets a secret: over plain HTTP it would cross the
 * network readable, so a placeholder sent that way is refused instead.
 * Bodies are searched as they stream: the last (longest value - 1) bytes
 * are always held back until more come or the body ends, so a value split
 * across reads is seen whole before any of it leaves.
 */
#include "gate/internal.h"

#include <ctype.h>
#include <string.h>

static void cred_values_free(struct cred_values *s)
{
	if (s->v != s->local)
		free(s->v);
	s->v = NULL;
}

/* Room in s for `mine` values of the run's, filled by the caller into the
 * array returned, and after them every approver's secret this run acted
 * with (an upstream may hand one back to any later request; the agent
 * never holds one, so it may go nowhere). */
static struct cred_value *values_begin(const struct gconn *c, struct cred_values *s, size_t mine)
{
	size_t need = mine + approval_secret_values(c->g, NULL, NULL);
	s->v = need <= GATE_CRED_VALUES_LOCAL ? s->local : pc_xcalloc(need, sizeof(*s->v));
	size_t theirs = 0;
	s->n = mine + approval_secret_values(c->g, s->v + mine, &theirs);
	const struct gate_creds *cs = c->g->creds;
	s->max_pat = cs && cs->max_pat > theirs ? cs->max_pat : theirs;
	return s->v;
}

/* What may not leave in c's request: the run's values that are not for
 * its host, and the approvers' secrets. */
static void foreign(struct gconn *c, struct cred_values *s)
{
	const struct gate_creds *cs = c->g->creds;
	creds_foreign_values(cs, c->host,
			     values_begin(c, s, creds_foreign_values(cs, c->host, NULL)));
}

/* The audit record and the refusal of an exfiltration attempt. */
static void exfiltration(struct gconn *c, const struct cred_value *v, const char *where)
{
	struct gate *g = c->g;
	char reason[700], allowed[300] = "";
	size_t l = 0;
	for (size_t h = 0; v->cred->hosts && v->cred->hosts[h] && l < sizeof(allowed); h++)
		l += (size_t)snprintf(allowed + l, sizeof(allowed) - l, "%s%s", h ? ", " : "",
				      v->cred->hosts[h]);
	if (v->cred->retired) /* removed by a policy reload: it may go nowhere */
		snprintf(reason, sizeof(reason),
			 "exfiltration blocked: the %s of credential %s (%s) in the request %s to "
			 "%s:%u; the credential was removed from the policy by a reload, so it may "
			 "go nowhere",
			 v->what, v->cred->name, v->cred->var, where, c->host, c->port);
	else
		snprintf(reason, sizeof(reason),
			 "exfiltration blocked: the %s of credential %s (%s) in the request %s to "
			 "%s:%u, which the credential does not name (it may go to %s only)",
			 v->what, v->cred->name, v->cred->var, where, c->host, c->port, allowed);
	struct audit_field f[10];
	size_t n = gate_fields(c, f);
	f[n++] = AUDIT_STR("credential", v->cred->name);
	f[n++] = AUDIT_STR("where", where);
	f[n++] = AUDIT_STR("found", v->what);
	f[n++] = AUDIT_NUM("conn", c->id);
	struct pc_error err = {0};
	if (audit_write(g->log, AUDIT_EXFILTRATION, g->agent, g->run, AUDIT_DENY, reason, f, n,
			&err) < 0)
		pc_warn("audit: %s", err.msg);
	c->decided = true;
	gate_count_denial(g, c->host, c->port, "exfiltration");
	free(c->decision);
	c->decision = NULL;
	char say[200];
	snprintf(say, sizeof(say), "exfiltration blocked: credential %.40s may not go to %.100s",
		 v->cred->name, c->host);
	if (c->resp_started) {
		gconn_free(c);
		return;
	}
	http_reply_error(c, 403, say);
}

bool inject_check_head(struct gconn *c, const char *buf, size_t line_len, size_t head_len)
{
	_cleanup_(cred_values_free) struct cred_values s;
	foreign(c, &s);
	for (size_t i = 0; i < s.n; i++) {
		const char *at = memmem(buf, head_len, s.v[i].p, s.v[i].n);
		if (at) {
			exfiltration(c, &s.v[i], (size_t)(at - buf) < line_len ? "url" : "header");
			return false;
		}
	}
	if (c->intercept)
		return true;
	/* plain HTTP to a host a credential names: the secret is not sent in
	 * the clear, and the placeholder alone would only confuse */
	for (size_t i = 0; c->g->creds && i < c->g->creds->n; i++) {
		const struct gate_cred *cr = &c->g->creds->c[i];
		if (!cred_for_host(cr, c->host) || !memmem(buf, head_len, cr->placeholder, cr->ph_len))
			continue;
		char reason[500];
		snprintf(reason, sizeof(reason),
			 "egress denied: credential %s is sent only over HTTPS (request https://%s/ "
			 "instead of http://)",
			 cr->name, c->host);
		gate_record(c, AUDIT_DENY, "credential-plain-http", NULL, reason);
		http_reply_error(c, 403, reason + 15);
		return false;
	}
	return true;
}

/* ---- injection ---------------------------------------------------------- */

static bool unreserved(uint8_t ch)
{
	return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static void put_encoded(struct pc_buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (unreserved(p[i]))
			pc_buf_append(b, (const char *)&p[i], 1);
		else
			pc_buf_printf(b, "%%%02X", p[i]);
	}
}

/* A secret that would break the head it goes into (a CR, LF or NUL in a
 * header) is not sent. */
static bool header_safe(const struct gate_cred *cr)
{
	for (size_t i = 0; i < cr->len; i++)
		if (cr->secret[i] < 0x20 && cr->secret[i] != '\t')
			return false;
	return true;
}

/* Credentials that go wherever the agent put their placeholder: those with
 * neither header: nor query: (the others go only where they say). */
static bool swaps_anywhere(const struct gconn *c, const struct gate_cred *cr)
{
	return !cr->header && !cr->query && cred_for_host(cr, c->host);
}

/* p[0..n) with every placeholder of such a credential replaced by its
 * secret (percent-encoded in a URL). false: a secret that cannot go in a
 * header (recorded and refused by the caller). */
static bool put_swapped(struct gconn *c, struct pc_buf *b, const char *p, size_t n, bool url)
{
	const struct gate_creds *cs = gconn_creds(c);
	size_t i = 0;
	while (i < n) {
		const struct gate_cred *hit = NULL;
		size_t at = n;
		for (size_t k = 0; cs && k < cs->n; k++) {
			const struct gate_cred *cr = &cs->c[k];
			if (!swaps_anywhere(c, cr))
				continue;
			const char *f = memmem(p + i, n - i, cr->placeholder, cr->ph_len);
			if (f && (size_t)(f - p) < at) {
				at = (size_t)(f - p);
				hit = cr;
			}
		}
		pc_buf_append(b, p + i, at - i);
		if (!hit)
			return true;
		if (url) {
			put_encoded(b, hit->secret, hit->len);
		} else {
			if (!header_safe(hit)) {
				c->unsafe = hit;
				return false;
			}
			pc_buf_append(b, (const char *)hit->secret, hit->len);
		}
		i = at + hit->ph_len;
		note_injected(c, hit);
	}
	return true;
}

/* The refusal of a secret with control characters bound for a header. */
static bool refuse_unsafe(struct gconn *c, const struct gate_cred *cr)
{
	char reason[300];
	snprintf(reason, sizeof(reason),
		 "egress denied: the secret of credential %s has control characters and cannot "
		 "go in a header",
		 cr->name);
	gate_record(c, AUDIT_DENY, "credential", NULL, reason);
	http_reply_error(c, 502, reason + 15);
	return false;
}

void note_injected(struct gconn *c, const struct gate_cred *cr)
{
	size_t l = strlen(c->injected);
	if (strstr(c->injected, cr->name))
		return;
	snprintf(c->injected + l, sizeof(c->injected) - l, "%s%s", l ? "," : "", cr->name);
	l = strlen(c->injected_owner);
	if (!strstr(c->injected_owner, cr->owner))
		snprintf(c->injected_owner + l, sizeof(c->injected_owner) - l, "%s%s",
			 l ? "," : "", cr->owner);
}

bool inject_applies(const struct gconn *c)
{
	const struct gate_creds *cs = gconn_creds(c);
	if (!c->intercept || !cs)
		return false;
	for (size_t k = 0; k < cs->n; k++)
		if (cred_for_host(&cs->c[k], c->host))
			return true;
	return false;
}

void inject_target(struct gconn *c, struct pc_buf *b, const char *path)
{
	const struct gate_creds *cs = gconn_creds(c);
	size_t n = strlen(path);
	const char *q = strchr(path, '?');
	/* a query parameter the credential sets: any the agent sent goes */
	_cleanup_buf_ struct pc_buf t = {0};
	put_swapped(c, &t, path, q ? (size_t)(q - path) : n, true); /* URL: cannot fail */
	bool first = true;
	if (q) {
		const char *s = q + 1;
		while (*s) {
			const char *e = strchr(s, '&');
			size_t len = e ? (size_t)(e - s) : strlen(s);
			bool drop = false;
			for (size_t k = 0; k < cs->n; k++) {
				const struct gate_cred *cr = &cs->c[k];
				size_t ql = cr->query ? strlen(cr->query) : 0;
				if (ql && cred_for_host(cr, c->host) && len >= ql &&
				    strncmp(s, cr->query, ql) == 0 && (len == ql || s[ql] == '='))
					drop = true;
			}
			if (!drop) {
				pc_buf_puts(&t, first ? "?" : "&");
				put_swapped(c, &t, s, len, true);
				first = false;
			}
			s += len + (e ? 1 : 0);
		}
	}
	for (size_t k = 0; k < cs->n; k++) {
		const struct gate_cred *cr = &cs->c[k];
		if (!cr->query || !cred_for_host(cr, c->host))
			continue;
		pc_buf_printf(&t, "%s%s=", first ? "?" : "&", cr->query);
		put_encoded(&t, cr->secret, cr->len);
		first = false;
		note_injected(c, cr);
	}
	pc_buf_append(b, t.data, t.len);
	explicit_bzero(t.data, t.cap);
}

bool inject_header(struct gconn *c, struct pc_buf *b, const char *name, size_t nlen,
		   const char *value, size_t vlen)
{
	const struct gate_creds *cs = gconn_creds(c);
	for (size_t k = 0; k < cs->n; k++) {
		const struct gate_cred *cr = &cs->c[k];
		if (cr->header && cred_for_host(cr, c->host) && strlen(cr->header) == nlen &&
		    strncasecmp(cr->header, name, nlen) == 0)
			return true; /* the credential's own header is written by inject_headers */
	}
	pc_buf_append(b, name, nlen);
	pc_buf_puts(b, ": ");
	if (!put_swapped(c, b, value, vlen, false))
		return refuse_unsafe(c, c->unsafe);
	pc_buf_puts(b, "\r\n");
	return true;
}

static void put_base64(struct pc_buf *b, const uint8_t *p, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = {a[(v >> 18) & 63], a[(v >> 12) & 63], i + 1 < n ? a[(v >> 6) & 63] : '=',
			     i + 2 < n ? a[v & 63] : '='};
		pc_buf_append(b, q, 4);
	}
}

/* The header's value: format with {secret} (as is) and {secret_base64}
 * (for "Basic {secret_base64}" over a "user:password" secret) filled in. */
static void put_format(struct pc_buf *b, const struct gate_cred *cr)
{
	const char *f = cr->format;
	while (*f) {
		if (strncmp(f, "{secret}", 8) == 0) {
			pc_buf_append(b, (const char *)cr->secret, cr->len);
			f += 8;
		} else if (strncmp(f, "{secret_base64}", 15) == 0) {
			put_base64(b, cr->secret, cr->len);
			f += 15;
		} else {
			pc_buf_append(b, f++, 1);
		}
	}
}

bool inject_headers(struct gconn *c, struct pc_buf *b)
{
	const struct gate_creds *cs = gconn_creds(c);
	for (size_t k = 0; k < cs->n; k++) {
		const struct gate_cred *cr = &cs->c[k];
		if (!cr->header || !cred_for_host(cr, c->host))
			continue;
		if (!header_safe(cr))
			return refuse_unsafe(c, cr);
		pc_buf_printf(b, "%s: ", cr->header);
		put_format(b, cr);
		pc_buf_puts(b, "\r\n");
		note_injected(c, cr);
	}
	return true;
}

/* ---- bodies ------------------------------------------------------------- */

/* The first of values v[0..k) wholly inside in[from..n), or NULL. */
static const struct cred_value *search(struct evbuffer *in, size_t from, size_t n,
				       const struct cred_value *v, size_t k,
				       struct evbuffer_ptr *where)
{
	struct evbuffer_ptr end, start;
	if (evbuffer_ptr_set(in, &end, n, EVBUFFER_PTR_SET) < 0 ||
	    evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET) < 0)
		return NULL;
	for (size_t i = 0; i < k; i++) {
		if (v[i].n > n - from)
			continue;
		struct evbuffer_ptr p =
			evbuffer_search_range(in, (const char *)v[i].p, v[i].n, &start, &end);
		if (p.pos >= 0) {
			*where = p;
			return &v[i];
		}
	}
	return NULL;
}

/* How many of in[0..n) may go now: all at the end; else all but the
 * longest tail that begins one of the values (the rest of it may be in
 * the next read). Usually nothing is held, so a stream (server-sent
 * events) is not delayed. */
static size_t releasable(struct evbuffer *in, size_t n, bool last, const struct cred_value *v,
			 size_t k, size_t max_pat)
{
	if (last || !n || max_pat < 2)
		return n;
	uint8_t small[4096];
	size_t m = n < max_pat - 1 ? n : max_pat - 1;
	_cleanup_free_ uint8_t *big = m > sizeof(small) ? pc_xmalloc(m) : NULL;
	uint8_t *tail = big ? big : small;
	struct evbuffer_ptr at;
	if (evbuffer_ptr_set(in, &at, n - m, EVBUFFER_PTR_SET) < 0 ||
	    evbuffer_copyout_from(in, &at, tail, m) != (ev_ssize_t)m)
		return n - m; /* cannot look: hold the most a value can need */
	size_t hold = 0;
	for (size_t i = 0; i < k; i++) {
		for (size_t h = (v[i].n - 1 < m ? v[i].n - 1 : m); h > hold; h--) {
			if (tail[m - h] == v[i].p[0] && memcmp(tail + m - h, v[i].p, h) == 0) {
				hold = h;
				break;
			}
		}
	}
	return n - hold;
}

bool scan_request(struct gconn *c, struct evbuffer *in, size_t n, bool last, size_t *ok)
{
	_cleanup_(cred_values_free) struct cred_values s;
	foreign(c, &s);
	struct evbuffer_ptr at;
	const struct cred_value *hit = s.n ? search(in, 0, n, s.v, s.n, &at) : NULL;
	if (hit) {
		exfiltration(c, hit, "body");
		return false;
	}
	*ok = s.n ? releasable(in, n, last, s.v, s.n, s.max_pat) : n;
	return true;
}

/* Overwrite in[at..at+n) with repl. */
static void overwrite(struct evbuffer *in, struct evbuffer_ptr at, const uint8_t *repl, size_t n)
{
	struct evbuffer_iovec iov[8];
	size_t done = 0;
	while (done < n) {
		int k = evbuffer_peek(in, (ev_ssize_t)(n - done), &at, iov, 8);
		if (k <= 0)
			return;
		for (int i = 0; i < k && i < 8 && done < n; i++) {
			size_t m = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
			memcpy(iov[i].iov_base, repl + done, m);
			done += m;
		}
		if (evbuffer_ptr_set(in, &at, done, EVBUFFER_PTR_ADD) < 0)
			return;
	}
}

/* What a secret value becomes in an answer: the placeholder when they are
 * as long (the agent's own view of it), else as many '*'. */
static const uint8_t *redaction(const struct cred_value *v, uint8_t *stars)
{
	if (v->n == v->cred->ph_len)
		return (const uint8_t *)v->cred->placeholder;
	memset(stars, '*', v->n);
	return stars;
}

/* Every secret an answer to c may echo: the run's and the approvers'. */
static void secrets_of(const struct gconn *c, struct cred_values *s)
{
	const struct gate_creds *cs = c->g->creds;
	creds_secret_values(cs, values_begin(c, s, creds_secret_values(cs, NULL)));
}

size_t redact(struct gconn *c, struct evbuffer *in, size_t n, bool last)
{
	_cleanup_(cred_values_free) struct cred_values s;
	secrets_of(c, &s);
	const struct cred_value *v = s.v;
	size_t k = s.n;
	if (!k)
		return n;
	/* value by value, each pass after what the last one replaced: a
	 * replacement is never searched again for the same value */
	for (size_t i = 0; i < k; i++) {
		struct evbuffer_ptr at;
		size_t from = 0;
		while (from < n && search(in, from, n, &v[i], 1, &at)) {
			uint8_t *stars = pc_xmalloc(v[i].n);
			overwrite(in, at, redaction(&v[i], stars), v[i].n);
			free(stars);
			redacted_note(c, &v[i]);
			from = (size_t)at.pos + v[i].n;
		}
	}
	return releasable(in, n, last, v, k, s.max_pat);
}

void redact_mem(struct gconn *c, char *p, size_t n)
{
	_cleanup_(cred_values_free) struct cred_values s;
	secrets_of(c, &s);
	const struct cred_value *v = s.v;
	for (size_t i = 0; i < s.n; i++) {
		char *at = p, *f;
		while ((f = memmem(at, n - (size_t)(at - p), v[i].p, v[i].n))) {
			uint8_t *stars = pc_xmalloc(v[i].n);
			memcpy(f, redaction(&v[i], stars), v[i].n);
			free(stars);
			redacted_note(c, &v[i]);
			at = f + v[i].n;
		}
	}
}

void redacted_note(struct gconn *c, const struct cred_value *v)
{
	if (c->redacted)
		return;
	c->redacted = true;
	char reason[400];
	snprintf(reason, sizeof(reason),
		 "the answer from %s:%u held the %s of credential %s: replaced before the agent "
		 "saw it",
		 c->host, c->port, v->what, v->cred->name);
	gate_record(c, AUDIT_NONE, "redacted", NULL, reason);
}
