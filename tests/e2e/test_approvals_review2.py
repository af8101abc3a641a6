"""Regressions for the second security review of approvals (of the first
review's fixes): each attack shown failing.

- F1 a deny rule naming an address was passed by a method override sent to
  a name resolving to it (the by-address check knew only the real method);
- F2 a _method a server reads but the gate did not (two Content-Types, a
  JSON body, a gzip'ed form, a multipart name*=) skipped an approval rule;
- F3 a deny rule naming methods made every multipart upload to its host
  wait whole, and big ones were refused as if an approval applied;
- F4 a method override after 4 KiB of headers was bound but not shown;
- F6 a json: rule ignored the same field in the query string;
- the 32 MiB budget comes back when connections close mid-body.
"""
import gzip
import json

import pytest

import injectkit as ik
import upstreams as up
from injectkit import iups  # noqa: F401
from test_approvals_gate import CRM, appr, got, steps  # noqa: F401

RAW = r'''
import socket, sys
port, head, body = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
head = head.replace("PORT", str(port)).replace("LEN", str(len(body)))
s = socket.create_connection(("127.0.0.1", 3128))
s.sendall(head.encode().replace(b"\n", b"\r\n") + b"\r\n" + body)
s.settimeout(30)
out = b""
while True:
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    if not d:
        break
    out += d
print(out.split(b"\r\n")[0].decode())
print(out.decode("latin-1"))
'''


def raw(run, port, head, body=b""):
    rc, _, out = run.sh(["/usr/bin/python3", "-c", RAW, str(port), head, body.hex()])
    assert rc == 0, out
    return out


def start(g, egress, rules=""):
    p = g.policy(egress, CRM)
    if rules:
        p.write_text(p.read_text() + "approvals:\n" + rules)
    run = g.start(p)
    g.runs.append(run)
    return run


HELD = ("  - match: {host: 127.0.0.1, methods: [DELETE], paths: [/deals/**]}\n"
        "    approvers: [bob]\n    hold: 0s\n")
EG = """\
allow_private: [127.0.0.1/32]
allow:
  - host: 127.0.0.1
    ports: [{api}, {web}]
  - host: localhost
    ports: [{web}]
"""
DENY_IP = EG + """\
deny:
  - host: 127.0.0.1
    methods: [DELETE]
"""


# F1: a deny rule naming an address denies a name resolving to it, but only
# by the request's own method: an override passes.
def test_deny_rule_by_address_and_an_override(appr):
    run = start(appr, DENY_IP)
    web = appr.ups.web
    u = f"http://localhost:{appr.web}/deals/1"
    st, _, text = run.fetch(u, method="DELETE", proxy="http://127.0.0.1:3128")
    assert st == 403, text  # control: the plain DELETE is denied by address
    st, _, text = run.fetch(f"http://127.0.0.1:{appr.web}/deals/1", method="POST", body="",
                            headers={"X-HTTP-Method-Override": "DELETE"})
    assert st == 403, text  # control: the override to the literal is denied
    st, _, text = run.fetch(u, method="POST", body="",
                            headers={"X-HTTP-Method-Override": "DELETE"})
    assert st == 403 and not got(web, "POST", "/deals/1"), \
        ("F1: override through a name of the denied address passed", st, text)
    recs = [x for x in appr.egress(why="deny-rule") if x.get("host") == "localhost"
            and "address a deny rule names" in x.get("reason", "")]
    assert len(recs) == 2, appr.log()  # the plain DELETE and the override


# F2: _method a server reads.
FORM = "application/x-www-form-urlencoded"
CASES = {
    "control-one-form": (f"Content-Type: {FORM}\n", b"_method=DELETE"),
    "two-content-types": (f"Content-Type: {FORM}\nContent-Type: {FORM}\n",
                          b"_method=DELETE"),
    "json-body (Laravel)": ("Content-Type: application/json\n", b'{"_method": "DELETE"}'),
    "gzip-form (body-parser inflates)": (f"Content-Type: {FORM}\nContent-Encoding: gzip\n",
                                         gzip.compress(b"_method=DELETE")),
    "multipart name*=": ("Content-Type: multipart/form-data; boundary=XX\n",
                         b"--XX\r\nContent-Disposition: form-data; name*=UTF-8''%5Fmethod"
                         b"\r\n\r\nDELETE\r\n--XX--\r\n"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_method_override_in_body_is_held(appr, case):
    run = start(appr, EG, HELD)
    hdrs, body = CASES[case]
    head = ("POST http://127.0.0.1:PORT/deals/2 HTTP/1.1\nHost: 127.0.0.1:PORT\n" + hdrs +
            "Content-Length: LEN\nConnection: close\n")
    out = raw(run, appr.web, head, body)
    assert out.startswith("HTTP/1.1 202"), (f"F2 {case}: not held", out[:300])
    assert not got(appr.ups.web, "POST", "/deals/2")


# F3: a deny rule naming methods made every form/multipart body to its
# host wait whole, and > 1 MiB ones were refused as if an approval applied.
# Since review rev40 a multipart body is read whole again (Rails reads a
# part's _method: a DELETE deny rule was passed by a multipart POST): one up
# to body_max (1 MiB) goes once read, a larger one is refused with a 413
# that names the deny rule, not an approval.
def test_big_upload_to_a_host_with_a_method_deny_rule(appr):
    run = start(appr, DENY_IP)
    multi = {"Content-Type": "multipart/form-data; boundary=zz"}
    st, hd, text = run.fetch(appr.web_url + "/upload", method="POST", size=1 << 20,
                             headers=multi)
    assert st == 200, ("upload refused", st, hd.get("x-pincer-denied"), text[:200])
    st, hd, text = run.fetch(appr.web_url + "/upload", method="POST", size=2 << 20,
                             headers=multi)
    assert st == 413, (st, text[:200])
    assert "a deny rule names methods" in text and "approval" not in text, text


# F4: the approver's summary cuts headers at 4 KB: an override after them
# is bound but never shown.
def test_summary_shows_the_override(appr):
    p = appr.approvals_policy("  - match: {host: 127.0.0.1, methods: [POST, DELETE], "
                              "paths: [/deals/**]}\n    approvers: [bob]\n    hold: 0s\n")
    run = appr.start(p)
    appr.runs.append(run)
    d = run.daemon()
    st, _, text = run.fetch(appr.web_url + "/deals/3", method="POST", body='{"a":1}',
                            headers={"Content-Type": "application/json", "X-Pad": "a" * 4100,
                                     "X-HTTP-Method-Override": "DELETE"})
    assert st == 202, text
    a = d.approval()
    assert "delete" in a["summary"].lower(), ("F4: the approver never sees DELETE",
                                              a["summary"][-300:])


# F6: a json: rule and the same field in the query (Rails, Laravel merge them).
def test_json_field_in_the_query_is_held(appr):
    rule = ("  - match: {host: 127.0.0.1, methods: [POST], paths: [/deals/**],"
            " json: {path: stage, value: won}}\n    approvers: [bob]\n    hold: 0s\n")
    run = start(appr, EG, rule)
    st, _, text = run.fetch(appr.web_url + "/deals/6", method="POST", body='{"stage":"won"}',
                            headers={"Content-Type": "application/json"})
    assert st == 202, text  # control
    st, _, text = run.fetch(appr.web_url + "/deals/6?stage=won", method="POST", body="",
                            headers={"Content-Type": "application/json"})
    assert st == 202, ("F6: stage=won in the query went through", st, text)


# Budget: reservations come back when connections close mid-body.
BUDGET = r'''
import socket, sys, time
port = int(sys.argv[1])
head = (f"DELETE http://127.0.0.1:{port}/deals/1 HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n").encode()
socks = []
for i in range(14):
    s = socket.create_connection(("127.0.0.1", 3128)); s.sendall(head); socks.append(s)
time.sleep(0.5)
full = 0
for s in socks:
    s.setblocking(False)
    try:
        full += b" 503 " in s.recv(4096)
    except BlockingIOError:
        pass
for s in socks: s.close()
time.sleep(1)
s = socket.create_connection(("127.0.0.1", 3128)); s.settimeout(20)
s.sendall(f"DELETE http://127.0.0.1:{port}/deals/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
print(full, s.recv(4096).split(b"\r\n")[0].decode())
'''


def test_budget_comes_back(appr):
    run = start(appr, EG, HELD)
    rc, _, out = run.sh(["/usr/bin/python3", "-c", BUDGET, str(appr.web)])
    full, status = out.split(" ", 1)
    assert int(full) > 0, out  # the budget was reached
    assert " 202 " in status, ("budget leaked", out)
