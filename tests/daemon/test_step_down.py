"""The daemon on the active node finds a step down (``daemon.on_step_down: restart``): it restarts it, bounded
with backoff and each try journaled; when the step cannot be brought back, it hands the units to a powered peer,
or stays and raises the alarm.

Stand-ins: the fake sysfs tree and the fake uevent monitor (tests/daemon/helpers.py) for the xpp driver, the
simulated Astribank (a pyusb backend on a state file) for the units' ports, power and watchdog. The steps, the
engine, the policy, the switchover's release and jump, the notify commands and ``twinstar status`` are the real
code; the step is a command step whose programs are shell scripts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.helpers import (
    FakeMonitor,
    arrive,
    make_daemon,
    role,
    sysfs,
    transitions,
    write_config,
)
from tests.support.cli import run_twinstar
from twinstar.daemon.loop import Daemon
from twinstar.engine.state import StateStore
from twinstar.fastpath.policyfile import read_policy
from twinstar.usb import sim

pytestmark = pytest.mark.programs("start", "stop", "test", "notify", "touch", "mark")

#: The most any wait below takes: far beyond the few tenths of a second the work needs, even on a loaded machine.
DEADLINE = 60.0


def _node(tmp_path: Path, *, restarts_work: bool, peer_power: bool = True, evaluate: float = 3600) -> tuple[Path, Path]:
    """An active node on one simulated unit (watchdog armed) whose step ``pbx`` is up; its config and sim state.

    ``pbx`` is up while ``tmp_path/up`` exists; its start creates it the first time (the takeover), and on later
    runs only when ``restarts_work``. Every start is counted in ``tmp_path/starts``. A second step, always up,
    copies the simulated units' state to ``tmp_path/sim-at-stop.json`` when the release stops it. The notify command writes
    each event to ``tmp_path/events``, one JSON object a line.
    """
    state = tmp_path / "sim.json"
    sim.init_state(str(state), units=1, port=0)
    with sim.update(str(state)) as st:
        st["units"][0]["power1"] = peer_power
    starts, up = tmp_path / "starts", tmp_path / "up"
    later = f"touch '{up}'" if restarts_work else "exit 1"
    _script(tmp_path / "start", f"echo x >> '{starts}'\nif [ $(wc -l < '{starts}') -eq 1 ]; then touch '{up}'; else {later}; fi")
    _script(tmp_path / "stop", f"rm -f '{up}'")
    _script(tmp_path / "mark", f"cp '{state}' '{tmp_path}/sim-at-stop.json'\nrm '{tmp_path}/mark-up'")
    _script(tmp_path / "notify", f"cat >> '{tmp_path}/events'")
    step = (
        f"  - command: {{name: mark, start: [/usr/bin/touch, {tmp_path}/mark-up], stop: [{tmp_path}/mark], check: [/usr/bin/test, -e, {tmp_path}/mark-up]}}\n"
        f"  - command: {{name: pbx, start: [{tmp_path}/start], stop: [{tmp_path}/stop], check: [/usr/bin/test, -e, {up}]}}\n"
    )
    extra = (
        f"daemon: {{check_interval: 0.05, evaluate_interval: {evaluate}, on_step_down: restart}}\n"
        f"policy: {{retries: 2, retry_delay: 0.05, slow_retry: 3600, notify: [[{tmp_path}/notify]]}}\n"
        f"usb: {{simulator: {state}, simulator_port: 0}}\n"
    )
    return write_config(tmp_path, 1, steps=step, daemon=extra), state


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _until(daemon: Daemon, done: Callable[[], object], what: str) -> None:
    """Turn the loop until ``done()`` (its own timers wake it), at most :data:`DEADLINE` s."""
    end = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < end, f"not within {DEADLINE:g} s: {what}"
        daemon.run_once(1)


def _step_downs(tmp_path: Path) -> list[str]:
    return [r["action"] for r in StateStore(str(tmp_path / "state")).read_journal() if r.get("event") == "step-down"]


def _units(state: Path) -> list[tuple[int, bool]]:
    return [(u["port"], u["watchdog"]) for u in sim.load(str(state))["units"]]


def _starts(tmp_path: Path) -> int:
    return len((tmp_path / "starts").read_text().splitlines())


def _start(tmp_path: Path, cfg: Path, state: Path) -> Daemon:
    monitor = FakeMonitor()
    daemon = make_daemon(cfg, monitor)
    daemon.start()
    arrive(sysfs(tmp_path), 0, monitor)
    daemon.run_once(0)  # the unit's events: takeover
    assert role(tmp_path / "state") == "active" and (tmp_path / "up").exists()
    with sim.update(str(state)) as st:
        st["units"][0]["watchdog"] = True  # armed, as after a takeover with astribanks.rearm_watchdog
    return daemon


def test_a_step_found_down_is_restarted_and_the_node_stays_active(tmp_path: Path) -> None:
    cfg, state = _node(tmp_path, restarts_work=True)
    daemon = _start(tmp_path, cfg, state)
    try:
        (tmp_path / "up").unlink()  # the service dies
        _until(daemon, lambda: _step_downs(tmp_path), "the step found down")
        assert _step_downs(tmp_path) == ["restarted"] and (tmp_path / "up").exists()
        assert role(tmp_path / "state") == "active" and transitions(tmp_path / "state") == ["takeover"]
        assert _units(state) == [(0, True)] and read_policy(str(tmp_path / "state")).alarm is None
    finally:
        daemon.stop()


def test_a_step_that_cannot_be_restarted_hands_the_units_to_the_powered_peer(tmp_path: Path) -> None:
    cfg, state = _node(tmp_path, restarts_work=False)
    daemon = _start(tmp_path, cfg, state)
    try:
        (tmp_path / "up").unlink()
        _until(daemon, lambda: role(tmp_path / "state") != "active", "the node released")
        # The first restart and policy.retries (2) more, each journaled, then the release and the jump.
        assert _step_downs(tmp_path) == ["restart-failed"] * 3 and _starts(tmp_path) == 4
        assert role(tmp_path / "state") == "standby" and transitions(tmp_path / "state") == ["takeover", "release"]
        assert _units(state) == [(1, False)]  # watchdog off, jumped to the peer's port
        assert _units(tmp_path / "sim-at-stop.json") == [(0, False)]  # the watchdog was off before the release began
        view = read_policy(str(tmp_path / "state"))
        assert view.hand_backs == 1 and view.last_hand_back is not None
        assert view.last_hand_back["reason"] == "step command:pbx is down and 3 restarts failed"
        assert view.alarm is not None and view.alarm.startswith("cannot serve: step command:pbx is down")
        _until(daemon, lambda: any(e["event"] == "hand-back" for e in _events(tmp_path)), "the notify command ran")
        event = next(e for e in _events(tmp_path) if e["event"] == "hand-back")
        assert event["node"] == "test" and event["moved"] is True and "units jumped to the peer" in event["message"]
    finally:
        daemon.stop()


def test_with_the_peer_unpowered_the_node_stays_and_raises_the_alarm(tmp_path: Path) -> None:
    cfg, state = _node(tmp_path, restarts_work=False, peer_power=False, evaluate=0.1)
    daemon = _start(tmp_path, cfg, state)
    try:
        (tmp_path / "up").unlink()
        _until(daemon, lambda: read_policy(str(tmp_path / "state")).alarm is not None, "the alarm")
        alarm = read_policy(str(tmp_path / "state")).alarm
        assert alarm == "cannot serve: step command:pbx is down and 3 restarts failed; the peer's port has no power"
        assert role(tmp_path / "state") == "active" and transitions(tmp_path / "state") == ["takeover"]
        assert _units(state) == [(0, True)]  # nothing jumped, the watchdog untouched
        assert _step_downs(tmp_path) == ["restart-failed"] * 3
        assert daemon._restarts["command:pbx"].due - daemon.monotonic() > 3000  # next: the slow retry, not a loop
        shown = run_twinstar(cfg, "status", "--json")
        assert json.loads(shown.stdout)["node"]["policy"]["alarm"]["text"] == alarm, shown.stdout + shown.stderr
        assert f"ALARM: {alarm}" in daemon.status_line()
        assert read_policy(str(tmp_path / "state")).hand_backs == 0
        looked = daemon.evaluations
        _until(daemon, lambda: daemon.evaluations > looked + 1, "periodic evaluations")
        assert read_policy(str(tmp_path / "state")).alarm == alarm  # the step is still down: the alarm stays
        (tmp_path / "up").touch()  # the operator brings the service back
        _until(daemon, lambda: read_policy(str(tmp_path / "state")).alarm is None, "the alarm cleared")
        assert role(tmp_path / "state") == "active" and _units(state) == [(0, True)]
    finally:
        daemon.stop()


def _events(tmp_path: Path) -> list[dict[str, Any]]:
    """The events the notify command received so far (a line still being written is left for the next look)."""
    path = tmp_path / "events"
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.split("\n")[:-1]]


def test_in_maintenance_a_step_found_down_is_left_down(tmp_path: Path) -> None:
    """The operator stops services for maintenance: the daemon journals the step down and neither restarts nor hands back."""
    cfg, state = _node(tmp_path, restarts_work=True)
    daemon = _start(tmp_path, cfg, state)
    try:
        (tmp_path / "maintenance").touch()
        (tmp_path / "up").unlink()
        _until(daemon, lambda: _step_downs(tmp_path), "the step found down")
        assert _step_downs(tmp_path)[0] == "logged" and not (tmp_path / "up").exists() and _starts(tmp_path) == 1
        assert role(tmp_path / "state") == "active" and _units(state) == [(0, True)]
    finally:
        daemon.stop()
