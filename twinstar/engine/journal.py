"""The journal: one JSON line per step event, appended by a single write, read from its tail.

An operator reads it to see what a takeover or release did, step by step;
``twinstar status`` and the demo read its last lines. The lines' shapes are
in :mod:`twinstar.engine.records`.

Its size is bounded: before a line would take ``journal.jsonl`` past
``max_bytes`` (``journal.max_mib``), the files are shifted (``.KEEP-1`` to ``.KEEP``, ..., the
journal itself to ``.1``; the oldest is dropped) and the line starts a new
journal. Each shift is one rename, so a crash during a rotation loses no
line: every line is in the journal or in one of its rotated files (at worst
a number is skipped). Rotations are serialised by an flock on
``journal.jsonl.lock``; an append that finds the journal below its size takes
no lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os

from twinstar import settings
from twinstar.engine.statedir import open_private
from twinstar.errors import StateError
from twinstar.fastpath import safefile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from twinstar.engine.records import JournalLine


def rotated(path: str, number: int) -> str:
    """The name of the journal's ``number``-th rotated file (1: the newest)."""
    return f"{path}.{number}"


def rotate(path: str, keep: int) -> None:
    """Shift the rotated files up by one, the journal to ``.1``; the oldest (``.keep``) is dropped."""
    for number in range(keep - 1, 0, -1):
        try:
            os.rename(rotated(path, number), rotated(path, number + 1))
        except FileNotFoundError:
            pass
    os.rename(path, rotated(path, 1))


def _rotate_if_full(path: str, fd: int, size: int, max_bytes: int, keep: int) -> bool:
    """Rotate the journal open on ``fd`` if ``size`` more bytes would take it past ``max_bytes``; whether ``fd`` is no longer the journal."""
    if os.fstat(fd).st_size + size <= max_bytes:
        return False
    lock = open_private(f"{path}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = os.stat(path)
        except FileNotFoundError:
            return True
        if not os.path.samestat(current, os.fstat(fd)):
            return True  # rotated by another writer meanwhile
        if current.st_size == 0 or current.st_size + size <= max_bytes:
            return False
        try:
            rotate(path, keep)
        except OSError as exc:
            raise StateError(f"cannot rotate {path}: {exc.strerror}") from None
        return True
    finally:
        os.close(lock)


def append(
    path: str, line: JournalLine, *, max_bytes: int = settings.JOURNAL_MAX_MIB << 20, keep: int = settings.JOURNAL_KEEP
) -> None:
    """Append ``line`` to the journal at ``path`` (a single write: never interleaved), rotating it when full.

    Any failure (a full or read-only ``state_dir``) is a StateError; a line
    that fits only in part is cut off again, so the journal never holds a
    torn line that would swallow the next one.
    """
    data = json.dumps(line, sort_keys=True).encode() + b"\n"
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        reopen = _rotate_if_full(path, fd, len(data), max_bytes, keep)
    except BaseException:
        os.close(fd)
        raise
    if reopen:
        os.close(fd)
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        try:
            written = os.write(fd, data)
        except OSError as exc:
            raise StateError(f"cannot write {path}: {exc.strerror}") from None
        if written < len(data):
            end = os.lseek(fd, 0, os.SEEK_CUR)
            try:
                if os.fstat(fd).st_size == end:  # nobody appended after the torn line
                    os.ftruncate(fd, end - written)
            except OSError:
                pass
            raise StateError(f"cannot write {path}: {os.strerror(errno.ENOSPC)}")
    finally:
        os.close(fd)


def read(path: str, last: int | None = None) -> list[dict[str, Any]]:
    """The journal's lines (the ``last`` ones, from the newest rotated file too when the journal holds fewer), from at most its last MiB.

    A journal that is not a regular file (a symlink, a FIFO) is a StateError.
    """
    lines = _read_one(path)
    if last is not None and len(lines) < last:
        lines = _read_one(rotated(path, 1)) + lines
    return lines[-last:] if last else lines


def _read_one(path: str) -> list[dict[str, Any]]:
    limit = safefile.JOURNAL_TAIL
    try:
        data = safefile.read_regular(path, limit, tail=True)
    except FileNotFoundError:
        return []
    except safefile.FileRefused as exc:
        raise StateError(str(exc), hint="remove it; twinstar starts a new journal") from None
    if len(data) >= limit:
        data = data[data.find(b"\n") + 1 :]  # the first line may be the end of a longer one
    out = []
    for raw in data.splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue  # a torn last line after a power cut
    return out
