/* The sandbox's network namespace (DESIGN.md sections 2 and 4, step 3).
 *
 * It holds only `lo`. The child brings it up and adds a `local` default
 * route on it, so that a connect or send to any address is delivered inside
 * the namespace, to the gate's sockets made here and handed to pincer on
 * the host side. Nothing else leaves, and no helper process stays behind.
 */
#include "sandbox/internal.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* The kernel gives lo this index in every network namespace. */
#define LOOPBACK_IFINDEX 1

size_t sandbox_capture_ports(const struct policy *p, uint16_t *out, size_t max)
{
	/* A bitmap of 65536 ports: duplicates fall away, the order is free. */
	uint64_t seen[65536 / 64] = {0};
#define MARK(port) (seen[(port) / 64] |= 1ULL << ((port) % 64))
	MARK(80);
	MARK(443);
	const struct pc_net_rule *lists[] = {p->net.allow, p->net.deny};
	const size_t counts[] = {p->net.n_allow, p->net.n_deny};
	for (size_t l = 0; l < PC_ARRAY_SIZE(lists); l++)
		for (size_t i = 0; i < counts[l]; i++)
			for (size_t k = 0; k < lists[l][i].n_ports; k++)
				MARK(lists[l][i].ports[k]);
#undef MARK
	/* The gate's own port is served by the proxy listener on 127.0.0.1;
	 * port 0 is no port. */
	seen[p->net.gate_port / 64] &= ~(1ULL << (p->net.gate_port % 64));
	seen[0] &= ~1ULL;
	size_t n = 0;
	for (unsigned w = 0; w < PC_ARRAY_SIZE(seen); w++)
		for (uint64_t bits = seen[w]; bits; bits &= bits - 1) {
			if (n < max)
				out[n] = (uint16_t)(w * 64 + (unsigned)__builtin_ctzll(bits));
			n++;
		}
	return n;
}

/* ---- lo and its routes, over rtnetlink ---------------------------------- */

/* Append one request to buf at *off: header, fixed part, then one u32
 * attribute when attr_type is not 0. */
static void nl_add(char *buf, size_t *off, uint16_t type, uint32_t seq, const void *fixed,
		   size_t fixed_len, uint16_t attr_type, uint32_t attr)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)(buf + *off);
	size_t len = NLMSG_HDRLEN + NLMSG_ALIGN(fixed_len);
	memset(nh, 0, NLMSG_HDRLEN);
	memcpy(NLMSG_DATA(nh), fixed, fixed_len);
	if (attr_type) {
		struct rtattr *rta = (struct rtattr *)((char *)nh + len);
		rta->rta_type = attr_type;
		rta->rta_len = RTA_LENGTH(sizeof(attr));
		memcpy(RTA_DATA(rta), &attr, sizeof(attr));
		len += RTA_SPACE(sizeof(attr));
	}
	nh->nlmsg_len = (uint32_t)len;
	nh->nlmsg_type = type;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (type == RTM_NEWROUTE)
		nh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	nh->nlmsg_seq = seq;
	*off += NLMSG_ALIGN(len);
}

/* `ip link set lo up; ip route add local 0.0.0.0/0 dev lo; ip -6 route add
 * local ::/0 dev lo`, in one batch: the kernel takes the requests in order,
 * answers each, and goes on after a failed one. */
int net_configure(char *note, size_t note_len, struct pc_error *err)
{
	enum { SEQ_LINK = 1, SEQ_ROUTE4, SEQ_ROUTE6, SEQ_N };
	_cleanup_close_ int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0)
		return pc_error_errno(err, errno, "netlink socket");

	union {
		char buf[512];
		struct nlmsghdr align;
	} req;
	size_t off = 0;
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC,
				.ifi_index = LOOPBACK_IFINDEX,
				.ifi_flags = IFF_UP,
				.ifi_change = IFF_UP};
	nl_add(req.buf, &off, RTM_NEWLINK, SEQ_LINK, &ifi, sizeof(ifi), 0, 0);
	/* Table local, where iproute2 puts `local` routes: it is consulted
	 * first, and the route's scope is the host. */
	const unsigned char families[] = {AF_INET, AF_INET6};
	for (size_t i = 0; i < PC_ARRAY_SIZE(families); i++) {
		struct rtmsg rt = {.rtm_family = families[i],
				   .rtm_table = RT_TABLE_LOCAL,
				   .rtm_protocol = RTPROT_STATIC,
				   .rtm_scope = RT_SCOPE_HOST,
				   .rtm_type = RTN_LOCAL};
		nl_add(req.buf, &off, RTM_NEWROUTE, (uint32_t)(SEQ_ROUTE4 + i), &rt, sizeof(rt),
		       RTA_OIF, LOOPBACK_IFINDEX);
	}
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(nl, req.buf, off, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return pc_error_errno(err, errno, "netlink: configure lo");

	/* rtnetlink answers while handling the send: the acks are queued. */
	int result[SEQ_N] = {0};
	bool answered[SEQ_N] = {false};
	int pending = SEQ_N - 1;
	while (pending > 0) {
		union {
			char buf[4096];
			struct nlmsghdr align;
		} ans;
		ssize_t n = recv(nl, ans.buf, sizeof(ans.buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return pc_error_errno(err, n < 0 ? errno : EPROTO,
					      "netlink: no answer about lo");
		size_t left = (size_t)n;
		for (struct nlmsghdr *h = &ans.align; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq < SEQ_LINK ||
			    h->nlmsg_seq >= SEQ_N || answered[h->nlmsg_seq])
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(h);
			answered[h->nlmsg_seq] = true;
			result[h->nlmsg_seq] = -e->error;
			pending--;
		}
	}
	if (result[SEQ_LINK])
		return pc_error_errno(err, result[SEQ_LINK], "bring lo up");
	if (result[SEQ_ROUTE4])
		return pc_error_errno(err, result[SEQ_ROUTE4],
				      "add the local default route on lo (IPv4)");
	if (result[SEQ_ROUTE6])
		/* IPv6 off in this kernel: IPv4 is all there is to capture. */
		snprintf(note, note_len, "IPv4 (no IPv6 route: %s)", strerror(result[SEQ_ROUTE6]));
	else
		snprintf(note, note_len, "IPv4 and IPv6");
	return 0;
}

/* ---- the gate's sockets ------------------------------------------------- */

static int make_socket(int family, int type, const struct sockaddr *sa, socklen_t len,
		       bool dual_stack, struct pc_error *err)
{
	_cleanup_close_ int fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0) /* EAFNOSUPPORT for AF_INET6: this kernel has no IPv6 */
		return pc_error_errno(err, errno, "socket");
	int on = 1, off = 0;
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
		return pc_error_errno(err, errno, "SO_REUSEADDR");
	if (dual_stack && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)
		return pc_error_errno(err, errno, "IPV6_V6ONLY");
	if (bind(fd, sa, len) < 0)
		return pc_error_errno(err, errno, "bind");
	if (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)
		return pc_error_errno(err, errno, "listen");
	return pc_steal_fd(&fd);
}

static int make_inet(int type, uint32_t addr, uint16_t port, struct pc_error *err)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr)};
	return make_socket(AF_INET, type, (struct sockaddr *)&sa, sizeof(sa), false, err);
}

/* A capture listener: [::]:port taking IPv4 and IPv6, else 0.0.0.0:port. */
static int make_capture(uint16_t port, bool *ipv6, struct pc_error *err)
{
	if (*ipv6) {
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
					  .sin6_port = htons(port),
					  .sin6_addr = IN6ADDR_ANY_INIT};
		int fd = make_socket(AF_INET6, SOCK_STREAM, (struct sockaddr *)&sa, sizeof(sa),
				     true, err);
		if (fd != -EAFNOSUPPORT)
			return fd;
		*ipv6 = false;
	}
	return make_inet(SOCK_STREAM, INADDR_ANY, port, err);
}

int net_make_listeners(const struct policy *p, struct sandbox_listener *out, size_t max, bool *ipv6,
		       struct pc_error *err)
{
	uint16_t ports[SANDBOX_MAX_CAPTURE_PORTS];
	size_t n_ports = sandbox_capture_ports(p, ports, PC_ARRAY_SIZE(ports));
	if (n_ports > PC_ARRAY_SIZE(ports) || n_ports + 2 > max)
		return pc_error(err, E2BIG, "network: %zu ports to capture, at most %d", n_ports,
				SANDBOX_MAX_CAPTURE_PORTS);
	*ipv6 = true;
	size_t n = 0;
	int fd = make_inet(SOCK_STREAM, INADDR_LOOPBACK, p->net.gate_port, err);
	if (fd >= 0) {
		out[n++] = (struct sandbox_listener){SANDBOX_LISTEN_PROXY, p->net.gate_port, fd};
		fd = make_inet(SOCK_DGRAM, INADDR_LOOPBACK, 53, err);
		if (fd >= 0)
			out[n++] = (struct sandbox_listener){SANDBOX_LISTEN_DNS, 53, fd};
		else
			pc_error_prefix(err, "gate DNS socket 127.0.0.1:53");
	} else {
		pc_error_prefix(err, "gate listener 127.0.0.1:%u", p->net.gate_port);
	}
	for (size_t i = 0; fd >= 0 && i < n_ports; i++) {
		fd = make_capture(ports[i], ipv6, err);
		if (fd >= 0)
			out[n++] = (struct sandbox_listener){SANDBOX_LISTEN_CAPTURE, ports[i], fd};
		else
			pc_error_prefix(err, "gate capture listener on port %u", ports[i]);
	}
	if (fd >= 0)
		return (int)n;
	while (n > 0)
		close(out[--n].fd);
	return fd;
}

int net_send_listeners(int ctl, struct sandbox_listener *l, size_t n, struct pc_error *err)
{
	int r = 0;
	for (size_t i = 0; i < n; i += CTL_MAX_FDS) {
		size_t k = n - i < CTL_MAX_FDS ? n - i : CTL_MAX_FDS;
		struct ctl_msg m = {.type = CTL_NET, .a = (int32_t)k};
		int fds[CTL_MAX_FDS];
		for (size_t j = 0; j < k; j++) {
			m.net[j].kind = (uint16_t)l[i + j].kind;
			m.net[j].port = l[i + j].port;
			fds[j] = l[i + j].fd;
		}
		if (r == 0 && (r = pc_send_fds(ctl, &m, sizeof(m), fds, k)) < 0)
			pc_error_errno(err, -r, "send the gate's sockets to pincer");
	}
	/* Sent or not, this process keeps none of them. */
	for (size_t i = 0; i < n; i++)
		close(pc_steal_fd(&l[i].fd));
	return r;
}

static void describe(struct pc_buf *b, const struct sandbox_listener *l, size_t n, bool ipv6,
		     const char *routes)
{
	pc_buf_printf(b,
		      "network: only lo, with a local default route (%s); gate sockets "
		      "made inside and handed to pincer: ",
		      routes);
	bool first_capture = true;
	for (size_t i = 0; i < n; i++) {
		if (l[i].kind == SANDBOX_LISTEN_PROXY)
			pc_buf_printf(b, "proxy 127.0.0.1:%u, ", l[i].port);
		else if (l[i].kind == SANDBOX_LISTEN_DNS)
			pc_buf_printf(b, "DNS 127.0.0.1:%u (UDP), ", l[i].port);
		else
			pc_buf_printf(b, "%s%u", first_capture ? "capture " : ",", l[i].port);
		first_capture &= l[i].kind != SANDBOX_LISTEN_CAPTURE;
	}
	pc_buf_printf(b, " on %s", ipv6 ? "[::] (IPv4 and IPv6)" : "0.0.0.0");
}

int net_setup(int ctl, const struct policy *p, struct pc_error *err)
{
	char routes[160];
	int r = net_configure(routes, sizeof(routes), err);
	if (r < 0)
		return r;
	struct sandbox_listener l[NET_MAX_LISTENERS];
	bool ipv6;
	int n = net_make_listeners(p, l, PC_ARRAY_SIZE(l), &ipv6, err);
	if (n < 0)
		return n;
	_cleanup_buf_ struct pc_buf text = {0};
	describe(&text, l, (size_t)n, ipv6, routes);
	r = net_send_listeners(ctl, l, (size_t)n, err);
	if (r < 0)
		return r;
	struct ctl_msg m = {.type = CTL_LAYER};
	snprintf(m.text, sizeof(m.text), "%s", text.data);
	if (send(ctl, &m, sizeof(m), MSG_NOSIGNAL) < 0)
		return pc_error_errno(err, errno, "send to pincer");
	return 0;
}
