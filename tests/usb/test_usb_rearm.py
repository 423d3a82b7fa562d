"""The hook path's watchdog re-arm of one unit found by its USB bus/device numbers.

Stand-in: the simulated Astribank (a pyusb backend); the rest is production code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from twinstar.usb import sim
from twinstar.usb.errors import NotCapableError, NoUnitError, UsbTimeoutError
from twinstar.usb.watchdog import rearm_watchdog


def env(path: Path, port: int = 0) -> dict[str, str]:
    return {"TWINSTAR_USB_SIMULATOR": str(path), "TWINSTAR_USB_SIM_PORT": str(port)}


def test_rearm_enables_only_that_unit(sim_file: Path, read_state) -> None:
    assert rearm_watchdog(None, 1, 3, environ=env(sim_file)) == "usb:001/003 (usb:SIM00002): watchdog on"
    assert [u["watchdog"] for u in read_state(sim_file)["units"]] == [False, True, False]


def test_rearm_uses_the_configuration(sim_file: Path, read_state) -> None:
    from twinstar.config import parse

    config = parse(f"usb: {{simulator: {sim_file}, simulator_port: 0}}\ntakeover: [{{command: {{name: noop, start: [/bin/true], stop: [/bin/true]}}}}]\n", "t.yaml")
    rearm_watchdog(config, 1, 4, environ={})
    assert [u["watchdog"] for u in read_state(sim_file)["units"]] == [False, False, True]


def test_rearm_errors(sim_file: Path) -> None:
    with pytest.raises(NoUnitError, match="usb:001/099: no Astribank at this USB address"):
        rearm_watchdog(None, 1, 99, environ=env(sim_file))
    with pytest.raises(NoUnitError):
        rearm_watchdog(None, 1, 2, environ=env(sim_file, port=1))  # that host does not see it
    with sim.update(str(sim_file)) as state:
        sim.apply_setting(state, state["units"][0], "twinstar", "off")
        sim.apply_setting(state, state["units"][1], "timeout", "on")
    with pytest.raises(NotCapableError, match="usb:001/002 \\(usb:SIM00001\\): not TwinStar-capable"):
        rearm_watchdog(None, 1, 2, environ=env(sim_file))
    with pytest.raises(UsbTimeoutError, match="usb:001/003"):
        rearm_watchdog(None, 1, 3, environ=env(sim_file))
