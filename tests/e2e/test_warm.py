"""Warm runs: `pincer run --warm --control SOCK` builds the whole sandbox
and waits for the one message that starts the agent (src/box/control.h,
"warm runs"); the daemon keeps a pool of them for policies with
`sandbox: {warm: N}` (daemon.h, "warm pool").

The run-level tests drive a real warm run with raw SOCK_SEQPACKET clients,
as the daemon does, and look from outside: its processes, its cgroup, its
files and the audit log. The pool tests use the real daemon.
"""
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import PINCER
from injectkit import check_placeholder, inj, iups, secret  # noqa: F401
from test_daemon import Daemon, pid_alive, sh, wait_for
from test_exec import Exec, connect_as, recv_record

TIMEOUT = 30
GATE_STATS_MAGIC = 0x3153545352434e50


def children(pid):
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cgroup_dirs(pid):
    """The host folders of pid's cgroups that pincer made (pincer-RUN)."""
    out = []
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if "pincer-" not in path or ctrls.startswith("name="):
            continue
        root = "/sys/fs/cgroup/unified" if not ctrls else f"/sys/fs/cgroup/{ctrls.split(',')[0]}"
        if not os.path.isdir(root):
            root = "/sys/fs/cgroup"
        out.append(Path(root + path))
    return [d for d in out if d.is_dir()]


class Warm:
    """A warm run of ident; its own output (the pool's log) in a file."""

    def __init__(self, ident, policy, argv=None, env=None):
        self.ident = ident
        tag = uuid.uuid4().hex[:8]
        self.sock = ident.work / f"warm-{tag}.sock"
        self.logfile = ident.work / f"warm-{tag}.log"
        self.agent = f"warm-bot-{tag}"
        with open(self.logfile, "wb") as log:
            if argv is None:
                self.p = ident.popen("--warm", "--quiet", "--control", str(self.sock),
                                     "--policy", str(policy), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
            else:
                self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=log, cwd=str(ident.proj), env=env)
        self.daemon = None  # the connection that says "ready", held as the pool does

    def log(self):
        return self.logfile.read_text(errors="replace")

    def connect(self):
        return connect_as(self.ident.uid, self.ident.gid, self.sock)

    def ready(self):
        """Wait until a connect succeeds; keep that connection (closing it
        ends an unclaimed run)."""
        def attempt():
            if self.p.poll() is not None:
                pytest.fail(f"the warm run exited with {self.p.returncode}: {self.log()}")
            if not self.sock.exists():
                return None
            try:
                return self.connect()
            except (AssertionError, OSError):
                return None
        self.daemon = wait_for(attempt, TIMEOUT, "the warm run's socket")
        return self

    def pid1(self):
        kids = children(self.p.pid)
        assert len(kids) == 1, kids
        return kids[0]

    def start(self, argv, out=None, err=None, **fields):
        """A start on a new connection: (the answer, that connection)."""
        req = {"op": "start", "argv": argv, "agent": self.agent}
        req.update(fields)
        null = os.open("/dev/null", os.O_RDONLY)
        fds = [null, out if out is not None else null, err if err is not None else null]
        s = self.connect()
        s.settimeout(TIMEOUT)
        socket.send_fds(s, [json.dumps(req).encode()], fds)
        os.close(null)
        return recv_record(s), s

    def sh(self, script, env=None):
        req = {"op": "exec", "argv": ["sh", "-c", script], "by": "tester"}
        if env is not None:
            req["env"] = env
        return Exec(self.connect(), req).finish()

    def records(self):
        return self.ident.records()

    def wait(self):
        return self.p.wait(timeout=TIMEOUT)

    def stop(self):
        if self.daemon:
            self.daemon.close()
            self.daemon = None
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def warm_policy(ident, env="FOO: from-policy", name="warm.yaml", extra=""):
    return ident.policy("version: 1\nname: warm\n"
                        f"filesystem:\n  read_write: [{ident.proj}]\n"
                        f"process:\n  env:\n    {env}\n"
                        "  limits: {memory: 256M, pids: 200}\n" + extra, name=name)


@pytest.fixture
def warm(pincer):
    runs = []

    def make(policy=None, **kw):
        w = Warm(pincer, policy or warm_policy(pincer), **kw).ready()
        runs.append(w)
        return w
    yield make
    for w in runs:
        w.stop()


def outfile(ident, name):
    path = ident.work / name
    return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


# ---- before the start ----------------------------------------------------------

def test_ready_and_nothing_of_the_agent_runs_before_the_start(warm):
    w = warm()
    pid1 = w.pid1()
    assert Path(f"/proc/{pid1}/comm").read_text().strip() == "pincer-init"
    assert children(pid1) == [], "no agent before the start"
    # not the pool's log either: PID 1 holds none of the run's own files
    fds = {os.readlink(f"/proc/{pid1}/fd/{n}") for n in os.listdir(f"/proc/{pid1}/fd")}
    assert str(w.logfile) not in fds, fds
    # no record of a run for an agent nobody has claimed
    assert not [x for x in w.records() if x["type"] in ("run.start", "sandbox")]
    # an exec is refused: nothing runs, and the refusal is recorded
    recs, out, _ = w.sh("echo should-not-run")
    assert recs == [{"error": "the agent has not started"}] and out == ""
    assert children(pid1) == []
    deny = [x for x in w.records() if x["type"] == "exec" and x["decision"] == "deny"]
    assert deny and "the agent has not started" in deny[-1]["reason"], deny


def test_an_unclaimed_run_ends_when_its_last_connection_closes(warm, pincer):
    w = warm()
    pid1 = w.pid1()
    cgroups = cgroup_dirs(pid1)
    if pincer.mode == "root":
        assert cgroups, "a root run has a cgroup of its own"
    other = w.connect()  # a second connection: the first closing is not the last
    w.daemon.close()
    w.daemon = None
    recs, _, _ = w.sh("true")  # a round trip on a third
    assert recs == [{"error": "the agent has not started"}]
    assert w.p.poll() is None and pid_alive(pid1), "one connection is still open"
    other.close()
    assert w.wait() == 0, w.log()
    assert not pid_alive(pid1), "the sandbox is gone"
    assert not [d for d in cgroups if d.exists()], "its cgroup removed"
    assert not w.sock.exists(), "its socket removed"
    assert not [x for x in w.records() if x["type"] in ("run.start", "run.end")]


def test_a_run_never_connected_stays(pincer):
    w = Warm(pincer, warm_policy(pincer))
    try:
        wait_for(lambda: w.sock.exists() or w.p.poll() is not None, TIMEOUT, "the socket")
        # the sandbox is built and nobody has connected: it waits (a bounded
        # look: a run that wrongly ended would have done so at once)
        wait_for(lambda: children(w.p.pid), TIMEOUT, "its sandbox")
        assert w.p.poll() is None
        # SIGTERM ends it cleanly (the daemon's stop)
        w.p.terminate()
        w.wait()
        assert not w.sock.exists()
    finally:
        w.stop()


def test_an_unclaimed_run_ends_with_its_parent(pincer):
    """Even never connected (a daemon killed between spawning it and its
    first connect): --survive-parent counts only from the start."""
    sock = pincer.work / "orphan.sock"
    argv = pincer.prefix + [PINCER, "run", "--audit", str(pincer.audit), "--warm", "--quiet",
                            "--survive-parent", "--control", str(sock), "--policy",
                            str(warm_policy(pincer))]
    parent = subprocess.Popen(["/bin/sh", "-c", '"$@" & wait', "sh"] + argv,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=str(pincer.proj), env=pincer.env())
    try:
        wait_for(lambda: sock.exists(), TIMEOUT, "the warm run's socket")
        run = children(parent.pid)
        assert len(run) == 1, run
        parent.kill()
        parent.wait()
        wait_for(lambda: not pid_alive(run[0]), TIMEOUT, "the orphaned warm run to end")
        assert not sock.exists()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


# ---- the start -------------------------------------------------------------------

def test_start_runs_the_agent_with_its_env_fds_and_records(warm, pincer):
    w = warm()
    pid1 = w.pid1()
    out_path, out = outfile(pincer, "agent.out")
    err_path, err = outfile(pincer, "agent.err")
    status = pincer.work / "status"
    pol = w.ident.work / "warm.yaml"
    ans, conn = w.start(["sh", "-c", 'echo "out $FOO $BAZ $HOME"; echo err-line >&2; exit 3'],
                        out=out, err=err, env=["BAZ=from-start"], status_file=str(status),
                        policy_file=str(pol), **{"as": pincer.name})
    os.close(out)
    os.close(err)
    assert set(ans) == {"started"} and ans["started"] > 1, ans
    assert recv_record(conn) is None, "the start's connection closes after its answer"
    assert w.wait() == 3, w.log()
    assert out_path.read_text() == "out from-policy from-start /home/agent\n"
    # (and what pincer itself says once the agent is its: a cgroup shortfall)
    err_lines = err_path.read_text().splitlines()
    assert "err-line" in err_lines and all(
        x == "err-line" or x.startswith("pincer: warning: ") for x in err_lines), err_lines
    assert json.loads(status.read_text()) == {"exit": 3, "signal": 0, "oom": False}
    assert not pid_alive(pid1) and not w.sock.exists()

    recs = [x for x in w.records() if x["type"] in ("run.start", "sandbox", "run.end")]
    assert [x["type"] for x in recs][0] == "run.start" and recs[-1]["type"] == "run.end"
    start = recs[0]
    assert start["agent"] == w.agent and start["identity"] == pincer.name
    assert start["policy_file"] == str(pol) and start["policy_sha256"]
    assert start["policy_sha256"] == hashlib.sha256(pol.read_bytes()).hexdigest()
    assert "echo" in start["command"]
    assert len({x["run"] for x in recs}) == 1, "one run id"
    assert all(x["agent"] == w.agent for x in recs), recs
    assert any(x["reason"].startswith("seccomp: ") for x in recs)
    assert recs[-1]["exit"] == 3


def test_exec_after_the_start_and_a_second_start_refused(warm, pincer):
    w = warm()
    ans, _ = w.start(["sh", "-c", "echo up > /tmp/up; exec sleep 300"], env=["BAZ=b1"])
    assert "started" in ans, ans
    recs, out, err = w.sh('cat /tmp/up; echo "$FOO $BAZ $EXTRA"', env=["EXTRA=x"])
    assert recs[-1] == {"exited": {"code": 0}}, (recs, err)
    assert out == "up\nfrom-policy b1 x\n"
    # a second start: refused, and nothing changes
    ans2, _ = w.start(["sh", "-c", "echo second > /tmp/second"])
    assert "started already" in ans2.get("error", ""), ans2
    recs, out, _ = w.sh("cat /tmp/up; ls /tmp")
    assert "second" not in out and w.p.poll() is None
    deny = [x for x in w.records() if x["type"] == "exec" and x["decision"] == "deny"]
    assert deny and "start refused" in deny[-1]["reason"], deny
    assert deny[-1]["agent"] == w.agent
    w.p.terminate()
    assert w.wait() == 128 + signal.SIGTERM


def test_policy_file_of_another_policy_is_refused(warm, pincer):
    w = warm()
    pid1 = w.pid1()
    other = warm_policy(pincer, env="FOO: other", name="other.yaml")
    ans, _ = w.start(["sh", "-c", "echo ran > ran"], policy_file=str(other))
    assert "sha256" in ans.get("error", ""), ans
    assert w.wait() == 125, w.log()
    assert not pid_alive(pid1) and not (pincer.proj / "ran").exists()
    deny = [x for x in w.records() if x["type"] == "exec"]
    assert deny and deny[-1]["decision"] == "deny" and "sha256" in deny[-1]["reason"], deny
    assert not [x for x in w.records() if x["type"] == "run.start"]


def test_control_socket_renamed_and_stats_file_made(warm, pincer):
    w = warm()
    new = pincer.work / "agent-control.sock"
    stats = pincer.work / "stats"
    ans, _ = w.start(["sh", "-c", "exec sleep 300"], control=str(new), stats=str(stats))
    assert "started" in ans, ans
    old = w.sock
    wait_for(lambda: new.exists() and not old.exists(), TIMEOUT, "the socket renamed")
    w.sock = new
    recs, out, _ = w.sh("echo via-new-path")
    assert out == "via-new-path\n" and recs[-1] == {"exited": {"code": 0}}
    data = stats.read_bytes()
    magic, version, size = struct.unpack_from("<QII", data)
    assert magic == GATE_STATS_MAGIC and size == len(data), (hex(magic), size, len(data))
    audit_records = struct.unpack_from("<Q", data, 48)[0]
    assert audit_records >= 3, audit_records  # run.start, the notes, the exec
    assert stat_mode(stats) == 0o600
    w.p.terminate()
    w.wait()
    assert not new.exists(), "removed from its new place at the end"


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_a_start_whose_program_is_missing_ends_the_run(warm, pincer):
    w = warm()
    pid1 = w.pid1()
    cgroups = cgroup_dirs(pid1)
    status = pincer.work / "status"
    ans, _ = w.start(["no-such-program-here"], status_file=str(status))
    assert ans == {"error": "cannot run 'no-such-program-here': No such file or directory"}, ans
    assert w.wait() == 127, w.log()
    assert not pid_alive(pid1) and not [d for d in cgroups if d.exists()]
    assert not w.sock.exists()
    recs = [x for x in w.records() if x["agent"] == w.agent]
    types = [x["type"] for x in recs]
    assert types[0] == "run.start" and types[-1] == "run.end", types
    fail = [x for x in recs if x["type"] == "exec" and x["decision"] == "deny"]
    assert fail and "no-such-program-here" in fail[0]["reason"], recs
    assert recs[-1]["exit"] == 127


@pytest.mark.parametrize("fields,why", [
    ({"argv": []}, "non-empty"),
    ({"agent": ""}, "agent must be"),
    ({"status_file": "relative/path"}, "absolute path"),
    ({"as": "no way"}, "not an identity"),
    ({"cwd": "/"}, "cwd"),
])
def test_a_bad_start_is_refused_and_ends_the_run(warm, fields, why):
    w = warm()
    fields = dict(fields)
    argv = fields.pop("argv", ["true"])
    ans, _ = w.start(argv, **fields)
    assert why in ans.get("error", ""), ans
    assert w.wait() == 125


def test_start_on_a_run_that_is_not_warm_is_refused(pincer):
    from test_exec import Run
    r = Run(pincer)
    try:
        s = r.connect()
        null = os.open("/dev/null", os.O_RDWR)
        socket.send_fds(s, [json.dumps({"op": "start", "argv": ["true"],
                                        "agent": "x"}).encode()], [null] * 3)
        os.close(null)
        ans = recv_record(s)
        assert "not a warm run" in ans.get("error", ""), ans
        recs, out, _ = Exec(r.connect(), {"op": "exec", "argv": ["echo", "alive"]}).finish()
        assert out == "alive\n", "the run goes on"
    finally:
        r.stop()


# ---- credentials ------------------------------------------------------------------

ANTHROPIC = """\
- name: anthropic
  host: 127.0.0.1
  header: x-api-key
  placeholder: ANTHROPIC_API_KEY
"""


def test_credentials_of_the_identity_named_at_the_start(inj):
    key = secret()
    inj.set_secret("anthropic", key)
    pol = inj.policy("allow_private: [127.0.0.1/32]\nallow:\n  - host: 127.0.0.1\n"
                     "    ports: [{api}]\n", ANTHROPIC)
    ident = inj.ident
    env = ident.env(inj.venv)
    w = Warm(ident, pol, argv=inj.argv(pol, [], ["--warm", "--quiet", "--control",
                                                 str(ident.work / "cred.sock")]), env=env)
    w.sock = ident.work / "cred.sock"
    n_vault = len([x for x in ident.records() if x["type"] == "vault"])
    try:
        w.ready()
        # nothing read from the vault before the start: whose secrets is not known
        assert len([x for x in ident.records() if x["type"] == "vault"]) == n_vault
        out_path, out = outfile(ident, "cred.out")
        agent = ("import os, json, urllib.request, ssl\n"
                 "ph = os.environ['ANTHROPIC_API_KEY']\n"
                 f"req = urllib.request.Request('https://127.0.0.1:{inj.api}/headers', "
                 "headers={'x-api-key': ph})\n"
                 "with urllib.request.urlopen(req, timeout=30) as r:\n"
                 "    got = r.headers.get('X-Got-Key')\n"
                 "print(json.dumps([ph, r.status, got]))\n")
        ans, _ = w.start(["/usr/bin/python3", "-c", agent], out=out, err=out,
                         **{"as": ident.name})
        os.close(out)
        assert "started" in ans, ans
        assert w.wait() == 0, out_path.read_text() + w.log()
        ph, st, got = json.loads(out_path.read_text().splitlines()[-1])
        check_placeholder(ph, key)
        assert st == 200
        # the upstream got the secret; what came back to the agent did not carry it
        got_headers = {k.lower(): v for k, v in inj.ups.api.requests[-1].headers.items()}
        assert got_headers.get("x-api-key") == key
        assert key not in out_path.read_text() and got != key
        v = [x for x in ident.records() if x["type"] == "vault"][n_vault:]
        assert v and v[0]["agent"] == w.agent and ident.name in v[0]["reason"], v
    finally:
        w.stop()


# ---- the daemon's pool ----------------------------------------------------------------

def pool_socks(d):
    pool = Path(d.state) / "pool"
    return sorted(pool.glob("*.sock")) if pool.is_dir() else []


def cmdline(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def test_the_daemon_starts_agents_from_its_pool(pincer):
    d = Daemon(pincer).start()
    try:
        pol = pincer.policy("version: 1\nname: pooled\nsandbox:\n  warm: 1\n"
                            f"filesystem:\n  read_write: [{pincer.proj}]\n", name="pooled.yaml")
        r = d.create("pool-bot", *sh("echo pooled-out-$FOO; exec sleep 300"), policy=pol,
                     start=False)
        assert r.returncode == 0, r.stderr
        first = wait_for(lambda: pool_socks(d), TIMEOUT, "a warm run in the pool")[0]
        # ready: the daemon is connected (probing it ourselves could end it)
        wait_for(lambda: _connections(first) >= 1, TIMEOUT, "the daemon to hold the warm run")
        warm_pids = _warm_runs(d)
        r = d.cli("start", "pool-bot")
        assert r.returncode == 0, r.stderr
        a = d.wait_state("pool-bot", "running")
        assert a["pid"] in warm_pids and b"--warm" in cmdline(a["pid"]), "the pool's run"
        wait_for(lambda: "pooled-out-" in d.cli("logs", "pool-bot").stdout, TIMEOUT,
                 "the agent's output in its log")
        # exec works in it (its control socket moved to the agent's folder)
        def exec_ok():
            e = pincer.pincer("agent", "exec", "pool-bot", "--socket", str(d.socket), "--",
                              "/bin/sh", "-c", "echo exec-in-pool")
            return e.returncode == 0 and e.stdout == "exec-in-pool\n"
        wait_for(exec_ok, TIMEOUT, "an exec in the pooled agent")
        starts = [x for x in d.records() if x["type"] == "run.start" and
                  x["agent"] == "pool-bot"]
        assert len(starts) == 1 and starts[0]["identity"] == pincer.name
        # a new warm run replaces the one taken
        wait_for(lambda: [s for s in pool_socks(d) if s != first], TIMEOUT, "a new warm run")
        # a daemon killed and restarted adopts the pooled agent; the pool's
        # unclaimed run ends with its daemon
        unclaimed = _warm_runs(d) - {a["pid"]}
        assert unclaimed
        d.kill9()
        assert pid_alive(a["pid"])
        wait_for(lambda: not any(pid_alive(p) for p in unclaimed), TIMEOUT,
                 "the unclaimed warm run to end with its daemon")
        d.start()
        assert d.show("pool-bot")["pid"] == a["pid"] and pid_alive(a["pid"])
        r = d.cli("stop", "pool-bot")
        assert r.returncode == 0, r.stderr
        d.wait_state("pool-bot", "stopped")
        wait_for(lambda: not pid_alive(a["pid"]), TIMEOUT, "the pooled run to end")
    finally:
        d.cleanup()


def _safe_cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _warm_runs(d):
    """The daemon's warm runs (by their state folder), claimed or not (not
    their sandboxes' PID 1, a copy of pincer with the same command line)."""
    out = set()
    for p in Path("/proc").iterdir():
        cmd = _safe_cmdline(p.name) if p.name.isdigit() else b""
        if b"--warm" not in cmd or str(d.state).encode() not in cmd:
            continue
        try:
            if (p / "comm").read_text().strip() == "pincer" and pid_alive(int(p.name)):
                out.add(int(p.name))
        except OSError:
            pass
    return out


def _connections(path):
    """Connections accepted on the unix socket at path (the listening one
    and every accepted one carry its name in /proc/net/unix)."""
    n = sum(1 for line in Path("/proc/net/unix").read_text().splitlines()
            if line.endswith("/" + path.name))  # bound through /proc/self/fd/N/NAME
    return n - 1
