"""The pair policy at work on one node: retries with backoff, hand-back, no ping-pong, split units, the alarm.

Stand-ins: the fake sysfs tree (no xpp driver here) for readiness, and the
simulated Astribank (a pyusb backend on a state file) for the units' ports,
power and watchdog. The hook's evaluation, the hand-off, the engine, the
command steps, the switchover's release and jump, and the policy are the
production code, run in this process (inline).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.node import Node
from tests.support.units import label
from twinstar.fastpath.hooksettings import HookSettings
from twinstar.fastpath.policyfile import read_policy
from twinstar.hotplug import hook
from twinstar.usb import sim

pytestmark = pytest.mark.programs("start", "stop", "true")


def _setup(node: Node, *, units: int, fail_first: int | None, policy: str, on_port: tuple[int, ...] = ()) -> Path:
    """A node whose start step fails its first ``fail_first`` runs (None: always), ``units`` simulated units on port 0."""
    state = node.root / "sim.json"
    sim.init_state(str(state), units=units, port=0)
    with sim.update(str(state)) as st:
        for i, port in enumerate(on_port):
            sim.set_port(st, st["units"][i], port)
    count = node.root / "starts"
    fails = "true" if fail_first is None else f"[ $(wc -l < '{count}') -le {fail_first} ]"
    start = node.write_stub("start", f"echo x >> '{count}'\nif {fails}; then exit 1; fi\nexit 0")
    stop = node.write_stub("stop", "exit 0")
    node.configure(
        rearm=True,
        steps=f"  - command: {{name: pbx, start: [{start}], stop: [{stop}]}}\n",
        extra=f"usb: {{simulator: {state}, simulator_port: 0}}\npolicy: {{{policy}}}\n",
    )
    return state


def _settings(node: Node) -> HookSettings:
    from twinstar import config

    return HookSettings.from_config(config.load(str(node.config_path)))


def _units(state: Path) -> list[tuple[int, bool]]:
    return [(u["port"], u["watchdog"]) for u in json.loads(state.read_text())["units"]]


def _policy_lines(node: Node) -> list[str]:
    return [str(r["detail"]) for r in node.journal() if r.get("event") == "policy"]


def test_a_failed_takeover_is_retried_with_backoff_each_try_journaled_then_armed(node: Node) -> None:
    state = _setup(node, units=1, fail_first=2, policy="retries: 3, retry_delay: 0.05")
    node.listed(1)
    first = node.evaluate(node.arrive(0)[-1])
    assert first.report is not None and not first.report.ok and node.role() == "failed"
    assert _units(state) == [(0, False)]  # not serving: the watchdog stays off
    waits: list[float] = []
    outcomes = hook.policy_loop(_settings(node), sleep=lambda s: (waits.append(s), time.sleep(s)))
    assert node.role() == "active" and node.begins("takeover") == 3
    assert [o.did for o in outcomes] == ["waiting", "retry failed", "retry ok"]
    assert len(waits) == 2
    lines = _policy_lines(node)
    assert lines[:2] == ["takeover try 1 failed; retry in 0.05 s", "takeover try 2 failed; retry in 0.1 s"], lines
    assert _units(state) == [(0, True)]  # armed only after the successful takeover
    assert read_policy(str(node.state_dir)).tries == 0


def test_retries_spent_hand_the_units_to_the_powered_peer_once(node: Node) -> None:
    state = _setup(node, units=1, fail_first=None, policy="retries: 1, retry_delay: 0.05")
    node.listed(1)
    node.evaluate(node.arrive(0)[-1])
    hook.policy_loop(_settings(node))
    assert node.begins("takeover") == 2
    assert _units(state) == [(1, False)]  # watchdog off, jumped to the peer's port
    view = read_policy(str(node.state_dir))
    assert view.hand_backs == 1 and view.last_hand_back is not None and "takeover tries failed" in str(view.last_hand_back["reason"])
    assert any(line.startswith("hand-back (") and "units jumped to the peer" in line for line in _policy_lines(node))


def test_units_received_back_within_the_window_stay_and_raise_the_alarm(node: Node) -> None:
    state = _setup(node, units=1, fail_first=None, policy="retries: 0, hand_back_window: 600")
    node.state_dir.mkdir(mode=0o700)
    (node.state_dir / "policy.json").write_text(json.dumps({"handed_back_at": time.time() - 10, "hand_backs": 1}))
    node.listed(1)
    node.evaluate(node.arrive(0)[-1])
    hook.policy_loop(_settings(node))
    assert node.begins("takeover") == 1 and _units(state) == [(0, False)]  # no ping-pong
    view = read_policy(str(node.state_dir))
    assert view.hand_backs == 1 and view.alarm is not None and "no ping-pong" in view.alarm
    assert view.spent and view.retry_at is not None  # the slow retry is planned


def test_a_standby_holding_some_units_sends_them_back_after_the_grace_period(node: Node) -> None:
    state = _setup(node, units=2, fail_first=0, policy="split_grace: 0", on_port=(0, 1))
    node.listed(2)
    node.arrive(0)
    outcome = node.evaluate(None)
    assert outcome.policy is not None and outcome.policy.verdict.row == 9, outcome.line()
    assert _units(state) == [(1, False), (1, False)] and node.begins("takeover") == 0


def test_a_standby_within_the_grace_period_waits(node: Node) -> None:
    state = _setup(node, units=2, fail_first=0, policy="split_grace: 3600", on_port=(0, 1))
    node.listed(2)
    node.arrive(0)
    outcome = node.evaluate(None)
    assert outcome.policy is not None and outcome.policy.verdict.action == "wait" and outcome.policy.due is not None
    assert _units(state) == [(0, False), (1, False)]


def test_an_active_node_losing_a_unit_stays_alarms_and_clears_it(node: Node) -> None:
    _setup(node, units=2, fail_first=0, policy="")
    node.listed(2)
    node.arrive(0)
    node.evaluate(node.arrive(1)[-1])
    assert node.role() == "active"
    node.sysfs.remove_unit(1)
    lost = node.evaluate(None)
    assert node.role() == "active" and lost.policy is not None and lost.policy.verdict.action == "stay"
    assert read_policy(str(node.state_dir)).alarm == f"units missing: {label(1)} (1 of 2 here)"
    node.evaluate(node.arrive(1)[-1])
    assert read_policy(str(node.state_dir)).alarm is None and node.role() == "active"


def test_the_operator_hold_keeps_a_release_until_the_units_leave_and_come_back(node: Node) -> None:
    from twinstar.policy import store

    _setup(node, units=1, fail_first=0, policy="")
    node.listed(1)
    node.evaluate(node.arrive(0)[-1])
    assert node.role() == "active"
    node.evaluate(None)
    store.set_hold(str(node.state_dir), "release")
    from twinstar import config
    from twinstar.engine.runner import engine_for

    assert engine_for(config.load(str(node.config_path))).release().ok
    held = node.evaluate(node.sysfs.event("online", 0))
    assert held.decision.action == "nothing" and "operator's manual release holds" in held.decision.reason
    assert node.role() == "standby"
    node.sysfs.remove_unit(0)
    node.evaluate(None)
    assert read_policy(str(node.state_dir)).hold_left
    node.evaluate(node.arrive(0)[-1])
    assert node.role() == "active" and read_policy(str(node.state_dir)).hold is None
