"""The simulated Astribank: its commands, its state file, and the descriptors pyusb sees."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import usb.core
import usb.util

from twinstar.errors import UsageError
from twinstar.usb import sim, simbackend
from twinstar.usb.transport import BusChoice, choose_bus, select
from twinstar.usb.units import Astribanks

Runner = Callable[..., Any]


def test_sim_init_show_set(cli: Runner, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    r = cli("sim", "init", str(path), "--units", "2", "--port", "1")
    assert r.returncode == 0, r.stderr
    r = cli("sim", "show", str(path))
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["#", "SERIAL", "PRODUCT", "DEVICE", "PORT", "WATCHDOG", "POWER0", "POWER1",
                                "TWINSTAR", "EEPROM", "FAULTS"]
    assert lines[1].split() == ["1", "SIM00001", "1162", "usb:001/002", "1", "off", "yes", "yes", "yes", "large", "-"]
    r = cli("sim", "set", str(path), "usb:SIM00002", "power0=off", "busy=on", "timeout=on", "watchdog=on")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].split() == [
        "2", "SIM00002", "1162", "usb:001/003", "1", "on", "no", "yes", "yes", "large", "busy,timeout"]
    data = json.loads(cli("sim", "show", str(path), "--json").stdout)
    assert data["units"][1]["faults"] == ["busy", "timeout"]
    assert data["units"][0]["power0"] is True


def test_sim_set_port_re_enumerates(cli: Runner, sim_file: Path, read_state) -> None:
    before = read_state(sim_file)["units"][0]["address"]
    assert cli("sim", "set", str(sim_file), "1", "port=1").returncode == 0
    after = read_state(sim_file)["units"]
    assert after[0]["port"] == 1
    assert after[0]["address"] not in {before} | {u["address"] for u in after[1:]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["9", "port=1"], "no simulated unit '9'"),
        (["1", "port=2"], "port=2: expected 0 or 1"),
        (["1", "power1=maybe"], "power1=maybe: expected on or off"),
        (["1", "colour=red"], "unknown setting 'colour'"),
        (["1", "port"], "'port': expected KEY=VALUE"),
        (["1", "eeprom=huge"], "eeprom=huge: expected one of none, small, large"),
        (["1", "watchdog=on", "product=xyz"], "product=xyz: expected a hex product id"),
    ],
)
def test_sim_set_bad_input_changes_nothing(cli: Runner, sim_file: Path, args: list[str], message: str) -> None:
    before = sim_file.read_bytes()
    r = cli("sim", "set", str(sim_file), *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert sim_file.read_bytes() == before


def test_sim_commands_reject_bad_files(cli: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    r = cli("sim", "show", str(missing))
    assert r.returncode == 2
    assert f"{missing}: simulator state file not found" in r.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "next_address": 3, "next_claim": 1, "units": [{"serial": "A"}]}')
    r = cli("sim", "show", str(broken))
    assert r.returncode == 2
    assert "units[0].product: expected a hex product id" in r.stderr
    broken.write_text("{not json")
    r = cli("sim", "show", str(broken))
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    r = cli("sim", "init", str(tmp_path / "x.json"), "--units", "0")
    assert r.returncode == 2 and "--units must be between 1 and 100" in r.stderr
    # The hardware commands report a broken simulator file as bad input too.
    r = cli("status", env={"TWINSTAR_USB_SIMULATOR": str(broken)})
    assert r.returncode == 2 and "not valid JSON" in r.stderr


def test_descriptors_look_like_an_astribank(sim_file: Path) -> None:
    backend = simbackend.SimBackend(str(sim_file), port=0)
    devices = list(usb.core.find(find_all=True, backend=backend))
    assert [(d.idVendor, d.idProduct, d.bus, d.address) for d in devices] == [
        (0xE4E4, 0x1162, 1, 2), (0xE4E4, 0x1162, 1, 3), (0xE4E4, 0x1162, 1, 4)]
    dev = devices[0]
    assert dev.serial_number == "SIM00001"
    assert dev.manufacturer == "Xorcom LTD"
    cfg = dev[0]
    layout = {
        intf.bInterfaceNumber: [(ep.bEndpointAddress, ep.bmAttributes, ep.wMaxPacketSize) for ep in intf]
        for intf in cfg
    }
    assert layout == {0: [(0x02, 2, 512), (0x86, 2, 512)], 1: [(0x04, 2, 512), (0x88, 2, 512)]}
    # Interface 0 belongs to the kernel driver: claiming it is refused like usbfs does.
    with pytest.raises(usb.core.USBError) as info:
        usb.util.claim_interface(dev, 0)
    assert info.value.errno == 16  # EBUSY
    usb.util.dispose_resources(dev)


def test_a_host_sees_only_units_on_its_port(sim_file: Path) -> None:
    with sim.update(str(sim_file)) as state:
        sim.set_port(state, state["units"][1], 1)
    port0 = [d.serial_number for d in usb.core.find(find_all=True, backend=simbackend.SimBackend(str(sim_file), port=0))]
    port1 = [d.serial_number for d in usb.core.find(find_all=True, backend=simbackend.SimBackend(str(sim_file), port=1))]
    assert port0 == ["SIM00001", "SIM00003"]
    assert port1 == ["SIM00002"]


def test_a_stale_handle_fails_after_re_enumeration(sim_file: Path) -> None:
    hw = Astribanks(BusChoice(simulator=str(sim_file), port=0, lock_dir=f"{sim_file}.locks"))
    unit = hw.units()[0]
    with sim.update(str(sim_file)) as state:
        sim.reenumerate(state, state["units"][0])
    from twinstar.usb.errors import UsbDisconnectedError

    with pytest.raises(UsbDisconnectedError, match="usb:001/002 \\(usb:SIM00001\\): the unit disconnected"):
        with hw.session(unit):
            pass


def test_choose_bus_environment_overrides_configuration() -> None:
    from twinstar.config import UsbConfig

    assert choose_bus(UsbConfig(), {}) == BusChoice()
    c = choose_bus(UsbConfig(simulator="/a/s.json", simulator_port=1), {})
    assert (c.simulator, c.port, c.lock_dir) == ("/a/s.json", 1, "/a/s.json.locks/port1")
    c = choose_bus(UsbConfig(simulator="/a/s.json", simulator_port=1),
                   {"TWINSTAR_USB_SIMULATOR": "/b/t.json", "TWINSTAR_USB_SIM_PORT": "0"})
    assert (c.simulator, c.port) == ("/b/t.json", 0)
    with pytest.raises(UsageError, match="expected 0 or 1"):
        choose_bus(UsbConfig(), {"TWINSTAR_USB_SIM_PORT": "x"})


def test_select_by_address_and_label(sim_file: Path) -> None:
    hw = Astribanks(BusChoice(simulator=str(sim_file), port=0, lock_dir=f"{sim_file}.locks"))
    units = hw.scan()
    assert [u.name for u in select(units, ["usb:1/4", "usb:SIM00001", "001/004"])] == ["usb:001/004", "usb:001/002"]
    for bad in ("usb:SIM0000.", "usb:001/00٣", "", "usb:", "SIM00001"):
        with pytest.raises(UsageError, match="no such unit on this host"):
            select(units, [bad])


def test_python_api_for_other_processes(sim_file: Path) -> None:
    """The demo and the hardware driver change units through sim.update / apply_setting."""
    with sim.update(str(sim_file)) as state:
        for unit in sim.find_units(state, "all"):
            sim.apply_setting(state, unit, "power0", "off")
        sim.set_port(state, sim.find_units(state, "SIM00003")[0], 1)
    state = sim.load(str(sim_file))
    assert [u["power0"] for u in state["units"]] == [False, False, False]
    assert [u["port"] for u in state["units"]] == [0, 0, 1]


def test_importing_rearm_does_not_load_pyusb() -> None:
    code = "import sys, twinstar.usb.watchdog; print(sorted(m for m in sys.modules if m == 'usb' or m.startswith('usb.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_change_is_written_in_place_and_a_shorter_state_stays_whole_json(tmp_path: Path) -> None:
    """The state file is rewritten over itself (no rename), padded with blanks when the new text is shorter."""
    path = tmp_path / "s.json"
    sim.init_state(str(path), units=2, port=0)
    inode, size = path.stat().st_ino, path.stat().st_size
    with sim.update(str(path)) as state:
        for u in state["units"]:
            u["faults"] = ["no_reply", "short_reply", "wrong_seq"]
    assert path.stat().st_ino == inode and path.stat().st_size > size
    grown = path.stat().st_size
    with sim.update(str(path)) as state:
        for u in state["units"]:
            u["faults"] = []
    assert path.stat().st_ino == inode and path.stat().st_size == grown
    assert [u["faults"] for u in json.loads(path.read_bytes())["units"]] == [[], []]
    assert sim.load(str(path))["units"][0]["serial"] == "SIM00001"


def test_a_snapshot_is_parsed_again_only_when_the_file_changed(tmp_path: Path) -> None:
    path = str(tmp_path / "s.json")
    sim.init_state(path, units=1, port=0)
    first = sim.snapshot(path)
    assert sim.snapshot(path) is first
    with sim.update(path) as state:
        state["units"][0]["watchdog"] = True
    again = sim.snapshot(path)
    assert again is not first and again["units"][0]["watchdog"] is True
    Path(path).write_text("{not json")
    with pytest.raises(sim.SimStateError, match="not valid JSON"):
        sim.snapshot(path)
