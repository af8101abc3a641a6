"""Regressions for the security review of credential injection: each
attack is shown failing, with the audit record that says why, and pincer
itself surviving it (its run.end record is written).

- a malformed chunked body inside an intercepted connection (fresh and
  kept alive) used to crash pincer (callbacks run under a flush);
- bytes pipelined behind a waiting request were decrypted without bound
  (the TLS filter had no read limit);
- a host that echoes its input in another spelling (percent-encoded, in
  base64) handed the secret back;
- a secret with CR/LF swapped into a header the agent chose split the
  request in two (a smuggled, unrecorded request);
- a secret with nothing to draw a placeholder from would have been its own
  placeholder.
"""
import base64
import json
import urllib.parse

from injectkit import inj, iups, py_agent, secret  # noqa: F401
from test_inject import EGRESS, ANTHROPIC, hget, no_secret_in, outs


def ended(inj):
    """pincer wrote its run.end record: it did not die."""
    return any(x["type"] == "run.end" for x in inj.ident.records())


def test_bad_chunked_body_inside_tls_does_not_crash_the_gate(inj):
    inj.set_secret("anthropic", secret())
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, py_agent(f"""
        import socket, ssl
        ctx = ssl.create_default_context()
        def tls():
            s = socket.create_connection(("127.0.0.1", 3128))
            s.sendall(b"CONNECT 127.0.0.1:{inj.api} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            s.recv(4096)
            return ctx.wrap_socket(s, server_hostname="127.0.0.1")
        bad = b"POST /x HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n"
        t = tls()
        t.sendall(bad)
        out("fresh", t.recv(4096).decode("latin-1").split("\\r\\n")[0])
        t = tls()
        t.sendall(b"GET /headers HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
        got = b""
        while b"\\r\\n\\r\\n" not in got or not got.endswith(b"}}\\n"):
            got += t.recv(65536)
        first = got.decode("latin-1").split("\\r\\n")[0]
        t.sendall(bad)
        out("kept-alive", first, t.recv(4096).decode("latin-1").split("\\r\\n")[0])
        """))
    got = outs(r)
    assert got == [["fresh", "HTTP/1.1 400 Bad Request"],
                   ["kept-alive", "HTTP/1.1 200 OK", "HTTP/1.1 400 Bad Request"]], got
    assert len(inj.egress(decision="deny", why="bad-request", proto="https")) == 2, inj.log()
    assert ended(inj), "pincer died: no run.end record"


def test_pipelined_flood_behind_a_waiting_request_is_bounded(inj):
    inj.set_secret("anthropic", secret())
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, py_agent(f"""
        import socket, ssl, time
        s = socket.create_connection(("127.0.0.1", 3128))
        s.sendall(b"CONNECT 127.0.0.1:{inj.api} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        s.recv(4096)
        t = ssl.create_default_context().wrap_socket(s, server_hostname="127.0.0.1")
        t.sendall(b"GET /sleep?s=4 HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
        t.settimeout(0.5)
        sent, block, end = 0, b"A" * 65536, time.monotonic() + 3
        while time.monotonic() < end and sent < (256 << 20):
            try:
                sent += t.send(block)
            except (socket.timeout, ssl.SSLWantWriteError):
                pass
        out("accepted", sent)
        """), timeout=60)
    [[_, sent]] = outs(r)
    # The gate holds at most its read limits (plaintext, ciphertext) plus
    # the kernel's socket buffers; unbounded, this was hundreds of MiB.
    assert sent < (24 << 20), f"the gate took {sent >> 20} MiB behind a waiting request"
    assert ended(inj)


def test_secret_echoed_in_another_spelling_is_redacted(inj):
    """A credential that goes wherever its placeholder is: the host echoes
    the raw (percent-encoded) path and every header in base64. Neither
    spelling brings the secret back."""
    key = "AKIAabc/def+ghi=jkl/mnoPQRstu+vwxYZ0123456789"
    inj.set_secret("aws", key)
    pol = inj.policy(EGRESS, "- name: aws\n  host: 127.0.0.1\n  placeholder: AWS_KEY\n")
    r = inj.run(pol, py_agent(f"""
        import os
        ph = os.environ["AWS_KEY"]
        st, hd, body = fetch("https://127.0.0.1:{inj.api}/forms/" + ph, {{"X-Key": ph}})
        out(st, body)
        """))
    [[st, body]] = outs(r)
    assert st == 200, body
    [q] = inj.ups.api.requests
    assert urllib.parse.unquote(q.path) == "/forms/" + key, "not injected"
    assert hget(q.headers, "X-Key") == key
    echoed = json.loads(body)
    shown = urllib.parse.unquote(echoed["path"]) + base64.b64decode(echoed["b64"]).decode("latin-1")
    no_secret_in(shown, key, what="decoded echo")
    no_secret_in(r.stdout, key)
    assert inj.egress(why="redacted"), inj.log()


def test_secret_with_line_breaks_cannot_split_a_request(inj):
    pem = "-----BEGIN KEY-----\r\nMIIBxyz0123456789\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    inj.set_secret("pem", pem)
    pol = inj.policy(EGRESS, "- name: pem\n  host: 127.0.0.1\n  placeholder: PEM_KEY\n")
    r = inj.run(pol, py_agent(f"""
        import os
        st, hd, body = fetch("https://127.0.0.1:{inj.api}/headers", {{"X-A": os.environ["PEM_KEY"]}})
        out(st, hd.get("x-pincer-denied", ""))
        """))
    [[st, why]] = outs(r)
    assert st == 502 and "control characters" in why, (st, why)
    assert inj.ups.api.requests == [], "a request reached the upstream"
    rec = inj.one(decision="deny", why="credential")
    assert "cannot go in a header" in rec["reason"], rec


def test_secret_without_anything_to_draw_a_placeholder_from_refuses_to_start(inj):
    inj.set_secret("odd", "!!!!!!!!!!!!")
    pol = inj.policy(EGRESS, "- name: odd\n  host: 127.0.0.1\n  header: x-k\n  placeholder: ODD\n")
    r = inj.run(pol, ["/bin/true"])
    assert r.returncode != 0 and "placeholder" in r.stderr, (r.returncode, r.stderr)


def _copies(pid, value):
    """How many times value is in the readable memory of process pid (read
    in pieces; mappings of gigabytes, such as an ASan build's shadow, are
    reservations, not data, and are skipped)."""
    found, step = 0, 4 << 20
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            a, b = (int(x, 16) for x in span.split("-"))
            if "r" not in perms or b - a > (1 << 30):
                continue
            tail = b""
            for at in range(a, b, step):
                try:
                    mem.seek(at)
                    chunk = tail + mem.read(min(step, b - at))
                except (OSError, ValueError, OverflowError):
                    break
                found += chunk.count(value)
                tail = chunk[-(len(value) - 1):]
    return found


def test_sandbox_pid1_holds_no_copy_of_the_secrets(inj):
    """PID 1 is a copy of pincer's memory: the secrets are wiped from it
    first thing. (Read from the host as root; pincer itself holds one.)"""
    import os
    import time
    import pytest
    if os.geteuid() != 0 or inj.ident.prefix:
        pytest.skip("reading another process's memory needs root on the host")
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, ANTHROPIC)
    p = inj.popen(pol, ["/bin/sleep", "5"])
    try:
        def comm(pid):
            return open(f"/proc/{pid}/comm").read().strip()

        def kids(pid):
            return [int(x) for x in open(f"/proc/{pid}/task/{pid}/children").read().split()]

        pincer = init = None
        for _ in range(100):  # the unshare wrapper execs pincer: p.pid is pincer
            pincer = p.pid if comm(p.pid) == "pincer" else None
            init = next((k for k in kids(pincer) if comm(k) == "pincer-init"), None) \
                if pincer else None
            if init:
                break
            time.sleep(0.05)
        assert pincer and init, "no pincer-init found"
        time.sleep(0.3)
        assert _copies(pincer, key.encode()) >= 1, "the scan finds nothing at all"
        assert _copies(init, key.encode()) == 0, "PID 1 holds the secret"
    finally:
        p.kill()
        p.wait()


def test_a_value_too_uniform_to_search_for_is_refused_also_when_rotated_out(inj):
    """Second review: a previous value of all '*' (replaced by '*' it is
    found again) hung the gate; the start refuses it, naming it."""
    inj.set_secret("anthropic", "********")
    inj.set_secret("anthropic", secret(), verb="rotate")
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, ["/bin/true"])
    assert r.returncode != 0 and "previous value" in r.stderr, (r.returncode, r.stderr)


def test_expect_100_continue_with_a_small_body_is_not_held(inj):
    """A client waiting for 100 Continue sends no body until it hears from
    the upstream: the gate must not wait for that body first."""
    inj.set_secret("anthropic", secret())
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, ["/bin/sh", "-c",
                      "head -c 1000 /dev/zero > /tmp/small; "
                      "curl -sS --max-time 10 --expect100-timeout 60 -o /dev/null "
                      "-w '%{http_code}' -H 'Expect: 100-continue' --data-binary @/tmp/small "
                      f"https://127.0.0.1:{inj.api}/headers; echo \" rc=$?\""])
    assert "200 rc=0" in r.stdout, r.stdout + r.stderr


def test_client_that_half_closes_without_close_notify_does_not_hang_the_gate(inj):
    """A client that ends its TCP stream (no TLS close_notify) while its
    answer is on the way still gets the answer, and the next client too.
    (bench/gate once left the gate spinning at 100% CPU: its TLS filter fed
    the session from a socket buffer of nothing but empty chunks, counted
    by evbuffer_peek, for ever. That layout comes from libevent's reads and
    this test does not make it on demand: it covers the half-close path
    around it; gate_tls.c's tls_in now feeds by length.)"""
    inj.set_secret("anthropic", secret())
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, py_agent(f"""
        import socket, ssl
        ctx = ssl.create_default_context()
        def tunnel():
            s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
            s.sendall(b"CONNECT 127.0.0.1:{inj.api} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            s.recv(4096)
            return s
        for round in range(3):
            s = tunnel()
            inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
            t = ctx.wrap_bio(inb, outb, server_hostname="127.0.0.1")
            while True:  # the handshake, by hand: the socket stays ours
                try:
                    t.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    s.sendall(outb.read())
                    inb.write(s.recv(65536))
            s.sendall(outb.read())
            t.write(b"GET /sleep?s=0.5 HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
            s.sendall(outb.read())
            s.shutdown(socket.SHUT_WR)  # TCP FIN, no close_notify
            got = b""
            while b"\\r\\n\\r\\n" not in got:
                data = s.recv(65536)
                if not data:
                    break
                inb.write(data)
                try:
                    got += t.read(65536)
                except ssl.SSLWantReadError:
                    pass
            out("half-closed", round, got.split(b"\\r\\n")[0].decode())
            s.close()
        t = ctx.wrap_socket(tunnel(), server_hostname="127.0.0.1")
        t.sendall(b"GET /headers HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n")
        out("next", t.recv(4096).split(b"\\r\\n")[0].decode())
        """), timeout=90)
    assert outs(r) == [["half-closed", i, "HTTP/1.1 200 OK"] for i in range(3)] + \
        [["next", "HTTP/1.1 200 OK"]], r.stdout + r.stderr
    assert ended(inj)


def test_an_answer_redaction_cannot_read_is_not_passed_on(inj):
    """Answers are searched for the secret as sent, so the gate asks for
    identity. An upstream that answers gzip anyway (Content-Encoding, or a
    transfer coding besides chunked) with the secret it got inside would
    carry it past redaction: the agent gets 502 instead, and the record
    says why. A plain answer from the same host still passes."""
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, py_agent(f"""
        import gzip, os
        ph = os.environ["ANTHROPIC_API_KEY"]
        for route in ("gzip", "gzip-te", "headers"):
            st, hd, body = fetch("https://127.0.0.1:{inj.api}/" + route,
                                 {{"x-api-key": ph, "Accept-Encoding": "gzip"}})
            out(route, st, hd.get("x-pincer-denied"), body)
        """))
    no_secret_in(r.stdout + r.stderr, key)
    got = {g[0]: g[1:] for g in outs(r)}
    for route in ("gzip", "gzip-te"):
        st, denied, body = got[route]
        assert st == 502 and "encoding pincer cannot search" in denied, (route, got[route])
    assert got["headers"][0] == 200, got
    # the attack was real: the upstream got the secret and was asked for identity
    for q in inj.ups.api.requests:
        assert hget(q.headers, "x-api-key") == key, q
        assert hget(q.headers, "Accept-Encoding") == "identity", q
    recs = inj.egress(decision="-", why="upstream")
    assert len(recs) == 2, inj.log()
    assert "answered with a Content-Encoding though asked for the whole" in recs[0]["reason"]
    assert "a Transfer-Encoding other than chunked" in recs[1]["reason"]
    no_secret_in(inj.audit_text(), key, what="audit log")


def test_identity_is_asked_for_on_every_intercepted_request(inj):
    """A request that carries no credential, to a host the gate intercepts
    in a run that has secrets, still asks for identity: an upstream may hand
    back a secret it got on an earlier request."""
    inj.set_secret("anthropic", secret())
    pol = inj.policy(EGRESS.replace("  - host: localhost\n", "  - host: localhost\n"
                                    "    methods: [GET]\n"), ANTHROPIC)
    r = inj.run(pol, py_agent(f"""
        st, hd, body = fetch("https://localhost:{inj.api}/headers?plain",
                             {{"Accept-Encoding": "gzip, br"}})
        out(st, body)
        """))
    [[st, body]] = outs(r)
    assert st == 200, body
    [q] = inj.ups.api.requests
    assert hget(q.headers, "Accept-Encoding") == "identity", q.headers
    assert inj.one(decision="allow", proto="https", host="localhost")


def test_every_secret_is_searched_however_many_credentials(inj):
    """A search used to look for at most 512 values and drop the rest
    silently: 80 credentials whose secrets hold '/' (7 spellings each) left
    the last ones neither redacted nor refused. The last credential's
    secret, echoed by its host, is redacted; its placeholder sent to another
    host is refused."""
    many = 80
    creds = ""
    for i in range(many):
        inj.set_secret(f"c{i}", secret(f"sk-{i}/"))
        creds += f"- name: c{i}\n  host: h{i}.example\n  placeholder: C{i}_KEY\n"
    key = secret("sk-last/")
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, creds + ANTHROPIC)
    r = inj.run(pol, py_agent(f"""
        import os
        ph = os.environ["ANTHROPIC_API_KEY"]
        st, hd, body = fetch("https://127.0.0.1:{inj.api}/headers", {{"x-api-key": ph}})
        out("echo", st, body)
        st, hd, body = fetch("http://localhost:{inj.web}/x", {{"x-other": ph}})
        out("other", st)
        """))
    no_secret_in(r.stdout + r.stderr, key)
    got = {g[0]: g[1:] for g in outs(r)}
    st, body = got["echo"]
    assert st == 200, body
    assert [hget(q.headers, "x-api-key") for q in inj.ups.api.requests][:1] == [key]
    assert inj.one(decision="-", why="redacted")["reason"].endswith(
        "credential anthropic: replaced before the agent saw it"), inj.log()
    assert got["other"] == [403], got  # its placeholder to a host it does not name
    assert inj.exfil(credential="anthropic"), inj.log()
