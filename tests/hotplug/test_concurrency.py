"""64 hook processes at once, all units ready: exactly one takeover is handed off (also in the policy's retry window).

Whole ``hooks/atribank_hook`` processes; they wait on a shared flock gate
(``flock -s``) that the test opens once all are started, so they run their
decisions at the same moment. Stand-in: the fake sysfs tree. The ``systemd``
mode runs under a real systemd in tests/systemd/test_handoff.py.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import time

import pytest

from tests.support.node import HOOK, PYTHON, Node
from twinstar.fastpath.procid import process_alive

HOOKS = 64
UNITS = 8


def _burst(node: Node) -> list[subprocess.CompletedProcess[str]]:
    gate = node.root / "gate"
    gate.write_text("")
    with open(gate) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        procs = [
            subprocess.Popen(
                ["flock", "-s", str(gate), PYTHON, str(HOOK)],
                env=node.environ(node.sysfs.event("online", k % UNITS)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(HOOKS)
        ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


@pytest.mark.parametrize("mode", ["inline", "spawn"])
def test_one_takeover_from_a_burst_of_hooks(node: Node, mode: str) -> None:
    node.configure(handoff=mode)
    node.listed(UNITS)
    for i in range(UNITS - 1):
        node.arrive(i)
    warm = node.run_hook(node.sysfs.event("online", 0))  # caches the configuration; 7/8 ready
    assert "7/8 ready" in warm.stderr and node.begins("takeover") == 0
    node.arrive(UNITS - 1)  # its events are the burst below
    results = _burst(node)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    handed = [r for r in results if "takeover handed off to" in r.stderr or "takeover running in this process" in r.stderr]
    assert len(handed) == 1, [r.stderr for r in results]
    reasons = ("already active", "transition is in progress", "handed off", "is running")
    others = [r for r in results if r is not handed[0]]
    assert all(any(w in r.stderr for w in reasons) for r in others), [r.stderr for r in others]
    if mode == "spawn":
        record = json.loads((node.state_dir / "handoff.json").read_text())
        for _ in range(3000):
            if node.role() == "active" and not process_alive(record["pid"]):
                break
            time.sleep(0.01)
    assert node.begins("takeover") == 1 and node.role() == "active"


@pytest.mark.programs("start", "true")
@pytest.mark.parametrize("mode", ["inline", "spawn"])
def test_one_takeover_from_a_burst_of_hooks_during_a_retry_window(node: Node, mode: str) -> None:
    """The first takeover failed and the policy's retry is planned a minute later: 64 hooks still make exactly one."""
    count = node.root / "starts"
    start = node.write_stub("start", f"echo x >> '{count}'\n[ $(wc -l < '{count}') -ge 2 ]")
    node.configure(
        handoff=mode,
        steps=f"  - command: {{name: pbx, start: [{start}], stop: [/bin/true]}}\n",
        extra="policy: {retries: 3, retry_delay: 60}\n",
    )
    node.listed(UNITS)
    for i in range(UNITS):
        node.arrive(i)
    first = node.evaluate(None, trigger="event")
    assert first.report is not None and not first.report.ok and node.role() == "failed"
    policy = json.loads((node.state_dir / "policy.json").read_text())
    assert policy["tries"] == 1 and not policy.get("spent")
    results = _burst(node)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    if mode == "spawn":
        record = json.loads((node.state_dir / "handoff.json").read_text())
        for _ in range(3000):
            if node.role() == "active" and not process_alive(record["pid"]):
                break
            time.sleep(0.01)
    assert node.begins("takeover") == 2 and node.role() == "active", [r.stderr for r in results]
