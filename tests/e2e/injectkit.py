"""Shared by test_inject.py (issue 5: credential injection with TLS
interception): the TLS upstreams and their certificates, the vault set-up
of one identity, the Inject helper that runs pincer with it, and the python
library the agent imports inside the sandbox.

Upstreams (all on the host's 127.0.0.1, each records what reached it):
- api:        TLS, a certificate from the test CA for 127.0.0.1, localhost and
              the test names (api.test, web.test...). Paths as in
              upstreams.HttpUpstream, plus /headers, which answers with the
              request's headers (JSON body) and reflects the credential
              headers it got in the response headers X-Got-Key, X-Got-Auth
              and X-Got-Query (as an upstream that echoes what it received).
- web:        the same over plain HTTP.
- selfsigned: TLS, a self-signed certificate (not in any trust store).
- wrongname:  TLS, from the test CA, for wrong.invalid and 10.9.9.9 only.
- expired:    TLS, from the test CA, for 127.0.0.1 and localhost, expired in
              2020 (made with `openssl ca` and explicit dates).

Names: the credential's host is 127.0.0.1 (both modes); "localhost" is the
other host that is not the credential's (the gate resolves it with the
host's /etc/hosts, so it works without root too).

Secrets: each test makes fresh random ones (secret()), so a byte sequence
of a secret found anywhere can only have come from this test's run.
"""
import base64
import gzip
import json
import os
import secrets as _rand
import string
import subprocess
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import upstreams as up
from conftest import IS_ROOT, PINCER
from gatekit import CLIENT_LIB, HOSTS, Gate

CA_BUNDLE = "/.pincer/ca-bundle.pem"
CA_VARS = ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE",
           "GIT_SSL_CAINFO"]
TEST_CA_CN = "pincer e2e test CA"
ALNUM = string.ascii_letters + string.digits


def secret(prefix="sk-ant-api03-", n=48):
    """A fresh secret: prefix + a random body of letters and digits that
    starts with an upper-case letter (so the prefix ends where we say)."""
    return prefix + _rand.choice(string.ascii_uppercase) + "".join(
        _rand.choice(ALNUM) for _ in range(n - 1))


def needles(value):
    """Byte sequences that must appear nowhere the agent can reach: the
    value, its body without the (public) prefix, and its first and last
    16 bytes of body (a truncated or split copy)."""
    body = value[len(prefix_of(value)):]
    return {value.encode(), body.encode(), body[:16].encode(), body[-16:].encode()}


def prefix_of(value):
    """The placeholder's kept prefix: up to 4 leading segments of [a-z0-9]
    each followed by '-' or '_'."""
    i, segs = 0, 0
    while segs < 4:
        j = i
        while j < len(value) and (value[j].islower() or value[j].isdigit()) and \
                value[j].isascii():
            j += 1
        if j == i or j >= len(value) or value[j] not in "-_":
            break
        i, segs = j + 1, segs + 1
    return value[:i]


def check_placeholder(ph, value):
    assert ph is not None, "no placeholder in the agent's environment"
    assert ph != value, "the agent got the real secret"
    assert len(ph) == len(value), (len(ph), len(value))
    pre = prefix_of(value)
    assert ph.startswith(pre), (ph[:len(pre) + 4], pre)
    body, alphabet = ph[len(pre):], set(ALNUM) | set(value[len(pre):])
    assert body and all(c in alphabet for c in body), body
    for n in needles(value):
        assert n not in ph.encode(), "the placeholder holds part of the secret"


# ---- certificates -------------------------------------------------------------

NAMES = ["127.0.0.1", "localhost", "api.test", "web.test", "tls.example.test",
         "a.example.test"]


def _san(names):
    return ",".join(("IP:" if n.replace(".", "").isdigit() else "DNS:") + n for n in names)


def make_certs(d):
    """The test CA and the upstreams' certificates, made with openssl.
    Returns a namespace of paths."""
    d = Path(d)
    run = lambda *a: subprocess.run(["openssl", *map(str, a)], check=True, capture_output=True)
    ca, ca_key = d / "ca.pem", d / "ca.key"
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", f"/CN={TEST_CA_CN}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def leaf(name, names, cn=None):
        key, csr, crt, ext = (d / f"{name}.{x}" for x in ("key", "csr", "pem", "ext"))
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", f"/CN={cn or names[0]}")
        ext.write_text(f"subjectAltName={_san(names)}\nbasicConstraints=CA:FALSE\n")
        run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", crt, "-days", "2", "-extfile", ext)
        return crt, key

    good = leaf("good", NAMES)
    wrong = leaf("wrong", ["wrong.invalid", "10.9.9.9"])
    # self-signed: its own issuer, valid, right names, but nobody's root
    ss_key, ss = d / "self.key", d / "self.pem"
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ss_key, "-out", ss,
        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", f"subjectAltName={_san(NAMES)}")
    # expired: `openssl ca` with explicit dates (x509 -req has no start date)
    db = d / "cadb"
    db.mkdir()
    (db / "index.txt").write_text("")
    (db / "serial").write_text("1000\n")
    cnf = db / "ca.cnf"
    cnf.write_text(textwrap.dedent(f"""\
        [ ca ]
        default_ca = test
        [ test ]
        dir = {db}
        database = {db}/index.txt
        serial = {db}/serial
        new_certs_dir = {db}
        certificate = {ca}
        private_key = {ca_key}
        default_md = sha256
        policy = anything
        unique_subject = no
        copy_extensions = none
        x509_extensions = leaf
        [ anything ]
        commonName = supplied
        [ leaf ]
        basicConstraints = CA:FALSE
        subjectAltName = {_san(NAMES)}
        """))
    ex_key, ex_csr, ex = d / "expired.key", d / "expired.csr", d / "expired.pem"
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", ex_key, "-out", ex_csr,
        "-subj", "/CN=127.0.0.1")
    run("ca", "-batch", "-config", cnf, "-in", ex_csr, "-out", ex, "-notext",
        "-startdate", "20200101000000Z", "-enddate", "20200201000000Z")
    return SimpleNamespace(ca=ca, good=good, wrong=wrong, self=(ss, ss_key),
                           expired=(ex, ex_key))


# ---- upstreams ------------------------------------------------------------------

class _HeadersHandler(up._Handler):
    """/headers: the request's headers as JSON; the credential headers it
    got are reflected in X-Got-Key / X-Got-Auth / X-Got-Query."""

    def _body(self):
        """As upstreams' _Handler, but a body cut short is recorded as far
        as it came, in Request.partial (to tell what leaked)."""
        self.partial = b""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                line = self.rfile.readline()
                self.partial = data
                if not line.strip():
                    raise ValueError("the body ended early")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.partial = data
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        data = b""
        while len(data) < n:
            try:
                b = self.rfile.read1(n - len(data))
            except OSError:
                b = b""
            if not b:
                break
            data += b
            self.partial = data
        if len(data) < n:
            raise ValueError("the body ended early")
        return data

    def _serve(self):
        route = self.path.split("?")[0]
        if route.startswith("/forms") or route == "/sleep":
            return self._forms_or_sleep(route)
        if route.startswith("/gzip"):
            return self._gzipped(route)
        if route != "/headers":
            try:
                return super()._serve()
            finally:
                reqs = self.server.requests
                if reqs and reqs[-1].body is None:
                    reqs[-1].partial = getattr(self, "partial", b"")
        try:
            body = self._body()
        except (ValueError, OSError):
            q = up.Request(self.command, self.path, dict(self.headers), None)
            q.partial = getattr(self, "partial", b"")
            self.server.record(q)
            self.close_connection = True
            return
        self.server.record(up.Request(self.command, self.path, dict(self.headers), body))
        out = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        for name, got in (("X-Got-Key", self.headers.get("x-api-key")),
                          ("X-Got-Auth", self.headers.get("Authorization")),
                          ("X-Got-Query", self.path.partition("?")[2] or None)):
            if got is not None:
                self.send_header(name, got)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def _gzipped(self, route):
        """/gzip: the request's headers as JSON, gzip-compressed whatever the
        client asked for (Content-Encoding: gzip); /gzip-te: the same as a
        transfer coding (Transfer-Encoding: gzip, chunked). An upstream
        that hands the secret it got back in a form redaction cannot read."""
        self._body()
        self.server.record(up.Request(self.command, self.path, dict(self.headers), b""))
        out = gzip.compress(json.dumps({"headers": dict(self.headers)}).encode())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if route == "/gzip-te":
            self.send_header("Transfer-Encoding", "gzip, chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(out), out))
            return
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def _forms_or_sleep(self, route):
        """/forms...: the raw path and every header, base64-encoded, as
        an API that reflects its input in other spellings might; /sleep?s=N:
        an answer after N seconds."""
        self.server.record(up.Request(self.command, self.path, dict(self.headers), b""))
        if route == "/sleep":
            time.sleep(float(self.path.partition("s=")[2] or 1))
            out = b"slept\n"
        else:
            blob = json.dumps(dict(self.headers)).encode()
            out = json.dumps({"path": self.path,
                              "b64": base64.b64encode(blob).decode()}).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class Upstream(up.HttpUpstream):
    def __init__(self, label, tls=None):
        ctx = up.tls_context(*tls) if tls else None
        self.server = up._Server(label, ctx)
        self.server.RequestHandlerClass = _HeadersHandler
        self.port = self.server.server_address[1]
        import threading
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()


@pytest.fixture(scope="module")
def iups(tmp_path_factory):
    d = tmp_path_factory.mktemp("inject-upstreams")
    c = make_certs(d)
    hosts = d / "hosts"
    hosts.write_text(HOSTS)
    s = SimpleNamespace(api=Upstream("api", c.good), web=Upstream("web"),
                        selfsigned=Upstream("selfsigned", c.self),
                        wrongname=Upstream("wrongname", c.wrong),
                        expired=Upstream("expired", c.expired),
                        ca_path=c.ca, ca=c.ca.read_text(), hosts=hosts, certs=c)
    s.all = [s.api, s.web, s.selfsigned, s.wrongname, s.expired]
    yield s
    for u in s.all:
        u.stop()


# ---- what the agent imports inside the sandbox --------------------------------

AGENT_LIB = r'''
import base64, json, os, ssl, stat, subprocess, sys, time, urllib.request, urllib.error

def fetch(url, headers=None, data=None, method=None, proxy=None, cafile=None):
    """One request with urllib and the environment's CA (or cafile):
    [status, {header: value} (lower-case names), body text]. proxy=None:
    urllib's own choice (NO_PROXY names 127.0.0.1: captured)."""
    ctx = ssl.create_default_context(cafile=cafile)
    handlers = [urllib.request.HTTPSHandler(context=ctx)]
    if proxy is not None:
        handlers.append(urllib.request.ProxyHandler(
            {"http": proxy, "https": proxy} if proxy else {}))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with opener.open(req, timeout=30) as r:
            st, hd, body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        st, hd, body = e.code, e.headers, e.read()
    except Exception as e:
        return [0, {}, f"<{type(e).__name__}: {e}>"]
    n = hd.get("Content-Length")
    if n is not None and int(n) != len(body):
        return [st, {k.lower(): v for k, v in hd.items()}, f"<length {n} != {len(body)}>"]
    return [st, {k.lower(): v for k, v in hd.items()}, body.decode("latin-1")]

def out(*values):
    print(json.dumps(values), flush=True)

def first_line(proc, timeout=60):
    """A child's first line of output, without waiting past timeout."""
    import select
    got = b""
    end = time.monotonic() + timeout
    while b"\n" not in got and time.monotonic() < end:
        if select.select([proc.stdout], [], [], max(0, end - time.monotonic()))[0]:
            b = os.read(proc.stdout.fileno(), 65536)
            if not b:
                break
            got += b
    return got.decode("latin-1")

def walk_recent(since, report, skip=("/proc", "/sys")):
    """Every regular file under / (but /proc, /sys) changed since `since`
    (ctime or mtime), with its content, into the JSON file `report`. A file
    older than the secret cannot hold it; the rest is read in full."""
    files, seen, unreadable = {}, 0, []
    for root, dirs, names in os.walk("/"):
        dirs[:] = [x for x in dirs if os.path.join(root, x) not in skip]
        for n in names:
            p = os.path.join(root, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            seen += 1
            if max(st.st_ctime, st.st_mtime) < since:
                continue
            try:
                with open(p, "rb") as f:
                    files[p] = base64.b64encode(f.read()).decode()
            except OSError as e:
                unreadable.append(f"{p}: {e.strerror}")
    with open(report, "w") as f:
        json.dump({"seen": seen, "files": files, "unreadable": unreadable}, f)

def dump_memory(outdir):
    """Every readable region of every process we can read (/proc/PID/maps
    then /proc/PID/mem) into outdir/PID.bin; also its environ and cmdline.
    Returns {pid: [comm, bytes]} and {pid: why not}."""
    os.makedirs(outdir, exist_ok=True)
    done, failed = {}, {}
    for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/maps") as f:
                maps = f.read().splitlines()
            mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
        except OSError as e:
            failed[pid] = str(e)
            continue
        n = 0
        with mem, open(f"{outdir}/{pid}.bin", "wb") as dst:
            for what in ("environ", "cmdline"):
                try:
                    with open(f"/proc/{pid}/{what}", "rb") as f:
                        dst.write(f.read())
                except OSError:
                    pass
            for line in maps:
                parts = line.split()
                if parts[1][0] != "r" or (len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]")):
                    continue
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                addr = lo
                while addr < hi:
                    try:
                        mem.seek(addr)
                        chunk = mem.read(min(hi - addr, 1 << 20))
                    except OSError:
                        break
                    if not chunk:
                        break
                    dst.write(chunk)
                    addr += len(chunk)
                    n += len(chunk)
        done[pid] = [comm, n]
    return done, failed
'''


# ---- the helper ---------------------------------------------------------------

class Inject(Gate):
    """One identity's pincer runs with credentials: its own vault (store and
    key in work/vault, 0600, owned by the identity) and the iups upstreams."""

    def __init__(self, ident, iups):
        self.ident, self.ups = ident, iups
        self.api, self.web = iups.api.port, iups.web.port
        self.selfsigned, self.wrongname = iups.selfsigned.port, iups.wrongname.port
        self.expired = iups.expired.port
        self.ca_path = ident.write("ca/test-ca.pem", iups.ca)  # upstream_ca (outside proj)
        ident.write("proj/ca.pem", iups.ca)  # for the agent, where a test wants it
        ident.write("proj/gatelib.py", CLIENT_LIB)
        ident.write("proj/injlib.py", AGENT_LIB)
        ident.mkdir("vault", mode=0o700)
        os.chmod(ident.work / "vault", 0o700)
        self.store = ident.work / "vault" / "vault.db"
        self.key = ident.work / "vault" / "vault.key"
        self.venv = {"PINCER_VAULT_FILE": str(self.store),
                     "PINCER_VAULT_KEY_FILE": str(self.key)}
        for u in iups.all:
            u.clear()

    # the vault
    def vault(self, *args, input=None, env=None):
        e = dict(self.venv)
        e.update(env or {})
        return self.ident.pincer("vault", *args, "--audit", str(self.ident.audit),
                                 input=input, env=e)

    def set_secret(self, name, value, owner=None, verb="set"):
        args = [verb, name] + (["--owner", owner] if owner else [])
        r = self.vault(*args, input=value)
        assert r.returncode == 0, f"pincer vault {verb} {name}: {r.stdout}{r.stderr}"

    # policies
    def policy(self, egress, creds="", name="policy.yaml", upstream_ca=True):
        """egress: the body of network.egress (without upstream_ca, added
        here), creds: the body of credentials (YAML list). {api}, {web},
        {selfsigned}, {wrongname}, {expired} are ports."""
        ports = dict(api=self.api, web=self.web, selfsigned=self.selfsigned,
                     wrongname=self.wrongname, expired=self.expired)
        body = textwrap.dedent(egress).format(**ports)
        if upstream_ca:
            body = f"upstream_ca: {self.ca_path}\n" + body
        text = ("version: 1\nname: inject\n"
                f"filesystem:\n  read_write: [{self.ident.proj}]\n"
                "network:\n  egress:\n" + textwrap.indent(body, "    "))
        if creds:
            text += "credentials:\n" + textwrap.indent(textwrap.dedent(creds).format(**ports),
                                                       "  ")
        return self.ident.policy(text, name=name)

    # runs
    def run(self, policy, cmd, *extra, timeout=120, env=None):
        e = self.ident.env(dict(self.venv, **(env or {})))
        return subprocess.run(self.argv(policy, cmd, extra), capture_output=True, text=True,
                              timeout=timeout, cwd=str(self.ident.proj), env=e)

    def popen(self, policy, cmd, *extra, env=None):
        e = self.ident.env(dict(self.venv, **(env or {})))
        return subprocess.Popen(self.argv(policy, cmd, extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=str(self.ident.proj),
                                env=e)

    # audit
    def exfil(self, **match):
        return [x for x in self.ident.records() if x["type"] == "exfiltration"
                and all(x.get(k) == v for k, v in match.items())]

    def log(self):
        return super().log() + "".join(
            f"\nEXFIL {x.get('decision')} {x.get('host')}:{x.get('port')} "
            f"cred={x.get('credential')} where={x.get('where')}: {x.get('reason')}"
            for x in self.exfil())

    def audit_text(self):
        return self.ident.audit.read_text() if self.ident.audit.exists() else ""


@pytest.fixture
def inj(pincer, iups):
    g = Inject(pincer, iups)
    yield g
    if pincer.audit.exists():
        r = pincer.pincer("audit", "verify", str(pincer.audit))
        assert r.returncode == 0, r.stdout + r.stderr


def decode_walk(path):
    w = json.loads(Path(path).read_text())
    w["files"] = {k: base64.b64decode(v) for k, v in w["files"].items()}
    return w


def find_any(data, values):
    """The first needle of any value found in data (bytes), or None."""
    for v in values:
        for n in needles(v):
            if n in data:
                return n
    return None


def py_agent(code):
    """A python agent: injlib's helpers, the code dedented."""
    return ["/usr/bin/python3", "-c", "from injlib import *\n" + textwrap.dedent(code)]


__all__ = ["CA_BUNDLE", "CA_VARS", "IS_ROOT", "PINCER", "TEST_CA_CN", "Inject", "check_placeholder",
           "decode_walk", "find_any", "inj", "iups", "needles", "prefix_of", "py_agent",
           "secret"]
