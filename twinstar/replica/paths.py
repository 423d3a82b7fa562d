"""The replica and the paths it manages: where things go, and what is acceptable.

A managed path ``/etc/asterisk`` lives on the replica at ``<replica>/etc/asterisk``
and is replaced on every node by a symlink to it. The helper names used while a
move is in progress sit next to the paths they belong to, so every rename stays
within one filesystem:

* ``<replica>/etc/.asterisk.twinstar-partial``  the copy being written
* ``/etc/.asterisk.twinstar-link``               the new symlink, before it takes the path's place
* ``/etc/.asterisk.twinstar-old``                the original, moved aside until the move is recorded
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from twinstar.errors import BadInputError


@dataclass(frozen=True)
class Replica:
    """The mount point of the replicated partition (``/replica``)."""

    root: str

    @property
    def meta_dir(self) -> str:
        """Where twinstar keeps its own files on the replica."""
        return os.path.join(self.root, ".twinstar")

    def target(self, path: str) -> str:
        """Where the managed ``path`` lives on the replica."""
        return self.root + path

    def contains(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root + "/")


@dataclass(frozen=True)
class ManagedPath:
    """A managed path and the names its move uses."""

    path: str
    replica: Replica

    @property
    def parent(self) -> str:
        return os.path.dirname(self.path)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def target(self) -> str:
        return self.replica.target(self.path)

    @property
    def target_parent(self) -> str:
        return os.path.dirname(self.target)

    def _helper(self, directory: str, kind: str) -> str:
        """A hidden name beside the path, so that renaming it stays within one filesystem."""
        return os.path.join(directory, f".{self.name}.twinstar-{kind}")

    @property
    def partial(self) -> str:
        return self._helper(self.target_parent, "partial")

    @property
    def link_tmp(self) -> str:
        return self._helper(self.parent, "link")

    @property
    def old(self) -> str:
        return self._helper(self.parent, "old")

    def local_aside(self, stamp: str) -> str:
        """The name a local copy is moved aside to by ``replica link``."""
        return f"{self.path}.twinstar-local-{stamp}"


def replica_root(raw: str) -> Replica:
    """Validate the replica's mount point as given (option or configuration)."""
    if "\x00" in raw or not os.path.isabs(raw):
        raise BadInputError(f"replica {raw!r}: must be an absolute path, e.g. /replica")
    path = os.path.normpath(raw)
    if path in ("/", "//"):
        raise BadInputError("replica: must not be /")
    return Replica(os.path.realpath(path))


def canonical(raw: str) -> str:
    """An absolute path with its parent's symlinks resolved (the path itself is kept).

    Raises :class:`BadInputError` for a relative path, ``/``, or a NUL byte.
    """
    if "\x00" in raw:
        raise BadInputError(f"path {raw!r}: contains a NUL byte")
    if not raw or not os.path.isabs(raw):
        raise BadInputError(f"path {raw!r}: must be absolute, e.g. /etc/asterisk")
    path = os.path.normpath(raw)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if path == "/":
        raise BadInputError("path /: the root directory cannot be moved into the replica")
    parent = os.path.realpath(os.path.dirname(path))
    name = os.path.basename(path)
    return "/" + name if parent == "/" else f"{parent}/{name}"


def check_placement(path: str, replica: Replica) -> None:
    """Refuse the replica itself, anything inside it, and any directory holding it."""
    if path == replica.root:
        raise BadInputError(f"{path}: is the replica itself")
    if replica.contains(path):
        raise BadInputError(f"{path}: is inside the replica {replica.root}; give the original path")
    if path == "/" or replica.root.startswith(path + "/"):
        raise BadInputError(f"{path}: holds the replica {replica.root}; it cannot be moved into it")


def link_target_in_replica(path: str, replica: Replica) -> str | None:
    """The replica path a symlink at ``path`` points to, or None when it does not point there."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    if not os.path.isabs(target):
        target = os.path.normpath(os.path.join(os.path.dirname(path), target))
    return target if replica.contains(target) else None


def is_link_to(path: str, target: str) -> bool:
    """True when ``path`` is a symlink whose text is exactly ``target``."""
    try:
        return os.readlink(path) == target
    except OSError:
        return False


def lstat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def kind_of(st: os.stat_result) -> str:
    """A word for a file's type, for messages and the manifest."""
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "unknown"

