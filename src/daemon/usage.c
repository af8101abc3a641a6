/* What each agent uses, from /proc: its run and every process under it
 * (the sandbox's PID 1 and the agent's own), summed. One walk of /proc per
 * call, whatever the number of agents. */
#include "daemon/internal.h"

#include <dirent.h>
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
	long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
	for (size_t i = 0; i < n; i++) {
		/* climb to a run of ours (a sandbox is never deeper than this) */
		pid_t p = rows[i].pid;
		for (int depth = 0; p > 1 && depth < 64; depth++) {
			size_t k = 0;
			for (; k < d->n_agents; k++)
				if (d->agents[k]->pid == p)
					break;
			if (k < d->n_agents) {
				rss_bytes[k] += rows[i].rss_pages * (uint64_t)page;
				cpu_seconds[k] += (double)rows[i].ticks / (double)hz;
				break;
			}
			struct proc_row key = {.pid = p};
			const struct proc_row *up = bsearch(&key, rows, n, sizeof(*rows), by_pid);
			p = up ? up->ppid : 0;
		}
	}
	free(rows);
}
