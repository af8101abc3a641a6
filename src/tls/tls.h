/* tls: everything `pincer run` does with OpenSSL, in a module of its own.
 *
 * TLS interception (a per-run CA, leaf certificates per host, sessions
 * toward the agent and toward upstreams) and the vault's read side live in
 * pincer-tls.so, which pincer dlopen()s only when a policy has credentials
 * or method/path rules: linking libssl and libcrypto into pincer itself
 * cost ~3.6 ms on every run (bench/startup), most of which never intercept.
 *
 * Sessions work on memory only: the caller feeds the bytes it read from the
 * peer (ciphertext) with conn_feed, takes the bytes to send with conn_take,
 * and moves plaintext with conn_read / conn_write. No sockets, no event
 * loop: the gate glues this to libevent (src/gate/gate_tls.c).
 *
 * The module exports one symbol, pincer_tls_ops (a function returning the
 * table below); the table's abi must equal PC_TLS_ABI.
 */
#pragma once

#include "util/util.h"

#include <stdbool.h>
#include <stddef.h>

#define PC_TLS_ABI	  1
#define PC_TLS_MODULE	  "pincer-tls.so"
#define PC_TLS_SYMBOL	  "pincer_tls_ops"
#define PC_TLS_CLOSED	  (-2) /* conn_read: the peer sent close_notify */
#define PC_TLS_ERROR	  (-1) /* conn_read / conn_write: conn_error says why */

struct pc_tls;	    /* one run: its CA, the leaf key, cached leaves, upstream trust */
struct pc_tls_conn; /* one TLS session over memory */
struct vault;
struct vault_options;
struct vault_secret;

struct pc_tls_ops {
	unsigned abi; /* PC_TLS_ABI */

	/* A run's interception state: a fresh CA (ECDSA P-256, self-signed,
	 * valid from an hour ago for 30 days, in memory only, never written
	 * anywhere), one ECDSA P-256 key for every leaf, and the trust for
	 * upstreams: the system store plus the PEM bundle upstream_ca when
	 * not NULL (an unreadable or empty bundle is an error). */
	int (*ctx_new)(const char *upstream_ca, struct pc_tls **out, struct pc_error *err);
	void (*ctx_free)(struct pc_tls *t);
	/* The CA's certificate, PEM, NUL-terminated, owned by t. */
	const char *(*ca_pem)(const struct pc_tls *t);
	/* The system roots bundle OpenSSL was built to use
	 * (X509_get_default_cert_file(), honouring SSL_CERT_FILE is NOT
	 * wanted: the caller's environment does not choose our trust). */
	const char *(*system_roots)(void);

	/* A session toward the agent presenting a leaf for host (a DNS name or
	 * an IP literal; the leaf has it as its only subjectAltName, signed by
	 * the CA, minted on first use and cached for the run). TLS 1.2+, ALPN
	 * offers only http/1.1. NULL with err set on failure. */
	struct pc_tls_conn *(*server_new)(struct pc_tls *t, const char *host, struct pc_error *err);
	/* A session toward an upstream: SNI host (not for IP literals), ALPN
	 * http/1.1, TLS 1.2+, the chain verified against the run's trust and
	 * the name (or IP) checked; a failure ends the handshake with an
	 * error conn_error names ("certificate has expired", "hostname
	 * mismatch", "self-signed certificate"...). */
	struct pc_tls_conn *(*client_new)(struct pc_tls *t, const char *host, struct pc_error *err);
	void (*conn_free)(struct pc_tls_conn *s);

	/* Ciphertext read from the peer; all of it is taken. */
	void (*conn_feed)(struct pc_tls_conn *s, const void *buf, size_t n);
	/* Drive the handshake, then decrypt: >0 plaintext bytes in buf, 0
	 * nothing now (more input needed; conn_take may have bytes to send),
	 * PC_TLS_CLOSED, PC_TLS_ERROR. A client session's first call makes
	 * its ClientHello. */
	long (*conn_read)(struct pc_tls_conn *s, void *buf, size_t cap);
	/* Encrypt plaintext: the bytes taken (all of them once the handshake
	 * is done; 0 before), or PC_TLS_ERROR. */
	long (*conn_write)(struct pc_tls_conn *s, const void *buf, size_t n);
	/* Ciphertext to send to the peer, up to cap bytes; 0 when none. */
	size_t (*conn_take)(struct pc_tls_conn *s, void *buf, size_t cap);
	/* Queue a close_notify (conn_take then has it). */
	void (*conn_close)(struct pc_tls_conn *s);
	bool (*conn_ready)(const struct pc_tls_conn *s); /* handshake done */
	/* Why the session failed, one line; "" when it has not. */
	const char *(*conn_error)(const struct pc_tls_conn *s);

	/* The vault's read side (see vault/vault.h; same contracts). */
	int (*vault_open)(const struct vault_options *o, struct vault **out, struct pc_error *err);
	void (*vault_close)(struct vault *v);
	int (*vault_lookup)(struct vault *v, const char *name, const char *identity,
			    const char *const *groups, struct vault_secret *out,
			    struct pc_error *err);
	bool (*vault_changed)(const struct vault *v);
	void (*vault_secret_wipe)(struct vault_secret *s);
	void (*vault_wipe)(void *p, size_t n);
};

/* The entry point the module exports. */
typedef const struct pc_tls_ops *(*pc_tls_entry_fn)(void);

/* tls_load.c (in pincer, no OpenSSL): load pincer-tls.so from beside the
 * running executable (a build tree), else from LIBDIR/pincer (installed). The file must be a regular
 * file owned by root or by us and writable by nobody else, like the
 * executable it extends. Loaded once; later calls return the same table. */
const struct pc_tls_ops *pc_tls_load(struct pc_error *err);
/* The same from an explicit path (tests). */
const struct pc_tls_ops *pc_tls_load_from(const char *path, struct pc_error *err);
