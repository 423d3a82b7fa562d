"""The decisions of the systemd check (``twinstar check``), from what systemctl and the rule directories said.

Pure functions and real files; the check against a real systemd is in
tests/systemd/test_check.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from twinstar.ops.findings import Finding, Level
from twinstar.ops.systemdcheck import (
    REARM_PROBE,
    RULE,
    RULE_ABSENT,
    RULE_ACTIVE,
    RULE_MASKED,
    UnitState,
    assess,
    parse_show,
    rule_state,
)

BASE = {
    "twinstar.service": UnitState("twinstar.service", "loaded", "disabled"),
    "twinstar-takeover.service": UnitState("twinstar-takeover.service", "loaded", "static"),
    "twinstar-release.service": UnitState("twinstar-release.service", "loaded", "static"),
    "twinstar-prepared.service": UnitState("twinstar-prepared.service", "loaded", "static"),
    "twinstar-policy.service": UnitState("twinstar-policy.service", "loaded", "static"),
    REARM_PROBE: UnitState(REARM_PROBE, "loaded", "static"),
}


def levels(findings: list[Finding]) -> dict[str, Level]:
    return {f.subject: f.level for f in findings}


def test_parse_show_keeps_the_names_asked_for_aliases() -> None:
    text = "LoadState=loaded\nUnitFileState=disabled\n\nLoadState=not-found\nUnitFileState=\n"
    assert parse_show(["mysql.service", "absent.service"], text) == {
        "mysql.service": UnitState("mysql.service", "loaded", "disabled"),
        "absent.service": UnitState("absent.service", "not-found", ""),
    }


def test_an_installed_node_with_the_udev_hook_passes() -> None:
    units = {**BASE, "apache2.service": UnitState("apache2.service", "loaded", "disabled")}
    found = assess(units, services=["apache2.service"], rearm=True, rule=RULE_ACTIVE)
    assert set(levels(found).values()) == {Level.OK}


def test_missing_masked_and_enabled_units() -> None:
    units = {
        **BASE,
        "twinstar-release.service": UnitState("twinstar-release.service", "masked", "masked"),
        "asterisk.service": UnitState("asterisk.service", "loaded", "enabled"),
        "mysql.service": UnitState("mysql.service", "not-found", ""),
    }
    del units["twinstar-takeover.service"]
    found = levels(assess(units, services=["asterisk.service", "mysql.service"], rearm=False, rule=RULE_ACTIVE))
    assert found == {
        "unit twinstar-takeover.service": Level.ERROR,
        "unit twinstar-release.service": Level.ERROR,
        "unit twinstar-prepared.service": Level.OK,
        "unit twinstar-policy.service": Level.OK,
        "service asterisk.service": Level.ERROR,
        "service mysql.service": Level.ERROR,
        "hand-off": Level.OK,
        "systemd bus": Level.OK,
    }


def test_the_hand_off_needs_one_of_daemon_and_rule_and_both_is_a_warning() -> None:
    enabled = {**BASE, "twinstar.service": UnitState("twinstar.service", "loaded", "enabled")}
    for units, rule, level in (
        (enabled, RULE_ACTIVE, Level.WARNING),
        (enabled, RULE_MASKED, Level.OK),
        (BASE, RULE_ACTIVE, Level.OK),
        (BASE, RULE_ABSENT, Level.ERROR),
        (BASE, RULE_MASKED, Level.ERROR),
    ):
        assert levels(assess(units, services=[], rearm=False, rule=rule))["hand-off"] is level, (units, rule)


def test_rule_state_follows_udevs_directory_order(tmp_path: Path) -> None:
    etc, lib = tmp_path / "etc", tmp_path / "lib"
    etc.mkdir()
    lib.mkdir()
    dirs = [str(etc), str(lib)]
    assert rule_state(RULE, dirs) == RULE_ABSENT
    (lib / RULE).write_text("")
    assert rule_state(RULE, dirs) == RULE_ACTIVE
    os.symlink(os.devnull, etc / RULE)
    assert rule_state(RULE, dirs) == RULE_MASKED


def test_services_asked_over_the_system_bus_or_through_systemctl() -> None:
    units = {**BASE, "apache2.service": UnitState("apache2.service", "loaded", "disabled")}
    answered = assess(units, services=["apache2.service"], rearm=True, rule=RULE_ACTIVE, bus_problem=None)
    assert levels(answered)["systemd bus"] is Level.OK
    silent = assess(units, services=["apache2.service"], rearm=True, rule=RULE_ACTIVE, bus_problem="cannot connect to the system bus: refused")
    warning = next(f for f in silent if f.subject == "systemd bus")
    assert warning.level is Level.WARNING
    assert warning.message.startswith("cannot connect to the system bus: refused: the service steps run systemctl instead")
    # Without services nothing asks systemd for them: no finding either way.
    assert "systemd bus" not in levels(assess(BASE, services=[], rearm=True, rule=RULE_ACTIVE, bus_problem="refused"))
