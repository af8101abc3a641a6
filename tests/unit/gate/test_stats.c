/* gate/stats.h: the run's stats file, made safely and read back checked. */
#include "gate/internal.h"
#include "gate/stats.h"
#include "../check.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/pincer-stats-XXXXXX";

static char *at(const char *name)
{
	return pc_xasprintf("%s/%s", dir, name);
}

static void test_round_trip(void)
{
	_cleanup_free_ char *p = at("stats");
	struct gate_stats *s = NULL;
	struct pc_error err = {0};
	CHECK(gate_stats_open(p, &s, &err) == 0);
	struct stat st;
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600 &&
	      st.st_size == (off_t)sizeof(struct gate_stats));
	gate_stats_add(&s->allowed, 3);
	gate_stats_add(&s->latency[GATE_STATS_BUCKETS], 1);
	snprintf(s->hosts[0].name, sizeof(s->hosts[0].name), "example.test");
	s->hosts[0].denied = 2;
	s->n_hosts = 1;
	struct gate_stats *r = pc_xmalloc(sizeof(*r));
	CHECK(gate_stats_load(p, r, &err) == 0);
	CHECK(r->allowed == 3 && r->latency[GATE_STATS_BUCKETS] == 1 && r->n_hosts == 1);
	CHECK_STR(r->hosts[0].name, "example.test");
	CHECK_STR(r->other.name, "_other");
	CHECK(r->hosts[0].denied == 2);

	/* untrusted: n_hosts clamped, a name without its NUL cut */
	s->n_hosts = 1000;
	memset(s->hosts[1].name, 'x', sizeof(s->hosts[1].name));
	CHECK(gate_stats_load(p, r, &err) == 0);
	CHECK(r->n_hosts == GATE_STATS_HOSTS);
	CHECK(strlen(r->hosts[1].name) == GATE_STATS_NAME - 1);
	s->version = 99;
	CHECK(gate_stats_load(p, r, &err) == -EBADMSG);
	s->version = GATE_STATS_VERSION;
	gate_stats_close(s);

	/* a new run starts from zero */
	CHECK(gate_stats_open(p, &s, &err) == 0);
	CHECK(s->allowed == 0 && s->n_hosts == 0);
	gate_stats_close(s);
	CHECK(truncate(p, 100) == 0);
	CHECK(gate_stats_load(p, r, &err) == -EBADMSG);
	free(r);
}

static void test_refusals(void)
{
	struct gate_stats *s = NULL;
	struct pc_error err = {0};
	_cleanup_free_ char *target = at("target"), *sym = at("link"), *hard = at("hard"),
			    *fifo = at("fifo");
	int fd = open(target, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0 && write(fd, "keep", 4) == 4);
	close(fd);
	CHECK(symlink(target, sym) == 0);
	CHECK(gate_stats_open(sym, &s, &err) == -ELOOP);
	CHECK(link(target, hard) == 0);
	CHECK(gate_stats_open(hard, &s, &err) == -EPERM);
	CHECK_CONTAINS(err.msg, "single link");
	struct stat st;
	CHECK(stat(target, &st) == 0 && st.st_size == 4); /* left alone */
	CHECK(mkfifo(fifo, 0600) == 0);
	CHECK(gate_stats_open(fifo, &s, &err) == -EPERM);
	struct gate_stats *r = pc_xmalloc(sizeof(*r));
	CHECK(gate_stats_load(fifo, r, &err) == -EBADMSG);
	CHECK(gate_stats_load(sym, r, &err) == -ELOOP);
	_cleanup_free_ char *none = at("none");
	CHECK(gate_stats_load(none, r, &err) == -ENOENT);
	free(r);
}

/* The gate's counting: rows first come first served, the rest in other. */
static void test_counting(void)
{
	struct gate_stats *s = pc_xcalloc(1, sizeof(*s));
	struct gate g = {.stats = s};
	char host[32];
	for (int i = 0; i < GATE_STATS_HOSTS + 6; i++) {
		snprintf(host, sizeof(host), "h%d.test", i);
		gate_stats_decision(&g, host, true);
	}
	gate_stats_decision(&g, "h3.test", false);
	gate_stats_decision(&g, "_other", false); /* not a row of its own */
	gate_stats_decision(&g, "", false);	  /* no host: "-" */
	CHECK(s->n_hosts == GATE_STATS_HOSTS);
	CHECK_STR(s->hosts[3].name, "h3.test");
	CHECK(s->hosts[3].allowed == 1 && s->hosts[3].denied == 1);
	CHECK(s->other.allowed == 6 && s->other.denied == 2); /* 6 late; _other, "-" */
	CHECK(s->allowed == GATE_STATS_HOSTS + 6 && s->denied == 3);

	struct gconn c = {.g = &g, .lat_ns = 1}; /* long ago: above 1 s */
	gate_stats_latency(&c);
	gate_stats_latency(&c); /* once per arrival */
	CHECK(c.lat_ns == 0 && s->latency[GATE_STATS_BUCKETS] == 1 &&
	      s->latency_sum_ns > 1000000000);
	for (size_t i = 0; i < g.stats_n_hosts; i++)
		free(g.stats_names[i]);
	free(s);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_round_trip();
	test_refusals();
	test_counting();
	_cleanup_free_ char *cmd = pc_xasprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		check_failures++;
	CHECK_DONE();
}
