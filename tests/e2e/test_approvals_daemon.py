"""Approvals through the daemon, end to end: an agent's request held at
its gate, listed for the people its rule names, decided by them with
`pincer approve` / `pincer reject` (identity from the socket's peer
credentials), executed once, every step recorded.

Three people are needed at once (the agent's user, an approver, someone
who is not one), so these run as root only: root runs the daemon, the
agent works for pincer-test ("alice"), and uid 1000 is "bob".
"""
import json
import pwd
import subprocess
import threading
import http.server

import pytest

from conftest import IS_ROOT, PINCER, Identity
from test_daemon import Daemon, marker, wait_for

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="three identities at once: root only")

BOB_UID = 1000


class Person:
    """Someone who talks to the daemon with the pincer CLI as their uid."""

    def __init__(self, uid):
        pw = pwd.getpwuid(uid)
        self.uid, self.gid, self.name = pw.pw_uid, pw.pw_gid, pw.pw_name
        self.prefix = [] if uid == 0 else ["setpriv", f"--reuid={uid}", f"--regid={self.gid}",
                                           "--clear-groups", "--"]

    def pincer(self, *args, timeout=60):
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
        return subprocess.run(self.prefix + [PINCER, *args], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd="/")


class Upstream:
    """127.0.0.1 HTTP server that records every request it gets."""

    def __init__(self):
        self.got = []
        up = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                up.got.append((self.path, body.decode(errors="replace")))
                self.send_response(201)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


@pytest.fixture
def world():
    try:
        pwd.getpwuid(BOB_UID)
    except KeyError:
        pytest.skip("no user with uid 1000 on this machine")
    root = Identity("root")
    alice = Identity("user")
    up = Upstream()
    d = Daemon(root, admins=["root"],
               users={0: "root", alice.uid: "alice", BOB_UID: "bob"})
    # groups: the daemon's config
    d.config.write_text(d.config.read_text() + "groups:\n  managers: [bob, root]\n")
    d.start()
    yield root, alice, up, d
    d.cleanup()
    up.close()
    root.cleanup()
    alice.cleanup()


def policy(root, up, count=1, hold="60s", timeout="10m"):
    return root.write(f"appr-{count}-{marker()}.yaml", (
        "version: 1\nname: crm\n"
        f"filesystem:\n  read_write: [{root.proj}]\n"
        "network:\n  egress:\n    allow_private: [127.0.0.1/32]\n"
        f"    allow:\n      - host: 127.0.0.1\n        ports: [{up.port}]\n"
        "approvals:\n"
        f"  - match: {{host: 127.0.0.1, methods: [POST]}}\n"
        "    approvers: [group:managers]\n"
        f"    count: {count}\n    hold: {hold}\n    timeout: {timeout}\n"))


def start_poster(d, name, up, pol, body):
    """An agent that POSTs once through its gate and prints the status."""
    script = (f"curl -s -o /dev/null -w 'status=%{{http_code}}\\n' --max-time 120 "
              f"-x http://127.0.0.1:3128 --noproxy '' -d '{body}' "
              f"-H 'Content-Type: application/json' http://127.0.0.1:{up.port}/deals; "
              "exec sleep 300")
    r = d.create(name, "/bin/sh", "-c", script, user="alice", policy=pol, restart="never")
    assert r.returncode == 0, r.stderr
    d.wait_state(name, "running")


def approvals_of(person, d, all_=False):
    args = ["approvals", "--json", "--socket", str(d.socket)] + (["--all"] if all_ else [])
    r = person.pincer(*args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["approvals"]


def test_held_request_runs_once_after_an_approver_says_yes(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    start_poster(d, "crm-bot", up, policy(root, up), '{"amount": 5000}')

    aps = wait_for(lambda: approvals_of(bob, d), 60, "the held request listed for bob")
    ap = aps[0]
    assert ap["agent"] == "crm-bot" and ap["user"] == "alice" and ap["state"] == "pending"
    assert ap["method"] == "POST" and ap["host"] == "127.0.0.1"
    assert "5000" in ap["summary"]
    assert up.got == [], "nothing reached the upstream yet"

    # the human-readable list says what is asked
    r = bob.pincer("approvals", "--socket", str(d.socket))
    assert ap["id"] in r.stdout and "crm-bot" in r.stdout and "POST" in r.stdout

    # alice works with the agent but is no approver: refused, recorded
    r = Person(alice.uid).pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 1 and "may not decide" in r.stderr, r.stderr
    assert up.got == []

    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(up.got) == 1, 60, "the request to reach the upstream")
    assert up.got[0] == ("/deals", '{"amount": 5000}')
    wait_for(lambda: "status=201" in d.cli("logs", "crm-bot").stdout, 60,
             "the agent to see the upstream's answer")

    # once only: approving again changes nothing
    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 1 and "already executed" in r.stderr, r.stderr
    assert len(up.got) == 1

    recs = d.records()
    mine = [x for x in recs if x.get("type") == "approval" and x.get("approval") == ap["id"]]
    assert any(x.get("by") == "bob" and x["decision"] == "allow" for x in mine), mine
    refused = [x for x in recs if x.get("type") == "api" and x.get("identity") == "alice"]
    assert refused and ap["id"] in refused[0]["reason"]
    r = root.pincer("audit", "verify", str(d.audit))
    assert r.returncode == 0, r.stdout + r.stderr


def test_rejected_request_never_leaves_and_the_agent_hears_why(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    start_poster(d, "crm-bot", up, policy(root, up), '{"amount": 1}')
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    r = bob.pincer("reject", ap["id"], "--reason", "not this quarter", "--socket",
                   str(d.socket))
    assert r.returncode == 0, r.stderr
    wait_for(lambda: "status=403" in d.cli("logs", "crm-bot").stdout, 60,
             "the agent to get 403")
    assert up.got == []
    got = approvals_of(root, d, all_=True)
    assert got[0]["state"] == "rejected" and got[0]["reason"] == "not this quarter"
    assert got[0]["rejected_by"] == "bob"


def test_two_person_rule_needs_two_distinct_people(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    start_poster(d, "crm-bot", up, policy(root, up, count=2), '{"amount": 2}')
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 0 and "1 of 2" in r.stdout, r.stdout + r.stderr
    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 1 and "other people" in r.stderr
    assert up.got == []
    r = Person(0).pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(up.got) == 1, 60, "the request after the second approval")


def test_an_approval_waits_through_a_daemon_restart(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    start_poster(d, "crm-bot", up, policy(root, up, hold="5m"), '{"amount": 3}')
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    d.kill9()
    d.start()
    again = wait_for(lambda: approvals_of(bob, d), 60, "the approval after the restart")
    assert again[0]["id"] == ap["id"] and again[0]["state"] == "pending"
    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(up.got) == 1, 60, "the held request, once approved")
    wait_for(lambda: "status=201" in d.cli("logs", "crm-bot").stdout, 60,
             "the agent, still waiting on the same connection, to get the answer")


def test_concurrent_held_requests_from_several_agents_each_decided_alone(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    pol = policy(root, up)
    names = ["crm-a", "crm-b", "crm-c"]
    for i, name in enumerate(names):
        start_poster(d, name, up, pol, f'{{"deal": {i}}}')
    aps = wait_for(lambda: (lambda x: x if len(x) == 3 else None)(approvals_of(bob, d)), 60,
                   "three held requests, one per agent")
    by_agent = {ap["agent"]: ap for ap in aps}
    assert sorted(by_agent) == names
    assert len({ap["id"] for ap in aps}) == 3
    # decided out of order, one rejected: each answer reaches its own agent only
    for name in ("crm-c", "crm-a"):
        r = bob.pincer("approve", by_agent[name]["id"], "--socket", str(d.socket))
        assert r.returncode == 0, r.stderr
    r = bob.pincer("reject", by_agent["crm-b"]["id"], "--reason", "no", "--socket",
                   str(d.socket))
    assert r.returncode == 0, r.stderr
    for name, status in (("crm-a", 201), ("crm-b", 403), ("crm-c", 201)):
        wait_for(lambda: f"status={status}" in d.cli("logs", name).stdout, 60,
                 f"{name} to get {status}")
    assert sorted(up.got) == [("/deals", '{"deal": 0}'), ("/deals", '{"deal": 2}')]
    assert approvals_of(bob, d) == []


def test_an_expired_approval_is_refused_with_a_clear_message(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    start_poster(d, "crm-bot", up, policy(root, up, hold="1s", timeout="2s"), '{"amount": 4}')
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    wait_for(lambda: "status=202" in d.cli("logs", "crm-bot").stdout, 60,
             "the agent to get 202 when the hold ends")
    wait_for(lambda: approvals_of(bob, d) == [], 60, "the approval to expire")
    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 1 and "expired" in r.stderr, r.stderr
    assert up.got == []
    got = [x for x in approvals_of(root, d, all_=True) if x["id"] == ap["id"]]
    assert got[0]["state"] == "expired"


def test_bad_approval_requests(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    r = bob.pincer("approve", "0123456789abcdef", "--socket", str(d.socket))
    assert r.returncode == 1 and "no such approval" in r.stderr
    r = bob.pincer("approve", "--socket", str(d.socket))
    assert r.returncode == 2
    r = bob.pincer("reject", "not-hex!", "--socket", str(d.socket))
    assert r.returncode == 2


# ---- what the approver sees, and how an approval ended (review 30) -----------

def listing_bytes(person, d, *extra):
    """`pincer approvals` as person, stdout as bytes: what reaches a terminal."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    r = subprocess.run(person.prefix + [PINCER, "approvals", "--socket", str(d.socket),
                                        *extra], capture_output=True, env=env, cwd="/",
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_the_list_says_what_it_cuts_and_show_prints_all_of_it(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    # twelve harmless lines first, the amount after them, one line too long
    fields = [(f"f{i:02d}", "ok") for i in range(12)]
    body = json.dumps(dict(fields + [("memo", "x" * 300), ("amount", 1000000)]))
    start_poster(d, "crm-bot", up, policy(root, up), body)
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    r = bob.pincer("approvals", "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    assert "1000000" not in r.stdout  # the list is short ...
    assert f"more lines cut: `pincer approvals show {ap['id']}`" in r.stdout, r.stdout  # ... and says so
    # the whole of it, and the request's fields
    r = bob.pincer("approvals", "show", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    assert '"amount": 1000000' in r.stdout and "x" * 300 in r.stdout, r.stdout
    assert "crm-bot" in r.stdout and "alice" in r.stdout and ap["digest"] in r.stdout
    assert f"127.0.0.1:{up.port}/deals" in r.stdout and "group:managers" in r.stdout
    # a long line in the list is cut, and marked
    start_poster(d, "crm-memo", up, policy(root, up), json.dumps({"memo": "y" * 300}))
    wait_for(lambda: len(approvals_of(bob, d)) == 2, 60, "the second held request")
    r = bob.pincer("approvals", "--socket", str(d.socket))
    assert "y" * 300 not in r.stdout and "more cut)" in r.stdout, r.stdout
    # someone who may not see it is told nothing
    r = Person(alice.uid).pincer("approvals", "show", "0123456789abcdef", "--socket",
                                 str(d.socket))
    assert r.returncode == 1 and "no such approval" in r.stderr


def test_terminal_controls_in_a_request_or_a_reason_are_shown_escaped(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    # U+009B is CSI: "CSI 1A CSI 2K" would move up and erase the line above
    body = '{"amount": 1000000, "note": "\\u009b1A\\u009b2K\\u202e ok"}'
    start_poster(d, "crm-bot", up, policy(root, up), body)
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    out = listing_bytes(bob, d)
    assert b"\xc2\x9b" not in out and b"\xe2\x80\xae" not in out, out
    assert b"1000000" in out and b"\\u009b1A" in out, out
    # a rejection's reason (anyone's text) too: C0, C1 and DEL escaped
    reason = "no\x1b[2J\u009b2K\x7f"
    r = bob.pincer("reject", ap["id"], "--reason", reason, "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    out = listing_bytes(root, d, "--all")
    assert b"\x1b" not in out and b"\xc2\x9b" not in out and b"\x7f" not in out, out
    assert b"reason: no\\x1b[2J\\u{9b}2K\\x7f" in out, out
    # the JSON stays JSON, the text as it was
    assert approvals_of(root, d, all_=True)[0]["reason"] == reason
    # and so does the 409 that repeats it
    r = subprocess.run(bob.prefix + [PINCER, "approve", ap["id"], "--socket", str(d.socket)],
                       capture_output=True, timeout=60, cwd="/")
    assert r.returncode == 1 and b"already rejected" in r.stderr
    assert b"\x1b" not in r.stderr and b"\\x1b[2J" in r.stderr, r.stderr


def gate_records(d, ap_id):
    return [x for x in d.records() if x.get("type") == "approval" and x.get("approval") == ap_id]


def test_the_daemon_hears_an_approval_carried_out(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    start_poster(d, "crm-bot", up, policy(root, up), '{"amount": 7}')
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    got = wait_for(lambda: [x for x in approvals_of(root, d, all_=True)
                            if x["id"] == ap["id"] and x["state"] == "executed"], 60,
                   "the daemon to hear the request was carried out")[0]
    assert got["status"] == 201 and "201" in got["reason"] and got["approved_by"] == ["bob"]
    assert len(up.got) == 1
    r = bob.pincer("approvals", "--all", "--socket", str(d.socket))
    assert "executed" in r.stdout and "upstream answered 201" in r.stdout, r.stdout
    rec = [x for x in gate_records(d, ap["id"]) if x.get("state") == "executed"]
    assert rec and rec[0]["decision"] == "allow" and rec[0]["by"] == "bob"
    assert rec[0]["identity"] == "alice" and rec[0]["agent"] == "crm-bot"
    assert rec[0]["status"] == 201
    r = Person(0).pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 1 and "already executed" in r.stderr, r.stderr
    assert len(up.got) == 1


def test_an_approval_that_failed_at_the_gate_is_failed_for_everyone(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    pol = policy(root, up, count=1)
    pol.write_text(pol.read_text() + "    act_as: approver\n")  # and bob has no secret
    start_poster(d, "crm-bot", up, pol, '{"amount": 1}')
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    wait_for(lambda: "status=403" in d.cli("logs", "crm-bot").stdout, 60, "the agent's 403")
    got = wait_for(lambda: [x for x in approvals_of(root, d, all_=True)
                            if x["id"] == ap["id"] and x["state"] == "failed"], 60,
                   "the daemon to hear the approval failed")[0]
    assert "no secret of bob" in got["reason"] and got.get("decided")
    assert up.got == []
    rec = [x for x in gate_records(d, ap["id"]) if x.get("state") == "failed"]
    assert rec and rec[0]["decision"] == "deny" and rec[0]["by"] == "bob"
    assert rec[0]["identity"] == "alice" and "no secret of bob" in rec[0]["reason"]
    r = Person(0).pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 1 and "already failed" in r.stderr, r.stderr
    r = bob.pincer("approvals", "show", ap["id"], "--socket", str(d.socket))
    assert "failed" in r.stdout and "no secret of bob" in r.stdout, r.stdout


def test_an_approval_a_policy_reload_rejected_can_no_longer_be_approved(world):
    root, alice, up, d = world
    bob = Person(BOB_UID)
    start_poster(d, "crm-bot", up, policy(root, up, hold="1s"), '{"amount": 8}')
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    wait_for(lambda: "status=202" in d.cli("logs", "crm-bot").stdout, 60, "the agent's 202")
    # the rule now names other approvers: the gate rejects what waits
    newpol = policy(root, up)
    newpol.write_text(newpol.read_text().replace("[group:managers]", "[root]"))
    r = root.pincer("policy", "apply", "crm-bot", str(newpol), "--socket", str(d.socket))
    assert r.returncode == 0, r.stdout + r.stderr
    got = wait_for(lambda: [x for x in approvals_of(root, d, all_=True)
                            if x["id"] == ap["id"] and x["state"] == "rejected"], 60,
                   "the daemon to hear the reload rejected it")[0]
    assert "policy changed" in got["reason"], got
    assert approvals_of(bob, d) == []
    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 1 and "already rejected" in r.stderr, r.stderr
    assert up.got == []
    rec = [x for x in gate_records(d, ap["id"]) if x.get("state") == "rejected"]
    assert rec and rec[0]["decision"] == "deny" and "policy changed" in rec[0]["reason"]


def test_an_approval_carried_out_while_the_daemon_was_down_is_known_after(world):
    """The run tells a new subscriber how recent approvals ended: one
    approved, then carried out while the daemon was dead, reads executed
    after its restart (not approved for ever)."""
    root, alice, up, d = world
    bob = Person(BOB_UID)
    go = root.proj / f"go-{marker()}"
    post = (f"curl -s -x http://127.0.0.1:3128 --noproxy '' -d '{{\"amount\": 6}}' "
            f"-H 'Content-Type: application/json' http://127.0.0.1:{up.port}/deals")
    script = (f"id=$({post} | sed -n 's/.*\"approval\": *\"\\([0-9a-f]*\\)\".*/\\1/p'); "
              "echo id=$id; "
              f"while [ ! -e {go} ]; do sleep 0.1; done; "
              f"{post} -o /dev/null -w 'status=%{{http_code}}\\n' -H \"X-Pincer-Approval: $id\"; "
              "exec sleep 300")
    r = d.create("crm-bot", "/bin/sh", "-c", script, user="alice",
                 policy=policy(root, up, hold="0s"), restart="never")
    assert r.returncode == 0, r.stderr
    ap = wait_for(lambda: approvals_of(bob, d), 60, "the held request")[0]
    wait_for(lambda: f"id={ap['id']}" in d.cli("logs", "crm-bot").stdout, 60,
             "the agent to get its 202")
    r = bob.pincer("approve", ap["id"], "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    d.kill9()
    go.write_text("")
    wait_for(lambda: len(up.got) == 1, 60, "the retry, carried out with no daemon")
    d.start()
    got = wait_for(lambda: [x for x in approvals_of(root, d, all_=True)
                            if x["id"] == ap["id"] and x["state"] == "executed"], 60,
                   "the restarted daemon to learn it was carried out")
    assert got[0]["status"] == 201
