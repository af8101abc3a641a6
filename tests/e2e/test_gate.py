"""The egress gate (issue 4), end to end, as root and as an ordinary user.

Real upstream servers listen on the host's 127.0.0.1 (upstreams.py); real
clients run inside the sandbox: curl, python (urllib and raw sockets) and
node. Every security test checks both halves: the attempt fails (what the
agent sees, and that the upstream saw nothing) and the audit log says why.

The host's loopback is a private address, so the policies here admit it
with `allow_private: [127.0.0.1/32]`; test_private_addresses_* show that
without it the same upstreams are out of reach.

Names: the gate resolves names with the host's /etc/hosts. When pytest runs
as root, pincer runs in a mount namespace of its own (unshare -m) whose
/etc/hosts maps the test names below to 127.0.0.1, 169.254.169.254 and
10.0.0.1, so that a name can reach a local upstream. The sandbox never sees
that file (its DNS is the gate's). Without root those tests skip.
"""
import json
import os
import signal
import socket
import subprocess
import textwrap
import time
from types import SimpleNamespace

import pytest

import upstreams as up
from conftest import IS_ROOT, PINCER

LOCAL_NAMES = ["a.example.test", "b.example.test", "x.y.example.test", "example.test",
               "api.test", "tls.example.test", "web.test"]
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
    """The upstreams, shared by every test of this file."""
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
    s = SimpleNamespace(web=up.HttpUpstream("web"), other=up.HttpUpstream("other"),
                        tls=up.HttpUpstream("tls", up.tls_context(cert, key)),
                        git=up.GitUpstream(d / "git"), git_repo=d / "git" / "repo.git",
                        echo=up.TcpEcho(), udp=up.UdpSink(), ca=ca.read_text(), hosts=hosts)
    yield s
    for u in (s.web, s.other, s.tls, s.git, s.echo, s.udp):
        u.stop()


class Gate:
    """One identity's pincer runs against the shared upstreams."""

    def __init__(self, ident, ups):
        self.ident, self.ups = ident, ups
        self.web, self.other = ups.web.port, ups.other.port
        self.tls, self.echo, self.git = ups.tls.port, ups.echo.port, ups.git.port
        ident.write("proj/ca.pem", ups.ca)
        ident.write("proj/gatelib.py", CLIENT_LIB)
        for u in (ups.web, ups.other, ups.tls, ups.git, ups.echo):
            u.clear()
        ups.udp.received()

    def policy(self, egress, name="policy.yaml"):
        """A policy granting the project folder, with `egress` (YAML, the
        body of network.egress; {web}, {other}, {tls}, {echo} are ports)."""
        body = textwrap.dedent(egress).format(web=self.web, other=self.other, tls=self.tls,
                                              echo=self.echo, git=self.git)
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


# ---- allowed and denied hosts ----------------------------------------------

def test_allowed_host_through_the_proxy(gate):
    pol = gate.policy(LOCAL)
    r = gate.run(pol, sh(
        f"{CURL} -x http://127.0.0.1:3128 --noproxy '' http://127.0.0.1:{gate.web}/via-x; "
        f"{CURL} -x http://127.0.0.1:3128 --noproxy '' -d hello "
        f"http://127.0.0.1:{gate.web}/echo; echo; "
        f"{CURL} -x http://127.0.0.1:3128 --noproxy '' http://127.0.0.1:{gate.web}/chunked"))
    assert r.returncode == 0, r.stderr
    assert lines(r) == ["web GET /via-x", "hello", "chunk-one chunk-two"]
    seen = gate.ups.web.requests
    assert [(q.method, q.path) for q in seen] == [
        ("GET", "/via-x"), ("POST", "/echo"), ("GET", "/chunked")]
    assert seen[0].headers["Host"] == f"127.0.0.1:{gate.web}"
    assert seen[1].body == b"hello"
    assert not any(k.lower().startswith("proxy-") for k in seen[0].headers), seen[0].headers
    rec = gate.one(decision="allow", path="/via-x")
    assert rec["proto"] == "http" and rec["method"] == "GET"
    assert rec["host"] == "127.0.0.1" and rec["port"] == gate.web
    assert rec["rule"] == rule_at(pol, "host: 127.0.0.1")
    assert rec["addr"] == f"127.0.0.1:{gate.web}"
    closed = gate.one(decision="-", conn=rec["conn"])
    assert closed["bytes_up"] > 0 and closed["bytes_down"] > 0 and "duration_ms" in closed
    assert "the gate denied" not in r.stderr


def test_allowed_names_through_the_proxy_variables(gate):
    need_names()
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: web.test
            ports: [{web}]
          - host: tls.example.test
            ports: [{tls}]
        """)
    r = gate.run(pol, sh(
        f"{CURL} http://web.test:{gate.web}/curl-env; "
        f"{CURL} --cacert ca.pem https://tls.example.test:{gate.tls}/curl-connect; "
        "/usr/bin/python3 -c \"import urllib.request as u; "
        f"print(u.urlopen('http://web.test:{gate.web}/urllib').read().decode(), end='')\""))
    assert r.returncode == 0, r.stderr
    assert lines(r) == ["web GET /curl-env", "tls GET /curl-connect", "web GET /urllib"]
    assert gate.ups.web.paths() == ["/curl-env", "/urllib"]
    assert gate.ups.tls.paths() == ["/curl-connect"]
    assert gate.one(decision="allow", path="/curl-env")["proto"] == "http"
    assert gate.one(decision="allow", path="/urllib")["rule"] == rule_at(pol, "host: web.test")
    tunnel = gate.one(decision="allow", proto="connect")
    assert tunnel["host"] == "tls.example.test" and tunnel["port"] == gate.tls
    assert tunnel["rule"] == rule_at(pol, "host: tls.example.test")
    closed = gate.one(decision="-", conn=tunnel["conn"])
    assert closed["bytes_up"] > 200 and closed["bytes_down"] > 500, closed  # a TLS session


def test_other_host_is_denied_with_403_and_a_record(gate):
    pol = gate.policy(LOCAL)
    r = gate.run(pol, sh(
        f"{CURL} -i http://denied.example.org/secret?q=1; echo; "
        f"{CURL} https://denied.example.org/; echo curl=$?"))
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition("\n\n")  # text mode: \r\n read as \n
    assert head.startswith("HTTP/1.1 403 Forbidden"), r.stdout
    assert "X-Pincer-Denied: denied.example.org:80 is not allowed by the policy" in head
    assert "Connection: close" in head
    assert body.startswith("pincer: denied.example.org:80 is not allowed by the policy")
    assert "curl=56" in r.stdout and "CONNECT tunnel failed, response 403" in r.stderr
    plain = gate.one(decision="deny", host="denied.example.org", port=80)
    assert plain["proto"] == "http" and plain["method"] == "GET"
    assert plain["path"] == "/secret?q=1"
    assert plain["rule"] == "no rule allows it" and plain["why"] == "not-allowed"
    assert "not in allowlist" in plain["reason"]
    tunnel = gate.one(decision="deny", host="denied.example.org", port=443)
    assert tunnel["proto"] == "connect" and tunnel["why"] == "not-allowed"
    assert tunnel["rule"] == "no rule allows it"
    assert "addr" not in plain and "addr" not in tunnel, "a denied name is never resolved"


def test_wildcard_admits_subdomains_only(gate):
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: "*.example.test"
            ports: [{web}]
        """)
    denied = ["example.test", "evilexample.test", "a.example.test.evil.org", "a.example.testx",
              "example.test.evil.org"]
    allowed = ["a.example.test", "x.y.example.test", "B.Example.TEST"] if IS_ROOT else []
    hosts = allowed + denied
    r = gate.run(pol, sh("".join(
        f"{CURL} -o /dev/null -w '%{{http_code}}\\n' http://{h}:{gate.web}/w{i}; "
        for i, h in enumerate(hosts))))
    assert r.returncode == 0, r.stderr
    codes = dict(zip(hosts, lines(r)))
    assert codes == {h: "200" if h in allowed else "403" for h in hosts}, codes
    assert sorted(gate.ups.web.paths()) == sorted(f"/w{i}" for i in range(len(allowed)))
    for i, h in enumerate(hosts):
        if h in allowed:
            rec = gate.one(decision="allow", path=f"/w{i}")
            assert rec["rule"] == rule_at(pol, "*.example.test"), rec
        else:
            rec = gate.one(decision="deny", path=f"/w{i}")
            assert rec["host"] == h and rec["why"] == "not-allowed", rec
            assert rec["rule"] == "no rule allows it", rec


def test_port_rules(gate):
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: 127.0.0.1
            ports: [{web}]
        """)
    r = gate.run(pol, sh(
        "for p in %d %d; do %s -o /dev/null -w \"$p %%{http_code}\\n\" -x http://127.0.0.1:3128 "
        "--noproxy '' http://127.0.0.1:$p/port; done" % (gate.web, gate.other, CURL)))
    assert r.returncode == 0, r.stderr
    assert lines(r) == [f"{gate.web} 200", f"{gate.other} 403"]
    assert gate.ups.web.paths() == ["/port"] and gate.ups.other.requests == []
    rec = gate.one(decision="deny", port=gate.other)
    assert rec["why"] == "not-allowed" and rec["rule"] == "no rule allows it"
    assert f"allows it on port {gate.web} only" in rec["reason"], rec


def test_deny_rule_wins_over_allow(gate):
    need_names()
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: "*.example.test"
            ports: [{web}, {other}]
        deny:
          - host: b.example.test
          - host: a.example.test
            ports: [{other}]
        """)
    r = gate.run(pol, sh("".join(
        f"{CURL} -o /dev/null -w '{h} {p} %{{http_code}}\\n' http://{h}:{p}/d; "
        for h in ("a.example.test", "b.example.test") for p in (gate.web, gate.other))))
    assert r.returncode == 0, r.stderr
    assert lines(r) == [f"a.example.test {gate.web} 200", f"a.example.test {gate.other} 403",
                        f"b.example.test {gate.web} 403", f"b.example.test {gate.other} 403"]
    assert gate.ups.web.paths() == ["/d"] and gate.ups.other.requests == []
    b = gate.egress(decision="deny", host="b.example.test")
    assert len(b) == 2 and all(x["why"] == "deny-rule" for x in b), b
    assert all(x["rule"] == rule_at(pol, "host: b.example.test") for x in b)
    a = gate.one(decision="deny", host="a.example.test")
    assert a["port"] == gate.other and a["why"] == "deny-rule"
    assert a["rule"] == rule_at(pol, "host: a.example.test")


def test_deny_rule_naming_an_address_applies_to_names_resolving_to_it(gate):
    need_names()
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: web.test
            ports: [{web}]
        deny:
          - host: 127.0.0.1
            ports: [{web}]
        """)
    r = gate.run(pol, sh(f"{CURL} -o /dev/null -w '%{{http_code}}\\n' http://web.test:{gate.web}/"
                         f"; {CURL} -o /dev/null -w '%{{http_code}}\\n' --noproxy '*' "
                         f"http://web.test:{gate.web}/"))
    assert lines(r) == ["403", "403"], r.stdout + r.stderr
    assert gate.ups.web.requests == []
    recs = gate.egress(decision="deny")
    assert len(recs) == 2 and all(x["why"] == "deny-rule" for x in recs), gate.log()
    assert all(x["rule"] == rule_at(pol, "host: 127.0.0.1") for x in recs), gate.log()
    assert "resolves to an address a deny rule names" in recs[0]["reason"], recs[0]


@pytest.mark.xfail(reason="gate bug: on a kept-alive connection the next request to the same "
                   "host reuses the open upstream without the deny-rule-by-address check, so "
                   "a deny rule naming the address with methods/paths is skipped", strict=True)
def test_address_deny_rule_with_methods_holds_on_a_kept_alive_connection(gate):
    need_names()
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: web.test
            ports: [{web}]
        deny:
          - host: 127.0.0.1
            ports: [{web}]
            methods: [POST]
        """)
    r = gate.run(pol, py(f"""
        def req(method, path, close=False):
            hp = "web.test:{gate.web}"
            return (f"{{method}} http://{{hp}}{{path}} HTTP/1.1\\r\\nHost: {{hp}}\\r\\n"
                    "Content-Length: 0\\r\\n\\r\\n").encode()
        # a fresh connection: the POST is denied
        out(status(raw("127.0.0.1", 3128, req("POST", "/fresh-post"), shut=True)))
        s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
        f = s.makefile("rb")
        s.sendall(req("GET", "/get"))
        out(read_answer(f))
        s.sendall(req("POST", "/kept-post"))
        out(read_answer(f))
        """))
    got = results(r)
    assert got[1] == [["200", "web GET /get\n"]], got
    assert got[2][0][0] == "403", (got, gate.log())
    assert [q.path for q in gate.ups.web.requests] == ["/get"], gate.log()
    assert gate.one(path="/kept-post")["why"] == "deny-rule"


def test_method_and_path_rules_on_plain_http(gate):
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: 127.0.0.1
            ports: [{web}]
            methods: [GET]
            paths: ["/api/**"]
        """)
    r = gate.run(pol, py(f"""
        for via in (True, False):
            for m, p in [("GET", "/api/v1/items"), ("POST", "/api/v1/items"),
                         ("GET", "/other"), ("GET", "/api/../admin"),
                         ("GET", "/api/%2e%2e/admin"), ("GET", "//api/x")]:
                target = ("http://127.0.0.1:{gate.web}" if via else "") + p
                req = (f"{{m}} {{target}} HTTP/1.1\\r\\nHost: 127.0.0.1:{gate.web}\\r\\n"
                       "Content-Length: 0\\r\\nConnection: close\\r\\n\\r\\n")
                resp = raw("127.0.0.1", 3128 if via else {gate.web}, req.encode())
                out(via, m, p, status(resp))
        """))
    got = {(via, m, p): code for via, m, p, code in results(r)}
    for via in (True, False):
        assert got[(via, "GET", "/api/v1/items")] == 200, got
        for m, p in [("POST", "/api/v1/items"), ("GET", "/other"), ("GET", "/api/../admin"),
                     ("GET", "/api/%2e%2e/admin"), ("GET", "//api/x")]:
            assert got[(via, m, p)] == 403, (via, m, p, got)
    assert gate.ups.web.paths() == ["/api/v1/items", "/api/v1/items"]
    at = rule_at(pol, "host: 127.0.0.1")
    for proto in ("http", "capture-http"):
        post = gate.one(decision="deny", method="POST", proto=proto)
        assert post["rule"] == at and post["why"] == "not-allowed"
        assert "allows only GET on /api/" in post["reason"], post
        other = gate.one(decision="deny", path="/other", proto=proto)
        assert other["rule"] == at
        dots = gate.one(decision="deny", path="/api/../admin", proto=proto)
        assert "dot segments" in dots["reason"], dots
    assert len(gate.egress(decision="deny")) == 10


def test_connect_cannot_satisfy_method_or_path_rules(gate):
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: 127.0.0.1
            ports: [{tls}]
            access: read-only
        """)
    r = gate.run(pol, sh(
        f"{CURL} -x http://127.0.0.1:3128 --noproxy '' --cacert ca.pem "
        f"https://127.0.0.1:{gate.tls}/ro; echo curl=$?"))
    assert "curl=56" in r.stdout, r.stdout + r.stderr
    assert gate.ups.tls.requests == []
    rec = gate.one(decision="deny", proto="connect")
    assert rec["rule"] == rule_at(pol, "host: 127.0.0.1") and rec["why"] == "not-allowed"
    assert "cannot be checked inside an encrypted tunnel" in rec["reason"], rec


def test_git_may_clone_but_not_push(gate):
    # Through the proxy by name when names resolve, else captured by address.
    host = "web.test" if IS_ROOT else "127.0.0.1"
    pol = gate.policy(f"""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: {host}
            ports: [{{git}}]
            methods: [GET, POST]
            paths: ["/repo.git/info/refs", "/repo.git/git-upload-pack"]
        """)
    before = subprocess.run(["git", "-C", str(gate.ups.git_repo), "rev-parse", "main"],
                            capture_output=True, text=True, check=True).stdout
    r = gate.run(pol, sh(
        f"git clone -q http://{host}:{gate.git}/repo.git clone && cd clone && "
        "git log --format=%s && echo more > f && git add f && "
        "git -c user.name=a -c user.email=a@a commit -qm second && "
        "git push -q origin main; echo push=$?"))
    out = lines(r)
    assert out[0] == "first", r.stdout + r.stderr
    assert out[-1] == "push=1", r.stdout + r.stderr
    assert "403" in r.stderr, r.stderr
    after = subprocess.run(["git", "-C", str(gate.ups.git_repo), "rev-parse", "main"],
                           capture_output=True, text=True, check=True).stdout
    assert after == before, "the push did not land"
    seen = [(q.method, q.path.split("?")[0]) for q in gate.ups.git.requests]
    assert ("POST", "/repo.git/git-upload-pack") in seen
    assert ("POST", "/repo.git/git-receive-pack") not in seen, seen
    proto = "http" if IS_ROOT else "capture-http"
    assert gate.egress(decision="allow", method="POST", path="/repo.git/git-upload-pack",
                       proto=proto), gate.log()
    push = gate.one(decision="deny", method="POST", path="/repo.git/git-receive-pack")
    assert push["rule"] == rule_at(pol, f"host: {host}") and push["why"] == "not-allowed"


# ---- private addresses -----------------------------------------------------

def test_private_addresses_are_blocked_without_allow_private(gate):
    # The very upstreams the other tests reach, without allow_private.
    pol = gate.policy("""\
        allow:
          - host: 127.0.0.1
            ports: [{web}, {tls}]
          - host: localhost
            ports: [{web}]
        """)
    r = gate.run(pol, sh(
        f"{CURL} -i -x http://127.0.0.1:3128 --noproxy '' http://127.0.0.1:{gate.web}/p1; echo; "
        f"{CURL} -o /dev/null -w '%{{http_code}}\\n' http://127.0.0.1:{gate.web}/p2; "
        f"{CURL} -o /dev/null -w '%{{http_code}}\\n' -x http://127.0.0.1:3128 --noproxy '' "
        f"http://localhost:{gate.web}/p3; "
        f"{CURL} -x http://127.0.0.1:3128 --noproxy '' -k https://127.0.0.1:{gate.tls}/; "
        "echo curl=$?"))
    assert "HTTP/1.1 403 Forbidden" in r.stdout, r.stdout + r.stderr
    denied = [x for x in r.stdout.splitlines() if x.startswith("X-Pincer-Denied:")]
    assert denied and "private address" in denied[0], r.stdout
    assert lines(r)[-3:] == ["403", "403", "curl=56"], r.stdout
    assert gate.ups.web.requests == [] and gate.ups.tls.requests == []
    denied = gate.egress(decision="deny", why="private-address")
    assert {(x["host"], x.get("path")) for x in denied} == {
        ("127.0.0.1", "/p1"), ("127.0.0.1", "/p2"), ("localhost", "/p3"), ("127.0.0.1", None)}
    loc = gate.one(decision="deny", host="localhost")
    assert "127.0.0.1" in loc["reason"] and "private" in loc["reason"], loc
    assert "addr" not in loc or loc["addr"].startswith("127.0.0.1")
    assert not gate.egress(decision="allow", addr=f"127.0.0.1:{gate.web}")


def test_metadata_address_is_blocked_even_when_a_rule_names_it(gate):
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: 169.254.169.254
          - host: metadata.test
          - host: intranet.test
        """)
    script = (f"{CURL} -o /dev/null -w '%{{http_code}}\\n' -x http://127.0.0.1:3128 --noproxy '' "
              "http://169.254.169.254/latest/meta-data/; "
              f"{CURL} -o /dev/null -w '%{{http_code}}\\n' --noproxy '*' "
              "http://169.254.169.254/computeMetadata/v1/; ")
    if IS_ROOT:
        script += (f"{CURL} -o /dev/null -w '%{{http_code}}\\n' http://metadata.test/; "
                   f"{CURL} -o /dev/null -w '%{{http_code}}\\n' http://intranet.test/; ")
    r = gate.run(pol, sh(script))
    assert r.returncode == 0, r.stderr
    assert set(lines(r)) == {"403"}, r.stdout
    meta = gate.egress(decision="deny", host="169.254.169.254")
    assert {x["proto"] for x in meta} == {"http", "capture-http"}, meta
    assert all(x["why"] == "private-address" for x in meta)
    assert not gate.egress(decision="allow")
    if IS_ROOT:
        m = gate.one(decision="deny", host="metadata.test")
        assert m["why"] == "private-address" and "169.254.169.254" in m["reason"], m
        i = gate.one(decision="deny", host="intranet.test")
        assert i["why"] == "private-address" and "10.0.0.1" in i["reason"], i


def test_unspecified_and_mapped_addresses_are_private_too(gate):
    # 0.0.0.0 and :: reach the host's own loopback; ::ffff:a.b.c.d is IPv4.
    # Admitting 127.0.0.1/32 admits none of them.
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: 169.254.169.254
          - host: 0.0.0.0
            ports: [{web}]
          - host: "::"
            ports: [{web}]
          - host: "*.example.test"
            ports: [{web}, 80]
        """)
    w = gate.web
    urls = ["http://[::ffff:169.254.169.254]/", "http://[::ffff:a9fe:a9fe]/",
            f"http://0.0.0.0:{w}/", f"http://0:{w}/", f"http://[::]:{w}/"]
    if IS_ROOT:
        urls += [f"http://zero.example.test:{w}/", f"http://unspec.example.test:{w}/",
                 "http://mapped.example.test/"]
    r = gate.run(pol, sh("".join(
        f"{CURL} -o /dev/null -w '%{{http_code}}\\n' -x http://127.0.0.1:3128 --noproxy '' "
        f"'{u}'; " for u in urls)))
    assert lines(r) == ["403"] * len(urls), r.stdout + r.stderr
    assert gate.ups.web.requests == []
    recs = gate.egress(decision="deny")
    assert len(recs) == len(urls) and all(x["why"] == "private-address" for x in recs), \
        gate.log()
    assert not gate.egress(decision="allow")


def test_other_spellings_of_an_address_do_not_dodge_the_rules(gate):
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: example.test
            ports: [{web}]
        deny:
          - host: 127.0.0.1
            ports: [{other}]
        """)
    spellings = ["2130706433", "0x7f.0.0.1", "127.1", "0177.0.0.1", "[::ffff:127.0.0.1]"]
    r = gate.run(pol, py(f"""
        for h in {spellings!r}:
            for port in ({gate.web}, {gate.other}):
                out(h, port, status(get(h, port, "/spelled")))
        """))
    for h, port, code in results(r):
        assert code == 403, (h, port, code)
    assert gate.ups.web.requests == [] and gate.ups.other.requests == []
    # every spelling is read as 127.0.0.1, so the deny rule matches on the
    # other port and no rule admits the web port
    assert len(gate.egress(decision="deny", why="deny-rule", port=gate.other)) == len(spellings)
    assert len(gate.egress(decision="deny", why="not-allowed", port=gate.web)) == len(spellings)


def test_request_target_tricks(gate):
    pol = gate.policy(LOCAL + "  - host: \"::1\"\n    ports: [{web}]\n")
    w = gate.web
    r = gate.run(pol, py(f"""
        def ask(target, host):
            resp = raw("127.0.0.1", 3128, f"GET {{target}} HTTP/1.1\\r\\nHost: {{host}}\\r\\n"
                       "Connection: close\\r\\n\\r\\n".encode())
            return [status(resp), body(resp)]
        out("userinfo", ask("http://127.0.0.1:{w}@denied.example.org/ui", "denied.example.org"))
        out("host-header", ask("http://denied.example.org/h1", "127.0.0.1:{w}"))
        out("url-wins", ask("http://127.0.0.1:{w}/h2", "denied.example.org"))
        out("v6-loopback", ask("http://[::1]:{w}/v6", "[::1]:{w}"))
        # captured: an address in the synthetic range the DNS never gave out
        out("unknown-synthetic", raw("198.18.255.200", 80, b"GET / HTTP/1.1\\r\\n\\r\\n"))
        # CONNECT is for the proxy port, not for a captured connection
        resp = raw("127.0.0.1", {w}, b"CONNECT denied.example.org:443 HTTP/1.1\\r\\n"
                   b"Host: denied.example.org:443\\r\\n\\r\\n")
        out("connect-captured", [status(resp), header(resp, "X-Pincer-Denied")])
        # SOCKS5 offering only username/password: no acceptable method
        out("socks-auth", raw("127.0.0.1", 3128, bytes([5, 1, 2])).encode("latin-1").hex())
        """))
    got = {k: v for k, v in results(r)}
    assert got["userinfo"][0] == 400 and "userinfo" in got["userinfo"][1], got
    assert got["host-header"][0] == 403, got
    assert got["url-wins"] == [200, "web GET /h2\n"], got
    assert got["v6-loopback"][0] == 403, got
    # closed unanswered (a reset when the request was still unread)
    assert got["unknown-synthetic"] in ("", "<recv:Connection reset by peer>"), got
    seen = gate.ups.web.requests
    assert [q.path for q in seen] == ["/h2"], seen
    # a proxy takes the host from the request target, not from Host
    assert seen[0].headers["Host"] == f"127.0.0.1:{w}", seen[0].headers
    ui = gate.one(decision="deny", why="bad-request", proto="http")
    assert "userinfo" in ui["reason"], ui
    h1 = gate.one(path="/h1")
    assert h1["decision"] == "deny" and h1["host"] == "denied.example.org", h1
    v6 = gate.one(path="/v6")
    assert v6["decision"] == "deny" and v6["why"] == "private-address", v6
    assert got["connect-captured"] == [400, "CONNECT is for the proxy port"], got
    assert got["socks-auth"] == "05ff", got
    cc = gate.one(decision="deny", method="CONNECT", proto="capture-http")
    assert cc["why"] == "bad-request", cc
    sa = gate.one(decision="deny", proto="socks5")
    assert sa["why"] == "bad-request" and "no method" in sa["reason"], sa
    syn = gate.one(decision="deny", proto="capture-raw")
    assert syn["why"] == "bad-request" and "synthetic address" in syn["reason"], syn


# ---- SOCKS5 ----------------------------------------------------------------

def test_socks5_allowed_and_denied(gate):
    pol = gate.policy(LOCAL)
    hostname = "a.example.test" if IS_ROOT else "127.0.0.1"
    if IS_ROOT:
        pol = gate.policy(LOCAL + "  - host: a.example.test\n    ports: [{web}]\n")
    r = gate.run(pol, sh(
        f"{CURL} --noproxy '' --socks5-hostname 127.0.0.1:3128 http://{hostname}:{gate.web}/s5h; "
        f"{CURL} --noproxy '' --socks5 127.0.0.1:3128 http://{hostname}:{gate.web}/s5; "
        f"{CURL} --noproxy '' --socks5-hostname 127.0.0.1:3128 http://denied.example.org/; "
        "echo curl=$?; "
        f"{CURL} --noproxy '' --socks5 127.0.0.1:3128 http://127.0.0.1:{gate.other}/; "
        "echo curl=$?; "
        # a raw client: the reply code says "not allowed by ruleset"
        "/usr/bin/python3 -c \"from gatelib import *; import struct; "
        "r = raw('127.0.0.1', 3128, b'\\x05\\x01\\x00' + b'\\x05\\x01\\x00\\x03' + "
        "bytes([len(b'x.denied.org')]) + b'x.denied.org' + struct.pack('>H', 443)); "
        "print('reply', r[:2].encode('latin-1').hex(), r[2:4].encode('latin-1').hex())\""))
    out = lines(r)
    assert out[:2] == ["web GET /s5h", "web GET /s5"], r.stdout + r.stderr
    assert out[2:4] == ["curl=97", "curl=97"], r.stdout + r.stderr
    assert out[4] == "reply 0500 0502", out
    assert gate.ups.web.paths() == ["/s5h", "/s5"] and gate.ups.other.requests == []
    # --socks5 resolves in the sandbox: a synthetic address, mapped back
    allowed = gate.egress(decision="allow", proto="socks5")
    assert [x["host"] for x in allowed] == [hostname, hostname], gate.log()
    assert all(x["port"] == gate.web for x in allowed)
    for host, port in (("denied.example.org", 80), ("127.0.0.1", gate.other),
                       ("x.denied.org", 443)):
        rec = gate.one(decision="deny", host=host, port=port)
        assert rec["proto"] == "socks5" and rec["why"] == "not-allowed", rec
        assert rec["rule"] == "no rule allows it"


# ---- capture: programs that ignore the proxy variables ---------------------

def test_capture_of_programs_that_ignore_the_proxy(gate):
    extra = "  - host: a.example.test\n    ports: [{web}]\n" if IS_ROOT else ""
    pol = gate.policy(LOCAL + extra)
    name = "a.example.test" if IS_ROOT else "127.0.0.1"
    r = gate.run(pol, sh(
        f"{CURL} --noproxy '*' http://127.0.0.1:{gate.web}/curl-ip; "
        f"{CURL} --noproxy '*' http://{name}:{gate.web}/curl-name; "
        f"{CURL} --noproxy '*' -o /dev/null -w '%{{http_code}}\\n' "
        f"http://denied.example.org:{gate.web}/no; "
        f"node -e \"fetch('http://{name}:{gate.web}/node').then(r => r.text())"
        ".then(t => process.stdout.write(t), e => console.log('node error', e.cause || e))\"; "
        f"/usr/bin/python3 -c \"from gatelib import *; "
        f"print(body(get('{name}', {gate.web}, '/py-raw', via_proxy=False)), end=''); "
        f"print(repr(raw('127.0.0.1', {gate.echo}, b'1 ping' + bytes([10]), shut=True)))\"; "
        "getent hosts denied.example.org"))
    out = lines(r)
    assert out[:2] == ["web GET /curl-ip", "web GET /curl-name"], r.stdout + r.stderr
    assert out[2] == "403", out
    assert out[3:6] == ["web GET /node", "web GET /py-raw", "'echo:1 ping\\n'"], out
    # the sandbox's DNS gives every name a synthetic address, denied or not
    assert out[6].split()[0].startswith("198.18."), out
    assert gate.ups.web.paths() == ["/curl-ip", "/curl-name", "/node", "/py-raw"]
    assert gate.ups.echo.lines == [b"1 ping\n"]
    for path in ("/curl-ip", "/curl-name", "/node", "/py-raw"):
        rec = gate.one(decision="allow", path=path)
        assert rec["proto"] == "capture-http" and rec["host"] == (
            "127.0.0.1" if path == "/curl-ip" else name), rec
    if IS_ROOT:
        assert gate.one(decision="allow", path="/node")["dns_name"] == "a.example.test"
    raw_rec = gate.one(decision="allow", proto="capture-raw")
    assert raw_rec["port"] == gate.echo and raw_rec["rule"] == rule_at(pol, "host: 127.0.0.1")
    assert gate.one(decision="-", conn=raw_rec["conn"])["bytes_up"] == 7
    no = gate.one(decision="deny", host="denied.example.org")
    assert no["proto"] == "capture-http" and no["why"] == "not-allowed"
    assert no["dns_name"] == "denied.example.org" and no["path"] == "/no"


def test_capture_denies_raw_connections_to_unlisted_destinations(gate):
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: 127.0.0.1
            ports: [{web}]
          - host: allowed.example.org
            ports: [{echo}]
        """)
    # The echo port is captured (a rule names it) but 127.0.0.1 may not use it.
    r = gate.run(pol, py(f"""
        out("ip", raw("127.0.0.1", {gate.echo}, b"1 secret\\n"))
        out("name", raw("exfil.example.org", {gate.echo}, b"2 secret\\n"))
        """))
    got = dict(results(r))
    assert got["ip"] == "" and got["name"] == "", got
    assert gate.ups.echo.lines == []
    ip = gate.one(decision="deny", host="127.0.0.1", port=gate.echo)
    assert ip["proto"] == "capture-raw" and ip["why"] == "not-allowed", ip
    name = gate.one(decision="deny", host="exfil.example.org")
    assert name["proto"] == "capture-raw" and name["dns_name"] == "exfil.example.org"


def test_tls_capture_by_sni(gate):
    lines_pol = LOCAL + "  - host: localhost\n    ports: [{tls}]\n"
    if IS_ROOT:
        lines_pol += "  - host: tls.example.test\n    ports: [{tls}]\n"
    pol = gate.policy(lines_pol)
    script = (f"{CURL} --noproxy '*' --cacert ca.pem https://localhost:{gate.tls}/sni-local; "
              f"{CURL} --noproxy '*' --cacert ca.pem https://denied.example.org:{gate.tls}/; "
              "echo curl=$?; "
              # an IP literal: no SNI at all, the address is what is checked
              f"{CURL} --noproxy '*' --cacert ca.pem https://127.0.0.1:{gate.tls}/no-sni; "
              # an allowed address with a denied name in SNI: the name is checked
              f"{CURL} --noproxy '*' -k --resolve denied.example.org:{gate.tls}:127.0.0.1 "
              f"https://denied.example.org:{gate.tls}/fronted; echo curl=$?; ")
    if IS_ROOT:
        script += (
            f"{CURL} --noproxy '*' --cacert ca.pem https://tls.example.test:{gate.tls}/sni-dns; "
            # dialled by address, named by SNI: the name is what is checked
            f"{CURL} --noproxy '*' --cacert ca.pem --resolve tls.example.test:{gate.tls}:127.0.0.1 "
            f"https://tls.example.test:{gate.tls}/sni-resolve; "
            # the address given out for one name, with another name in SNI
            "addr=$(getent hosts a.example.test | cut -d' ' -f1); "
            f"{CURL} --noproxy '*' --cacert ca.pem --resolve tls.example.test:{gate.tls}:$addr "
            f"https://tls.example.test:{gate.tls}/; echo curl=$?; ")
    r = gate.run(pol, sh(script))
    out = lines(r)
    assert out[:4] == ["tls GET /sni-local", "curl=35", "tls GET /no-sni", "curl=35"], \
        r.stdout + r.stderr
    paths = ["/sni-local", "/no-sni"]
    if IS_ROOT:
        assert out[4:7] == ["tls GET /sni-dns", "tls GET /sni-resolve", "curl=35"], out
        paths += ["/sni-dns", "/sni-resolve"]
        mismatch = gate.one(decision="deny", proto="capture-tls", why="bad-request")
        assert "TLS names tls.example.test" in mismatch["reason"], mismatch
        assert "a.example.test" in mismatch["reason"]
        via_dns = gate.egress(decision="allow", host="tls.example.test", proto="capture-tls")
        assert len(via_dns) == 2, via_dns
    assert gate.ups.tls.paths() == paths
    local = gate.one(decision="allow", host="localhost", proto="capture-tls")
    assert local["rule"] == rule_at(pol, "host: localhost")
    no = gate.egress(decision="deny", host="denied.example.org")
    assert len(no) == 2, gate.log()
    assert all(x["proto"] == "capture-tls" and x["why"] == "not-allowed" for x in no), no
    ip = gate.one(decision="allow", host="127.0.0.1", proto="capture-tls")
    assert ip["rule"] == rule_at(pol, "host: 127.0.0.1")


def test_captured_request_must_not_change_its_name(gate):
    need_names()
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: a.example.test
            ports: [{web}]
          - host: b.example.test
            ports: [{web}]
        """)
    # Connect to the address given out for a denied name, claim an allowed one.
    r = gate.run(pol, py(f"""
        out(status(get("evil.example.org", {gate.web}, "/sneak", via_proxy=False,
                       host="a.example.test")))
        out(status(get("b.example.test", {gate.web}, "/sneak2", via_proxy=False,
                       host="a.example.test")))
        """))
    assert results(r) == [[400], [400]], r.stdout
    assert gate.ups.web.requests == []
    recs = gate.egress(decision="deny")
    assert len(recs) == 2 and all(x["proto"] == "capture-http" for x in recs), recs
    assert "b.example.test" in recs[1]["reason"] and recs[1]["why"] == "bad-request"


# ---- UDP ---------------------------------------------------------------------

def test_udp_goes_nowhere_but_the_dns_responder(gate):
    pol = gate.policy(LOCAL)
    r = gate.run(pol, py(f"""
        import struct
        query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + \\
            b"".join(bytes([len(p)]) + p for p in b"leak.example.org".split(b".")) + \\
            b"\\0" + struct.pack(">HH", 1, 1)
        def probe(host, port, data):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(1)
            try:
                s.connect((host, port))
                s.send(data)
                return s.recv(512).hex()
            except socket.timeout:
                return "silence"
            except OSError as e:
                return e.strerror
        for host, port in (("8.8.8.8", 53), ("127.0.0.1", {gate.ups.udp.port}),
                           ("169.254.169.254", 53), ("127.0.0.1", 53)):
            out(host, port, probe(host, port, query))
        """))
    got = {(h, p): v for h, p, v in results(r)}
    for dest in (("8.8.8.8", 53), ("127.0.0.1", gate.ups.udp.port), ("169.254.169.254", 53)):
        assert got[dest] in ("silence", "Connection refused"), (dest, got)
    answer = bytes.fromhex(got[("127.0.0.1", 53)])
    assert answer[:2] == b"\x12\x34" and answer[-4:-2] == bytes([198, 18]), answer.hex()
    assert gate.ups.udp.received() == [], "a datagram reached the host"
    assert not gate.egress(decision="allow")


# ---- load and failures -------------------------------------------------------

def test_100_parallel_clients(gate):
    pol = gate.policy(LOCAL)
    r = gate.run(pol, py(f"""
        n = 100
        start = threading.Barrier(n)
        res = [None] * n
        def one(i):
            start.wait()
            try:
                res[i] = get("127.0.0.1", {gate.web}, f"/p/{{i}}", via_proxy=i % 2 == 0)
            except OSError as e:
                res[i] = str(e)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ts: t.start()
        for t in ts: t.join()
        for i, resp in enumerate(res):
            out(i, status(resp), resp.endswith(f"web GET /p/{{i}}\\n"))
        """), timeout=120)
    got = results(r)
    assert len(got) == 100
    bad = [x for x in got if x[1:] != [200, True]]
    assert not bad, bad
    assert sorted(gate.ups.web.paths()) == sorted(f"/p/{i}" for i in range(100))
    allowed = gate.egress(decision="allow")
    assert sorted(x["path"] for x in allowed) == sorted(f"/p/{i}" for i in range(100))
    assert sum(x["proto"] == "http" for x in allowed) == 50
    assert sum(x["proto"] == "capture-http" for x in allowed) == 50
    conns = {x["conn"] for x in allowed}
    assert len(conns) == 100
    closed = {x["conn"] for x in gate.egress(decision="-") if "bytes_down" in x}
    assert conns <= closed


def test_upstream_that_closes_early(gate):
    pol = gate.policy(LOCAL)
    proxy = "-x http://127.0.0.1:3128 --noproxy ''"
    r = gate.run(pol, sh(
        f"{CURL} {proxy} -o /dev/null http://127.0.0.1:{gate.web}/close-early; echo curl=$?; "
        f"{CURL} --noproxy '*' -o /dev/null http://127.0.0.1:{gate.web}/close-early; "
        "echo curl=$?; "
        f"{CURL} {proxy} http://127.0.0.1:{gate.web}/after"))
    # curl's error: 18 (transfer closed with data outstanding) when the head
    # and the first bytes reached it, 52 (empty reply) when they did not
    out = lines(r)
    assert out[0] in ("curl=18", "curl=52") and out[1] in ("curl=18", "curl=52"), r.stderr
    assert out[2] == "web GET /after", r.stdout + r.stderr
    for proto in ("http", "capture-http"):
        rec = gate.one(decision="allow", path="/close-early", proto=proto)
        cut = [x for x in gate.egress(decision="-", conn=rec["conn"])
               if x.get("why") == "upstream"]
        assert len(cut) == 1, gate.egress(conn=rec["conn"])
        assert "closed the connection in the middle of the response body" in cut[0]["reason"]
    assert gate.one(decision="allow", path="/after")


def test_upstream_that_refuses_the_connection(gate):
    # an allowed destination where nothing listens
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        dead = hole.getsockname()[1]
    pol = gate.policy(LOCAL + f"  - host: 127.0.0.1\n    ports: [{dead}]\n")
    proxy = "-x http://127.0.0.1:3128 --noproxy ''"
    r = gate.run(pol, sh(
        f"{CURL} -i {proxy} http://127.0.0.1:{dead}/x; echo; "
        f"{CURL} -o /dev/null -w '%{{http_code}}\\n' --noproxy '*' http://127.0.0.1:{dead}/y; "
        f"{CURL} {proxy} -k https://127.0.0.1:{dead}/; echo curl=$?; "
        f"{CURL} {proxy} http://127.0.0.1:{gate.web}/still"))
    out = r.stdout
    assert out.startswith("HTTP/1.1 502 Bad Gateway"), out + r.stderr
    assert "X-Pincer-Denied: upstream unreachable" in out, out
    assert lines(r)[-3:] == ["502", "curl=56", "web GET /still"], out + r.stderr
    failed = [x for x in gate.egress(port=dead) if x.get("why") == "upstream"]
    assert len(failed) == 3, gate.log()
    assert {x["proto"] for x in failed} == {"http", "capture-http", "connect"}, gate.log()
    assert all(x["decision"] == "-" for x in failed)


def test_client_that_disappears_mid_body(gate):
    pol = gate.policy(LOCAL)
    r = gate.run(pol, py(f"""
        for port, path in ((3128, "/upload"), ({gate.web}, "/upload-captured")):
            s = socket.create_connection(("127.0.0.1", port))
            target = f"http://127.0.0.1:{gate.web}{{path}}" if port == 3128 else path
            s.sendall(f"POST {{target}} HTTP/1.1\\r\\nHost: 127.0.0.1:{gate.web}\\r\\n"
                      "Content-Length: 100000\\r\\n\\r\\n".encode() + b"x" * 1000)
            s.close()  # gone, 99000 bytes short
        time.sleep(0.2)  # let the gate see both go (the test does not depend on it)
        out(body(get("127.0.0.1", {gate.web}, "/after")))
        """))
    assert results(r) == [["web GET /after\n"]], r.stdout + r.stderr
    # the upstream got the head and a cut body, then end of stream
    seen = wait_for(lambda: len(gate.ups.web.requests) == 3 and gate.ups.web.requests,
                    "the upstream to see three requests")
    byp = {q.path: q for q in seen}
    assert byp["/upload"].body is None and byp["/upload-captured"].body is None, seen
    assert byp["/after"].method == "GET"
    for path in ("/upload", "/upload-captured"):
        rec = gate.one(decision="allow", path=path, method="POST")
        closed = [x for x in gate.egress(conn=rec["conn"]) if x["decision"] == "-"]
        assert closed and closed[-1]["bytes_up"] >= 1000, closed


def test_bodies_stream_both_ways(gate):
    pol = gate.policy(LOCAL)
    r = gate.run(pol, sh(
        "head -c 4000000 /dev/urandom > big; sha256sum < big; "
        f"{CURL} -x http://127.0.0.1:3128 --noproxy '' --data-binary @big "
        f"http://127.0.0.1:{gate.web}/echo | sha256sum; "
        f"head -c 1500000 big | {CURL} --noproxy '*' -H 'Transfer-Encoding: chunked' "
        f"--data-binary @- http://127.0.0.1:{gate.web}/echo | sha256sum; "
        "head -c 1500000 big | sha256sum; rm big"))
    sums = [line.split()[0] for line in lines(r)]
    assert len(sums) == 4 and sums[0] == sums[1] and sums[2] == sums[3], r.stdout + r.stderr
    assert [len(q.body) for q in gate.ups.web.requests] == [4000000, 1500000]
    chunked = gate.ups.web.requests[1].headers
    assert chunked.get("Transfer-Encoding") == "chunked", "a chunked body stays chunked"
    for proto, n in (("http", 4000000), ("capture-http", 1500000)):
        rec = gate.one(decision="allow", proto=proto, path="/echo")
        closed = [x for x in gate.egress(conn=rec["conn"]) if "bytes_up" in x]
        assert closed[0]["bytes_up"] > n and closed[0]["bytes_down"] > n, closed


def test_ambiguous_upstream_response_is_refused(gate):
    # an upstream answering with both Content-Length and Transfer-Encoding
    # (a response desync): the agent gets a 502, not the body
    pol = gate.policy(LOCAL)
    r = gate.run(pol, sh(f"{CURL} -i -x http://127.0.0.1:3128 --noproxy '' "
                         f"http://127.0.0.1:{gate.web}/bad-response"))
    assert r.stdout.startswith("HTTP/1.1 502 Bad Gateway"), r.stdout + r.stderr
    assert "X-Pincer-Denied: malformed response from upstream" in r.stdout
    assert "hello" not in r.stdout
    rec = gate.one(decision="-", why="upstream", path="/bad-response")
    assert "both Content-Length and Transfer-Encoding" in rec["reason"], rec


# name: (request sent to the proxy port, expected status, text in X-Pincer-Denied)
MALFORMED = {
    "cl+te": (b"POST http://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n"
              b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
              400, "both Content-Length and Transfer-Encoding"),
    "two-cl": (b"POST http://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n"
               b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
               "more than one Content-Length"),
    "cl-list": (b"POST http://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n"
                b"Content-Length: 3, 3\r\n\r\nabc", 400, "Content-Length"),
    "cl-sign": (b"POST http://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n"
                b"Content-Length: +3\r\n\r\nabc", 400, "Content-Length"),
    "two-te": (b"POST http://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n"
               b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
               400, "Transfer-Encoding"),
    "te-gzip": (b"POST http://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n"
                b"Transfer-Encoding: gzip\r\n\r\nabc", (400, 501), ""),
    "big-head": (b"GET http://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n"
                 b"X-Big: " + b"a" * 70000 + b"\r\n\r\n", 431, "too large"),
    "space-before-colon": (b"GET http://127.0.0.1:{web}/m HTTP/1.1\r\nHost : x\r\n\r\n",
                           400, ""),
    "obs-fold": (b"GET http://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n"
                 b"X-A: a\r\n b\r\n\r\n", 400, "obs-fold"),
    "bare-lf": (b"GET http://127.0.0.1:{web}/m HTTP/1.1\nHost: 127.0.0.1:{web}\n\n", 400,
                "bare LF"),
    "nul": (b"GET http://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\nX: a\0b\r\n\r\n",
            400, "NUL"),
    "origin-form": (b"GET /m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n\r\n", 400, "proxy"),
    "https-absolute": (b"GET https://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n\r\n",
                       400, "CONNECT"),
    "ftp": (b"GET ftp://127.0.0.1:{web}/m HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n\r\n", 501, ""),
    "http2-preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, ""),
}


def test_malformed_framing_is_refused(gate):
    pol = gate.policy(LOCAL)
    cases = {k: v[0].replace(b"{web}", str(gate.web).encode()) for k, v in MALFORMED.items()}
    r = gate.run(pol, py(f"""
        for name, data in {cases!r}.items():
            resp = raw("127.0.0.1", 3128, data)
            out(name, status(resp), header(resp, "X-Pincer-Denied"))
        out("next", body(get("127.0.0.1", {gate.web}, "/next")), None)
        """))
    got = {name: (code, denied) for name, code, denied in results(r)}
    wrong = {}
    for name, (_, want, text) in MALFORMED.items():
        code, denied = got[name]
        if code not in (want if isinstance(want, tuple) else (want,)) or text not in (denied or ""):
            wrong[name] = got[name]
    assert not wrong, wrong
    assert got["next"][0] == "web GET /next\n", "the gate still serves"
    assert gate.ups.web.paths() == ["/next"], "nothing of the bad requests went upstream"
    # one deny record each, in order, saying what was wrong
    recs = gate.egress(decision="deny")
    assert len(recs) == len(MALFORMED), gate.log()
    for rec, (name, (_, _, text)) in zip(recs, MALFORMED.items()):
        assert rec["why"] == "bad-request" and rec["proto"] == "http", (name, rec)
        assert text in rec["reason"] and rec["reason"].startswith("egress denied:"), (name, rec)


def bad_chunk_case(gate):
    pol = gate.policy(LOCAL)
    data = (b"POST http://127.0.0.1:%d/chunk HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n" % (gate.web, gate.web))
    r = gate.run(pol, py(f"""
        resp = raw("127.0.0.1", 3128, {data!r})
        out(status(resp), header(resp, "X-Pincer-Denied"))
        out(body(get("127.0.0.1", {gate.web}, "/next")))
        """))
    (got_code, denied), (after,) = results(r)
    return got_code, denied, after


@pytest.mark.xfail(reason="gate bug: a bad chunk size in a request body is found only while "
                   "the body streams: the head has gone upstream, the client gets no 400 (the "
                   "connection is closed) and the record is decision '-' why 'upstream', not "
                   "deny/bad-request", strict=True)
def test_bad_chunk_size_is_refused(gate):
    got_code, denied, after = bad_chunk_case(gate)
    assert after == "web GET /next\n", "the gate still serves"
    rec = gate.egress(why="bad-request")
    assert got_code == 400, (got_code, denied, gate.log())
    assert len(rec) == 1 and rec[0]["decision"] == "deny", gate.log()


def test_keepalive_and_pipelining(gate):
    pol = gate.policy(LOCAL)
    w = gate.web
    r = gate.run(pol, py(f"""
        def req(path, host="127.0.0.1", port={w}, close=False, method="GET"):
            hp = f"{{host}}:{{port}}"
            return (f"{{method}} http://{{hp}}{{path}} HTTP/1.1\\r\\nHost: {{hp}}\\r\\n"
                    + ("Connection: close\\r\\n" if close else "") + "\\r\\n").encode()
        # two requests in one write, answered in order on one connection
        s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
        s.sendall(req("/one") + req("/two"))
        f = s.makefile("rb")
        answer = lambda: read_answer(f)
        out(answer(), answer())
        # the same connection, later: kept alive
        s.sendall(req("/three"))
        out(answer())
        # HEAD: a Content-Length but no body; the next answer follows at once
        s.sendall(req("/head", method="HEAD") + req("/after-head"))
        out(read_answer(f, head_only=True), answer())
        # an allowed request then a denied one in one write: the second is
        # decided on its own, not waved through on the open upstream
        s.sendall(req("/four") + req("/x", port={gate.other}))
        out(answer(), answer())
        out(f.read().decode() == "")
        # captured: keep-alive works there too
        c = socket.create_connection(("127.0.0.1", {w}), timeout=20)
        o = (f"GET /cap1 HTTP/1.1\\r\\nHost: 127.0.0.1:{w}\\r\\n\\r\\n"
             f"GET /cap2 HTTP/1.1\\r\\nHost: 127.0.0.1:{w}\\r\\n\\r\\n").encode()
        c.sendall(o)
        f2 = c.makefile("rb")
        out(read_answer(f2), read_answer(f2))
        """))
    got = results(r)
    assert got[0] == [["200", "web GET /one\n"], ["200", "web GET /two\n"]], got
    assert got[1] == [["200", "web GET /three\n"]], got
    assert got[2] == [["200", ""], ["200", "web GET /after-head\n"]], got
    assert got[3][0] == ["200", "web GET /four\n"], got
    assert got[3][1][0] == "403" and "is not allowed by the policy" in got[3][1][1], got
    assert got[4] == [True], "a denial closes the connection"
    assert got[5] == [["200", "web GET /cap1\n"], ["200", "web GET /cap2\n"]], got
    assert gate.ups.web.paths() == ["/one", "/two", "/three", "/head", "/after-head", "/four",
                                    "/cap1", "/cap2"]
    assert gate.ups.other.requests == []
    proxy_conn = {x["conn"] for x in gate.egress(decision="allow", proto="http")}
    assert len(proxy_conn) == 1, "one client connection for all four"
    deny = gate.one(decision="deny", port=gate.other)
    assert deny["conn"] in proxy_conn and deny["why"] == "not-allowed"
    cap_conn = {x["conn"] for x in gate.egress(decision="allow", proto="capture-http")}
    assert len(cap_conn) == 1


# ---- reload, enforcement, summary ------------------------------------------

RELOAD_AGENT = """
import os, sys
def wait(name):
    deadline = time.time() + 60
    while not os.path.exists(name):
        if time.time() > deadline:
            sys.exit("no " + name)
        time.sleep(0.02)
def code(port):
    return status(get("127.0.0.1", port, "/r"))
out("start", code({web}), code({other}))
open("ready1", "w").close(); wait("go1")
out("reloaded", code({web}), code({other}))
open("ready2", "w").close(); wait("go2")
out("rejected", code({web}), code({other}))
"""


def _reload(gate, trigger, watch):
    pol = gate.policy(LOCAL)
    proj = gate.ident.proj
    p = gate.popen(pol, py(RELOAD_AGENT.format(web=gate.web, other=gate.other)),
                   *(["--watch"] if watch else []))
    try:
        def policy_record(kind):
            return [x for x in gate.ident.records()
                    if x["type"] == "policy" and kind in x["reason"]]
        wait_for(lambda: (proj / "ready1").exists(), "the agent's first requests")
        # a new file, renamed into place as editors do
        new = gate.policy(LOCAL + "  - host: 127.0.0.1\n    ports: [{other}]\n", "new.yaml")
        new_rule = rule_at(new, "host: 127.0.0.1", 1).replace(str(new), str(pol))
        os.rename(new, pol)
        trigger(p)
        ok = wait_for(lambda: policy_record("reloaded"), "the reload record")
        gate.ident.write("proj/go1", "")
        wait_for(lambda: (proj / "ready2").exists(), "the agent's second requests")
        bad = gate.ident.write("bad.yaml", "version: 1\nnetwork:\n  egress:\n    allow:\n"
                                           "      - host: 'bad host'\n")
        os.rename(bad, pol)
        trigger(p)
        rejected = wait_for(lambda: policy_record("rejected"), "the rejection record")
        gate.ident.write("proj/go2", "")
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, out + err
    got = [json.loads(line) for line in out.splitlines()]
    assert got == [["start", 200, 403], ["reloaded", 200, 200], ["rejected", 200, 200]], got
    assert ok[0]["decision"] == "-" and len(ok) == 1, ok
    assert rejected[0]["decision"] == "deny" and len(rejected) == 1, rejected
    assert gate.ups.other.paths() == ["/r", "/r"]
    first = gate.one(decision="deny", port=gate.other)
    assert first["rule"] == "no rule allows it"
    later = gate.egress(decision="allow", port=gate.other)
    assert len(later) == 2 and all(x["rule"] == new_rule for x in later), later


def test_reload_on_sighup(gate):
    _reload(gate, lambda p: p.send_signal(signal.SIGHUP), watch=False)


def test_reload_with_watch(gate):
    _reload(gate, lambda p: None, watch=True)


def reload_between_two_requests(gate, before, after, host="127.0.0.1", port=None):
    """Runs an agent that sends GET /k1, waits while the policy goes from
    `before` to `after` (SIGHUP), then sends GET /k2 on the same kept-alive
    proxy connection. Returns the two answers ([status, body])."""
    pol = gate.policy(before)
    proj = gate.ident.proj
    port = port or gate.other
    p = gate.popen(pol, py(f"""
        import os
        def req(path):
            hp = "{host}:{port}"
            return f"GET http://{{hp}}{{path}} HTTP/1.1\\r\\nHost: {{hp}}\\r\\n\\r\\n".encode()
        s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
        f = s.makefile("rb")
        s.sendall(req("/k1"))
        out(read_answer(f))
        open("ready", "w").close()
        deadline = time.time() + 60
        while not os.path.exists("go") and time.time() < deadline:
            time.sleep(0.02)
        s.sendall(req("/k2"))
        out(read_answer(f))
        """))
    try:
        wait_for(lambda: (proj / "ready").exists(), "the agent's first request")
        new = gate.policy(after, "new.yaml")
        os.rename(new, pol)
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: [x for x in gate.ident.records() if x["type"] == "policy"],
                 "the reload record")
        gate.ident.write("proj/go", "")
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, out + err
    return [json.loads(line)[0] for line in out.splitlines()]


def test_reload_applies_to_the_next_request_on_an_open_connection(gate):
    k1, k2 = reload_between_two_requests(
        gate, LOCAL + "  - host: 127.0.0.1\n    ports: [{other}]\n", LOCAL)
    assert k1 == ["200", "other GET /k1\n"], k1
    assert k2[0] == "403", k2
    assert gate.ups.other.paths() == ["/k1"]
    k2 = gate.one(decision="deny", path="/k2")
    assert k2["conn"] == gate.one(decision="allow", path="/k1")["conn"], gate.log()
    assert k2["rule"] == "no rule allows it"


@pytest.mark.xfail(reason="gate bug: a kept-alive upstream is reused for the next request "
                   "without the private-address check, so a reload that drops allow_private "
                   "does not apply to it", strict=True)
def test_reload_dropping_allow_private_applies_to_an_open_connection(gate):
    rules = "allow:\n  - host: 127.0.0.1\n    ports: [{other}]\n"
    k1, k2 = reload_between_two_requests(gate, "allow_private: [127.0.0.1/32]\n" + rules, rules)
    assert k1 == ["200", "other GET /k1\n"], k1
    assert k2[0] == "403", (k2, gate.log())
    assert gate.ups.other.paths() == ["/k1"]
    assert gate.one(path="/k2")["why"] == "private-address"


@pytest.mark.xfail(reason="gate bug: a kept-alive upstream is reused for the next request "
                   "without the deny-rule-by-address check, so a reload that adds a deny rule "
                   "naming the address a name resolved to does not apply to it", strict=True)
def test_reload_adding_an_address_deny_rule_applies_to_an_open_connection(gate):
    need_names()
    rules = ("allow_private: [127.0.0.1/32]\n"
             "allow:\n  - host: web.test\n    ports: [{other}]\n")
    k1, k2 = reload_between_two_requests(
        gate, rules, rules + "deny:\n  - host: 127.0.0.1\n", host="web.test")
    assert k1 == ["200", "other GET /k1\n"], k1
    assert k2[0] == "403", (k2, gate.log())
    assert gate.ups.other.paths() == ["/k1"]
    assert gate.one(path="/k2")["why"] == "deny-rule"


def test_enforcement_audit_lets_through_and_records_would_deny(gate):
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        enforcement: audit
        allow:
          - host: 127.0.0.1
            ports: [{web}]
        deny:
          - host: 127.0.0.1
            ports: [{web}]
            methods: [DELETE]
        """)
    proxy = "-x http://127.0.0.1:3128 --noproxy ''"
    r = gate.run(pol, sh(
        f"{CURL} {proxy} http://127.0.0.1:{gate.web}/listed; "
        f"{CURL} {proxy} http://127.0.0.1:{gate.other}/unlisted; "
        f"{CURL} {proxy} -X DELETE http://127.0.0.1:{gate.web}/gone"))
    assert lines(r) == ["web GET /listed", "other GET /unlisted", "web DELETE /gone"], r.stderr
    assert gate.one(decision="allow", path="/listed")
    unl = gate.one(decision="would-deny", path="/unlisted")
    assert unl["rule"] == "no rule allows it" and "would deny" in unl["reason"], unl
    dele = gate.one(decision="would-deny", path="/gone")
    assert dele["rule"] == rule_at(pol, "host: 127.0.0.1", 1), dele
    assert not gate.egress(decision="deny")
    # a rule of its own may be enforced within an audit-only policy
    pol = gate.policy("""\
        allow_private: [127.0.0.1/32]
        deny:
          - host: 127.0.0.1
            ports: [{other}]
            enforcement: audit
        allow:
          - host: 127.0.0.1
            ports: [{web}, {other}]
        """, name="rule.yaml")
    r = gate.run(pol, sh(f"{CURL} {proxy} http://127.0.0.1:{gate.other}/rule-audit"))
    assert lines(r) == ["other GET /rule-audit"], r.stderr
    rec = gate.one(decision="would-deny", path="/rule-audit")
    assert rec["rule"] == rule_at(pol, "host: 127.0.0.1"), rec


def test_exit_summary_and_quiet(gate):
    pol = gate.policy(LOCAL)
    script = sh(f"{CURL} -o /dev/null http://one.example.org/; "
                f"{CURL} -o /dev/null http://one.example.org/again; "
                f"{CURL} -o /dev/null https://two.example.org/; "
                f"{CURL} -o /dev/null --noproxy '' -x http://127.0.0.1:3128 "
                f"http://127.0.0.1:{gate.web}/fine; exit 3")
    r = gate.run(pol, script)
    assert r.returncode == 3
    summary = [line for line in r.stderr.splitlines() if "the gate denied" in line]
    assert len(summary) == 1, r.stderr
    s = summary[0]
    assert s.startswith("pincer: the gate denied 3 connections or requests: "), s
    assert "one.example.org:80" in s and "two.example.org:443" in s, s
    assert "127.0.0.1" not in s
    r = gate.run(pol, script, "-q")
    assert r.returncode == 3
    assert "the gate denied" not in r.stderr, r.stderr
    assert len(gate.egress(decision="deny")) == 6, "-q still records"
    r = gate.run(pol, sh(f"{CURL} -o /dev/null --noproxy '' -x http://127.0.0.1:3128 "
                         f"http://127.0.0.1:{gate.web}/fine"))
    assert r.returncode == 0 and "the gate denied" not in r.stderr, r.stderr


def test_audit_run_then_suggest_gives_a_policy_that_admits_it(gate):
    # The quickest way to a policy: run under enforcement: audit, then
    # pincer policy suggest, then enforce what it suggests.
    draft = gate.policy("""\
        allow_private: [127.0.0.1/32]
        enforcement: audit
        """, name="draft.yaml")
    proxy = "-x http://127.0.0.1:3128 --noproxy ''"
    script = (f"{CURL} {proxy} http://127.0.0.1:{gate.web}/api/a; "
              f"{CURL} {proxy} -d x http://127.0.0.1:{gate.web}/api/b; "
              f"{CURL} {proxy} --cacert ca.pem https://127.0.0.1:{gate.tls}/t; ")
    r = gate.run(draft, sh(script))
    assert lines(r) == ["web GET /api/a", "web POST /api/b", "tls GET /t"], r.stderr
    assert len(gate.egress(decision="would-deny")) == 3, gate.log()
    run_id = [x for x in gate.ident.records() if x["type"] == "run.start"][-1]["run"]
    s = gate.ident.pincer("policy", "suggest", str(gate.ident.audit), "--run", run_id)
    assert s.returncode == 0, s.stderr
    assert "- host: 127.0.0.1" in s.stdout, s.stdout
    pol = gate.ident.policy(
        "version: 1\nname: suggested\n"
        f"filesystem:\n  read_write: [{gate.ident.proj}]\n"
        "network:\n  egress:\n    allow_private: [127.0.0.1/32]\n    allow:\n" + s.stdout,
        name="suggested.yaml")
    c = gate.ident.pincer("policy", "check", str(pol))
    assert c.returncode == 0, c.stderr + s.stdout
    r = gate.run(pol, sh(script + f"{CURL} {proxy} -X DELETE http://127.0.0.1:{gate.web}/api/a; "
                         f"{CURL} {proxy} http://127.0.0.1:{gate.other}/"))
    assert lines(r)[:3] == ["web GET /api/a", "web POST /api/b", "tls GET /t"], r.stderr
    by_new = [x for x in gate.egress(decision="allow") if x["rule"].startswith(f"{pol}:")]
    assert len(by_new) == 3, gate.log()
    # what the suggestion did not name stays denied
    assert gate.one(decision="deny", method="DELETE", path="/api/a")
    assert gate.one(decision="deny", port=gate.other)
