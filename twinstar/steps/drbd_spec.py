"""The ``drbd`` step's configuration: its keys and their rules (read by ``config/``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from twinstar.schema import DAY, Range, choice, path, seconds, text


class FsckMode(StrEnum):
    """When the drbd step checks the filesystem before mounting it."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def _resource(value: str) -> str:
    if value.startswith("-") or not all(c.isascii() and c.isalnum() or c in "_-." for c in value):
        raise ValueError(f"invalid DRBD resource name {value!r} (letters, digits, _ - ., not starting with -)")
    return value


def _mountpoint(value: str) -> str:
    if value == "/":
        raise ValueError("must not be /")
    return value


def _fstype(value: str) -> str:
    if not all(c.isalnum() or c in "_." for c in value):
        raise ValueError(f"invalid filesystem type {value!r}")
    return value


def _mount_options(value: str) -> str:
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


@dataclass(frozen=True)
class DrbdSpec:
    """Promote a DRBD resource and mount its device."""

    resource: str = field(metadata=text(convert=_resource, doc="the DRBD resource (letters, digits, _ - .)"))
    device: str = field(metadata=path(doc="its block device"))
    mountpoint: str = field(metadata=path(convert=_mountpoint, doc="where it is mounted; must exist on both servers"))
    fstype: str = field(default="ext4", metadata=text(convert=_fstype, doc="the filesystem type"))
    mount_options: str = field(default="defaults", metadata=text(convert=_mount_options, doc="passed to mount -o (no spaces)"))
    fsck: FsckMode = field(default=FsckMode.AUTO, metadata=choice(FsckMode, doc="check the filesystem before mounting; auto: ext2, ext3 and ext4 only"))
    timeout: float = field(default=60.0, metadata=seconds(Range(0.1, DAY), doc="seconds for the promotion retries and each program run"))
    kill_grace: float = field(default=5.0, metadata=seconds(Range(0.1, 3600), doc="seconds to wait for a busy mount, and between SIGTERM and SIGKILL to the processes holding it"))

    kind = "drbd"

    @property
    def name(self) -> str:
        return f"drbd:{self.resource}"
