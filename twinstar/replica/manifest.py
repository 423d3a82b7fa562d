"""The list of managed paths, and the journal of moves in progress.

The list lives on the replica itself (``<replica>/.twinstar/managed.json``) so
both nodes read the same one. The standby cannot mount the replica, so every
``replica add`` and ``replica link`` also writes a local copy
(``replica-managed.json`` next to the configuration file, by default
``/etc/twinstar/replica-managed.json``); ``replica check`` and ``replica
link`` fall back on it when the replica is not mounted.

The journal (``<replica>/.twinstar/moves.json``) holds one entry per move
that has started and not finished. An entry means: the partial copy, the
copy on the replica and the helper names next to the original belong to
this move, so a re-run may replace or remove them. Nothing else is ever
removed. Both files are replaced atomically (temp, fsync, rename, fsync).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from twinstar.errors import TwinstarError
from twinstar.fastpath.atomic import read_json, write_json
from twinstar.replica.paths import Replica

MANAGED_FILE = "managed.json"
JOURNAL_FILE = "moves.json"
LOCK_FILE = "lock"
LOCAL_MANIFEST_NAME = "replica-managed.json"
VERSION = 1


class ManifestError(TwinstarError):
    """The managed list or the move journal cannot be read or written."""


@dataclass(frozen=True)
class Entry:
    """One managed path."""

    path: str
    kind: str
    added: str
    node: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "kind": self.kind, "added": self.added, "node": self.node}


@dataclass
class Manifest:
    """The managed paths, in the order they were added."""

    replica: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return [e.path for e in self.entries]

    def get(self, path: str) -> Entry | None:
        return next((e for e in self.entries if e.path == path), None)

    def with_path(self, path: str, kind: str) -> Manifest:
        if self.get(path) is not None:
            return self
        entry = Entry(path=path, kind=kind, added=now(), node=socket.gethostname())
        return Manifest(self.replica, [*self.entries, entry])

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "replica": self.replica, "paths": [e.to_json() for e in self.entries]}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _load(path: str, what: str) -> dict[str, Any] | None:
    try:
        value = read_json(path)
    except FileNotFoundError:
        return None
    except ValueError:
        raise ManifestError(f"{path}: {what} is not valid JSON", hint="restore it from the other node or a backup") from None
    except OSError as exc:
        raise ManifestError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not isinstance(value, dict) or value.get("version") != VERSION:
        raise ManifestError(f"{path}: not a version {VERSION} twinstar {what}")
    return value


def parse_manifest(raw: dict[str, Any], source: str) -> Manifest:
    entries = []
    items = raw.get("paths")
    if not isinstance(items, list):
        raise ManifestError(f"{source}: 'paths' must be a list")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"].startswith("/"):
            raise ManifestError(f"{source}: paths[{i}] must have an absolute 'path'")
        path = item["path"]
        if "\x00" in path or path == "/" or os.path.normpath(path) != path or path.startswith("//"):
            raise ManifestError(
                f"{source}: paths[{i}]: {path!r} is not a normal absolute path below /",
                hint="restore the list from the other node or a backup",
            )
        entries.append(
            Entry(
                path=item["path"],
                kind=str(item.get("kind", "")),
                added=str(item.get("added", "")),
                node=str(item.get("node", "")),
            )
        )
    return Manifest(str(raw.get("replica", "")), entries)


@dataclass(frozen=True)
class ReplicaFiles:
    """twinstar's files on the replica."""

    replica: Replica

    @property
    def managed_path(self) -> str:
        return os.path.join(self.replica.meta_dir, MANAGED_FILE)

    @property
    def journal_path(self) -> str:
        return os.path.join(self.replica.meta_dir, JOURNAL_FILE)

    @property
    def lock_path(self) -> str:
        return os.path.join(self.replica.meta_dir, LOCK_FILE)

    def ensure_dir(self) -> None:
        try:
            os.makedirs(self.replica.meta_dir, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise ManifestError(f"cannot create {self.replica.meta_dir}: {exc.strerror}") from None

    def read_manifest(self) -> Manifest:
        raw = _load(self.managed_path, "managed-path list")
        return Manifest(self.replica.root) if raw is None else parse_manifest(raw, self.managed_path)

    def write_manifest(self, manifest: Manifest) -> None:
        self.ensure_dir()
        write_json(self.managed_path, manifest.to_json())

    def read_journal(self) -> dict[str, dict[str, Any]]:
        raw = _load(self.journal_path, "move journal")
        if raw is None:
            return {}
        moves = raw.get("moves")
        if not isinstance(moves, dict):
            raise ManifestError(f"{self.journal_path}: 'moves' must be a mapping")
        return moves

    def write_journal(self, moves: dict[str, dict[str, Any]]) -> None:
        self.ensure_dir()
        write_json(self.journal_path, {"version": VERSION, "moves": moves})


def read_local(path: str) -> Manifest | None:
    """The node's local copy of the managed list, or None when there is none."""
    raw = _load(path, "local managed-path list")
    return None if raw is None else parse_manifest(raw, path)


def write_local(path: str, manifest: Manifest) -> None:
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        write_json(path, manifest.to_json())
    except OSError as exc:
        raise ManifestError(f"cannot write the local managed-path list {path}: {exc.strerror}") from None
