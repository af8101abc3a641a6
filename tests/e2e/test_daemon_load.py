"""The daemon killed with -9 while 50 agents work, then started again:
every agent accounted for (the same runs taken back, none doubled, none
lost), the audit chain intact across everyone's writes, no state lost.

Root only: 50 sandboxes are the point, not the identity (the lifecycle
tests in test_daemon.py run as both).
"""
import os

import pytest

from conftest import IS_ROOT, Identity
from test_daemon import Daemon, _http_server, agent_shells, marker, pid_alive, sh, wait_for

N_AGENTS = 50


@pytest.mark.skipif(not IS_ROOT, reason="50 sandboxes under one daemon: run as root")
def test_kill_9_under_load_of_50_agents_loses_nothing():
    ident = Identity("root")
    srv = _http_server()
    port = srv.server_address[1]
    d = Daemon(ident)
    policy = ident.write(
        "load-policy.yaml",
        "version: 1\nname: agent\n"
        f"filesystem:\n  read_write: [{ident.proj}]\n"
        "network:\n  egress:\n    allow_private: [127.0.0.1/32]\n"
        f"    allow:\n      - host: 127.0.0.1\n        ports: [{port}]\n")
    m = marker()
    try:
        d.start()
        # each agent asks the upstream once a second through its gate: the
        # gates and the daemon all write the one audit log meanwhile
        for i in range(N_AGENTS):
            script = (f"echo {m}-{i}; while true; do curl -s -o /dev/null --max-time 5 "
                      f"-x http://127.0.0.1:3128 --noproxy '' http://127.0.0.1:{port}/; "
                      "sleep 1; done")
            restart = ["always", "on-failure"][i % 2]
            r = d.create(f"load-{i}", *sh(script), policy=policy, restart=restart)
            assert r.returncode == 0, r.stderr
        wait_for(lambda: sum(a["state"] == "running" for a in d.agents().values())
                 == N_AGENTS, 240, f"{N_AGENTS} agents running")
        # traffic from every agent before the kill
        wait_for(lambda: len({x.get("agent") for x in d.records()
                              if x.get("type") == "egress"}) >= N_AGENTS, 120,
                 "egress records from every agent")
        before = d.agents()

        d.kill9()
        # the runs kept going without the daemon
        assert all(pid_alive(a["pid"]) for a in before.values())
        d.start()

        after = d.agents()
        assert set(after) == set(before), "every agent is there"
        for name, a in after.items():
            b = before[name]
            for k in ["user", "command", "restart", "policy_sha256", "created", "pid",
                      "state"]:
                assert a[k] == b[k], (name, k, a[k], b[k])
        # exactly one copy of each: taken back, not started beside itself
        # (a shell seen between its fork and the exec of curl or sleep is a
        # second "/bin/sh" with the same script for a moment: polled)
        for i in range(N_AGENTS):
            wait_for(lambda: len(agent_shells(f"echo {m}-{i};")) == 1, 10,
                     f"exactly one copy of load-{i}")
        # the adopted agents still work through their gates
        n_egress = sum(1 for x in d.records() if x.get("type") == "egress")
        wait_for(lambda: sum(1 for x in d.records() if x.get("type") == "egress")
                 >= n_egress + N_AGENTS, 120, "more egress after the restart")

        # and stay steerable: stop one, it is stopped for good
        r = d.cli("stop", "load-0")
        assert r.returncode == 0, r.stderr
        d.wait_state("load-0", "stopped")
        wait_for(lambda: not agent_shells(f"echo {m}-0;"), 30, "load-0 to end")

        d.stop()
        r = ident.pincer("audit", "verify", str(d.audit), timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        # the restart itself is on the record
        starts = [x for x in d.records() if x.get("type") == "run.start"
                  and x.get("run") == "daemon"]
        assert len(starts) == 2 and starts[1]["adopted"] == N_AGENTS, starts[-1:]
    finally:
        srv.shutdown()
        d.cleanup()
        ident.cleanup()
        os.sync()
