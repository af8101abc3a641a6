/* fs_open_by_handle: the "shocker" escape. open_by_handle_at() opens a
 * file from a handle without any path walk, so a forged handle for inode 2
 * (the root directory of an ext2/3/4 filesystem) opens the host's root from
 * any mount of that filesystem. argv: GRANTED-DIR (a mount of a host
 * filesystem to give as the mount fd)
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, the kernel wants
 * CAP_DAC_READ_SEARCH, which the agent has not (EPERM).
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "GRANTED-DIR");
	int mnt = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mnt < 0)
		unexpected("open %s: %s", dir, strerror(errno));
	struct {
		struct file_handle fh;
		unsigned char bytes[MAX_HANDLE_SZ];
	} h = {0};
	/* FILEID_INO32_GEN: 32-bit inode number and generation. */
	h.fh.handle_bytes = 8;
	h.fh.handle_type = 1;
	uint32_t ino_gen[2] = {2, 0};
	memcpy(h.fh.f_handle, ino_gen, sizeof(ino_gen));
	MUST_FAIL("open_by_handle_at(inode 2)",
		  open_by_handle_at(mnt, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
		  SECCOMP_OR("no CAP_DAC_READ_SEARCH"));

	/* A genuine handle, if one can be had (not under seccomp). */
	struct {
		struct file_handle fh;
		unsigned char bytes[MAX_HANDLE_SZ];
	} real = {.fh.handle_bytes = MAX_HANDLE_SZ};
	int mount_id;
	if (name_to_handle_at(mnt, "", &real.fh, &mount_id, AT_EMPTY_PATH) == 0)
		MUST_FAIL("open_by_handle_at(the grant's own handle)",
			  open_by_handle_at(mnt, &real.fh, O_RDONLY | O_CLOEXEC),
			  SECCOMP_OR("no CAP_DAC_READ_SEARCH"));
	verdict();
}
