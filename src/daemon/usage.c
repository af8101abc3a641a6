/* What each agent uses, from /proc: its run and every process under it
 * (the sandbox's PID 1 and the agent's own), summed. One walk of /proc per
 * call, whatever the number of agents. And what it did: its OOM kills, and
 * its run's gate numbers (gate/stats.h), all in /metrics, on the API
 * socket and on --metrics ADDR:PORT. */
#include "daemon/internal.h"
#include "gate/stats.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct proc_row {
	pid_t pid, ppid;
	uint64_t rss_pages, ticks;
};

bool proc_stat(pid_t pid, struct proc_stat *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r)
		return false;
	snprintf(out->comm, sizeof(out->comm), "%.*s", (int)(r - l - 1), l + 1);
	int ppid = 0;
	unsigned long long ut = 0, st = 0, start = 0, rss = 0;
	/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice threads
	 * itrealvalue starttime vsize rss */
	if (sscanf(r + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
			  "%*d %llu %*u %llu",
		   &ppid, &ut, &st, &start, &rss) != 5)
		return false;
	out->ppid = (pid_t)ppid;
	out->ticks = ut + st;
	out->start = start;
	out->rss_pages = rss;
	return true;
}

static int by_pid(const void *a, const void *b)
{
	pid_t x = ((const struct proc_row *)a)->pid, y = ((const struct proc_row *)b)->pid;
	return (x > y) - (x < y);
}

void usage_collect(struct daemon *d, uint64_t *rss_bytes, double *cpu_seconds)
{
	memset(rss_bytes, 0, d->n_agents * sizeof(*rss_bytes));
	memset(cpu_seconds, 0, d->n_agents * sizeof(*cpu_seconds));
	DIR *dir = opendir("/proc");
	if (!dir)
		return;
	struct proc_row *rows = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		if (n == cap)
			rows = pc_xrealloc(rows, (cap = cap ? cap * 2 : 512) * sizeof(*rows));
		struct proc_stat ps;
		if (proc_stat((pid_t)pid, &ps))
			rows[n++] = (struct proc_row){(pid_t)pid, ps.ppid, ps.rss_pages, ps.ticks};
	}
	closedir(dir);
	qsort(rows, n, sizeof(*rows), by_pid);
	/* the runs' pids, sorted, each with its agent (ppid holds the index):
	 * a climb looks each step up in both tables, never through all agents */
	struct proc_row *runs = pc_xcalloc(d->n_agents + 1, sizeof(*runs));
	size_t n_runs = 0;
	for (size_t k = 0; k < d->n_agents; k++)
		if (d->agents[k]->pid > 0)
			runs[n_runs++] = (struct proc_row){.pid = d->agents[k]->pid, .ppid = (pid_t)k};
	qsort(runs, n_runs, sizeof(*runs), by_pid);
	long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
	for (size_t i = 0; i < n; i++) {
		/* climb to a run of ours (a sandbox is never deeper than this) */
		pid_t p = rows[i].pid;
		for (int depth = 0; p > 1 && depth < 64; depth++) {
			struct proc_row key = {.pid = p};
			const struct proc_row *run = bsearch(&key, runs, n_runs, sizeof(*runs), by_pid);
			if (run) {
				size_t k = (size_t)run->ppid;
				rss_bytes[k] += rows[i].rss_pages * (uint64_t)page;
				cpu_seconds[k] += (double)rows[i].ticks / (double)hz;
				break;
			}
			const struct proc_row *up = bsearch(&key, rows, n, sizeof(*rows), by_pid);
			p = up ? up->ppid : 0;
		}
	}
	free(runs);
	free(rows);
}

/* ---- OOM kills, counted across runs -------------------------------------- */

/* In the agent's folder ("ooms": the number, a line), so that a daemon
 * restart keeps it; it goes with the agent. */
static char *ooms_path(const struct agent *a)
{
	_cleanup_free_ char *dir = agent_dir(a);
	return pc_xasprintf("%s/ooms", dir);
}

unsigned agent_ooms(struct agent *a)
{
	if (a->ooms_read)
		return a->ooms;
	a->ooms_read = true;
	_cleanup_free_ char *path = ooms_path(a), *text = NULL;
	struct pc_error ignored = {0};
	size_t len = 0;
	if (pc_read_file(path, 32, &text, &len, &ignored) == 0)
		a->ooms = (unsigned)strtoul(text, NULL, 10);
	return a->ooms;
}

void agent_count_oom(struct agent *a)
{
	a->ooms = agent_ooms(a) + 1;
	_cleanup_free_ char *path = ooms_path(a);
	_cleanup_free_ char *tmp = pc_xasprintf("%s.new", path);
	char line[16];
	int n = snprintf(line, sizeof(line), "%u\n", a->ooms);
	_cleanup_close_ int fd =
		open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || pc_write_all(fd, line, (size_t)n) < 0 || rename(tmp, path) < 0)
		pc_warn("agent %s: %s: %s", a->name, path, strerror(errno));
}

/* ---- /metrics ------------------------------------------------------------ */

/* A label value in the Prometheus text format: \\, \" and \n escaped, any
 * other byte that is not printable ASCII written as the text \xNN (a host
 * name is whatever the agent sent: it can break no line and no quote). */
static void label(struct pc_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\\' || ch == '"')
			pc_buf_printf(b, "\\%c", ch);
		else if (ch == '\n')
			pc_buf_puts(b, "\\n");
		else if (ch < 0x20 || ch > 0x7e)
			pc_buf_printf(b, "\\\\x%02x", ch);
		else
			pc_buf_append(b, s, 1);
	}
}

struct host_count {
	char *label; /* escaped */
	uint64_t allowed, denied;
};

static int by_label(const void *x, const void *y)
{
	return strcmp(((const struct host_count *)x)->label, ((const struct host_count *)y)->label);
}

/* One agent's egress lines, from its run's stats file. Rows whose names
 * come out the same once escaped (or twice in the file) are one series. */
static void egress_lines(struct pc_buf *fam[4], const char *agent, struct gate_stats *s)
{
	static const uint64_t bounds_us[GATE_STATS_BUCKETS] = GATE_STATS_BOUNDS_US;
	_cleanup_buf_ struct pc_buf name = {0};
	label(&name, agent);
	pc_buf_append(&name, "", 0);
	const char *an = name.data;

	struct host_count rows[GATE_STATS_HOSTS + 1];
	size_t n = 0;
	for (size_t i = 0; i <= s->n_hosts; i++) {
		const struct gate_stats_host *h = i < s->n_hosts ? &s->hosts[i] : &s->other;
		if (i < s->n_hosts && !h->name[0])
			continue; /* not named yet */
		/* (a row named "_other" merges with the overflow row below) */
		struct pc_buf l = {0};
		label(&l, i < s->n_hosts ? h->name : "_other");
		pc_buf_append(&l, "", 0);
		rows[n++] = (struct host_count){l.data, h->allowed, h->denied};
	}
	qsort(rows, n, sizeof(rows[0]), by_label);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(rows[i].label, rows[i + 1].label) == 0) {
			rows[i + 1].allowed += rows[i].allowed;
			rows[i + 1].denied += rows[i].denied;
		} else if (rows[i].allowed || rows[i].denied) {
			for (int deny = 0; deny < 2; deny++)
				pc_buf_printf(fam[0],
					      "pincer_egress_total{agent=\"%s\",host=\"%s\",decision="
					      "\"%s\"} %llu\n",
					      an, rows[i].label, deny ? "deny" : "allow",
					      (unsigned long long)(deny ? rows[i].denied
									: rows[i].allowed));
		}
		free(rows[i].label);
	}
	pc_buf_printf(fam[1],
		      "pincer_egress_bytes_total{agent=\"%s\",direction=\"up\"} %llu\n"
		      "pincer_egress_bytes_total{agent=\"%s\",direction=\"down\"} %llu\n",
		      an, (unsigned long long)s->bytes_up, an, (unsigned long long)s->bytes_down);
	/* cumulative, and the count is their sum: consistent whatever the
	 * moment the file was read at */
	uint64_t total = 0;
	for (size_t i = 0; i <= GATE_STATS_BUCKETS; i++) {
		total += s->latency[i];
		if (i < GATE_STATS_BUCKETS)
			pc_buf_printf(fam[2],
				      "pincer_gate_latency_seconds_bucket{agent=\"%s\",le=\"%g\"} "
				      "%llu\n",
				      an, (double)bounds_us[i] / 1e6, (unsigned long long)total);
	}
	pc_buf_printf(fam[2],
		      "pincer_gate_latency_seconds_bucket{agent=\"%s\",le=\"+Inf\"} %llu\n"
		      "pincer_gate_latency_seconds_sum{agent=\"%s\"} %.9f\n"
		      "pincer_gate_latency_seconds_count{agent=\"%s\"} %llu\n",
		      an, (unsigned long long)total, an, (double)s->latency_sum_ns / 1e9, an,
		      (unsigned long long)total);
	pc_buf_printf(fam[3], "pincer_audit_records_total{agent=\"%s\"} %llu\n", an,
		      (unsigned long long)s->audit_records);
}

static void family(struct pc_buf *out, const char *name, const char *type, const char *help,
		   const struct pc_buf *lines)
{
	pc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	if (lines->len)
		pc_buf_append(out, lines->data, lines->len);
}

void daemon_metrics(struct daemon *d, struct pc_buf *out, const char *identity, bool admin)
{
	size_t n = d->n_agents;
	bool *see = pc_xcalloc(n + 1, sizeof(*see));
	unsigned by_state[4] = {0};
	for (size_t i = 0; i < n; i++) {
		see[i] = !identity || daemon_may_steer(d->agents[i], identity, admin);
		if (see[i])
			by_state[d->agents[i]->state]++;
	}
	uint64_t *rss = pc_xcalloc(n + 1, sizeof(*rss));
	double *cpu = pc_xcalloc(n + 1, sizeof(*cpu));
	usage_collect(d, rss, cpu);

	struct pc_buf lines[5] = {0}; /* restarts, up, memory, cpu, ooms */
	struct pc_buf eg[4] = {0};    /* egress, bytes, latency, audit */
	struct pc_buf *fam[4] = {&eg[0], &eg[1], &eg[2], &eg[3]};
	struct gate_stats *st = pc_xmalloc(sizeof(*st));
	for (size_t i = 0; i < n; i++) {
		struct agent *a = d->agents[i];
		if (!see[i])
			continue;
		_cleanup_buf_ struct pc_buf nb = {0};
		label(&nb, a->name);
		pc_buf_append(&nb, "", 0);
		pc_buf_printf(&lines[0], "pincer_agent_restarts_total{agent=\"%s\"} %u\n", nb.data,
			      a->restarts);
		pc_buf_printf(&lines[1], "pincer_agent_up{agent=\"%s\"} %d\n", nb.data, a->pid ? 1 : 0);
		pc_buf_printf(&lines[2], "pincer_agent_memory_bytes{agent=\"%s\"} %llu\n", nb.data,
			      (unsigned long long)rss[i]);
		pc_buf_printf(&lines[3], "pincer_agent_cpu_seconds{agent=\"%s\"} %.2f\n", nb.data,
			      cpu[i]);
		pc_buf_printf(&lines[4], "pincer_agent_ooms_total{agent=\"%s\"} %u\n", nb.data,
			      agent_ooms(a));
		/* the last run's numbers (running or not); none before its first */
		_cleanup_free_ char *dir = agent_dir(a);
		_cleanup_free_ char *path = pc_xasprintf("%s/stats", dir);
		struct pc_error err = {0};
		if (gate_stats_load(path, st, &err) == 0)
			egress_lines(fam, a->name, st);
	}
	free(st);
	pc_buf_printf(out, "# HELP pincer_agents Agents by state.\n# TYPE pincer_agents gauge\n");
	for (int s = 0; s < 4; s++)
		pc_buf_printf(out, "pincer_agents{state=\"%s\"} %u\n",
			      agent_state_name((enum agent_state)s), by_state[s]);
	family(out, "pincer_agent_restarts_total", "counter", "Restarts of each agent.", &lines[0]);
	family(out, "pincer_agent_up", "gauge", "Whether the agent's sandbox runs.", &lines[1]);
	family(out, "pincer_agent_memory_bytes", "gauge",
	       "Resident memory of the agent's run and sandbox.", &lines[2]);
	family(out, "pincer_agent_cpu_seconds", "gauge",
	       "CPU time of the agent's run and sandbox now running.", &lines[3]);
	family(out, "pincer_agent_ooms_total", "counter",
	       "Runs of the agent ended by the kernel's OOM killer.", &lines[4]);
	family(out, "pincer_egress_total", "counter",
	       "Requests and connections the gate allowed or denied, by destination host "
	       "(the agent's last run).",
	       &eg[0]);
	family(out, "pincer_egress_bytes_total", "counter",
	       "Bytes the gate forwarded to upstreams (up) and back (down), last run.", &eg[1]);
	family(out, "pincer_gate_latency_seconds", "histogram",
	       "From a request's arrival at the gate until it went upstream or was answered.",
	       &eg[2]);
	family(out, "pincer_audit_records_total", "counter",
	       "Audit records the agent's last run wrote.", &eg[3]);
	for (size_t i = 0; i < PC_ARRAY_SIZE(lines); i++)
		pc_buf_free(&lines[i]);
	for (size_t i = 0; i < PC_ARRAY_SIZE(eg); i++)
		pc_buf_free(&eg[i]);
	free(see);
	free(rss);
	free(cpu);
}

void daemon_metrics_reply(struct daemon *d, struct evhttp_request *req, const char *identity,
			  bool admin)
{
	_cleanup_buf_ struct pc_buf text = {0};
	daemon_metrics(d, &text, identity, admin);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, text.data, text.len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* ---- --metrics ADDR:PORT ------------------------------------------------- */

static void metrics_route(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *b = evbuffer_new();
	if (path && strcmp(path, "/metrics") == 0 &&
	    evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
		evbuffer_free(b);
		daemon_metrics_reply(arg, req, NULL, true); /* no identity: every agent */
		return;
	}
	bool metrics = path && strcmp(path, "/metrics") == 0;
	evbuffer_add_printf(b, "%s\n", metrics ? "GET /metrics only" : "only /metrics here");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	evhttp_send_reply(req, metrics ? 405 : 404, metrics ? "Method Not Allowed" : "Not Found", b);
	evbuffer_free(b);
}

static int parse_address(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port == 0 || port > 65535 || colon[1] == '+' ||
	    colon[1] == '-' || colon[1] == ' ')
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return -EINVAL;
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	*len = sizeof(*in);
	return 0;
}

int metrics_start(struct daemon *d, const char *address, struct pc_error *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (parse_address(address, &ss, &sl) < 0)
		return pc_error(err, -EINVAL,
				"--metrics %s: expected ADDRESS:PORT with a numeric address, e.g. "
				"127.0.0.1:9464 or [::1]:9464",
				address);
	_cleanup_close_ int fd =
		socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0)
		return pc_error_errno(err, -errno, "--metrics %s", address);
	struct evconnlistener *l =
		evconnlistener_new(d->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!l)
		return pc_error(err, -ENOMEM, "--metrics %s", address);
	pc_steal_fd(&fd);
	evconnlistener_set_error_cb(l, daemon_accept_error);
	d->metrics_http = evhttp_new(d->base);
	evhttp_set_max_body_size(d->metrics_http, 4096);
	evhttp_set_max_headers_size(d->metrics_http, 8192);
	evhttp_set_timeout(d->metrics_http, 10);
	evhttp_set_allowed_methods(d->metrics_http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
							    EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
							    EVHTTP_REQ_DELETE);
	evhttp_set_gencb(d->metrics_http, metrics_route, d);
	if (!evhttp_bind_listener(d->metrics_http, l))
		return pc_error(err, -ENOMEM, "--metrics %s", address);
	return 0;
}

void metrics_stop(struct daemon *d)
{
	if (d->metrics_http)
		evhttp_free(d->metrics_http);
	d->metrics_http = NULL;
}
