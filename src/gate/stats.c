/* The gate's numbers (stats.h): the file a run keeps them in, the gate's
 * counting into it, and a reader's checked copy. */
#include "gate/internal.h"
#include "gate/stats.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(GATE_STATS_NAME >= PC_HTTP_HOST_MAX + 1, "a host name fits a row");
_Static_assert(GATE_STATS_HOSTS < 255, "rows are numbered in a byte (gate.stats_row)");
_Static_assert(GATE_STATS_INDEX >= 2 * GATE_STATS_HOSTS, "the index stays half empty");

static const uint64_t bounds_us[GATE_STATS_BUCKETS] = GATE_STATS_BOUNDS_US;

/* ---- the run's file ----------------------------------------------------- */

int gate_stats_open(const char *path, struct gate_stats **out, struct pc_error *err)
{
	/* O_NONBLOCK: a FIFO put there does not hang the run (refused below) */
	_cleanup_close_ int fd =
		open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0)
		return pc_error_errno(err, -errno, "--stats %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return pc_error_errno(err, -errno, "--stats %s", path);
	/* it is about to be emptied: only a file of ours, and only this one
	 * (not a hard link to something else) */
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1)
		return pc_error(err, -EPERM,
				"--stats %s: not a regular file of yours with a single link", path);
	size_t size = sizeof(struct gate_stats);
	int r;
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)
		return pc_error_errno(err, -errno, "--stats %s", path);
	/* its blocks now: a full disk is an error here, not a SIGBUS later */
	if ((r = posix_fallocate(fd, 0, (off_t)size)) != 0)
		return pc_error_errno(err, -r, "--stats %s", path);
	struct gate_stats *s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED)
		return pc_error_errno(err, -errno, "--stats %s: mmap", path);
	/* the sandbox's processes are forked from us: none of them gets it */
	madvise(s, size, MADV_DONTFORK);
	snprintf(s->other.name, sizeof(s->other.name), "_other");
	s->version = GATE_STATS_VERSION;
	s->size = (uint32_t)size;
	__atomic_store_n(&s->magic, GATE_STATS_MAGIC, __ATOMIC_RELEASE);
	*out = s;
	return 0;
}

void gate_stats_close(struct gate_stats *s)
{
	munmap(s, sizeof(*s));
}

/* ---- counting ----------------------------------------------------------- */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* host's row: found through the gate's own index (the shared file is only
 * written, never trusted), or the next free one, or `other`. */
static struct gate_stats_host *host_row(struct gate *g, const char *host)
{
	struct gate_stats *s = g->stats;
	uint32_t h = name_hash(host);
	for (size_t i = h % GATE_STATS_INDEX, n = 0; n < GATE_STATS_INDEX;
	     i = (i + 1) % GATE_STATS_INDEX, n++) {
		uint8_t row = g->stats_row[i];
		if (row && g->stats_hash[i] == h && strcmp(g->stats_names[row - 1], host) == 0)
			return &s->hosts[row - 1];
		if (row)
			continue;
		uint32_t k = g->stats_n_hosts;
		if (k == GATE_STATS_HOSTS || strcmp(host, "_other") == 0)
			return &s->other;
		struct gate_stats_host *r = &s->hosts[k];
		snprintf(r->name, sizeof(r->name), "%s", host);
		g->stats_names[k] = pc_xstrdup(r->name);
		g->stats_n_hosts = k + 1;
		g->stats_hash[i] = h;
		g->stats_row[i] = (uint8_t)(k + 1);
		/* the name first, then the row counts */
		__atomic_store_n(&s->n_hosts, k + 1, __ATOMIC_RELEASE);
		return r;
	}
	return &s->other;
}

void gate_stats_decision(struct gate *g, const char *host, bool allowed)
{
	struct gate_stats_host *r = host_row(g, host[0] ? host : "-");
	if (allowed) {
		gate_stats_add(&g->stats->allowed, 1);
		gate_stats_add(&r->allowed, 1);
	} else {
		gate_stats_add(&g->stats->denied, 1);
		gate_stats_add(&r->denied, 1);
	}
}

void gate_stats_latency(struct gconn *c)
{
	if (!c->lat_ns)
		return;
	uint64_t ns = pc_now_ns() - c->lat_ns;
	c->lat_ns = 0;
	size_t i = 0;
	while (i < GATE_STATS_BUCKETS && ns > bounds_us[i] * 1000)
		i++;
	gate_stats_add(&c->g->stats->latency[i], 1);
	gate_stats_add(&c->g->stats->latency_sum_ns, ns);
}

/* ---- reading ------------------------------------------------------------ */

static void terminate(struct gate_stats_host *h)
{
	h->name[sizeof(h->name) - 1] = '\0';
}

int gate_stats_load(const char *path, struct gate_stats *out, struct pc_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return pc_error_errno(err, -errno, "%s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return pc_error_errno(err, -errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		return pc_error(err, -EBADMSG, "%s: not a regular file", path);
	/* the counters and the number of rows, then only the rows in use */
	size_t head = offsetof(struct gate_stats, hosts);
	ssize_t n = pread(fd, out, head, 0);
	if (n < 0)
		return pc_error_errno(err, -errno, "%s", path);
	if ((size_t)n != head || out->magic != GATE_STATS_MAGIC ||
	    out->version != GATE_STATS_VERSION || out->size != sizeof(*out))
		return pc_error(err, -EBADMSG,
				"%s: not a stats file of this pincer (or one "
				"being started)",
				path);
	if (out->n_hosts > GATE_STATS_HOSTS)
		out->n_hosts = GATE_STATS_HOSTS;
	size_t rows = out->n_hosts * sizeof(out->hosts[0]);
	n = rows ? pread(fd, out->hosts, rows, (off_t)head) : 0;
	if (n < 0)
		return pc_error_errno(err, -errno, "%s", path);
	if ((size_t)n != rows)
		return pc_error(err, -EBADMSG, "%s: cut short", path);
	terminate(&out->other);
	for (size_t i = 0; i < out->n_hosts; i++)
		terminate(&out->hosts[i]);
	return 0;
}
