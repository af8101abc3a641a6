"""Approvals at the gate (issue 7, the gate's and the run's side: the
contract is the "approvals" section of src/box/control.h), end to end, as
root and as an ordinary user.

A real `pincer run --control SOCK` whose agent (python inside the sandbox)
sends the requests the test asks for on its stdin, one JSON line each, and
prints what came back. The test plays the daemon: a SOCK_SEQPACKET client
of the run's control socket that subscribes, is told of each approval and
decides. The upstreams are real servers on 127.0.0.1 that record what
reached them (plain HTTP, and TLS through the gate's interception with a
credential injected from the vault, set up for two identities: the run's
and the approver's). Every test checks what the agent got, what the
upstream saw, and the audit records; the chain verifies at the end.
"""
import json
import os
import select
import signal
import subprocess
import textwrap
import time
import uuid

import pytest

from injectkit import Inject, iups, secret  # noqa: F401
from test_exec import connect_as

PROXY = "http://127.0.0.1:3128"
TIMEOUT = 60

# The agent: one request per line of stdin, its outcome printed as one
# JSON line: [status, {header: value}, body] (status 0: the client failed).
AGENT = r'''
import gc, json, os, ssl, sys, urllib.request, urllib.error

def fetch(url, method="GET", headers=None, body=None, proxy="", timeout=90, size=0):
    ctx = ssl.create_default_context()
    handlers = [urllib.request.HTTPSHandler(context=ctx)]
    handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else {}))
    opener = urllib.request.build_opener(*handlers)
    data = body.encode() if body is not None else (b"b" * size if size else None)
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with opener.open(req, timeout=timeout) as r:
            st, hd, b = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        st, hd, b = e.code, e.headers, e.read()
    except Exception as e:
        # the failed response's file keeps the socket open in a reference
        # cycle with the traceback: collect it, so that giving up closes it
        out = [0, {}, f"<{type(e).__name__}: {e}>"]
        del e
        gc.collect()
        return out
    return [st, {k.lower(): v for k, v in hd.items()}, b.decode("latin-1")]

print(json.dumps({"ready": os.environ.get("CRM_KEY", "")}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if "argv" in req:
        import subprocess
        r = subprocess.run(req["argv"], capture_output=True, text=True, timeout=60)
        print(json.dumps([r.returncode, {}, r.stdout + r.stderr]), flush=True)
    else:
        print(json.dumps(fetch(**req)), flush=True)
'''

EGRESS = """\
allow_private: [127.0.0.1/32]
allow:
  - host: 127.0.0.1
    ports: [{api}, {web}]
"""

CRM = """\
- name: crm
  host: 127.0.0.1
  header: x-api-key
  placeholder: CRM_KEY
"""


def rule(approvers="[bob, carol]", methods="[POST]", paths="[/deals/**, /headers]", extra=""):
    return (f"  - match: {{host: 127.0.0.1, methods: {methods}, paths: {paths}{extra}}}\n"
            f"    approvers: {approvers}\n")


class Appr(Inject):
    """One identity's runs with approvals: the upstreams of injectkit, a
    vault with the run's own secret and the approver bob's."""

    def __init__(self, ident, iups):
        super().__init__(ident, iups)
        ident.write("proj/agent.py", AGENT)
        self.mine, self.bobs = secret("crm-"), secret("crm-")
        self.set_secret("crm", self.mine)
        self.set_secret("crm", self.bobs, owner="bob")
        self.web_url = f"http://127.0.0.1:{self.web}"
        self.api_url = f"https://127.0.0.1:{self.api}"

    def approvals_policy(self, rules, creds=True, name="policy.yaml"):
        p = self.policy(EGRESS, CRM if creds else "", name=name)
        p.write_text(p.read_text() + "approvals:\n" + textwrap.dedent(rules))
        return p

    def start(self, policy):
        return Run(self, policy)

    def approvals(self, **match):
        return [x for x in self.ident.records() if x["type"] == "approval"
                and all(x.get(k) == v for k, v in match.items())]


class Run:
    """`pincer run --control SOCK -- python3 agent.py`."""

    def __init__(self, g, policy):
        self.g = g
        self.sock = g.ident.work / f"ctl-{uuid.uuid4().hex[:8]}.sock"
        argv = g.argv(policy, ["/usr/bin/python3", "agent.py"], ["--control", str(self.sock)])
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, cwd=str(g.ident.proj),
                                  env=g.ident.env(g.venv))
        self.buf = b""
        first = self.line()
        assert first and "ready" in first, (first, self.stop())
        self.placeholder = first["ready"]

    def line(self):
        """The agent's next line of output, parsed (None: it ended)."""
        deadline = time.monotonic() + TIMEOUT
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, "the agent said nothing"
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def send(self, url, **kw):
        """Ask the agent for a request; its outcome comes with result()."""
        kw.setdefault("proxy", PROXY)
        self.p.stdin.write((json.dumps(dict(url=url, **kw)) + "\n").encode())
        self.p.stdin.flush()

    def result(self):
        r = self.line()
        assert r is not None, self.stop()
        return r

    def sh(self, argv):
        """Run argv inside: [exit code, {}, output]."""
        self.p.stdin.write((json.dumps({"argv": argv}) + "\n").encode())
        self.p.stdin.flush()
        return self.result()

    def fetch(self, url, **kw):
        self.send(url, **kw)
        return self.result()

    def daemon(self):
        return Daemon(connect_as(self.g.ident.uid, self.g.ident.gid, self.sock))

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.p.kill()
        err = self.p.stderr.read().decode()
        self.p.stdout.close()
        self.p.stderr.close()
        return err


class Daemon:
    """The control socket's subscriber: what it was told, what it decided."""

    def __init__(self, sock):
        self.s = sock
        self.s.settimeout(TIMEOUT)
        self.s.send(json.dumps({"op": "subscribe"}).encode())
        self.queue = []
        first = self.recv()
        assert "subscribed" in first, first
        self.pending = [self.recv()["approval"] for _ in range(first["subscribed"])]

    def recv(self):
        return json.loads(self.s.recv(70000))

    def next(self, key):
        """The next record holding key (others wait in the queue)."""
        for i, r in enumerate(self.queue):
            if key in r:
                return self.queue.pop(i)[key]
        while True:
            r = self.recv()
            if key in r:
                return r[key]
            self.queue.append(r)

    def approval(self):
        return self.next("approval")

    def ended(self):
        return self.next("ended")

    def decide(self, aid, approve=True, approvers=("bob",), by="bob", reason=None):
        req = {"op": "decide", "id": aid, "approve": approve}
        if approve:
            req["approvers"] = list(approvers)
        else:
            req["by"] = by
            if reason is not None:
                req["reason"] = reason
        self.s.send(json.dumps(req).encode())
        while True:
            r = self.recv()
            if "decided" in r or "error" in r:
                return r
            self.queue.append(r)

    def close(self):
        self.s.close()


@pytest.fixture
def appr(pincer, iups):
    g = Appr(pincer, iups)
    g.runs = []
    yield g
    for r in g.runs:
        r.stop()
    if pincer.audit.exists():
        r = pincer.pincer("audit", "verify", str(pincer.audit))
        assert r.returncode == 0, r.stdout + r.stderr


def start(g, rules, **kw):
    run = g.start(g.approvals_policy(rules, **kw))
    g.runs.append(run)
    return run, run.daemon()


def got(upstream, method, path):
    return [q for q in upstream.requests if q.method == method and q.path == path]


def steps(g, aid):
    return [(x["step"], x["decision"]) for x in g.approvals(approval=aid)]


# ---- held, then decided ---------------------------------------------------------

def test_held_then_approved_runs_once_and_other_requests_pass_untouched(appr):
    run, d = start(appr, rule())
    web = appr.ups.web
    # what no rule matches goes at once: no approval, no record
    assert run.fetch(appr.web_url + "/deals/1")[0] == 200  # GET: not a held method
    assert run.fetch(appr.web_url + "/contacts/1", method="POST", body="{}")[0] == 200
    assert not appr.approvals()
    body = json.dumps({"deal": {"id": 7, "amount": 1000}})
    run.send(appr.web_url + "/deals/7?notify=1", method="POST", body=body,
             headers={"Content-Type": "application/json"})
    a = d.approval()
    assert (a["method"], a["host"], a["port"], a["path"]) == \
        ("POST", "127.0.0.1", appr.web, "/deals/7?notify=1")
    assert a["identity"] == appr.ident.name and a["agent"] == "-"
    assert a["approvers"] == ["bob", "carol"] and a["count"] == 1 and a["act_as"] == "agent"
    assert '"amount": 1000' in a["summary"] and a["summary"].startswith("POST 127.0.0.1/deals")
    assert len(a["id"]) == 16 and len(a["digest"]) == 64 and a["rule"] == 0
    assert a["created"] < a["expires"]
    assert not got(web, "POST", "/deals/7?notify=1"), "nothing goes before the decision"
    assert d.decide(a["id"]) == {"decided": a["id"]}
    st, _, text = run.result()
    assert st == 200 and text == "web POST /deals/7?notify=1\n"
    sent = got(web, "POST", "/deals/7?notify=1")
    assert len(sent) == 1 and sent[0].body == body.encode()
    assert not any(k.lower() == "x-pincer-approval" for k in sent[0].headers)
    e = d.ended()
    assert e["id"] == a["id"] and e["state"] == "executed" and e["status"] == 200
    assert steps(appr, a["id"]) == [("hold", "hold"), ("approve", "allow"),
                                    ("execute", "allow")]
    ex = appr.approvals(approval=a["id"], step="execute")[0]
    assert ex["status"] == 200 and ex["approvers"] == "bob" and ex["digest"] == a["digest"]
    assert ex["identity"] == appr.ident.name and ex["rule"].startswith("approvals[0] (")
    # the decided one cannot be decided again
    assert "executed" in d.decide(a["id"])["error"]


def test_act_as_approver_sends_the_approvers_secret_never_the_agents(appr):
    run, d = start(appr, rule() + "    act_as: approver\n")
    api = appr.ups.api
    # an ordinary request carries the run's own secret
    assert run.fetch(appr.api_url + "/headers")[0] == 200
    assert got(api, "GET", "/headers")[0].headers["x-api-key"] == appr.mine
    # the held one: the upstream echoes what it got, the agent sees it redacted
    run.send(appr.api_url + "/headers", method="POST", body='{"stage": "won"}',
             headers={"Content-Type": "application/json", "x-api-key": run.placeholder})
    a = d.approval()
    assert a["act_as"] == "approver" and a["path"] == "/headers"
    assert d.decide(a["id"], approvers=["bob", "carol"]) == {"decided": a["id"]}
    st, hd, text = run.result()
    assert st == 200, text
    sent = got(api, "POST", "/headers")
    assert len(sent) == 1 and sent[0].headers["x-api-key"] == appr.bobs
    assert sent[0].body == b'{"stage": "won"}'
    for v in (appr.bobs, appr.mine):
        assert v not in text and v[8:] not in text and v not in json.dumps(hd)
    eg = [x for x in appr.ident.records() if x["type"] == "egress"
          and x.get("method") == "POST" and x.get("path") == "/headers"
          and x["decision"] == "allow"]
    assert eg and eg[-1].get("owner") == "bob" and eg[-1]["credential"] == "crm", eg
    ex = appr.approvals(approval=a["id"], step="execute")[0]
    assert ex["approvers"] == "bob,carol" and ex["status"] == 200
    # and the next ordinary request is the run's own again
    assert run.fetch(appr.api_url + "/headers")[0] == 200
    assert got(api, "GET", "/headers")[-1].headers["x-api-key"] == appr.mine


def test_act_as_approver_without_a_secret_fails_with_a_reason(appr):
    run, d = start(appr, rule(approvers="[bob, dave]") + "    act_as: approver\n")
    run.send(appr.api_url + "/deals/3", method="POST", body="{}")
    a = d.approval()
    r = d.decide(a["id"], approvers=["dave"])
    assert "no secret 'crm' for dave" in r["error"], r
    st, hd, text = run.result()
    assert st == 403 and json.loads(text)["status"] == "failed", text
    assert "dave" in json.loads(text)["reason"] and hd["x-pincer-approval"] == a["id"]
    assert not got(appr.ups.api, "POST", "/deals/3")
    assert steps(appr, a["id"]) == [("hold", "hold"), ("fail", "deny")]
    assert d.ended()["state"] == "failed"


def test_rejected_gets_403_with_the_reason_and_the_upstream_nothing(appr):
    run, d = start(appr, rule())
    # (captured: the agent connects to the upstream itself, not to the proxy)
    run.send(appr.api_url + "/deals/4", method="POST", body='{"x": 1}', proxy="")
    a = d.approval()
    assert d.decide(a["id"], approve=False, by="carol", reason="not this quarter") == \
        {"decided": a["id"]}
    st, hd, text = run.result()
    assert st == 403, text
    j = json.loads(text)
    assert j["approval"] == a["id"] and j["status"] == "rejected"
    assert "rejected by carol: not this quarter" in j["reason"]
    assert "not this quarter" in hd["x-pincer-denied"]
    assert not got(appr.ups.api, "POST", "/deals/4")
    assert not [x for x in appr.ident.records()
                if x["type"] == "egress" and x["decision"] == "allow"], "nothing was let go"
    rec = appr.approvals(approval=a["id"], step="reject")[0]
    assert rec["decision"] == "deny" and rec["rejected_by"] == "carol"
    assert "not this quarter" in rec["reason"]
    assert d.ended()["state"] == "rejected"


# ---- after the hold: 202, then the retry ----------------------------------------

def test_hold_timeout_gives_202_then_the_retry_runs_once(appr):
    run, d = start(appr, rule() + "    hold: 1s\n")
    web = appr.ups.web
    url, body = appr.web_url + "/deals/5", '{"amount": 5}'
    hdr = {"Content-Type": "application/json"}
    st, hd, text = run.fetch(url, method="POST", body=body, headers=hdr)
    assert st == 202, text
    aid = json.loads(text)["approval"]
    assert json.loads(text)["status"] == "pending" and hd["x-pincer-approval"] == aid
    assert d.approval()["id"] == aid and not got(web, "POST", "/deals/5")
    assert d.decide(aid) == {"decided": aid}
    retry = dict(hdr, **{"X-Pincer-Approval": aid})
    # tampered: another body, another path, another Content-Type
    for u, b, h in ((url, '{"amount": 5000}', retry), (appr.web_url + "/deals/6", body, retry),
                    (url, body, {"X-Pincer-Approval": aid, "Content-Type": "text/plain"})):
        st, hd, text = run.fetch(u, method="POST", body=b, headers=h)
        assert st == 403 and "was given for another request" in text, text
    assert not web.requests
    assert len(appr.approvals(approval=aid, step="tampered", decision="deny")) == 3
    # the request approved, once
    st, _, text = run.fetch(url, method="POST", body=body, headers=retry)
    assert st == 200 and text == "web POST /deals/5\n"
    sent = got(web, "POST", "/deals/5")
    assert len(sent) == 1 and "X-Pincer-Approval" not in sent[0].headers
    st, _, text = run.fetch(url, method="POST", body=body, headers=retry)
    assert st == 403 and "carried out already" in text, text
    assert len(got(web, "POST", "/deals/5")) == 1
    assert [s for s, _ in steps(appr, aid)] == ["hold", "approve", "tampered", "tampered",
                                                "tampered", "execute", "retry"]
    # an id this run never gave
    st, _, text = run.fetch(url, method="POST", body=body,
                            headers={"X-Pincer-Approval": "0123456789abcdef"})
    assert st == 403 and "names no approval of this run" in text
    assert appr.approvals(step="retry", decision="deny", path="/deals/5")


def test_expired_approval_is_refused_and_recorded(appr):
    run, d = start(appr, rule() + "    hold: 0s\n    timeout: 1s\n")
    url = appr.web_url + "/deals/8"
    st, _, text = run.fetch(url, method="POST", body="{}")
    assert st == 202, text
    aid = json.loads(text)["approval"]
    e = d.ended()
    assert e["id"] == aid and e["state"] == "expired"
    assert "expired" in d.decide(aid)["error"]
    st, hd, text = run.fetch(url, method="POST", body="{}", headers={"X-Pincer-Approval": aid})
    assert st == 403 and "expired" in json.loads(text)["reason"], text
    assert not appr.ups.web.requests
    assert steps(appr, aid) == [("hold", "hold"), ("expire", "deny"), ("retry", "deny")]


def test_agent_gone_while_held_leaves_it_pending_for_the_retry(appr):
    run, d = start(appr, rule())
    url = appr.api_url + "/deals/9"
    st, _, text = run.fetch(url, method="POST", body="{}", timeout=1.5)
    assert st == 0 and "timed out" in text, text  # the agent gave up waiting
    a = d.approval()
    assert d.decide(a["id"]) == {"decided": a["id"]}
    assert not got(appr.ups.api, "POST", "/deals/9"), "approved, nobody waits: nothing runs"
    st, _, text = run.fetch(url, method="POST", body="{}", headers={"X-Pincer-Approval": a["id"]})
    assert st == 200 and text == "api POST /deals/9\n"
    assert len(got(appr.ups.api, "POST", "/deals/9")) == 1


# ---- what is held -----------------------------------------------------------------

def test_body_over_the_limit_is_refused_a_big_one_within_it_held_whole(appr):
    run, d = start(appr, rule())
    st, hd, text = run.fetch(appr.web_url + "/deals/10", method="POST", size=(1 << 20) + 1)
    assert st == 413 and "larger than the 1048576 bytes" in hd["x-pincer-denied"], text
    assert not appr.ups.web.requests
    rec = appr.approvals(step="refuse", path="/deals/10")
    assert rec and rec[0]["decision"] == "deny"
    # just within, through TLS: held whole, sent whole
    run.send(appr.api_url + "/deals/11", method="POST", size=900 * 1024)
    a = d.approval()
    assert "(921600 bytes, not JSON)" in a["summary"]
    assert d.decide(a["id"]) == {"decided": a["id"]}
    assert run.result()[0] == 200
    sent = got(appr.ups.api, "POST", "/deals/11")
    assert len(sent) == 1 and sent[0].body == b"b" * (900 * 1024)


def test_a_rules_body_max_sets_the_limit(appr):
    run, d = start(appr, rule() + "    body_max: 64K\n    hold: 0s\n")
    st, hd, text = run.fetch(appr.web_url + "/deals/30", method="POST", size=70000)
    assert st == 413 and "larger than the 65536 bytes" in hd["x-pincer-denied"], text
    assert "body_max" in hd["x-pincer-denied"]
    st, _, text = run.fetch(appr.web_url + "/deals/31", method="POST", size=60000)
    assert st == 202, text
    assert "(60000 bytes, not JSON)" in d.approval()["summary"]
    assert not appr.ups.web.requests


def test_json_field_match_holds_only_requests_with_that_value(appr):
    run, d = start(appr, rule(extra=", json: {path: 'deal.stages[1]', value: won}"))
    url = appr.web_url + "/deals/12"
    hdr = {"Content-Type": "application/json"}
    for body in ('{"deal": {"stages": ["open", "lost"]}}', '{"deal": {"stages": ["won"]}}',
                 '{"deal": {"stage": "won"}}'):
        assert run.fetch(url, method="POST", body=body, headers=hdr, proxy="")[0] == 200
    assert len(got(appr.ups.web, "POST", "/deals/12")) == 3 and not appr.approvals()
    assert {x["proto"] for x in appr.ident.records() if x.get("path") == "/deals/12"} == \
        {"capture-http"}
    won = '{"deal": {"stages": ["open", "won"], "amount": 3}}'
    run.send(url, method="POST", body=won, headers=hdr, proxy="")
    a = d.approval()
    assert '"won"' in a["summary"]
    d.decide(a["id"], approve=False, by="bob")
    assert run.result()[0] == 403
    assert len(got(appr.ups.web, "POST", "/deals/12")) == 3


def test_a_late_subscriber_is_sent_the_pending_approvals(appr):
    run = appr.start(appr.approvals_policy(rule()))
    appr.runs.append(run)
    run.send(appr.api_url + "/deals/13", method="POST", body="{}")
    deadline = time.monotonic() + TIMEOUT
    while not appr.approvals(step="hold"):
        assert time.monotonic() < deadline, "never held"
        time.sleep(0.05)
    first = run.daemon()  # a daemon that comes after the approval was made
    assert [a["path"] for a in first.pending] == ["/deals/13"]
    first.close()
    d = run.daemon()  # and one restarted after that
    assert len(d.pending) == 1 and d.pending[0]["id"] == first.pending[0]["id"]
    assert d.decide(d.pending[0]["id"]) == {"decided": d.pending[0]["id"]}
    assert run.result()[0] == 200


def test_two_person_rule_needs_two_distinct_approvers(appr):
    run, d = start(appr, rule(approvers="[bob, carol, erin]") + "    count: 2\n")
    run.send(appr.web_url + "/deals/14", method="POST", body="{}")
    a = d.approval()
    assert a["count"] == 2
    assert "needs 2 distinct approvers, 1 given" in d.decide(a["id"], approvers=["bob"])["error"]
    assert "named twice" in d.decide(a["id"], approvers=["bob", "bob"])["error"]
    assert "not a person" in d.decide(a["id"], approvers=["bob", "group:x"])["error"]
    assert not appr.ups.web.requests
    assert d.decide(a["id"], approvers=["bob", "carol"]) == {"decided": a["id"]}
    assert run.result()[0] == 200
    assert appr.approvals(approval=a["id"], step="approve")[0]["approvers"] == "bob,carol"


def test_malformed_decisions_close_the_connection(appr):
    run, d = start(appr, rule())
    d.s.send(json.dumps({"op": "decide", "id": "x", "approve": True, "approvers": ["bob"],
                         "note": 1}).encode())
    assert "bad decide request" in d.recv()["error"]
    assert d.s.recv(100) == b"", "closed"
    d2 = run.daemon()
    assert "no approval" in d2.decide("0123456789abcdef")["error"]  # refused, stays open
    d2.s.send(json.dumps({"op": "decide", "id": "x", "approve": False}).encode())
    assert "names who rejected" in d2.recv()["error"]


def test_reload_rejects_approvals_whose_rule_changed(appr):
    pol = appr.approvals_policy(rule())
    run = appr.start(pol)
    appr.runs.append(run)
    d = run.daemon()
    run.send(appr.web_url + "/deals/15", method="POST", body="{}")
    a = d.approval()
    pol.write_text(pol.read_text().replace("[bob, carol]", "[carol]"))
    run.p.send_signal(signal.SIGHUP)
    st, _, text = run.result()
    assert st == 403 and "policy changed" in text, text
    e = d.ended()
    assert e["id"] == a["id"] and e["state"] == "rejected"
    assert steps(appr, a["id"]) == [("hold", "hold"), ("reject", "deny")]
    assert not appr.ups.web.requests


def test_a_tunnel_that_hides_requests_to_an_approval_host_is_denied(appr):
    run, d = start(appr, rule(), creds=False)
    # SOCKS5 cannot carry the gate's TLS: the requests inside would pass unseen
    rc, _, text = run.sh(["curl", "-sS", "--max-time", "20", "--noproxy", "", "--socks5-hostname",
                          "127.0.0.1:3128", "-d", "{}", appr.api_url + "/deals/16"])
    assert rc != 0, text
    # through the HTTP proxy the same request is seen and held
    run.send(appr.api_url + "/deals/16", method="POST", body="{}")
    a = d.approval()
    d.decide(a["id"])
    assert run.result()[0] == 200
    eg = [x for x in appr.ident.records()
          if x["type"] == "egress" and x.get("why") == "approval-unseen"]
    assert eg and eg[0]["proto"] == "socks5" and "need approval" in eg[0]["reason"]
