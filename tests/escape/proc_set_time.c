/* proc_set_time: change the host's clock (breaks TLS validity, logs,
 * tokens): settimeofday, clock_settime, adjtimex, clock_adjtime. The values
 * asked for are harmless (now, a zero offset).
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_TIME
 * (EPERM).
 */
#include "escape.h"

#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>

int main(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	MUST_FAIL("settimeofday", settimeofday(&tv, NULL), SECCOMP_OR("no CAP_SYS_TIME"));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	MUST_FAIL("clock_settime", clock_settime(CLOCK_REALTIME, &ts),
		  SECCOMP_OR("no CAP_SYS_TIME"));
	struct timex tx = {.modes = ADJ_SETOFFSET | ADJ_NANO};
	MUST_FAIL("adjtimex(+0s)", syscall(SYS_adjtimex, &tx), SECCOMP_OR("no CAP_SYS_TIME"));
	struct timex tx2 = {.modes = ADJ_SETOFFSET | ADJ_NANO};
	MUST_FAIL("clock_adjtime(+0s)", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx2),
		  SECCOMP_OR("no CAP_SYS_TIME"));
	verdict();
}
