"""What the drbd step reads from drbdadm and findmnt (pure, formats as drbd-utils print them)."""

from __future__ import annotations

import pytest

from twinstar.config import FsckMode
from twinstar.steps.drbd import fsck_needed, parse_findmnt, parse_role, parse_status_peer_roles


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


def test_parse_findmnt() -> None:
    text = '{"filesystems": [{"source": "/dev/drbd0", "target": "/replica", "fstype": "ext4", "maj:min": "147:0"}]}'
    mount = parse_findmnt(text)
    assert mount is not None and (mount.source, mount.fstype, mount.majmin) == ("/dev/drbd0", "ext4", "147:0")
    assert parse_findmnt("") is None


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
