"""Every fault knob of the simulated Astribank produces its own clear error; the other units still run.

Stand-in: the simulated Astribank (a pyusb backend) injects the faults; the
commands, MPP exchange and transport are the production code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Runner = Callable[..., Any]

FAULT_ERRORS = {
    "no_reply": "usb:001/003 (usb:SIM00002): protocol error: no reply to STATUS_GET (an empty read)",
    "short_reply": "usb:001/003 (usb:SIM00002): protocol error: reply to STATUS_GET is 24 bytes, expected at least 25",
    "wrong_seq": "usb:001/003 (usb:SIM00002): protocol error: reply to STATUS_GET has sequence 2, expected 1",
    "busy": "usb:001/003 (usb:SIM00002): management interface 1 is busy: another program has claimed it",
    "timeout": "usb:001/003 (usb:SIM00002): timed out after 2 s while waiting for the reply to STATUS_GET",
    "denied": "usb:001/003: permission denied on /dev/bus/usb/001/003 (run twinstar as root",
    "unplug": "usb:001/003 (usb:SIM00002): the unit disconnected while waiting for the reply to STATUS_GET",
}


@pytest.mark.parametrize("fault", sorted(FAULT_ERRORS))
def test_fault_on_one_unit(fault: str, host: Runner, cli: Runner, sim_file: Path, read_state) -> None:
    assert cli("sim", "set", str(sim_file), "2", f"{fault}=on").returncode == 0
    r = host("enable-wd")
    assert r.returncode == 1
    assert FAULT_ERRORS[fault] in r.stderr
    assert "enable-wd failed on 1 of 3 units" in r.stderr
    assert "Traceback" not in r.stderr
    # The other units were handled.
    assert r.stdout.splitlines() == [
        "usb:001/002 (usb:SIM00001): watchdog on",
        "usb:001/004 (usb:SIM00003): watchdog on",
    ]
    assert [u["watchdog"] for u in read_state(sim_file)["units"]] == [True, False, True]
    assert [u["claim"] for u in read_state(sim_file)["units"]] == [None, None, None]  # every interface released
    # status leaves the unit out of the vendor's table, with the error on stderr (exit 1) ...
    r = host("status")
    assert r.returncode == 1
    assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == ["usb:001/002", "usb:001/004"]
    assert r.stderr.startswith("twinstar: error: usb:001/00") and len(r.stderr.splitlines()) == 1
    # ... and -v shows the error in the unit's row and still lists the others.
    r = host("status", "-v")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 4
    assert sorted(line.split()[1] for line in lines[1:]) == ["usb:SIM00001", "usb:SIM00002", "usb:SIM00003"] or (
        fault == "denied" and lines[2].split()[1] == "-"  # no permission: the serial cannot be read either
    )
    assert sum("error:" in line for line in lines) == 1


def test_nopwr_refusal_on_port_set_is_reported(host: Runner, cli: Runner, sim_file: Path, read_state) -> None:
    """The unit itself refuses PORT_SET although PWR_GET said the other port is powered."""
    assert cli("sim", "set", str(sim_file), "1", "nopwr=on").returncode == 0
    r = host("jump", "--device", "usb:001/002")
    assert r.returncode == 3
    assert (
        "usb:001/002 (usb:SIM00001): the unit refused to switch to port 1: "
        "no power on the USB connector (status 0x10)"
    ) in r.stderr
    unit = read_state(sim_file)["units"][0]
    assert (unit["port"], unit["address"]) == (0, 2)


def test_fault_during_jump_leaves_other_units_jumping(host: Runner, cli: Runner, sim_file: Path, read_state) -> None:
    assert cli("sim", "set", str(sim_file), "3", "wrong_seq=on").returncode == 0
    r = host("jump")
    assert r.returncode == 1
    assert "usb:001/004 (usb:SIM00003): protocol error: reply to STATUS_GET has sequence 2, expected 1" in r.stderr
    assert [u["port"] for u in read_state(sim_file)["units"]] == [1, 1, 0]


def test_unplug_after_status_is_a_disconnect(host: Runner, cli: Runner, sim_file: Path, read_state) -> None:
    assert cli("sim", "set", str(sim_file), "1", "unplug=on").returncode == 0
    r = host("ports", "--device", "usb:001/002")
    assert r.returncode == 1
    assert "usb:001/002 (usb:SIM00001): the unit disconnected" in r.stderr
    assert read_state(sim_file)["units"][0]["address"] != 2  # it re-enumerated


def test_jump_that_does_not_leave_times_out(cli: Runner, sim_file: Path, tmp_path: Path) -> None:
    """PORT_SET silently ignored: the unit is still here after switchover.leave_timeout."""
    conf = tmp_path / "twinstar.yaml"
    conf.write_text(f"usb: {{simulator: {sim_file}}}\nswitchover: {{leave_timeout: 0.3}}\ntakeover: [{{command: {{name: noop, start: [/bin/true], stop: [/bin/true]}}}}]\n")
    assert cli("sim", "set", str(sim_file), "1", "stuck=on").returncode == 0
    r = cli("--config", str(conf), "jump")
    assert r.returncode == 1
    assert (
        "usb:001/002 (usb:SIM00001): sent the port switch but the unit is still on this host after 0.3 s"
    ) in r.stderr
    assert r.stdout.count("it has left this host") == 2
