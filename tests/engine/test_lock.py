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
