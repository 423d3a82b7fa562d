"""The mount table as the kernel writes it (``twinstar.mounts``): parsing, and this process's own table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from twinstar import mounts
from twinstar.errors import BadInputError

TABLE = (
    "22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw\n"
    "90 27 7:0 / /srv/my\\040replica rw,relatime shared:40 master:2 - ext4 /dev/loop0 rw\n"
    "91 27 0:45 /sub /mnt/bind rw - ext4 /dev/my\\134disk rw,errors=remount-ro\n"
    "35 25 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    "92 90 147:0 / /srv/my\\040replica rw - ext4 /dev/drbd0 rw\n"
)


def test_each_line_gives_the_target_source_type_root_number_and_options_unescaped() -> None:
    found = mounts.parse(TABLE)
    assert [(m.target, m.source, m.fstype, m.root, m.majmin) for m in found] == [
        ("/proc", "proc", "proc", "/", "0:21"),
        ("/srv/my replica", "/dev/loop0", "ext4", "/", "7:0"),  # two optional fields before the separator
        ("/mnt/bind", "/dev/my\\disk", "ext4", "/sub", "0:45"),
        ("/sys/fs/cgroup/systemd", "cgroup", "cgroup", "/", "0:30"),
        ("/srv/my replica", "/dev/drbd0", "ext4", "/", "147:0"),
    ]
    assert found[3].options == "rw,xattr,name=systemd"


def test_a_line_without_its_separator_or_what_follows_is_skipped() -> None:
    assert mounts.parse("22 27 0:21 / /proc rw,relatime\n23 27 0:22 / /sys rw - sysfs\n") == []


def test_the_mount_seen_on_a_target_is_the_last_one_there(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(TABLE)
    top = mounts.on("/srv/my replica", str(table))
    assert top is not None and (top.source, top.majmin) == ("/dev/drbd0", "147:0")
    assert mounts.on("/srv/my\\040replica", str(table)) is None  # targets are compared unescaped
    assert mounts.on("/srv", str(table)) is None
    assert mounts.mount_points(str(table)) == {"/proc", "/srv/my replica", "/mnt/bind", "/sys/fs/cgroup/systemd"}
    assert mounts.is_mounted("/srv/my replica", mountinfo=str(table))
    assert not mounts.is_mounted("/srv/my\\040replica", mountinfo=str(table))


def test_this_processs_own_table_has_proc_with_its_device_number() -> None:
    proc = mounts.on("/proc")
    dev = os.stat("/proc").st_dev
    assert proc is not None and (proc.fstype, proc.majmin) == ("proc", f"{os.major(dev)}:{os.minor(dev)}")


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_an_unreadable_table_is_bad_input_naming_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "mountinfo"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(BadInputError, match=f"cannot read {path}"):
        mounts.read(str(path))
