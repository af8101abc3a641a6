"""Credential injection with TLS interception (issue 5), end to end, as root
and as an ordinary user.

The agent gets a placeholder in its environment; the gate, which ends the
agent's TLS with a leaf from the run's CA, swaps it for the vault's secret
on requests to the credential's host only, verifies the upstream's
certificate itself, blocks the placeholder (or the secret) bound anywhere
else and redacts the secret from answers. Every security test checks both
halves: what the agent and the upstream saw, and the audit record that says
why. Fixtures and the agent-side library are in injectkit.py.

Already covered elsewhere, not repeated here: a secret given on argv to
`pincer vault set/rotate` is refused with exit 2 and the store unchanged
(test_vault.py::test_secret_on_argv_refused); the vault's own reactions to
a damaged store (test_vault.py::test_damaged_store_refused).
"""
import json
import os
import re
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from gatekit import CURL, need_names, sh
from injectkit import (CA_BUNDLE, CA_VARS, TEST_CA_CN, check_placeholder,  # noqa: F401
                       decode_walk, find_any, inj, iups, py_agent, secret)

NODE = os.path.exists("/usr/bin/node")
PROXY = "http://127.0.0.1:3128"

EGRESS = """\
allow_private: [127.0.0.1/32]
allow:
  - host: 127.0.0.1
    ports: [{api}, {web}, {selfsigned}, {wrongname}, {expired}]
  - host: localhost
    ports: [{api}, {web}, {selfsigned}, {wrongname}, {expired}]
"""

ANTHROPIC = """\
- name: anthropic
  host: 127.0.0.1
  header: x-api-key
  placeholder: ANTHROPIC_API_KEY
"""

GITHUB_ON_LOCALHOST = """\
- name: github
  host: localhost
  header: Authorization
  format: "token {{secret}}"
  placeholder: GITHUB_TOKEN
"""


def hget(headers, name):
    """A header of a recorded request, whatever the case of its name."""
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def outs(r):
    """The out(...) lines of a python agent, as lists."""
    assert r.returncode == 0, r.stdout + r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("[")]


def no_secret_in(text, *values, what="output"):
    data = text.encode() if isinstance(text, str) else text
    hit = find_any(data, values)
    assert hit is None, f"part of a secret ({hit[:6]}...) in the {what}"


def nothing_reached(upstream, *values):
    """Nothing of the values in any request the upstream saw, even one cut
    short (its head, or the part of its body that came)."""
    for q in upstream.requests:
        seen = (q.path + json.dumps(q.headers)).encode() + (q.body or getattr(q, "partial", b""))
        hit = find_any(seen, values)
        assert hit is None, f"{q}: the upstream got part of a value ({hit[:6]}...)"


def forwarded(upstream):
    """What reached an upstream, for messages: path and how much body."""
    return [f"{q.method} {q.path} " + (f"{len(q.body)}B" if q.body is not None else
                                       f"cut after {len(getattr(q, 'partial', b''))}B")
            for q in upstream.requests]


def placeholder_of(inj, policy, var):
    r = inj.run(policy, ["/bin/sh", "-c", f'printf %s "${var}"'])
    assert r.returncode == 0, r.stderr
    return r.stdout


# ---- injection -----------------------------------------------------------------

def test_injected_for_curl_python_and_node(inj):
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, ANTHROPIC)
    base = f"https://127.0.0.1:{inj.api}/headers?via="
    r = inj.run(pol, py_agent(f"""
        import os, subprocess
        ph = os.environ.get("ANTHROPIC_API_KEY")
        out("placeholder", ph)
        h = ["-H", "x-api-key: " + str(ph)]
        for via, extra in (("curl", []), ("curl-proxy", ["-x", "{PROXY}", "--noproxy", ""])):
            c = subprocess.run(["curl", "-sS", "--max-time", "20", "-w", "\\n%{{http_code}}",
                                *h, *extra, "{base}" + via], capture_output=True, text=True)
            body, _, code = c.stdout.rpartition("\\n")
            out(via, int(code or 0), body, c.stderr)
        for via, proxy in (("urllib", None), ("urllib-proxy", "{PROXY}")):
            st, hd, body = fetch("{base}" + via, {{"x-api-key": ph}}, proxy=proxy)
            out(via, st, body, hd.get("x-got-key"))
        if os.path.exists("/usr/bin/node"):
            n = subprocess.run(["node", "-e",
                "fetch('{base}node', {{headers: {{'x-api-key': process.env.ANTHROPIC_API_KEY}}}})"
                ".then(async r => console.log(JSON.stringify([r.status, await r.text()])),"
                " e => console.log(JSON.stringify([0, String(e.cause || e)])))"],
                capture_output=True, text=True)
            st, body = json.loads(n.stdout or "[0, %s]" % json.dumps(n.stderr))
            out("node", st, body, n.stderr)
        """))
    no_secret_in(r.stdout + r.stderr, key)
    got = outs(r)
    ph = got[0][1]
    check_placeholder(ph, key)
    vias = ["curl", "curl-proxy", "urllib", "urllib-proxy"] + (["node"] if NODE else [])
    assert [g[0] for g in got[1:]] == vias, got
    for via, status, body, *rest in got[1:]:
        assert status == 200, (via, body, rest)
        echoed = json.loads(body)
        # the upstream echoed the real key: it reaches the agent as the placeholder
        assert hget(echoed["headers"], "x-api-key") == ph, (via, echoed)
        if via.startswith("urllib"):
            assert rest[0] == ph, (via, rest)  # the reflected response header too
    seen = {urllib.parse.parse_qs(q.path.partition("?")[2])["via"][0]: q
            for q in inj.ups.api.requests}
    assert sorted(seen) == sorted(vias), inj.ups.api.paths()
    for via, q in seen.items():
        assert hget(q.headers, "x-api-key") == key, (via, "the upstream did not get the secret")
        assert ph not in json.dumps(q.headers), via
    for via in vias:
        rec = inj.one(decision="allow", path=f"/headers?via={via}")
        assert rec["proto"] == "https" and rec["method"] == "GET", rec
        assert rec["host"] == "127.0.0.1" and rec["port"] == inj.api, rec
        assert rec["credential"] == "anthropic" and rec["owner"] == inj.ident.name, rec
    no_secret_in(inj.audit_text(), key, what="audit log")


def test_agent_environment_and_ca_bundle(inj):
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, py_agent(f"""
        import os
        out("env", {{v: os.environ.get(v) for v in {CA_VARS!r} + ["ANTHROPIC_API_KEY"]}})
        b = open("{CA_BUNDLE}").read()
        s = open("/etc/ssl/certs/ca-certificates.crt").read()
        out("bundle", b, s == b)
        with open("/proc/self/environ", "rb") as f:
            out("environ", f.read().decode("latin-1"))
        """))
    no_secret_in(r.stdout + r.stderr, key)
    got = {g[0]: g[1:] for g in outs(r)}
    env = got["env"][0]
    assert {v: env[v] for v in CA_VARS} == {v: CA_BUNDLE for v in CA_VARS}, env
    check_placeholder(env["ANTHROPIC_API_KEY"], key)
    assert f"ANTHROPIC_API_KEY={env['ANTHROPIC_API_KEY']}" in got["environ"][0]
    bundle, same = got["bundle"]
    assert same, "/etc/ssl/certs/ca-certificates.crt is not the run's bundle in the sandbox"
    certs = set(re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                           bundle, re.S))
    host = set(re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                          Path("/etc/ssl/certs/ca-certificates.crt").read_text(), re.S))
    assert host <= certs, f"{len(host - certs)} system roots missing from the bundle"
    extra = certs - host
    assert len(extra) == 1, f"{len(extra)} certificates beyond the system roots"
    assert "PRIVATE KEY" not in bundle
    assert inj.ups.ca.strip() not in bundle, "the upstream_ca roots are for the gate only"
    info = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "basicConstraints"],
                          input=extra.pop(), capture_output=True, text=True).stdout
    assert "CA:TRUE" in info and TEST_CA_CN not in info, info


def test_no_interception_without_credentials(inj):
    pol = inj.policy(EGRESS)
    r = inj.run(pol, py_agent(f"""
        import os
        out([os.environ.get(v) for v in {CA_VARS!r}], os.path.exists("{CA_BUNDLE}"))
        st, hd, body = fetch("https://127.0.0.1:{inj.api}/headers?plain", {{"x-api-key": "k"}},
                             cafile="ca.pem")
        out(st, body)
        """))
    got = outs(r)
    assert got[0] == [[None] * len(CA_VARS), False], got
    assert got[1][0] == 200, got  # the upstream's own certificate, from the test CA
    assert [hget(q.headers, "x-api-key") for q in inj.ups.api.requests] == ["k"]
    assert not inj.egress(proto="https"), inj.log()


def test_placeholder_replaced_anywhere_in_headers_and_url(inj):
    """A credential with neither header: nor query: goes wherever the agent
    put its placeholder (headers, URL); one with header: goes only there,
    so a placeholder the agent put elsewhere stays a placeholder (the host
    cannot be made to echo the secret from a place the agent chose). The
    agent's Accept-Encoding is replaced by identity so answers stay
    searchable."""
    key, other = secret(), secret()
    inj.set_secret("anthropic", key)
    inj.set_secret("anywhere", other)
    pol = inj.policy(EGRESS, ANTHROPIC + "- name: anywhere\n  host: 127.0.0.1\n"
                     "  placeholder: ANYWHERE_KEY\n")
    r = inj.run(pol, py_agent(f"""
        import os
        ph, any_ph = os.environ["ANTHROPIC_API_KEY"], os.environ["ANYWHERE_KEY"]
        st, hd, body = fetch("https://127.0.0.1:{inj.api}/headers?q=" + any_ph + "&k2=x" + any_ph
                             + "&a=" + ph,
                             {{"x-api-key": "whatever-the-agent-sent",
                               "X-Other": "before " + any_ph + " after",
                               "X-Not-Here": ph, "Accept-Encoding": "gzip"}})
        out(ph, any_ph, st, body, hd.get("x-got-query"))
        """))
    no_secret_in(r.stdout + r.stderr, key)
    no_secret_in(r.stdout + r.stderr, other)
    [[ph, any_ph, st, body, query]] = outs(r)
    assert st == 200, body
    [q] = inj.ups.api.requests
    assert q.path == f"/headers?q={other}&k2=x{other}&a={ph}", q.path
    assert hget(q.headers, "X-Other") == f"before {other} after"
    assert hget(q.headers, "X-Not-Here") == ph, "header: credentials go only in their header"
    assert hget(q.headers, "x-api-key") == key, "header: sets it whatever the agent sent"
    assert hget(q.headers, "Accept-Encoding") == "identity"
    echoed = json.loads(body)
    assert echoed["path"] == f"/headers?q={any_ph}&k2=x{any_ph}&a={ph}", echoed  # redacted
    assert query == f"q={any_ph}&k2=x{any_ph}&a={ph}"
    rec = inj.one(decision="allow", proto="https")
    assert set(rec["credential"].split(",")) == {"anthropic", "anywhere"}, rec
    no_secret_in(inj.audit_text(), key, what="audit log")


def test_authorization_bearer_format_and_redaction_of_the_echo(inj):
    key = secret("sk-proj-")
    inj.set_secret("openai", key)
    pol = inj.policy(EGRESS, """\
        - name: openai
          host: 127.0.0.1
          header: Authorization
          format: "Bearer {{secret}}"
          placeholder: OPENAI_API_KEY
        """)
    url = f"https://127.0.0.1:{inj.api}/headers"
    r = inj.run(pol, sh(
        f"{CURL} -i '{url}?n=1'; echo; "
        f"{CURL} -i -H \"Authorization: Bearer $OPENAI_API_KEY\" '{url}?n=2'; echo; "
        "/usr/bin/python3 -c 'from injlib import *; import os; "
        f"out(os.environ[\"OPENAI_API_KEY\"], fetch(\"{url}?n=3\"))'"))
    assert r.returncode == 0, r.stderr
    no_secret_in(r.stdout + r.stderr, key)
    ph, (st, hd, body) = json.loads(r.stdout.strip().splitlines()[-1])
    check_placeholder(ph, key)
    assert st == 200 and hd.get("x-got-auth") == f"Bearer {ph}", (st, hd, body)
    assert hget(json.loads(body)["headers"], "Authorization") == f"Bearer {ph}", body
    # curl -i, twice: the reflected header, with the placeholder
    assert r.stdout.count(f"X-Got-Auth: Bearer {ph}") == 2, r.stdout
    seen = [hget(q.headers, "Authorization") for q in inj.ups.api.requests]
    assert seen == [f"Bearer {key}"] * 3, "format applied once, whatever the agent sent"
    recs = inj.egress(decision="allow", proto="https")
    assert len(recs) == 3 and all(x["credential"] == "openai" for x in recs), inj.log()


def test_query_parameter_credential(inj):
    key = secret("AIza", 39)
    inj.set_secret("maps", key)
    pol = inj.policy(EGRESS, """\
        - name: maps
          host: 127.0.0.1
          query: key
          placeholder: MAPS_KEY
        """)
    r = inj.run(pol, py_agent(f"""
        import os
        ph = os.environ["MAPS_KEY"]
        u = "https://127.0.0.1:{inj.api}/headers?"
        for q in ("key=" + ph + "&a=1", "a=2", "key=junk&a=3"):
            out(fetch(u + q)[0])
        out(ph)
        """))
    no_secret_in(r.stdout + r.stderr, key)
    got = outs(r)
    assert got[:3] == [[200]] * 3, got
    check_placeholder(got[3][0], key)
    seen = sorted((urllib.parse.parse_qs(q.path.partition("?")[2]) for q in inj.ups.api.requests),
                  key=lambda x: x["a"])
    assert seen == [{"key": [key], "a": [a]} for a in "123"], inj.ups.api.paths()


def test_run_as_another_identity_uses_its_secrets(inj):
    key = secret()
    inj.set_secret("anthropic", key, owner="agent:bot")
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, ["/usr/bin/python3", "-c", "import os; print('ran')"])
    assert r.returncode != 0 and "ran" not in r.stdout, "the invoking user has no such secret"
    r = inj.run(pol, py_agent(f"""
        import os
        out(fetch("https://127.0.0.1:{inj.api}/headers", {{"x-api-key":
                  os.environ["ANTHROPIC_API_KEY"]}})[0])
        """), "--as", "agent:bot")
    assert outs(r) == [[200]], r.stdout + r.stderr
    assert [hget(q.headers, "x-api-key") for q in inj.ups.api.requests] == [key]
    rec = inj.one(decision="allow", proto="https")
    assert rec["credential"] == "anthropic" and rec["owner"] == "agent:bot", rec


# ---- nothing of the secret reaches the agent ----------------------------------

def test_secret_never_reaches_the_agent(inj):
    """After requests with curl, urllib and node that carried the secret
    upstream and got it echoed back: nothing of it in the agent's output,
    environment, any file it can read (changed since the secret was made:
    an older file cannot hold it) or the memory of any of its processes."""
    since = time.time() - 2
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, ANTHROPIC)
    u = f"https://127.0.0.1:{inj.api}/headers?via="
    node = (f"fetch('{u}node', {{headers: {{'x-api-key': process.env.ANTHROPIC_API_KEY}}}})"
            ".then(r => r.text()).then(t => { process.stdout.write(t); process.stdin.resume() },"
            " e => { console.log('error ' + (e.cause || e)); process.stdin.resume() })")
    r = inj.run(pol, py_agent(f"""
        import os, subprocess
        ph = os.environ["ANTHROPIC_API_KEY"]
        out("urllib", fetch("{u}urllib", {{"x-api-key": ph}}))
        kids = {{}}
        # curl lives on after its answer, reading its second "URL" from stdin
        kids["curl"] = subprocess.Popen(["curl", "-sS", "-N", "--fail-early", "--max-time", "120",
                                         "-H", "x-api-key: " + ph, "{u}curl",
                                         "file:///dev/stdin"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if os.path.exists("/usr/bin/node"):
            kids["node"] = subprocess.Popen(["node", "-e", {node!r}], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE)
        for name, k in kids.items():  # each has its answer, and lives on
            out(name, k.pid, first_line(k))
        with open("/proc/self/environ", "rb") as f:
            out("environ", ph.encode() in f.read())
        walk_recent({since}, "walk.json")
        done, failed = dump_memory("dump")
        out("dumped", done, failed)
        for k in kids.values():
            k.stdin.close()
            k.wait()
        """), timeout=300)
    no_secret_in(r.stdout + r.stderr, key)
    got = {g[0]: g[1:] for g in outs(r)}
    assert got["urllib"][0][0] == 200, got["urllib"]
    assert got["environ"] == [True]
    # the secret did go upstream, and came back (redacted) in every answer
    assert sorted(urllib.parse.parse_qs(q.path.partition("?")[2])["via"][0]
                  for q in inj.ups.api.requests) == sorted(["urllib", "curl"] +
                                                           (["node"] if NODE else []))
    assert all(hget(q.headers, "x-api-key") == key for q in inj.ups.api.requests)
    for name in ("curl", "node") if NODE else ("curl",):
        assert '"x-api-key"' in got[name][1].lower(), (name, got[name])

    walk = decode_walk(inj.ident.proj / "walk.json")
    assert walk["seen"] > 1000, walk["seen"]
    assert CA_BUNDLE in walk["files"] and f"{inj.ident.proj}/injlib.py" in walk["files"], \
        sorted(walk["files"])
    for path, data in walk["files"].items():
        no_secret_in(data, key, what=f"file {path}")
        assert b"PRIVATE KEY-----" not in data, f"a private key in {path}"

    done, failed = got["dumped"]
    mine = {int(pid): comm for pid, (comm, n) in done.items() if n > 0}
    kids = [got["curl"][0]] + ([got["node"][0]] if NODE else [])
    assert all(k in mine for k in kids), (mine, failed)
    assert "python3" in mine.values(), mine
    total = 0
    for f in sorted((inj.ident.proj / "dump").iterdir()):
        data = f.read_bytes()
        total += len(data)
        no_secret_in(data, key, what=f"memory of pid {f.stem} ({mine.get(int(f.stem))})")
    assert total > 10 << 20, total
    no_secret_in(inj.audit_text(), key, what="audit log")


def test_placeholder_differs_between_runs_and_keeps_its_shape(inj):
    keys = {"ANTHROPIC_API_KEY": secret(), "GITHUB_TOKEN": secret("ghp_", 36),
            "SLACK_TOKEN": secret("xoxb-", 50), "DEEP_KEY": "a1-b2-c3-d4-e5-" + secret("", 30)}
    creds = ""
    for i, (var, value) in enumerate(keys.items()):
        inj.set_secret(f"c{i}", value)
        creds += f"- name: c{i}\n  host: 127.0.0.1\n  header: x-k{i}\n  placeholder: {var}\n"
    pol = inj.policy(EGRESS, creds)
    runs = []
    for _ in range(2):
        r = inj.run(pol, py_agent(f"""
            import os
            out({{v: os.environ.get(v) for v in {list(keys)!r}}}, open("{CA_BUNDLE}").read())
            """))
        [[env, bundle]] = outs(r)
        for var, value in keys.items():
            no_secret_in(r.stdout + r.stderr, value)
            check_placeholder(env[var], value)
        runs.append((env, bundle))
    assert env["DEEP_KEY"].startswith("a1-b2-c3-d4-"), env["DEEP_KEY"]
    for var in keys:
        assert runs[0][0][var] != runs[1][0][var], f"{var}: the same placeholder twice"
    assert runs[0][1] != runs[1][1], "the same CA in two runs"


# ---- exfiltration ----------------------------------------------------------------

def _exfil_checks(inj, host, port, cred, wheres, values):
    for where in wheres:
        got = inj.exfil(host=host, port=port, credential=cred, where=where)
        assert len(got) == 1, f"{where}: {len(got)} records\n{inj.log()}"
        assert got[0]["decision"] == "deny", got[0]
        for v in values:
            assert v not in got[0]["reason"], "the reason holds the value"
            no_secret_in(got[0]["reason"], v, what="reason")


def test_placeholder_to_another_host_over_plain_http_is_blocked(inj):
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, ANTHROPIC)
    hp = f"localhost:{inj.web}"
    r = inj.run(pol, py_agent(f"""
        import os
        from gatelib import raw, status, header
        ph = os.environ["ANTHROPIC_API_KEY"]
        def send(req):
            resp = raw("127.0.0.1", 3128, req.encode())
            out(status(resp), header(resp, "X-Pincer-Denied"))
        send(f"GET http://{hp}/h HTTP/1.1\\r\\nHost: {hp}\\r\\nx-api-key: {{ph}}\\r\\n"
             "Connection: close\\r\\n\\r\\n")
        send(f"GET http://{hp}/u?k={{ph}} HTTP/1.1\\r\\nHost: {hp}\\r\\n"
             "Connection: close\\r\\n\\r\\n")
        b = '{{"prompt": "hi", "key": "' + ph + '"}}'
        send(f"POST http://{hp}/echo HTTP/1.1\\r\\nHost: {hp}\\r\\nContent-Length: {{len(b)}}"
             f"\\r\\nConnection: close\\r\\n\\r\\n{{b}}")
        send(f"GET http://{hp}/clean HTTP/1.1\\r\\nHost: {hp}\\r\\nConnection: close\\r\\n\\r\\n")
        out(ph)
        """))
    got = outs(r)
    ph = got[-1][0]
    nothing_reached(inj.ups.web, ph, key)
    assert [g[0] for g in got[:4]] == [403, 403, 403, 200], got
    assert all(g[1] for g in got[:3]), "403 without X-Pincer-Denied"
    assert inj.ups.web.paths() == ["/clean"], \
        f"a request holding the placeholder was forwarded: {forwarded(inj.ups.web)}"
    _exfil_checks(inj, "localhost", inj.web, "anthropic", ["header", "url", "body"], [ph, key])
    no_secret_in(inj.audit_text(), key, what="audit log")


def test_placeholder_to_another_intercepted_host_is_blocked(inj):
    key, gh = secret(), secret("ghp_", 36)
    inj.set_secret("anthropic", key)
    inj.set_secret("github", gh)
    pol = inj.policy(EGRESS, ANTHROPIC + GITHUB_ON_LOCALHOST)
    lh = f"https://localhost:{inj.api}/headers"
    r = inj.run(pol, py_agent(f"""
        import os
        ph, gph = os.environ["ANTHROPIC_API_KEY"], os.environ["GITHUB_TOKEN"]
        for proxy in (None, "{PROXY}"):
            st, hd, b = fetch("{lh}?t=header", {{"x-api-key": ph}}, proxy=proxy)
            out("header", st, hd.get("x-pincer-denied"))
            st, hd, b = fetch("{lh}?t=" + ph, proxy=proxy)
            out("url", st, hd.get("x-pincer-denied"))
            st, hd, b = fetch("{lh}?t=body", data=b'{{"k": "' + ph.encode() + b'"}}', proxy=proxy)
            out("body", st, hd.get("x-pincer-denied"))
            st, hd, b = fetch("{lh}?t=clean", proxy=proxy)
            out("clean", st, hd.get("x-got-auth"))
        # the other way round: github's placeholder to anthropic's host
        st, hd, b = fetch("https://127.0.0.1:{inj.api}/headers?t=gh", {{"X-Gh": gph}})
        out("reverse", st, hd.get("x-pincer-denied"))
        out(ph, gph)
        """))
    assert r.returncode == 0, f"pincer exited {r.returncode}\n{r.stdout}{r.stderr}"
    got = outs(r)
    ph, gph = got[-1]
    no_secret_in(r.stdout + r.stderr, key, gh)
    nothing_reached(inj.ups.api, ph, key)
    for name, st, info in got[:-1]:
        if name == "clean":
            assert st == 200 and info == f"token {gph}", (name, st, info)
        else:
            assert st == 403 and info, (name, st, info)
    assert [urllib.parse.parse_qs(q.path.partition("?")[2])["t"][0]
            for q in inj.ups.api.requests] == ["clean", "clean"], forwarded(inj.ups.api)
    assert all(hget(q.headers, "Authorization") == f"token {gh}" for q in inj.ups.api.requests)
    for where in ("header", "url", "body"):
        got_w = inj.exfil(host="localhost", port=inj.api, credential="anthropic", where=where)
        assert len(got_w) == 2, f"{where}: {inj.log()}"  # captured and through the proxy
        assert all(x["decision"] == "deny" and ph not in x["reason"] for x in got_w)
    _exfil_checks(inj, "127.0.0.1", inj.api, "github", ["header"], [gph, gh])
    no_secret_in(inj.audit_text(), key, gh, what="audit log")


def test_secret_value_itself_is_blocked_anywhere_else(inj):
    key, gh = secret(), secret("ghp_", 36)
    inj.set_secret("anthropic", key)
    inj.set_secret("github", gh)
    pol = inj.policy(EGRESS, ANTHROPIC + GITHUB_ON_LOCALHOST)
    inj.ident.write("proj/pasted.txt", f"my key is {key}\n")  # the agent found it somewhere
    r = inj.run(pol, py_agent(f"""
        from gatelib import raw, status, header
        text = open("pasted.txt").read()
        key = text.split()[-1]
        hp = "localhost:{inj.web}"
        b = "notes: " + text
        resp = raw("127.0.0.1", 3128, (f"POST http://{{hp}}/echo HTTP/1.1\\r\\nHost: {{hp}}\\r\\n"
                   f"Content-Length: {{len(b)}}\\r\\nConnection: close\\r\\n\\r\\n{{b}}").encode())
        out("plain-body", status(resp), header(resp, "X-Pincer-Denied"))
        resp = raw("127.0.0.1", 3128, (f"GET http://{{hp}}/x HTTP/1.1\\r\\nHost: {{hp}}\\r\\n"
                   f"X-Leak: {{key}}\\r\\nConnection: close\\r\\n\\r\\n").encode())
        out("plain-header", status(resp), header(resp, "X-Pincer-Denied"))
        st, hd, _ = fetch("https://localhost:{inj.api}/headers?t=body", data=b.encode())
        out("tls-body", st, hd.get("x-pincer-denied"))
        """))
    assert r.returncode == 0, f"pincer exited {r.returncode}\n{r.stdout}{r.stderr}"
    got = outs(r)
    nothing_reached(inj.ups.web, key)
    nothing_reached(inj.ups.api, key)
    assert [(g[0], g[1], bool(g[2])) for g in got] == [
        ("plain-body", 403, True), ("plain-header", 403, True), ("tls-body", 403, True)], got
    assert inj.ups.web.requests == [] and inj.ups.api.requests == [], \
        (forwarded(inj.ups.web), forwarded(inj.ups.api))
    _exfil_checks(inj, "localhost", inj.web, "anthropic", ["body", "header"], [key])
    _exfil_checks(inj, "localhost", inj.api, "anthropic", ["body"], [key])
    assert key not in inj.audit_text()


def test_credential_for_named_hosts(inj):
    need_names()
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy("""\
        allow_private: [127.0.0.1/32]
        allow:
          - host: api.test
            ports: [{api}]
          - host: web.test
            ports: [{api}]
          - host: tls.example.test
            ports: [{web}]
        """, """\
        - name: anthropic
          host: [api.test, web.test]
          header: x-api-key
          placeholder: ANTHROPIC_API_KEY
        """)
    r = inj.run(pol, py_agent(f"""
        import os
        ph = os.environ["ANTHROPIC_API_KEY"]
        for h, proxy in (("api.test", None), ("web.test", None), ("api.test", "{PROXY}")):
            out(fetch(f"https://{{h}}:{inj.api}/headers?h={{h}}", {{"x-api-key": ph}},
                      proxy=proxy)[0])
        out(fetch("http://tls.example.test:{inj.web}/x", {{"x-api-key": ph}},
                  proxy="{PROXY}")[0])
        """))
    assert outs(r) == [[200], [200], [200], [403]], r.stdout + r.stderr
    assert [hget(q.headers, "x-api-key") for q in inj.ups.api.requests] == [key] * 3
    assert inj.ups.web.requests == []
    _exfil_checks(inj, "tls.example.test", inj.web, "anthropic", ["header"], [key])


# ---- the vault, seen from pincer run ---------------------------------------------

def test_missing_secret_refuses_to_start(inj):
    pol = inj.policy(EGRESS, ANTHROPIC)
    marker = inj.ident.proj / "ran"
    cases = {}
    cases["no store"] = inj.run(pol, ["/usr/bin/touch", str(marker)])
    inj.set_secret("other", secret())
    cases["not in the store"] = inj.run(pol, ["/usr/bin/touch", str(marker)])
    inj.set_secret("anthropic", secret(), owner="agent:someone-else")
    cases["someone else's"] = inj.run(pol, ["/usr/bin/touch", str(marker)])
    assert not marker.exists(), "the command ran"
    bad = {what: (r.returncode, r.stderr) for what, r in cases.items()
           if r.returncode == 0 or "anthropic" not in r.stderr
           or "pincer vault set" not in r.stderr}
    assert not bad, bad
    assert not inj.egress(), inj.log()


DAMAGE = ["flipped-byte", "wrong-key", "store-world-readable"]


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_vault_refuses_the_run(inj, damage):
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, ANTHROPIC)
    env = None
    if damage == "flipped-byte":
        b = bytearray(inj.store.read_bytes())
        b[len(b) // 2] ^= 0x40
        inj.store.write_bytes(bytes(b))
        expect = "vault store"
    elif damage == "wrong-key":
        other = inj.ident.write("other.key", os.urandom(32), mode=0o600)
        env = {"PINCER_VAULT_KEY_FILE": str(other)}
        expect = "is not the key of vault store"
    else:
        os.chmod(inj.store, 0o604)
        expect = f"chmod 600 {inj.store}"
    before = inj.store.read_bytes()
    r = inj.run(pol, ["/usr/bin/touch", str(inj.ident.proj / "ran")], env=env)
    assert r.returncode != 0, r.stdout + r.stderr
    assert expect in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2, r.stderr
    no_secret_in(r.stdout + r.stderr, key)
    assert not (inj.ident.proj / "ran").exists(), "the command ran"
    assert inj.store.read_bytes() == before, "the store changed"
    assert inj.ups.api.requests == []


def test_rotation_takes_effect_on_the_next_request(inj):
    old, new = secret(), secret()
    inj.set_secret("anthropic", old)
    pol = inj.policy(EGRESS, ANTHROPIC)
    p = inj.popen(pol, py_agent(f"""
        import http.client, os, ssl, time
        ph = os.environ["ANTHROPIC_API_KEY"]
        def get(c, n):
            c.request("GET", "/headers?n=" + n, headers={{"x-api-key": ph}})
            r = c.getresponse()
            r.read()
            return [n, r.status, r.getheader("X-Got-Key") == ph]
        ctx = ssl.create_default_context()
        c = http.client.HTTPSConnection("127.0.0.1", {inj.api}, context=ctx, timeout=30)
        out(get(c, "1"))
        open("ready", "w").close()
        t = time.monotonic()
        while not os.path.exists("go") and time.monotonic() - t < 60:
            time.sleep(0.05)
        out(get(c, "2"))  # the same connection
        out(get(http.client.HTTPSConnection("127.0.0.1", {inj.api}, context=ctx, timeout=30),
                "3"))
        """))
    try:
        t = time.monotonic()
        while not (inj.ident.proj / "ready").exists():
            assert p.poll() is None and time.monotonic() - t < 60, p.communicate()
            time.sleep(0.05)
        inj.set_secret("anthropic", new, verb="rotate")
        inj.ident.write("proj/go", "")
        stdout, stderr = p.communicate(timeout=90)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, stdout + stderr
    no_secret_in(stdout + stderr, old, new)
    got = [json.loads(line)[0] for line in stdout.splitlines() if line.startswith("[")]
    assert got == [["1", 200, True], ["2", 200, True], ["3", 200, True]], got
    seen = {q.path: hget(q.headers, "x-api-key") for q in inj.ups.api.requests}
    assert seen == {"/headers?n=1": old, "/headers?n=2": new, "/headers?n=3": new}, \
        {k: "old" if v == old else "new" if v == new else v for k, v in seen.items()}


# ---- upstream certificates ---------------------------------------------------------

# (upstream, the credential's host, upstream_ca given, OpenSSL's words)
BAD_CERTS = {
    "self-signed": ("selfsigned", "127.0.0.1", True, "self-signed"),
    "expired": ("expired", "127.0.0.1", True, "certificate has expired"),
    "wrong-name": ("wrongname", "localhost", True, "hostname mismatch"),
    "wrong-ip": ("wrongname", "127.0.0.1", True, "IP address mismatch"),
    "unknown-ca": ("api", "127.0.0.1", False, "unable to get local issuer certificate"),
}


@pytest.mark.parametrize("case", list(BAD_CERTS))
def test_bad_upstream_certificate_is_refused(inj, case):
    ups_name, host, with_ca, words = BAD_CERTS[case]
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, ANTHROPIC.replace("127.0.0.1", host), upstream_ca=with_ca)
    port = getattr(inj, ups_name)
    control = "" if not with_ca else \
        f'out("control", fetch("https://{host}:{inj.api}/headers?control")[0])'
    r = inj.run(pol, py_agent(f"""
        import os
        ph = os.environ["ANTHROPIC_API_KEY"]
        for proxy in (None, "{PROXY}"):
            st, hd, body = fetch("https://{host}:{port}/headers", {{"x-api-key": ph}},
                                 proxy=proxy)
            out("bad", st, hd.get("x-pincer-denied"), body[:200])
        {control}
        """))
    got = outs(r)
    bad = [g for g in got if g[0] == "bad"]
    assert len(bad) == 2, got
    for _, st, denied, body in bad:
        # the agent's TLS (with the gate) worked: it got an HTTP answer
        assert st == 502 and denied, (st, denied, body)
    if with_ca:
        assert ["control", 200] in got, got
    u = getattr(inj.ups, ups_name)
    assert u.requests == [], "a request reached the bad upstream"
    recs = inj.egress(decision="deny", host=host, port=port)
    assert recs and all(x["why"] == "upstream-tls" for x in recs), inj.log()
    assert all(words in x["reason"] for x in recs), [x["reason"] for x in recs]
    no_secret_in(inj.audit_text(), key, what="audit log")


# ---- hosts without credentials ------------------------------------------------------

def test_allowed_host_without_credentials_is_tunnelled_untouched(inj):
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, py_agent(f"""
        import http.client, os, ssl
        ph = os.environ["ANTHROPIC_API_KEY"]
        only_test_ca = ssl.create_default_context(cafile="ca.pem")
        def issuer(c):
            return dict(x[0] for x in c.sock.getpeercert()["issuer"])["commonName"]
        def one(c, tag):
            c.request("GET", "/headers?t=" + tag, headers={{"x-api-key": "not-a-placeholder"}})
            r = c.getresponse()
            r.read()
            return [tag, r.status, issuer(c)]
        def safe(c, tag):
            try:
                return one(c, tag)
            except ssl.SSLError as e:
                return [tag, "refused", e.reason]
            except OSError as e:
                return [tag, "error", str(e)]
        c = http.client.HTTPSConnection("127.0.0.1", 3128, context=only_test_ca, timeout=30)
        c.set_tunnel("localhost", {inj.api})
        out(safe(c, "proxy"))
        c = http.client.HTTPSConnection("localhost", {inj.api}, context=only_test_ca, timeout=30)
        out(safe(c, "captured"))
        # the credential's host: the gate's leaf, from the run's CA
        c = http.client.HTTPSConnection("127.0.0.1", {inj.api},
                                        context=ssl.create_default_context(), timeout=30)
        out(safe(c, "intercepted"))
        c = http.client.HTTPSConnection("127.0.0.1", {inj.api}, context=only_test_ca, timeout=30)
        out(safe(c, "intercepted-test-ca"))
        """))
    got = [g[0] for g in outs(r)]
    assert got[0] == ["proxy", 200, TEST_CA_CN], got
    assert got[1] == ["captured", 200, TEST_CA_CN], got
    assert got[2][:2] == ["intercepted", 200] and got[2][2] != TEST_CA_CN, got
    assert got[3][:2] == ["intercepted-test-ca", "refused"], got
    seen = {q.path: hget(q.headers, "x-api-key") for q in inj.ups.api.requests}
    assert seen == {"/headers?t=proxy": "not-a-placeholder",
                    "/headers?t=captured": "not-a-placeholder",
                    "/headers?t=intercepted": key}, seen
    # curl -v names the issuer too
    r = inj.run(pol, sh(f"curl -sS -v --max-time 20 --cacert ca.pem -x {PROXY} --noproxy '' "
                        f"https://localhost:{inj.api}/headers?t=curl -o /dev/null"))
    assert r.returncode == 0, r.stderr
    assert f"issuer: CN={TEST_CA_CN}" in r.stderr, r.stderr
    assert not inj.egress(proto="https", host="localhost"), inj.log()
    assert inj.egress(decision="allow", host="localhost", proto="connect"), inj.log()


def test_gate_survives_a_blocked_body_on_a_captured_tls_connection(inj):
    # (found by test_placeholder_to_another_intercepted_host_is_blocked: the
    # 403 came, then pincer itself died of SIGSEGV)
    inj.set_secret("anthropic", secret())
    inj.set_secret("github", secret("ghp_", 36))
    pol = inj.policy(EGRESS, ANTHROPIC + GITHUB_ON_LOCALHOST)
    lh = f"https://localhost:{inj.api}/headers"
    r = inj.run(pol, py_agent(f"""
        import os, time
        ph = os.environ["ANTHROPIC_API_KEY"]
        out(fetch("{lh}?t=body", data=ph.encode())[0])
        time.sleep(1)
        out(fetch("{lh}?t=after")[0])
        """))
    assert r.returncode == 0, f"pincer exited {r.returncode}\n{r.stdout}{r.stderr}"
    assert outs(r) == [[403], [200]]
    assert inj.ups.api.paths() == ["/headers?t=after"], forwarded(inj.ups.api)


def test_value_late_in_a_long_or_chunked_body_never_leaves(inj):
    """The value after 256 KiB of body, or split across two chunks sent
    apart: no byte of it reaches another host. A body of up to 64 KiB (the
    chunked one here) is searched whole, so the request is not forwarded at
    all; a longer one streams with the last bytes held back, so the
    upstream gets a request cut short before the value."""
    key, gh = secret(), secret("ghp_", 36)
    inj.set_secret("anthropic", key)
    inj.set_secret("github", gh)
    pol = inj.policy(EGRESS, ANTHROPIC + GITHUB_ON_LOCALHOST)
    r = inj.run(pol, py_agent(f"""
        import http.client, os, ssl, time
        from gatelib import raw, status
        ph = os.environ["ANTHROPIC_API_KEY"]
        hp = "localhost:{inj.web}"
        b = "x" * (256 << 10) + ph
        resp = raw("127.0.0.1", 3128, (
            f"POST http://{{hp}}/echo?t=long HTTP/1.1\\r\\nHost: {{hp}}\\r\\n"
            f"Content-Length: {{len(b)}}\\r\\nConnection: close\\r\\n\\r\\n{{b}}").encode())
        out("plain-long", status(resp))
        def chunks():
            yield ("y" * 1000 + ph[:len(ph) // 2]).encode()
            time.sleep(0.5)
            yield (ph[len(ph) // 2:] + "z" * 10).encode()
        def post(conn, path, body, chunked):
            try:
                conn.request("POST", path, body=body, encode_chunked=chunked,
                             headers={{"Content-Type": "text/plain"}})
                return conn.getresponse().status
            except OSError as e:
                return f"error {{e}}"
        c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=30)
        out("plain-chunked", post(c, "http://" + hp + "/echo?t=chunked", chunks(), True))
        ctx = ssl.create_default_context()
        c = http.client.HTTPSConnection("localhost", {inj.api}, context=ctx, timeout=30)
        out("tls-long", post(c, "/headers?t=tls-long", b.encode(), False))
        c = http.client.HTTPSConnection("localhost", {inj.api}, context=ctx, timeout=30)
        out("tls-chunked", post(c, "/headers?t=tls-chunked", chunks(), True))
        out(ph)
        """), timeout=180)
    got = outs(r) if r.returncode == 0 else []
    ph = got[-1][0] if got else None
    nothing_reached(inj.ups.web, key, *([ph] if ph else []))
    nothing_reached(inj.ups.api, key, *([ph] if ph else []))
    assert r.returncode == 0, f"pincer exited {r.returncode}\n{r.stdout}{r.stderr}"
    assert got[:4] == [["plain-long", 403], ["plain-chunked", 403], ["tls-long", 403],
                       ["tls-chunked", 403]], got
    assert len(inj.exfil(credential="anthropic", where="body")) == 4, inj.log()
    for ups in (inj.ups.web, inj.ups.api):
        got_paths = [q.path.split("=")[-1] for q in ups.requests]
        assert "chunked" not in got_paths and "tls-chunked" not in got_paths, \
            ("a small body was forwarded before it was searched", forwarded(ups))
        assert all(q.body is None and len(q.partial) < (256 << 10) for q in ups.requests), \
            ("a long body went further than the value", forwarded(ups))


def test_socks5_to_a_credential_host_is_denied(inj):
    # README: HTTPS is inspected only through the proxy or capture; SOCKS5 to
    # a host that needs inspection is denied, and the record says so
    inj.set_secret("anthropic", secret())
    pol = inj.policy(EGRESS, ANTHROPIC)
    r = inj.run(pol, sh(f"{CURL} --noproxy '' --socks5 127.0.0.1:3128 "
                        f"https://127.0.0.1:{inj.api}/headers?t=socks; echo curl=$?"))
    assert "curl=0" not in r.stdout, r.stdout + r.stderr
    assert inj.ups.api.requests == []
    rec = inj.egress(decision="deny", proto="socks5", host="127.0.0.1", port=inj.api)
    assert len(rec) == 1, inj.log()
