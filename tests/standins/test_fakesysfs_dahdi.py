"""The fake sysfs's DAHDI side: the trees dahdi-linux shows, in its formats, read by the strict reader.

The fake stands in for the xpp and dahdi kernel drivers (they cannot load
on a build machine); what it writes is checked here against
:mod:`twinstar.astribank.spans`, the reader the dahdi step uses.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.support.units import connector, label
from twinstar.astribank import spans
from twinstar.standins.fakesysfs import FakeSysfs


def _unit(fs: FakeSysfs, i: int, xpds: tuple[str, ...]) -> None:
    fs.create_unit(i)
    fs.attach(i, label=label(i), connector=connector(i), xpds=xpds)
    fs.online(i)


def test_registration_makes_the_device_and_with_auto_assign_its_spans(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    _unit(fs, 3, ("E1", "FXS"))
    assert spans.read_device(fs.root, "xbus-03") is None and fs.drive() == []
    fs.write_attr(3, "dahdi_registration", "1")
    assert fs.drive() == ["registered XBUS-03 with DAHDI"]
    device = spans.read_device(fs.root, "xbus-03")
    assert device is not None and device.name == "astribanks:xbus-03" and device.span_count == 2
    assert re.fullmatch(r"\d{10}\.\d{9}", device.registration_time)
    assert Path(device.path, "spantype").read_text() == "1:E1\n2:FXS\n"
    found = spans.read_spans(fs.root)
    assert [(s.number, s.device, s.local, s.name, s.digital, s.channels, s.alarms, s.configured) for s in found] == [
        (1, "astribanks:xbus-03", 1, "XBUS-03/XPD-00", True, 31, 0, False),  # digital: not configured before dahdi_cfg
        (2, "astribanks:xbus-03", 2, "XBUS-03/XPD-10", False, 8, 0, True),
    ]
    assert fs.span_numbers(3) == [1, 2]
    assert fs.configure_spans() == [1, 2] and all(s.configured for s in spans.read_spans(fs.root))
    assert spans.read_spans(fs.root)[0].lineconfig == "HDB3/CCS/CRC4"


def test_without_auto_assign_spans_appear_only_when_assigned(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.set_auto_assign(False)
    assert not spans.auto_assign(fs.root)
    _unit(fs, 0, ("FXS", "FXO"))
    _unit(fs, 1, ("FXS",))
    for i in (1, 0):
        fs.write_attr(i, "dahdi_registration", "1")
    fs.drive()
    assert spans.read_spans(fs.root) == []
    spans.write(os.path.join(fs.device_dir(1), "assign_span"), "1:0:0")
    assert fs.drive() == ["XBUS-01: local span 1 assigned span 1"]
    spans.write(os.path.join(fs.device_dir(0), "assign_span"), "2:5:100")  # an explicit span and base channel
    fs.drive()
    assert [(s.number, s.device, s.local) for s in spans.read_spans(fs.root)] == [(1, "astribanks:xbus-01", 1), (5, "astribanks:xbus-00", 2)]
    assert Path(fs.span_dir(5), "basechan").read_text() == "100\n"
    spans.write(os.path.join(fs.device_dir(0), "unassign_span"), "2")
    fs.drive()
    assert [s.number for s in spans.read_spans(fs.root)] == [1]


def test_unregistration_and_removal_take_the_spans_away(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    _unit(fs, 0, ("FXS",))
    _unit(fs, 1, ("FXS",))
    for i in (0, 1):
        fs.write_attr(i, "dahdi_registration", "1")
        fs.drive()
    fs.write_attr(0, "dahdi_registration", "0")
    assert fs.drive() == ["unregistered XBUS-00"]
    assert spans.read_device(fs.root, "xbus-00") is None and [s.number for s in spans.read_spans(fs.root)] == [2]
    fs.depart(1)
    assert spans.read_spans(fs.root) == [] and os.listdir(fs.dahdi_devices_dir) == []


def test_a_write_the_driver_acts_on_wakes_its_loop_at_once(tmp_path: Path) -> None:
    """The demo's driver loop waits on WriteWatch: a registration, then a span assignment, are seen when written."""
    import select

    from twinstar.standins.fakesysfs import WriteWatch

    fs = FakeSysfs(str(tmp_path))
    _unit(fs, 0, ("E1",))
    watch = WriteWatch()
    if watch.fd < 0:
        import pytest

        pytest.skip("no inotify here: the loop sleeps its poll interval")

    def pending() -> bool:
        return bool(select.select([watch.fd], [], [], 0)[0])

    try:
        fs.watch_writes(watch)
        assert not pending()
        assert watch.wait(0) is False  # nothing written: the loop need not look at the tree
        spans.write(os.path.join(fs.node(0), "dahdi_registration"), "1")  # as the dahdi step writes it
        assert pending()
        assert watch.wait(0) is True  # drained, and it says a write came
        assert not pending()
        assert fs.drive() == ["registered XBUS-00 with DAHDI"]
        watch.wait(0)  # the driver's own writes
        fs.watch_writes(watch)  # now the new device directory too
        spans.write(os.path.join(fs.device_dir(0), "unassign_span"), "1")
        assert pending()
    finally:
        watch.close()
