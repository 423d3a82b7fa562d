"""The daemon loop fed through a real descriptor: same decisions as the hook.

Events go through :class:`FakeMonitor` (a socketpair: the netlink socket is
the only stand-in); the daemon decides with the hook's code and runs
takeover/release inline with the real engine and command steps. The
property test is the hook's (the same scenarios and model, from
tests/hotplug/sequences.py): N up to 16 listed units and unlisted ones go
through add/online/offline/remove in any interleaving, and after every event
exactly one takeover followed the last listed unit becoming READY and
exactly one release followed the last one leaving.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.daemon.helpers import (
    FakeMonitor,
    arrive,
    make_daemon,
    role,
    sysfs,
    transitions,
    write_config,
)
from tests.hotplug.sequences import Driver, Scenario, scenarios
from twinstar import settings as tsettings

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("false", "python", "rm", "test", "touch")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_any_event_order_gives_one_takeover_and_one_release(scenario: Scenario) -> None:
    """The hook's property test (tests/hotplug/test_property.py), through the daemon's monitor loop."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        driver = Driver(sysfs(tmp), scenario)
        model = driver.model
        monitor = FakeMonitor()
        daemon = make_daemon(write_config(tmp, scenario.listed), monitor)
        daemon.start()
        try:
            for arrival, departure in scenario.rounds:
                for phase, role_after in ((arrival, "active"), (departure, "standby")):
                    for event, expected in driver.events(phase):
                        monitor.send(event)
                        daemon.run_once(0)
                        assert daemon.snapshot()["last_evaluation"]["decision"] == expected, (event, driver.states)
                        if expected == "takeover":
                            assert all(s == "ready" for s in driver.listed_states())
                        assert transitions(tmp / "state") == ["takeover", "release"] * model.releases + ["takeover"] * (
                            model.takeovers - model.releases
                        ), (event, driver.states)
                        assert role(tmp / "state") == model.role
                    assert role(tmp / "state") == role_after, driver.states
            assert model.takeovers == model.releases >= len(scenario.rounds)
        finally:
            daemon.stop()


def test_a_burst_of_events_is_one_takeover_then_one_release(tmp_path: Path) -> None:
    n = 16
    fake = sysfs(tmp_path)
    monitor = FakeMonitor()
    daemon = make_daemon(write_config(tmp_path, n), monitor)
    daemon.start()
    try:
        for i in range(n):  # every event is queued before the daemon reads any
            arrive(fake, i, monitor)
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == ["takeover"]
        assert role(tmp_path / "state") == "active"
        for i in range(n):
            for env in fake.depart(i):
                monitor.send(env)
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == ["takeover", "release"]
        assert role(tmp_path / "state") == "standby"
    finally:
        daemon.stop()


def test_unknown_devices_and_other_actions_change_nothing(tmp_path: Path) -> None:
    fake = sysfs(tmp_path)
    monitor = FakeMonitor()
    daemon = make_daemon(write_config(tmp_path, 1), monitor)
    daemon.start()
    try:
        # A unit that xpp_order does not list, fully ready.
        for env in fake.arrive(7, label="usb:NOTLISTED", connector="usb-9"):
            monitor.send(env)
        monitor.send({**fake.event("bind", 7)})
        monitor.send({"ACTION": "change", "DEVPATH": "/devices/whatever"})
        monitor.send({"ACTION": "online", "DEVPATH": "/devices/x"})  # no XBUS_NAME
        monitor.send({"ACTION": "online", "XBUS_NAME": "$(touch /tmp/pwned);", "DEVPATH": "/x"})
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == []
        assert daemon.monitor is monitor  # still listening
        state = json.loads((tmp_path / "state" / tsettings.DAEMON_STATE_FILE).read_text())
        assert "unlisted" in state["readiness"]["summary"]
        assert state["last_evaluation"]["decision"] == "nothing"
        # The listed unit arrives: the daemon still acts.
        arrive(fake, 0, monitor)
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == ["takeover"]
    finally:
        daemon.stop()


def test_periodic_evaluation_catches_a_missed_event(tmp_path: Path) -> None:
    """Units became ready without any event reaching the daemon."""
    fake = sysfs(tmp_path)
    clock = [1000.0]
    monitor = FakeMonitor()
    path = write_config(tmp_path, 2, daemon="daemon: {evaluate_interval: 30}\n")
    daemon = make_daemon(path, monitor)
    daemon.monotonic = lambda: clock[0]
    daemon.start()
    try:
        for i in range(2):
            arrive(fake, i)  # events lost
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == []
        clock[0] += 30
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == ["takeover"]
    finally:
        daemon.stop()


def test_monitor_failure_is_logged_and_the_monitor_reopened(tmp_path: Path) -> None:
    fake = sysfs(tmp_path)
    clock = [1000.0]
    monitors = [FakeMonitor(), FakeMonitor()]
    opened: list[FakeMonitor] = []

    def open_monitor() -> FakeMonitor:
        opened.append(monitors[len(opened)])
        return opened[-1]

    path = write_config(tmp_path, 1)
    daemon = make_daemon(path, monitors[0])
    daemon.open_monitor = open_monitor
    daemon.monotonic = lambda: clock[0]
    daemon.start()
    try:
        arrive(fake, 0)
        monitors[0].hang_up()  # the socket fails; the unit's events are lost with it
        daemon.run_once(0)
        assert daemon.monitor is None
        assert "re-evaluating from sysfs" in daemon.snapshot()["last_error"]["message"]
        # The re-evaluation after the failure found the unit ready.
        assert transitions(tmp_path / "state") == ["takeover"]
        clock[0] += 1.0
        daemon.run_once(0)
        assert daemon.monitor is monitors[1] and len(opened) == 2
        for env in fake.depart(0):
            monitors[1].send(env)
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == ["takeover", "release"]
    finally:
        daemon.stop()


def test_failed_takeover_leaves_role_failed_and_visible(tmp_path: Path) -> None:
    fake = sysfs(tmp_path)
    monitor = FakeMonitor()
    steps = (
        f"  - command: {{name: ok, start: [/usr/bin/touch, {tmp_path}/up-ok], stop: [/bin/rm, -f, {tmp_path}/up-ok],"
        f" check: [/usr/bin/test, -e, {tmp_path}/up-ok]}}\n"
        "  - command: {name: broken, start: [/bin/false], stop: [/bin/true], check: [/bin/false]}\n"
    )
    daemon = make_daemon(write_config(tmp_path, 1, steps=steps), monitor)
    daemon.start()
    try:
        arrive(fake, 0, monitor)
        daemon.run_once(0)
        assert role(tmp_path / "state") == "failed"
        assert not (tmp_path / "up-ok").exists()  # rolled back: never half-active
        state = json.loads((tmp_path / "state" / tsettings.DAEMON_STATE_FILE).read_text())
        assert state["role"] == "failed"
        assert state["last_transition"]["action"] == "takeover"
        assert state["last_transition"]["result"] == "failed"
        assert "failed" in state["last_error"]["message"]
    finally:
        daemon.stop()


def _failing_takeover(tmp_path: Path, program: str) -> str:
    """A takeover whose one step runs ``program`` (a Python file written here) and fails."""
    script = tmp_path / "step.py"
    script.write_text(program)
    script.chmod(0o644)
    return f"  - command: {{name: broken, start: [{sys.executable}, {script}], stop: [/bin/true], check: [/bin/false]}}\n"


def test_events_of_the_burst_do_not_retry_a_failed_takeover(tmp_path: Path) -> None:
    """The unit's add starts a takeover that fails; its online, read after the failure, is the same burst."""
    fake = sysfs(tmp_path)
    monitor = FakeMonitor()
    daemon = make_daemon(write_config(tmp_path, 1, steps=_failing_takeover(tmp_path, "raise SystemExit(1)\n")), monitor)
    daemon.start()
    try:
        arrive(fake, 0, monitor)  # add and online, both queued before the daemon reads either
        daemon.run_once(0)
        assert role(tmp_path / "state") == "failed"
        assert transitions(tmp_path / "state") == ["takeover"]
        monitor.send(fake.event("online", 0))  # a new event, after the failure: one new try
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == ["takeover", "takeover"]
    finally:
        daemon.stop()


def test_an_event_arriving_while_a_takeover_fails_does_not_retry_it(tmp_path: Path) -> None:
    """The step itself sends the unit's next event to the daemon's socket, then fails.

    That event arrived before the failure was recorded: it is stamped when it
    arrived, not when the daemon, busy with the takeover, got to read it.
    """
    fake = sysfs(tmp_path)
    address = str(tmp_path / "uevents")
    monitor = FakeMonitor(address)
    arrive(fake, 0)
    online = json.dumps(fake.event("online", 0))
    program = (  # on the first try only (an old daemon would loop on it)
        "import os, socket\n"
        f"if not os.path.exists({address!r} + '.sent'):\n"
        f"    open({address!r} + '.sent', 'x').close()\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        f"    s.sendto({online!r}.encode(), {address!r})\n"
        "raise SystemExit(1)\n"
    )
    daemon = make_daemon(write_config(tmp_path, 1, steps=_failing_takeover(tmp_path, program)), monitor)
    daemon.start()  # the first evaluation finds the unit ready: the takeover fails
    try:
        assert role(tmp_path / "state") == "failed"
        daemon.run_once(0)  # reads the event the step sent
        assert daemon.snapshot()["last_evaluation"]["why"] == "online XBUS-00"
        assert transitions(tmp_path / "state") == ["takeover"]
        monitor.send(fake.event("online", 0))
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == ["takeover", "takeover"]
    finally:
        daemon.stop()
