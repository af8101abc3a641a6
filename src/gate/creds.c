/* A run's credentials: the secrets the gate injects, the placeholders the
 * agent holds instead, and the searches that keep either from leaving for
 * a host the credential does not name.
 *
 * Secrets are read through pincer-tls.so (the vault needs libcrypto) once
 * at start and again whenever the store file is replaced (a rotation takes
 * effect on the next request). They live only in this process, never in
 * the sandbox, and are wiped when the run ends.
 */
#include "gate/internal.h"
#include "tls/tls.h"
#include "vault/vault.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* ---- placeholders ------------------------------------------------------- */

/* The prefix a key's format checker looks for: up to four leading segments
 * of lower-case letters and digits (starting with a letter, at most 8 long)
 * each ended by '-' or '_': "sk-ant-api03-", "ghp_", "xoxb-", "github_pat_".
 * Never more than half the value, so the body keeps its randomness. */
static size_t key_prefix(const uint8_t *s, size_t n)
{
	size_t pre = 0, i = 0;
	for (int seg = 0; seg < 4; seg++) {
		size_t j = i;
		if (j >= n || !islower(s[j]))
			break;
		while (j < n && j - i < 8 && (islower(s[j]) || isdigit(s[j])))
			j++;
		if (j >= n || (s[j] != '-' && s[j] != '_'))
			break;
		i = j + 1;
		pre = i;
	}
	return pre * 2 <= n ? pre : 0;
}

static char pick(const char *alphabet, size_t k)
{
	/* rejection sampling: no bias toward the alphabet's first letters */
	uint8_t r;
	unsigned limit = 256 - 256 % (unsigned)k;
	do
		pc_random(&r, 1);
	while (r >= limit);
	return alphabet[r % k];
}

bool gate_placeholder(const uint8_t *secret, size_t len, char *out)
{
	size_t pre = key_prefix(secret, len);
	bool lower = false, upper = false, digit = false;
	for (size_t i = pre; i < len; i++) {
		lower |= islower(secret[i]) != 0;
		upper |= isupper(secret[i]) != 0;
		digit |= isdigit(secret[i]) != 0;
	}
	char alphabet[64];
	size_t k = 0;
	if (lower || (!upper && !digit))
		for (char ch = 'a'; ch <= 'z'; ch++)
			alphabet[k++] = ch;
	if (upper)
		for (char ch = 'A'; ch <= 'Z'; ch++)
			alphabet[k++] = ch;
	if (digit || (!upper && !lower))
		for (char ch = '0'; ch <= '9'; ch++)
			alphabet[k++] = ch;
	for (int attempt = 0; attempt < 8; attempt++) {
		memcpy(out, secret, pre);
		for (size_t i = pre; i < len; i++) {
			uint8_t ch = secret[i];
			/* letters and digits are drawn afresh; visible punctuation
			 * keeps its place ("-", "=" padding), anything else (a
			 * space, a control byte) becomes a letter or digit */
			out[i] = (isalnum(ch) || !isgraph(ch)) ? pick(alphabet, k) : (char)ch;
		}
		out[len] = '\0';
		if (memcmp(out, secret, len) != 0)
			return true;
	}
	return false; /* nothing to draw (all punctuation, or one letter) */
}

/* ---- loading ------------------------------------------------------------ */

static uint8_t *copy_bytes(const uint8_t *p, size_t n)
{
	uint8_t *q = pc_xmalloc(n + 1);
	memcpy(q, p, n);
	q[n] = 0;
	return q;
}

/* The other spellings of a secret an upstream may echo it in: the
 * percent-encoding the gate itself sends in URLs (and its lower-case
 * twin), the JSON escape of '/', and base64 (the characters that depend
 * on the secret alone, at each of the three alignments). Redaction looks
 * for all of them. */
static void add_form(struct gate_cred *cr, const uint8_t *raw, size_t rawlen, struct pc_buf *b)
{
	if (b->len < 8 || cr->n_forms >= GATE_CRED_FORMS ||
	    (b->len == rawlen && memcmp(b->data, raw, rawlen) == 0))
		return;
	for (size_t i = 0; i < cr->n_forms; i++)
		if (cr->forms[i].n == b->len && memcmp(cr->forms[i].p, b->data, b->len) == 0)
			return;
	cr->forms[cr->n_forms].p = copy_bytes((const uint8_t *)b->data, b->len);
	cr->forms[cr->n_forms++].n = b->len;
}

static void make_forms(struct gate_cred *cr, const uint8_t *v, size_t n)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (int lower = 0; lower < 2; lower++) {
		_cleanup_buf_ struct pc_buf b = {0};
		for (size_t i = 0; i < n; i++) {
			if (isalnum(v[i]) || strchr("-._~", v[i]))
				pc_buf_append(&b, (const char *)&v[i], 1);
			else
				pc_buf_printf(&b, lower ? "%%%02x" : "%%%02X", v[i]);
		}
		add_form(cr, v, n, &b);
		if (b.data)
			explicit_bzero(b.data, b.cap);
	}
	_cleanup_buf_ struct pc_buf j = {0};
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '/' || v[i] == '"' || v[i] == '\\')
			pc_buf_append(&j, "\\", 1);
		pc_buf_append(&j, (const char *)&v[i], 1);
	}
	add_form(cr, v, n, &j);
	if (j.data)
		explicit_bzero(j.data, j.cap);
	for (size_t o = 0; o < 3; o++) {
		/* o unknown bytes before the secret; a sextet at bits
		 * [6k, 6k+6) is the secret's alone when inside [8o, 8(o+n)) */
		size_t total = o + n, first = (8 * o + 5) / 6, last = 8 * total / 6;
		_cleanup_buf_ struct pc_buf e = {0};
		for (size_t k = first; k < last; k++) {
			unsigned bits = 0;
			for (size_t bit = 6 * k; bit < 6 * k + 6; bit++) {
				size_t byte = bit / 8 - o;
				bits = (bits << 1) | ((v[byte] >> (7 - bit % 8)) & 1);
			}
			pc_buf_append(&e, &b64[bits], 1);
		}
		if (e.len >= 16)
			add_form(cr, v, n, &e);
		if (e.data)
			explicit_bzero(e.data, e.cap);
	}
}

static void cred_wipe_secret(const struct pc_tls_ops *ops, struct gate_cred *cr)
{
	if (cr->secret) {
		ops->vault_wipe(cr->secret, cr->len);
		free(cr->secret);
	}
	if (cr->previous) {
		ops->vault_wipe(cr->previous, cr->prev_len);
		free(cr->previous);
	}
	for (size_t i = 0; i < cr->n_forms; i++) {
		ops->vault_wipe(cr->forms[i].p, cr->forms[i].n);
		free(cr->forms[i].p);
	}
	cr->n_forms = 0;
	cr->secret = cr->previous = NULL;
	cr->len = cr->prev_len = 0;
}

/* A value the gate can stand in for and search for: 8 bytes or more, some
 * of them letters or digits (a placeholder differs from it), not a run
 * of one character (its replacement must never contain it). */
static bool usable(const uint8_t *v, size_t n)
{
	size_t alnum = 0;
	bool varied = false;
	for (size_t i = 0; i < n; i++) {
		alnum += isalnum(v[i]) != 0;
		varied |= v[i] != v[0];
	}
	return n >= 8 && alnum >= 4 && varied;
}

/* Every credential's secret from a freshly opened vault, all or nothing:
 * on failure the secrets in hand stay as they were. */
static int load_secrets(struct gate_creds *cs, struct pc_error *err)
{
	struct vault *v = NULL;
	struct vault_options o = {0};
	int r = cs->ops->vault_open(&o, &v, err);
	const struct gate_cred *first = NULL;
	for (size_t i = 0; i < cs->n && !first; i++)
		first = cs->c[i].retired ? NULL : &cs->c[i];
	if (r == -ENOENT && first) {
		_cleanup_free_ char *store = vault_store_file();
		return pc_error(err, r,
				"credentials[%zu]: no vault at %s to take secret '%s' from (pincer "
				"vault set %s --owner %s)",
				first->at, store, first->name, first->name, cs->identity);
	}
	if (r < 0)
		return pc_error_prefix(err, "credentials: the vault holding their secrets");
	struct gate_cred *fresh = pc_xcalloc(cs->n ? cs->n : 1, sizeof(*fresh));
	for (size_t i = 0; i < cs->n && r == 0; i++) {
		struct gate_cred *cr = &cs->c[i];
		if (cr->retired) /* keeps its last values: never injected again */
			continue;
		struct vault_secret s = {0};
		r = cs->ops->vault_lookup(v, cr->name, cs->identity,
					  (const char *const *)cr->fallback, &s, err);
		if (r == -ENOENT)
			pc_error(err, r,
				 "credentials[%zu]: no secret '%s' for %s in the vault%s (pincer "
				 "vault set %s --owner %s)",
				 cr->at, cr->name, cs->identity,
				 cr->fallback ? " nor for its fallback groups" : "", cr->name,
				 cs->identity);
		if (r == 0 && (s.len > VAULT_VALUE_MAX || !usable(s.value, s.len) ||
			       (s.previous && !usable(s.previous, s.previous_len))))
			r = pc_error(err, -EINVAL,
				     "credentials[%zu]: secret '%s' of %s%s is too short or too "
				     "uniform to stand in for with a placeholder (8 bytes or more, "
				     "at least 4 letters or digits)",
				     cr->at, cr->name, s.owner ? s.owner : cs->identity,
				     s.previous && !usable(s.previous, s.previous_len)
					     ? " (its previous value, kept after a rotation)"
					     : "");
		if (r == 0) {
			fresh[i].secret = copy_bytes(s.value, s.len);
			fresh[i].len = s.len;
			make_forms(&fresh[i], s.value, s.len);
			if (s.previous && s.previous_len) {
				fresh[i].previous = copy_bytes(s.previous, s.previous_len);
				fresh[i].prev_len = s.previous_len;
				make_forms(&fresh[i], s.previous, s.previous_len);
			}
			fresh[i].owner = pc_xstrdup(s.owner);
		}
		cs->ops->vault_secret_wipe(&s);
	}
	for (size_t i = 0; i < cs->n; i++) {
		struct gate_cred *cr = &cs->c[i], *f = &fresh[i];
		if (cr->retired)
			continue;
		struct gate_cred *gone = r == 0 ? cr : f; /* what is wiped */
		if (r == 0) {
			struct gate_cred old = *cr;
			cr->secret = f->secret, cr->len = f->len;
			cr->previous = f->previous, cr->prev_len = f->prev_len;
			memcpy(cr->forms, f->forms, sizeof(cr->forms));
			cr->n_forms = f->n_forms;
			free(cr->owner);
			cr->owner = f->owner;
			*f = old; /* the old values, to be wiped */
			f->owner = NULL;
			gone = f;
		} else {
			free(f->owner);
		}
		cred_wipe_secret(cs->ops, gone);
	}
	free(fresh);
	/* the store read (even in vain) is the one compared with from now on:
	 * a broken store is read again only once it changes again */
	if (cs->v)
		cs->ops->vault_close(cs->v);
	cs->v = v;
	return r;
}

static void update_max(struct gate_creds *cs)
{
	cs->max_pat = 0;
	for (size_t i = 0; i < cs->n; i++) {
		const struct gate_cred *cr = &cs->c[i];
		size_t m = cr->ph_len > cr->len ? cr->ph_len : cr->len;
		if (cr->prev_len > m)
			m = cr->prev_len;
		for (size_t f = 0; f < cr->n_forms; f++)
			if (cr->forms[f].n > m)
				m = cr->forms[f].n;
		if (m > cs->max_pat)
			cs->max_pat = m;
	}
}

struct gate_creds *gate_creds_new(const struct pc_tls_ops *ops, const char *identity)
{
	struct gate_creds *cs = pc_xcalloc(1, sizeof(*cs));
	cs->ops = ops;
	cs->identity = pc_xstrdup(identity);
	cs->c = pc_xcalloc(1, sizeof(*cs->c));
	return cs;
}

/* p's credentials, without their secrets, into a new array of cs. */
static void creds_from_policy(struct gate_creds *cs, const struct policy *p)
{
	cs->n = p->n_credentials;
	cs->c = pc_xcalloc(cs->n ? cs->n : 1, sizeof(*cs->c));
	for (size_t i = 0; i < cs->n; i++) {
		const struct pc_credential *pc = &p->credentials[i];
		struct gate_cred *cr = &cs->c[i];
		cr->at = i;
		cr->name = pc_xstrdup(pc->name);
		cr->var = pc_xstrdup(pc->placeholder);
		for (size_t h = 0; pc->hosts && pc->hosts[h]; h++)
			pc_strv_push(&cr->hosts, pc->hosts[h]);
		cr->header = pc->header ? pc_xstrdup(pc->header) : NULL;
		cr->format = pc_xstrdup(pc->format ? pc->format : "{secret}");
		cr->query = pc->query ? pc_xstrdup(pc->query) : NULL;
		for (size_t f = 0; pc->fallback && pc->fallback[f]; f++)
			pc_strv_push(&cr->fallback, pc->fallback[f]);
	}
}

int gate_creds_open(const struct policy *p, const struct pc_tls_ops *ops, const char *identity,
		    struct gate_creds **out, struct pc_error *err)
{
	struct gate_creds *cs = pc_xcalloc(1, sizeof(*cs));
	cs->ops = ops;
	cs->identity = pc_xstrdup(identity);
	creds_from_policy(cs, p);
	int r = load_secrets(cs, err);
	if (r < 0) {
		gate_creds_free(cs);
		return r;
	}
	for (size_t i = 0; i < cs->n; i++) {
		struct gate_cred *cr = &cs->c[i];
		cr->placeholder = pc_xmalloc(cr->len + 1);
		cr->ph_len = cr->len;
		if (!gate_placeholder(cr->secret, cr->len, cr->placeholder) ||
		    cr->len < 8) {
			int e = pc_error(err, -EINVAL,
					 "credentials[%zu]: secret '%s' of %s is too short or has "
					 "too few letters and digits to stand in for with a "
					 "placeholder (8 or more needed)",
					 i, cr->name, cr->owner);
			gate_creds_free(cs);
			return e;
		}
	}
	update_max(cs);
	*out = cs;
	return 0;
}

void gate_creds_refresh(struct gate_creds *cs, struct gate *g)
{
	if (!cs || !cs->v || !cs->ops->vault_changed(cs->v))
		return;
	struct pc_error err = {0};
	char why[700];
	if (load_secrets(cs, &err) < 0) {
		/* the secrets in hand stay in use (all of them: nothing of a
		 * half-read store): a broken one must not stop every call */
		snprintf(why, sizeof(why),
			 "vault changed but could not be read: %.500s (the secrets read before stay "
			 "in use)",
			 err.msg);
		pc_warn("gate: %s", why);
		audit_write(g->log, AUDIT_VAULT, g->agent, g->run, AUDIT_NONE, why, NULL, 0, &err);
		return;
	}
	update_max(cs);
	snprintf(why, sizeof(why), "vault changed: credentials re-read for %s", cs->identity);
	audit_write(g->log, AUDIT_VAULT, g->agent, g->run, AUDIT_NONE, why, NULL, 0, &err);
}

size_t gate_creds_count(const struct gate_creds *cs)
{
	return cs ? cs->n : 0;
}

void gate_creds_env(const struct gate_creds *cs, size_t i, const char **var,
		    const char **placeholder)
{
	*var = cs->c[i].var;
	*placeholder = cs->c[i].placeholder;
}

const char *gate_creds_describe(const struct gate_creds *cs, size_t i, char *buf, size_t n)
{
	const struct gate_cred *cr = &cs->c[i];
	size_t l = (size_t)snprintf(buf, n, "credential %s: the secret of %s, for", cr->name,
				    cr->owner);
	for (size_t h = 0; cr->hosts && cr->hosts[h] && l < n; h++)
		l += (size_t)snprintf(buf + l, n - l, "%s%s", h ? ", " : " ", cr->hosts[h]);
	return buf;
}

static void cred_free(const struct pc_tls_ops *ops, struct gate_cred *cr)
{
	cred_wipe_secret(ops, cr);
	if (cr->placeholder) {
		ops->vault_wipe(cr->placeholder, cr->ph_len);
		free(cr->placeholder);
	}
	free(cr->name);
	free(cr->var);
	free(cr->owner);
	pc_strv_free(cr->hosts);
	pc_strv_free(cr->fallback);
	free(cr->header);
	free(cr->format);
	free(cr->query);
	memset(cr, 0, sizeof(*cr));
}

void gate_creds_free(struct gate_creds *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n; i++)
		cred_free(cs->ops, &cs->c[i]);
	if (cs->v)
		cs->ops->vault_close(cs->v);
	free(cs->c);
	free(cs->identity);
	free(cs);
}

/* ---- a policy reload ---------------------------------------------------- */

static bool strv_equal(char *const *a, char *const *b)
{
	size_t n = pc_strv_len(a);
	if (n != pc_strv_len(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool bytes_equal(const void *a, size_t na, const void *b, size_t nb)
{
	return a && b && na == nb && memcmp(a, b, na) == 0;
}

/* The credential of cs (retired or not) whose placeholder variable is var. */
static struct gate_cred *by_var(struct gate_creds *cs, const char *var, bool retired)
{
	for (size_t i = 0; i < cs->n; i++)
		if (cs->c[i].retired == retired && strcmp(cs->c[i].var, var) == 0)
			return &cs->c[i];
	return NULL;
}

/* The secret in hand of a credential whose source did not change. */
static void copy_secret(struct gate_cred *to, const struct gate_cred *from)
{
	to->secret = copy_bytes(from->secret, from->len);
	to->len = from->len;
	if (from->previous) {
		to->previous = copy_bytes(from->previous, from->prev_len);
		to->prev_len = from->prev_len;
	}
	for (size_t f = 0; f < from->n_forms; f++) {
		to->forms[f].p = copy_bytes(from->forms[f].p, from->forms[f].n);
		to->forms[f].n = from->forms[f].n;
	}
	to->n_forms = from->n_forms;
	to->owner = pc_xstrdup(from->owner);
}

/* Does a credential of nx hold each value of old that must stay refused?
 * (Then old, whose placeholder went to its successor, protects nothing.) */
static bool values_held(const struct gate_creds *nx, const struct gate_cred *old)
{
	if (old->placeholder)
		return false;
	const uint8_t *vals[2] = {old->secret, old->previous};
	const size_t lens[2] = {old->len, old->prev_len};
	for (int k = 0; k < 2; k++) {
		bool held = !vals[k];
		for (size_t i = 0; i < nx->n && !held; i++)
			held = bytes_equal(nx->c[i].secret, nx->c[i].len, vals[k], lens[k]) ||
			       bytes_equal(nx->c[i].previous, nx->c[i].prev_len, vals[k], lens[k]);
		if (!held)
			return false;
	}
	return true;
}

static void hosts_text(char *const *hosts, struct pc_buf *b)
{
	for (size_t h = 0; hosts && hosts[h]; h++)
		pc_buf_printf(b, "%s%s", h ? ", " : "", hosts[h]);
}

static void note(struct pc_buf *notes, const char *fmt, ...) _printf_(2, 3);
static void note(struct pc_buf *notes, const char *fmt, ...)
{
	va_list ap;
	if (notes->len)
		pc_buf_puts(notes, "; ");
	va_start(ap, fmt);
	pc_buf_vprintf(notes, fmt, ap);
	va_end(ap);
}

/* What changed for each credential, before the new set replaces the old. */
static void describe_changes(struct gate_creds *cs, const struct gate_creds *nx,
			     const bool *new_ph, struct pc_buf *notes, bool *restart)
{
	for (size_t i = 0; i < nx->n; i++) {
		const struct gate_cred *nw = &nx->c[i];
		struct gate_cred *old = by_var(cs, nw->var, false);
		_cleanup_buf_ struct pc_buf h = {0};
		hosts_text(nw->hosts, &h);
		if (!old) {
			note(notes, "credential %s added (the secret of %s, for %s)", nw->name,
			     nw->owner, h.data);
			if (!new_ph[i])
				note(notes, "its placeholder is the one $%s held before", nw->var);
			else if (nw->header || nw->query)
				note(notes,
				     "the running agent has no $%s (it gets it at its next "
				     "start): %s is injected into its requests to %s without it",
				     nw->var, nw->header ? nw->header : nw->query, h.data);
			else
				note(notes,
				     "the running agent has no $%s, and credential %s is put "
				     "only where the agent sends its placeholder: usable from its "
				     "next start",
				     nw->var, nw->name);
			*restart |= new_ph[i] && !nw->header && !nw->query;
			continue;
		}
		if (strcmp(old->name, nw->name) != 0 || !strv_equal(old->fallback, nw->fallback))
			note(notes,
			     "$%s now stands for the secret '%s' of %s (was '%s' of %s, which stays "
			     "refused everywhere)",
			     nw->var, nw->name, nw->owner, old->name, old->owner);
		if (!strv_equal(old->hosts, nw->hosts))
			note(notes, "credential %s now goes to %s only", nw->name, h.data);
		if (!str_equal(old->header, nw->header) || !str_equal(old->format, nw->format) ||
		    !str_equal(old->query, nw->query))
			note(notes, "credential %s now goes in %s %s", nw->name,
			     nw->header ? "header" : nw->query ? "query parameter" : "the place of",
			     nw->header ? nw->header : nw->query ? nw->query : "its placeholder");
	}
	for (size_t i = 0; i < cs->n; i++) {
		const struct gate_cred *old = &cs->c[i];
		bool kept = false;
		for (size_t j = 0; j < nx->n && !kept; j++)
			kept = strcmp(nx->c[j].var, old->var) == 0;
		if (!old->retired && !kept)
			note(notes,
			     "credential %s removed: injected nowhere from now on; its placeholder "
			     "($%s) and its secret stay refused everywhere (exfiltration)",
			     old->name, old->var);
	}
}

int gate_creds_reload(struct gate_creds *cs, const struct policy *p, struct pc_buf *notes,
		      bool *restart, struct pc_error *err)
{
	struct gate_creds *nx = pc_xcalloc(1, sizeof(*nx));
	nx->ops = cs->ops;
	nx->identity = pc_xstrdup(cs->identity);
	creds_from_policy(nx, p);
	bool read = false;
	for (size_t i = 0; i < nx->n; i++) {
		struct gate_cred *nw = &nx->c[i], *old = by_var(cs, nw->var, false);
		if (old && strcmp(old->name, nw->name) == 0 &&
		    strv_equal(old->fallback, nw->fallback))
			copy_secret(nw, old);
		else
			read = true;
	}
	/* all or nothing, as at start: nothing of cs changes before this */
	int r = read ? load_secrets(nx, err) : 0;
	bool *new_ph = pc_xcalloc(nx->n + 1, sizeof(*new_ph));
	for (size_t i = 0; i < nx->n && r == 0; i++) {
		struct gate_cred *nw = &nx->c[i], *had = by_var(cs, nw->var, false);
		if (!had)
			had = by_var(cs, nw->var, true); /* removed before, back now */
		if (had && had->placeholder &&
		    !bytes_equal(had->placeholder, had->ph_len, nw->secret, nw->len)) {
			/* the agent holds it: it keeps standing for this credential */
			nw->placeholder = pc_xmalloc(had->ph_len + 1);
			memcpy(nw->placeholder, had->placeholder, had->ph_len + 1);
			nw->ph_len = had->ph_len;
			continue;
		}
		nw->placeholder = pc_xmalloc(nw->len + 1);
		nw->ph_len = nw->len;
		new_ph[i] = true;
		if (!gate_placeholder(nw->secret, nw->len, nw->placeholder))
			r = pc_error(err, EINVAL,
				     "credentials[%zu]: secret '%s' of %s has too few letters and "
				     "digits to stand in for with a placeholder",
				     nw->at, nw->name, nw->owner);
	}
	if (r < 0) {
		free(new_ph);
		gate_creds_free(nx);
		return r;
	}
	describe_changes(cs, nx, new_ph, notes, restart);
	free(new_ph);

	/* the new credentials first, then the old ones still worth refusing */
	struct gate_cred *all = pc_xcalloc(nx->n + cs->n + 1, sizeof(*all));
	memcpy(all, nx->c, nx->n * sizeof(*all));
	size_t k = nx->n;
	for (size_t i = 0; i < cs->n; i++) {
		struct gate_cred *o = &cs->c[i];
		for (size_t j = 0; j < nx->n && o->placeholder; j++) {
			if (!bytes_equal(nx->c[j].placeholder, nx->c[j].ph_len, o->placeholder,
					 o->ph_len))
				continue;
			cs->ops->vault_wipe(o->placeholder, o->ph_len);
			free(o->placeholder);
			o->placeholder = NULL;
			o->ph_len = 0;
		}
		if (values_held(nx, o)) {
			cred_free(cs->ops, o);
			continue;
		}
		pc_strv_free(o->hosts);
		o->hosts = NULL;
		o->retired = true;
		all[k++] = *o;
	}
	free(cs->c);
	cs->c = all;
	cs->n = k;
	free(nx->c);
	nx->c = NULL;
	nx->n = 0;
	if (nx->v) { /* the store just read is the one compared with from now on */
		if (cs->v)
			cs->ops->vault_close(cs->v);
		cs->v = pc_steal_ptr(&nx->v);
	}
	gate_creds_free(nx);
	update_max(cs);
	return 0;
}

void gate_set_creds(struct gate *g, struct gate_creds *cs)
{
	g->creds = cs;
}

/* ---- searches ----------------------------------------------------------- */

bool cred_for_host(const struct gate_cred *cr, const char *host)
{
	for (size_t h = 0; cr->hosts && cr->hosts[h]; h++)
		if (policy_host_match(cr->hosts[h], host))
			return true;
	return false;
}

/* The values of cr that must never reach a host it does not name. */
static size_t cred_values(const struct gate_cred *cr, struct cred_value *v)
{
	size_t k = 0;
	if (cr->placeholder)
		v[k++] = (struct cred_value){(const uint8_t *)cr->placeholder, cr->ph_len,
					     "placeholder"};
	if (cr->secret)
		v[k++] = (struct cred_value){cr->secret, cr->len, "secret value"};
	if (cr->previous)
		v[k++] = (struct cred_value){cr->previous, cr->prev_len, "previous secret value"};
	return k;
}

size_t creds_foreign_values(const struct gate_creds *cs, const char *host, struct cred_value *out)
{
	size_t k = 0;
	for (size_t i = 0; cs && i < cs->n; i++) {
		const struct gate_cred *cr = &cs->c[i];
		if (cred_for_host(cr, host))
			continue;
		struct cred_value v[3];
		size_t m = cred_values(cr, v);
		for (size_t j = 0; j < m; j++, k++)
			if (out)
				out[k] = (struct cred_value){v[j].p, v[j].n, v[j].what, cr};
	}
	return k;
}

size_t creds_secret_values(const struct gate_creds *cs, struct cred_value *out)
{
	size_t k = 0;
#define PUT(P, N, WHAT)                                                                   \
	do {                                                                              \
		if (out)                                                                  \
			out[k] = (struct cred_value){(P), (N), (WHAT), cr};               \
		k++;                                                                      \
	} while (0)
	for (size_t i = 0; cs && i < cs->n; i++) {
		const struct gate_cred *cr = &cs->c[i];
		if (cr->secret)
			PUT(cr->secret, cr->len, "secret value");
		if (cr->previous)
			PUT(cr->previous, cr->prev_len, "previous secret value");
		for (size_t f = 0; f < cr->n_forms; f++)
			PUT(cr->forms[f].p, cr->forms[f].n, "secret value (encoded)");
	}
#undef PUT
	return k;
}
