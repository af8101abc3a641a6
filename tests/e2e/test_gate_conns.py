"""The egress gate, end to end: connections. 100 parallel clients,
upstreams that fail, clients that vanish, streamed bodies, malformed and
ambiguous framing, keep-alive and pipelining, and policy reloads (SIGHUP,
--watch, and what they do to a connection already open). Fixtures in
gatekit.py.
"""
import json
import os
import signal
import socket

import pytest

from gatekit import (CURL, LOCAL, gate, lines, need_names, py,  # noqa: F401
                     results, rule_at, sh, ups, wait_for)


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


def test_bad_chunk_size_is_refused(gate):
    # found while the body streams (the head may have gone upstream), but
    # still a 400 and a deny record, and the upstream never gets a body
    got_code, denied, after = bad_chunk_case(gate)
    assert after == "web GET /next\n", "the gate still serves"
    assert got_code == 400, (got_code, denied, gate.log())
    rec = gate.egress(why="bad-request")
    assert len(rec) == 1 and rec[0]["decision"] == "deny", gate.log()
    assert rec[0]["path"] == "/chunk" and "chunk" in rec[0]["reason"], rec
    cut = [q for q in gate.ups.web.requests if q.path == "/chunk"]
    assert all(q.body is None for q in cut), cut


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


def test_reload_closes_an_open_tunnel_it_no_longer_allows(gate):
    """Revocation does not wait for the agent to hang up: a CONNECT tunnel
    to a destination the reloaded policy drops is closed at once, and the
    record says so."""
    pol = gate.policy(LOCAL)
    proj = gate.ident.proj
    p = gate.popen(pol, py(f"""
        import os
        s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
        s.sendall(b"CONNECT 127.0.0.1:{gate.echo} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        head = s.recv(4096)
        s.sendall(b"ping\\n")
        out(head.split(b"\\r\\n")[0].decode(), s.recv(100).decode())
        open("ready", "w").close()
        got = b""
        try:
            while True:
                b = s.recv(100)
                if not b:
                    break
                got += b
        except OSError as e:
            got += str(e).encode()
        out("after", got.decode())
        """))
    try:
        wait_for(lambda: (proj / "ready").exists(), "the open tunnel")
        web_only = "allow_private: [127.0.0.1/32]\nallow:\n  - host: 127.0.0.1\n    ports: [{web}]\n"
        os.rename(gate.policy(web_only, "new.yaml"), pol)
        p.send_signal(signal.SIGHUP)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    got = [json.loads(line) for line in out.splitlines()]
    assert got == [["HTTP/1.1 200 Connection established", "echo:ping\n"], ["after", ""]], \
        out + err
    rec = gate.one(decision="deny", why="revoked")
    assert rec["port"] == gate.echo and "no longer allows it" in rec["reason"], rec


def test_reload_dropping_allow_private_applies_to_an_open_connection(gate):
    rules = "allow:\n  - host: 127.0.0.1\n    ports: [{other}]\n"
    k1, k2 = reload_between_two_requests(gate, "allow_private: [127.0.0.1/32]\n" + rules, rules)
    assert k1 == ["200", "other GET /k1\n"], k1
    assert k2[0] == "403", (k2, gate.log())
    assert gate.ups.other.paths() == ["/k1"]
    assert gate.one(path="/k2")["why"] == "private-address"


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
