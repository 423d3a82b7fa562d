"""A hand-off whose takeover died does not block the next decision.

Whole ``hooks/atribank_hook`` processes with the real hand-off, engine and
command steps; stand-ins: the fake sysfs tree and, for the ``systemd`` mode,
a call-recording ``systemctl``.
"""

from __future__ import annotations

import json
import os
import signal
import time

from tests.support.node import PYTHON, Node
from twinstar.fastpath.procid import boot_id, boottime, process_alive
from twinstar.hotplug.handoff import SYSTEMD_GRACE


def _wait(what: str, condition) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


def test_killed_spawned_takeover_is_completed_by_the_next_event(node: Node) -> None:
    go, pidfile = node.root / "go", node.root / "step.pid"
    waiter = (
        "import os,time\n"
        f"open({str(pidfile)!r},'w').write(str(os.getpid()))\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
    )
    node.configure(handoff="spawn", steps=f"  - command: {{name: slow, start: [{PYTHON}, -c, {json.dumps(waiter)}], stop: [/bin/true], timeout: 60}}\n")
    node.listed(1)
    event = node.arrive(0)[-1]
    step_pid = None
    try:
        first = node.run_hook(event)
        assert first.returncode == 0 and "handed off to a detached process" in first.stderr, first.stderr
        record = json.loads((node.state_dir / "handoff.json").read_text())
        _wait("the takeover to begin its step", lambda: node.role() == "starting" and pidfile.exists() and pidfile.read_text())
        step_pid = int(pidfile.read_text())
        # While it runs, another event hands nothing off.
        busy = node.run_hook(event)
        assert "a transition is in progress (starting)" in busy.stderr and "handed off to" not in busy.stderr, busy.stderr
        os.kill(record["pid"], signal.SIGKILL)  # the takeover dies mid-step (started by this test's hook)
        _wait("the killed takeover to be gone", lambda: not process_alive(record["pid"], record["start"]))
        assert node.role() == "starting"
        go.write_text("")  # the next attempt's step finishes at once
        second = node.run_hook(event)
        assert second.returncode == 0 and "completing an interrupted transition (starting)" in second.stderr, second.stderr
        retry = json.loads((node.state_dir / "handoff.json").read_text())
        assert retry["pid"] != record["pid"]
        _wait("the second takeover", lambda: node.role() == "active" and not process_alive(retry["pid"], retry["start"]))
        assert node.begins("takeover") == 2
    finally:
        if step_pid is not None and process_alive(step_pid):
            os.kill(step_pid, signal.SIGKILL)


def test_systemd_hand_off_that_never_started_expires(node: Node) -> None:
    stub = node.write_stub("systemctl", "exit 0")
    node.configure(handoff="systemd", extra=f"programs: {{systemctl: {stub}}}\n")
    node.listed(1)
    event = node.arrive(0)[-1]
    node.state_dir.mkdir(mode=0o700)
    record = {"action": "takeover", "mode": "systemd", "pid": None, "node": "test"}
    # Recent, and no transition has begun since: still pending.
    stamp = {"boot_id": boot_id(), "time": time.time()}
    (node.state_dir / "handoff.json").write_text(json.dumps({**record, **stamp, "at": boottime() - 5}))
    blocked = node.run_hook(event)
    assert "takeover handed off" in blocked.stderr and node.recorded() == [], blocked.stderr
    # Older than the grace period and still nothing began: the unit never ran; hand off again.
    (node.state_dir / "handoff.json").write_text(json.dumps({**record, **stamp, "at": boottime() - SYSTEMD_GRACE - 1}))
    again = node.run_hook(event)
    assert again.returncode == 0 and "takeover handed off to systemd" in again.stderr, again.stderr
    assert node.recorded() == ["systemctl start --no-block twinstar-takeover.service"]
