"""Regressions from the gate's security review: each shows the attack failing
and the audit record that says why."""
import signal

from gatekit import LOCAL, gate, py, results, ups, wait_for  # noqa: F401

OPEN_OTHER = LOCAL + "  - host: 127.0.0.1\n    ports: [{other}]\n"


def test_the_agent_cannot_rewrite_its_own_policy(gate):
    # The policy sits in the folder the agent may write.
    body = gate.policy(LOCAL).read_text()
    pol = gate.ident.write("proj/policy.yaml", body)

    # --watch would load whatever the agent writes there: refused up front.
    r = gate.run(pol, ["true"], "--watch")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--watch refused" in r.stderr and "could rewrite its own policy" in r.stderr

    # Without --watch, the agent rewrites the file and someone sends SIGHUP:
    # the reload is rejected and recorded, the request stays denied.
    widened = gate.policy(OPEN_OTHER, "widened.yaml").read_text()
    (gate.ident.proj / "widened.yaml").write_text(widened)
    p = gate.popen(pol, py(f"""
        import os, shutil
        shutil.copy("widened.yaml", "policy.yaml.new")
        os.rename("policy.yaml.new", "policy.yaml")
        open("edited", "w").close()
        while not os.path.exists("go"):
            time.sleep(0.02)
        out(status(get("127.0.0.1", {gate.other}, "/after-edit")))
        """))
    try:
        wait_for(lambda: (gate.ident.proj / "edited").exists(), "the agent's edit")
        p.send_signal(signal.SIGHUP)
        rejected = wait_for(lambda: [x for x in gate.ident.records()
                                     if x["type"] == "policy" and x["decision"] == "deny"],
                            "the rejection record")
        gate.ident.write("proj/go", "")
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, out + err
    assert "the agent can write" in rejected[0]["reason"], rejected
    assert [x for x in out.splitlines() if x.startswith("[")] == ['[403]'], out + err
    assert gate.ups.other.paths() == []
    assert gate.one(decision="deny", path="/after-edit")["rule"] == "no rule allows it"


def test_a_slow_client_hello_is_still_named_by_its_sni(gate):
    # A name the policy allows, resolved inside (a synthetic address); a TLS
    # ClientHello naming another host, sent in two parts with a pause longer
    # than the gate's wait for server-speaks-first protocols.
    pol = gate.policy("allow:\n  - host: allowed.test\n    ports: [443]\n")
    r = gate.run(pol, py("""
        import ssl
        addr = socket.getaddrinfo("allowed.test", 443, socket.AF_INET)[0][4][0]
        ctx = ssl.create_default_context()
        inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, outg, server_hostname="evil.test")
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outg.read()
        s = socket.create_connection((addr, 443), timeout=20)
        s.sendall(hello[:3])
        time.sleep(0.8)
        s.sendall(hello[3:])
        out(addr, s.recv(100).decode() == "")
        """))
    (addr, closed), = results(r)
    assert addr.startswith("198.18.") and closed, r.stdout + r.stderr
    rec = gate.one(decision="deny", why="bad-request")
    assert "TLS names evil.test" in rec["reason"] and rec["dns_name"] == "allowed.test", rec
    assert not gate.egress(decision="allow")


def test_a_half_closed_client_still_gets_its_answer(gate):
    # send a whole request, shut the write half, read: the answer comes,
    # through the proxy and on a captured connection alike
    pol = gate.policy(LOCAL)
    r = gate.run(pol, py(f"""
        def ask(addr, target):
            s = socket.create_connection(addr, timeout=20)
            s.sendall(f"GET {{target}} HTTP/1.1\\r\\nHost: 127.0.0.1:{gate.web}\\r\\n\\r\\n".encode())
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data.decode()
                data += chunk
        a = ask(("127.0.0.1", 3128), "http://127.0.0.1:{gate.web}/half-proxy")
        b = ask(("127.0.0.1", {gate.web}), "/half-capture")
        out(a.split("\\r\\n")[0], a.endswith("web GET /half-proxy\\n"),
            b.split("\\r\\n")[0], b.endswith("web GET /half-capture\\n"))
        """))
    (pl, pbody, cl, cbody), = results(r)
    assert pl.endswith(" 200 OK") and pbody and cl.endswith(" 200 OK") and cbody, r.stdout
    assert gate.ups.web.paths() == ["/half-proxy", "/half-capture"]


def test_an_answer_nobody_asked_for_never_answers_the_next_request(gate):
    # the upstream sends two answers to one request; the second must not
    # become the answer to the agent's next request on the kept-alive line
    pol = gate.policy(LOCAL)
    r = gate.run(pol, py(f"""
        s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
        f = s.makefile("rb")
        def req(path):
            hp = "127.0.0.1:{gate.web}"
            s.sendall(f"GET http://{{hp}}{{path}} HTTP/1.1\\r\\nHost: {{hp}}\\r\\n\\r\\n".encode())
            return read_answer(f)
        out(req("/extra"), req("/second"))
        """))
    (first, second), = results(r)
    assert first == ["200", "ok"], first
    assert second == ["200", f"web GET /second\n"], second
    rec = [x for x in gate.egress() if "more than its answer" in x["reason"]]
    assert rec and rec[0]["decision"] == "-", gate.log()
