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

    resource: str = field(metadata=text(convert=_resource))
    device: str = field(metadata=path())
    mountpoint: str = field(metadata=path(convert=_mountpoint))
    fstype: str = field(default="ext4", metadata=text(convert=_fstype))
    mount_options: str = field(default="defaults", metadata=text(convert=_mount_options))
    fsck: FsckMode = field(default=FsckMode.AUTO, metadata=choice(FsckMode))
    timeout: float = field(default=60.0, metadata=seconds(Range(0.1, DAY)))
    kill_grace: float = field(default=5.0, metadata=seconds(Range(0.1, 3600)))

    kind = "drbd"

    @property
    def name(self) -> str:
        return f"drbd:{self.resource}"
