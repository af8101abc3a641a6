"""Approvals: what a rule matches is what a server may read (issue 7,
review rev30). A method in another case, a path in another case, a method
override (X-HTTP-Method-Override and kin, _method in the query or a form
body), a JSON field spelled in another case or sent in a body that is not
JSON by its Content-Type: each is held, with its approval record, and
nothing reaches the upstream. Deny rules read the same way. End to end, as
root and as an ordinary user, with the fixtures of test_approvals_gate.
"""
import json

from test_approvals_gate import CRM, EGRESS, appr, got, rule, start, steps  # noqa: F401
from injectkit import iups  # noqa: F401

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def held(appr, run, url, **kw):
    """The request is held: a 202 naming its approval, recorded as held
    with the request as sent. Returns the approval record."""
    st, hd, text = run.fetch(url, **kw)
    assert st == 202, (kw, st, text)
    aid = json.loads(text)["approval"]
    assert steps(appr, aid) == [("hold", "hold")], kw
    rec = appr.approvals(approval=aid, step="hold")[0]
    assert rec["method"] == kw.get("method", "GET")
    return rec


def test_method_and_path_in_another_case_are_held(appr):
    run, d = start(appr, rule() + "    hold: 0s\n")
    web = appr.ups.web
    # control: what the rule does not name goes at once
    assert run.fetch(appr.web_url + "/DEALS/1")[0] == 200
    assert not appr.approvals()
    for method, path in (("post", "/deals/1"), ("POST", "/DEALS/2"), ("PoSt", "/Deals/3")):
        rec = held(appr, run, appr.web_url + path, method=method, body='{"amount": 1}',
                   headers=JSON)
        assert rec["path"] == path
        assert not [q for q in web.requests if q.path == path]
    # through TLS interception too
    held(appr, run, appr.api_url + "/DEALS/4", method="post", body="{}", headers=JSON)
    assert not [q for q in appr.ups.api.requests if q.path == "/DEALS/4"]


def test_method_overrides_are_held(appr):
    run, d = start(appr, rule(methods="[DELETE]") + "    hold: 0s\n")
    web, url = appr.ups.web, appr.web_url + "/deals/5"
    # control: a POST, and one overridden to another method, go at once
    assert run.fetch(url, method="POST", body="a=1", headers=FORM)[0] == 200
    assert run.fetch(url, method="POST", body="{}",
                     headers={"X-HTTP-Method-Override": "PUT"})[0] == 200
    assert run.fetch(url + "?_method=patch", method="POST", body="{}", headers=JSON)[0] == 200
    assert not appr.approvals()
    sent = len(got(web, "POST", "/deals/5"))
    for name in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        held(appr, run, url, method="POST", body="{}", headers={name: "delete"})
    held(appr, run, url, method="POST", body="{}", headers={"X-HTTP-Method": "PUT, DELETE"})
    rec = held(appr, run, url + "?x=1&_method=DELETE", method="POST", body="{}", headers=JSON)
    assert rec["path"] == "/deals/5?x=1&_method=DELETE"
    held(appr, run, url, method="POST", body="a=1&%5Fmethod=del%65te", headers=FORM)
    held(appr, run, url, method="GET", headers={"X-HTTP-Method-Override": "DELETE"})
    assert len(got(web, "POST", "/deals/5")) == sent
    assert not [q for q in web.requests if "_method=DELETE" in q.path]


def test_json_rule_holds_what_it_cannot_rule_out(appr):
    run, d = start(appr, rule(extra=", json: {path: deal.stage, value: won}") + "    hold: 0s\n"
                   + rule(paths="[/quotes/**]", extra=", json: {path: amount, value: 1000}")
                   + "    hold: 0s\n")
    web, url = appr.ups.web, appr.web_url + "/deals/6"
    # control: JSON that says another stage, and no body at all, go at once
    for body in ('{"deal": {"stage": "lost"}}', ""):
        assert run.fetch(url, method="POST", body=body, headers=JSON)[0] == 200
    assert run.fetch(appr.web_url + "/quotes/1", method="POST", body='{"amount": 999}',
                     headers=JSON)[0] == 200
    assert not appr.approvals()
    sent = len(got(web, "POST", "/deals/6"))
    for body, hdr in (
            ('{"Deal": {"STAGE": "won"}}', JSON),                       # key case
            ('{"deal": {"stage": " Won\\n"}}', JSON),                   # value case, spaces
            ('{"deal": {"stage": "lost", "stage": "won"}}', JSON),      # a repeated key
            ('{"deal": {"stage": "lost"},}', JSON),                     # not JSON
            ('{"note": "&deal.stage=won&"}', FORM),                     # a form, JSON-like
            ('{"deal": {"stage": "lost"}}', {"Content-Type": "text/plain"}),
            ('{"deal": {"stage": "lost"}}', {"Content-Type": "application/jsonx"})):
        rec = held(appr, run, url, method="POST", body=body, headers=hdr)
        assert rec["rule"].startswith("approvals[0] (")
    # a +json type is JSON; a number sent as a string is read as one
    held(appr, run, url, method="POST", body='{"deal": {"stage": "WON"}}',
         headers={"Content-Type": "application/vnd.crm+json; charset=utf-8"})
    rec = held(appr, run, appr.web_url + "/quotes/2", method="POST",
               body='{"amount": " 1000.0 "}', headers=JSON)
    assert rec["rule"].startswith("approvals[1] (")
    assert len(got(web, "POST", "/deals/6")) == sent
    assert not got(web, "POST", "/quotes/2")


DENY = EGRESS + """\
deny:
  - host: 127.0.0.1
    methods: [DELETE]
    paths: [/deals/**]
"""


def test_deny_rule_reads_case_and_overrides(appr):
    p = appr.policy(DENY, CRM)
    run = appr.start(p)
    appr.runs.append(run)
    web, url = appr.ups.web, appr.web_url + "/deals/7"
    # control: other methods, and other paths, go
    assert run.fetch(url, method="POST", body="a=1", headers=FORM)[0] == 200
    assert run.fetch(appr.web_url + "/other", method="DELETE")[0] == 200
    cases = (("delete", url, None, {}), ("DELETE", appr.web_url + "/DEALS/7", None, {}),
             ("POST", url, "{}", {"X-HTTP-Method-Override": "DELETE"}),
             ("POST", url + "?_method=Delete", "{}", JSON),
             ("POST", url, "a=1&_method=DELETE", FORM))
    for method, u, body, hdr in cases:
        st, _, text = run.fetch(u, method=method, body=body, headers=hdr)
        assert st == 403, (method, u, hdr, st, text)
        path = u[len(appr.web_url):]
        recs = [x for x in appr.ident.records() if x["type"] == "egress"
                and x.get("why") == "deny-rule" and x.get("path") == path
                and x.get("method") == method]
        assert recs, (method, path)
        if method == "POST":
            assert "by the method override it carries" in recs[-1]["reason"]
    assert len(got(web, "POST", "/deals/7")) == 1
    assert not [q for q in web.requests if q.method.upper() == "DELETE" and "eals" in q.path]


def test_deny_rule_reads_multipart_and_json_bodies(appr):
    """Rails reads _method from a multipart part, Laravel from a JSON key:
    a deny rule naming DELETE must see them there too (it read urlencoded
    forms only, and a multipart POST with _method=DELETE went through).
    Such a body is read whole first; one larger than body_max (1M) is
    refused with a 413 that says why."""
    p = appr.policy(DENY, CRM)
    run = appr.start(p)
    appr.runs.append(run)
    web, url = appr.ups.web, appr.web_url + "/deals/7"
    multi = {"Content-Type": "multipart/form-data; boundary=XyZ"}

    def part(name, value):
        return (f"--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n")
    # control: a multipart and a JSON body without _method go
    assert run.fetch(url, method="POST", body=part("a", "1") + "--XyZ--\r\n",
                     headers=multi)[0] == 200
    assert run.fetch(url, method="POST", body='{"a": 1}', headers=JSON)[0] == 200
    for body, hdr in ((part("a", "1") + part("_method", "DELETE") + "--XyZ--\r\n", multi),
                      ('{"a": 1, "_Method": "delete"}', JSON)):
        st, _, text = run.fetch(url, method="POST", body=body, headers=hdr)
        assert st == 403, (hdr, st, text)
    recs = [x for x in appr.ident.records() if x["type"] == "egress"
            and x.get("why") == "deny-rule" and x.get("path") == "/deals/7"]
    assert len(recs) == 2, recs
    # too long to read for the deny rule's sake: refused, and said why
    st, hd, text = run.fetch(url, method="POST", headers=multi, size=(1 << 20) + 1)
    assert st == 413, (st, text)
    assert "a deny rule names methods for 127.0.0.1 and the body may name one" in text
    assert len(got(web, "POST", "/deals/7")) == 2  # the two controls only
    assert not [q for q in web.requests if q.method.upper() == "DELETE" and "eals" in q.path]
