"""flock(2) without the engine's lock module: whether another process holds one, and taking one; built-in modules only.

The udev hook asks whether a lock is held before it hands the pair policy's
runner off (a runner already looking needs no second one), and ``twinstar
status`` takes a unit's lock; importing :mod:`twinstar.engine.lock` (with
dataclasses) would cost either more than its own work.
"""

import fcntl
import posix
import stat
import time


def held_by_other(path: str) -> bool:
    """True when another process holds an exclusive lock on ``path`` right now (a missing file: False)."""
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_NONBLOCK | posix.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        posix.close(fd)
    return False


def claim(path: str) -> int | None:
    """Take an exclusive flock(2) on ``path`` at once (created mode 0600, never through a symlink or on
    anything but a regular file): its descriptor; None when another process holds it; -1 when it cannot
    be opened or locked (the caller's own lock then reports the problem)."""
    try:
        fd = posix.open(path, posix.O_RDWR | posix.O_CREAT | posix.O_NOFOLLOW | posix.O_NONBLOCK | posix.O_CLOEXEC, 0o600)
    except OSError:
        return -1
    try:
        if not stat.S_ISREG(posix.fstat(fd).st_mode):
            posix.close(fd)
            return -1
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        posix.close(fd)
        return None
    except OSError:
        posix.close(fd)
        return -1
    return fd


def wait_flock(fd: int, *, timeout: float, poll: float = 0.02) -> bool:
    """Take an exclusive flock(2) on ``fd``, waiting at most ``timeout`` seconds (at once when it is free); False if not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
