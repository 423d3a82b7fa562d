"""``twinstar maintenance on|off``, ``twinstar give-up``, the operator's hold of a manual takeover or release, and
what ``status`` and ``check`` show of them; each command run as a real process.

Stand-ins: the fake sysfs tree (no xpp driver here) and the simulated Astribank (a pyusb backend on a
state file) for the units' ports, power and watchdog.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from tests.support.node import Node
from twinstar.fastpath.policyfile import read_policy
from twinstar.usb import sim


def _node(node: Node, *, units: int = 2) -> Path:
    state = node.root / "sim.json"
    sim.init_state(str(state), units=units, port=0)
    node.configure(rearm=True, extra=f"usb: {{simulator: {state}, simulator_port: 0}}\n")
    node.listed(units)
    return state


def _watchdogs(state: Path) -> list[bool]:
    return [u["watchdog"] for u in json.loads(state.read_text())["units"]]


def _run(node: Node, *args: str) -> tuple[int, str, str]:
    p = run_twinstar(node.config_path, *args, env={"TWINSTAR_CACHE_DIR": str(node.cache_dir)})
    return p.returncode, p.stdout, p.stderr


def test_maintenance_on_disables_every_watchdog_and_off_rearms_only_when_serving(node: Node) -> None:
    state = _node(node)
    assert _run(node, "takeover")[0] == 0 and node.role() == "active"
    assert _watchdogs(state) == [True, True]  # armed after the successful takeover
    rc, out, _ = _run(node, "maintenance", "on")
    assert rc == 0 and node.maintenance.exists() and _watchdogs(state) == [False, False], out
    rc, again, _ = _run(node, "maintenance", "on", "--json")
    assert rc == 0 and json.loads(again)["file_changed"] is False  # idempotent
    rc, out, _ = _run(node, "status")
    assert "maintenance: ON" in out
    rc, out, _ = _run(node, "maintenance", "off")
    assert rc == 0 and not node.maintenance.exists() and _watchdogs(state) == [True, True], out
    assert _run(node, "maintenance", "off")[0] == 0
    assert "maintenance: ON" not in _run(node, "status")[1]


def test_maintenance_off_on_a_standby_leaves_the_watchdog_off(node: Node) -> None:
    state = _node(node)
    assert _run(node, "maintenance", "on")[0] == 0
    rc, out, _ = _run(node, "maintenance", "off")
    assert rc == 0 and _watchdogs(state) == [False, False] and "does not serve" in out


def test_give_up_hands_the_units_to_the_peer_and_status_shows_it(node: Node) -> None:
    state = _node(node)
    assert _run(node, "takeover")[0] == 0
    rc, out, err = _run(node, "give-up", "--reason", "asterisk keeps dying", "--json")
    assert rc == 0, err
    assert json.loads(out)["ok"] is True
    assert [u["port"] for u in json.loads(state.read_text())["units"]] == [1, 1] and _watchdogs(state) == [False, False]
    assert node.role() == "standby"
    rc, status, _ = _run(node, "status", "--json")
    policy = json.loads(status)["node"]["policy"]
    assert policy["hand_backs"] == 1 and "asterisk keeps dying" in policy["last_hand_back"]["reason"]


def test_give_up_is_refused_without_power_on_the_peer_port(node: Node) -> None:
    state = _node(node, units=1)
    with sim.update(str(state)) as st:
        st["units"][0]["power1"] = False
    assert _run(node, "takeover")[0] == 0
    rc, _, err = _run(node, "give-up", "--reason", "monit")
    assert rc == 3 and node.role() == "active" and _watchdogs(state) == [True], err


@pytest.mark.parametrize("reason", ["", "   ", "a\nb", "x" * 201])
def test_give_up_refuses_a_bad_reason_and_changes_nothing(node: Node, reason: str) -> None:
    _node(node, units=1)
    rc, _, err = _run(node, "give-up", "--reason", reason)
    assert rc == 2 and "--reason" in err
    assert not (node.state_dir / "policy.json").exists()


@pytest.mark.programs("true")
def test_a_manual_release_holds_and_status_and_check_say_so(node: Node) -> None:
    _node(node, units=1)
    node.evaluate(node.arrive(0)[-1])
    assert node.role() == "active"
    assert _run(node, "release")[0] == 0 and node.role() == "standby"
    assert read_policy(str(node.state_dir)).hold == "release"
    assert node.evaluate(node.sysfs.event("online", 0)).decision.action == "nothing" and node.role() == "standby"
    assert "operator hold: release" in _run(node, "status")[1]
    rc, out, _ = _run(node, "check")
    assert "operator hold: release" in out
    assert _run(node, "takeover")[0] == 0 and read_policy(str(node.state_dir)).hold == "takeover"  # the other command
