/* fs_dev_nodes: open the host's devices by their usual names: disks,
 * memory, kernel log, consoles, KVM, vsock, FUSE, tun, loop, device mapper.
 *
 * Stopped by: the minimal /dev (null, zero, full, random, urandom, tty, a
 * private devpts). Expected: ENOENT.
 */
#include "escape.h"

int main(void)
{
	const char *devs[] = {"/dev/vda",
			      "/dev/sda",
			      "/dev/nvme0n1",
			      "/dev/mem",
			      "/dev/kmem",
			      "/dev/port",
			      "/dev/kmsg",
			      "/dev/console",
			      "/dev/tty0",
			      "/dev/tty1",
			      "/dev/kvm",
			      "/dev/vsock",
			      "/dev/fuse",
			      "/dev/net/tun",
			      "/dev/loop-control",
			      "/dev/loop0",
			      "/dev/mapper/control",
			      "/dev/cpu/0/msr",
			      "/dev/userfaultfd",
			      "/dev/vhost-vsock"};
	for (size_t i = 0; i < ESC_N(devs); i++)
		MUST_FAIL(devs[i], open(devs[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK),
			  BY(ENOENT, "not in /dev"));
	verdict();
}
