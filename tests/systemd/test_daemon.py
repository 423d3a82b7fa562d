"""``twinstar.service`` (the daemon) under a real systemd: notify, watchdog, reload, stop, bad configuration.

Real parts: systemd (PID 1 in a container), the installed unit and
``twinstar daemon``, units started by its takeover. Stand-in: the fake sysfs
(the xpp driver cannot load here).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.support.nspawn import Node
from tests.systemd.helpers import DAEMON, command_step, state

pytestmark = pytest.mark.privileged

SERVICE_UNIT = "[Service]\nType=simple\nExecStart=/bin/sleep infinity\n"
UNIT = "/etc/systemd/system/twinstar.service"


def arrive(node: Node, count: int) -> None:
    for i in range(count):
        node.sysfs.arrive(i, label=f"usb:{i:08d}", connector=f"usb-0000:00:1d.7-{i}")


def daemon_info(node: Node) -> dict[str, object]:
    text = node.read("/run/twinstar/daemon.json")
    return json.loads(text) if text else {}


@pytest.fixture
def short_watchdog(node: Node) -> Iterator[None]:
    """The installed unit's own WatchdogSec= and RestartSec= values shortened in place (2 s, 0.2 s), restored after.

    Only the values change: without a WatchdogSec= line in the installed
    unit there is no watchdog, and the tests using this fail.
    """
    path = node.host_path(UNIT)
    installed = path.read_text()
    path.write_text(re.sub(r"^RestartSec=.*$", "RestartSec=0.2s", re.sub(r"^WatchdogSec=.*$", "WatchdogSec=2s", installed, flags=re.M), flags=re.M))
    node.systemctl("daemon-reload", check=True)
    yield
    path.write_text(installed)
    node.systemctl("daemon-reload", check=True)


def test_start_returns_after_ready_and_the_status_says_the_role(node: Node) -> None:
    node.configure(command_step("noop", ["/bin/true"]), units=1)
    node.systemctl("start", DAEMON, check=True, timeout=60)  # Type=notify: returns after READY=1
    props = node.show(DAEMON, "ActiveState", "SubState", "StatusText", "NRestarts", "MainPID")
    assert (props["ActiveState"], props["SubState"], props["NRestarts"]) == ("active", "running", "0")
    assert "standby" in props["StatusText"], props
    assert daemon_info(node).get("ready") is True


def test_the_installed_unit_has_a_watchdog_and_the_daemon_pings_it(node: Node, short_watchdog: None) -> None:
    node.configure(command_step("noop", ["/bin/true"]), units=1)
    node.systemctl("start", DAEMON, check=True, timeout=60)
    assert node.prop(DAEMON, "WatchdogUSec") == "2s"
    first = node.prop(DAEMON, "WatchdogTimestampMonotonic")
    node.wait_until("a WATCHDOG=1 ping", lambda: node.prop(DAEMON, "WatchdogTimestampMonotonic") != first, timeout=30)
    assert node.prop(DAEMON, "NRestarts") == "0"


def test_a_hung_daemon_is_killed_by_the_watchdog_and_restarted(node: Node, short_watchdog: None) -> None:
    node.configure(command_step("noop", ["/bin/true"]), units=1)
    node.systemctl("start", DAEMON, check=True, timeout=60)
    hung = node.prop(DAEMON, "MainPID")
    node.run(["kill", "-STOP", hung], check=True)
    node.wait_until(
        "the watchdog restart",
        lambda: (p := node.show(DAEMON, "NRestarts", "ActiveState", "MainPID"))["NRestarts"] == "1"
        and p["ActiveState"] == "active"
        and p["MainPID"] not in ("0", hung),
        timeout=60,
    )
    messages = [str(e.get("MESSAGE")) for e in node.journal_entries() if e.get("UNIT") == DAEMON]
    assert any("Watchdog timeout" in m for m in messages), messages


def test_systemctl_reload_rereads_the_configuration(node: Node) -> None:
    node.configure(command_step("noop", ["/bin/true"]), units=1)
    node.systemctl("start", DAEMON, check=True, timeout=60)
    pid = node.prop(DAEMON, "MainPID")
    text = node.host_path("/etc/twinstar/twinstar.yaml").read_text()
    node.write("/etc/twinstar/twinstar.yaml", text.replace(f"node: {node.name}", "node: renamed"), mode=0o600)
    node.systemctl("reload", DAEMON, check=True)
    node.wait_until("the reload", lambda: daemon_info(node).get("node") == "renamed", timeout=30)
    assert node.prop(DAEMON, "MainPID") == pid  # the same process, not a restart
    assert (daemon_info(node).get("last_reload") or {}).get("ok") is True  # type: ignore[union-attr]
    # A broken file on reload keeps the running configuration.
    node.write("/etc/twinstar/twinstar.yaml", "node: [unclosed\n", mode=0o600)
    node.systemctl("reload", DAEMON, check=True)
    node.wait_until("the failed reload", lambda: (daemon_info(node).get("last_reload") or {}).get("ok") is False, timeout=30)  # type: ignore[union-attr]
    assert node.show(DAEMON, "ActiveState", "MainPID") == {"ActiveState": "active", "MainPID": pid}
    assert daemon_info(node).get("node") == "renamed"


def test_stopping_the_daemon_leaves_the_services_of_an_active_node_running(node: Node) -> None:
    node.write("/etc/systemd/system/tss-pbx.service", SERVICE_UNIT)
    node.systemctl("daemon-reload", check=True)
    pidfile = "/srv/twinstar-test/helper.pid"
    helper = ["/bin/sh", "-c", f"sleep infinity > /dev/null 2>&1 & echo $! > {pidfile}"]
    node.configure(
        command_step("helper", helper, stop=["/bin/sh", "-c", f"kill $(cat {pidfile})"])
        + "  - service: {name: tss-pbx.service, manager: systemd}\n",
        units=1,
        extra="daemon: {release_on_stop: false}\n",
    )
    arrive(node, 1)
    node.systemctl("start", DAEMON, check=True, timeout=60)  # evaluates at start: all ready, takes over
    node.wait_until("the takeover", lambda: state(node).get("role") == "active", timeout=60)
    helper_pid = node.host_path(pidfile).read_text().strip()
    node.systemctl("stop", DAEMON, check=True, timeout=60)
    assert node.prop(DAEMON, "ActiveState") == "inactive"
    assert node.systemctl("is-active", "tss-pbx.service").stdout.strip() == "active"
    assert node.run(["kill", "-0", helper_pid]).returncode == 0, "KillMode=process must leave the command step's process"
    assert state(node).get("role") == "active"
    node.systemctl("stop", "tss-pbx.service")
    node.run(["kill", helper_pid])


def test_a_bad_configuration_is_exit_2_and_not_restarted(node: Node) -> None:
    node.write("/etc/twinstar/twinstar.yaml", "node: x\nbogus_key: 1\ntakeover: []\n", mode=0o600)
    result = node.systemctl("start", DAEMON, timeout=60)
    assert result.returncode != 0
    props = node.show(DAEMON, "ActiveState", "SubState", "Result", "ExecMainStatus", "NRestarts")
    # Restart=on-failure would show "auto-restart" here; RestartPreventExitStatus=2 stops it.
    assert props == {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code", "ExecMainStatus": "2", "NRestarts": "0"}
