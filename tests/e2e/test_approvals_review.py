"""Regressions for the security review of approvals at the gate: each
attack shown failing, with the audit record that says why.

- an upstream that keeps what it was sent handed the approver's secret
  back to the agent on a later request (redaction knew it only during the
  approved request), and the agent could then have sent it anywhere;
- a retry could add headers the approver never saw (a method override, a
  tenant) and still carry out the approval: headers were not in the digest;
- requests waiting for an approval could hold ~2 MB each in pincer's own
  memory (outside the sandbox's limit), 8192 connections of them;
- a chunked body whose encoding outgrew the input buffer stalled for ever
  instead of being refused.
"""
import json

import pytest

import injectkit as ik
import upstreams as up
from injectkit import iups  # noqa: F401
from test_approvals_gate import CRM, appr, got, steps  # noqa: F401

EGRESS = """\
allow_private: [127.0.0.1/32]
allow:
  - host: 127.0.0.1
    ports: [{api}, {web}, %d]
"""


class KeepsWhatItGot(ik._HeadersHandler):
    """/last: the headers of the request before it (an API that shows later
    what it was sent: an audit log, a webhook inspector)."""

    def _serve(self):
        if self.path.split("?")[0] == "/last":
            reqs = [q for q in self.server.requests if not q.path.startswith("/last")]
            out = json.dumps(reqs[-1].headers if reqs else {}).encode() + b"\n"
            self.server.record(up.Request(self.command, self.path, dict(self.headers), b""))
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        return super()._serve()

    do_GET = do_POST = _serve


@pytest.fixture
def keeper(iups):
    u = ik.Upstream("keeper", iups.certs.good)
    u.server.RequestHandlerClass = KeepsWhatItGot
    yield u
    u.stop()


def start(g, port, rules):
    p = g.policy(EGRESS % port if port else EGRESS.replace(", %d", ""), CRM)
    p.write_text(p.read_text() + "approvals:\n" + rules)
    run = g.start(p)
    g.runs.append(run)
    return run, run.daemon()


RULE = ("  - match: {host: 127.0.0.1, methods: [POST], paths: [/deals/**]}\n"
        "    approvers: [bob]\n")


def test_the_approvers_secret_is_never_read_back_nor_sent_on(appr, keeper):
    run, d = start(appr, keeper.port, RULE + "    act_as: approver\n")
    base = f"https://127.0.0.1:{keeper.port}"
    run.send(base + "/deals/5", method="POST", body='{"stage": "won"}',
             headers={"Content-Type": "application/json"})
    a = d.approval()
    assert d.decide(a["id"]) == {"decided": a["id"]}
    st, _, text = run.result()
    assert st == 200, text
    assert got(keeper.server, "POST", "/deals/5")[0].headers["x-api-key"] == appr.bobs
    # later, an ordinary request: what the upstream kept comes back redacted
    st, _, text = run.fetch(base + "/last")
    assert st == 200 and appr.bobs not in text, "the approver's secret read back"
    assert json.loads(text)["x-api-key"] != appr.bobs
    assert appr.egress(why="redacted", path="/last"), "no record of the redaction"
    # and had the agent learnt it elsewhere: it may go nowhere
    st, hd, text = run.fetch(appr.web_url + "/anything", method="POST", body=appr.bobs)
    assert st == 403 and "exfiltration blocked" in hd.get("x-pincer-denied", ""), text
    assert not got(appr.ups.web, "POST", "/anything")
    ex = [x for x in appr.ident.records() if x["type"] == "exfiltration"]
    assert ex and ex[-1]["decision"] == "deny" and ex[-1]["where"] == "body"


def test_a_retry_with_other_headers_is_another_request(appr, keeper):
    run, d = start(appr, keeper.port, RULE + "    hold: 0s\n")
    url = f"https://127.0.0.1:{keeper.port}/deals/4"
    hdr = {"Content-Type": "application/json", "X-Tenant": "ours"}
    st, _, text = run.fetch(url, method="POST", body='{"stage": "won"}', headers=hdr)
    assert st == 202, text
    aid = json.loads(text)["approval"]
    a = d.approval()
    # the approver sees the headers that are bound, not only the body
    assert "x-tenant: ours" in a["summary"], a["summary"]
    assert d.decide(aid) == {"decided": aid}
    for extra in ({"X-HTTP-Method-Override": "DELETE"}, {"X-Tenant": "someone-else"},
                  {"Content-Encoding": "gzip"}):
        h = dict(hdr, **extra, **{"X-Pincer-Approval": aid})
        st, _, text = run.fetch(url, method="POST", body='{"stage": "won"}', headers=h)
        assert st == 403 and "another request" in text, (extra, text)
    assert not got(keeper.server, "POST", "/deals/4"), "a changed request ran"
    st, _, text = run.fetch(url, method="POST", body='{"stage": "won"}',
                            headers=dict(hdr, **{"X-Pincer-Approval": aid}))
    assert st == 200, text
    sent = got(keeper.server, "POST", "/deals/4")
    assert len(sent) == 1 and sent[0].headers["X-Tenant"] == "ours"
    assert [s for s, _ in steps(appr, aid)] == ["hold", "approve", "tampered", "tampered",
                                                "tampered", "execute"]


# Chunked uploads to a held path that never finish: each may hold the raw
# input and the decoded body while it waits.
OPENER = r'''
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
head = (f"POST http://127.0.0.1:{port}/deals/1 HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n").encode()
socks, refused = [], []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", 3128))
    s.sendall(head)
    socks.append(s)
time.sleep(0.5)
for s in socks:
    s.setblocking(False)
    try:
        data = s.recv(4096)
    except BlockingIOError:
        continue
    refused.append(data.decode("latin-1"))
print(len(refused))
for r in refused[:1]:
    print(r.split("\r\n")[0])
    print([l for l in r.split("\r\n") if l.lower().startswith("x-pincer-denied")][0])
'''


def test_requests_waiting_for_approval_have_a_memory_budget(appr):
    run, d = start(appr, None, RULE)
    appr.ident.write("proj/opener.py", OPENER)
    code, _, out = run.sh(["/usr/bin/python3", "opener.py", str(appr.web), "16"])
    assert code == 0, out
    lines = out.splitlines()
    # 3 MiB each at most (2 MiB + 64 KiB raw, 1 MiB decoded): 10 fit in 32 MiB
    assert int(lines[0]) == 6, out
    assert lines[1] == "HTTP/1.1 503 Service Unavailable", out
    assert "32 MiB already" in lines[2], out
    rec = appr.approvals(step="refuse")
    assert len(rec) == 6 and all(x["decision"] == "deny" for x in rec), rec
    assert not appr.ups.web.requests


STALLER = r'''
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", 3128))
s.sendall((f"POST http://127.0.0.1:{port}/deals/2 HTTP/1.1\r\nHost: x\r\n"
           "Transfer-Encoding: chunked\r\n\r\n").encode())
s.settimeout(20)
tiny = b"1\r\na\r\n" * 100000  # 600 KB of encoding for 100 KB of body
try:
    for _ in range(8):
        s.sendall(tiny)
except OSError:
    pass
print(s.recv(4096).decode("latin-1").split("\r\n")[0])
'''


def test_a_chunked_body_whose_encoding_outgrows_the_input_is_refused(appr):
    run, d = start(appr, None, RULE)
    appr.ident.write("proj/staller.py", STALLER)
    code, _, out = run.sh(["/usr/bin/python3", "staller.py", str(appr.web)])
    assert code == 0 and out.strip() == "HTTP/1.1 413 Content Too Large", out
    rec = appr.approvals(step="refuse", path="/deals/2")
    assert rec and "larger than" in rec[0]["reason"]
    assert not appr.ups.web.requests


def test_a_header_that_is_not_utf8_is_shown_escaped(appr, keeper):
    """A header value of latin-1 bytes (not UTF-8, so not JSON text): the
    approval still reaches its subscriber, the bytes shown as \\xNN."""
    run, d = start(appr, keeper.port, RULE + "    hold: 0s\n")
    url = f"https://127.0.0.1:{keeper.port}/deals/6"
    st, _, text = run.fetch(url, method="POST", body="{}",
                            headers={"X-Note": "caf\u00e9", "Content-Type": "application/json"})
    assert st == 202, text
    a = d.approval()
    assert "x-note: caf\\xe9" in a["summary"], a["summary"]
