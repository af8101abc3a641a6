/* proc_oom_adj: make the agent the last thing the OOM killer picks
 * (oom_score_adj -1000), so that a memory hog takes the host's processes
 * down first; and change PID 1's.
 *
 * Stopped by: lowering oom_score_adj needs CAP_SYS_RESOURCE (EACCES);
 * PID 1's file is closed to the agent (EACCES: not dumpable, not ours).
 */
#include "escape.h"

int main(void)
{
	char cur[32] = "";
	int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		unexpected("open oom_score_adj: %s", strerror(errno));
	(void)!read(fd, cur, sizeof(cur) - 1);
	close(fd);
	if (atoi(cur) <= -1000)
		escaped("the agent starts with oom_score_adj %d", atoi(cur));
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		unexpected("open oom_score_adj for writing: %s", strerror(errno));
	MUST_FAIL("oom_score_adj -1000", write(fd, "-1000", 5), BY(EACCES, "no CAP_SYS_RESOURCE"));
	close(fd);
	errno = 0;
	fd = open("/proc/1/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		MUST_FAIL("PID 1 oom_score_adj -1000", write(fd, "-1000", 5),
			  BY(EACCES, "no CAP_SYS_RESOURCE"));
		close(fd);
	} else {
		const struct want w[] = {BY(EACCES, "PID 1 not ours"), BY(EPERM, "PID 1 not ours")};
		esc_check("open /proc/1/oom_score_adj", -1, errno, w, ESC_N(w));
	}
	verdict();
}
