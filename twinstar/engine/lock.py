"""The exclusive locks in ``state_dir``: the engine's lock and the hand-off lock.

The udev hook that hands a takeover off takes the hand-off lock, so this is a
plain class, not a dataclass, and :mod:`twinstar.errors` is loaded only when
one is raised: :mod:`dataclasses` (with ``inspect``, ``ast``, ``re``) and
``enum`` would cost that hook more than the rest of its decision.
"""

from __future__ import annotations

import os

from twinstar.engine.statedir import ensure_dir, open_private
from twinstar.fastpath import lockprobe
from twinstar.fastpath.atomic import write_all
from twinstar.fastpath.lockprobe import wait_flock


class FileLock:
    """An exclusive flock(2) on a file in ``state_dir``; released when the process dies.

    ``with FileLock(path, timeout=...):`` takes the lock (waiting at most
    ``timeout`` seconds, 0 = not at all, looking again every ``poll`` seconds;
    :class:`~twinstar.errors.LockBusyError` when another process keeps it) and
    releases it at the end of the block.
    """

    __slots__ = ("path", "timeout", "poll", "fd")

    def __init__(self, path: str, *, timeout: float = 0.0, poll: float = 0.02) -> None:
        self.path = path
        self.timeout = timeout
        self.poll = poll
        self.fd: int | None = None

    def __repr__(self) -> str:
        return f"FileLock({self.path!r}, timeout={self.timeout!r}, poll={self.poll!r})"

    def acquire(self, *, timeout: float) -> None:
        """Take the lock, waiting at most ``timeout`` seconds (0 = do not wait)."""
        ensure_dir(os.path.dirname(self.path))
        fd = open_private(self.path, os.O_RDWR | os.O_CREAT)
        if not wait_flock(fd, timeout=timeout, poll=self.poll):
            os.close(fd)
            from twinstar.errors import LockBusyError

            raise LockBusyError(
                f"another twinstar process holds {self.path} (waited {timeout:g} s)",
                hint="wait for it to finish; see the journal in the state directory",
            )
        try:
            _write_pid(fd)
        except OSError as exc:
            os.close(fd)
            from twinstar.errors import StateError

            raise StateError(f"cannot write {self.path}: {exc.strerror}") from None
        self.fd = fd

    def adopt(self, fd: int) -> bool:
        """Hold the lock that descriptor ``fd`` (inherited from the process that took it for this one) has
        on this file; False, ``fd`` left alone, when it is not this file or does not hold the lock."""
        try:
            st, here = os.fstat(fd), os.lstat(self.path)
        except OSError:
            return False
        if (st.st_dev, st.st_ino) != (here.st_dev, here.st_ino) or not wait_flock(fd, timeout=0):
            return False
        os.set_inheritable(fd, False)  # the programs the takeover runs must not hold it
        try:
            _write_pid(fd)
        except OSError:
            pass  # the pid in the file is for people; the flock is the lock
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def held_by_other(self) -> bool:
        """True when another process holds the lock right now (does not take it)."""
        return lockprobe.held_by_other(self.path)

    def __enter__(self) -> FileLock:
        self.acquire(timeout=self.timeout)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _write_pid(fd: int) -> None:
    """This process's pid as the lock file's contents (for people: the flock is the lock)."""
    os.ftruncate(fd, 0)
    write_all(fd, f"{os.getpid()}\n".encode())
