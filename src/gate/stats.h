/* gate stats: one run's egress in numbers, in a file of fixed layout. The
 * run maps it shared and the gate counts into it directly (no lock, no
 * syscall: its one writer is the run's event loop); anyone who may read
 * the file reads it whole with pread (the daemon, for /metrics: daemon.h).
 *
 * `pincer run --stats FILE` makes FILE: created 0600, never through a
 * symlink, refused unless a regular file of ours with one link; reset to
 * zeros at the start of every run and kept after it ends (the last run's
 * numbers). It is pincer's own state: no grant of the policy may expose it
 * to the agent (like the audit log).
 *
 * The layout is struct gate_stats below, native byte order, exactly
 * sizeof(struct gate_stats) bytes. The run writes version and size, then
 * magic last: a reader that does not find all three as it expects has no
 * numbers (a run starting, an older or newer pincer, a damaged file). A
 * reader treats the rest as untrusted too: gate_stats_load() does.
 *
 * What is counted, from the start of the run:
 *   allowed, denied   one per allow or deny record of the gate (audit.h):
 *                     a plain-HTTP request, a tunnel (CONNECT, SOCKS5, a
 *                     captured connection), a request inside intercepted
 *                     TLS. A would-deny (enforcement: audit) is forwarded,
 *                     so counted as allowed. A request allowed and then
 *                     refused (its upstream's certificate) counts in both,
 *                     as the log has both records.
 *   hosts[], other    the same by destination host, as the record names it
 *                     ("-": none could be read): the run's first
 *                     GATE_STATS_HOSTS hosts get a row each (its name is
 *                     written before n_hosts counts it); later ones, and a
 *                     host literally named "_other", count in `other`.
 *   bytes_up/down     bytes forwarded to upstreams and back to the agent
 *                     (HTTP heads as the gate rewrote them; plaintext for
 *                     intercepted TLS)
 *   latency[]         the gate's delay per request or connection: from its
 *                     arrival (a captured connection's accept, else the
 *                     first byte of its request) until the gate sent its
 *                     first byte upstream (a tunnel: the upstream connected
 *                     and the agent told), or answered it itself (a denial,
 *                     an error). It includes the name lookup and the
 *                     upstream's connect. Counts per bucket, not cumulative:
 *                     latency[i] <= GATE_STATS_BOUNDS_US[i] microseconds
 *                     (and above the one before); the last, above 1 s.
 *   latency_sum_ns    the sum of all of them
 *   audit_records     records the run appended to the audit log (the
 *                     gate's and the run's own: start, end, sandbox...)
 */
#pragma once

#include "util/util.h"

#define GATE_STATS_MAGIC   0x3153545352434e50ULL /* "PNCRSTS1" */
#define GATE_STATS_VERSION 1
#define GATE_STATS_HOSTS   64
#define GATE_STATS_NAME	   256 /* a host name and its NUL (PC_HTTP_HOST_MAX + 1) */
/* Prometheus-style bucket bounds, 100 us to 1 s; one more bucket above. */
#define GATE_STATS_BUCKETS 13
#define GATE_STATS_BOUNDS_US \
	{100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000}

struct gate_stats_host {
	char name[GATE_STATS_NAME];
	uint64_t allowed, denied;
};

struct gate_stats {
	uint64_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct gate_stats) */
	uint64_t allowed, denied;
	uint64_t bytes_up, bytes_down;
	uint64_t audit_records;
	uint64_t latency[GATE_STATS_BUCKETS + 1];
	uint64_t latency_sum_ns;
	uint32_t n_hosts; /* rows of hosts[] in use */
	uint32_t reserved;
	struct gate_stats_host other; /* its name: "_other" */
	struct gate_stats_host hosts[GATE_STATS_HOSTS];
};

/* One counter up by n: a plain load and store (one writer), never torn. */
static inline void gate_stats_add(uint64_t *x, uint64_t n)
{
	__atomic_store_n(x, __atomic_load_n(x, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* The run's side: make path (see above) and map it. */
int gate_stats_open(const char *path, struct gate_stats **out, struct pc_error *err);
void gate_stats_close(struct gate_stats *s);
static inline void gate_stats_closep(struct gate_stats **s)
{
	if (*s)
		gate_stats_close(*s);
}
#define _cleanup_gate_stats_ _cleanup_(gate_stats_closep)

/* A reader's side: the file at path into out, checked: magic, version and
 * size must match (else -EBADMSG; -ENOENT when there is none); n_hosts is
 * at most GATE_STATS_HOSTS, every name ends in a NUL within its field.
 * Rows past n_hosts are not read. Nothing else is promised (names are
 * whatever bytes the agent sent). */
int gate_stats_load(const char *path, struct gate_stats *out, struct pc_error *err);
