"""Hot reload of a running agent (issue 6, "Lifecycle"): a new policy file
and SIGHUP to its `pincer run` (or `pincer policy apply` through the
daemon) changes the running sandbox without a restart: memory, pids and
cpu limits in place in its cgroup, credentials for the next request; what
cannot change in place is said, in the reload's policy record and in the
daemon's answer.

Each test starts one real run whose agent works in steps: it does a step,
makes the file readyN in its folder and waits for goN; between the steps
the test rewrites the policy file, sends SIGHUP and waits for the reload's
policy record (the record names the new file's sha256).

As root, limits live in cgroup v1 groups made for the run (read here from
the files the run's "cgroup:" record names); as pincer-test there are no
cgroups on this machine (the limits are rlimits), so the same reloads must
say that the limits could not change in place, and behave accordingly.
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import PINCER
from injectkit import inj, iups, py_agent, secret  # noqa: F401
from test_daemon import Daemon, api_as, wait_for

EGRESS = """\
allow_private: [127.0.0.1/32]
allow:
  - host: 127.0.0.1
    ports: [{api}, {web}]
  - host: localhost
    ports: [{api}, {web}]
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

STEPS = r'''
import json, os, sys, time
def step(n):
    """Done with step n-1: say so, and wait for the test's go."""
    open(f"ready{n}", "w").close()
    t = time.monotonic()
    while not os.path.exists(f"go{n}"):
        if time.monotonic() - t > 120:
            sys.exit(f"no go{n}")
        time.sleep(0.02)
def out(*values):
    print(json.dumps(values), flush=True)
'''


class Live:
    """One running `pincer run` whose agent works in steps (STEPS)."""

    def __init__(self, ident, proc, policy):
        self.ident, self.proc, self.policy = ident, proc, Path(policy)
        self.out = None

    def ready(self, n, timeout=120):
        t = time.monotonic()
        while not (self.ident.proj / f"ready{n}").exists():
            if self.proc.poll() is not None or time.monotonic() - t > timeout:
                self.finish(kill=True)
                pytest.fail(f"the agent never reached step {n}: {self.out}")
            time.sleep(0.02)

    def go(self, n):
        self.ident.write(f"proj/go{n}", "")

    def reload(self, text):
        """The policy file rewritten, SIGHUP, and the reload's record."""
        self.ident.write(self.policy.name, text)
        sha = hashlib.sha256(text.encode()).hexdigest()
        seen = len(self.ident.records())
        os.kill(self.proc.pid, signal.SIGHUP)
        return wait_for(lambda: next((x for x in self.ident.records()[seen:]
                                      if x["type"] == "policy" and
                                      x.get("policy_sha256") == sha and "applied" in x),
                                     None), 60, "the reload's policy record")

    def finish(self, kill=False, timeout=120):
        if kill and self.proc.poll() is None:
            self.proc.kill()
        stdout, stderr = self.proc.communicate(timeout=timeout)
        self.out = stdout + stderr
        return stdout, stderr

    def outs(self):
        stdout, stderr = self.finish()
        assert self.proc.returncode == 0, stdout + stderr
        return {v[0]: v[1:] for v in (json.loads(line) for line in stdout.splitlines()
                                      if line.startswith("["))}


def lists(rec, key):
    return [x for x in rec.get(key, "").split(", ") if x]


# ---- limits ------------------------------------------------------------------

LIMITS_HEAD = "version: 1\nname: limits\nfilesystem:\n  read_write: [{proj}]\n"


def limits_policy(ident, limits):
    return LIMITS_HEAD.format(proj=ident.proj) + f"process:\n  limits: {{{limits}}}\n"


def start_limits(ident, limits, code):
    pol = ident.policy(limits_policy(ident, limits))
    script = STEPS + textwrap.dedent(code)
    proc = ident.popen("--policy", str(pol), "--", sys.executable, "-c", script,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Live(ident, proc, pol)


def cgroup_file(ident, ctrl, name):
    """A file of the run's cgroup for ctrl (from its "cgroup:" record), or
    None when the run has no cgroup."""
    notes = [x["reason"] for x in ident.records() if x["type"] == "sandbox"]
    for n in notes:
        if n.startswith("cgroup: "):
            m = re.search(rf"\b{ctrl}\S* at (/\S+?)(?:,|;|$)", n)
            assert m, n
            return (Path(m.group(1)) / name).read_text().strip()
    assert any("cgroups not available" in n for n in notes), notes
    return None


def assert_not_in_place(ident, rec, what):
    """As pincer-test (no cgroups): the limit is an rlimit and stays."""
    assert "process.limits" in lists(rec, "restart_needed"), rec
    assert "process.limits" not in lists(rec, "applied"), rec
    assert "rlimits" in rec["reason"] and what in rec["reason"], rec["reason"]


def test_memory_limit_raised_and_lowered_in_place(pincer):
    live = start_limits(pincer, "memory: 64M, pids: 256", """
        import subprocess
        def alloc(mb):
            # a child that really touches mb MiB
            return subprocess.run([sys.executable, "-c", f"b = b'x' * ({mb} << 20)"],
                                  capture_output=True).returncode
        out("before", alloc(128))
        step(1)
        out("raised", alloc(128))
        try:
            hold = b"y" * (100 << 20)
            out("holding", len(hold))
        except MemoryError:
            out("holding", 0)
        step(2)
        step(3)
        """)
    root = pincer.mode == "root"
    try:
        live.ready(1)
        if root:
            assert int(cgroup_file(pincer, "memory", "memory.limit_in_bytes")) == 64 << 20
        rec = live.reload(limits_policy(pincer, "memory: 512M, pids: 256"))
        if root:
            assert lists(rec, "applied") == ["process.limits"], rec
            assert lists(rec, "restart_needed") == [], rec
            assert "memory 512M" in rec["reason"], rec["reason"]
            assert int(cgroup_file(pincer, "memory", "memory.limit_in_bytes")) == 512 << 20
            assert int(cgroup_file(pincer, "memory", "memory.memsw.limit_in_bytes")) == \
                512 << 20
        else:
            assert_not_in_place(pincer, rec, "memory")
        live.go(1)
        live.ready(2)
        if root:
            # below what the agent holds: the kernel cannot reclaim it (no
            # swap): refused, said, and the limit stays
            rec = live.reload(limits_policy(pincer, "memory: 32M, pids: 256"))
            assert "process.limits" in lists(rec, "restart_needed"), rec
            assert "process.limits" not in lists(rec, "applied"), rec
            assert "EBUSY" in rec["reason"] and "stays 512M" in rec["reason"], rec["reason"]
            assert int(cgroup_file(pincer, "memory", "memory.limit_in_bytes")) == 512 << 20
            rec = live.reload(limits_policy(pincer, "memory: 256M, pids: 256"))
            assert lists(rec, "applied") == ["process.limits"], rec
            assert int(cgroup_file(pincer, "memory", "memory.limit_in_bytes")) == 256 << 20
        live.go(2)
        live.ready(3)
        live.go(3)
        got = live.outs()
    finally:
        live.finish(kill=True) if live.proc.poll() is None else None
    assert got["before"][0] != 0, got  # 128 MiB does not fit in 64
    if root:
        assert got["raised"] == [0], got  # it does in 512, without a restart
        assert got["holding"] == [100 << 20], got
    else:
        assert got["raised"][0] != 0, got  # the rlimit stayed, as the record said


def test_pids_limit_lowered_in_place(pincer):
    live = start_limits(pincer, "pids: 64", """
        import subprocess
        def spawn(n):
            kids = []
            try:
                for _ in range(n):
                    kids.append(subprocess.Popen(["sleep", "30"]))
            except OSError as e:
                pass
            for k in kids:
                k.kill()
                k.wait()
            return len(kids)
        out("before", spawn(30))
        step(1)
        out("after", spawn(30))
        """)
    try:
        live.ready(1)
        if pincer.mode == "root":
            assert cgroup_file(pincer, "pids", "pids.max") == "64"
        rec = live.reload(limits_policy(pincer, "pids: 12"))
        if pincer.mode == "root":
            assert lists(rec, "applied") == ["process.limits"], rec
            assert "pids 12" in rec["reason"], rec["reason"]
            assert cgroup_file(pincer, "pids", "pids.max") == "12"
        else:
            assert_not_in_place(pincer, rec, "pids")
        live.go(1)
        got = live.outs()
    finally:
        live.finish(kill=True) if live.proc.poll() is None else None
    assert got["before"] == [30], got
    if pincer.mode == "root":
        # PID 1 and the agent count too: a fork beyond 12 fails inside
        assert got["after"][0] < 12, got
    else:
        assert got["after"] == [30], got


def test_cpu_quota_changed_in_place(pincer):
    live = start_limits(pincer, "cpus: 1, pids: 64", "step(1)\nstep(2)\n")
    try:
        live.ready(1)
        if pincer.mode == "root":
            assert cgroup_file(pincer, "cpu", "cpu.cfs_quota_us") == "100000"
        rec = live.reload(limits_policy(pincer, "cpus: 0.5, pids: 64"))
        if pincer.mode == "root":
            assert lists(rec, "applied") == ["process.limits"], rec
            assert "cpus 0.5" in rec["reason"], rec["reason"]
            assert cgroup_file(pincer, "cpu", "cpu.cfs_quota_us") == "50000"
            assert cgroup_file(pincer, "cpu", "cpu.cfs_period_us") == "100000"
        else:
            assert_not_in_place(pincer, rec, "cpu")
        live.go(1)
        live.ready(2)
        # no quota at all
        rec = live.reload(limits_policy(pincer, "pids: 64"))
        if pincer.mode == "root":
            assert lists(rec, "applied") == ["process.limits"], rec
            assert cgroup_file(pincer, "cpu", "cpu.cfs_quota_us") == "-1"
        live.go(2)
        live.outs()
    finally:
        live.finish(kill=True) if live.proc.poll() is None else None


def test_what_a_reload_cannot_change_is_said_and_the_rest_applies(pincer):
    """A run started without limits has no cgroup; the environment and the
    folders were fixed at start. Each is named, with why; the wall time
    and on_oom apply at once."""
    other = pincer.mkdir("other")
    live = start_limits(pincer, "", "step(1)\n")
    try:
        live.ready(1)
        text = (LIMITS_HEAD.format(proj=pincer.proj) + f"  read_only: [{other}]\n"
                "process:\n  env: {FOO: bar}\n  limits: {memory: 128M, wall_time: 10m}\n"
                "  on_oom: restart\n")
        rec = live.reload(text)
        assert sorted(lists(rec, "restart_needed")) == \
            ["filesystem", "process.env", "process.limits"], rec
        assert sorted(lists(rec, "applied")) == ["process.limits", "process.on_oom"], rec
        assert "without memory, pids or cpu limits" in rec["reason"], rec["reason"]
        assert "wall time now 10m" in rec["reason"], rec["reason"]
        live.go(1)
        live.outs()
    finally:
        live.finish(kill=True) if live.proc.poll() is None else None


# ---- credentials ---------------------------------------------------------------

def start_inj(inj, egress, creds, code):
    pol = inj.policy(egress, creds)
    proc = inj.popen(pol, py_agent(STEPS + textwrap.dedent(code)))
    return Live(inj.ident, proc, pol)


def policy_text(inj, egress, creds):
    """What inj.policy writes, as text (written again by Live.reload)."""
    return inj.policy(egress, creds, name="draft.yaml").read_text()


def hget(headers, name):
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def seen(upstream, tag):
    """The recorded requests whose path carries ?tag."""
    return [q for q in upstream.requests if q.path.endswith("?" + tag)]


def test_credential_added_with_a_header_is_injected_at_once(inj):
    key, gh = secret(), secret("ghp_", 36)
    inj.set_secret("anthropic", key)
    inj.set_secret("github", gh)
    live = start_inj(inj, EGRESS, ANTHROPIC, f"""
        out("env", os.environ.get("GITHUB_TOKEN"))
        step(1)
        st, hd, body = fetch("https://localhost:{inj.api}/headers?added")
        out("added", st, hd.get("x-got-auth"))
        """)
    try:
        live.ready(1)
        rec = live.reload(policy_text(inj, EGRESS, ANTHROPIC + GITHUB_ON_LOCALHOST))
        assert lists(rec, "applied") == ["credentials"], rec
        assert lists(rec, "restart_needed") == [], rec
        assert "credential github added" in rec["reason"], rec["reason"]
        assert "no $GITHUB_TOKEN" in rec["reason"], rec["reason"]
        live.go(1)
        got = live.outs()
    finally:
        live.finish(kill=True) if live.proc.poll() is None else None
    assert got["env"] == [None], got  # the running agent never had the variable
    # redacted on its way back: the agent sees no secret
    assert got["added"][0] == 200 and gh not in json.dumps(got), got
    q = seen(inj.ups.api, "added")
    assert len(q) == 1 and hget(q[0].headers, "Authorization") == "token " + gh, \
        [x.headers for x in q]
    assert gh not in live.out and key not in live.out


def test_credential_removed_is_not_sent_and_its_placeholder_stays_refused(inj):
    key, gh = secret(), secret("ghp_", 36)
    inj.set_secret("anthropic", key)
    inj.set_secret("github", gh)
    live = start_inj(inj, EGRESS, ANTHROPIC + GITHUB_ON_LOCALHOST, f"""
        ph = os.environ["ANTHROPIC_API_KEY"]
        out("ph", ph)
        out("before", fetch("https://127.0.0.1:{inj.api}/headers?before",
                            {{"x-api-key": ph}})[0])
        step(1)
        # its host is not intercepted any more: a tunnel, the test CA trusted
        st, hd, body = fetch("https://127.0.0.1:{inj.api}/headers?after",
                             {{"x-api-key": ph}}, cafile="ca.pem")
        out("after", st)
        for where, url in (("intercepted", "https://localhost:{inj.api}/headers?exfil"),
                           ("plain", "http://127.0.0.1:{inj.web}/headers?exfil")):
            st, hd, body = fetch(url, {{"x-api-key": ph}})
            out(where, st, hd.get("x-pincer-denied"))
        """)
    try:
        live.ready(1)
        rec = live.reload(policy_text(inj, EGRESS, GITHUB_ON_LOCALHOST))
        assert lists(rec, "applied") == ["credentials"], rec
        assert "credential anthropic removed" in rec["reason"], rec["reason"]
        live.go(1)
        got = live.outs()
    finally:
        live.finish(kill=True) if live.proc.poll() is None else None
    ph = got["ph"][0]
    assert got["before"] == [200] and got["after"] == [200], got
    before, after = seen(inj.ups.api, "before"), seen(inj.ups.api, "after")
    assert [hget(q.headers, "x-api-key") for q in before] == [key]
    # no secret any more: what the agent sent went as it was
    assert [hget(q.headers, "x-api-key") for q in after] == [ph]
    for where in ("intercepted", "plain"):
        st, denied = got[where]
        assert st == 403 and "exfiltration" in (denied or ""), (where, got[where])
    assert not seen(inj.ups.api, "exfil") and not seen(inj.ups.web, "exfil")
    ex = inj.exfil(credential="anthropic")
    assert len(ex) == 2 and all(x["decision"] == "deny" and "removed from the policy" in
                                x["reason"] for x in ex), ex
    assert key not in live.out and key not in inj.audit_text()


def test_credential_hosts_changed(inj):
    key = secret()
    inj.set_secret("anthropic", key)
    live = start_inj(inj, EGRESS, ANTHROPIC, f"""
        ph = os.environ["ANTHROPIC_API_KEY"]
        step(1)
        out("new", fetch("https://localhost:{inj.api}/headers?new", {{"x-api-key": ph}})[0])
        out("old", fetch("https://127.0.0.1:{inj.api}/headers?old", cafile="ca.pem")[0])
        st, hd, body = fetch("http://127.0.0.1:{inj.web}/headers?exfil", {{"x-api-key": ph}})
        out("plain", st, hd.get("x-pincer-denied"))
        """)
    try:
        live.ready(1)
        rec = live.reload(policy_text(inj, EGRESS, ANTHROPIC.replace("127.0.0.1", "localhost")))
        assert lists(rec, "applied") == ["credentials"], rec
        assert "credential anthropic now goes to localhost only" in rec["reason"], rec["reason"]
        live.go(1)
        got = live.outs()
    finally:
        live.finish(kill=True) if live.proc.poll() is None else None
    assert got["new"] == [200] and got["old"] == [200], got
    assert [hget(q.headers, "x-api-key") for q in seen(inj.ups.api, "new")] == [key]
    assert [hget(q.headers, "x-api-key") for q in seen(inj.ups.api, "old")] == [None]
    assert got["plain"][0] == 403 and not seen(inj.ups.web, "exfil"), got
    ex = inj.exfil(credential="anthropic", host="127.0.0.1")
    assert len(ex) == 1 and "may go to localhost only" in ex[0]["reason"], ex


def test_vault_failure_on_reload_keeps_the_old_credentials(inj):
    old, new = secret(), secret()
    inj.set_secret("anthropic", old)
    live = start_inj(inj, EGRESS, ANTHROPIC, f"""
        ph = os.environ["ANTHROPIC_API_KEY"]
        for n in (1, 2):
            step(n)
            out(f"r{{n}}", fetch("https://127.0.0.1:{inj.api}/headers?r" + str(n),
                                  {{"x-api-key": ph}})[0])
        """)
    try:
        live.ready(1)
        # the secret's name changes to one the vault does not hold: nothing changes
        renamed = ANTHROPIC.replace("name: anthropic", "name: anthropic-next")
        rec = live.reload(policy_text(inj, EGRESS, renamed))
        assert lists(rec, "not_applied") == ["credentials"], rec
        assert lists(rec, "applied") == [] and lists(rec, "restart_needed") == [], rec
        assert "no secret 'anthropic-next'" in rec["reason"], rec["reason"]
        assert "in force stays" in rec["reason"], rec["reason"]
        live.go(1)
        live.ready(2)
        # once the vault has it, a reload of the same file reads it (the
        # same placeholder stands for it)
        inj.set_secret("anthropic-next", new)
        rec = live.reload(policy_text(inj, EGRESS, renamed))
        assert lists(rec, "applied") == ["credentials"], rec
        assert "$ANTHROPIC_API_KEY now stands for the secret 'anthropic-next'" in \
            rec["reason"], rec["reason"]
        live.go(2)
        got = live.outs()
    finally:
        live.finish(kill=True) if live.proc.poll() is None else None
    assert got["r1"] == [200] and got["r2"] == [200], got
    assert [hget(q.headers, "x-api-key") for q in seen(inj.ups.api, "r1")] == [old]
    assert [hget(q.headers, "x-api-key") for q in seen(inj.ups.api, "r2")] == [new]


def test_credentials_added_to_a_run_without_interception_need_a_restart(inj):
    key = secret()
    inj.set_secret("anthropic", key)
    only_api = EGRESS.replace(", {web}]", "]", 1)
    live = start_inj(inj, only_api, "", f"""
        step(1)
        out("api", fetch("https://127.0.0.1:{inj.api}/headers?api", cafile="ca.pem")[0])
        out("web", fetch("http://127.0.0.1:{inj.web}/headers?web")[0])
        """)
    try:
        live.ready(1)
        rec = live.reload(policy_text(inj, EGRESS, ANTHROPIC))
        assert lists(rec, "restart_needed") == ["credentials"], rec
        assert lists(rec, "applied") == ["network"], rec  # the rest applies
        assert "started without TLS interception" in rec["reason"], rec["reason"]
        assert "a restart is needed" in rec["reason"], rec["reason"]
        live.go(1)
        got = live.outs()
    finally:
        live.finish(kill=True) if live.proc.poll() is None else None
    assert got["api"] == [200] and got["web"] == [200], got  # the new egress rule is in force
    assert [hget(q.headers, "x-api-key") for q in seen(inj.ups.api, "api")] == [None]


# ---- through the daemon ----------------------------------------------------------

def test_policy_apply_says_what_applied_at_once_and_what_needs_a_restart(pincer):
    d = Daemon(pincer).start()
    try:
        base = limits_policy(pincer, "memory: 256M, pids: 64")
        pol = pincer.write("agent.yaml", base)
        assert d.create("lim", "/bin/sh", "-c", "exec sleep 300", policy=pol).returncode == 0
        d.wait_state("lim", "running")
        wait_for(lambda: any(x["type"] == "sandbox" and x["agent"] == "lim"
                             for x in d.records()), 30, "the run's sandbox records")
        # limits and egress: nothing needs a restart (where cgroups are had)
        text = limits_policy(pincer, "memory: 128M, pids: 32") + (
            "network:\n  egress:\n    allow: [{host: example.com}]\n")
        status, ans = api_as(pincer, d.socket, "PUT", "/v1/agents/lim/policy",
                             {"policy": text})
        assert status == 200 and ans["reloaded"] is True, ans
        assert sorted(ans["changed"]) == ["network", "process"], ans
        if pincer.mode == "root":
            assert sorted(ans["applied"]) == ["network", "process.limits"], ans
            assert ans["restart_needed"] is False and ans["restart_for"] == [], ans
        else:
            assert ans["applied"] == ["network"], ans
            assert ans["restart_needed"] is True and ans["restart_for"] == ["process.limits"]
            assert any("rlimits" in n for n in ans["notes"]), ans
        # a folder more: that needs a restart, and the command says so
        other = pincer.mkdir("other")
        f = pincer.write("fs.yaml", text.replace("process:",
                                                 f"  read_only: [{other}]\nprocess:"))
        r = pincer.pincer("policy", "apply", "lim", str(f), "--socket", str(d.socket))
        assert r.returncode == 0, r.stderr
        assert "changed: filesystem" in r.stdout, r.stdout
        assert re.search(r"needs a restart: .*filesystem.*pincer agent restart lim", r.stdout), \
            r.stdout
        assert "the sandbox's mounts" in r.stdout, r.stdout
        assert d.show("lim")["restarts"] == 0
        recs = [x for x in d.records() if x["type"] == "policy" and x["agent"] == "lim"
                and "applied" in x]
        assert len(recs) == 2 and "filesystem" in lists(recs[-1], "restart_needed"), recs
    finally:
        d.cleanup()
