"""pincer daemon and pincer agent: agents kept running, observed and steered
through the API, end to end.

Each test starts a real `pincer daemon` on a socket, state folder, config
and audit log of its own (in the test's work folder) and drives it with
the real `pincer agent ...` client, or with raw HTTP on the unix socket
where the API itself is under test. The lifecycle tests run twice: a
daemon run by root and a daemon run by the ordinary user pincer-test (the
`pincer` fixture); the permission tests need both identities at once, so
they run as root only.
"""
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import IS_ROOT, PINCER, TEST_USER, Identity

POLL = 0.2


# ---- helpers -----------------------------------------------------------------

def wait_for(fn, timeout=30, what="a condition"):
    """Poll fn until it returns something truthy; fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(POLL)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def procs_with(text, argv0=None):
    """PIDs of the live processes whose command line contains text (and
    starts with argv0)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and (argv0 is None or cmd.startswith(argv0 + " ")) and \
                pid_alive(int(p.name)):
            out.append(int(p.name))
    return out


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over the daemon's unix socket."""

    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = str(path)

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api(sock, method, path, body=None, raw=None):
    """One request as the test's own uid: (status, parsed JSON or text)."""
    c = UnixHTTPConnection(sock)
    try:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read().decode(errors="replace")
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text
    finally:
        c.close()


API_AS_SCRIPT = r"""
import http.client, json, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(sys.argv[1])
        self.sock = s
c = C("localhost", timeout=30)
body = sys.argv[4] if len(sys.argv) > 4 else None
c.request(sys.argv[2], sys.argv[3], body=body,
          headers={"Content-Type": "application/json"} if body else {})
r = c.getresponse()
print(json.dumps({"status": r.status, "body": r.read().decode(errors="replace")}))
"""


def api_as(ident, sock, method, path, body=None):
    """One request as ident (its own uid: the daemon sees its credentials)."""
    if ident.uid == os.geteuid():
        return api(sock, method, path, body)
    argv = ident.prefix + [sys.executable, "-c", API_AS_SCRIPT, str(sock), method, path]
    if body is not None:
        argv.append(json.dumps(body))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=ident.env())
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    try:
        return out["status"], json.loads(out["body"])
    except ValueError:
        return out["status"], out["body"]


class Daemon:
    """A real `pincer daemon` run by ident, with its files in ident's work
    folder."""

    def __init__(self, ident, admins=None, users=None):
        self.ident = ident
        self.dir = ident.mkdir("daemon", mode=0o755)
        self.socket = self.dir / "pincer.sock"
        self.state = self.dir / "state"
        self.audit = self.dir / "audit.jsonl"
        admins = admins if admins is not None else [ident.name]
        users = users if users is not None else {ident.uid: ident.name}
        # a short first backoff keeps the crash-loop tests short
        cfg = "admins: [" + ", ".join(admins) + "]\nbackoff: 200ms\nusers:\n" + "".join(
            f"  {uid}: {name}\n" for uid, name in users.items())
        self.config = ident.write("daemon/daemon.yaml", cfg)
        # the agents' policy: like the default, the project folder read-write
        self.policy = ident.write("daemon-policy.yaml",
                                  "version: 1\nname: agent\n"
                                  f"filesystem:\n  read_write: [{ident.proj}]\n")
        self.proc = None
        self.runs = 0
        self.stderr_files = []

    def start(self):
        self.runs += 1
        errf = self.dir / f"daemon-stderr-{self.runs}.log"
        self.stderr_files.append(errf)
        with open(errf, "wb") as err:
            self.proc = subprocess.Popen(
                self.ident.prefix + [PINCER, "daemon", "--socket", str(self.socket),
                                     "--state", str(self.state), "--config",
                                     str(self.config), "--audit", str(self.audit)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                cwd=str(self.ident.proj), env=self.ident.env())

        def up():
            if self.proc.poll() is not None:
                pytest.fail(f"the daemon exited with {self.proc.returncode}:\n"
                            + errf.read_text(errors="replace"))
            r = self.cli("ls")
            return r.returncode == 0
        wait_for(up, timeout=30, what="the daemon's socket")
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def cli(self, *args, ident=None, timeout=60, env=None):
        """`pincer agent ARGS... --socket S` as ident (default: the daemon's)."""
        who = ident or self.ident
        return who.pincer("agent", args[0], "--socket", str(self.socket), *args[1:],
                          timeout=timeout, env=env)

    def create(self, name, *command, restart=None, start=True, user=None, ident=None,
               policy=None):
        args = ["create", name, "--policy", str(policy or self.policy),
                "--user", user or self.ident.name]
        if restart:
            args += ["--restart", restart]
        if not start:
            args.append("--no-start")
        r = self.cli(*args, "--", *command, ident=ident)
        return r

    def show(self, name, ident=None):
        r = self.cli("show", name, "--json", ident=ident)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def agents(self, ident=None):
        r = self.cli("ls", "--json", ident=ident)
        assert r.returncode == 0, r.stderr
        return {a["name"]: a for a in json.loads(r.stdout)["agents"]}

    def wait_state(self, name, state, timeout=30, **match):
        def check():
            a = self.show(name)
            if a["state"] == state and all(a.get(k) == v for k, v in match.items()):
                return a
            return None
        return wait_for(check, timeout, f"agent {name} in state {state} {match or ''}")

    def records(self):
        return self.ident.records(self.audit)

    def cleanup(self):
        self.stop()
        # agents a killed daemon left behind (their pincer run names a file
        # in the state folder)
        for pid in procs_with(str(self.dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for f in self.stderr_files:
            if f.exists():
                print(f"---- {f.name} ----\n" + f.read_text(errors="replace"))


def sh(script):
    return ["/bin/sh", "-c", script]


def agent_shells(text):
    """The agents' own shells (not their `pincer run`, whose arguments
    hold the same words) whose script contains text."""
    return procs_with(text, argv0="/bin/sh")


@pytest.fixture
def daemon(pincer):
    """A daemon run by the test's identity (root, then pincer-test), which
    is also its admin."""
    d = Daemon(pincer).start()
    yield d
    d.cleanup()


@pytest.fixture
def host_daemon(host):
    """A daemon run by the current user, who talks to its API directly."""
    d = Daemon(host).start()
    yield d
    d.cleanup()


def marker():
    return "m" + uuid.uuid4().hex[:12]


# ---- the CLI: usage and no daemon ---------------------------------------------

def test_agent_help_teaches_every_command(host):
    r = host.pincer("agent", "--help")
    assert r.returncode == 0, r.stderr
    for word in ["create", "ls", "show", "start", "stop", "restart", "rm", "logs",
                 "--socket", "examples:"]:
        assert word in r.stdout
    for sub in ["create", "ls", "show", "start", "stop", "restart", "rm", "logs"]:
        r = host.pincer("agent", sub, "--help")
        assert r.returncode == 0, (sub, r.stderr)
        assert r.stdout.startswith(f"usage: pincer agent {sub}"), r.stdout
        assert "examples:" in r.stdout and f"pincer agent {sub}" in r.stdout.split(
            "examples:")[1]
    r = host.pincer("daemon", "--help")
    assert r.returncode == 0, r.stderr
    assert "--socket" in r.stdout and "--state" in r.stdout


@pytest.mark.parametrize("args,msg", [
    ([], "usage: pincer agent"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["show"], "NAME is missing"),
    (["ls", "extra"], "unexpected argument 'extra'"),
    (["logs", "x", "--bogus"], "unknown option '--bogus'"),
    (["create", "x", "--user", "u", "--", "true"], "--policy FILE is missing"),
    (["create", "x", "--policy", "/etc/hostname", "--", "true"], "--user"),
    (["create", "x", "--policy", "/etc/hostname", "--user", "u"], "COMMAND is missing"),
    (["create", "x", "--policy", "/etc/hostname", "--user", "u", "--restart", "sometimes",
      "--", "true"], "--restart 'sometimes'"),
    (["stop", "x", "--socket"], "--socket needs a value"),
])
def test_bad_usage_is_status_2_with_usage(host, args, msg):
    if args[-1:] != ["--socket"]:
        args = args + ["--socket", "/nonexistent/s.sock"]
    r = host.pincer("agent", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert msg in r.stderr
    assert "usage: pincer agent" in r.stderr or "pincer agent --help" in r.stderr


def test_no_daemon_is_125_and_says_how_to_start_one(host):
    sock = host.work / "none.sock"
    r = host.pincer("agent", "ls", "--socket", str(sock))
    assert r.returncode == 125
    assert r.stderr.strip() == (f"pincer: no daemon at {sock}: No such file or directory "
                                "(start one with 'pincer daemon')")
    # a socket nobody listens on: refused
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(sock))
    s.close()
    r = host.pincer("agent", "show", "x", env={"PINCER_SOCKET": str(sock)})
    assert r.returncode == 125
    assert f"pincer: no daemon at {sock}: Connection refused" in r.stderr


def test_missing_policy_file_is_a_local_error(host):
    # no daemon needed: the file is read before anything is sent
    r = host.pincer("agent", "create", "x", "--policy", str(host.work / "nope.yaml"),
                    "--user", host.name, "--socket", str(host.work / "none.sock"),
                    "--", "true")
    assert r.returncode == 2
    assert "nope.yaml" in r.stderr and "No such file" in r.stderr


# ---- lifecycle through the CLI --------------------------------------------------

def test_create_ls_show_logs_stop_start_rm(daemon):
    m = marker()
    r = daemon.create("web-bot", *sh(f"echo out-{m}; echo err-{m} >&2; sleep 300"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("web-bot: created"), r.stdout

    a = daemon.wait_state("web-bot", "running")
    assert a["user"] == daemon.ident.name
    assert a["command"] == sh(f"echo out-{m}; echo err-{m} >&2; sleep 300")
    assert a["restart"] == "on-failure"
    assert a["restarts"] == 0 and a["failed_reason"] is None
    assert len(a["policy_sha256"]) == 64
    assert a["created"] and a["started"]
    pid = a["pid"]
    assert isinstance(pid, int) and pid_alive(pid)
    wait_for(lambda: len(agent_shells(f"out-{m}")) == 1, 30, "the agent's command, once")

    # the table
    r = daemon.cli("ls")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "USER", "STATE", "RESTARTS", "PID", "COMMAND"]
    row = [x for x in lines[1:] if x.startswith("web-bot ")]
    assert len(row) == 1, r.stdout
    cols = row[0].split()
    assert cols[:5] == ["web-bot", daemon.ident.name, "running", "0", str(pid)]
    assert f"/bin/sh -c 'echo out-{m};" in row[0]

    # the readable show
    r = daemon.cli("show", "web-bot")
    assert r.returncode == 0, r.stderr
    fields = dict(line.split(":", 1) for line in r.stdout.splitlines())
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["name"] == "web-bot" and fields["state"] == "running"
    assert fields["pid"] == str(pid) and fields["user"] == daemon.ident.name

    # its output, stdout and stderr
    def logged():
        r = daemon.cli("logs", "web-bot")
        assert r.returncode == 0, r.stderr
        return f"out-{m}" in r.stdout and f"err-{m}" in r.stdout and r.stdout
    wait_for(logged, 30, "the agent's output in its log")

    # stop: gone, and it stays stopped
    r = daemon.cli("stop", "web-bot")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("web-bot: stopped"), r.stdout
    wait_for(lambda: not pid_alive(pid), 30, "the stopped agent's process to end")
    a = daemon.wait_state("web-bot", "stopped", pid=None)
    time.sleep(1)  # five times the first backoff (200ms): a restart would show now
    a = daemon.show("web-bot")
    assert a["state"] == "stopped" and a["pid"] is None and a["restarts"] == 0
    assert not agent_shells(f"out-{m}")

    # start: a new run
    r = daemon.cli("start", "web-bot")
    assert r.returncode == 0, r.stderr
    a = daemon.wait_state("web-bot", "running")
    assert a["pid"] != pid and pid_alive(a["pid"])
    pid2 = a["pid"]
    # starting a running agent changes nothing
    r = daemon.cli("start", "web-bot")
    assert r.returncode == 0, r.stderr
    assert daemon.show("web-bot")["pid"] == pid2

    # restart: another new run
    r = daemon.cli("restart", "web-bot")
    assert r.returncode == 0, r.stderr
    a = daemon.wait_state("web-bot", "running")
    wait_for(lambda: not pid_alive(pid2), 30, "the old run to end after restart")
    assert daemon.show("web-bot")["pid"] not in (pid, pid2)

    # rm: stopped and forgotten
    pid3 = daemon.show("web-bot")["pid"]
    r = daemon.cli("rm", "web-bot")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "web-bot: deleted"
    wait_for(lambda: not pid_alive(pid3), 30, "the deleted agent's process to end")
    assert "web-bot" not in daemon.agents()
    r = daemon.cli("show", "web-bot")
    assert r.returncode == 1
    assert r.stderr.strip() == "pincer: agent web-bot: no such agent"
    wait_for(lambda: not agent_shells(f"out-{m}"), 30, "no copy of the agent left")


def test_create_refusals_are_status_1_with_the_reason(daemon):
    r = daemon.create("dup", *sh("exec sleep 300"), start=False)
    assert r.returncode == 0, r.stderr
    r = daemon.create("dup", *sh("exec sleep 300"), start=False)
    assert r.returncode == 1
    assert r.stderr.startswith("pincer: ") and "dup" in r.stderr and "exist" in r.stderr
    r = daemon.create("Bad_Name", "true", start=False)
    assert r.returncode == 1 and r.stderr.startswith("pincer: "), r.stderr
    assert "name" in r.stderr
    bad = daemon.ident.write("bad-policy.yaml", "version: 7\nname: x\n")
    r = daemon.create("badpol", "true", policy=bad, start=False)
    assert r.returncode == 1 and r.stderr.startswith("pincer: "), r.stderr
    assert "version" in r.stderr
    assert set(daemon.agents()) == {"dup"}
    # --no-start: created stopped
    a = daemon.show("dup")
    assert a["state"] == "stopped" and a["pid"] is None and a["started"] is None


def test_logs_follow_streams_until_interrupted_or_the_daemon_goes(daemon):
    m = marker()
    r = daemon.create("ticker", *sh(f"i=0; while :; do echo tick-{m}-$i; i=$((i+1)); "
                                    "sleep 0.2; done"))
    assert r.returncode == 0, r.stderr
    daemon.wait_state("ticker", "running")
    wait_for(lambda: f"tick-{m}-2" in daemon.cli("logs", "ticker").stdout, 30,
             "the first ticks in the log")

    def follow():
        p = subprocess.Popen(
            daemon.ident.prefix + [PINCER, "agent", "logs", "ticker", "-f", "--socket",
                                   str(daemon.socket)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=daemon.ident.env(), cwd=str(daemon.ident.proj))
        q = queue.Queue()

        def pump():
            for line in p.stdout:
                q.put(line.rstrip("\n"))
            q.put(None)
        threading.Thread(target=pump, daemon=True).start()
        return p, q

    def read_until(q, pred, timeout=30):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            seen.append(line)
            if pred(line):
                return seen
        pytest.fail(f"the followed log never showed the line; saw {seen[-5:]}")

    # the log so far, then new lines as they come
    before = daemon.cli("logs", "ticker").stdout
    last = max(int(x.rsplit("-", 1)[1]) for x in before.split() if x.startswith("tick-"))
    p, q = follow()
    seen = read_until(q, lambda l: l == f"tick-{m}-{last + 10}")
    assert f"tick-{m}-0" in seen, "the log so far comes first"
    assert p.poll() is None, "still following"
    # Ctrl-C ends it
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)

    # the daemon going away ends it too
    p, q = follow()
    read_until(q, lambda l: l.startswith(f"tick-{m}-"))
    daemon.stop()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("logs -f kept waiting after the daemon stopped")


# ---- restarts, backoff, crash loops ---------------------------------------------

def test_crash_restarts_with_backoff(daemon):
    m = marker()
    r = daemon.create("crashy", *sh(f"echo start-{m}; sleep 2; exit 3"))
    assert r.returncode == 0, r.stderr
    states = set()
    pids = set()

    def restarted_twice():
        a = daemon.show("crashy")
        states.add(a["state"])
        if a["pid"]:
            pids.add(a["pid"])
        return a["restarts"] >= 2 and a["state"] == "running" and a
    a = wait_for(restarted_twice, 60, "two restarts")
    assert "backoff" in states, f"it waited before starting again: saw {states}"
    assert a["last_exit"]["code"] == 3 and not a["last_exit"]["oom"]
    assert a["failed_reason"] is None
    assert len(pids) >= 2, "each restart is a new run"
    wait_for(lambda: daemon.cli("logs", "crashy").stdout.count(f"start-{m}") >= 3, 30,
             "a log line from every run")
    r = daemon.cli("stop", "crashy")
    assert r.returncode == 0, r.stderr


def test_crash_loop_parks_the_agent_until_started(daemon):
    r = daemon.create("looper", *sh("exit 3"))
    assert r.returncode == 0, r.stderr
    a = daemon.wait_state("looper", "failed", timeout=120)
    assert "crash loop" in a["failed_reason"], a
    assert a["pid"] is None
    assert a["restarts"] >= 4, a
    assert a["last_exit"]["code"] == 3
    r = daemon.cli("show", "looper")
    assert "crash loop" in r.stdout
    # parked: no more restarts
    time.sleep(3)
    b = daemon.show("looper")
    assert b["state"] == "failed" and b["restarts"] == a["restarts"]
    # start un-parks it
    r = daemon.cli("start", "looper")
    assert r.returncode == 0, r.stderr
    c = daemon.show("looper")
    assert c["state"] != "failed" and c["failed_reason"] is None, c
    assert c["started"] != a["started"] or c["restarts"] > a["restarts"] or c["pid"], c
    r = daemon.cli("stop", "looper")
    assert r.returncode == 0, r.stderr
    daemon.wait_state("looper", "stopped")


@pytest.mark.parametrize("restart,code,again", [
    ("on-failure", 0, False),
    ("on-failure", 3, True),
    ("never", 3, False),
    ("always", 0, True),
])
def test_restart_setting_decides(daemon, restart, code, again):
    m = marker()
    r = daemon.create("once", *sh(f"echo run-{m}; sleep 1; exit {code}"), restart=restart)
    assert r.returncode == 0, r.stderr
    if again:
        a = wait_for(lambda: (x := daemon.show("once"))["restarts"] >= 1 and x, 60,
                     "a restart")
        assert a["restart"] == restart
    else:
        a = daemon.wait_state("once", "stopped", timeout=60)
        assert a["last_exit"]["code"] == code
        time.sleep(1)  # five times the first backoff (200ms)
        a = daemon.show("once")
        assert a["state"] == "stopped" and a["restarts"] == 0, a
        assert daemon.cli("logs", "once").stdout.count(f"run-{m}") == 1
    daemon.cli("stop", "once")


# ---- two identities ---------------------------------------------------------------

@pytest.mark.skipif(not IS_ROOT, reason="needs root and the user pincer-test")
def test_permissions_between_two_identities():
    root = Identity("root")
    user = Identity("user")
    assert user.name == TEST_USER
    d = Daemon(root, admins=["root"], users={0: "root", user.uid: TEST_USER})
    try:
        d.start()
        for name, owner in [("alice-bot", TEST_USER), ("root-bot", "root")]:
            r = d.create(name, *sh("exec sleep 300"), user=owner)
            assert r.returncode == 0, r.stderr
            d.wait_state(name, "running")

        # the user sees only their own agent
        r = d.cli("ls", ident=user)
        assert r.returncode == 0, r.stderr
        assert "alice-bot" in r.stdout and "root-bot" not in r.stdout
        assert set(d.agents(ident=user)) == {"alice-bot"}
        assert set(d.agents()) == {"alice-bot", "root-bot"}, "an admin sees all"

        # others' agents do not exist for them: the same 404 as a made-up name
        for act in [["show"], ["stop"], ["start"], ["restart"], ["logs"], ["rm"]]:
            r = d.cli(*act, "root-bot", ident=user)
            assert r.returncode == 1, (act, r.stderr)
            assert r.stderr.strip() == "pincer: agent root-bot: no such agent", act
        s1, b1 = api_as(user, d.socket, "GET", "/v1/agents/root-bot")
        s2, b2 = api_as(user, d.socket, "GET", "/v1/agents/no-such-bot")
        assert s1 == s2 == 404
        assert b1["error"].replace("root-bot", "X") == b2["error"].replace("no-such-bot", "X")
        assert d.show("root-bot")["state"] == "running", "untouched"

        # their own: they may steer it
        pid = d.show("alice-bot")["pid"]
        r = d.cli("stop", "alice-bot", ident=user)
        assert r.returncode == 0, r.stderr
        d.wait_state("alice-bot", "stopped")
        wait_for(lambda: not pid_alive(pid), 30, "the stopped agent to end")
        r = d.cli("start", "alice-bot", ident=user)
        assert r.returncode == 0, r.stderr
        d.wait_state("alice-bot", "running")
        r = d.cli("show", "alice-bot", ident=user)
        assert r.returncode == 0 and "alice-bot" in r.stdout

        # but not create or delete, even their own
        policy = user.write("pol.yaml", "version: 1\nname: p\n"
                                        f"filesystem:\n  read_write: [{user.proj}]\n")
        r = d.create("sneaky", "true", user=TEST_USER, ident=user, policy=policy)
        assert r.returncode == 1, r.stderr
        assert r.stderr.startswith("pincer: ")
        r = d.cli("rm", "alice-bot", ident=user)
        assert r.returncode == 1, r.stderr
        s, b = api_as(user, d.socket, "POST", "/v1/agents",
                      {"name": "sneaky2", "policy": policy.read_text(),
                       "user": TEST_USER, "command": ["true"]})
        assert s == 403 and b["error"], b
        s, b = api_as(user, d.socket, "DELETE", "/v1/agents/alice-bot")
        assert s == 403 and b["error"], b
        assert set(d.agents()) == {"alice-bot", "root-bot"}

        # each refusal is an audit record naming who asked and what
        def refused():
            recs = [x for x in d.records() if x.get("type") == "api"
                    and x.get("identity") == TEST_USER]
            return len(recs) >= 4 and recs
        recs = wait_for(refused, 10, "'api' audit records of the 4 refusals")
        for x in recs:
            assert x["decision"] == "deny" and x["uid"] == user.uid, x
        assert any("create" in x["reason"] and x["path"] == "/v1/agents" for x in recs), recs
        assert any("delete" in x["reason"] and x["path"] == "/v1/agents/alice-bot"
                   for x in recs), recs
        r = root.pincer("audit", "verify", str(d.audit))
        assert r.returncode == 0, r.stdout + r.stderr

        s, b = api_as(user, d.socket, "GET", "/v1/health")
        assert s == 200 and b["identity"] == TEST_USER and b["admin"] is False
        s, b = api_as(root, d.socket, "GET", "/v1/health")
        assert s == 200 and b["identity"] == "root" and b["admin"] is True
    finally:
        d.cleanup()
        root.cleanup()
        user.cleanup()


# ---- the raw API: bad requests ----------------------------------------------------

def good_create(d, **over):
    body = {"name": "raw-bot", "policy": d.policy.read_text(), "user": d.ident.name,
            "command": ["/bin/sh", "-c", "exec sleep 300"], "restart": "never",
            "start": False}
    body.update(over)
    return body


@pytest.mark.parametrize("what,raw", [
    ("bad JSON", '{"name": "x", '),
    ("not an object", '["x"]'),
    ("unknown field", "UNKNOWN"),
    ("wrong type: command a string", {"command": "/bin/true"}),
    ("wrong type: start a string", {"start": "yes"}),
    ("wrong type: name a number", {"name": 7}),
    ("empty command", {"command": []}),
    ("bad restart", {"restart": "sometimes"}),
    ("bad name", {"name": "-x"}),
    ("name too long", {"name": "a" * 65}),
    ("invalid policy", {"policy": "version: 1\nname: x\nnetwork: {egress: {default: allow}}\n"}),
    ("policy not YAML", {"policy": "version: [1\n"}),
])
def test_bad_create_requests_are_400_with_a_message(host_daemon, what, raw):
    d = host_daemon
    if isinstance(raw, dict):
        data = json.dumps(good_create(d, **raw))
    elif raw == "UNKNOWN":
        data = json.dumps(good_create(d, colour="blue"))
    else:
        data = raw
    status, body = api(d.socket, "POST", "/v1/agents", raw=data)
    assert status == 400, (what, status, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    assert body["error"].strip() and "\n" not in body["error"], body
    if raw == "UNKNOWN":
        assert "colour" in body["error"]
    assert api(d.socket, "GET", "/v1/agents")[1]["agents"] == [], "nothing was created"


def test_api_statuses(host_daemon):
    d = host_daemon
    status, body = api(d.socket, "GET", "/v1/health")
    assert status == 200 and body["ok"] is True and body["admin"] is True
    assert body["identity"] == d.ident.name
    status, body = api(d.socket, "POST", "/v1/agents", good_create(d))
    assert status == 201, body
    assert body["name"] == "raw-bot" and body["state"] == "stopped"
    assert body["command"] == ["/bin/sh", "-c", "exec sleep 300"] and body["restart"] == "never"
    status, body = api(d.socket, "POST", "/v1/agents", good_create(d))
    assert status == 409 and body["error"], body
    status, body = api(d.socket, "GET", "/v1/agents/ghost")
    assert status == 404 and "ghost" in body["error"], body
    status, body = api(d.socket, "POST", "/v1/agents/ghost/start")
    assert status == 404, body
    status, body = api(d.socket, "PUT", "/v1/agents")
    assert status == 405 and body["error"], body
    status, body = api(d.socket, "GET", "/v1/agents/raw-bot/stop")
    assert status == 405, body
    status, body = api(d.socket, "DELETE", "/v1/agents/raw-bot")
    assert status == 200 and body == {"deleted": "raw-bot"}, body
    status, body = api(d.socket, "GET", "/v1/agents/raw-bot")
    assert status == 404, body


# ---- kill -9: nothing lost ------------------------------------------------------

def test_daemon_killed_with_9_loses_nothing(daemon):
    m = marker()
    want = {}
    for i in range(8):
        name = f"bot-{i}"
        restart = ["always", "on-failure", "never"][i % 3]
        start = i % 4 != 3
        r = daemon.create(name, *sh(f"echo {m}-{i}; sleep 300"), restart=restart,
                          start=start)
        assert r.returncode == 0, r.stderr
        want[name] = (restart, start)
    for name in ["bot-1", "bot-5"]:
        r = daemon.cli("stop", name)
        assert r.returncode == 0, r.stderr
        want[name] = (want[name][0], False)
    for name, (_, running) in want.items():
        daemon.wait_state(name, "running" if running else "stopped")
    before = daemon.agents()

    daemon.kill9()
    daemon.start()

    after = daemon.agents()
    assert set(after) == set(before), "every agent is still there"
    for name, a in after.items():
        b = before[name]
        for k in ["user", "command", "restart", "policy_sha256", "created"]:
            assert a[k] == b[k], (name, k, a[k], b[k])
    for name, (_, running) in want.items():
        a = daemon.wait_state(name, "running" if running else "stopped")
        i = int(name.split("-")[1])
        if running:
            # one copy of it, not a second one beside an orphan
            wait_for(lambda: len(agent_shells(f"echo {m}-{i};")) == 1, 30,
                     f"exactly one {name} running")
        else:
            assert a["pid"] is None
            assert not agent_shells(f"echo {m}-{i};")


def test_kill_9_in_a_burst_of_creates_loses_no_acknowledged_agent(daemon):
    acked = []
    stop = threading.Event()

    def creator():
        i = 0
        while not stop.is_set():
            name = f"burst-{i}"
            r = daemon.create(name, *sh("exec sleep 300"), start=False)
            if r.returncode == 0:
                acked.append(name)
            i += 1
    t = threading.Thread(target=creator)
    t.start()
    try:
        wait_for(lambda: len(acked) >= 10, 60, "ten agents created")
        daemon.kill9()
    finally:
        stop.set()
        t.join(timeout=120)
    daemon.start()
    have = daemon.agents()
    missing = [n for n in acked if n not in have]
    assert not missing, f"acknowledged but lost after kill -9: {missing}"
    for n in acked:
        assert have[n]["state"] == "stopped" and have[n]["command"] == sh("exec sleep 300")


# ---- hot reload, revocation, metrics -------------------------------------------

def _http_server():
    """A plain HTTP upstream on 127.0.0.1 (the agents' only destination)."""
    import http.server
    import threading
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    srv.RequestHandlerClass.do_GET = lambda h: (h.send_response(200), h.send_header(
        "Content-Length", "0"), h.end_headers())
    srv.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _egress_policy(daemon, port, allowed):
    allow = f"    allow:\n      - host: 127.0.0.1\n        ports: [{port}]\n" if allowed else ""
    return ("version: 1\nname: agent\n"
            f"filesystem:\n  read_write: [{daemon.ident.proj}]\n"
            "network:\n  egress:\n    allow_private: [127.0.0.1/32]\n" + allow)


def _prober(port):
    """An agent printing the status of a request to the upstream every 0.2 s."""
    return sh(f"while true; do curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 "
              f"-x http://127.0.0.1:3128 --noproxy '' http://127.0.0.1:{port}/; "
              "sleep 0.2; done")


def _statuses(daemon, name):
    return daemon.cli("logs", name).stdout.split()


def test_policy_apply_reloads_egress_without_a_restart(daemon):
    srv = _http_server()
    port = srv.server_address[1]
    try:
        denied = daemon.ident.write("deny.yaml", _egress_policy(daemon, port, False))
        allowed = daemon.ident.write("allow.yaml", _egress_policy(daemon, port, True))
        assert daemon.create("probe", *_prober(port), policy=denied).returncode == 0
        wait_for(lambda: "403" in _statuses(daemon, "probe"), 30, "a denied request")
        pid = daemon.show("probe")["pid"]
        r = daemon.ident.pincer("policy", "apply", "probe", str(allowed), "--socket",
                                str(daemon.socket))
        assert r.returncode == 0 and "egress rules reloaded now" in r.stdout, r.stdout + r.stderr
        wait_for(lambda: "200" in _statuses(daemon, "probe"), 30, "an allowed request")
        a = daemon.show("probe")
        assert a["pid"] == pid and a["restarts"] == 0, a  # the same run: no restart
        # a filesystem change is kept for the next start, and said so
        other = daemon.ident.write("fs.yaml", _egress_policy(daemon, port, True).replace(
            "name: agent\n", "name: agent\nprocess:\n  limits: {pids: 64}\n"))
        r = daemon.ident.pincer("policy", "apply", "probe", str(other), "--socket",
                                str(daemon.socket))
        assert r.returncode == 0 and "process" in r.stdout and "next start" in r.stdout, r.stdout
        bad = daemon.ident.write("bad.yaml", "version: 1\nnetwork: {egress: {allow: 3}}\n")
        r = daemon.ident.pincer("policy", "apply", "probe", str(bad), "--socket",
                                str(daemon.socket))
        assert r.returncode == 1 and "allow" in r.stderr, r.stderr
    finally:
        srv.shutdown()


def test_revoke_network_cuts_egress_at_once_and_says_who(daemon):
    srv = _http_server()
    port = srv.server_address[1]
    try:
        pol = daemon.ident.write("allow.yaml", _egress_policy(daemon, port, True))
        assert daemon.create("probe", *_prober(port), policy=pol).returncode == 0
        wait_for(lambda: "200" in _statuses(daemon, "probe"), 30, "an allowed request")
        r = daemon.cli("revoke-network", "probe")
        assert r.returncode == 0 and "network revoked" in r.stdout, r.stdout + r.stderr
        assert daemon.show("probe")["network_revoked"] is True
        seen = len(_statuses(daemon, "probe"))
        wait_for(lambda: "403" in _statuses(daemon, "probe")[seen:], 30, "a denied request")
        rec = [x for x in daemon.records() if x["type"] == "policy"
               and "revoked by" in x["reason"]]
        assert len(rec) == 1 and rec[0]["identity"] == daemon.ident.name, rec
        r = daemon.cli("restore-network", "probe")
        assert r.returncode == 0, r.stderr
        seen = len(_statuses(daemon, "probe"))
        wait_for(lambda: "200" in _statuses(daemon, "probe")[seen:], 30, "allowed again")
    finally:
        srv.shutdown()


def test_metrics_in_prometheus_text(host_daemon):
    d = host_daemon
    assert d.create("m1", *sh("sleep 300")).returncode == 0
    assert d.create("m2", *sh("sleep 300"), start=False).returncode == 0
    d.wait_state("m1", "running")
    status, text = api(d.socket, "GET", "/metrics")
    assert status == 200, text
    assert 'pincer_agents{state="running"} 1' in text, text
    assert 'pincer_agents{state="stopped"} 1' in text, text
    assert 'pincer_agent_up{agent="m1"} 1' in text and 'pincer_agent_up{agent="m2"} 0' in text


def test_oom_restarts_a_clean_copy_and_says_oom(daemon):
    """An agent killed for lack of memory is restarted at once when its
    policy says on_oom: restart, and its last exit says oom (root: the
    memory cgroup; a user's run falls back to rlimits, which fail an
    allocation instead of killing)."""
    if daemon.ident.prefix:
        pytest.skip("an OOM kill needs the memory cgroup (root on this machine)")
    pol = daemon.ident.write("oom.yaml", "version: 1\nname: agent\n"
                             f"filesystem:\n  read_write: [{daemon.ident.proj}]\n"
                             "process:\n  limits: {memory: 64M}\n  on_oom: restart\n")
    hog = ["/usr/bin/python3", "-c", "x = bytearray(512 << 20); print(len(x))"]
    assert daemon.create("hog", *hog, policy=pol, restart="never").returncode == 0
    a = wait_for(lambda: (x := daemon.show("hog"))["restarts"] >= 1 and x, 60, "an OOM restart")
    assert a["last_exit"]["oom"] is True, a
    assert any(x["type"] == "oom" and x["agent"] == "hog" for x in daemon.records())
    daemon.cli("stop", "hog")


def test_top_shows_each_agents_state_and_memory(daemon):
    assert daemon.create("t1", *sh("sleep 300")).returncode == 0
    assert daemon.create("t2", *sh("sleep 300"), start=False).returncode == 0
    daemon.wait_state("t1", "running")
    r = daemon.ident.pincer("top", "--once", "--socket", str(daemon.socket))
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert rows["t1"][2] == "running" and rows["t1"][4] != "-", r.stdout  # memory measured
    assert rows["t2"][2] == "stopped" and rows["t2"][4] == "-", r.stdout
    status, text = api_as(daemon.ident, daemon.socket, "GET", "/metrics")
    mem = [line for line in str(text).splitlines()
           if line.startswith('pincer_agent_memory_bytes{agent="t1"}')]
    assert mem and int(mem[0].split()[1]) > 0, text


# ---- the security review's regressions ---------------------------------------------

@pytest.mark.skipif(not IS_ROOT, reason="needs root and the user pincer-test")
def test_an_owner_may_not_rewrite_its_agents_policy_nor_lift_a_revocation():
    """A policy is the agent's whole power (with a root daemon, a writable
    grant of a root folder is root): only admins set it; an owner may cut
    its agent's network but not restore what an admin cut."""
    root, user = Identity("root"), Identity("user")
    d = Daemon(root, admins=["root"], users={0: "root", user.uid: TEST_USER})
    try:
        d.start()
        assert d.create("alice-bot", *sh("exec sleep 300"), user=TEST_USER).returncode == 0
        before = d.show("alice-bot")["policy_sha256"]
        wide = ("version: 1\nname: p\nfilesystem:\n  read_write: [/etc]\n"
                "process:\n  seccomp: off\n  landlock: off\n")
        s, b = api_as(user, d.socket, "PUT", "/v1/agents/alice-bot/policy", {"policy": wide})
        assert s == 403 and "change policies" in b["error"], (s, b)
        assert d.show("alice-bot")["policy_sha256"] == before
        s, b = api_as(root, d.socket, "POST", "/v1/agents/alice-bot/revoke-network")
        assert s == 200 and b["network_revoked"] is True, b
        s, b = api_as(user, d.socket, "POST", "/v1/agents/alice-bot/restore-network")
        assert s == 403, (s, b)
        assert d.show("alice-bot")["network_revoked"] is True
        s, b = api_as(user, d.socket, "POST", "/v1/agents/alice-bot/revoke-network")
        assert s == 200, (s, b)  # cutting is allowed to the owner
        recs = [x for x in d.records() if x.get("type") == "api" and x.get("identity") == TEST_USER]
        assert any("change policies" in x["reason"] for x in recs), recs
        assert any("restore" in x["reason"] for x in recs), recs
    finally:
        d.cleanup()
        root.cleanup()
        user.cleanup()


def test_oversized_headers_are_dropped_and_the_daemon_keeps_serving(host_daemon):
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(host_daemon.socket))
    got = b""
    try:  # the daemon may hang up while we are still sending: fine
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: " + b"b" * (256 << 10)
                  + b"\r\n\r\n")
    except OSError:
        pass
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    s.close()
    assert not got.startswith(b"HTTP/1.1 200"), got[:80]
    status, body = api(host_daemon.socket, "GET", "/v1/health")
    assert status == 200 and body["ok"] is True


def test_a_socket_folder_others_may_write_is_refused(host):
    d = Daemon(host)
    open_dir = host.mkdir("open-dir", mode=0o777)
    os.chmod(open_dir, 0o777)
    d.socket = open_dir / "pincer.sock"
    r = subprocess.run(host.prefix + [PINCER, "daemon", "--socket", str(d.socket), "--state",
                                      str(d.state), "--config", str(d.config)],
                       capture_output=True, text=True, timeout=30, env=host.env())
    assert r.returncode != 0 and "only you can write" in r.stderr, r.stderr
    assert not d.socket.exists()


def test_followed_logs_are_capped_per_caller(host_daemon):
    """A followed log holds a connection and a file for as long as the
    caller likes: one caller may hold 16; the 17th is refused with 429 and
    recorded, the daemon keeps serving, and a closed one frees its place."""
    d = host_daemon
    assert d.create("f-bot", *sh("exec sleep 300"), start=False).returncode == 0

    def follow():
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(str(d.socket))
        s.sendall(b"GET /v1/agents/f-bot/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        return s, head.split(b"\r\n")[0].decode()

    held = [follow() for _ in range(16)]
    assert {h for _, h in held} == {"HTTP/1.1 200 OK"}, [h for _, h in held]
    s, head = follow()
    s.close()
    assert head == "HTTP/1.1 429 Too Many Requests", head
    assert api(d.socket, "GET", "/v1/health")[0] == 200
    recs = [x for x in d.records() if x.get("type") == "api"
            and "follow more than 16 logs" in x.get("reason", "")]
    assert len(recs) == 1, recs
    held.pop()[0].close()
    ok = None
    for _ in range(50):  # the daemon notices the close
        s, ok = follow()
        s.close()
        if ok == "HTTP/1.1 200 OK":
            break
        time.sleep(0.1)
    assert ok == "HTTP/1.1 200 OK", ok
    for s, _ in held:
        s.close()
