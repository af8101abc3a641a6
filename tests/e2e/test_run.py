"""pincer run: the sandbox core, end to end, as root and as an ordinary user.

Every test starts the real binary on a real policy and looks from inside
(what the agent can see and do) and from outside (host files, audit log).
"""
import os
import signal
import subprocess
import time

import pytest

POLICY_HEAD = "version: 1\nname: {name}\n"


def sh(ident, script, *extra, policy=None, **kw):
    args = ["run"]
    if policy:
        args += ["--policy", str(policy)]
    args += list(extra) + ["--", "/bin/sh", "-c", script]
    return ident.pincer(*args, **kw)


# ---- exit status -----------------------------------------------------------

@pytest.mark.parametrize("script,status", [
    ("exit 0", 0),
    ("exit 7", 7),
    ("exit 255", 255),
    ("kill -TERM $$", 128 + signal.SIGTERM),
    ("kill -KILL $$", 128 + signal.SIGKILL),
])
def test_exit_status_comes_back(pincer, script, status):
    r = sh(pincer, script)
    assert r.returncode == status, r.stderr


def test_missing_command_is_127_and_not_executable_is_126(pincer):
    r = pincer.pincer("run", "--", "no-such-program-xyz")
    assert r.returncode == 127
    assert "cannot run 'no-such-program-xyz'" in r.stderr
    pincer.write("proj/notexec.sh", "#!/bin/sh\necho hi\n", mode=0o644)
    r = pincer.pincer("run", "--", "./notexec.sh")
    assert r.returncode == 126, r.stderr


def test_run_records_start_and_end_in_audit(pincer):
    r = sh(pincer, "exit 3")
    assert r.returncode == 3
    recs = pincer.records()
    start = [x for x in recs if x["type"] == "run.start"]
    end = [x for x in recs if x["type"] == "run.end"]
    assert len(start) == 1 and len(end) == 1
    assert start[0]["policy"] == "default"
    assert len(start[0]["policy_sha256"]) == 64
    assert "/bin/sh -c 'exit 3'" in start[0]["command"]
    assert end[0]["run"] == start[0]["run"]
    assert end[0]["exit"] == 3 and "exited with 3" in end[0]["reason"]
    r = pincer.pincer("audit", "verify", str(pincer.audit))
    assert r.returncode == 0, r.stdout + r.stderr


# ---- who the agent is, what it sees of processes ---------------------------

def test_agent_is_uid_1000_and_never_host_root(pincer):
    r = sh(pincer, "id -u; id -g; id -un; cat /proc/self/uid_map")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0:3] == ["1000", "1000", "agent"]
    inside, outside, count = lines[3].split()
    assert (inside, count) == ("1000", "1")
    if pincer.mode == "root":
        assert int(outside) >= 0x70000000, "as root the agent gets a fresh unused uid"
    else:
        assert int(outside) == pincer.uid


def test_no_capabilities_and_no_new_privs(pincer):
    r = sh(pincer, "grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status")
    fields = dict(line.split(":\t") for line in r.stdout.strip().split("\n"))
    assert fields["CapEff"] == fields["CapPrm"] == fields["CapBnd"] == "0" * 16
    assert fields["NoNewPrivs"] == "1"


def test_sees_itself_as_child_of_pid1_and_no_host_process(pincer):
    r = sh(pincer, "echo $$ $PPID; cat /proc/1/comm; ls /proc | grep -E '^[0-9]+$' | sort -n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[1] == "1", "the agent's parent is the sandbox's PID 1"
    assert lines[2] == "pincer-init"
    pids = [int(p) for p in lines[3:]]
    assert max(pids) < 10, f"only the sandbox's own processes are visible: {pids}"
    assert os.getpid() not in pids or os.getpid() < 10


def test_pid1_reaps_orphans(pincer):
    # Orphans reparented to PID 1 must not stay zombies.
    r = sh(pincer, "for i in 1 2 3 4 5; do (sleep 0.05 &) ; done; sleep 0.5; "
                   "grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"


def test_hostname_is_the_policy_one(pincer):
    pol = pincer.policy(POLICY_HEAD.format(name="h") +
                        "sandbox:\n  hostname: box-7\n"
                        f"filesystem:\n  read_write: [{pincer.proj}]\n")
    r = sh(pincer, "hostname; cat /etc/hostname", policy=pol)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["box-7", "box-7"]


# ---- the filesystem --------------------------------------------------------

def test_host_secrets_are_not_visible(pincer):
    r = sh(pincer, "for p in /root /etc/shadow /etc/sudoers /var /run /sys /boot; do "
                   "if [ -e $p ]; then echo VISIBLE $p; fi; done; "
                   "cat /etc/shadow 2>&1; ls /root 2>&1; echo home: $(ls -A /home)")
    assert "VISIBLE" not in r.stdout, r.stdout
    assert "No such file" in r.stdout
    assert "home: agent\n" in r.stdout, "only the agent's own (empty) home"


def test_home_secrets_masked_even_when_home_is_granted(pincer):
    home = pincer.mkdir("home")
    pincer.write("home/.ssh/id_rsa", "PRIVATE-KEY-BYTES\n", mode=0o600)
    pincer.write("home/.aws/credentials", "AWS-SECRET\n", mode=0o600)
    pincer.write("home/notes.txt", "ordinary\n")
    # Default policy, started in the home folder: ~ is granted, secrets not.
    r = sh(pincer, f"cat {home}/notes.txt; cat {home}/.ssh/id_rsa; "
                   f"cat {home}/.aws/credentials; ls -A {home}/.ssh; echo end",
           cwd=home, env={"HOME": str(home)})
    assert r.returncode == 0, r.stderr
    assert "ordinary" in r.stdout
    assert "PRIVATE-KEY-BYTES" not in r.stdout and "AWS-SECRET" not in r.stdout
    assert "Permission denied" in r.stderr


def test_paths_outside_the_policy_are_invisible(pincer):
    pincer.write("outside/secret.txt", "OUTSIDE-SECRET\n")
    r = sh(pincer, f"cat {pincer.work}/outside/secret.txt; ls -A {pincer.work}")
    assert "OUTSIDE-SECRET" not in r.stdout
    assert "No such file" in r.stderr
    # Of the work folder only the granted project's path exists inside.
    assert r.stdout.split() == ["proj"]


def test_granted_folders_exactly(pincer):
    ro = pincer.mkdir("ro")
    rw = pincer.mkdir("rw")
    pincer.write("ro/data.txt", "read me\n")
    pincer.write("rw/old.txt", "old\n")
    pol = pincer.policy(POLICY_HEAD.format(name="grants") +
                        f"filesystem:\n  read_only: [{ro}]\n  read_write: [{rw}]\n")
    r = sh(pincer,
           f"cat {ro}/data.txt && echo new > {rw}/new.txt && echo more >> {rw}/old.txt && "
           f"mkdir {rw}/sub && echo ok-rw; "
           f"touch {ro}/x 2>&1; echo x > {ro}/data.txt 2>&1; touch /newfile 2>&1; "
           f"touch /usr/x 2>&1; true",
           policy=pol, cwd=rw)
    assert r.returncode == 0, r.stderr
    assert "read me" in r.stdout and "ok-rw" in r.stdout
    assert (r.stdout + r.stderr).count("Read-only file system") == 4, r.stdout + r.stderr
    assert (rw / "new.txt").read_text() == "new\n"
    assert (rw / "old.txt").read_text() == "old\nmore\n"
    assert (ro / "data.txt").read_text() == "read me\n"
    assert not (ro / "x").exists()
    # What the agent writes belongs to the folder's owner on the host.
    assert os.stat(rw / "new.txt").st_uid == pincer.uid
    assert os.stat(rw / "sub").st_uid == pincer.uid


def test_agent_owns_its_granted_folder_inside(pincer):
    r = sh(pincer, "stat -c '%u %U' .")
    assert r.stdout.strip() == "1000 agent", r.stdout + r.stderr


def test_deny_glob_masks_inside_a_granted_folder(pincer):
    rw = pincer.mkdir("rw")
    pincer.write("rw/app/.env", "DB_PASSWORD=hunter2\n")
    pincer.write("rw/app/main.py", "print('hi')\n")
    pincer.mkdir("rw/app/secrets")
    pincer.write("rw/app/secrets/token", "TOKEN-123\n")
    pol = pincer.policy(POLICY_HEAD.format(name="deny") +
                        f"filesystem:\n  read_write: [{rw}]\n"
                        f"  deny: ['**/.env', '{rw}/app/secrets']\n")
    r = sh(pincer, f"cat {rw}/app/main.py; cat {rw}/app/.env; ls {rw}/app/secrets; "
                   f"cat {rw}/app/secrets/token; echo x > {rw}/app/.env; echo end",
           policy=pol, cwd=rw)
    assert "print('hi')" in r.stdout
    assert "hunter2" not in r.stdout and "TOKEN-123" not in r.stdout
    assert (rw / "app/.env").read_text() == "DB_PASSWORD=hunter2\n", "mask is read-only"


def test_scratch_is_private_limited_and_gone_after_exit(pincer):
    pol = pincer.policy(POLICY_HEAD.format(name="scratch") +
                        f"filesystem:\n  read_write: [{pincer.proj}]\n"
                        "  scratch: { path: /tmp, size: 8M }\n")
    marker = f"pincer-scratch-{os.getpid()}-{pincer.mode}"
    r = sh(pincer, f"echo hi > /tmp/{marker} && ls /tmp/{marker} && "
                   "dd if=/dev/zero of=/tmp/big bs=1M count=20 2>&1; ls /tmp", policy=pol)
    assert marker in r.stdout
    assert "No space left on device" in r.stdout
    assert not os.path.exists(f"/tmp/{marker}"), "scratch never touches the host /tmp"
    r = sh(pincer, f"ls -A /tmp", policy=pol)
    # Only the path down to the granted project (itself under /tmp) remains.
    assert r.stdout.split() == ["pincer-e2e"], "the next run starts with an empty scratch"


def test_dev_is_minimal_with_private_devpts(pincer):
    r = sh(pincer, "ls /dev | sort | tr '\\n' ' '; echo; ls /dev/pts | tr '\\n' ' '; "
                   "head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok")
    assert r.returncode == 0, r.stderr
    listing = r.stdout.split("\n")[0].split()
    assert set(listing) <= {"null", "zero", "full", "random", "urandom", "tty", "pts",
                            "ptmx", "shm", "fd", "stdin", "stdout", "stderr"}, listing
    assert "sda" not in listing and "vda" not in listing and "kmsg" not in listing
    assert "null-ok" in r.stdout


def test_generated_etc_files(pincer):
    r = sh(pincer, "cat /etc/passwd; cat /etc/group; cat /etc/hosts")
    assert "agent:x:1000:1000" in r.stdout
    assert "agent:x:1000:" in r.stdout
    assert "127.0.0.1\tlocalhost" in r.stdout
    assert "root:x:0:0" in r.stdout and "cloudsdk" not in r.stdout


def test_starts_in_the_current_folder(pincer):
    r = sh(pincer, "pwd")
    assert r.stdout.strip() == str(pincer.proj)


# ---- network ---------------------------------------------------------------

def test_network_namespace_has_only_lo_up(pincer):
    # lo is up: a UDP datagram to ourselves arrives (TCP bind is Landlock's
    # to refuse). Nothing else exists: a datagram to anywhere else is
    # delivered inside (the local default route) to no socket.
    r = sh(pincer, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; "
                   "python3 -c \"import socket; s=socket.socket(type=socket.SOCK_DGRAM); "
                   "s.bind(('127.0.0.1',0)); c=socket.socket(type=socket.SOCK_DGRAM); "
                   "c.sendto(b'ping', s.getsockname()); print(s.recv(9).decode())\"; "
                   "python3 -c \"import socket; c=socket.socket(type=socket.SOCK_DGRAM); "
                   "c.connect(('1.1.1.1', 53)); c.send(b'x'); c.settimeout(2); c.recv(9)\" "
                   "2>&1 | tail -1")
    lines = r.stdout.strip().split("\n")
    assert lines[0] == "lo", lines
    assert "ping" in lines
    assert "Connection refused" in lines[-1]


# ---- environment -----------------------------------------------------------

def test_environment_is_clean_and_policy_defined(pincer):
    pol = pincer.policy(POLICY_HEAD.format(name="env") +
                        f"filesystem:\n  read_write: [{pincer.proj}]\n"
                        "process:\n  env: { GREETING: hello, LANG: en_US.UTF-8 }\n")
    r = pincer.pincer("run", "--policy", str(pol), "--setenv", "EXTRA=1", "-e", "GREETING=hi",
                      "--", "/usr/bin/env", env={"HOST_SECRET": "leak-me", "AWS_KEY": "x"})
    assert r.returncode == 0, r.stderr
    env = dict(line.split("=", 1) for line in r.stdout.strip().split("\n"))
    assert "HOST_SECRET" not in env and "AWS_KEY" not in env
    assert env["GREETING"] == "hi", "--setenv wins over the policy"
    assert env["EXTRA"] == "1" and env["LANG"] == "en_US.UTF-8"
    assert env["HOME"] == "/home/agent" and env["USER"] == "agent"


def test_home_is_writable_private_and_empty(pincer):
    r = sh(pincer, "ls -A ~; echo x > ~/.cache-test && cat ~/.cache-test")
    assert r.stdout.strip() == "x", r.stdout + r.stderr


def test_bad_setenv_is_a_usage_error(pincer):
    r = pincer.pincer("run", "--setenv", "1BAD=x", "--", "true")
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr


# ---- signals and lifetime --------------------------------------------------

def test_signals_are_forwarded_to_the_agent(pincer):
    for sig, code in [(signal.SIGTERM, 42), (signal.SIGINT, 43), (signal.SIGUSR1, 44)]:
        name = signal.Signals(sig).name[3:]
        p = pincer.popen("/bin/sh", "-c",
                         f"trap 'echo got-{name}; exit {code}' {name}; echo ready; "
                         "while :; do sleep 0.05; done",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        p.send_signal(sig)
        out, err = p.communicate(timeout=20)
        assert p.returncode == code, (name, out, err)
        assert f"got-{name}" in out


def test_sighup_reloads_instead_of_reaching_the_agent(pincer):
    # SIGHUP is pincer's: it re-reads the policy (here the built-in default,
    # which has no file: recorded as skipped); the agent never sees it.
    p = pincer.popen("/bin/sh", "-c",
                     "trap 'echo got-HUP; exit 44' HUP; echo ready; read line; echo done",
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not any(r["type"] == "policy" for r in pincer.records()):
        assert time.monotonic() < deadline, "no policy record after SIGHUP"
        time.sleep(0.05)
    out, err = p.communicate("go\n", timeout=20)
    assert p.returncode == 0, (out, err)
    assert "got-HUP" not in out and "done" in out
    rec = [r for r in pincer.records() if r["type"] == "policy"][-1]
    assert "reload skipped" in rec["reason"]


def test_sandbox_dies_with_pincers_parent(pincer):
    marker = pincer.proj / "alive"
    # A shell starts pincer, then is killed: pincer and its sandbox must go.
    script = (f"{' '.join(pincer.prefix)} {__import__('conftest').PINCER} run --audit "
              f"{pincer.audit} -- /bin/sh -c 'while :; do date +%s%N > {marker}; "
              "sleep 0.05; done' & echo $!; wait")
    outer = subprocess.Popen(["/bin/sh", "-c", script], cwd=str(pincer.proj),
                             env=pincer.env(), stdout=subprocess.PIPE, text=True)
    pid = int(outer.stdout.readline())
    deadline = time.time() + 10
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    outer.kill()
    outer.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
            time.sleep(0.05)
        except ProcessLookupError:
            break
    else:
        pytest.fail("pincer outlived its parent")
    before = marker.read_text()
    time.sleep(0.4)
    assert marker.read_text() == before, "the sandboxed loop still runs"
    end = [x for x in pincer.records() if x["type"] == "run.end"]
    assert end and "parent died" in end[-1]["reason"]


# ---- refusals ----------------------------------------------------------------

def test_default_policy_refuses_root_and_system_folders(pincer):
    for cwd in ["/", "/etc", "/usr/lib"]:
        r = pincer.pincer("run", "--", "true", cwd=cwd)
        assert r.returncode == 2, (cwd, r.stderr)
        assert "--policy" in r.stderr or "project folder" in r.stderr


def test_grant_exposing_the_audit_log_is_refused_and_recorded(pincer):
    r = pincer.pincer("run", "--", "true", cwd=pincer.work)
    assert r.returncode == 125
    assert "pincer's own state" in r.stderr
    recs = pincer.records()
    assert any(x["type"] == "mount" and x["decision"] == "deny" and
               "pincer's own state" in x["reason"] for x in recs)


def test_symlink_grant_into_denied_path_is_refused_and_recorded(pincer):
    home = pincer.mkdir("home")
    pincer.write("home/.ssh/id_rsa", "KEY\n", mode=0o600)
    os.symlink(home / ".ssh", pincer.proj / "innocent")
    pol = pincer.policy(POLICY_HEAD.format(name="link") +
                        f"filesystem:\n  read_only: [{pincer.proj}/innocent]\n")
    r = sh(pincer, "cat innocent/id_rsa", policy=pol, env={"HOME": str(home)})
    assert r.returncode == 125, r.stdout + r.stderr
    assert "KEY" not in r.stdout
    assert "denies" in r.stderr
    assert any(x["type"] == "mount" and x["decision"] == "deny" and "~/.ssh" in x["reason"]
               for x in pincer.records())


# ---- what crosses into the sandbox --------------------------------------------

def test_only_stdio_is_inherited(pincer):
    # pincer is started holding an extra open file; the agent must not get it.
    secret = pincer.write("held-open.txt", "HELD-OPEN-SECRET\n")
    fd = os.open(secret, os.O_RDONLY)
    try:
        p = pincer.popen("/bin/sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; "
                         f"cat /proc/self/fd/{fd} 2>&1; cat /proc/1/fd/{fd} 2>&1; true",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         pass_fds=(fd,))
        out, err = p.communicate(timeout=30)
    finally:
        os.close(fd)
    assert p.returncode == 0, err
    # 0 1 2, plus the one ls opens to read the directory
    assert out.split("\n")[0].split() == ["0", "1", "2", "3"], out
    assert "HELD-OPEN-SECRET" not in out


def test_each_layer_is_recorded(pincer):
    r = sh(pincer, "true")
    assert r.returncode == 0, r.stderr
    notes = [x["reason"] for x in pincer.records() if x["type"] == "sandbox"]
    assert any(n.startswith("seccomp: deny-list loaded") for n in notes), notes
    assert any(n.startswith("landlock: ABI") for n in notes), notes


def test_limits_without_cgroups_fall_back_and_say_so(pincer):
    pol = pincer.policy(POLICY_HEAD.format(name="lim") +
                        f"filesystem:\n  read_write: [{pincer.proj}]\n"
                        "process:\n  limits: { pids: 16, memory: 128M }\n")
    r = sh(pincer, "for i in $(seq 1 30); do sleep 1 & done 2>&1 | tail -1", policy=pol)
    assert "fork" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    notes = [x["reason"] for x in pincer.records() if x["type"] == "sandbox"]
    if pincer.mode == "root":
        assert any(n.startswith("cgroup: ") for n in notes), notes
    else:
        assert any("cgroups not available" in n and "rlimits" in n for n in notes), notes
        assert "cgroups not available" in r.stderr


# ---- attacks found in review: each must fail, and say so --------------------

def test_no_setuid_or_setgid_files_in_a_granted_folder(pincer):
    # As root a writable grant is idmapped to its owner: a setuid bit set
    # inside would be a setuid-root program on the host.
    r = sh(pincer, "cp /bin/true t && chmod 4755 t; echo chmod=$?; chmod g+s t; echo g=$?; "
                   "python3 -c \"import os; os.open('u', os.O_CREAT|os.O_WRONLY, 0o4755)\" "
                   "2>&1 | tail -1; chmod 0755 t && echo plain-ok")
    assert "chmod=1" in r.stdout and "g=1" in r.stdout, r.stdout + r.stderr
    assert "Operation not permitted" in r.stdout and "plain-ok" in r.stdout
    for name in ("t", "u"):
        p = pincer.proj / name
        if p.exists():
            assert not p.stat().st_mode & 0o6000, f"{name} is setuid/setgid on the host"


@pytest.mark.parametrize("writable", [True, False])
def test_grant_through_a_link_to_a_system_dir_is_refused(pincer, writable):
    os.symlink("/etc", pincer.proj / "cfg")
    key = "read_write" if writable else "read_only"
    pol = pincer.policy(POLICY_HEAD.format(name="sys") +
                        f"filesystem:\n  {key}: [{pincer.proj}/cfg]\n")
    r = sh(pincer, "cat cfg/shadow", policy=pol)
    assert r.returncode == 125 and "system directory" in r.stderr, r.stderr
    assert any(x["type"] == "mount" and x["decision"] == "deny" and
               "system directory" in x["reason"] for x in pincer.records())


def test_denied_names_that_are_links_hide_their_targets(pincer):
    home = pincer.mkdir("home")
    pincer.write("home/dotfiles/ssh/id_ed25519", "SECRET-KEY\n", mode=0o600)
    os.symlink("dotfiles/ssh", home / ".ssh")
    pincer.write("home/proj/.env.real", "TOKEN=abc\n")
    os.symlink(".env.real", home / "proj/.env")
    os.symlink(home, pincer.work / "alias")  # the same folder under another name
    pol = pincer.policy(POLICY_HEAD.format(name="links") +
                        f"filesystem:\n  read_write: [{home}]\n"
                        f"  read_only: [{pincer.work}/alias]\n"
                        f"  deny: ['{home}/.ssh', '**/.env']\n")
    r = sh(pincer, f"cat {home}/.ssh/id_ed25519 proj/.env {pincer.work}/alias/.ssh/id_ed25519 "
                   f"{pincer.work}/alias/dotfiles/ssh/id_ed25519 {pincer.work}/alias/proj/.env; "
                   "echo end", policy=pol, cwd=home)
    assert "SECRET-KEY" not in r.stdout and "TOKEN=abc" not in r.stdout, r.stdout
    assert r.stderr.count("Permission denied") == 5, r.stderr


def test_audit_log_inside_the_project_is_refused_whatever_its_spelling(pincer):
    r = pincer.pincer("run", "--audit", "audit.jsonl", "--", "/bin/sh", "-c",
                      "echo forged >> audit.jsonl", audit=False)
    assert r.returncode == 125 and "pincer's own state" in r.stderr
    r = pincer.pincer("run", "--audit", "../proj/./audit2.jsonl", "--", "true", audit=False)
    assert r.returncode == 125 and "pincer's own state" in r.stderr


def test_redirected_stdin_is_not_read_by_the_terminal_relay(pincer):
    # stdout is a terminal, stdin a pipe: every line must reach the agent.
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(pincer.proj)
        cmd = (f"seq 1 20000 | {' '.join(pincer.prefix)} {__import__('conftest').PINCER} "
               f"run --audit {pincer.audit} -- sh -c 'sleep 0.3; wc -l; echo ERR >&2' "
               f"2>{pincer.work}/err.txt")
        os.execvpe("/bin/sh", ["/bin/sh", "-c", cmd], pincer.env())
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    assert b"20000" in out, out
    assert b"ERR" not in out, "stderr went to a file, not to the terminal"


@pytest.mark.skipif(os.geteuid() != 0, reason="reads another user's /proc/PID/fd")
def test_pid1_holds_nothing_of_pincers(pincer):
    p = pincer.popen("/bin/sleep", "5", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid1 = None
        deadline = time.time() + 10
        while pid1 is None and time.time() < deadline:
            # pincer may run under setpriv (same pid, exec'd); its child is PID 1
            for task in os.listdir(f"/proc/{p.pid}/task"):
                kids = open(f"/proc/{p.pid}/task/{task}/children").read().split()
                for k in kids:
                    if open(f"/proc/{k}/comm").read().strip() == "pincer-init":
                        pid1 = int(k)
            time.sleep(0.05)
        assert pid1, "no PID 1 found"
        targets = [os.readlink(f"/proc/{pid1}/fd/{fd}") for fd in os.listdir(f"/proc/{pid1}/fd")]
        assert not any("audit" in t for t in targets), targets
        assert not any(t.startswith("anon_inode:[signalfd]") for t in targets), targets
        assert len(targets) <= 5, targets
    finally:
        p.kill()
        p.wait()
