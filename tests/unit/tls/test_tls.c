/* tls: pincer-tls.so loaded as pincer loads it. Sessions of one run (the
 * agent side) and of another that trusts the first one's CA (the upstream
 * side) talk to each other over memory: handshakes, plaintext both ways,
 * close_notify, name and IP checks, rejected chains, bundles that cannot be
 * used, the leaf cache. A client written here with OpenSSL directly looks at
 * what the agent sees: the leaf's fields under strict X.509 checks, ALPN,
 * the same certificate for a cached host, ticket resumption.
 *
 * Usage: test-tls PATH/pincer-tls.so */
#include "tls/tls.h"
#include "../check.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <time.h>

#define ALPN_H11 "\x08http/1.1"

static const struct pc_tls_ops *ops;
static struct pc_tls *run; /* the run: CA, leaves (agent side) */
static struct pc_tls *up;  /* trusts run's CA as an upstream CA */
static struct pc_tls *sys; /* system roots only */
static char dir[] = "/tmp/pincer-tls-test.XXXXXX";
static char ca_file[256];

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void spit(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(s, f);
	fclose(f);
}

/* ---- two module sessions over memory ------------------------------------ */

static char scratch[64 * 1024];

static void move(struct pc_tls_conn *from, struct pc_tls_conn *to)
{
	size_t n;
	while ((n = ops->conn_take(from, scratch, sizeof(scratch))) > 0)
		ops->conn_feed(to, scratch, n);
}

/* Drive both handshakes: 0 when both are ready, -1 when either fails. */
static int handshake(struct pc_tls_conn *server, struct pc_tls_conn *client)
{
	char buf[256];
	for (int i = 0; i < 20; i++) {
		long c = ops->conn_read(client, buf, sizeof(buf));
		move(client, server);
		long s = ops->conn_read(server, buf, sizeof(buf));
		move(server, client);
		if (c < 0 || s < 0) {
			/* let the alert reach the other side */
			ops->conn_read(client, buf, sizeof(buf));
			ops->conn_read(server, buf, sizeof(buf));
			return -1;
		}
		CHECK(c == 0 && s == 0);
		if (ops->conn_ready(server) && ops->conn_ready(client))
			return 0;
	}
	return -1;
}

/* Send n bytes from a to b; b reads them all back into out. */
static size_t transfer(struct pc_tls_conn *a, struct pc_tls_conn *b, const char *data, size_t n,
		       char *out, size_t cap)
{
	CHECK(ops->conn_write(a, data, n) == (long)n);
	size_t got = 0;
	size_t k;
	while ((k = ops->conn_take(a, scratch, sizeof(scratch))) > 0) {
		ops->conn_feed(b, scratch, k);
		long r;
		while ((r = ops->conn_read(b, out + got, cap - got)) > 0)
			got += (size_t)r;
		CHECK(r == 0);
		move(b, a); /* nothing expected, but keep the pipes empty */
	}
	return got;
}

static void pair(struct pc_tls *srv, const char *srv_host, struct pc_tls *cli, const char *cli_host,
		 struct pc_tls_conn **s, struct pc_tls_conn **c)
{
	struct pc_error err = {0};
	*s = ops->server_new(srv, srv_host, &err);
	CHECK(*s != NULL);
	if (!*s)
		fprintf(stderr, "server_new %s: %s\n", srv_host, err.msg);
	*c = ops->client_new(cli, cli_host, &err);
	CHECK(*c != NULL);
	if (!*c)
		fprintf(stderr, "client_new %s: %s\n", cli_host, err.msg);
}

static void test_round_trip(void)
{
	struct pc_tls_conn *s, *c;
	double t0 = now_ms();
	pair(run, "api.test", up, "api.test", &s, &c);
	printf("first client_new: %.3f ms\n", now_ms() - t0);
	if (!s || !c)
		return;
	CHECK(!ops->conn_ready(s) && !ops->conn_ready(c));
	CHECK_STR(ops->conn_error(c), "");
	CHECK(ops->conn_write(c, "early", 5) == 0); /* before the handshake */
	CHECK(handshake(s, c) == 0);
	CHECK_STR(ops->conn_error(s), "");
	CHECK_STR(ops->conn_error(c), "");

	static const char req[] = "GET / HTTP/1.1\r\nHost: api.test\r\n\r\n";
	char buf[256];
	size_t n = transfer(c, s, req, strlen(req), buf, sizeof(buf));
	CHECK(n == strlen(req) && memcmp(buf, req, n) == 0);

	size_t big = 1 << 20;
	char *data = malloc(big), *back = malloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)(i * 131 + (i >> 9));
	n = transfer(s, c, data, big, back, big);
	CHECK(n == big && memcmp(data, back, big) == 0);
	n = transfer(c, s, data, big, back, big);
	CHECK(n == big && memcmp(data, back, big) == 0);
	free(data);
	free(back);

	/* close_notify both ways */
	ops->conn_close(c);
	move(c, s);
	CHECK(ops->conn_read(s, buf, sizeof(buf)) == PC_TLS_CLOSED);
	CHECK(ops->conn_read(s, buf, sizeof(buf)) == PC_TLS_CLOSED);
	ops->conn_close(s);
	move(s, c);
	CHECK(ops->conn_read(c, buf, sizeof(buf)) == PC_TLS_CLOSED);
	CHECK_STR(ops->conn_error(s), "");
	ops->conn_free(s);
	ops->conn_free(c);

	/* A second connection to the same upstream (resuming, if it kept a
	 * ticket) works the same. */
	pair(run, "api.test", up, "api.test", &s, &c);
	CHECK(handshake(s, c) == 0);
	n = transfer(c, s, req, strlen(req), buf, sizeof(buf));
	CHECK(n == strlen(req));
	ops->conn_free(s);
	ops->conn_free(c);
}

/* A handshake that must fail on the client side with why in its message;
 * the server side fails too (the alert), with a message of its own. */
static void expect_reject(struct pc_tls *srv, const char *srv_host, struct pc_tls *cli,
			  const char *cli_host, const char *why)
{
	struct pc_tls_conn *s, *c;
	pair(srv, srv_host, cli, cli_host, &s, &c);
	if (!s || !c)
		return;
	CHECK(handshake(s, c) < 0);
	CHECK(ERR_peek_error() == 0); /* the module leaves no error queued */
	CHECK(!ops->conn_ready(c));
	CHECK_CONTAINS(ops->conn_error(c), "upstream certificate rejected: ");
	CHECK_CONTAINS(ops->conn_error(c), why);
	CHECK(ops->conn_error(s)[0] != '\0');
	printf("rejected %s as %s: client \"%s\"; agent side \"%s\"\n", srv_host, cli_host,
	       ops->conn_error(c), ops->conn_error(s));
	char buf[16];
	CHECK(ops->conn_read(c, buf, sizeof(buf)) == PC_TLS_ERROR);
	CHECK(ops->conn_write(c, "x", 1) == PC_TLS_ERROR);
	ops->conn_free(s);
	ops->conn_free(c);
}

static void test_rejections(void)
{
	expect_reject(run, "api.test", up, "other.test", "hostname mismatch");
	expect_reject(run, "127.0.0.1", up, "127.0.0.2", "IP address mismatch");
	expect_reject(run, "api.test", up, "127.0.0.1", "IP address mismatch");
	/* trusting the system roots only: the run's CA is unknown */
	expect_reject(run, "api.test", sys, "api.test", "unable to get local issuer certificate");

	/* One session's failure does not leak into the next one's. */
	struct pc_tls_conn *s, *c;
	pair(run, "api.test", up, "api.test", &s, &c);
	CHECK(handshake(s, c) == 0);
	CHECK_STR(ops->conn_error(c), "");
	ops->conn_free(s);
	ops->conn_free(c);
}

static void test_ip_literals(void)
{
	static const char *hosts[] = {"127.0.0.1", "::1", "[::1]", "2001:db8::5"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(hosts); i++) {
		struct pc_tls_conn *s, *c;
		pair(run, hosts[i], up, hosts[i], &s, &c);
		if (!s || !c)
			continue;
		CHECK(handshake(s, c) == 0);
		if (ops->conn_error(c)[0])
			fprintf(stderr, "%s: %s\n", hosts[i], ops->conn_error(c));
		char buf[8];
		CHECK(transfer(c, s, "ping", 4, buf, sizeof(buf)) == 4);
		ops->conn_free(s);
		ops->conn_free(c);
	}
}

static void test_bad_hosts(void)
{
	static const char *bad[] = {"", "api test", "*.api.test", "a/b", "x\ny", "..", ".api"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		struct pc_error err = {0};
		CHECK(ops->server_new(run, bad[i], &err) == NULL);
		CHECK(err.code == EINVAL);
		CHECK(ops->client_new(up, bad[i], &err) == NULL);
	}
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	struct pc_error err = {0};
	CHECK(ops->server_new(run, longname, &err) == NULL);
}

static void test_bundles(void)
{
	struct pc_error err = {0};
	struct pc_tls *t = NULL;
	char path[300];

	snprintf(path, sizeof(path), "%s/missing.pem", dir);
	CHECK(ops->ctx_new(path, &t, &err) < 0 && t == NULL);
	CHECK_CONTAINS(err.msg, path);
	printf("missing bundle: %s\n", err.msg);

	snprintf(path, sizeof(path), "%s/empty.pem", dir);
	spit(path, "just some text\n");
	CHECK(ops->ctx_new(path, &t, &err) < 0 && t == NULL);
	CHECK_CONTAINS(err.msg, path);
	CHECK_CONTAINS(err.msg, "no PEM certificate");
	printf("empty bundle: %s\n", err.msg);

	snprintf(path, sizeof(path), "%s/key.pem", dir);
	spit(path, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
	CHECK(ops->ctx_new(path, &t, &err) < 0 && t == NULL);
	CHECK_CONTAINS(err.msg, path);

	snprintf(path, sizeof(path), "%s/broken.pem", dir);
	spit(path, "-----BEGIN CERTIFICATE-----\nMIIBbroken\n-----END CERTIFICATE-----\n");
	CHECK(ops->ctx_new(path, &t, &err) < 0 && t == NULL);
	CHECK_CONTAINS(err.msg, path);
	printf("broken bundle: %s\n", err.msg);

	CHECK(ops->ctx_new(dir, &t, &err) < 0 && t == NULL); /* a folder */
	CHECK_CONTAINS(err.msg, dir);
}

/* ---- what the agent sees: a client written with OpenSSL here ------------- */

struct agent {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;
};

static void agent_new(struct agent *a, const char *host, const char *alpn, size_t alpn_len,
		      int max_version, SSL_SESSION *resume)
{
	a->ctx = SSL_CTX_new(TLS_client_method());
	BIO *mem = BIO_new_mem_buf(ops->ca_pem(run), -1);
	X509 *ca = PEM_read_bio_X509(mem, NULL, NULL, NULL);
	BIO_free(mem);
	CHECK(ca != NULL);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(a->ctx), ca);
	X509_free(ca);
	/* Python 3.13 verifies with X509_STRICT by default. */
	X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(a->ctx), X509_V_FLAG_X509_STRICT);
	SSL_CTX_set_verify(a->ctx, SSL_VERIFY_PEER, NULL);
	if (max_version)
		SSL_CTX_set_max_proto_version(a->ctx, max_version);
	if (alpn)
		SSL_CTX_set_alpn_protos(a->ctx, (const unsigned char *)alpn, (unsigned)alpn_len);
	a->ssl = SSL_new(a->ctx);
	a->in = BIO_new(BIO_s_mem());
	a->out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(a->in, -1);
	SSL_set_bio(a->ssl, a->in, a->out);
	if (strchr(host, ':') || strspn(host, "0123456789.") == strlen(host)) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(a->ssl), host);
	} else {
		SSL_set_tlsext_host_name(a->ssl, host);
		SSL_set1_host(a->ssl, host);
	}
	if (resume)
		SSL_set_session(a->ssl, resume);
	SSL_set_connect_state(a->ssl);
}

static void agent_free(struct agent *a)
{
	/* SSL_free without a close_notify sent marks the session not
	 * resumable. */
	SSL_shutdown(a->ssl);
	ERR_clear_error();
	SSL_free(a->ssl);
	SSL_CTX_free(a->ctx);
}

/* Handshake the agent with a module server session; then read what the
 * server sent after it (tickets). 0 when done. */
static int agent_handshake(struct agent *a, struct pc_tls_conn *s)
{
	char buf[256];
	for (int i = 0; i < 20; i++) {
		int r = SSL_do_handshake(a->ssl);
		if (r != 1 && SSL_get_error(a->ssl, r) != SSL_ERROR_WANT_READ) {
			fprintf(stderr, "agent handshake: verify %s\n",
				X509_verify_cert_error_string(SSL_get_verify_result(a->ssl)));
			ERR_print_errors_fp(stderr);
			return -1;
		}
		int n;
		while ((n = BIO_read(a->out, scratch, sizeof(scratch))) > 0)
			ops->conn_feed(s, scratch, (size_t)n);
		if (ops->conn_read(s, buf, sizeof(buf)) < 0) {
			fprintf(stderr, "server: %s\n", ops->conn_error(s));
			return -1;
		}
		size_t k;
		while ((k = ops->conn_take(s, scratch, sizeof(scratch))) > 0)
			BIO_write(a->in, scratch, (int)k);
		if (r == 1 && ops->conn_ready(s)) {
			/* the tickets */
			SSL_read(a->ssl, buf, sizeof(buf));
			ERR_clear_error();
			return 0;
		}
	}
	return -1;
}

static X509 *leaf_seen(const char *host, const char *alpn, size_t alpn_len, int max_version,
		       char *alpn_out, size_t alpn_cap)
{
	struct pc_error err = {0};
	struct pc_tls_conn *s = ops->server_new(run, host, &err);
	CHECK(s != NULL);
	if (!s)
		return NULL;
	struct agent a;
	agent_new(&a, host, alpn, alpn_len, max_version, NULL);
	X509 *x = NULL;
	if (agent_handshake(&a, s) == 0) {
		x = SSL_get1_peer_certificate(a.ssl);
		const unsigned char *sel = NULL;
		unsigned len = 0;
		SSL_get0_alpn_selected(a.ssl, &sel, &len);
		if (alpn_out)
			snprintf(alpn_out, alpn_cap, "%.*s", (int)len,
				 sel ? (const char *)sel : "");
	}
	CHECK(x != NULL);
	agent_free(&a);
	ops->conn_free(s);
	return x;
}

static void test_ca(void)
{
	const char *pem = ops->ca_pem(run);
	CHECK(pem && strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
	BIO *mem = BIO_new_mem_buf(pem, -1);
	X509 *ca = PEM_read_bio_X509(mem, NULL, NULL, NULL);
	BIO_free(mem);
	CHECK(ca != NULL);
	if (!ca)
		return;
	char cn[64] = "";
	X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof(cn));
	CHECK_STR(cn, "pincer run CA");
	CHECK(X509_check_ca(ca) == 1);
	CHECK(X509_get_pathlen(ca) == 0);
	CHECK(X509_get_key_usage(ca) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
	CHECK(X509_get0_subject_key_id(ca) != NULL);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca), NULL);
	CHECK(BN_num_bits(bn) == 127);
	BN_free(bn);
	int day, sec;
	CHECK(ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notBefore(ca)) == 1);
	CHECK(day == 0 && sec <= -3590 && sec >= -3610);
	CHECK(ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(ca)) == 1);
	CHECK(day == 29 || (day == 30 && sec <= 5));
	EVP_PKEY *k = X509_get0_pubkey(ca);
	char group[32] = "";
	CHECK(k && EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) == 1);
	CHECK_STR(group, "prime256v1");
	X509_free(ca);

	/* each run its own CA */
	CHECK(strcmp(ops->ca_pem(run), ops->ca_pem(up)) != 0);
	CHECK(ops->system_roots() && ops->system_roots()[0] == '/');
	printf("system roots: %s\n", ops->system_roots());
}

static void check_leaf(X509 *x, const char *host, const char *cn_expected)
{
	if (!x)
		return;
	char cn[128] = "";
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	CHECK_STR(cn, cn_expected);
	CHECK(X509_check_ca(x) == 0);
	CHECK(X509_get_extended_key_usage(x) == XKU_SSL_SERVER);
	CHECK(X509_get0_authority_key_id(x) != NULL);
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	CHECK(san && sk_GENERAL_NAME_num(san) == 1);
	GENERAL_NAMES_free(san);
	CHECK(X509_check_host(x, host, 0, 0, NULL) == 1 || X509_check_ip_asc(x, host, 0) == 1);
	int day, sec;
	CHECK(ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(x)) == 1);
	CHECK(day == 6 || (day == 7 && sec <= 5));
	CHECK(X509_get_signature_nid(x) == NID_ecdsa_with_SHA256);
}

static void test_agent_view(void)
{
	char alpn[32];
	X509 *x = leaf_seen("api.test", ALPN_H11, 9, 0, alpn, sizeof(alpn));
	check_leaf(x, "api.test", "api.test");
	CHECK_STR(alpn, "http/1.1");
	/* same host, again: the same certificate, not a new one */
	X509 *y = leaf_seen("API.test", ALPN_H11, 9, 0, NULL, 0);
	CHECK(x && y && X509_cmp(x, y) == 0);
	X509_free(y);
	/* another host: another certificate, same key */
	y = leaf_seen("other.test", NULL, 0, 0, alpn, sizeof(alpn));
	CHECK(x && y && X509_cmp(x, y) != 0);
	CHECK(x && y && EVP_PKEY_eq(X509_get0_pubkey(x), X509_get0_pubkey(y)) == 1);
	CHECK_STR(alpn, ""); /* no ALPN offered: none chosen, handshake fine */
	X509_free(y);
	X509_free(x);

	/* h2 only: no ALPN rather than a failure */
	x = leaf_seen("h2.test", "\x02h2", 3, 0, alpn, sizeof(alpn));
	CHECK_STR(alpn, "");
	X509_free(x);
	x = leaf_seen("both.test", "\x02h2\x08http/1.1", 12, 0, alpn, sizeof(alpn));
	CHECK_STR(alpn, "http/1.1");
	X509_free(x);
	/* TLS 1.2 */
	x = leaf_seen("tls12.test", ALPN_H11, 9, TLS1_2_VERSION, alpn, sizeof(alpn));
	CHECK_STR(alpn, "http/1.1");
	check_leaf(x, "tls12.test", "tls12.test");
	X509_free(x);
	/* TLS 1.1 is refused */
	{
		struct pc_error err = {0};
		struct pc_tls_conn *s = ops->server_new(run, "old.test", &err);
		struct agent a;
		agent_new(&a, "old.test", NULL, 0, TLS1_1_VERSION, NULL);
		SSL_set_security_level(a.ssl, 0);
		SSL_set_min_proto_version(a.ssl, TLS1_VERSION);
		CHECK(agent_handshake(&a, s) < 0);
		ERR_clear_error();
		CHECK(ops->conn_error(s)[0] != '\0');
		printf("TLS 1.1 agent: %s\n", ops->conn_error(s));
		agent_free(&a);
		ops->conn_free(s);
	}

	/* a name longer than a CN may be: CN cut at 64, SAN whole */
	const char *lng = "a-very-long-label-for-testing-that-goes-on.and-on-and-on.example.com";
	CHECK(strlen(lng) > 64);
	char cn[65];
	memcpy(cn, lng, 64);
	cn[64] = '\0';
	x = leaf_seen(lng, ALPN_H11, 9, 0, NULL, 0);
	check_leaf(x, lng, cn);
	X509_free(x);
	/* IP literals carry an IP SAN */
	x = leaf_seen("10.1.2.3", ALPN_H11, 9, 0, NULL, 0);
	check_leaf(x, "10.1.2.3", "10.1.2.3");
	X509_free(x);
	x = leaf_seen("fd00::1", ALPN_H11, 9, 0, NULL, 0);
	check_leaf(x, "fd00::1", "fd00::1");
	X509_free(x);
}

static void test_resumption(void)
{
	for (int v = 0; v < 2; v++) {
		int maxv = v ? TLS1_2_VERSION : 0;
		struct pc_error err = {0};
		struct pc_tls_conn *s = ops->server_new(run, "api.test", &err);
		struct agent a;
		agent_new(&a, "api.test", ALPN_H11, 9, maxv, NULL);
		CHECK(agent_handshake(&a, s) == 0);
		SSL_SESSION *sess = SSL_get1_session(a.ssl);
		CHECK(sess && SSL_SESSION_is_resumable(sess));
		agent_free(&a);
		ops->conn_free(s);

		s = ops->server_new(run, "api.test", &err);
		agent_new(&a, "api.test", ALPN_H11, 9, maxv, sess);
		CHECK(agent_handshake(&a, s) == 0);
		CHECK(SSL_session_reused(a.ssl) == 1);
		printf("resumption (%s): %s\n", v ? "TLS 1.2" : "TLS 1.3",
		       SSL_session_reused(a.ssl) ? "yes" : "no");
		SSL_SESSION_free(sess);
		agent_free(&a);
		ops->conn_free(s);
	}
}

static void test_cache(void)
{
	struct pc_error err = {0};
	char host[64];
	/* the first mint after ctx_new, then 200 more */
	struct pc_tls *t = NULL;
	CHECK(ops->ctx_new(NULL, &t, &err) == 0);
	if (!t)
		return;
	double t0 = now_ms();
	struct pc_tls_conn *s = ops->server_new(t, "first.test", &err);
	double first = now_ms() - t0;
	CHECK(s != NULL);
	ops->conn_free(s);
	t0 = now_ms();
	for (int i = 0; i < 200; i++) {
		snprintf(host, sizeof(host), "host%d.test", i);
		s = ops->server_new(t, host, &err);
		CHECK(s != NULL);
		ops->conn_free(s);
	}
	double mint = (now_ms() - t0) / 200;
	t0 = now_ms();
	for (int i = 0; i < 100; i++) {
		s = ops->server_new(t, "host7.test", &err);
		CHECK(s != NULL);
		ops->conn_free(s);
	}
	double cached = (now_ms() - t0) / 100;
	printf("leaf: first %.3f ms, mint mean %.3f ms (200 hosts), cached host %.3f ms per "
	       "server_new\n",
	       first, mint, cached);
	ops->ctx_free(t);

	/* eviction: beyond 4096 hosts the oldest goes, and comes back minted
	 * anew (another certificate) */
	X509 *x = leaf_seen("evict0.test", NULL, 0, 0, NULL, 0);
	for (int i = 0; i < 4200; i++) {
		snprintf(host, sizeof(host), "fill%d.test", i);
		s = ops->server_new(run, host, &err);
		CHECK(s != NULL);
		ops->conn_free(s);
	}
	X509 *y = leaf_seen("evict0.test", NULL, 0, 0, NULL, 0);
	CHECK(x && y && X509_cmp(x, y) != 0);
	X509_free(x);
	X509_free(y);
	/* a recent one is still cached */
	x = leaf_seen("fill4199.test", NULL, 0, 0, NULL, 0);
	y = leaf_seen("fill4199.test", NULL, 0, 0, NULL, 0);
	CHECK(x && y && X509_cmp(x, y) == 0);
	X509_free(x);
	X509_free(y);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/pincer-tls.so\n", argv[0]);
		return 2;
	}
	struct pc_error err = {0};
	ops = pc_tls_load_from(argv[1], &err);
	if (!ops) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	CHECK(mkdtemp(dir) != NULL);
	double t0 = now_ms();
	CHECK(ops->ctx_new(NULL, &run, &err) == 0);
	printf("ctx_new, first (OpenSSL's own start-up included): %.3f ms\n", now_ms() - t0);
	if (!run) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	snprintf(ca_file, sizeof(ca_file), "%s/run-ca.pem", dir);
	spit(ca_file, ops->ca_pem(run));
	t0 = now_ms();
	CHECK(ops->ctx_new(ca_file, &up, &err) == 0);
	CHECK(ops->ctx_new(NULL, &sys, &err) == 0);
	printf("ctx_new, later: %.3f ms\n", (now_ms() - t0) / 2);
	if (!up || !sys) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	test_ca();
	test_round_trip();
	test_rejections();
	test_ip_literals();
	test_bad_hosts();
	test_bundles();
	test_agent_view();
	test_resumption();
	test_cache();
	ops->ctx_free(run);
	ops->ctx_free(up);
	ops->ctx_free(sys);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	CHECK_DONE();
}
