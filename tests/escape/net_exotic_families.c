/* net_exotic_families: every other socket family, each a kernel subsystem
 * an agent has no use for: Bluetooth, CAN, TIPC, RDS, PF_KEY, XDP, LLC,
 * AppleTalk, X.25, AX.25, IPX, NFC, PPPoX, SMC, Qualcomm IPC, MCTP, and
 * families above the kernel's range.
 *
 * Stopped by: the seccomp deny-list (EPERM for any family but unix, inet,
 * inet6 and netlink). EAFNOSUPPORT (the kernel lacks it) is a block but a
 * gap in the list when seccomp is on; success is an escape.
 */
#include "escape.h"

#include <sys/socket.h>

#ifndef AF_MCTP
#define AF_MCTP 45
#endif

int main(void)
{
	const struct {
		const char *name;
		int family, type;
	} fam[] = {{"AF_BLUETOOTH", AF_BLUETOOTH, SOCK_RAW},
		   {"AF_CAN", AF_CAN, SOCK_RAW},
		   {"AF_TIPC", AF_TIPC, SOCK_RDM},
		   {"AF_RDS", AF_RDS, SOCK_SEQPACKET},
		   {"AF_KEY", AF_KEY, SOCK_RAW},
		   {"AF_XDP", AF_XDP, SOCK_RAW},
		   {"AF_LLC", AF_LLC, SOCK_DGRAM},
		   {"AF_APPLETALK", AF_APPLETALK, SOCK_DGRAM},
		   {"AF_X25", AF_X25, SOCK_SEQPACKET},
		   {"AF_AX25", AF_AX25, SOCK_SEQPACKET},
		   {"AF_IPX", AF_IPX, SOCK_DGRAM},
		   {"AF_NFC", AF_NFC, SOCK_SEQPACKET},
		   {"AF_PPPOX", AF_PPPOX, SOCK_STREAM},
		   {"AF_SMC", AF_SMC, SOCK_STREAM},
		   {"AF_QIPCRTR", AF_QIPCRTR, SOCK_DGRAM},
		   {"AF_MCTP", AF_MCTP, SOCK_DGRAM},
		   {"AF_IB", AF_IB, SOCK_STREAM},
		   {"family 46", 46, SOCK_STREAM},
		   {"family 64", 64, SOCK_STREAM},
		   {"family 255", 255, SOCK_STREAM}};
	for (size_t i = 0; i < ESC_N(fam); i++) {
		char what[48];
		snprintf(what, sizeof(what), "socket(%s)", fam[i].name);
		MUST_FAIL(what, socket(fam[i].family, fam[i].type | SOCK_CLOEXEC, 0),
			  SECCOMP_OR("?"),
			  {EAFNOSUPPORT, "not in this kernel, and not on the deny-list",
			   "not in this kernel"},
			  {EINVAL, "family out of range, and not on the deny-list", "out of range"},
			  BY(ESOCKTNOSUPPORT, "socket type not supported"),
			  BY(EPROTONOSUPPORT, "protocol not supported"));
	}
	verdict();
}
