"""Every hardware command as a real process against the simulated Astribank.

Stand-in: only the pyusb backend is simulated (twinstar/usb/simbackend.py); the
commands, MPP exchange and transport are the production code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Runner = Callable[..., Any]


def rows(out: str) -> dict[str, list[str]]:
    """The status table as {device: columns}."""
    lines = out.strip().splitlines()
    assert lines[0].split()[:6] == ["DEVICE", "LABEL", "PORT", "WATCHDOG", "POWER0", "POWER1"]
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_status_lists_every_unit(host: Runner) -> None:
    r = host("status")
    assert r.returncode == 0, r.stderr
    table = rows(r.stdout)
    assert table == {
        "usb:001/002": ["usb:SIM00001", "0", "off", "yes", "yes"],
        "usb:001/003": ["usb:SIM00002", "0", "off", "yes", "yes"],
        "usb:001/004": ["usb:SIM00003", "0", "off", "yes", "yes"],
    }


def test_status_json_is_one_object(host: Runner) -> None:
    r = host("status", "--json")
    assert r.returncode == 0, r.stderr
    data = r.json()
    assert list(data) == ["units"]
    first = data["units"][0]
    assert first == {
        "device": "usb:001/002", "label": "usb:SIM00001", "product": "1162", "twinstar_capable": True,
        "note": None, "port": 0, "watchdog": False, "power0": True, "power1": True, "error": None,
    }


def test_enable_wd_then_status_shows_on(host: Runner) -> None:
    r = host("enable-wd")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "usb:001/002 (usb:SIM00001): watchdog on",
        "usb:001/003 (usb:SIM00002): watchdog on",
        "usb:001/004 (usb:SIM00003): watchdog on",
    ]
    assert {cols[2] for cols in rows(host("status").stdout).values()} == {"on"}
    r = host("disable-wd", "--device", "usb:SIM00002")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "usb:001/003 (usb:SIM00002): watchdog off\n"
    table = rows(host("status").stdout)
    assert [table[d][2] for d in sorted(table)] == ["on", "off", "on"]


def test_device_selects_by_address_and_label(host: Runner, sim_file: Path, read_state) -> None:
    r = host("enable-wd", "--device", "usb:001/004", "-D", "usb:SIM00001")
    assert r.returncode == 0, r.stderr
    assert [u["watchdog"] for u in read_state(sim_file)["units"]] == [True, False, True]
    assert r.stdout.splitlines()[0].startswith("usb:001/004")


def test_unknown_device_is_exit_2_and_lists_the_units(host: Runner, sim_file: Path, read_state) -> None:
    before = read_state(sim_file)
    r = host("enable-wd", "--device", "usb:001/002", "--device", "usb:NOSUCH")
    assert r.returncode == 2
    assert "--device 'usb:NOSUCH': no such unit on this host" in r.stderr
    assert "usb:001/002 (usb:SIM00001), usb:001/003 (usb:SIM00002), usb:001/004 (usb:SIM00003)" in r.stderr
    assert read_state(sim_file)["units"] == before["units"]  # nothing changed, not even the first unit
    assert "Traceback" not in r.stderr


def test_ports(host: Runner, cli: Runner, sim_file: Path) -> None:
    assert cli("sim", "set", str(sim_file), "2", "port=1").returncode == 0
    r = host("ports")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["usb:001/002 (usb:SIM00001): 0", "usb:001/004 (usb:SIM00003): 0"]
    r = host("ports", port=1)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["usb:001/005 (usb:SIM00002): 1"]


def test_jump_refused_when_the_other_port_has_no_power(host: Runner, cli: Runner, sim_file: Path, read_state) -> None:
    assert cli("sim", "set", str(sim_file), "SIM00002", "power1=off").returncode == 0
    before = read_state(sim_file)
    r = host("jump", "--device", "usb:001/003")
    assert r.returncode == 3
    assert "usb:001/003 (usb:SIM00002): refused to jump from port 0 to port 1: USB-1 has no power" in r.stderr
    after = read_state(sim_file)
    assert after["units"][1]["port"] == 0 and after["units"][1]["address"] == 3
    assert [u["port"] for u in after["units"]] == [u["port"] for u in before["units"]]
    assert "usb:001/003" in rows(host("status").stdout)


def test_jump_moves_the_units_to_the_other_host(host: Runner) -> None:
    r = host("jump", "--device", "usb:SIM00001")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "usb:001/002 (usb:SIM00001): jumped from port 0 to port 1; it has left this host\n"
    here = rows(host("status").stdout)
    assert set(here) == {"usb:001/003", "usb:001/004"}
    there = host("status", "--json", port=1).json()["units"]
    assert [(u["label"], u["port"]) for u in there] == [("usb:SIM00001", 1)]
    assert there[0]["device"] != "usb:001/002"  # re-enumerated with a new device number
    # ... and back again from the other host.
    r = host("jump", port=1)
    assert r.returncode == 0, r.stderr
    assert {u["label"] for u in host("status", "--json").json()["units"]} == {
        "usb:SIM00001", "usb:SIM00002", "usb:SIM00003"}


def test_jump_all_continues_past_a_refused_unit(host: Runner, cli: Runner, sim_file: Path, read_state) -> None:
    assert cli("sim", "set", str(sim_file), "2", "power1=off").returncode == 0
    r = host("jump")
    assert r.returncode == 3
    assert r.stdout.count("it has left this host") == 2
    assert "usb:001/003 (usb:SIM00002): refused" in r.stderr
    assert "jump refused on 1 of 3 units" in r.stderr
    assert [u["port"] for u in read_state(sim_file)["units"]] == [1, 0, 1]


def test_no_unit_on_this_host(host: Runner, cli: Runner, sim_file: Path) -> None:
    assert cli("sim", "set", str(sim_file), "all", "port=1").returncode == 0
    for command in (["ports"], ["jump"], ["enable-wd"], ["disable-wd"]):
        r = host(*command)
        assert r.returncode == 1, command
        assert r.stderr == "twinstar: error: no TwinStar-capable Astribank is connected to this host\n"
    # status reports it: no unit on this host is the normal state of a standby node.
    r = host("status")
    assert r.returncode == 0
    assert r.stdout == "USB: no TwinStar-capable Astribank is connected to this host\n"
    r = host("status", "--json")
    assert r.returncode == 0
    assert r.json() == {"units": [], "error": "no TwinStar-capable Astribank is connected to this host"}


def test_units_that_are_not_twinstar_capable_are_listed_and_skipped(
    host: Runner, cli: Runner, sim_file: Path, read_state
) -> None:
    assert cli("sim", "set", str(sim_file), "1", "twinstar=off").returncode == 0
    assert cli("sim", "set", str(sim_file), "2", "product=1163").returncode == 0
    assert cli("sim", "set", str(sim_file), "3", "eeprom=small").returncode == 0
    r = host("status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()[1:]
    assert "not TwinStar-capable: the TwinStar capability bit is not set" in lines[0]
    assert "not TwinStar-capable: product 1163 (TwinStar monitor)" in lines[1]
    assert "not TwinStar-capable: EEPROM type is small" in lines[2]
    r = host("enable-wd")
    assert r.returncode == 1
    assert r.stdout.count("skipped: not TwinStar-capable") == 3
    assert "no TwinStar-capable Astribank is connected to this host" in r.stderr
    r = host("enable-wd", "--device", "usb:001/002")
    assert r.returncode == 1
    assert "usb:001/002 (usb:SIM00001): not TwinStar-capable" in r.stderr
    assert not any(u["watchdog"] for u in read_state(sim_file)["units"])


def test_usb_commands_need_a_configuration_without_the_simulator(cli: Runner) -> None:
    r = cli("status")
    assert r.returncode == 2
    assert "configuration file not found" in r.stderr


def test_configuration_selects_the_simulator(cli: Runner, sim_file: Path, tmp_path: Path) -> None:
    conf = tmp_path / "twinstar.yaml"
    conf.write_text(f"node: a\nusb: {{simulator: {sim_file}, simulator_port: 1}}\ntakeover: [{{command: {{name: noop, start: [/bin/true], stop: [/bin/true]}}}}]\n")
    assert cli("sim", "set", str(sim_file), "3", "port=1").returncode == 0
    r = cli("--config", str(conf), "status", "--json")
    assert r.returncode == 0, r.stderr
    assert [u["label"] for u in r.json()["units"]] == ["usb:SIM00003"]
    # The environment overrides the configuration.
    r = cli("--config", str(conf), "status", "--json", env={"TWINSTAR_USB_SIM_PORT": "0"})
    assert [u["label"] for u in r.json()["units"]] == ["usb:SIM00001", "usb:SIM00002"]
    r = cli("--config", str(conf), "status", env={"TWINSTAR_USB_SIM_PORT": "2"})
    assert r.returncode == 2
    assert "TWINSTAR_USB_SIM_PORT='2': expected 0 or 1" in r.stderr


def test_real_usb_without_a_usb_bus(cli: Runner, tmp_path: Path) -> None:
    """No simulator: the real libusb path. This build machine has no USB bus and no Astribank."""
    conf = tmp_path / "twinstar.yaml"
    conf.write_text("node: a\ntakeover: [{command: {name: noop, start: [/bin/true], stop: [/bin/true]}}]\n")
    for command in (["ports"], ["jump"], ["enable-wd"], ["disable-wd"]):
        r = cli("--config", str(conf), *command)
        assert r.returncode == 1, (command, r.stderr)
        assert r.stderr.startswith("twinstar: error: no TwinStar-capable Astribank is connected to this host")
        assert "Traceback" not in r.stderr
        assert r.stdout == ""
    r = cli("--config", str(conf), "status", "--json")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    data = r.json()
    assert data["units"] == []
    assert data["error"].startswith("no TwinStar-capable Astribank is connected to this host")
    assert data["node"]["role"] == "standby"
