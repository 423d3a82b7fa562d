"""While ``twinstar switchover`` runs, the released node is not taken over again.

After the release every unit is still READY on this (now standby) node until
the jump moves it. A hook event in that window must not start a takeover.
Stand-ins: the fake sysfs tree and the USB simulator, whose ``stuck`` fault
keeps the units here after PORT_SET, so the window lasts until the leave
timeout. The hook, the engine, the switchover and its command step are real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from tests.support.node import REPO, Node
from twinstar.usb import sim

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("test", "touch")


def test_hook_event_during_switchover_does_not_take_over_again(node: Node, tmp_path: Path) -> None:
    sim_file = tmp_path / "units.json"
    assert run_twinstar(None, "sim", "init", str(sim_file), "--units", "2").returncode == 0
    for unit in ("1", "2"):
        assert run_twinstar(None, "sim", "set", str(sim_file), unit, "stuck=on").returncode == 0
    marker = tmp_path / "pbx-up"
    steps = f"  - command: {{name: pbx, start: [/usr/bin/touch, {marker}], stop: [/usr/bin/rm, -f, {marker}], check: [/usr/bin/test, -e, {marker}]}}\n"
    node.configure(steps=steps, extra=f"usb: {{simulator: {sim_file}, simulator_port: 0}}\nswitchover: {{leave_timeout: 4}}\n")
    node.listed(2)
    for i in range(2):
        node.arrive(i)
    assert node.evaluate(None).decision.action == "takeover"
    assert node.role() == "active" and marker.exists()

    env = {k: v for k, v in node.environ().items()}
    switchover = subprocess.Popen(
        [sys.executable, "-m", "twinstar", "--config", str(node.config_path), "switchover", "--drain-timeout", "0"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while node.role() != "standby" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert node.role() == "standby", "the switchover did not release"
        assert switchover.poll() is None, "the jump should still be waiting for the stuck units"
        event = {"ACTION": "online", "XBUS_NAME": "XBUS-00", "XBUS_NUM": "00", "DEVPATH": "/devices/xbus-00"}
        result = node.run_hook(event)
        assert result.returncode == 0, result.stderr
        assert "switchover" in result.stderr
        assert node.role() == "standby" and not marker.exists()
        assert node.begins("takeover") == 1
    finally:
        out, err = switchover.communicate(timeout=60)
    assert switchover.returncode == 1, (out, err)  # the stuck units never left
    assert "not every unit moved" in out + err or "left" in out + err
    assert [u["port"] for u in sim.load(str(sim_file))["units"]] == [0, 0]
    # Once the switchover process is gone, its record no longer blocks: the next
    # event may take the node over again, since the units stayed here.
    result = node.run_hook({"ACTION": "online", "XBUS_NAME": "XBUS-01", "XBUS_NUM": "01", "DEVPATH": "/devices/xbus-01"})
    assert result.returncode == 0, result.stderr
    assert node.role() == "active" and marker.exists()
    assert os.path.exists(node.state_dir / "handoff.json")
