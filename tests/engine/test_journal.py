"""journal.jsonl: bounded by rotation, no line lost when a rotation is cut short by a crash."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from twinstar.engine import journal
from twinstar.engine.state import StateStore

MAX = 1000
KEEP = 2


def _line(n: int) -> dict[str, object]:
    return {"ts": float(n), "event": "step", "n": n, "detail": "x" * 40}


def _numbers(path: Path) -> list[int]:
    return [json.loads(raw)["n"] for raw in path.read_bytes().splitlines()] if path.exists() else []


def _all(path: Path, keep: int) -> list[int]:
    """Every line's number, oldest file first."""
    found: list[int] = []
    for number in range(keep + 1, 0, -1):
        found += _numbers(Path(journal.rotated(str(path), number)))
    return found + _numbers(path)


def test_the_journal_and_its_rotated_files_stay_bounded_and_hold_the_newest_lines(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    for n in range(200):
        journal.append(str(path), _line(n), max_bytes=MAX, keep=KEEP)  # type: ignore[arg-type]
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert files == ["journal.jsonl", "journal.jsonl.1", "journal.jsonl.2"]
    for name in files:
        assert 0 < (tmp_path / name).stat().st_size <= MAX
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    kept = _all(path, KEEP)
    assert kept == list(range(kept[0], 200))  # contiguous, the newest last
    assert len(_numbers(path)) < 15
    assert [r["n"] for r in journal.read(str(path), last=15)] == list(range(185, 200))  # across the rotation


def test_a_state_store_rotates_as_configured(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path), journal_max_bytes=MAX, journal_keep=1)
    for n in range(100):
        store.journal(_line(n))  # type: ignore[arg-type]
    assert not Path(journal.rotated(store.journal_path, 2)).exists()
    assert _numbers(Path(store.journal_path))[-1] == 99


def test_a_line_larger_than_the_cap_is_still_written(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal.append(str(path), _line(0), max_bytes=MAX, keep=KEEP)  # type: ignore[arg-type]
    big = {**_line(1), "detail": "y" * (2 * MAX)}
    journal.append(str(path), big, max_bytes=MAX, keep=KEEP)  # type: ignore[arg-type]
    assert _numbers(path) == [1] and _numbers(Path(journal.rotated(str(path), 1))) == [0]


@pytest.mark.parametrize("renames", [0, 1])
def test_a_crash_during_a_rotation_loses_no_line(tmp_path: Path, renames: int) -> None:
    """The writing process dies after ``renames`` of the rotation's renames; the next writer goes on."""
    path = tmp_path / "journal.jsonl"
    n = 0
    while not Path(journal.rotated(str(path), KEEP)).exists():  # a full set: the next rotation drops the oldest
        journal.append(str(path), _line(n), max_bytes=MAX, keep=KEEP)  # type: ignore[arg-type]
        n += 1
    while path.stat().st_size + len(json.dumps(_line(n))) + 1 <= MAX:
        journal.append(str(path), _line(n), max_bytes=MAX, keep=KEEP)  # type: ignore[arg-type]
        n += 1
    oldest = _numbers(Path(journal.rotated(str(path), KEEP)))
    before = _all(path, KEEP)
    child = os.fork()
    if child == 0:  # pragma: no cover - the crashing writer
        done = 0
        real = os.rename

        def rename(src: str, dst: str) -> None:
            nonlocal done
            if done == renames:
                os._exit(9)
            real(src, dst)
            done += 1

        os.rename = rename  # type: ignore[assignment]
        journal.append(str(path), _line(n), max_bytes=MAX, keep=KEEP)  # type: ignore[arg-type]
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 9
    survivors = set(_all(path, KEEP + 1))
    assert set(before) - set(oldest) <= survivors  # only the file the rotation drops may be gone
    for m in range(n, n + 40):  # the next writer finds the half-rotated set and goes on
        journal.append(str(path), _line(m), max_bytes=MAX, keep=KEEP)  # type: ignore[arg-type]
    assert _numbers(path)[-1] == n + 39
    assert {r["n"] for r in journal.read(str(path), last=5)} == set(range(n + 35, n + 40))
