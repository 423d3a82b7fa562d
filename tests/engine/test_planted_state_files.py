"""A bad ``state_dir`` is bad input (exit 2); planted links in it are refused, never followed or truncated."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.cli import run_twinstar
from tests.support.commands import calls, command_steps_config
from twinstar.engine.lock import FileLock
from twinstar.engine.state import StateStore
from twinstar.engine.statedir import create_marker, ensure_dir, marker_exists
from twinstar.errors import ExitStatus, StateDirError, StateError
from twinstar.fastpath import safefile
from twinstar.fastpath.atomic import replace_file


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("twinstar: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr and "internal error" not in stderr, stderr
    return lines[0]


# --- state_dir itself ---------------------------------------------------------------


def test_state_dir_that_is_a_regular_file_is_bad_input(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 2)
    (tmp_path / "state").write_text("not a directory\n")
    result = run_twinstar(config, "takeover")
    assert result.returncode == ExitStatus.BAD_INPUT, result.stderr
    assert f"state directory {tmp_path / 'state'} is not a directory but a regular file" in _error_line(result.stderr)
    assert (tmp_path / "state").read_text() == "not a directory\n"
    assert calls(tmp_path) == []


def test_state_dir_that_is_a_dangling_symlink_is_bad_input(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 2)
    (tmp_path / "state").symlink_to(tmp_path / "gone")
    for action in ("takeover", "release"):
        result = run_twinstar(config, action)
        assert result.returncode == ExitStatus.BAD_INPUT, result.stderr
        assert "is not a directory but a dangling symbolic link" in _error_line(result.stderr)
    assert not (tmp_path / "gone").exists() and (tmp_path / "state").is_symlink()
    assert calls(tmp_path) == []


def test_a_state_dir_link_gone_between_its_lstat_and_the_message_is_still_reported(tmp_path: Path) -> None:
    """The link is looked at (lstat), then removed before its target is read: the problem is told, not a crash."""
    link = tmp_path / "state"
    link.symlink_to(tmp_path / "elsewhere")
    st = os.lstat(link)
    link.unlink()
    message, hint = safefile.state_dir_problem(str(link), st) or ("", "")
    assert message == f"state directory {link} is not a directory but a dangling symbolic link to a target no longer readable; refusing to follow it"
    assert hint == "set state_dir to the real directory, or remove the link"


def test_state_dir_under_a_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StateDirError) as caught:
        ensure_dir(str(tmp_path / "file" / "state"))
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert "in the way" in str(caught.value)


def test_state_dir_that_is_missing_is_created_private(tmp_path: Path) -> None:
    ensure_dir(str(tmp_path / "a" / "state"))
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "state").st_mode) == 0o700


# --- the lock and the journal -------------------------------------------------------


def test_lock_planted_as_a_hard_link_is_refused_and_not_truncated(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 2)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.link(victim, state / "lock")
    result = run_twinstar(config, "takeover")
    assert result.returncode == ExitStatus.FAILED, result.stderr
    line = _error_line(result.stderr)
    assert str(state / "lock") in line and "2 hard links" in line
    assert victim.read_text() == "precious\n"
    assert calls(tmp_path) == [] and not (state / "state.json").exists()


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_lock_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    lock = tmp_path / "lock"
    os.mkfifo(lock) if kind == "fifo" else lock.mkdir()
    with pytest.raises(StateError) as caught:
        FileLock(str(lock)).acquire(timeout=0)
    assert str(lock) in str(caught.value)
    assert not FileLock(str(lock)).held_by_other()  # and a FIFO does not block the look


def test_journal_planted_as_a_hard_link_is_not_appended_to(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path / "state"))
    ensure_dir(store.directory)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.link(victim, store.journal_path)
    with pytest.raises(StateError, match="hard links"):
        store.journal({"event": "begin"})
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_journal_that_is_not_a_regular_file_is_not_read(tmp_path: Path, kind: str) -> None:
    """A symlink is not followed and a FIFO does not block: a StateError naming the journal (run apart, so a hang fails)."""
    store = StateStore(str(tmp_path / "state"))
    ensure_dir(store.directory)
    if kind == "symlink":
        (tmp_path / "elsewhere").write_text('{"event": "begin", "planted": true}\n')
        os.symlink(tmp_path / "elsewhere", store.journal_path)
    else:
        os.mkfifo(store.journal_path)
    program = (
        "import sys\n"
        "from twinstar.errors import StateError\n"
        "from twinstar.engine.state import StateStore\n"
        "try:\n"
        "    print(StateStore(sys.argv[1]).read_journal())\n"
        "except StateError as exc:\n"
        "    print('StateError:', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", program, store.directory], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"StateError: {store.journal_path}: is a {'symbolic link' if kind == 'symlink' else 'FIFO'}")
    assert "remove it" in result.stdout


def test_a_large_journal_is_read_from_its_last_mib(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path / "state"))
    ensure_dir(store.directory)
    with open(store.journal_path, "w") as f:
        for i in range(40_000):  # about 2 MiB
            f.write(json.dumps({"event": "step", "n": i, "detail": "x" * 40}) + "\n")
    records = store.read_journal()
    assert records[-1]["n"] == 39_999
    assert records[0]["n"] > 0  # the tail only, in whole lines (the first one, cut, dropped)
    assert [r["n"] for r in records] == list(range(records[0]["n"], 40_000))
    assert sum(len(json.dumps(r)) + 1 for r in records) <= safefile.JOURNAL_TAIL
    assert [r["n"] for r in store.read_journal(last=3)] == [39_997, 39_998, 39_999]


def test_replace_file_unlinks_a_planted_temporary_name(tmp_path: Path) -> None:
    """The temporary name is predictable (pid); a hard link planted there is replaced, not truncated."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.link(victim, tmp_path / f".state.json.{os.getpid()}.tmp")
    replace_file(str(tmp_path / "state.json"), b"{}\n", mode=0o600)
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "state.json").read_text() == "{}\n"


# --- the command step's marker ------------------------------------------------------


def test_marker_that_is_a_dangling_symlink_creates_nothing_outside(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 2, without_check=[2])
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    outside = tmp_path / "outside"
    (state / "command-s2.up").symlink_to(outside)
    result = run_twinstar(config, "takeover")
    assert result.returncode == ExitStatus.FAILED, result.stderr
    assert f"{state / 'command-s2.up'} is a symbolic link, not a regular file" in result.stdout
    assert not outside.exists() and not os.path.lexists(outside)
    assert calls(tmp_path) == ["start1", "stop1"]  # rolled back; s2 never started


def test_marker_that_is_a_symlink_to_a_file_is_not_taken_as_up(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 1, without_check=[1])
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    target = tmp_path / "some-file"
    target.write_text("precious\n")
    (state / "command-s1.up").symlink_to(target)
    result = run_twinstar(config, "takeover")
    assert result.returncode == ExitStatus.FAILED, result.stdout + result.stderr
    assert "already" not in result.stdout and "is a symbolic link, not a regular file" in result.stdout
    assert target.read_text() == "precious\n"
    (state / "command-s1.up").unlink()
    assert run_twinstar(config, "takeover").returncode == 0
    assert calls(tmp_path) == ["start1"]
    marker = os.lstat(state / "command-s1.up")
    assert stat.S_ISREG(marker.st_mode) and stat.S_IMODE(marker.st_mode) == 0o600


def test_marker_helpers_refuse_links_and_existing_files(tmp_path: Path) -> None:
    marker = tmp_path / "command-x.up"
    assert not marker_exists(str(marker))
    create_marker(str(marker), b"1\n")
    assert marker_exists(str(marker))
    with pytest.raises(StateError, match="exists already"):
        create_marker(str(marker), b"1\n")
    marker.unlink()
    marker.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StateError, match="symbolic link"):
        marker_exists(str(marker))
    with pytest.raises(StateError, match="exists already"):
        create_marker(str(marker), b"1\n")
    assert not (tmp_path / "elsewhere").exists()
