"""The state directory refuses planted symlinks: no file outside it is written, no step runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from tests.support.commands import calls, command_steps_config


@pytest.mark.parametrize("name", ["lock", "state.json", "journal.jsonl"])
def test_symlink_in_state_dir_is_refused(tmp_path: Path, name: str) -> None:
    config = command_steps_config(tmp_path, 2)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    target = tmp_path / "victim"
    target.write_text("precious\n")
    (state / name).symlink_to(target)
    result = run_twinstar(config, "takeover")
    assert result.returncode == (2 if name == "state.json" else 1), result.stderr  # a planted state.json is bad input
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("twinstar: error:")]
    assert len(error) == 1 and str(state / name) in error[0], result.stderr
    assert "symbolic link" in error[0] or "symlink" in error[0]
    assert target.read_text() == "precious\n"
    assert (state / name).is_symlink()
    assert calls(tmp_path) == []
    if name != "state.json" and (state / "state.json").exists():
        assert json.loads((state / "state.json").read_text())["role"] != "starting"


def test_state_dir_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "state").symlink_to(elsewhere)
    result = run_twinstar(config, "takeover")
    assert result.returncode == 2, result.stderr
    assert f"state directory {tmp_path / 'state'} is not a directory but a symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == []
    assert calls(tmp_path) == []


def test_state_dir_writable_by_others_is_refused(tmp_path: Path) -> None:
    """Anyone who can write the state directory could replace state.json or the journal."""
    config = command_steps_config(tmp_path, 1)
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    result = run_twinstar(config, "takeover")
    assert result.returncode == 2, result.stderr
    assert "writable by group or others" in result.stderr and "chmod go-w" in result.stderr
    assert calls(tmp_path) == []
    assert not (state / "state.json").exists()
    check = run_twinstar(config, "check")
    assert check.returncode == 2
    assert "state_dir: " in check.stdout and "writable by group or others" in check.stdout
    state.chmod(0o755)
    assert run_twinstar(config, "takeover").returncode == 0
    assert calls(tmp_path) == ["start1"]


@pytest.mark.parametrize("content", ["{not json", '{"role": "boss"}', "[]"])
def test_a_malformed_state_json_is_bad_input_for_takeover_and_release(tmp_path: Path, content: str) -> None:
    config = command_steps_config(tmp_path, 2)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "state.json").write_text(content)
    for action in ("takeover", "release"):
        result = run_twinstar(config, action)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert f"{state / 'state.json'}" in result.stderr and "remove it" in result.stderr
    assert (state / "state.json").read_text() == content
    assert calls(tmp_path) == []
