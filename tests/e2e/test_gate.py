"""The egress gate (issue 4), end to end, as root and as an ordinary user:
what the policy allows and denies. Hosts, wildcards, ports, methods and
paths, deny rules, private addresses and their other spellings, audit-only
enforcement, the exit summary, and `pincer policy suggest` on a real run.
The ways out (proxy, SOCKS5, capture) are in test_gate_paths.py, the
connections (load, failures, framing, keep-alive, reload) in
test_gate_conns.py; the shared fixtures in gatekit.py.
"""
import subprocess

import pytest

from gatekit import (CURL, IS_ROOT, LOCAL, gate, lines, need_names, py,  # noqa: F401
                     results, rule_at, sh, ups)


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


def test_connect_to_method_or_path_rules_is_intercepted(gate):
    """A tunnel hides methods and paths, so TLS to a host whose rule names
    them ends at the gate (the run's CA, trusted through SSL_CERT_FILE and
    friends) and each request inside is decided on its own; SOCKS5, which
    the gate does not intercept, is still refused."""
    ca = gate.ident.proj / "ca.pem"
    pol = gate.policy(f"""\
        allow_private: [127.0.0.1/32]
        upstream_ca: {ca}
        allow:
          - host: 127.0.0.1
            ports: [{{tls}}]
            access: read-only
        """)
    url = f"https://127.0.0.1:{gate.tls}/ro"
    r = gate.run(pol, sh(
        f"{CURL} -x http://127.0.0.1:3128 --noproxy '' {url} -o /dev/null -w 'get=%{{http_code}} ';"
        f"{CURL} -x http://127.0.0.1:3128 --noproxy '' -d x=1 {url} -o /dev/null "
        f"-w 'post=%{{http_code}} ';"
        f"{CURL} -x socks5h://127.0.0.1:3128 --noproxy '' {url}; echo socks=$?"))
    assert "get=200 post=403 socks=97" in r.stdout, r.stdout + r.stderr
    assert [q.method for q in gate.ups.tls.requests] == ["GET"]
    at = rule_at(pol, "host: 127.0.0.1")
    assert gate.one(decision="allow", proto="https", method="GET")["rule"] == at
    post = gate.one(decision="deny", proto="https", method="POST")
    assert post["rule"] == at and "allows only GET, HEAD, OPTIONS" in post["reason"], post
    socks = gate.one(decision="deny", proto="socks5")
    assert "cannot be checked inside an encrypted tunnel" in socks["reason"], socks


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
    # audit mode is for writing allowlists, never for opening the host's own
    # network: private addresses stay refused
    pol = gate.policy("""\
        enforcement: audit
        allow:
          - host: 127.0.0.1
            ports: [{web}]
        """, name="audit-private.yaml")
    r = gate.run(pol, sh(f"{CURL} -o /dev/null -w '%{{http_code}}\\n' {proxy} "
                         f"http://127.0.0.1:{gate.web}/private; "
                         f"{CURL} -o /dev/null -w '%{{http_code}}\\n' {proxy} "
                         "http://169.254.169.254/latest/meta-data/"))
    assert lines(r) == ["403", "403"], r.stdout + r.stderr
    assert "/private" not in gate.ups.web.paths()
    priv = gate.egress(why="private-address")
    assert len(priv) == 2 and all(x["decision"] == "deny" for x in priv), gate.log()
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
