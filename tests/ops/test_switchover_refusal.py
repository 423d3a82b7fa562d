"""``twinstar switchover`` refuses when the peer's port has no power, and changes nothing.

Runs on the demo's machines (namespaces, loop-mounted ext4, real hook and
engine): pbx-a is brought up, USB-1 loses power on one unit, and switchover
on pbx-a must exit 3 before releasing anything. Stand-ins: the USB simulator,
fake sysfs, the drbdadm stand-in (design.md).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from tests.demo.leftovers import new_demo_parts, snapshot
from twinstar.demo.cleanup import CleanupRegistry
from twinstar.demo.scenario import Options, Run, Scenario
from twinstar.demo.topology import in_netns
from twinstar.engine.proc import ProgramRunner
from twinstar.engine.state import StateStore
from twinstar.standins import drbdadm
from twinstar.usb import sim

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("cc", "ip", "losetup", "mkfs.ext4", "nsenter", "umount")


def observe(run: Run) -> dict[str, Any]:
    """What a refusal must not change: role, shared address, mount, DRBD roles, unit ports."""
    runner = ProgramRunner()
    a = run.servers["a"]
    assert run.shared is not None
    addr = runner.run(["ip", "-n", a.host.netns, "-j", "addr", "show", "dev", "eth0"], timeout=10).stdout
    with open("/proc/self/mountinfo") as f:
        mounted = any(line.split(" ", 5)[4] == a.mountpoint for line in f)
    drbd = drbdadm.read_state(run.shared.drbd_state)["resources"]["r0"]["nodes"]
    return {
        "role": StateStore(a.state_dir).read().role.value,
        "addresses": sorted(i["local"] for e in json.loads(addr) for i in e["addr_info"]),
        "mounted": mounted,
        "drbd": drbd,
        "ports": [u["port"] for u in sim.load(run.shared.sim)["units"]],
        "journal_lines": len(StateStore(a.state_dir).read_journal()),
    }


@pytest.mark.privileged
def test_switchover_refused_without_peer_power_changes_nothing() -> None:
    before_run = snapshot()
    cleanup = CleanupRegistry()
    run = Run(Scenario.SWITCHOVER, Options(units=2), cleanup, lambda message: None)
    try:
        run.build()
        run.start_processes()
        run.bring_up_a()
        assert run.shared is not None
        with sim.update(run.shared.sim) as state:
            state["units"][1]["power1"] = False
        before = observe(run)
        assert before["role"] == "active" and "10.213.0.100" in before["addresses"] and before["mounted"]
        a = run.servers["a"]
        result = ProgramRunner().run(
            in_netns(a.host.netns, [sys.executable, "-m", "twinstar", "switchover"]),
            timeout=60,
            ok_codes=None,
            env={"TWINSTAR_CONFIG": a.config},
        )
        assert result.returncode == 3, result.output
        assert "no power" in result.output and "nothing was released" in result.output
        assert "usb:SIM00002" in result.output
        assert observe(run) == before
        assert run.served_by("pbx-a")
    finally:
        for proc in run.procs.values():
            proc.kill()
            proc.wait()
        failures = cleanup.run()
    assert failures == []
    assert new_demo_parts(before_run, snapshot()) == []
