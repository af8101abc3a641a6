/* Unit tests for src/sandbox/net.c: which ports are captured, and, in a
 * user and network namespace made here (as the sandbox's child does), that
 * lo comes up with a local default route, that the gate's sockets take
 * what they should (a connect to any address on a captured port lands on
 * its listener, whose getsockname() is the address meant), that a UDP
 * datagram to anything but 127.0.0.1:53 reaches no socket, and that the
 * sockets cross a control socket with their kinds and ports and are gone
 * from the sender.
 *
 * Everything touching the network runs in the namespace made here, which
 * holds only lo. Without user namespaces the second half skips (exit 77). */
#include "sandbox/internal.h"

#include "../check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define SKIP 77

static struct policy *load(const char *text)
{
	struct policy *p = NULL;
	struct pc_error err = {0};
	if (policy_load_string(text, strlen(text), "/x/policy.yaml", &p, &err) < 0) {
		fprintf(stderr, "policy: %s\n", err.msg);
		abort();
	}
	return p;
}

/* ---- sandbox_capture_ports --------------------------------------------- */

static void test_capture_ports(void)
{
	uint16_t ports[SANDBOX_MAX_CAPTURE_PORTS];
	_cleanup_policy_ struct policy *def = load("version: 1\n");
	size_t n = sandbox_capture_ports(def, ports, PC_ARRAY_SIZE(ports));
	CHECK(n == 2 && ports[0] == 80 && ports[1] == 443);

	/* allow and deny ports, deduplicated and sorted; the gate's own port
	 * (8080 here) is left out; a deny rule without ports adds none. */
	_cleanup_policy_ struct policy *p = load("version: 1\n"
						 "network:\n"
						 "  gate_port: 8080\n"
						 "  egress:\n"
						 "    allow:\n"
						 "      - host: a.example\n"
						 "        ports: [8443, 443, 22]\n"
						 "      - host: b.example\n"
						 "    deny:\n"
						 "      - host: c.example\n"
						 "        ports: [22, 8080, 65535]\n"
						 "      - host: d.example\n");
	n = sandbox_capture_ports(p, ports, PC_ARRAY_SIZE(ports));
	CHECK(n == 5);
	const uint16_t want[] = {22, 80, 443, 8443, 65535};
	for (size_t i = 0; i < PC_ARRAY_SIZE(want) && i < n; i++)
		CHECK(ports[i] == want[i]);
	/* A short array: filled as far as it goes, the count is the whole. */
	CHECK(sandbox_capture_ports(p, ports, 2) == 5 && ports[0] == 22 && ports[1] == 80);

	/* The gate on 443: 443 is not a capture port then. */
	_cleanup_policy_ struct policy *g = load("version: 1\nnetwork:\n  gate_port: 443\n");
	n = sandbox_capture_ports(g, ports, PC_ARRAY_SIZE(ports));
	CHECK(n == 1 && ports[0] == 80);

	/* More than the cap: counted, so sandbox_start can refuse it. */
	struct pc_buf y = {0};
	pc_buf_puts(&y, "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: x.example\n"
			"        ports: [");
	for (int i = 0; i < 70; i++)
		pc_buf_printf(&y, "%s%d", i ? ", " : "", 10000 + i);
	pc_buf_puts(&y, "]\n");
	_cleanup_policy_ struct policy *many = load(y.data);
	pc_buf_free(&y);
	CHECK(sandbox_capture_ports(many, ports, PC_ARRAY_SIZE(ports)) == 72);
}

/* ---- in a network namespace of our own ---------------------------------- */

static int connect_to(int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s->sin_addr);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s->sin6_addr);
		len = sizeof(*s);
	}
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static const struct sandbox_listener *find(const struct sandbox_listener *l, size_t n,
					   enum sandbox_listener_kind kind, uint16_t port)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].kind == kind && l[i].port == port)
			return &l[i];
	return NULL;
}

/* Accept on listener l; the accepted socket's local address, as text. */
static void accepted_local(const struct sandbox_listener *l, char *out, size_t n)
{
	snprintf(out, n, "(none)");
	if (!l)
		return;
	struct pollfd p = {.fd = l->fd, .events = POLLIN};
	if (poll(&p, 1, 2000) != 1)
		return;
	_cleanup_close_ int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (c < 0 || getsockname(c, (struct sockaddr *)&ss, &len) < 0)
		return;
	char a[INET6_ADDRSTRLEN] = "?";
	uint16_t port;
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		port = ntohs(s->sin6_port);
		snprintf(out, n, "[%s]:%u", a, port);
	} else {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		port = ntohs(s->sin_port);
		snprintf(out, n, "%s:%u", a, port);
	}
}

static bool readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

static void test_in_namespace(void)
{
	struct pc_error err = {0};
	char note[160] = "";
	int r = net_configure(note, sizeof(note), &err);
	CHECK(r == 0);
	if (r < 0) {
		fprintf(stderr, "net_configure: %s\n", err.msg);
		return;
	}
	CHECK(strncmp(note, "IPv4", 4) == 0);
	bool v6_route = strcmp(note, "IPv4 and IPv6") == 0;

	/* Only lo, and it is up. */
	_cleanup_free_ char *dev = NULL;
	CHECK(pc_read_file("/proc/net/dev", 1 << 16, &dev, NULL, NULL) == 0);
	int ifaces = 0;
	for (const char *c = dev; c && (c = strchr(c, ':')); c++)
		ifaces++;
	CHECK(ifaces == 1); /* two header lines without one, then "lo:" */
	CHECK_CONTAINS(dev, "lo:");

	_cleanup_policy_ struct policy *p = load("version: 1\n"
						 "network:\n"
						 "  gate_port: 3999\n"
						 "  egress:\n"
						 "    allow:\n"
						 "      - host: a.example\n"
						 "        ports: [8443]\n");
	struct sandbox_listener l[NET_MAX_LISTENERS];
	bool ipv6 = false;
	int n = net_make_listeners(p, l, PC_ARRAY_SIZE(l), &ipv6, &err);
	CHECK(n == 5);
	if (n < 0) {
		fprintf(stderr, "net_make_listeners: %s\n", err.msg);
		return;
	}
	CHECK(l[0].kind == SANDBOX_LISTEN_PROXY && l[0].port == 3999);
	CHECK(l[1].kind == SANDBOX_LISTEN_DNS && l[1].port == 53);
	const struct sandbox_listener *c80 = find(l, (size_t)n, SANDBOX_LISTEN_CAPTURE, 80);
	const struct sandbox_listener *c443 = find(l, (size_t)n, SANDBOX_LISTEN_CAPTURE, 443);
	const struct sandbox_listener *c8443 = find(l, (size_t)n, SANDBOX_LISTEN_CAPTURE, 8443);
	CHECK(c80 && c443 && c8443);
	for (int i = 0; i < n; i++)
		CHECK(fcntl(l[i].fd, F_GETFD) == FD_CLOEXEC);

	/* The proxy takes 127.0.0.1 only. */
	char got[80];
	_cleanup_close_ int c1 = connect_to(AF_INET, "127.0.0.1", 3999);
	CHECK(c1 >= 0);
	accepted_local(&l[0], got, sizeof(got));
	CHECK_STR(got, "127.0.0.1:3999");
	CHECK(connect_to(AF_INET, "93.184.216.34", 3999) == -ECONNREFUSED);

	/* Any address on a captured port: the capture listener, which sees
	 * the address meant. */
	const char *v4mapped = ipv6 ? "[::ffff:93.184.216.34]:443" : "93.184.216.34:443";
	_cleanup_close_ int c2 = connect_to(AF_INET, "93.184.216.34", 443);
	CHECK(c2 >= 0);
	accepted_local(c443, got, sizeof(got));
	CHECK_STR(got, v4mapped);
	_cleanup_close_ int c3 = connect_to(AF_INET, "10.1.2.3", 8443);
	CHECK(c3 >= 0);
	accepted_local(c8443, got, sizeof(got));
	CHECK_STR(got, ipv6 ? "[::ffff:10.1.2.3]:8443" : "10.1.2.3:8443");
	_cleanup_close_ int c4 = connect_to(AF_INET, "169.254.169.254", 80);
	CHECK(c4 >= 0);
	accepted_local(c80, got, sizeof(got));
	CHECK_STR(got, ipv6 ? "[::ffff:169.254.169.254]:80" : "169.254.169.254:80");
	if (ipv6 && v6_route) {
		_cleanup_close_ int c5 = connect_to(AF_INET6, "2001:db8::1", 443);
		CHECK(c5 >= 0);
		accepted_local(c443, got, sizeof(got));
		CHECK_STR(got, "[2001:db8::1]:443");
	}
	/* A port nobody listens on: refused, locally. */
	CHECK(connect_to(AF_INET, "93.184.216.34", 22) == -ECONNREFUSED);

	/* UDP: 127.0.0.1:53 reaches the DNS socket; 8.8.8.8:53 is delivered
	 * locally to no socket, and the port-unreachable comes back. */
	int dns = l[1].fd;
	_cleanup_close_ int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53)};
	inet_pton(AF_INET, "8.8.8.8", &to.sin_addr);
	CHECK(connect(u, (struct sockaddr *)&to, sizeof(to)) == 0);
	CHECK(send(u, "q", 1, 0) == 1);
	CHECK(!readable(dns, 200));
	char b[8];
	CHECK(readable(u, 1000));
	CHECK(recv(u, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == ECONNREFUSED);
	_cleanup_close_ int u2 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	CHECK(sendto(u2, "q", 1, 0, (struct sockaddr *)&to, sizeof(to)) == 1);
	CHECK(readable(dns, 1000) && recv(dns, b, sizeof(b), 0) == 1);

	/* Over a control socket: kinds and ports travel with the fds, and the
	 * sender keeps none. */
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	int sent_fds[NET_MAX_LISTENERS];
	for (int i = 0; i < n; i++)
		sent_fds[i] = l[i].fd;
	CHECK(net_send_listeners(sv[0], l, (size_t)n, &err) == 0);
	for (int i = 0; i < n; i++)
		CHECK(l[i].fd == -1 && fcntl(sent_fds[i], F_GETFD) < 0 && errno == EBADF);
	int total = 0;
	while (total < n) {
		struct ctl_msg m;
		int fds[CTL_MAX_FDS];
		size_t nfd = CTL_MAX_FDS;
		if (pc_recv_fds(sv[1], &m, sizeof(m), fds, &nfd) <= 0)
			break;
		CHECK(m.type == CTL_NET && m.a == (int)nfd && nfd >= 1);
		for (size_t i = 0; i < nfd; i++) {
			int type = 0;
			socklen_t tl = sizeof(type);
			CHECK(getsockopt(fds[i], SOL_SOCKET, SO_TYPE, &type, &tl) == 0);
			CHECK(type ==
			      (m.net[i].kind == SANDBOX_LISTEN_DNS ? SOCK_DGRAM : SOCK_STREAM));
			close(fds[i]);
		}
		total += (int)nfd;
	}
	CHECK(total == n);
	close(sv[0]);
	close(sv[1]);
}

/* More sockets than one message carries: split over several CTL_NET. */
static void test_send_many(void)
{
	struct sandbox_listener l[CTL_MAX_FDS * 2 + 3];
	for (size_t i = 0; i < PC_ARRAY_SIZE(l); i++)
		l[i] = (struct sandbox_listener){SANDBOX_LISTEN_CAPTURE, (uint16_t)(1000 + i),
						 open("/dev/null", O_RDONLY | O_CLOEXEC)};
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	struct pc_error err = {0};
	CHECK(net_send_listeners(sv[0], l, PC_ARRAY_SIZE(l), &err) == 0);
	size_t total = 0, msgs = 0;
	for (;;) {
		struct ctl_msg m;
		int fds[CTL_MAX_FDS];
		size_t nfd = CTL_MAX_FDS;
		if (!readable(sv[1], 0) || pc_recv_fds(sv[1], &m, sizeof(m), fds, &nfd) <= 0)
			break;
		msgs++;
		for (size_t i = 0; i < nfd; i++) {
			CHECK(m.net[i].port == 1000 + total + i);
			close(fds[i]);
		}
		total += nfd;
	}
	CHECK(total == PC_ARRAY_SIZE(l) && msgs == 3);
	/* A peer gone: the error is reported and the fds are closed anyway. */
	for (size_t i = 0; i < 3; i++)
		l[i] = (struct sandbox_listener){SANDBOX_LISTEN_CAPTURE, 1,
						 open("/dev/null", O_RDONLY | O_CLOEXEC)};
	close(sv[1]);
	CHECK(net_send_listeners(sv[0], l, 3, &err) == -EPIPE);
	CHECK(l[0].fd == -1 && l[2].fd == -1);
	close(sv[0]);
}

int main(void)
{
	test_capture_ports();
	test_send_many();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
		fprintf(stderr, "no user and network namespace (%s): namespace tests skipped\n",
			strerror(errno));
		if (check_failures)
			CHECK_DONE();
		return SKIP;
	}
	test_in_namespace();
	CHECK_DONE();
}
