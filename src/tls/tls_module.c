/* pincer-tls.so: TLS interception and the vault's read side (see tls.h).
 *
 * One struct pc_tls per run: an in-memory CA (EC P-256, self-signed), one
 * EC P-256 key shared by every leaf, leaves minted on first use per host and
 * kept in a bounded cache, a server SSL_CTX toward the agent and a client
 * SSL_CTX toward upstreams (system roots plus an optional PEM bundle, loaded
 * at the first upstream session). Sessions run over two memory BIOs; the
 * caller moves ciphertext with conn_feed / conn_take.
 *
 * Nothing here prints; every OpenSSL error is turned into a message and the
 * thread's error queue is left empty after each entry point, so one
 * session's failure never shows up in another's message.
 */
#include "tls/tls.h"
#include "vault/vault.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CACHE_MAX	4096 /* hosts with a leaf (and client sessions) kept */
#define CA_DAYS		30
#define LEAF_DAYS	7
#define BACKDATE_S	3600 /* notBefore one hour ago: clock skew */
#define CN_MAX		64   /* ub-common-name */
#define HOST_MAX	253
#define BUNDLE_MAX	(16 << 20) /* an upstream CA bundle larger than this is refused */
#define ALPN_HTTP11	"\x08http/1.1"
#define ALPN_HTTP11_LEN 9

/* ---- a bounded map host -> object, oldest evicted first ----------------- */

struct map_entry {
	char *key;
	void *val;
	uint32_t hash;
	uint32_t next; /* slot + 1 of the next entry in the bucket; 0 ends */
};

struct map {
	struct map_entry *e; /* ring of CACHE_MAX slots, oldest at head */
	uint32_t *bucket;    /* slot + 1; 0 empty */
	size_t nbucket;	     /* power of two */
	size_t head, count;
	uint64_t seed;
	void (*free_val)(void *);
};

static void map_init(struct map *m, void (*free_val)(void *))
{
	m->e = pc_xcalloc(CACHE_MAX, sizeof(*m->e));
	m->nbucket = 2 * CACHE_MAX;
	m->bucket = pc_xcalloc(m->nbucket, sizeof(*m->bucket));
	m->head = m->count = 0;
	m->free_val = free_val;
	if (RAND_bytes((unsigned char *)&m->seed, sizeof(m->seed)) != 1)
		m->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)m;
}

static uint32_t map_hash(const struct map *m, const char *key)
{
	/* FNV-1a from a per-map random basis, then a final mix: agents choose
	 * the host names, and chains stay short only if they cannot predict
	 * the buckets. */
	uint64_t h = 1469598103934665603ULL ^ m->seed;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

static struct map_entry *map_find(struct map *m, const char *key)
{
	if (!m->e)
		return NULL;
	uint32_t h = map_hash(m, key);
	for (uint32_t i = m->bucket[h & (m->nbucket - 1)]; i; i = m->e[i - 1].next) {
		struct map_entry *e = &m->e[i - 1];
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

static void map_evict_oldest(struct map *m)
{
	size_t slot = m->head;
	struct map_entry *e = &m->e[slot];
	uint32_t *link = &m->bucket[e->hash & (m->nbucket - 1)];
	while (*link && *link != slot + 1)
		link = &m->e[*link - 1].next;
	if (*link)
		*link = e->next;
	if (e->val && m->free_val)
		m->free_val(e->val);
	free(e->key);
	memset(e, 0, sizeof(*e));
	m->head = (m->head + 1) % CACHE_MAX;
	m->count--;
}

/* Set key to val (val owned by the map from now on). */
static void map_put(struct map *m, const char *key, void *val)
{
	struct map_entry *e = map_find(m, key);
	if (e) {
		if (e->val && m->free_val)
			m->free_val(e->val);
		e->val = val;
		return;
	}
	if (m->count == CACHE_MAX)
		map_evict_oldest(m);
	size_t slot = (m->head + m->count) % CACHE_MAX;
	e = &m->e[slot];
	e->key = pc_xstrdup(key);
	e->val = val;
	e->hash = map_hash(m, key);
	uint32_t *b = &m->bucket[e->hash & (m->nbucket - 1)];
	e->next = *b;
	*b = (uint32_t)slot + 1;
	m->count++;
}

static void map_free(struct map *m)
{
	if (!m->e)
		return;
	while (m->count)
		map_evict_oldest(m);
	free(m->e);
	free(m->bucket);
	memset(m, 0, sizeof(*m));
}

/* ---- the run's state ---------------------------------------------------- */

struct pc_tls {
	EVP_PKEY *ca_key;
	X509 *ca;
	char *ca_pem;
	ASN1_OCTET_STRING *ca_skid; /* the CA's key id, every leaf's authorityKeyIdentifier */
	EVP_PKEY *leaf_key;
	SSL_CTX *server;
	SSL_CTX *client;
	bool system_file_loaded; /* the system bundle file, when first needed */
	struct map leaves;	 /* host -> X509 * */
	struct map sessions;	 /* host -> SSL_SESSION * (upstream resumption) */
};

struct pc_tls_conn {
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	bool client;
	bool failed;
	bool closed;
	bool shutdown_sent;
	char host[HOST_MAX + 1];
	char error[512];
};

/* The message for the first queued OpenSSL error (or fallback), and an
 * empty queue afterwards. */
static void ossl_message(char *buf, size_t cap, const char *fallback)
{
	unsigned long e = ERR_peek_error();
	if (e) {
		const char *reason = ERR_reason_error_string(e);
		if (reason)
			snprintf(buf, cap, "%s", reason);
		else
			ERR_error_string_n(e, buf, cap);
	} else {
		snprintf(buf, cap, "%s", fallback);
	}
	ERR_clear_error();
}

static int ossl_error(struct pc_error *err, int code, const char *what)
{
	char why[256];
	ossl_message(why, sizeof(why), "unknown OpenSSL error");
	return pc_error(err, code, "%s: %s", what, why);
}

/* ---- certificates -------------------------------------------------------- */

static int add_ext(X509 *x, int nid, void *value, int critical)
{
	return X509_add1_ext_i2d(x, nid, value, critical, X509V3_ADD_DEFAULT) == 1 ? 0 : -1;
}

/* A random positive 128-bit serial (16 bytes, top bit clear, never zero). */
static int set_serial(X509 *x)
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	r[0] = (unsigned char)((r[0] & 0x7f) | 0x40);
	BIGNUM *bn = BN_bin2bn(r, sizeof(r), NULL);
	if (!bn)
		return -1;
	int ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int set_basic_constraints(X509 *x, bool ca, long pathlen)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	if (!bc)
		return -1;
	bc->ca = ca ? 0xff : 0;
	int r = 0;
	if (ca && pathlen >= 0) {
		bc->pathlen = ASN1_INTEGER_new();
		if (!bc->pathlen || !ASN1_INTEGER_set(bc->pathlen, pathlen))
			r = -1;
	}
	if (r == 0)
		r = add_ext(x, NID_basic_constraints, bc, 1);
	BASIC_CONSTRAINTS_free(bc);
	return r;
}

static int set_key_usage(X509 *x, const int *bits, size_t n)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	if (!ku)
		return -1;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		if (!ASN1_BIT_STRING_set_bit(ku, bits[i], 1))
			r = -1;
	if (r == 0)
		r = add_ext(x, NID_key_usage, ku, 1);
	ASN1_BIT_STRING_free(ku);
	return r;
}

static int set_akid(X509 *x, const ASN1_OCTET_STRING *keyid)
{
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	if (!akid)
		return -1;
	int r = -1;
	akid->keyid = ASN1_OCTET_STRING_dup(keyid);
	if (akid->keyid)
		r = add_ext(x, NID_authority_key_identifier, akid, 0);
	AUTHORITY_KEYID_free(akid);
	return r;
}

static int set_validity(X509 *x, time_t now, long days, const ASN1_TIME *cap)
{
	if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE_S, &now) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now))
		return -1;
	if (cap && ASN1_TIME_compare(X509_get0_notAfter(x), cap) > 0 && !X509_set1_notAfter(x, cap))
		return -1;
	return 0;
}

/* SHA-1 of the public key bits (RFC 5280 4.2.1.2, method 1). */
static ASN1_OCTET_STRING *key_id(X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!X509_pubkey_digest(x, EVP_sha1(), md, &len))
		return NULL;
	ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
	if (id && !ASN1_OCTET_STRING_set(id, md, (int)len)) {
		ASN1_OCTET_STRING_free(id);
		id = NULL;
	}
	return id;
}

static int make_ca(struct pc_tls *t, struct pc_error *err)
{
	t->ca_key = EVP_EC_gen("P-256");
	if (!t->ca_key)
		return ossl_error(err, EIO, "cannot make the run's CA key");
	X509 *x = t->ca = X509_new();
	time_t now = time(NULL);
	X509_NAME *name = x ? X509_NAME_new() : NULL;
	static const int ku[] = {5 /* keyCertSign */, 6 /* cRLSign */};
	if (!name || !X509_set_version(x, X509_VERSION_3) || set_serial(x) < 0 ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)"pincer run CA", -1, -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    set_validity(x, now, CA_DAYS, NULL) < 0 || !X509_set_pubkey(x, t->ca_key) ||
	    set_basic_constraints(x, true, 0) < 0 || set_key_usage(x, ku, PC_ARRAY_SIZE(ku)) < 0 ||
	    !(t->ca_skid = key_id(x)) ||
	    add_ext(x, NID_subject_key_identifier, t->ca_skid, 0) < 0 ||
	    set_akid(x, t->ca_skid) < 0 || !X509_sign(x, t->ca_key, EVP_sha256())) {
		X509_NAME_free(name);
		return ossl_error(err, EIO, "cannot make the run's CA certificate");
	}
	X509_NAME_free(name);

	BIO *mem = BIO_new(BIO_s_mem());
	BUF_MEM *bm = NULL;
	if (!mem || !PEM_write_bio_X509(mem, x) || BIO_get_mem_ptr(mem, &bm) <= 0 || !bm) {
		BIO_free(mem);
		return ossl_error(err, EIO, "cannot encode the run's CA certificate");
	}
	t->ca_pem = pc_xstrndup(bm->data, bm->length);
	BIO_free(mem);
	return 0;
}

/* Lower-cased host, [brackets] dropped from an IPv6 literal; whether it is
 * an IP literal (and its bytes). -EINVAL for anything that is neither a DNS
 * name nor an IP literal. */
static int parse_host(const char *host, char out[HOST_MAX + 1], unsigned char ip[16], int *ip_len,
		      struct pc_error *err)
{
	size_t n = host ? strlen(host) : 0;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n > HOST_MAX)
		return pc_error(err, EINVAL, "invalid TLS host name \"%.*s\"",
				(int)(n > 80 ? 80 : n), host ? host : "");
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)host[i]);
	out[n] = '\0';
	*ip_len = 0;
	if (inet_pton(AF_INET, out, ip) == 1)
		*ip_len = 4;
	else if (inet_pton(AF_INET6, out, ip) == 1)
		*ip_len = 16;
	if (*ip_len)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = out[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_'))
			return pc_error(err, EINVAL, "invalid TLS host name \"%.80s\"", out);
	}
	if (out[0] == '.' || strstr(out, ".."))
		return pc_error(err, EINVAL, "invalid TLS host name \"%.80s\"", out);
	return 0;
}

static int set_san(X509 *x, const char *host, const unsigned char *ip, int ip_len)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_STRING *s = ip_len ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
	int r = -1;
	if (!gens || !gen || !s)
		goto out;
	if (!(ip_len ? ASN1_OCTET_STRING_set(s, ip, ip_len) : ASN1_STRING_set(s, host, -1)))
		goto out;
	GENERAL_NAME_set0_value(gen, ip_len ? GEN_IPADD : GEN_DNS, s);
	s = NULL;
	if (!sk_GENERAL_NAME_push(gens, gen))
		goto out;
	gen = NULL;
	r = add_ext(x, NID_subject_alt_name, gens, 0);
out:
	ASN1_STRING_free(s);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(gens);
	return r;
}

static int set_eku_server(X509 *x)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	if (!eku)
		return -1;
	int r = -1;
	ASN1_OBJECT *o = OBJ_nid2obj(NID_server_auth);
	if (o && sk_ASN1_OBJECT_push(eku, o))
		r = add_ext(x, NID_ext_key_usage, eku, 0);
	sk_ASN1_OBJECT_free(eku); /* nid2obj objects are static */
	return r;
}

static X509 *mint_leaf(struct pc_tls *t, const char *host, const unsigned char *ip, int ip_len,
		       struct pc_error *err)
{
	X509 *x = X509_new();
	X509_NAME *name = x ? X509_NAME_new() : NULL;
	time_t now = time(NULL);
	static const int ku[] = {0 /* digitalSignature */};
	size_t cn_len = strlen(host);
	if (cn_len > CN_MAX)
		cn_len = CN_MAX;
	if (!name || !X509_set_version(x, X509_VERSION_3) || set_serial(x) < 0 ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)host, (int)cn_len, -1, 0) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(t->ca)) ||
	    set_validity(x, now, LEAF_DAYS, X509_get0_notAfter(t->ca)) < 0 ||
	    !X509_set_pubkey(x, t->leaf_key) || set_basic_constraints(x, false, -1) < 0 ||
	    set_key_usage(x, ku, PC_ARRAY_SIZE(ku)) < 0 || set_eku_server(x) < 0 ||
	    set_akid(x, t->ca_skid) < 0 || set_san(x, host, ip, ip_len) < 0 ||
	    !X509_sign(x, t->ca_key, EVP_sha256())) {
		X509_NAME_free(name);
		X509_free(x);
		ossl_error(err, EIO, "cannot make a TLS certificate");
		pc_error_prefix(err, "%s", host);
		return NULL;
	}
	X509_NAME_free(name);
	return x;
}

/* ---- SSL_CTX setup ------------------------------------------------------- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, (const unsigned char *)ALPN_HTTP11, ALPN_HTTP11_LEN,
				  in, inlen) == OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	/* No http/1.1 offered (h2 only, say): go on without ALPN rather than
	 * failing; the client then speaks HTTP/1.1 or gives up itself. */
	return SSL_TLSEXT_ERR_NOACK;
}

static void session_free(void *p)
{
	SSL_SESSION_free(p);
}

static void leaf_free(void *p)
{
	X509_free(p);
}

/* A new upstream session (a TLS 1.3 ticket arrives after the handshake):
 * kept per host for the next connection to it. */
static int client_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct pc_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct pc_tls_conn *s = SSL_get_app_data(ssl);
	if (!t || !s || !SSL_SESSION_is_resumable(sess))
		return 0;
	map_put(&t->sessions, s->host, sess);
	return 1; /* the map owns the reference now */
}

/* Settings the system openssl.cnf may have changed at SSL_CTX_new are all set
 * again after it: ours win. */
static int ctx_common(SSL_CTX *ctx)
{
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_clear_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_AUTO_RETRY);
	return 0;
}

static int make_server_ctx(struct pc_tls *t, struct pc_error *err)
{
	SSL_CTX *ctx = t->server = SSL_CTX_new(TLS_server_method());
	if (!ctx || ctx_common(ctx) < 0 ||
	    !SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"pincer", 6))
		return ossl_error(err, EIO, "cannot set up TLS toward the agent");
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	/* Resumption by ticket only: nothing kept per session on our side. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return 0;
}

/* The system roots, explicit paths (never SSL_CERT_FILE / SSL_CERT_DIR): the
 * hashed folder is looked up per issuer as chains are verified (a file read
 * for the one root a chain needs); the bundle file, ~140 roots whose
 * parsing costs 25-50 ms with OpenSSL 3.0, only if an issuer is found
 * neither there nor in the chain the peer sent. A missing file or folder
 * only means fewer roots (the upstream_ca bundle may be all there is). */
static void load_system_file(struct pc_tls *t, X509_STORE *store)
{
	if (t->system_file_loaded)
		return;
	t->system_file_loaded = true;
	X509_STORE_load_file(store, X509_get_default_cert_file());
	ERR_clear_error();
}

static int get_issuer(X509 **issuer, X509_STORE_CTX *ctx, X509 *x)
{
	int r = X509_STORE_CTX_get1_issuer(issuer, ctx, x);
	if (r != 0)
		return r;
	SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct pc_tls *t = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
	if (!t || t->system_file_loaded)
		return r;
	/* Issued by a certificate the peer sent: the chain goes on there. */
	STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(ctx);
	for (int i = 0; i < sk_X509_num(sent); i++)
		if (X509_check_issued(sk_X509_value(sent, i), x) == X509_V_OK)
			return r;
	load_system_file(t, X509_STORE_CTX_get0_store(ctx));
	return X509_STORE_CTX_get1_issuer(issuer, ctx, x);
}

/* The upstream CA bundle: every certificate in it, at least one. */
static int load_bundle(X509_STORE *store, const char *path, struct pc_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = pc_read_file(path, BUNDLE_MAX, &data, &len, err);
	if (r < 0)
		return pc_error_prefix(err, "upstream CA bundle");
	BIO *mem = BIO_new_mem_buf(data, (int)len);
	if (!mem)
		return ossl_error(err, ENOMEM, "upstream CA bundle");
	unsigned n = 0;
	X509 *x;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509_AUX(mem, NULL, NULL, NULL))) {
		int ok = X509_STORE_add_cert(store, x);
		X509_free(x);
		if (!ok) {
			BIO_free(mem);
			char why[256];
			ossl_message(why, sizeof(why), "cannot add a certificate");
			return pc_error(err, EINVAL, "upstream CA bundle %s: %s", path, why);
		}
		n++;
	}
	BIO_free(mem);
	/* The loop ends on "no start line" at the end of the file; anything
	 * else is a damaged certificate. */
	unsigned long e = ERR_peek_last_error();
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		char why[256];
		ossl_message(why, sizeof(why), "unreadable certificate");
		return pc_error(err, EINVAL, "upstream CA bundle %s: certificate %u: %s", path,
				n + 1, why);
	}
	ERR_clear_error();
	if (n == 0)
		return pc_error(err, EINVAL, "upstream CA bundle %s: no PEM certificate in it",
				path);
	return 0;
}

static int make_client_ctx(struct pc_tls *t, const char *upstream_ca, struct pc_error *err)
{
	SSL_CTX *ctx = t->client = SSL_CTX_new(TLS_client_method());
	if (!ctx || ctx_common(ctx) < 0)
		return ossl_error(err, EIO, "cannot set up TLS toward upstreams");
	/* Chains are checked against our store alone: a VerifyCAFile from an
	 * openssl.cnf (OPENSSL_CONF is the caller's environment) is dropped. */
	SSL_CTX_set1_verify_cert_store(ctx, NULL);
	SSL_CTX_set1_chain_cert_store(ctx, NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)ALPN_HTTP11, ALPN_HTTP11_LEN) != 0)
		return ossl_error(err, EIO, "cannot set up TLS toward upstreams");
	SSL_CTX_set_session_cache_mode(ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, client_new_session);
	SSL_CTX_set_app_data(ctx, t);
	X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_STORE_set_get_issuer(store, get_issuer);
	X509_STORE_load_path(store, X509_get_default_cert_dir()); /* nothing read yet */
	ERR_clear_error();
	if (upstream_ca)
		return load_bundle(store, upstream_ca, err);
	return 0;
}

/* ---- ops: context ---------------------------------------------------------- */

static void tls_ctx_free(struct pc_tls *t)
{
	if (!t)
		return;
	/* Sessions still open keep the SSL_CTXs alive: they must not call
	 * back into t. */
	if (t->client)
		SSL_CTX_set_app_data(t->client, NULL);
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	map_free(&t->leaves);
	map_free(&t->sessions);
	EVP_PKEY_free(t->leaf_key);
	EVP_PKEY_free(t->ca_key);
	X509_free(t->ca);
	ASN1_OCTET_STRING_free(t->ca_skid);
	free(t->ca_pem);
	free(t);
	ERR_clear_error();
}

static int tls_ctx_new(const char *upstream_ca, struct pc_tls **out, struct pc_error *err)
{
	*out = NULL;
	ERR_clear_error();
	struct pc_tls *t = pc_xcalloc(1, sizeof(*t));
	int r = make_ca(t, err);
	if (r == 0 && !(t->leaf_key = EVP_EC_gen("P-256")))
		r = ossl_error(err, EIO, "cannot make the run's leaf key");
	if (r == 0)
		r = make_server_ctx(t, err);
	if (r == 0)
		r = make_client_ctx(t, upstream_ca, err);
	if (r < 0) {
		tls_ctx_free(t);
		ERR_clear_error();
		return r;
	}
	map_init(&t->leaves, leaf_free);
	map_init(&t->sessions, session_free);
	*out = t;
	ERR_clear_error();
	return 0;
}

static const char *tls_ca_pem(const struct pc_tls *t)
{
	return t->ca_pem;
}

static const char *tls_system_roots(void)
{
	return X509_get_default_cert_file();
}

/* ---- ops: sessions --------------------------------------------------------- */

static struct pc_tls_conn *conn_new(SSL_CTX *ctx, const char *host, bool client,
				    struct pc_error *err)
{
	struct pc_tls_conn *s = pc_xcalloc(1, sizeof(*s));
	s->client = client;
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->ssl = SSL_new(ctx);
	s->rbio = BIO_new(BIO_s_mem());
	s->wbio = BIO_new(BIO_s_mem());
	if (!s->ssl || !s->rbio || !s->wbio) {
		ossl_error(err, ENOMEM, "cannot start a TLS session");
		BIO_free(s->rbio);
		BIO_free(s->wbio);
		SSL_free(s->ssl);
		free(s);
		return NULL;
	}
	/* An empty rbio means "want read", not end of file. */
	BIO_set_mem_eof_return(s->rbio, -1);
	BIO_set_mem_eof_return(s->wbio, -1);
	SSL_set_bio(s->ssl, s->rbio, s->wbio);
	SSL_set_app_data(s->ssl, s);
	return s;
}

static void tls_conn_free(struct pc_tls_conn *s)
{
	if (!s)
		return;
	/* SSL_free marks the session of a connection that sent no
	 * close_notify as not resumable; a connection that simply ended
	 * (the upstream closed, the agent went away) keeps its session for
	 * the next one to the same host. A failed one does not. */
	if (!s->failed && SSL_is_init_finished(s->ssl))
		SSL_set_shutdown(s->ssl, SSL_get_shutdown(s->ssl) | SSL_SENT_SHUTDOWN);
	SSL_free(s->ssl);
	free(s);
	ERR_clear_error();
}

static struct pc_tls_conn *tls_server_new(struct pc_tls *t, const char *host, struct pc_error *err)
{
	char name[HOST_MAX + 1];
	unsigned char ip[16];
	int ip_len;
	ERR_clear_error();
	if (parse_host(host, name, ip, &ip_len, err) < 0)
		return NULL;
	struct map_entry *e = map_find(&t->leaves, name);
	X509 *leaf = e ? e->val : NULL;
	if (!leaf) {
		leaf = mint_leaf(t, name, ip, ip_len, err);
		if (!leaf)
			return NULL;
		map_put(&t->leaves, name, leaf);
	}
	struct pc_tls_conn *s = conn_new(t->server, name, false, err);
	if (!s)
		return NULL;
	if (SSL_use_certificate(s->ssl, leaf) != 1 ||
	    SSL_use_PrivateKey(s->ssl, t->leaf_key) != 1) {
		ossl_error(err, EIO, "cannot use the TLS certificate");
		pc_error_prefix(err, "%s", name);
		tls_conn_free(s);
		return NULL;
	}
	SSL_set_accept_state(s->ssl);
	ERR_clear_error();
	return s;
}

static struct pc_tls_conn *tls_client_new(struct pc_tls *t, const char *host, struct pc_error *err)
{
	char name[HOST_MAX + 1];
	unsigned char ip[16];
	int ip_len;
	ERR_clear_error();
	if (parse_host(host, name, ip, &ip_len, err) < 0)
		return NULL;
	struct pc_tls_conn *s = conn_new(t->client, name, true, err);
	if (!s)
		return NULL;
	int ok;
	if (ip_len)
		ok = X509_VERIFY_PARAM_set1_ip(SSL_get0_param(s->ssl), ip, (size_t)ip_len);
	else
		ok = SSL_set_tlsext_host_name(s->ssl, name) && SSL_set1_host(s->ssl, name);
	if (!ok) {
		ossl_error(err, EIO, "cannot set the TLS server name");
		pc_error_prefix(err, "%s", name);
		tls_conn_free(s);
		return NULL;
	}
	struct map_entry *e = map_find(&t->sessions, name);
	if (e && e->val) {
		SSL_SESSION *sess = e->val;
		if (SSL_SESSION_is_resumable(sess))
			SSL_set_session(s->ssl, sess); /* takes its own reference */
		/* TLS 1.3 tickets are for one use (RFC 8446 C.4); the new
		 * connection brings fresh ones. A 1.2 session stays. */
		if (!SSL_SESSION_is_resumable(sess) ||
		    SSL_SESSION_get_protocol_version(sess) >= TLS1_3_VERSION) {
			SSL_SESSION_free(sess);
			e->val = NULL;
		}
	}
	SSL_set_connect_state(s->ssl);
	ERR_clear_error();
	return s;
}

static void tls_conn_feed(struct pc_tls_conn *s, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		int chunk = n > INT32_MAX ? INT32_MAX : (int)n;
		int w = BIO_write(s->rbio, p, chunk);
		if (w <= 0) {
			/* Only an allocation failure gets here. */
			if (!s->failed) {
				s->failed = true;
				snprintf(s->error, sizeof(s->error),
					 "out of memory buffering TLS input");
			}
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	ERR_clear_error();
}

/* Record why the session failed (once) and return PC_TLS_ERROR. */
static long conn_fail(struct pc_tls_conn *s, int ssl_err)
{
	if (!s->failed) {
		s->failed = true;
		long vr = SSL_get_verify_result(s->ssl);
		if (s->client && vr != X509_V_OK) {
			snprintf(s->error, sizeof(s->error), "upstream certificate rejected: %s",
				 X509_verify_cert_error_string(vr));
		} else {
			char why[256];
			ossl_message(why, sizeof(why),
				     ssl_err == SSL_ERROR_SYSCALL ? "unexpected end of TLS stream"
								  : "TLS failure");
			snprintf(s->error, sizeof(s->error), "%s: %s",
				 SSL_is_init_finished(s->ssl) ? "TLS error"
							      : "TLS handshake failed",
				 why);
		}
	}
	ERR_clear_error();
	return PC_TLS_ERROR;
}

static long tls_conn_read(struct pc_tls_conn *s, void *buf, size_t cap)
{
	if (s->failed)
		return PC_TLS_ERROR;
	if (s->closed)
		return PC_TLS_CLOSED;
	ERR_clear_error();
	if (!SSL_is_init_finished(s->ssl)) {
		int r = SSL_do_handshake(s->ssl);
		if (r != 1) {
			int e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				ERR_clear_error();
				return 0;
			}
			if (e == SSL_ERROR_ZERO_RETURN) {
				s->closed = true;
				ERR_clear_error();
				return PC_TLS_CLOSED;
			}
			return conn_fail(s, e);
		}
	}
	if (cap == 0) {
		ERR_clear_error();
		return 0;
	}
	size_t got = 0;
	if (SSL_read_ex(s->ssl, buf, cap, &got) == 1) {
		ERR_clear_error();
		return got > LONG_MAX ? LONG_MAX : (long)got;
	}
	int e = SSL_get_error(s->ssl, 0);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		s->closed = true;
		ERR_clear_error();
		return PC_TLS_CLOSED;
	default:
		return conn_fail(s, e);
	}
}

static long tls_conn_write(struct pc_tls_conn *s, const void *buf, size_t n)
{
	if (s->failed)
		return PC_TLS_ERROR;
	if (!SSL_is_init_finished(s->ssl) || n == 0)
		return 0;
	if (s->shutdown_sent) {
		s->failed = true;
		snprintf(s->error, sizeof(s->error), "TLS write after close");
		return PC_TLS_ERROR;
	}
	ERR_clear_error();
	const char *p = buf;
	size_t left = n;
	while (left > 0) {
		size_t done = 0;
		if (SSL_write_ex(s->ssl, p, left, &done) != 1)
			return conn_fail(s, SSL_get_error(s->ssl, 0));
		p += done;
		left -= done;
	}
	ERR_clear_error();
	return n > LONG_MAX ? LONG_MAX : (long)n;
}

static size_t tls_conn_take(struct pc_tls_conn *s, void *buf, size_t cap)
{
	size_t got = 0;
	if (cap == 0 || BIO_read_ex(s->wbio, buf, cap, &got) != 1)
		got = 0;
	ERR_clear_error();
	return got;
}

static void tls_conn_close(struct pc_tls_conn *s)
{
	if (s->shutdown_sent || s->failed || !SSL_is_init_finished(s->ssl))
		return;
	s->shutdown_sent = true;
	ERR_clear_error();
	SSL_shutdown(s->ssl);
	ERR_clear_error();
}

static bool tls_conn_ready(const struct pc_tls_conn *s)
{
	return SSL_is_init_finished(s->ssl) && !s->failed;
}

static const char *tls_conn_error(const struct pc_tls_conn *s)
{
	return s->failed ? s->error : "";
}

/* ---- the table ------------------------------------------------------------- */

static const struct pc_tls_ops ops = {
	.abi = PC_TLS_ABI,
	.ctx_new = tls_ctx_new,
	.ctx_free = tls_ctx_free,
	.ca_pem = tls_ca_pem,
	.system_roots = tls_system_roots,
	.server_new = tls_server_new,
	.client_new = tls_client_new,
	.conn_free = tls_conn_free,
	.conn_feed = tls_conn_feed,
	.conn_read = tls_conn_read,
	.conn_write = tls_conn_write,
	.conn_take = tls_conn_take,
	.conn_close = tls_conn_close,
	.conn_ready = tls_conn_ready,
	.conn_error = tls_conn_error,
	.vault_open = vault_open,
	.vault_close = vault_close,
	.vault_lookup = vault_lookup,
	.vault_changed = vault_changed,
	.vault_secret_wipe = vault_secret_wipe,
	.vault_wipe = vault_wipe,
};

__attribute__((visibility("default"))) const struct pc_tls_ops *pincer_tls_ops(void);
const struct pc_tls_ops *pincer_tls_ops(void)
{
	return &ops;
}
