/* seccomp: the last wall, loaded in PID 1 just before the agent is exec'd
 * (DESIGN.md section 4, step 7).
 *
 * A deny-list in the spirit of Docker's default profile plus what an agent
 * never needs: the kernel's riskiest interfaces (io_uring, userfaultfd, bpf,
 * perf, keyrings), everything that mounts or makes namespaces, module and
 * kexec loading, clocks, raw and exotic sockets, terminal injection, and
 * every ABI but the native one. Denied calls fail with EPERM, so programs
 * see an error they can handle instead of dying.
 */
#include "sandbox/internal.h"

#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <fcntl.h>
#include <linux/netlink.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Denied outright. */
static const char *const denied[] = {
	/* kernel attack surface an agent has no use for */
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
	"userfaultfd",
	"bpf",
	"perf_event_open",
	"keyctl",
	"add_key",
	"request_key",
	"lookup_dcookie",
	"kcmp",
	"pidfd_getfd",
	"process_vm_readv",
	"process_vm_writev",
	"fanotify_init",
	"quotactl",
	"quotactl_fd",
	"nfsservctl",
	"uselib",
	"ustat",
	"sysfs",
	"_sysctl",
	"vhangup",
	"iopl",
	"ioperm",
	"syslog",
	"move_pages",
	"mbind",
	"set_mempolicy",
	"get_mempolicy",
	"migrate_pages",
	"modify_ldt",
	/* the mount family */
	"mount",
	"umount",
	"umount2",
	"pivot_root",
	"chroot",
	"fsopen",
	"fsconfig",
	"fsmount",
	"fspick",
	"move_mount",
	"open_tree",
	"mount_setattr",
	/* other namespaces */
	"setns",
	/* the machine itself */
	"kexec_load",
	"kexec_file_load",
	"init_module",
	"finit_module",
	"delete_module",
	"create_module",
	"get_kernel_syms",
	"query_module",
	"acct",
	"swapon",
	"swapoff",
	"reboot",
	"settimeofday",
	"clock_settime",
	"clock_adjtime",
	"adjtimex",
	"stime",
	"sethostname",
	"setdomainname",
	/* file handles bypass path checks */
	"open_by_handle_at",
	"name_to_handle_at",
};

static const unsigned long ns_flags[] = {CLONE_NEWNS,	  CLONE_NEWUTS, CLONE_NEWIPC,
					 CLONE_NEWUSER,	  CLONE_NEWPID, CLONE_NEWNET,
					 CLONE_NEWCGROUP, CLONE_NEWTIME};

static int deny(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
		const struct scmp_arg_cmp *cmp)
{
	int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	return r == -EEXIST ? 0 : r;
}

static int add_rules(scmp_filter_ctx ctx, const struct policy *p, int *count)
{
	const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
	int r;
	/* Calls the policy switches to "log" stay allowed, and logged. */
	for (size_t i = 0; i < PC_ARRAY_SIZE(denied); i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		bool log = pc_strv_contains(p->process.seccomp_log, denied[i]);
		if ((r = deny(ctx, log ? SCMP_ACT_LOG : eperm, nr, 0, NULL)) < 0)
			return r;
		(*count)++;
	}
	for (size_t i = 0; p->process.seccomp_deny && p->process.seccomp_deny[i]; i++) {
		int nr = seccomp_syscall_resolve_name(p->process.seccomp_deny[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* the policy check rejected unknown names */
		if ((r = deny(ctx, eperm, nr, 0, NULL)) < 0)
			return r;
		(*count)++;
	}

	/* New namespaces: any namespace flag to clone or unshare. clone3 keeps
	 * its flags in memory seccomp cannot read: ENOSYS sends libc back to
	 * clone, which we can check. */
	for (size_t i = 0; i < PC_ARRAY_SIZE(ns_flags); i++) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]);
		if ((r = deny(ctx, eperm, SCMP_SYS(unshare), 1, &c)) < 0 ||
		    (r = deny(ctx, eperm, SCMP_SYS(clone), 1, &c)) < 0)
			return r;
		*count += 2;
	}
	if ((r = deny(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL)) < 0)
		return r;

	/* ptrace stays for debugging the agent's own children; PID 1 is off
	 * limits (it is also not dumpable). */
	struct scmp_arg_cmp pid1 = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, 1); /* pid_t */
	if ((r = deny(ctx, eperm, SCMP_SYS(ptrace), 1, &pid1)) < 0)
		return r;

	/* Terminal injection: TIOCSTI pushes keystrokes into a terminal's
	 * input, TIOCLINUX can too on a console. */
	const unsigned long ioctls[] = {TIOCSTI, TIOCLINUX};
	for (size_t i = 0; i < PC_ARRAY_SIZE(ioctls); i++) {
		struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i]);
		if ((r = deny(ctx, eperm, SCMP_SYS(ioctl), 1, &c)) < 0)
			return r;
	}

	/* No setuid or setgid files. As root, a writable grant is idmapped so
	 * the agent works there as the folder's owner; a setuid bit it set
	 * would then be a setuid-root program on the host. Caught at creation
	 * (open, openat, creat with O_CREAT) and at chmod. openat2 keeps its
	 * mode in memory: ENOSYS sends callers back to openat. */
	const unsigned long setid[] = {S_ISUID, S_ISGID};
	for (size_t i = 0; i < PC_ARRAY_SIZE(setid); i++) {
		const unsigned long b = setid[i];
		struct scmp_arg_cmp a1 = SCMP_A1(SCMP_CMP_MASKED_EQ, b, b);
		struct scmp_arg_cmp a2 = SCMP_A2(SCMP_CMP_MASKED_EQ, b, b);
		struct scmp_arg_cmp open_c[2] = {SCMP_A1(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT),
						 SCMP_A2(SCMP_CMP_MASKED_EQ, b, b)};
		struct scmp_arg_cmp openat_c[2] = {SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT),
						   SCMP_A3(SCMP_CMP_MASKED_EQ, b, b)};
		if ((r = deny(ctx, eperm, SCMP_SYS(chmod), 1, &a1)) < 0 ||
		    (r = deny(ctx, eperm, SCMP_SYS(fchmod), 1, &a1)) < 0 ||
		    (r = deny(ctx, eperm, SCMP_SYS(fchmodat), 1, &a2)) < 0 ||
		    (r = deny(ctx, eperm, SCMP_SYS(creat), 1, &a1)) < 0 ||
		    (r = deny(ctx, eperm, SCMP_SYS(open), 2, open_c)) < 0 ||
		    (r = deny(ctx, eperm, SCMP_SYS(openat), 2, openat_c)) < 0)
			return r;
		int fchmodat2 = seccomp_syscall_resolve_name("fchmodat2");
		if (fchmodat2 == __NR_SCMP_ERROR)
			fchmodat2 = 452; /* x86_64 and most others; libseccomp 2.5 predates it */
		if ((r = deny(ctx, eperm, fchmodat2, 1, &a2)) < 0)
			return r;
		/* O_TMPFILE creates too (without O_CREAT), then linkat names it. */
		const unsigned long tmpfile = O_TMPFILE & ~O_DIRECTORY;
		struct scmp_arg_cmp open_t[2] = {SCMP_A1(SCMP_CMP_MASKED_EQ, tmpfile, tmpfile),
						 SCMP_A2(SCMP_CMP_MASKED_EQ, b, b)};
		struct scmp_arg_cmp openat_t[2] = {SCMP_A2(SCMP_CMP_MASKED_EQ, tmpfile, tmpfile),
						   SCMP_A3(SCMP_CMP_MASKED_EQ, b, b)};
		if ((r = deny(ctx, eperm, SCMP_SYS(open), 2, open_t)) < 0 ||
		    (r = deny(ctx, eperm, SCMP_SYS(openat), 2, openat_t)) < 0)
			return r;
		*count += 9;
	}
	if ((r = deny(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0, NULL)) < 0)
		return r;

	/* Device nodes: no character or block devices (FIFOs and sockets are
	 * fine; mknod's mode is argument 1, mknodat's argument 2). */
	const unsigned long devtypes[] = {S_IFCHR, S_IFBLK};
	for (size_t i = 0; i < PC_ARRAY_SIZE(devtypes); i++) {
		struct scmp_arg_cmp m1 = SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, devtypes[i]);
		struct scmp_arg_cmp m2 = SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, devtypes[i]);
		if ((r = deny(ctx, eperm, SCMP_SYS(mknod), 1, &m1)) < 0 ||
		    (r = deny(ctx, eperm, SCMP_SYS(mknodat), 1, &m2)) < 0)
			return r;
	}

	/* personality: no switching ASLR off, no executable data. The top
	 * nibble must be clear too, so the read-only query 0xffffffff passes. */
	const unsigned long persona[] = {ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO,
					 ADDR_COMPAT_LAYOUT};
	for (size_t i = 0; i < PC_ARRAY_SIZE(persona); i++) {
		struct scmp_arg_cmp c =
			SCMP_A0(SCMP_CMP_MASKED_EQ, 0xf0000000ul | persona[i], persona[i]);
		if ((r = deny(ctx, eperm, SCMP_SYS(personality), 1, &c)) < 0)
			return r;
	}

	/* Sockets: unix, inet, inet6, and netlink's route family only. */
	for (int fam = 0; fam < 64; fam++) {
		if (fam == AF_UNIX || fam == AF_INET || fam == AF_INET6 || fam == AF_NETLINK)
			continue;
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fam);
		if ((r = deny(ctx, eperm, SCMP_SYS(socket), 1, &c)) < 0)
			return r;
	}
	struct scmp_arg_cmp high = SCMP_A0(SCMP_CMP_GE, 64);
	struct scmp_arg_cmp nl[2] = {SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
				     SCMP_A2(SCMP_CMP_NE, NETLINK_ROUTE)};
	if ((r = deny(ctx, eperm, SCMP_SYS(socket), 1, &high)) < 0 ||
	    (r = deny(ctx, eperm, SCMP_SYS(socket), 2, nl)) < 0)
		return r;
	const int inet[] = {AF_INET, AF_INET6};
	for (size_t i = 0; i < PC_ARRAY_SIZE(inet); i++) {
		struct scmp_arg_cmp raw[2] = {SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)inet[i]),
					      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW)};
		struct scmp_arg_cmp pkt[2] = {SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)inet[i]),
					      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_PACKET)};
		if ((r = deny(ctx, eperm, SCMP_SYS(socket), 2, raw)) < 0 ||
		    (r = deny(ctx, eperm, SCMP_SYS(socket), 2, pkt)) < 0)
			return r;
	}
	*count += 8;
	return 0;
}

/* Compiling the filter is the costliest step of a sandbox's start (~2 ms
 * with libseccomp in a fresh child), so the parent compiles it while the
 * child builds its filesystem, and hands the program over in a memfd. */
int seccomp_compile(const struct policy *p, int *fd_out, int *count, struct pc_error *err)
{
	*count = 0;
	*fd_out = -1;
	if (p->process.seccomp == PC_SECCOMP_OFF)
		return 0;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return pc_error(err, ENOMEM, "seccomp: cannot create a filter");
	/* 32-bit (int 0x80) and x32 calls: another ABI is another syscall
	 * table nobody audits here; refuse them the same way. */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	/* A binary tree over syscall numbers instead of one long chain: every
	 * call the agent makes runs this filter. */
	if (r == 0 && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0)
		r = 0; /* older libseccomp: the plain chain is still correct */
	if (r == 0)
		r = add_rules(ctx, p, count);
	int fd = -1;
	if (r == 0) {
		fd = memfd_create("pincer-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0)
			r = -errno;
	}
	if (r == 0)
		r = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	/* Sealed: nothing can change the program between here and the load. */
	if (r == 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		r = -errno;
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return pc_error_errno(err, -r, "seccomp: cannot compile the filter");
	}
	*fd_out = fd;
	return 0;
}

int seccomp_load_program(int fd, struct pc_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
	    st.st_size > 64 * 1024)
		return pc_error(err, EINVAL, "seccomp: the compiled filter is malformed");
	_cleanup_free_ struct sock_filter *insns = pc_xmalloc((size_t)st.st_size);
	if (pread(fd, insns, (size_t)st.st_size, 0) != st.st_size)
		return pc_error_errno(err, errno, "seccomp: cannot read the compiled filter");
	struct sock_fprog prog = {.len = (unsigned short)(st.st_size / sizeof(struct sock_filter)),
				  .filter = insns};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return pc_error_errno(err, errno, "seccomp: cannot load the filter");
	return 0;
}
