"""Reading xbus devices: the fake tree's exact formats and strict, per-unit readers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from twinstar.astribank import sysfs
from twinstar.astribank.xpporder import parse
from twinstar.errors import SysfsError
from twinstar.standins.fakesysfs import FakeSysfs


def test_fake_tree_has_the_drivers_formats(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    add = fs.create_unit(3, busnum=2, devnum=17)
    assert add["ACTION"] == "add" and add["XBUS_NAME"] == "XBUS-03" and add["XBUS_NUM"] == "03"
    base = tmp_path / "bus/astribanks/devices/xbus-03"
    assert base.is_symlink() and (base / "xbus_state").read_bytes() == b"START (0)\n"
    assert (base / "status").read_bytes() == b"missing\n"
    assert not (base / "label").exists() and not (base / "transport").exists()
    assert add["DEVPATH"] == "/" + os.path.relpath(os.path.realpath(base), tmp_path)
    fs.attach(3, label="usb:00000135", connector="usb-0000:00:1d.7-2")
    online = fs.online(3)
    assert online["ACTION"] == "online"
    assert (base / "xbus_state").read_bytes() == b"READY (4)\n"
    assert (base / "label").read_bytes() == b"usb:00000135\n"
    assert (base / "transport/busnum").read_bytes() == b"2\n"
    assert (base / "transport/devnum").read_bytes() == b"17\n"
    assert (base / "transport/idVendor").read_bytes() == b"e4e4\n"
    (unit,) = sysfs.scan(str(tmp_path), transport=True)
    assert (unit.name, unit.num, unit.xbus, unit.label, unit.connector) == ("xbus-03", 3, "XBUS-03", "usb:00000135", "usb-0000:00:1d.7-2")
    assert (unit.state, unit.status, unit.busnum, unit.devnum, unit.ready, unit.problems) == ("READY", "connected", 2, 17, True, [])
    fs.offline(3)
    (unit,) = sysfs.scan(str(tmp_path))
    assert unit.leaving and not unit.ready and unit.status == "missing"
    assert fs.remove_unit(3)["ACTION"] == "remove"
    assert sysfs.scan(str(tmp_path)) == [] and not base.exists()


def test_add_phase_without_label_is_not_a_problem(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.create_unit(0)
    (unit,) = sysfs.scan(str(tmp_path), transport=True)
    assert unit.label is None and unit.connector is None and unit.busnum is None and unit.problems == []


def test_no_driver_means_no_units(tmp_path: Path) -> None:
    assert sysfs.scan(str(tmp_path)) == []


@pytest.mark.parametrize(
    ("attr", "value", "problem"),
    [
        ("xbus_state", b"garbage\n", "xbus_state: expected 'NAME (n)'"),
        ("xbus_state", b"READY (3)\n", "xbus_state: expected"),
        ("xbus_state", b"READY (4\n", "xbus_state: expected"),
        ("xbus_state", b"$(touch x) (4)\n", "xbus_state: expected"),
        ("status", b"online\n", "status: expected connected or missing"),
    ],
)
def test_garbage_is_a_problem_of_that_unit_only(tmp_path: Path, attr: str, value: bytes, problem: str) -> None:
    fs = FakeSysfs(str(tmp_path))
    for i in (0, 1):
        fs.arrive(i, label=f"usb:{i}", connector=f"usb-{i}")
    fs.write_attr(1, attr, value, newline=False)
    good, bad = sysfs.scan(str(tmp_path))
    assert good.ready and good.problems == []
    assert not bad.ready and bad.problems and bad.problems[0].startswith(problem)
    error = bad.error()
    assert isinstance(error, SysfsError) and "xbus-01" in str(error)


def test_unreadable_and_missing_attributes(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label="usb:0", connector="usb-0")
    node = Path(fs.node(0))
    (node / "label").unlink()
    (node / "label").mkdir()  # EISDIR on read, whatever our privileges
    os.unlink(node / "status")
    os.mkfifo(node / "connector.fifo")
    os.unlink(node / "connector")
    os.rename(node / "connector.fifo", node / "connector")  # must not block
    (node / "transport").unlink()
    os.symlink(str(tmp_path / "nowhere"), node / "transport")
    (unit,) = sysfs.scan(str(tmp_path), transport=True)
    assert any(p.startswith("label: is a directory") for p in unit.problems)
    assert "status: missing" in unit.problems
    assert "connector: is a FIFO, expected a regular file" in unit.problems
    assert unit.connector is None and unit.busnum is None
    assert not unit.ready


@pytest.mark.privileged
def test_a_device_node_as_an_attribute_is_refused_unopened(tmp_path: Path) -> None:
    """A character device (``/dev/null``'s numbers) where the driver has a file: a problem of the unit, as the hook reads it.

    Opening a device can act on it, so the lean read looks before it opens: the
    value is never read (``/dev/null`` would give an empty state).
    """
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label="usb:0", connector="usb-0")
    node = Path(fs.node(0))
    os.unlink(node / "xbus_state")
    os.mknod(node / "xbus_state", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    listed = sysfs.listed_in(parse(b"usb:0\n", "xpp_order").entries)
    (unit,) = sysfs.scan(str(tmp_path), listed=listed)
    assert unit.problems == ["xbus_state: is a character device, expected a regular file"]
    assert unit.state is None and not unit.ready


def test_bad_transport_numbers(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label="usb:0", connector="usb-0")
    (Path(fs.node(0)).parent / "busnum").write_text("x1\n")
    (unit,) = sysfs.scan(str(tmp_path), transport=True)
    assert unit.problems == ["transport/busnum: expected a number, found x1"]


def test_find_by_uevent_name_refuses_paths(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(5, label="usb:5", connector="usb-5")
    unit = sysfs.find(str(tmp_path), "XBUS-05")
    assert unit is not None and unit.busnum == 1 and unit.devnum == 7
    assert sysfs.find(str(tmp_path), "XBUS-06") is None
    assert sysfs.find(str(tmp_path), "XBUS-05/../../..") is None
    assert sysfs.find(str(tmp_path), "../etc") is None


def test_values_keep_every_byte_but_the_trailing_newline(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label=b" usb:a\nb\xff ", connector="usb-0")
    (unit,) = sysfs.scan(str(tmp_path))
    assert unit.label is not None and unit.label.encode("utf-8", "surrogateescape") == b" usb:a\nb\xff "


@pytest.mark.parametrize("size", [126, 127, 128, 129, 4095, 4096])
def test_a_value_longer_than_the_first_read_is_read_whole_up_to_a_page(tmp_path: Path, size: int) -> None:
    """The lean read asks for 128 bytes; a longer value (with its newline) goes the checked way, to the page limit."""
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label="usb:0", connector="usb-0")
    fs.write_attr(0, "connector", b"c" * (size - 1))  # and the newline: size bytes
    (unit,) = sysfs.scan(str(tmp_path))
    assert unit.connector == "c" * (size - 1) and unit.problems == [] and unit.ready
    fs.write_attr(0, "connector", b"c" * size)  # a page and a byte
    if size == 4096:
        (unit,) = sysfs.scan(str(tmp_path))
        assert unit.connector is None and unit.problems == ["connector: is larger than 4096 bytes, the most twinstar reads"]


def test_units_xpp_order_does_not_list_are_read_only_as_far_as_their_identity(tmp_path: Path) -> None:
    """With ``listed``, an unlisted unit's state is not read: a broken one shows only in a full scan.

    An ``xpp_order`` of labels only leaves every connector unread (it decides nothing).
    """
    fs = FakeSysfs(str(tmp_path))
    for i in range(3):
        fs.arrive(i, label=f"usb:{i}", connector=f"usb-{i}")
    fs.write_attr(1, "status", "$(garbage)")
    fs.write_attr(2, "status", "$(garbage)")
    by_label = sysfs.listed_in(parse(b"usb:0\nusb:2\n", "xpp_order").entries)
    assert by_label == (frozenset({"usb:0", "usb:2"}), frozenset())
    listed, unlisted, broken = sysfs.scan(str(tmp_path), listed=by_label)
    assert (listed.state, listed.status, listed.connector, listed.problems) == ("READY", "connected", None, [])
    assert (unlisted.label, unlisted.connector, unlisted.state, unlisted.status, unlisted.problems) == ("usb:1", None, None, None, [])
    assert broken.state == "READY" and broken.problems and broken.problems[0].startswith("status: expected connected")
    assert any(p.startswith("status:") for p in sysfs.scan(str(tmp_path))[1].problems)
    by_connector = sysfs.listed_in(parse(b"@usb-1\n", "xpp_order").entries)
    first, second, _ = sysfs.scan(str(tmp_path), listed=by_connector)
    assert (first.connector, first.state) == ("usb-0", None)  # its connector read to tell it apart, no more
    assert second.state == "READY" and second.problems
