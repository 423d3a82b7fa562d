"""The ``asterisk`` stand-in run as a program, read by the asterisk step's own parsers.

Asterisk is not packaged for the build machine; this is the stand-in for its
``-rx`` CLI (twinstar/standins/asterisk.py). Its spans come from the fake
sysfs, standing in for the DAHDI kernel driver.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.units import connector, label
from twinstar.standins import asterisk as standin
from twinstar.standins.fakesysfs import FakeSysfs
from twinstar.steps import asterisk_cli as cli


def _rig(tmp: Path, **state: object) -> tuple[Path, Path, FakeSysfs]:
    fs = FakeSysfs(str(tmp / "sys"))
    path = tmp / "asterisk.json"
    path.write_text(json.dumps(standin.new_state(**state)))  # type: ignore[arg-type]
    return standin.write_wrapper(tmp / "asterisk", path, fs.root), path, fs


def _rx(wrapper: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(wrapper), "-rx", command], capture_output=True, text=True, timeout=60)


def test_a_stopped_asterisk_does_not_answer(tmp_path: Path) -> None:
    wrapper, _, _ = _rig(tmp_path, running=False)
    result = _rx(wrapper, "core show version")
    assert result.returncode == 1 and result.stderr == standin.NOT_RUNNING + "\n" and result.stdout == ""


def test_chan_dahdi_creates_channels_at_load_and_sees_new_spans_only_after_a_reload(tmp_path: Path) -> None:
    wrapper, state, fs = _rig(tmp_path)
    assert cli.answers(_rx(wrapper, "core show version").stdout)
    assert "No such command 'dahdi show status'" in _rx(wrapper, "dahdi show status").stdout
    fs.arrive(0, label=label(0), connector=connector(0))
    fs.write_attr(0, "dahdi_registration", "1")
    fs.drive()
    assert _rx(wrapper, "module load chan_dahdi.so").stdout == "Loaded chan_dahdi.so\n"
    assert cli.module_loaded(_rx(wrapper, "module show like chan_dahdi.so").stdout, "chan_dahdi.so")
    assert cli.parse_status(_rx(wrapper, "dahdi show status").stdout) == [cli.StatusSpan(1, "Astribank XPD 00:0:0: FXS", "OK")]
    assert cli.parse_channels(_rx(wrapper, "dahdi show channels").stdout) == [cli.Channel(n, 1) for n in range(1, 9)]
    fs.arrive(1, label=label(1), connector=connector(1))  # DAHDI gets a second span after the load
    fs.write_attr(1, "dahdi_registration", "1")
    fs.drive()
    status = cli.parse_status(_rx(wrapper, "dahdi show status").stdout)
    channels = cli.parse_channels(_rx(wrapper, "dahdi show channels").stdout)
    assert cli.missing_channels(status, channels) == ["span 2 (Astribank XPD 01:0:0: FXS) has no channel in chan_dahdi"]
    assert _rx(wrapper, "module reload chan_dahdi.so").stdout == "Module 'chan_dahdi.so' reloaded successfully.\n"
    assert cli.missing_channels(cli.parse_status(_rx(wrapper, "dahdi show status").stdout), cli.parse_channels(_rx(wrapper, "dahdi show channels").stdout)) == []
    assert _rx(wrapper, "module unload chan_dahdi.so").stdout == "Unloaded chan_dahdi.so\n"
    assert not cli.module_loaded(_rx(wrapper, "module show like chan_dahdi.so").stdout, "chan_dahdi.so")
    assert standin.load(str(state))["counts"] == {"load": 1, "reload": 1, "unload": 1}


def test_the_status_table_is_chan_dahdis_layout(tmp_path: Path) -> None:
    wrapper, _, fs = _rig(tmp_path, loaded=True)
    fs.create_unit(0)
    fs.attach(0, label=label(0), connector=connector(0), xpds=("E1",))
    fs.online(0)
    fs.write_attr(0, "dahdi_registration", "1")
    fs.drive()
    fs.configure_spans()
    fs.set_alarms(1, 0x18)
    lines = _rx(wrapper, "dahdi show status").stdout.splitlines()
    assert lines[0] == "Span Description                              Alarms  IRQ    bpviol CRC    Fra Codi Options  LBO"
    assert lines[1] == "   1 Astribank XPD 00:0:0: E1                 BLU/RED 0      0      0      CCS HDB3 CRC4     0 db (CSU)/0-133 feet (DSX-1)"
