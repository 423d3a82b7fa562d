"""``twinstar check`` on a node under a real systemd: units masked or missing, services enabled at boot, the hand-off.

Real parts: systemd and systemctl (enable, disable, mask), the installed
program, units and udev rule, Debian's apache2.service. Stand-in: the fake
sysfs (the xpp driver cannot load here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.nspawn import TWINSTAR, Node
from tests.systemd.helpers import DAEMON, TAKEOVER, command_step
from twinstar.ops import systemdcheck

pytestmark = pytest.mark.privileged

RULE = f"/etc/udev/rules.d/{systemdcheck.RULE}"
UNIT = f"/etc/systemd/system/{TAKEOVER}"


def systemd_findings(node: Node) -> dict[str, tuple[str, str]]:
    """``twinstar check --json``: the systemd findings, subject -> (level, message)."""
    result = node.run([TWINSTAR, "check", "--json"], timeout=120)
    report = json.loads(result.stdout)
    subjects = ("unit ", "service ", "hand-off", "systemd")  # "systemd bus" too
    # "unit /etc/systemd/system/..." are the installation check's (the files against the manifest).
    return {f["subject"]: (f["level"], f["message"]) for f in report["findings"] if f["subject"].startswith(subjects) and "/" not in f["subject"]}


@pytest.fixture
def checked(node: Node) -> Iterator[Node]:
    node.configure(command_step("noop", ["/bin/true"]) + "  - service: {name: apache2, manager: systemd}\n", rearm=True, units=1)
    installed = {p: node.host_path(p).read_bytes() for p in (RULE, UNIT)}
    yield node
    node.systemctl("disable", DAEMON, "apache2.service")
    node.systemctl("unmask", "apache2.service")
    for path, data in installed.items():
        node.host_path(path).unlink()
        node.host_path(path).write_bytes(data)
    node.systemctl("daemon-reload", check=True)


def test_a_fresh_installation_passes(checked: Node) -> None:
    found = systemd_findings(checked)
    assert {s: level for s, (level, _) in found.items()} == {
        f"unit {TAKEOVER}": "ok",
        "unit twinstar-release.service": "ok",
        "unit twinstar-prepared.service": "ok",
        "unit twinstar-policy.service": "ok",
        "unit twinstar-rearm@.service": "ok",
        "service apache2.service": "ok",
        "hand-off": "ok",
        "systemd bus": "ok",
    }, found
    assert found["hand-off"][1] == f"the udev rule {systemdcheck.RULE}"


def test_masked_units_are_errors(checked: Node) -> None:
    # A unit in /etc cannot be masked by systemctl: an administrator links it to /dev/null by hand.
    checked.host_path(UNIT).unlink()
    checked.host_path(UNIT).symlink_to("/dev/null")
    checked.systemctl("mask", "apache2.service", check=True)
    checked.systemctl("daemon-reload", check=True)
    found = systemd_findings(checked)
    assert found[f"unit {TAKEOVER}"] == ("error", f"masked: the takeover hand-off cannot work (systemctl unmask {TAKEOVER})")
    assert found["service apache2.service"][0] == "error" and "masked" in found["service apache2.service"][1]
    assert checked.run([TWINSTAR, "check"]).returncode == 2


def test_a_service_of_the_takeover_enabled_at_boot_is_an_error(checked: Node) -> None:
    checked.systemctl("enable", "apache2.service", check=True)
    assert systemd_findings(checked)["service apache2.service"] == (
        "error",
        "enabled at boot (enabled): it must start only on takeover (systemctl disable apache2.service)",
    )
    assert checked.run([TWINSTAR, "check"]).returncode == 2


def test_the_daemon_and_the_udev_hook_both_enabled_is_a_warning_and_neither_an_error(checked: Node) -> None:
    checked.systemctl("enable", DAEMON, check=True)
    level, message = systemd_findings(checked)["hand-off"]
    assert level == "warning" and "act on every event" in message
    checked.host_path(RULE).unlink()
    checked.host_path(RULE).symlink_to("/dev/null")  # the documented way to switch the udev hook off
    assert systemd_findings(checked)["hand-off"] == ("ok", f"{DAEMON} (enabled)")
    checked.systemctl("disable", DAEMON, check=True)
    level, message = systemd_findings(checked)["hand-off"]
    assert level == "error" and "nothing acts on Astribank events" in message and "masked" in message


def test_systemd_not_on_the_system_bus_is_a_warning(checked: Node) -> None:
    """The D-Bus daemon stopped: the service steps would run systemctl; the check says so and how to mend it."""
    checked.systemctl("stop", "dbus.socket", "dbus.service", check=True)
    try:
        level, message = systemd_findings(checked)["systemd bus"]
        assert level == "warning" and "cannot connect to the system bus" in message and "systemctl start dbus.socket" in message
        assert checked.run([TWINSTAR, "check"]).returncode == 0  # a warning, not an error
    finally:
        checked.systemctl("start", "dbus.socket", "dbus.service", check=True)
    assert systemd_findings(checked)["systemd bus"] == ("ok", "the service steps ask systemd over the system bus")
