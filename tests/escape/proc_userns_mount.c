/* proc_userns_mount: the user-namespace route to mounting: unshare a user
 * and a mount namespace (holding every capability inside them), then
 * remount a read-only grant writable, unmount the mask over a secret, and
 * mount a fresh proc.
 * argv: READ-ONLY-GRANTED-DIR MASKED-PATH SECRET-FILE-UNDER-IT WRITABLE-DIR
 *
 * Stopped by: the seccomp deny-list (unshare: EPERM), and where seccomp is
 * off: Landlock, which refuses any mount change (EPERM), and where both
 * are off, the kernel's mount locks: mounts inherited from a more
 * privileged namespace keep their read-only flag (EPERM) and cannot be
 * unmounted to reveal what they cover (EINVAL); proc needs the pid
 * namespace's owner (EPERM). The grant must stay read-only, the secret
 * unreadable.
 */
#include "escape.h"

#include <sched.h>
#include <sys/mount.h>

int main(int argc, char **argv)
{
	const char *usage = "READ-ONLY-GRANTED-DIR MASKED-PATH SECRET-FILE WRITABLE-DIR";
	const char *ro = arg(argc, argv, 1, usage);
	const char *mask = arg(argc, argv, 2, usage);
	const char *secret = arg(argc, argv, 3, usage);
	char mnt[4200];
	snprintf(mnt, sizeof(mnt), "%s/escape-mnt", arg(argc, argv, 4, usage));
	if (mkdir(mnt, 0755) < 0 && errno != EEXIST)
		unexpected("mkdir %s: %s", mnt, strerror(errno));
	errno = 0;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		const struct want w[] = {SECCOMP_OR("?"), BY(ENOSPC, "user namespaces limit")};
		esc_check("unshare(CLONE_NEWUSER|CLONE_NEWNS)", -1, errno, w, ESC_N(w));
		verdict();
	}
	note("unshare(CLONE_NEWUSER|CLONE_NEWNS) worked: capabilities in a nested namespace");
	/* Who refuses mounts now? A tmpfs of its own is harmless; Landlock
	 * refuses even that. */
	const char *who = "locked mount";
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
		if (errno != EPERM)
			unexpected("mount tmpfs in the nested namespace: %s", strerror(errno));
		who = "Landlock";
		add_how("mount tmpfs: EPERM (Landlock)");
	} else {
		note("mount tmpfs worked (a private mount, harmless)");
		umount2(mnt, MNT_DETACH);
	}
	MUST_FAIL("remount the read-only grant rw",
		  mount(NULL, ro, NULL, MS_REMOUNT | MS_BIND, NULL), BY(EPERM, who));
	MUST_FAIL("remount / rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL),
		  BY(EPERM, who));
	MUST_FAIL("umount the mask", umount2(mask, MNT_DETACH), BY(EINVAL, "locked mount"),
		  BY(EPERM, who));
	MUST_FAIL("mount proc", mount("proc", mnt, "proc", 0, NULL),
		  BY(EPERM, strcmp(who, "Landlock") == 0 ? who : "pid namespace owned elsewhere"));
	char probe[4200];
	snprintf(probe, sizeof(probe), "%s/escape-userns-probe", ro);
	MUST_FAIL("write in the read-only grant", open(probe, O_WRONLY | O_CREAT | O_CLOEXEC, 0644),
		  BY(EROFS, "read-only mount"), BY(EACCES, "Landlock"));
	must_not_read(secret);
	rmdir(mnt);
	MUST_FAIL("open /etc/shadow", open("/etc/shadow", O_RDONLY | O_CLOEXEC),
		  BY(ENOENT, "not in view"));
	verdict();
}
