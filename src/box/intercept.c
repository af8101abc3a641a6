/* A box's TLS interception and credentials: pincer-tls.so loaded, the
 * run's CA made, the secrets read, and what the sandbox gets of them (the
 * placeholders, the CA bundle and the variables that point at it). Only
 * for policies that need it: every other run never maps OpenSSL. */
#include "box/internal.h"
#include "gate/gate.h"
#include "sandbox/sandbox.h"
#include "tls/tls.h"
#include "vault/vault.h"

#include <errno.h>
#include <string.h>

int box_intercept_open(const struct box_config *bc, struct box_intercept *bi,
		       struct pc_error *err)
{
	const struct policy *p = bc->policy;
	memset(bi, 0, sizeof(*bi));
	if (!policy_intercepts(p))
		return 0;
	bi->ops = pc_tls_load(err);
	if (!bi->ops)
		return pc_error_prefix(err, "TLS interception (the policy has %s)",
				       p->n_credentials ? "credentials" : "method/path rules");
	int r = bi->ops->ctx_new(p->net.upstream_ca, &bi->tls, err);
	if (r < 0)
		return r;
	/* a warm run's come with its start: whose they are is not known yet */
	if (!bc->warm && (r = box_intercept_creds(bi, p, bc->identity, err)) < 0)
		return r;
	/* the sandbox trusts the system's roots and the run's CA */
	const char *roots = bi->ops->system_roots();
	_cleanup_buf_ struct pc_buf b = {0};
	_cleanup_free_ char *sys = NULL;
	size_t sys_len = 0;
	struct pc_error ignored = {0};
	if (roots && pc_read_file(roots, 4 << 20, &sys, &sys_len, &ignored) == 0)
		pc_buf_append(&b, sys, sys_len);
	else
		pc_warn("TLS interception: no system roots at %s: the sandbox trusts only the "
			"run's CA", roots ? roots : "(none)");
	if (b.len && b.data[b.len - 1] != '\n')
		pc_buf_puts(&b, "\n");
	pc_buf_puts(&b, "# pincer: this run's CA (TLS to hosts the policy inspects ends at the "
			"gate)\n");
	pc_buf_puts(&b, bi->ops->ca_pem(bi->tls));
	pc_buf_append(&b, "", 0);
	bi->bundle = pc_steal_ptr(&b.data);
	return 0;
}

int box_intercept_creds(struct box_intercept *bi, const struct policy *p, const char *identity,
			struct pc_error *err)
{
	if (!p->n_credentials)
		return 0;
	_cleanup_free_ char *me = identity ? NULL : vault_default_identity();
	return gate_creds_open(p, bi->ops, identity ? identity : me, &bi->creds, err);
}

int box_intercept_reload(struct box_intercept *bi, const struct box_config *bc, struct gate *g,
			 const struct policy *p, struct pc_buf *notes, bool *restart,
			 struct pc_error *err)
{
	if (!bi->tls) {
		if (!p->n_credentials)
			return 0;
		/* the sandbox trusts no CA of ours: its TLS cannot end at the gate */
		*restart = true;
		return pc_error(err, ENOTSUP,
				"this run started without TLS interception (its policy had no "
				"credentials and no method/path rules), so the sandbox trusts no CA "
				"of the gate's and no request can carry a credential: a restart is "
				"needed");
	}
	if (bi->creds)
		return gate_creds_reload(bi->creds, p, notes, restart, err);
	if (!p->n_credentials)
		return 0;
	/* interception for method/path rules only, until now */
	_cleanup_free_ char *me = bc->identity ? NULL : vault_default_identity();
	struct gate_creds *cs = gate_creds_new(bi->ops, bc->identity ? bc->identity : me);
	int r = gate_creds_reload(cs, p, notes, restart, err);
	if (r < 0) {
		gate_creds_free(cs);
		return r;
	}
	bi->creds = cs;
	if (g)
		gate_set_creds(g, cs);
	return 0;
}

void box_intercept_env(const struct box_intercept *bi, char ***env)
{
	if (!bi->tls)
		return;
	static const char *const ca_vars[] = {"SSL_CERT_FILE",	 "REQUESTS_CA_BUNDLE",
					      "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE",
					      "GIT_SSL_CAINFO",	 "PIP_CERT"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(ca_vars); i++)
		box_env_set(env, ca_vars[i], SANDBOX_CA_BUNDLE);
	for (size_t i = 0; i < gate_creds_count(bi->creds); i++) {
		const char *var, *ph;
		gate_creds_env(bi->creds, i, &var, &ph);
		box_env_set(env, var, ph);
	}
}

void box_intercept_forget(void *arg)
{
	/* in the sandbox's copy of this process: wiped and freed there only
	 * (the bundle stays: the sandbox's files are made from it) */
	struct box_intercept *bi = arg;
	gate_creds_free(bi->creds);
	if (bi->tls)
		bi->ops->ctx_free(bi->tls);
	bi->creds = NULL;
	bi->tls = NULL;
}

void box_intercept_close(struct box_intercept *bi)
{
	gate_creds_free(bi->creds);
	if (bi->tls)
		bi->ops->ctx_free(bi->tls);
	free(bi->bundle);
	memset(bi, 0, sizeof(*bi));
}
