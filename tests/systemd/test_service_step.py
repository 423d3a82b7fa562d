"""The ``service`` step with ``manager: systemd`` against real units under a real systemd.

Real parts: systemd, systemctl, the installed ``twinstar takeover`` and
``release``, small units written here and Debian's own ``apache2.service``.
No stand-in.
"""

from __future__ import annotations

import json

import pytest

from tests.support.nspawn import TWINSTAR, Node
from tests.systemd.helpers import command_step

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
    # systemctl start waits for the start job: the step's timeout ends it.
    assert "systemctl start -- tss-never.service did not finish within 2 s" in failure(report)
    # The rollback stopped the unit that was still activating (activating counts as up for a release).
    assert [(r["step"], r["result"]) for r in report["rollback"]] == [("service:tss-never.service", "undone"), ("command:before", "undone")]  # type: ignore[index]
    assert active(node, "tss-never.service") == "inactive"


def test_a_unit_that_fails_while_starting_fails_the_step(units: Node, node: Node) -> None:
    node.configure(services("{name: tss-dies.service, manager: systemd, timeout: 60}"))
    code, report = transition(node, "takeover")
    assert code == 1, report
    assert "systemctl start -- tss-dies.service; exited with status 1" in failure(report)
    assert "journalctl -u tss-dies.service" in failure(report)
    assert active(node, "tss-dies.service") == "failed"


def test_a_start_job_that_fails_is_reported(units: Node, node: Node) -> None:
    node.configure(services("{name: tss-refused.service, manager: systemd, timeout: 60}"))
    code, report = transition(node, "takeover")
    assert code == 1, report
    assert "start failed: /usr/bin/systemctl start -- tss-refused.service; exited with status 1" in failure(report)


def test_a_missing_unit_is_reported(units: Node, node: Node) -> None:
    node.configure(services("{name: tss-absent.service, manager: systemd, timeout: 10}"))
    code, report = transition(node, "takeover")
    assert code == 1, report
    assert "exited with status 5; stderr: Failed to start tss-absent.service: Unit tss-absent.service not found." in failure(report)
