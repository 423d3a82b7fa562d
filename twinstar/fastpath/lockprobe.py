"""Whether another process holds an flock(2) on a file, without taking it; built-in modules only.

The udev hook asks this before it hands the pair policy's runner off (a runner
already looking needs no second one); importing :mod:`twinstar.engine.lock`
for the question would cost the hook more than its whole fast path.
"""

import fcntl
import posix


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
