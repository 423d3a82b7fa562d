"""Every hardware command as a real process against the simulated Astribank.

Stand-in: only the pyusb backend is simulated (twinstar/usb/simbackend.py); the
commands, MPP exchange and transport are the production code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.usb.conftest import Run

Runner = Callable[..., Any]


#: The original Perl twinstar's header, printf "%-15s %-10s %-15s %-10s %-10s\n" (trailing blanks included).
VENDOR_HEADER = "DEVICE          PORT       WATCHDOG        POWER0     POWER1    \n"


def rows(out: str) -> dict[str, list[str]]:
    """The vendor's status table as {device: [port, watchdog, power0, power1]}."""
    lines = out.splitlines(keepends=True)
    assert lines[0] == VENDOR_HEADER
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_status_prints_the_vendor_table_byte_for_byte(host: Runner) -> None:
    """The layout of the original's status (platform fact sheet, section 8): no LABEL, no NOTE."""
    r = host("status")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "DEVICE          PORT       WATCHDOG        POWER0     POWER1    \n"
        "usb:001/002     0          off             yes        yes       \n"
        "usb:001/003     0          off             yes        yes       \n"
        "usb:001/004     0          off             yes        yes       \n"
    )
    assert r.stderr == ""
    # -x is accepted and ignored, and so is -v before the command (the original's getopts('vx')).
    assert host("-x", "status").stdout == r.stdout
    assert host("-v", "-x", "status").stdout == r.stdout
    assert host("-vx", "ports").stdout == "0\n0\n0\n"


def test_status_long_adds_the_label_and_notes(host: Runner, cli: Runner, sim_file: Path) -> None:
    assert cli("sim", "set", str(sim_file), "2", "twinstar=off").returncode == 0
    for flag in ("-v", "--long"):
        r = host("status", flag)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].split() == ["DEVICE", "LABEL", "PORT", "WATCHDOG", "POWER0", "POWER1", "NOTE"]
        assert lines[1].split() == ["usb:001/002", "usb:SIM00001", "0", "off", "yes", "yes"]
        assert lines[2].split()[:2] == ["usb:001/003", "usb:SIM00002"]
        assert lines[2].endswith("not TwinStar-capable: the TwinStar capability bit is not set")


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
    assert {cols[1] for cols in rows(host("status").stdout).values()} == {"on"}
    r = host("disable-wd", "--device", "usb:SIM00002")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "usb:001/003 (usb:SIM00002): watchdog off\n"
    table = rows(host("status").stdout)
    assert [table[d][1] for d in sorted(table)] == ["on", "off", "on"]


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
    assert r.stdout == "0\n0\n"  # the original's output: the bare port, one line per unit
    r = host("ports", port=1)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n"
    r = host("ports", "-v")
    assert r.stdout.splitlines() == ["usb:001/002 (usb:SIM00001): 0", "usb:001/004 (usb:SIM00003): 0"]
    assert host("ports", "--long", port=1).stdout.splitlines() == ["usb:001/005 (usb:SIM00002): 1"]


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
    assert r.stdout == VENDOR_HEADER  # as the original: the header, no rows
    assert r.stderr == "twinstar: no TwinStar-capable Astribank is connected to this host\n"
    r = host("status", "-v")
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
    assert r.stdout == VENDOR_HEADER
    assert r.stderr.splitlines() == [
        "twinstar: usb:001/002: not TwinStar-capable: the TwinStar capability bit is not set",
        "twinstar: usb:001/003: not TwinStar-capable: product 1163 (TwinStar monitor) has no management interface",
        "twinstar: usb:001/004: not TwinStar-capable: EEPROM type is small, TwinStar needs a large EEPROM",
    ]
    r = host("status", "-v")
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


def test_a_named_configuration_file_must_exist(cli: Runner) -> None:
    """$TWINSTAR_CONFIG (here /nonexistent/twinstar.yaml) or --config names a file: it must be there."""
    r = cli("status")
    assert r.returncode == 2
    assert "/nonexistent/twinstar.yaml: configuration file not found" in r.stderr
    r = cli("--config", "/nonexistent/other.yaml", "ports", env={"TWINSTAR_CONFIG": ""})
    assert r.returncode == 2
    assert "/nonexistent/other.yaml: configuration file not found" in r.stderr


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


@pytest.mark.parametrize("command", ["status", "ports", "jump", "enable-wd", "disable-wd"])
def test_every_hardware_command_takes_json_and_device(host: Runner, sim_file: Path, read_state, command: str) -> None:
    r = host(command, "--json", "--device", "usb:SIM00002")
    assert r.returncode == 0, r.stderr
    data = r.json()
    units = data["units"]
    assert [(u["device"], u["label"]) for u in units] == [("usb:001/003", "usb:SIM00002")]
    if command == "status":
        assert units[0]["port"] == 0 and units[0]["twinstar_capable"] is True
    else:
        assert data["command"] == command and data["exit_status"] == 0
        assert units[0]["result"] == "done"
    expected = {
        "status": "0", "ports": "0", "jump": "jumped from port 0 to port 1; it has left this host",
        "enable-wd": "watchdog on", "disable-wd": "watchdog off",
    }[command]
    assert (str(units[0]["port"]) if command == "status" else units[0]["message"]) == expected
    if command == "ports":
        assert units[0]["port"] == 0
    state = read_state(sim_file)["units"]
    assert [u["port"] for u in state] == ([0, 1, 0] if command == "jump" else [0, 0, 0])
    assert [u["watchdog"] for u in state] == [False, command == "enable-wd", False]


@pytest.mark.parametrize("command", ["status", "ports", "jump", "enable-wd", "disable-wd"])
@pytest.mark.parametrize("device", ["usb:NOSUCH", "usb:001/099", "-x", "usb:1/2/3", "usb:0001/002"])
def test_a_bad_device_is_exit_2_and_changes_nothing(host: Runner, sim_file: Path, read_state, command: str, device: str) -> None:
    before = read_state(sim_file)["units"]
    r = host(command, "--json", f"--device={device}")
    assert r.returncode == 2, r.stderr
    assert f"--device {device!r}: no such unit on this host" in r.stderr
    assert r.stdout == "" and "Traceback" not in r.stderr
    assert read_state(sim_file)["units"] == before


def test_a_failing_unit_in_json_keeps_one_object_and_the_exit_status(host: Runner, cli: Runner, sim_file: Path) -> None:
    assert cli("sim", "set", str(sim_file), "2", "power1=off").returncode == 0
    r = host("jump", "--json")
    assert r.returncode == 3
    data = r.json()
    assert data["exit_status"] == 3
    assert [u["result"] for u in data["units"]] == ["done", "refused", "done"]
    assert "USB-1 has no power" in data["units"][1]["message"]


def test_hardware_commands_need_no_configuration_file(sim_file: Path) -> None:
    """No $TWINSTAR_CONFIG, no --config, nothing at /etc/twinstar/twinstar.yaml: USB only, as the original.

    With the simulator selected by the environment the commands work; on real
    USB (no bus and no Astribank on this build machine) they get as far as the
    bus instead of stopping at the configuration. A host that has the default
    file gets an empty /etc/twinstar in a private mount namespace.
    """
    import os

    from tests.conftest import require_root
    from tests.support.cli import run_twinstar

    prefix: list[str] = []
    if os.path.lexists("/etc/twinstar/twinstar.yaml"):
        require_root("hiding this host's /etc/twinstar")
        hide = 'mount -t tmpfs tmpfs /etc/twinstar && exec "$@"'
        prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", hide, "sh"]

    def cli(*args: str, **env: str) -> Run:
        p = run_twinstar(None, *args, env={"TWINSTAR_CONFIG": "", **env}, prefix=prefix)
        return Run(p.returncode, p.stdout, p.stderr)

    r = cli("status", TWINSTAR_USB_SIMULATOR=str(sim_file))
    assert r.returncode == 0, r.stderr
    assert len(rows(r.stdout)) == 3
    r = cli("enable-wd", "--device", "usb:001/002", TWINSTAR_USB_SIMULATOR=str(sim_file))
    assert r.returncode == 0, r.stderr
    for command in (["ports"], ["jump"], ["enable-wd"], ["disable-wd"], ["status", "--json"]):
        r = cli(*command)
        assert "configuration" not in r.stderr, (command, r.stderr)
        assert "Traceback" not in r.stderr
    assert cli("status").stdout == VENDOR_HEADER


def test_mistyped_commands_and_sim_keys_get_a_suggestion(cli: Runner, sim_file: Path, read_state) -> None:
    before = read_state(sim_file)
    r = cli("stauts")
    assert r.returncode == 2
    assert "no such command 'stauts' (did you mean 'status'?)" in r.stderr
    r = cli("enable_wd")
    assert r.returncode == 2 and "did you mean 'enable-wd'?" in r.stderr
    r = cli("frobnicate")
    assert r.returncode == 2 and "(commands: check, daemon, demo" in r.stderr
    r = cli("sim", "sho", str(sim_file))
    assert r.returncode == 2 and "no such command 'sho' (did you mean 'show'?)" in r.stderr
    r = cli("replica", "lst")
    assert r.returncode == 2 and "did you mean 'list'?" in r.stderr
    r = cli("sim", "set", str(sim_file), "1", "powr1=off")
    assert r.returncode == 2
    assert "unknown setting 'powr1' (did you mean 'power1'?)" in r.stderr
    assert read_state(sim_file) == before
