"""The journal: one JSON line per step event, appended by a single write, read from its tail.

An operator reads it to see what a takeover or release did, step by step;
``twinstar status`` and the demo read its last lines. The lines' shapes are
in :mod:`twinstar.engine.records`.
"""

from __future__ import annotations

import errno
import json
import os

from twinstar.engine.statedir import open_private
from twinstar.errors import StateError
from twinstar.fastpath import safefile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from twinstar.engine.records import JournalLine


def append(path: str, line: JournalLine) -> None:
    """Append ``line`` to the journal at ``path`` (a single write: never interleaved).

    Any failure (a full or read-only ``state_dir``) is a StateError; a line
    that fits only in part is cut off again, so the journal never holds a
    torn line that would swallow the next one.
    """
    data = json.dumps(line, sort_keys=True).encode() + b"\n"
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
    """The journal's lines (the ``last`` ones), from at most its last MiB.

    A journal that is not a regular file (a symlink, a FIFO) is a StateError.
    """
    limit = safefile.JOURNAL_TAIL
    try:
        data = safefile.read_regular(path, limit, tail=True)
    except FileNotFoundError:
        return []
    except safefile.FileRefused as exc:
        raise StateError(str(exc), hint="remove it; twinstar starts a new journal") from None
    if len(data) >= limit:
        data = data[data.find(b"\n") + 1 :]  # the first line may be the end of a longer one
    lines = data.splitlines()
    out = []
    for raw in lines[-last:] if last else lines:
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue  # a torn last line after a power cut
    return out
