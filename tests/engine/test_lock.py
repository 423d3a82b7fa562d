"""``with FileLock(...)`` takes the lock and lets it go (real flock(2) on a real file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinstar.engine.lock import FileLock
from twinstar.errors import LockBusyError


def test_with_takes_and_releases_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "state" / "lock")
    with FileLock(path) as lock:
        assert lock.fd is not None
        assert FileLock(path).held_by_other()
        with pytest.raises(LockBusyError, match="holds"), FileLock(path, timeout=0):
            pass
    assert lock.fd is None
    assert not FileLock(path).held_by_other()


def test_the_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    with pytest.raises(RuntimeError), FileLock(path):
        raise RuntimeError("inside")
    assert not FileLock(path).held_by_other()


def test_a_runner_adopts_the_lock_its_hook_took_for_it(tmp_path: Path) -> None:
    """The descriptor taken by the hook (``lockprobe.claim``) and inherited: held, not passed on to the runner's
    programs (close-on-exec), the runner's pid written; released with it."""
    import os

    from twinstar.fastpath.lockprobe import claim, held_by_other

    path = tmp_path / "prepared.lock"
    fd = claim(str(path))
    assert fd is not None and fd >= 0
    os.set_inheritable(fd, True)  # as the runner inherits it
    lock = FileLock(str(path))
    assert lock.adopt(fd) and lock.fd == fd
    assert not os.get_inheritable(fd)
    assert path.read_text() == f"{os.getpid()}\n"
    with pytest.raises(LockBusyError):
        FileLock(str(path)).acquire(timeout=0)
    lock.release()
    assert not held_by_other(str(path))


def test_a_descriptor_on_another_file_is_not_adopted_and_is_left_alone(tmp_path: Path) -> None:
    import os

    from twinstar.fastpath.lockprobe import claim

    other = claim(str(tmp_path / "other.lock"))
    assert other is not None and other >= 0
    lock = FileLock(str(tmp_path / "prepared.lock"))
    (tmp_path / "prepared.lock").write_text("")
    assert not lock.adopt(other) and lock.fd is None
    os.fstat(other)  # still open: not ours to close
    assert not lock.adopt(9999)  # no such descriptor
    lock.acquire(timeout=0)  # the runner then takes the lock itself
    lock.release()
    os.close(other)


def test_claim_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """Bad input in the state directory: a FIFO, a directory or a symlink where the lock file belongs."""
    import os

    from twinstar.fastpath.lockprobe import claim

    os.mkfifo(tmp_path / "fifo.lock")
    (tmp_path / "dir.lock").mkdir()
    (tmp_path / "link.lock").symlink_to(tmp_path / "elsewhere")
    for name in ("fifo.lock", "dir.lock", "link.lock"):
        assert claim(str(tmp_path / name)) == -1
    assert not (tmp_path / "elsewhere").exists()
