/* Landlock: the filesystem and network rules again, enforced by the kernel
 * on the agent's own accesses (DESIGN.md section 4, step 6).
 *
 * The rules mirror the mounts: read and execute everywhere in the view,
 * write only where a writable mount is; TCP connect only to the gate's
 * port and the ports its capture listeners take (sandbox_capture_ports:
 * the local default route delivers those connects to the gate), no TCP
 * bind; abstract unix sockets and signals scoped to the
 * sandbox. Each right is asked for only when the kernel's ABI knows it.
 */
#include "sandbox/internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* The UAPI, spelled out: Debian 12's headers stop at ABI 2. */
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH	  1
#define LL_RULE_NET_PORT	  2

#define LL_FS_EXECUTE	       (1ULL << 0)
#define LL_FS_WRITE_FILE       (1ULL << 1)
#define LL_FS_READ_FILE	       (1ULL << 2)
#define LL_FS_READ_DIR	       (1ULL << 3)
#define LL_FS_REMOVE_DIR       (1ULL << 4)
#define LL_FS_REMOVE_FILE      (1ULL << 5)
#define LL_FS_MAKE_CHAR	       (1ULL << 6)
#define LL_FS_MAKE_DIR	       (1ULL << 7)
#define LL_FS_MAKE_REG	       (1ULL << 8)
#define LL_FS_MAKE_SOCK	       (1ULL << 9)
#define LL_FS_MAKE_FIFO	       (1ULL << 10)
#define LL_FS_MAKE_BLOCK       (1ULL << 11)
#define LL_FS_MAKE_SYM	       (1ULL << 12)
#define LL_FS_REFER	       (1ULL << 13) /* ABI 2 */
#define LL_FS_TRUNCATE	       (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV	       (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP	       (1ULL << 0)  /* ABI 4 */
#define LL_NET_CONNECT_TCP     (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL	       (1ULL << 1)

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

struct ll_net_port {
	uint64_t allowed_access;
	uint64_t port;
};

int landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	return abi < 0 ? 0 : (int)abi;
}

static uint64_t fs_rights(int abi)
{
	uint64_t all = (LL_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
	if (abi >= 2)
		all |= LL_FS_REFER;
	if (abi >= 3)
		all |= LL_FS_TRUNCATE;
	if (abi >= 5)
		all |= LL_FS_IOCTL_DEV;
	return all;
}

static int allow_path(int ruleset, const char *path, uint64_t access, struct pc_error *err)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : pc_error_errno(err, errno, "landlock: open %s", path);
	struct ll_path_beneath pb = {.allowed_access = access, .parent_fd = fd};
	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
		return pc_error_errno(err, errno, "landlock: rule for %s", path);
	return 0;
}

int landlock_apply(const struct child_args *a, char *note, size_t note_len, struct pc_error *err)
{
	const struct policy *p = a->cfg->policy;
	if (p->process.landlock == PC_LANDLOCK_OFF) {
		snprintf(note, note_len, "landlock: off by policy");
		return 0;
	}
	int abi = landlock_abi();
	if (abi < 1) {
		if (p->process.landlock == PC_LANDLOCK_REQUIRED)
			return pc_error(err, EOPNOTSUPP,
					"landlock: the policy requires Landlock and this kernel "
					"does not offer it (boot with lsm=...,landlock)");
		snprintf(note, note_len,
			 "landlock: not available on this kernel; best effort, "
			 "the sandbox runs without it");
		return 0;
	}

	uint64_t all = fs_rights(abi);
	uint64_t ro = LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_EXECUTE;
	uint64_t dev = LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_WRITE_FILE |
		       (abi >= 5 ? LL_FS_IOCTL_DEV : 0) | (abi >= 3 ? LL_FS_TRUNCATE : 0);
	struct ll_ruleset_attr attr = {.handled_access_fs = all};
	size_t attr_size = 8;
	if (abi >= 4) {
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		attr_size = 16;
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		attr_size = 24;
	}
	_cleanup_close_ int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0U);
	if (rs < 0)
		return pc_error_errno(err, errno, "landlock: create ruleset");

	/* Mirror the mounts: everything in view is readable (the mounts already
	 * decide what is in view); writes only where a writable mount is. */
	int r = allow_path(rs, "/", ro, err);
	for (size_t i = 0; r == 0 && i < a->n_grants; i++)
		if (a->grants[i].writable)
			r = allow_path(rs, a->grants[i].path->path, all, err);
	if (r == 0)
		r = allow_path(rs, p->fs.scratch_path, all, err);
	if (r == 0 && a->home && a->home[0] == '/')
		r = a->home_tmpfs ? allow_path(rs, a->home, all, err) : 0;
	if (r == 0)
		r = allow_path(rs, "/dev", dev, err);
	if (r == 0)
		r = allow_path(rs, "/dev/shm", all, err);
	if (r == 0)
		r = allow_path(rs, "/proc", LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_WRITE_FILE,
			       err);
	if (r < 0)
		return r;

	/* TCP connects go only to the gate: its proxy port, and the ports its
	 * capture listeners take. */
	uint16_t ports[SANDBOX_MAX_CAPTURE_PORTS + 1];
	size_t n_ports = sandbox_capture_ports(p, ports, SANDBOX_MAX_CAPTURE_PORTS);
	if (n_ports > SANDBOX_MAX_CAPTURE_PORTS)
		return pc_error(err, E2BIG, "landlock: %zu ports to allow", n_ports);
	ports[n_ports++] = p->net.gate_port;
	for (size_t i = 0; abi >= 4 && i < n_ports; i++) {
		struct ll_net_port np = {.allowed_access = LL_NET_CONNECT_TCP, .port = ports[i]};
		if (syscall(SYS_landlock_add_rule, rs, LL_RULE_NET_PORT, &np, 0) < 0)
			return pc_error_errno(err, errno, "landlock: rule for port %u", ports[i]);
	}
	if (syscall(SYS_landlock_restrict_self, rs, 0U) < 0)
		return pc_error_errno(err, errno, "landlock: restrict");
	char net[256] = "";
	if (abi >= 4) {
		int k = snprintf(net, sizeof(net), "; TCP connect only to port %u (gate) and ",
				 p->net.gate_port);
		size_t i = 0;
		for (; i + 1 < n_ports && k < (int)sizeof(net) - 48; i++)
			k += snprintf(net + k, sizeof(net) - (size_t)k, "%s%u", i ? "," : "",
				      ports[i]);
		snprintf(net + k, sizeof(net) - (size_t)k, "%s (captured), no TCP bind",
			 i + 1 < n_ports ? ",..." : "");
	}
	snprintf(note, note_len,
		 "landlock: ABI %d applied: writes only in granted folders, scratch and home%s%s",
		 abi, net,
		 abi >= 6 ? "; abstract unix sockets and signals scoped to the sandbox" : "");
	return abi;
}
