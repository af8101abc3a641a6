/* Finding and loading pincer-tls.so (see tls.h). No OpenSSL here: this is
 * part of pincer itself, and runs only when a policy needs interception. */
#include "tls/tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct pc_tls_ops *loaded;

const struct pc_tls_ops *pc_tls_load_from(const char *path, struct pc_error *err)
{
	if (loaded)
		return loaded;
	/* The module runs with pincer's privileges: it must be as trusted as
	 * the executable. Checked on an fd and loaded through that same fd,
	 * so the file checked is the file mapped. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		pc_error_errno(err, -errno, "TLS module %s", path);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		pc_error_errno(err, -errno, "TLS module %s", path);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 022)) {
		pc_error(err, -EACCES,
			 "TLS module %s: must be a regular file owned by root (or you) and "
			 "writable by no one else (chmod go-w %s)",
			 path, path);
		return NULL;
	}
	char fdpath[64];
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	void *h = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		pc_error(err, -ENOEXEC, "TLS module %s: %s", path, dlerror());
		return NULL;
	}
	pc_tls_entry_fn entry;
	*(void **)&entry = dlsym(h, PC_TLS_SYMBOL);
	const struct pc_tls_ops *ops = entry ? entry() : NULL;
	if (!ops || ops->abi != PC_TLS_ABI) {
		pc_error(err, -ENOEXEC,
			 "TLS module %s: not a pincer TLS module of this version (rebuild it "
			 "with pincer)",
			 path);
		dlclose(h);
		return NULL;
	}
	loaded = ops; /* never unloaded: sessions may outlive any one user */
	return ops;
}

const struct pc_tls_ops *pc_tls_load(struct pc_error *err)
{
	if (loaded)
		return loaded;
	_cleanup_free_ char *path = pc_sibling_path(PC_TLS_MODULE);
	if (!path) {
		pc_error_errno(err, -errno, "cannot find pincer's own executable");
		return NULL;
	}
	if (access(path, F_OK) < 0) { /* installed: LIBDIR/pincer */
		free(path);
		path = pc_xasprintf("%s/%s", PINCER_MODULE_DIR, PC_TLS_MODULE);
	}
	return pc_tls_load_from(path, err);
}
