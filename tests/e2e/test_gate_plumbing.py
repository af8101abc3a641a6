"""The gate's plumbing in the sandbox, end to end, as root and as a user.

Inside `pincer run` the network namespace holds only lo, with a `local`
default route on it; the gate's sockets (proxy 127.0.0.1:3128, one capture
listener per captured port, DNS 127.0.0.1:53) are made there and handed to
pincer. These tests look from inside: what a connect or a datagram meets.
They do not need the gate to serve the sockets (an unserved listening
socket still completes the TCP handshake); what the gate answers is tested
with the gate.
"""
import os
import subprocess
import time

import pytest

# Connects to each "family host port" target and prints one line per target:
# "host port ok LOCALADDR" or "host port ERRNONAME".
CONNECT = r"""
import errno, socket, sys
for t in sys.argv[1:]:
    host, port = t.rsplit(":", 1)
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, int(port)))
        print(host, port, "ok", s.getsockname()[0])
    except OSError as e:
        print(host, port, errno.errorcode.get(e.errno, str(e)))
    s.close()
"""


def policy(ident, name, network=""):
    return ident.policy(f"version: 1\nname: {name}\n"
                        f"filesystem:\n  read_write: [{ident.proj}]\n" + network,
                        name=f"{name}.yaml")


def connect(ident, *targets, policy=None):
    args = ["run"] + (["--policy", str(policy)] if policy else [])
    r = ident.pincer(*args, "--", "/usr/bin/python3", "-c", CONNECT, *targets)
    assert r.returncode == 0, r.stdout + r.stderr
    out = {}
    for line in r.stdout.splitlines():
        host, port, *rest = line.split()
        out[f"{host}:{port}"] = rest
    return out


def notes(ident):
    return [x["reason"] for x in ident.records() if x["type"] == "sandbox"]


def has_ipv6(ident):
    return any(n.startswith("network:") and "IPv4 and IPv6" in n for n in notes(ident))


def landlock_net(ident):
    return any(n.startswith("landlock: ABI") and "TCP connect only" in n for n in notes(ident))


def test_proxy_port_and_captured_ports_accept(pincer):
    got = connect(pincer, "127.0.0.1:3128", "93.184.216.34:80", "10.1.2.3:443",
                  "169.254.169.254:80", "93.184.216.34:443")
    assert got["127.0.0.1:3128"] == ["ok", "127.0.0.1"], got
    # A captured connection stays in the namespace: the local route makes
    # the kernel pick the destination itself as the source address.
    for t in ("93.184.216.34:80", "10.1.2.3:443", "169.254.169.254:80", "93.184.216.34:443"):
        host = t.rsplit(":", 1)[0]
        assert got[t] == ["ok", host], (t, got)


def test_ipv6_destinations_are_captured_too(pincer):
    got = connect(pincer, "[2001:db8::1]:443", "[2606:4700:4700::1111]:80")
    if not has_ipv6(pincer):
        pytest.skip("no IPv6 in this kernel: the sandbox captures IPv4 only")
    assert got["2001:db8::1:443"][0] == "ok", got
    assert got["2606:4700:4700::1111:80"][0] == "ok", got


def test_other_ports_are_refused(pincer):
    got = connect(pincer, "93.184.216.34:22", "10.0.0.1:8080", "127.0.0.1:8080",
                  "1.1.1.1:3128", "[2001:db8::1]:22")
    if landlock_net(pincer):
        # Landlock: TCP connect only to the gate's port and the captured ones
        for t in ("93.184.216.34:22", "10.0.0.1:8080", "127.0.0.1:8080"):
            assert got[t] == ["EACCES"], (t, got)
        if has_ipv6(pincer):
            assert got["2001:db8::1:22"] == ["EACCES"], got
    else:
        for t in ("93.184.216.34:22", "10.0.0.1:8080", "127.0.0.1:8080"):
            assert got[t] == ["ECONNREFUSED"], (t, got)
    # The proxy listens on 127.0.0.1 only: its port elsewhere meets no one.
    assert got["1.1.1.1:3128"] == ["ECONNREFUSED"], got


def test_policy_ports_are_captured_and_nothing_else(pincer):
    pol = policy(pincer, "ports",
                 "network:\n  egress:\n"
                 "    allow:\n      - host: a.example\n        ports: [8443]\n"
                 "    deny:\n      - host: b.example\n        ports: [2222]\n")
    got = connect(pincer, "10.1.2.3:8443", "10.1.2.3:2222", "10.1.2.3:9999", "10.1.2.3:443",
                  policy=pol)
    assert got["10.1.2.3:8443"] == ["ok", "10.1.2.3"], got
    assert got["10.1.2.3:2222"] == ["ok", "10.1.2.3"], got
    assert got["10.1.2.3:443"] == ["ok", "10.1.2.3"], got
    assert got["10.1.2.3:9999"] == (["EACCES"] if landlock_net(pincer) else ["ECONNREFUSED"])
    net = [n for n in notes(pincer) if n.startswith("network:")]
    assert len(net) == 1 and "capture 80,443,2222,8443" in net[0], net
    if landlock_net(pincer):
        ll = [n for n in notes(pincer) if n.startswith("landlock:")][0]
        assert "port 3128 (gate) and 80,443,2222,8443 (captured)" in ll, ll


def test_gate_port_follows_the_policy(pincer):
    pol = policy(pincer, "gateport", "network:\n  gate_port: 3999\n")
    got = connect(pincer, "127.0.0.1:3999", "127.0.0.1:3128", policy=pol)
    assert got["127.0.0.1:3999"][0] == "ok", got
    assert got["127.0.0.1:3128"] == (["EACCES"] if landlock_net(pincer) else ["ECONNREFUSED"])


def test_too_many_ports_is_refused_at_start(pincer):
    ports = ", ".join(str(10000 + i) for i in range(70))
    pol = policy(pincer, "many", "network:\n  egress:\n    allow:\n"
                 f"      - host: a.example\n        ports: [{ports}]\n")
    r = pincer.pincer("run", "--policy", str(pol), "--", "/bin/true")
    assert r.returncode == 125, r.stdout + r.stderr
    assert "72 distinct ports" in r.stderr and "at most 64" in r.stderr, r.stderr


UDP = r"""
import errno, socket
def probe(host, port, connected):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        if connected:
            s.connect((host, port)); s.send(b"q")
        else:
            s.sendto(b"q", (host, port))
        s.recv(100)
        return "answer"
    except socket.timeout:
        return "silence"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
print("dns", probe("8.8.8.8", 53, True))
print("other", probe("1.1.1.1", 9999, True))
print("metadata", probe("169.254.169.254", 53, True))
print("gate-dns", probe("127.0.0.1", 53, False))
print("ifaces", " ".join(l.split(":")[0].strip() for l in open("/proc/net/dev") if ":" in l))
"""


def test_udp_goes_nowhere_but_the_dns_socket(pincer):
    r = pincer.pincer("run", "--", "/usr/bin/python3", "-c", UDP)
    assert r.returncode == 0, r.stdout + r.stderr
    got = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    # Delivered inside the namespace to no socket: the kernel's own
    # port-unreachable comes back; no interface but lo exists to leave by.
    assert got["dns"] == "ECONNREFUSED", got
    assert got["other"] == "ECONNREFUSED", got
    assert got["metadata"] == "ECONNREFUSED", got
    # The gate's DNS socket exists (the gate answers it once it serves).
    assert got["gate-dns"] in ("silence", "answer"), got
    assert got["ifaces"] == "lo", got


def test_gate_sockets_listen_in_the_namespace(pincer):
    r = pincer.pincer("run", "--", "/bin/cat", "/proc/net/tcp", "/proc/net/tcp6",
                      "/proc/net/udp")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if ":" in line.split()[0]]
    listening = {row[1] for row in rows if row[3] == "0A"}
    bound_udp = {row[1] for row in rows if row[3] == "07"}
    assert "0100007F:0C38" in listening, listening  # 127.0.0.1:3128
    wild = ({"00000000000000000000000000000000:0050",
             "00000000000000000000000000000000:01BB"} if has_ipv6(pincer)
            else {"00000000:0050", "00000000:01BB"})
    assert wild <= listening, listening  # [::]:80 and [::]:443
    assert "0100007F:0035" in bound_udp, bound_udp  # 127.0.0.1:53


def test_resolv_conf_names_the_gate(pincer):
    r = pincer.pincer("run", "--", "/bin/cat", "/etc/resolv.conf")
    assert r.returncode == 0, r.stderr
    servers = [line.split()[1] for line in r.stdout.splitlines()
               if line.startswith("nameserver")]
    assert servers == ["127.0.0.1"], r.stdout


def test_network_layer_is_recorded(pincer):
    r = pincer.pincer("run", "--", "/bin/true")
    assert r.returncode == 0, r.stderr
    net = [n for n in notes(pincer) if n.startswith("network:")]
    assert len(net) == 1, notes(pincer)
    assert "proxy 127.0.0.1:3128" in net[0] and "DNS 127.0.0.1:53" in net[0], net
    assert "capture 80,443" in net[0], net


@pytest.mark.skipif(os.geteuid() != 0, reason="reads another user's /proc/PID/fd")
def test_pid1_holds_none_of_the_gate_sockets(pincer):
    p = pincer.popen("/bin/sleep", "5", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid1 = None
        deadline = time.time() + 10
        while pid1 is None and time.time() < deadline:
            for task in os.listdir(f"/proc/{p.pid}/task"):
                for k in open(f"/proc/{p.pid}/task/{task}/children").read().split():
                    if open(f"/proc/{k}/comm").read().strip() == "pincer-init":
                        pid1 = int(k)
            time.sleep(0.05)
        assert pid1, "no PID 1 found"
        # Once the agent runs, PID 1 holds the control socket and nothing
        # else that is a socket; the agent (sleep) none at all.
        time.sleep(0.3)
        fds = [os.readlink(f"/proc/{pid1}/fd/{fd}") for fd in os.listdir(f"/proc/{pid1}/fd")]
        assert sum(t.startswith("socket:") for t in fds) == 1, fds
        agent = open(f"/proc/{pid1}/task/{pid1}/children").read().split()
        assert agent, "no agent under PID 1"
        afds = [os.readlink(f"/proc/{agent[0]}/fd/{fd}")
                for fd in os.listdir(f"/proc/{agent[0]}/fd")]
        assert not any(t.startswith("socket:") for t in afds), afds
        # ... while the namespace's listeners are alive: pincer holds them.
        inodes = {t for t in fds if t.startswith("socket:")}
        held = {os.readlink(f"/proc/{p.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{p.pid}/fd")}
        gate = {t for t in held if t.startswith("socket:")} - inodes
        assert len(gate) >= 4, held  # proxy, DNS, captures on 80 and 443 (+ control)
    finally:
        p.kill()
        p.wait()
