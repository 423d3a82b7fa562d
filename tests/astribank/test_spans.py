"""The DAHDI sysfs reader (:mod:`twinstar.astribank.spans`): the driver's formats, and nothing else.

Stand-in: the fake sysfs (the dahdi kernel driver cannot load on a build
machine) builds the trees; each test then puts into one attribute what the
driver never prints.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.units import connector, label
from twinstar.astribank import spans
from twinstar.errors import SysfsError
from twinstar.standins.fakesysfs import FakeSysfs


def _unit(fs: FakeSysfs, i: int, xpds: tuple[str, ...]) -> None:
    fs.create_unit(i)
    fs.attach(i, label=label(i), connector=connector(i), xpds=xpds)
    fs.online(i)


@pytest.mark.parametrize(
    ("attr", "value", "says"),
    [
        ("alarms", "8", "expected a hexadecimal alarm mask such as 0x0, found 8"),
        ("alarms", "0x", "found 0x"),
        ("channels", "eight", "expected a number, found eight"),
        ("local_spanno", "", "expected a number, found ''"),
        ("is_digital", "yes", "expected 0 or 1, found yes"),
    ],
)
def test_the_reader_refuses_what_the_driver_never_prints(tmp_path: Path, attr: str, value: str, says: str) -> None:
    fs = FakeSysfs(str(tmp_path))
    _unit(fs, 0, ("FXS",))
    fs.write_attr(0, "dahdi_registration", "1")
    fs.drive()
    Path(fs.span_dir(1), attr).write_text(value + "\n")
    with pytest.raises(SysfsError) as err:
        spans.read_spans(fs.root)
    assert err.value.exit_status == 2 and says in str(err.value) and str(err.value).startswith(str(Path(fs.root, spans.SPANS, "span-1", attr)))


def test_an_attribute_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    _unit(fs, 0, ("FXS",))
    fs.write_attr(0, "dahdi_registration", "1")
    fs.drive()
    alarms = Path(fs.span_dir(1), "alarms")
    alarms.unlink()
    os.mkfifo(alarms)
    with pytest.raises(SysfsError, match="is a FIFO, expected a regular file"):
        spans.read_spans(fs.root)


def test_alarm_names() -> None:
    assert spans.alarm_names(0) == "none"
    assert spans.alarm_names(0x108) == "RED LOS"
    assert spans.alarm_names(0x10 | 0x4000) == "BLUE 0x4000"
    assert spans.GATE_ALARMS == 0x118
