/* fs_mknod_device: make device nodes for the host's disk, memory and KVM
 * in a writable folder, and open them.
 * argv: WRITABLE-GRANTED-DIR
 *
 * Stopped by: the seccomp deny-list (EPERM, mknod and mknodat); without
 * it, no CAP_MKNOD (EPERM). Grants are mounted nodev besides, so a node
 * that did exist would not open.
 */
#include "escape.h"

#include <sys/sysmacros.h>

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-GRANTED-DIR");
	struct {
		const char *name;
		mode_t type;
		unsigned maj, min;
	} nodes[] = {{"vda", S_IFBLK, 253, 0},
		     {"sda", S_IFBLK, 8, 0},
		     {"mem", S_IFCHR, 1, 1},
		     {"kmsg", S_IFCHR, 1, 11},
		     {"kvm", S_IFCHR, 10, 232}};
	for (size_t i = 0; i < ESC_N(nodes); i++) {
		char path[4200], what[64];
		snprintf(path, sizeof(path), "%s/escape-%s", dir, nodes[i].name);
		snprintf(what, sizeof(what), "mknod %s", nodes[i].name);
		errno = 0;
		if (mknod(path, nodes[i].type | 0666, makedev(nodes[i].maj, nodes[i].min)) == 0) {
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			unlink(path);
			if (fd >= 0)
				escaped("made and opened a device node for %s", nodes[i].name);
			escaped("made a device node for %s (not openable: %s)", nodes[i].name,
				strerror(errno));
		}
		const struct want w[] = {SECCOMP_OR("no CAP_MKNOD")};
		esc_check(what, -1, errno, w, 1);
	}
	verdict();
}
