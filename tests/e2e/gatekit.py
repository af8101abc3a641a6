"""Shared by the egress gate's end-to-end tests (test_gate*.py): the
upstreams fixture, the Gate helper that runs pincer against them, and the
python library the agent side imports inside the sandbox.

Real upstream servers listen on the host's 127.0.0.1 (upstreams.py); real
clients run inside the sandbox: curl, python (urllib and raw sockets), node
and git. Every security test checks both halves: the attempt fails (what the
agent sees, and that the upstream saw nothing) and the audit log says why.

The host's loopback is a private address, so the policies here admit it
with `allow_private: [127.0.0.1/32]`; test_private_addresses_* show that
without it the same upstreams are out of reach.

Names: the gate resolves names with the host's /etc/hosts. When pytest runs
as root, pincer runs in a mount namespace of its own (unshare -m) whose
/etc/hosts maps the test names below to 127.0.0.1, 169.254.169.254,
10.0.0.1 and others, so that a name can reach a local upstream. The sandbox
never sees that file (its DNS is the gate's). Without root those tests skip.

A test module imports the fixtures: `from gatekit import gate, ups`.
"""
import json
import subprocess
import textwrap
import time
from types import SimpleNamespace

import pytest

import upstreams as up
from conftest import IS_ROOT, PINCER

LOCAL_NAMES = ["a.example.test", "b.example.test", "x.y.example.test", "example.test",
               "api.test", "tls.example.test", "web.test", "pypi.test", "npm.test"]
HOSTS = ("127.0.0.1 localhost\n127.0.0.1 " + " ".join(LOCAL_NAMES) + "\n"
         "169.254.169.254 metadata.test\n10.0.0.1 intranet.test\n"
         "0.0.0.0 zero.example.test\n:: unspec.example.test\n"
         "::ffff:169.254.169.254 mapped.example.test\n")

CURL = "curl -sS --max-time 20"
NO_NAMES = "test names need a private /etc/hosts for pincer (a mount namespace): root only"

# Imported by the python snippets run inside the sandbox (written to proj).
CLIENT_LIB = r'''
import json, socket, sys, threading, time

def raw(host, port, data, shut=False, timeout=20):
    """Send data on a new connection, then read until the other side
    closes. Returns what came back, latin-1 decoded, plus "<send:..>" or
    "<recv:..>" when a call failed."""
    s = socket.create_connection((host, port), timeout=timeout)
    err = ""
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
    except OSError as e:
        err = f"<send:{e.strerror or e}>"
    got = b""
    while True:
        try:
            b = s.recv(65536)
        except OSError as e:
            err += f"<recv:{e.strerror or e}>"
            break
        if not b:
            break
        got += b
    s.close()
    return got.decode("latin-1") + err

def status(resp):
    parts = resp.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

def header(resp, name):
    for line in resp.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None

def get(url_host, port, path, via_proxy=True, host=None, extra=b""):
    """One GET, through the proxy port (absolute-form) or straight to the
    destination (captured)."""
    hh = f"{host or url_host}:{port}".encode()
    if via_proxy:
        req = b"GET http://%s%s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n" % (
            hh, path.encode(), hh, extra)
        return raw("127.0.0.1", 3128, req)
    req = b"GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n" % (path.encode(), hh, extra)
    return raw(url_host, port, req)

def read_answer(f, head_only=False):
    """One response (Content-Length framed) from a socket's file: [status, body]."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = f.readline()
        if not line:
            return ["closed", head.decode("latin-1")]
        head += line
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    return [head.split(b" ")[1].decode(), "" if head_only else f.read(n).decode()]

def body(resp):
    return resp.partition("\r\n\r\n")[2]

def out(*values):
    print(json.dumps(values), flush=True)
'''


# ---- fixtures and helpers ----------------------------------------------------

@pytest.fixture(scope="module")
def ups(tmp_path_factory):
    """The upstreams, shared by every test of a module."""
    d = tmp_path_factory.mktemp("gate-upstreams")
    ca, cert, key = up.make_ca(d, ["tls.example.test", "localhost", "127.0.0.1"])
    hosts = d / "hosts"
    hosts.write_text(HOSTS)
    git = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(d), "PATH": "/usr/bin:/bin"}
    for cmd in (["git", "init", "-q", "-b", "main", d / "work"],
                ["git", "-C", d / "work", "-c", "user.name=t", "-c", "user.email=t@t",
                 "commit", "-q", "--allow-empty", "-m", "first"],
                ["git", "clone", "-q", "--bare", d / "work", d / "git" / "repo.git"]):
        subprocess.run(cmd, check=True, env=git, capture_output=True)
    up.make_package_index(d / "pkgs")
    s = SimpleNamespace(web=up.HttpUpstream("web"), other=up.HttpUpstream("other"),
                        pkgs=up.StaticUpstream(d / "pkgs"),
                        tls=up.HttpUpstream("tls", up.tls_context(cert, key)),
                        git=up.GitUpstream(d / "git"), git_repo=d / "git" / "repo.git",
                        echo=up.TcpEcho(), udp=up.UdpSink(), ca=ca.read_text(), hosts=hosts)
    yield s
    for u in (s.web, s.other, s.tls, s.git, s.pkgs, s.echo, s.udp):
        u.stop()


class Gate:
    """One identity's pincer runs against the shared upstreams."""

    def __init__(self, ident, ups):
        self.ident, self.ups = ident, ups
        self.web, self.other = ups.web.port, ups.other.port
        self.tls, self.echo, self.git = ups.tls.port, ups.echo.port, ups.git.port
        self.pkgs = ups.pkgs.port
        ident.write("proj/ca.pem", ups.ca)
        ident.write("proj/gatelib.py", CLIENT_LIB)
        for u in (ups.web, ups.other, ups.tls, ups.git, ups.pkgs, ups.echo):
            u.clear()
        ups.udp.received()

    def policy(self, egress, name="policy.yaml"):
        """A policy granting the project folder, with `egress` (YAML, the
        body of network.egress; {web}, {other}, {tls}, {echo} are ports)."""
        body = textwrap.dedent(egress).format(web=self.web, other=self.other, tls=self.tls,
                                              echo=self.echo, git=self.git, pkgs=self.pkgs)
        return self.ident.policy("version: 1\nname: gate\n"
                                 f"filesystem:\n  read_write: [{self.ident.proj}]\n"
                                 "network:\n  egress:\n" + textwrap.indent(body, "    "),
                                 name=name)

    def argv(self, policy, cmd, extra=()):
        wrap = []
        if IS_ROOT:
            wrap = ["unshare", "-m", "/bin/sh", "-c",
                    'mount --bind "$0" /etc/hosts && exec "$@"', str(self.ups.hosts)]
        args = ["run", "--audit", str(self.ident.audit)]
        if policy:
            args += ["--policy", str(policy)]
        return wrap + self.ident.prefix + [PINCER] + args + list(extra) + ["--"] + list(cmd)

    def run(self, policy, cmd, *extra, timeout=90):
        return subprocess.run(self.argv(policy, cmd, extra), capture_output=True, text=True,
                              timeout=timeout, cwd=str(self.ident.proj), env=self.ident.env())

    def popen(self, policy, cmd, *extra):
        return subprocess.Popen(self.argv(policy, cmd, extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=str(self.ident.proj),
                                env=self.ident.env())

    def egress(self, **match):
        """The egress records whose fields equal `match`."""
        return [x for x in self.ident.records() if x["type"] == "egress"
                and all(x.get(k) == v for k, v in match.items())]

    def one(self, **match):
        got = self.egress(**match)
        assert len(got) == 1, f"{match}: {len(got)} records in\n{self.log()}"
        return got[0]

    def log(self):
        """The egress records, one short line each (for failure messages)."""
        return "\n".join(
            f"#{x.get('conn')} {x['decision']} {x.get('proto')} {x.get('host')}:{x.get('port')} "
            f"{x.get('method', '')} {x.get('path', '')} why={x.get('why', '')}: {x['reason']}"
            for x in self.egress())


def sh(script):
    return ["/bin/sh", "-c", script]


def py(code):
    return ["/usr/bin/python3", "-c", "from gatelib import *\n" + textwrap.dedent(code)]


def results(r):
    """The out(...) lines of a python snippet, as lists."""
    assert r.returncode == 0, r.stdout + r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("[")]


def lines(r):
    return r.stdout.splitlines()


def rule_at(policy, needle, nth=0):
    """"FILE:LINE" of the nth line of a policy file holding `needle`."""
    hits = [i + 1 for i, line in enumerate(policy.read_text().splitlines()) if needle in line]
    return f"{policy}:{hits[nth]}"


def wait_for(pred, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def need_names():
    if not IS_ROOT:
        pytest.skip(NO_NAMES)


@pytest.fixture
def gate(pincer, ups):
    g = Gate(pincer, ups)
    yield g
    # After everything a test did, the audit chain still verifies.
    if pincer.audit.exists():
        r = pincer.pincer("audit", "verify", str(pincer.audit))
        assert r.returncode == 0, r.stdout + r.stderr


LOCAL = """\
allow_private: [127.0.0.1/32]
allow:
  - host: 127.0.0.1
    ports: [{web}, {tls}, {echo}]
"""
