/* pincer top: the daemon's agents live: state, restarts, memory, CPU and
 * egress, refreshed every two seconds (GET /v1/agents and /metrics). */
#include "cli/cli.h"
#include "daemon/daemon.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out)
{
	fprintf(out, "usage: pincer top [--once] [--socket PATH]\n\n"
		     "The daemon's agents you may see, live: NAME USER STATE RESTARTS MEM CPU%%\n"
		     "EGRESS DENIED (CPU over the last refresh; EGRESS and DENIED: the requests\n"
		     "and connections its gate allowed and denied, in its last run), refreshed\n"
		     "every 2 s until Ctrl-C.\n\n"
		     "options:\n"
		     "  --once         print one table and exit (for scripts)\n"
		     "  --socket PATH  the daemon's socket (default: $PINCER_SOCKET or the usual)\n\n"
		     "examples:\n"
		     "  pincer top\n"
		     "  pincer top --once | sort -k5 -h\n");
}

/* GET path: the body, or NULL with the error printed. */
static char *get(const char *sock, const char *path)
{
	struct api_request rq = {.socket = sock, .method = "GET", .path = path, .stream_fd = -1};
	struct api_reply rep = {0};
	struct pc_error err = {0};
	if (api_call(&rq, &rep, &err) < 0) {
		cli_print_error(&err);
		pc_buf_free(&rep.body);
		return NULL;
	}
	if (rep.status != 200) {
		fprintf(stderr, "pincer: top: %s answered %d\n", path, rep.status);
		pc_buf_free(&rep.body);
		return NULL;
	}
	return rep.body.data ? rep.body.data : pc_xstrdup("");
}

/* The value of metric{agent="name"} in a Prometheus text, or NAN. */
static double metric(const char *text, const char *metric_name, const char *agent)
{
	_cleanup_free_ char *key = pc_xasprintf("%s{agent=\"%s\"} ", metric_name, agent);
	const char *p = strstr(text, key);
	return p ? strtod(p + strlen(key), NULL) : NAN;
}

/* The sum of pincer_egress_total{agent="name",host=...,decision="d"} over
 * hosts, or NAN when there is none. A host's value is escaped (no raw '"'
 * or newline in it), so `",decision="` can only be the label's own. */
static double egress(const char *text, const char *agent, const char *decision)
{
	_cleanup_free_ char *key = pc_xasprintf("pincer_egress_total{agent=\"%s\",host=\"", agent);
	_cleanup_free_ char *tail = pc_xasprintf("\",decision=\"%s\"} ", decision);
	double sum = NAN;
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) != 0)
			continue;
		const char *eol = strchr(p, '\n');
		const char *t = strstr(p + kl, tail);
		if (!t || (eol && t > eol))
			continue;
		sum = (isnan(sum) ? 0 : sum) + strtod(t + strlen(tail), NULL);
	}
	if (isnan(sum)) { /* a run with numbers and no egress: 0 */
		_cleanup_free_ char *bytes =
			pc_xasprintf("pincer_egress_bytes_total{agent=\"%s\",", agent);
		if (strstr(text, bytes))
			sum = 0;
	}
	return sum;
}

static void count(double v, char out[16])
{
	if (isnan(v))
		snprintf(out, 16, "-");
	else if (v < 100000)
		snprintf(out, 16, "%.0f", v);
	else if (v < 100e6)
		snprintf(out, 16, "%.0fk", v / 1e3);
	else
		snprintf(out, 16, "%.0fM", v / 1e6);
}

static void human(double bytes, char out[16])
{
	static const char units[] = "BKMGT";
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(out, 16, u ? "%.1f%c" : "%.0f%c", bytes, units[u]);
}

int cmd_top(int argc, char **argv)
{
	const char *sock_opt = NULL;
	bool once = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0)
			once = true;
		else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			sock_opt = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return PC_EXIT_OK;
		} else {
			fprintf(stderr, "pincer: top: unexpected '%s'\n\n", argv[i]);
			usage(stderr);
			return PC_EXIT_USAGE;
		}
	}
	_cleanup_free_ char *sock = sock_opt ? pc_xstrdup(sock_opt) : daemon_default_socket();
	bool tty = isatty(STDOUT_FILENO);
	json_t *before = json_object(); /* agent -> cpu seconds at the last refresh */
	uint64_t last_ns = 0;
	for (;;) {
		_cleanup_free_ char *list = get(sock, "/v1/agents");
		_cleanup_free_ char *met = list ? get(sock, "/metrics") : NULL;
		if (!met) {
			json_decref(before);
			return PC_EXIT_SETUP;
		}
		json_t *j = json_loads(list, 0, NULL);
		uint64_t now = pc_now_ns();
		double dt = last_ns ? (double)(now - last_ns) / 1e9 : 0;
		if (tty && !once)
			printf("\033[H\033[2J");
		printf("%-20s %-12s %-8s %8s %8s %6s %8s %8s\n", "NAME", "USER", "STATE", "RESTARTS",
		       "MEM", "CPU%", "EGRESS", "DENIED");
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(j, "agents"), i, a) {
			const char *name = json_string_value(json_object_get(a, "name"));
			double mem = metric(met, "pincer_agent_memory_bytes", name);
			double cpu = metric(met, "pincer_agent_cpu_seconds", name);
			json_t *prev = json_object_get(before, name);
			char m[16] = "-", c[16] = "-";
			if (!isnan(mem) && mem > 0)
				human(mem, m);
			double used = prev ? cpu - json_real_value(prev) : 0;
			if (!isnan(cpu) && prev && dt > 0)
				snprintf(c, sizeof(c), "%.1f", (used > 0 ? used : 0) / dt * 100);
			char eg[16], dn[16];
			count(egress(met, name, "allow"), eg);
			count(egress(met, name, "deny"), dn);
			printf("%-20s %-12s %-8s %8lld %8s %6s %8s %8s\n", name,
			       json_string_value(json_object_get(a, "user")),
			       json_string_value(json_object_get(a, "state")),
			       (long long)json_integer_value(json_object_get(a, "restarts")), m, c,
			       eg, dn);
			if (!isnan(cpu))
				json_object_set_new(before, name, json_real(cpu));
		}
		json_decref(j);
		fflush(stdout);
		if (once)
			break;
		last_ns = now;
		struct timespec ts = {2, 0};
		nanosleep(&ts, NULL);
	}
	json_decref(before);
	return PC_EXIT_OK;
}
