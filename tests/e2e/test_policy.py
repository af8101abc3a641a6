"""`pincer policy check` and the policy a `pincer run` refuses.

Every bad policy is refused with exit status 2 and one message naming
FILE:LINE:COL, the key path and what would have been accepted; `pincer run`
given the same file refuses it with the same message before anything runs.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import PINCER, REPO

EXAMPLES = sorted((REPO / "examples" / "policies").glob("*.yaml"))

# (id, policy text, "LINE:COL", key path or None, a part of what is accepted)
BAD = [
    ("unknown-key", "version: 1\nnmae: x\n",
     "2:1", "nmae", "accepted here: version, name, sandbox, filesystem, network, "
     "credentials, approvals, process"),
    ("unknown-nested-key", "version: 1\nnetwork:\n  egres:\n    allow: []\n",
     "3:3", "network.egres", "accepted here: egress, gate_port"),
    ("version-missing", "name: x\n", "1:1", "version", "version: 1"),
    ("version-2", "version: 2\n", "1:10", "version", "reads version: 1"),
    ("duplicate-key", "version: 1\nname: a\nname: b\n", "3:1", "name", "each key once"),
    ("billion-laughs",
     "version: 1\nx: &a [lol, lol, lol]\ny: &b [*a, *a, *a, *a]\nz: [*b, *b, *b, *b]\n",
     "2:4", "x", "write each value out"),
    ("alias", "version: 1\nname: *n\n", "2:7", "name", "write each value out"),
    ("two-documents", "version: 1\n---\nversion: 1\n", "2:1", None, "one policy per file"),
    ("empty-file", "", "1:1", None, "version: 1"),
    ("comments-only", "# nothing here\n", "1:1", None, "version: 1"),
    ("top-level-list", "- version: 1\n", "1:1", None, "version: 1, name: ..."),
    ("yaml-syntax", "version: 1\nfilesystem:\n  read_only:\n    - /usr\n   - /bin\n",
     "5:4", "filesystem", "check indentation"),
    ("port-out-of-range",
     "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: a.example.com\n"
     "      - host: b.example.com\n      - host: c.example.com\n        ports: [443, 70000]\n",
     "8:22", "network.egress.allow[2].ports[1]", "70000 is not a port (1-65535)"),
    ("scalar-for-list", "version: 1\nfilesystem:\n  read_only: /usr\n",
     "3:14", "filesystem.read_only", "expected a list"),
    ("bad-size", "version: 1\nprocess:\n  limits:\n    memory: 512Q\n",
     "4:13", "process.limits.memory", "512M, 1G, 64K"),
    ("duration-no-unit", "version: 1\nprocess:\n  limits:\n    wall_time: 10\n",
     "4:16", "process.limits.wall_time", "250ms, 30s, 10m, 1h, 2d"),
    ("duration-years",
     "version: 1\napprovals:\n  - match: {host: crm.example.com}\n    approvers: [alice]\n"
     "    timeout: 1y\n",
     "5:14", "approvals[0].timeout", "250ms, 30s, 10m, 1h, 2d"),
    ("cpus-zero", "version: 1\nprocess:\n  limits: {cpus: 0}\n",
     "3:18", "process.limits.cpus", "0.001 to 1024"),
    ("cpus-negative", "version: 1\nprocess:\n  limits: {cpus: -1.5}\n",
     "3:18", "process.limits.cpus", "1, 1.5 or 0.25"),
    ("pids-zero", "version: 1\nprocess:\n  limits: {pids: 0}\n",
     "3:18", "process.limits.pids", "1-4194304"),
    ("relative-path", "version: 1\nfilesystem:\n  read_write: [project]\n",
     "3:16", "filesystem.read_write[0]", "an absolute path"),
    ("tilde-user", "version: 1\nfilesystem:\n  read_only: [~root/docs]\n",
     "3:15", "filesystem.read_only[0]", "~/... for your own home"),
    ("dot-dot", "version: 1\nfilesystem:\n  read_only: [/usr/share/../../etc]\n",
     "3:15", "filesystem.read_only[0]", "without '..'"),
    ("missing-granted-path", "version: 1\nfilesystem:\n  read_only:\n    - /nonexistent/docs\n",
     "4:7", "filesystem.read_only[0]", "a granted path must exist"),
    ("ro-and-rw",
     "version: 1\nfilesystem:\n  read_only: [/usr/share/doc]\n  read_write:\n"
     "    - /usr/share/doc/\n",
     "5:7", "filesystem.read_write[0]",
     "also in filesystem.read_only[0] at line 3 (a path is either read_only or read_write"),
    ("hostname", "version: 1\nsandbox:\n  hostname: my_box\n",
     "3:13", "sandbox.hostname", "letters, digits and '-'"),
    ("isolation", "version: 1\nsandbox:\n  isolation: docker\n",
     "3:14", "sandbox.isolation", "namespaces | microvm"),
    ("env-name", "version: 1\nprocess:\n  env:\n    2FA: x\n",
     "4:5", "process.env.2FA", "letters, digits and _"),
    ("env-value-number", "version: 1\nprocess:\n  env:\n    WORKERS: 4\n",
     "4:14", "process.env.WORKERS", 'quote it: "4"'),
    ("scratch-size-zero", "version: 1\nfilesystem:\n  scratch: {path: /tmp, size: 0}\n",
     "3:31", "filesystem.scratch.size", "512M"),
    ("credential-no-placeholder",
     "version: 1\ncredentials:\n  - name: anthropic\n    host: api.anthropic.com\n"
     "    header: x-api-key\n",
     "3:5", "credentials[0].placeholder", "environment variable"),
    ("credential-bad-placeholder",
     "version: 1\ncredentials:\n  - name: anthropic\n    host: api.anthropic.com\n"
     "    header: x-api-key\n    placeholder: ANTHROPIC-KEY\n",
     "6:18", "credentials[0].placeholder", "letters, digits and _"),
    ("approval-no-approvers",
     "version: 1\napprovals:\n  - match: {host: crm.example.com}\n    timeout: 5m\n",
     "3:5", "approvals[0].approvers", "group:NAME"),
    ("act-as",
     "version: 1\napprovals:\n  - match: {host: crm.example.com}\n    approvers: [bob]\n"
     "    act_as: root\n",
     "5:13", "approvals[0].act_as", "agent | approver"),
    ("count-zero",
     "version: 1\napprovals:\n  - match: {host: crm.example.com}\n"
     "    approvers: [group:sales]\n    count: 0\n",
     "5:12", "approvals[0].count", "1-100"),
    ("host-star", "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: \"*\"\n",
     "5:15", "network.egress.allow[0].host", "*.example.com"),
    ("host-star-dot", "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: \"*.\"\n",
     "5:15", "network.egress.allow[0].host", "*.example.com"),
    ("host-inner-star", "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: a.*.com\n",
     "5:15", "network.egress.allow[0].host", "whole first label"),
    ("host-space", "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: \"a b.com\"\n",
     "5:15", "network.egress.allow[0].host", "no spaces"),
    ("host-scheme",
     "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: https://api.example.com\n",
     "5:15", "network.egress.allow[0].host", "leave out the scheme"),
    ("default-allow", "version: 1\nnetwork:\n  egress:\n    default: allow\n",
     "4:14", "network.egress.default", "version 1 only supports deny"),
    ("access-and-methods",
     "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: api.github.com\n"
     "        methods: [GET]\n        access: read-only\n",
     "7:17", "network.egress.allow[0].access", "one of access or methods"),
    ("method-lower-case",
     "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: api.github.com\n"
     "        methods: [GET, post]\n",
     "6:24", "network.egress.allow[0].methods[1]", "GET, HEAD, POST"),
    ("seccomp-unknown-syscall", "version: 1\nprocess:\n  seccomp:\n    deny: [ptrace, fly]\n",
     "4:20", "process.seccomp.deny[1]", "ptrace"),
    ("landlock", "version: 1\nprocess:\n  landlock: sometimes\n",
     "3:13", "process.landlock", "best_effort | required | off"),
    ("allow-private-host-bits",
     "version: 1\nnetwork:\n  egress:\n    allow_private: [10.1.2.3/16]\n",
     "4:21", "network.egress.allow_private[0]",
     "10.1.2.3/16 has host bits set: did you mean 10.1.0.0/16?"),
    ("allow-private-prefix",
     "version: 1\nnetwork:\n  egress:\n    allow_private:\n      - 127.0.0.1/33\n",
     "5:9", "network.egress.allow_private[0]", "the prefix length is a number 1-32"),
    ("allow-private-name",
     "version: 1\nnetwork:\n  egress:\n    allow_private: [localhost]\n",
     "4:21", "network.egress.allow_private[0]", "not an IP address or network"),
    ("allow-private-everything",
     "version: 1\nnetwork:\n  egress:\n    allow_private: [\"::/0\"]\n",
     "4:21", "network.egress.allow_private[0]", "set deny_private: false instead"),
    ("deny-empty-ports",
     "version: 1\nnetwork:\n  egress:\n    deny:\n      - host: a.example.com\n"
     "        ports: []\n",
     "6:16", "network.egress.deny[0].ports", "leave ports out for any port"),
    ("host-ipv4-octal",
     "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: 010.0.0.1\n",
     "5:15", "network.egress.allow[0].host", "four decimal numbers"),
]

IDS = [b[0] for b in BAD]


def expected_prefix(path, loc, key):
    return f"{path}:{loc}: {key}: " if key else f"{path}:{loc}: "


def body(yaml_text):
    """The emitted policy without its header line (which names the file)."""
    lines = yaml_text.splitlines()
    assert lines[0].startswith("# effective policy of ")
    return [re.sub(r"\s+#.*$", "", l) for l in lines[1:]]


@pytest.mark.parametrize("case", BAD, ids=IDS)
def test_check_refuses(host, case):
    name, text, loc, key, accepted = case
    path = host.policy(text, name=f"{name}.yaml")
    r = host.pincer("policy", "check", str(path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    err = r.stderr.strip()
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert err.startswith("pincer: " + expected_prefix(path, loc, key)), err
    assert accepted in err, err


@pytest.mark.parametrize("case", BAD, ids=IDS)
def test_run_refuses(pincer, case):
    """`pincer run` on a bad policy: status 2, the same message, and the
    command never runs."""
    name, text, loc, key, _ = case
    path = pincer.policy(text, name=f"{name}.yaml")
    marker = pincer.work / "MARKER"
    r = pincer.pincer("run", "--policy", str(path), "--", "touch", str(marker))
    assert r.returncode == 2, r.stdout + r.stderr
    assert not marker.exists()
    assert expected_prefix(path, loc, key) in r.stderr, r.stderr


def test_file_too_large(host):
    path = host.policy("version: 1\n" + "#" * (1024 * 1024) + "\n", name="big.yaml")
    r = host.pincer("policy", "check", str(path))
    assert r.returncode == 2
    assert f"{path}: the file is larger than 1 MiB" in r.stderr


def test_file_missing(host):
    r = host.pincer("policy", "check", str(host.work / "nope.yaml"))
    assert r.returncode == 2
    assert "nope.yaml" in r.stderr and "No such file" in r.stderr


FULL = """\
version: 1
name: full
sandbox: {isolation: namespaces, hostname: box}
filesystem:
  system: [/usr, /bin, /lib, /lib64]
  read_only: [/usr/share/doc]
  read_write: [WORK/data]
  deny: ["~/.ssh", "**/.env"]
  scratch: {path: /tmp, size: 64M}
network:
  gate_port: 3128
  egress:
    default: deny
    deny_private: true
    enforcement: enforce
    allow:
      - host: api.anthropic.com
        ports: [443]
      - host: "*.github.com"
      - host: crm.example.com
        methods: [GET, POST]
        paths: ["/api/**"]
        enforcement: audit
      - host: api.github.com
        access: read-only
    deny:
      - host: gist.github.com
credentials:
  - name: anthropic
    host: api.anthropic.com
    header: x-api-key
    placeholder: ANTHROPIC_API_KEY
  - name: gh
    host: [api.github.com, uploads.github.com]
    header: Authorization
    format: "Bearer {secret}"
    placeholder: GH_TOKEN
approvals:
  - match: {host: crm.example.com, methods: [POST], paths: ["/api/deals/*"]}
    approvers: [alice, "group:sales"]
    act_as: approver
    timeout: 20m
    hold: 30s
    count: 2
process:
  env: {HOME: /home/agent, LANG: C.UTF-8, DEBUG: "true"}
  limits: {memory: 512M, cpus: 1.5, pids: 128, open_files: 256, file_size: 1G, wall_time: 90m}
  on_oom: restart
  seccomp: {profile: default, deny: [ptrace], log: [personality]}
  landlock: required
"""


def test_valid_prints_effective_policy(host):
    host.mkdir("data")
    path = host.policy(FULL.replace("WORK", str(host.work)), name="full.yaml")
    r = host.pincer("policy", "check", str(path))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    out = r.stdout
    sha = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True,
                         check=True).stdout.split()[0]
    assert out.splitlines()[0] == f"# effective policy of {path} (sha256 {sha})"
    for line in ["name: full", "    size: 64M", "  gate_port: 3128",
                 "        methods: [GET, HEAD, OPTIONS]", "    format: \"{secret}\"",
                 "    hold: 30s", "    timeout: 20m", "    count: 2", "    cpus: 1.5",
                 "    wall_time: 90m", "    file_size: 1G", "  landlock: required",
                 "    deny: [ptrace]", "        ports: [80, 443]",
                 "        enforcement: audit", f"    - {host.work}/data",
                 f"    - {host.home}/.ssh  # ~/.ssh", "    - \"**/.env\""]:
        assert line in out.splitlines(), f"{line!r} not in\n{out}"
    # what was printed is itself a valid policy, and prints the same again
    again = host.write("effective.yaml", out)
    r2 = host.pincer("policy", "check", str(again))
    assert r2.returncode == 0, r2.stderr
    assert body(r2.stdout) == body(out)
    # -q validates without printing
    r3 = host.pincer("policy", "check", "-q", str(path))
    assert r3.returncode == 0 and r3.stdout == ""


def test_defaults_are_spelled_out(host):
    path = host.policy("version: 1\n", name="minimal.yml")
    r = host.pincer("policy", "check", str(path))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for line in ["name: minimal", "  isolation: namespaces", "  hostname: agent",
                 "    - /usr", "    - /etc/mime.types", "    path: /tmp", "    size: 256M",
                 "  gate_port: 3128", "    default: deny", "    deny_private: true",
                 "    allow: []", "credentials: []", "approvals: []", "  on_oom: stop",
                 "  seccomp: default", "  landlock: best_effort",
                 f"    - {host.home}/.gnupg  # ~/.gnupg",
                 f"    - {host.home}/.password-store  # ~/.password-store"]:
        assert line in lines, f"{line!r} not in\n{r.stdout}"


def test_default_policy(host):
    r = host.pincer("policy", "check", "--default", cwd=host.work)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("# effective policy of <built-in default> (sha256 ")
    assert "name: default" in lines
    assert f"    - {host.work}" in lines
    assert "    allow: []" in lines
    # FILE left out means the same
    r2 = host.pincer("policy", "check", cwd=host.work)
    assert r2.returncode == 0 and r2.stdout == r.stdout
    # and what it prints is a policy file that validates
    again = host.write("default.yaml", r.stdout)
    r3 = host.pincer("policy", "check", str(again))
    assert r3.returncode == 0, r3.stderr
    assert body(r3.stdout) == body(r.stdout)


@pytest.mark.parametrize("cwd", ["/", "/usr", "/etc", "/proc", "/var", "/home", "/usr/share"])
def test_default_policy_refuses_system_folders(host, cwd):
    r = host.pincer("policy", "check", "--default", cwd=cwd)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("pincer: ")
    assert "cd into a project folder" in r.stderr and "--policy" in r.stderr


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {"offline.yaml", "coder.yaml", "sales-assistant.yaml"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_validate(host, example):
    # coder.yaml grants ~/work, which must exist: give it a home that has one
    home = host.mkdir("home")
    host.mkdir("home/work")
    r = host.pincer("policy", "check", str(example), env={"HOME": str(home)})
    assert r.returncode == 0, r.stderr
    again = host.write("again.yaml", r.stdout)
    r2 = host.pincer("policy", "check", str(again), env={"HOME": str(home)})
    assert r2.returncode == 0, r2.stderr
    assert body(r2.stdout) == body(r.stdout)


@pytest.mark.parametrize("example", ["offline.yaml", "sales-assistant.yaml"])
def test_examples_need_nothing_created(host, example):
    """These two validate on a fresh machine, whatever the home holds."""
    r = host.pincer("policy", "check", str(REPO / "examples" / "policies" / example),
                    env={"HOME": str(host.work)})
    assert r.returncode == 0, r.stderr


def test_help(host):
    for args in [("policy", "--help"), ("policy", "-h"), ("policy", "check", "--help")]:
        r = host.pincer(*args)
        assert r.returncode == 0, args
        assert "usage: pincer policy check" in r.stdout
        assert "example" in r.stdout
        assert r.stderr == ""


@pytest.mark.parametrize("args", [("policy",), ("policy", "frob"),
                                  ("policy", "check", "--frob"),
                                  ("policy", "check", "a.yaml", "b.yaml"),
                                  ("policy", "check", "--default", "a.yaml")])
def test_bad_usage(host, args):
    r = host.pincer(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "usage: pincer policy" in r.stderr


def test_deny_rule_without_ports_means_any_port(host):
    """A deny rule without ports: covers every port, and the effective
    policy says so by leaving ports out; allow rules still get 80, 443."""
    path = host.policy("version: 1\nnetwork:\n  egress:\n    allow_private:\n"
                       "      - 127.0.0.1\n      - \"fd00::/8\"\n    allow:\n"
                       "      - host: \"*.example.com\"\n      - host: \"[FD00::1]\"\n"
                       "    deny:\n      - host: bad.example.com\n")
    r = host.pincer("policy", "check", str(path))
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert ("    deny:\n      - host: bad.example.com\n        enforcement: enforce\n"
            in text), text
    assert ("      - host: \"*.example.com\"\n        ports: [80, 443]\n" in text), text
    assert '      - host: "fd00::1"\n' in text, text
    assert ("    allow_private:\n      - 127.0.0.1/32  # 127.0.0.1\n"
            "      - \"fd00::/8\"\n" in text), text
    again = host.write("again.yaml", text)
    r2 = host.pincer("policy", "check", str(again))
    assert r2.returncode == 0, r2.stderr
    assert body(r2.stdout) == body(text)


# ---- pincer policy suggest ------------------------------------------------------

GEN = Path(PINCER).resolve().parent / "tests" / "unit" / "policy" / "egress-log-gen"

# TYPE AGENT RUN DECISION WHY PROTO HOST PORT METHOD PATH REASON (see egress_log_gen.c)
RECORDS = [
    ("run.start", "coder", "run-aaaa1111", "-", "-", "-", "-", "0", "-", "-", "started"),
    ("egress", "coder", "run-aaaa1111", "deny", "not-allowed", "connect", "api.example.com",
     "443", "-", "-", "egress denied: host api.example.com port 443 not in allowlist"),
    ("egress", "coder", "run-aaaa1111", "deny", "not-allowed", "connect", "api.example.com",
     "443", "-", "-", "egress denied: host api.example.com port 443 not in allowlist"),
] + [
    ("egress", "coder", "run-aaaa1111", "would-deny", "not-allowed", "http",
     "crm.example.com", "80", "GET", f"/api/users/{i}?page=2",
     f"would deny: GET /api/users/{i} on crm.example.com port 80 ...")
    for i in range(5)
] + [
    ("egress", "coder", "run-aaaa1111", "deny", "not-allowed", "http", "crm.example.com",
     "80", "POST", "/api/deals", "egress denied: POST /api/deals ..."),
    ("egress", "coder", "run-aaaa1111", "allow", "-", "connect", "ok.example.com", "443",
     "-", "-", "egress allowed: host ok.example.com port 443 by /p.yaml:5"),
    ("egress", "coder", "run-aaaa1111", "deny", "private-address", "connect",
     "metadata.example.com", "80", "-", "-",
     "egress denied: metadata.example.com resolves to 169.254.169.254, a private address"),
    ("egress", "coder", "run-aaaa1111", "deny", "deny-rule", "connect", "gist.github.com",
     "443", "-", "-", "egress denied: host gist.github.com port 443 matches deny rule "
     "/p.yaml:9"),
    ("egress", "reviewer", "run-bbbb2222", "deny", "not-allowed", "socks5",
     "other.example.org", "8443", "-", "-", "egress denied: host other.example.org ..."),
]


def make_log(ident, records, name="audit.jsonl"):
    assert GEN.exists(), f"{GEN} is built with pincer (tests/unit/policy/meson.build)"
    path = ident.work / name
    text = "".join("\t".join(r) + "\n" for r in records)
    subprocess.run([str(GEN), str(path)], input=text, text=True, check=True)
    return path


def test_suggest_turns_denials_into_allow_entries(host):
    log = make_log(host, RECORDS)
    r = host.pincer("policy", "suggest", str(log))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"# Suggested by 'pincer policy suggest' from {log}:\n"), out
    assert ("# 11 denied egress attempts, 5 would-deny (enforcement: audit), from 2 runs "
            "(--run RUNID for one).\n# The entries below would admit 9 of them." in out), out
    assert ("      - host: api.example.com  # 2 denied connections (connect)\n"
            "        ports: [443]\n" in out), out
    assert ("      - host: crm.example.com  # 6 denied plain HTTP requests on 6 paths\n"
            "        ports: [80]\n        methods: [GET, POST]\n"
            "        paths: [/api/deals, \"/api/users/**\"]\n" in out), out
    assert "      - host: other.example.org" in out
    assert "ok.example.com" not in out  # allowed: nothing to suggest
    assert "# Not fixable by an allow entry (2 denials):\n" in out
    assert ("#   metadata.example.com port 80, 1 time: a private address (deny_private)"
            in out), out
    assert "#   gist.github.com port 443, 1 time: a deny rule blocks it" in out
    assert not [l for l in out.splitlines() if l and not l.startswith(("#", "      "))]

    # pasted under allow:, the policy validates and holds the entries
    policy = host.policy("version: 1\nnetwork:\n  egress:\n    allow:\n" + out,
                         name="suggested.yaml")
    c = host.pincer("policy", "check", str(policy))
    assert c.returncode == 0, c.stderr + out
    assert '        paths: [/api/deals, "/api/users/**"]' in c.stdout.splitlines()
    assert "      - host: other.example.org" in c.stdout.splitlines()


def test_suggest_filters_by_run_and_agent(host):
    log = make_log(host, RECORDS)
    r = host.pincer("policy", "suggest", str(log), "--run", "run-bbbb")
    assert r.returncode == 0, r.stderr
    assert f"from {log} for run run-bbbb:" in r.stdout
    assert "other.example.org" in r.stdout and "crm.example.com" not in r.stdout
    assert "Not fixable" not in r.stdout
    r = host.pincer("policy", "suggest", "--agent", "coder", str(log))
    assert r.returncode == 0, r.stderr
    assert "crm.example.com" in r.stdout and "other.example.org" not in r.stdout
    r = host.pincer("policy", "suggest", str(log), "--agent", "nobody")
    assert r.returncode == 0
    assert r.stdout == ""
    assert "no denied egress in" in r.stderr and "agent nobody" in r.stderr


def test_suggest_no_denials(host):
    log = make_log(host, RECORDS[:1] + [r for r in RECORDS if r[3] == "allow"])
    r = host.pincer("policy", "suggest", str(log))
    assert r.returncode == 0
    assert r.stdout == ""
    assert r.stderr == (f"pincer: no denied egress in {log} (2 records read): "
                        "nothing to suggest\n")
    empty = host.write("empty.jsonl", "")
    r = host.pincer("policy", "suggest", str(empty))
    assert r.returncode == 0 and r.stdout == ""
    assert "holds no audit records" in r.stderr


def test_suggest_bad_files(host):
    r = host.pincer("policy", "suggest", str(host.work / "nope.jsonl"))
    assert r.returncode == 2 and r.stdout == ""
    assert "nope.jsonl" in r.stderr and "No such file" in r.stderr
    notlog = host.policy("version: 1\n", name="policy.yaml")
    r = host.pincer("policy", "suggest", str(notlog))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"pincer: {notlog} is not an audit log (line 1: "), r.stderr
    r = host.pincer("policy", "suggest", str(host.work))
    assert r.returncode == 2 and "not a regular file" in r.stderr


def test_suggest_help(host):
    r = host.pincer("policy", "suggest", "--help")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: pincer policy suggest AUDITFILE [--run RUNID]")
    assert "example" in r.stdout and "enforcement: audit" in r.stdout
    r = host.pincer("policy", "--help")
    assert "pincer policy suggest AUDITFILE" in r.stdout


@pytest.mark.parametrize("args", [("policy", "suggest"), ("policy", "suggest", "--frob", "x"),
                                  ("policy", "suggest", "a.jsonl", "b.jsonl"),
                                  ("policy", "suggest", "a.jsonl", "--run")])
def test_suggest_bad_usage(host, args):
    r = host.pincer(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "usage: pincer policy suggest" in r.stderr
