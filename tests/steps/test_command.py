"""The ``command`` step without a ``check``: the record it keeps in ``state_dir``, across crashes.

Real processes: twinstar runs as a program and the recorder
(tests/support/recorder.py) SIGKILLs it right after its start or stop did
its work, as a crash between the command and the record would.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.support.cli import run_twinstar
from tests.support.commands import calls, command_steps_config


def _up(tmp: Path) -> list[int]:
    return [i for i in (1, 2, 3) if (tmp / f"up-{i}").exists()]


def _crashed_in(tmp: Path, action: str, word: str) -> Path:
    """Run ``action`` with ``word`` (e.g. start2) killing twinstar; the configuration without the kill."""
    config = command_steps_config(tmp, 3, behaviour={word: ["kill-parent"]}, check=False)
    if action == "release":
        assert run_twinstar(config, "takeover").returncode == 0
    assert run_twinstar(config, action).returncode == -9
    return command_steps_config(tmp, 3, check=False)


def test_start_killed_before_its_record_is_stopped_by_release(tmp_path: Path) -> None:
    config = _crashed_in(tmp_path, "takeover", "start2")
    result = run_twinstar(config, "release")
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == ["start1", "start2", "stop2", "stop1"]
    assert _up(tmp_path) == []
    assert not [p.name for p in (tmp_path / "state").iterdir() if p.name.startswith("command-")]


def test_start_killed_before_its_record_is_not_started_twice(tmp_path: Path) -> None:
    """The next takeover cannot know whether s2 is up: it stops it before starting it again."""
    config = _crashed_in(tmp_path, "takeover", "start2")
    result = run_twinstar(config, "takeover")
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == ["start1", "start2", "stop2", "start2", "start3"]
    assert "did not finish" in result.stderr
    assert _up(tmp_path) == [1, 2, 3]


def test_stop_killed_before_its_record_is_started_again_by_takeover(tmp_path: Path) -> None:
    config = _crashed_in(tmp_path, "release", "stop2")
    result = run_twinstar(config, "takeover")
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path)[3:] == ["stop3", "stop2", "stop2", "start2", "start3"]
    assert _up(tmp_path) == [1, 2, 3]


def test_the_record_is_a_private_regular_file(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 1, check=False)
    assert run_twinstar(config, "takeover").returncode == 0
    marker = tmp_path / "state" / "command-s1.up"
    st = os.lstat(marker)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
