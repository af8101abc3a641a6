"""pincer vault: secrets stored encrypted, never taken from argv, never
printed but by get --reveal, every change and reveal audited without the
value; a damaged store, a wrong key or loose permissions are refused with
one clear line and exit 2, and leave the store as it was."""
import os
import struct

import pytest

SECRET = "sk-ant-api03-" + "Zq7" * 20
NEW = "sk-ant-api03-" + "Xw9" * 20


def vault(ident, *args, input=None, env=None):
    e = {"PINCER_VAULT_FILE": str(ident.work / "vault" / "vault.db")}
    if env:
        e.update(env)
    return ident.pincer("vault", *args, "--audit", str(ident.audit), input=input, env=e)


def store(ident):
    return ident.work / "vault" / "vault.db"


def vault_records(ident):
    return [r for r in ident.records() if r["type"] == "vault"]


def no_secret_anywhere(ident, *values):
    for p in ident.work.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for v in values:
                assert v.encode() not in data, f"{v[:8]}... found in {p}"


def test_life_of_a_secret(pincer):
    r = vault(pincer, "set", "anthropic", input=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    assert f"owner {pincer.name}" in r.stdout
    assert (store(pincer).stat().st_mode & 0o777) == 0o600
    key = store(pincer).with_name("vault.db.key")
    assert (key.stat().st_mode & 0o777) == 0o600 and key.stat().st_size == 32
    r = vault(pincer, "set", "github", "--owner", "group:sales", input="ghp_" + "a" * 36)
    assert r.returncode == 0, r.stderr

    r = vault(pincer, "list")
    assert r.returncode == 0, r.stderr
    assert "anthropic" in r.stdout and "group:sales" in r.stdout and pincer.name in r.stdout
    assert SECRET not in r.stdout + r.stderr

    r = vault(pincer, "get", "anthropic")
    assert r.returncode == 2 and "--reveal" in r.stderr and SECRET not in r.stdout
    r = vault(pincer, "get", "anthropic", "--reveal")
    assert r.returncode == 0 and r.stdout == SECRET + "\n"
    r = vault(pincer, "get", "github", "--reveal")  # someone else's: not found
    assert r.returncode == 1 and "no secret github" in r.stderr

    r = vault(pincer, "rotate", "anthropic", "--keep", "5m", input=NEW)
    assert r.returncode == 0, r.stderr
    r = vault(pincer, "get", "anthropic", "--reveal")
    assert r.stdout == NEW + "\n"
    r = vault(pincer, "list")
    assert r.stdout.count("Z") >= 2  # created, rotated, kept-until times shown
    r = vault(pincer, "rotate", "nope", input=NEW)
    assert r.returncode == 1

    r = vault(pincer, "rm", "github", "--owner", "group:sales")
    assert r.returncode == 0, r.stderr
    r = vault(pincer, "rm", "github", "--owner", "group:sales")
    assert r.returncode == 1

    recs = vault_records(pincer)
    assert [(x["action"], x["secret"], x["owner"]) for x in recs] == [
        ("set", "anthropic", pincer.name),
        ("set", "github", "group:sales"),
        ("reveal", "anthropic", pincer.name),
        ("rotate", "anthropic", pincer.name),
        ("reveal", "anthropic", pincer.name),
        ("rm", "github", "group:sales"),
    ]
    assert all(x["decision"] == "allow" for x in recs)
    r = pincer.pincer("audit", "verify", str(pincer.audit))
    assert r.returncode == 0, r.stdout + r.stderr
    no_secret_anywhere(pincer, SECRET, NEW, "ghp_" + "a" * 36)


def test_value_from_file_and_help(pincer):
    f = pincer.write("key.txt", SECRET + "\n", mode=0o600)
    r = vault(pincer, "set", "crm", "--owner", "agent:crm-bot", "--from-file", str(f))
    assert r.returncode == 0, r.stderr
    r = vault(pincer, "get", "crm", "--owner", "agent:crm-bot", "--reveal")
    assert r.stdout == SECRET + "\n"
    r = vault(pincer, "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "pincer vault rotate" in r.stdout
    r = vault(pincer, "set", "x", input="")
    assert r.returncode == 2 and "empty" in r.stderr
    r = vault(pincer, "set", "bad name", input="v")
    assert r.returncode == 2 and "not a secret name" in r.stderr


@pytest.mark.parametrize("argv", [
    ["set", "anthropic", SECRET],
    ["set", "anthropic", "--", SECRET],
    ["set", "anthropic", f"--value={SECRET}"],
    ["rotate", "anthropic", SECRET],
])
def test_secret_on_argv_refused(pincer, argv):
    assert vault(pincer, "set", "anthropic", input="old-value").returncode == 0
    before = store(pincer).read_bytes()
    r = vault(pincer, *argv, input="")
    assert r.returncode == 2
    assert "command line" in r.stderr and "stdin" in r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert store(pincer).read_bytes() == before


def _flip(data, off):
    b = bytearray(data)
    b[off] ^= 0x40
    return bytes(b)


def _swap(data, owner):
    """Swap the sealed values of records aaaa and bbbb (same length)."""
    o = owner.encode()
    tail = struct.pack("<H", len(o)) + o
    a = data.index(b"aaaa" + tail) + 4 + len(tail) + 24
    b = data.index(b"bbbb" + tail) + 4 + len(tail) + 24
    n = 12 + 4 + len(SECRET) + 16
    d = bytearray(data)
    d[a:a + n], d[b:b + n] = data[b:b + n], data[a:a + n]
    return bytes(d)


DAMAGE = ["wrong-key", "flip-0", "flip-12", "flip-30", "flip-50", "flip-mid", "flip-last-30",
          "flip-last", "truncated-half", "truncated-1", "empty", "swapped",
          "store-world-readable", "store-group-readable", "key-world-readable"]


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_store_refused(pincer, damage):
    for name in ("aaaa", "bbbb"):
        assert vault(pincer, "set", name, input=SECRET if name == "aaaa" else NEW).returncode == 0
    st = store(pincer)
    key = st.with_name("vault.db.key")
    good = st.read_bytes()
    env = None
    expect = "restore it from a backup"
    if damage == "wrong-key":
        other = pincer.write("other.key", os.urandom(32), mode=0o600)
        env = {"PINCER_VAULT_KEY_FILE": str(other)}
        expect = "is not the key of vault store"
    elif damage.startswith("flip-"):
        where = damage[5:]
        off = {"mid": len(good) // 2, "last-30": len(good) - 30, "last": len(good) - 1}.get(
            where) if not where.isdigit() else int(where)
        st.write_bytes(_flip(good, off))
        expect = "vault store"
    elif damage == "truncated-half":
        st.write_bytes(good[:len(good) // 2])
        expect = "truncated"
    elif damage == "truncated-1":
        st.write_bytes(good[:-1])
        expect = "truncated"
    elif damage == "empty":
        st.write_bytes(b"")
        expect = "is empty"
    elif damage == "swapped":
        st.write_bytes(_swap(good, pincer.name))
        expect = "moved from another name or owner"
    elif damage == "store-world-readable":
        os.chmod(st, 0o604)
        expect = f"chmod 600 {st}"
    elif damage == "store-group-readable":
        os.chmod(st, 0o640)
        expect = f"chmod 600 {st}"
    elif damage == "key-world-readable":
        os.chmod(key, 0o644)
        expect = f"chmod 600 {key}"
    damaged = st.read_bytes()
    n_audit = len(vault_records(pincer))
    for args, inp in ((["list"], None), (["get", "aaaa", "--reveal"], None),
                      (["set", "cccc"], "value"), (["rotate", "aaaa"], "value"),
                      (["rm", "bbbb"], None)):
        r = vault(pincer, *args, input=inp, env=env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert expect in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert r.stdout == ""
        assert SECRET not in r.stderr and NEW not in r.stderr
        assert st.read_bytes() == damaged, "the store changed"
    assert len(vault_records(pincer)) == n_audit  # nothing changed, nothing revealed
    if damage.endswith("readable"):
        os.chmod(st, 0o600)
        os.chmod(key, 0o600)
    else:
        st.write_bytes(good)
    r = vault(pincer, "get", "aaaa", "--reveal")
    assert r.returncode == 0 and r.stdout == SECRET + "\n", r.stderr


def test_symlinked_store_refused(pincer):
    assert vault(pincer, "set", "aaaa", input=SECRET).returncode == 0
    link = pincer.work / "vault" / "link.db"
    link.symlink_to(store(pincer))
    r = vault(pincer, "list", env={"PINCER_VAULT_FILE": str(link)})
    assert r.returncode == 2 and "symbolic link" in r.stderr


# ---- from the vault's review -------------------------------------------------

def test_no_sandbox_may_see_the_vault(pincer):
    # The store sits inside the folder a run would grant: the run is refused
    # (as for the audit log), and the refusal is recorded.
    where = pincer.proj / ".secrets" / "vault.db"
    env = {"PINCER_VAULT_FILE": str(where)}
    r = vault(pincer, "set", "anthropic", input=SECRET, env={"PINCER_VAULT_FILE": str(where)})
    assert r.returncode == 0, r.stderr
    r = pincer.pincer("run", "--", "cat", ".secrets/vault.db.key", env=env)
    assert r.returncode == 125, r.stdout + r.stderr
    assert "vault.db" in r.stderr and "would expose" in r.stderr
    assert r.stdout == ""
    refused = [x for x in pincer.records() if x["type"] == "mount" and x["decision"] == "deny"]
    assert refused and "vault.db" in refused[-1]["reason"]


def test_rotate_keep_zero_and_bounds(pincer):
    assert vault(pincer, "set", "k", input=SECRET).returncode == 0
    r = vault(pincer, "rotate", "k", "--keep", "0", input=NEW)
    assert r.returncode == 0, r.stderr
    r = vault(pincer, "rotate", "k", "--keep", "30d", input=SECRET)
    assert r.returncode == 2 and "longer than 7 days" in r.stderr
    r = vault(pincer, "get", "k", "--reveal")
    assert r.stdout == NEW + "\n"


def test_a_slow_writer_does_not_lock_others_out(pincer, tmp_path):
    # the value is read before the store is opened: a writer waiting on its
    # input holds no lock
    assert vault(pincer, "set", "k", input=SECRET).returncode == 0
    fifo = pincer.work / "value.fifo"
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    import subprocess
    e = pincer.env({"PINCER_VAULT_FILE": str(store(pincer))})
    slow = subprocess.Popen(pincer.prefix + [__import__("conftest").PINCER, "vault", "set", "late",
                                             "--from-file", str(fifo), "--audit",
                                             str(pincer.audit)], env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        r = vault(pincer, "list")
        assert r.returncode == 0 and "k" in r.stdout, r.stderr
    finally:
        with open(fifo, "w") as f:
            f.write(NEW)
        slow.communicate(timeout=20)
    assert slow.returncode == 0
