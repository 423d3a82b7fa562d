"""The files in ``state_dir``: a private directory, never read or written through a symlink.

Files are opened with O_NOFOLLOW and replaced atomically, so a crash leaves
the old or the new content, never a mix, and a planted symlink is refused.
The lock and the journal must be regular files with a single link (a planted
hard link is never truncated or appended to); every failed write is a StateError.
"""

from __future__ import annotations

import errno
import os
import stat

from twinstar.fastpath.atomic import replace_file, write_all
from twinstar.fastpath.safefile import kind, state_dir_problem
from twinstar.fastpath.statefile import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from twinstar.errors import StateError


def _error(message: str, hint: str | None = None, *, bad_dir: bool = False) -> StateError:
    """A StateError, or a StateDirError (bad input) for ``bad_dir``; :mod:`twinstar.errors` (with ``enum``)
    is loaded only when one is raised: the udev hook takes the hand-off lock through this module."""
    from twinstar.errors import StateDirError, StateError

    return (StateDirError if bad_dir else StateError)(message, hint=hint)


def ensure_dir(path: str) -> None:
    """Create ``state_dir`` (mode 0700) or check that it is a real, private directory.

    A ``state_dir`` that is not a directory (a file, a symlink, dangling or
    not), or that others own or may write, is bad input: StateDirError (exit 2),
    nothing created.
    """
    try:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.makedirs(path, mode=0o700, exist_ok=True)
            st = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.ELOOP):
            raise _error(
                f"cannot create state directory {path}: {exc.strerror} (a file or symlink is in the way)",
                hint="set state_dir to a directory, or remove what is in the way",
                bad_dir=True,
            ) from None
        raise _error(f"cannot create state directory {path}: {exc.strerror}") from None
    check_state_dir(path, st)


def check_state_dir(path: str, st: os.stat_result) -> None:
    """Raise StateDirError unless ``st`` (``lstat`` of ``path``) is a private directory of this user."""
    problem = state_dir_problem(path, st)
    if problem is not None:
        raise _error(problem[0], hint=problem[1], bad_dir=True)


def _not_regular(path: str, mode: int) -> StateError:
    return _error(f"{path} is {kind(mode)}, not a regular file; refusing to use it", hint="remove it")


def open_private(path: str, flags: int) -> int:
    """Open (or create, mode 0600) a state file that must be a regular file with one link.

    Never through a symlink, never blocking on a FIFO; a planted hard link or FIFO is refused.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _error(f"{path} is a symlink; refusing to follow it", hint="remove it") from None
        raise _error(f"cannot open {path}: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _not_regular(path, st.st_mode)
    if st.st_nlink > 1:
        os.close(fd)
        raise _error(
            f"{path} has {st.st_nlink} hard links; refusing to write a file that is also elsewhere",
            hint="remove it; twinstar creates it again",
        )
    return fd


def marker_exists(path: str) -> bool:
    """Whether the marker file ``path`` exists; a symlink or anything but a regular file is refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _error(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode)
    return True


def create_marker(path: str, data: bytes) -> None:
    """Create the marker file ``path`` (mode 0600) holding ``data``; it must not exist yet.

    Never follows a symlink and never opens an existing file; a marker that
    cannot be written whole is removed again and is a StateError.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise _error(f"{path} exists already (a file or symlink is in the way)", hint="remove it") from None
    except OSError as exc:
        raise _error(f"cannot create {path}: {exc.strerror}") from None
    try:
        write_all(fd, data)
    except OSError as exc:
        os.close(fd)
        os.unlink(path)
        raise _error(f"cannot write {path}: {exc.strerror}") from None
    os.close(fd)


def write_json(path: str, value: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically with ``value`` (mode 0600, one line).

    The directory is not synced: these writes sit on the takeover's critical
    path, ``state_dir`` is a tmpfs by default, and an old state file after a
    power cut is recovered like any interrupted transition, from the real state.
    """
    try:
        replace_file(path, dumps(value).encode() + b"\n", mode=0o600, sync_dir=False)
    except OSError as exc:
        raise _error(f"cannot write {path}: {exc.strerror}") from None

