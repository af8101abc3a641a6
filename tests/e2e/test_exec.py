"""`pincer run --control PATH`: a process started in a running sandbox,
next to the agent, through the run's control socket (src/box/control.h).

Each test starts a real run whose agent sleeps, talks to its socket as a
client would (SOCK_SEQPACKET, one JSON object per record, the three pipes
as SCM_RIGHTS) and looks from inside (what the exec'd process is and may
do) and from outside (the records, the audit log, the host's files).
"""
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import IS_ROOT, PINCER, ensure_test_user

ESCAPE_DIR = Path(PINCER).resolve().parent / "tests" / "escape"
AGENT_SLEEPS = ("readlink /proc/self/ns/net /proc/self/ns/mnt /proc/self/ns/pid "
                "/proc/self/ns/uts /proc/self/ns/ipc /proc/self/ns/user "
                "/proc/self/ns/cgroup > /tmp/ns; cat /proc/self/cgroup > /tmp/cgroup; "
                "pwd > /tmp/cwd; echo \"$PATH\" > /tmp/path; echo agent-wrote > /tmp/mark; echo ready; exec sleep 120")
TIMEOUT = 30


def connect_as(uid, gid, path):
    """A connection to path made by uid (the peer credentials are taken at
    connect(); the test then uses the socket as its own)."""
    if uid == os.geteuid():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(str(path))
        return s
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(str(path))
            socket.send_fds(b, [b"ok"], [s.fileno()])
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            b.send(f"connect failed: {e!r}".encode())
        os._exit(0)
    b.close()
    msg, fds, _, _ = socket.recv_fds(a, 1024, 1)
    os.waitpid(pid, 0)
    a.close()
    assert msg == b"ok" and fds, msg
    return socket.socket(fileno=fds[0])


def recv_record(sock):
    """A record as JSON; None once the run closed the connection. A run that
    closed with our request unread makes the kernel report a reset first,
    before the records still queued: read on past it once."""
    for _ in range(2):
        try:
            m = sock.recv(70000)
            return json.loads(m) if m else None
        except ConnectionResetError:
            continue
    return None


class Drain(threading.Thread):
    """Reads a pipe to its end (so a chatty process never blocks)."""

    def __init__(self, fd):
        super().__init__(daemon=True)
        self.fd, self.data = fd, b""
        self.start()

    def run(self):
        while chunk := os.read(self.fd, 65536):
            self.data += chunk
        os.close(self.fd)

    def text(self):
        self.join(TIMEOUT)
        assert not self.is_alive(), "the pipe never reached its end"
        return self.data.decode()


class Exec:
    """One client connection: a request, its pipes, its records."""

    def __init__(self, sock, request, fds=None, raw=None):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.stdin = self.out = self.err = None
        if fds is None:
            r0, w0 = os.pipe()
            r1, w1 = os.pipe()
            r2, w2 = os.pipe()
            fds = [r0, w1, w2]
            self.stdin, self.out, self.err = w0, Drain(r1), Drain(r2)
            mine = fds
        else:
            mine = []
        data = raw if raw is not None else json.dumps(request).encode()
        socket.send_fds(self.sock, [data], fds)
        for fd in mine:
            os.close(fd)

    def write(self, data):
        os.write(self.stdin, data)

    def close_stdin(self):
        if self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None

    def send(self, obj):
        self.sock.send(json.dumps(obj).encode())

    def record(self):
        """The next record, or None once the run closed the connection."""
        return recv_record(self.sock)

    def records(self):
        """Every record until the run closes the connection."""
        out = []
        while (r := self.record()) is not None:
            out.append(r)
        return out

    def finish(self, stdin=b""):
        """Feed stdin, then collect: (records, stdout, stderr)."""
        if self.stdin is not None:
            if stdin:
                self.write(stdin)
            self.close_stdin()
        recs = self.records()
        return recs, self.out.text(), self.err.text()

    def close(self):
        self.close_stdin()
        self.sock.close()


class Run:
    """A `pincer run --control SOCK` whose agent runs `script` (it must
    print "ready" once set up)."""

    def __init__(self, ident, script=AGENT_SLEEPS, policy=None):
        self.ident = ident
        self.sock = ident.work / f"ctl-{uuid.uuid4().hex[:8]}.sock"
        args = ["--control", str(self.sock)]
        if policy:
            args += ["--policy", str(policy)]
        self.p = ident.popen(*args, "--", "/bin/sh", "-c", script, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            self.p.kill()
            out, err = self.p.communicate()
            pytest.fail(f"the agent did not start: {line!r} {out!r} {err!r}")

    def connect(self):
        return connect_as(self.ident.uid, self.ident.gid, self.sock)

    def exec(self, argv, env=None, by="tester", **kw):
        req = {"op": "exec", "argv": argv, "by": by}
        if env is not None:
            req["env"] = env
        return Exec(self.connect(), req, **kw)

    def sh(self, script, stdin=b"", **kw):
        """Run a shell script beside the agent: (records, stdout, stderr)."""
        return self.exec(["sh", "-c", script], **kw).finish(stdin)

    def exec_records(self):
        return [r for r in self.ident.records() if r["type"] == "exec"]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        try:
            self.p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.communicate()


def exec_policy(ident, name="exec"):
    ident.mkdir("bin")
    return ident.policy(
        f"version: 1\nname: {name}\n"
        "sandbox:\n  hostname: exec-box\n"
        "filesystem:\n"
        f"  read_only: [{ident.work / 'bin'}]\n"
        f"  read_write: [{ident.proj}]\n"
        "  deny: ['**/.env']\n"
        "  scratch: { path: /tmp, size: 16M }\n", name=f"{name}.yaml")


@pytest.fixture
def run(pincer):
    r = Run(pincer, policy=exec_policy(pincer))
    yield r
    r.stop()


def wait_for(cond, what):
    deadline = time.monotonic() + TIMEOUT
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# ---- the same sandbox --------------------------------------------------------

def test_exec_runs_in_the_agents_sandbox(run):
    recs, out, err = run.sh(
        "id -u; id -g; hostname; cat /tmp/mark; pwd; cat /tmp/cwd; "
        "readlink /proc/self/ns/net /proc/self/ns/mnt /proc/self/ns/pid /proc/self/ns/uts "
        "/proc/self/ns/ipc /proc/self/ns/user /proc/self/ns/cgroup > /tmp/ns.exec; "
        "cmp /tmp/ns /tmp/ns.exec && echo same-namespaces; "
        "cat /proc/self/cgroup | cmp - /tmp/cgroup && echo same-cgroup; "
        "grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; "
        "cat /proc/self/uid_map; echo ppid $PPID")
    assert recs[0].keys() == {"started"} and recs[-1] == {"exited": {"code": 0}}, (recs, err)
    lines = out.split("\n")
    assert lines[0:4] == ["1000", "1000", "exec-box", "agent-wrote"], out
    assert lines[4] == lines[5], "the agent's working directory"
    assert "same-namespaces" in out and "same-cgroup" in out, out + err
    f = dict(re.findall(r"^(\w+):\s+(\S+)$", out, re.M))
    assert f["CapEff"] == f["CapPrm"] == f["CapBnd"] == f["CapAmb"] == "0" * 16
    assert f["NoNewPrivs"] == "1" and f["Seccomp"] == "2", f
    inside, outside, _ = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)$", out, re.M).groups()
    assert inside == "1000"
    if run.ident.mode == "root":
        assert int(outside) >= 0x70000000, "never host root"
    else:
        assert int(outside) == run.ident.uid
    assert "ppid 1" in out, "a child of the sandbox's PID 1"


@pytest.mark.parametrize("prog,expect", [
    ("net_tcp_loopback", r"connect 127.0.0.1:8080: EACCES \(Landlock\)"),
    ("proc_userns_unshare", r"unshare\(CLONE_NEWUSER\): EPERM \(seccomp\)"),
    ("fs_mount_tmpfs", r"EPERM \(seccomp\)"),
    ("proc_capset", r"capset CAP_SYS_ADMIN: EPERM"),
    ("proc_kill_pid1", r"SIGKILL to PID 1: ignored"),
    ("fs_read_shadow", r"/etc/shadow: ENOENT"),
])
def test_exec_is_held_by_every_layer(pincer, prog, expect):
    # the escape programs of tests/e2e/test_escape.py, started by exec
    pol = exec_policy(pincer)
    src = ESCAPE_DIR / prog
    assert src.exists(), f"{src} is not built"
    dst = pincer.work / "bin" / prog
    shutil.copy(src, dst)
    os.chmod(dst, 0o755)
    pincer._own(dst)
    r = Run(pincer, policy=pol)
    try:
        recs, out, err = r.exec([str(dst), str(pincer.proj)] if prog.startswith("fs_mount")
                               else [str(dst)]).finish()
    finally:
        r.stop()
    line = [x for x in out.splitlines() if x.split(" ", 1)[0] in
            ("BLOCKED", "ESCAPED", "UNEXPECTED")]
    assert recs[-1] == {"exited": {"code": 0}}, (recs, out, err)
    assert line and line[-1].startswith("BLOCKED") and re.search(expect, line[-1]), out + err


def test_exec_cannot_read_what_the_policy_denies(pincer):
    pincer.write("proj/.env", "DB_PASSWORD=hunter2\n")
    pincer.write("proj/main.py", "print('hi')\n")
    outside = pincer.write("outside/secret.txt", "OUTSIDE-SECRET\n")
    r = Run(pincer, policy=exec_policy(pincer))
    try:
        recs, out, err = r.sh(f"cat main.py; cat .env; cat {outside}; echo x > .env; echo end")
    finally:
        r.stop()
    assert "print('hi')" in out and "end" in out
    assert "hunter2" not in out and "OUTSIDE-SECRET" not in out
    assert "No such file" in err
    assert (pincer.proj / ".env").read_text() == "DB_PASSWORD=hunter2\n"


# ---- input, output, status ---------------------------------------------------

def test_stdio_env_and_exit_code(run):
    recs, out, err = run.sh("cat; echo to-err >&2; echo FOO=$FOO; echo HOME=$HOME; "
                            "[ \"$PATH\" = \"$(cat /tmp/path)\" ] && echo agents-path; exit 7", stdin=b"from-stdin\n",
                            env=["FOO=bar baz", "FOO=last", "HOME=/nowhere"])
    started = recs[0]["started"]
    assert isinstance(started, int) and started > 1
    assert recs[1:] == [{"exited": {"code": 7}}], recs
    assert out.split("\n")[:4] == ["from-stdin", "FOO=last", "HOME=/nowhere",
                                   "agents-path"], out
    assert err == "to-err\n"
    start, end = run.exec_records()[-2:]
    assert start["decision"] == "allow" and start["pid"] == started
    assert start["by"] == "tester" and json.loads(start["argv"])[0] == "sh"
    assert end["decision"] == "-" and end["code"] == 7 and end["pid"] == started
    assert "exited with 7" in end["reason"]


def test_killed_by_a_signal_is_reported(run):
    recs, _, _ = run.sh("kill -TERM $$")
    assert recs[-1] == {"exited": {"signal": 15}}, recs
    end = run.exec_records()[-1]
    assert end["signal"] == 15 and "signal 15" in end["reason"]


def test_signal_op_reaches_the_process(run):
    ex = run.exec(["sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; "
                   "while :; do sleep 0.05; done"])
    assert "started" in ex.record()
    wait_for(lambda: b"ready\n" in ex.out.data, "the process did not start")
    ex.send({"op": "signal", "signal": 15})
    assert ex.record() == {"exited": {"code": 42}}
    ex.close_stdin()
    assert "got-term" in ex.out.text()


def test_missing_program_is_an_error_and_recorded(run):
    ex = run.exec(["no-such-program-xyz", "arg"])
    recs = ex.records()
    assert recs == [{"error": "cannot run 'no-such-program-xyz': No such file or directory"}]
    rec = run.exec_records()[-1]
    assert rec["decision"] == "deny" and "No such file" in rec["reason"]
    assert json.loads(rec["argv"]) == ["no-such-program-xyz", "arg"] and rec["by"] == "tester"


# ---- refusals ----------------------------------------------------------------

def _fd_of(kind, ident):
    if kind == "tty":
        master, slave = os.openpty()
        return slave, [master, slave], "a terminal"
    if kind == "file":
        fd = os.open(ident.write("plain.txt", "x\n"), os.O_RDWR)
        return fd, [fd], "a regular file"
    if kind == "directory":
        fd = os.open(ident.work, os.O_RDONLY | os.O_DIRECTORY)
        return fd, [fd], "a directory"
    a, b = socket.socketpair()
    return a.fileno(), [a.detach(), b.detach()], "a socket"


@pytest.mark.parametrize("kind", ["tty", "file", "directory", "socket"])
@pytest.mark.parametrize("slot", [0, 1])
def test_only_pipes_enter_the_sandbox(run, kind, slot):
    bad, opened, what = _fd_of(kind, run.ident)
    r0, w0 = os.pipe()
    r1, w1 = os.pipe()
    fds = [r0, w1, w1]
    fds[slot] = bad
    try:
        ex = Exec(run.connect(), {"op": "exec", "argv": ["touch", f"ran-{kind}"], "by": "t"},
                  fds=fds)
        recs = ex.records()
    finally:
        for fd in opened + [r0, w0, r1, w1]:
            os.close(fd)
    name = ["stdin", "stdout"][slot]
    assert len(recs) == 1 and f"{name} is {what}" in recs[0]["error"], recs
    assert not (run.ident.proj / f"ran-{kind}").exists(), "nothing ran"
    rec = run.exec_records()[-1]
    assert rec["decision"] == "deny" and f"{name} is {what}" in rec["reason"]
    assert "only pipes" in rec["reason"]


@pytest.mark.parametrize("raw,nfds,why", [
    (b"not json", 3, "not a JSON object"),
    (b"[1, 2]", 3, "not a JSON object"),
    (b'{"op": "exec", "argv": ["true"]', 3, "not a JSON object"),
    (b'{"argv": ["true"]}', 3, "no \"op\""),
    (b'{"op": "shell", "argv": ["true"]}', 3, "unknown op"),
    (b'{"op": "exec", "argv": ["true"], "cwd": "/"}', 3, "cwd"),
    (b'{"op": "exec", "argv": ["true"], "argv": ["false"]}', 3, "duplicate"),
    (b'{"op": "exec", "argv": "true"}', 3, "argv must be a list"),
    (b'{"op": "exec", "argv": []}', 3, "non-empty"),
    (b'{"op": "exec", "argv": [""]}', 3, "non-empty"),
    (b'{"op": "exec", "argv": ["true", 1]}', 3, "argv[1] must be a string"),
    (b'{"op": "exec", "argv": ["tr\\u0000ue"]}', 3, "\\u0000 is not allowed"),
    (b'{"op": "exec", "argv": ["true"], "env": ["1X=y"]}', 3, "env[0] must be NAME=value"),
    (b'{"op": "exec", "argv": ["true"], "env": ["NOEQUALS"]}', 3, "env[0]"),
    (b'{"op": "exec", "argv": ["true"], "env": ["A-B=c"]}', 3, "env[0]"),
    (b'{"op": "exec", "argv": ["true"], "by": 7}', 3, "by must be"),
    (b'{"op": "exec", "argv": ["true"]}', 2, "three pipes"),
    (b'{"op": "exec", "argv": ["true"]}', 0, "three pipes"),
    (b'{"op": "signal", "signal": 15}', 0, "not started"),
    (b'{"op": "exec", "argv": ["true"]}\x00', 3, "NUL"),
])
def test_bad_records_are_refused(run, raw, nfds, why):
    pipes = [os.pipe() for _ in range(3)]
    fds = [pipes[0][0], pipes[1][1], pipes[2][1]][:nfds]
    try:
        ex = Exec(run.connect(), None, fds=fds, raw=raw)
        recs = ex.records()
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)
    assert len(recs) == 1 and why in recs[0].get("error", ""), recs
    assert not list(run.ident.proj.iterdir())


def test_a_record_too_long_is_refused(run):
    ex = run.exec(["echo", "x" * 70000])
    assert "at most 65536 bytes" in ex.record()["error"]
    assert ex.record() is None


def test_bad_signal_numbers_are_refused(run):
    for sig in (0, 65, -9):
        ex = run.exec(["sleep", "60"])
        assert "started" in ex.record()
        ex.send({"op": "signal", "signal": sig})
        assert "is not a signal" in ex.record()["error"]
        # refused, the connection is closed: and with it the process
        assert ex.record() is None


def test_a_second_exec_on_one_connection_is_refused(run):
    ex = run.exec(["sleep", "60"])
    assert "started" in ex.record()
    ex.send({"op": "exec", "argv": ["true"]})
    assert "one exec per connection" in ex.record()["error"]
    assert ex.record() is None


# ---- lifetime ------------------------------------------------------------------

def alive(run, pids):
    """Which of the pids (inside the sandbox) still exist, asked from inside."""
    _, out, _ = run.sh(" ".join(f"[ -e /proc/{p} ] && echo {p};" for p in pids) + " true")
    return {int(x) for x in out.split()}


def test_closing_the_connection_kills_the_process_group(run):
    ex = run.exec(["sh", "-c", "sleep 1000 & echo $!; wait"])
    pid = ex.record()["started"]
    wait_for(lambda: b"\n" in ex.out.data, "no pid printed")
    child = int(ex.out.data.split()[0])
    assert alive(run, [pid, child]) == {pid, child}
    ex.close()
    wait_for(lambda: not alive(run, [pid, child]), "the process group outlived its client")
    wait_for(lambda: any(r.get("pid") == pid and r.get("signal") == 9
                         for r in run.exec_records()), "no end record")
    end = [r for r in run.exec_records() if r.get("pid") == pid][-1]
    assert "client went away" in end["reason"]


def test_what_an_exec_leaves_in_its_group_ends_with_it(run):
    recs, out, _ = run.sh("sleep 1000 > /dev/null 2>&1 & echo $!")
    assert recs[-1] == {"exited": {"code": 0}}
    wait_for(lambda: not alive(run, [int(out.split()[0])]), "a leftover of the exec lives on")


def test_agent_exit_ends_every_exec(pincer):
    r = Run(pincer, policy=exec_policy(pincer),
            script="echo ready; while [ ! -e /tmp/stop ]; do sleep 0.05; done; exit 3")
    try:
        ex = r.exec(["sleep", "1000"])
        assert "started" in ex.record()
        recs, _, _ = r.sh("touch /tmp/stop; sleep 1000")
        assert recs[-1] == {"exited": {"signal": 9}}, recs
        assert ex.record() == {"exited": {"signal": 9}}
        assert ex.record() is None
        r.p.wait(timeout=TIMEOUT)
        assert r.p.returncode == 3
    finally:
        r.stop()
    ends = [x for x in pincer.records() if x["type"] == "exec" and "signal" in x]
    assert len(ends) == 2 and all(x["signal"] == 9 for x in ends)
    # after the run: no socket, and a new connection finds nothing
    assert not r.sock.exists()


def test_too_many_execs_are_refused(run):
    held = []
    try:
        for _ in range(64):
            ex = run.exec(["sleep", "1000"])
            assert "started" in ex.record()
            held.append(ex)
        ex = run.exec(["true"])
        assert ex.record() == {"error": "too many exec'd processes (64)"}
        held.pop().close()
        # one ended: room for one more once its end is known
        wait_for(lambda: sum("signal" in r for r in run.exec_records()) == 1, "no end")
        recs, _, _ = run.sh("true")
        assert recs[-1] == {"exited": {"code": 0}}
    finally:
        for ex in held:
            ex.close()


@pytest.mark.skipif(not IS_ROOT, reason="reads another user's /proc/PID/fd")
def test_pid1_keeps_nothing_of_an_exec(run):
    pid1 = None
    for task in os.listdir(f"/proc/{run.p.pid}/task"):
        for k in open(f"/proc/{run.p.pid}/task/{task}/children").read().split():
            if open(f"/proc/{k}/comm").read().strip() == "pincer-init":
                pid1 = int(k)
    assert pid1

    def fds():
        return sorted(os.readlink(f"/proc/{pid1}/fd/{fd}") for fd in os.listdir(f"/proc/{pid1}/fd"))

    before = fds()
    assert len(before) <= 5 and not any("signalfd" in t for t in before), before
    for argv in (["true"], ["no-such-program"], ["sh", "-c", "exit 3"]):
        run.exec(argv).finish()
    ex = run.exec(["sleep", "60"])
    assert "started" in ex.record()
    assert fds() == before, "PID 1 holds none of a running exec's descriptors"
    ex.close()
    assert fds() == before


# ---- the socket ------------------------------------------------------------------

def test_socket_is_the_runs_own_and_removed_at_the_end(run):
    st = os.lstat(run.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == run.ident.uid
    run.stop()
    assert not run.sock.exists()


def test_peer_of_another_uid_is_refused(run):
    # as the user's run: root (which passes the 0600 mode) is still refused;
    # as root's run: the socket opened to all, an ordinary user is refused
    if run.ident.mode == "user":
        uid, gid = 0, 0
    else:
        pw = ensure_test_user()
        uid, gid = pw.pw_uid, pw.pw_gid
        os.chmod(run.sock, 0o666)
    s = connect_as(uid, gid, run.sock)
    s.settimeout(TIMEOUT)
    try:
        socket.send_fds(s, [b'{"op": "exec", "argv": ["touch", "ran"]}'], [])
    except OSError:
        pass  # already closed
    assert "only the user the run belongs to" in recv_record(s)["error"]
    assert recv_record(s) is None
    s.close()
    assert not (run.ident.proj / "ran").exists()
    rec = run.exec_records()[-1]
    assert rec["decision"] == "deny" and rec["uid"] == uid and "refused" in rec["reason"]


def test_the_socket_mode_keeps_other_users_out(run):
    if run.ident.mode != "root":
        pytest.skip("root's run: another user exists to try")
    pw = ensure_test_user()
    with pytest.raises(AssertionError, match="PermissionError"):
        connect_as(pw.pw_uid, pw.pw_gid, run.sock)


def test_stale_socket_is_replaced_and_other_files_refused(pincer):
    pol = exec_policy(pincer)
    stale = pincer.work / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(str(stale))
    s.close()  # the file stays, nobody listens
    pincer._own(stale)
    r = pincer.pincer("run", "--control", str(stale), "--policy", str(pol), "--", "true")
    assert r.returncode == 0, r.stderr
    assert not stale.exists()
    plain = pincer.write("plain-file", "keep me\n")
    r = pincer.pincer("run", "--control", str(plain), "--policy", str(pol), "--", "true")
    assert r.returncode == 125 and "not a socket" in r.stderr
    assert plain.read_text() == "keep me\n"


def test_a_long_socket_path_works(pincer):
    deep = pincer.mkdir("d" * 60 + "/" + "e" * 60)
    r = Run.__new__(Run)
    r.ident = pincer
    r.sock = deep / "control.sock"
    assert len(str(r.sock)) > 108
    r.p = pincer.popen("--control", str(r.sock), "--policy", str(exec_policy(pincer)), "--",
                       "/bin/sh", "-c", "echo ready; exec sleep 60", stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert r.p.stdout.readline().strip() == "ready"
        cwd = os.getcwd()
        # a client reaches it through its folder (as the daemon does)
        os.chdir(deep)
        try:
            r.sock = Path("control.sock")
            recs, out, _ = r.sh("echo hi")
        finally:
            os.chdir(cwd)
        assert out == "hi\n" and recs[-1] == {"exited": {"code": 0}}
    finally:
        r.stop()
    assert not (deep / "control.sock").exists()


def test_a_grant_exposing_the_socket_is_refused(pincer):
    # the agent must not reach its own run's socket (it would steer its run)
    sock = pincer.proj / "control.sock"
    r = pincer.pincer("run", "--control", str(sock), "--", "true")
    assert r.returncode == 125 and "pincer's own state" in r.stderr, r.stderr
    assert any(x["type"] == "mount" and x["decision"] == "deny" and "control.sock" in x["reason"]
               for x in pincer.records())
    assert not sock.exists()
