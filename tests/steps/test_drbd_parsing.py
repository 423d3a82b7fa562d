"""What the drbd step reads from drbdadm (pure, formats as drbd-utils print them) and how it knows its device's mount."""

from __future__ import annotations

import pytest

from twinstar.config import FsckMode
from twinstar.mounts import Mount
from twinstar.steps.drbd import fsck_needed, is_device, parse_role, parse_status_peer_roles


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Primary/Secondary\n", ("Primary", "Secondary")),
        ("Secondary/Unknown\n", ("Secondary", "Unknown")),
        ("Secondary\n", ("Secondary", None)),
    ],
)
def test_parse_role(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_role(text) == expected


@pytest.mark.parametrize("text", ["", "\n", "r0: No such resource here\n"])
def test_parse_role_rejects_other_output(text: str) -> None:
    with pytest.raises(ValueError):
        parse_role(text)


def test_parse_status_drbd9() -> None:
    text = (
        "r0 role:Secondary\n"
        "  volume:0 disk:UpToDate\n"
        "  pbx-b role:Primary\n"
        "    volume:0 replication:Established peer-disk:UpToDate\n"
        "  pbx-c connection:Connecting\n"
    )
    assert parse_status_peer_roles(text) == ["Primary"]


def test_parse_status_local_role_is_not_a_peer() -> None:
    assert parse_status_peer_roles("r0 role:Primary\n  disk:UpToDate\n") == []


def test_a_mount_is_its_devices_by_number_whatever_the_source_is_called() -> None:
    """/dev/null (1:3) stands for the device: a mount whose number is the device's is its, under any name;
    another number is not, unless the source resolves to the device (a filesystem without a device number)."""
    def mount(source: str, majmin: str) -> Mount:
        return Mount("/replica", source, "ext4", "/", majmin, "rw")

    assert is_device(mount("/dev/drbd/by-res/r0/0", "1:3"), "/dev/null")
    assert not is_device(mount("/dev/drbd0", "147:0"), "/dev/null")
    assert is_device(mount("/dev/../dev/null", "0:45"), "/dev/null")
    assert not is_device(mount("/dev/null", "1:3"), "/nonexistent/device")


@pytest.mark.parametrize(
    "mode, fstype, needed",
    [
        (FsckMode.AUTO, "ext4", True),
        (FsckMode.AUTO, "ext3", True),
        (FsckMode.AUTO, "xfs", False),
        (FsckMode.AUTO, "btrfs", False),
        (FsckMode.ALWAYS, "xfs", True),
        (FsckMode.NEVER, "ext4", False),
    ],
)
def test_fsck_needed(mode: FsckMode, fstype: str, needed: bool) -> None:
    assert fsck_needed(mode, fstype) is needed
