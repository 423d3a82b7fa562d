"""The exclusive locks in ``state_dir``: the engine's lock and the hand-off lock."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from twinstar.engine.statedir import ensure_dir, open_private
from twinstar.errors import LockBusyError, StateError
from twinstar.fastpath import lockprobe
from twinstar.fastpath.atomic import write_all
from twinstar.fastpath.lockprobe import wait_flock


@dataclass
class FileLock:
    """An exclusive flock(2) on a file in ``state_dir``; released when the process dies.

    ``with FileLock(path, timeout=...):`` takes the lock (waiting at most
    ``timeout`` seconds, 0 = not at all, looking again every ``poll`` seconds;
    :class:`~twinstar.errors.LockBusyError` when another process keeps it) and
    releases it at the end of the block.
    """

    path: str
    timeout: float = field(default=0.0, kw_only=True)
    poll: float = field(default=0.02, kw_only=True)
    fd: int | None = field(default=None, init=False)

    def acquire(self, *, timeout: float) -> None:
        """Take the lock, waiting at most ``timeout`` seconds (0 = do not wait)."""
        ensure_dir(os.path.dirname(self.path))
        fd = open_private(self.path, os.O_RDWR | os.O_CREAT)
        if not wait_flock(fd, timeout=timeout, poll=self.poll):
            os.close(fd)
            raise LockBusyError(
                f"another twinstar process holds {self.path} (waited {timeout:g} s)",
                hint="wait for it to finish; see the journal in the state directory",
            )
        try:
            os.ftruncate(fd, 0)
            write_all(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            os.close(fd)
            raise StateError(f"cannot write {self.path}: {exc.strerror}") from None
        self.fd = fd

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
