"""Regressions for security review rev40 (of stop 13's gate changes): each
attack is shown failing, with the audit record that says why; the attacks
run inside the sandbox, against real upstreams on 127.0.0.1.

- a gzip answer over plain HTTP carried a secret the upstream got over
  HTTPS past redaction (identity was asked for, and encoded answers
  refused, on intercepted connections only): now on every connection of a
  run with secrets;
- a Range request got the echo of the secret back in two halves, neither
  of which redaction knew: Range no longer reaches the upstream, and 206 /
  Content-Range answers are refused;
- a deny rule naming DELETE was passed by _method spelled as Laravel (PHP)
  and Rails (Rack) read it: JSON \\u escapes, text/json, '.method',
  '[_method]', a quoted part name with a backslash.
"""
import gzip
import json
import threading

import pytest

import upstreams as up
from injectkit import inj, iups, py_agent, secret  # noqa: F401
from test_approvals_gate import CRM, appr, got  # noqa: F401
from test_approvals_match import DENY, FORM, JSON
from test_inject import ANTHROPIC, EGRESS, hget, no_secret_in, outs


# ---- upstreams that keep what they were sent --------------------------------

class _Keeper(up._Handler):
    """Every route: {"key": the x-api-key of this request, else the last one
    any request to either keeper carried}. /gzip: gzip-compressed whatever
    was asked (Content-Encoding: gzip); /range: honours Range (206)."""

    def _serve(self):
        self._body()
        store = self.server.store
        key = self.headers.get("x-api-key")
        if key:
            store["key"] = key
        self.server.record(up.Request(self.command, self.path, dict(self.headers), b""))
        route = self.path.split("?")[0]
        body = json.dumps({"key": store.get("key", "")}).encode()
        status, extra = 200, {}
        if route == "/gzip":
            body = gzip.compress(body)
            extra["Content-Encoding"] = "gzip"
        elif route == "/range":
            extra["Accept-Ranges"] = "bytes"
            rng = self.headers.get("Range", "")
            if rng.startswith("bytes="):
                a, _, b = rng[6:].partition("-")
                a, b = int(a), int(b) if b else len(body) - 1
                extra["Content-Range"] = f"bytes {a}-{b}/{len(body)}"
                body, status = body[a:b + 1], 206
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _serve


class _KeeperUpstream(up.HttpUpstream):
    def __init__(self, label, store, tls=None):
        self.server = up._Server(label, up.tls_context(*tls) if tls else None)
        self.server.RequestHandlerClass = _Keeper
        self.server.store = store
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()


@pytest.fixture(scope="module")
def keepers(iups):
    """One service on two ports sharing what it was sent: TLS (the test CA's
    certificate for 127.0.0.1) and plain HTTP."""
    store = {}
    tls = _KeeperUpstream("keeper-tls", store, iups.certs.good)
    plain = _KeeperUpstream("keeper-plain", store)
    yield tls, plain, store
    tls.stop()
    plain.stop()


def keeper_policy(inj, keepers):
    tls, plain, store = keepers
    store.clear()
    tls.clear()
    plain.clear()
    extra = f"  - host: 127.0.0.1\n    ports: [{tls.port}, {plain.port}]\n"
    return inj.policy(EGRESS + extra, ANTHROPIC)


# ---- 2. answers redaction cannot read -----------------------------------------

def test_gzip_answer_over_plain_http_carries_no_secret(inj, keepers):
    """The secret goes to the service over HTTPS (injected); the same
    service answers on its plain-HTTP port with what it keeps, gzipped.
    The gate redacts plain-HTTP answers (the control shows it); it used to
    ask for identity, and refuse an encoded answer, on intercepted
    connections only, so the gzip passed."""
    tls, plain, _ = keepers
    key = secret()
    inj.set_secret("anthropic", key)
    pol = keeper_policy(inj, keepers)
    r = inj.run(pol, py_agent(f"""
        import gzip, os
        ph = os.environ["ANTHROPIC_API_KEY"]
        st, hd, body = fetch("https://127.0.0.1:{tls.port}/store", {{"x-api-key": ph}})
        out("store", st, body)
        st, hd, body = fetch("http://127.0.0.1:{plain.port}/plain")
        out("plain", st, body)
        st, hd, raw = fetch("http://127.0.0.1:{plain.port}/gzip", {{"Accept-Encoding": "gzip"}})
        try:
            text = gzip.decompress(raw.encode("latin-1")).decode("latin-1")
        except Exception as e:
            text = f"<not gzip: {{e}}>"
        out("gzip", st, hd.get("content-encoding"), hd.get("x-pincer-denied"), text)
        """))
    got_ = {g[0]: g[1:] for g in outs(r)}
    # the attack is real: the service got the secret, and plain answers
    # are redacted (nothing of it in the identity answer)
    assert got_["store"][0] == 200, got_
    assert [hget(q.headers, "x-api-key") for q in tls.requests] == [key], tls.requests
    assert got_["plain"][0] == 200, got_
    no_secret_in(got_["plain"][1], key, what="plain-HTTP identity answer")
    # the gzip answer must not carry it either: asked for identity, the
    # keeper answers gzip anyway, and the gate refuses it, recorded
    no_secret_in(json.dumps(got_["gzip"]), key, what="plain-HTTP gzip answer")
    no_secret_in(r.stdout + r.stderr, key)
    assert got_["gzip"][0] == 502, got_
    assert [hget(q.headers, "Accept-Encoding") for q in plain.requests] == ["identity"] * 2
    rec = inj.one(decision="-", why="upstream", path="/gzip")
    assert "answered with a Content-Encoding" in rec["reason"], rec


def test_range_answers_do_not_hand_back_the_secret_in_halves(inj, keepers):
    """An upstream that echoes the credential it got and honours Range:
    the agent asks for the echo in two halves, each cut through the
    secret; redaction looks for whole values, so neither half was touched
    and the agent joined them. (Range used to reach the upstream as the
    agent sent it; now it goes, like Accept-Encoding.)"""
    tls, _, _ = keepers
    key = secret()
    inj.set_secret("anthropic", key)
    pol = keeper_policy(inj, keepers)
    r = inj.run(pol, py_agent(f"""
        import os
        ph = os.environ["ANTHROPIC_API_KEY"]
        url = "https://127.0.0.1:{tls.port}/range"
        st, hd, whole = fetch(url, {{"x-api-key": ph}})
        out("whole", st, whole)
        mid = len('{{"key": "') + len(ph) // 2
        parts = []
        for rng in ("bytes=0-%d" % (mid - 1), "bytes=%d-" % mid):
            st, hd, body = fetch(url, {{"x-api-key": ph, "Range": rng}})
            out("part", st, hd.get("content-range"), body)
            parts.append(body)
        out("joined", "".join(parts))
        """))
    res = outs(r)
    whole = [g for g in res if g[0] == "whole"][0]
    # control: the whole echo is redacted
    assert whole[1] == 200, res
    no_secret_in(whole[2], key, what="whole answer")
    assert all(hget(q.headers, "x-api-key") == key for q in tls.requests), tls.requests
    # the attack: the halves joined. Range does not reach the upstream, so
    # the whole (redacted) echo comes each time
    no_secret_in(r.stdout + r.stderr, key, what="halves the agent joined")
    assert not [q for q in tls.requests if hget(q.headers, "Range")], tls.requests
    parts = [g for g in res if g[0] == "part"]
    assert [p[1] for p in parts] == [200, 200], parts
    # each whole echo had the secret taken out, and the record says so
    assert len(inj.egress(why="redacted", path="/range")) == 3, inj.log()


# ---- 4. deny rules naming methods, _method in bodies --------------------------

def _deny_bypasses(appr, cases):
    """Each (body, headers) POSTed to /deals/7, which a deny rule forbids to
    DELETE: the ones that were not refused with 403 and a deny-rule record."""
    run = appr.start(appr.policy(DENY, CRM))
    appr.runs.append(run)
    url = appr.web_url + "/deals/7"
    assert run.fetch(url, method="POST", body='{"a": 1}', headers=JSON)[0] == 200  # control
    passed = []
    for body, hdr in cases:
        st, _, text = run.fetch(url, method="POST", body=body, headers=hdr)
        if st != 403:
            passed.append((hdr.get("Content-Type"), body, st))
    recs = [x for x in appr.ident.records() if x["type"] == "egress"
            and x.get("why") == "deny-rule" and x.get("path") == "/deals/7"]
    assert not passed, f"reached the upstream as POST, read as DELETE by the server: {passed}"
    assert len(recs) == len(cases), recs
    assert len(got(appr.ups.web, "POST", "/deals/7")) == 1  # the control only


def multipart(name, value="DELETE"):
    return ({"Content-Type": "multipart/form-data; boundary=XyZ"},
            f"--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
            f"{value}\r\n--XyZ--\r\n")


def test_deny_rule_reads_json_keys_with_escapes(appr):
    """Laravel reads _method from JSON input (json_decode): a key written
    with \\u escapes is _method to it, but has_method_word looks for the
    bytes "_method" in the raw body."""
    _deny_bypasses(appr, [('{"\\u005fmethod": "DELETE"}', JSON),
                          ('{"_\\u006dethod": "DELETE"}', JSON)])


def test_deny_rule_reads_json_by_laravels_content_types(appr):
    """Laravel's isJson(): the Content-Type contains "/json" or "+json"
    (text/json, application/json5 ...); the gate's content_type_is("+json")
    takes application/json and *+json only, so such a body is not read."""
    _deny_bypasses(appr, [('{"_method": "DELETE"}', {"Content-Type": "text/json"}),
                          ('{"_method": "DELETE"}', {"Content-Type": "application/json5"})])


def test_deny_rule_reads_multipart_names_as_servers_do(appr):
    """Rack (Rails) unescapes backslashes in a quoted part name
    (name="_\\method" is _method); PHP (Laravel) turns '.' and ' ' in a
    field name into '_' (name=".method" is $_POST['_method'])."""
    hdr, a = multipart("_\\method")
    _, b = multipart(".method")
    _deny_bypasses(appr, [(a, hdr), (b, hdr)])


def test_deny_rule_reads_form_names_as_servers_do(appr):
    """Urlencoded forms (and the query): PHP reads .method as _method;
    Rack 2 strips leading brackets ([_method] is _method)."""
    _deny_bypasses(appr, [("a=1&.method=DELETE", FORM), ("a=1&[_method]=DELETE", FORM)])
