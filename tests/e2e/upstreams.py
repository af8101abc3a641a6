"""Real upstream servers on 127.0.0.1 for the egress gate's end-to-end tests.

Each server runs in a daemon thread of the test process, listens on a free
port and records what reached it, so that a test can assert both what the
agent saw and what the outside world saw (or did not see).

- HttpUpstream: HTTP/1.1 (keep-alive), optionally TLS with a test CA.
  Every request is recorded (method, path, headers, body). Paths:
    /close-early  announces 100000 bytes, sends 1000, closes
    /echo         answers with the request body
    /chunked      answers with a chunked body
    /bad-response answers with both Content-Length and Transfer-Encoding
    /extra        answers "ok", then, in the same send, a second answer
                  nobody asked for ("SMUGGLED")
    anything else answers "<label> <METHOD> <path>\\n"
- StaticUpstream: files (a pip index, an npm registry: make_package_index).
- TcpEcho: a raw TCP server that answers each line with "echo:<line>".
- UdpSink: a bound UDP socket; .received() says what arrived.
- make_ca(): a CA and a server certificate made with openssl.
"""
import hashlib
import http.server
import io
import json
import select
import socket
import ssl
import subprocess
import tarfile
import threading
import zipfile
from pathlib import Path


class Request:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def __repr__(self):
        n = "cut" if self.body is None else f"{len(self.body)}B"
        return f"Request({self.method} {self.path} body={n})"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, *args):
        pass

    def _body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if len(data) < n:
            raise ValueError("the body ended early")
        return data

    def _serve(self):
        try:
            body = self._body()
        except (ValueError, OSError):
            # a client that went away mid-body: recorded as incomplete
            self.server.record(Request(self.command, self.path, dict(self.headers), None))
            self.close_connection = True
            return
        self.server.record(Request(self.command, self.path, dict(self.headers), body))
        path = self.path.split("?")[0]
        if path == "/close-early":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if path == "/bad-response":  # ambiguous framing: a desync attempt
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            self.close_connection = True
            return
        if path == "/extra":  # a second answer ahead of any question
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                             b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED")
            self.wfile.flush()
            return
        if path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"chunk-one ", b"chunk-two\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        out = body if path == "/echo" else \
            f"{self.server.label} {self.command} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, label, tls_ctx=None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.label = label
        self.tls_ctx = tls_ctx
        self.lock = threading.Lock()
        self.requests = []

    def record(self, req):
        with self.lock:
            self.requests.append(req)

    def handle_error(self, request, client_address):
        pass  # a client that went away (the tests make some do so)

    def finish_request(self, request, client_address):
        # the TLS handshake in the request's own thread, not in accept()
        if self.tls_ctx:
            try:
                request = self.tls_ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


class HttpUpstream:
    def __init__(self, label, tls_ctx=None):
        self.server = _Server(label, tls_ctx)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        with self.server.lock:
            return list(self.server.requests)

    def paths(self):
        return [r.path for r in self.requests]

    def clear(self):
        with self.server.lock:
            self.server.requests.clear()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _GitHandler(_Handler):
    """git's smart HTTP through `git http-backend` (CGI)."""

    def _serve(self):
        try:
            body = self._body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        self.server.record(Request(self.command, self.path, dict(self.headers), body))
        path, _, query = self.path.partition("?")
        env = {"GIT_PROJECT_ROOT": str(self.server.git_root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
               "REMOTE_USER": "agent", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
        for k, v in self.headers.items():
            env["HTTP_" + k.upper().replace("-", "_")] = v
        r = subprocess.run(["git", "http-backend"], input=body, env=env,
                           capture_output=True, timeout=60)
        head, _, out = r.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _serve


class GitUpstream(HttpUpstream):
    """Bare repositories under `root`, served over smart HTTP."""

    def __init__(self, root):
        self.server = _Server("git")
        self.server.RequestHandlerClass = _GitHandler
        self.server.git_root = root
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()


class _StaticHandler(_Handler):
    """Files under the server's root; "{origin}" in a .json file becomes
    http://HOST of the request (package indexes name their own URLs)."""

    def _serve(self):
        self.server.record(Request(self.command, self.path, dict(self.headers), b""))
        rel = self.path.split("?")[0].lstrip("/")
        base = (self.server.root / rel).resolve()
        f = next((c for c in (base, base / "index.html", base.with_name(base.name + ".json"))
                  if c.is_file()), base)
        if self.server.root not in f.parents or not f.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        out = f.read_bytes()
        ctype = "application/octet-stream"
        if f.suffix == ".json":
            out = out.replace(b"{origin}", b"http://" + self.headers["Host"].encode())
            ctype = "application/json"
        elif f.suffix == ".html":
            ctype = "text/html"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_HEAD = _serve


class StaticUpstream(HttpUpstream):
    def __init__(self, root):
        self.server = _Server("static")
        self.server.RequestHandlerClass = _StaticHandler
        self.server.root = Path(root).resolve()
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()


def make_package_index(d):
    """A PEP 503 simple index holding the wheel demo-pkg 1.0, and an npm
    registry holding demo-pkg 1.0.0, under folder d."""
    d = Path(d)
    (d / "simple" / "demo-pkg").mkdir(parents=True)
    (d / "packages").mkdir()
    whl = "demo_pkg-1.0-py3-none-any.whl"
    files = {"demo_pkg/__init__.py": "WHO = 'demo-pkg from the local index'\n",
             "demo_pkg-1.0.dist-info/METADATA":
                 "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n",
             "demo_pkg-1.0.dist-info/WHEEL":
                 "Wheel-Version: 1.0\nGenerator: pincer-e2e\nRoot-Is-Purelib: true\n"
                 "Tag: py3-none-any\n"}
    files["demo_pkg-1.0.dist-info/RECORD"] = "".join(f"{n},,\n" for n in files) + \
        "demo_pkg-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(d / "packages" / whl, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    sha = hashlib.sha256((d / "packages" / whl).read_bytes()).hexdigest()
    (d / "simple" / "index.html").write_text('<a href="demo-pkg/">demo-pkg</a>\n')
    (d / "simple" / "demo-pkg" / "index.html").write_text(
        f'<a href="../../packages/{whl}#sha256={sha}">{whl}</a>\n')
    (d / "npm" / "demo-pkg" / "-").mkdir(parents=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, text in (("package/package.json",
                            '{"name": "demo-pkg", "version": "1.0.0", "main": "index.js"}'),
                           ("package/index.js",
                            "module.exports = 'demo-pkg from the local registry';\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(text.encode()))
    tgz = buf.getvalue()
    (d / "npm" / "demo-pkg" / "-" / "demo-pkg-1.0.0.tgz").write_bytes(tgz)
    meta = {"name": "demo-pkg", "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": {
                "name": "demo-pkg", "version": "1.0.0", "main": "index.js",
                "dist": {"tarball": "{origin}/npm/demo-pkg/-/demo-pkg-1.0.0.tgz",
                         "shasum": hashlib.sha1(tgz).hexdigest()}}}}
    (d / "npm" / "demo-pkg.json").write_text(json.dumps(meta))


class TcpEcho:
    """Answers each line with b"echo:" + line; counts connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.lines = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn, conn.makefile("rb") as f:
            for line in f:
                with self.lock:
                    self.lines.append(line)
                conn.sendall(b"echo:" + line)

    def clear(self):
        with self.lock:
            self.lines.clear()

    def stop(self):
        self.sock.close()


class UdpSink:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def received(self):
        """Every datagram that has arrived so far (does not wait)."""
        got = []
        while select.select([self.sock], [], [], 0)[0]:
            got.append(self.sock.recvfrom(65536))
        return got

    def stop(self):
        self.sock.close()


def make_ca(d, names):
    """A test CA and a server certificate for `names` (DNS names and IPs),
    made with openssl in folder d. Returns (ca_pem, cert_pem, key_pem)."""
    d = Path(d)
    ca_key, ca, key, csr, cert = (d / n for n in
                                  ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    san = ",".join(("IP:" if n.replace(".", "").isdigit() else "DNS:") + n for n in names)
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
        "-out", str(ca), "-days", "2", "-subj", "/CN=pincer e2e test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", f"/CN={names[0]}")
    ext = d / "ext.cnf"
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
