"""The hook's ``handoff: auto`` under a real systemd (PID 1): the takeover and release units.

Real parts: systemd, ``systemctl start --no-block``, the installed
``atribank_hook`` and units, the engine. Stand-in: the fake sysfs (the xpp
driver cannot load here); the hook is run with udev's event environment by
the test, as udev would run it.
"""

from __future__ import annotations

import json

import pytest

from tests.support.nspawn import HOOKDIR, SIMULATOR, TESTDIR, TWINSTAR, Node
from tests.systemd.helpers import (
    POLICY,
    PREPARED,
    RELEASE,
    TAKEOVER,
    Gate,
    begins,
    command_step,
    runs,
    state,
)

pytestmark = pytest.mark.privileged

NOOP = command_step("noop", ["/bin/true"])


def arrive_all(node: Node, count: int) -> list[dict[str, str]]:
    """Units 0..count-1 arrive up to READY in the fake sysfs; their ``online`` events (not yet delivered)."""
    return [node.sysfs.arrive(i, label=f"usb:{i:08d}", connector=f"usb-0000:00:1d.7-{i}")[-1] for i in range(count)]


def concurrent_hooks(node: Node, events: list[dict[str, str]]) -> None:
    """Every event's hook at once (one process each), all awaited; each must exit 0."""
    procs = [node.spawn([f"{HOOKDIR}/atribank_hook"], env=e) for e in events]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err


def test_64_concurrent_hooks_start_the_takeover_unit_exactly_once(node: Node) -> None:
    node.configure(NOOP, units=64)
    concurrent_hooks(node, arrive_all(node, 64))
    node.wait_job_done()
    assert runs(node, TAKEOVER) == 1
    assert runs(node, RELEASE) == 0
    assert begins(node, "takeover") == 1
    assert state(node)["role"] == "active"
    assert node.prop(TAKEOVER, "Result") == "success"


def test_a_burst_of_departures_starts_the_release_unit_once(node: Node) -> None:
    node.configure(NOOP, units=8)
    concurrent_hooks(node, arrive_all(node, 8))
    node.wait_job_done()
    offline = [node.sysfs.offline(i) for i in range(8)]
    concurrent_hooks(node, offline)
    node.wait_job_done()
    assert (runs(node, TAKEOVER), runs(node, RELEASE)) == (1, 1)
    assert (begins(node, "takeover"), begins(node, "release")) == (1, 1)
    assert state(node)["role"] == "standby"


def _prepared_waiting(node: Node) -> int:
    """Unit 0 READY, unit 1 plugged in but still initialising: their events start the prepared unit; its pid
    once it waits on its FIFO."""
    events = [*node.sysfs.arrive(0, label="usb:00000000", connector="usb-0000:00:1d.7-0"), node.sysfs.create_unit(1)]
    said = ""
    for event in events:
        hooked = node.hook(event)
        assert hooked.returncode == 0, hooked.stdout + hooked.stderr
        said += hooked.stderr
    assert "preparing a takeover runner (twinstar-prepared.service)" in said, said
    node.wait_until("the prepared runner's FIFO", lambda: node.read("/run/twinstar/prepared.pid") is not None
                    and node.run(["test", "-p", "/run/twinstar/prepared.fifo"]).returncode == 0)  # fmt: skip
    assert node.prop(PREPARED, "ActiveState") == "activating"
    return int(node.read("/run/twinstar/prepared.pid") or "0")


def test_the_last_unit_ready_wakes_the_prepared_unit_instead_of_starting_the_takeover_unit(node: Node) -> None:
    node.configure(NOOP, units=2)
    pid = _prepared_waiting(node)
    assert node.prop(PREPARED, "MainPID") == str(pid)
    node.sysfs.attach(1, label="usb:00000001", connector="usb-0000:00:1d.7-1")
    decisive = node.hook(node.sysfs.online(1))
    assert f"takeover handed off to the prepared runner (twinstar-prepared.service, pid {pid})" in decisive.stderr, decisive.stderr
    node.wait_until("the prepared takeover's end", lambda: node.prop(PREPARED, "ActiveState") != "activating")
    assert node.show(PREPARED, "Result", "ExecMainStatus") == {"Result": "success", "ExecMainStatus": "0"}
    assert (runs(node, TAKEOVER), runs(node, PREPARED)) == (0, 1)
    assert begins(node, "takeover") == 1 and state(node)["role"] == "active"
    # The arrival of one unit without the other concerned the pair policy: its runner ran in its unit (a
    # detached one would have been killed by udev) and ended once both units were here.
    node.wait_until("the pair policy's end", lambda: node.prop(POLICY, "ActiveState") != "activating")
    assert runs(node, POLICY) >= 1 and node.prop(POLICY, "Result") == "success"


def test_a_release_stops_the_prepared_unit_and_the_takeover_unit_takes_over_later(node: Node) -> None:
    """Conflicts=: a release started while the runner waits ends it; the FIFO it leaves has no reader, so the
    decisive event starts twinstar-takeover.service as without a prepared runner."""
    node.configure(NOOP, units=2)
    _prepared_waiting(node)
    node.systemctl("start", RELEASE, check=True, timeout=60)
    assert node.prop(PREPARED, "ActiveState") in ("inactive", "failed")
    node.sysfs.attach(1, label="usb:00000001", connector="usb-0000:00:1d.7-1")
    decisive = node.hook(node.sysfs.online(1))
    assert "takeover handed off to systemd (twinstar-takeover.service)" in decisive.stderr, decisive.stderr
    node.wait_job_done()
    assert (runs(node, TAKEOVER), runs(node, PREPARED), runs(node, RELEASE)) == (1, 1, 1)
    assert begins(node, "takeover") == 1 and state(node)["role"] == "active"


def test_a_takeover_that_failed_in_its_unit_is_retried_in_the_policy_unit(node: Node) -> None:
    """The first takeover fails (its step exits 1 once); ``twinstar-takeover.service`` ends, and the pair
    policy's retry waits ``retry_delay`` in ``twinstar-policy.service`` and brings the node up there."""
    once = f"{TESTDIR}/failed-once"
    step = command_step("flaky", ["/bin/sh", "-c", f"[ -e {once} ] && exit 0; : > {once}; exit 1"])
    node.configure(step, units=1, extra="policy: {retry_delay: 0.2, retries: 2}\n")
    concurrent_hooks(node, arrive_all(node, 1))
    node.wait_until("the retried takeover", lambda: state(node)["role"] == "active" and node.prop(POLICY, "ActiveState") != "activating")
    assert node.prop(TAKEOVER, "Result") == "exit-code"  # the first try's unit failed
    assert node.show(POLICY, "Result", "ExecMainStatus") == {"Result": "success", "ExecMainStatus": "0"}
    assert (runs(node, TAKEOVER), runs(node, POLICY)) == (1, 1)
    assert begins(node, "takeover") == 2


def back(node: Node, i: int) -> dict[str, str]:
    """Unit ``i``, gone offline, is connected and READY again; its ``online`` event."""
    node.sysfs.write_attr(i, "status", "connected")
    return node.sysfs.online(i)


def test_starting_the_release_stops_a_running_takeover(node: Node) -> None:
    gate = Gate(node, "takeover")
    node.configure(command_step("held", gate.argv), units=1)
    concurrent_hooks(node, arrive_all(node, 1))
    gate.wait_started()
    assert node.prop(TAKEOVER, "ActiveState") == "activating"
    node.sysfs.offline(0)  # the unit left: the release's follow-up must not take over again
    node.systemctl("start", RELEASE, check=True, timeout=60)  # Conflicts= stops the takeover first
    assert node.show(TAKEOVER, "ActiveState", "Result") == {"ActiveState": "failed", "Result": "exit-code"}
    assert any("takeover FAILED: interrupted by SIGTERM" in line for line in node.journal("-o", "cat"))
    assert (runs(node, TAKEOVER), runs(node, RELEASE)) == (1, 1)
    assert node.prop(RELEASE, "Result") == "success"
    assert state(node)["role"] == "standby"


def test_starting_the_takeover_stops_a_running_release(node: Node) -> None:
    # The takeover stops the step again first (the killed release left its stop unfinished): hold only once.
    gate = Gate(node, "release", once=True)
    node.configure(command_step("held", ["/bin/true"], stop=gate.argv), units=1)
    concurrent_hooks(node, arrive_all(node, 1))
    node.wait_job_done()
    assert state(node)["role"] == "active"
    concurrent_hooks(node, [node.sysfs.offline(0)])  # hands the release off
    gate.wait_started()
    assert node.prop(RELEASE, "ActiveState") == "activating"
    back(node, 0)
    node.systemctl("start", TAKEOVER, check=True, timeout=60)  # Conflicts= stops the release first
    assert node.prop(RELEASE, "ActiveState") in ("inactive", "failed")
    assert node.show(RELEASE, "Result", "ExecMainStatus") == {"Result": "signal", "ExecMainStatus": "15"}
    assert (runs(node, TAKEOVER), runs(node, RELEASE)) == (2, 1)
    assert node.prop(TAKEOVER, "Result") == "success"
    assert state(node)["role"] == "active"


@pytest.mark.parametrize("direction", ["takeover", "release"])
def test_units_changing_during_a_unit_run_are_handled_by_its_follow_up(node: Node, direction: str) -> None:
    """Events during a run hand nothing off (it is in progress); the unit's --follow-up acts on them after it."""
    gate = Gate(node, direction)
    unit = TAKEOVER if direction == "takeover" else RELEASE
    if direction == "takeover":
        node.configure(command_step("held", gate.argv), units=2)
        concurrent_hooks(node, arrive_all(node, 2))
    else:
        node.configure(command_step("held", ["/bin/true"], stop=gate.argv), units=2)
        concurrent_hooks(node, arrive_all(node, 2))
        node.wait_job_done()
        concurrent_hooks(node, [node.sysfs.offline(i) for i in range(2)])
    gate.wait_started()
    if direction == "takeover":
        concurrent_hooks(node, [node.sysfs.offline(i) for i in range(2)])  # both leave while it runs
    else:
        concurrent_hooks(node, [back(node, i) for i in range(2)])  # both are back while the release runs
    assert node.prop(unit, "ActiveState") == "activating"
    gate.open()
    node.wait_job_done()
    assert node.prop(unit, "Result") == "success"
    # The follow-up ran inside the same unit run: the other unit was not started for it.
    assert (runs(node, TAKEOVER), runs(node, RELEASE)) == ((1, 0) if direction == "takeover" else (1, 1))
    assert begins(node, "takeover") == (1 if direction == "takeover" else 2)
    assert begins(node, "release") == 1
    assert state(node)["role"] == ("standby" if direction == "takeover" else "active")


def rearms(node: Node) -> list[str]:
    """The re-arm units systemd started since the node's reset, in order."""
    return [
        str(e["UNIT"])
        for e in node.journal_entries("_PID=1")
        if str(e.get("UNIT", "")).startswith("twinstar-rearm@") and str(e.get("MESSAGE", "")).startswith("Starting ")
    ]


def test_an_online_event_rearms_the_units_watchdog_through_its_template_unit(node: Node) -> None:
    """Stand-in here also: the USB simulator for the Astribank (``usb.simulator``).

    Only a node that serves re-arms: the node takes over first (which arms
    every unit), the operator turns the watchdogs off, then one unit's
    ``online`` re-arms that unit alone.
    """
    node.configure(NOOP, units=2, rearm=True)
    events = arrive_all(node, 2)  # bus 1, devices 2 and 3: the simulator's units
    node.run([TWINSTAR, "takeover"], check=True)
    node.run([TWINSTAR, "disable-wd"], check=True)
    node.sysfs.arrive(9, label="usb:unlisted", connector="usb-9")  # not in xpp_order: never re-armed
    concurrent_hooks(node, [events[0], node.sysfs.event("online", 9)])
    node.wait_job_done()
    rearm = "twinstar-rearm@001-002.service"
    assert rearms(node) == [rearm]
    assert node.prop(rearm, "Result") == "success"
    sim = json.loads(node.run([TWINSTAR, "sim", "show", SIMULATOR, "--json"], check=True).stdout)
    assert [u["watchdog"] for u in sim["units"]] == [True, False]
    # In maintenance nothing is re-armed.
    node.write("/srv/twinstar-test/maintenance", "")
    concurrent_hooks(node, [events[1]])
    node.wait_job_done()
    assert rearms(node) == [rearm]
