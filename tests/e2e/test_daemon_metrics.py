"""pincer daemon's /metrics and pincer top: each agent's egress by host and
decision, bytes, the gate's latency, audit records and OOM kills, end to
end.

A real daemon (test_daemon.Daemon) runs agents whose gate talks to a real
upstream on 127.0.0.1 (upstreams.HttpUpstream). The agent's run counts into
STATE/agents/NAME/stats (gate/stats.h); the daemon reads it on every
/metrics. The text is checked with a strict parser of the Prometheus text
format: a metric family once, declared before its samples, no series twice,
label values with only the format's escapes.
"""
import os
import re
import signal
import socket
import stat
import struct
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import upstreams as up
from conftest import IS_ROOT, PINCER, TEST_USER, Identity
from test_daemon import Daemon, api, api_as, sh, wait_for

PROXY = "-x http://127.0.0.1:3128 --noproxy ''"


# ---- the Prometheus text format, strictly ---------------------------------------

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def parse_labels(text):
    """'a="x",b="y\\"z"' -> {"a": "x", "b": 'y"z'}; AssertionError on
    anything the format does not allow."""
    labels, i = {}, 0
    while i < len(text):
        m = LABEL_NAME.match(text, i)
        assert m and text[m.end():m.end() + 2] == '="', f"bad label at {i}: {text!r}"
        name, i = m.group(0), m.end() + 2
        value = []
        while True:
            assert i < len(text), f"unterminated value: {text!r}"
            c = text[i]
            if c == "\\":
                esc = text[i + 1:i + 2]
                assert esc in ("\\", '"', "n"), f"bad escape \\{esc} in {text!r}"
                value.append("\n" if esc == "n" else esc)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                assert c != "\n"
                value.append(c)
                i += 1
        assert name not in labels, f"label {name} twice: {text!r}"
        labels[name] = "".join(value)
        if i < len(text):
            assert text[i] == ",", f"expected ',' at {i}: {text!r}"
            i += 1
    return labels


def parse_metrics(text):
    """{(name, ((label, value), ...)): float}, checking the format."""
    assert text.endswith("\n"), text[-200:]
    types, seen_families, samples = {}, [], {}
    current = None
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, f"family {name} declared twice"
            assert kind in ("counter", "gauge", "histogram"), line
            types[name] = kind
            current = name
            seen_families.append(name)
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.group(1), parse_labels(m.group(2) or ""), float(m.group(3))
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family == current, f"{name} outside its family's group ({current})"
        key = (name, tuple(sorted(labels.items())))
        assert key not in samples, f"series twice: {key}"
        samples[key] = value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def series(samples, name, **labels):
    """The samples of name whose labels include these, as {labels: value}."""
    out = {}
    for (n, lab), v in samples.items():
        d = dict(lab)
        if n == name and all(d.get(k) == x for k, x in labels.items()):
            out[lab] = v
    return out


def metrics(d, ident=None):
    status, text = api_as(ident or d.ident, d.socket, "GET", "/metrics")
    assert status == 200, text
    return parse_metrics(text)


def check_histogram(samples, agent):
    """Buckets cumulative in le order, +Inf equal to _count; returns count."""
    buckets = series(samples, "pincer_gate_latency_seconds_bucket", agent=agent)
    les = sorted(((float(dict(k)["le"]), v) for k, v in buckets.items()))
    assert les and les[-1][0] == float("inf"), buckets
    assert [x for x, _ in les][:2] == [0.0001, 0.00025] and 1.0 in [x for x, _ in les]
    counts = [v for _, v in les]
    assert counts == sorted(counts), f"not cumulative: {les}"
    count = value(samples, "pincer_gate_latency_seconds_count", agent=agent)
    assert counts[-1] == count, (les, count)
    assert value(samples, "pincer_gate_latency_seconds_sum", agent=agent) >= 0
    return count


# ---- a daemon with --metrics ------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class MetricsDaemon(Daemon):
    """A Daemon started with extra arguments (--metrics ADDR:PORT)."""

    def __init__(self, ident, extra=(), **kw):
        super().__init__(ident, **kw)
        self.extra = list(extra)

    def start(self):
        self.runs += 1
        errf = self.dir / f"daemon-stderr-{self.runs}.log"
        self.stderr_files.append(errf)
        with open(errf, "wb") as err:
            self.proc = subprocess.Popen(
                self.ident.prefix + [PINCER, "daemon", "--socket", str(self.socket),
                                     "--state", str(self.state), "--config",
                                     str(self.config), "--audit", str(self.audit)]
                + self.extra,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                cwd=str(self.ident.proj), env=self.ident.env())

        def up_():
            if self.proc.poll() is not None:
                pytest.fail(f"the daemon exited with {self.proc.returncode}:\n"
                            + errf.read_text(errors="replace"))
            return self.cli("ls").returncode == 0
        wait_for(up_, timeout=30, what="the daemon's socket")
        return self


@pytest.fixture
def daemon(pincer):
    d = Daemon(pincer).start()
    yield d
    d.cleanup()


@pytest.fixture(scope="module")
def web():
    u = up.HttpUpstream("web")
    yield u
    u.stop()


def egress_policy(d, port, name="egress.yaml"):
    return d.ident.write(name, "version: 1\nname: agent\n"
                         f"filesystem:\n  read_write: [{d.ident.proj}]\n"
                         "network:\n  egress:\n    allow_private: [127.0.0.1/32]\n"
                         f"    allow:\n      - host: 127.0.0.1\n        ports: [{port}]\n")


# A request whose target holds a quote and a backslash: the gate refuses
# it (a host name is letters, digits, '-', '_', '.'), and counts it.
HOSTILE = (r'''python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", 3128)); '''
           r'''s.sendall(b"GET http://a\x22b\x5cc/ HTTP/1.1\r\nHost: x\r\n\r\n"); s.recv(999)' ''')


def worker(proj, port):
    """The first run: 3 allowed requests, 2 denied, 1 malformed, then idle;
    any later run only idles."""
    return sh(f"if [ -e {proj}/ran ]; then exec sleep 600; fi; touch {proj}/ran; "
              f"for i in 1 2 3; do curl -sS -o /dev/null --max-time 20 {PROXY} "
              f"http://127.0.0.1:{port}/ok$i; done; "
              f"for i in 1 2; do curl -s -o /dev/null --max-time 20 {PROXY} "
              f"http://denied.test/x; done; "
              f"{HOSTILE}; touch {proj}/done; exec sleep 600")


def run_records(d, agent):
    """The audit records of the agent's latest run."""
    recs = d.records()
    starts = [r for r in recs if r["type"] == "run.start" and r["agent"] == agent]
    assert starts, "no run.start"
    return [r for r in recs if r["run"] == starts[-1]["run"]]  # run.start first


# ---- the tests ------------------------------------------------------------------------

def test_egress_counted_by_host_and_decision_and_kept_across_daemon_restarts(daemon, web):
    d, a = daemon, "worker"
    proj = d.ident.proj
    web.clear()
    pol = egress_policy(d, web.port)
    assert d.create(a, *worker(proj, web.port), policy=pol).returncode == 0
    wait_for(lambda: (proj / "done").exists(), 60, "the agent's requests")
    assert sorted(web.paths()) == ["/ok1", "/ok2", "/ok3"]

    def settled(not_run=None):
        # the gate's close records come when curl's connections end
        recs = run_records(d, a)
        if recs[0]["run"] == not_run:
            return None
        m = metrics(d)
        n = value(m, "pincer_audit_records_total", agent=a)
        return m if n == len(run_records(d, a)) else None
    m = wait_for(settled, 30, "the audit count to match the log")
    first_run = run_records(d, a)[0]["run"]

    eg = {(dict(k)["host"], dict(k)["decision"]): v
          for k, v in series(m, "pincer_egress_total", agent=a).items()}
    assert eg[("127.0.0.1", "allow")] == 3 and eg[("127.0.0.1", "deny")] == 0, eg
    assert eg[("denied.test", "deny")] == 2 and eg[("denied.test", "allow")] == 0, eg
    assert eg[("-", "deny")] == 1, eg  # the malformed one: no host could be read
    assert set(h for h, _ in eg) == {"127.0.0.1", "denied.test", "-"}, eg
    # the same as the audit log's decisions
    decided = [r for r in run_records(d, a) if r["type"] == "egress" and r["decision"] != "-"]
    assert len(decided) == 6 and sum(eg.values()) == 6, decided
    up_ = value(m, "pincer_egress_bytes_total", agent=a, direction="up")
    down = value(m, "pincer_egress_bytes_total", agent=a, direction="down")
    assert up_ > 0 and down > len("web GET /ok1\n") * 3, (up_, down)
    assert check_histogram(m, a) == 6  # each request: sent on or answered, once

    # pincer top: the totals
    r = d.ident.pincer("top", "--once", "--socket", str(d.socket))
    assert r.returncode == 0, r.stderr
    head, *rows = r.stdout.splitlines()
    assert head.split()[-2:] == ["EGRESS", "DENIED"], head
    row = next(x.split() for x in rows if x.split()[0] == a)
    assert row[-2:] == ["3", "3"], r.stdout

    # the daemon killed and started again adopts the run: its numbers stay
    pid = d.show(a)["pid"]
    d.kill9()
    d.start()
    assert d.show(a)["pid"] == pid
    m2 = metrics(d)
    assert series(m2, "pincer_egress_total", agent=a) == series(m, "pincer_egress_total", agent=a)

    # stopped: the last run's numbers are still shown ...
    assert d.cli("stop", a).returncode == 0
    d.wait_state(a, "stopped")
    wait_for(lambda: d.show(a)["pid"] is None, 30, "the run to end")
    m3 = metrics(d)
    assert value(m3, "pincer_agent_up", agent=a) == 0
    assert value(m3, "pincer_egress_total", agent=a, host="127.0.0.1", decision="allow") == 3
    # ... until it starts again: a new run counts from zero
    assert d.cli("start", a).returncode == 0
    wait_for(lambda: value(metrics(d), "pincer_agent_up", agent=a) == 1, 30, "the new run")
    m4 = wait_for(lambda: settled(not_run=first_run), 30, "the new run's numbers")
    assert value(m4, "pincer_audit_records_total", agent=a) < value(
        m, "pincer_audit_records_total", agent=a)
    assert series(m4, "pincer_egress_total", agent=a) == {}, m4
    assert value(m4, "pincer_egress_bytes_total", agent=a, direction="up") == 0
    assert check_histogram(m4, a) == 0


def write_stats(path, names=(), n_hosts=None, magic=0x3153545352434E50, version=1, size=None,
                counts=(5, 1)):
    """A stats file as gate/stats.h lays it out, with the rows named as
    given (bytes, written as they are: no NUL added when 256 long)."""
    rows = []
    for nm in names:
        raw = nm if isinstance(nm, bytes) else nm.encode()
        rows.append(raw[:256].ljust(256, b"\0") + struct.pack("<QQ", *counts))
    other = b"_other".ljust(256, b"\0") + struct.pack("<QQ", 2, 2)
    full = 64 * 272 + 456
    head = struct.pack("<QII", magic, version, size if size is not None else full)
    head += struct.pack("<QQQQQ", 7, 3, 100, 200, 9)  # allowed denied up down audit
    head += struct.pack("<14Q", *([1] * 14)) + struct.pack("<Q", 123456789)
    head += struct.pack("<II", len(rows) if n_hosts is None else n_hosts, 0)
    data = head + other + b"".join(rows)
    data = data.ljust(full, b"\0")
    path.write_bytes(data)


def test_hostile_and_damaged_stats_files_cannot_break_metrics(host):
    d = Daemon(host).start()
    try:
        assert d.create("s1", *sh("exec sleep 300"), start=False).returncode == 0
        f = d.state / "agents" / "s1" / "stats"
        f.parent.mkdir(parents=True, exist_ok=True)
        evil = 'a"b\\c\nfake_metric{x="1"} 9\n# TYPE fake_metric counter'
        long = b"z" * 256  # no NUL in its field
        write_stats(f, [evil, long, "ok.test", "_other", b"\xff\x01tab\tx", "ok.test"])
        m = metrics(d)
        assert not any(n.startswith("fake") for n, _ in m), "a line was injected"
        eg = {dict(k)["host"]: v for k, v in
              series(m, "pincer_egress_total", agent="s1", decision="allow").items()}
        assert eg[evil] == 5, eg  # the name, escaped and read back whole
        assert eg["z" * 255] == 5, eg  # cut at its field's end
        assert eg["ok.test"] == 10, eg  # one series, however often the file names it
        assert eg["_other"] == 2 + 5, eg  # a row calling itself _other joins it
        assert eg["\\xff\\x01tab\\x09x"] == 5, eg  # bytes beyond ASCII, written as text
        assert value(m, "pincer_audit_records_total", agent="s1") == 9
        assert check_histogram(m, "s1") == 14

        # n_hosts beyond the table: only the table is read
        write_stats(f, ["h%d" % i for i in range(64)], n_hosts=0xFFFFFFFF)
        m = metrics(d)
        assert len(series(m, "pincer_egress_total", agent="s1", decision="allow")) == 65

        # damaged: no egress numbers for the agent, everything else served
        damaged = [lambda: f.write_bytes(b"PNCRSTS1"),  # short
                   lambda: f.write_bytes(b""),
                   lambda: write_stats(f, ["x"], magic=0x1234),
                   lambda: write_stats(f, ["x"], version=2),
                   lambda: write_stats(f, ["x"], size=100),
                   lambda: f.write_bytes(os.urandom(64 * 272 + 456))]
        for make in damaged:
            f.unlink(missing_ok=True)
            make()
            m = metrics(d)
            assert value(m, "pincer_agent_up", agent="s1") == 0
            assert not series(m, "pincer_egress_bytes_total", agent="s1"), make
        # not a regular file (not opened through a link, not read from a FIFO)
        f.unlink()
        target = d.dir / "elsewhere"
        write_stats(target, ["linked.test"])
        f.symlink_to(target)
        assert not series(metrics(d), "pincer_egress_total", agent="s1")
        f.unlink()
        os.mkfifo(f)
        assert not series(metrics(d), "pincer_egress_total", agent="s1")
        assert d.proc.poll() is None, "the daemon is still up"
    finally:
        d.cleanup()


def get_tcp(port, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=b"{}" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_metrics_address_serves_metrics_only(host):
    port = free_port()
    users = {host.uid: host.name}
    other = None
    if IS_ROOT:
        other = Identity("user")
        users[other.uid] = TEST_USER
    d = MetricsDaemon(host, ["--metrics", f"127.0.0.1:{port}"], users=users).start()
    try:
        assert d.create("mine", *sh("exec sleep 300"), start=False).returncode == 0
        if other:
            assert d.create("theirs", *sh("exec sleep 300"), start=False,
                            user=TEST_USER).returncode == 0
        status, text = get_tcp(port, "/metrics")
        assert status == 200, text
        m = parse_metrics(text)
        # no identity here: every agent, whoever asks
        assert value(m, "pincer_agent_up", agent="mine") == 0
        if other:
            assert value(m, "pincer_agent_up", agent="theirs") == 0
            # on the socket a caller sees only their own agents' numbers
            s, t = api_as(other, d.socket, "GET", "/metrics")
            assert s == 200
            m2 = parse_metrics(t)
            assert value(m2, "pincer_agent_up", agent="theirs") == 0
            assert value(m2, "pincer_agent_up", agent="mine") is None
        # nothing else of the API
        for method, path in [("GET", "/v1/agents"), ("GET", "/v1/health"),
                             ("POST", "/v1/agents"), ("DELETE", "/v1/agents/mine"),
                             ("GET", "/"), ("GET", "/metrics/../v1/agents")]:
            s, t = get_tcp(port, path, method)
            assert s == 404, (method, path, s, t)
        assert get_tcp(port, "/metrics", "POST")[0] == 405
        assert d.show("mine")["state"] == "stopped"
        assert sorted(d.agents()) == sorted(["mine"] + (["theirs"] if other else []))
    finally:
        d.cleanup()
        if other:
            other.cleanup()


@pytest.mark.parametrize("addr", ["9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
                                  "127.0.0.1:70000", "127.0.0.1:12ab", "localhost:9464",
                                  "[::1]9464", "::1:9464", "300.1.1.1:9464", ":9464"])
def test_a_malformed_metrics_address_is_refused(host, addr):
    d = Daemon(host)
    r = subprocess.run([PINCER, "daemon", "--socket", str(d.socket), "--state", str(d.state),
                        "--config", str(d.config), "--audit", str(d.audit), "--metrics", addr],
                       capture_output=True, text=True, timeout=30, env=host.env())
    assert r.returncode != 0, r.stderr
    assert f"--metrics {addr}: expected ADDRESS:PORT" in r.stderr, r.stderr


def test_oom_kills_are_counted_and_survive_a_daemon_restart(daemon):
    if daemon.ident.prefix:
        pytest.skip("an OOM kill needs the memory cgroup (root on this machine)")
    pol = daemon.ident.write("oom.yaml", "version: 1\nname: agent\n"
                             f"filesystem:\n  read_write: [{daemon.ident.proj}]\n"
                             "process:\n  limits: {memory: 64M}\n  on_oom: stop\n")
    hog = ["/usr/bin/python3", "-c", "x = bytearray(512 << 20); print(len(x))"]
    assert value(metrics(daemon), "pincer_agent_ooms_total", agent="hog") is None
    assert daemon.create("hog", *hog, policy=pol, restart="never").returncode == 0
    daemon.wait_state("hog", "stopped", timeout=60)
    assert daemon.show("hog")["last_exit"]["oom"] is True
    assert value(metrics(daemon), "pincer_agent_ooms_total", agent="hog") == 1
    daemon.stop()
    daemon.start()
    assert value(metrics(daemon), "pincer_agent_ooms_total", agent="hog") == 1
    assert daemon.cli("rm", "hog").returncode == 0
    assert not (daemon.state / "agents" / "hog").exists(), "its files went with it"
