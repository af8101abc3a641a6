/* Files, fds and paths. */
#include "util.h"

#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <unistd.h>

int pc_read_file(const char *path, size_t max, char **out, size_t *len, struct pc_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pc_error_errno(err, errno, "cannot open %s", path);
	_cleanup_buf_ struct pc_buf b = {0};
	char chunk[16384];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pc_error_errno(err, errno, "cannot read %s", path);
		if (n == 0)
			break;
		if (b.len + (size_t)n > max)
			return pc_error(err, EFBIG, "%s is larger than %zu bytes", path, max);
		pc_buf_append(&b, chunk, (size_t)n);
	}
	pc_buf_append(&b, "", 0);
	if (len)
		*len = b.len;
	*out = pc_steal_ptr(&b.data);
	return 0;
}

int pc_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int pc_write_string(const char *path, const char *s, struct pc_error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pc_error_errno(err, errno, "cannot open %s", path);
	int r = pc_write_all(fd, s, strlen(s));
	if (r < 0)
		return pc_error_errno(err, -r, "cannot write %s", path);
	return 0;
}

int pc_mkdir_p(const char *path, mode_t mode, struct pc_error *err)
{
	_cleanup_free_ char *p = pc_xstrdup(path);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return pc_error_errno(err, errno, "cannot create %s", p);
		*s = c;
		if (c == '\0')
			break;
	}
	return 0;
}

int pc_send_fds(int sock, const void *data, size_t len, const int *fds, size_t n)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n > 8)
		return -EINVAL;
	if (n > 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	for (;;) {
		ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : 0;
	}
}

bool pc_fd_is_anon_pipe(int fd)
{
	struct stat st;
	struct statfs fs;
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && !(fl & O_PATH) && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
	       fstatfs(fd, &fs) == 0 && fs.f_type == PIPEFS_MAGIC;
}

/* A unix stream or seqpacket peer that closed with data of ours unread
 * leaves ECONNRESET pending, and a seqpacket socket reports it once ahead of
 * the messages the peer sent before closing: read on past it (the next read
 * gives those, then end of file), or a child's last word is lost. */
static ssize_t recvmsg_past_reset(int sock, struct msghdr *msg, int flags)
{
	for (bool reset = false;;) {
		ssize_t r = recvmsg(sock, msg, flags);
		if (r >= 0 || !(errno == EINTR || (errno == ECONNRESET && !reset)))
			return r;
		reset |= errno == ECONNRESET;
	}
}

ssize_t pc_recv(int sock, void *buf, size_t len, int flags)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	return recvmsg_past_reset(sock, &msg, flags);
}

ssize_t pc_recv_fds(int sock, void *data, size_t len, int *fds, size_t *n)
{
	struct iovec iov = {.iov_base = data, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	size_t max = n ? *n : 0;
	if (n)
		*n = 0;
	ssize_t r = recvmsg_past_reset(sock, &msg, MSG_CMSG_CLOEXEC);
	if (r < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *in = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < k; i++) {
			if (n && *n < max)
				fds[(*n)++] = in[i];
			else
				close(in[i]); /* more than the caller wanted: never leak */
		}
	}
	return r;
}

char *pc_expand_home(const char *path, const char *home)
{
	if (path[0] == '~' && (path[1] == '\0' || path[1] == '/'))
		return pc_xasprintf("%s%s", home, path + 1);
	return pc_xstrdup(path);
}

char *pc_state_file(const char *name)
{
	if (geteuid() == 0)
		return pc_xasprintf("/var/lib/pincer/%s", name);
	const char *state = getenv("XDG_STATE_HOME");
	if (state && state[0] == '/')
		return pc_xasprintf("%s/pincer/%s", state, name);
	const char *home = pc_home_dir();
	return pc_xasprintf("%s/.local/state/pincer/%s", strcmp(home, "/") ? home : "", name);
}

const char *pc_home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && h[0] == '/')
		return h;
	struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
		return pw->pw_dir;
	return "/";
}

char *pc_sibling_path(const char *name)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	return pc_xasprintf("%.*s/%s", slash ? (int)(slash - self) : 1, slash ? self : ".", name);
}
