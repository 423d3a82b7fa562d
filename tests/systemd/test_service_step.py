"""The ``service`` step with ``manager: systemd`` against real units under a real systemd.

Real parts: systemd, its system bus (dbus-daemon), systemctl, the installed
``twinstar takeover`` and ``release``, small units written here and Debian's
own ``apache2.service``. No stand-in.
"""

from __future__ import annotations

import json

import pytest

from tests.support.nspawn import TWINSTAR, Node
from tests.systemd.helpers import command_step
from twinstar.steps.systemd_bus import unit_path

pytestmark = pytest.mark.privileged

UNITS = {
    # Reports READY only after a while: activating first, then active.
    "tss-slow.service": "[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/sh -c 'sleep 0.3; systemd-notify --ready; exec sleep infinity'\n",
    # Never reports READY: stays activating.
    "tss-never.service": "[Service]\nType=notify\nExecStart=/bin/sleep infinity\nTimeoutStartSec=infinity\n",
    # Its main process dies while starting: the unit fails.
    "tss-dies.service": "[Service]\nType=notify\nExecStart=/bin/sh -c 'sleep 0.2; exit 1'\n",
    # The start job itself fails (systemctl start exits non-zero).
    "tss-refused.service": "[Service]\nType=oneshot\nExecStart=/bin/false\n",
    # Reports READY once /run/tss-go exists: activating until the test says.
    "tss-gated.service": (
        "[Service]\nType=notify\nNotifyAccess=all\n"
        "ExecStart=/bin/sh -c 'while [ ! -e /run/tss-go ]; do sleep 0.05; done; systemd-notify --ready; exec sleep infinity'\n"
    ),
}


@pytest.fixture(scope="module")
def units(sd_node: Node) -> Node:
    for name, text in UNITS.items():
        sd_node.write(f"/etc/systemd/system/{name}", text)
    sd_node.systemctl("daemon-reload", check=True)
    return sd_node


def services(*items: str) -> str:
    return "".join(f"  - service: {item}\n" for item in items)


def transition(node: Node, action: str) -> tuple[int, dict[str, object]]:
    result = node.run([TWINSTAR, action, "--json"], timeout=120)
    return result.returncode, json.loads(result.stdout)


def failure(report: dict[str, object]) -> str:
    return " ".join(str(s.get("error") or "") for s in report["steps"])  # type: ignore[union-attr]


def active(node: Node, unit: str) -> str:
    return node.systemctl("is-active", "--", unit).stdout.strip()


def test_takeover_starts_a_notify_unit_and_the_real_apache2_and_release_stops_them(units: Node, node: Node) -> None:
    node.configure(services("{name: tss-slow.service, manager: systemd}", "{name: apache2, manager: systemd, timeout: 60}"))
    code, report = transition(node, "takeover")
    assert code == 0, report
    assert active(node, "tss-slow.service") == "active"
    assert active(node, "apache2.service") == "active"
    # Apache really serves, in the node's own network namespace.
    probe = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1/', timeout=10).status)"
    assert node.run(["python3", "-c", probe], check=True).stdout.strip() == "200"
    code, report = transition(node, "release")
    assert code == 0, report
    assert active(node, "tss-slow.service") == "inactive"
    assert active(node, "apache2.service") == "inactive"


def test_a_unit_that_never_becomes_ready_fails_at_the_step_timeout_and_is_stopped(units: Node, node: Node) -> None:
    node.configure(command_step("before", ["/bin/true"]) + services("{name: tss-never.service, manager: systemd, timeout: 2}"))
    code, report = transition(node, "takeover")
    assert code == 1, report
    # The step waits for the start job: its timeout ends the wait.
    assert "systemd's start job for tss-never.service did not finish within 2 s" in failure(report)
    # The rollback stopped the unit that was still activating (activating counts as up for a release).
    assert [(r["step"], r["result"]) for r in report["rollback"]] == [("service:tss-never.service", "undone"), ("command:before", "undone")]  # type: ignore[index]
    assert active(node, "tss-never.service") == "inactive"


def test_a_unit_that_fails_while_starting_fails_the_step(units: Node, node: Node) -> None:
    node.configure(services("{name: tss-dies.service, manager: systemd, timeout: 60}"))
    code, report = transition(node, "takeover")
    assert code == 1, report
    assert "start failed: systemd's start job for tss-dies.service ended 'failed'" in failure(report)
    assert "journalctl -u tss-dies.service" in failure(report)
    assert active(node, "tss-dies.service") == "failed"


def test_a_start_job_that_fails_is_reported(units: Node, node: Node) -> None:
    node.configure(services("{name: tss-refused.service, manager: systemd, timeout: 60}"))
    code, report = transition(node, "takeover")
    assert code == 1, report
    assert "start failed: systemd's start job for tss-refused.service ended 'failed'" in failure(report)


def test_a_missing_unit_is_reported(units: Node, node: Node) -> None:
    node.configure(services("{name: tss-absent.service, manager: systemd, timeout: 10}"))
    code, report = transition(node, "takeover")
    assert code == 1, report
    assert "start failed: systemd: Unit tss-absent.service not found." in failure(report)


def test_the_step_drives_systemd_over_the_system_bus_and_through_systemctl_without_it(units: Node, node: Node) -> None:
    """Over the bus, no ``systemctl`` process runs; with the bus daemon stopped, the step falls back to
    ``systemctl`` (which reaches systemd without it) and says so."""
    node.configure(services("{name: tss-slow, manager: systemd}"))
    over_bus = node.run([TWINSTAR, "takeover", "--json"], timeout=120)
    assert over_bus.returncode == 0, over_bus.stdout + over_bus.stderr
    assert "systemd: StartUnit tss-slow.service" in over_bus.stderr
    assert "systemctl" not in over_bus.stderr
    assert active(node, "tss-slow.service") == "active"
    code, report = transition(node, "release")
    assert code == 0, report
    assert active(node, "tss-slow.service") == "inactive"
    node.systemctl("stop", "dbus.socket", "dbus.service", check=True)
    try:
        without = node.run([TWINSTAR, "takeover", "--json"], timeout=120)
        assert without.returncode == 0, without.stdout + without.stderr
        assert "cannot connect to the system bus" in without.stderr and "using systemctl" in without.stderr
        assert "systemctl start -- tss-slow" in without.stderr
        assert active(node, "tss-slow.service") == "active"
        code, report = transition(node, "release")
        assert code == 0, report
        assert active(node, "tss-slow.service") == "inactive"
    finally:
        node.systemctl("start", "dbus.socket", "dbus.service", check=True)


def test_a_start_whose_job_end_the_bus_did_not_bring_is_followed_by_the_units_state(units: Node, node: Node) -> None:
    """The D-Bus daemon restarts (as during its package's upgrade) while the start job waits for READY=1: the
    step says it lost the bus, follows the unit's state instead, and the takeover completes."""
    node.configure(services("{name: tss-gated, manager: systemd, timeout: 60}"))
    node.run(["rm", "-f", "--", "/run/tss-go"], check=True)
    takeover = node.spawn([TWINSTAR, "takeover", "--json"])
    try:
        node.wait_until("the start job queued", lambda: active(node, "tss-gated.service") == "activating")
        node.systemctl("restart", "dbus.service", check=True)
        node.run(["touch", "--", "/run/tss-go"], check=True)
        out, err = takeover.communicate(timeout=120)
    finally:
        if takeover.poll() is None:
            takeover.kill()
            takeover.communicate()
    assert takeover.returncode == 0, out + err
    assert "lost the system bus while waiting for the StartUnit job of tss-gated.service" in err
    assert "reading the unit's state instead" in err
    assert active(node, "tss-gated.service") == "active"
    code, report = transition(node, "release")
    assert code == 0, report
    assert active(node, "tss-gated.service") == "inactive"


@pytest.mark.parametrize("unit", ["tss-slow.service", "apache2.service", "system-getty.slice", "dbus.socket"])
def test_the_unit_object_path_is_the_one_systemd_gives(units: Node, unit: str) -> None:
    """systemd's own GetUnit (for a loaded unit) answers the path the step computes for the name."""
    units.systemctl("start", "--", unit, check=True)
    try:
        answer = units.run(["busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                            "org.freedesktop.systemd1.Manager", "GetUnit", "s", unit], check=True).stdout  # fmt: skip
        assert answer.split() == ["o", f'"{unit_path(unit)}"']
    finally:
        if unit in ("tss-slow.service", "apache2.service"):
            units.systemctl("stop", "--", unit)


def test_the_fast_mariadb_start_runs_mariadbd_itself_and_the_debian_checks_after_it(node: Node) -> None:
    """docs/steps.md's drop-in for Debian's ``mariadb.service`` (the real stack's servers use it), under a real
    systemd with Debian's MariaDB: the unit's main process is ``mariadbd`` (no shell asking ``galera_recovery``),
    the service step's ``systemctl start`` returns with MariaDB active, ``debian-start`` runs in its own unit
    after it, and a release stops both."""
    from twinstar.demo.stack import mariadb

    node.run(["rm", "-rf", "--", "/var/lib/mysql"], check=True)
    node.run(["install", "-d", "-o", "mysql", "-g", "mysql", "--", "/var/lib/mysql"], check=True)
    node.run(mariadb.install_argv("/var/lib/mysql"), check=True, timeout=180)
    node.write(mariadb.UNIT_DROPIN, mariadb.unit_dropin())
    node.write(mariadb.CHECKS_UNIT, mariadb.checks_unit())
    node.systemctl("daemon-reload", check=True)
    try:
        node.configure(services("{name: mariadb, manager: systemd, timeout: 120}"))
        code, report = transition(node, "takeover")
        assert code == 0, report
        assert active(node, "mariadb") == "active"
        unit = node.show("mariadb", "ExecStart", "ExecStartPost")
        assert "galera_recovery" not in unit["ExecStart"] and "argv[]=/usr/sbin/mariadbd " in unit["ExecStart"]
        assert unit.get("ExecStartPost", "") == ""  # systemctl show leaves an empty list out
        main = node.prop("mariadb", "ExecMainPID")
        assert node.run(["cat", f"/proc/{main}/comm"], check=True).stdout.strip() == "mariadbd"
        node.wait_until("the Debian checks after MariaDB's start",
                        lambda: node.prop("mariadb-debian-start.service", "ActiveState") == "active")  # fmt: skip
        checks_began = int(node.prop("mariadb-debian-start.service", "ExecMainStartTimestampMonotonic"))
        assert checks_began >= int(node.prop("mariadb", "ActiveEnterTimestampMonotonic")) > 0
        code, report = transition(node, "release")
        assert code == 0, report
        assert active(node, "mariadb") == "inactive"
        assert active(node, "mariadb-debian-start.service") == "inactive"
    finally:
        node.systemctl("stop", "mariadb")
        for path in (mariadb.UNIT_DROPIN, mariadb.CHECKS_UNIT):
            node.host_path(path).unlink(missing_ok=True)
        node.systemctl("daemon-reload")
