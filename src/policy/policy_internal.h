/* policy internals: shared between the files of src/policy only. Nothing
 * outside src/policy includes this; the contract is policy.h.
 *
 * The loader works in two steps: policy_yaml.c turns the text into a small
 * tree of nodes (rejecting anchors, aliases, tags, duplicate keys and extra
 * documents, and keeping every node's line:col), then policy_load.c and
 * policy_rules.c walk that tree into a `struct policy`, naming the key path
 * of anything they reject.
 */
#pragma once

#include "policy/policy.h"

#include <netinet/in.h>

#define PC_POLICY_MAX_BYTES (1024 * 1024)
#define PC_POLICY_MAX_DEPTH 64
#define PC_POLICY_BUILTIN   "<built-in default>"

/* ---- the YAML tree (policy_yaml.c) ------------------------------------- */

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

struct ynode {
	enum ynode_kind kind;
	struct pc_src at;
	char *value; /* scalar text (NUL-free) */
	bool plain;  /* scalar written without quotes */
	/* seq: the items; map: key, value, key, value, ... (keys are scalars) */
	struct ynode **items;
	size_t n;
};

/* What a scalar means under YAML's core schema. */
enum yscalar { YS_STRING, YS_NULL, YS_BOOL, YS_INT, YS_FLOAT };

int ynode_parse(const char *text, size_t len, const char *file, struct ynode **out,
		struct pc_error *err);
void ynode_free(struct ynode *n);
void ynode_freep(struct ynode **n);
enum yscalar yscalar_of(const char *s, bool plain);
/* The value under `key` in a mapping, or NULL. */
struct ynode *ynode_get(const struct ynode *map, const char *key);
/* Does a plain scalar read as null (empty, "~", "null")? */
bool ynode_is_null(const struct ynode *n);

/* ---- walking context and checked getters (policy_check.c) -------------- */

struct pctx {
	const char *file;
	const char *home;
	struct pc_error *err;
	char path[1024]; /* key path of the node being read: "network.egress.allow[2]" */
	size_t plen;
};

size_t pctx_key(struct pctx *c, const char *key);
size_t pctx_index(struct pctx *c, size_t i);
void pctx_pop(struct pctx *c, size_t old);

/* "FILE:LINE:COL: key.path: message". */
int perr(struct pctx *c, struct pc_src at, const char *fmt, ...) _printf_(3, 4);

int check_map(struct pctx *c, const struct ynode *n, const char *accepted);
int check_seq(struct pctx *c, const struct ynode *n, const char *accepted);
/* Unknown keys are errors that list `keys` (NULL-terminated). */
int check_keys(struct pctx *c, const struct ynode *map, const char *const *keys);
/* A scalar that is not null. */
int get_str(struct pctx *c, const struct ynode *n, const char *accepted, const char **out);
int get_bool(struct pctx *c, const struct ynode *n, bool *out);
int get_uint(struct pctx *c, const struct ynode *n, uint64_t min, uint64_t max, const char *what,
	     uint64_t *out);
/* One of `names` (NULL-terminated); *out is its index. */
int get_enum(struct pctx *c, const struct ynode *n, const char *const *names, int *out);
int get_size(struct pctx *c, const struct ynode *n, uint64_t *out);
int get_duration(struct pctx *c, const struct ynode *n, bool allow_zero, uint64_t *out);
int get_cpus(struct pctx *c, const struct ynode *n, uint32_t *out);
/* A filesystem path: absolute or ~/..., normalised; `glob` allows "*", "?"
 * and a leading "**" (deny patterns). */
int get_path(struct pctx *c, const struct ynode *n, bool glob, struct pc_path *out);
/* Items of a sequence; a null value is an empty sequence. */
int get_seq_items(struct pctx *c, const struct ynode *n, const char *accepted,
		  struct ynode *const **items, size_t *count);

bool valid_env_name(const char *s);
bool valid_hostname(const char *s);
/* NULL when valid, else what is wrong with the host pattern. IPv6
 * literals (bare or in brackets) are valid. */
const char *host_pattern_problem(const char *s);
/* Is s an IPv6 literal, bare or in brackets? */
bool ipv6_literal(const char *s, struct in6_addr *out);
/* Parse an address or CIDR ("10.1.0.0/16", "::1"): 0, or -EINVAL with
 * what is wrong in `why`. */
int cidr_parse(const char *s, struct pc_cidr *out, char *why, size_t n);
/* Normalise an absolute (or "**"-led) path in place: no "//", no ".", no
 * trailing slash. Returns -EINVAL when a ".." component is present. */
int path_normalise(char *p);

/* ---- sections (policy_rules.c) ----------------------------------------- */

int parse_network(struct pctx *c, const struct ynode *n, struct policy *p);
int parse_credentials(struct pctx *c, const struct ynode *n, struct policy *p);
int parse_approvals(struct pctx *c, const struct ynode *n, struct policy *p);
/* The methods a rule may name, in the order they are written back. */
extern const char *const policy_http_methods[];

/* ---- defaults and validation across sections --------------------------- */

/* Every default of DESIGN.md section 5 (name and file are the caller's). */
void policy_fill_defaults(struct policy *p, const char *home);
void pc_paths_free(struct pc_path *v, size_t n);
void pc_paths_default(struct pc_path **v, size_t *n, const char *const *specs, const char *home);
extern const char *const pc_default_system[];
extern const char *const pc_default_deny[];
/* Checks that span sections (a path both ro and rw, a granted path that is
 * denied, placeholders clashing with env...). */
int policy_cross_check(struct pctx *c, struct policy *p);
/* Does a deny pattern cover `path` or one of its parents? */
bool policy_denies(const char *pattern, const char *path);

/* ---- egress (policy_egress.c) ------------------------------------------ */

/* Could a server read this request path (len bytes, no query) as another
 * path than a glob sees? Such paths never satisfy an allow rule's paths. */
bool egress_path_ambiguous(const char *path, size_t len);

/* ---- emission ---------------------------------------------------------- */

/* s as a YAML scalar: plain when that reads back the same, else quoted. */
void policy_emit_str(struct pc_buf *b, const char *s);
/* s inside a YAML comment: control characters shown as '?'. */
void policy_emit_comment_text(struct pc_buf *b, const char *s);
/* The policy without the header comment (hashed for the built-in default). */
void policy_emit_body(const struct policy *p, struct pc_buf *out);
void policy_hash_text(const char *text, size_t len, char out[65]);
