"""End-to-end fixtures: the real pincer binary, run as root and as an
ordinary user.

`pincer` (the fixture) is parametrized over the two identities a test must
pass as: when pytest runs as root, each test runs once as root and once as
the unprivileged user `pincer-test` (created here if missing, through
setpriv); when pytest runs as an ordinary user, only that user.
"""
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PINCER = os.environ.get("PINCER_BIN") or str(REPO / "build" / "pincer")
TEST_USER = "pincer-test"
IS_ROOT = os.geteuid() == 0


def ensure_test_user():
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    # tests run in parallel (pytest -n): another worker may be adding it
    r = subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", TEST_USER],
                       capture_output=True, text=True)
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        raise RuntimeError(f"useradd {TEST_USER} failed: {r.stderr}") from None


class Identity:
    """Runs pincer as one identity, in a work folder that identity owns."""

    def __init__(self, mode):
        self.mode = mode
        if mode == "root" or not IS_ROOT:
            pw = pwd.getpwuid(os.geteuid())
        else:
            pw = ensure_test_user()
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.name = pw.pw_name
        self.home = Path(pw.pw_dir)
        base = Path(tempfile.gettempdir()) / "pincer-e2e"
        base.mkdir(mode=0o755, exist_ok=True)
        os.chmod(base, 0o755)
        self.work = base / f"{mode}-{uuid.uuid4().hex[:10]}"
        self.work.mkdir(mode=0o755)
        self._own(self.work)
        self.audit = self.work / "audit.jsonl"
        # The default policy grants the current folder; the audit log must
        # stay outside it (pincer refuses a grant that exposes its log).
        self.proj = self.mkdir("proj")

    def _own(self, path):
        if IS_ROOT and self.uid != 0:
            os.chown(path, self.uid, self.gid)

    @property
    def prefix(self):
        if IS_ROOT and self.uid != 0:
            return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                    "--clear-groups", "--"]
        return []

    def env(self, extra=None):
        e = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "LANG": "C.UTF-8",
        }
        if not IS_ROOT or self.uid != 0:
            e["XDG_STATE_HOME"] = str(self.work / "state")
        if extra:
            e.update(extra)
        return e

    def mkdir(self, rel, mode=0o755):
        p = self.work / rel
        p.mkdir(parents=True, exist_ok=True, mode=mode)
        for q in [p, *p.parents]:
            if q == self.work:
                break
            self._own(q)
        return p

    def write(self, rel, content, mode=0o644):
        p = self.work / rel
        if p.parent != self.work:
            self.mkdir(str(p.parent.relative_to(self.work)))
        p.write_text(content) if isinstance(content, str) else p.write_bytes(content)
        os.chmod(p, mode)
        self._own(p)
        return p

    def policy(self, text, name="policy.yaml"):
        return self.write(name, text)

    def pincer(self, *args, input=None, timeout=60, cwd=None, env=None, audit=True):
        """Run `pincer ARGS...`; returns CompletedProcess with text output.
        `audit=True` points the log at this identity's work folder."""
        argv = list(args)
        if audit and argv and argv[0] == "run" and "--audit" not in argv:
            argv = ["run", "--audit", str(self.audit)] + argv[1:]
        return subprocess.run(self.prefix + [PINCER] + argv,
                              input=input, capture_output=True, text=True,
                              timeout=timeout, cwd=str(cwd or self.proj),
                              env=self.env(env))

    def popen(self, *args, cwd=None, env=None, **kw):
        """Start `pincer run ARGS...` (with --audit) without waiting."""
        argv = ["run", "--audit", str(self.audit)] + list(args)
        return subprocess.Popen(self.prefix + [PINCER] + argv, cwd=str(cwd or self.proj),
                                env=self.env(env), **kw)

    def records(self, path=None):
        """The audit records written so far, parsed."""
        p = Path(path or self.audit)
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]

    def cleanup(self):
        shutil.rmtree(self.work, ignore_errors=True)


MODES = ["root", "user"] if IS_ROOT else ["user"]
# PINCER_E2E_MODES=root: one identity only (the ASan+UBSan pass of `make
# test`, which looks for memory errors in code both identities share)
if os.environ.get("PINCER_E2E_MODES"):
    MODES = [m for m in MODES if m in os.environ["PINCER_E2E_MODES"].split(",")] or MODES


@pytest.fixture(params=MODES)
def pincer(request):
    """An Identity for each mode: the test runs once as root, once as a user."""
    ident = Identity(request.param)
    yield ident
    ident.cleanup()


@pytest.fixture
def host():
    """An Identity for the current user only (tests of commands that do not
    sandbox anything, such as `pincer policy check`)."""
    ident = Identity("root" if IS_ROOT else "user")
    yield ident
    ident.cleanup()
