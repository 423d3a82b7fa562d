"""Durable file changes: fsync'ed directories, atomic file replacement, atomic exchange.

Used wherever twinstar replaces a file that must survive a crash whole: the
node's state files, the replica's managed list and journal, ``xpp_order``,
the installation manifest. A crash leaves the old or
the new content, never a mix, and the temporary file never follows a symlink.

``exchange`` swaps two names in one step with ``renameat2(RENAME_EXCHANGE)``,
so a directory can be replaced by a symlink with no instant where the name is
missing. Where the kernel or filesystem cannot (EINVAL, ENOSYS, EOPNOTSUPP) it
changes nothing and says so, and the caller falls back to two renames, which
the move protocol can also resume.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


_libc_renameat2: list[Any] = []


def _renameat2() -> Any:
    """libc's renameat2, or None; loaded on first use so that plain writes skip ctypes."""
    if not _libc_renameat2:
        import ctypes

        _libc_renameat2.append(getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None))
    return _libc_renameat2[0]


def _fsync(path: str, flags: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Make the directory entries of ``path`` durable."""
    _fsync(path, os.O_DIRECTORY)


def fsync_file(path: str) -> None:
    """Make the contents of the file ``path`` (not a symlink) durable."""
    _fsync(path, os.O_NOFOLLOW)


#: What renameat2 answers when the kernel or filesystem cannot exchange.
_CANNOT_EXCHANGE = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)


def exchange(a: str, b: str) -> bool:
    """Atomically swap the names ``a`` and ``b`` (both must exist, same filesystem).

    False, with nothing changed, when the kernel or filesystem cannot exchange;
    any other failure raises :class:`OSError`.
    """
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    import ctypes

    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE))
    if rc != 0:
        err = ctypes.get_errno()
        if err in _CANNOT_EXCHANGE:
            return False
        raise OSError(err, os.strerror(err), a, None, b)
    return True


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less); OSError when it cannot."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def replace_file(path: str, data: bytes, *, mode: int = 0o644, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temp, fsync, rename, fsync dir).

    ``sync_dir=False`` leaves the rename to the kernel's next writeback: after a
    power cut the file may then hold its previous content, never a mix.
    """
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    # A stale or planted temporary name (a hard link to another file) is unlinked, never truncated.
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        fsync_dir(directory)


def write_json(path: str, value: dict[str, Any], *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``value`` as indented JSON, atomically and durably."""
    import json

    replace_file(path, json.dumps(value, indent=1, sort_keys=True).encode() + b"\n", mode=mode)


def read_json(path: str) -> Any:
    """The JSON value in ``path``; FileNotFoundError when it does not exist, ValueError when invalid."""
    import json

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        return json.loads(f.read())
