"""The hook's lock probe agrees with the engine's lock."""

from __future__ import annotations

from pathlib import Path

from twinstar.engine.lock import FileLock
from twinstar.fastpath.lockprobe import held_by_other


def test_probe_sees_the_engine_lock_held_and_released_without_taking_it(tmp_path: Path) -> None:
    path = tmp_path / "policy-run.lock"
    assert not held_by_other(str(path))  # no file: nobody holds it
    lock = FileLock(str(path))
    lock.acquire(timeout=0)
    try:
        assert held_by_other(str(path)) and FileLock(str(path)).held_by_other()
    finally:
        lock.release()
    assert not held_by_other(str(path))
    again = FileLock(str(path))
    again.acquire(timeout=0)  # the probe took nothing
    again.release()
