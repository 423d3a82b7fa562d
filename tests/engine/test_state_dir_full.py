"""A full or read-only ``state_dir`` on a real tmpfs: never half-active, never an internal error.

Each trial mounts a small tmpfs as ``state_dir`` (unmounted in a finally),
fills it with a file that leaves a given number of pages free, and runs a
takeover of 12 real ``command`` steps (every other one without a check, so
twinstar keeps a marker file in the tmpfs); the steps record their calls in
a file outside the tmpfs. Whatever write fails (the lock, the journal's
"begin", a step's journal line or marker, the final role), the takeover ends
fully active or fully down, and the next run converges from the real state.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from tests.support.commands import calls, command_steps_config
from tests.support.smallfs import PAGE, fill, tmpfs

pytestmark = pytest.mark.privileged

STEPS = 8
WITHOUT_CHECK = range(2, STEPS + 1, 2)


def _up(tmp: Path) -> set[int]:
    """The steps whose program is running (the recorder's marker outside the tmpfs)."""
    return {i for i in range(1, STEPS + 1) if (tmp / f"up-{i}").exists()}


def _balanced(tmp: Path, up: set[int]) -> bool:
    """Each step was started once more than stopped when up, as often as stopped when down."""
    made = calls(tmp)
    return all(made.count(f"start{i}") - made.count(f"stop{i}") == (1 if i in up else 0) for i in range(1, STEPS + 1))


def _role(state: Path) -> str | None:
    try:
        return str(json.loads((state / "state.json").read_text())["role"])
    except FileNotFoundError:
        return None


def _journal_is_whole(state: Path) -> bool:
    """No torn line: a line that did not fit was cut off again."""
    try:
        lines = (state / "journal.jsonl").read_bytes().splitlines()
    except FileNotFoundError:
        return True
    try:
        return all(isinstance(json.loads(line), dict) for line in lines if line)
    except ValueError:
        return False


def _clean_output(result: subprocess.CompletedProcess[str]) -> None:
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_takeover_on_a_full_state_dir_ends_all_up_or_all_down(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, STEPS, without_check=WITHOUT_CHECK)
    state = tmp_path / "state"
    seen: dict[str, list[int]] = {"nothing changed": [], "rolled back": [], "active": []}
    for free in range(0, 14):  # a manual takeover also writes the operator's hold (policy.json, policy.lock)
        with tmpfs(state):
            filler = fill(state, free)
            result = run_twinstar(config, "takeover")
            _clean_output(result)
            up, role = _up(tmp_path), _role(state)
            markers = sorted(p.name for p in state.glob("command-*.up"))
            where = f"{free} pages free: {result.stdout}{result.stderr}"
            if result.returncode == 0:
                assert up == set(range(1, STEPS + 1)) and role == "active", where
                assert len(markers) == len(WITHOUT_CHECK), where
                seen["active"].append(free)
            else:
                assert result.returncode == 1, where
                assert up == set() and markers == [], where
                assert "No space left on device" in result.stdout + result.stderr, where
                if calls(tmp_path):
                    # Rolled back: the role is recorded, or state.json still says a takeover is under way.
                    assert role in ("failed", "starting"), where
                    seen["rolled back"].append(free)
                else:
                    assert "nothing was changed" in result.stderr and role in (None, "standby"), where
                    seen["nothing changed"].append(free)
            assert _balanced(tmp_path, up) and _journal_is_whole(state), where

            # With room again, the next takeover converges from the real state.
            filler.unlink()
            again = run_twinstar(config, "takeover", "--json")
            assert again.returncode == 0, f"{where}\nthen: {again.stderr}"
            assert bool(json.loads(again.stdout)["recovered"]) == (role == "starting"), where
            assert _up(tmp_path) == set(range(1, STEPS + 1)) and _role(state) == "active", where
            assert _balanced(tmp_path, _up(tmp_path)), where
        for path in [tmp_path / "calls", *tmp_path.glob("up-*")]:
            path.unlink()
    # The fill levels reached every kind of failure: before any step, during the steps, none.
    assert all(seen.values()), seen
    assert len(seen["rolled back"]) >= 3, seen  # the journal, a marker, the final role


def test_release_on_a_full_state_dir_takes_every_step_down(tmp_path: Path) -> None:
    """Once "stopping" is recorded, a release goes on without its journal and says what it could not record.

    The journal is padded to leave different room in its last page, so that
    the release cannot begin, or its journal runs out at different lines, or
    only the final role cannot be written.
    """
    config = command_steps_config(tmp_path, STEPS)
    state = tmp_path / "state"
    seen: dict[str, list[int]] = {"nothing changed": [], "journal ran out": [], "done": []}
    for room in (0, 150, 450, 750, 2500):
        with tmpfs(state):
            assert run_twinstar(config, "takeover").returncode == 0
            (state / "journal.jsonl").write_bytes(b"\n" * (PAGE - room))
            fill(state, 1)
            result = run_twinstar(config, "release")
            _clean_output(result)
            up, role = _up(tmp_path), _role(state)
            where = f"{room} bytes of room in the journal's page: {result.stdout}{result.stderr}"
            if result.returncode == 1 and up:
                assert up == set(range(1, STEPS + 1)) and role == "active", where
                assert "nothing was changed" in result.stderr and calls(tmp_path) == [f"start{i}" for i in range(1, STEPS + 1)], where
                seen["nothing changed"].append(room)
            else:
                # Every step taken down, whatever could be recorded.
                assert up == set() and role in ("standby", "stopping"), where
                assert result.returncode == (0 if role == "standby" else 1), where
                ran_out = "the release goes on" in result.stderr
                assert _journal_is_whole(state), where
                seen["journal ran out" if ran_out else "done"].append(room)
            (state / "filler").unlink()
            again = run_twinstar(config, "release")
            assert again.returncode == 0 and _up(tmp_path) == set() and _role(state) == "standby", again.stderr
            assert _balanced(tmp_path, set()), where
        (tmp_path / "calls").unlink(missing_ok=True)
    assert seen["nothing changed"] and len(seen["journal ran out"]) >= 2, seen


def test_read_only_state_dir_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 3, without_check=[2])
    state = tmp_path / "state"
    with tmpfs(state):
        subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
        for action in ("takeover", "release"):
            result = run_twinstar(config, action)
            _clean_output(result)
            assert result.returncode == 1, result.stderr
            assert f"nothing was changed: cannot open {state / 'lock'}: Read-only file system" in result.stderr
            assert calls(tmp_path) == []
        subprocess.run(["mount", "-o", "remount,rw", str(state)], check=True)
        assert run_twinstar(config, "takeover").returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
        result = run_twinstar(config, "release")
        _clean_output(result)
        assert result.returncode == 1 and "Read-only file system" in result.stderr, result.stderr
        assert _up(tmp_path) == {1, 2, 3} and calls(tmp_path) == ["start1", "start2", "start3"]
        subprocess.run(["mount", "-o", "remount,rw", str(state)], check=True)
        assert _role(state) == "active"
        assert run_twinstar(config, "release").returncode == 0 and _up(tmp_path) == set()
