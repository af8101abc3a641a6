"""pincer audit: a log written by real runs verifies; any change to it is
caught and blamed on the right record; tail reads and follows it."""
import hashlib
import json
import os
import re
import selectors
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import PINCER

RUNS = 3
# What one `pincer run` writes: its start, a note per hardening layer
# (network, landlock, seccomp), its end.
PER_RUN_TYPES = ["run.start", "sandbox", "sandbox", "sandbox", "run.end"]
PER_RUN = len(PER_RUN_TYPES)


def run_true(ident, n=1):
    for _ in range(n):
        r = ident.pincer("run", "--", "/bin/true")
        assert r.returncode == 0, r.stderr


@pytest.fixture
def log(pincer):
    """A log of RUNS real runs; returns (identity, its bytes)."""
    run_true(pincer, RUNS)
    data = pincer.audit.read_bytes()
    recs = pincer.records()
    assert [r["seq"] for r in recs] == list(range(1, PER_RUN * RUNS + 1))
    assert [r["type"] for r in recs] == PER_RUN_TYPES * RUNS
    return pincer, data


def copy_log(ident, data, name="copy.jsonl", head=True):
    """A copy of the log (and, by default, its head) the identity owns."""
    p = ident.write(name, data, mode=0o600)
    h = ident.work / (name + ".head")
    if head:
        ident.write(name + ".head", (ident.work / "audit.jsonl.head").read_bytes(), mode=0o600)
    elif h.exists():
        h.unlink()
    return p


def verify(ident, path):
    return ident.pincer("audit", "verify", str(path))


def blamed_seq(out):
    """The seq the first line of a failed verify names."""
    m = re.search(r"NOT intact: seq (\d+)", out)
    assert m, out
    return int(m.group(1))


def record_spans(data):
    """(start, end) byte offsets of each record, newline included."""
    spans, start = [], 0
    for i, b in enumerate(data):
        if b == ord("\n"):
            spans.append((start, i + 1))
            start = i + 1
    return spans


def test_intact_log_verifies(log):
    ident, data = log
    r = verify(ident, ident.audit)
    assert r.returncode == 0, r.stdout + r.stderr
    n = PER_RUN * RUNS
    last = ident.records()[-1]["hash"]
    assert f"{n} records, intact (last seq {n}, hash {last[:8]}" in r.stdout
    assert oct(os.stat(ident.audit).st_mode & 0o777) == "0o600"
    assert oct(os.stat(str(ident.audit) + ".head").st_mode & 0o777) == "0o600"
    head = (ident.work / "audit.jsonl.head").read_text()
    assert head == f"{n} {last}\n"
    # The chain, recomputed independently from the documented format.
    prev = "0" * 64
    for line in data.splitlines():
        body, _, rest = line.partition(b',"hash":"')
        assert rest == json.loads(line)["hash"].encode() + b'"}'
        assert json.loads(line)["prev"] == prev
        prev = hashlib.sha256(prev.encode() + body).hexdigest()
        assert json.loads(line)["hash"] == prev
    assert prev == last


def flip_offsets(data, spans):
    """Every byte of the first and the last record (the zero prev, the one
    FILE.head names), every newline, and every 11th byte in between (a
    stride prime to the records' lengths reaches every field of some record;
    each flip is a process, and every byte of every record cost minutes)."""
    offs = set(range(*spans[0])) | set(range(*spans[-1]))
    offs |= {e - 1 for _, e in spans}
    offs |= set(range(0, len(data), 11))
    return sorted(offs)


def test_every_byte_flip_is_caught_and_blamed(log):
    ident, data = log
    spans = record_spans(data)
    assert spans[-1][1] == len(data)
    flips = [0x01, 0x20, 0x04, 0x80]

    def one(off):
        seq = next(i + 1 for i, (s, e) in enumerate(spans) if s <= off < e)
        bad = bytearray(data)
        bad[off] ^= flips[off % len(flips)]
        p = copy_log(ident, bytes(bad), name=f"flip-{off}.jsonl")
        r = verify(ident, p)
        p.unlink()
        (ident.work / (p.name + ".head")).unlink()
        if r.returncode != 1:
            return f"byte {off} (seq {seq}) changed, not caught: {r.stdout}{r.stderr}"
        m = re.search(r"NOT intact: seq (\d+)", r.stdout)
        if not m or int(m.group(1)) != seq:
            return f"byte {off} (seq {seq}) changed, blamed wrongly: {r.stdout}"
        return None

    offsets = flip_offsets(data, spans)
    assert len(offsets) >= len(data) // 11
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        failures = [f for f in pool.map(one, offsets) if f]
    assert not failures, "\n".join(failures[:10])


def test_deleted_record_is_named(log):
    ident, data = log
    spans = record_spans(data)
    s, e = spans[2]  # seq 3
    r = verify(ident, copy_log(ident, data[:s] + data[e:]))
    assert r.returncode == 1
    assert blamed_seq(r.stdout) == 3
    assert "expected seq 3, found 4 (record deleted)" in r.stdout


def test_truncated_mid_line_is_named(log):
    ident, data = log
    spans = record_spans(data)
    s, e = spans[3]  # seq 4
    r = verify(ident, copy_log(ident, data[:s + (e - s) // 2]))
    assert r.returncode == 1
    assert blamed_seq(r.stdout) == 4
    assert "incomplete record" in r.stdout


@pytest.mark.parametrize("cut", [1, 2])
def test_records_removed_from_the_end_are_caught_by_the_head(log, cut):
    ident, data = log
    spans = record_spans(data)
    n = len(spans)
    r = verify(ident, copy_log(ident, data[:spans[n - cut][0]]))
    assert r.returncode == 1, r.stdout
    assert blamed_seq(r.stdout) == n - cut + 1
    assert "missing" in r.stdout and f"the log ends at seq {n - cut}" in r.stdout
    # Without its head the same copy verifies, and says what it cannot see.
    r = verify(ident, copy_log(ident, data[:spans[n - cut][0]], head=False))
    assert r.returncode == 0, r.stdout
    assert "cannot be detected" in r.stdout


def test_later_runs_keep_the_gap_visible(log):
    """Cutting the end and letting pincer write on does not launder it."""
    ident, data = log
    spans = record_spans(data)
    ident.write("audit.jsonl", data[:spans[-2][0]], mode=0o600)
    run_true(ident)
    r = verify(ident, ident.audit)
    assert r.returncode == 1
    assert blamed_seq(r.stdout) == len(spans) - 1


def test_verify_usage_and_errors(host):
    r = host.pincer("audit", "verify", str(host.work / "nope.jsonl"))
    assert r.returncode == 2 and "nope.jsonl" in r.stderr
    r = host.pincer("audit", "verify", "--frob")
    assert r.returncode == 2 and "--help" in r.stderr
    r = host.pincer("audit", "tail", "-n", "lots", str(host.audit))
    assert r.returncode == 2
    r = host.pincer("audit", "bogus")
    assert r.returncode == 2
    r = host.pincer("audit", "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "tail -f" in r.stdout
    r = host.pincer("audit")
    assert r.returncode == 2


def test_default_path(pincer):
    if pincer.uid == 0:
        pytest.skip("root's default log is /var/lib/pincer/audit.jsonl on this host")
    r = pincer.pincer("run", "--", "/bin/true", audit=False)
    assert r.returncode == 0, r.stderr
    default = pincer.work / "state" / "pincer" / "audit.jsonl"
    assert default.exists()
    r = pincer.pincer("audit", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert str(default) in r.stdout and f"{PER_RUN} records, intact" in r.stdout


def test_tail_filters(log):
    ident, data = log
    r = ident.pincer("audit", "tail", "--type", "run.end", str(ident.audit))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == RUNS
    assert all(" run.end " in line and "run.start" not in line for line in lines)
    ends = [rec for rec in ident.records() if rec["type"] == "run.end"]
    assert [int(line.split()[0]) for line in lines] == [rec["seq"] for rec in ends]

    r = ident.pincer("audit", "tail", "-n", "1", "--json", "--type", "run.start",
                     str(ident.audit))
    assert r.returncode == 0
    starts = [rec for rec in ident.records() if rec["type"] == "run.start"]
    assert [json.loads(line) for line in r.stdout.splitlines()] == [starts[-1]]

    run_id = ends[0]["run"]
    r = ident.pincer("audit", "tail", "--run", run_id[:8], "--json", str(ident.audit))
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert [g["type"] for g in got] == PER_RUN_TYPES
    assert all(g["run"] == run_id for g in got)

    r = ident.pincer("audit", "tail", "--decision", "deny", str(ident.audit))
    assert r.returncode == 0 and r.stdout == ""
    r = ident.pincer("audit", "tail", "-n", "all", str(ident.audit))
    assert len(r.stdout.splitlines()) == PER_RUN * RUNS


def read_lines_until(proc, want, timeout):
    """Lines from proc.stdout until `want(lines)` holds or time runs out."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf, lines = b"", []
    deadline = time.monotonic() + timeout
    while not want(lines) and time.monotonic() < deadline:
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *done, buf = buf.split(b"\n")
        lines += [d.decode() for d in done]
    return lines


def test_tail_follow_sees_a_new_run(log):
    ident, data = log
    proc = subprocess.Popen(ident.prefix + [PINCER, "audit", "tail", "-f", "-n", "1",
                                            "--type", "run.end", str(ident.audit)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ident.env(), cwd=str(ident.work))
    try:
        first = read_lines_until(proc, lambda ls: len(ls) >= 1, 10)
        assert len(first) == 1 and f"{PER_RUN * RUNS} " in first[0]
        run_true(ident)
        more = read_lines_until(proc, lambda ls: len(ls) >= 1, 10)
        new_end = ident.records()[-1]
        assert new_end["type"] == "run.end"
        assert len(more) == 1, more
        assert more[0].split()[0] == str(new_end["seq"])
        assert f"run={new_end['run'][:8]}" in more[0]
        assert proc.poll() is None, "tail -f exited"
    finally:
        proc.kill()
        proc.wait(timeout=10)
