"""The program runner with real programs: argv only, a clean environment, output captured, logged shell-quoted."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from twinstar import settings
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramError

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("echo", "env", "no-such-prog-ts", "printf", "sh", "sleep", "x")

HOSTILE = "x; touch {marker}; $(touch {marker}) `touch {marker}` | true"


def test_arguments_are_never_interpreted_by_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    arg = HOSTILE.format(marker=marker)
    result = ProgramRunner().run(["printf", "%s", arg], timeout=10)
    assert result.stdout == arg
    assert not marker.exists()


def test_environment_is_sanitised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINSTAR_SECRET", "hunter2")
    monkeypatch.setenv("LD_PRELOAD", str(tmp_path / "evil.so"))
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    result = ProgramRunner(env_extra={"DRBD_NODE": "a"}).run(["env"], timeout=10)
    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert env == {"PATH": settings.SAFE_PATH, "LC_ALL": "C", "LANG": "C", "DRBD_NODE": "a"}


def test_program_names_are_found_on_the_fixed_path_not_the_callers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "findmnt"
    fake.write_text("#!/bin/sh\necho fake\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert ProgramRunner().resolve("findmnt") != str(fake)
    assert ProgramRunner(programs={"findmnt": str(fake)}).resolve("findmnt") == str(fake)


def test_output_is_captured_and_a_failure_names_command_status_and_stderr() -> None:
    runner = ProgramRunner()
    with pytest.raises(ProgramError) as err:
        runner.run(["sh", "-c", "echo out; echo 'disk on fire' >&2; exit 4", "arg with space"], timeout=10)
    exc = err.value
    assert exc.returncode == 4 and exc.stdout == "out\n" and exc.stderr == "disk on fire\n"
    quoted = shlex.join([runner.resolve("sh"), "-c", "echo out; echo 'disk on fire' >&2; exit 4", "arg with space"])
    assert str(exc) == f"{quoted}; exited with status 4; stdout: out; stderr: disk on fire"
    assert runner.run(["sh", "-c", "exit 4"], timeout=10, ok_codes=(0, 4)).returncode == 4


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_each_command_is_logged_shell_quoted() -> None:
    logger = logging.getLogger("twinstar.proc")
    records, level = _Records(), logger.level
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    try:
        ProgramRunner().run(["echo", "a b", "it's"], timeout=10)
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    quoted = shlex.join([ProgramRunner().resolve("echo"), "a b", "it's"])
    assert records.messages == [f"run: {quoted}"]
    assert quoted.endswith(""" 'a b' 'it'"'"'s'""")


def test_nonexistent_program_is_a_program_error() -> None:
    with pytest.raises(ProgramError, match="program /nonexistent/x does not exist or is not executable"):
        ProgramRunner().run(["/nonexistent/x"], timeout=10)
    with pytest.raises(ProgramError, match=r"program no-such-prog-ts not found in /usr/local/sbin"):
        ProgramRunner().run(["no-such-prog-ts"], timeout=10)


def _children() -> list[int]:
    """This test process's direct children (the main thread's, where the runner forks)."""
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
        return [int(p) for p in f.read().split()]


def _left_by_an_interrupted_start(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, replacement: object) -> set[int]:
    """Children of this process left after ``ProgramRunner.run`` raised KeyboardInterrupt with ``owner.name``
    replaced; each is then killed and reaped (only on a failure: the test ends what it started)."""
    before = set(_children())
    monkeypatch.setattr(owner, name, replacement)
    try:
        with pytest.raises(KeyboardInterrupt):
            ProgramRunner().run(["/bin/sleep", "30"], timeout=10, quiet=True)
    finally:
        monkeypatch.undo()
    left = set(_children()) - before
    for pid in left:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return left


def test_a_ctrl_c_before_popen_knows_its_child_leaves_no_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SIGINT delivered the moment the fork returns, before Popen stores the child's pid: Python's
    handler would raise there and nobody could end the child (a demo's ``ip netns add`` then made its
    namespace after the cleanup had looked). The signal is held during the start and acted on once the
    child is known: it is ended, and the KeyboardInterrupt still comes."""
    real_fork_exec = subprocess._fork_exec  # type: ignore[attr-defined]

    def fork_exec_then_ctrl_c(*args: object) -> int:
        pid: int = real_fork_exec(*args)
        signal.raise_signal(signal.SIGINT)  # its Python handler runs here, before the pid is returned
        return pid

    assert _left_by_an_interrupted_start(monkeypatch, subprocess, "_fork_exec", fork_exec_then_ctrl_c) == set()


def test_a_start_interrupted_between_the_fork_and_the_exec_leaves_no_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C turned into KeyboardInterrupt while Popen waits for the exec (its first ``os.read``, on the
    exec-status pipe): the forked child is killed and reaped, so no cleanup that runs afterwards can be undone."""
    real_read = os.read

    def interrupted(fd: int, n: int) -> bytes:
        monkeypatch.setattr(os, "read", real_read)
        raise KeyboardInterrupt

    assert _left_by_an_interrupted_start(monkeypatch, os, "read", interrupted) == set()
